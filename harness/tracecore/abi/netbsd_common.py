"""NetBSD facts shared by amd64, aarch64 and sparc64 (all LP64).

Sources, all in the NetBSD/src repository (RCS id of the revision read):
  sys/sys/ptrace.h        1.75 2022/06/08 (netbsd-10 and current): PT_* 0..27,
                          PTRACE_* event bits, PIOD_*, struct ptrace_event,
                          ptrace_state, ptrace_io_desc, ptrace_lwpinfo (legacy),
                          ptrace_lwpstatus, ptrace_siginfo
  sys/sys/siginfo.h       1.34 2019/09/30: struct _ksiginfo, siginfo_t (a
                          128-byte union), si_code values
  sys/sys/sigtypes.h      1.7 2005/09/13: sigset_t is uint32_t __bits[4]
  sys/sys/signal.h        1.24 1997/11/25: signal numbers 1..31
  sys/sys/errno.h         1.38.16.1 2006/12/10: errno values
  sys/sys/wait.h          1.29 2016/04/02: wait options, status encoding and
                          the __wait450 rename of wait4
  include/signal.h        1.48 2006/01/07: __sigaction14, __sigprocmask14 renames
  sys/kern/syscalls.master 1.239 2010/11/11: syscall numbers

netbsd-9 (requests_since): no netbsd-9 revision of sys/sys/ptrace.h was
available to read, so the 9.x request set is pinned by dates instead:
  doc/CHANGES-9.0 1.1.2.161 2020/01/21: "the initial NetBSD 9.0 branch on
      2019-07-30"; a request added to -current later reaches 9.x only by a
      pull-up (none for these turned up in the searches made; doc/CHANGES-9.1
      .. 9.4 were not read in full)
  sys/sys/ptrace.h 1.60.6.3 2018/04/14 (netbsd-8): PT_* 0..22, ending at
      PT_SUSPEND, with PT_LWPINFO 13 public
  PT_STOP (23): commit "Introduce new ptrace(2) operation PT_STOP", kamil,
      2019-10-09 (NetBSD/src git ad86e77fe886)
  PT_LWPSTATUS, PT_LWPNEXT (24, 25): the commit that namespaced PT_LWPINFO
      behind __LEGACY_PT_LWPINFO (NetBSD/src git bc7415aa337d); the file it
      added, sys/kern/sys_process_lwpstatus.c, is 1.1 2020/01/04
  PT_SET_SIGPASS, PT_GET_SIGPASS (26, 27): numbered after those, so later
So 23..27 first ship in 10.0; a 9.x kernel gets PT_LWPINFO (13) for its LWP
walk, which 10's kernel still accepts (_KERNEL keeps the number).

Not taken (no revision read that defines them): SIGPWR, _WCONTINUED.
"""

from __future__ import annotations

from typing import Mapping, Tuple

from .types import Constants, Field, Header, Struct

_REPO = "NetBSD/src "
PTRACE_H = Header("sys/ptrace.h", _REPO + "sys/sys/ptrace.h 1.75 2022/06/08")
SIGINFO_H = Header("sys/siginfo.h", _REPO + "sys/sys/siginfo.h 1.34 2019/09/30")
SIGTYPES_H = Header("sys/sigtypes.h", _REPO + "sys/sys/sigtypes.h 1.7 2005/09/13")
SIGNAL_H = Header("signal.h", _REPO + "sys/sys/signal.h 1.24 1997/11/25")
ERRNO_H = Header("errno.h", _REPO + "sys/sys/errno.h 1.38.16.1 2006/12/10")
WAIT_H = Header("sys/wait.h", _REPO + "sys/sys/wait.h 1.29 2016/04/02")
SYSCALLS_H = Header("sys/syscall.h", _REPO + "sys/kern/syscalls.master 1.239 2010/11/11")

# Machine-independent requests; each arch adds PT_FIRSTMACH + n.
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
    "PT_DUMPCORE": 12,
    # __LEGACY_PT_LWPINFO in 1.75; the kernel (_KERNEL) still defines it.
    "PT_LWPINFO": 13,
    "PT_SYSCALL": 14,
    "PT_SYSCALLEMU": 15,
    "PT_SET_EVENT_MASK": 16,
    "PT_GET_EVENT_MASK": 17,
    "PT_GET_PROCESS_STATE": 18,
    "PT_SET_SIGINFO": 19,
    "PT_GET_SIGINFO": 20,
    "PT_RESUME": 21,
    "PT_SUSPEND": 22,
    "PT_STOP": 23,
    "PT_LWPSTATUS": 24,
    "PT_LWPNEXT": 25,
    "PT_SET_SIGPASS": 26,
    "PT_GET_SIGPASS": 27,
}
# Kept out of REQUESTS: it equals the first MD request, and a reverse lookup
# of a request number must name that request, not the base.
PT_FIRSTMACH = 32

# Requests newer than netbsd-9 (see the module docstring): absent before 10.
REQUESTS_SINCE = {name: "10" for name in (
    "PT_STOP", "PT_LWPSTATUS", "PT_LWPNEXT", "PT_SET_SIGPASS", "PT_GET_SIGPASS")}

NOTES = (
    "netbsd-9 kernels predate PT_STOP, PT_LWPSTATUS, PT_LWPNEXT and "
    "PT_SET/GET_SIGPASS (numbers 23-27 of ptrace.h 1.75): the table refuses them "
    "for 9.x; PT_LWPINFO lists LWPs there.",
    "PT_READ_*/PT_WRITE_* move an int (4 bytes), not a word.",
)

EVENTS = Constants(PTRACE_H, {
    "PTRACE_FORK": 0x0001,
    "PTRACE_VFORK": 0x0002,
    "PTRACE_VFORK_DONE": 0x0004,
    "PTRACE_LWP_CREATE": 0x0008,
    "PTRACE_LWP_EXIT": 0x0010,
    "PTRACE_POSIX_SPAWN": 0x0020,
})

PIOD = Constants(PTRACE_H, {
    "PIOD_READ_D": 1,
    "PIOD_WRITE_D": 2,
    "PIOD_READ_I": 3,
    "PIOD_WRITE_I": 4,
    "PIOD_READ_AUXV": 5,
    "PL_EVENT_NONE": 0,
    "PL_EVENT_SIGNAL": 1,
    "PL_EVENT_SUSPENDED": 2,
    "PL_LNAMELEN": 20,
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

SI_CODES = Constants(SIGINFO_H, {
    "SI_USER": 0,
    "SI_QUEUE": -1,
    "SI_TIMER": -2,
    "SI_ASYNCIO": -3,
    "SI_MESGQ": -4,
    "SI_LWP": -5,
    "SI_NOINFO": 32767,
    "TRAP_BRKPT": 1,
    "TRAP_TRACE": 2,
    "TRAP_EXEC": 3,
    "TRAP_CHLD": 4,
    "TRAP_LWP": 5,
    "TRAP_DBREG": 6,
    "TRAP_SCE": 7,
    "TRAP_SCX": 8,
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
})

ERRNOS = Constants(ERRNO_H, {
    "EPERM": 1, "ENOENT": 2, "ESRCH": 3, "EINTR": 4, "EIO": 5,
    "ECHILD": 10, "EDEADLK": 11, "ENOMEM": 12, "EACCES": 13, "EFAULT": 14,
    "EBUSY": 16, "EINVAL": 22, "EAGAIN": 35, "EOPNOTSUPP": 45, "ENOSYS": 78,
    "ENOTSUP": 86,
})

WAIT = Constants(WAIT_H, {
    "WNOHANG": 0x00000001,
    "WUNTRACED": 0x00000002,
    "WALTSIG": 0x00000004,
    "WALLSIG": 0x00000008,
    "WCONTINUED": 0x00000010,
    "WEXITED": 0x00000020,
    "WTRAPPED": 0x00000040,
    "__WCLONE": 0x00000004,
    "__WALL": 0x00000008,
    "WNOWAIT": 0x00010000,
    # The low 7 bits are 0177 for a stopped child; 0200 is the core flag.
    "_WSTOPPED": 0o177,
    "WCOREFLAG": 0o200,
}, absent=("_WCONTINUED",))

SYSCALLS = Constants(SYSCALLS_H, {
    "SYS_exit": 1, "SYS_fork": 2, "SYS_read": 3, "SYS_write": 4,
    # 20 is getpid_with_ppid, aliased getpid.
    "SYS_getpid": 20, "SYS_ptrace": 26, "SYS_kill": 37, "SYS_getppid": 39,
    "SYS_execve": 59, "SYS_vfork": 66,
})

# ptrace(2) takes an int data; the ptrace binding reads this to type it.
LIBC_SYMBOLS = {
    "ptrace": "ptrace",
    "ptrace_data": "int",
    "wait4": "__wait450",
    "wait3": "__wait350",
    "sigaction": "__sigaction14",
    "sigprocmask": "__sigprocmask14",
}

# -- structs (LP64: every arch here) ----------------------------------------------
IO_DESC = Struct("struct ptrace_io_desc", PTRACE_H, 32, (
    Field("piod_op", 0, 4, signed=True),
    Field("piod_offs", 8, 8),
    Field("piod_addr", 16, 8),
    Field("piod_len", 24, 8),
))

EVENT = Struct("struct ptrace_event", PTRACE_H, 4, (
    Field("pe_set_event", 0, 4, signed=True),
))

# The union's two members overlap at offset 4: pe_other_pid after a TRAP_CHLD
# stop, pe_lwp after TRAP_LWP.  Each view is its own Struct.
STATE = Struct("struct ptrace_state", PTRACE_H, 8, (
    Field("pe_report_event", 0, 4, signed=True),
    Field("pe_other_pid", 4, 4, signed=True, c_name="_option._pe_other_pid"),
))
STATE_LWP = Struct("struct ptrace_state", PTRACE_H, 8, (
    Field("pe_report_event", 0, 4, signed=True),
    Field("pe_lwp", 4, 4, signed=True, c_name="_option._pe_lwp"),
))

LWPINFO = Struct("struct ptrace_lwpinfo", PTRACE_H, 8, (
    Field("pl_lwpid", 0, 4, signed=True),
    Field("pl_event", 4, 4, signed=True),
))

SIGSET = Struct("sigset_t", SIGTYPES_H, 16, (
    Field("bits", 0, 4, count=4, c_name="__bits"),
))

# lwpid_t, two sigset_t, char[20] ("extra 4 for alignment"), then a pointer.
LWPSTATUS = Struct("struct ptrace_lwpstatus", PTRACE_H, 64, (
    Field("pl_lwpid", 0, 4, signed=True),
    Field("pl_sigpend", 4, 4, count=4, c_name="pl_sigpend.__bits"),
    Field("pl_sigmask", 20, 4, count=4, c_name="pl_sigmask.__bits"),
    Field("pl_name", 36, 20),
    Field("pl_private", 56, 8),
))

# siginfo_t is a 128-byte union around struct _ksiginfo: signo, code, errno,
# an _LP64 pad, then the _reason union at 16.  Note code comes before errno.
SIGINFO_SIZE = 128
_SI_HEAD = (
    Field("si_signo", 0, 4, signed=True, c_name="_info._signo"),
    Field("si_code", 4, 4, signed=True, c_name="_info._code"),
    Field("si_errno", 8, 4, signed=True, c_name="_info._errno"),
)
SIGINFO = Struct("siginfo_t", SIGINFO_H, SIGINFO_SIZE, (
    *_SI_HEAD,
    Field("si_pid", 16, 4, signed=True, c_name="_info._reason._child._pid"),
    Field("si_uid", 20, 4, c_name="_info._reason._child._uid"),
    Field("si_status", 24, 4, signed=True, c_name="_info._reason._child._status"),
))
SIGINFO_FAULT = Struct("siginfo_t", SIGINFO_H, SIGINFO_SIZE, (
    *_SI_HEAD,
    Field("si_addr", 16, 8, c_name="_info._reason._fault._addr"),
    Field("si_trap", 24, 4, signed=True, c_name="_info._reason._fault._trap"),
    Field("si_trap2", 28, 4, signed=True, c_name="_info._reason._fault._trap2"),
    Field("si_trap3", 32, 4, signed=True, c_name="_info._reason._fault._trap3"),
))

# struct ptrace_siginfo: siginfo_t then lwpid_t at 128; the pointer inside
# siginfo_t makes the struct 8-aligned, so 132 rounds up to 136.
PTRACE_SIGINFO_SIZE = 136
_PSI_LWP = Field("psi_lwpid", 128, 4, signed=True)
_PSI_HEAD = tuple(
    Field(f.name, f.offset, f.size, signed=True, c_name="psi_siginfo." + f.member) for f in _SI_HEAD)
PTRACE_SIGINFO = Struct("struct ptrace_siginfo", PTRACE_H, PTRACE_SIGINFO_SIZE, (
    *_PSI_HEAD,
    Field("si_pid", 16, 4, signed=True, c_name="psi_siginfo._info._reason._child._pid"),
    _PSI_LWP,
))
# The same bytes after TRAP_SCE/TRAP_SCX: the _syscall member of _reason.
PTRACE_SIGINFO_SYSCALL = Struct("struct ptrace_siginfo", PTRACE_H, PTRACE_SIGINFO_SIZE, (
    Field("si_sysnum", 16, 4, signed=True, c_name="psi_siginfo._info._reason._syscall._sysnum"),
    Field("si_retval", 20, 4, count=2, signed=True, c_name="psi_siginfo._info._reason._syscall._retval"),
    Field("si_error", 28, 4, signed=True, c_name="psi_siginfo._info._reason._syscall._error"),
    Field("si_args", 32, 8, count=8, c_name="psi_siginfo._info._reason._syscall._args"),
    _PSI_LWP,
))
# After TRAP_CHLD/TRAP_LWP: the _ptrace_state member of _reason.
PTRACE_SIGINFO_STATE = Struct("struct ptrace_siginfo", PTRACE_H, PTRACE_SIGINFO_SIZE, (
    Field("si_pe_report_event", 16, 4, signed=True,
          c_name="psi_siginfo._info._reason._ptrace_state._pe_report_event"),
    Field("si_pe_other_pid", 20, 4, signed=True,
          c_name="psi_siginfo._info._reason._ptrace_state._option._pe_other_pid"),
    _PSI_LWP,
))
PTRACE_SIGINFO_FAULT = Struct("struct ptrace_siginfo", PTRACE_H, PTRACE_SIGINFO_SIZE, (
    *_PSI_HEAD,
    Field("si_addr", 16, 8, c_name="psi_siginfo._info._reason._fault._addr"),
    Field("si_trap", 24, 4, signed=True, c_name="psi_siginfo._info._reason._fault._trap"),
    _PSI_LWP,
))

STRUCTS = {
    "ptrace_io_desc": IO_DESC,
    "ptrace_event": EVENT,
    "ptrace_state": STATE,
    "ptrace_state_lwp": STATE_LWP,
    "ptrace_lwpinfo": LWPINFO,
    "ptrace_lwpstatus": LWPSTATUS,
    "ptrace_siginfo": PTRACE_SIGINFO,
    "ptrace_siginfo_syscall": PTRACE_SIGINFO_SYSCALL,
    "ptrace_siginfo_state": PTRACE_SIGINFO_STATE,
    "ptrace_siginfo_fault": PTRACE_SIGINFO_FAULT,
    "siginfo": SIGINFO,
    "siginfo_fault": SIGINFO_FAULT,
    "sigset": SIGSET,
}

SOURCES = (
    PTRACE_H.source, SIGINFO_H.source, SIGTYPES_H.source, SIGNAL_H.source,
    ERRNO_H.source, WAIT_H.source, SYSCALLS_H.source,
    _REPO + "include/signal.h 1.48 2006/01/07",
)


def requests_with(machine: Mapping[str, int], md_header: Header, absent: Tuple[str, ...] = ()) -> Constants:
    """The MI requests plus one arch's PT_FIRSTMACH + n ones, citing both headers."""
    both = Header("sys/ptrace.h", "%s; %s" % (PTRACE_H.source, md_header.source))
    return Constants(both, dict(REQUESTS, **machine), absent=absent)
