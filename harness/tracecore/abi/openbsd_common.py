"""OpenBSD facts shared by amd64, arm64 (trapline: aarch64) and sparc64 (all LP64).

Sources, all in the openbsd/src repository (RCS id of the revision read):
  sys/sys/ptrace.h        1.16 2020/03/16: PT_* 0..16, PTRACE_FORK 0x2 (the only
                          event bit), PIOD_* 1..5, struct ptrace_io_desc,
                          ptrace_event, ptrace_state {pe_report_event,
                          pe_other_pid, pe_tid}, ptrace_thread_state {pts_tid}
  sys/kern/sys_process.c  1.106 2025/02/17: sys_ptrace checks data == sizeof for
                          struct requests (PT_IO exempt); PT_GET_PROCESS_STATE
                          fills pe_tid with the trapped thread's tid +
                          THREAD_PID_OFFSET; PT_GET_THREAD_NEXT ends with pts_tid -1;
                          there is no siginfo request at all
  sys/sys/siginfo.h       1.14 2024/02/21: si_code values, siginfo_t (136 bytes on LP64).
                          Its _proc member is { pid_t _pid; uid_t _uid; union
                          { {sigval _value} _kill; {clock_t _utime, _stime; int
                          _status} _cld } _pdata }.  The older 1.9 2005/12/13 kept
                          _uid inside _pdata._kill and ordered _cld {utime, status,
                          stime}; the offsets here follow 1.14 (LP64: _pid 16,
                          _uid 20, _pdata 8-aligned at 24, so utime 24, stime 32,
                          status 40; _fault: _addr 16, _trapno 24)
  sys/sys/proc.h          1.397 2025/08/18: THREAD_PID_OFFSET 100000 (already so in
                          1.263 2019/01/06): a thread's ptrace id is p_tid + it
  sys/sys/_types.h        1.10 2022/08/06: clock_t is int64_t (si_utime, si_stime)
  sys/sys/signal.h        1.13 2002/03/15: signal numbers 1..31
  sys/sys/errno.h         1.12 2004/07/13: errno values
  sys/sys/wait.h          1.20 2022/12/19: wait options and status encoding
  sys/kern/syscalls.master 1.176 2017/04/28: syscall numbers

Not taken (no revision read that defines it): SIGTHR.
"""

from __future__ import annotations

from typing import Mapping, Tuple

from .types import Constants, Field, Header, Struct

_REPO = "openbsd/src "
PTRACE_H = Header("sys/ptrace.h", _REPO + "sys/sys/ptrace.h 1.16 2020/03/16")
SYS_PROCESS_C = _REPO + "sys/kern/sys_process.c 1.106 2025/02/17"
SIGINFO_H = Header("sys/siginfo.h", _REPO + "sys/sys/siginfo.h 1.14 2024/02/21")
SIGNAL_H = Header("signal.h", _REPO + "sys/sys/signal.h 1.13 2002/03/15")
ERRNO_H = Header("errno.h", _REPO + "sys/sys/errno.h 1.12 2004/07/13")
WAIT_H = Header("sys/wait.h", _REPO + "sys/sys/wait.h 1.20 2022/12/19")
SYSCALLS_H = Header("sys/syscall.h", _REPO + "sys/kern/syscalls.master 1.176 2017/04/28")
PROC_H = Header("sys/proc.h", _REPO + "sys/sys/proc.h 1.397 2025/08/18")

# Thread ids in pe_tid / pts_tid, and the pid a thread request takes, are
# p_tid + this; sys_process.c 1.106 treats any pid above it as a thread.
THREAD_PID_OFFSET = 100000

REQUESTS = {
    "PT_TRACE_ME": 0,
    "PT_READ_I": 1,
    "PT_READ_D": 2,
    "PT_WRITE_I": 4,
    "PT_WRITE_D": 5,
    "PT_CONTINUE": 7,
    "PT_KILL": 8,
    "PT_ATTACH": 9,
    "PT_DETACH": 10,
    "PT_IO": 11,
    "PT_SET_EVENT_MASK": 12,
    "PT_GET_EVENT_MASK": 13,
    "PT_GET_PROCESS_STATE": 14,
    "PT_GET_THREAD_FIRST": 15,
    "PT_GET_THREAD_NEXT": 16,
}
# Not in REQUESTS: it equals the first MD request number.
PT_FIRSTMACH = 32

# Requests OpenBSD does not have, said once so the self-check can confirm.
ABSENT_REQUESTS = ("PT_SYSCALL", "PT_GET_SIGINFO", "PT_SET_SIGINFO", "PT_LWPINFO",
                   "PT_SUSPEND", "PT_RESUME")

EVENTS = Constants(PTRACE_H, {"PTRACE_FORK": 0x0002},
                   absent=("PTRACE_VFORK", "PTRACE_LWP_CREATE", "PTRACE_LWP_EXIT"))

PIOD = Constants(PTRACE_H, {
    "PIOD_READ_D": 1,
    "PIOD_WRITE_D": 2,
    "PIOD_READ_I": 3,
    "PIOD_WRITE_I": 4,
    "PIOD_READ_AUXV": 5,
})

SIGNALS = Constants(SIGNAL_H, {
    "SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5,
    "SIGABRT": 6, "SIGEMT": 7, "SIGFPE": 8, "SIGKILL": 9, "SIGBUS": 10,
    "SIGSEGV": 11, "SIGSYS": 12, "SIGPIPE": 13, "SIGALRM": 14, "SIGTERM": 15,
    "SIGURG": 16, "SIGSTOP": 17, "SIGTSTP": 18, "SIGCONT": 19, "SIGCHLD": 20,
    "SIGTTIN": 21, "SIGTTOU": 22, "SIGIO": 23, "SIGXCPU": 24, "SIGXFSZ": 25,
    "SIGVTALRM": 26, "SIGPROF": 27, "SIGWINCH": 28, "SIGINFO": 29,
    "SIGUSR1": 30, "SIGUSR2": 31,
})

# What the kernel puts in a signal handler's siginfo; a tracer never sees
# these through ptrace (decode what waitpid gives, never invent a code).
SI_CODES = Constants(SIGINFO_H, {
    "SI_NOINFO": 32767,
    "SI_USER": 0,
    "SI_LWP": -1,
    "SI_QUEUE": -2,
    "SI_TIMER": -3,
    "TRAP_BRKPT": 1,
    "TRAP_TRACE": 2,
    "CLD_EXITED": 1,
    "CLD_KILLED": 2,
    "CLD_DUMPED": 3,
    "CLD_TRAPPED": 4,
    "CLD_STOPPED": 5,
    "CLD_CONTINUED": 6,
    "SEGV_MAPERR": 1,
    "SEGV_ACCERR": 2,
    "BUS_ADRALN": 1,
    "BUS_ADRERR": 2,
    "BUS_OBJERR": 3,
    "ILL_ILLOPC": 1,
    "ILL_PRVOPC": 5,
    "ILL_BTCFI": 9,
}, absent=("TRAP_EXEC", "TRAP_CHLD", "TRAP_LWP", "TRAP_SCE", "TRAP_SCX"))

ERRNOS = Constants(ERRNO_H, {
    "EPERM": 1, "ENOENT": 2, "ESRCH": 3, "EINTR": 4, "EIO": 5,
    "ECHILD": 10, "EDEADLK": 11, "ENOMEM": 12, "EACCES": 13, "EFAULT": 14,
    "EBUSY": 16, "EINVAL": 22, "EAGAIN": 35, "EOPNOTSUPP": 45, "ENOSYS": 78,
})

WAIT = Constants(WAIT_H, {
    "WNOHANG": 0x01,
    "WUNTRACED": 0x02,
    "WEXITED": 0x04,
    "WCONTINUED": 0x08,
    "WNOWAIT": 0x10,
    "WTRAPPED": 0x20,
    "_WSTOPPED": 0o177,
    "WCOREFLAG": 0o200,
    # WIFCONTINUED(x): (x & 0177777) == 0177777.
    "_WCONTINUED": 0o177777,
})

SYSCALLS = Constants(SYSCALLS_H, {
    "SYS_exit": 1, "SYS_fork": 2, "SYS_read": 3, "SYS_write": 4,
    "SYS_getpid": 20, "SYS_ptrace": 26, "SYS_getppid": 39, "SYS_execve": 59,
    "SYS_vfork": 66, "SYS_kill": 122,
})

# ptrace(int, pid_t, caddr_t, int): the data argument is an int.
LIBC_SYMBOLS = {"ptrace": "ptrace", "ptrace_data": "int"}

# -- structs (LP64) ---------------------------------------------------------------
IO_DESC = Struct("struct ptrace_io_desc", PTRACE_H, 32, (
    Field("piod_op", 0, 4, signed=True),
    Field("piod_offs", 8, 8),
    Field("piod_addr", 16, 8),
    Field("piod_len", 24, 8),
))

EVENT = Struct("struct ptrace_event", PTRACE_H, 4, (
    Field("pe_set_event", 0, 4, signed=True),
))

# Three plain fields, not NetBSD's union: pe_other_pid and pe_tid side by side.
STATE = Struct("struct ptrace_state", PTRACE_H, 12, (
    Field("pe_report_event", 0, 4, signed=True),
    Field("pe_other_pid", 4, 4, signed=True),
    Field("pe_tid", 8, 4, signed=True),
))

THREAD_STATE = Struct("struct ptrace_thread_state", PTRACE_H, 4, (
    Field("pts_tid", 0, 4, signed=True),
))

# siginfo_t: three ints, then a union holding a pointer, so the union starts
# at 16; the union is int _pad[29] (116 bytes) rounded to 120: 136 in all.
SIGINFO_SIZE = 136
_SI_HEAD = (
    Field("si_signo", 0, 4, signed=True),
    Field("si_code", 4, 4, signed=True),
    Field("si_errno", 8, 4, signed=True),
)
SIGINFO = Struct("siginfo_t", SIGINFO_H, SIGINFO_SIZE, (
    *_SI_HEAD,
    Field("si_pid", 16, 4, signed=True, c_name="_data._proc._pid"),
    Field("si_uid", 20, 4, c_name="_data._proc._uid"),
    Field("si_utime", 24, 8, signed=True, c_name="_data._proc._pdata._cld._utime"),
    Field("si_stime", 32, 8, signed=True, c_name="_data._proc._pdata._cld._stime"),
    Field("si_status", 40, 4, signed=True, c_name="_data._proc._pdata._cld._status"),
))
SIGINFO_FAULT = Struct("siginfo_t", SIGINFO_H, SIGINFO_SIZE, (
    *_SI_HEAD,
    Field("si_addr", 16, 8, c_name="_data._fault._addr"),
    Field("si_trapno", 24, 4, signed=True, c_name="_data._fault._trapno"),
))

STRUCTS = {
    "ptrace_io_desc": IO_DESC,
    "ptrace_event": EVENT,
    "ptrace_state": STATE,
    "ptrace_thread_state": THREAD_STATE,
    "siginfo": SIGINFO,
    "siginfo_fault": SIGINFO_FAULT,
}

NOTES = (
    "No siginfo through ptrace: a SIGTRAP stop has no si_code for the tracer.",
    "PTRACE_FORK is the only event; pe_tid names the thread that trapped "
    "(tid + THREAD_PID_OFFSET = 100000, usable as the pid of a thread request).",
    "PT_READ_*/PT_WRITE_* move an int (4 bytes), not a word.",
)

SOURCES = (
    PTRACE_H.source, SYS_PROCESS_C, SIGINFO_H.source, SIGNAL_H.source,
    ERRNO_H.source, WAIT_H.source, SYSCALLS_H.source, PROC_H.source,
)


def requests_with(machine: Mapping[str, int], md_header: Header, absent: Tuple[str, ...] = ()) -> Constants:
    """The MI requests plus one arch's PT_FIRSTMACH + n ones, citing both headers."""
    both = Header("sys/ptrace.h", "%s; %s" % (PTRACE_H.source, md_header.source))
    return Constants(both, dict(REQUESTS, **machine), absent=(*ABSENT_REQUESTS, *absent))
