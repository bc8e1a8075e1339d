"""The OpenBSD backend against a fake ptrace: requests sent, stops decoded.

OpenBSD gives no siginfo through ptrace: the backend must never ask for one
and never name a si_code; fork is the only event (PT_GET_PROCESS_STATE).
"""

from __future__ import annotations

import dataclasses
import errno

import pytest
from test_backend_bsd_fakes import OPENBSD_EVENTS, PIOD, SIGNALS, FakePtrace, make_abi

from harness.tracecore.abi.types import Constants
from harness.tracecore.backends import for_abi
from harness.tracecore.backends.base import ShortTransfer
from harness.tracecore.backends.openbsd import OpenbsdBackend
from harness.tracecore.waitstatus import WaitStatus

ARCHES = ["amd64", "sparc64"]
SIGTRAP, SIGSTOP = SIGNALS["SIGTRAP"], SIGNALS["SIGSTOP"]
TID = 100000 + 17  # THREAD_PID_OFFSET + p_tid


def make(arch: str = "amd64", release: str = "7.6"):
    backend = OpenbsdBackend(make_abi("openbsd", arch), release)
    fake = FakePtrace(backend.abi, release)
    backend.ptrace = fake  # type: ignore[assignment]
    return backend, fake


def stopped(signo: int) -> WaitStatus:
    return WaitStatus("stopped", signo=signo, raw=(signo << 8) | 0x7F)


def state_handler(report: int, other: int, tid: int):
    def handler(fake: FakePtrace, call) -> int:
        assert call.data == 12
        fake.put(call.addr, "iii", report, other, tid)
        return 0
    return handler


def test_the_registry_picks_this_backend():
    assert type(for_abi(make_abi("openbsd", "sparc64"), "7.6")) is OpenbsdBackend


@pytest.mark.parametrize("arch", ARCHES)
def test_life_cycle_and_resume_requests(arch):
    backend, fake = make(arch)
    backend.trace_me()
    backend.attach(40)
    backend.resume(40, "cont", SIGNALS["SIGUSR1"])
    backend.detach(40)
    backend.kill(41)
    assert [(c.number, c.pid, c.addr, c.data) for c in fake.calls] == [
        (0, 0, 0, 0), (9, 40, 0, 0), (7, 40, 1, 30), (10, 40, 1, 0), (8, 41, 0, 0)]


def test_step_on_amd64_carries_the_signal():
    backend, fake = make("amd64")
    backend.resume(40, "step", SIGNALS["SIGUSR2"])
    assert [(c.request, c.number, c.addr, c.data) for c in fake.calls] == [("PT_STEP", 32, 1, 31)]


def test_no_step_on_sparc64_and_no_syscall_request_anywhere():
    backend, fake = make("sparc64")
    with pytest.raises(NotImplementedError, match="software"):
        backend.resume(40, "step")
    with pytest.raises(NotImplementedError, match="PT_SYSCALL"):
        backend.resume(40, "syscall")
    assert fake.calls == []
    assert "syscall" not in backend.supported_events


# -- decoding: no siginfo, fork only ---------------------------------------------------
@pytest.mark.parametrize("arch", ARCHES)
def test_fork_event_from_process_state(arch):
    backend, fake = make(arch)
    fake.handlers["PT_GET_PROCESS_STATE"] = state_handler(0, 0, TID)
    first = backend.decode_stop(300, stopped(SIGSTOP))
    assert (first.signal, first.event, first.lwp, first.si_code) == ("SIGSTOP", None, TID, None)
    fake.handlers["PT_GET_PROCESS_STATE"] = state_handler(OPENBSD_EVENTS["PTRACE_FORK"], 301, TID)
    stop = backend.decode_stop(300, stopped(SIGTRAP))
    assert (stop.event, stop.other_pid, stop.lwp) == ("fork", 301, TID)
    assert (stop.si_code, stop.si_code_value) == (None, None)
    assert not fake.named("PT_GET_SIGINFO")


def test_the_new_childs_fork_stop_is_fork_child():
    backend, fake = make()
    fake.handlers["PT_GET_PROCESS_STATE"] = state_handler(OPENBSD_EVENTS["PTRACE_FORK"], 300, TID + 1)
    stop = backend.decode_stop(301, stopped(SIGTRAP))
    assert (stop.event, stop.other_pid) == ("fork_child", 300)


def test_a_plain_sigtrap_stays_unnamed():
    backend, fake = make()
    fake.handlers["PT_GET_PROCESS_STATE"] = state_handler(0, 0, TID)
    stop = backend.decode_stop(300, stopped(SIGTRAP))
    # Breakpoint, step or exec: the tracer's bookkeeping names it, not a guess here.
    assert (stop.event, stop.si_code, stop.other_pid) == (None, None, None)


def test_process_state_failure_leaves_the_stop_undecorated():
    backend, fake = make()
    fake.errors["PT_GET_PROCESS_STATE"] = errno.ESRCH
    stop = backend.decode_stop(300, stopped(SIGTRAP))
    assert (stop.kind, stop.signal, stop.lwp, stop.event) == ("stopped", "SIGTRAP", None, None)


def test_exit_asks_nothing():
    backend, fake = make()
    stop = backend.decode_stop(300, WaitStatus("signalled", signo=9, raw=9))
    assert (stop.kind, stop.signal) == ("signalled", "SIGKILL")
    assert fake.calls == []


# -- events --------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ARCHES)
def test_event_mask_fork_only(arch):
    backend, fake = make(arch)
    sent = []
    fake.handlers["PT_SET_EVENT_MASK"] = lambda f, c: (sent.append((f.get(c.addr, "i")[0], c.data)), 0)[1]
    # exec is accepted (the kernel always stops there) but asks nothing.
    backend.set_events(5, frozenset({"fork", "exec"}))
    backend.set_events(5, frozenset({"exec"}))
    assert sent == [(OPENBSD_EVENTS["PTRACE_FORK"], 4), (0, 4)]
    assert backend.supported_events == frozenset({"fork"})


@pytest.mark.parametrize("event", ["vfork", "lwp", "spawn", "clone"])
def test_events_openbsd_lacks_are_refused(event):
    backend, fake = make()
    with pytest.raises(ValueError, match=event):
        backend.set_events(5, frozenset({event}))
    assert fake.calls == []


# -- registers and memory -----------------------------------------------------------------
def test_sparc64_regs_big_endian_with_data_zero():
    backend, fake = make("sparc64")

    def regs(f: FakePtrace, call) -> int:
        f.put(call.addr, "QQQi4x", 0, 0x1000C40, 0x1000C44, 0)
        f.put(call.addr + 224, "8Q", *range(0x200, 0x208))
        return 0

    fake.handlers["PT_GETREGS"] = regs
    decoded = backend.abi.regs.layout.decode(backend.get_regs(300), "big")
    assert (decoded["r_pc"], decoded["r_npc"], decoded["r_in"][7]) == (0x1000C40, 0x1000C44, 0x207)
    call = fake.named("PT_GETREGS")[0]
    # OpenBSD sparc64 PT_GETREGS is PT_FIRSTMACH + 0 (sparc64/include/ptrace.h 1.2).
    assert (call.number, call.pid, call.data) == (32, 300, 0)


@pytest.mark.parametrize("arch", ARCHES)
def test_pt_io_short_transfers_loop_then_fail_honestly(arch):
    backend, fake = make(arch)
    fake.base, fake.memory = 0x50000, bytearray(range(100, 120))
    fake.io_limit = 8
    assert backend.read_memory(300, 0x50002, 16) == bytes(range(102, 118))
    assert len(fake.named("PT_IO")) == 2
    with pytest.raises(ShortTransfer) as err:
        backend.read_memory(300, 0x50010, 8)
    assert (err.value.errno, err.value.transferred, err.value.data) == (errno.EFAULT, 4, bytes(range(116, 120)))


def test_breakpoint_write_uses_piod_write_i_for_the_icache_flush():
    backend, fake = make("sparc64")
    fake.base, fake.memory = 0x60000, bytearray(8)
    ops = []
    fake.handlers["PT_IO"] = lambda f, c: (ops.append(f.get(c.addr, "i")[0]), FakePtrace._pt_io(f, c))[1]
    backend.write_memory(300, 0x60004, b"\x91\xd0\x20\x01")
    assert ops == [PIOD["PIOD_WRITE_I"]]
    assert bytes(fake.memory[4:]) == b"\x91\xd0\x20\x01"


# -- OpenBSD extras -------------------------------------------------------------------------
def test_threads_walk_first_then_next_until_minus_one():
    backend, fake = make()
    tids = [TID, TID + 5]

    def first(f: FakePtrace, call) -> int:
        assert call.data == 4
        f.put(call.addr, "i", tids[0])
        return 0

    def following(f: FakePtrace, call) -> int:
        current = f.get(call.addr, "i")[0]
        later = tids[tids.index(current) + 1:]
        f.put(call.addr, "i", later[0] if later else -1)
        return 0

    fake.handlers["PT_GET_THREAD_FIRST"] = first
    fake.handlers["PT_GET_THREAD_NEXT"] = following
    assert backend.threads(300) == tids
    assert [c.number for c in fake.calls] == [15, 16, 16]


def test_wcookie_is_one_big_endian_register():
    backend, fake = make("sparc64")
    fake.handlers["PT_WCOOKIE"] = lambda f, c: (f.put(c.addr, "Q", 0x0123456789ABCDEF), 0)[1]
    assert backend.wcookie(300) == 0x0123456789ABCDEF
    assert fake.calls[0].request == "PT_WCOOKIE"


def test_pacmask_is_two_registers_with_their_size_in_data():
    backend = OpenbsdBackend(make_abi("openbsd", "aarch64"), "7.6")
    fake = FakePtrace(backend.abi, "7.6")
    backend.ptrace = fake  # type: ignore[assignment]
    fake.handlers["PT_PACMASK"] = lambda f, c: (f.put(c.addr, "QQ", 0xFF7F000000000000, 0xFF7F000000000000), 0)[1]
    assert backend.pacmask(300) == (0xFF7F000000000000, 0xFF7F000000000000)
    # sys_process.c: PT_PACMASK is an OUT request, so data must equal sizeof(register_t[2]).
    assert fake.calls[0].data == 16


def test_xstate_reads_xsave_len_bytes():
    backend, fake = make("amd64", "7.7")
    fake.handlers["PT_GETXSTATE_INFO"] = lambda f, c: (f.put(c.addr, "QI", 0x7, 832), 0)[1]
    fake.handlers["PT_GETXSTATE"] = lambda f, c: (f.put(c.addr, "I", 0x37F), 0)[1]
    area = backend.get_xstate(300)
    assert len(area) == 832 and area[:4] == b"\x7f\x03\x00\x00"
    assert [(c.request, c.data) for c in fake.calls][-1] == ("PT_GETXSTATE", 832)


def test_an_extra_the_table_lacks_fails_naming_it():
    table = make_abi("openbsd", "sparc64")
    requests = {k: v for k, v in table.requests.values.items() if k != "PT_WCOOKIE"}
    backend = OpenbsdBackend(dataclasses.replace(table, requests=Constants(table.requests.header, requests)), "7.6")
    backend.ptrace = FakePtrace(backend.abi, "7.6")  # type: ignore[assignment]
    with pytest.raises(NotImplementedError, match="PT_WCOOKIE"):
        backend.wcookie(300)
    assert backend.ptrace.calls == []


def test_xstate_before_7_7_is_refused_before_any_call():
    backend, fake = make("amd64", "7.6")
    with pytest.raises(NotImplementedError, match=r"has no PT_GETXSTATE for release 7\.6"):
        backend.get_xstate(300)
    assert fake.calls == []
