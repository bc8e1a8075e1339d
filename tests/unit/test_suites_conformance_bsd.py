"""The per-OS expectations in suites/conformance.py for NetBSD and OpenBSD,
and the gate that skips what an OS's ptrace lacks.

No BSD kernel runs here, so these pin the values the generic suites will
hold a BSD target to (each read from the kernel source cited beside it in
conformance.py) and check them against the ABI tables and backends the core
will really use on those targets.
"""

from __future__ import annotations

import errno
import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness import pytest_plugin
from harness.tracecore import abi, backends

SUITES = Path(__file__).resolve().parents[2] / "suites"
_spec = importlib.util.spec_from_file_location("trapline_suites_conformance", SUITES / "conformance.py")
assert _spec is not None and _spec.loader is not None
conformance = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conformance)

BSD_TARGETS = [(o, a) for o in ("netbsd", "openbsd") for a in ("amd64", "aarch64", "sparc64")]
Skipped = pytest.skip.Exception


def _target(os_name: str, events) -> SimpleNamespace:
    return SimpleNamespace(os=os_name, abi={"events": sorted(events)})


# -- fork and vfork children ------------------------------------------------------------
@pytest.mark.parametrize("os_name,kind,first_stop", [
    ("linux", "fork", ("SIGSTOP", None)),
    ("linux", "vfork", ("SIGSTOP", None)),
    ("netbsd", "fork", ("SIGTRAP", "fork_child")),
    ("netbsd", "vfork", ("SIGTRAP", "vfork_child")),
    ("openbsd", "fork", ("SIGTRAP", "fork_child")),
])
def test_a_traced_childs_first_stop_per_os(os_name, kind, first_stop):
    assert conformance.expected(conformance.CHILD_FIRST_STOP, os_name, kind) == first_stop


def test_openbsd_has_no_vfork_child_expectation():
    # No PTRACE_VFORK on OpenBSD: the suite must skip, never pass on a guess.
    with pytest.raises(Skipped, match="'vfork' for openbsd"):
        conformance.expected(conformance.CHILD_FIRST_STOP, "openbsd", "vfork")


def test_netbsd_posix_spawn_is_not_a_vfork_event():
    assert (conformance.SPAWN_REPORTED_AS["linux"], conformance.SPAWN_REPORTED_AS["netbsd"]) == ("vfork", "spawn")


# -- exec ---------------------------------------------------------------------------------
def test_exec_stop_is_named_everywhere_but_openbsd():
    table = conformance.EXEC_STOP_EVENT
    assert (table["linux"], table["netbsd"], table["openbsd"]) == ("exec", "exec", None)


def test_traceme_exec_without_options_per_os():
    table = conformance.TRACEME_EXEC_PLAIN
    assert table["linux"] == (None, "SI_USER")
    assert table["netbsd"] == ("exec", "TRAP_EXEC")
    assert table["openbsd"] == (None, None)


# -- errno of PT_IO on an unmapped page, and of attach ------------------------------------
@pytest.mark.parametrize("os_name,errno_name", [("linux", "EIO"), ("netbsd", "EINVAL"), ("openbsd", "EINVAL")])
@pytest.mark.parametrize("key", ["read_unmapped", "write_unmapped"])
def test_unmapped_transfer_errno_per_os(os_name, errno_name, key):
    assert conformance.expected(conformance.ERRNO, os_name, key) == errno_name


@pytest.mark.parametrize("os_name", ["linux", "netbsd", "openbsd"])
def test_every_errno_name_is_a_real_errno(os_name):
    names = set(errno.errorcode.values())
    assert set(conformance.ERRNO[os_name].values()) - names == set()


@pytest.mark.parametrize("os_name", ["linux", "netbsd", "openbsd"])
def test_attach_stops_with_sigstop(os_name):
    assert conformance.expected(conformance.ATTACH_STOP_SIGNAL, os_name) == "SIGSTOP"


# -- syscall stops --------------------------------------------------------------------------
def test_syscall_exit_registers_per_os():
    table = conformance.SYSCALL_EXIT_RETVAL_IN_REGS
    assert (table["linux"], table["netbsd"]) == (True, False)
    # OpenBSD has no syscall stops at all: require_event skips before this table.
    assert "openbsd" not in table


@pytest.mark.parametrize("os_name,arch", BSD_TARGETS, ids="-".join)
def test_the_core_offers_syscall_stops_on_netbsd_only(os_name, arch):
    events = backends.for_abi(abi.load(os_name, arch)).supported_events
    assert ("syscall" in events) == (os_name == "netbsd")
    # The only OpenBSD event is PTRACE_FORK (sys/sys/ptrace.h 1.16).
    if os_name == "openbsd":
        assert set(events) == {"fork"}


def test_require_event_skips_openbsd_syscalls_naming_the_header():
    with pytest.raises(Skipped, match=r"openbsd ptrace offers no syscall event: sys/sys/ptrace.h 1.16 "
                                      r"defines no PT_SYSCALL"):
        conformance.require_event(_target("openbsd", {"fork"}), "syscall")


def test_require_event_passes_when_the_core_lists_the_event():
    assert conformance.require_event(_target("netbsd", {"fork", "syscall"}), "syscall") is None


def test_require_event_without_a_recorded_reason_still_names_the_source():
    with pytest.raises(Skipped, match="netbsd ptrace offers no vfork event: not in the core's event list"):
        conformance.require_event(_target("netbsd", {"fork"}), "vfork")


# -- FP control at process start ------------------------------------------------------------
@pytest.mark.parametrize("os_name,arch", [(o, a) for o, row in conformance.FP_CONTROL_AT_START.items()
                                          for a in row], ids="-".join)
def test_fp_control_fields_are_fields_of_the_tables_fpregs(os_name, arch):
    field, mask, value = conformance.FP_CONTROL_AT_START[os_name][arch]
    table = abi.load(os_name, arch)
    assert table.fpregs is not None and field in table.fpregs.layout.names()
    assert value & ~mask == 0


def test_netbsd_amd64_starts_with_mxcsr_1f80_and_others_skip():
    assert conformance.expected(conformance.FP_CONTROL_AT_START, "netbsd", "amd64") == ("fx_mxcsr", 0xFFC0, 0x1F80)
    # No source read for the others: the suite skips, naming what is missing.
    with pytest.raises(Skipped, match="'aarch64' for netbsd"):
        conformance.expected(conformance.FP_CONTROL_AT_START, "netbsd", "aarch64")
    with pytest.raises(Skipped, match="no recorded expectation for openbsd"):
        conformance.expected(conformance.FP_CONTROL_AT_START, "openbsd", "amd64")


# -- expected() and expectations.toml -------------------------------------------------------
def test_expected_skips_an_os_with_no_row():
    with pytest.raises(Skipped, match="no recorded expectation for freebsd"):
        conformance.expected(conformance.EXEC_STOP_EVENT, "freebsd")


def test_expectations_file_loads():
    # Every entry must carry a reason and a reference; a bad one fails loudly.
    for entry in pytest_plugin.load_expectations(SUITES / "expectations.toml"):
        assert entry.reason and entry.reference
