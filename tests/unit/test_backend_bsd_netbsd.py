"""The NetBSD backend against a fake ptrace: requests sent, stops decoded.

Every struct the fake hands back is packed by hand from the header layout
(see test_backend_bsd_fakes), in the byte order of the arch under test.
"""

from __future__ import annotations

import ctypes
import errno
import struct

import pytest
from test_backend_bsd_fakes import NETBSD_EVENTS, NETBSD_SI, PIOD, SIGNALS, FakePtrace, make_abi

from harness.tracecore.backends.base import ShortTransfer
from harness.tracecore.backends.netbsd import NetbsdBackend
from harness.tracecore.tracer import Tracee, Tracer
from harness.tracecore.waitstatus import WaitStatus

ARCHES = ["amd64", "sparc64"]
SIGTRAP, SIGSTOP = SIGNALS["SIGTRAP"], SIGNALS["SIGSTOP"]


def make(arch: str = "amd64", release: str = "10.1"):
    backend = NetbsdBackend(make_abi("netbsd", arch), release)
    fake = FakePtrace(backend.abi, release)
    backend.ptrace = fake  # type: ignore[assignment]
    return backend, fake


def stopped(signo: int) -> WaitStatus:
    return WaitStatus("stopped", signo=signo, raw=(signo << 8) | 0x7F)


def siginfo_handler(signo: int, code: int, lwp: int, sysnum: int = 0, retval=(0, 0), error: int = 0):
    """PT_GET_SIGINFO: struct ptrace_siginfo, _reason._syscall filled too."""
    def handler(fake: FakePtrace, call) -> int:
        assert call.data == 136
        fake.put(call.addr, "iiii", signo, code, 0, 0)
        fake.put(call.addr + 16, "iiii", sysnum, retval[0], retval[1], error)
        fake.put(call.addr + 128, "i", lwp)
        return 0
    return handler


def state_handler(report: int, other: int):
    def handler(fake: FakePtrace, call) -> int:
        assert call.data == 8
        fake.put(call.addr, "ii", report, other)
        return 0
    return handler


# -- requests and their arguments ------------------------------------------------------
def test_life_cycle_requests_and_arguments():
    backend, fake = make()
    backend.trace_me()
    backend.attach(321)
    backend.detach(321, SIGNALS["SIGUSR1"])
    backend.kill(322)
    assert [(c.request, c.number, c.pid, c.addr, c.data) for c in fake.calls] == [
        ("PT_TRACE_ME", 0, 0, 0, 0),
        ("PT_ATTACH", 9, 321, 0, 0),
        # addr 1: resume where it stopped (addr 0 is EINVAL on NetBSD).
        ("PT_DETACH", 10, 321, 1, 30),
        ("PT_KILL", 8, 322, 0, 0),
    ]


def test_continue_and_syscall_carry_the_signal_with_addr_1():
    backend, fake = make()
    backend.resume(50, "cont", SIGNALS["SIGUSR2"])
    backend.resume(50, "syscall")
    assert [(c.number, c.pid, c.addr, c.data) for c in fake.calls] == [(7, 50, 1, 31), (14, 50, 1, 0)]


def test_step_names_the_lwp_that_stopped():
    backend, fake = make()
    fake.handlers["PT_GET_SIGINFO"] = siginfo_handler(SIGTRAP, NETBSD_SI["TRAP_BRKPT"], lwp=3)
    backend.decode_stop(60, stopped(SIGTRAP))
    backend.resume(60, "step")
    step = fake.named("PT_STEP")
    # data > 0 on PT_STEP is an LWP id (only it resumes), never a signal.
    assert [(c.number, c.addr, c.data) for c in step] == [(32, 1, 3)]


def test_step_with_a_signal_arms_setstep_and_clears_it_at_the_next_stop():
    backend, fake = make()
    fake.handlers["PT_GET_SIGINFO"] = siginfo_handler(SIGTRAP, NETBSD_SI["TRAP_TRACE"], lwp=2)
    backend.decode_stop(61, stopped(SIGTRAP))
    fake.calls.clear()
    backend.resume(61, "step", SIGNALS["SIGUSR1"])
    assert [(c.request, c.addr, c.data) for c in fake.calls] == [
        ("PT_SETSTEP", 0, 2), ("PT_CONTINUE", 1, 30)]
    fake.calls.clear()
    backend.decode_stop(61, stopped(SIGTRAP))
    assert fake.calls[0].request == "PT_CLEARSTEP" and fake.calls[0].data == 2
    # Cleared once: the stop after that sends no second PT_CLEARSTEP.
    fake.calls.clear()
    backend.decode_stop(61, stopped(SIGTRAP))
    assert not fake.named("PT_CLEARSTEP")


def test_resume_one_lwp_uses_negative_data():
    backend, fake = make()
    backend.resume_lwp(70, 4)
    backend.resume_lwp(70, 5, "step")
    assert [(c.request, c.addr, c.data) for c in fake.calls] == [("PT_CONTINUE", 1, -4), ("PT_STEP", 1, -5)]
    with pytest.raises(ValueError, match="positive LWP"):
        backend.resume_lwp(70, 0)


def test_sparc64_has_no_kernel_step():
    backend, fake = make("sparc64")
    with pytest.raises(NotImplementedError, match=r"PT_STEP.*software"):
        backend.resume(71, "step")
    assert fake.calls == []


def test_errors_carry_the_kernel_errno():
    backend, fake = make()
    fake.errors["PT_ATTACH"] = errno.EPERM
    with pytest.raises(OSError) as err:
        backend.attach(1)
    assert err.value.errno == errno.EPERM and "PT_ATTACH" in str(err.value)


# -- registers ---------------------------------------------------------------------------
def _sparc64_reg(fake: FakePtrace, call, pc: int, npc: int) -> int:
    fake.put(call.addr, "QQQi4x", 0x4400001606, pc, npc, 7)
    fake.put(call.addr + 96, "8Q", *range(0x100, 0x108))
    return 0


def test_sparc64_registers_decode_big_endian_pc_and_npc():
    backend, fake = make("sparc64")
    fake.handlers["PT_GET_SIGINFO"] = siginfo_handler(SIGTRAP, NETBSD_SI["TRAP_BRKPT"], lwp=1)
    backend.decode_stop(80, stopped(SIGTRAP))
    fake.handlers["PT_GETREGS"] = lambda f, c: _sparc64_reg(f, c, 0x100000A10, 0x100000A14)
    raw = backend.get_regs(80)
    regs = backend.abi.regs.layout.decode(raw, backend.abi.byteorder)
    assert (regs["r_pc"], regs["r_npc"], regs["r_y"]) == (0x100000A10, 0x100000A14, 7)
    assert regs["r_out"][6] == 0x106
    call = fake.named("PT_GETREGS")[0]
    # NetBSD sparc64 PT_GETREGS is PT_FIRSTMACH + 0; data is the LWP that stopped.
    assert (call.number, call.data) == (32, 1)


def test_tracer_set_pc_on_sparc64_sets_npc_to_pc_plus_4():
    tracer = Tracer(make_abi("netbsd", "sparc64"), "10.1")
    fake = FakePtrace(tracer.abi, "10.1")
    tracer.backend.ptrace = fake  # type: ignore[assignment]
    tracer.tracees[90] = Tracee(90, stopped=True)
    fake.handlers["PT_GETREGS"] = lambda f, c: _sparc64_reg(f, c, 0x2000, 0x2004)
    written = {}

    def setregs(f: FakePtrace, c) -> int:
        written["pc"], written["npc"] = f.get(c.addr + 8, "QQ")
        written["out6"] = f.get(c.addr + 96 + 48, "Q")[0]
        return 0

    fake.handlers["PT_SETREGS"] = setregs
    tracer.set_pc(90, 0x100003000)
    # Big-endian on the wire; the registers not set keep their values.
    assert written == {"pc": 0x100003000, "npc": 0x100003004, "out6": 0x106}


def test_set_regs_refuses_a_wrong_size():
    backend, _ = make()
    with pytest.raises(ValueError, match="24 bytes"):
        backend.set_regs(1, b"\0" * 8)


# -- memory ------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ARCHES)
def test_pt_io_loops_over_short_transfers(arch):
    backend, fake = make(arch)
    fake.base, fake.memory = 0x10000, bytearray(range(64))
    fake.io_limit = 3
    asked = []

    def spy(f: FakePtrace, call) -> int:
        asked.append(f.get(call.addr, "i4xQQQ")[1::2])
        return FakePtrace._pt_io(f, call)

    fake.handlers["PT_IO"] = spy
    assert backend.read_memory(5, 0x10004, 10) == bytes(range(4, 14))
    # Each PT_IO asked for the rest, at the next child offset.
    assert asked == [(0x10004, 10), (0x10007, 7), (0x1000A, 4), (0x1000D, 1)]


@pytest.mark.parametrize("arch", ARCHES)
def test_pt_io_descriptor_fields_in_the_arch_byte_order(arch):
    backend, fake = make(arch)
    fake.base, fake.memory = 0x20000, bytearray(16)
    seen = []

    def spy(f: FakePtrace, call) -> int:
        seen.append(f.get(call.addr, "i4xQQQ"))
        return FakePtrace._pt_io(f, call)

    fake.handlers["PT_IO"] = spy
    backend.read_memory(5, 0x20002, 6)
    op, offs, _local, length = seen[0]
    assert (op, offs, length) == (PIOD["PIOD_READ_D"], 0x20002, 6)


@pytest.mark.parametrize("arch", ARCHES)
def test_short_transfer_is_reported_with_the_bytes_moved(arch):
    backend, fake = make(arch)
    fake.base, fake.memory = 0x30000, bytearray(b"abcdefgh")
    with pytest.raises(ShortTransfer) as err:
        backend.read_memory(5, 0x30004, 10)
    # 4 bytes came before the mapping ended; the next PT_IO failed EFAULT.
    assert (err.value.errno, err.value.transferred, err.value.data) == (errno.EFAULT, 4, b"efgh")
    assert isinstance(err.value, OSError)


def test_a_transfer_of_zero_bytes_is_efault_not_a_loop():
    backend, fake = make()
    fake.base, fake.memory = 0x30000, bytearray(8)
    fake.handlers["PT_IO"] = lambda f, c: (f.put(c.addr + 24, "Q", 0), 0)[1]
    with pytest.raises(ShortTransfer) as err:
        backend.read_memory(5, 0x30000, 4)
    assert (err.value.errno, err.value.transferred) == (errno.EFAULT, 0)
    assert len(fake.named("PT_IO")) == 1


def test_writes_go_through_i_space_and_write_data_through_d_space():
    backend, fake = make()
    fake.base, fake.memory = 0x40000, bytearray(8)
    ops = []
    fake.handlers["PT_IO"] = lambda f, c: (ops.append(f.get(c.addr, "i")[0]), FakePtrace._pt_io(f, c))[1]
    backend.write_memory(5, 0x40001, b"\xcc")
    backend.write_data(5, 0x40004, b"xy")
    assert ops == [PIOD["PIOD_WRITE_I"], PIOD["PIOD_WRITE_D"]]
    assert bytes(fake.memory) == b"\x00\xcc\x00\x00xy\x00\x00"


def test_zero_length_read_asks_nothing():
    backend, fake = make()
    assert backend.read_memory(5, 0x1000, 0) == b""
    assert fake.calls == []


def test_read_word_moves_an_int():
    backend, fake = make()
    fake.handlers["PT_READ_D"] = lambda f, c: -2
    assert backend.read_word(5, 0x1000) == 0xFFFFFFFE


# -- event masks -------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ARCHES)
def test_event_mask_bits_and_size(arch):
    backend, fake = make(arch)
    masks = []
    fake.handlers["PT_SET_EVENT_MASK"] = lambda f, c: (masks.append((f.get(c.addr, "i")[0], c.data)), 0)[1]
    backend.set_events(7, frozenset({"fork", "lwp", "spawn", "exec"}))
    want = (NETBSD_EVENTS["PTRACE_FORK"] | NETBSD_EVENTS["PTRACE_LWP_CREATE"]
            | NETBSD_EVENTS["PTRACE_LWP_EXIT"] | NETBSD_EVENTS["PTRACE_POSIX_SPAWN"])
    assert masks == [(want, 4)]


def test_unknown_event_is_refused_by_name():
    backend, fake = make()
    with pytest.raises(ValueError, match="clone"):
        backend.set_events(7, frozenset({"clone"}))
    assert fake.calls == []


def test_get_event_mask():
    backend, fake = make("sparc64")
    fake.handlers["PT_GET_EVENT_MASK"] = lambda f, c: (f.put(c.addr, "i", 0x24), 0)[1]
    assert backend.get_event_mask(7) == 0x24


def test_supported_events_follow_the_table():
    backend, _ = make()
    assert backend.supported_events == frozenset(
        {"fork", "vfork", "vfork_done", "lwp", "spawn", "syscall", "exec"})


# -- decoding stops ----------------------------------------------------------------------
@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize(("code", "event"), [("TRAP_BRKPT", None), ("TRAP_TRACE", None),
                                             ("TRAP_DBREG", None), ("TRAP_EXEC", "exec")])
def test_sigtrap_si_codes(arch, code, event):
    backend, fake = make(arch)
    fake.handlers["PT_GET_SIGINFO"] = siginfo_handler(SIGTRAP, NETBSD_SI[code], lwp=1)
    stop = backend.decode_stop(10, stopped(SIGTRAP))
    assert (stop.signal, stop.si_code, stop.si_code_value, stop.event, stop.lwp) == (
        "SIGTRAP", code, NETBSD_SI[code], event, 1)


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize(("bit", "event"), [("PTRACE_FORK", "fork"), ("PTRACE_VFORK", "vfork"),
                                            ("PTRACE_VFORK_DONE", "vfork_done"),
                                            ("PTRACE_POSIX_SPAWN", "spawn")])
def test_trap_chld_events_name_the_other_pid(arch, bit, event):
    backend, fake = make(arch)
    fake.handlers["PT_GET_SIGINFO"] = siginfo_handler(SIGSTOP, NETBSD_SI["SI_USER"], lwp=1)
    backend.decode_stop(100, stopped(SIGSTOP))   # the parent has stopped before
    fake.handlers["PT_GET_SIGINFO"] = siginfo_handler(SIGTRAP, NETBSD_SI["TRAP_CHLD"], lwp=1)
    fake.handlers["PT_GET_PROCESS_STATE"] = state_handler(NETBSD_EVENTS[bit], 4242)
    stop = backend.decode_stop(100, stopped(SIGTRAP))
    assert (stop.si_code, stop.event, stop.other_pid) == ("TRAP_CHLD", event, 4242)


def test_the_new_childs_own_fork_stop_is_named_fork_child():
    backend, fake = make()
    fake.handlers["PT_GET_SIGINFO"] = siginfo_handler(SIGTRAP, NETBSD_SI["TRAP_CHLD"], lwp=1)
    fake.handlers["PT_GET_PROCESS_STATE"] = state_handler(NETBSD_EVENTS["PTRACE_FORK"], 100)
    # Pid 4242 never stopped before: it is the child, and names its parent.
    stop = backend.decode_stop(4242, stopped(SIGTRAP))
    assert (stop.event, stop.other_pid) == ("fork_child", 100)


@pytest.mark.parametrize(("bit", "event"), [("PTRACE_LWP_CREATE", "lwp_create"), ("PTRACE_LWP_EXIT", "lwp_exit")])
def test_trap_lwp_events_name_the_lwp(bit, event):
    backend, fake = make("sparc64")
    fake.handlers["PT_GET_SIGINFO"] = siginfo_handler(SIGTRAP, NETBSD_SI["TRAP_LWP"], lwp=1)
    fake.handlers["PT_GET_PROCESS_STATE"] = state_handler(NETBSD_EVENTS[bit], 3)
    stop = backend.decode_stop(100, stopped(SIGTRAP))
    assert (stop.si_code, stop.event, stop.other_pid, stop.lwp) == ("TRAP_LWP", event, 3, 1)


@pytest.mark.parametrize("arch", ARCHES)
def test_syscall_entry_and_exit(arch):
    backend, fake = make(arch)
    fake.handlers["PT_GET_SIGINFO"] = siginfo_handler(SIGTRAP, NETBSD_SI["TRAP_SCE"], lwp=1, sysnum=39)
    entry = backend.decode_stop(5, stopped(SIGTRAP))
    assert (entry.si_code, entry.event, entry.syscall_nr) == ("TRAP_SCE", "syscall_entry", 39)
    fake.handlers["PT_GET_SIGINFO"] = siginfo_handler(SIGTRAP, NETBSD_SI["TRAP_SCX"], lwp=1, sysnum=39,
                                                      retval=(1234, 0), error=0)
    done = backend.decode_stop(5, stopped(SIGTRAP))
    assert (done.event, done.syscall_nr, done.syscall_retval, done.syscall_error) == (
        "syscall_exit", 39, 1234, False)
    fake.handlers["PT_GET_SIGINFO"] = siginfo_handler(SIGTRAP, NETBSD_SI["TRAP_SCX"], lwp=1, sysnum=5,
                                                      retval=(-1, 0), error=errno.ENOENT)
    failed = backend.decode_stop(5, stopped(SIGTRAP))
    assert (failed.syscall_retval, failed.syscall_error) == (-1, True)


def test_kill_stop_reports_si_user_and_no_event():
    backend, fake = make()
    fake.handlers["PT_GET_SIGINFO"] = siginfo_handler(SIGSTOP, NETBSD_SI["SI_USER"], lwp=1)
    stop = backend.decode_stop(5, stopped(SIGSTOP))
    assert (stop.signal, stop.si_code, stop.event) == ("SIGSTOP", "SI_USER", None)
    assert not fake.named("PT_GET_PROCESS_STATE")


def test_no_siginfo_means_no_si_code():
    backend, fake = make()
    fake.errors["PT_GET_SIGINFO"] = errno.ESRCH
    stop = backend.decode_stop(5, stopped(SIGTRAP))
    assert (stop.si_code, stop.si_code_value, stop.event) == (None, None, None)


def test_exit_asks_the_kernel_nothing():
    backend, fake = make()
    stop = backend.decode_stop(5, WaitStatus("exited", exit_code=3, raw=0x300))
    assert (stop.kind, stop.exit_code) == ("exited", 3)
    assert fake.calls == []


# -- NetBSD extras -------------------------------------------------------------------------
def _lwp_walker(lwps, size):
    def handler(f: FakePtrace, call) -> int:
        assert call.data == size
        current = f.get(call.addr, "i")[0]
        following = [lwp for lwp in lwps if lwp > current]
        f.put(call.addr, "i", following[0] if following else 0)
        return 0
    return handler


def test_lwps_on_10_walk_lwpnext():
    backend, fake = make(release="10.1")
    fake.handlers["PT_LWPNEXT"] = _lwp_walker([1, 2, 5], 64)
    assert [lwp["pl_lwpid"] for lwp in backend.lwps(9)] == [1, 2, 5]
    assert [c.number for c in fake.calls] == [25] * 4


def test_lwps_on_9_walk_lwpinfo():
    backend, fake = make(release="9.3")
    fake.handlers["PT_LWPINFO"] = _lwp_walker([1, 3], 8)
    assert [lwp["pl_lwpid"] for lwp in backend.lwps(9)] == [1, 3]
    assert [c.number for c in fake.calls] == [13] * 3


def test_lwp_status_decodes_the_name():
    backend, fake = make("sparc64")

    def status(f: FakePtrace, call) -> int:
        assert f.get(call.addr, "i")[0] == 2
        f.put(call.addr + 4, "4I", 0x20000000, 0, 0, 0)
        f.put(call.addr + 36, "20s", b"worker")
        return 0

    fake.handlers["PT_LWPSTATUS"] = status
    info = backend.lwp_status(9, 2)
    assert info["pl_name"].rstrip(b"\0") == b"worker"
    assert info["pl_sigpend"] == (0x20000000, 0, 0, 0)


def test_suspend_resume_stop_and_syscallemu_arguments():
    backend, fake = make()
    backend.suspend_lwp(9, 2)
    backend.unsuspend_lwp(9, 2)
    backend.stop(9)
    backend.syscall_emu(9)
    assert [(c.request, c.number, c.addr, c.data) for c in fake.calls] == [
        ("PT_SUSPEND", 22, 0, 2), ("PT_RESUME", 21, 0, 2), ("PT_STOP", 23, 0, 0), ("PT_SYSCALLEMU", 15, 1, 0)]


def test_resume_with_every_lwp_suspended_is_edeadlk():
    backend, fake = make()
    fake.errors["PT_CONTINUE"] = errno.EDEADLK
    with pytest.raises(OSError) as err:
        backend.resume(9, "cont")
    assert err.value.errno == errno.EDEADLK


@pytest.mark.parametrize("arch", ARCHES)
def test_sigpass_sets_bit_signo_minus_one(arch):
    backend, fake = make(arch)
    words = {}
    fake.handlers["PT_SET_SIGPASS"] = lambda f, c: (words.setdefault("w", f.get(c.addr, "4I")), 0)[1]
    backend.set_sigpass(9, [SIGNALS["SIGUSR1"], SIGNALS["SIGHUP"]])
    assert words["w"] == ((1 << 29) | 1, 0, 0, 0)
    fake.handlers["PT_GET_SIGPASS"] = lambda f, c: (f.put(c.addr, "4I", 1 << 29, 1, 0, 0), 0)[1]
    assert backend.get_sigpass(9) == [30, 33]


def test_set_siginfo_changes_only_the_named_fields():
    backend, fake = make("sparc64")
    fake.handlers["PT_GET_SIGINFO"] = siginfo_handler(SIGTRAP, NETBSD_SI["TRAP_BRKPT"], lwp=2, sysnum=77)
    sent = {}

    def capture(f: FakePtrace, call) -> int:
        sent["raw"] = ctypes.string_at(call.addr, 136)
        return 0

    fake.handlers["PT_SET_SIGINFO"] = capture
    backend.set_siginfo(9, {"si_signo": SIGNALS["SIGUSR1"], "si_code": 0})
    signo, code = struct.unpack(">ii", sent["raw"][:8])
    assert (signo, code) == (30, 0)
    # Untouched: the LWP and the reason union.
    assert struct.unpack(">i", sent["raw"][128:132])[0] == 2
    assert struct.unpack(">i", sent["raw"][16:20])[0] == 77


def test_dbregs_read_modify_write_on_the_stopped_lwp():
    backend, fake = make("amd64")
    fake.handlers["PT_GET_SIGINFO"] = siginfo_handler(SIGTRAP, NETBSD_SI["TRAP_DBREG"], lwp=4)
    stop = backend.decode_stop(9, stopped(SIGTRAP))
    assert stop.si_code == "TRAP_DBREG"
    fake.handlers["PT_GETDBREGS"] = lambda f, c: (f.put(c.addr, "16Q", *range(16)), 0)[1]
    written = {}
    fake.handlers["PT_SETDBREGS"] = lambda f, c: (written.setdefault("dr", f.get(c.addr, "16Q")), 0)[1]
    assert backend.get_dbregs(9)["dr"] == tuple(range(16))
    backend.set_dbregs(9, {"dr": (0x401000, *range(1, 7), 0x1, *range(8, 16))})
    assert written["dr"][0] == 0x401000 and written["dr"][7] == 1 and written["dr"][15] == 15
    assert {c.data for c in fake.calls if c.request.endswith("DBREGS")} == {4}


def test_non_root_setdbregs_is_eperm():
    backend, fake = make("amd64")
    fake.handlers["PT_GETDBREGS"] = lambda f, c: 0
    fake.errors["PT_SETDBREGS"] = errno.EPERM
    with pytest.raises(OSError) as err:
        backend.set_dbregs(9, {"dr": tuple(range(16))})
    assert err.value.errno == errno.EPERM


def test_tracer_breakpoint_bytes_on_big_endian_sparc64():
    tracer = Tracer(make_abi("netbsd", "sparc64"), "10.1")
    fake = FakePtrace(tracer.abi, "10.1")
    tracer.backend.ptrace = fake  # type: ignore[assignment]
    tracer.tracees[91] = Tracee(91, stopped=True)
    fake.base, fake.memory = 0x100000, bytearray(b"\x01\x00\x00\x00" * 4)  # nops
    tracer.insert_breakpoint(91, 0x100008)
    # "ta 1" in memory order, written through PIOD_WRITE_I.
    assert bytes(fake.memory[8:12]) == b"\x91\xd0\x20\x01"
    tracer.remove_breakpoint(91, 0x100008)
    assert bytes(fake.memory) == b"\x01\x00\x00\x00" * 4
