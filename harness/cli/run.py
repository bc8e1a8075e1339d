"""``harness run TARGET... [-- pytest args]``: the suites on each target,
then one per-test summary across them.

Each target runs in its own pytest process (its own core, its own VM), so a
crashed target cannot take the others down; results land in the run
directory as JUnit XML per target next to the logs and transcripts.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from ..targets import parse_target

SUITES_DIR = Path(__file__).resolve().parents[2] / "suites"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the conformance suites on one or more targets")
    p.add_argument("targets", nargs="*", default=["local"], metavar="TARGET",
                   help="local, or <os>-<release>-<arch> (default: local)")
    p.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto",
                   help="QEMU accelerator for guests (default: probe)")
    p.add_argument("--run-dir", type=Path, default=None,
                   help="where results, logs and transcripts go (default: runs/<timestamp>)")
    p.add_argument("--suites", type=Path, default=SUITES_DIR, help="suite directory (default: %(default)s)")
    p.set_defaults(func=run)


@dataclass
class TestResult:
    target: str
    test: str
    outcome: str  # passed, failed, error, skipped, xfailed
    message: str
    seconds: float


def parse_junit(path: Path, target: str) -> list[TestResult]:
    results = []
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        name = "%s::%s" % (case.get("classname", "").replace(".", "/") + ".py", case.get("name"))
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, message = ("failed" if child.tag == "failure" else "error"), child.get("message", "")
            elif child.tag == "skipped":
                is_xfail = child.get("type") == "pytest.xfail"
                outcome = "xfailed" if is_xfail else "skipped"
                message = child.get("message", "")
        results.append(TestResult(target, name, outcome, message.splitlines()[0] if message else "",
                                  float(case.get("time", 0))))
    return results


def run_target(name: str, run_dir: Path, suites: Path, accel: str, passthrough: list[str]) -> tuple[int, Path]:
    target_dir = run_dir / name
    target_dir.mkdir(parents=True, exist_ok=True)
    junit = target_dir / "junit.xml"
    argv = [sys.executable, "-m", "pytest", str(suites), "--target", name, "--accel", accel,
            "--run-dir", str(run_dir), "--junitxml", str(junit), "-o", "junit_family=xunit1",
            "-p", "no:cacheprovider", "-q", "-rN", *passthrough]
    with open(target_dir / "pytest.log", "wb") as log:
        code = subprocess.call(argv, stdout=log, stderr=subprocess.STDOUT)
    return code, junit


def summarise(results: list[TestResult], targets: list[str]) -> str:
    marks = {"passed": "ok", "failed": "FAIL", "error": "ERROR", "skipped": "skip", "xfailed": "xfail"}
    tests = sorted({r.test for r in results})
    by_key = {(r.target, r.test): r for r in results}
    width = max([len(t) for t in tests] + [10])
    lines = ["%-*s  %s" % (width, "test", "  ".join("%-16s" % t for t in targets))]
    for test in tests:
        cells = []
        for t in targets:
            r = by_key.get((t, test))
            cells.append("%-16s" % (marks[r.outcome] if r else "-"))
        lines.append("%-*s  %s" % (width, test, "  ".join(cells)))
    lines.append("")
    for t in targets:
        counts: dict[str, int] = {}
        for r in results:
            if r.target == t:
                counts[r.outcome] = counts.get(r.outcome, 0) + 1
        lines.append("%s: %s" % (t, ", ".join("%d %s" % (n, k) for k, n in sorted(counts.items())) or "no results"))
    problems = [r for r in results if r.outcome in ("failed", "error")]
    for r in problems:
        lines.append("  %s %s [%s]: %s" % (r.outcome.upper(), r.test, r.target, r.message))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    targets = [parse_target(t).name for t in args.targets]  # validate every name first
    run_dir = args.run_dir or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    results: list[TestResult] = []
    worst = 0
    for name in targets:
        print("== %s: running the suites (log: %s)" % (name, run_dir / name / "pytest.log"), flush=True)
        started = time.monotonic()
        code, junit = run_target(name, run_dir, args.suites, args.accel, args.passthrough)
        if junit.exists():
            results.extend(parse_junit(junit, name))
        else:
            print("   %s produced no results (exit %d): see %s" % (name, code, run_dir / name / "pytest.log"))
        print("   %s finished in %.1f s (pytest exit %d)" % (name, time.monotonic() - started, code), flush=True)
        worst = max(worst, code)
    print()
    print(summarise(results, targets))
    print("\nresults: %s" % run_dir)
    return 1 if worst else 0
