"""OpenBSD on arm64 (trapline's aarch64).

Sources, beyond those in openbsd_common (openbsd/src, RCS ids):
  sys/arch/arm64/include/ptrace.h as stored in NCommander/openbsd-src-with-branches
                                  (commit 197dff28; its id line still reads 1.1
                                  2016/12/17, the revision openbsd/src holds here, which
                                  stops at SETFPREGS): PT_STEP = PT_FIRSTMACH + 0,
                                  GETREGS +1, SETREGS +2, GETFPREGS +3, SETFPREGS +4,
                                  PT_PACMASK +5, and process_get_pacmask() in _KERNEL
  sys/arch/arm64/include/reg.h    1.2 2017/03/21: struct reg { r_reg[30], r_lr,
                                  r_sp, r_pc, r_spsr, r_tpidr } = 280 bytes;
                                  struct fpreg { fp_registers[64], fp_sr, fp_cr } = 520
  sys/arch/arm64/arm64/trap.c     1.54 2025/08/01: do_el0_sync EXCP_BRK ->
                                  trapsignal(SIGTRAP, TRAP_BRKPT) with tf_elr untouched
                                  (any BRK immediate; the PC stays on the brk);
                                  EXCP_SOFTSTP_EL0 -> TRAP_TRACE
  sys/kern/sys_process.c 1.106 2025/02/17: PT_PACMASK is an OUT request copying
                                  out register_t u_pacmask[2] (16 bytes), data must
                                  be 16; ptrace_ustate fills both elements from
                                  process_get_pacmask(t), so the two are equal
Which release first shipped PT_PACMASK was not read; the catalog's oldest
OpenBSD (7.5) is assumed to have it, and the self-check confirms it per target.
"""

from __future__ import annotations

from . import openbsd_common as common
from .types import Abi, Breakpoint, Field, Header, RegisterRoles, RegisterSet, Struct

_REPO = "openbsd/src "
MD_PTRACE_H = Header("machine/ptrace.h", "NCommander/openbsd-src-with-branches "
                     "sys/arch/arm64/include/ptrace.h (commit 197dff28, id line 1.1 2016/12/17)")
REG_H = Header("machine/reg.h", _REPO + "sys/arch/arm64/include/reg.h 1.2 2017/03/21")
TRAP_C = _REPO + "sys/arch/arm64/arm64/trap.c 1.54 2025/08/01"

REGS = Struct("struct reg", REG_H, 35 * 8, tuple(
    [Field("x%d" % i, 8 * i, 8, c_name="r_reg[%d]" % i) for i in range(30)]
    + [Field("lr", 240, 8, c_name="r_lr"), Field("sp", 248, 8, c_name="r_sp"),
       Field("pc", 256, 8, c_name="r_pc"), Field("spsr", 264, 8, c_name="r_spsr"),
       Field("tpidr", 272, 8, c_name="r_tpidr")]
))

FPREGS = Struct("struct fpreg", REG_H, 520, (
    Field("fp_registers", 0, 8, count=64),
    Field("fp_sr", 512, 4),
    Field("fp_cr", 516, 4),
))

_FM = common.PT_FIRSTMACH
REQUESTS = common.requests_with({
    "PT_STEP": _FM + 0,
    "PT_GETREGS": _FM + 1,
    "PT_SETREGS": _FM + 2,
    "PT_GETFPREGS": _FM + 3,
    "PT_SETFPREGS": _FM + 4,
    # register_t[2] out, data == 16 (sys_process.c 1.106); OpenbsdBackend.pacmask reads it.
    "PT_PACMASK": _FM + 5,
}, MD_PTRACE_H)

ABI = Abi(
    os="openbsd",
    arch="aarch64",
    byteorder="little",
    pointer_size=8,
    sources=(*common.SOURCES, MD_PTRACE_H.source, REG_H.source, TRAP_C),
    requests=REQUESTS,
    signals=common.SIGNALS,
    si_codes=common.SI_CODES,
    errnos=common.ERRNOS,
    wait=common.WAIT,
    events=common.EVENTS,
    regs=RegisterSet(REGS, get="PT_GETREGS", set="PT_SETREGS"),
    fpregs=RegisterSet(FPREGS, get="PT_GETFPREGS", set="PT_SETFPREGS"),
    # r_reg has 30 entries: x30 is r_lr, the frame pointer is x29.
    roles=RegisterRoles(
        pc="pc", sp="sp", retval="x0", fp="x29",
        args=("x0", "x1", "x2", "x3", "x4", "x5"),
    ),
    # brk #0 (0xd4200000), little-endian.  The kernel takes any BRK.
    breakpoint=Breakpoint(b"\x00\x00\x20\xd4", pc_adjust=0, si_code=None,
                          source=TRAP_C + " do_el0_sync EXCP_BRK (elr unchanged; "
                                 "TRAP_BRKPT stays in the kernel: no siginfo request)"),
    hardware_step=True,
    extra_constants=(common.PIOD, common.SYSCALLS),
    structs=common.STRUCTS,
    libc_symbols=common.LIBC_SYMBOLS,
    notes=(
        *common.NOTES,
        "PT_PACMASK (37) copies out two register_t (data must be 16); sys_process.c 1.106 "
        "puts the same process_get_pacmask() value in both.",
    ),
)
