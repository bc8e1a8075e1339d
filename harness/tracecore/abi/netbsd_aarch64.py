"""NetBSD on aarch64 (evbarm-aarch64).

Sources, beyond those in netbsd_common (NetBSD/src, RCS ids):
  sys/arch/aarch64/include/ptrace.h 1.12 2020/09/07: PT_GETREGS = PT_FIRSTMACH + 0,
                                    SETREGS +1, GETFPREGS +2, SETFPREGS +3, PT_STEP +4,
                                    PT_SETSTEP +5, PT_CLEARSTEP +6; PTRACE_BREAKPOINT
                                    { 0xa0, 0x01, 0x20, 0xd4 } ("brk #13"), SIZE 4, no
                                    PTRACE_BREAKPOINT_ADJ; PTRACE_REG_FP = r_reg[29],
                                    PTRACE_REG_INTRV = r_reg[0]
  sys/arch/aarch64/include/reg.h    1.2 2018/04/01: struct reg (280 bytes),
                                    struct fpreg (union fpelem is 16-byte aligned: 528 bytes)
Earlier revisions (1.3 2015/09/15) said "PT_STEP is _not_ supported"; which
netbsd-9 revision has PT_STEP at +4 was not read, so 9.x step support is
for the target's hello (or a probe) to confirm.
"""

from __future__ import annotations

from . import netbsd_common as common
from .types import Abi, Breakpoint, Field, Header, RegisterRoles, RegisterSet, Struct

_REPO = "NetBSD/src "
MD_PTRACE_H = Header("machine/ptrace.h", _REPO + "sys/arch/aarch64/include/ptrace.h 1.12 2020/09/07")
REG_H = Header("machine/reg.h", _REPO + "sys/arch/aarch64/include/reg.h 1.2 2018/04/01")

REGS = Struct("struct reg", REG_H, 35 * 8, tuple(
    [Field("x%d" % i, 8 * i, 8, c_name="r_reg[%d]" % i) for i in range(31)]
    + [Field("sp", 248, 8, c_name="r_sp"), Field("pc", 256, 8, c_name="r_pc"),
       Field("spsr", 264, 8, c_name="r_spsr"), Field("tpidr", 272, 8, c_name="r_tpidr")]
))

FPREGS = Struct("struct fpreg", REG_H, 528, (
    Field("fp_reg", 0, 16, count=32),
    Field("fpcr", 512, 4),
    Field("fpsr", 516, 4),
))

_FM = common.PT_FIRSTMACH
REQUESTS = common.requests_with({
    "PT_GETREGS": _FM + 0,
    "PT_SETREGS": _FM + 1,
    "PT_GETFPREGS": _FM + 2,
    "PT_SETFPREGS": _FM + 3,
    "PT_STEP": _FM + 4,
    "PT_SETSTEP": _FM + 5,
    "PT_CLEARSTEP": _FM + 6,
}, MD_PTRACE_H, absent=("PT_GETDBREGS", "PT_SETDBREGS"))

ABI = Abi(
    os="netbsd",
    arch="aarch64",
    byteorder="little",
    pointer_size=8,
    sources=(*common.SOURCES, MD_PTRACE_H.source, REG_H.source),
    requests=REQUESTS,
    signals=common.SIGNALS,
    si_codes=common.SI_CODES,
    errnos=common.ERRNOS,
    wait=common.WAIT,
    events=common.EVENTS,
    regs=RegisterSet(REGS, get="PT_GETREGS", set="PT_SETREGS"),
    fpregs=RegisterSet(FPREGS, get="PT_GETFPREGS", set="PT_SETFPREGS"),
    roles=RegisterRoles(
        pc="pc", sp="sp", retval="x0", fp="x29",
        args=("x0", "x1", "x2", "x3", "x4", "x5"),
    ),
    # brk #13 (0xd42001a0), little-endian; no PTRACE_BREAKPOINT_ADJ, so the
    # PC stays on the brk (ELR holds the brk's own address).
    breakpoint=Breakpoint(b"\xa0\x01\x20\xd4", pc_adjust=0, si_code="TRAP_BRKPT",
                          source=MD_PTRACE_H.source + " PTRACE_BREAKPOINT (no _ADJ)"),
    hardware_step=True,
    extra_constants=(common.PIOD, common.SYSCALLS),
    structs=common.STRUCTS,
    libc_symbols=common.LIBC_SYMBOLS,
    requests_since=common.REQUESTS_SINCE,
    notes=common.NOTES,
)
