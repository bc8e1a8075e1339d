"""What conformance means per OS, where the OSes legitimately differ.

The suites look answers up here by the target's OS (from its hello), never
by guessing; each entry cites the kernel source that decides it.  A missing
entry makes the test skip and say so, never pass.
"""

from __future__ import annotations

import pytest

# errno names expected from ptrace error paths.
ERRNO = {
    "linux": {
        # kernel/ptrace.c (v6.1) ptrace_attach(): same thread group -> EPERM;
        # task->ptrace already set -> EPERM; __ptrace_may_access() -> EPERM.
        "attach_self": "EPERM",
        "attach_traced": "EPERM",
        "attach_unprivileged": "EPERM",
        # kernel/ptrace.c find_get_task_by_vpid() fails -> ESRCH.
        "attach_nonexistent": "ESRCH",
        # kernel/ptrace.c generic_ptrace_peekdata/pokedata: short access -> EIO.
        "read_unmapped": "EIO",
        "write_unmapped": "EIO",
    },
    "netbsd": {
        # sys/kern/sys_ptrace_common.c 1.53 (2019/05/10), ptrace_allowed()
        # PT_ATTACH: "t == p" -> EINVAL; PSL_TRACED already set -> EBUSY.
        "attach_self": "EINVAL",
        "attach_traced": "EBUSY",
        # Same file, ptrace_listener_cb(): another uid is not allowed by the
        # ptrace listener, so kauth's default (suser) refuses: EPERM.
        "attach_unprivileged": "EPERM",
        # Same file, do_ptrace(): ptrace_find() == NULL -> ESRCH.
        "attach_nonexistent": "ESRCH",
        # PT_IO on a page with no mapping: sys_ptrace_common.c 1.28
        # (2017/12/17) ptrace_doio() returns process_domem()'s error as is;
        # sys_process.c 1.162.12.2 process_domem() returns uvm_io()'s; uvm_io()
        # (sys/uvm/uvm_io.c) extracts with UVM_EXTRACT_CONTIG and returns the
        # error of uvm_map_extract(), which in sys/uvm/uvm_map.c 1.335
        # (2015/09/24) is EINVAL for a start address outside every entry
        # ("definite hole here").  Writes take the same path.
        "read_unmapped": "EINVAL",
        "write_unmapped": "EINVAL",
    },
    "openbsd": {
        # sys/kern/sys_process.c 1.106 (2025/02/17), ptrace_ctrl() PT_ATTACH:
        # "tr == p->p_p" -> EINVAL; PS_TRACED already set -> EBUSY; another
        # ruid and suser() fails -> EPERM (checked before the init rule).
        "attach_self": "EINVAL",
        "attach_traced": "EBUSY",
        "attach_unprivileged": "EPERM",
        # Same function: process_tprfind() == NULL, or a pid above
        # THREAD_PID_OFFSET for PT_ATTACH -> ESRCH.
        "attach_nonexistent": "ESRCH",
        # PT_IO on a page with no mapping: sys_process.c 1.106
        # ptrace_ustate() returns process_domem()'s error, which is uvm_io()'s
        # (sys/uvm/uvm_io.c 1.30 2022/10/07), which is uvm_map_extract()'s:
        # sys/uvm/uvm_map.c 1.346 (2025/09/11) gives EINVAL when free space or
        # a hole lies in the range.  sys_ptrace() copies nothing out on error.
        "read_unmapped": "EINVAL",
        "write_unmapped": "EINVAL",
    },
}

# si_code of the SIGSTOP a tracee sends itself with kill(2).  OpenBSD gives a
# tracer no siginfo through ptrace at all, so the core reports none (None).
SI_CODE_KILL: dict[str, str | None] = {"linux": "SI_USER", "netbsd": "SI_USER", "openbsd": None}
# si_code of a hardware single-step trap: linux v6.1 arch/x86/kernel/traps.c
# exc_debug_user() and arch/arm64/kernel/debug-monitors.c single_step_handler()
# send TRAP_TRACE; NetBSD sys/arch/*/trap.c trapsignal(TRAP_TRACE).
SI_CODE_STEP: dict[str, str | None] = {"linux": "TRAP_TRACE", "netbsd": "TRAP_TRACE", "openbsd": None}


# The signal and event of PT_ATTACH's stop.  Linux v6.1 kernel/ptrace.c
# ptrace_attach() sends SIGSTOP (PTRACE_ATTACH, not SEIZE); NetBSD
# sys_ptrace_common.c 1.28 PT_ATTACH sets signo = SIGSTOP and t_ptrace_fork_wait.h
# 1.6 (2020/05/16) asserts SIGSTOP/SI_USER; OpenBSD sys_process.c 1.106
# ptrace_ctrl() PT_ATTACH sets data = SIGSTOP.
ATTACH_STOP_SIGNAL = {"linux": "SIGSTOP", "netbsd": "SIGSTOP", "openbsd": "SIGSTOP"}

# The first stop of a child a fork-like event made traced: (signal, event).
#   linux    v6.1 include/linux/ptrace.h ptrace_init_task(), called from
#            kernel/fork.c copy_process(): a child traced by PTRACE_ATTACH's
#            kind (not PT_SEIZED) starts with SIGSTOP pending, no event.
#   netbsd   tests/lib/libc/sys/t_ptrace_fork_wait.h 1.6 fork_body(): the
#            forkee stops with SIGTRAP and its PT_GET_PROCESS_STATE reports
#            PTRACE_FORK/PTRACE_VFORK naming the parent (pe_other_pid); the core
#            names that side "<event>_child".
#   openbsd  sys/kern/kern_fork.c 1.278 (2025/08/18): fork_return() does
#            psignal(p, SIGTRAP) for a traced child, and fork1() sets the
#            child's ps_ptstat to PTRACE_FORK / parent pid.  No vfork event
#            (sys/sys/ptrace.h 1.16 defines PTRACE_FORK only).
CHILD_FIRST_STOP: dict[str, dict[str, tuple[str, str | None]]] = {
    "linux": {"fork": ("SIGSTOP", None), "vfork": ("SIGSTOP", None)},
    "netbsd": {"fork": ("SIGTRAP", "fork_child"), "vfork": ("SIGTRAP", "vfork_child"),
               # t_ptrace_fork_wait.h 1.7 fork_body ("spawn" with
               # PTRACE_POSIX_SPAWN): the spawned child stops with SIGTRAP
               # and PT_GET_PROCESS_STATE names the parent.
               "spawn": ("SIGTRAP", "spawn_child")},
    "openbsd": {"fork": ("SIGTRAP", "fork_child")},
}

# The event the "vfork" tracee program's posix_spawn(3) reports when its
# parent asked for vfork events.  glibc posix_spawn is clone(CLONE_VM |
# CLONE_VFORK), a PTRACE_EVENT_VFORK (linux v6.1 kernel/fork.c kernel_clone).
# NetBSD's posix_spawn is a system call reported only as PTRACE_POSIX_SPAWN:
# t_ptrace_fork_wait.h 1.6 fork_body() expects no stop for "spawn" unless
# PTRACE_POSIX_SPAWN is in the mask, and vfork-done only for vfork(2).
# OpenBSD's posix_spawn is no vfork at all: lib/libc/gen/posix_spawn.c 1.10
# (2019/06/28) do_posix_spawn() calls fork(), which sys/kern/kern_fork.c
# 1.278 sys_fork() reports as PTRACE_FORK when the mask asks for it.
SPAWN_REPORTED_AS = {"linux": "vfork", "netbsd": "spawn", "openbsd": "fork"}

# Whether the child of that posix_spawn stops once more, at its execve,
# after its first stop.  Linux: the vfork child execs traced, and without
# PTRACE_O_TRACEEXEC kernel/ptrace.c ptrace_event() sends the legacy
# SIGTRAP; OpenBSD: kern_exec.c 1.268 sys_execve() psignal(p, SIGTRAP) when
# PS_TRACED.  NetBSD's posix_spawn(2) execs inside the system call, before
# the child's first stop: t_ptrace_fork_wait.h 1.7 fork_body continues the
# spawned child once and its next wait is its exit.
SPAWN_CHILD_STOPS_AT_EXEC = {"linux": True, "netbsd": False, "openbsd": True}

# Events a tracer may ask for without that posix_spawn being reported (the
# child then runs untraced):
#   linux    kernel/fork.c kernel_clone(): a CLONE_VFORK clone is a
#            PTRACE_EVENT_VFORK or nothing ("if
#            (likely(!ptrace_event_enabled(current, trace))) trace = 0"),
#            so PTRACE_O_TRACEFORK does not catch it.
#   netbsd   t_ptrace_fork_wait.h 1.7 posix_spawn2..posix_spawn8: any of
#            PTRACE_FORK, PTRACE_VFORK, PTRACE_VFORK_DONE without
#            PTRACE_POSIX_SPAWN, and no stop for the spawn.
#   openbsd  PTRACE_FORK is its only event and it does report the fork.
SPAWN_UNREPORTED_WITH: dict[str, list[str]] = {
    "linux": ["fork"],
    "netbsd": ["fork", "vfork", "vfork_done"],
    "openbsd": [],
}

# How many SIGCHLD stops a traced parent gets for an untraced child that
# exits at once, perhaps while the parent is still inside fork(2).  Linux and
# OpenBSD keep a blocked SIGCHLD pending, so exactly one.  NetBSD's own test
# warns that a SIGCHLD arriving while fork(2) has signals blocked can be lost
# (tests/lib/libc/sys/t_ptrace_fork_wait.h 1.6, fork_body), so none or one.
SIGCHLD_STOPS_FOR_A_QUICK_CHILD = {"linux": (1,), "openbsd": (1,), "netbsd": (0, 1)}


# The event name on the SIGTRAP a traced execve(2) stops with, when exec
# events were asked for (or the OS always reports them).
#   linux    kernel/ptrace.c ptrace_event(PTRACE_EVENT_EXEC) with
#            PTRACE_O_TRACEEXEC.
#   netbsd   always SIGTRAP/TRAP_EXEC for a traced process
#            (tests/lib/libc/sys/t_ptrace_exec_wait.h, commit 4d5488a37cfc,
#            traceme_exec()).
#   openbsd  sys/kern/kern_exec.c 1.268 (2025/09/16) sys_execve(): a plain
#            psignal(p, SIGTRAP) when PS_TRACED; sys/sys/ptrace.h 1.16 has no
#            exec event and there is no siginfo request, so nothing may call
#            the stop an exec.
EXEC_STOP_EVENT: dict[str, str | None] = {"linux": "exec", "netbsd": "exec", "openbsd": None}

# The exec stop of a PT_TRACE_ME child that set no event options before
# execve: (event, si_code).  Linux: a plain SIGTRAP sent with SI_USER
# (kernel/ptrace.c ptrace_event() without PTRACE_O_TRACEEXEC); NetBSD:
# TRAP_EXEC regardless of options (t_ptrace_exec_wait.h traceme_exec());
# OpenBSD: no event, no siginfo (as above).
TRACEME_EXEC_PLAIN: dict[str, tuple[str | None, str | None]] = {
    "linux": (None, "SI_USER"),
    "netbsd": ("exec", "TRAP_EXEC"),
    "openbsd": (None, None),
}

# A signal given with the continue from a syscall-entry stop (the tracee has
# a handler for it):
#   linux    "stops_first": v6.1 include/linux/ptrace.h
#            ptrace_report_syscall() does not deliver it but send_sig()s it
#            to the tracee, so it comes back as a signal-delivery stop first,
#            and the handler runs once the tracer passes it on from there.
#   netbsd   "delivered": t_ptrace_syscall_wait.h 1.3 (2023/03/20)
#            syscall_signal_on_sce expects the handler to run once from the
#            continue itself -- and marks that expectation as failing
#            (suites/expectations.toml has the entry).
SIGNAL_AT_SYSCALL_ENTRY = {"linux": "stops_first", "netbsd": "delivered"}


# Whether, at a syscall-exit stop, the return-value register already holds
# the result (and a tracer's write to it is what the tracee sees).
#   linux    v6.1 arch/x86/entry/common.c do_syscall_x64() stores regs->ax;
#            only then does kernel/entry/common.c syscall_exit_work() report
#            the exit stop.
#   netbsd   sys/sys/syscallvar.h 1.11 (2015/09/24) sy_invoke() calls
#            trace_exit() -- where the tracee stops (kern_syscall.c 1.11
#            process_stoptrace()) -- before it returns, and the MD syscall()
#            writes rval into the frame only afterwards (sys/arch/x86/x86/
#            syscall.c 1.11.2.1: X86_TF_RAX(frame) = rval[0] after
#            sy_invoke()).  The value is in the stop's siginfo (si_retval)
#            instead; a register write there is overwritten.
SYSCALL_EXIT_RETVAL_IN_REGS = {"linux": True, "netbsd": False}

# The FP control register a fresh process starts with: (fpregs field, mask
# of control bits, value).  The sticky status flags depend on what the
# program computed so far, so they are masked off.
#   amd64    MXCSR 0x1f80: all exceptions masked, round to nearest (Intel SDM
#            vol. 1, 10.2.3: flags are bits 0-5).  NetBSD's initial value:
#            sys/arch/x86/include/cpu_extended_state.h 1.17.28.1
#            __INITIAL_MXCSR__ 0x1f80.
#   aarch64  Linux clears FPCR on exec (arch/arm64/kernel/fpsimd.c
#            fpsimd_flush_thread).
FP_CONTROL_AT_START: dict[str, dict[str, tuple[str, int, int]]] = {
    "linux": {"amd64": ("mxcsr", 0xFFC0, 0x1F80), "aarch64": ("fpcr", 0xFFFFFFFF, 0)},
    "netbsd": {"amd64": ("fx_mxcsr", 0xFFC0, 0x1F80)},
}

# A 16-byte transfer that starts 8 bytes before an unmapped page: (errno,
# bytes that moved before the failure).
#   linux    PEEKDATA/POKEDATA go one word at a time (kernel/ptrace.c
#            generic_ptrace_peekdata/pokedata), so the whole word before
#            the hole moves, then the next fails with EIO.
#   netbsd   sys/uvm/uvm_io.c uvm_io(): the first chunk is
#            round_page(len + page offset) -- both pages -- and
#            uvm_map_extract() of a range that runs into the hole fails
#            (EINVAL, uvm_map.c 1.335) before any byte is copied;
#            sys_ptrace_common.c 1.28 copies no piod out on error.
#   openbsd  sys/uvm/uvm_io.c 1.24 uvm_io(): the same chunking and extract,
#            so nothing moves; sys_process.c 1.106 returns the error.
SHORT_TRANSFER_AT_HOLE = {"linux": ("EIO", 8), "netbsd": ("EINVAL", 0), "openbsd": ("EINVAL", 0)}

# How many bytes one PT_READ_D/PT_WRITE_D (PTRACE_PEEKDATA/POKEDATA) moves:
# an int on the BSDs (NetBSD sys_ptrace_common.c 1.28 do_ptrace(): piod_len
# = sizeof(tmp), an int; OpenBSD sys_process.c: iov_len = sizeof(int)), an
# unsigned long on Linux (kernel/ptrace.c generic_ptrace_peekdata).
WORD_TRANSFER_SIZE = {"linux": "pointer", "netbsd": 4, "openbsd": 4}


# -- attach topologies ---------------------------------------------------------------
# si_code of PT_ATTACH's SIGSTOP.  Linux v6.1 kernel/ptrace.c ptrace_attach()
# sends it with send_sig_info(SIGSTOP, SEND_SIG_PRIV, task), and
# kernel/signal.c fills SI_KERNEL for SEND_SIG_PRIV (its SEND_SIG_PRIV case);
# NetBSD t_ptrace_fork_wait.h 1.7 unrelated_tracer_fork_body asserts SI_USER
# for the attach stop; OpenBSD hands a tracer no siginfo.
ATTACH_STOP_SI_CODE: dict[str, str | None] = {"linux": "SI_KERNEL", "netbsd": "SI_USER", "openbsd": None}

# A root tracer's PT_ATTACH to init (pid 1).
#   netbsd   sys/secmodel/securelevel/secmodel_securelevel.c 1.29 (2013/01/28)
#            secmodel_securelevel_process_cb(): KAUTH_PROCESS_PTRACE of
#            initproc is denied while securelevel > -1, and a kauth denial
#            is EPERM.
#   openbsd  sys/kern/sys_process.c (the 1.106 text ERRNO cites),
#            ptrace_ctrl() PT_ATTACH rule (6): "tr->ps_pid == 1 &&
#            securelevel > -1" -> EPERM, even for root.
# Both hold at every securelevel but -1 (permanently insecure), which no
# guest of ours runs at.  Linux has no such rule (kernel/ptrace.c v6.1
# ptrace_attach() refuses only kernel threads and same-group tasks), so a
# root attach would really stop init: there is no Linux entry on purpose.
ATTACH_INIT_AS_ROOT = {"netbsd": "EPERM", "openbsd": "EPERM"}
ATTACH_INIT_AS_ROOT_MISSING = {
    "linux": "root may trace init on Linux (kernel/ptrace.c v6.1 has no init rule); the attach would "
             "stop this machine's pid 1, so it is not attempted",
}


# -- signals under a disposition -------------------------------------------------------
# A tracee sets SIGUSR1 blocked, ignored or handled, then kill(2)s itself
# with it.  Per OS and disposition: (where the tracer's stop comes,
# continuing from that stop *with* SIGUSR1 does, continuing *without* it
# does).  Stops: "at_kill" (the kill's own stop) or "at_unblock" (none while
# the signal is blocked; the stop comes when the tracee unblocks it).
# Outcomes: "dies" (killed by SIGUSR1), "handler" (the handler runs once and
# the tracee goes on), "nothing" (dropped; the tracee goes on).
#   linux    v6.1 kernel/signal.c: sig_ignored() never ignores a signal for
#            a ptraced task ("Tracers may want to know about even ignored
#            signal"), so it is queued and reported; get_signal() dequeues
#            only unblocked signals (dequeue_signal(current,
#            &current->blocked, ...)), and after ptrace_signal() hands back
#            the tracer's choice, a SIG_IGN action drops it ("if
#            (ka->sa.sa_handler == SIG_IGN) continue").
#   netbsd   tests/lib/libc/sys/t_ptrace_signal_wait.h 1.6 (2025/04/27):
#            traceme_raisesignal_ignored (the tracer catches an ignored
#            raised signal), traceme_raisesignal_masked (no stop for a
#            masked one: the tracee exits first), traceme_sendsignal_ignored
#            (an ignored signal passed on continue: normal exit),
#            traceme_sendsignal_handle (passed on: the handler runs),
#            traceme_sendsignal_simple (a default-action signal passed on
#            kills); sys/kern/kern_sig.c (1.256.2.2, 2008/01/09, the newest
#            revision read) kpsignal2(): "If proc is traced, always give
#            parent a chance" (action SIG_DFL, nothing dropped), and
#            issignal() picks only from the pending set minus l_sigmask, so
#            a blocked signal's stop waits for the unblock.
#   openbsd  sys/kern/kern_sig.c 1.365 (2025/05/31): ptsignal_locked()
#            "If proc is traced, always give parent a chance" (no drop for
#            SIG_IGN); cursig() takes only SIGPENDING(p), which leaves out
#            p_sigmask, stops in proc_trap() even for an ignored signal
#            ("pending but ignored signals only if PS_TRACED"), and drops
#            the tracer's signal when "the signal is ignored"; postsig()
#            runs a handler or sigexit()s for SIG_DFL.
# Continuing without a signal discards it on all three (ptrace(2):
# PT_CONTINUE with data 0).
RAISED_SIGNAL: dict[str, dict[str, tuple[str, str, str]]] = {
    "linux": {
        "block": ("at_unblock", "dies", "nothing"),
        "ignore": ("at_kill", "nothing", "nothing"),
        "handle": ("at_kill", "handler", "nothing"),
    },
    "netbsd": {
        "block": ("at_unblock", "dies", "nothing"),
        "ignore": ("at_kill", "nothing", "nothing"),
        "handle": ("at_kill", "handler", "nothing"),
    },
    "openbsd": {
        "block": ("at_unblock", "dies", "nothing"),
        "ignore": ("at_kill", "nothing", "nothing"),
        "handle": ("at_kill", "handler", "nothing"),
    },
}

# A breakpoint trap while the tracee blocks SIGTRAP always stops it first:
# linux v6.1 kernel/signal.c force_sig_info_to_task() unblocks a blocked
# forced signal and resets it to SIG_DFL; NetBSD t_ptrace_signal_wait.h 1.6
# traceme_signalmasked_crash_trap (SIGTRAP/TRAP_BRKPT reaches the tracer);
# OpenBSD kern_sig.c 1.365 trapsignal(): "If traced, stop if signal is
# masked".  What continuing from it *with* SIGTRAP does:
#   linux    the signal is now unblocked with its default action: "dies".
#   openbsd  trapsignal() posts the tracer's signal with ptsignal(), where
#            it stays pending behind the mask: "pending" (the tracee goes
#            on and sees SIGTRAP in sigpending()).
# NetBSD: its test ends with PT_KILL, and trapsignal()'s path after the
# stop was not read, so nothing is recorded.
MASKED_TRAP_PASSED_BACK = {"linux": "dies", "openbsd": "pending"}


# Why an OS's ptrace offers no such event, for the skip message; the skip
# itself is decided by the core's own list (abi.describe "events").
MISSING_EVENT_REASONS = {
    ("openbsd", "syscall"): "sys/sys/ptrace.h 1.16 defines no PT_SYSCALL",
    ("openbsd", "vfork"): "sys/sys/ptrace.h 1.16 defines PTRACE_FORK only",
    ("openbsd", "vfork_done"): "sys/sys/ptrace.h 1.16 defines PTRACE_FORK only",
    ("openbsd", "clone"): "threads are not reported as events (sys/sys/ptrace.h 1.16)",
    ("netbsd", "clone"): "new threads are LWP events (PTRACE_LWP_CREATE), tested in test_bsd_netbsd.py",
}


def require_event(target, event: str) -> None:
    """Skip unless the target's core offers ``event`` (its abi.describe
    "events" list, which the backend derives from the OS's tables)."""
    if event in target.abi["events"]:
        return
    why = MISSING_EVENT_REASONS.get((target.os, event), "not in the core's event list for this target")
    pytest.skip("%s ptrace offers no %s event: %s" % (target.os, event, why))


def expected(table: dict, os_name: str, key: str | None = None):
    row = table.get(os_name)
    if row is None:
        pytest.skip("no recorded expectation for %s in suites/conformance.py" % os_name)
    if key is None:
        return row
    try:
        return row[key]
    except KeyError:
        pytest.skip("no recorded expectation %r for %s in suites/conformance.py" % (key, os_name))
