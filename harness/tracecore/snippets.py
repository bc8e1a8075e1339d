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
from typing import Dict, Optional, Tuple


@dataclass(frozen=True)
class Snippet:
    name: str
    arch: str
    lines: Tuple[Tuple[str, bytes], ...]
    expect: Dict[str, int]
    # Bytes from the start to the trap instruction's address.
    trap_offset: int

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
}

SNIPPETS: Dict[Tuple[str, str], Snippet] = {
    ("amd64", "load_all"): _amd64_load_all(),
    ("aarch64", "load_all"): _aarch64_load_all(),
    ("amd64", "set_42"): _TRAP_42["amd64"],
    ("aarch64", "set_42"): _TRAP_42["aarch64"],
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
