"""The server's request handling: every bad input gets an error reply."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from harness.tracecore import server
from harness.tracecore_zip import build_zip


class _NoTracer:
    """Stands in for the tracer: these requests never reach it."""

    def close(self) -> None:
        pass


def _reply(line: bytes) -> dict:
    return server.handle(server.Session(tracer=_NoTracer()), line)  # type: ignore[arg-type]


def test_malformed_json_gets_bad_request():
    reply = _reply(b"{nope")
    assert reply["id"] is None
    assert reply["error"]["type"] == "BadRequest"


def test_non_object_request_gets_bad_request():
    assert _reply(b"[1, 2]")["error"]["message"] == "a request is a JSON object, got list"


def test_unknown_method_keeps_the_id():
    reply = _reply(b'{"id": 9, "method": "frobnicate"}')
    assert reply == {"id": 9, "error": {"type": "UnknownMethod", "errno": None, "errno_value": None,
                                        "message": "no method 'frobnicate'"}}


def test_missing_parameter_names_it():
    reply = _reply(b'{"id": 1, "method": "mem.read", "params": {"pid": 1, "addr": 0}}')
    assert reply["error"]["type"] == "BadRequest"
    assert "size" in reply["error"]["message"]


def test_params_must_be_an_object():
    assert _reply(b'{"id": 1, "method": "ping", "params": [1]}')["error"]["message"] == "params must be an object"


def test_os_errors_carry_the_errno_name():
    class Failing:
        def close(self):
            pass

        def regs(self, pid):
            raise ProcessLookupError(3, "gone")

    reply = server.handle(server.Session(tracer=Failing()), b'{"id": 2, "method": "regs.get", "params": {"pid": 5}}')  # type: ignore[arg-type]
    assert reply["error"]["errno"] == "ESRCH"
    assert reply["error"]["errno_value"] == 3


def test_eof_kills_and_reaps_held_tracees(tmp_path):
    zip_path, _ = build_zip(tmp_path)
    proc = subprocess.Popen([sys.executable, str(zip_path), "serve"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    assert b"hello" in proc.stdout.readline()
    proc.stdin.write(b'{"id": 1, "method": "tracee.spawn", "params": {"program": "loop"}}\n')
    proc.stdin.flush()
    pid = json.loads(proc.stdout.readline())["result"]["pid"]
    os.kill(pid, 0)  # alive
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("tracee %d outlived its server" % pid)


def test_tracee_output_never_reaches_the_protocol_stream(tmp_path):
    zip_path, _ = build_zip(tmp_path)
    requests = (b'{"id": 1, "method": "tracee.spawn", "params": {"argv": ["/bin/echo", "noise"], "stop_at": "exec"}}\n')
    proc = subprocess.Popen([sys.executable, str(zip_path), "serve"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    proc.stdout.readline()
    proc.stdin.write(requests)
    proc.stdin.flush()
    pid = json.loads(proc.stdout.readline())["result"]["pid"]
    for i, req in enumerate(({"method": "ptrace.cont", "params": {"pid": pid}},
                             {"method": "wait", "params": {"pid": pid}},
                             {"method": "tracee.output", "params": {"pid": pid}}), start=2):
        proc.stdin.write(json.dumps(dict(req, id=i)).encode() + b"\n")
        proc.stdin.flush()
        reply = json.loads(proc.stdout.readline())
        assert reply["id"] == i
    assert reply["result"] == "noise\n"
    proc.stdin.close()
    proc.wait(timeout=30)


def test_byte_array_members_reach_the_host_as_hex(monkeypatch):
    # aarch64's user_fpsimd_state decodes its 16-byte vector registers to
    # bytes; a reply holding them must still be JSON (it once ended the session).
    monkeypatch.setitem(server.METHODS, "test.bytes",
                        lambda s: {"vregs": (b"\x00\x01", b"\xff"), "name": b"ab", "fpcr": 7})
    reply = _reply(b'{"id": 4, "method": "test.bytes"}')
    assert json.loads(json.dumps(reply)) == {"id": 4, "result": {"vregs": ["0001", "ff"], "name": "6162",
                                                                 "fpcr": 7}}
