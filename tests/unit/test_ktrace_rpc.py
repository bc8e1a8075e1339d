"""``ktrace.run`` over the RPC protocol on this (Linux) machine, and the
child's handler address that the PSIG suite test checks the action against.

No BSD kernel runs here: the real ktrace path is for BSD guests.  What can
be checked here is the refusal the core sends on a kernel without ktrace(2),
the child's sigaction(2) read (glibc's struct sigaction also starts with the
handler), and that the suite fails, naming why, when that read fails.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from harness.tracecore import server
from harness.tracecore.ktrace import child

SUITES = Path(__file__).resolve().parents[2] / "suites"
_spec = importlib.util.spec_from_file_location("trapline_suites_ktrace", SUITES / "test_ktrace.py")
assert _spec is not None and _spec.loader is not None
suite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(suite)

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="checks the refusal and the sigaction read of a Linux host")


@linux_only
def test_ktrace_run_on_linux_is_refused_with_enosys() -> None:
    session = server.Session()
    try:
        before = set(Path(tempfile.gettempdir()).glob("trapline-ktrace-*"))
        line = json.dumps({"id": 3, "method": "ktrace.run",
                           "params": {"program": "ktrace_child", "args": ["--tag", "rpc"],
                                      "facilities": ["syscall", "psig"]}}).encode()
        reply = json.loads(json.dumps(server.handle(session, line)))
        after = set(Path(tempfile.gettempdir()).glob("trapline-ktrace-*"))
    finally:
        session.close()
    assert reply == {"id": 3, "error": {
        "type": "KtraceUnsupported", "errno": "ENOSYS", "errno_value": errno.ENOSYS,
        "message": "[Errno %d] ktrace(2) exists only on NetBSD and OpenBSD; this host is linux. Run this on a "
                   "NetBSD or OpenBSD target (the ktrace suite skips elsewhere)" % errno.ENOSYS}}
    # Refused before a trace file was made or a child started.
    assert after == before


@linux_only
def test_child_reports_its_handler_address(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "harness.tracecore.ktrace.child", "--tag", "handler",
                           "--dir", str(tmp_path)], capture_output=True, text=True, timeout=60, check=True)
    report = json.loads(proc.stdout.splitlines()[0])
    assert report["caught"] is True
    assert report["handler_error"] is None
    # Python's C trampoline: neither SIG_DFL (0) nor SIG_IGN (1).
    assert isinstance(report["handler"], int) and report["handler"] > 1


@linux_only
def test_installed_handler_names_why_sigaction_failed() -> None:
    # No such signal: the kernel's sigaction answers EINVAL.
    assert child._installed_handler(100000) == (
        None, "sigaction(100000, NULL, &old) failed: %s" % os.strerror(errno.EINVAL))
    previous = signal.signal(signal.SIGUSR2, signal.SIG_DFL)
    try:
        assert child._installed_handler(int(signal.SIGUSR2)) == (0, None)
    finally:
        signal.signal(signal.SIGUSR2, previous)


def bsd_run(handler: int | None, handler_error: str | None) -> dict:
    psig = {"signo": suite.SIGUSR1, "signame": "SIGUSR1", "action": 0x7F001234, "code": 0}
    return {"report": {"pid": 77, "signal": suite.SIGUSR1, "handler": handler, "handler_error": handler_error},
            "records": [{"pid": 77, "type_name": "KTR_PSIG", "payload": psig}]}


def test_psig_suite_fails_when_the_bsd_handler_address_is_unknown() -> None:
    run = bsd_run(None, "cannot call sigaction(2) through ctypes: undefined symbol: __sigaction14")
    with pytest.raises(AssertionError, match=r"could not read its SIGUSR1 handler address \(cannot call "
                                             r"sigaction\(2\) through ctypes: undefined symbol: __sigaction14\), "
                                             r"so the PSIG action 0x7f001234 cannot be checked"):
        suite.test_psig_names_the_signal_and_the_handler(run, "netbsd")


def test_psig_suite_checks_the_action_against_a_known_handler() -> None:
    suite.test_psig_names_the_signal_and_the_handler(bsd_run(0x7F001234, None), "openbsd")
    with pytest.raises(AssertionError):
        suite.test_psig_names_the_signal_and_the_handler(bsd_run(0x7F005678, None), "openbsd")
