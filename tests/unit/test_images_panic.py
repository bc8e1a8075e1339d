"""Kernel panics on the console: ddb report capture and the error it becomes."""

from __future__ import annotations

import json
import time

import pytest

from harness.errors import GuestError
from harness.images.dialogue import run_dialogue
from harness.images.panic import DDB_COMMANDS, DDB_SETUP, capture_panic
from harness.vm.console import Console
from harness.vm.timeouts import Timeouts
from tests.fakes.console_replay import Event, ReplayConsole, ReplayScript, ReplayServer, fixture

FAST = Timeouts(installer_boot=0.2, installer_prompt=0.2, installer_sets=0.2, installer_total=5.0,
                dialogue_poll=0.01, ddb_command=0.2)
VARIABLES = {"root_password": "Xyz-test-9"}


def test_ddb_commands_follow_syzkallers_order():
    assert DDB_SETUP == ("set $lines = 0", "set $maxwidth = 0")
    assert DDB_COMMANDS == ("show panic", "trace", "show registers", "ps")


def test_a_panic_mid_install_becomes_a_guest_error_with_the_ddb_report(tmp_path):
    console = ReplayConsole(fixture("netbsd-sysinst-panic"), tmp_path / "install.transcript", FAST)
    with pytest.raises(GuestError) as info:
        run_dialogue("netbsd-sysinst", console, variables=VARIABLES)
    error = info.value
    assert error.message.startswith(
        'netbsd-sysinst dialogue: kernel panic: kernel diagnostic assertion "uvm_page_owner_locked_p(pg, true)" '
        'failed: file "/usr/src/sys/uvm/uvm_page.c", line 1390; trace: vpanic(185c6d8, ...) at netbsd:vpanic+0x1a0'
        " <- kern_assert(185c6d8, ...) at netbsd:kern_assert+0x5c")
    assert error.transcript == console.transcript_path
    # The ddb commands were typed after the install's own answers.
    assert console.received[-6:] == ["set $lines = 0\r", "set $maxwidth = 0\r", "show panic\r", "trace\r",
                                     "show registers\r", "ps\r"]
    assert console.received[-7] == "a\r"  # "Install from": the last install answer before the panic
    transcript = console.transcript_path.read_text()
    assert "tstate         0x4480001605" in transcript  # show registers output
    assert "init wait" in transcript  # ps output
    panic_events = [json.loads(line) for line in
                    (tmp_path / "install.netbsd-sysinst.steps.log").read_text().splitlines()
                    if '"event": "panic"' in line]
    assert panic_events[0]["outputs"]["show registers"].splitlines()[0] == "tstate         0x4480001605"
    assert panic_events[0]["frames"][-1] == "sys_write(...) at netbsd:sys_write+0x38"


def test_a_panic_on_a_real_console_byte_stream_is_captured(tmp_path):
    timeouts = Timeouts(installer_boot=5.0, installer_prompt=5.0, installer_sets=5.0, installer_total=20.0,
                        dialogue_poll=0.05, ddb_command=5.0)
    with ReplayServer("netbsd-sysinst-panic", tmp_path) as server:
        console = Console(server.socket_path, server.transcript_path, timeouts, target="replay")
        try:
            console.connect(time.monotonic() + 10)
            with pytest.raises(GuestError) as info:
                run_dialogue("netbsd-sysinst", console, variables=VARIABLES)
        finally:
            console.close()
    assert "kernel panic: kernel diagnostic assertion \"uvm_page_owner_locked_p(pg, true)\" failed" in str(info.value)
    assert server.record()["received"] == fixture("netbsd-sysinst-panic").inputs()
    assert "tstate         0x4480001605" in server.transcript_path.read_text()
    assert str(server.transcript_path) in str(info.value)


def _script(*events: Event) -> ReplayScript:
    return ReplayScript(name="inline", description="", source="made up in OpenBSD's ddb format", chunk=5,
                        events=events)


def test_openbsd_ddb_report_takes_the_message_from_the_panic_line(tmp_path):
    script = _script(
        Event("input", "show panic\r"),
        Event("output", "show panic\r\n*cpu0: kernel diagnostic assertion \"p != NULL\" failed\r\nddb{0}> "),
        Event("input", "trace\r"),
        Event("output", "trace\r\ndb_enter() at db_enter+0x10\r\npanic(ffffffff820a1f2e) at panic+0x134\r\nddb{0}> "),
        Event("input", "show registers\r"),
        Event("output", "show registers\r\nrdi               0\r\nrip  0xffffffff81b8f0a0    db_enter+0x10\r\n"
                        "ddb{0}> "),
        Event("input", "ps\r"),
        Event("output", "ps\r\n   PID     TID   PPID    UID  S       FLAGS  WAIT          COMMAND\r\nddb{0}> "),
    )
    console = ReplayConsole(script, tmp_path / "t.log", FAST)
    report = capture_panic(console, setup=(), screen_before=("panic: kernel diagnostic assertion \"p != NULL\" failed: "
                                                   "file \"/sys/kern/kern_x.c\", line 12\r\n"
                                                   "Stopped at db_enter+0x10\r\n"))
    assert report.message == 'kernel diagnostic assertion "p != NULL" failed: file "/sys/kern/kern_x.c", line 12'
    assert report.frames == ("db_enter() at db_enter+0x10", "panic(ffffffff820a1f2e) at panic+0x134")
    assert report.outputs["show registers"] == "rdi               0\nrip  0xffffffff81b8f0a0    db_enter+0x10"
    assert report.incomplete is None


def test_without_a_panic_line_the_message_comes_from_show_panic(tmp_path):
    script = _script(
        Event("input", "show panic\r"),
        Event("output", "show panic\r\n*cpu0: uvm_fault(0xffffffff, 0x0, 0, 1) -> e\r\nddb{0}> "),
    )
    console = ReplayConsole(script, tmp_path / "t.log", FAST)
    report = capture_panic(console, screen_before="kernel: page fault trap, code=0\r\n", commands=["show panic"],
                           setup=())
    assert report.message == "uvm_fault(0xffffffff, 0x0, 0, 1) -> e"


def test_a_ddb_that_stops_answering_keeps_what_was_captured(tmp_path):
    script = _script(
        Event("input", "show panic\r"),
        Event("output", "show panic\r\nthe fault\r\ndb{0}> "),
        Event("input", "trace\r"),
        Event("output", "trace\r\nfirst_frame() at netbsd:first_frame+0x4\r\n"),  # and then nothing
    )
    console = ReplayConsole(script, tmp_path / "t.log", FAST)
    report = capture_panic(console, screen_before="[ 1.0] panic: the fault\r\n", setup=())
    assert report.message == "the fault"
    assert report.frames == ("first_frame() at netbsd:first_frame+0x4",)
    assert report.incomplete is not None and report.incomplete.startswith("'trace' got no ddb prompt back")
    assert "show registers" not in report.outputs
    assert report.summary() == ("the fault; trace: first_frame() at netbsd:first_frame+0x4 (ddb capture "
                                "incomplete: %s)" % report.incomplete)


def test_a_paging_ddb_gets_a_space_per_page(tmp_path):
    script = _script(
        Event("input", "set $lines = 0\r"),
        Event("output", "set $lines = 0\r\nddb{0}> "),
        Event("input", "trace\r"),
        Event("output", "trace\r\nframe_one() at frame_one+0x1\r\n--db_more--"),
        Event("input", " "),
        Event("output", "\r           \rframe_two() at frame_two+0x2\r\nddb{0}> "),
    )
    console = ReplayConsole(script, tmp_path / "t.log", FAST)
    report = capture_panic(console, screen_before="panic: paged\r\n", setup=("set $lines = 0",),
                           commands=("trace",))
    assert report.frames == ("frame_one() at frame_one+0x1", "frame_two() at frame_two+0x2")
    assert console.received == ["set $lines = 0\r", "trace\r", " "]


def test_a_ddb_deaf_to_the_setup_commands_is_reported_incomplete(tmp_path):
    console = ReplayConsole(_script(Event("input", "set $lines = 0\r")), tmp_path / "t.log", FAST)
    report = capture_panic(console, screen_before="panic: deaf\r\n")
    assert report.message == "deaf"
    assert report.outputs == {}
    assert report.incomplete.startswith("'set $lines = 0' got no ddb prompt back")
    assert console.received == ["set $lines = 0\r"]
