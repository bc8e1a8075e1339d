"""Registers: every named field, and writes with observable effects."""

from __future__ import annotations

import pytest

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
    assert len(snippet["expect"]) >= 15


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
    field, control_bits, value = DEFAULT_FP_CONTROL.get(target.arch, (None, 0, None))
    if field is None:
        pytest.skip("no known default FP control value recorded for %s" % target.arch)
    assert fp[field] & control_bits == value


# The FP control a fresh process starts with, masked to the control bits
# (the sticky status flags depend on what the program computed so far):
# x86 MXCSR 0x1f80, all exceptions masked, round to nearest (Intel SDM vol. 1,
# 10.2.3: flags are bits 0-5); AArch64 FPCR 0 (Linux clears it on exec).
DEFAULT_FP_CONTROL = {"amd64": ("mxcsr", 0xFFC0, 0x1F80), "aarch64": ("fpcr", 0xFFFFFFFF, 0)}
