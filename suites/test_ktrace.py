"""ktrace(2): the records a kernel writes match what the traced program did.

The child (``harness/tracecore/ktrace/child.py``) does known work and prints
a JSON report of it; the RPC method ``ktrace.run`` runs it under ktrace and
returns the decoded records.  Each test holds one record (or one ordering)
against the report.  ktrace exists on NetBSD and OpenBSD only: on any other
target the whole module skips, saying so.

RPC contract (``ktrace.run``):
  params  {"program": "ktrace_child", "args": [str, ...], "facilities": [str, ...]}
  result  {"records": [record, ...], "note": str|None, "exit_status": int,
           "stdout": str, "stderr": str, "os": str, "byteorder": str, ...}
  record  {"type_name": "KTR_*", "pid", "lwp", "comm", "version", "time",
           "payload": {... bytes as <key>_hex ...}, "note"}
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

BSDS = ("netbsd", "openbsd")
SIGUSR1 = 30  # sys/sys/signal.h on both BSDs
SI_USER = 0  # sys/sys/siginfo.h on both
EXEC_PROGRAM = "/bin/echo"
THREAD_PID_OFFSET = 100000  # OpenBSD sys/sys/proc.h: ktr_tid = p_tid + THREAD_PID_OFFSET
MARKER_LABEL = "trapline"  # child.MARKER_LABEL
WORK_FACILITIES = ["syscall", "sysret", "namei", "genio", "psig", "user", "exec_arg", "exec_env"]


@pytest.fixture(scope="module")
def bsd(target) -> str:
    if target.os not in BSDS:
        pytest.skip("ktrace(2) exists only on NetBSD and OpenBSD; target %s is %s" % (target.name, target.os))
    return target.os


def _run(rpc, tag: str, *extra: str, facilities: list[str] | None = None) -> dict[str, Any]:
    args = ["--tag", tag, *extra, "--exec", EXEC_PROGRAM, "trapline-exec", tag]
    result = rpc.call("ktrace.run", program="ktrace_child", args=args,
                      facilities=facilities or WORK_FACILITIES)
    lines = result["stdout"].splitlines()
    assert lines, "the child printed no report; stderr: %s" % result["stderr"]
    result["report"] = json.loads(lines[0])
    result["output_after_exec"] = lines[1:]
    return result


@pytest.fixture(scope="module")
def run(bsd, rpc) -> dict[str, Any]:
    return _run(rpc, "w" + uuid.uuid4().hex[:10])


def _of_child(run: dict[str, Any]) -> list[dict[str, Any]]:
    pid = run["report"]["pid"]
    return [r for r in run["records"] if r["pid"] == pid]


def _index(records, pred, what: str) -> int:
    for i, rec in enumerate(records):
        if pred(rec):
            return i
    raise AssertionError("no %s record among %d records" % (what, len(records)))


def _path_index(records, path: str) -> int:
    return _index(records, lambda r: r["type_name"] == "KTR_NAMEI" and r["payload"].get("path") == path,
                  "NAMEI %s" % path)


def _exec_arg_type(bsd: str) -> str:
    return "KTR_EXEC_ARG" if bsd == "netbsd" else "KTR_EXECARGS"


def _is_exec_arg(rec: dict[str, Any], bsd: str) -> bool:
    return rec["type_name"] == _exec_arg_type(bsd)


def _python_exec_index(records, bsd: str) -> int:
    """The child's own exec (tracing starts between fork and exec, so it is traced too)."""
    return _index(records, lambda r: _is_exec_arg(r, bsd), "exec argument of the child itself")


def _echo_exec_index(records, bsd: str) -> int:
    """The exec the child does last: its first argument record names EXEC_PROGRAM."""
    return _index(records, lambda r: _is_exec_arg(r, bsd) and EXEC_PROGRAM in r["payload"]["strings"],
                  "exec argument naming %s" % EXEC_PROGRAM)


def test_trace_is_complete_and_the_child_succeeded(run) -> None:
    assert (run["note"], run["exit_status"]) == (None, 0), run["stderr"]
    assert run["output_after_exec"] == ["trapline-exec %s" % run["report"]["tag"]]


def test_records_carry_pid_lwp_and_command(run, bsd) -> None:
    records = _of_child(run)
    report = run["report"]
    assert _python_exec_index(records, bsd) < _echo_exec_index(records, bsd)
    # ktr_comm is the executable's name, cut to MAXCOMLEN; exec changes it
    # part-way through execve, so compare records well clear of both execs.
    work = [records[_path_index(records, report["path"])],
            next(r for r in records if r["type_name"] == "KTR_PSIG"),
            next(r for r in records if r["type_name"] == "KTR_USER" and r["payload"]["id"] == MARKER_LABEL)]
    comms = {r["comm"] for r in work}
    assert len(comms) == 1 and next(iter(comms)).startswith("python"), comms
    assert records[-1]["comm"] == "echo"
    lwps = {r["lwp"] for r in records}
    if bsd == "netbsd":
        assert lwps == {1}
        assert {r["version"] for r in records} == {2}
    else:
        assert len(lwps) == 1 and min(lwps) > THREAD_PID_OFFSET


def test_open_is_call_namei_ret_with_the_fd(run) -> None:
    records = _of_child(run)
    report = run["report"]
    at = _path_index(records, report["path"])
    call = records[at - 1]
    assert call["type_name"] == "KTR_SYSCALL"
    assert call["payload"]["name"] in ("open", "openat")
    ret = next(r for r in records[at + 1:] if r["type_name"] == "KTR_SYSRET")
    assert (ret["payload"]["code"], ret["payload"]["error"], ret["payload"]["retval"]) == \
        (call["payload"]["code"], 0, report["fd"])


def test_genio_carries_the_written_then_read_bytes(run) -> None:
    records = _of_child(run)
    report = run["report"]
    after_open = records[_path_index(records, report["path"]):]
    gio = [r["payload"] for r in after_open
           if r["type_name"] == "KTR_GENIO" and r["payload"]["fd"] == report["fd"]]
    assert [(g["direction"], g["data_hex"]) for g in gio[:2]] == \
        [("write", report["payload_hex"]), ("read", report["payload_hex"])]


def test_psig_names_the_signal_and_the_handler(run, bsd) -> None:
    records = _of_child(run)
    report = run["report"]
    assert report["signal"] == SIGUSR1
    psig = next(r["payload"] for r in records if r["type_name"] == "KTR_PSIG")
    assert (psig["signo"], psig["signame"]) == (SIGUSR1, "SIGUSR1")
    # On a BSD the child reads its handler back with sigaction(2); without
    # that address the action cannot be checked, which is a failure, not a pass.
    assert report["handler"] is not None, (
        "the ktrace child could not read its SIGUSR1 handler address (%s), so the PSIG action %#x "
        "cannot be checked against it" % (report.get("handler_error") or "no reason given", psig["action"]))
    assert psig["action"] == report["handler"]
    assert psig["action"] not in (0, 1)  # neither SIG_DFL nor SIG_IGN: caught
    # Not a trap: NetBSD writes KSI_TRAPCODE (0), OpenBSD the si_code (SI_USER, 0).
    assert psig["code"] == 0


def _psig_siginfo(run) -> dict[str, Any]:
    psig = next(r["payload"] for r in _of_child(run) if r["type_name"] == "KTR_PSIG")
    si = psig["siginfo"]
    assert si is not None, "no siginfo in the PSIG record"
    return si


def test_psig_siginfo_names_the_signal_and_its_origin(run) -> None:
    si = _psig_siginfo(run)
    assert (si["si_signo"], si["si_code"]) == (SIGUSR1, SI_USER)


def test_psig_siginfo_names_the_sender(run, bsd) -> None:
    if bsd == "openbsd":
        pytest.skip("OpenBSD's postsig() fills the PSIG siginfo with initsiginfo(), which sets no "
                    "sender pid (sys/kern/kern_sig.c): nothing to compare")
    # kill(getpid(), SIGUSR1): the sender is the child itself.
    assert _psig_siginfo(run)["si_pid"] == run["report"]["pid"]


def test_utrace_marker_is_a_user_record(run) -> None:
    records = _of_child(run)
    report = run["report"]
    assert report["marker_written"], report.get("marker_error")
    # Only our label: the runtime linker and malloc may utrace too when asked to.
    ours = [r["payload"]["data_hex"] for r in records
            if r["type_name"] == "KTR_USER" and r["payload"]["id"] == report["marker_label"]]
    assert ours == [report["marker_hex"]]


def test_exec_arguments_are_recorded(run, bsd) -> None:
    records = _of_child(run)
    strings: list[str] = []
    for rec in records[_echo_exec_index(records, bsd):]:
        if _is_exec_arg(rec, bsd):
            strings.extend(rec["payload"]["strings"])
    assert strings == [EXEC_PROGRAM, "trapline-exec", run["report"]["tag"]]


def test_records_come_in_the_order_the_work_was_done(run, bsd) -> None:
    records = _of_child(run)
    report = run["report"]
    fd = report["fd"]
    order = [
        _path_index(records, report["path"]),
        _index(records, lambda r: r["type_name"] == "KTR_GENIO" and r["payload"]["fd"] == fd
               and r["payload"]["direction"] == "write", "GENIO write"),
        _index(records, lambda r: r["type_name"] == "KTR_GENIO" and r["payload"]["fd"] == fd
               and r["payload"]["direction"] == "read", "GENIO read"),
        _index(records, lambda r: r["type_name"] == "KTR_PSIG", "PSIG"),
        _index(records, lambda r: r["type_name"] == "KTR_USER" and r["payload"]["id"] == MARKER_LABEL, "USER"),
        _echo_exec_index(records, bsd),
    ]
    assert order == sorted(order)


def test_clearing_the_trace_stops_the_records(bsd, rpc) -> None:
    cleared = _run(rpc, "c" + uuid.uuid4().hex[:10], "--clear-before-marker")
    assert (cleared["note"], cleared["exit_status"], cleared["report"].get("cleared")) == (None, 0, True)
    records = _of_child(cleared)
    # The clearing call's entry is the last thing traced: not even its return follows.
    last = records[-1]
    assert (last["type_name"], last["payload"]["name"]) == ("KTR_SYSCALL", "ktrace")
    assert not [r for r in records if r["type_name"] == "KTR_USER" and r["payload"]["id"] == MARKER_LABEL]
    assert not [r for r in records if _is_exec_arg(r, bsd) and EXEC_PROGRAM in r["payload"]["strings"]]


def test_facility_mask_limits_the_record_types(bsd, rpc) -> None:
    only_user = _run(rpc, "u" + uuid.uuid4().hex[:10], facilities=["user"])
    types = {r["type_name"] for r in _of_child(only_user)}
    assert types == {"KTR_USER"}
    if bsd == "openbsd":
        # KTR_START comes from the tracer (pid -1), once per KTROP_SET.
        assert [r["pid"] for r in only_user["records"] if r["type_name"] == "KTR_START"] == [-1]

