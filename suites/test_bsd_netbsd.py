"""NetBSD-only conformance: what NetBSD's ptrace tells a tracer, per category
of NetBSD's own tests/lib/libc/sys/t_ptrace_*_wait.h (trace-me, attach,
signals, exec, event masks, fork/vfork/spawn, LWPs, byte transfer,
registers, step, syscall, kill, siginfo) and of t_ptrace_threads_wait.h,
t_ptrace_step_wait.h, t_ptrace_syscall_wait.h and t_ptrace_x86_wait.h for
NetBSD's own requests (LWP walk, PT_SUSPEND/PT_RESUME, PT_STOP,
PT_SET_SIGPASS, PT_SETSTEP, PT_SYSCALLEMU, PT_SET_SIGINFO, debug registers):
one test per category, not per variant.  Requests 23..27 (PT_STOP,
PT_LWPSTATUS, PT_LWPNEXT, PT_SET/GET_SIGPASS) came with netbsd-10; their
tests skip on older releases.

Facts asserted come from sys/sys/ptrace.h 1.75 and sys/sys/siginfo.h (si_code
TRAP_* values) and sys/kern/sys_ptrace_common.c; none of these tests has run
on a NetBSD kernel here (no BSD guest could boot on the build machine).
"""

from __future__ import annotations

import pytest

from harness.rpc import RemoteError

pytestmark = pytest.mark.only_on(os="netbsd", reason="NetBSD ptrace semantics (siginfo, TRAP_* codes, LWP events)")


def _cont_until(tracer, pid, wanted, limit=50):
    """Continue ``pid`` until a stop with event ``wanted``; fail on an exit."""
    for _ in range(limit):
        tracer.ptrace.cont(pid=pid)
        stop = tracer.wait(pid=pid)
        assert stop["kind"] == "stopped", stop
        if stop["event"] == wanted:
            return stop
    raise AssertionError("no %s event from %d in %d stops" % (wanted, pid, limit))


def _run_to_exit(tracer, pid, limit=200):
    """Continue ``pid`` (passing on signals other than SIGTRAP/SIGSTOP) to its exit."""
    signal = None
    for _ in range(limit):
        tracer.ptrace.cont(pid=pid, signal=signal)
        stop = tracer.wait(pid=pid)
        if stop["kind"] in ("exited", "signalled"):
            return stop
        signal = stop["signal"] if stop["signal"] not in ("SIGTRAP", "SIGSTOP") else None
    raise AssertionError("pid %d did not exit in %d stops" % (pid, limit))


# -- trace-me and exec ---------------------------------------------------------------------
def test_exec_after_traceme_is_sigtrap_trap_exec(spawn):
    r = spawn("ready", stop_before_exec=False)
    stop = r["exec_event"]
    # t_ptrace_exec_wait.h: a traced execve stops with SIGTRAP, si_code TRAP_EXEC.
    assert (stop["signal"], stop["si_code"], stop["event"]) == ("SIGTRAP", "TRAP_EXEC", "exec")


def test_exec_from_a_running_tracee_is_trap_exec(tracer, spawn):
    pid = spawn("exec", "/bin/echo", "x")["pid"]
    stop = _cont_until(tracer, pid, "exec")
    assert (stop["signal"], stop["si_code"]) == ("SIGTRAP", "TRAP_EXEC")
    assert _run_to_exit(tracer, pid)["exit_code"] == 0


# -- signals and siginfo ----------------------------------------------------------------------
def test_kill_to_self_reports_si_user(tracer, spawn):
    pid = spawn("raise", "SIGUSR1")["pid"]
    tracer.ptrace.cont(pid=pid)
    stop = tracer.wait(pid=pid)
    # kill(2) fills siginfo with SI_USER, and PT_GET_SIGINFO hands it over.
    assert (stop["signal"], stop["si_code"]) == ("SIGUSR1", "SI_USER")
    tracer.ptrace.cont(pid=pid, signal="SIGUSR1")
    done = tracer.wait(pid=pid)
    assert (done["kind"], done["signal"]) == ("signalled", "SIGUSR1")


def test_a_signal_suppressed_by_the_tracer_is_never_delivered(tracer, spawn):
    pid = spawn("raise", "SIGUSR1")["pid"]
    tracer.ptrace.cont(pid=pid)
    assert tracer.wait(pid=pid)["signal"] == "SIGUSR1"
    # Continue with signal 0: the SIGUSR1 is dropped and the tracee exits 0.
    tracer.ptrace.cont(pid=pid)
    assert tracer.wait(pid=pid)["exit_code"] == 0


# -- breakpoints and step -------------------------------------------------------------------
def test_breakpoint_is_trap_brkpt(tracer, target, spawn):
    r = spawn("loop", 2, "report")
    pid, addr = r["pid"], r["ready"]["getppid"]
    tracer.bp.insert(pid=pid, addr=addr)
    tracer.ptrace.cont(pid=pid)
    stop = tracer.wait(pid=pid)
    assert (stop["si_code"], stop["event"], stop["breakpoint"]) == ("TRAP_BRKPT", "breakpoint", addr)
    assert stop["pc"] == addr + target.abi["breakpoint"]["pc_adjust"]


def test_step_is_trap_trace_or_software(tracer, target, spawn):
    pid = spawn("ready")["pid"]
    snippet = tracer.snippet.load(pid=pid, name="load_all")
    stop = tracer.ptrace.step(pid=pid)
    assert tracer.regs.pc(pid=pid) == snippet["instructions"][1]
    if target.hello["hardware_step"]:
        assert (stop["si_code"], stop["step_kind"]) == ("TRAP_TRACE", "hardware")
    else:
        # sparc64: no PT_STEP; the trap is the core's own breakpoint.
        assert (stop["si_code"], stop["step_kind"]) == ("TRAP_BRKPT", "software")
    assert stop["event"] == "step"


# -- syscalls -------------------------------------------------------------------------------
def test_syscall_stops_are_trap_sce_then_trap_scx(tracer, target, spawn):
    pid = spawn("loop", 1)["pid"]
    nr = target.const("SYS_getppid")
    for _ in range(10000):
        tracer.ptrace.syscall(pid=pid)
        entry = tracer.wait(pid=pid)
        if entry["event"] == "syscall_entry" and entry["syscall_nr"] == nr:
            break
    else:
        raise AssertionError("getppid never entered")
    assert entry["si_code"] == "TRAP_SCE"
    tracer.ptrace.syscall(pid=pid)
    leave = tracer.wait(pid=pid)
    assert (leave["si_code"], leave["event"], leave["syscall_nr"]) == ("TRAP_SCX", "syscall_exit", nr)
    assert (leave["syscall_retval"], leave["syscall_error"]) == (target.hello["pid"], False)


def test_a_snippets_syscall_is_seen_entering_and_leaving(tracer, target, spawn):
    # harness/tracecore/snippets_bsd.py: sync(2) (36) made the NetBSD way per arch.
    pid = spawn("ready")["pid"]
    snippet = tracer.snippet.load(pid=pid, name="sync_syscall")
    tracer.ptrace.syscall(pid=pid)
    entry = tracer.wait(pid=pid)
    assert (entry["si_code"], entry["event"], entry["syscall_nr"]) == ("TRAP_SCE", "syscall_entry", 36)
    tracer.ptrace.syscall(pid=pid)
    leave = tracer.wait(pid=pid)
    assert (leave["si_code"], leave["syscall_retval"], leave["syscall_error"]) == ("TRAP_SCX", 0, False)
    tracer.ptrace.cont(pid=pid)
    trap = tracer.wait(pid=pid)
    assert trap["pc"] == snippet["trap_addr"] + target.abi["breakpoint"]["pc_adjust"]
    reg, value = next(iter(snippet["expect"].items()))
    assert tracer.regs.get(pid=pid)[reg] == value


# -- fork, vfork, posix_spawn -----------------------------------------------------------------
def test_fork_reports_both_sides_with_trap_chld(tracer, spawn):
    pid = spawn("fork", events=["fork"])["pid"]
    parent = _cont_until(tracer, pid, "fork")
    child = parent["other_pid"]
    assert (parent["si_code"], parent["signal"]) == ("TRAP_CHLD", "SIGTRAP")
    # t_ptrace_fork_wait.h: the child stops with SIGTRAP/TRAP_CHLD too, and
    # its PT_GET_PROCESS_STATE names the parent.
    first = tracer.wait(pid=child)
    assert (first["signal"], first["si_code"], first["event"], first["other_pid"]) == (
        "SIGTRAP", "TRAP_CHLD", "fork_child", pid)
    assert _run_to_exit(tracer, child)["exit_code"] == 7
    assert _run_to_exit(tracer, pid)["exit_code"] == 0


def test_posix_spawn_event_names_the_child(tracer, target, spawn):
    if "spawn" not in target.abi["events"]:
        pytest.skip("%s %s has no PTRACE_POSIX_SPAWN" % (target.os, target.release))
    pid = spawn("vfork", "/bin/echo", "x", events=["spawn"])["pid"]
    parent = _cont_until(tracer, pid, "spawn")
    assert parent["si_code"] == "TRAP_CHLD"
    child = parent["other_pid"]
    first = tracer.wait(pid=child)
    assert (first["event"], first["other_pid"]) == ("spawn_child", pid)
    _run_to_exit(tracer, child)
    assert _run_to_exit(tracer, pid)["exit_code"] == 0


def test_event_mask_without_fork_leaves_the_child_untraced(tracer, spawn):
    pid = spawn("fork", events=["vfork", "lwp"])["pid"]
    # No fork event: the only stops are the SIGCHLD and the exit.
    done = _run_to_exit(tracer, pid)
    assert done["exit_code"] == 0


# -- LWPs -------------------------------------------------------------------------------------
def test_lwp_create_and_exit_events_name_each_lwp(tracer, spawn):
    pid = spawn("threads", 2, events=["lwp"])["pid"]
    created, ended = [], []
    tracer.ptrace.cont(pid=pid)
    while True:
        stop = tracer.wait(pid=pid)
        if stop["kind"] != "stopped":
            break
        if stop["event"] == "lwp_create":
            assert stop["si_code"] == "TRAP_LWP"
            created.append(stop["other_pid"])
        elif stop["event"] == "lwp_exit":
            ended.append(stop["other_pid"])
        tracer.ptrace.cont(pid=pid)
    assert stop["exit_code"] == 0
    # Python may start a helper LWP of its own; the two threads are among them.
    assert len(set(created)) >= 2 and 1 not in created
    assert set(created) <= set(ended) | {None}


# -- kill -------------------------------------------------------------------------------------
def test_pt_kill_ends_the_tracee_with_sigkill(tracer, spawn):
    pid = spawn("ready")["pid"]
    done = tracer.ptrace.kill(pid=pid)
    assert (done["kind"], done["signal"]) == ("signalled", "SIGKILL")
    with pytest.raises(RemoteError):
        tracer.regs.get(pid=pid)


# -- NetBSD's own requests: LWP walk, suspend/resume, PT_STOP, PT_SET_SIGPASS, ---------------
# -- PT_SETSTEP, PT_SYSCALLEMU, PT_SET_SIGINFO, debug registers ---------------------------------
def _release_major(target):
    head = target.release.split(".", 1)[0]
    return int(head) if head.isdigit() else None


def _need_netbsd_10(target, request):
    """Skip where the kernel predates requests 23..27 of sys/sys/ptrace.h 1.75."""
    major = _release_major(target)
    if major is not None and major < 10:
        pytest.skip("%s came with netbsd-10 (sys/sys/ptrace.h 1.75); %s runs %s"
                    % (request, target.name, target.release))


def _syscall_until_entry(tracer, pid, nr, limit=10000):
    for _ in range(limit):
        tracer.ptrace.syscall(pid=pid)
        stop = tracer.wait(pid=pid)
        assert stop["kind"] == "stopped", stop
        if stop["event"] == "syscall_entry" and stop["syscall_nr"] == nr:
            return stop
    raise AssertionError("syscall %d never entered in %d stops" % (nr, limit))


def test_lwp_walk_lists_every_thread_once(tracer, target, spawn):
    """t_ptrace_lwp_wait.h 1.1.12.1 traceme_lwpnext3 / traceme_lwpinfo3: a
    tracee with 3 extra threads has 4 LWPs, each id > 0, and the walk ends.
    Here the ids must be exactly the _lwp_self() values the threads reported.
    On 9.x (PT_LWPINFO) the LWP the stop's signal went to says
    PL_EVENT_SIGNAL (1) and the others PL_EVENT_NONE (0)."""
    r = spawn("lwps", 3)
    pid, stopped_lwp = r["pid"], r["event"]["lwp"]
    lwps = tracer.lwp.list(pid=pid)
    lids = [lwp["pl_lwpid"] for lwp in lwps]
    assert sorted(lids) == sorted(r["ready"]["lwps"])
    assert len(set(lids)) == 4 and min(lids) > 0
    assert stopped_lwp in lids
    if "pl_event" in lwps[0]:
        assert {lwp["pl_lwpid"]: lwp["pl_event"] for lwp in lwps} == {
            lid: int(lid == stopped_lwp) for lid in lids}
    else:
        # PT_LWPSTATUS names the same LWP it is asked about.
        assert tracer.lwp.status(pid=pid, lwp=stopped_lwp)["pl_lwpid"] == stopped_lwp
    assert _run_to_exit(tracer, pid)["exit_code"] == 0


def test_continue_with_every_lwp_suspended_is_edeadlk(tracer, spawn):
    """t_ptrace_threads_wait.h 1.3 suspend_no_deadlock; sys_ptrace_common.c
    1.53 do_ptrace: PT_CONTINUE of a process whose every LWP is suspended,
    or of one suspended LWP (data < 0), fails with EDEADLK; after PT_RESUME
    the process runs to its exit."""
    pid = spawn("ready")["pid"]
    lids = [lwp["pl_lwpid"] for lwp in tracer.lwp.list(pid=pid)]
    for lid in lids:
        tracer.lwp.suspend(pid=pid, lwp=lid)
    with pytest.raises(RemoteError) as err:
        tracer.ptrace.cont(pid=pid)
    assert err.value.errno == "EDEADLK"
    with pytest.raises(RemoteError) as err:
        tracer.lwp.cont(pid=pid, lwp=lids[0])
    assert err.value.errno == "EDEADLK"
    for lid in lids:
        tracer.lwp.resume(pid=pid, lwp=lid)
    tracer.ptrace.cont(pid=pid)
    assert tracer.wait(pid=pid)["exit_code"] == 0


def test_a_suspended_lwp_stays_stopped_until_pt_resume(tracer, target, spawn):
    """t_ptrace_threads_wait.h 1.3 resume: with the signalling thread
    suspended the process runs but nothing stops; PT_STOP stops it with
    SIGSTOP; after PT_RESUME the thread runs on and its signal is seen."""
    _need_netbsd_10(target, "PT_STOP")
    r = spawn("lwps", 1, "raise")
    pid, main = r["pid"], r["ready"]["lwps"][0]
    tracer.lwp.suspend(pid=pid, lwp=main)
    tracer.ptrace.cont(pid=pid)
    # The worker waits for the suspended main thread: no stop may come.
    with pytest.raises(RemoteError) as err:
        tracer.wait(pid=pid, timeout=2.0)
    assert err.value.type == "WaitTimeout"
    tracer.proc.stop(pid=pid)
    stop = tracer.wait(pid=pid)
    assert (stop["kind"], stop["signal"]) == ("stopped", "SIGSTOP")
    tracer.lwp.resume(pid=pid, lwp=main)
    tracer.ptrace.cont(pid=pid)
    raised = tracer.wait(pid=pid)
    assert (raised["signal"], raised["lwp"]) == ("SIGUSR2", main)
    # Continue without the SIGUSR2: the threads are released and joined.
    tracer.ptrace.cont(pid=pid)
    assert tracer.wait(pid=pid)["exit_code"] == 0


def test_pt_stop_stops_a_running_tracee_with_sigstop(tracer, target, spawn):
    """t_ptrace_threads_wait.h 1.3 resume (its PT_STOP step): a running
    tracee stops and the wait reports SIGSTOP."""
    _need_netbsd_10(target, "PT_STOP")
    pid = spawn("loop")["pid"]
    tracer.ptrace.cont(pid=pid)
    tracer.proc.stop(pid=pid)
    stop = tracer.wait(pid=pid)
    assert (stop["kind"], stop["signal"], stop["pid"]) == ("stopped", "SIGSTOP", pid)


def test_continuing_one_lwp_runs_only_that_lwp(tracer, spawn):
    """sys_ptrace_common.c 1.53 do_ptrace: "data < 0 : step or continue
    single thread, lwp = -data" (resume_all = 0).  Only the main thread runs;
    the signal it sends itself stops the process, named by its LWP."""
    r = spawn("lwps", 2, "raise")
    pid, main = r["pid"], r["ready"]["lwps"][0]
    tracer.lwp.cont(pid=pid, lwp=main)
    raised = tracer.wait(pid=pid)
    assert (raised["kind"], raised["signal"], raised["lwp"]) == ("stopped", "SIGUSR2", main)
    tracer.ptrace.cont(pid=pid)
    assert tracer.wait(pid=pid)["exit_code"] == 0


def test_sigpass_signal_reaches_the_tracee_without_a_stop(tracer, target, spawn):
    """t_ptrace_fork_wait.h sets PT_SET_SIGPASS so SIGCHLD is never
    intercepted: a passed signal is delivered with no tracer stop.  SIGUSR1
    has no handler here, so the first event is the tracee's death by it."""
    _need_netbsd_10(target, "PT_SET_SIGPASS")
    pid = spawn("raise", "SIGUSR1")["pid"]
    tracer.sigpass.set(pid=pid, signals=["SIGUSR1"])
    assert tracer.sigpass.get(pid=pid) == ["SIGUSR1"]
    tracer.ptrace.cont(pid=pid)
    done = tracer.wait(pid=pid)
    assert (done["kind"], done["signal"]) == ("signalled", "SIGUSR1")


@pytest.mark.only_on(os="netbsd", arch=("amd64", "aarch64"),
                     reason="PT_SETSTEP/PT_CLEARSTEP are machine-dependent; sparc64 has neither")
def test_setstep_then_continue_stops_after_one_instruction(tracer, target, spawn):
    """t_ptrace_step_wait.h setstep: PT_SETSTEP then PT_CONTINUE stops with
    SIGTRAP/TRAP_TRACE; after PT_CLEARSTEP a continue runs on to the trap."""
    r = spawn("ready")
    pid, lwp = r["pid"], r["event"]["lwp"]
    snippet = tracer.snippet.load(pid=pid, name="load_all")
    tracer.step.set(pid=pid, lwp=lwp)
    tracer.ptrace.cont(pid=pid)
    stop = tracer.wait(pid=pid)
    assert (stop["signal"], stop["si_code"], stop["lwp"]) == ("SIGTRAP", "TRAP_TRACE", lwp)
    assert tracer.regs.pc(pid=pid) == snippet["instructions"][1]
    tracer.step.clear(pid=pid, lwp=lwp)
    tracer.ptrace.cont(pid=pid)
    trap = tracer.wait(pid=pid)
    assert (trap["si_code"], trap["pc"]) == (
        "TRAP_BRKPT", snippet["trap_addr"] + target.abi["breakpoint"]["pc_adjust"])


def test_syscallemu_skips_the_system_call(tracer, target, spawn):
    """t_ptrace_syscall_wait.h syscallemu1: PT_SYSCALLEMU at the entry of
    exit(100) skips it; the exit stop still comes, and the tracee goes on to
    _exit(5)."""
    nr = target.const("SYS_exit")
    pid = spawn("syscall_exit", nr)["pid"]
    _syscall_until_entry(tracer, pid, nr)
    tracer.ptrace.syscall_emu(pid=pid)
    tracer.ptrace.syscall(pid=pid)
    after = tracer.wait(pid=pid)
    assert (after["kind"], after["signal"]) == ("stopped", "SIGTRAP")
    tracer.ptrace.cont(pid=pid)
    assert tracer.wait(pid=pid)["exit_code"] == 5


def test_set_siginfo_fakes_the_signal_the_handler_sees(tracer, target, spawn):
    """t_ptrace_siginfo_wait.h 1.1 siginfo_set_faked: the tracee raises
    SIGINT (si_code SI_LWP); the tracer rewrites it to SIGTRAP/TRAP_BRKPT
    and continues with SIGTRAP; the SA_SIGINFO handler sees the fake."""
    sigtrap, trap_brkpt = target.const("SIGTRAP"), target.const("TRAP_BRKPT")
    pid = spawn("siginfo", "SIGINT", "SIGTRAP")["pid"]
    tracer.ptrace.cont(pid=pid)
    stop = tracer.wait(pid=pid)
    assert (stop["signal"], stop["si_code"]) == ("SIGINT", "SI_LWP")
    tracer.siginfo.set(pid=pid, values={"si_signo": sigtrap, "si_code": trap_brkpt})
    info = tracer.siginfo.get(pid=pid)
    assert (info["si_signo"], info["si_code"], info["psi_lwpid"]) == (sigtrap, trap_brkpt, stop["lwp"])
    tracer.ptrace.cont(pid=pid, signal="SIGTRAP")
    caught = tracer.tracee.report(pid=pid)["caught"]
    assert [(c["signo"], c["si_signo"], c["si_code"]) for c in caught] == [(sigtrap, sigtrap, trap_brkpt)]
    assert tracer.wait(pid=pid)["exit_code"] == 0


def test_set_siginfo_unmodified_keeps_si_lwp(tracer, target, spawn):
    """t_ptrace_siginfo_wait.h 1.1 siginfo_set_unmodified: writing the
    siginfo back unchanged delivers SIGINT with si_code SI_LWP."""
    sigint, si_lwp = target.const("SIGINT"), target.const("SI_LWP")
    pid = spawn("siginfo", "SIGINT", "SIGINT")["pid"]
    tracer.ptrace.cont(pid=pid)
    assert tracer.wait(pid=pid)["signal"] == "SIGINT"
    tracer.siginfo.set(pid=pid, values={})
    tracer.ptrace.cont(pid=pid, signal="SIGINT")
    caught = tracer.tracee.report(pid=pid)["caught"]
    assert [(c["signo"], c["si_signo"], c["si_code"]) for c in caught] == [(sigint, sigint, si_lwp)]
    assert tracer.wait(pid=pid)["exit_code"] == 0


# t_ptrace_x86_wait.h 1.31 union u: DR7 bit 1 enables DR0 globally, bits
# 16-17 are its condition (0b01: data writes), bits 18-19 its length (0b00: 1 byte).
_DR7_DR0_WRITE_BYTE = (1 << 1) | (0b01 << 16)


@pytest.mark.only_on(os="netbsd", arch="amd64", reason="x86 debug registers (PT_GETDBREGS/PT_SETDBREGS)")
def test_dbregs_write_watchpoint_is_trap_dbreg(tracer, target, spawn):
    """t_ptrace_x86_wait.h 1.31 dbregs_dr0_trap_variable_writeonly_byte (and
    dbregs_preserve_dr0): DR0 on a byte, DR7 break-on-write; the write stops
    the tracee with SIGTRAP/TRAP_DBREG, after the byte changed."""
    if target.hello["uid"] != 0:
        pytest.skip("PT_SETDBREGS needs root or security.models.extensions.user_set_dbregs=1 "
                    "(sys_ptrace_common.c 1.53 ptrace_listener_cb); the core runs as uid %d"
                    % target.hello["uid"])
    r = spawn("store", 0)
    pid, addr = r["pid"], r["ready"]["data"]
    dr = tracer.dbregs.get(pid=pid)["dr"]
    dr[0], dr[7] = addr, _DR7_DR0_WRITE_BYTE
    tracer.dbregs.set(pid=pid, values={"dr": dr})
    assert tracer.dbregs.get(pid=pid)["dr"][0] == addr
    tracer.ptrace.cont(pid=pid)
    stop = tracer.wait(pid=pid)
    assert (stop["signal"], stop["si_code"]) == ("SIGTRAP", "TRAP_DBREG")
    # A data breakpoint traps after the write: the new byte is there.
    assert tracer.mem.read(pid=pid, addr=addr, size=1) == "5a"
    tracer.ptrace.cont(pid=pid)
    assert tracer.tracee.report(pid=pid) == {"stored": 0}
    assert tracer.wait(pid=pid)["exit_code"] == 0


def test_the_openbsd_thread_walk_is_refused_naming_netbsd(tracer, spawn):
    pid = spawn("ready")["pid"]
    with pytest.raises(RemoteError) as err:
        tracer.threads.list(pid=pid)
    assert err.value.type == "NotImplementedError"
    assert err.value.remote_message.startswith(
        "threads.list: netbsd ptrace has no PT_GET_THREAD_FIRST and PT_GET_THREAD_NEXT")
