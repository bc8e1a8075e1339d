"""Registers: every named field, and writes with observable effects."""

from __future__ import annotations

import pytest
from conformance import FP_CONTROL_AT_START, SYSCALL_EXIT_RETVAL_IN_REGS, expected, require_event

from harness.rpc import RemoteError


def _run_snippet(tracer, pid, name):
    snippet = tracer.snippet.load(pid=pid, name=name)
    tracer.ptrace.cont(pid=pid)
    return snippet, tracer.wait(pid=pid)


def test_snippet_values_land_in_their_named_fields(tracer, target, spawn):
    pid = spawn("ready")["pid"]
    snippet, stop = _run_snippet(tracer, pid, "load_all")
    assert stop["signal"] == "SIGTRAP"
    regs = tracer.regs.get(pid=pid)
    wrong = {name: (hex(regs[name]), hex(value)) for name, value in snippet["expect"].items()
             if regs[name] != value}
    assert wrong == {}, "register fields hold other values (got, expected)"
    # The fewest any target offers: NetBSD's sparc64 struct reg64 holds the
    # 16 globals and outs, of which user code may set 12 (not %g0, the
    # reserved %g6/%g7, or the stack pointer %o6; harness/tracecore/snippets_bsd.py).
    assert len(snippet["expect"]) >= 12
    # One value per register, so a value in the wrong field names its owner.
    assert len(set(snippet["expect"].values())) == len(snippet["expect"])


def test_trap_pc_is_reported_in_the_pc_field(tracer, target, spawn):
    pid = spawn("ready")["pid"]
    snippet, _ = _run_snippet(tracer, pid, "load_all")
    pc_field = target.abi["roles"]["pc"]
    assert tracer.regs.get(pid=pid)[pc_field] == snippet["trap_addr"] + target.abi["breakpoint"]["pc_adjust"]


def test_moving_the_pc_runs_code_there(tracer, target, spawn):
    pid = spawn("ready")["pid"]
    snippet, stop = _run_snippet(tracer, pid, "set_42")
    assert stop["pc"] == snippet["trap_addr"] + target.abi["breakpoint"]["pc_adjust"]
    assert tracer.regs.get(pid=pid)[target.abi["roles"]["retval"]] == 42


def test_register_write_reads_back(tracer, target, spawn):
    pid = spawn("ready")["pid"]
    reg = target.abi["roles"]["retval"]
    tracer.regs.set(pid=pid, values={reg: 0x1122334455667788})
    assert tracer.regs.get(pid=pid)[reg] == 0x1122334455667788


def test_register_write_leaves_other_fields(tracer, target, spawn):
    pid = spawn("ready")["pid"]
    reg = target.abi["roles"]["retval"]
    before = tracer.regs.get(pid=pid)
    tracer.regs.set(pid=pid, values={reg: 7})
    after = tracer.regs.get(pid=pid)
    changed = sorted(name for name in before if before[name] != after[name])
    assert changed == ([reg] if before[reg] != 7 else [])


def test_changed_syscall_return_value_is_seen_by_the_tracee(tracer, target, spawn):
    require_event(target, "syscall")
    if not expected(SYSCALL_EXIT_RETVAL_IN_REGS, target.os):
        pytest.skip("%s writes a syscall's result into the registers after the exit stop, over "
                    "any tracer write (SYSCALL_EXIT_RETVAL_IN_REGS in suites/conformance.py)" % target.os)
    pid = spawn("getppid_report")["pid"]
    nr = target.const("SYS_getppid")
    while True:
        tracer.ptrace.syscall(pid=pid)
        stop = tracer.wait(pid=pid)
        if stop["event"] == "syscall_entry" and stop["syscall_nr"] == nr:
            break
    tracer.ptrace.syscall(pid=pid)
    exit_stop = tracer.wait(pid=pid)
    assert exit_stop["event"] == "syscall_exit"
    tracer.regs.set(pid=pid, values={target.abi["roles"]["retval"]: 4242})
    tracer.ptrace.cont(pid=pid)
    assert tracer.tracee.report(pid=pid)["getppid"] == 4242


def test_unknown_register_name_is_a_clear_error(tracer, spawn):
    pid = spawn("ready")["pid"]
    with pytest.raises(RemoteError) as err:
        tracer.regs.set(pid=pid, values={"no_such_register": 1})
    assert err.value.type == "BadRequest"
    assert "no_such_register" in err.value.remote_message


def test_fp_registers_are_readable(tracer, target, spawn):
    pid = spawn("ready")["pid"]
    fp = tracer.fpregs.get(pid=pid)
    field, control_bits, value = expected(FP_CONTROL_AT_START, target.os, target.arch)
    assert fp[field] & control_bits == value


@pytest.mark.only_on(arch="sparc64", reason="sparc64 has an NPC beside the PC")
def test_sparc64_set_pc_sets_npc_and_runs_there(tracer, target, spawn):
    """Setting the PC alone would resume at the old NPC: the core sets NPC =
    PC + 4, and the kernel must run the code there in sequence to its trap."""
    pid = spawn("ready")["pid"]
    snippet = tracer.snippet.load(pid=pid, name="set_42")
    roles = target.abi["roles"]
    regs = tracer.regs.get(pid=pid)
    assert (regs[roles["pc"]], regs[roles["npc"]]) == (snippet["addr"], snippet["addr"] + 4)
    tracer.ptrace.cont(pid=pid)
    stop = tracer.wait(pid=pid)
    assert (stop["signal"], stop["pc"]) == ("SIGTRAP", snippet["trap_addr"])
    assert tracer.regs.get(pid=pid)[roles["retval"]] == 42
