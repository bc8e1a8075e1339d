"""Machine-code snippets for the BSD targets, the assembly beside the bytes.

Keyed by (os, arch, name), because what a snippet may touch differs by OS:
NetBSD's sparc64 ``struct reg`` holds only the globals and outs (the locals
and ins live in the register window on the stack), OpenBSD's holds all four
groups; a syscall is made differently on each OS and arch.

sparc64 encodings (The SPARC Architecture Manual, Version 9, appendix A):
  sethi imm22, rd        00 rd 100 imm22                     (A.48)
  or rs1, simm13, rd     10 rd 000010 rs1 1 simm13           (A.31)
  sllx rs1, shcnt, rd    10 rd 100101 rs1 1 1 0000000 shcnt6 (A.49)
  Tcc cond, imm7         10 0 cond 111010 rs1 1 cc 0000 imm7 (A.61): "ta 1" is
                         0x91d02001, the breakpoint both BSDs use.
Registers: %g0-7 = 0-7, %o0-7 = 8-15, %l0-7 = 16-23, %i0-7 = 24-31.  %g6 and
%g7 are reserved to the system by the SPARC V9 ABI (NetBSD keeps the thread
pointer in %g7), %o6/%i6 are the stack and frame pointers: left alone.

Syscalls (NetBSD only: OpenBSD kills a process whose syscall does not come
from libc's pinned text, so a snippet cannot make one there):
  amd64    number in %eax, ``syscall``            (NetBSD amd64 SYS.h)
  aarch64  number in x17, ``svc #0``              (Go syscall/asm_netbsd_arm64.s:
           "MOVD trap, R17 ... SVC $SYS_syscall", SYS_syscall = 0); the trap
           is ``brk #0xd``, NetBSD's aarch64 PTRACE_BREAKPOINT
  sparc64  number in %g1, ``ta 0`` (ST_SYSCALL 0)  (NetBSD sparc64 SYS.h, trap.h)
The call is ``sync`` (36 in both syscalls.master), which always returns 0,
so the expected result does not depend on the tracee.
"""

from __future__ import annotations

import struct
from typing import Dict, List, Tuple

from . import snippets as _generic
from .snippets import Snippet, _value

# -- sparc64 ---------------------------------------------------------------------------
_SPARC_REGS = {**{"g%d" % n: n for n in range(8)}, **{"o%d" % n: 8 + n for n in range(8)},
               **{"l%d" % n: 16 + n for n in range(8)}, **{"i%d" % n: 24 + n for n in range(8)}}
_TA_1 = ("ta 1", struct.pack(">I", 0x91D02001))


def _sp(word: int) -> bytes:
    return struct.pack(">I", word)


def _sethi(value: int, rd: str) -> Tuple[str, bytes]:
    return ("sethi %%hi(0x%x), %%%s" % (value, rd), _sp(_SPARC_REGS[rd] << 25 | 4 << 22 | (value >> 10)))


def _or_imm(rs1: str, imm: int, rd: str) -> Tuple[str, bytes]:
    if not -4096 <= imm <= 4095:
        raise ValueError("simm13 out of range: %d" % imm)
    return ("or %%%s, 0x%x, %%%s" % (rs1, imm, rd),
            _sp(2 << 30 | _SPARC_REGS[rd] << 25 | 0x02 << 19 | _SPARC_REGS[rs1] << 14 | 1 << 13 | (imm & 0x1FFF)))


def _sllx(rs1: str, count: int, rd: str) -> Tuple[str, bytes]:
    return ("sllx %%%s, %d, %%%s" % (rs1, count, rd),
            _sp(2 << 30 | _SPARC_REGS[rd] << 25 | 0x25 << 19 | _SPARC_REGS[rs1] << 14 | 1 << 13 | 1 << 12 | count))


def _sparc64_load(rd: str, value: int) -> List[Tuple[str, bytes]]:
    """A 64-bit constant into ``rd`` with no scratch register: the high word
    by sethi/or, then the low word 12, 12 and 8 bits at a time."""
    high, low = value >> 32, value & 0xFFFFFFFF
    return [
        _sethi(high, rd), _or_imm(rd, high & 0x3FF, rd),
        _sllx(rd, 12, rd), _or_imm(rd, (low >> 20) & 0xFFF, rd),
        _sllx(rd, 12, rd), _or_imm(rd, (low >> 8) & 0xFFF, rd),
        _sllx(rd, 8, rd), _or_imm(rd, low & 0xFF, rd),
    ]


_NETBSD_SPARC_SET = ("g1", "g2", "g3", "g4", "g5", "o0", "o1", "o2", "o3", "o4", "o5", "o7")
_OPENBSD_SPARC_SET = _NETBSD_SPARC_SET + tuple("l%d" % n for n in range(8)) + (
    "i0", "i1", "i2", "i3", "i4", "i5", "i7")


def _sparc64_load_all(regs: Tuple[str, ...]) -> Snippet:
    lines: List[Tuple[str, bytes]] = []
    for i, reg in enumerate(regs):
        lines.extend(_sparc64_load(reg, _value(i + 1)))
    offset = 4 * len(lines)
    lines.append(_TA_1)
    return Snippet("load_all", "sparc64", tuple(lines), {reg: _value(i + 1) for i, reg in enumerate(regs)}, offset)


# "mov imm, rd" is the synthetic for "or %g0, imm, rd".
_SPARC_SET_42 = Snippet("set_42", "sparc64", (("mov 0x2a, %o0", _or_imm("g0", 42, "o0")[1]), _TA_1), {"o0": 42}, 4)

# -- syscalls (NetBSD) -------------------------------------------------------------------
_SYS_SYNC = 36


def _a64(word: int) -> bytes:
    return struct.pack("<I", word)


_NETBSD_SYNC = {
    "amd64": Snippet("sync_syscall", "amd64", (
        ("mov $0x24, %eax", b"\xb8\x24\x00\x00\x00"),
        ("syscall", b"\x0f\x05"),
        ("int3", b"\xcc"),
    ), {"rax": 0}, 7),
    "aarch64": Snippet("sync_syscall", "aarch64", (
        # movz x17, #36: 0xd2800000 | imm16 << 5 | rd (Arm ARM C6.2 MOVZ)
        ("movz x17, #0x24", _a64(0xD2800000 | _SYS_SYNC << 5 | 17)),
        ("svc #0", _a64(0xD4000001)),
        # NetBSD's aarch64 PTRACE_BREAKPOINT is brk #13, not Linux's brk #0.
        ("brk #0xd", _a64(0xD4200000 | 13 << 5)),
    ), {"x0": 0}, 8),
    "sparc64": Snippet("sync_syscall", "sparc64", (
        ("mov 0x24, %g1", _or_imm("g0", _SYS_SYNC, "g1")[1]),
        ("ta 0", _sp(0x91D02000)),
        _TA_1,
    ), {"o0": 0}, 8),
}

# -- aarch64 (OpenBSD) ------------------------------------------------------------------
# OpenBSD's arm64 struct reg keeps x30 apart from r_reg[30] as r_lr
# (sys/arch/arm64/include/reg.h 1.2 2017/03/21), and the ABI table names that
# field "lr"; NetBSD's r_reg[31] includes x30.  Same code, so the same bytes
# and trap (brk #0, which OpenBSD's trap.c 1.54 takes as any BRK); only the
# name each expected value is read back under differs.
_OPENBSD_AARCH64_NAMES = {"x30": "lr"}


def _renamed(snippet: Snippet, names: Dict[str, str]) -> Snippet:
    return Snippet(snippet.name, snippet.arch, snippet.lines,
                   {names.get(reg, reg): value for reg, value in snippet.expect.items()},
                   snippet.trap_offset, snippet.path)


SNIPPETS: Dict[Tuple[str, str, str], Snippet] = {
    ("openbsd", "aarch64", "load_all"): _renamed(_generic.SNIPPETS[("aarch64", "load_all")],
                                                 _OPENBSD_AARCH64_NAMES),
    ("netbsd", "sparc64", "load_all"): _sparc64_load_all(_NETBSD_SPARC_SET),
    ("openbsd", "sparc64", "load_all"): _sparc64_load_all(_OPENBSD_SPARC_SET),
    ("netbsd", "sparc64", "set_42"): _SPARC_SET_42,
    ("openbsd", "sparc64", "set_42"): _SPARC_SET_42,
    ("netbsd", "amd64", "sync_syscall"): _NETBSD_SYNC["amd64"],
    ("netbsd", "aarch64", "sync_syscall"): _NETBSD_SYNC["aarch64"],
    ("netbsd", "sparc64", "sync_syscall"): _NETBSD_SYNC["sparc64"],
}


def get(os_name: str, arch: str, name: str) -> Snippet:
    try:
        return SNIPPETS[(os_name, arch, name)]
    except KeyError:
        have = sorted(n for o, a, n in SNIPPETS if (o, a) == (os_name, arch))
        raise KeyError("no BSD snippet %r for %s/%s (have: %s)"
                       % (name, os_name, arch, ", ".join(have) or "none")) from None
