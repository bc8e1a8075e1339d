"""PT_ATTACH and PT_DETACH, and their error semantics."""

from __future__ import annotations

import pytest
from conformance import ATTACH_STOP_SIGNAL, ERRNO, expected

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
