"""report.html in a real headless browser (Debian's chromium), driven over
the DevTools protocol: the matrix renders, a mouse click on a failing cell
shows its failure, and the outcome and area filters hide what they should.

The DevTools websocket is spoken with a small stdlib client below, so the
test needs nothing beyond chromium itself.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from harness.report.html import write_html
from harness.report.model import RunResults, TargetRecord, TestRecord

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,1000")
STARTUP_SECONDS = 60

pytestmark = pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                                reason="Debian's chromium is not installed: run scripts/install-system-packages")


class DevTools:
    """Just enough RFC 6455 for CDP: masked text frames out, text frames in."""

    def __init__(self, ws_url: str, timeout: float = 30.0) -> None:
        url = urlparse(ws_url)
        self.sock = socket.create_connection((url.hostname, url.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                           % (url.path, url.hostname, url.port, key)).encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("DevTools closed the connection during the handshake")
            response += chunk
        head, self._buffer = response.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError("DevTools refused the websocket: %r" % head[:200])
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read(self, n: int) -> bytes:
        while len(self._buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def _send(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 1 << 16:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _receive(self) -> dict[str, Any]:
        message = b""
        while True:
            first, second = self._read(2)
            n = second & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            payload = self._read(n)
            opcode = first & 0x0F
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the websocket")
            if opcode in (0x1, 0x0):
                message += payload
                if first & 0x80:
                    return json.loads(message)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self._send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            reply = self._receive()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError("%s failed: %s" % (method, reply["error"]))
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event.get("method") == method:
                    self.events.remove(event)
                    return event
            self.events.append(self._receive())
        raise TimeoutError("no %s event within %.0f s" % (method, timeout))

    def js(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError("page script failed: %s" % result["exceptionDetails"])
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click at the element's centre."""
        box = self.js("(function(){var r=document.querySelector(%s).getBoundingClientRect();"
                      "return [r.left + r.width / 2, r.top + r.height / 2];})()" % json.dumps(selector))
        x, y = box
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def close(self) -> None:
        self.sock.close()


def sample_results() -> RunResults:
    run = RunResults(targets={"local": TargetRecord("local", os="linux", duration=3.5),
                              "netbsd-10.1-amd64": TargetRecord("netbsd-10.1-amd64", os="netbsd", duration=80.0)})
    run.tests = [
        TestRecord("local", "suites/test_step.py::test_moves_pc", "passed", duration=0.1),
        TestRecord("netbsd-10.1-amd64", "suites/test_step.py::test_moves_pc", "failed", duration=0.2,
                   message="assert 4198 == 4200", detail="assert 4198 == 4200\n +  where 4198 = pc_after",
                   transcript="netbsd-10.1-amd64/console.log",
                   transcript_tail=["login: root", "panic: trap type 6 in ptrace"],
                   core_log="netbsd-10.1-amd64/core-stderr.log",
                   core_log_tail=["TypeError: Object of type bytes is not JSON serializable"]),
        TestRecord("local", "suites/test_attach.py::test_self", "passed", duration=0.1),
        TestRecord("netbsd-10.1-amd64", "suites/test_attach.py::test_self", "xfailed", message="EINVAL here",
                   expected_deviation="EINVAL here", deviation_reference="sys_ptrace_common.c 1.105"),
        TestRecord("local", "suites/test_ktrace.py::test_genio", "skipped", message="no ktrace on linux"),
    ]
    return run


@pytest.fixture
def page(tmp_path: Path) -> Iterator[DevTools]:
    report = tmp_path / "report.html"
    write_html(sample_results(), report)
    profile = tmp_path / "profile"
    proc = subprocess.Popen([CHROMIUM, *CHROMIUM_FLAGS, "--user-data-dir=%s" % profile,
                             "--remote-debugging-port=0", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    devtools = None
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + STARTUP_SECONDS
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("chromium did not open its DevTools port (exit %s)" % proc.poll())
            time.sleep(0.1)
        port = int(port_file.read_text().splitlines()[0])
        with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=10) as reply:
            pages = [t for t in json.load(reply) if t.get("type") == "page"]
        devtools = DevTools(pages[0]["webSocketDebuggerUrl"])
        devtools.call("Page.enable")
        devtools.call("Page.navigate", url=report.as_uri())
        devtools.wait_event("Page.loadEventFired")
        assert devtools.js("document.body.getAttribute('data-ready')") == "1"
        yield devtools
    finally:
        if devtools is not None:
            devtools.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def visible_tests(page: DevTools) -> list[str]:
    return page.js("Array.from(document.querySelectorAll('#matrix tr.test-row'))"
                   ".filter(function(r){return r.offsetParent !== null;})"
                   ".map(function(r){return r.getAttribute('data-test');})")


def test_matrix_cells_carry_outcomes(page: DevTools) -> None:
    cells = page.js("Array.from(document.querySelectorAll('#matrix td.cell')).map(function(c){"
                    "return [c.getAttribute('data-test'), c.getAttribute('data-target'), c.textContent,"
                    " getComputedStyle(c).backgroundColor];})")
    by_key = {(test.split("::")[1], target): (label, colour) for test, target, label, colour in cells}
    assert by_key[("test_moves_pc", "local")] == ("pass", "rgb(200, 230, 201)")
    assert by_key[("test_moves_pc", "netbsd-10.1-amd64")] == ("FAIL", "rgb(239, 154, 154)")
    assert by_key[("test_self", "netbsd-10.1-amd64")][0] == "known"
    assert by_key[("test_genio", "local")][0] == "skip"
    assert by_key[("test_genio", "netbsd-10.1-amd64")][0] == "\u2013"
    assert page.js("Array.from(document.querySelectorAll('#matrix tr.area')).map(function(r){"
                   "return r.textContent;})") == ["attach", "ktrace", "step"]


def test_click_on_a_failing_cell_shows_the_failure(page: DevTools) -> None:
    assert page.js("getComputedStyle(document.getElementById('detail')).display") == "none"
    page.click("td.cell[data-target='netbsd-10.1-amd64'][data-outcome='failed']")
    assert page.js("getComputedStyle(document.getElementById('detail')).display") == "block"
    text = page.js("document.getElementById('detail').innerText")
    assert "suites/test_step.py::test_moves_pc on netbsd-10.1-amd64" in text
    assert "outcome: failed, 0.200 s" in text
    assert "+  where 4198 = pc_after" in text
    assert "panic: trap type 6 in ptrace" in text
    assert "core stderr tail (netbsd-10.1-amd64/core-stderr.log)\nTypeError: Object of type bytes" in text
    assert page.js("document.querySelector('td.cell.selected').getAttribute('data-outcome')") == "failed"


def test_outcome_and_area_filters(page: DevTools) -> None:
    assert len(visible_tests(page)) == 3
    page.click("#only-problems")
    assert visible_tests(page) == ["suites/test_step.py::test_moves_pc"]
    # The passing cell of the shown row is dimmed, the failing one is not.
    assert page.js("document.querySelector(\"td.cell[data-outcome='passed'][data-test$='test_moves_pc']\")"
                   ".classList.contains('dim')") is True
    page.click("#filters input[data-outcome='passed']")
    page.click("#filters input[data-outcome='skipped']")
    assert len(visible_tests(page)) == 3
    page.js("var s=document.getElementById('area-filter'); s.value='attach';"
            "s.dispatchEvent(new Event('change'));")
    assert visible_tests(page) == ["suites/test_attach.py::test_self"]
    assert page.js("document.getElementById('shown-count').textContent") == "1 test(s) shown"
