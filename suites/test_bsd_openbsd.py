"""OpenBSD-only conformance: what OpenBSD's ptrace tells a tracer, per
category of OpenBSD's regress/sys/kern/ptrace* (PT_IO, PT_GETREGS, fork
events, threads, wait/attach) and of NetBSD's t_ptrace_*_wait.h where OpenBSD
has the facility.  The thread walk (PT_GET_THREAD_FIRST/NEXT) is checked
against the getthrid() values the tracee's threads report, and NetBSD's own
requests must be refused by name.

OpenBSD gives no siginfo through ptrace, so every stop here must carry
``si_code`` None; PTRACE_FORK is the only event (sys/sys/ptrace.h 1.16,
sys/kern/sys_process.c 1.106).  None of these tests has run on an OpenBSD
kernel here (no BSD guest could boot on the build machine).
"""

from __future__ import annotations

import pytest

from harness.rpc import RemoteError
from harness.tracecore import abi as abi_tables
from harness.tracecore.abi.openbsd_common import THREAD_PID_OFFSET

pytestmark = pytest.mark.only_on(os="openbsd", reason="OpenBSD ptrace semantics (no siginfo, PTRACE_FORK only)")

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


def test_pt_kill_ends_the_tracee_with_sigkill(tracer, spawn):
    pid = spawn("ready")["pid"]
    done = tracer.ptrace.kill(pid=pid)
    assert (done["kind"], done["signal"]) == ("signalled", "SIGKILL")


# -- the thread walk (PT_GET_THREAD_FIRST / PT_GET_THREAD_NEXT) ---------------------------------
def test_thread_walk_returns_every_thread(tracer, spawn):
    """sys_process.c 1.106 ptrace_kstate: the walk hands out each thread's
    p_tid + THREAD_PID_OFFSET and ends with pts_tid -1 (GDB's obsd-nat.c
    walks it the same way).  Those are the getthrid() values the tracee's
    threads reported (kern_prot.c 1.83 sys_getthrid), so the walk must give
    exactly them, the stopped thread among them."""
    r = spawn("lwps", 2)
    pid = r["pid"]
    tids = tracer.threads.list(pid=pid)
    assert sorted(tids) == sorted(r["ready"]["lwps"])
    assert len(set(tids)) == 3 and min(tids) > THREAD_PID_OFFSET
    assert r["event"]["lwp"] in tids
    assert _run_to_exit(tracer, pid)["exit_code"] == 0


def test_thread_walk_of_a_single_threaded_tracee_is_its_one_thread(tracer, spawn):
    r = spawn("ready")
    # pe_tid of the stop and the only pts_tid of the walk name the same thread.
    assert tracer.threads.list(pid=r["pid"]) == [r["event"]["lwp"]]


@pytest.mark.parametrize(("method", "params", "requests"), [
    ("lwp.list", {}, "PT_LWPNEXT or PT_LWPINFO"),
    ("lwp.suspend", {"lwp": 1}, "PT_SUSPEND"),
    ("proc.stop", {}, "PT_STOP"),
    ("sigpass.set", {"signals": ["SIGUSR1"]}, "PT_SET_SIGPASS"),
    ("siginfo.get", {}, "PT_GET_SIGINFO"),
    ("step.set", {"lwp": 1}, "PT_SETSTEP"),
    ("dbregs.get", {}, "PT_GETDBREGS"),
])
def test_netbsd_requests_are_refused_naming_openbsd(tracer, spawn, method, params, requests):
    """sys/sys/ptrace.h 1.16 has none of NetBSD's LWP, siginfo, sigpass,
    setstep or debug-register requests: the core says so by name."""
    pid = spawn("ready")["pid"]
    group, name = method.split(".")
    with pytest.raises(RemoteError) as err:
        getattr(getattr(tracer, group), name)(pid=pid, **params)
    assert err.value.type == "NotImplementedError"
    assert err.value.remote_message.startswith("%s: openbsd ptrace has no %s" % (method, requests))


# -- machine-dependent requests: PT_WCOOKIE, PT_PACMASK, PT_GETXSTATE ------------------------------
@pytest.mark.only_on(os="openbsd", arch="sparc64", reason="PT_WCOOKIE is sparc64's (StackGhost)")
def test_wcookie_is_random_per_exec_and_never_aligned(tracer, spawn):
    """sys/arch/sparc64/sparc64/machdep.c 1.218 (2024/05/22) setregs(): each
    exec draws a fresh 64-bit cookie with arc4random_buf() and then forces one
    or both low bits on, so a return address XORed with it is never
    4-byte aligned.  Two processes therefore differ, and neither has 0 in its
    two low bits."""
    cookies = [tracer.wcookie.get(pid=spawn("ready")["pid"]) for _ in range(2)]
    assert all(c & 3 for c in cookies), [hex(c) for c in cookies]
    assert cookies[0] != cookies[1]


# sys/arch/arm64/include/vmparam.h 1.9 (2023/04/28): USER_SPACE_BITS 39;
# arm64/arm64/process_machdep.c 1.11 (2025/07/31) process_get_pacmask()
# returns -1ULL << USER_SPACE_BITS, and sys_process.c 1.106 hands it out
# twice (data mask, then instruction mask).
_ARM64_PAC_MASK = (~0 << 39) & (2**64 - 1)


@pytest.mark.only_on(os="openbsd", arch="aarch64", reason="PT_PACMASK is arm64's")
def test_pacmask_is_every_bit_above_the_user_address_space(tracer, spawn):
    pid = spawn("ready")["pid"]
    assert tracer.pacmask.get(pid=pid) == {"data_mask": _ARM64_PAC_MASK, "insn_mask": _ARM64_PAC_MASK}


# The legacy region of an XSAVE area (Intel SDM vol. 1, 13.4.1): FCW at byte
# 0, MXCSR at byte 24; 512 bytes, then the 64-byte XSAVE header.  Bits 0 and
# 1 of XCR0 (x87, SSE) are always set where XSAVE is enabled (13.3).
_XSAVE_LEGACY_AND_HEADER = 512 + 64


@pytest.mark.only_on(os="openbsd", arch="amd64", reason="PT_GETXSTATE_INFO/PT_GETXSTATE are amd64's")
def test_xstate_area_has_the_fresh_fpu_state(tracer, target, spawn):
    """amd64/include/ptrace.h (7.7): PT_GETXSTATE_INFO gives the XSAVE mask
    and length; PT_GETXSTATE copies that many bytes.  A fresh process has
    MXCSR 0x1f80 in the control bits (amd64 fpu.h __INITIAL_MXCSR__)."""
    if not abi_tables.load(target.os, target.arch).has_request("PT_GETXSTATE", target.release):
        pytest.skip("PT_GETXSTATE came with OpenBSD 7.7; %s runs %s" % (target.name, target.release))
    pid = spawn("ready")["pid"]
    info = tracer.xstate.info(pid=pid)
    assert info["xsave_mask"] & 0x3 == 0x3
    assert info["xsave_len"] >= _XSAVE_LEGACY_AND_HEADER
    area = bytes.fromhex(tracer.xstate.get(pid=pid))
    assert len(area) == info["xsave_len"]
    assert int.from_bytes(area[24:28], "little") & 0xFFC0 == 0x1F80
