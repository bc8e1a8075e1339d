"""Byte-exact decoding: wait statuses, struct layouts, both byte orders."""

from __future__ import annotations

import struct

import pytest

from harness.tracecore import abi as abi_tables
from harness.tracecore.abi import KNOWN, linux_aarch64, linux_amd64
from harness.tracecore.abi.types import Field, Header, Struct
from harness.tracecore.waitstatus import decode

LINUX = linux_amd64.ABI


@pytest.mark.parametrize(("status", "kind", "detail"), [
    (0x0300, "exited", {"exit_code": 3}),
    (0x0000, "exited", {"exit_code": 0}),
    (0x0009, "signalled", {"signo": 9, "core_dumped": False}),
    (0x008B, "signalled", {"signo": 11, "core_dumped": True}),
    (0x137F, "stopped", {"signo": 19, "event_code": 0}),
    (0x4057F, "stopped", {"signo": 5, "event_code": 4}),  # PTRACE_EVENT_EXEC << 16
    (0x857F, "stopped", {"signo": 0x85}),                   # SIGTRAP | 0x80: syscall stop
    (0xFFFF, "continued", {}),
])
def test_wait_status_decoding(status, kind, detail):
    ws = decode(status, LINUX)
    assert ws.kind == kind
    for key, value in detail.items():
        assert getattr(ws, key) == value


_HDR = Header("test.h", "test")


def test_struct_decode_both_byte_orders():
    s = Struct("struct t", _HDR, 16, (Field("a", 0, 4), Field("b", 4, 2, signed=True), Field("c", 8, 8)))
    little = struct.pack("<IhxxQ", 0x11223344, -2, 0x0102030405060708)
    big = struct.pack(">IhxxQ", 0x11223344, -2, 0x0102030405060708)
    want = {"a": 0x11223344, "b": -2, "c": 0x0102030405060708}
    assert s.decode(little, "little") == want
    assert s.decode(big, "big") == want
    assert s.encode(want, "big") == big
    assert s.encode(want, "little") == little


def test_struct_encode_keeps_unnamed_bytes_of_the_base():
    s = Struct("struct t", _HDR, 8, (Field("a", 0, 4),))
    base = bytes(range(8))
    assert s.encode({"a": 0xAABBCCDD}, "little", base=base) == b"\xdd\xcc\xbb\xaa\x04\x05\x06\x07"


def test_struct_encode_folds_negative_values_into_unsigned_fields():
    s = Struct("struct t", _HDR, 8, (Field("a", 0, 8),))
    assert s.encode({"a": -1}, "little") == b"\xff" * 8


def test_struct_array_field():
    s = Struct("struct t", _HDR, 8, (Field("v", 0, 2, count=4),))
    assert s.decode(struct.pack(">4H", 1, 2, 3, 4), "big") == {"v": (1, 2, 3, 4)}


def test_overlapping_fields_are_rejected():
    with pytest.raises(ValueError, match="overlaps"):
        Struct("struct bad", _HDR, 8, (Field("a", 0, 4), Field("b", 2, 4)))


def test_fields_past_the_size_are_rejected():
    with pytest.raises(ValueError, match="past size"):
        Struct("struct bad", _HDR, 4, (Field("a", 0, 8),))


def test_short_buffer_is_rejected_with_sizes():
    with pytest.raises(ValueError, match="needs 216 bytes, got 8"):
        LINUX.regs.layout.decode(b"\0" * 8, "little")


# Layout facts from the headers cited in the modules: a typo fails here.
def test_linux_amd64_layout():
    regs = LINUX.regs.layout
    assert regs.size == 216
    assert (regs.field("rip").offset, regs.field("rsp").offset, regs.field("orig_rax").offset) == (128, 152, 120)
    assert (regs.field("r15").offset, regs.field("gs").offset) == (0, 208)
    assert LINUX.fpregs is not None and LINUX.fpregs.layout.size == 512
    assert LINUX.fpregs.layout.field("mxcsr").offset == 24
    assert LINUX.request("PTRACE_GETREGS") == 12
    assert LINUX.request("PTRACE_GET_SYSCALL_INFO") == 0x420E
    assert (LINUX.breakpoint.insn, LINUX.breakpoint.pc_adjust) == (b"\xcc", 1)


def test_linux_aarch64_layout():
    a = linux_aarch64.ABI
    regs = a.regs.layout
    assert regs.size == 272
    assert (regs.field("x0").offset, regs.field("x30").offset) == (0, 240)
    assert (regs.field("sp").offset, regs.field("pc").offset, regs.field("pstate").offset) == (248, 256, 264)
    assert a.regs.note == 1 and a.fpregs is not None and a.fpregs.note == 2
    assert a.fpregs.layout.size == 528
    assert "PTRACE_GETREGS" not in a.requests
    assert a.breakpoint.insn == struct.pack("<I", 0xD4200000)
    assert a.constant("SYS_getppid") == 173


def test_release_keyed_request_overrides():
    from dataclasses import replace
    table = replace(LINUX, requests_by_release={"9": {"PTRACE_CONT": 99}})
    assert table.request("PTRACE_CONT", "9.3") == 99
    assert table.request("PTRACE_CONT", "10.1") == 7
    assert table.request("PTRACE_CONT") == 7


def _decode_member_by_member(layout: Struct, data: bytes, byteorder: str) -> dict:
    """The plain reading of the layout: one unpack per member."""
    order = "<" if byteorder == "little" else ">"
    out = {}
    for f in layout.fields:
        values = struct.unpack_from(order + f.format(), data, f.offset)
        out[f.name] = values[0] if f.format().endswith("s") or f.count == 1 else tuple(values)
    return out


@pytest.mark.parametrize("os_arch", KNOWN, ids=lambda k: "%s-%s" % k)
def test_compiled_decode_matches_member_by_member_for_every_table(os_arch):
    # decode() unpacks a whole struct in one compiled call; every layout of
    # every table must read exactly as its members do one at a time.
    table = abi_tables.load(*os_arch)
    for name, layout in table.all_structs().items():
        data = bytes((7 * i + 3) & 0xFF for i in range(layout.size))
        for byteorder in ("little", "big"):
            assert layout.decode(data, byteorder) == _decode_member_by_member(layout, data, byteorder), name
            for f in layout.fields:
                assert layout.decode_field(data, f.name, byteorder) == layout.decode(data, byteorder)[f.name]


def test_decode_field_reads_only_that_member():
    layout = Struct("s", Header("x.h", "test"), 16, (Field("a", 0, 8), Field("pc", 8, 8)))
    assert layout.decode_field(bytes(8) + (0x401000).to_bytes(8, "big"), "pc", "big") == 0x401000
    with pytest.raises(KeyError, match="s has no field 'npc'"):
        layout.decode_field(bytes(16), "npc", "big")
    with pytest.raises(ValueError, match=r"s.pc needs 16 bytes, got 12"):
        layout.decode_field(bytes(12), "pc", "big")
