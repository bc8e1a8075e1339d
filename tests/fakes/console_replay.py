"""Scripted installer consoles: a guest's side of a serial console, replayed.

A replay script (``tests/fixtures/consoles/*.toml``) is a list of events:
``output`` (text the guest prints), ``input`` (the exact text the guest waits
for before printing more: an installer waiting at its prompt) and ``close``
(the guest goes away: QEMU exited).  When the events run out the guest falls
silent, which is how a stall is played.  Every byte the guest prints goes to
the transcript, as QEMU's chardev logfile does.

Two ways to play one:

* :class:`ReplayConsole`, in process: the same protocol as
  :class:`harness.vm.console.Console` (``expect``/``send``/``before``/
  ``match``/``tail``/``transcript_path``/``timeouts``), releasing output in
  small chunks so prompts arrive split over several reads;
* ``python -m tests.fakes.console_replay serve SCRIPT SOCKET TRANSCRIPT
  RECEIVED``: a separate process serving the script on a unix socket, so a
  real :class:`~harness.vm.console.Console` (pexpect over the socket) reads
  real byte streams; what it receives is written to ``RECEIVED`` (JSON).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "consoles"


@dataclass(frozen=True)
class Event:
    kind: str  # "output", "input" or "close"
    text: str = ""


@dataclass(frozen=True)
class ReplayScript:
    name: str
    description: str
    source: str
    chunk: int  # how many characters one read of the guest's output gets at most
    events: tuple[Event, ...]

    def inputs(self) -> list[str]:
        """The answers the script waits for, in order."""
        return [e.text for e in self.events if e.kind == "input"]


def load_script(path: Path) -> ReplayScript:
    """Load a replay script; a malformed one names the file and the event."""
    raw = tomllib.loads(path.read_text())
    events = []
    for i, entry in enumerate(raw.get("events", [])):
        kinds = [k for k in ("output", "input", "close") if k in entry]
        if len(kinds) != 1 or set(entry) - {"output", "input", "close", "note"}:
            raise ValueError("%s: events[%d] needs exactly one of output, input, close (and an optional note)"
                             % (path, i))
        kind = kinds[0]
        events.append(Event(kind, "" if kind == "close" else entry[kind]))
    if not raw.get("source"):
        raise ValueError("%s: a replay script must say where its texts come from (source = ...)" % path)
    return ReplayScript(name=path.stem, description=raw.get("description", ""), source=raw["source"],
                        chunk=int(raw.get("chunk", 64)), events=tuple(events))


def fixture(name: str) -> ReplayScript:
    return load_script(FIXTURES / ("%s.toml" % name))


class ReplayMismatch(AssertionError):
    """The engine typed something the scripted installer was not waiting for."""


class ReplayConsole:
    """The in-process replay, standing in for :class:`harness.vm.console.Console`."""

    def __init__(self, script: ReplayScript, transcript_path: Path, timeouts, *, target: str = "replay") -> None:
        self.script = script
        self.transcript_path = transcript_path
        self.timeouts = timeouts
        self.target = target
        self.received: list[str] = []  # each completed answer the guest was waiting for
        self.sent: list[str] = []  # every send() as made
        self._position = 0
        self._unreleased = ""  # printed by the guest, not yet read by the console
        self._buffer = ""  # read, not yet matched
        self._pending_input = ""
        self._closed = False
        self._before = ""
        self._match: re.Match | None = None
        transcript_path.parent.mkdir(parents=True, exist_ok=True)
        transcript_path.write_bytes(b"")
        self._play()

    def _play(self) -> None:
        """Print events until the guest waits for input, closes or runs out."""
        while self._position < len(self.script.events):
            event = self.script.events[self._position]
            if event.kind != "output":
                if event.kind == "close":
                    self._closed = True
                return
            self._unreleased += event.text
            with open(self.transcript_path, "ab") as f:
                f.write(event.text.encode("utf-8"))
            self._position += 1

    def _release(self) -> bool:
        if not self._unreleased:
            return False
        size = max(1, self.script.chunk)
        self._buffer += self._unreleased[:size]
        self._unreleased = self._unreleased[size:]
        return True

    def expect(self, pattern, timeout_name: str = "console_prompt") -> int:
        from harness.errors import GuestError, Timeout
        from harness.vm.console import transcript_tail

        seconds = self.timeouts.seconds(timeout_name)
        patterns = pattern if isinstance(pattern, list) else [pattern]
        compiled = [p if isinstance(p, re.Pattern) else re.compile(p, re.DOTALL) for p in patterns]
        self._match = None
        # Like pexpect: match what was read so far; read more while nothing matches.
        while True:
            best = None
            for index, regex in enumerate(compiled):
                found = regex.search(self._buffer)
                if found and (best is None or found.start() < best[1].start()):
                    best = (index, found)
            if best is not None:
                index, found = best
                self._before = self._buffer[:found.start()]
                self._match = found
                self._buffer = self._buffer[found.end():]
                return index
            if not self._release():
                break
        if self._closed:
            raise GuestError("the console of %s closed before it showed %r" % (self.target, patterns),
                             target=self.target, transcript=self.transcript_path,
                             console_tail=transcript_tail(self.transcript_path))
        # The guest is silent (waiting for input or stalled): let the named
        # timeout pass, as a real console would; like pexpect, "before" then
        # holds what was read without a match.
        self._before = self._buffer
        time.sleep(seconds)
        raise Timeout("the console of %s never showed %r" % (self.target, patterns), waited=seconds,
                      timeout_name=timeout_name, target=self.target, transcript=self.transcript_path,
                      console_tail=transcript_tail(self.transcript_path))

    @property
    def before(self) -> str:
        return self._before

    @property
    def match(self) -> re.Match | None:
        return self._match

    def send(self, text: str) -> None:
        self.sent.append(text)
        if self._position >= len(self.script.events) or self.script.events[self._position].kind != "input":
            raise ReplayMismatch("the scripted installer (%s) waits for no input, got %r"
                                 % (self.script.name, text))
        self._pending_input += text
        expected = self.script.events[self._position].text
        if self._pending_input == expected:
            self.received.append(expected)
            self._pending_input = ""
            self._position += 1
            self._play()
        elif not expected.startswith(self._pending_input):
            raise ReplayMismatch("the scripted installer (%s, event %d) waits for %r, got %r"
                                 % (self.script.name, self._position, expected, self._pending_input))

    def sendline(self, text: str = "") -> None:
        self.send(text + "\r")

    def tail(self, lines: int = 40) -> list[str]:
        from harness.vm.console import transcript_tail

        return transcript_tail(self.transcript_path, lines)


# ---------------------------------------------------------------- subprocess


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def serve(script: ReplayScript, socket_path: Path, transcript_path: Path, received_path: Path) -> int:
    """Serve ``script`` to one client on ``socket_path``; 0 when every input
    came as scripted, 3 on a mismatch (recorded in ``received_path``)."""
    record: dict[str, object] = {"received": [], "mismatch": None, "finished": False}
    _write_json(received_path, record)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(socket_path))
    listener.listen(1)
    conn, _ = listener.accept()
    listener.close()
    with conn, open(transcript_path, "ab", buffering=0) as transcript:
        for event in script.events:
            if event.kind == "output":
                data = event.text.encode("utf-8")
                for start in range(0, len(data), max(1, script.chunk)):
                    piece = data[start:start + script.chunk]
                    transcript.write(piece)
                    conn.sendall(piece)
                continue
            if event.kind == "close":
                record["finished"] = True
                _write_json(received_path, record)
                return 0
            wanted = event.text.encode("utf-8")
            got = b""
            while got != wanted:
                data = conn.recv(1)
                if not data:
                    record["mismatch"] = "the console closed while the installer waited for %r (had %r)" % (
                        event.text, got.decode("utf-8", "replace"))
                    _write_json(received_path, record)
                    return 3
                got += data
                if not wanted.startswith(got):
                    record["mismatch"] = "waited for %r, got %r" % (event.text, got.decode("utf-8", "replace"))
                    _write_json(received_path, record)
                    return 3
            record["received"].append(event.text)  # type: ignore[union-attr]
            _write_json(received_path, record)
        record["finished"] = True
        _write_json(received_path, record)
        # Silent from here on (a stalled guest) until the console goes away.
        while conn.recv(4096):
            pass
    return 0


class ReplayServer:
    """``serve`` in a child process, as a context manager: the socket (in a
    short directory: unix socket paths must fit in 108 bytes), the
    transcript and the received-input record it writes."""

    def __init__(self, name: str, work: Path) -> None:
        self.script = FIXTURES / ("%s.toml" % name)
        self.socket_dir = Path(tempfile.mkdtemp(prefix="trl-", dir="/tmp"))
        self.socket_path = self.socket_dir / "console.sock"
        self.transcript_path = work / ("%s.console.log" % name)
        self.received_path = work / ("%s.received.json" % name)
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> ReplayServer:
        root = Path(__file__).resolve().parents[2]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.console_replay", "serve", str(self.script), str(self.socket_path),
             str(self.transcript_path), str(self.received_path)], cwd=root)
        return self

    def record(self) -> dict:
        return json.loads(self.received_path.read_text())

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    @property
    def returncode(self) -> int | None:
        return self.process.returncode if self.process is not None else None


def main(argv: list[str]) -> int:
    if len(argv) != 5 or argv[0] != "serve":
        print("usage: python -m tests.fakes.console_replay serve SCRIPT SOCKET TRANSCRIPT RECEIVED", file=sys.stderr)
        return 2
    _, script, sock, transcript, received = argv
    return serve(load_script(Path(script)), Path(sock), Path(transcript), Path(received))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
