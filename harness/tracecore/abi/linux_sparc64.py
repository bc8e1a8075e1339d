"""Linux on sparc64 (big-endian, LP64).

Sources (Linux v6.1 as shipped in Debian 12's linux-source-6.1 (6.1.192),
glibc 2.36 as in Debian's libc6-dev-sparc64-cross 2.36-8cross1):
  arch/sparc/kernel/ptrace_64.c        sparc64_regsets[]: REGSET_GENERAL is NT_PRSTATUS,
                                       36 x u64 in the order G0-G7, O0-O7, L0-L7, I0-I7,
                                       TSTATE, TPC, TNPC, Y (genregs64_get); L and I come
                                       from the register window at %sp + STACK_BIAS on the
                                       user stack (regwindow64_get), and genregs64_set
                                       writes them back there; of TSTATE only the
                                       condition codes and the in-syscall bit are taken.
                                       REGSET_FP is NT_PRFPREG, 35 x u64: F0-F63 as 32
                                       doublewords, FSR, GSR, FPRS (fpregs64_get).
                                       arch_ptrace: PTRACE_GETREGS64 (22) copies 19 words
                                       starting at G1, not struct pt_regs, and no Y
                                       (getregs64_get); request 17 is PTRACE_WRITEDATA, so
                                       a detach must use PTRACE_SPARC_DETACH (11).
                                       PTRACE_PEEKUSR answers 0 at addr 0, EIO elsewhere.
  arch/sparc/include/uapi/asm/ptrace.h PTRACE_SPARC_DETACH 11, PTRACE_GETREGS64 22,
                                       PTRACE_SETREGS64 23, PTRACE_GETFPREGS64 25,
                                       PTRACE_SETFPREGS64 26
  glibc sysdeps/unix/sysv/linux/sparc/sys/ptrace.h   the same numbers as user space
                                       names them: PTRACE_DETACH = 11; under __WORDSIZE 64,
                                       PTRACE_GETREGS = 22 ... PTRACE_SETFPREGS = 26
  glibc sysdeps/unix/sysv/linux/sparc/bits/procfs.h  ELF_NGREG 36, elf_gregset_t,
                                       elf_fpregset_t { pr_regs[32], pr_fsr, pr_gsr, pr_fprs }
  include/linux/ptrace.h, kernel/ptrace.c  arch/sparc defines no arch_has_single_step,
                                       so ptrace_resume answers PTRACE_SINGLESTEP with EIO
  arch/sparc/kernel/ttable_64.S        trap 0x101 (tl0_bkpt, "ta 1") -> breakpoint_trap
  arch/sparc/kernel/sys_sparc_64.c     sparc_breakpoint: SIGTRAP, TRAP_BRKPT, si_addr = TPC,
                                       TPC left on the ta (no PC adjustment)
  arch/sparc/kernel/syscalls.S         ret_sys_call: on error O0 = -ret (a positive errno)
                                       and the xcc and icc carry bits set in TSTATE, before
                                       the syscall-exit stop (syscall_trace_leave)
  arch/sparc/include/asm/syscall.h     syscall number in G1, arguments in O0-O5
  arch/sparc/include/uapi/asm/pstate.h TSTATE_XCARRY, TSTATE_ICARRY
  arch/sparc/include/uapi/asm/signal.h signal numbers (SunOS numbering, not asm-generic)
  arch/sparc/include/uapi/asm/errno.h  errnos past 34 (EDEADLK 78, ENOSYS 90)
  arch/sparc/kernel/signal_64.c        static_assert offsetof(siginfo_t, si_trapno) == 0x18
  arch/sparc/kernel/syscalls/syscall.tbl  syscall numbers
  arch/sparc/include/asm/ptrace.h      arch_ptrace_stop: synchronize_user_stack, so a
                                       stopped tracee's windows are on its stack
No C struct spells the NT_PRSTATUS regset: the header confirms only its
size and element (``elf_gregset_t``, 36 unsigned longs), which is what the
probe's wrapper struct checks; the order of the 36 words is the kernel's
(ptrace_64.c above), and the ``load_all`` snippet checks it on a live kernel.
"""

from __future__ import annotations

from . import linux_common as common
from .types import Abi, Breakpoint, Constants, Field, Header, RegisterRoles, RegisterSet, Struct

_K = "linux v6.1 "
PTRACE_64_C = _K + "arch/sparc/kernel/ptrace_64.c"
PTRACE_H = Header("sys/ptrace.h", _K + "arch/sparc/include/uapi/asm/ptrace.h; "
                  "glibc 2.36 sysdeps/unix/sysv/linux/sparc/sys/ptrace.h")
PROCFS_H = Header("sys/procfs.h", PTRACE_64_C + " sparc64_regsets; "
                  "glibc 2.36 sysdeps/unix/sysv/linux/sparc/bits/procfs.h")
SIGNAL_H = Header("signal.h", _K + "arch/sparc/include/uapi/asm/signal.h")
SIGINFO_H = Header("signal.h", _K + "include/uapi/asm-generic/siginfo.h (via arch/sparc/include/uapi/"
                   "asm/siginfo.h); arch/sparc/kernel/signal_64.c")
ERRNO_H = Header("errno.h", _K + "arch/sparc/include/uapi/asm/errno.h, include/uapi/asm-generic/errno-base.h")
PSTATE_H = Header("asm/pstate.h", _K + "arch/sparc/include/uapi/asm/pstate.h")

_GREG_NAMES = tuple(
    ["g%d" % i for i in range(8)] + ["o%d" % i for i in range(8)]
    + ["l%d" % i for i in range(8)] + ["i%d" % i for i in range(8)]
    + ["tstate", "pc", "npc", "y"]
)

# The regset is a bare array of 36 longs; wrapping elf_gregset_t in a struct
# gives the self-check a type it can take offsetof and sizeof of.
REGS = Struct("struct { elf_gregset_t r; }", PROCFS_H, 36 * 8, tuple(
    Field(name, 8 * i, 8, c_name="r[%d]" % i) for i, name in enumerate(_GREG_NAMES)))

FPREGS = Struct("elf_fpregset_t", PROCFS_H, 35 * 8, (
    Field("pr_regs", 0, 8, count=32),
    Field("pr_fsr", 256, 8),
    Field("pr_gsr", 264, 8),
    Field("pr_fprs", 272, 8),
))

REGSET_SIZES = Constants(PROCFS_H, {"ELF_NGREG": 36})

_requests = dict(common.REQUESTS)
# Left out, so nothing asks for them: PTRACE_SINGLESTEP (9) is in both
# headers but the kernel answers EIO; 17, asm-generic's PTRACE_DETACH, is
# PTRACE_WRITEDATA to sparc's arch_ptrace.
del _requests["PTRACE_SINGLESTEP"]
_requests.update({
    "PTRACE_DETACH": 11,
    "PTRACE_GETREGS": 22,
    "PTRACE_SETREGS": 23,
    "PTRACE_GETFPREGS": 25,
    "PTRACE_SETFPREGS": 26,
    "PTRACE_WRITEDATA": 17,
    "PTRACE_READTEXT": 18,
    "PTRACE_WRITETEXT": 19,
})
REQUESTS = Constants(PTRACE_H, _requests)

SIGNALS = Constants(SIGNAL_H, {
    "SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5,
    "SIGABRT": 6, "SIGEMT": 7, "SIGFPE": 8, "SIGKILL": 9, "SIGBUS": 10,
    "SIGSEGV": 11, "SIGSYS": 12, "SIGPIPE": 13, "SIGALRM": 14, "SIGTERM": 15,
    "SIGURG": 16, "SIGSTOP": 17, "SIGTSTP": 18, "SIGCONT": 19, "SIGCHLD": 20,
    "SIGTTIN": 21, "SIGTTOU": 22, "SIGIO": 23, "SIGXCPU": 24, "SIGXFSZ": 25,
    "SIGVTALRM": 26, "SIGPROF": 27, "SIGWINCH": 28, "SIGLOST": 29, "SIGPWR": 29,
    "SIGUSR1": 30, "SIGUSR2": 31,
}, absent=("SIGSTKFLT",))

ERRNOS = Constants(ERRNO_H, dict(common.ERRNOS.values, EDEADLK=78, ENOSYS=90))

# ret_sys_call sets both carries on a failed syscall; either one means error.
SYSCALL_ERROR = Constants(PSTATE_H, {
    "TSTATE_ICARRY": 0x0000000100000000,
    "TSTATE_XCARRY": 0x0000001000000000,
})

# asm-generic siginfo with __ARCH_SI_TRAPNO: the trap number follows si_addr.
SIGINFO_FAULT = Struct("siginfo_t (_fault)", SIGINFO_H, common.SIGINFO_SIZE, (
    Field("si_signo", 0, 4, signed=True),
    Field("si_errno", 4, 4, signed=True),
    Field("si_code", 8, 4, signed=True),
    Field("si_addr", 16, 8, c_name="si_addr"),
    Field("si_trapno", 24, 4, signed=True, c_name="si_trapno"),
))

SYSCALLS = Constants(
    Header("sys/syscall.h", _K + "arch/sparc/kernel/syscalls/syscall.tbl"),
    {"SYS_exit": 1, "SYS_fork": 2, "SYS_read": 3, "SYS_write": 4, "SYS_getpid": 20,
     "SYS_kill": 37, "SYS_execve": 59, "SYS_vfork": 66, "SYS_gettid": 143,
     "SYS_exit_group": 188, "SYS_getppid": 197, "SYS_clone": 217},
)

# Sparc's own trap number for system calls ("ta 0x6d", trap 0x16d,
# tl0_linux64 in arch/sparc/kernel/ttable_64.S).
SYSCALL_TRAP = 0x6D

ABI = Abi(
    os="linux",
    arch="sparc64",
    byteorder="big",
    pointer_size=8,
    sources=(
        "linux v6.1 include/uapi/linux/ptrace.h",
        PTRACE_64_C,
        _K + "arch/sparc/include/uapi/asm/ptrace.h",
        _K + "arch/sparc/include/uapi/asm/signal.h",
        _K + "arch/sparc/include/uapi/asm/errno.h",
        "glibc 2.36",
    ),
    requests=REQUESTS,
    signals=SIGNALS,
    si_codes=common.SI_CODES,
    errnos=ERRNOS,
    wait=common.WAIT,
    events=common.EVENTS,
    # The regset, not PTRACE_GETREGS64: it has the locals and ins, and Y.
    regs=RegisterSet(REGS, get="PTRACE_GETREGSET", set="PTRACE_SETREGSET",
                     note=common.NOTES["NT_PRSTATUS"]),
    fpregs=RegisterSet(FPREGS, get="PTRACE_GETREGSET", set="PTRACE_SETREGSET",
                       note=common.NOTES["NT_PRFPREG"]),
    roles=RegisterRoles(
        pc="pc", npc="npc", sp="o6", retval="o0", fp="i6", syscall_nr="g1",
        args=("o0", "o1", "o2", "o3", "o4", "o5"),
    ),
    # ta 1 (0x91d02001), stored big-endian; sparc_breakpoint leaves TPC on it.
    breakpoint=Breakpoint(b"\x91\xd0\x20\x01", pc_adjust=0, si_code="TRAP_BRKPT",
                          source=_K + "arch/sparc/kernel/sys_sparc_64.c sparc_breakpoint "
                                 "(trap 0x101, ttable_64.S tl0_bkpt)"),
    hardware_step=False,
    extra_constants=(common.NOTES, common.SYSCALL_INFO_OPS, SYSCALLS, REGSET_SIZES, SYSCALL_ERROR),
    structs={
        "siginfo": common.SIGINFO,
        "siginfo_fault": SIGINFO_FAULT,
        "syscall_info": common.SYSCALL_INFO,
        "syscall_info_exit": common.SYSCALL_INFO_EXIT,
    },
    notes=(
        "No PTRACE_SINGLESTEP (the kernel answers EIO): single-step is done in software "
        "(breakpoints at NPC, or past an annulled delay slot).",
        "Setting the PC must set NPC = PC + 4, or execution resumes at the old NPC.",
        "Registers move with PTRACE_GETREGSET/NT_PRSTATUS; L0-L7 and I0-I7 are the window "
        "saved on the user stack, and a SETREGSET writes them there.",
        "Detach is request 11 (PTRACE_SPARC_DETACH); 17 is PTRACE_WRITEDATA here.",
        "A failed syscall returns a positive errno in O0 with the TSTATE carry bits set.",
        "%sp and %fp carry a stack bias of 2047.",
    ),
)
