"""NetBSD on amd64 (x86_64).

Sources, beyond those in netbsd_common (NetBSD/src, RCS ids):
  sys/arch/amd64/include/ptrace.h     1.22 2020/05/30: PT_STEP = PT_FIRSTMACH + 0 ...
                                      PT_SETXSTATE + 10; PTRACE_BREAKPOINT { 0xcc },
                                      PTRACE_BREAKPOINT_SIZE 1, PTRACE_BREAKPOINT_ADJ 1;
                                      PTRACE_REG_PC/SP/FP/INTRV = regs[_REG_RIP/RSP/RBP/RAX]
  sys/arch/amd64/include/reg.h        1.11 2022/05/22: struct reg { long regs[_NGREG]; },
                                      struct fpreg { struct fxsave fxstate; },
                                      struct dbreg { long dr[16]; } (DR0-3 addresses,
                                      DR6 status, DR7 control, the rest reserved)
  sys/arch/amd64/include/mcontext.h   1.15.2.2 2014/08/20: _NGREG = 26
  sys/arch/amd64/include/frame_regs.h 1.3 2008/01/05: the _REG_* index of each register
  sys/arch/x86/include/cpu_extended_state.h 1.9.12.2 2017/08/28: struct fxsave (512 bytes)
"""

from __future__ import annotations

from . import netbsd_common as common
from .types import Abi, Breakpoint, Field, Header, RegisterRoles, RegisterSet, Struct

_REPO = "NetBSD/src "
MD_PTRACE_H = Header("machine/ptrace.h", _REPO + "sys/arch/amd64/include/ptrace.h 1.22 2020/05/30")
REG_H = Header("machine/reg.h", _REPO + "sys/arch/amd64/include/reg.h 1.11 2022/05/22; "
               "mcontext.h 1.15.2.2 (_NGREG 26); frame_regs.h 1.3 (_REG_* indexes)")
FXSAVE_H = Header("machine/reg.h", _REPO + "sys/arch/x86/include/cpu_extended_state.h 1.9.12.2 2017/08/28")

# Index = _REG_<NAME> from frame_regs.h 1.3.  The first six are the syscall
# argument registers in order (%rcx is clobbered by syscall; libc copies it to %r10).
_GREGS = (
    "rdi", "rsi", "rdx", "rcx", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15", "rbp", "rbx", "rax", "gs", "fs", "es", "ds", "trapno",
    "err", "rip", "cs", "rflags", "rsp", "ss",
)
NGREG = 26

REGS = Struct("struct reg", REG_H, NGREG * 8, tuple(
    Field(name, 8 * i, 8, c_name="regs[%d]" % i) for i, name in enumerate(_GREGS)))

# struct fxsave: fx_tw is one byte, so fx_opcode sits at 6; fx_ip/fx_dp are
# 8-byte unions; the x87 registers are padded to 16 bytes each.
FPREGS = Struct("struct fpreg", FXSAVE_H, 512, (
    Field("fx_cw", 0, 2, c_name="fxstate.fx_cw"),
    Field("fx_sw", 2, 2, c_name="fxstate.fx_sw"),
    Field("fx_tw", 4, 1, c_name="fxstate.fx_tw"),
    Field("fx_opcode", 6, 2, c_name="fxstate.fx_opcode"),
    Field("fx_ip", 8, 8, c_name="fxstate.fx_ip"),
    Field("fx_dp", 16, 8, c_name="fxstate.fx_dp"),
    Field("fx_mxcsr", 24, 4, c_name="fxstate.fx_mxcsr"),
    Field("fx_mxcsr_mask", 28, 4, c_name="fxstate.fx_mxcsr_mask"),
    Field("fx_87_ac", 32, 16, count=8, c_name="fxstate.fx_87_ac"),
    Field("fx_xmm", 160, 16, count=16, c_name="fxstate.fx_xmm"),
))

# Moved by PT_GETDBREGS/PT_SETDBREGS; DR4-5 and DR8-15 are reserved.
DBREGS = Struct("struct dbreg", REG_H, 16 * 8, (
    Field("dr", 0, 8, count=16),
))

_FM = common.PT_FIRSTMACH
REQUESTS = common.requests_with({
    "PT_STEP": _FM + 0,
    "PT_GETREGS": _FM + 1,
    "PT_SETREGS": _FM + 2,
    "PT_GETFPREGS": _FM + 3,
    "PT_SETFPREGS": _FM + 4,
    "PT_GETDBREGS": _FM + 5,
    "PT_SETDBREGS": _FM + 6,
    "PT_SETSTEP": _FM + 7,
    "PT_CLEARSTEP": _FM + 8,
    "PT_GETXSTATE": _FM + 9,
    "PT_SETXSTATE": _FM + 10,
}, MD_PTRACE_H)

ABI = Abi(
    os="netbsd",
    arch="amd64",
    byteorder="little",
    pointer_size=8,
    sources=(*common.SOURCES, MD_PTRACE_H.source, REG_H.source, FXSAVE_H.source),
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
    # int3 traps after executing: the stop reports RIP one past it.
    breakpoint=Breakpoint(b"\xcc", pc_adjust=1, si_code="TRAP_BRKPT",
                          source=MD_PTRACE_H.source + " PTRACE_BREAKPOINT, PTRACE_BREAKPOINT_ADJ 1"),
    hardware_step=True,
    extra_constants=(common.PIOD, common.SYSCALLS),
    structs=dict(common.STRUCTS, dbreg=DBREGS),
    libc_symbols=common.LIBC_SYMBOLS,
    requests_since=common.REQUESTS_SINCE,
    notes=common.NOTES,
)
