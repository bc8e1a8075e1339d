"""The per-OS expectations behind suites/test_signals.py, the attach
topology tests and the posix_spawn event tests (suites/conformance.py).

No BSD kernel runs here: these pin the BSD rows as read from the sources
cited in conformance.py, keep every name in them one the core's own tables
know for that OS, and check that a missing row skips instead of passing.
"""

from __future__ import annotations

import errno
import importlib.util
from pathlib import Path

import pytest

from harness.tracecore import abi, backends, tracees

SUITES = Path(__file__).resolve().parents[2] / "suites"
_spec = importlib.util.spec_from_file_location("trapline_suites_conformance_signals", SUITES / "conformance.py")
assert _spec is not None and _spec.loader is not None
conformance = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conformance)

OSES = ("linux", "netbsd", "openbsd")
TARGETS = [(o, a) for o in OSES for a in ("amd64", "aarch64", "sparc64")]
Skipped = pytest.skip.Exception


# -- signals under a disposition ----------------------------------------------------------
@pytest.mark.parametrize("os_name", OSES)
def test_raised_signal_rows_are_the_ones_read_from_source(os_name):
    # The three kernels agree; the BSD rows come from t_ptrace_signal_wait.h
    # and kern_sig.c, the Linux row from kernel/signal.c and this machine.
    assert conformance.RAISED_SIGNAL[os_name] == {
        "block": ("at_unblock", "dies", "nothing"),
        "ignore": ("at_kill", "nothing", "nothing"),
        "handle": ("at_kill", "handler", "nothing"),
    }


def test_raised_signal_rows_use_only_the_words_the_suite_understands():
    for os_name, row in conformance.RAISED_SIGNAL.items():
        for disposition, (where, with_signal, without_signal) in row.items():
            assert disposition in ("block", "ignore", "handle"), os_name
            assert where in ("at_kill", "at_unblock"), (os_name, disposition)
            assert {with_signal, without_signal} <= {"dies", "handler", "nothing"}, (os_name, disposition)


def test_sigtrap_passed_back_per_os_and_netbsd_skips():
    assert conformance.MASKED_TRAP_PASSED_BACK == {"linux": "dies", "openbsd": "pending"}
    # Not read for NetBSD: the suite must skip, never pass on a guess.
    with pytest.raises(Skipped, match="no recorded expectation for netbsd"):
        conformance.expected(conformance.MASKED_TRAP_PASSED_BACK, "netbsd")


@pytest.mark.parametrize("os_name,arch", TARGETS, ids="-".join)
def test_the_signals_the_tests_use_are_in_each_signal_table(os_name, arch):
    signals = abi.load(os_name, arch).signals
    for name in ("SIGUSR1", "SIGUSR2", "SIGTRAP", "SIGSTOP", "SIGKILL"):
        assert name in signals.values, (os_name, arch, name)


# -- attach topologies ---------------------------------------------------------------------
def test_attach_stop_si_code_per_os():
    assert conformance.ATTACH_STOP_SI_CODE == {"linux": "SI_KERNEL", "netbsd": "SI_USER", "openbsd": None}


@pytest.mark.parametrize("os_name,arch", [(o, a) for o, a in TARGETS if conformance.ATTACH_STOP_SI_CODE[o]],
                         ids="-".join)
def test_attach_stop_si_code_is_in_the_oss_si_code_table(os_name, arch):
    assert conformance.ATTACH_STOP_SI_CODE[os_name] in abi.load(os_name, arch).si_codes.values


def test_root_attach_to_init_is_eperm_on_the_bsds_and_never_tried_on_linux():
    assert conformance.ATTACH_INIT_AS_ROOT == {"netbsd": "EPERM", "openbsd": "EPERM"}
    assert set(conformance.ATTACH_INIT_AS_ROOT.values()) <= set(errno.errorcode.values())
    # Linux has a reason to skip, not a row that would let the test run.
    assert set(conformance.ATTACH_INIT_AS_ROOT_MISSING) == {"linux"}
    assert "linux" not in conformance.ATTACH_INIT_AS_ROOT


# -- posix_spawn ---------------------------------------------------------------------------
def test_posix_spawn_is_a_vfork_a_spawn_or_a_fork():
    assert conformance.SPAWN_REPORTED_AS == {"linux": "vfork", "netbsd": "spawn", "openbsd": "fork"}
    assert conformance.SPAWN_CHILD_STOPS_AT_EXEC == {"linux": True, "netbsd": False, "openbsd": True}


@pytest.mark.parametrize("os_name,arch", TARGETS, ids="-".join)
def test_spawn_events_are_events_the_core_offers(os_name, arch):
    offered = backends.for_abi(abi.load(os_name, arch)).supported_events
    reported = conformance.SPAWN_REPORTED_AS[os_name]
    others = conformance.SPAWN_UNREPORTED_WITH[os_name]
    assert reported in offered
    assert set(others) <= set(offered) and reported not in others
    # The spawned child's first stop is recorded for that event.
    assert conformance.expected(conformance.CHILD_FIRST_STOP, os_name, reported)[0] in ("SIGSTOP", "SIGTRAP")


# -- the tracee programs the new tests start ----------------------------------------------
@pytest.mark.parametrize("name", ["attachee", "attachee_parent", "disposition"])
def test_the_tracee_programs_exist(name):
    assert callable(tracees.PROGRAMS[name])


def test_disposition_refuses_an_unknown_disposition(capsys):
    assert tracees.PROGRAMS["disposition"](["mask", "SIGUSR1"]) == 2
    assert "block|ignore|handle" in capsys.readouterr().err
