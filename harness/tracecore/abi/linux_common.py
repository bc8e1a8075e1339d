"""Linux facts shared by amd64 and aarch64.

Sources (read from the Linux v6.1 tree, as shipped in Debian 12's
linux-source-6.1, and glibc 2.36):
  include/uapi/linux/ptrace.h           requests, PTRACE_O_*, PTRACE_EVENT_*
  include/uapi/asm-generic/signal.h     signal numbers (x86's asm/signal.h agrees)
  include/uapi/asm-generic/siginfo.h    si_code values, siginfo_t layout
  include/uapi/asm-generic/errno-base.h, errno.h   errno values
  include/uapi/linux/wait.h, glibc bits/waitflags.h, bits/waitstatus.h
  include/uapi/linux/elf.h              NT_PRSTATUS, NT_PRFPREG
sparc64 Linux differs in signals and errnos and has its own module.
"""

from __future__ import annotations

from .types import Constants, Field, Header, Struct

PTRACE_H = Header("sys/ptrace.h",
                  "linux v6.1 include/uapi/linux/ptrace.h; glibc 2.36 sysdeps/unix/sysv/linux/sys/ptrace.h")
SIGNAL_H = Header("signal.h", "linux v6.1 include/uapi/asm-generic/signal.h")
SIGINFO_H = Header("signal.h", "linux v6.1 include/uapi/asm-generic/siginfo.h")
ERRNO_H = Header("errno.h", "linux v6.1 include/uapi/asm-generic/errno-base.h, errno.h")
WAIT_H = Header("sys/wait.h", "linux v6.1 include/uapi/linux/wait.h; glibc 2.36 bits/waitflags.h, bits/waitstatus.h")
ELF_H = Header("elf.h", "linux v6.1 include/uapi/linux/elf.h")

# Machine-independent requests; each arch module adds its own.
REQUESTS = {
    "PTRACE_TRACEME": 0,
    "PTRACE_PEEKTEXT": 1,
    "PTRACE_PEEKDATA": 2,
    "PTRACE_PEEKUSER": 3,
    "PTRACE_POKETEXT": 4,
    "PTRACE_POKEDATA": 5,
    "PTRACE_POKEUSER": 6,
    "PTRACE_CONT": 7,
    "PTRACE_KILL": 8,
    "PTRACE_SINGLESTEP": 9,
    "PTRACE_ATTACH": 16,
    "PTRACE_DETACH": 17,
    "PTRACE_SYSCALL": 24,
    "PTRACE_SETOPTIONS": 0x4200,
    "PTRACE_GETEVENTMSG": 0x4201,
    "PTRACE_GETSIGINFO": 0x4202,
    "PTRACE_SETSIGINFO": 0x4203,
    "PTRACE_GETREGSET": 0x4204,
    "PTRACE_SETREGSET": 0x4205,
    "PTRACE_SEIZE": 0x4206,
    "PTRACE_INTERRUPT": 0x4207,
    "PTRACE_LISTEN": 0x4208,
    "PTRACE_PEEKSIGINFO": 0x4209,
    "PTRACE_GETSIGMASK": 0x420A,
    "PTRACE_SETSIGMASK": 0x420B,
    "PTRACE_GET_SYSCALL_INFO": 0x420E,
}

EVENTS = Constants(PTRACE_H, {
    "PTRACE_O_TRACESYSGOOD": 0x01,
    "PTRACE_O_TRACEFORK": 0x02,
    "PTRACE_O_TRACEVFORK": 0x04,
    "PTRACE_O_TRACECLONE": 0x08,
    "PTRACE_O_TRACEEXEC": 0x10,
    "PTRACE_O_TRACEVFORKDONE": 0x20,
    "PTRACE_O_TRACEEXIT": 0x40,
    "PTRACE_O_TRACESECCOMP": 0x80,
    "PTRACE_O_EXITKILL": 0x100000,
    "PTRACE_EVENT_FORK": 1,
    "PTRACE_EVENT_VFORK": 2,
    "PTRACE_EVENT_CLONE": 3,
    "PTRACE_EVENT_EXEC": 4,
    "PTRACE_EVENT_VFORK_DONE": 5,
    "PTRACE_EVENT_EXIT": 6,
    "PTRACE_EVENT_SECCOMP": 7,
    "PTRACE_EVENT_STOP": 128,
})

SIGNALS = Constants(SIGNAL_H, {
    "SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5,
    "SIGABRT": 6, "SIGBUS": 7, "SIGFPE": 8, "SIGKILL": 9, "SIGUSR1": 10,
    "SIGSEGV": 11, "SIGUSR2": 12, "SIGPIPE": 13, "SIGALRM": 14, "SIGTERM": 15,
    "SIGSTKFLT": 16, "SIGCHLD": 17, "SIGCONT": 18, "SIGSTOP": 19, "SIGTSTP": 20,
    "SIGTTIN": 21, "SIGTTOU": 22, "SIGURG": 23, "SIGXCPU": 24, "SIGXFSZ": 25,
    "SIGVTALRM": 26, "SIGPROF": 27, "SIGWINCH": 28, "SIGIO": 29, "SIGPWR": 30,
    "SIGSYS": 31,
})

SI_CODES = Constants(SIGINFO_H, {
    "SI_USER": 0,
    "SI_KERNEL": 0x80,
    "SI_QUEUE": -1,
    "SI_TIMER": -2,
    "SI_MESGQ": -3,
    "SI_ASYNCIO": -4,
    "SI_SIGIO": -5,
    "SI_TKILL": -6,
    "TRAP_BRKPT": 1,
    "TRAP_TRACE": 2,
    "TRAP_BRANCH": 3,
    "TRAP_HWBKPT": 4,
    "TRAP_UNK": 5,
    "CLD_EXITED": 1,
    "CLD_KILLED": 2,
    "CLD_DUMPED": 3,
    "CLD_TRAPPED": 4,
    "CLD_STOPPED": 5,
    "CLD_CONTINUED": 6,
    "SEGV_MAPERR": 1,
    "SEGV_ACCERR": 2,
})

ERRNOS = Constants(ERRNO_H, {
    "EPERM": 1, "ENOENT": 2, "ESRCH": 3, "EINTR": 4, "EIO": 5,
    "ECHILD": 10, "EAGAIN": 11, "ENOMEM": 12, "EACCES": 13, "EFAULT": 14,
    "EBUSY": 16, "EINVAL": 22, "EDEADLK": 35, "ENOSYS": 38,
})

WAIT = Constants(WAIT_H, {
    "WNOHANG": 0x00000001,
    "WUNTRACED": 0x00000002,
    "WEXITED": 0x00000004,
    "WCONTINUED": 0x00000008,
    "WNOWAIT": 0x01000000,
    "__WNOTHREAD": 0x20000000,
    "__WALL": 0x40000000,
    "__WCLONE": 0x80000000,
    # bits/waitstatus.h: the low 7 bits are 0x7f for a stopped child, the
    # core flag is 0x80, and ptrace events sit above bit 16 (status >> 16).
    "_WSTOPPED": 0x7F,
    "WCOREFLAG": 0x80,
    "_WCONTINUED": 0xFFFF,
})

NOTES = Constants(ELF_H, {"NT_PRSTATUS": 1, "NT_PRFPREG": 2})

# siginfo_t on LP64: three ints, padding, then the union at 16.  Fields used
# by the core; the union members overlap, so each overlay is its own Struct.
SIGINFO_SIZE = 128
SIGINFO = Struct("siginfo_t", SIGINFO_H, SIGINFO_SIZE, (
    Field("si_signo", 0, 4, signed=True),
    Field("si_errno", 4, 4, signed=True),
    Field("si_code", 8, 4, signed=True),
    Field("si_pid", 16, 4, signed=True, c_name="si_pid"),
    Field("si_uid", 20, 4, c_name="si_uid"),
    Field("si_status", 24, 4, signed=True, c_name="si_status"),
))
SIGINFO_FAULT = Struct("siginfo_t", SIGINFO_H, SIGINFO_SIZE, (
    Field("si_signo", 0, 4, signed=True),
    Field("si_errno", 4, 4, signed=True),
    Field("si_code", 8, 4, signed=True),
    Field("si_addr", 16, 8, c_name="si_addr"),
))

# PTRACE_GET_SYSCALL_INFO (Linux >= 5.3) says whether a syscall stop is the
# entry or the exit, so the core never has to guess by toggling.
SYSCALL_INFO_OPS = Constants(PTRACE_H, {
    "PTRACE_SYSCALL_INFO_NONE": 0,
    "PTRACE_SYSCALL_INFO_ENTRY": 1,
    "PTRACE_SYSCALL_INFO_EXIT": 2,
    "PTRACE_SYSCALL_INFO_SECCOMP": 3,
})
SYSCALL_INFO = Struct("struct ptrace_syscall_info", PTRACE_H, 88, (
    Field("op", 0, 1),
    Field("arch", 4, 4),
    Field("instruction_pointer", 8, 8),
    Field("stack_pointer", 16, 8),
    Field("nr", 24, 8, c_name="entry.nr"),
    Field("args", 32, 8, count=6, c_name="entry.args"),
))
SYSCALL_INFO_EXIT = Struct("struct ptrace_syscall_info", PTRACE_H, 88, (
    Field("op", 0, 1),
    Field("rval", 24, 8, signed=True, c_name="exit.rval"),
    Field("is_error", 32, 1, c_name="exit.is_error"),
))
