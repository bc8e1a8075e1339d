"""Syscall entry and exit stops (where the OS's ptrace has them)."""

from __future__ import annotations

import pytest
from conformance import SIGNAL_AT_SYSCALL_ENTRY, SYSCALL_EXIT_RETVAL_IN_REGS, expected, require_event


@pytest.fixture(autouse=True)
def _syscall_stops(target):
    require_event(target, "syscall")


def _to_syscall(tracer, pid, nr):
    """Syscall-step until the entry of syscall ``nr``; return that stop."""
    for _ in range(10000):
        tracer.ptrace.syscall(pid=pid)
        stop = tracer.wait(pid=pid)
        assert stop["kind"] == "stopped", stop
        if stop["event"] == "syscall_entry" and stop["syscall_nr"] == nr:
            return stop
    raise AssertionError("syscall %d never entered" % nr)


def test_syscall_entry_stop_carries_the_number(tracer, target, spawn):
    pid = spawn("loop", 1)["pid"]
    nr = target.const("SYS_getppid")
    stop = _to_syscall(tracer, pid, nr)
    assert (stop["signal"], stop["event"], stop["syscall_nr"]) == ("SIGTRAP", "syscall_entry", nr)


def test_syscall_exit_stop_carries_the_return_value(tracer, target, spawn):
    pid = spawn("loop", 1)["pid"]
    _to_syscall(tracer, pid, target.const("SYS_getppid"))
    tracer.ptrace.syscall(pid=pid)
    stop = tracer.wait(pid=pid)
    # The tracee's parent is the core itself.
    assert (stop["event"], stop["syscall_retval"], stop["syscall_error"]) == \
        ("syscall_exit", target.hello["pid"], False)


def test_syscall_exit_stop_registers_hold_the_return_value(tracer, target, spawn):
    if not expected(SYSCALL_EXIT_RETVAL_IN_REGS, target.os):
        pytest.skip("%s writes a syscall's result into the registers after the exit stop "
                    "(SYSCALL_EXIT_RETVAL_IN_REGS in suites/conformance.py)" % target.os)
    pid = spawn("loop", 1)["pid"]
    _to_syscall(tracer, pid, target.const("SYS_getppid"))
    tracer.ptrace.syscall(pid=pid)
    assert tracer.wait(pid=pid)["event"] == "syscall_exit"
    assert tracer.regs.get(pid=pid)[target.abi["roles"]["retval"]] == target.hello["pid"]


def test_entry_and_exit_stops_alternate(tracer, spawn):
    pid = spawn("loop", 3)["pid"]
    kinds = []
    for _ in range(8):
        tracer.ptrace.syscall(pid=pid)
        kinds.append(tracer.wait(pid=pid)["event"])
    assert kinds == ["syscall_entry", "syscall_exit"] * 4


def test_continue_after_syscall_stops_runs_to_exit(tracer, target, spawn):
    pid = spawn("loop", 2)["pid"]
    _to_syscall(tracer, pid, target.const("SYS_getppid"))
    tracer.ptrace.cont(pid=pid)
    done = tracer.wait(pid=pid)
    assert (done["kind"], done["exit_code"]) == ("exited", 0)


def test_signal_passed_at_syscall_entry_reaches_the_handler_once(tracer, target, spawn):
    """t_ptrace_syscall_wait.h 1.3 syscall_signal_on_sce: the tracer
    continues from getppid's entry stop with a signal the tracee handles;
    the handler runs exactly once and the tracee exits normally.  Where the
    OS first reports that signal as a stop of its own (Linux), the tracer
    passes it on from there."""
    pid = spawn("disposition", "handle", "SIGUSR1", "trap")["pid"]
    _to_syscall(tracer, pid, target.const("SYS_getppid"))
    tracer.ptrace.cont(pid=pid, signal="SIGUSR1")
    if expected(SIGNAL_AT_SYSCALL_ENTRY, target.os) == "stops_first":
        stop = tracer.wait(pid=pid)
        assert (stop["kind"], stop["signal"], stop["event"]) == ("stopped", "SIGUSR1", None)
        tracer.ptrace.cont(pid=pid, signal="SIGUSR1")
    assert tracer.tracee.report(pid=pid)["after"] == {"pending": [], "handled": 1}
    done = tracer.wait(pid=pid)
    assert (done["kind"], done["exit_code"]) == ("exited", 0)
