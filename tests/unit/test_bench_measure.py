"""The bench's measurements: counts match, times are real, statistics and
the timings protocol behave as documented.  No speed is asserted."""

from __future__ import annotations

import pytest

from harness.bench import measure
from harness.bench.measure import Measurement, RoundTrips, Unavailable
from harness.bench.runner import fastest, target_timings
from harness.errors import HostError
from harness.tracecore import server


def test_in_process_counts_match_and_time_passes():
    figures = measure.in_process(20)
    assert set(figures) == {"steps", "breakpoints"}
    for fig in figures.values():
        assert isinstance(fig, Measurement)
        assert fig.count == 20
        assert fig.seconds > 0
        assert fig.us_per_op == pytest.approx(fig.seconds * 1e6 / 20)


def test_a_zero_count_is_refused():
    with pytest.raises(ValueError, match="positive number of operations, not 0"):
        measure.in_process(0)


def test_server_breakpoint_loop_refuses_an_unarmed_address():
    session = server.Session()
    try:
        spawned = server.METHODS["tracee.spawn"](session, program="loop", args=["-1"])
        reply = server.handle(session, (
            '{"id": 1, "method": "bench.breakpoint_hits", "params": {"pid": %d, "addr": 4096, "count": 3}}'
            % spawned["pid"]).encode())
    finally:
        session.close()
    assert reply["error"]["type"] == "BadRequest"
    assert "no breakpoint armed at 0x1000" in reply["error"]["message"]


def test_server_breakpoint_loop_counts_hits():
    session = server.Session()
    try:
        spawned = server.METHODS["tracee.spawn"](session, program="loop", args=["-1"])
        pid, addr = spawned["pid"], int(spawned["ready"]["getppid"])
        session.tracer.insert_breakpoint(pid, addr)
        reply = server.METHODS["bench.breakpoint_hits"](session, pid=pid, addr=addr, count=7)
        assert reply["count"] == 7
        assert reply["seconds"] > 0
        assert session.tracer.pc(pid) == addr
    finally:
        session.close()


def test_round_trips_median_and_nearest_rank_p95():
    rt = RoundTrips.from_samples([float(n) for n in range(100, 0, -1)])
    assert (rt.calls, rt.median_us, rt.p95_us, rt.min_us, rt.max_us) == (100, 50.5, 95.0, 1.0, 100.0)


def test_fastest_keeps_the_quickest_round_and_any_unavailable():
    slow, quick = Measurement(10, 2.0), Measurement(10, 1.0)
    gone = Unavailable("n/a on sparc64")
    picked = fastest([{"steps": slow, "breakpoints": gone}, {"steps": quick, "breakpoints": quick}])
    assert picked == {"steps": quick, "breakpoints": gone}


class _Target:
    def __init__(self, timings):
        self.timings = timings


def test_target_timings_follow_the_protocol():
    assert target_timings(_Target({"boot_to_ssh": 24, "push": 0.5})) == {"boot_to_ssh": 24.0, "push": 0.5}
    assert target_timings(object()) == {}


@pytest.mark.parametrize("bad", [{"boot_to_ssh": "24 s"}, {"push": True}, [("push", 1.0)]])
def test_target_timings_outside_the_protocol_are_a_host_error(bad):
    with pytest.raises(HostError, match=r"_Target\.timings"):
        target_timings(_Target(bad))
