"""OpenBSD on sparc64 (big-endian, LP64).

Sources, beyond those in openbsd_common (openbsd/src, RCS ids):
  sys/arch/sparc64/include/ptrace.h 1.3 2005/03/29 (kettenis; read in the
                                    lattera/openbsd mirror, commit 28b0e603): PT_GETREGS =
                                    PT_FIRSTMACH + 0, SETREGS +1, GETFPREGS +2, SETFPREGS +3,
                                    PT_WCOOKIE +4; no PT_STEP.  (openbsd/src as stored here
                                    holds only the older 1.1/1.2, which stop at SETFPREGS.)
  sys/arch/sparc64/include/reg.h    1.2 2002/03/17: struct reg64 (reg under
                                    __arch64__): r_tstate, r_pc, r_npc, int r_y,
                                    r_global[8], r_out[8], r_local[8], r_in[8]
                                    = 288 bytes; struct fpreg64 = 272 bytes
  sys/arch/sparc64/include/frame.h  1.5 2006/06/21: BIAS (2048-1)
  sys/kern/sys_process.c 1.106 2025/02/17: PT_WCOOKIE is an OUT request that
                                    copies out one register_t (8 bytes, the
                                    StackGhost register-window cookie); it is the one
                                    OUT request whose data argument the kernel does not
                                    check against the size
The breakpoint is "ta 1", software trap 1, whose bytes NetBSD/src
sys/arch/sparc/include/ptrace.h 1.9 spells out (PTRACE_BREAKPOINT); the
OpenBSD sparc64 trap code for it was not read.
"""

from __future__ import annotations

from . import openbsd_common as common
from .types import Abi, Breakpoint, Constants, Field, Header, RegisterRoles, RegisterSet, Struct

_REPO = "openbsd/src "
MD_PTRACE_H = Header("machine/ptrace.h", _REPO + "sys/arch/sparc64/include/ptrace.h 1.3 2005/03/29 "
                     "(lattera/openbsd mirror, commit 28b0e603)")
REG_H = Header("machine/reg.h", _REPO + "sys/arch/sparc64/include/reg.h 1.2 2002/03/17")
FRAME_H = Header("machine/frame.h", _REPO + "sys/arch/sparc64/include/frame.h 1.5 2006/06/21")

REGS = Struct("struct reg64", REG_H, 288, tuple(
    [Field("tstate", 0, 8, c_name="r_tstate"), Field("pc", 8, 8, c_name="r_pc"),
     Field("npc", 16, 8, c_name="r_npc"), Field("y", 24, 4, c_name="r_y")]
    + [Field("g%d" % i, 32 + 8 * i, 8, c_name="r_global[%d]" % i) for i in range(8)]
    + [Field("o%d" % i, 96 + 8 * i, 8, c_name="r_out[%d]" % i) for i in range(8)]
    + [Field("l%d" % i, 160 + 8 * i, 8, c_name="r_local[%d]" % i) for i in range(8)]
    + [Field("i%d" % i, 224 + 8 * i, 8, c_name="r_in[%d]" % i) for i in range(8)]
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
    # One register_t out (sys_process.c 1.106); OpenbsdBackend.wcookie reads it.
    "PT_WCOOKIE": _FM + 4,
}, MD_PTRACE_H, absent=("PT_STEP",))

ABI = Abi(
    os="openbsd",
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
    # %fp is %i6 and this struct has the in registers.
    roles=RegisterRoles(
        pc="pc", npc="npc", sp="o6", retval="o0", fp="i6",
        args=("o0", "o1", "o2", "o3", "o4", "o5"),
    ),
    # ta 1 (0x91d02001), stored big-endian; the PC stays on the trap.
    breakpoint=Breakpoint(b"\x91\xd0\x20\x01", pc_adjust=0, si_code=None,
                          source="NetBSD/src sys/arch/sparc/include/ptrace.h 1.9 PTRACE_BREAKPOINT "
                                 "(ta 1); no siginfo request: " + common.SYS_PROCESS_C),
    hardware_step=False,
    extra_constants=(common.PIOD, common.SYSCALLS, STACK),
    structs=common.STRUCTS,
    libc_symbols=common.LIBC_SYMBOLS,
    notes=(
        *common.NOTES,
        "No PT_STEP: single-step is done in software (breakpoint at NPC).",
        "Setting the PC must set NPC = PC + 4.",
        "%sp and %fp carry a bias of 2047 (BIAS in frame.h).",
        "PT_WCOOKIE (36) copies out one register_t, the register-window cookie.",
    ),
)
