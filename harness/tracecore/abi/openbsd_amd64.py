"""OpenBSD on amd64.

Sources, beyond those in openbsd_common (openbsd/src, RCS ids):
  sys/arch/amd64/include/ptrace.h 1.2 2024/11/27: PT_STEP = PT_FIRSTMACH + 0,
                                  GETREGS +1, SETREGS +2, GETFPREGS +3, SETFPREGS +4,
                                  PT_GETXSTATE_INFO +5, PT_GETXSTATE +6, PT_SETXSTATE +7;
                                  struct ptrace_xstate_info { uint64_t xsave_mask;
                                  uint32_t xsave_len; } (16 bytes).  1.1 2004/01/28 had
                                  only +0..+4.  1.2 is dated after the 7.6 release
                                  (2024-10-08) and before 7.7's (2025-04-28), so 7.7 is
                                  the first release with the XSTATE requests
                                  (requests_since keeps them from 7.5 and 7.6).
  sys/arch/amd64/include/reg.h    1.6 2011/03/23: struct reg, 24 int64_t
                                  (r_rdi ... r_gs) = 192 bytes; struct fpreg
                                  { struct fxsave64 fxstate; } with the fp_* names
  sys/kern/sys_process.c 1.106 2025/02/17: PT_GETXSTATE_INFO copies out the
                                  struct; PT_GETXSTATE/PT_SETXSTATE move fpu_save_len bytes
The FXSAVE offsets inside struct fpreg are the hardware's 512-byte layout
(the same one NetBSD's cpu_extended_state.h spells out field by field).
"""

from __future__ import annotations

from . import openbsd_common as common
from .types import Abi, Breakpoint, Field, Header, RegisterRoles, RegisterSet, Struct

_REPO = "openbsd/src "
MD_PTRACE_H = Header("machine/ptrace.h", _REPO + "sys/arch/amd64/include/ptrace.h 1.2 2024/11/27")
REG_H = Header("machine/reg.h", _REPO + "sys/arch/amd64/include/reg.h 1.6 2011/03/23")

_GPRS = (
    "rdi", "rsi", "rdx", "rcx", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15", "rbp", "rbx", "rax", "rsp", "rip", "rflags", "cs", "ss",
    "ds", "es", "fs", "gs",
)

REGS = Struct("struct reg", REG_H, len(_GPRS) * 8, tuple(
    Field(name, 8 * i, 8, c_name="r_" + name) for i, name in enumerate(_GPRS)))

FPREGS = Struct("struct fpreg", REG_H, 512, (
    Field("fx_fcw", 0, 2, c_name="fxstate.fx_fcw"),
    Field("fx_fsw", 2, 2, c_name="fxstate.fx_fsw"),
    Field("fx_ftw", 4, 1, c_name="fxstate.fx_ftw"),
    Field("fx_fop", 6, 2, c_name="fxstate.fx_fop"),
    Field("fx_rip", 8, 8, c_name="fxstate.fx_rip"),
    Field("fx_rdp", 16, 8, c_name="fxstate.fx_rdp"),
    Field("fx_mxcsr", 24, 4, c_name="fxstate.fx_mxcsr"),
    Field("fx_mxcsr_mask", 28, 4, c_name="fxstate.fx_mxcsr_mask"),
    Field("fx_st", 32, 8, count=16, c_name="fxstate.fx_st"),
    Field("fx_xmm", 160, 8, count=32, c_name="fxstate.fx_xmm"),
))

XSTATE_INFO = Struct("struct ptrace_xstate_info", MD_PTRACE_H, 16, (
    Field("xsave_mask", 0, 8),
    Field("xsave_len", 8, 4),
))

# ptrace.h 1.2 2024/11/27 added these: first shipped in 7.7.
REQUESTS_SINCE = {"PT_GETXSTATE_INFO": "7.7", "PT_GETXSTATE": "7.7", "PT_SETXSTATE": "7.7"}

_FM = common.PT_FIRSTMACH
REQUESTS = common.requests_with({
    "PT_STEP": _FM + 0,
    "PT_GETREGS": _FM + 1,
    "PT_SETREGS": _FM + 2,
    "PT_GETFPREGS": _FM + 3,
    "PT_SETFPREGS": _FM + 4,
    "PT_GETXSTATE_INFO": _FM + 5,
    "PT_GETXSTATE": _FM + 6,
    "PT_SETXSTATE": _FM + 7,
}, MD_PTRACE_H)

ABI = Abi(
    os="openbsd",
    arch="amd64",
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
        pc="rip", sp="rsp", retval="rax", fp="rbp",
        args=("rdi", "rsi", "rdx", "r10", "r8", "r9"),
    ),
    # int3 is a trap: the saved RIP is already past it.  OpenBSD gives the
    # tracer no si_code for it.
    breakpoint=Breakpoint(b"\xcc", pc_adjust=1, si_code=None,
                          source="x86 int3 trap semantics (RIP after the insn), as NetBSD/src "
                                 "sys/arch/amd64/include/ptrace.h 1.22 PTRACE_BREAKPOINT_ADJ 1 "
                                 "records; no siginfo request: " + common.SYS_PROCESS_C),
    hardware_step=True,
    extra_constants=(common.PIOD, common.SYSCALLS),
    structs=dict(common.STRUCTS, ptrace_xstate_info=XSTATE_INFO),
    libc_symbols=common.LIBC_SYMBOLS,
    requests_since=REQUESTS_SINCE,
    notes=(
        *common.NOTES,
        "PT_GETXSTATE_INFO/PT_GETXSTATE/PT_SETXSTATE arrived with ptrace.h 1.2 "
        "(2024/11/27): OpenBSD 7.7 and later; the table refuses them for 7.6 and older, "
        "whose kernel answers EINVAL.",
    ),
)
