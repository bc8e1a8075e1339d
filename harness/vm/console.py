"""The guest's serial console: a unix socket driven with pexpect.

QEMU itself writes every byte the guest prints to the transcript file (the
chardev's ``logfile``), so the transcript is complete even when nobody reads
the console and survives a harness crash.  A pump thread keeps reading the
socket between ``expect`` calls: an unread socket would fill and stall the
guest's UART, and so the guest.
"""

from __future__ import annotations

import collections
import os
import re
import socket
import sys
import threading
import time
from pathlib import Path
from typing import BinaryIO

import pexpect
import pexpect.fdpexpect

from ..errors import GuestError, HostError, Timeout
from .timeouts import Timeouts

TAIL_LINES = 40
# pexpect's match buffer; older output stays in the transcript only.
_BUFFER_LIMIT = 1 << 20


def transcript_tail(path: Path, lines: int = TAIL_LINES) -> list[str]:
    """The last ``lines`` lines of a transcript, control characters dropped."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read()
    except FileNotFoundError:
        return []
    text = data.decode("utf-8", "replace").replace("\r", "")
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]|\x1bc|[\x00-\x08\x0b-\x1f\x7f]", "", text)
    return list(collections.deque(text.splitlines(), maxlen=lines))


class Console:
    """The serial console of one VM."""

    def __init__(self, socket_path: Path, transcript_path: Path, timeouts: Timeouts, *, target: str) -> None:
        self.socket_path = socket_path
        self.transcript_path = transcript_path
        self.timeouts = timeouts
        self.target = target
        self._sock: socket.socket | None = None
        self._child: pexpect.fdpexpect.fdspawn | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pump: threading.Thread | None = None
        self._eof = False
        self._leftover = ""
        # (before, match) of the last match made from the leftover output.
        self._last: tuple[str, re.Match] | None = None

    def connect(self, deadline: float) -> None:
        """Connect to QEMU's console socket, retrying until ``deadline`` (time.monotonic)."""
        last: OSError | None = None
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(self.socket_path))
                break
            except OSError as exc:
                sock.close()
                last = exc
                if time.monotonic() >= deadline:
                    raise HostError(
                        "could not connect to the console socket %s: %s" % (self.socket_path, exc),
                        target=self.target,
                    ) from last
                time.sleep(0.05)
        self._sock = sock
        self._child = pexpect.fdpexpect.fdspawn(
            sock.fileno(), encoding="utf-8", codec_errors="replace", maxread=65536, use_poll=True
        )
        self._pump = threading.Thread(target=self._pump_loop, name="console-%s" % self.target, daemon=True)
        self._pump.start()

    def _pump_loop(self) -> None:
        import select

        poller = select.poll()
        assert self._sock is not None
        poller.register(self._sock.fileno(), select.POLLIN | select.POLLHUP)
        while not self._stop.is_set() and not self._eof:
            if not poller.poll(200):
                continue
            with self._lock:
                child = self._child
                if child is None or self._eof:
                    return
                try:
                    # Through pexpect's own expect (a zero-timeout wait for
                    # nothing), so what is read stays buffered for the next
                    # real expect() exactly as if that had read it.
                    child.expect([pexpect.TIMEOUT], timeout=0)
                    excess = len(child.buffer) - _BUFFER_LIMIT
                    if excess > 0:
                        # Drop the oldest output (still in the transcript).
                        child.expect([re.compile(r"\A(?s:.){%d}" % excess)], timeout=0)
                except (pexpect.EOF, OSError, ValueError):
                    # pexpect empties its buffer at EOF; keep what the guest
                    # printed last for the expect() calls still to come.
                    self._leftover = child.before if isinstance(child.before, str) else ""
                    self._eof = True
                    return

    def _match_leftover(self, patterns: list) -> int | None:
        """Match against what was printed before the console closed, earliest match first."""
        best: tuple[int, int, re.Match] | None = None
        for index, pattern in enumerate(patterns):
            found = re.search(pattern, self._leftover)
            if found and (best is None or found.start() < best[2].start()):
                best = (index, found.start(), found)
        if best is None:
            return None
        index, _, found = best
        self._last = (self._leftover[: found.start()], found)
        self._leftover = self._leftover[found.end():]
        return index

    def _require(self) -> pexpect.fdpexpect.fdspawn:
        if self._child is None:
            raise HostError("the console of %s is not connected" % self.target, target=self.target)
        return self._child

    def expect(self, pattern: str | re.Pattern | list, timeout_name: str = "console_prompt") -> int:
        """Wait for ``pattern`` (a regex, or a list of them: returns the index
        matched) within the named timeout.  Output already printed but not yet
        matched counts."""
        seconds = self.timeouts.seconds(timeout_name)
        patterns = pattern if isinstance(pattern, list) else [pattern]
        started = time.monotonic()
        with self._lock:
            self._last = None
            if self._eof:
                index = self._match_leftover(patterns)
                if index is not None:
                    return index
            child = self._require()
            try:
                return child.expect(patterns, timeout=seconds)
            except pexpect.TIMEOUT:
                raise Timeout(
                    "the console of %s never showed %s" % (self.target, _describe(patterns)),
                    waited=time.monotonic() - started,
                    timeout_name=timeout_name,
                    target=self.target,
                    transcript=self.transcript_path,
                    console_tail=transcript_tail(self.transcript_path),
                ) from None
            except pexpect.EOF:
                self._eof = True
                raise GuestError(
                    "the console of %s closed (QEMU exited?) before it showed %s" % (self.target, _describe(patterns)),
                    target=self.target,
                    transcript=self.transcript_path,
                    console_tail=transcript_tail(self.transcript_path),
                ) from None

    @property
    def before(self) -> str:
        """What the console printed before the last match."""
        if self._last is not None:
            return self._last[0]
        before = self._require().before
        return before if isinstance(before, str) else ""

    @property
    def match(self) -> re.Match | None:
        if self._last is not None:
            return self._last[1]
        match = self._require().match
        return match if isinstance(match, re.Match) else None

    def send(self, text: str) -> None:
        with self._lock:
            self._require().send(text)

    def sendline(self, text: str = "") -> None:
        # A serial terminal's Enter is a carriage return; firmware prompts
        # (OpenBIOS, SeaBIOS menus) ignore a bare newline.
        self.send(text + "\r")

    def interact(self, escape: bytes = b"\x1d", stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        """Wire the console to a terminal until the user types ``escape`` (Ctrl-]) or QEMU exits."""
        import select
        import termios
        import tty

        stdin = stdin or sys.stdin.buffer
        stdout = stdout or sys.stdout.buffer
        self._stop.set()
        if self._pump is not None:
            self._pump.join(timeout=2)
        child = self._require()
        assert self._sock is not None
        pending = child.buffer
        child.buffer = ""
        stdout.write(pending.encode("utf-8", "replace"))
        stdout.flush()
        in_fd, sock = stdin.fileno(), self._sock
        saved = termios.tcgetattr(in_fd) if os.isatty(in_fd) else None
        try:
            if saved is not None:
                # Raw: every key (Ctrl-C included) goes to the guest, not to us.
                tty.setraw(in_fd)
            while True:
                ready, _, _ = select.select([in_fd, sock], [], [])
                if sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    stdout.write(data)
                    stdout.flush()
                if in_fd in ready:
                    data = os.read(in_fd, 1024)
                    if not data:
                        return
                    if escape in data:
                        sock.sendall(data[: data.index(escape)])
                        return
                    sock.sendall(data)
        finally:
            if saved is not None:
                termios.tcsetattr(in_fd, termios.TCSADRAIN, saved)

    def tail(self, lines: int = TAIL_LINES) -> list[str]:
        return transcript_tail(self.transcript_path, lines)

    def close(self) -> None:
        self._stop.set()
        if self._pump is not None and self._pump is not threading.current_thread():
            self._pump.join(timeout=2)
        with self._lock:
            self._child = None
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def _describe(patterns: list) -> str:
    shown = [p.pattern if isinstance(p, re.Pattern) else str(p) for p in patterns]
    return " or ".join(repr(s) for s in shown)
