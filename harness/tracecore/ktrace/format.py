"""Render parsed ktrace records as kdump(1)-like text and as JSON-able dicts.

The text follows kdump's default shape (pid, lwp, command, a short type tag,
then the record), with the timestamp always shown so records from several
LWPs can be ordered by eye.  The dict form is what the RPC layer sends: bytes
become hex strings under a ``_hex`` key (``data`` -> ``data_hex``) so nothing
is lost and nothing needs a custom decoder.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional

from .parser import Record, Trace

# kdump's four-letter tags.
_TAGS = {
    "KTR_START": "START",
    "KTR_SYSCALL": "CALL",
    "KTR_SYSRET": "RET",
    "KTR_NAMEI": "NAMI",
    "KTR_GENIO": "GIO",
    "KTR_PSIG": "PSIG",
    "KTR_CSW": "CSW",
    "KTR_EMUL": "EMUL",
    "KTR_USER": "USER",
    "KTR_EXEC_ARG": "ARG",
    "KTR_EXEC_ENV": "ENV",
    "KTR_EXECARGS": "ARGS",
    "KTR_EXECENV": "ENV",
    "KTR_MIB": "MIB",
    "KTR_EXEC_FD": "FD",
    "KTR_STRUCT": "STRU",
    "KTR_PLEDGE": "PLDG",
    "KTR_PINSYSCALL": "PINS",
}

# How many data bytes a GIO/USER/STRU line shows before eliding the rest.
TEXT_DATA_LIMIT = 256


def jsonable(value: object, data_limit: Optional[int] = None) -> object:
    """A JSON-safe copy: bytes to hex, tuples to lists, dicts recursed.

    With ``data_limit``, a bytes value longer than that keeps only its first
    ``data_limit`` bytes and gains a ``<key>_length`` entry with the full
    length, so a cut is always visible.
    """
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, dict):
        out: Dict[str, object] = {}
        for k, v in value.items():
            if isinstance(v, (bytes, bytearray)):
                data = bytes(v)
                if data_limit is not None and len(data) > data_limit:
                    out["%s_length" % k] = len(data)
                    data = data[:data_limit]
                out["%s_hex" % k] = data.hex()
            else:
                out[str(k)] = jsonable(v, data_limit)
        return out
    if isinstance(value, (list, tuple)):
        return [jsonable(v, data_limit) for v in value]
    return value


def record_to_dict(rec: Record, data_limit: Optional[int] = None) -> Dict[str, object]:
    """One record as plain JSON types (see ``jsonable`` for ``data_limit``)."""
    out: Dict[str, object] = {
        "offset": rec.offset,
        "type": rec.type,
        "type_name": rec.type_name,
        "version": rec.version,
        "pid": rec.pid,
        "lwp": rec.lwp,
        "comm": rec.comm,
        "time": [rec.time[0], rec.time[1]],
        "time_unit": rec.time_unit,
        "length": len(rec.raw),
        "payload": jsonable(rec.payload, data_limit),
        "note": rec.note,
    }
    if not rec.payload:
        # Undecoded (unknown type, short payload): the bytes are the record.
        out.update(jsonable({"raw": rec.raw}, data_limit))  # type: ignore[arg-type]
    return out


def trace_to_dict(trace: Trace, data_limit: Optional[int] = None) -> Dict[str, object]:
    return {
        "os": trace.os,
        "byteorder": trace.byteorder,
        "detected": trace.detected,
        "size": trace.size,
        "records": [record_to_dict(r, data_limit) for r in trace.records],
        "stop_offset": None if trace.stop is None else trace.stop.offset,
        "note": trace.note,
    }


def _quote(data: bytes, limit: int = TEXT_DATA_LIMIT) -> str:
    shown = data[:limit]
    body = []
    for byte in shown:
        ch = chr(byte)
        if ch == "\\":
            body.append("\\\\")
        elif ch == '"':
            body.append('\\"')
        elif ch == "\n":
            body.append("\\n")
        elif ch == "\t":
            body.append("\\t")
        elif 32 <= byte < 127:
            body.append(ch)
        else:
            body.append("\\%03o" % byte)
    text = '"%s"' % "".join(body)
    if len(data) > limit:
        text += " ... (%d more bytes)" % (len(data) - limit)
    return text


def _num(value: object) -> str:
    v = int(value)  # type: ignore[call-overload]
    return str(v) if -10 < v < 10 else "%d/%#x" % (v, v & 0xFFFFFFFFFFFFFFFF)


def _action(action: object) -> str:
    a = int(action)  # type: ignore[call-overload]
    if a == 0:
        return "SIG_DFL"
    if a == 1:
        return "SIG_IGN"
    return "caught handler=%#x" % a


def _mask(mask: object) -> str:
    """NetBSD's sigset_t is four words, OpenBSD's one int."""
    words = mask if isinstance(mask, (list, tuple)) else [mask]
    return ",".join("%#x" % int(w) for w in words)  # type: ignore[call-overload]


def _body(rec: Record) -> str:
    p = rec.payload
    t = rec.type_name
    if not p and t != "KTR_START":
        note = "" if rec.note is None else "  [%s]" % rec.note
        return "%d bytes %s%s" % (len(rec.raw), _quote(rec.raw, 64), note)
    if t == "KTR_SYSCALL":
        args = ", ".join("%#x" % (int(a) & 0xFFFFFFFFFFFFFFFF) for a in p.get("args", []))  # type: ignore[union-attr]
        text = "%s(%s)" % (p["name"], args)
        if "mib" in p:
            text += " mib=%s" % ".".join(str(m) for m in p["mib"])  # type: ignore[union-attr]
        return text
    if t == "KTR_SYSRET":
        error = int(p["error"])  # type: ignore[call-overload]
        if error:
            return "%s -1 errno %d" % (p["name"], error)
        retval = p.get("retval")
        if retval is None:
            return "%s 0" % p["name"]
        text = "%s %s" % (p["name"], _num(retval))
        if int(p.get("retval_1", 0) or 0):  # type: ignore[call-overload]
            text += ", %s" % _num(p["retval_1"])
        return text
    if t == "KTR_NAMEI":
        return '"%s"' % p["path"]
    if t == "KTR_GENIO":
        data = p["data"]
        verb = {"read": "read", "write": "wrote"}.get(str(p["direction"]), str(p["direction"]))
        return "fd %s %s %d bytes\n       %s" % (p["fd"], verb, len(data), _quote(data))  # type: ignore[arg-type]
    if t == "KTR_PSIG":
        text = "%s %s mask=(%s) code=%s" % (p["signame"], _action(p["action"]), _mask(p["mask"]), p["code"])
        si = p.get("siginfo")
        if isinstance(si, dict):
            text += " siginfo=(%s)" % ", ".join("%s=%s" % (k, v) for k, v in si.items())
        return text
    if t == "KTR_CSW":
        return "%s %s" % ("stop" if p["out"] else "resume", "user" if p["user"] else "kernel")
    if t == "KTR_EMUL":
        return '"%s"' % p["name"]
    if t == "KTR_USER":
        data = p["data"]
        return '"%s" %d bytes\n       %s' % (p["id"], len(data), _quote(data))  # type: ignore[arg-type]
    if t in ("KTR_EXEC_ARG", "KTR_EXEC_ENV", "KTR_EXECARGS", "KTR_EXECENV"):
        return ", ".join('"%s"' % s for s in p["strings"])  # type: ignore[union-attr]
    if t == "KTR_MIB":
        return ".".join(str(m) for m in p["mib"])  # type: ignore[union-attr]
    if t == "KTR_EXEC_FD":
        return "fd %s dtype %s" % (p["fd"], p["dtype"])
    if t == "KTR_STRUCT":
        return "struct %s %d bytes" % (p["struct"], len(p["data"]))  # type: ignore[arg-type]
    if t == "KTR_PLEDGE":
        return "%s, errno %s, code %#x" % (p["name"], p["error"], int(p["code"]))  # type: ignore[call-overload]
    if t == "KTR_PINSYSCALL":
        return "%s, errno %s, addr %#x" % (p["name"], p["error"], int(p["addr"]))  # type: ignore[call-overload]
    if t == "KTR_START":
        return "trace started"
    return str(p)


def record_text(rec: Record) -> str:
    tag = _TAGS.get(rec.type_name, rec.type_name)
    digits = 6 if rec.time_unit == "us" else 9
    line = "%6d %6d %-16s %d.%0*d %-5s %s" % (
        rec.pid, rec.lwp, rec.comm, rec.time[0], digits, rec.time[1], tag, _body(rec))
    if rec.note is not None and rec.payload:
        line += "  [%s]" % rec.note
    return line


def trace_text(trace: Trace) -> List[str]:
    """Every record as kdump-like lines, then the stop note when there is one."""
    lines = [record_text(r) for r in trace.records]
    if trace.stop is not None:
        lines.append("-- %s (%d bytes after the last complete record)"
                     % (trace.stop, trace.size - trace.stop.offset))
    return lines


def records_text(records: Iterable[Record]) -> List[str]:
    return [record_text(r) for r in records]
