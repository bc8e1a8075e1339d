"""NetBSD on sparc64 (big-endian, LP64).

Sources, beyond those in netbsd_common (NetBSD/src, RCS ids):
  sys/arch/sparc64/include/ptrace.h 1.3.132.1 2016/10/05: includes sparc/ptrace.h
  sys/arch/sparc/include/ptrace.h   1.9 2015/09/25: PT_GETREGS = PT_FIRSTMACH + 0,
                                    SETREGS +1, GETFPREGS +2, SETFPREGS +3 and no
                                    PT_STEP; PTRACE_REG_SET_PC sets r_npc = pc + 4;
                                    PTRACE_REG_SP = r_out[6], PTRACE_REG_INTRV = r_out[0];
                                    PTRACE_BREAKPOINT { 0x91, 0xd0, 0x20, 0x01 } (ta 1),
                                    SIZE 4, no PTRACE_BREAKPOINT_ADJ
  sys/arch/sparc64/include/reg.h    1.15 2016/12/30: struct reg64 (reg under __arch64__):
                                    r_tstate, r_pc, r_npc, int r_y, r_global[8], r_out[8]
                                    = 160 bytes; struct fpreg64: fr_regs[64], fr_fsr,
                                    fr_gsr = 272 bytes
  sys/arch/sparc64/include/frame.h  1.1.1.1 1998/06/20: BIAS (2048-1) on %sp and %fp
The struct has no %l or %i registers (they live in the register window on
the stack), so there is no frame pointer role here.
"""

from __future__ import annotations

from . import netbsd_common as common
from .types import Abi, Breakpoint, Constants, Field, Header, RegisterRoles, RegisterSet, Struct

_REPO = "NetBSD/src "
MD_PTRACE_H = Header("machine/ptrace.h", _REPO + "sys/arch/sparc/include/ptrace.h 1.9 2015/09/25 "
                     "(via sys/arch/sparc64/include/ptrace.h 1.3.132.1)")
REG_H = Header("machine/reg.h", _REPO + "sys/arch/sparc64/include/reg.h 1.15 2016/12/30")
FRAME_H = Header("machine/frame.h", _REPO + "sys/arch/sparc64/include/frame.h 1.1.1.1 1998/06/20")

REGS = Struct("struct reg64", REG_H, 160, tuple(
    [Field("tstate", 0, 8, c_name="r_tstate"), Field("pc", 8, 8, c_name="r_pc"),
     Field("npc", 16, 8, c_name="r_npc"), Field("y", 24, 4, c_name="r_y")]
    + [Field("g%d" % i, 32 + 8 * i, 8, c_name="r_global[%d]" % i) for i in range(8)]
    + [Field("o%d" % i, 96 + 8 * i, 8, c_name="r_out[%d]" % i) for i in range(8)]
))

FPREGS = Struct("struct fpreg64", REG_H, 272, (
    Field("fr_regs", 0, 4, count=64),
    Field("fr_fsr", 256, 8),
    Field("fr_gsr", 264, 4),
))

STACK = Constants(FRAME_H, {"BIAS": 2047})

_FM = common.PT_FIRSTMACH
REQUESTS = common.requests_with({
    "PT_GETREGS": _FM + 0,
    "PT_SETREGS": _FM + 1,
    "PT_GETFPREGS": _FM + 2,
    "PT_SETFPREGS": _FM + 3,
}, MD_PTRACE_H, absent=("PT_STEP", "PT_SETSTEP", "PT_CLEARSTEP"))

ABI = Abi(
    os="netbsd",
    arch="sparc64",
    byteorder="big",
    pointer_size=8,
    sources=(*common.SOURCES, MD_PTRACE_H.source, REG_H.source, FRAME_H.source),
    requests=REQUESTS,
    signals=common.SIGNALS,
    si_codes=common.SI_CODES,
    errnos=common.ERRNOS,
    wait=common.WAIT,
    events=common.EVENTS,
    regs=RegisterSet(REGS, get="PT_GETREGS", set="PT_SETREGS"),
    fpregs=RegisterSet(FPREGS, get="PT_GETFPREGS", set="PT_SETFPREGS"),
    roles=RegisterRoles(
        pc="pc", npc="npc", sp="o6", retval="o0",
        args=("o0", "o1", "o2", "o3", "o4", "o5"),
    ),
    # ta 1 (0x91d02001), stored big-endian; the PC stays on the trap.
    breakpoint=Breakpoint(b"\x91\xd0\x20\x01", pc_adjust=0, si_code="TRAP_BRKPT",
                          source=MD_PTRACE_H.source + " PTRACE_BREAKPOINT (no _ADJ)"),
    hardware_step=False,
    extra_constants=(common.PIOD, common.SYSCALLS, STACK),
    structs=common.STRUCTS,
    libc_symbols=common.LIBC_SYMBOLS,
    requests_since=common.REQUESTS_SINCE,
    notes=(
        *common.NOTES,
        "No PT_STEP: single-step is done in software (breakpoint at NPC).",
        "Setting the PC must set NPC = PC + 4 (PTRACE_REG_SET_PC in sparc/ptrace.h 1.9).",
        "%sp and %fp carry a bias of 2047 (BIAS in frame.h).",
    ),
)
