"""Parse ktrace(2) trace files from NetBSD and OpenBSD, either byte order.

A trace file is a run of records, each a fixed header followed by
``ktr_len`` payload bytes.  ``parse`` walks them from offset 0 and returns
every complete record; where it cannot go on (a header or payload cut short,
a header that makes no sense) it stops and says where and why in
``Trace.stop``.  Nothing is skipped: the records tile the file from 0 up to
``stop.offset`` (or the end), so every byte is either in a record or after
the stop.  Record types the tables do not know are kept with their raw
payload; a payload too short for its struct keeps what it has and a note.

Layouts are the LP64 ones (amd64, aarch64, sparc64: every arch trapline
runs); a 32-bit kernel's files do not parse as such.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from ..abi.types import Struct
from . import layouts as L
from . import syscalls_netbsd, syscalls_openbsd

OSES = ("netbsd", "openbsd")
BYTEORDERS = ("little", "big")

# A record longer than this is taken for a corrupt header: both kernels split
# GENIO and exec strings at PAGE_SIZE and cap KTR_USER at 2 KiB, so real
# records stay far below it, while a misread length is usually huge.
MAX_PAYLOAD = 1 << 24


# A decoder's result: the decoded fields and a note on anything odd.
Decoded = Tuple[Dict[str, object], Optional[str]]
# A header reader's result: the header fields, or None and why.
HeaderRead = Tuple[Optional[Dict[str, object]], Optional[str]]


class TraceFormatError(ValueError):
    """The file's OS or byte order cannot be determined, or an option is wrong."""


@dataclass
class Stop:
    """Where parsing stopped before the end of the data, and why."""

    offset: int
    reason: str

    def __str__(self) -> str:
        return "stopped at offset %d: %s" % (self.offset, self.reason)


@dataclass
class Record:
    """One trace record: the common header fields and a decoded payload.

    ``lwp`` is NetBSD's ``ktr_lid`` (0 in v0 headers, which carry none) or
    OpenBSD's ``ktr_tid``.  ``time`` is (seconds, fraction) with the
    fraction in ``time_unit`` ("ns", or "us" for NetBSD v0).  ``payload``
    holds the decoded fields; ``raw`` the payload bytes exactly as read.
    """

    offset: int
    header_size: int
    type: int
    type_name: str
    pid: int
    lwp: int
    comm: str
    time: Tuple[int, int]
    time_unit: str
    version: Optional[int]
    raw: bytes
    payload: Dict[str, object] = field(default_factory=dict)
    note: Optional[str] = None

    @property
    def end(self) -> int:
        return self.offset + self.header_size + len(self.raw)


@dataclass
class Trace:
    os: str
    byteorder: str
    size: int
    records: List[Record]
    stop: Optional[Stop] = None
    detected: bool = False

    @property
    def complete(self) -> bool:
        return self.stop is None

    @property
    def note(self) -> Optional[str]:
        return None if self.stop is None else str(self.stop)


# --------------------------------------------------------------------------
# Header reading


def _comm(raw: object) -> str:
    data = raw if isinstance(raw, bytes) else b""
    return data.split(b"\x00", 1)[0].decode("utf-8", "backslashreplace")


def _read_netbsd_header(data: bytes, offset: int, order: str) -> HeaderRead:
    size = L.NETBSD_HEADER_SIZE
    if len(data) - offset < size:
        return None, ("truncated header: %d bytes left, a NetBSD header takes %d"
                      % (len(data) - offset, size))
    chunk = data[offset:offset + size]
    # Version first: it picks the union member, and the order of the two
    # shorts is fixed by byte order alone.
    version = L.NETBSD_HEADERS[(2, order)].decode(chunk, order)["version"]
    if version not in L.NETBSD_VERSIONS:
        return None, "corrupt header: ktr_version %r is none of %s" % (version, L.NETBSD_VERSIONS)
    head = L.NETBSD_HEADERS[(int(version), order)].decode(chunk, order)  # type: ignore[arg-type]
    length = int(head["len"])  # type: ignore[call-overload]
    if length < 0 or length > MAX_PAYLOAD:
        return None, "corrupt header: ktr_len %d is outside 0..%d" % (length, MAX_PAYLOAD)
    return head, None


def _read_openbsd_header(data: bytes, offset: int, order: str) -> HeaderRead:
    size = L.OPENBSD_HEADER_SIZE
    if len(data) - offset < size:
        return None, ("truncated header: %d bytes left, an OpenBSD header takes %d"
                      % (len(data) - offset, size))
    chunk = data[offset:offset + size]
    head = L.OPENBSD_HEADER.decode(chunk, order)
    if chunk[:4] == L.OPENBSD_START_MAGIC:
        # ktrstart() stores htobe32(KTR_START): the same bytes on every host.
        head["type"] = L.OPENBSD_TYPES["KTR_START"]
    length = int(head["len"])  # type: ignore[call-overload]
    if length > MAX_PAYLOAD:
        return None, "corrupt header: ktr_len %d is over %d" % (length, MAX_PAYLOAD)
    return head, None


# --------------------------------------------------------------------------
# Payload decoding


def _words(raw: bytes, order: str, count: int, signed: bool = True) -> List[int]:
    fmt = ("<" if order == "little" else ">") + ("q" if signed else "Q") * count
    return list(struct.unpack_from(fmt, raw, 0)) if count else []


def _strings(raw: bytes) -> List[str]:
    parts = raw.split(b"\x00")
    if parts and parts[-1] == b"":
        parts.pop()
    return [p.decode("utf-8", "backslashreplace") for p in parts]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


def _short(what: str, need: int, have: int) -> str:
    return "payload too short for %s: %d of %d bytes" % (what, have, need)


def _signal_name(os_name: str, signo: int) -> str:
    table = L.NETBSD_SIGNALS if os_name == "netbsd" else L.OPENBSD_SIGNALS
    return table.name_of(signo, "SIG") or "SIG%d" % signo


def _syscall_name(os_name: str, code: int) -> str:
    module = syscalls_netbsd if os_name == "netbsd" else syscalls_openbsd
    return module.name(code)


def _decode_syscall(os_name: str, raw: bytes, order: str) -> Decoded:
    layout = L.NETBSD_SYSCALL if os_name == "netbsd" else L.OPENBSD_SYSCALL
    if len(raw) < layout.size:
        return {}, _short(layout.c_name, layout.size, len(raw))
    out = layout.decode(raw, order)
    code = int(out["code"])  # type: ignore[call-overload]
    argsize = int(out["argsize"])  # type: ignore[call-overload]
    out["name"] = _syscall_name(os_name, code)
    rest = raw[layout.size:]
    note = None
    usable = max(0, min(argsize, len(rest)))
    count = usable // L.REGISTER_SIZE
    out["args"] = _words(rest, order, count)
    if argsize > len(rest) or argsize < 0:
        note = "ktr_argsize %d but %d argument bytes present" % (argsize, len(rest))
    extra = rest[count * L.REGISTER_SIZE:]
    if extra:
        if os_name == "openbsd" and out["name"] == "sysctl" and len(extra) % 4 == 0:
            # ktrsyscall appends the sysctl MIB (ints) after the arguments.
            fmt = ("<" if order == "little" else ">") + "i" * (len(extra) // 4)
            out["mib"] = list(struct.unpack(fmt, extra))
        else:
            out["extra"] = extra
    return out, note


def _decode_sysret(os_name: str, raw: bytes, order: str) -> Decoded:
    if os_name == "netbsd":
        layout = L.NETBSD_SYSRET
        if len(raw) < layout.size:
            return {}, _short(layout.c_name, layout.size, len(raw))
        out = layout.decode(raw, order)
        out["name"] = _syscall_name(os_name, int(out["code"]))  # type: ignore[call-overload]
        return out, None
    layout = L.OPENBSD_SYSRET
    if len(raw) < layout.size:
        return {}, _short(layout.c_name, layout.size, len(raw))
    out = layout.decode(raw, order)
    out["name"] = _syscall_name(os_name, int(out["code"]))  # type: ignore[call-overload]
    rest = raw[layout.size:]
    out["retval"] = None
    note = None
    if len(rest) == L.REGISTER_SIZE:
        out["retval"] = _words(rest, order, 1)[0]
    elif rest:
        note = "%d bytes after ktr_sysret, expected 0 or %d" % (len(rest), L.REGISTER_SIZE)
        out["extra"] = rest
    return out, note


def _decode_genio(os_name: str, raw: bytes, order: str) -> Decoded:
    layout = L.NETBSD_GENIO if os_name == "netbsd" else L.OPENBSD_GENIO
    if len(raw) < layout.size:
        return {}, _short(layout.c_name, layout.size, len(raw))
    out = layout.decode(raw, order)
    rw = out["rw"]
    out["direction"] = "read" if rw == L.UIO_READ else "write" if rw == L.UIO_WRITE else "rw=%s" % rw
    out["data"] = raw[layout.size:]
    return out, None


def _decode_siginfo(os_name: str, signame: str, raw: bytes, order: str) -> Dict[str, object]:
    if os_name == "netbsd":
        rt, child, fault = L.NETBSD_SIGINFO_RT, L.NETBSD_SIGINFO_CHILD, L.NETBSD_SIGINFO_FAULT
    else:
        rt, child, fault = L.OPENBSD_SIGINFO_RT, L.OPENBSD_SIGINFO_CHILD, L.OPENBSD_SIGINFO_FAULT
    if signame in L.FAULT_SIGNALS:
        view = fault
    elif signame == "SIGCHLD":
        view = child
    else:
        view = rt
    return view.decode(raw, order)


def _decode_psig(os_name: str, raw: bytes, order: str) -> Decoded:
    if os_name == "netbsd":
        layout = L.NETBSD_PSIG
        base = layout.size
        si_size = L.NETBSD_SIGINFO_SIZE
    else:
        layout = L.OPENBSD_PSIG
        base = L.OPENBSD_SIGINFO_OFFSET
        si_size = L.OPENBSD_SIGINFO_SIZE
    if len(raw) < base:
        return {}, _short(layout.c_name, base, len(raw))
    # OpenBSD's struct embeds the siginfo, so decode the fixed part alone.
    out = _decode_prefix(layout, raw, base, order)
    signo = int(out["signo"])  # type: ignore[call-overload]
    out["signame"] = _signal_name(os_name, signo)
    rest = raw[base:]
    out["siginfo"] = None
    note = None
    if len(rest) >= si_size:
        out["siginfo"] = _decode_siginfo(os_name, str(out["signame"]), rest, order)
        if len(rest) > si_size:
            out["extra"] = rest[si_size:]
            note = "%d bytes after the siginfo" % (len(rest) - si_size)
    elif rest:
        out["extra"] = rest
        note = "siginfo cut short: %d of %d bytes" % (len(rest), si_size)
    elif os_name == "openbsd":
        note = "no siginfo, though OpenBSD's ktr_psig always carries one"
    return out, note


def _decode_prefix(layout: Struct, raw: bytes, size: int, order: str) -> Dict[str, object]:
    """Decode the fields of ``layout`` that lie within its first ``size`` bytes."""
    padded = raw[:size] + bytes(max(0, layout.size - size))
    full = layout.decode(padded, order)
    return {f.name: full[f.name] for f in layout if f.end <= size}


def _decode_user(os_name: str, raw: bytes, order: str) -> Decoded:
    layout = L.NETBSD_USER if os_name == "netbsd" else L.OPENBSD_USER
    if len(raw) < layout.size:
        return {}, _short(layout.c_name, layout.size, len(raw))
    ident = layout.decode(raw, order)["id"]
    return {"id": _comm(ident), "data": raw[layout.size:]}, None


def _decode_fixed(layout: L.Struct) -> object:
    def decode(os_name: str, raw: bytes, order: str) -> Decoded:
        if len(raw) < layout.size:
            return {}, _short(layout.c_name, layout.size, len(raw))
        out = layout.decode(raw, order)
        note = None
        if len(raw) > layout.size:
            out["extra"] = raw[layout.size:]
            note = "%d bytes after %s" % (len(raw) - layout.size, layout.c_name)
        if "syscall" in out:
            out["name"] = _syscall_name(os_name, int(out["syscall"]))  # type: ignore[call-overload]
        return out, note
    return decode


def _decode_path(os_name: str, raw: bytes, order: str) -> Decoded:
    return {"path": _text(raw)}, None


def _decode_emul(os_name: str, raw: bytes, order: str) -> Decoded:
    return {"name": _text(raw.rstrip(b"\x00"))}, None


def _decode_strings(os_name: str, raw: bytes, order: str) -> Decoded:
    return {"strings": _strings(raw)}, None


def _decode_mib(os_name: str, raw: bytes, order: str) -> Decoded:
    count = len(raw) // 4
    fmt = ("<" if order == "little" else ">") + "i" * count
    out: Dict[str, object] = {"mib": list(struct.unpack_from(fmt, raw, 0))}
    if len(raw) % 4:
        out["extra"] = raw[count * 4:]
        return out, "%d bytes past the last MIB int" % (len(raw) % 4)
    return out, None


def _decode_struct(os_name: str, raw: bytes, order: str) -> Decoded:
    name, sep, rest = raw.partition(b"\x00")
    if not sep:
        return {"struct": _text(name), "data": b""}, "struct name has no terminating NUL"
    return {"struct": _text(name), "data": rest}, None


def _decode_start(os_name: str, raw: bytes, order: str) -> Decoded:
    return {}, ("KTR_START with %d payload bytes, expected none" % len(raw)) if raw else None


_NETBSD_DECODERS = {
    "KTR_SYSCALL": _decode_syscall,
    "KTR_SYSRET": _decode_sysret,
    "KTR_NAMEI": _decode_path,
    "KTR_GENIO": _decode_genio,
    "KTR_PSIG": _decode_psig,
    "KTR_CSW": _decode_fixed(L.NETBSD_CSW),
    "KTR_EMUL": _decode_emul,
    "KTR_USER": _decode_user,
    "KTR_EXEC_ARG": _decode_strings,
    "KTR_EXEC_ENV": _decode_strings,
    "KTR_MIB": _decode_mib,
    "KTR_EXEC_FD": _decode_fixed(L.NETBSD_EXECFD),
}

_OPENBSD_DECODERS = {
    "KTR_START": _decode_start,
    "KTR_SYSCALL": _decode_syscall,
    "KTR_SYSRET": _decode_sysret,
    "KTR_NAMEI": _decode_path,
    "KTR_GENIO": _decode_genio,
    "KTR_PSIG": _decode_psig,
    "KTR_CSW": _decode_fixed(L.OPENBSD_CSW),
    "KTR_EMUL": _decode_emul,
    "KTR_STRUCT": _decode_struct,
    "KTR_USER": _decode_user,
    "KTR_EXECARGS": _decode_strings,
    "KTR_EXECENV": _decode_strings,
    "KTR_PLEDGE": _decode_fixed(L.OPENBSD_PLEDGE),
    "KTR_PINSYSCALL": _decode_fixed(L.OPENBSD_PINSYSCALL),
}


def type_name(os_name: str, rtype: int) -> str:
    """The KTR_* name of a record type, or ``KTR_#n`` for one the tables lack."""
    if os_name == "netbsd":
        found = L.NETBSD_TYPES.name_of(rtype, "KTR_")
    else:
        found = L.OPENBSD_TYPES.name_of(rtype, "KTR_") or L.OPENBSD_OLD_TYPES.name_of(rtype, "KTR_")
    return found or "KTR_#%d" % rtype


def decode_payload(os_name: str, tname: str, raw: bytes, order: str) -> Decoded:
    decoders = _NETBSD_DECODERS if os_name == "netbsd" else _OPENBSD_DECODERS
    decoder = decoders.get(tname)
    if decoder is None:
        return {}, "record type not known to the %s tables; payload kept raw" % os_name
    try:
        return decoder(os_name, raw, order)  # type: ignore[operator]
    except (struct.error, ValueError) as exc:
        # A decoder bug or a shape the tables did not foresee must not lose the record.
        return {}, "payload not decodable (%s); kept raw" % exc


# --------------------------------------------------------------------------
# Walking the file


def _check_choice(os_name: str, byteorder: str) -> None:
    if os_name not in OSES:
        raise TraceFormatError("unknown OS %r: give one of %s" % (os_name, ", ".join(OSES)))
    if byteorder not in BYTEORDERS:
        raise TraceFormatError("unknown byte order %r: give one of %s" % (byteorder, ", ".join(BYTEORDERS)))


def _walk(data: bytes, os_name: str, order: str,
          limit: Optional[int] = None) -> Tuple[List[Record], Optional[Stop]]:
    records: List[Record] = []
    offset = 0
    reader = _read_netbsd_header if os_name == "netbsd" else _read_openbsd_header
    hsize = L.NETBSD_HEADER_SIZE if os_name == "netbsd" else L.OPENBSD_HEADER_SIZE
    while offset < len(data):
        if limit is not None and len(records) >= limit:
            break
        head, problem = reader(data, offset, order)
        if head is None:
            return records, Stop(offset, problem or "unreadable header")
        length = int(head["len"])  # type: ignore[call-overload]
        body_at = offset + hsize
        if body_at + length > len(data):
            return records, Stop(offset, "truncated record: header declares %d payload bytes, %d remain"
                                 % (length, len(data) - body_at))
        raw = bytes(data[body_at:body_at + length])
        rtype = int(head["type"])  # type: ignore[call-overload]
        tname = type_name(os_name, rtype)
        payload, note = decode_payload(os_name, tname, raw, order)
        if os_name == "netbsd":
            version = int(head["version"])  # type: ignore[call-overload]
            lwp = int(head.get("lid", 0))  # type: ignore[call-overload]
            if version == 0:
                time = (int(head["tv_sec"]), int(head["tv_usec"]))  # type: ignore[call-overload]
                unit = "us"
            else:
                time = (int(head["tv_sec"]), int(head["tv_nsec"]))  # type: ignore[call-overload]
                unit = "ns"
        else:
            version = None
            lwp = int(head["tid"])  # type: ignore[call-overload]
            time = (int(head["tv_sec"]), int(head["tv_nsec"]))  # type: ignore[call-overload]
            unit = "ns"
        records.append(Record(
            offset=offset, header_size=hsize, type=rtype, type_name=tname,
            pid=int(head["pid"]), lwp=lwp, comm=_comm(head["comm"]),  # type: ignore[call-overload]
            time=time, time_unit=unit, version=version, raw=raw, payload=payload, note=note,
        ))
        offset = body_at + length
    return records, None


def _plausibility(data: bytes, os_name: str, order: str) -> Tuple[int, int]:
    """How well one reading fits: (bytes tiled by sane headers, known records).

    Over the first records only.  A wrong byte order turns ktr_version or
    ktr_len into nonsense within a record or two, so the right reading tiles
    more bytes; the count of cleanly decoded known types breaks ties.
    """
    records, _stop = _walk(data, os_name, order, limit=64)
    tiled = records[-1].end if records else 0
    known = sum(1 for r in records if not r.type_name.startswith("KTR_#") and r.note is None)
    return tiled, known


def detect_os(data: bytes) -> str:
    """OpenBSD when the file opens with KTR_START's ``KTR\\0`` bytes, else NetBSD."""
    return "openbsd" if data[:4] == L.OPENBSD_START_MAGIC else "netbsd"


def detect(data: bytes, os_name: Optional[str] = None) -> Tuple[str, str]:
    """The (os, byteorder) a trace file was written with, when only one fits.

    OpenBSD files start with KTR_START, whose type field is the bytes
    ``KTR\\0``; anything else is taken for NetBSD (unless ``os_name`` says).
    The byte order is the one under which more leading records parse
    cleanly; a tie (an empty file, a lone KTR_START) is ambiguous and raises.
    """
    if not data:
        raise TraceFormatError("empty trace file: nothing to detect the OS and byte order from; "
                               "pass them explicitly")
    if os_name is None:
        os_name = detect_os(data)
    _check_choice(os_name, "little")
    little = _plausibility(data, os_name, "little")
    big = _plausibility(data, os_name, "big")
    if little == big:
        raise TraceFormatError(
            "cannot tell the byte order of this %s trace: both readings parse the same %d records; "
            "pass byteorder explicitly (little for amd64/aarch64, big for sparc64)" % (os_name, little[1]))
    return os_name, ("little" if little > big else "big")


def parse(data: bytes, os_name: Optional[str] = None, byteorder: Optional[str] = None) -> Trace:
    """Parse a whole trace file.  A missing ``os_name``/``byteorder`` is detected."""
    detected = False
    if os_name is None:
        if not data:
            raise TraceFormatError("empty trace file: nothing to detect the OS from; pass it explicitly")
        os_name = detect_os(data)
        detected = True
    if byteorder is None:
        byteorder = detect(data, os_name)[1]
        detected = True
    _check_choice(os_name, byteorder)
    records, stop = _walk(bytes(data), os_name, byteorder)
    return Trace(os=os_name, byteorder=byteorder, size=len(data), records=records, stop=stop,
                 detected=detected)


def parse_file(path: str, os_name: Optional[str] = None, byteorder: Optional[str] = None) -> Trace:
    with open(path, "rb") as fh:
        return parse(fh.read(), os_name, byteorder)
