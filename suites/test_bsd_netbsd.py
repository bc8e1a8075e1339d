"""NetBSD-only conformance: what NetBSD's ptrace tells a tracer, per category
of NetBSD's own tests/lib/libc/sys/t_ptrace_*_wait.h (trace-me, attach,
signals, exec, event masks, fork/vfork/spawn, LWPs, byte transfer,
registers, step, syscall, kill, siginfo): one test per category, not per
variant.

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


# -- registers ---------------------------------------------------------------------------------
@pytest.mark.only_on(os="netbsd", arch="sparc64", reason="sparc64 has an NPC beside the PC")
def test_sparc64_set_pc_sets_npc_and_runs_there(tracer, target, spawn):
    pid = spawn("ready")["pid"]
    snippet = tracer.snippet.load(pid=pid, name="set_42")
    regs = tracer.regs.get(pid=pid)
    roles = target.abi["roles"]
    assert (regs[roles["pc"]], regs[roles["npc"]]) == (snippet["addr"], snippet["addr"] + 4)
    tracer.ptrace.cont(pid=pid)
    stop = tracer.wait(pid=pid)
    assert stop["pc"] == snippet["trap_addr"]


# -- kill -------------------------------------------------------------------------------------
def test_pt_kill_ends_the_tracee_with_sigkill(tracer, spawn):
    pid = spawn("ready")["pid"]
    done = tracer.ptrace.kill(pid=pid)
    assert (done["kind"], done["signal"]) == ("signalled", "SIGKILL")
    with pytest.raises(RemoteError):
        tracer.regs.get(pid=pid)
