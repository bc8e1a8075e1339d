"""Signals a tracee blocks, ignores or handles: what the tracer's wait
reports, and what continuing with and without the signal does.

Modelled on NetBSD tests/lib/libc/sys/t_ptrace_signal_wait.h 1.6
(traceme_raisesignal_masked/_ignored, traceme_sendsignal_handle/_ignored,
traceme_signalmasked_crash_trap): one test per disposition and continue
choice.  The expectations per OS are RAISED_SIGNAL and
MASKED_TRAP_PASSED_BACK in suites/conformance.py; the BSD rows were read
from kernel source and NetBSD's tests, not run here.
"""

from __future__ import annotations

import pytest
from conformance import MASKED_TRAP_PASSED_BACK, RAISED_SIGNAL, SI_CODE_KILL, expected

SIGNAL = "SIGUSR1"


def _first_stop(tracer, pid):
    tracer.ptrace.cont(pid=pid)
    return tracer.wait(pid=pid)


def _assert_kill_stop(stop, target, pid):
    assert (stop["pid"], stop["kind"], stop["signal"], stop["event"]) == (pid, "stopped", SIGNAL, None)
    assert stop["si_code"] == expected(SI_CODE_KILL, target.os)


def _assert_outcome(tracer, pid, outcome, after_key):
    """``outcome`` after the tracer continued from the signal's stop:
    ``dies`` -- killed by the signal; ``handler``/``nothing`` -- the tracee
    reports ``after_key`` with its handler count (1 / 0) and exits 0."""
    if outcome == "dies":
        done = tracer.wait(pid=pid)
        assert (done["kind"], done["signal"]) == ("signalled", SIGNAL)
        return
    report = tracer.tracee.report(pid=pid)
    assert report[after_key]["handled"] == (1 if outcome == "handler" else 0)
    done = tracer.wait(pid=pid)
    assert (done["kind"], done["exit_code"]) == ("exited", 0)


@pytest.mark.parametrize("disposition", ["ignore", "handle"])
@pytest.mark.parametrize("passed", [True, False], ids=["passed", "suppressed"])
def test_raised_signal_stops_despite_its_disposition(tracer, target, spawn, disposition, passed):
    where, with_signal, without_signal = expected(RAISED_SIGNAL, target.os, disposition)
    assert where == "at_kill", "this test covers signals that stop at the kill"
    pid = spawn("disposition", disposition, SIGNAL)["pid"]
    _assert_kill_stop(_first_stop(tracer, pid), target, pid)
    tracer.ptrace.cont(pid=pid, signal=SIGNAL if passed else None)
    _assert_outcome(tracer, pid, with_signal if passed else without_signal, "after")


@pytest.mark.parametrize("passed", [True, False], ids=["passed", "suppressed"])
def test_blocked_signal_stops_only_when_unblocked(tracer, target, spawn, passed):
    where, with_signal, without_signal = expected(RAISED_SIGNAL, target.os, "block")
    assert where == "at_unblock", "this test covers a stop deferred to the unblock"
    pid = spawn("disposition", "block", SIGNAL)["pid"]
    tracer.ptrace.cont(pid=pid)
    # The report arrives only if the kill did not stop the tracee: it runs
    # on with the signal pending behind its mask.
    after = tracer.tracee.report(pid=pid)["after"]
    assert after == {"pending": [SIGNAL], "handled": 0}
    _assert_kill_stop(tracer.wait(pid=pid), target, pid)
    tracer.ptrace.cont(pid=pid, signal=SIGNAL if passed else None)
    _assert_outcome(tracer, pid, with_signal if passed else without_signal, "unblocked")


def _stop_at_masked_breakpoint(tracer, target, spawn):
    """A tracee that blocks SIGTRAP, stopped at a breakpoint it ran into."""
    r = spawn("disposition", "block", "SIGTRAP", "trap")
    pid, addr = r["pid"], r["ready"]["getppid"]
    tracer.bp.insert(pid=pid, addr=addr)
    stop = _first_stop(tracer, pid)
    assert (stop["kind"], stop["signal"], stop["event"], stop["breakpoint"]) == (
        "stopped", "SIGTRAP", "breakpoint", addr)
    assert stop["si_code"] == target.abi["breakpoint"]["si_code"]
    tracer.bp.remove(pid=pid, addr=addr)
    return pid


def test_breakpoint_stops_a_tracee_that_blocks_sigtrap(tracer, target, spawn):
    # Suppressed on continue, the trap leaves nothing behind: no pending
    # SIGTRAP, the tracee runs to its normal exit.
    pid = _stop_at_masked_breakpoint(tracer, target, spawn)
    tracer.ptrace.cont(pid=pid)
    assert tracer.tracee.report(pid=pid)["after"] == {"pending": [], "handled": 0}
    done = tracer.wait(pid=pid)
    assert (done["kind"], done["exit_code"]) == ("exited", 0)


def test_sigtrap_passed_back_to_a_tracee_that_blocks_it(tracer, target, spawn):
    outcome = expected(MASKED_TRAP_PASSED_BACK, target.os)
    pid = _stop_at_masked_breakpoint(tracer, target, spawn)
    tracer.ptrace.cont(pid=pid, signal="SIGTRAP")
    if outcome == "dies":
        done = tracer.wait(pid=pid)
        assert (done["kind"], done["signal"]) == ("signalled", "SIGTRAP")
    else:
        assert outcome == "pending"
        assert tracer.tracee.report(pid=pid)["after"] == {"pending": ["SIGTRAP"], "handled": 0}
        done = tracer.wait(pid=pid)
        assert (done["kind"], done["exit_code"]) == ("exited", 0)
