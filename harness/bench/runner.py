"""Run the bench on one target and collect its figures.

On ``local`` every path runs: the C reference, the core in this process,
and the core as a subprocess behind the RPC.  On a guest the core runs in
the guest, so there are the RPC paths (the server loop is the guest's
in-process rate) and, on Linux guests, the C reference built by the guest's
own cc over SSH; the guest's start-up phases come from its ``timings`` (see
:data:`TIMING_LABELS`)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HostError
from ..targets import open_target, parse_target
from ..tracecore import selfcheck
from . import measure, reference
from .measure import Figure, Measurement, RoundTrips, Unavailable

# The goal for the in-process core, as a fraction of the C step rate.
GOAL_STEP_RATIO = 0.5

# Paths in table order: key, short label, what it measures.
PATHS = (
    ("c_reference", "C reference", "a C program built by cc at bench time, calling ptrace directly"),
    ("in_process", "core in-process", "harness.tracecore's Tracer inside the bench process"),
    ("rpc_server_loop", "core RPC, server loop", "one bench.* request; the core loops and times itself"),
    ("rpc_per_call", "core RPC, per call", "one request per step (ptrace.step) or per hit (ptrace.cont + wait)"),
)
WHATS = ("steps", "breakpoints")

# The timings protocol.  A target object may carry ``timings``: a mapping of
# phase name -> seconds (int or float), filled in by ``start()`` and
# ``start_core()``; the bench reads it after both.  Known phases print under
# these labels, in this order; any other key prints after them under its own
# name, so a target can add phases without a change here.
TIMING_LABELS = (
    ("build", "image build (first use only)"),
    ("boot_to_ssh", "cold boot to SSH"),
    ("restore_to_ssh", "restore ready state to SSH"),
    ("save_ready_state", "save ready state"),
    ("push", "push core (last push)"),
    ("core_hello", "core start to hello"),
    ("suites_wall", "full suites (harness run) wall time"),
)
# Wall times the bench itself takes around the target's calls.
BENCH_TIMINGS = (
    ("bench_start", "target start() (bench wall clock)"),
    ("bench_start_core", "target start_core() (bench wall clock)"),
)


@dataclass
class TargetBench:
    target: str
    count: int
    rounds: int
    platform: dict[str, Any]
    figures: dict[str, dict[str, Figure]]
    round_trips: RoundTrips
    timings: dict[str, float] = field(default_factory=dict)
    host: dict[str, Any] = field(default_factory=dict)

    def ratio(self, what: str) -> float | None:
        """The in-process rate as a fraction of the C rate, where both exist."""
        core = self.figures["in_process"][what]
        c = self.figures["c_reference"][what]
        if isinstance(core, Measurement) and isinstance(c, Measurement):
            return core.per_second / c.per_second
        return None

    def goal_met(self) -> bool | None:
        ratio = self.ratio("steps")
        return None if ratio is None else ratio >= GOAL_STEP_RATIO

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "count": self.count,
            "rounds": self.rounds,
            "platform": self.platform,
            "host": self.host,
            "results": {path: {what: fig.to_dict() for what, fig in by_what.items()}
                        for path, by_what in self.figures.items()},
            "ratios": {"in_process_vs_c_steps": self.ratio("steps"),
                       "in_process_vs_c_breakpoints": self.ratio("breakpoints")},
            "goal": {"in_process_vs_c_steps_at_least": GOAL_STEP_RATIO, "met": self.goal_met()},
            "rpc_round_trip_us": self.round_trips.to_dict(),
            "timings_s": dict(self.timings),
        }


def target_timings(target: object) -> dict[str, float]:
    """The target's ``timings`` (absent means none), checked against the
    protocol: phase name -> seconds."""
    raw = getattr(target, "timings", None)
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise HostError("%s.timings is a %s, not a mapping of phase -> seconds"
                        % (type(target).__name__, type(raw).__name__))
    out: dict[str, float] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or isinstance(value, bool) or not isinstance(value, (int, float)):
            raise HostError("%s.timings[%r] = %r: the bench expects phase name -> seconds (a number)"
                            % (type(target).__name__, name, value))
        out[name] = float(value)
    return out


def host_load() -> dict[str, Any]:
    """The bench host's CPUs and load, so a reader can tell a slow machine
    from a busy one."""
    return {"cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2)}


def _platform(hello: Mapping[str, Any]) -> dict[str, Any]:
    return {key: hello.get(key) for key in ("os", "release", "machine", "arch", "abi", "python")}


def fastest(figures: list[dict[str, Figure]]) -> dict[str, Figure]:
    """Per kind, the fastest of several rounds: on a shared machine, load
    only ever slows a round down, so the best one is nearest the real cost."""
    out: dict[str, Figure] = {}
    for what in figures[0]:
        candidates = [round_[what] for round_ in figures]
        unavailable = [fig for fig in candidates if isinstance(fig, Unavailable)]
        out[what] = unavailable[0] if unavailable else min(
            (fig for fig in candidates if isinstance(fig, Measurement)), key=lambda fig: fig.us_per_op)
    return out


def _guest_reference(target: object, kernel: str, arch: str, name: str, count: int, rounds: int,
                     say: Callable[[str], None], cache_dir: Path | None = None) -> dict[str, Figure]:
    """The C reference built and run inside the guest, where it can be."""
    if kernel != "linux":
        reason = Unavailable("reference.c speaks Linux ptrace only; %s runs %s" % (name, kernel))
        return {what: reason for what in WHATS}
    ssh = getattr(target, "ssh", None)
    if ssh is None:
        reason = Unavailable("%s has no ssh() to run the C reference over" % type(target).__name__)
        return {what: reason for what in WHATS}
    session = ssh()
    binary = None
    built_by = "the guest's cc"
    if not reference.guest_has_cc(session):
        # As the ABI self-check does: a guest without a compiler (the
        # sparc64 one) runs a binary the host's cross compiler built.
        cross = selfcheck.cross_compiler(kernel, arch)
        if cross is None:
            reason = Unavailable("%s has no cc, and the host has no cross compiler for %s/%s (%s)"
                                 % (name, kernel, arch, selfcheck.CROSS_COMPILERS.get((kernel, arch), "none known")))
            return {what: reason for what in WHATS}
        binary = reference.build(cache_dir, cc=[cross])
        built_by = "the host's %s" % os.path.basename(cross)
    say("%s: C reference built by %s, %d rounds of %d steps and %d breakpoint hits"
        % (name, built_by, rounds, count, count))
    return fastest(reference.measure_remote(session, count, rounds=rounds, target=name, binary=binary))


def bench_target(name: str, count: int, *, rounds: int = 1, workdir: Path | None = None,
                 accel: str = "auto", cache_dir: Path | None = None,
                 progress: Callable[[str], None] | None = None, suites: bool = False) -> TargetBench:
    """Every figure for one target: ``count`` operations per figure, the
    fastest of ``rounds`` rounds.  A guest is started twice, so both a cold
    boot and a ready-state restore are timed; with ``suites`` the whole
    suite run on it is timed too."""
    if count <= 0:
        raise ValueError("count must be a positive number of operations, not %d" % count)
    if rounds <= 0:
        raise ValueError("rounds must be at least 1, not %d" % rounds)
    say = progress or (lambda message: None)
    tid = parse_target(name)
    figures: dict[str, dict[str, Figure]] = {}
    if tid.is_local:
        c_rounds, core_rounds = [], []
        for n in range(rounds):
            # Alternating the two keeps a burst of load from favouring one.
            say("round %d/%d: C reference (cc), %d steps and %d breakpoint hits" % (n + 1, rounds, count, count))
            c_rounds.append(reference.measure(count, cache_dir))
            say("round %d/%d: core in-process, %d steps and %d breakpoint hits" % (n + 1, rounds, count, count))
            core_rounds.append(measure.in_process(count))
        figures["c_reference"] = fastest(c_rounds)
        figures["in_process"] = fastest(core_rounds)
    else:
        in_guest = Unavailable("the core runs in the guest: see the server loop")
        figures["in_process"] = {what: in_guest for what in WHATS}

    own_workdir = workdir is None
    work = Path(tempfile.mkdtemp(prefix="trapline-bench-%s-" % name)) if own_workdir else workdir
    assert work is not None
    timings: dict[str, float] = {}
    target = open_target(name, workdir=work, accel=accel)
    try:
        say("%s: starting the target" % name)
        started = time.monotonic()
        target.start()
        timings["bench_start"] = time.monotonic() - started
        started = time.monotonic()
        rpc = target.start_core()
        timings["bench_start_core"] = time.monotonic() - started
        try:
            say("%s: %d pings" % (name, count))
            round_trips = measure.ping_round_trips(rpc, count)
            rpc_rounds = []
            for n in range(rounds):
                say("round %d/%d: %s core through the RPC, %d steps and %d breakpoint hits"
                    % (n + 1, rounds, name, count, count))
                rpc_rounds.append(measure.rpc_figures(rpc, count))
            for path in ("rpc_per_call", "rpc_server_loop"):
                figures[path] = fastest([r[path] for r in rpc_rounds])
            if not tid.is_local:
                figures["c_reference"] = _guest_reference(target, tid.os, tid.arch, name, count, rounds,
                                                          say, cache_dir)
            hello = rpc.hello
        finally:
            rpc.close()
        timings = {**target_timings(target), **timings}
    finally:
        target.close()
    if not tid.is_local:
        timings.update(_other_start(name, work, accel, timings, say))
        if suites:
            timings["suites_wall"] = _suites_wall(name, work, accel, say)
    # A guest's workdir holds its console transcript, wanted after a failure;
    # reaching here means none happened.
    if own_workdir:
        shutil.rmtree(work, ignore_errors=True)
    ordered = {path: figures[path] for path, _, _ in PATHS}
    return TargetBench(name, count, rounds, _platform(hello), ordered, round_trips, timings, host_load())


def _other_start(name: str, work: Path, accel: str, first: Mapping[str, float],
                 say: Callable[[str], None]) -> dict[str, float]:
    """Time the start the first one was not: a cold boot after a restore, or
    a restore of the state the cold boot just saved."""
    from ..remote.guest_target import GuestTarget

    if "restore_to_ssh" in first:
        say("%s: a cold boot too (the first start restored its ready state)" % name)
        guest = GuestTarget(name, accel=accel, workdir=work / "cold", use_ready_state=False)
        wanted = "boot_to_ssh"
    elif "save_ready_state" in first:
        say("%s: a restore of the ready state the cold boot saved" % name)
        guest = GuestTarget(name, accel=accel, workdir=work / "restore")
        wanted = "restore_to_ssh"
    else:
        # No state was saved (sparc64's savevm crashes this QEMU): the table
        # shows the cold boot only, and the log said why when it was probed.
        return {}
    try:
        guest.start()
        return {wanted: guest.timings[wanted]} if wanted in guest.timings else {}
    finally:
        guest.close()


def _suites_wall(name: str, work: Path, accel: str, say: Callable[[str], None]) -> float:
    """Wall time of ``harness run NAME``; a failing run is an error, not a figure."""
    import subprocess

    say("%s: the full suites (harness run)" % name)
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "harness", "run", name, "--plain", "--accel", accel,
                          "--run-dir", str(work / "suites")], capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise HostError("harness run %s failed (exit %d) while timing the suites" % (name, run.returncode),
                        target=name, console_tail=(run.stdout + run.stderr).splitlines()[-40:],
                        hint="see %s" % (work / "suites"))
    return time.monotonic() - started


def stderr_progress(message: str) -> None:
    print("bench: %s" % message, file=sys.stderr, flush=True)
