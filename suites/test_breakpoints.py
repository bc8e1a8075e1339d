"""Software breakpoints: the trap, the PC the kernel reports, re-arming, removal."""

from __future__ import annotations

import pytest

from harness.rpc import RemoteError


def _hit(tracer, pid):
    tracer.ptrace.cont(pid=pid)
    return tracer.wait(pid=pid)


@pytest.fixture
def looper(spawn):
    r = spawn("loop", 5, "report")
    return r["pid"], r["ready"]["getppid"]


def test_breakpoint_trap_signal_code_and_pc(tracer, target, looper):
    pid, addr = looper
    tracer.bp.insert(pid=pid, addr=addr)
    stop = _hit(tracer, pid)
    bp = target.abi["breakpoint"]
    assert (stop["kind"], stop["signal"], stop["event"]) == ("stopped", "SIGTRAP", "breakpoint")
    assert stop["si_code"] == bp["si_code"]
    # The PC the kernel reported: the breakpoint plus the arch's adjustment.
    assert stop["pc"] == addr + bp["pc_adjust"]
    assert stop["breakpoint"] == addr
    # The tracer rewinds, so the PC now names the breakpoint itself.
    assert tracer.regs.pc(pid=pid) == addr


def test_breakpoint_memory_holds_the_trap_instruction(tracer, target, looper):
    pid, addr = looper
    insn = target.abi["breakpoint"]["insn"]
    original = tracer.mem.read(pid=pid, addr=addr, size=len(insn) // 2)
    tracer.bp.insert(pid=pid, addr=addr)
    assert tracer.mem.read(pid=pid, addr=addr, size=len(insn) // 2) == insn
    tracer.bp.remove(pid=pid, addr=addr)
    assert tracer.mem.read(pid=pid, addr=addr, size=len(insn) // 2) == original


def test_breakpoint_stays_armed_across_hits(tracer, looper):
    pid, addr = looper
    tracer.bp.insert(pid=pid, addr=addr)
    for n in range(5):
        stop = _hit(tracer, pid)
        assert (stop["event"], stop["breakpoint"]) == ("breakpoint", addr), "hit %d" % n
        if n:
            # Each call between hits ran the original code and reported.
            assert tracer.tracee.report(pid=pid)["n"] == n - 1
    assert tracer.bp.list(pid=pid) == [addr]


def test_removed_breakpoint_no_longer_traps(tracer, looper):
    pid, addr = looper
    tracer.bp.insert(pid=pid, addr=addr)
    assert _hit(tracer, pid)["event"] == "breakpoint"
    tracer.bp.remove(pid=pid, addr=addr)
    done = _hit(tracer, pid)
    assert (done["kind"], done["exit_code"]) == ("exited", 0)


def test_breakpoint_hit_count_matches_calls(tracer, looper):
    pid, addr = looper
    tracer.bp.insert(pid=pid, addr=addr)
    hits = 0
    while True:
        stop = _hit(tracer, pid)
        if stop["kind"] == "exited":
            break
        assert stop["breakpoint"] == addr
        hits += 1
    assert hits == 5


def test_double_insert_is_refused(tracer, looper):
    pid, addr = looper
    tracer.bp.insert(pid=pid, addr=addr)
    with pytest.raises(RemoteError) as err:
        tracer.bp.insert(pid=pid, addr=addr)
    assert err.value.type == "TracerError"


def test_step_on_a_breakpoint_runs_the_original_instruction(tracer, target, looper):
    pid, addr = looper
    tracer.bp.insert(pid=pid, addr=addr)
    assert _hit(tracer, pid)["event"] == "breakpoint"
    step = tracer.ptrace.step(pid=pid)
    assert step["event"] == "step"
    assert tracer.regs.pc(pid=pid) != addr
    # Still armed after stepping off it.
    insn = target.abi["breakpoint"]["insn"]
    assert tracer.mem.read(pid=pid, addr=addr, size=len(insn) // 2) == insn
