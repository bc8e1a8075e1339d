"""Programs the suites trace, run by the target's own python3.

Each program reports facts the tracer cannot know in advance (addresses of
its mappings and of a libc function, values it observed) as JSON lines on
the file descriptor named by ``TRAPLINE_REPORT_FD``, then stops itself with
SIGSTOP at a known ready point.  The tracer reads the report, so tests can
put breakpoints and read memory at exact addresses.

Run as ``python3 tracecore.zip tracee NAME [ARGS...]``.
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import signal
import sys
import threading
import time
from typing import Callable, Dict, List

REPORT_FD_ENV = "TRAPLINE_REPORT_FD"
# The data area is filled with this pattern so reads can be checked byte for
# byte: the byte at offset i is (i * 7 + 3) & 0xff.
DATA_PAGES = 2


def pattern_byte(offset: int) -> int:
    return (offset * 7 + 3) & 0xFF


def pattern(offset: int, size: int) -> bytes:
    return bytes(pattern_byte(i) for i in range(offset, offset + size))


def _report(**facts: object) -> None:
    fd = os.environ.get(REPORT_FD_ENV)
    if fd is None:
        return
    os.write(int(fd), (json.dumps(facts, sort_keys=True) + "\n").encode())


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _map(libc: ctypes.CDLL, size: int, prot: int) -> int:
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    addr = libc.mmap(None, size, prot, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        err = ctypes.get_errno()
        raise OSError(err, "mmap: %s" % os.strerror(err))
    return addr


def _ready(libc: ctypes.CDLL, **extra: object) -> Dict[str, object]:
    """Lay out the areas tests use, report them, and stop."""
    page = mmap.PAGESIZE
    # Code: one page, read+exec, for machine-code snippets the tracer writes
    # (ptrace writes through the missing write permission, as it must).
    code = _map(libc, page, mmap.PROT_READ | mmap.PROT_EXEC)
    # Data: DATA_PAGES pages with the known pattern, then one unmapped page.
    data = _map(libc, (DATA_PAGES + 1) * page, mmap.PROT_READ | mmap.PROT_WRITE)
    ctypes.memmove(data, pattern(0, DATA_PAGES * page), DATA_PAGES * page)
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    if libc.munmap(data + DATA_PAGES * page, page) != 0:
        raise OSError(ctypes.get_errno(), "munmap")
    getppid = ctypes.cast(libc.getppid, ctypes.c_void_p).value
    facts = dict(pid=os.getpid(), page_size=page, code=code, data=data,
                 data_size=DATA_PAGES * page, unmapped=data + DATA_PAGES * page,
                 getppid=getppid, **extra)
    _report(ready=facts)
    os.kill(os.getpid(), signal.SIGSTOP)
    return facts


def prog_ready(args: List[str]) -> int:
    """Stop at the ready point, then exit 0 when resumed."""
    _ready(_libc())
    return 0


def prog_loop(args: List[str]) -> int:
    """Call libc getppid() in a loop (COUNT times, or forever), reporting
    each result when REPORT is given: breakpoints go on getppid."""
    count = int(args[0]) if args else -1
    report = len(args) > 1 and args[1] == "report"
    libc = _libc()
    _ready(libc)
    getppid = libc.getppid
    n = 0
    while n != count:
        value = getppid()
        if report:
            _report(getppid=value, n=n)
        n += 1
    return 0


def prog_exit(args: List[str]) -> int:
    _ready(_libc())
    return int(args[0])


def prog_raise(args: List[str]) -> int:
    """Raise SIGNAL at itself after the ready point."""
    _ready(_libc())
    os.kill(os.getpid(), getattr(signal, args[0]))
    return 0


def prog_fork(args: List[str]) -> int:
    """fork(); the child exits with 7, the parent reaps it and exits 0."""
    _ready(_libc())
    child = os.fork()
    if child == 0:
        os._exit(7)
    _report(child=child)
    _, status = os.waitpid(child, 0)
    return 0 if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 7 else 1


def prog_vfork(args: List[str]) -> int:
    """posix_spawn() a child running PROGRAM: libc's own safe vfork-like
    path, and the closest Python gets to vfork(2).  What the kernel makes of
    it differs: glibc clones with CLONE_VFORK, NetBSD has a posix_spawn
    system call, and OpenBSD's libc calls fork() (lib/libc/gen/posix_spawn.c
    1.10); suites/conformance.py SPAWN_REPORTED_AS."""
    _ready(_libc())
    argv = args or ["/bin/true"]
    child = os.posix_spawn(argv[0], argv, dict(os.environ))
    _report(child=child)
    _, status = os.waitpid(child, 0)
    return 0 if os.WIFEXITED(status) else 1


def prog_threads(args: List[str]) -> int:
    """Start N threads that each call getppid once and end."""
    count = int(args[0]) if args else 2
    libc = _libc()
    _ready(libc)
    threads = [threading.Thread(target=libc.getppid) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 0


def prog_exec(args: List[str]) -> int:
    """exec PROGRAM ARGS... after the ready point."""
    _ready(_libc())
    os.execv(args[0], args)
    return 127


def prog_sleep(args: List[str]) -> int:
    """Sleep (untraced), so a tracer can attach; report pid first."""
    _report(ready=dict(pid=os.getpid()))
    time.sleep(float(args[0]) if args else 60.0)
    return 0


def prog_getppid_report(args: List[str]) -> int:
    """Call getppid once after the ready point and report what it returned,
    so a tracer that rewrote the return value can see the effect."""
    libc = _libc()
    _ready(libc)
    _report(getppid=libc.getppid())
    return 0


def prog_lwps(args: List[str]) -> int:
    """Start N threads that block, then stop at the ready point reporting
    every thread's kernel id (``lwps``, the main thread first).  With
    ``raise``, the main thread then sends SIGUSR2 to itself alone
    (pthread_kill).  Then the threads are released and joined; exit 0."""
    count = int(args[0]) if args else 2
    send_signal = len(args) > 1 and args[1] == "raise"
    go = threading.Event()
    started = threading.Barrier(count + 1)
    ids: List[int] = [0] * count

    def worker(index: int) -> None:
        ids[index] = threading.get_native_id()
        started.wait()
        go.wait()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    # Every worker has its id before the tracer looks.
    started.wait()
    _ready(_libc(), lwps=[threading.get_native_id(), *ids])
    if send_signal:
        signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR2)  # type: ignore[arg-type]
    go.set()
    for t in threads:
        t.join()
    return 0


def prog_store(args: List[str]) -> int:
    """After the ready point, write one byte (0x5a) at data + OFFSET and
    report it: the write a data watchpoint catches."""
    offset = int(args[0]) if args else 0
    facts = _ready(_libc())
    ctypes.memset(int(facts["data"]) + offset, 0x5A, 1)  # type: ignore[call-overload]
    _report(stored=offset)
    return 0


def prog_syscall_exit(args: List[str]) -> int:
    """After the ready point, make the raw exit system call NUMBER with
    status 100 through syscall(2), then _exit(5): a tracer that emulates
    the first (PT_SYSCALLEMU) sees 5 (t_ptrace_syscall_wait.h syscallemu1)."""
    number = int(args[0])
    libc = _libc()
    _ready(libc)
    libc.syscall(number, 100)
    os._exit(5)


# NetBSD sys/sys/signal.h 1.75.4.2: struct sigaction { union { handler,
# sigaction } _sa_u; sigset_t sa_mask (uint32_t __bits[4], sys/sigtypes.h);
# int sa_flags; }, SA_SIGINFO 0x0040.  include/signal.h renames sigaction()
# to __sigaction14, the symbol that takes this layout.
_NETBSD_SA_SIGINFO = 0x0040


class _NetbsdSigaction(ctypes.Structure):
    _fields_ = [("sa_sigaction", ctypes.c_void_p), ("sa_mask", ctypes.c_uint32 * 4),
                ("sa_flags", ctypes.c_int)]


def prog_siginfo(args: List[str]) -> int:
    """NetBSD only: catch HANDLED (default SIGTRAP) with an SA_SIGINFO
    handler, raise(3) RAISED (default SIGINT) after the ready point, and
    report what the handler saw: ``caught`` is a list of {signo, si_signo,
    si_code, si_errno}, one per call (t_ptrace_siginfo_wait.h's tracee)."""
    raised = getattr(signal, args[0]) if args else signal.SIGINT
    handled = getattr(signal, args[1]) if len(args) > 1 else signal.SIGTRAP
    if os.uname().sysname != "NetBSD":
        sys.stderr.write("siginfo: the sigaction layout here is NetBSD's, not %s's\n" % os.uname().sysname)
        return 2
    libc = _libc()
    seen: List[Dict[str, int]] = []

    def on_signal(signo: int, info: int, context: int) -> None:
        # siginfo_t starts with int si_signo, si_code, si_errno (sys/siginfo.h _ksiginfo).
        head = ctypes.cast(info, ctypes.POINTER(ctypes.c_int * 3)).contents
        seen.append({"signo": signo, "si_signo": head[0], "si_code": head[1], "si_errno": head[2]})

    # Kept referenced until exit: the kernel calls it through libc's trampoline.
    callback = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)(on_signal)
    action = _NetbsdSigaction(ctypes.cast(callback, ctypes.c_void_p).value, (ctypes.c_uint32 * 4)(),
                              _NETBSD_SA_SIGINFO)
    sigaction = getattr(libc, "__sigaction14")
    sigaction.argtypes = [ctypes.c_int, ctypes.POINTER(_NetbsdSigaction), ctypes.c_void_p]
    if sigaction(int(handled), ctypes.byref(action), None) != 0:
        raise OSError(ctypes.get_errno(), "__sigaction14(%d)" % handled)
    _ready(libc)
    # Through ctypes, so the GIL is released while the handler runs inside raise(3).
    getattr(libc, "raise")(int(raised))
    _report(caught=seen)
    return 0


def prog_attachee(args: List[str]) -> int:
    """Untraced, for attach tests.  Block SIGUSR1, report ``ready`` (pid,
    ppid), wait for SIGUSR1, report ``resumed`` with the ppid seen then and
    exit with EXIT_CODE (default 9).  The wait is sigwait(2), which Python
    retries when an attach's SIGSTOP interrupts it, so an attach and detach
    in between leave the program where it was."""
    code = int(args[0]) if args else 9
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    _report(ready=dict(pid=os.getpid(), ppid=os.getppid()))
    signal.sigwait({signal.SIGUSR1})
    _report(resumed=dict(ppid=os.getppid()))
    return code


def _status_facts(status: int) -> Dict[str, object]:
    if os.WIFEXITED(status):
        return {"exit_code": os.WEXITSTATUS(status), "signal": None}
    if os.WIFSIGNALED(status):
        return {"exit_code": None, "signal": signal.Signals(os.WTERMSIG(status)).name}
    return {"exit_code": None, "signal": None, "raw": status}


def prog_attachee_parent(args: List[str]) -> int:
    """Untraced: fork an ``attachee`` (ARGS go to it) and stay its real
    parent, so a tracer that started this program attaches to a process
    that is not its own child.  The ``ready`` report is the attachee's.
    After SIGUSR2 this program waits for the attachee and reports
    ``child_status`` (exit_code, signal) as its parent sees it, then sleeps
    until killed, so the caller reaps a live process."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    child = os.fork()
    if child == 0:
        code = 70
        try:
            code = prog_attachee(args)
        finally:
            os._exit(code)
    # Gated by SIGUSR2: a waitpid() pending while a tracer has the child is
    # not something every OS here defines (NetBSD's own tests,
    # t_ptrace_wait.h await_zombie, poll instead of waiting).
    signal.sigwait({signal.SIGUSR2})
    _, status = os.waitpid(child, 0)
    _report(child_status=_status_facts(status))
    while True:
        time.sleep(3600)


def _signal_names(signals: object) -> List[str]:
    return sorted(signal.Signals(s).name for s in signals)  # type: ignore[attr-defined]


def prog_disposition(args: List[str]) -> int:
    """Give SIGNAL a disposition, then make it after the ready point.

    DISPOSITION is ``block`` (sigprocmask), ``ignore`` (SIG_IGN) or
    ``handle`` (a handler that counts its calls).  HOW is ``kill`` (kill(2)
    to itself, the default) or ``trap`` (call libc getppid, where the tracer
    put a breakpoint).  Reports ``after`` = {pending: [names], handled: n}.
    A signal blocked and killed is then unblocked, and ``unblocked`` =
    {handled: n} reported.  Exit 0 (t_ptrace_signal_wait.h's tracees:
    traceme_raisesignal_masked/_ignored, traceme_sendsignal_handle,
    traceme_signalmasked_crash)."""
    disposition, signo = args[0], getattr(signal, args[1])
    how = args[2] if len(args) > 2 else "kill"
    if disposition not in ("block", "ignore", "handle") or how not in ("kill", "trap"):
        sys.stderr.write("disposition: block|ignore|handle SIGNAL [kill|trap], not %r\n" % (args,))
        return 2
    handled: List[int] = []
    if disposition == "block":
        signal.pthread_sigmask(signal.SIG_BLOCK, {signo})
    elif disposition == "ignore":
        signal.signal(signo, signal.SIG_IGN)
    else:
        signal.signal(signo, lambda number, frame: handled.append(number))
    libc = _libc()
    _ready(libc)
    if how == "trap":
        libc.getppid()
    else:
        os.kill(os.getpid(), signo)
    _report(after=dict(pending=_signal_names(signal.sigpending()), handled=len(handled)))
    if disposition == "block" and how == "kill":
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signo})
        _report(unblocked=dict(handled=len(handled)))
    return 0


PROGRAMS: Dict[str, Callable[[List[str]], int]] = {
    "ready": prog_ready,
    "loop": prog_loop,
    "exit": prog_exit,
    "raise": prog_raise,
    "fork": prog_fork,
    "vfork": prog_vfork,
    "threads": prog_threads,
    "exec": prog_exec,
    "sleep": prog_sleep,
    "getppid_report": prog_getppid_report,
    "lwps": prog_lwps,
    "store": prog_store,
    "siginfo": prog_siginfo,
    "syscall_exit": prog_syscall_exit,
    "attachee": prog_attachee,
    "attachee_parent": prog_attachee_parent,
    "disposition": prog_disposition,
}


def main(argv: List[str]) -> int:
    if not argv or argv[0] not in PROGRAMS:
        sys.stderr.write("usage: tracee NAME [ARGS]; NAME is one of: %s\n" % ", ".join(sorted(PROGRAMS)))
        return 2
    return PROGRAMS[argv[0]](argv[1:])
