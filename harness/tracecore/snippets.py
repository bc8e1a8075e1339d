"""Machine-code snippets the tracer writes into a tracee and runs.

Each snippet is a list of (assembly, bytes) pairs, the assembly written
beside the bytes it encodes, ending in the arch's trap.  The unit tests
assemble the text with binutils (where installed) and compare the bytes.
``expect`` says what each named register holds at the final trap.

``load_all`` loads a distinct 64-bit constant into every general register
the ABI lets user code set, so a test can check that each value lands in
the right named field of the register struct.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple


@dataclass(frozen=True)
class Snippet:
    name: str
    arch: str
    lines: Tuple[Tuple[str, bytes], ...]
    expect: Dict[str, int]
    # Bytes from the start to the trap instruction's address.
    trap_offset: int
    # Where one instruction at a time goes: the index in ``lines`` of each
    # instruction executed, in order, ending at the trap.  Empty when the
    # code runs straight through; filled where control flow is the point
    # (branches and their delay slots).
    path: Tuple[int, ...] = ()

    @property
    def code(self) -> bytes:
        return b"".join(b for _, b in self.lines)

    @property
    def assembly(self) -> str:
        return "\n".join(a for a, _ in self.lines)


def _value(index: int) -> int:
    # 0x7472_6170_xxxx_00ii: "trap" in the top half, the index twice below,
    # so a value in the wrong field is named by the field it belongs to.
    return 0x7472617000000000 | (index << 24) | (index << 8) | index


# -- amd64 ----------------------------------------------------------------------
# movabs $imm64, %reg is REX.W (+REX.B for r8-r15), B8+reg, imm64 (Intel SDM
# vol. 2B, MOV: "REX.W + B8+ rd io").  rsp is left alone: the kernel needs it.
_AMD64_REGS = (("rax", 0), ("rcx", 1), ("rdx", 2), ("rbx", 3), ("rbp", 5), ("rsi", 6),
               ("rdi", 7), ("r8", 8), ("r9", 9), ("r10", 10), ("r11", 11), ("r12", 12),
               ("r13", 13), ("r14", 14), ("r15", 15))


def _amd64_movabs(reg: str, number: int, value: int) -> Tuple[str, bytes]:
    rex = 0x48 | (1 if number >= 8 else 0)
    return ("movabs $0x%x, %%%s" % (value, reg),
            bytes((rex, 0xB8 + (number & 7))) + struct.pack("<Q", value))


def _amd64_load_all() -> Snippet:
    lines = [_amd64_movabs(reg, num, _value(i + 1)) for i, (reg, num) in enumerate(_AMD64_REGS)]
    offset = sum(len(b) for _, b in lines)
    lines.append(("int3", b"\xcc"))
    expect = {reg: _value(i + 1) for i, (reg, _) in enumerate(_AMD64_REGS)}
    return Snippet("load_all", "amd64", tuple(lines), expect, offset)


# -- aarch64 --------------------------------------------------------------------
# movz xd, #imm16, lsl #48 = 0xd2e00000 | imm16 << 5 | d; movk xd, #imm16, lsl #s
# = 0xf2800000 | (s/16) << 21 | imm16 << 5 | d (Arm ARM C6.2 MOVZ, MOVK).
# x0-x30; sp is left alone.  brk #0 = 0xd4200000 ends it.
def _a64(word: int) -> bytes:
    return struct.pack("<I", word)


def _aarch64_load(d: int, value: int):
    parts = [(value >> shift) & 0xFFFF for shift in (48, 32, 16, 0)]
    yield ("movz x%d, #0x%x, lsl #48" % (d, parts[0]), _a64(0xD2E00000 | parts[0] << 5 | d))
    for hw, imm in ((2, parts[1]), (1, parts[2]), (0, parts[3])):
        yield ("movk x%d, #0x%x, lsl #%d" % (d, imm, hw * 16),
               _a64(0xF2800000 | hw << 21 | imm << 5 | d))


def _aarch64_load_all() -> Snippet:
    lines = []
    for d in range(31):
        lines.extend(_aarch64_load(d, _value(d + 1)))
    offset = 4 * len(lines)
    lines.append(("brk #0", _a64(0xD4200000)))
    return Snippet("load_all", "aarch64", tuple(lines),
                   {"x%d" % d: _value(d + 1) for d in range(31)}, offset)


# -- sparc64 (Linux) ---------------------------------------------------------------
# Big-endian words; encodings from The SPARC Architecture Manual, Version 9,
# appendix A (op = bits 31-30, rd = 29-25, op3 = 24-19, rs1 = 18-14, i = 13):
#   sethi imm22, rd        00 rd 100 imm22                              (A.48)
#   or rs1, simm13, rd     10 rd 000010 rs1 1 simm13                    (A.31)
#   subcc rs1, simm13, rd  10 rd 010100 rs1 1 simm13; cmp = rd %g0      (A.56)
#   sllx rs1, shcnt, rd    10 rd 100101 rs1 1 1 0000000 shcnt6          (A.49)
#   Bicc                   00 a cond 010 disp22                         (A.4)
#   BPcc                   00 a cond 001 cc1 cc0 p disp19, %xcc = 10    (A.5)
#   BPr                    00 a 0 rcond 011 d16hi p rs1 d16lo           (A.3)
#   Tcc                    10 0 cond 111010 rs1 1 cc1 cc0 0000 imm7; "ta 1" is
#                          0x91d02001, Linux's breakpoint (trap 0x101)  (A.61)
# Registers: %g0-7 = 0-7, %o0-7 = 8-15, %l0-7 = 16-23, %i0-7 = 24-31.
# Linux's NT_PRSTATUS regset holds all four groups.  Left alone: %g6 and %g7
# (reserved to the system by the SPARC V9 ABI; glibc keeps the thread
# pointer in %g7) and %o6/%i6 (stack and frame pointer: the kernel finds the
# register window through %sp, arch/sparc/kernel/ptrace_64.c regwindow64_get).
# These are the generic sparc64 snippets; snippets_bsd overrides per BSD.
_SPARC_REG = {**{"g%d" % n: n for n in range(8)}, **{"o%d" % n: 8 + n for n in range(8)},
              **{"l%d" % n: 16 + n for n in range(8)}, **{"i%d" % n: 24 + n for n in range(8)}}
_SPARC_TA_1 = ("ta 1", struct.pack(">I", 0x91D02001))
_SPARC_COND = {"a": 8, "n": 0, "ne": 9, "e": 1}
_SPARC_RCOND = {"z": 1, "nz": 5}


def _sp(word: int) -> bytes:
    return struct.pack(">I", word)


def _sparc_format3_imm(op3: int, rs1: str, imm: int, rd: str) -> bytes:
    if not -4096 <= imm <= 4095:
        raise ValueError("simm13 out of range: %d" % imm)
    return _sp(2 << 30 | _SPARC_REG[rd] << 25 | op3 << 19 | _SPARC_REG[rs1] << 14 | 1 << 13 | (imm & 0x1FFF))


def _sparc_mov(imm: int, rd: str) -> Tuple[str, bytes]:
    # "mov imm, rd" is the synthetic for "or %g0, imm, rd".
    return ("mov 0x%x, %%%s" % (imm, rd), _sparc_format3_imm(0x02, "g0", imm, rd))


def _sparc_cmp(rs1: str, imm: int) -> Tuple[str, bytes]:
    return ("cmp %%%s, %d" % (rs1, imm), _sparc_format3_imm(0x14, rs1, imm, "g0"))


def _sparc_load(rd: str, value: int) -> List[Tuple[str, bytes]]:
    """A 64-bit constant into ``rd`` with no scratch register: the high word
    by sethi/or, then the low word 12, 12 and 8 bits at a time."""
    high, low = value >> 32, value & 0xFFFFFFFF
    reg = _SPARC_REG[rd]

    def sllx(count: int) -> Tuple[str, bytes]:
        return ("sllx %%%s, %d, %%%s" % (rd, count, rd),
                _sp(2 << 30 | reg << 25 | 0x25 << 19 | reg << 14 | 1 << 13 | 1 << 12 | count))

    def or_self(imm: int) -> Tuple[str, bytes]:
        return ("or %%%s, 0x%x, %%%s" % (rd, imm, rd), _sparc_format3_imm(0x02, rd, imm, rd))

    return [
        ("sethi %%hi(0x%x), %%%s" % (high, rd), _sp(reg << 25 | 4 << 22 | (high >> 10))),
        or_self(high & 0x3FF),
        sllx(12), or_self((low >> 20) & 0xFFF),
        sllx(12), or_self((low >> 8) & 0xFFF),
        sllx(8), or_self(low & 0xFF),
    ]


def _sparc_bicc(cond: str, annul: bool, offset: int) -> Tuple[str, bytes]:
    name = "b%s%s .+%d" % (cond, ",a" if annul else "", offset)
    return name, _sp(int(annul) << 29 | _SPARC_COND[cond] << 25 | 2 << 22 | ((offset >> 2) & 0x3FFFFF))


def _sparc_bpcc_xcc(cond: str, annul: bool, offset: int) -> Tuple[str, bytes]:
    name = "b%s%s,pt %%xcc, .+%d" % (cond, ",a" if annul else "", offset)
    return name, _sp(int(annul) << 29 | _SPARC_COND[cond] << 25 | 1 << 22 | 2 << 20 | 1 << 19
                     | ((offset >> 2) & 0x7FFFF))


def _sparc_bpr(rcond: str, annul: bool, rs1: str, offset: int) -> Tuple[str, bytes]:
    name = "br%s%s,pt %%%s, .+%d" % (rcond, ",a" if annul else "", rs1, offset)
    d16 = (offset >> 2) & 0xFFFF
    return name, _sp(int(annul) << 29 | _SPARC_RCOND[rcond] << 25 | 3 << 22 | (d16 >> 14) << 20 | 1 << 19
                     | _SPARC_REG[rs1] << 14 | (d16 & 0x3FFF))


_SPARC_LOAD_ALL_REGS = ("g1", "g2", "g3", "g4", "g5", "o0", "o1", "o2", "o3", "o4", "o5", "o7",
                        *("l%d" % n for n in range(8)), "i0", "i1", "i2", "i3", "i4", "i5", "i7")


def _sparc64_load_all() -> Snippet:
    lines: List[Tuple[str, bytes]] = []
    for i, reg in enumerate(_SPARC_LOAD_ALL_REGS):
        lines.extend(_sparc_load(reg, _value(i + 1)))
    offset = 4 * len(lines)
    lines.append(_SPARC_TA_1)
    return Snippet("load_all", "sparc64", tuple(lines),
                   {reg: _value(i + 1) for i, reg in enumerate(_SPARC_LOAD_ALL_REGS)}, offset)


def _sparc64_delay_slots() -> Snippet:
    """Every kind of delay slot a software step must get right, one after
    another: each executed slot sets its own %o register, each instruction
    that must not run would set %o5 to 0xbad.  ``path`` is where single
    steps go.  (V9 manual 6.3.4.1: a conditional branch with a = 1 annuls
    its slot only when not taken; ba,a always annuls it.)"""
    bad = _sparc_mov(0xBAD, "o5")
    lines = (
        _sparc_mov(0, "o5"),                       # 0
        _sparc_mov(1, "o0"),                       # 1
        _sparc_cmp("o0", 1),                       # 2  Z set in icc and xcc
        _sparc_bpcc_xcc("e", False, 12),           # 3  taken: slot 4 runs, then 6
        _sparc_mov(0x10, "o1"),                    # 4
        bad,                                       # 5
        _sparc_bpcc_xcc("ne", True, 12),           # 6  untaken, annulled: 7 skipped
        bad,                                       # 7
        _sparc_bicc("e", True, 12),                # 8  taken, annulled: slot 9 runs, then 11
        _sparc_mov(0x20, "o2"),                    # 9
        bad,                                       # 10
        _sparc_bpr("nz", True, "o5", 12),          # 11 %o5 is 0: untaken, 12 skipped
        bad,                                       # 12
        _sparc_bicc("a", True, 12),                # 13 ba,a: slot annulled, then 16
        bad,                                       # 14
        bad,                                       # 15
        _sparc_bicc("ne", False, 12),              # 16 untaken: slot 17 runs, then 18
        _sparc_mov(0x30, "o3"),                    # 17
        _sparc_mov(0x40, "o4"),                    # 18
        _SPARC_TA_1,                               # 19
    )
    return Snippet("delay_slots", "sparc64", lines,
                   {"o0": 1, "o1": 0x10, "o2": 0x20, "o3": 0x30, "o4": 0x40, "o5": 0},
                   4 * 19, path=(0, 1, 2, 3, 4, 6, 8, 9, 11, 13, 16, 17, 18, 19))


# -- tiny "return 42 and trap" snippets, for moving the PC and seeing it run ----
_TRAP_42 = {
    "amd64": Snippet("set_42", "amd64", (
        ("mov $0x2a, %eax", b"\xb8\x2a\x00\x00\x00"),
        ("int3", b"\xcc"),
    ), {"rax": 42}, 5),
    "aarch64": Snippet("set_42", "aarch64", (
        ("movz x0, #0x2a", _a64(0xD2800000 | 42 << 5)),
        ("brk #0", _a64(0xD4200000)),
    ), {"x0": 42}, 4),
    "sparc64": Snippet("set_42", "sparc64", (_sparc_mov(42, "o0"), _SPARC_TA_1), {"o0": 42}, 4),
}

SNIPPETS: Dict[Tuple[str, str], Snippet] = {
    ("amd64", "load_all"): _amd64_load_all(),
    ("aarch64", "load_all"): _aarch64_load_all(),
    ("amd64", "set_42"): _TRAP_42["amd64"],
    ("aarch64", "set_42"): _TRAP_42["aarch64"],
    ("sparc64", "load_all"): _sparc64_load_all(),
    ("sparc64", "set_42"): _TRAP_42["sparc64"],
    ("sparc64", "delay_slots"): _sparc64_delay_slots(),
}


def get(arch: str, name: str, os_name: Optional[str] = None) -> Snippet:
    """The snippet ``name`` for ``arch``; an OS-specific one (``snippets_bsd``)
    wins over the generic one, since what a snippet may touch differs by OS."""
    if os_name is not None:
        from . import snippets_bsd

        specific = snippets_bsd.SNIPPETS.get((os_name, arch, name))
        if specific is not None:
            return specific
    try:
        return SNIPPETS[(arch, name)]
    except KeyError:
        have = sorted(n for a, n in SNIPPETS if a == arch)
        if os_name is not None:
            from . import snippets_bsd

            have = sorted(set(have) | {n for o, a, n in snippets_bsd.SNIPPETS if (o, a) == (os_name, arch)})
        raise KeyError("no snippet %r for %s/%s (have: %s)"
                       % (name, os_name or "any OS", arch, ", ".join(have) or "none")) from None
