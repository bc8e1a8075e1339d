"""Each real NetBSD/OpenBSD ABI table holds what its backend asks of it.

The backends look requests, constants and structs up by name; this is the
list of those names, checked against every BSD table registered in
``harness/tracecore/abi/``, with the layouts the headers give (LP64 on all
three arches): NetBSD sys/sys/ptrace.h 1.75 and sys/sys/siginfo.h, OpenBSD
sys/sys/ptrace.h 1.16.  A table module not written yet is a skip that says so.
"""

from __future__ import annotations

import importlib
import importlib.util

import pytest
from test_backend_bsd_fakes import FakePtrace

from harness.tracecore.abi.types import AbsentRequest
from harness.tracecore.backends import for_abi
from harness.tracecore.ptrace import PtraceBinding
from harness.tracecore.waitstatus import WaitStatus

BSD_KEYS = [(os_name, arch) for os_name in ("netbsd", "openbsd") for arch in ("amd64", "aarch64", "sparc64")]


class _Tables:
    @staticmethod
    def load(os_name: str, arch: str):
        name = "harness.tracecore.abi.%s_%s" % (os_name, arch)
        if importlib.util.find_spec(name) is None:
            pytest.skip("no %s table yet (harness/tracecore/abi/%s_%s.py)" % (name, os_name, arch))
        return importlib.import_module(name).ABI


abi_tables = _Tables()

COMMON_REQUESTS = ("PT_TRACE_ME", "PT_ATTACH", "PT_DETACH", "PT_CONTINUE", "PT_KILL", "PT_IO",
                   "PT_READ_D", "PT_SET_EVENT_MASK", "PT_GET_EVENT_MASK", "PT_GET_PROCESS_STATE")
NETBSD_REQUESTS = ("PT_SYSCALL", "PT_SYSCALLEMU", "PT_GET_SIGINFO", "PT_SET_SIGINFO", "PT_RESUME",
                   "PT_SUSPEND", "PT_STOP", "PT_LWPSTATUS", "PT_LWPNEXT", "PT_SET_SIGPASS", "PT_GET_SIGPASS")
# netbsd-9 lists LWPs with PT_LWPINFO only (legacy in 10's ptrace.h 1.75).
NETBSD_9_REQUESTS = ("PT_LWPINFO",)


def _has(table, name: str, release: str) -> bool:
    try:
        table.request(name, release)
    except KeyError:
        return False
    return True

OPENBSD_REQUESTS = ("PT_GET_THREAD_FIRST", "PT_GET_THREAD_NEXT")

# struct key -> {field: (offset, size)} the backend reads or writes.
COMMON_STRUCTS = {
    "ptrace_io_desc": (32, {"piod_op": (0, 4), "piod_offs": (8, 8), "piod_addr": (16, 8), "piod_len": (24, 8)}),
    "ptrace_event": (4, {"pe_set_event": (0, 4)}),
}
NETBSD_STRUCTS = {
    "ptrace_state": (8, {"pe_report_event": (0, 4), "pe_other_pid": (4, 4)}),
    "ptrace_state_lwp": (8, {"pe_report_event": (0, 4), "pe_lwp": (4, 4)}),
    "ptrace_siginfo": (136, {"si_signo": (0, 4), "si_code": (4, 4), "psi_lwpid": (128, 4)}),
    "ptrace_siginfo_syscall": (136, {"si_sysnum": (16, 4), "si_retval": (20, 4), "si_error": (28, 4)}),
    "ptrace_lwpinfo": (8, {"pl_lwpid": (0, 4), "pl_event": (4, 4)}),
    "ptrace_lwpstatus": (64, {"pl_lwpid": (0, 4), "pl_name": (36, 20)}),
    "sigset": (16, {"bits": (0, 4)}),
}
OPENBSD_STRUCTS = {
    "ptrace_state": (12, {"pe_report_event": (0, 4), "pe_other_pid": (4, 4), "pe_tid": (8, 4)}),
    "ptrace_thread_state": (None, {"pts_tid": (0, 4)}),
}
NETBSD_CONSTANTS = ("PIOD_READ_D", "PIOD_WRITE_D", "PIOD_WRITE_I", "PTRACE_FORK", "PTRACE_VFORK",
                    "PTRACE_VFORK_DONE", "PTRACE_LWP_CREATE", "PTRACE_LWP_EXIT", "TRAP_BRKPT",
                    "TRAP_TRACE", "TRAP_EXEC", "TRAP_CHLD", "TRAP_LWP", "TRAP_SCE", "TRAP_SCX", "SI_USER")
OPENBSD_CONSTANTS = ("PIOD_READ_D", "PIOD_WRITE_D", "PIOD_WRITE_I", "PTRACE_FORK")


@pytest.mark.parametrize("key", BSD_KEYS, ids="_".join)
def test_table_has_every_request_the_backend_sends(key):
    table = abi_tables.load(*key)
    wanted = COMMON_REQUESTS + (NETBSD_REQUESTS if key[0] == "netbsd" else OPENBSD_REQUESTS)
    if table.hardware_step:
        wanted += ("PT_STEP",) + (("PT_SETSTEP", "PT_CLEARSTEP") if key[0] == "netbsd" else ())
    if key == ("netbsd", "amd64"):
        wanted += ("PT_GETDBREGS", "PT_SETDBREGS")
    release = "10.1" if key[0] == "netbsd" else "7.6"
    missing = [name for name in wanted if not _has(table, name, release)]
    if key[0] == "netbsd":
        missing += [name + " (9.x)" for name in NETBSD_9_REQUESTS if not _has(table, name, "9.3")]
    assert missing == []
    assert table.libc_symbols.get("ptrace_data") == "int"


@pytest.mark.parametrize("key", BSD_KEYS, ids="_".join)
def test_table_structs_have_the_fields_at_the_header_offsets(key):
    table = abi_tables.load(*key)
    wanted = dict(COMMON_STRUCTS, **(NETBSD_STRUCTS if key[0] == "netbsd" else OPENBSD_STRUCTS))
    assert _layout_problems(table, wanted) == []


# Extras a backend method needs, at the numbers their machine/ptrace.h gives
# (PT_FIRSTMACH 32 + n): OpenBSD sparc64 ptrace.h 1.3 PT_WCOOKIE +4, arm64
# PT_PACMASK +5; NetBSD amd64 ptrace.h 1.22 PT_GETDBREGS +5.
@pytest.mark.parametrize(("key", "request_name", "number"), [(("openbsd", "sparc64"), "PT_WCOOKIE", 36),
                                                             (("openbsd", "aarch64"), "PT_PACMASK", 37),
                                                             (("netbsd", "amd64"), "PT_GETDBREGS", 37)],
                         ids=lambda v: v if isinstance(v, str) else "_".join(v) if isinstance(v, tuple) else str(v))
def test_extra_request_is_in_the_table(key, request_name, number):
    table = abi_tables.load(*key)
    assert table.request(request_name, "7.5" if key[0] == "openbsd" else "9.3") == number


def test_wcookie_and_pacmask_go_out_with_the_real_numbers():
    sparc = abi_tables.load("openbsd", "sparc64")
    backend = for_abi(sparc, "7.9")
    fake = FakePtrace(sparc, "7.9")
    backend.ptrace = fake  # type: ignore[assignment]
    fake.handlers["PT_WCOOKIE"] = lambda f, c: (f.put(c.addr, "Q", 0xC0FFEE), 0)[1]
    assert backend.wcookie(7) == 0xC0FFEE
    arm = abi_tables.load("openbsd", "aarch64")
    backend = for_abi(arm, "7.9")
    fake_arm = FakePtrace(arm, "7.9")
    backend.ptrace = fake_arm  # type: ignore[assignment]
    fake_arm.handlers["PT_PACMASK"] = lambda f, c: (f.put(c.addr, "QQ", 0xFF80 << 48, 0xFF80 << 48), 0)[1]
    assert backend.pacmask(7) == (0xFF80 << 48, 0xFF80 << 48)
    # One register_t out for PT_WCOOKIE, register_t[2] (16 bytes) for PT_PACMASK.
    assert [(c.request, c.number, c.data) for c in fake.calls + fake_arm.calls] == [
        ("PT_WCOOKIE", 36, 8), ("PT_PACMASK", 37, 16)]


# A request the target's release predates is refused before any call: the
# kernel would answer EINVAL, or take the number for something else.
@pytest.mark.parametrize(("method", "args", "request_name"), [("stop", (5,), "PT_STOP"),
                                                         ("lwp_status", (5, 1), "PT_LWPSTATUS"),
                                                         ("set_sigpass", (5, [20]), "PT_SET_SIGPASS"),
                                                         ("get_sigpass", (5,), "PT_GET_SIGPASS")])
def test_netbsd_9_backend_refuses_what_9_lacks(method, args, request_name):
    table = abi_tables.load("netbsd", "amd64")
    backend = for_abi(table, "9.3")
    fake = FakePtrace(table, "9.3")
    backend.ptrace = fake  # type: ignore[assignment]
    with pytest.raises(NotImplementedError, match=r"no %s for release 9\.3" % request_name):
        getattr(backend, method)(*args)
    assert fake.calls == []


def test_netbsd_9_lwp_walk_uses_lwpinfo_through_the_real_table():
    table = abi_tables.load("netbsd", "amd64")
    backend = for_abi(table, "9.3")
    fake = FakePtrace(table, "9.3")
    backend.ptrace = fake  # type: ignore[assignment]
    fake.handlers["PT_LWPINFO"] = lambda f, c: (f.put(c.addr, "i", 1 if f.get(c.addr, "i")[0] == 0 else 0), 0)[1]
    assert [lwp["pl_lwpid"] for lwp in backend.lwps(4)] == [1]
    assert {c.number for c in fake.calls} == {13}


def test_openbsd_amd64_xstate_is_refused_before_7_7_and_sent_from_it():
    table = abi_tables.load("openbsd", "amd64")
    old = for_abi(table, "7.6")
    old_fake = FakePtrace(table, "7.6")
    old.ptrace = old_fake  # type: ignore[assignment]
    with pytest.raises(NotImplementedError, match=r"no PT_GETXSTATE_INFO for release 7\.6"):
        old.xstate_info(5)
    with pytest.raises(NotImplementedError, match=r"no PT_GETXSTATE for release 7\.6"):
        old.get_xstate(5)
    assert old_fake.calls == []
    new = for_abi(table, "7.7")
    fake = FakePtrace(table, "7.7")
    new.ptrace = fake  # type: ignore[assignment]
    fake.handlers["PT_GETXSTATE_INFO"] = lambda f, c: (f.put(c.addr, "QI", 0x7, 832), 0)[1]
    assert len(new.get_xstate(5)) == 832
    assert [(c.request, c.number) for c in fake.calls] == [("PT_GETXSTATE_INFO", 37), ("PT_GETXSTATE", 38)]


def test_ptrace_binding_will_not_number_an_absent_request():
    binding = PtraceBinding(abi_tables.load("netbsd", "sparc64"), "9.3")
    with pytest.raises(AbsentRequest, match=r"PT_STOP first appears in release 10; this target runs 9\.3"):
        binding.number("PT_STOP")
    assert binding.number("PT_LWPINFO") == 13


def test_netbsd_amd64_table_has_struct_dbreg_or_says_why_not():
    # NetBSD amd64 reg.h: struct dbreg { long dr[16]; }, for PT_GET/SETDBREGS.
    table = abi_tables.load("netbsd", "amd64")
    if any("dbreg" in note for note in table.notes):
        assert "dbreg" not in table.structs
        return
    assert _layout_problems(table, {"dbreg": (128, {"dr": (0, 8)})}) == []


def _layout_problems(table, wanted):
    problems = []
    for name, (size, fields) in wanted.items():
        layout = table.structs.get(name)
        if layout is None:
            problems.append("no struct %r" % name)
            continue
        if size is not None and layout.size != size:
            problems.append("%s is %d bytes, not %d" % (name, layout.size, size))
        for field, (offset, field_size) in fields.items():
            try:
                got = layout.field(field)
            except KeyError:
                problems.append("%s has no field %r" % (name, field))
                continue
            if (got.offset, got.size) != (offset, field_size):
                problems.append("%s.%s at %d/%d, not %d/%d" % (name, field, got.offset, got.size,
                                                              offset, field_size))
    return problems


@pytest.mark.parametrize("key", BSD_KEYS, ids="_".join)
def test_table_has_the_constants_the_backend_names(key):
    table = abi_tables.load(*key)
    wanted = NETBSD_CONSTANTS if key[0] == "netbsd" else OPENBSD_CONSTANTS
    missing = []
    for name in wanted:
        try:
            table.constant(name)
        except KeyError:
            missing.append(name)
    assert missing == []


@pytest.mark.parametrize("key", BSD_KEYS, ids="_".join)
def test_backend_builds_for_the_table(key):
    table = abi_tables.load(*key)
    backend = for_abi(table, "10.1" if key[0] == "netbsd" else "7.6")
    assert "fork" in backend.supported_events
    assert ("syscall" in backend.supported_events) == (key[0] == "netbsd")


@pytest.mark.parametrize("key", BSD_KEYS, ids="_".join)
def test_backend_decodes_stops_and_memory_through_the_real_table(key):
    table = abi_tables.load(*key)
    release = "10.1" if key[0] == "netbsd" else "7.6"
    backend = for_abi(table, release)
    fake = FakePtrace(table, release)
    backend.ptrace = fake  # type: ignore[assignment]
    sigtrap = table.signals["SIGTRAP"]
    trap = WaitStatus("stopped", signo=sigtrap, raw=sigtrap << 8 | 0x7F)
    fork = table.events["PTRACE_FORK"]
    if key[0] == "netbsd":
        def siginfo(f, call):
            f.put(call.addr, "iiii", sigtrap, table.si_codes[code[0]], 0, 0)
            f.put(call.addr + 16, "iiii", 39, 4321, 0, 0)
            f.put(call.addr + 128, "i", 1)
            return 0
        code = ["TRAP_SCX"]
        fake.handlers["PT_GET_SIGINFO"] = siginfo
        stop = backend.decode_stop(50, trap)
        assert (stop.si_code, stop.event, stop.syscall_nr, stop.syscall_retval, stop.lwp) == (
            "TRAP_SCX", "syscall_exit", 39, 4321, 1)
        code[0] = "TRAP_CHLD"
        fake.handlers["PT_GET_PROCESS_STATE"] = lambda f, c: (f.put(c.addr, "ii", fork, 51), 0)[1]
    else:
        fake.handlers["PT_GET_PROCESS_STATE"] = lambda f, c: (f.put(c.addr, "iii", 0, 0, 100001), 0)[1]
        assert backend.decode_stop(50, trap).event is None    # pid 50 has now stopped once
        fake.handlers["PT_GET_PROCESS_STATE"] = lambda f, c: (f.put(c.addr, "iii", fork, 51, 100001), 0)[1]
    stop = backend.decode_stop(50, trap)
    assert (stop.event, stop.other_pid) == ("fork", 51)
    fake.base, fake.memory, fake.io_limit = 0x7000, bytearray(range(32)), 5
    assert backend.read_memory(50, 0x7003, 12) == bytes(range(3, 15))
