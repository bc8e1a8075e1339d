"""sparc64 software single-step: which addresses one instruction can reach.

Encodings from The SPARC Architecture Manual V9, A.4 (Bicc), A.5 (BPcc),
A.3 (BPr): op=0, a=bit 29, cond=bits 28-25, op2=bits 24-22.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.tracecore import softstep
from harness.tracecore.abi import linux_amd64
from harness.tracecore.abi.types import RegisterRoles

SPARC = replace(linux_amd64.ABI, arch="sparc64", byteorder="big",
                roles=RegisterRoles(pc="tpc", sp="o6", retval="o0", npc="tnpc"))
PC, NPC = 0x10000, 0x10004


def _next(insn: int) -> list[int]:
    mem = {PC: insn.to_bytes(4, "big")}
    return softstep.next_pcs(SPARC, {"tpc": PC, "tnpc": NPC}, lambda a, n: mem[a])


def _bicc(cond: int, annul: int, disp22: int) -> int:
    return (annul << 29) | (cond << 25) | (2 << 22) | (disp22 & 0x3FFFFF)


def test_plain_instruction_goes_to_npc():
    assert _next(0x90102001) == [NPC]  # mov 1, %o0  (or %g0, 1, %o0)


def test_branch_without_annul_runs_its_delay_slot():
    assert _next(_bicc(cond=9, annul=0, disp22=16)) == [NPC]  # bne +64


def test_branch_always_annulled_goes_to_target():
    assert _next(_bicc(cond=8, annul=1, disp22=16)) == [PC + 64]  # ba,a +64


def test_branch_always_annulled_backwards():
    assert _next(_bicc(cond=8, annul=1, disp22=-4)) == [PC - 16]


def test_branch_never_annulled_skips_the_delay_slot():
    assert _next(_bicc(cond=0, annul=1, disp22=16)) == [NPC + 4]  # bn,a


def test_conditional_annulled_branch_reaches_slot_or_beyond():
    assert _next(_bicc(cond=9, annul=1, disp22=16)) == [NPC, NPC + 4]  # bne,a


def test_bpcc_uses_a_19_bit_displacement():
    bpcc = (1 << 29) | (8 << 25) | (1 << 22) | (2 << 20) | 0x7FFFF  # ba,a %xcc, -1 (disp19 = -1)
    assert _next(bpcc) == [PC - 4]


def test_bpr_split_displacement():
    # brz,a %o0, +0x4000*4: d16hi=1 (bits 21-20), d16lo=0
    bpr = (1 << 29) | (1 << 25) | (3 << 22) | (1 << 20) | (8 << 14)
    assert _next(bpr) == [NPC, NPC + 4]


def test_arches_with_kernel_step_have_no_software_step():
    with pytest.raises(NotImplementedError, match="steps in hardware"):
        softstep.next_pcs(linux_amd64.ABI, {}, lambda a, n: b"")


# -- with the real Linux sparc64 table: its roles are "pc" and "npc" -------------------
def _next_linux_sparc64(insn: int, npc: int = NPC) -> list[int]:
    from harness.tracecore.abi import linux_sparc64

    mem = {PC: insn.to_bytes(4, "big")}
    return softstep.next_pcs(linux_sparc64.ABI, {"pc": PC, "npc": npc}, lambda a, n: mem[a])


def test_linux_sparc64_in_a_delay_slot_the_next_pc_is_the_branch_target():
    # A plain instruction sitting in a taken branch's delay slot: NPC is the
    # branch target, not PC + 4, and that is where the step must trap.
    assert _next_linux_sparc64(0x90102001, npc=PC + 0x400) == [PC + 0x400]


def test_linux_sparc64_bpcc_xcc_annulled_conditional():
    bne_a_xcc = (1 << 29) | (9 << 25) | (1 << 22) | (2 << 20) | (1 << 19) | 3  # bne,a,pt %xcc, .+12
    assert _next_linux_sparc64(bne_a_xcc) == [NPC, NPC + 4]
