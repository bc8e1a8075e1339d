"""One measured figure, and the loops that measure the core.

A :class:`Measurement` is ``count`` operations in ``seconds``; an
:class:`Unavailable` says why a figure could not be taken on this target.
The loops here check every stop they time, so a rate never counts stops of
the wrong kind.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import statistics
import time
from dataclasses import dataclass
from typing import Any

from ..errors import GuestError
from ..rpc import RpcClient
from ..tracecore import server
from ..tracecore.tracer import Tracer

# What every bench works on: the core's own tracee program that calls libc
# getppid() forever (-1) and reports getppid's address at its ready point.
LOOP_PROGRAM = "loop"
LOOP_FOREVER = ["-1"]
# The loop tracee calls getppid every few microseconds; a hit not seen in
# this long means the breakpoint is somewhere the tracee does not run.
BREAKPOINT_WAIT_S = 30.0


@dataclass(frozen=True)
class Measurement:
    count: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    @property
    def us_per_op(self) -> float:
        return self.seconds * 1e6 / self.count

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "seconds": self.seconds,
                "per_second": self.per_second, "us_per_op": self.us_per_op}


@dataclass(frozen=True)
class Unavailable:
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"unavailable": self.reason}


Figure = Measurement | Unavailable


@dataclass(frozen=True)
class RoundTrips:
    """Round-trip times of ``calls`` pings, in microseconds."""

    calls: int
    median_us: float
    p95_us: float
    min_us: float
    max_us: float

    @classmethod
    def from_samples(cls, samples_us: list[float]) -> RoundTrips:
        if not samples_us:
            raise ValueError("no round-trip samples")
        ordered = sorted(samples_us)
        # Nearest-rank percentile: an observed value, never an interpolation.
        p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
        return cls(len(ordered), statistics.median(ordered), p95, ordered[0], ordered[-1])

    def to_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "median": self.median_us, "p95": self.p95_us,
                "min": self.min_us, "max": self.max_us}


def _check_positive(name: str, count: int) -> None:
    if count <= 0:
        raise ValueError("%s must be a positive number of operations, not %d" % (name, count))


# -- in-process: a Tracer in this very process ----------------------------------------
def tracer_steps(tracer: Tracer, pid: int, count: int) -> Measurement:
    """Single-step a stopped tracee ``count`` times."""
    _check_positive("count", count)
    start = time.perf_counter()
    for n in range(count):
        # No wait timeout: the interval timer a timeout arms costs more than
        # the step; the loop tracee never exits, so a step always stops.
        event = tracer.step(pid, timeout=None)
        if event.event != "step":
            raise GuestError("single-step %d of tracee %d stopped with %r, not a step"
                             % (n + 1, pid, event.to_dict()))
    return Measurement(count, time.perf_counter() - start)


def tracer_breakpoint_hits(tracer: Tracer, pid: int, addr: int, count: int) -> Measurement:
    """Continue a stopped tracee onto an armed breakpoint ``count`` times
    (the tracer steps over it on each continue, as a debugger would)."""
    _check_positive("count", count)
    start = time.perf_counter()
    for hit in range(count):
        tracer.cont(pid)
        # A timeout here, unlike in the step loop: an address the tracee
        # never runs would otherwise hang the bench.
        event = tracer.wait(pid, timeout=BREAKPOINT_WAIT_S)
        if event.event != "breakpoint" or event.breakpoint != addr:
            raise GuestError("continue %d of tracee %d stopped with %r, not the breakpoint at 0x%x"
                             % (hit + 1, pid, event.to_dict(), addr))
    return Measurement(count, time.perf_counter() - start)


def in_process(count: int) -> dict[str, Figure]:
    """Steps and breakpoint hits through a core running in this process,
    with the same spawn path the server uses (its method table, no JSON)."""
    _check_positive("count", count)
    session = server.Session()
    try:
        spawned = server.METHODS["tracee.spawn"](session, program=LOOP_PROGRAM, args=LOOP_FOREVER)
        pid = spawned["pid"]
        steps = tracer_steps(session.tracer, pid, count)
        getppid = int(spawned["ready"]["getppid"])
        session.tracer.insert_breakpoint(pid, getppid)
        hits = tracer_breakpoint_hits(session.tracer, pid, getppid, count)
        return {"steps": steps, "breakpoints": hits}
    finally:
        session.close()
        shutil.rmtree(session.workdir, ignore_errors=True)


# -- through the RPC --------------------------------------------------------------------
def ping_round_trips(rpc: RpcClient, count: int) -> RoundTrips:
    _check_positive("count", count)
    samples = []
    for _ in range(count):
        start = time.perf_counter_ns()
        rpc.ping()
        samples.append((time.perf_counter_ns() - start) / 1000.0)
    return RoundTrips.from_samples(samples)


def rpc_figures(rpc: RpcClient, count: int) -> dict[str, dict[str, Figure]]:
    """Both RPC paths on one loop tracee: one request per step (or per
    continue and wait), then the server-side loops (one request for all)."""
    _check_positive("count", count)
    spawned = rpc.tracee.spawn(program=LOOP_PROGRAM, args=LOOP_FOREVER)
    pid = spawned["pid"]
    getppid = int(spawned["ready"]["getppid"])
    try:
        start = time.perf_counter()
        for n in range(count):
            event = rpc.ptrace.step(pid=pid)
            if event.get("event") != "step":
                raise GuestError("ptrace.step %d of tracee %d gave %r, not a step" % (n + 1, pid, event),
                                 target=rpc.name)
        per_call_steps = Measurement(count, time.perf_counter() - start)
        loop_steps = _server_measurement(rpc.bench.steps(pid=pid, count=count), count, rpc.name)

        rpc.bp.insert(pid=pid, addr=getppid)
        start = time.perf_counter()
        for n in range(count):
            rpc.ptrace.cont(pid=pid)
            event = rpc.wait(pid=pid)
            if event.get("event") != "breakpoint":
                raise GuestError("continue %d of tracee %d gave %r, not the breakpoint at 0x%x"
                                 % (n + 1, pid, event, getppid), target=rpc.name)
        per_call_hits = Measurement(count, time.perf_counter() - start)
        loop_hits = _server_measurement(
            rpc.bench.breakpoint_hits(pid=pid, addr=getppid, count=count), count, rpc.name)
    except BaseException:
        # The first failure is the one to report; the core may be gone too.
        with contextlib.suppress(Exception):
            rpc.ptrace.kill(pid=pid)
        raise
    rpc.ptrace.kill(pid=pid)
    return {
        "rpc_per_call": {"steps": per_call_steps, "breakpoints": per_call_hits},
        "rpc_server_loop": {"steps": loop_steps, "breakpoints": loop_hits},
    }


def _server_measurement(reply: dict[str, Any], count: int, target: str) -> Measurement:
    if reply.get("count") != count or not isinstance(reply.get("seconds"), (int, float)):
        raise GuestError("the core's bench reply %r does not report %d operations and their seconds"
                         % (reply, count), target=target)
    return Measurement(count, float(reply["seconds"]))
