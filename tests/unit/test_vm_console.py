"""The console against a fake QEMU: a unix socket server and a transcript
file written the way QEMU's chardev logfile writes it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import GuestError, Timeout
from harness.vm import Timeouts
from harness.vm.console import Console, transcript_tail


class FakeSerial:
    """The QEMU end: accepts one connection, 'prints' to it and to the transcript."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "console.sock"
        self.transcript = directory / "console.log"
        self.transcript.write_bytes(b"")
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(self.path))
        self.server.listen(1)
        self.conn: socket.socket | None = None
        self.received = b""
        self._accepted = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.conn, _ = self.server.accept()
        self._accepted.set()

    def print(self, data: bytes) -> None:
        self._accepted.wait(5)
        assert self.conn is not None
        with open(self.transcript, "ab") as f:
            f.write(data)
        self.conn.sendall(data)

    def read(self, size: int) -> bytes:
        assert self.conn is not None
        self.conn.settimeout(5)
        return self.conn.recv(size)

    def hang_up(self) -> None:
        assert self.conn is not None
        self.conn.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.server.close()


@pytest.fixture
def serial(tmp_path: Path) -> Iterator[FakeSerial]:
    fake = FakeSerial(tmp_path)
    yield fake
    fake.close()


@pytest.fixture
def console(serial: FakeSerial) -> Iterator[Console]:
    con = Console(serial.path, serial.transcript, Timeouts(console_prompt=0.5), target="fake-1-amd64")
    con.connect(time.monotonic() + 5)
    yield con
    con.close()


def test_output_printed_before_expect_is_still_matched(serial: FakeSerial, console: Console) -> None:
    serial.print(b"booting...\r\nlogin: ")
    time.sleep(0.5)  # the pump thread has read it by now
    assert console.expect([r"Password:", r"login: "]) == 1
    assert console.before == "booting...\r\n"


def test_sendline_ends_with_a_carriage_return(serial: FakeSerial, console: Console) -> None:
    serial.print(b"0 > ")
    console.expect(r"0 > ")
    console.sendline("6 7 * .")
    assert serial.read(64) == b"6 7 * .\r"


def test_timeout_names_the_pattern_timeout_tail_and_transcript(serial: FakeSerial, console: Console) -> None:
    serial.print(b"".join(b"line %d\r\n" % i for i in range(100)) + b"\x1b[0mPanic: no init\r\n")
    with pytest.raises(Timeout) as err:
        console.expect(r"login: ")
    error = err.value
    assert error.timeout_name == "console_prompt"
    assert error.transcript == serial.transcript
    assert error.console_tail is not None and len(error.console_tail) == 40
    assert error.console_tail[0] == "line 61"
    assert error.console_tail[-1] == "Panic: no init"  # escape sequences dropped
    text = str(error)
    assert "[fake-1-amd64] the console of fake-1-amd64 never showed 'login: ' (timeout console_prompt" in text
    assert text.endswith("transcript: %s" % serial.transcript)


def test_a_closed_console_is_a_guest_error_not_a_hang(serial: FakeSerial, console: Console) -> None:
    serial.print(b"reboot: Power down\r\n")
    serial.hang_up()
    time.sleep(0.5)  # the pump thread has seen the hang-up by now
    # What was printed before the end still matches, once.
    assert console.expect(r"Power down") == 0
    assert console.before == "reboot: "
    with pytest.raises(GuestError, match=r"closed \(QEMU exited\?\) before it showed 'login: '"):
        console.expect(r"login: ")


def test_output_beyond_the_buffer_limit_drops_the_oldest(
    serial: FakeSerial, console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    import harness.vm.console as console_module

    monkeypatch.setattr(console_module, "_BUFFER_LIMIT", 1000)
    serial.print(b"FIRST" + b"x" * 3000 + b"LAST")
    time.sleep(0.5)
    with pytest.raises(Timeout):
        console.expect(r"FIRST")
    serial.print(b" more")
    console.expect(r"LAST more")


def test_transcript_tail_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert transcript_tail(tmp_path / "absent.log") == []
