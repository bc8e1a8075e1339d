"""``harness bench [--target T ...] [--count N] [--json]``: step and breakpoint
rates of the tracing core, in-process and through the RPC, beside a C
reference; RPC round trip; a guest's start-up phases.

The exit status is 0 whether or not the speed goal is met: the goal is
printed, never enforced.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..bench import report
from ..bench.runner import bench_target, stderr_progress
from ..errors import ConfigError
from ..targets import parse_target

DEFAULT_COUNT = 2000
# A guest under TCG answers an RPC in milliseconds, not microseconds: a
# local-sized count would take many minutes there.
DEFAULT_GUEST_COUNT = 200
DEFAULT_ROUNDS = 3


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a whole number" % text) from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be at least 1, not %d" % value)
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench", help="single-step and breakpoint rates: core in-process, over RPC, and a C reference",
        description="Measure single-steps per second and breakpoint hits per second through the "
        "tracing core in this process, through its RPC (one call per operation, and a loop inside "
        "the core), and through a C program built with cc now; print the RPC round trip and, for "
        "guests, their start-up phases (a cold boot and a ready-state restore). "
        "Prints the in-process/C ratio against the goal of 0.5x; "
        "never fails on speed.")
    p.add_argument("--target", action="append", dest="targets", metavar="TARGET",
                   help="'local' (default) or <os>-<release>-<arch>; repeat for several")
    p.add_argument("--count", type=_positive, default=None,
                   help="operations per figure: steps, breakpoint hits and pings (default %d on local, "
                   "%d on a guest)" % (DEFAULT_COUNT, DEFAULT_GUEST_COUNT))
    p.add_argument("--rounds", type=_positive, default=DEFAULT_ROUNDS,
                   help="measure each figure this many times and keep the fastest (default %d)"
                   % DEFAULT_ROUNDS)
    p.add_argument("--json", action="store_true",
                   help="print one JSON document (schema in harness/bench/report.py) instead of tables")
    p.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto",
                   help="QEMU accelerator for guest targets (default: probe)")
    p.add_argument("--workdir", type=Path, default=None,
                   help="where guest VMs keep overlays and transcripts (default: a temp dir per target, "
                   "removed after a successful run)")
    p.add_argument("--suites", action="store_true",
                   help="on guests, also time a full suite run (harness run TARGET)")
    p.set_defaults(func=bench_command)


def bench_command(args: argparse.Namespace) -> int:
    names = args.targets or ["local"]
    for name in names:
        parse_target(name)  # a bad name fails before anything is measured
    if len(set(names)) != len(names):
        raise ConfigError("--target names %s more than once" % ", ".join(sorted({n for n in names
                                                                                 if names.count(n) > 1})))
    runs = []
    console = None if args.json else report.output_console()
    for name in names:
        workdir = args.workdir / name if args.workdir is not None else None
        count = args.count or (DEFAULT_COUNT if parse_target(name).is_local else DEFAULT_GUEST_COUNT)
        run = bench_target(name, count, rounds=args.rounds, workdir=workdir, accel=args.accel,
                           progress=stderr_progress, suites=args.suites)
        runs.append(run)
        if console is not None:
            report.render(run, console)
    if args.json:
        sys.stdout.write(report.to_json(runs) + "\n")
    return 0
