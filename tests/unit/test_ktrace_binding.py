"""ktrace binding arguments, the runner's refusals on Linux, the child program.

ktrace(2) does not exist on this Linux machine, so the calls themselves are
exercised only against a fake libc that records what it was passed; the
real calls run in the suite on NetBSD/OpenBSD guests.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import subprocess
import sys

import pytest

from harness.tracecore.ktrace import binding, child, runner
from harness.tracecore.ktrace.binding import Ktrace, KtraceUnsupported, facility_mask, ops_value


def test_linux_has_no_ktrace_and_says_so() -> None:
    with pytest.raises(KtraceUnsupported) as info:
        Ktrace("linux")
    assert info.value.errno == errno.ENOSYS
    assert "only on NetBSD and OpenBSD; this host is linux" in str(info.value)
    assert isinstance(info.value, OSError)


@pytest.mark.skipif(sys.platform.startswith(("netbsd", "openbsd")), reason="host has ktrace")
def test_run_traced_refuses_on_this_host() -> None:
    with pytest.raises(KtraceUnsupported):
        runner.run_traced(["/bin/true"], facilities=["syscall"])


def test_facility_masks_per_os() -> None:
    assert facility_mask("netbsd", ["syscall", "sysret", "namei", "genio", "psig", "user"]) == \
        (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 8)
    assert facility_mask("openbsd", ["user"]) == 1 << 9
    # Each OS's spelling of the exec facilities is accepted on the other.
    assert facility_mask("netbsd", ["execargs"]) == 1 << 10
    assert facility_mask("openbsd", ["exec_arg", "exec_env"]) == (1 << 10) | (1 << 11)
    assert facility_mask("openbsd", ["all"]) == 0x3F3E
    assert facility_mask("netbsd", 0x12) == 0x12


def test_unknown_or_empty_facilities_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown openbsd ktrace facility 'csw'"):
        facility_mask("openbsd", ["csw"])
    with pytest.raises(ValueError, match="empty mask"):
        facility_mask("netbsd", [])


def test_ops_carry_the_netbsd_version_and_descend() -> None:
    assert ops_value("netbsd", "set", version=2) == 0x02000000
    assert ops_value("netbsd", "set", descend=True, version=1) == 0x01000004
    assert ops_value("netbsd", "clearfile") == 2
    assert ops_value("openbsd", "clear", descend=True) == 5
    with pytest.raises(ValueError, match="only NetBSD has ktrace record versions"):
        ops_value("openbsd", "set", version=2)
    with pytest.raises(ValueError, match="not 3"):
        ops_value("netbsd", "set", version=3)


class _FakeFunc:
    def __init__(self, log: list, name: str, result: int = 0, err: int = 0) -> None:
        self.log, self.name, self.result, self.err = log, name, result, err
        self.argtypes = None
        self.restype = None

    def __call__(self, *args):
        self.log.append((self.name, args))
        if self.result == -1:
            ctypes.set_errno(self.err)
        return self.result


class _FakeLibc:
    def __init__(self, result: int = 0, err: int = 0) -> None:
        self.log: list = []
        self.ktrace = _FakeFunc(self.log, "ktrace", result, err)
        self.fktrace = _FakeFunc(self.log, "fktrace", result, err)
        self.utrace = _FakeFunc(self.log, "utrace", result, err)


def test_netbsd_set_passes_version_in_ops_and_inherit_in_facs() -> None:
    libc = _FakeLibc()
    kt = Ktrace("netbsd", libc=libc)  # type: ignore[arg-type]
    kt.set("/tmp/t.out", ["syscall", "sysret"], 123, inherit=True, descend=True)
    kt.clear(["syscall"], 123)
    kt.clear_file("/tmp/t.out")
    kt.fset(7, ["genio"], 123)
    assert libc.log == [
        ("ktrace", (b"/tmp/t.out", 0x02000004, 0x40000006, 123)),
        ("ktrace", (None, 1, 0x2, 123)),
        ("ktrace", (b"/tmp/t.out", 2, facility_mask("netbsd", ["all"]), 0)),
        ("fktrace", (7, 0x02000000, 0x10, 123)),
    ]


def test_openbsd_set_has_no_version_bits_and_no_fktrace() -> None:
    libc = _FakeLibc()
    kt = Ktrace("openbsd", libc=libc)  # type: ignore[arg-type]
    kt.set("/tmp/t.out", ["psig"], 9)
    assert libc.log == [("ktrace", (b"/tmp/t.out", 0, 0x20, 9))]
    with pytest.raises(KtraceUnsupported, match="fktrace\\(2\\) is NetBSD only"):
        kt.fset(3, ["psig"], 9)


def test_failed_call_raises_oserror_with_the_kernel_errno() -> None:
    kt = Ktrace("openbsd", libc=_FakeLibc(result=-1, err=errno.ESRCH))  # type: ignore[arg-type]
    with pytest.raises(OSError) as info:
        kt.set("/tmp/t.out", ["syscall"], 99999)
    assert info.value.errno == errno.ESRCH
    assert "ktrace(/tmp/t.out, SET, 0x2, 99999)" in str(info.value)


def test_rpc_refuses_unknown_programs() -> None:
    with pytest.raises(ValueError, match=r"unknown program '/bin/sh' for ktrace\.run"):
        runner.rpc_ktrace_run("/bin/sh")


def test_child_does_its_known_work_untraced(tmp_path) -> None:
    """The child's work and report, run here without ktrace (the marker fails, as it must)."""
    argv = runner.child_argv(["--dir", str(tmp_path), "--tag", "t1", "--exec", "/bin/echo", "exec-ok", "t1"])
    assert argv[1:3] == ["-m", "harness.tracecore.ktrace.child"]
    proc = subprocess.run(argv, capture_output=True, env=runner.child_env(), timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.decode().splitlines()
    report = json.loads(first)
    assert second == "exec-ok t1"
    payload = child.payload_for("t1")
    assert report["path"] == os.path.join(str(tmp_path), "trapline-ktrace-t1-%d.dat" % report["pid"])
    assert (report["written"], report["payload_hex"], report["read_hex"]) == \
        (len(payload), payload.hex(), payload.hex())
    assert (report["signal"], report["caught"]) == (10, True)  # SIGUSR1 is 10 on Linux
    assert report["handler"] not in (None, 0, 1)
    assert (report["marker_label"], report["marker_hex"], report["marker_written"]) == \
        ("trapline", child.marker_for("t1").hex(), False)
    assert "only on NetBSD and OpenBSD" in report["marker_error"]
    assert report["exec"] == ["/bin/echo", "exec-ok", "t1"]
    assert not os.path.exists(report["path"])


def test_host_os_strips_the_version_digits(monkeypatch) -> None:
    monkeypatch.setattr(binding.sys, "platform", "netbsd10")
    assert binding.host_os() == "netbsd"


def _fake_tracer(result: int, err: int = 0):
    def make(os_name=None):
        return Ktrace("netbsd", libc=_FakeLibc(result=result, err=err))  # type: ignore[arg-type]
    return make


def test_run_traced_reports_the_kernels_errno_from_the_child(monkeypatch) -> None:
    monkeypatch.setattr(runner, "Ktrace", _fake_tracer(-1, errno.EPERM))
    with pytest.raises(OSError) as info:
        runner.run_traced(["/bin/true"], facilities=["syscall"])
    assert info.value.errno == errno.EPERM
    assert "failed before exec of /bin/true" in str(info.value)


def test_run_traced_plumbing_with_a_kernel_that_writes_nothing(monkeypatch) -> None:
    monkeypatch.setattr(runner, "Ktrace", _fake_tracer(0))
    argv = ["/bin/sh", "-c", "echo hi; exit 3"]
    out = runner.run_traced(argv, facilities=["syscall"])
    assert (out["records"], out["note"], out["exit_status"], out["stdout"]) == ([], None, 3, "hi\n")
    assert (out["os"], out["byteorder"], out["argv"]) == ("netbsd", sys.byteorder, argv)
