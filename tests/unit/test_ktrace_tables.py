"""ktrace tables: every layout cites its source, syscall names match kdump's."""

from __future__ import annotations

import re

import pytest

from harness.tracecore.ktrace import layouts as L
from harness.tracecore.ktrace import syscalls_netbsd, syscalls_openbsd

# A revision is an RCS version ("v1.66") or a commit hash prefix.
_REVISION = re.compile(r"v\d+\.\d+|\b[0-9a-f]{8}\b")


def test_every_layout_and_constant_table_cites_a_revision() -> None:
    tables = [s.header for s in L.all_structs()] + [
        c.header for c in (L.NETBSD_OPS, L.OPENBSD_OPS, L.NETBSD_TYPES, L.OPENBSD_TYPES,
                           L.OPENBSD_OLD_TYPES, L.NETBSD_FACILITIES, L.OPENBSD_FACILITIES)]
    for header in tables:
        assert header.include.startswith("sys/")
        assert _REVISION.search(header.source), header


def test_facility_bits_follow_record_types() -> None:
    # ktrace.h defines each KTRFAC_x as (1 << KTR_x).
    for types, facs in ((L.NETBSD_TYPES, L.NETBSD_FACILITIES), (L.OPENBSD_TYPES, L.OPENBSD_FACILITIES)):
        for name, value in types.values.items():
            fac = "KTRFAC_" + name[len("KTR_"):]
            if fac in facs:
                assert facs[fac] == 1 << value, fac


@pytest.mark.parametrize(("number", "name"), [
    (1, "exit"), (3, "read"), (4, "write"), (5, "open"), (6, "close"), (17, "break"),
    (20, "getpid"), (45, "ktrace"), (59, "execve"), (197, "mmap"), (199, "lseek"),
    (288, "fktrace"), (293, "__sigprocmask14"), (306, "utrace"), (340, "__sigaction_sigtramp"),
    (431, "____sigtimedwait50"), (439, "__stat50"), (440, "__fstat50"), (468, "openat"),
    (478, "___lwp_park60"), (9999, "#9999"),
])
def test_netbsd_syscall_names(number: int, name: str) -> None:
    assert syscalls_netbsd.name(number) == name


@pytest.mark.parametrize(("number", "name"), [
    (1, "exit"), (3, "read"), (4, "write"), (5, "open"), (17, "break"), (45, "ktrace"),
    (49, "mmap"), (59, "execve"), (108, "pledge"), (166, "lseek"), (202, "sysctl"),
    (209, "utrace"), (321, "openat"), (159, "mimmutable"), (9999, "#9999"),
])
def test_openbsd_syscall_names(number: int, name: str) -> None:
    assert syscalls_openbsd.name(number) == name
