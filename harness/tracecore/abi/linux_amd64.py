"""Linux on amd64 (x86_64).

Sources, beyond those in linux_common:
  linux v6.1 arch/x86/include/uapi/asm/ptrace-abi.h   PTRACE_GETREGS 12 ... PTRACE_SINGLEBLOCK 33
  linux v6.1 arch/x86/include/asm/user_64.h           struct user_regs_struct (27 longs, 216 bytes),
                                                      struct user_i387_struct (512 bytes)
  glibc 2.36 sysdeps/unix/sysv/linux/x86/sys/user.h   the same layouts, as user space sees them
  linux v6.1 arch/x86/kernel/traps.c (do_int3_user)   int3 -> SIGTRAP, si_code SI_KERNEL, RIP after the int3
  linux v6.1 arch/x86/entry/syscalls/syscall_64.tbl   getpid 39, getppid 110
"""

from __future__ import annotations

from . import linux_common as common
from .types import Abi, Breakpoint, Constants, Field, Header, RegisterRoles, RegisterSet, Struct

USER_H = Header("sys/user.h", "linux v6.1 arch/x86/include/asm/user_64.h; glibc 2.36 x86/sys/user.h")

_GPRS = (
    "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
    "rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags",
    "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs",
)

REGS = Struct("struct user_regs_struct", USER_H, 27 * 8,
              tuple(Field(name, 8 * i, 8) for i, name in enumerate(_GPRS)))

FPREGS = Struct("struct user_fpregs_struct", USER_H, 512, (
    Field("cwd", 0, 2),
    Field("swd", 2, 2),
    Field("ftw", 4, 2),
    Field("fop", 6, 2),
    Field("rip", 8, 8),
    Field("rdp", 16, 8),
    Field("mxcsr", 24, 4),
    Field("mxcr_mask", 28, 4),
    Field("st_space", 32, 4, count=32),
    Field("xmm_space", 160, 4, count=64),
))

REQUESTS = Constants(common.PTRACE_H, dict(common.REQUESTS, **{
    "PTRACE_GETREGS": 12,
    "PTRACE_SETREGS": 13,
    "PTRACE_GETFPREGS": 14,
    "PTRACE_SETFPREGS": 15,
    "PTRACE_GETFPXREGS": 18,
    "PTRACE_SETFPXREGS": 19,
    "PTRACE_ARCH_PRCTL": 30,
    "PTRACE_SYSEMU": 31,
    "PTRACE_SYSEMU_SINGLESTEP": 32,
    "PTRACE_SINGLEBLOCK": 33,
}))

SYSCALLS = Constants(
    Header("sys/syscall.h", "linux v6.1 arch/x86/entry/syscalls/syscall_64.tbl"),
    {"SYS_read": 0, "SYS_write": 1, "SYS_getpid": 39, "SYS_fork": 57, "SYS_vfork": 58,
     "SYS_execve": 59, "SYS_exit": 60, "SYS_kill": 62, "SYS_getppid": 110,
     "SYS_gettid": 186, "SYS_exit_group": 231},
)

ABI = Abi(
    os="linux",
    arch="amd64",
    byteorder="little",
    pointer_size=8,
    sources=(
        "linux v6.1 include/uapi/linux/ptrace.h",
        "linux v6.1 arch/x86/include/uapi/asm/ptrace-abi.h",
        "linux v6.1 arch/x86/include/asm/user_64.h",
        "glibc 2.36",
    ),
    requests=REQUESTS,
    signals=common.SIGNALS,
    si_codes=common.SI_CODES,
    errnos=common.ERRNOS,
    wait=common.WAIT,
    events=common.EVENTS,
    regs=RegisterSet(REGS, get="PTRACE_GETREGS", set="PTRACE_SETREGS"),
    fpregs=RegisterSet(FPREGS, get="PTRACE_GETFPREGS", set="PTRACE_SETFPREGS"),
    roles=RegisterRoles(
        pc="rip", sp="rsp", retval="rax", fp="rbp", syscall_nr="orig_rax",
        args=("rdi", "rsi", "rdx", "r10", "r8", "r9"),
    ),
    # int3 traps after executing, so the reported RIP is one past it.
    breakpoint=Breakpoint(b"\xcc", pc_adjust=1, si_code="SI_KERNEL",
                          source="linux v6.1 arch/x86/kernel/traps.c do_int3_user"),
    hardware_step=True,
    extra_constants=(common.NOTES, common.SYSCALL_INFO_OPS, SYSCALLS),
    structs={
        "siginfo": common.SIGINFO,
        "siginfo_fault": common.SIGINFO_FAULT,
        "syscall_info": common.SYSCALL_INFO,
        "syscall_info_exit": common.SYSCALL_INFO_EXIT,
    },
)
