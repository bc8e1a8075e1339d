"""Memory transfer: sizes, alignment, page boundaries, unmapped addresses.

The tracee's data area holds a known pattern (byte i is (7*i + 3) & 0xff),
so every read is checked byte for byte.
"""

from __future__ import annotations

import pytest
from conformance import ERRNO, SHORT_TRANSFER_AT_HOLE, WORD_TRANSFER_SIZE, expected

from harness.rpc import RemoteError
from harness.tracecore.tracees import pattern


@pytest.fixture
def area(spawn):
    r = spawn("ready")
    return r["pid"], r["ready"]


@pytest.mark.parametrize("size", [1, 2, 4, 8])
@pytest.mark.parametrize("offset", [0, 1, 3, 5, 8])
def test_read_sizes_and_alignments(tracer, area, size, offset):
    pid, ready = area
    data = tracer.mem.read(pid=pid, addr=ready["data"] + offset, size=size)
    assert bytes.fromhex(data) == pattern(offset, size)


@pytest.mark.parametrize("size", [1, 2, 4, 8])
@pytest.mark.parametrize("offset", [0, 3, 6])
def test_write_sizes_and_alignments_touch_only_their_bytes(tracer, area, size, offset):
    pid, ready = area
    base = ready["data"] + 64
    new = bytes(range(0xA0, 0xA0 + size))
    tracer.mem.write(pid=pid, addr=base + offset, data=new.hex())
    window = bytes.fromhex(tracer.mem.read(pid=pid, addr=base, size=24))
    want = bytearray(pattern(64, 24))
    want[offset:offset + size] = new
    assert window == bytes(want)


def test_read_across_a_page_boundary(tracer, area):
    pid, ready = area
    page = ready["page_size"]
    data = tracer.mem.read(pid=pid, addr=ready["data"] + page - 5, size=13)
    assert bytes.fromhex(data) == pattern(page - 5, 13)


def test_write_across_a_page_boundary(tracer, area):
    pid, ready = area
    page = ready["page_size"]
    new = b"trapline-crossing"
    tracer.mem.write(pid=pid, addr=ready["data"] + page - 7, data=new.hex())
    assert bytes.fromhex(tracer.mem.read(pid=pid, addr=ready["data"] + page - 7, size=len(new))) == new
    # The bytes just outside are untouched.
    edges = bytes.fromhex(tracer.mem.read(pid=pid, addr=ready["data"] + page - 8, size=len(new) + 2))
    assert (edges[0], edges[-1]) == (pattern(page - 8, 1)[0], pattern(page - 7 + len(new), 1)[0])


def test_read_whole_data_area(tracer, area):
    pid, ready = area
    data = tracer.mem.read(pid=pid, addr=ready["data"], size=ready["data_size"])
    assert bytes.fromhex(data) == pattern(0, ready["data_size"])


def test_write_into_read_only_code_page(tracer, area):
    # The code page is mapped read+exec: a tracer's write must still land
    # (it is how breakpoints get into text).
    pid, ready = area
    tracer.mem.write(pid=pid, addr=ready["code"], data="deadbeef")
    assert tracer.mem.read(pid=pid, addr=ready["code"], size=4) == "deadbeef"


def test_read_unmapped_address_fails_with_the_os_errno(tracer, target, area):
    pid, ready = area
    with pytest.raises(RemoteError) as err:
        tracer.mem.read(pid=pid, addr=ready["unmapped"], size=8)
    assert err.value.errno == expected(ERRNO, target.os, "read_unmapped")


def test_write_unmapped_address_fails_with_the_os_errno(tracer, target, area):
    pid, ready = area
    with pytest.raises(RemoteError) as err:
        tracer.mem.write(pid=pid, addr=ready["unmapped"], data="00" * 8)
    assert err.value.errno == expected(ERRNO, target.os, "write_unmapped")


def test_zero_length_read_is_empty(tracer, area):
    pid, ready = area
    assert tracer.mem.read(pid=pid, addr=ready["data"], size=0) == ""


# -- transfers that stop part way, and one-value transfers --------------------------------------
def test_read_into_a_hole_reports_what_moved(tracer, target, area):
    """The kernel's own granularity decides how much of a read that runs
    into an unmapped page arrives; the core must say how much, give those
    bytes, and never pass them off as the whole."""
    pid, ready = area
    errno_name, moved = expected(SHORT_TRANSFER_AT_HOLE, target.os)
    with pytest.raises(RemoteError) as err:
        tracer.mem.read(pid=pid, addr=ready["unmapped"] - 8, size=16)
    assert (err.value.type, err.value.errno, err.value.transferred) == ("ShortTransfer", errno_name, moved)
    assert err.value.partial_data == pattern(ready["data_size"] - 8, moved)


def test_write_into_a_hole_reports_what_moved_and_changed_only_that(tracer, target, area):
    pid, ready = area
    errno_name, moved = expected(SHORT_TRANSFER_AT_HOLE, target.os)
    with pytest.raises(RemoteError) as err:
        tracer.mem.write(pid=pid, addr=ready["unmapped"] - 8, data="ee" * 16)
    assert (err.value.errno, err.value.transferred) == (errno_name, moved)
    tail = bytes.fromhex(tracer.mem.read(pid=pid, addr=ready["unmapped"] - 8, size=8))
    assert tail == b"\xee" * moved + pattern(ready["data_size"] - 8 + moved, 8 - moved)


def _word_size(target):
    size = expected(WORD_TRANSFER_SIZE, target.os)
    return target.abi["pointer_size"] if size == "pointer" else size


def test_peek_reads_one_value_in_the_tracee_byte_order(tracer, target, area):
    pid, ready = area
    size = _word_size(target)
    got = tracer.mem.peek(pid=pid, addr=ready["data"] + 16)
    assert got["size"] == size
    assert got["value"] == int.from_bytes(pattern(16, size), target.abi["byteorder"])


def test_poke_writes_exactly_one_value_and_nothing_beside_it(tracer, target, area):
    """PT_WRITE_D moves an int on the BSDs, PTRACE_POKEDATA a long on Linux:
    the bytes after it must keep the pattern, on either byte order."""
    pid, ready = area
    size = _word_size(target)
    value = 0x11223344
    assert tracer.mem.poke(pid=pid, addr=ready["data"] + 32, value=value)["size"] == size
    window = bytes.fromhex(tracer.mem.read(pid=pid, addr=ready["data"] + 32, size=16))
    assert window == value.to_bytes(size, target.abi["byteorder"]) + pattern(32 + size, 16 - size)
