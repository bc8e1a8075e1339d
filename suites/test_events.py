"""Process events: fork, vfork, vfork-done, clone (threads), exec, and what each OS makes of posix_spawn."""

from __future__ import annotations

import pytest
from conformance import (
    CHILD_FIRST_STOP,
    EXEC_STOP_EVENT,
    SIGCHLD_STOPS_FOR_A_QUICK_CHILD,
    SPAWN_CHILD_STOPS_AT_EXEC,
    SPAWN_REPORTED_AS,
    SPAWN_UNREPORTED_WITH,
    TRACEME_EXEC_PLAIN,
    expected,
    require_event,
)


def _until_event(tracer, pid, wanted):
    """Continue pid until it reports event ``wanted``; other stops of pid
    (none expected) fail the test."""
    tracer.ptrace.cont(pid=pid)
    stop = tracer.wait(pid=pid)
    assert stop["event"] == wanted, stop
    return stop


def _first_stop_of_child(tracer, target, child, parent, kind):
    """The new child's first stop: the OS's signal, and where the OS names
    a child-side event, that event naming the parent."""
    signal, event = expected(CHILD_FIRST_STOP, target.os, kind)
    first = tracer.wait(pid=child)
    assert (first["kind"], first["signal"], first["event"]) == ("stopped", signal, event)
    if event is not None:
        assert first["other_pid"] == parent


def _spawn_is_a_vfork(target):
    reported = expected(SPAWN_REPORTED_AS, target.os)
    if reported != "vfork":
        pytest.skip("the vfork tracee program's posix_spawn is a %s event on %s, not a vfork "
                    "(see SPAWN_REPORTED_AS in suites/conformance.py)" % (reported, target.os))


def test_fork_event_names_the_child(tracer, target, spawn):
    require_event(target, "fork")
    pid = spawn("fork", events=["fork"])["pid"]
    stop = _until_event(tracer, pid, "fork")
    assert (stop["kind"], stop["signal"]) == ("stopped", "SIGTRAP")
    child = stop["other_pid"]
    assert child and child != pid
    # The new child is traced too and starts stopped, the way its OS says.
    _first_stop_of_child(tracer, target, child, pid, "fork")
    # The parent leaves fork(2) before the child may exit: NetBSD can drop a
    # SIGCHLD that arrives while fork(2) has signals blocked
    # (tests/lib/libc/sys/t_ptrace_fork_wait.h 1.6, fork_body), and this
    # order leaves no such window on any OS.
    tracer.ptrace.cont(pid=pid)
    assert tracer.tracee.report(pid=pid)["child"] == child
    tracer.ptrace.cont(pid=child)
    assert tracer.wait(pid=child)["exit_code"] == 7
    # The traced parent is told of its child's exit by a SIGCHLD stop;
    # passing the signal on lets it reap the child.
    stop = tracer.wait(pid=pid)
    assert (stop["kind"], stop["signal"]) == ("stopped", "SIGCHLD")
    tracer.ptrace.cont(pid=pid, signal="SIGCHLD")
    assert tracer.wait(pid=pid)["exit_code"] == 0


def _pass_sigchld(tracer, pid):
    tracer.ptrace.cont(pid=pid)
    stop = tracer.wait(pid=pid)
    assert (stop["kind"], stop["signal"]) == ("stopped", "SIGCHLD")
    tracer.ptrace.cont(pid=pid, signal="SIGCHLD")


def test_without_fork_event_the_child_is_not_traced(tracer, target, spawn):
    pid = spawn("fork", events=["exec"])["pid"]
    # No fork event, no new tracee: the only stops are SIGCHLD for the
    # untraced child's exit (as many as the OS delivers), then the parent's
    # own exit: 0, so it saw its child exit 7.
    sigchld_stops = 0
    tracer.ptrace.cont(pid=pid)
    while (stop := tracer.wait(pid=pid))["kind"] == "stopped":
        assert stop["signal"] == "SIGCHLD", stop
        sigchld_stops += 1
        tracer.ptrace.cont(pid=pid, signal="SIGCHLD")
    assert (stop["kind"], stop["exit_code"]) == ("exited", 0)
    assert sigchld_stops in expected(SIGCHLD_STOPS_FOR_A_QUICK_CHILD, target.os)
    assert tracer.tracee.report(pid=pid)["child"] not in tracer.tracee.list()


def test_vfork_event_names_the_child(tracer, target, spawn):
    require_event(target, "vfork")
    _spawn_is_a_vfork(target)
    pid = spawn("vfork", "/bin/true", events=["vfork", "exec"])["pid"]
    stop = _until_event(tracer, pid, "vfork")
    child = stop["other_pid"]
    assert child and child != pid
    _first_stop_of_child(tracer, target, child, pid, "vfork")
    tracer.ptrace.cont(pid=child)
    exec_stop = tracer.wait(pid=child)
    assert (exec_stop["signal"], exec_stop["event"]) == ("SIGTRAP", expected(EXEC_STOP_EVENT, target.os))
    tracer.ptrace.cont(pid=child)
    assert tracer.wait(pid=child)["exit_code"] == 0
    _pass_sigchld(tracer, pid)
    assert tracer.tracee.report(pid=pid)["child"] == child


def test_vfork_done_event_after_the_child_execs(tracer, target, spawn):
    require_event(target, "vfork_done")
    _spawn_is_a_vfork(target)
    pid = spawn("vfork", "/bin/true", events=["vfork_done"])["pid"]
    stop = _until_event(tracer, pid, "vfork_done")
    # posix_spawn returns (and the tracee reports its child) only after the
    # vfork is done, so the event comes first and must name that child.
    _pass_sigchld(tracer, pid)
    assert stop["other_pid"] == tracer.tracee.report(pid=pid)["child"]
    done = tracer.wait(pid=pid)
    assert (done["kind"], done["exit_code"]) == ("exited", 0)


def test_clone_events_for_each_new_thread(tracer, target, spawn):
    require_event(target, "clone")
    pid = spawn("threads", 2, events=["clone"])["pid"]
    threads = []
    tracer.ptrace.cont(pid=pid)
    while len(threads) < 2:
        stop = tracer.wait(pid=-1)
        if stop["event"] == "clone":
            threads.append(stop["other_pid"])
        if stop["kind"] == "stopped":  # a thread may already have ended
            tracer.ptrace.cont(pid=stop["pid"])
    assert len(set(threads)) == 2 and pid not in threads
    # Let everything run to the end: the process exits 0.
    while True:
        stop = tracer.wait(pid=-1)
        if stop["pid"] == pid and stop["kind"] == "exited":
            break
        if stop["kind"] == "stopped":
            tracer.ptrace.cont(pid=stop["pid"])
    assert stop["exit_code"] == 0


def test_exec_event_from_a_running_tracee(tracer, target, spawn):
    # Every OS here stops a traced execve with SIGTRAP; whether the stop is
    # named an exec is the OS's to say (OpenBSD: never).
    pid = spawn("exec", "/bin/true", events=["exec"])["pid"]
    tracer.ptrace.cont(pid=pid)
    stop = tracer.wait(pid=pid)
    assert (stop["pid"], stop["kind"], stop["signal"], stop["event"]) == (
        pid, "stopped", "SIGTRAP", expected(EXEC_STOP_EVENT, target.os))
    tracer.ptrace.cont(pid=pid)
    assert tracer.wait(pid=pid)["exit_code"] == 0


# -- posix_spawn: a vfork, a spawn or a fork, as the OS has it --------------------------
# A real vfork(2) tracee is not written here: called through ctypes, libc's
# vfork() returns twice through libffi and the interpreter, and the child
# would run Python on the parent's stack and heap before it could execve.
# posix_spawn(3) is each libc's own safe vfork-like path, so the tests take
# it and the OS decides what it is (SPAWN_REPORTED_AS).
def _parent_runs_to_exit(tracer, pid, limit=20):
    """Continue the parent to its exit, passing on the SIGCHLD stops its
    child's exit causes; any other stop fails."""
    signal = None
    for _ in range(limit):
        tracer.ptrace.cont(pid=pid, signal=signal)
        stop = tracer.wait(pid=pid)
        if stop["kind"] != "stopped":
            return stop
        assert stop["signal"] == "SIGCHLD", stop
        signal = "SIGCHLD"
    raise AssertionError("pid %d did not exit in %d stops" % (pid, limit))


def test_posix_spawn_is_reported_as_the_os_names_it(tracer, target, spawn):
    reported = expected(SPAWN_REPORTED_AS, target.os)
    require_event(target, reported)
    pid = spawn("vfork", "/bin/true", events=[reported])["pid"]
    stop = _until_event(tracer, pid, reported)
    assert stop["signal"] == "SIGTRAP"
    child = stop["other_pid"]
    assert child and child != pid
    _first_stop_of_child(tracer, target, child, pid, reported)
    tracer.ptrace.cont(pid=child)
    if expected(SPAWN_CHILD_STOPS_AT_EXEC, target.os):
        # No exec event was asked for: the OS's plain exec SIGTRAP.
        exec_stop = tracer.wait(pid=child)
        assert (exec_stop["kind"], exec_stop["signal"], exec_stop["event"]) == (
            "stopped", "SIGTRAP", expected(TRACEME_EXEC_PLAIN, target.os)[0])
        tracer.ptrace.cont(pid=child)
    done = tracer.wait(pid=child)
    assert (done["kind"], done["exit_code"]) == ("exited", 0)
    assert _parent_runs_to_exit(tracer, pid)["exit_code"] == 0
    assert tracer.tracee.report(pid=pid)["child"] == child


def test_posix_spawn_without_its_event_leaves_the_child_untraced(tracer, target, spawn):
    others = expected(SPAWN_UNREPORTED_WITH, target.os)
    pid = spawn("vfork", "/bin/true", events=others)["pid"]
    # The only stops are the SIGCHLDs of the untraced child's exit.
    done = _parent_runs_to_exit(tracer, pid)
    assert (done["kind"], done["exit_code"]) == ("exited", 0)
    child = tracer.tracee.report(pid=pid)["child"]
    assert child not in tracer.tracee.list()
