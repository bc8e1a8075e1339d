"""OpenBSD-only conformance: what OpenBSD's ptrace tells a tracer, per
category of OpenBSD's regress/sys/kern/ptrace* (PT_IO, PT_GETREGS, fork
events, threads, wait/attach) and of NetBSD's t_ptrace_*_wait.h where OpenBSD
has the facility.

OpenBSD gives no siginfo through ptrace, so every stop here must carry
``si_code`` None; PTRACE_FORK is the only event (sys/sys/ptrace.h 1.16,
sys/kern/sys_process.c 1.106).  None of these tests has run on an OpenBSD
kernel here (no BSD guest could boot on the build machine).
"""

from __future__ import annotations

import pytest

from harness.rpc import RemoteError

pytestmark = pytest.mark.only_on(os="openbsd", reason="OpenBSD ptrace semantics (no siginfo, PTRACE_FORK only)")

# sys/sys/proc.h: thread ids seen through ptrace are p_tid + THREAD_PID_OFFSET.
THREAD_PID_OFFSET = 100000


def _run_to_exit(tracer, pid, limit=200):
    signal = None
    for _ in range(limit):
        tracer.ptrace.cont(pid=pid, signal=signal)
        stop = tracer.wait(pid=pid)
        if stop["kind"] in ("exited", "signalled"):
            return stop
        signal = stop["signal"] if stop["signal"] not in ("SIGTRAP", "SIGSTOP") else None
    raise AssertionError("pid %d did not exit in %d stops" % (pid, limit))


def test_exec_after_traceme_is_a_plain_sigtrap(spawn):
    stop = spawn("ready", stop_before_exec=False)["exec_event"]
    # No TRAP_EXEC, no event bit: nothing may claim this stop was an exec.
    assert (stop["signal"], stop["si_code"], stop["event"]) == ("SIGTRAP", None, None)


def test_stops_name_the_trapped_thread(tracer, spawn):
    r = spawn("raise", "SIGUSR1")
    pid = r["pid"]
    tracer.ptrace.cont(pid=pid)
    stop = tracer.wait(pid=pid)
    assert (stop["signal"], stop["si_code"]) == ("SIGUSR1", None)
    # pe_tid of PT_GET_PROCESS_STATE: a thread id, offset past every pid.
    assert stop["lwp"] > THREAD_PID_OFFSET
    tracer.ptrace.cont(pid=pid)
    assert tracer.wait(pid=pid)["exit_code"] == 0


def test_breakpoint_without_siginfo(tracer, target, spawn):
    r = spawn("loop", 2, "report")
    pid, addr = r["pid"], r["ready"]["getppid"]
    tracer.bp.insert(pid=pid, addr=addr)
    tracer.ptrace.cont(pid=pid)
    stop = tracer.wait(pid=pid)
    assert (stop["signal"], stop["si_code"], stop["event"], stop["breakpoint"]) == (
        "SIGTRAP", None, "breakpoint", addr)
    assert stop["pc"] == addr + target.abi["breakpoint"]["pc_adjust"]


def test_step_kind_follows_the_arch(tracer, target, spawn):
    pid = spawn("ready")["pid"]
    snippet = tracer.snippet.load(pid=pid, name="load_all")
    stop = tracer.ptrace.step(pid=pid)
    assert tracer.regs.pc(pid=pid) == snippet["instructions"][1]
    assert (stop["event"], stop["si_code"]) == ("step", None)
    assert stop["step_kind"] == ("hardware" if target.hello["hardware_step"] else "software")


def test_fork_event_on_both_sides(tracer, spawn):
    pid = spawn("fork", events=["fork"])["pid"]
    tracer.ptrace.cont(pid=pid)
    parent = tracer.wait(pid=pid)
    assert (parent["signal"], parent["event"], parent["si_code"]) == ("SIGTRAP", "fork", None)
    child = parent["other_pid"]
    first = tracer.wait(pid=child)
    # The child's own PT_GET_PROCESS_STATE reports PTRACE_FORK naming the parent.
    assert (first["signal"], first["event"], first["other_pid"]) == ("SIGTRAP", "fork_child", pid)
    assert _run_to_exit(tracer, child)["exit_code"] == 7
    assert _run_to_exit(tracer, pid)["exit_code"] == 0


def test_events_other_than_fork_are_refused(tracer, spawn):
    pid = spawn("ready")["pid"]
    for event in ("vfork", "lwp", "spawn"):
        with pytest.raises(RemoteError) as err:
            tracer.ptrace.set_events(pid=pid, events=[event])
        assert err.value.type == "ValueError" and event in err.value.remote_message


def test_there_is_no_syscall_tracing(tracer, spawn):
    pid = spawn("ready")["pid"]
    with pytest.raises(RemoteError) as err:
        tracer.ptrace.syscall(pid=pid)
    assert err.value.type == "NotImplementedError" and "PT_SYSCALL" in err.value.remote_message


@pytest.mark.only_on(os="openbsd", arch="sparc64", reason="sparc64 has an NPC beside the PC")
def test_sparc64_set_pc_sets_npc_and_runs_there(tracer, target, spawn):
    pid = spawn("ready")["pid"]
    snippet = tracer.snippet.load(pid=pid, name="set_42")
    roles = target.abi["roles"]
    regs = tracer.regs.get(pid=pid)
    assert (regs[roles["pc"]], regs[roles["npc"]]) == (snippet["addr"], snippet["addr"] + 4)
    tracer.ptrace.cont(pid=pid)
    stop = tracer.wait(pid=pid)
    assert stop["pc"] == snippet["trap_addr"]
    assert tracer.regs.get(pid=pid)[roles["retval"]] == 42


def test_pt_kill_ends_the_tracee_with_sigkill(tracer, spawn):
    pid = spawn("ready")["pid"]
    done = tracer.ptrace.kill(pid=pid)
    assert (done["kind"], done["signal"]) == ("signalled", "SIGKILL")
