"""Memory transfer: sizes, alignment, page boundaries, unmapped addresses.

The tracee's data area holds a known pattern (byte i is (7*i + 3) & 0xff),
so every read is checked byte for byte.
"""

from __future__ import annotations

import pytest
from conformance import ERRNO, expected

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
