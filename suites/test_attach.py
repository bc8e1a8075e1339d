"""PT_ATTACH and PT_DETACH, and their error semantics."""

from __future__ import annotations

import contextlib

import pytest
from conformance import (
    ATTACH_INIT_AS_ROOT,
    ATTACH_INIT_AS_ROOT_MISSING,
    ATTACH_STOP_SI_CODE,
    ATTACH_STOP_SIGNAL,
    ERRNO,
    expected,
)

from harness.rpc import RemoteError


@pytest.fixture
def sleeper(tracer):
    """An untraced child of the core, for attaching to."""
    r = tracer.tracee.start_untraced(program="sleep", args=["60"])
    yield r["pid"]
    tracer.process.reap_untraced(pid=r["pid"])


def test_attach_delivers_sigstop(tracer, target, sleeper):
    event = tracer.ptrace.attach(pid=sleeper)
    assert (event["kind"], event["signal"], event["pid"]) == (
        "stopped", expected(ATTACH_STOP_SIGNAL, target.os), sleeper)
    tracer.ptrace.detach(pid=sleeper)


def test_attached_tracee_registers_are_readable(tracer, target, sleeper):
    tracer.ptrace.attach(pid=sleeper)
    regs = tracer.regs.get(pid=sleeper)
    assert regs[target.abi["roles"]["sp"]] != 0
    assert tracer.regs.pc(pid=sleeper) == regs[target.abi["roles"]["pc"]]
    tracer.ptrace.detach(pid=sleeper)


def test_attach_to_self_is_refused(tracer, target):
    with pytest.raises(RemoteError) as err:
        tracer.ptrace.attach_raw(pid=target.hello["pid"])
    assert err.value.errno == expected(ERRNO, target.os, "attach_self")


def test_attach_to_nonexistent_pid_is_esrch(tracer, target):
    with pytest.raises(RemoteError) as err:
        tracer.ptrace.attach_raw(pid=2**22 + 12345)
    assert err.value.errno == expected(ERRNO, target.os, "attach_nonexistent")


def test_attach_to_already_traced_process_is_refused(tracer, target, spawn):
    pid = spawn("ready")["pid"]
    with pytest.raises(RemoteError) as err:
        tracer.ptrace.attach_raw(pid=pid)
    assert err.value.errno == expected(ERRNO, target.os, "attach_traced")


def test_unprivileged_attach_to_init_is_eperm(tracer, target):
    if target.hello["uid"] != 0:
        pytest.skip("needs root on the target to drop to an unprivileged uid for the attempt")
    result = tracer.ptrace.attach_as(pid=1, uid=65534, gid=65534)
    assert result["errno"] == expected(ERRNO, target.os, "attach_unprivileged")


def test_detach_resumes_the_tracee(tracer, spawn):
    pid = spawn("loop", 3, "report")["pid"]
    tracer.ptrace.detach(pid=pid)
    # Untraced now, it runs its loop to the end on its own.
    reports = [tracer.tracee.report(pid=pid)["getppid"] for _ in range(3)]
    assert len(set(reports)) == 1
    done = tracer.wait(pid=pid)
    assert (done["kind"], done["exit_code"]) == ("exited", 0)


def test_detach_with_signal_delivers_it(tracer, spawn):
    pid = spawn("ready")["pid"]
    tracer.ptrace.detach(pid=pid, signal="SIGTERM")
    done = tracer.wait(pid=pid)
    assert (done["kind"], done["signal"]) == ("signalled", "SIGTERM")


# -- topologies: the tracer's own child, a process that is not its child -----------------
@pytest.fixture
def attachee(tracer):
    """An untraced child of the core blocked in sigwait() for SIGUSR1."""
    r = tracer.tracee.start_untraced(program="attachee")
    yield r
    tracer.process.reap_untraced(pid=r["pid"])


@pytest.fixture
def grandchild(tracer):
    """An attachee that is the core's grandchild: its real parent is an
    untraced child of the core (the ``attachee_parent`` program)."""
    r = tracer.tracee.start_untraced(program="attachee_parent")
    state = {"parent": r["pid"], "pid": r["ready"]["pid"], "ready": r["ready"], "exiting": False}
    yield state
    if not state["exiting"]:
        # The test stopped before the grandchild was on its way out: end it
        # too, or it would sit in sigwait() (or traced and stopped) after
        # its parent is gone.  Once it is exiting its pid is not ours to
        # signal any more (the parent reaps it and the pid may be reused).
        with contextlib.suppress(RemoteError):
            if state["pid"] in tracer.tracee.list():
                tracer.ptrace.kill(pid=state["pid"])
            else:
                tracer.process.signal(pid=state["pid"], signal="SIGKILL")
    tracer.process.reap_untraced(pid=state["parent"])


def test_attach_to_a_process_that_is_not_the_tracers_child(tracer, target, grandchild):
    """NetBSD t_ptrace_fork_wait.h 1.7 unrelated_tracer_fork_body: a tracer
    that is not the parent attaches and sees SIGSTOP (its si_code per OS:
    ATTACH_STOP_SI_CODE).  After the detach the process runs on and its real parent, not the
    tracer, reaps it with its own exit status: PT_DETACH gives it back to
    the parent it had before the attach (NetBSD sys_ptrace_common.c "give
    process back to original parent or init", p_opptr; OpenBSD
    sys/kern/kern_exit.c process_untrace(), ps_opptr; Linux never moved it,
    kernel/ptrace.c v6.1 keeps real_parent and only sets parent)."""
    pid, parent = grandchild["pid"], grandchild["parent"]
    assert grandchild["ready"]["ppid"] == parent != target.hello["pid"]
    stop = tracer.ptrace.attach(pid=pid)
    assert (stop["pid"], stop["kind"], stop["signal"]) == (pid, "stopped", expected(ATTACH_STOP_SIGNAL, target.os))
    assert stop["si_code"] == expected(ATTACH_STOP_SI_CODE, target.os)
    tracer.ptrace.detach(pid=pid)
    tracer.process.signal(pid=pid, signal="SIGUSR1")
    # The attachee's reports share its parent's pipe.
    assert tracer.tracee.report(pid=parent) == {"resumed": {"ppid": parent}}
    grandchild["exiting"] = True
    tracer.process.signal(pid=parent, signal="SIGUSR2")
    assert tracer.tracee.report(pid=parent) == {"child_status": {"exit_code": 9, "signal": None}}


def test_detached_child_runs_on_under_its_own_parent(tracer, target, attachee):
    pid = attachee["pid"]
    assert attachee["ready"]["ppid"] == target.hello["pid"]
    tracer.ptrace.attach(pid=pid)
    tracer.ptrace.detach(pid=pid)
    # Detached, it takes the signal it waits for itself: no stop comes to
    # the tracer, and the process goes on past its wait.
    tracer.process.signal(pid=pid, signal="SIGUSR1")
    assert tracer.tracee.report(pid=pid) == {"resumed": {"ppid": target.hello["pid"]}}


def test_attaching_twice_is_refused(tracer, target, attachee):
    pid = attachee["pid"]
    tracer.ptrace.attach(pid=pid)
    try:
        with pytest.raises(RemoteError) as err:
            tracer.ptrace.attach_raw(pid=pid)
        assert err.value.errno == expected(ERRNO, target.os, "attach_traced")
    finally:
        tracer.ptrace.detach(pid=pid)


def test_root_attach_to_init_is_refused(tracer, target):
    if target.hello["uid"] != 0:
        pytest.skip("the init rule is about root; the core runs as uid %d" % target.hello["uid"])
    if target.os in ATTACH_INIT_AS_ROOT_MISSING:
        pytest.skip(ATTACH_INIT_AS_ROOT_MISSING[target.os])
    errno_name = expected(ATTACH_INIT_AS_ROOT, target.os)
    try:
        tracer.ptrace.attach(pid=1)
    except RemoteError as err:
        assert err.errno == errno_name
    else:
        # Never leave init stopped (a BSD kills the traced processes of an
        # exiting tracer); then fail.
        tracer.ptrace.detach(pid=1)
        pytest.fail("root attached to init on %s; %s expected (securelevel -1?)" % (target.name, errno_name))
