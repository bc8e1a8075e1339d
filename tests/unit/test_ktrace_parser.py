"""The ktrace parser against byte-exact trace files built from the headers.

The builders below pack each record with ``struct`` format strings written
out by hand from the C declarations (LP64: 8-byte longs and pointers,
natural alignment), not from ``layouts.py``, so a wrong offset in the tables
shows up as a wrong field here.  No BSD kernel runs on this machine: these
files are what the headers say a kernel writes, not captured traces.
"""

from __future__ import annotations

import json
import struct

import pytest

from harness.tracecore.ktrace import layouts as L
from harness.tracecore.ktrace import parser
from harness.tracecore.ktrace.format import record_text, trace_text, trace_to_dict

# --------------------------------------------------------------------------
# Builders (shared with the other test_ktrace_* modules through plain import
# of these functions would couple test files; each module keeps its own).


def _e(order: str) -> str:
    return "<" if order == "little" else ">"


def nb_header(order: str, version: int, rtype: int, length: int, *, pid: int = 4242,
              comm: bytes = b"python3.11", sec: int = 1700000000, frac: int = 123456789,
              lid: int = 1) -> bytes:
    """NetBSD struct ktr_header, 56 bytes on LP64 for every version."""
    e = _e(order)
    if order == "little":
        first = struct.pack(e + "ihh", length, rtype, version)
    else:
        first = struct.pack(e + "ihh", length, version, rtype)
    head = first + struct.pack(e + "i", pid) + comm.ljust(17, b"\0")[:17] + b"\0" * 3
    if version == 0:
        tail = struct.pack(e + "i4xqQ", sec, frac, 0xDEADBEEF)  # tv_sec, tv_usec, _buf
    elif version == 1:
        tail = struct.pack(e + "i4xqi4x", sec, frac, lid)
    else:
        tail = struct.pack(e + "qqi4x", sec, frac, lid)
    out = head + tail
    assert len(out) == 56
    return out


def nb_record(order: str, rtype: int, payload: bytes, version: int = 2, **kw) -> bytes:
    return nb_header(order, version, rtype, len(payload), **kw) + payload


def ob_header(order: str, rtype: int, length: int, *, pid: int = 777, tid: int = 100777,
              comm: bytes = b"python3.11", sec: int = 1700000001, nsec: int = 987654321) -> bytes:
    """OpenBSD struct ktr_header, 64 bytes on LP64."""
    out = struct.pack(_e(order) + "Iii4xqq24sQ", rtype, pid, tid, sec, nsec, comm, length)
    assert len(out) == 64
    return out


def ob_start(order: str) -> bytes:
    # ktrstart(): type htobe32(KTR_START), pid and tid -1, no payload.
    return b"KTR\x00" + struct.pack(_e(order) + "ii4xqq24sQ", -1, -1, 5, 6, b"", 0)


def ob_record(order: str, rtype: int, payload: bytes, **kw) -> bytes:
    return ob_header(order, rtype, len(payload), **kw) + payload


def syscall_payload(order: str, code: int, args, extra: bytes = b"") -> bytes:
    e = _e(order)
    return struct.pack(e + "ii", code, 8 * len(args)) + struct.pack(e + "q" * len(args), *args) + extra


def nb_sysret(order: str, code: int, error: int, rv: int, rv1: int = 0) -> bytes:
    return struct.pack(_e(order) + "hhiqq", code, 0, error, rv, rv1)


def genio(order: str, fd: int, rw: int, data: bytes) -> bytes:
    return struct.pack(_e(order) + "ii", fd, rw) + data


def nb_psig(order: str, signo: int, action: int, *, mask, code: int, siginfo: bytes = b"") -> bytes:
    return struct.pack(_e(order) + "i4xQ4Ii4x", signo, action, *mask, code) + siginfo


def nb_siginfo_rt(order: str, signo: int, code: int, *, pid: int, uid: int, value: int) -> bytes:
    return struct.pack(_e(order) + "iii4xiIQ", signo, code, 0, pid, uid, value).ljust(128, b"\0")


def ob_psig(order: str, signo: int, action: int, *, mask: int, code: int, siginfo: bytes) -> bytes:
    return struct.pack(_e(order) + "i4xQIi", signo, action, mask, code) + siginfo


def ob_siginfo_rt(order: str, signo: int, code: int, *, pid: int, uid: int, value: int) -> bytes:
    return struct.pack(_e(order) + "iii4xi4xI4xQ", signo, code, 0, pid, uid, value).ljust(136, b"\0")


def user(ident: bytes, data: bytes) -> bytes:
    return ident.ljust(20, b"\0") + data


# Record types, spelled out here from the headers.
NB = {"SYSCALL": 1, "SYSRET": 2, "NAMEI": 3, "GENIO": 4, "PSIG": 5, "CSW": 6, "EMUL": 7,
      "USER": 8, "EXEC_ARG": 10, "EXEC_ENV": 11, "MIB": 14, "EXEC_FD": 15}
OB = {"SYSCALL": 1, "SYSRET": 2, "NAMEI": 3, "GENIO": 4, "PSIG": 5, "CSW": 6, "STRUCT": 8,
      "USER": 9, "EXECARGS": 10, "EXECENV": 11, "PLEDGE": 12, "PINSYSCALL": 13}

ORDERS = ("little", "big")
PATH = b"/tmp/trapline-ktrace-abc123-4242.dat"
DATA = b"trapline-ktrace payload abc123\n"


def netbsd_session(order: str, version: int = 2) -> bytes:
    """The child's work as NetBSD would record it, plus the odd record types."""
    r = lambda t, p, **kw: nb_record(order, NB[t], p, version=version, **kw)  # noqa: E731
    return b"".join([
        r("SYSCALL", syscall_payload(order, 5, [0x7F7FFFFFE000, 0x602, 0o600])),
        r("NAMEI", PATH),
        r("SYSRET", nb_sysret(order, 5, 0, 3)),
        r("GENIO", genio(order, 3, 1, DATA)),
        r("GENIO", genio(order, 3, 0, DATA)),
        r("SYSRET", nb_sysret(order, 3, 2, 0)),
        r("PSIG", nb_psig(order, 30, 0x400A10, mask=(0, 0, 0, 0), code=0,
                          siginfo=nb_siginfo_rt(order, 30, 0, pid=4242, uid=1000, value=0))),
        r("PSIG", nb_psig(order, 20, 0, mask=(1, 2, 3, 4), code=0)),
        r("USER", user(b"trapline", b"marker abc123")),
        r("EXEC_ARG", b"/bin/echo\0hello\0"),
        r("EXEC_ENV", b"PATH=/bin\0"),
        r("CSW", struct.pack(_e(order) + "ii", 1, 0)),
        r("EMUL", b"netbsd"),
        r("MIB", struct.pack(_e(order) + "ii", 1, 6)),
        r("EXEC_FD", struct.pack(_e(order) + "iI", 0, 1)),
        nb_record(order, 99, b"\x01\x02\x03", version=version),
        r("SYSCALL", syscall_payload(order, 306, [1, 2, 3]), lid=7, pid=31337, comm=b"echo"),
    ])


# --------------------------------------------------------------------------
# NetBSD


@pytest.mark.parametrize("order", ORDERS)
def test_netbsd_v2_every_field(order: str) -> None:
    trace = parser.parse(netbsd_session(order), "netbsd", order)
    assert trace.complete and trace.stop is None
    recs = trace.records
    assert [r.type_name for r in recs] == [
        "KTR_SYSCALL", "KTR_NAMEI", "KTR_SYSRET", "KTR_GENIO", "KTR_GENIO", "KTR_SYSRET", "KTR_PSIG",
        "KTR_PSIG", "KTR_USER", "KTR_EXEC_ARG", "KTR_EXEC_ENV", "KTR_CSW", "KTR_EMUL", "KTR_MIB",
        "KTR_EXEC_FD", "KTR_#99", "KTR_SYSCALL"]
    first = recs[0]
    assert (first.offset, first.header_size, first.version, first.pid, first.lwp, first.comm) == \
        (0, 56, 2, 4242, 1, "python3.11")
    assert (first.time, first.time_unit) == ((1700000000, 123456789), "ns")
    assert first.payload == {"code": 5, "argsize": 24, "name": "open", "args": [0x7F7FFFFFE000, 0x602, 0o600]}
    assert recs[1].payload == {"path": PATH.decode()}
    assert recs[2].payload == {"code": 5, "eosys": 0, "error": 0, "retval": 3, "retval_1": 0, "name": "open"}
    assert recs[3].payload == {"fd": 3, "rw": 1, "direction": "write", "data": DATA}
    assert recs[4].payload == {"fd": 3, "rw": 0, "direction": "read", "data": DATA}
    assert (recs[5].payload["name"], recs[5].payload["error"]) == ("read", 2)
    psig = recs[6].payload
    assert (psig["signo"], psig["signame"], psig["action"], psig["mask"], psig["code"]) == \
        (30, "SIGUSR1", 0x400A10, (0, 0, 0, 0), 0)
    assert psig["siginfo"] == {"si_signo": 30, "si_code": 0, "si_errno": 0, "si_pid": 4242,
                               "si_uid": 1000, "si_value": 0}
    # Without a ksiginfo the kernel writes the bare 40-byte struct.
    assert (recs[7].payload["signame"], recs[7].payload["mask"], recs[7].payload["siginfo"]) == \
        ("SIGCHLD", (1, 2, 3, 4), None)
    assert recs[8].payload == {"id": "trapline", "data": b"marker abc123"}
    assert recs[9].payload == {"strings": ["/bin/echo", "hello"]}
    assert recs[10].payload == {"strings": ["PATH=/bin"]}
    assert recs[11].payload == {"out": 1, "user": 0}
    assert recs[12].payload == {"name": "netbsd"}
    assert recs[13].payload == {"mib": [1, 6]}
    assert recs[14].payload == {"fd": 0, "dtype": 1}
    unknown = recs[15]
    assert (unknown.type, unknown.raw, unknown.payload) == (99, b"\x01\x02\x03", {})
    assert "not known" in (unknown.note or "")
    last = recs[16]
    assert (last.pid, last.lwp, last.comm, last.payload["name"], last.payload["args"]) == \
        (31337, 7, "echo", "utrace", [1, 2, 3])


@pytest.mark.parametrize("order", ORDERS)
def test_netbsd_v1_header_has_lid_and_nanoseconds(order: str) -> None:
    data = nb_record(order, NB["NAMEI"], b"/etc", version=1, sec=12, frac=345, lid=9)
    (rec,) = parser.parse(data, "netbsd", order).records
    assert (rec.version, rec.lwp, rec.time, rec.time_unit, rec.payload) == \
        (1, 9, (12, 345), "ns", {"path": "/etc"})


@pytest.mark.parametrize("order", ORDERS)
def test_netbsd_v0_header_has_microseconds_and_no_lid(order: str) -> None:
    data = nb_record(order, NB["NAMEI"], b"/etc", version=0, sec=12, frac=345)
    (rec,) = parser.parse(data, "netbsd", order).records
    assert (rec.version, rec.lwp, rec.time, rec.time_unit) == (0, 0, (12, 345), "us")


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("version", L.NETBSD_VERSIONS)
def test_netbsd_detects_byte_order(order: str, version: int) -> None:
    trace = parser.parse(netbsd_session(order, version))
    assert (trace.os, trace.byteorder, trace.detected, len(trace.records)) == ("netbsd", order, True, 17)


@pytest.mark.parametrize("order", ORDERS)
def test_detection_does_not_need_a_known_first_record(order: str) -> None:
    data = nb_record(order, 99, b"??") + nb_record(order, NB["NAMEI"], b"/x")
    trace = parser.parse(data)
    assert (trace.byteorder, [r.type_name for r in trace.records]) == (order, ["KTR_#99", "KTR_NAMEI"])


def test_netbsd_type_and_version_swap_with_byte_order() -> None:
    little = nb_header("little", 2, 4, 0)
    big = nb_header("big", 2, 4, 0)
    # ktrace.h puts ktr_type first on little-endian hosts, ktr_version first on big.
    assert little[4:8] == b"\x04\x00\x02\x00"
    assert big[4:8] == b"\x00\x02\x00\x04"


# --------------------------------------------------------------------------
# OpenBSD


def openbsd_session(order: str) -> bytes:
    r = lambda t, p, **kw: ob_record(order, OB[t], p, **kw)  # noqa: E731
    e = _e(order)
    return b"".join([
        ob_start(order),
        r("SYSCALL", syscall_payload(order, 5, [0x1000, 0x602, 0o600])),
        r("NAMEI", PATH),
        r("SYSRET", struct.pack(e + "iiq", 5, 0, 3)),
        r("GENIO", genio(order, 3, 1, DATA)),
        r("SYSRET", struct.pack(e + "ii", 5, 2)),  # error: no retval follows
        r("PSIG", ob_psig(order, 30, 0x1234560, mask=0, code=0,
                          siginfo=ob_siginfo_rt(order, 30, 0, pid=777, uid=1000, value=0))),
        r("USER", user(b"trapline", b"marker abc123")),
        r("EXECARGS", b"/bin/echo\0hello\0"),
        r("EXECENV", b"HOME=/root\0"),
        r("STRUCT", b"stat\0" + b"\xAA" * 8),
        r("PLEDGE", struct.pack(e + "iiQ", 1, 5, 0x10)),
        r("PINSYSCALL", struct.pack(e + "iiQ", 78, 4, 0xCAFE)),
        r("SYSCALL", syscall_payload(order, 202, [0x2000, 2, 0, 0, 0, 0], struct.pack(e + "ii", 1, 14))),
        r("CSW", struct.pack(e + "ii", 0, 1)),
        ob_record(order, 77, b"zz"),
    ])


@pytest.mark.parametrize("order", ORDERS)
def test_openbsd_every_field(order: str) -> None:
    trace = parser.parse(openbsd_session(order), "openbsd", order)
    assert trace.complete
    recs = trace.records
    assert [r.type_name for r in recs] == [
        "KTR_START", "KTR_SYSCALL", "KTR_NAMEI", "KTR_SYSRET", "KTR_GENIO", "KTR_SYSRET", "KTR_PSIG",
        "KTR_USER", "KTR_EXECARGS", "KTR_EXECENV", "KTR_STRUCT", "KTR_PLEDGE", "KTR_PINSYSCALL",
        "KTR_SYSCALL", "KTR_CSW", "KTR_#77"]
    start = recs[0]
    assert (start.type, start.pid, start.lwp, start.raw, start.header_size) == (0x4B545200, -1, -1, b"", 64)
    call = recs[1]
    assert (call.pid, call.lwp, call.comm, call.time, call.version) == \
        (777, 100777, "python3.11", (1700000001, 987654321), None)
    assert call.payload == {"code": 5, "argsize": 24, "name": "open", "args": [0x1000, 0x602, 0o600]}
    assert recs[3].payload == {"code": 5, "error": 0, "name": "open", "retval": 3}
    assert recs[5].payload == {"code": 5, "error": 2, "name": "open", "retval": None}
    psig = recs[6].payload
    assert (psig["signame"], psig["action"], psig["mask"], psig["code"]) == ("SIGUSR1", 0x1234560, 0, 0)
    assert psig["siginfo"] == {"si_signo": 30, "si_code": 0, "si_errno": 0, "si_pid": 777,
                               "si_uid": 1000, "si_value": 0}
    assert recs[7].payload == {"id": "trapline", "data": b"marker abc123"}
    assert recs[8].payload == {"strings": ["/bin/echo", "hello"]}
    assert recs[10].payload == {"struct": "stat", "data": b"\xAA" * 8}
    assert recs[11].payload == {"error": 1, "syscall": 5, "code": 0x10, "name": "open"}
    assert recs[12].payload == {"error": 78, "syscall": 4, "addr": 0xCAFE, "name": "write"}
    assert (recs[13].payload["name"], recs[13].payload["mib"]) == ("sysctl", [1, 14])
    assert recs[14].payload == {"out": 0, "user": 1}
    assert (recs[15].type, recs[15].raw) == (77, b"zz")


@pytest.mark.parametrize("order", ORDERS)
def test_openbsd_detected_from_ktr_start(order: str) -> None:
    trace = parser.parse(openbsd_session(order))
    assert (trace.os, trace.byteorder, len(trace.records)) == ("openbsd", order, 16)


def test_lone_ktr_start_is_ambiguous_until_told() -> None:
    data = ob_start("big")[:32] + bytes(32)  # zero timestamp: identical in both orders
    with pytest.raises(parser.TraceFormatError, match="byteorder explicitly"):
        parser.parse(data)
    (rec,) = parser.parse(data, byteorder="big").records
    assert rec.type_name == "KTR_START"


def test_empty_file_needs_os_and_byte_order() -> None:
    with pytest.raises(parser.TraceFormatError, match="empty trace file"):
        parser.parse(b"")
    trace = parser.parse(b"", "netbsd", "little")
    assert (trace.records, trace.stop, trace.complete) == ([], None, True)


def test_unknown_os_is_refused_by_name() -> None:
    with pytest.raises(parser.TraceFormatError, match="'freebsd'"):
        parser.parse(b"x" * 64, "freebsd", "little")


# --------------------------------------------------------------------------
# Truncated and corrupt files


@pytest.mark.parametrize(("os_name", "build"), [("netbsd", netbsd_session), ("openbsd", openbsd_session)])
@pytest.mark.parametrize("order", ORDERS)
def test_every_truncation_keeps_complete_records_and_says_where(os_name, build, order) -> None:
    data = build(order)
    full = parser.parse(data, os_name, order).records
    ends = [r.end for r in full]
    for cut in range(len(data)):
        trace = parser.parse(data[:cut], os_name, order)
        complete = [e for e in ends if e <= cut]
        assert [r.end for r in trace.records] == complete
        stop_at = complete[-1] if complete else 0
        if stop_at == cut:
            assert trace.stop is None
        else:
            assert trace.stop is not None and trace.stop.offset == stop_at
            assert trace.stop.reason.startswith("truncated")
            assert "offset %d" % stop_at in trace.note


def test_netbsd_truncated_payload_note_names_the_numbers() -> None:
    data = nb_record("little", NB["NAMEI"], b"/etc/passwd")[:-4]
    trace = parser.parse(data, "netbsd", "little")
    assert trace.records == []
    assert str(trace.stop) == ("stopped at offset 0: truncated record: header declares 11 payload bytes, "
                               "7 remain")


def test_netbsd_unknown_version_stops_with_reason() -> None:
    good = nb_record("little", NB["NAMEI"], b"/a")
    bad = bytearray(nb_record("little", NB["NAMEI"], b"/b"))
    bad[6:8] = struct.pack("<h", 7)
    trace = parser.parse(good + bytes(bad), "netbsd", "little")
    assert len(trace.records) == 1
    assert (trace.stop.offset, trace.stop.reason) == \
        (58, "corrupt header: ktr_version 7 is none of (0, 1, 2)")


def test_netbsd_negative_length_stops() -> None:
    bad = bytearray(nb_header("little", 2, NB["NAMEI"], 0))
    bad[0:4] = struct.pack("<i", -5)
    trace = parser.parse(bytes(bad), "netbsd", "little")
    assert trace.stop.reason == "corrupt header: ktr_len -5 is outside 0..16777216"


@pytest.mark.parametrize("order", ORDERS)
def test_short_payload_is_kept_raw_with_a_note(order: str) -> None:
    data = nb_record(order, NB["SYSRET"], b"\x00\x05\x00\x00") + nb_record(order, NB["NAMEI"], b"/x")
    trace = parser.parse(data, "netbsd", order)
    assert trace.complete
    short, namei = trace.records
    assert (short.payload, short.raw, short.note) == \
        ({}, b"\x00\x05\x00\x00", "payload too short for struct ktr_sysret: 4 of 24 bytes")
    assert namei.payload == {"path": "/x"}


def test_syscall_argsize_larger_than_payload_is_noted() -> None:
    payload = struct.pack("<ii", 3, 24) + struct.pack("<q", 7)
    (rec,) = parser.parse(nb_record("little", NB["SYSCALL"], payload), "netbsd", "little").records
    assert (rec.payload["args"], rec.note) == ([7], "ktr_argsize 24 but 8 argument bytes present")


# --------------------------------------------------------------------------
# Layouts and formatting


def test_layout_sizes_match_the_headers() -> None:
    assert {s.size for k, s in L.NETBSD_HEADERS.items()} == {56}
    assert L.OPENBSD_HEADER.size == 64
    assert L.NETBSD_SYSRET.size == 24 and L.OPENBSD_SYSRET.size == 8
    assert L.NETBSD_PSIG.size == 40 and L.OPENBSD_PSIG.size == 160
    assert L.NETBSD_FACILITIES["KTRFACv2"] == 0x02000000
    assert L.OPENBSD_TYPES["KTR_START"].to_bytes(4, "big") == b"KTR\x00"
    for fac in ("SYSCALL", "SYSRET", "NAMEI", "GENIO", "PSIG", "USER"):
        assert L.NETBSD_FACILITIES["KTRFAC_" + fac] == 1 << L.NETBSD_TYPES["KTR_" + fac]
        assert L.OPENBSD_FACILITIES["KTRFAC_" + fac] == 1 << L.OPENBSD_TYPES["KTR_" + fac]
    assert len(L.all_structs()) == 28


def test_text_rendering_is_kdump_like() -> None:
    trace = parser.parse(netbsd_session("little"), "netbsd", "little")
    lines = [record_text(r) for r in trace.records]
    assert lines[0] == ("  4242      1 python3.11       1700000000.123456789 CALL  "
                        "open(0x7f7fffffe000, 0x602, 0x180)")
    assert lines[1].endswith('NAMI  "/tmp/trapline-ktrace-abc123-4242.dat"')
    assert lines[2].endswith("RET   open 3")
    assert lines[3].endswith('GIO   fd 3 wrote 31 bytes\n       "trapline-ktrace payload abc123\\n"')
    assert lines[5].endswith("RET   read -1 errno 2")
    assert "PSIG  SIGUSR1 caught handler=0x400a10 mask=(0x0,0x0,0x0,0x0) code=0" in lines[6]
    assert lines[7].endswith("PSIG  SIGCHLD SIG_DFL mask=(0x1,0x2,0x3,0x4) code=0")
    assert lines[8].endswith('USER  "trapline" 13 bytes\n       "marker abc123"')
    assert lines[9].endswith('ARG   "/bin/echo", "hello"')
    assert "KTR_#99 3 bytes" in lines[15]


def test_stop_note_is_the_last_text_line() -> None:
    data = netbsd_session("big")
    trace = parser.parse(data[:-10], "netbsd", "big")
    assert trace_text(trace)[-1].startswith("-- stopped at offset %d: truncated record" % trace.stop.offset)


def test_json_form_round_trips_bytes_as_hex() -> None:
    trace = parser.parse(openbsd_session("little"), "openbsd", "little")
    doc = json.loads(json.dumps(trace_to_dict(trace)))
    assert (doc["os"], doc["byteorder"], doc["note"], doc["stop_offset"]) == ("openbsd", "little", None, None)
    genio_rec = doc["records"][4]
    assert bytes.fromhex(genio_rec["payload"]["data_hex"]) == DATA
    assert genio_rec["payload"]["direction"] == "write"
    unknown = doc["records"][-1]
    assert (unknown["type_name"], unknown["raw_hex"]) == ("KTR_#77", "7a7a")


def test_json_data_limit_cuts_visibly() -> None:
    data = nb_record("little", NB["GENIO"], genio("little", 4, 0, b"x" * 10)) + \
        nb_record("little", 99, b"abcdef")
    trace = parser.parse(data, "netbsd", "little")
    doc = trace_to_dict(trace, data_limit=4)
    gio, unknown = doc["records"]
    assert (gio["payload"]["data_hex"], gio["payload"]["data_length"]) == ("78787878", 10)
    assert (unknown["raw_hex"], unknown["raw_length"]) == ("61626364", 6)
    full = trace_to_dict(trace)["records"][0]["payload"]
    assert (full["data_hex"], "data_length" in full) == ("78" * 10, False)


@pytest.mark.parametrize("order", ORDERS)
def test_openbsd_text_lines(order: str) -> None:
    trace = parser.parse(openbsd_session(order), "openbsd", order)
    lines = trace_text(trace)
    assert lines[0] == "    -1     -1                  5.000000006 START trace started"
    assert lines[3].endswith("RET   open 3")
    assert lines[5].endswith("RET   open -1 errno 2")
    assert lines[8].endswith('ARGS  "/bin/echo", "hello"')
    assert lines[11].endswith("PLDG  open, errno 1, code 0x10")
    assert lines[12].endswith("PINS  write, errno 78, addr 0xcafe")
    assert lines[13].endswith("CALL  sysctl(0x2000, 0x2, 0x0, 0x0, 0x0, 0x0) mib=1.14")
