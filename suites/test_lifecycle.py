"""Kill, reaping, and the core's own robustness as a server."""

from __future__ import annotations

import pytest

from harness.rpc import RemoteError


def test_kill_ends_the_tracee_with_sigkill(tracer, spawn):
    pid = spawn("loop")["pid"]
    done = tracer.ptrace.kill(pid=pid)
    assert (done["kind"], done["signal"], done["pid"]) == ("signalled", "SIGKILL", pid)


def test_kill_of_a_running_tracee(tracer, spawn):
    pid = spawn("loop")["pid"]
    tracer.ptrace.cont(pid=pid)
    done = tracer.ptrace.kill(pid=pid)
    assert (done["kind"], done["signal"]) == ("signalled", "SIGKILL")


def test_tracee_is_reaped_exactly_once(tracer, spawn):
    pid = spawn("exit", 0)["pid"]
    tracer.ptrace.cont(pid=pid)
    assert tracer.wait(pid=pid)["kind"] == "exited"
    with pytest.raises(RemoteError) as err:
        tracer.wait(pid=pid, timeout=2)
    assert err.value.errno == "ECHILD"


def test_requests_on_a_dead_tracee_fail_and_the_server_goes_on(tracer, spawn):
    pid = spawn("exit", 0)["pid"]
    tracer.ptrace.cont(pid=pid)
    tracer.wait(pid=pid)
    with pytest.raises(RemoteError) as err:
        tracer.regs.get(pid=pid)
    assert err.value.errno == "ESRCH"
    assert tracer.ping() == "pong"


def test_unknown_method_is_an_error_reply(tracer):
    with pytest.raises(RemoteError) as err:
        tracer.call("no.such.method")
    assert err.value.type == "UnknownMethod"
    assert tracer.ping() == "pong"


def test_bad_parameters_are_an_error_reply(tracer):
    with pytest.raises(RemoteError) as err:
        tracer.call("mem.read", pid=1)
    assert err.value.type == "BadRequest"
    assert "addr" in err.value.remote_message


def test_wait_timeout_is_reported(tracer, spawn):
    pid = spawn("loop")["pid"]
    tracer.ptrace.cont(pid=pid)
    with pytest.raises(RemoteError) as err:
        tracer.wait(pid=pid, timeout=0.3)
    assert err.value.type == "WaitTimeout"


def test_hello_names_the_platform(tracer, target):
    hello = target.hello
    assert hello["protocol"] == 1
    assert hello["arch"] in ("amd64", "aarch64", "sparc64")
    assert hello["abi"] == "%s_%s" % (hello["os"], hello["arch"])
    assert hello["byteorder"] == ("big" if hello["arch"] == "sparc64" else "little")
