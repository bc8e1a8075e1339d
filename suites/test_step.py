"""Single-step: the trap code and exact PC movement, through a known snippet."""

from __future__ import annotations

import pytest
from conformance import SI_CODE_STEP, expected


@pytest.fixture
def at_snippet(tracer, spawn):
    pid = spawn("ready")["pid"]
    return pid, tracer.snippet.load(pid=pid, name="load_all")


def test_single_step_stops_with_trap_trace(tracer, target, at_snippet):
    if not target.hello["hardware_step"]:
        pytest.skip("%s has no kernel single-step (PT_STEP); software step is tested elsewhere" % target.arch)
    pid, _ = at_snippet
    stop = tracer.ptrace.step(pid=pid)
    assert (stop["kind"], stop["signal"], stop["event"]) == ("stopped", "SIGTRAP", "step")
    assert stop["si_code"] == expected(SI_CODE_STEP, target.os)
    assert stop["step_kind"] == "hardware"


def test_single_step_moves_pc_by_one_instruction(tracer, target, at_snippet):
    pid, snippet = at_snippet
    boundaries = snippet["instructions"]
    assert tracer.regs.pc(pid=pid) == boundaries[0]
    for expected_pc in boundaries[1:6]:
        tracer.ptrace.step(pid=pid)
        assert tracer.regs.pc(pid=pid) == expected_pc


def test_single_step_executes_the_instruction(tracer, target, at_snippet):
    pid, snippet = at_snippet
    first_reg, first_value = next(iter(snippet["expect"].items()))
    before = tracer.regs.get(pid=pid)[first_reg]
    assert before != first_value
    # A 64-bit constant takes four instructions on aarch64 (movz + 3 movk)
    # and eight on sparc64 (sethi, or, then three sllx/or pairs).
    for _ in range({"aarch64": 4, "sparc64": 8}.get(target.arch, 1)):
        tracer.ptrace.step(pid=pid)
    assert tracer.regs.get(pid=pid)[first_reg] == first_value


def test_stepping_to_the_trap_then_continue_traps(tracer, target, at_snippet):
    pid, snippet = at_snippet
    boundaries = snippet["instructions"]
    for _ in boundaries[:-1]:
        tracer.ptrace.step(pid=pid)
    assert tracer.regs.pc(pid=pid) == snippet["trap_addr"]
    tracer.ptrace.cont(pid=pid)
    stop = tracer.wait(pid=pid)
    assert stop["signal"] == "SIGTRAP"
    assert stop["pc"] == snippet["trap_addr"] + target.abi["breakpoint"]["pc_adjust"]


def test_software_step_follows_delay_slots(tracer, target, spawn):
    """sparc64 has no kernel single-step: the core steps by planting a trap
    at the next instruction, which must honour NPC (taken, untaken and
    annulled delay slots).  Each step must land where the hardware would."""
    if target.arch != "sparc64":
        pytest.skip("delay slots are a sparc64 matter; %s has none" % target.arch)
    pid = spawn("ready")["pid"]
    snippet = tracer.snippet.load(pid=pid, name="delay_slots")
    assert tracer.regs.pc(pid=pid) == snippet["path"][0]
    for expected_pc in snippet["path"][1:]:
        stop = tracer.ptrace.step(pid=pid)
        assert (stop["event"], stop["step_kind"]) == ("step", "software")
        assert stop["pc"] == expected_pc
    regs = tracer.regs.get(pid=pid)
    assert {name: regs[name] for name in snippet["expect"]} == snippet["expect"]
