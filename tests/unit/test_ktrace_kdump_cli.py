"""``harness kdump`` on trace files built here from the header layouts."""

from __future__ import annotations

import argparse
import json
import struct

import pytest

from harness.cli import kdump


def _netbsd_file(order: str) -> bytes:
    """Two NetBSD v2 records (open's CALL and NAMI), LP64, packed by hand."""
    e = "<" if order == "little" else ">"

    def header(rtype: int, length: int) -> bytes:
        shorts = (rtype, 2) if order == "little" else (2, rtype)
        return (struct.pack(e + "ihhi", length, *shorts, 501) + b"cat".ljust(17, b"\0") + b"\0" * 3
                + struct.pack(e + "qqi4x", 1700000000, 5, 1))

    call = struct.pack(e + "iiqq", 5, 16, 0x1000, 0)
    path = b"/etc/motd"
    return header(1, len(call)) + call + header(3, len(path)) + path


@pytest.mark.parametrize("order", ["little", "big"])
def test_text_output(tmp_path, capsys, order: str) -> None:
    trace = tmp_path / "ktrace.out"
    trace.write_bytes(_netbsd_file(order))
    assert kdump.main([str(trace)]) == kdump.EXIT_COMPLETE
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "   501      1 cat              1700000000.000000005 CALL  open(0x1000, 0x0)",
        '   501      1 cat              1700000000.000000005 NAMI  "/etc/motd"',
    ]


def test_json_output_and_explicit_os(tmp_path, capsys) -> None:
    trace = tmp_path / "ktrace.out"
    trace.write_bytes(_netbsd_file("big"))
    assert kdump.main([str(trace), "--os", "netbsd", "--byteorder", "big", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["os"], doc["byteorder"], doc["detected"], doc["note"]) == ("netbsd", "big", False, None)
    assert [r["type_name"] for r in doc["records"]] == ["KTR_SYSCALL", "KTR_NAMEI"]
    assert doc["records"][1]["payload"] == {"path": "/etc/motd"}


def test_truncated_file_prints_records_then_where_it_stopped(tmp_path, capsys) -> None:
    data = _netbsd_file("little")
    trace = tmp_path / "ktrace.out"
    trace.write_bytes(data[:-3])
    assert kdump.main([str(trace)]) == kdump.EXIT_STOPPED_EARLY
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert out[1] == ("-- stopped at offset 80: truncated record: header declares 9 payload bytes, "
                      "6 remain (62 bytes after the last complete record)")


def test_missing_file_and_undetectable_file_exit_2(tmp_path, capsys) -> None:
    assert kdump.main([str(tmp_path / "nope.out")]) == kdump.EXIT_UNREADABLE
    assert "cannot read" in capsys.readouterr().err
    empty = tmp_path / "empty.out"
    empty.write_bytes(b"")
    assert kdump.main([str(empty)]) == kdump.EXIT_UNREADABLE
    assert "empty trace file" in capsys.readouterr().err


def test_register_adds_the_subcommand() -> None:
    top = argparse.ArgumentParser(prog="harness")
    kdump.register(top.add_subparsers(dest="command"))
    args = top.parse_args(["kdump", "f.out", "--json"])
    assert (args.file, args.json, args.func) == ("f.out", True, kdump.run)
