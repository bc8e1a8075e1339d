"""The bench's output: a table per target (rich; plain text when not a
terminal, so CI logs stay readable) or one JSON document.

JSON shape (``schema`` 1)::

    {"schema": 1, "runs": [ {
        "target": "local", "count": N, "rounds": R,
        "platform": {"os", "release", "machine", "arch", "abi", "python"},   (the target's)
        "host": {"cpus", "load_average_1m"},                             (the bench host's, at the end)
        "results": {PATH: {"steps": FIG, "breakpoints": FIG}},
        "ratios": {"in_process_vs_c_steps": R|null, "in_process_vs_c_breakpoints": R|null},
        "goal": {"in_process_vs_c_steps_at_least": 0.5, "met": true|false|null},
        "rpc_round_trip_us": {"calls", "median", "p95", "min", "max"},
        "timings_s": {PHASE: seconds}
    } ]}

PATH is ``c_reference``, ``in_process``, ``rpc_server_loop``,
``rpc_per_call``; each FIG is the fastest of the R rounds, ``{"count", "seconds", "per_second", "us_per_op"}``
or ``{"unavailable": reason}``.
"""

from __future__ import annotations

import json
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .measure import Figure, Measurement, Unavailable
from .runner import BENCH_TIMINGS, GOAL_STEP_RATIO, PATHS, TIMING_LABELS, TargetBench

SCHEMA = 1


def to_json(runs: list[TargetBench]) -> str:
    document: dict[str, Any] = {"schema": SCHEMA, "runs": [run.to_dict() for run in runs]}
    return json.dumps(document, indent=2)


def _rate(fig: Figure) -> str:
    return "%.0f" % fig.per_second if isinstance(fig, Measurement) else "n/a"


def _cost(fig: Figure) -> str:
    return "%.1f" % fig.us_per_op if isinstance(fig, Measurement) else "n/a"


def _versus(fig: Figure, c: Figure) -> str:
    if isinstance(fig, Measurement) and isinstance(c, Measurement):
        return "%.2fx" % (fig.per_second / c.per_second)
    return "n/a"


def render(run: TargetBench, console: Console) -> None:
    p = run.platform
    _line(console, "trapline bench: %s (%s %s %s, python %s), %d ops, best of %d rounds"
                  % (run.target, p.get("os"), p.get("machine"), p.get("release"), p.get("python"),
                     run.count, run.rounds))
    table = Table(box=_box(console))
    table.add_column("path")
    for header in ("steps/s", "us/step", "vs C", "bp hits/s", "us/hit", "vs C"):
        table.add_column(header, justify="right")
    reasons: dict[str, str] = {}
    c = run.figures["c_reference"]
    for key, label, _ in PATHS:
        steps, hits = run.figures[key]["steps"], run.figures[key]["breakpoints"]
        for fig in (steps, hits):
            if isinstance(fig, Unavailable):
                reasons.setdefault(label, fig.reason)
        table.add_row(label, _rate(steps), _cost(steps), _versus(steps, c["steps"]),
                      _rate(hits), _cost(hits), _versus(hits, c["breakpoints"]))
    console.print(table)
    for _, label, meaning in PATHS:
        _line(console, "  %-22s %s" % (label + ":", meaning))
    for label, reason in reasons.items():
        _line(console, "  n/a in %s: %s" % (label, reason))

    if run.host:
        _line(console, "Bench host: %s CPUs, load average %.2f at the end (load only slows figures down)"
                      % (run.host.get("cpus"), run.host.get("load_average_1m", 0.0)))
    rt = run.round_trips
    _line(console, "RPC round trip (ping, %d calls): median %.1f us, p95 %.1f us (min %.1f, max %.1f)"
                  % (rt.calls, rt.median_us, rt.p95_us, rt.min_us, rt.max_us))
    ratio = run.ratio("steps")
    if ratio is not None:
        verdict = "meets the goal" if ratio >= GOAL_STEP_RATIO else "below the goal"
        _line(console, "Goal: in-process single-step rate >= %.2fx the C rate; measured %.2fx (%s)"
                      % (GOAL_STEP_RATIO, ratio, verdict))

    _render_timings(run, console)


def _render_timings(run: TargetBench, console: Console) -> None:
    labels = dict(TIMING_LABELS + BENCH_TIMINGS)
    order = [k for k, _ in TIMING_LABELS] + sorted(
        k for k in run.timings if k not in labels) + [k for k, _ in BENCH_TIMINGS]
    rows = [(labels.get(k, k), run.timings[k]) for k in order if k in run.timings]
    if not rows:
        return
    table = Table(title="%s: start-up phases" % run.target, title_justify="left", box=_box(console))
    table.add_column("phase")
    table.add_column("seconds", justify="right")
    for label, seconds in rows:
        table.add_row(Text(label), "%.2f" % seconds)
    console.print(table)


def _line(console: Console, text: str) -> None:
    # Reasons and names come from targets: never read them as rich markup.
    console.print(text, markup=False, highlight=False)


def _box(console: Console) -> box.Box:
    # Logs are read in tools that may not be UTF-8; a terminal gets rich's default.
    return box.HEAVY_HEAD if console.is_terminal else box.ASCII


def output_console() -> Console:
    """stdout; plain (no colour, no box drawing surprises) and wide enough
    for the table when it is a log file rather than a terminal."""
    probe = Console()
    if probe.is_terminal:
        return probe
    return Console(width=max(probe.width, 110), no_color=True, highlight=False)
