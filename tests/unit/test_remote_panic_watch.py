"""A kernel panic on the console ends the wait for SSH at once, with the
panic's summary, instead of running into the ready timeout."""

from __future__ import annotations

import socket
import subprocess
import threading
from pathlib import Path

import pytest

from harness.errors import GuestError
from harness.images.panic import DDB_COMMANDS, DDB_SETUP
from harness.remote.panic_watch import PanicWatch
from harness.remote.ssh import SshEndpoint, SshSession, SshTimeouts
from harness.vm.timeouts import Timeouts
from tests.fakes.console_replay import Event, ReplayConsole, ReplayScript, fixture

FAST = Timeouts(ddb_command=0.5)
BOOT = ("[   1.0000000] NetBSD 10.1 (GENERIC) #0: Mon Dec 16 13:08:11 UTC 2024\r\n"
        "[   2.4000000] wd0 at atabus0 drive 0\r\n")
PANIC_SUMMARY = (
    'kernel panic: kernel diagnostic assertion "uvm_page_owner_locked_p(pg, true)" failed: '
    'file "/usr/src/sys/uvm/uvm_page.c", line 1390; trace: vpanic(185c6d8, ...) at netbsd:vpanic+0x1a0'
    " <- kern_assert(185c6d8, ...) at netbsd:kern_assert+0x5c <- uvm_pagefree(...) at netbsd:uvm_pagefree+0x2f4"
    " <- uvm_anon_dispose(...) at netbsd:uvm_anon_dispose+0x68 <- sys_write(...) at netbsd:sys_write+0x38")


def _boot_panic() -> ReplayScript:
    """A kernel that panics while booting: the recorded sysinst panic's ddb
    exchange (from the panic to the end), after plain boot lines."""
    recorded = fixture("netbsd-sysinst-panic")
    first = next(i for i, e in enumerate(recorded.events) if "db{0}>" in e.text)
    panic_lines = recorded.events[first].text.split("[ 412.3120161] panic:", 1)[1]
    events = (Event("output", BOOT + "[ 412.3120161] panic:" + panic_lines), *recorded.events[first + 1:])
    return ReplayScript(name="boot-panic", description="", source=recorded.source, chunk=recorded.chunk,
                        events=events)


class _TranscriptOnly:
    """A console whose guest prints into the transcript and is never typed to."""

    def __init__(self, transcript_path: Path) -> None:
        self.transcript_path = transcript_path

    def print(self, text: str) -> None:
        with open(self.transcript_path, "ab") as f:
            f.write(text.encode())


def test_ddb_at_boot_is_captured_once_with_the_recorded_report(tmp_path: Path) -> None:
    console = ReplayConsole(_boot_panic(), tmp_path / "console.log", FAST)
    watch = PanicWatch(console)
    assert watch() == PANIC_SUMMARY
    assert console.received == [c + "\r" for c in DDB_SETUP + DDB_COMMANDS]
    # A second look (the SSH loop asks again) types nothing more.
    assert watch() == PANIC_SUMMARY
    assert len(console.sent) == len(DDB_SETUP + DDB_COMMANDS)


def test_a_normal_boot_is_no_problem_until_linux_panics(tmp_path: Path) -> None:
    console = _TranscriptOnly(tmp_path / "console.log")
    watch = PanicWatch(console)
    assert watch() is None  # no transcript yet
    console.print("[    0.000000] Linux version 6.1.0-28-amd64\r\n[    1.2] Run /init as init process\r\n")
    assert watch() is None
    console.print("[    1.9] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\r\n"
                  "[    1.9] ---[ end Kernel panic - not syncing")
    assert watch() == "kernel panic: VFS: Unable to mount root fs on unknown-block(0,0)"


def test_ssh_wait_fails_at_once_with_the_panic_summary(tmp_path: Path) -> None:
    console = ReplayConsole(_boot_panic(), tmp_path / "console.log", FAST)
    accepted: list[socket.socket] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        # The panicked guest's forwarded port: accepted, then silent.
        def hold_open() -> None:
            while True:
                try:
                    accepted.append(listener.accept()[0])
                except OSError:
                    return

        threading.Thread(target=hold_open, daemon=True).start()
        endpoint = SshEndpoint(target="netbsd-10.1-amd64", host="127.0.0.1", port=listener.getsockname()[1],
                               user="root", client_key=_keygen(tmp_path / "id"),
                               host_public_key=Path(str(_keygen(tmp_path / "host")) + ".pub"))
        try:
            with pytest.raises(GuestError) as info:
                SshSession.connect(endpoint, timeouts=SshTimeouts(ready=30.0), console_problem=PanicWatch(console),
                                   transcript=console.transcript_path, console_tail=console.tail)
        finally:
            for conn in accepted:
                conn.close()
    error = info.value
    # The console is looked at before the first connection attempt, so the
    # ready timeout never comes into it.
    assert error.message == PANIC_SUMMARY + " (while waiting for SSH, last: no attempt made)"
    assert not accepted
    assert error.transcript == console.transcript_path
    # The tail shows the ddb report captured before the error was made: ps came last.
    assert error.console_tail is not None
    assert error.console_tail[-2:] == ["1       1 3   0       200            1e7d1b00               init wait",
                                       "db{0}> "]
    assert str(error).endswith("transcript: %s" % console.transcript_path)


def _keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", str(path)], check=True)
    return path
