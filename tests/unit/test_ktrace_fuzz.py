"""The ktrace parser on arbitrary bytes: it never raises and never loses a byte.

"Never loses a byte" means the records tile the input from offset 0 without
gaps or overlaps, and whatever follows the last record is covered by the
stop note (which names exactly that offset).
"""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.tracecore.ktrace import parser
from harness.tracecore.ktrace.format import trace_text, trace_to_dict

OS_ORDERS = st.sampled_from([(o, b) for o in parser.OSES for b in parser.BYTEORDERS])


def _assert_tiles(trace: parser.Trace, data: bytes) -> None:
    at = 0
    for rec in trace.records:
        assert rec.offset == at
        assert rec.raw == data[rec.offset + rec.header_size:rec.end]
        at = rec.end
    if trace.stop is None:
        assert at == len(data)
    else:
        assert trace.stop.offset == at < len(data)
        assert trace.stop.reason


@settings(max_examples=400, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=600), choice=OS_ORDERS)
def test_arbitrary_bytes_parse_without_error_or_loss(data: bytes, choice) -> None:
    os_name, order = choice
    trace = parser.parse(data, os_name, order)
    _assert_tiles(trace, data)
    # Rendering must cope with whatever the parser produced.
    trace_text(trace)
    trace_to_dict(trace)


@st.composite
def plausible_netbsd(draw):
    """Headers with sane lengths and versions, so the walk goes deep."""
    order = draw(st.sampled_from(parser.BYTEORDERS))
    e = "<" if order == "little" else ">"
    out = b""
    for _ in range(draw(st.integers(0, 6))):
        payload = draw(st.binary(max_size=200))
        version = draw(st.sampled_from([0, 1, 2]))
        rtype = draw(st.integers(0, 20))
        shorts = (rtype, version) if order == "little" else (version, rtype)
        head = struct.pack(e + "ihhi", len(payload), *shorts, draw(st.integers(-5, 99999)))
        out += head + draw(st.binary(min_size=44, max_size=44)) + payload
    cut = draw(st.integers(0, len(out)))
    return order, out[:cut] + draw(st.binary(max_size=30))


@settings(max_examples=300, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample=plausible_netbsd())
def test_plausible_netbsd_files_decode_every_known_type_without_error(sample) -> None:
    order, data = sample
    trace = parser.parse(data, "netbsd", order)
    _assert_tiles(trace, data)
    for line in trace_text(trace):
        assert isinstance(line, str)


@settings(max_examples=200, database=None)
@given(data=st.binary(max_size=300))
def test_detection_either_answers_or_raises_its_own_error(data: bytes) -> None:
    try:
        trace = parser.parse(data)
    except parser.TraceFormatError:
        return
    _assert_tiles(trace, data)
