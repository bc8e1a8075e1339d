"""Linux on aarch64.

Sources, beyond those in linux_common:
  linux v6.1 arch/arm64/include/uapi/asm/ptrace.h   struct user_pt_regs (x0-x30, sp, pc, pstate: 272 bytes),
                                                    struct user_fpsimd_state (528 bytes)
  linux v6.1 arch/arm64/kernel/ptrace.c             no PTRACE_GETREGS: registers move through
                                                    PTRACE_GETREGSET with NT_PRSTATUS / NT_PRFPREG
  linux v6.1 arch/arm64/kernel/debug-monitors.c     brk #0 -> SIGTRAP TRAP_BRKPT, PC on the brk
                                                    (brk_handler); single step -> TRAP_TRACE
  linux v6.1 include/uapi/asm-generic/unistd.h      getpid 172, getppid 173
"""

from __future__ import annotations

from . import linux_common as common
from .types import Abi, Breakpoint, Constants, Field, Header, RegisterRoles, RegisterSet, Struct

PTRACE_ASM_H = Header("asm/ptrace.h", "linux v6.1 arch/arm64/include/uapi/asm/ptrace.h")

REGS = Struct("struct user_pt_regs", PTRACE_ASM_H, 34 * 8, tuple(
    [Field("x%d" % i, 8 * i, 8, c_name="regs[%d]" % i) for i in range(31)]
    + [Field("sp", 248, 8), Field("pc", 256, 8), Field("pstate", 264, 8)]
))

FPREGS = Struct("struct user_fpsimd_state", PTRACE_ASM_H, 528, (
    Field("vregs", 0, 16, count=32),
    Field("fpsr", 512, 4),
    Field("fpcr", 516, 4),
))

REQUESTS = Constants(common.PTRACE_H, dict(common.REQUESTS),
                     absent=("PTRACE_GETREGS", "PTRACE_SETREGS"))

SYSCALLS = Constants(
    Header("sys/syscall.h", "linux v6.1 include/uapi/asm-generic/unistd.h"),
    {"SYS_read": 63, "SYS_write": 64, "SYS_exit": 93, "SYS_exit_group": 94,
     "SYS_kill": 129, "SYS_getpid": 172, "SYS_getppid": 173, "SYS_gettid": 178,
     "SYS_clone": 220, "SYS_execve": 221},
)

ABI = Abi(
    os="linux",
    arch="aarch64",
    byteorder="little",
    pointer_size=8,
    sources=(
        "linux v6.1 include/uapi/linux/ptrace.h",
        "linux v6.1 arch/arm64/include/uapi/asm/ptrace.h",
        "glibc 2.36",
    ),
    requests=REQUESTS,
    signals=common.SIGNALS,
    si_codes=common.SI_CODES,
    errnos=common.ERRNOS,
    wait=common.WAIT,
    events=common.EVENTS,
    regs=RegisterSet(REGS, get="PTRACE_GETREGSET", set="PTRACE_SETREGSET",
                     note=common.NOTES["NT_PRSTATUS"]),
    fpregs=RegisterSet(FPREGS, get="PTRACE_GETREGSET", set="PTRACE_SETREGSET",
                       note=common.NOTES["NT_PRFPREG"]),
    roles=RegisterRoles(
        pc="pc", sp="sp", retval="x0", fp="x29", syscall_nr="x8",
        args=("x0", "x1", "x2", "x3", "x4", "x5"),
    ),
    # brk #0 (0xd4200000), stored little-endian; the PC stays on the brk.
    breakpoint=Breakpoint(b"\x00\x00\x20\xd4", pc_adjust=0, si_code="TRAP_BRKPT",
                          source="linux v6.1 arch/arm64/kernel/debug-monitors.c brk_handler"),
    hardware_step=True,
    extra_constants=(common.NOTES, common.SYSCALL_INFO_OPS, SYSCALLS),
    structs={
        "siginfo": common.SIGINFO,
        "siginfo_fault": common.SIGINFO_FAULT,
        "syscall_info": common.SYSCALL_INFO,
        "syscall_info_exit": common.SYSCALL_INFO_EXIT,
    },
)
