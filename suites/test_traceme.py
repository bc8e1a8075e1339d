"""Trace-me, exec, exit and signal stops: the first things a tracer sees."""

from __future__ import annotations

from conformance import EXEC_STOP_EVENT, SI_CODE_KILL, TRACEME_EXEC_PLAIN, expected


def test_traceme_exec_stops_with_sigtrap_and_exec_event(tracer, target):
    r = tracer.tracee.spawn(argv=["/bin/true"], stop_at="exec")
    event = r["exec_event"]
    assert (event["kind"], event["signal"], event["event"]) == (
        "stopped", "SIGTRAP", expected(EXEC_STOP_EVENT, target.os))
    assert event["pid"] == r["pid"]
    tracer.ptrace.cont(pid=r["pid"])
    done = tracer.wait(pid=r["pid"])
    assert (done["kind"], done["exit_code"]) == ("exited", 0)


def test_traceme_exec_without_options_is_a_plain_sigtrap(tracer, target):
    # No event options were set before the exec: the OS's legacy trace-me
    # SIGTRAP, named and coded as the OS does it (TRACEME_EXEC_PLAIN).
    r = tracer.tracee.spawn(argv=["/bin/true"], stop_at="exec", stop_before_exec=False)
    event = r["exec_event"]
    assert (event["kind"], event["signal"]) == ("stopped", "SIGTRAP")
    assert (event["event"], event["si_code"]) == expected(TRACEME_EXEC_PLAIN, target.os)
    tracer.ptrace.kill(pid=r["pid"])


def test_ready_point_is_a_sigstop_the_tracee_sent_itself(spawn, target):
    r = spawn("ready")
    assert (r["event"]["kind"], r["event"]["signal"]) == ("stopped", "SIGSTOP")
    assert r["event"]["si_code"] == expected(SI_CODE_KILL, target.os)
    assert r["ready"]["pid"] == r["pid"]


def test_exit_code_reaches_the_tracer(tracer, spawn):
    pid = spawn("exit", 3)["pid"]
    tracer.ptrace.cont(pid=pid)
    done = tracer.wait(pid=pid)
    assert (done["kind"], done["exit_code"]) == ("exited", 3)


def test_raised_signal_stops_the_tracee_first(tracer, spawn):
    pid = spawn("raise", "SIGUSR1")["pid"]
    tracer.ptrace.cont(pid=pid)
    stop = tracer.wait(pid=pid)
    assert (stop["kind"], stop["signal"]) == ("stopped", "SIGUSR1")


def test_signal_passed_on_continue_is_delivered(tracer, spawn):
    # Passing the stop's signal back on continue delivers it: SIGUSR1's
    # default action ends the process, signalled by SIGUSR1.
    pid = spawn("raise", "SIGUSR1")["pid"]
    tracer.ptrace.cont(pid=pid)
    tracer.wait(pid=pid)
    tracer.ptrace.cont(pid=pid, signal="SIGUSR1")
    done = tracer.wait(pid=pid)
    assert (done["kind"], done["signal"]) == ("signalled", "SIGUSR1")


def test_signal_suppressed_on_continue_is_not_delivered(tracer, spawn):
    pid = spawn("raise", "SIGUSR1")["pid"]
    tracer.ptrace.cont(pid=pid)
    tracer.wait(pid=pid)
    tracer.ptrace.cont(pid=pid)  # no signal: SIGUSR1 is discarded
    done = tracer.wait(pid=pid)
    assert (done["kind"], done["exit_code"]) == ("exited", 0)
