"""Software single-step: where the kernel has no step request (sparc64 on
NetBSD, OpenBSD and Linux), trap the next instruction(s) instead.

``next_pcs`` returns every address execution can reach after one
instruction; the tracer puts a temporary breakpoint on each.  On SPARC V9
that is NPC, except after a branch with the annul bit, which may skip its
delay slot (The SPARC Architecture Manual, Version 9, sections 6.3.4 and
A.3-A.7: Bicc, BPcc, BPr, FBfcc, FBPfcc).
"""

from __future__ import annotations

from typing import Callable, Dict, List

from .abi.types import Abi

ReadMemory = Callable[[int, int], bytes]

# SPARC V9 format-2 op2 values of the conditional branches, and where their
# displacement sits: (shift, width) of disp, or None for BPr's split d16.
_SPARC_BRANCHES = {
    1: ("BPcc", 19),
    2: ("Bicc", 22),
    3: ("BPr", None),
    5: ("FBPfcc", 19),
    6: ("FBfcc", 22),
}
_COND_NEVER, _COND_ALWAYS = 0, 8


def _sign_extend(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def sparc64_next_pcs(abi: Abi, regs: Dict[str, object], read: ReadMemory) -> List[int]:
    pc = int(regs[abi.roles.pc])  # type: ignore[call-overload]
    npc = int(regs[abi.roles.npc])  # type: ignore[arg-type,call-overload]
    insn = int.from_bytes(read(pc, 4), "big")
    op, op2, annul = insn >> 30, (insn >> 22) & 7, (insn >> 29) & 1
    if op != 0 or op2 not in _SPARC_BRANCHES or not annul:
        return [npc]
    _, width = _SPARC_BRANCHES[op2]
    if width is None:  # BPr: d16hi in bits 21-20, d16lo in bits 13-0
        disp = _sign_extend((((insn >> 20) & 3) << 14) | (insn & 0x3FFF), 16)
        cond = None
    else:
        disp = _sign_extend(insn & ((1 << width) - 1), width)
        cond = (insn >> 25) & 0xF
    target = pc + 4 * disp
    if cond == _COND_ALWAYS:
        return [target]          # "ba,a": the delay slot is annulled
    if cond == _COND_NEVER:
        return [npc + 4]         # "bn,a": skips the delay slot
    # Conditional with annul: taken runs the delay slot, untaken skips it.
    return [npc, npc + 4]


_NEXT_PCS = {"sparc64": sparc64_next_pcs}


def next_pcs(abi: Abi, regs: Dict[str, object], read: ReadMemory) -> List[int]:
    try:
        fn = _NEXT_PCS[abi.arch]
    except KeyError:
        raise NotImplementedError(
            "no software single-step for %s: its kernel steps in hardware" % abi.arch) from None
    return fn(abi, regs, read)
