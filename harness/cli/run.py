"""``harness run [TARGET|PATTERN]... [-- pytest args]``: the suites on each
target, several targets at once, with a live view; then one per-test summary
and the reports.

Each target runs in its own pytest process (its own VM), so a crashed target
cannot take the others down.  The run directory ends up holding, per target,
JUnit XML, the pytest log, transcripts and progress, and for the whole run
``results.json``, ``report.html``, ``summary.md`` and ``summary.txt``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, HostError
from ..images.cache import images_root
from ..report.collector import PROGRESS_NAME, tail_of
from ..report.html import write_html
from ..report.markdown import markdown_summary
from ..report.merge import merge_results
from ..report.model import RESULTS_NAME, RunResults, TargetRecord, load_results, save_results, write_atomic
from ..report.plan import Shard, catalog_target_names, default_jobs, expand_targets, parse_shard, split_shard
from ..report.progress import TargetProgress, make_view, progress_for
from ..report.text import text_summary
from ..targets import parse_target

SUITES_DIR = Path(__file__).resolve().parents[2] / "suites"
POLL_SECONDS = 0.25
# pytest's exit statuses that still mean "the tests ran": 0 all passed,
# 1 some failed, 5 nothing selected (a shard may leave a target nothing).
RAN_STATUSES = (0, 1, 5)
# The phase a guest target announces around ensure_image()
# (harness/remote/guest_target.py): a cache hit (instant) or a whole image
# build (minutes, an hour for some BSD installs), which the view tells apart.
PREPARING_IMAGE = "preparing image"
BUILDING_IMAGE = "building image"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the conformance suites on one or more targets",
                       description="Run the suites on targets (names or patterns such as '*-aarch64', expanded "
                       "over the image catalog and local), several at once, and write results.json, JUnit, "
                       "report.html and summary.md into the run directory.  Arguments after '--' go to pytest.")
    p.add_argument("targets", nargs="*", default=["local"], metavar="TARGET",
                   help="local, <os>-<release>-<arch>, or a pattern like 'netbsd-*-sparc64' (default: local)")
    p.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto",
                   help="QEMU accelerator for guests (default: probe)")
    p.add_argument("--run-dir", type=Path, default=None,
                   help="where results, logs and transcripts go (default: runs/<timestamp>)")
    p.add_argument("--suites", type=Path, default=SUITES_DIR, help="suite directory (default: %(default)s)")
    p.add_argument("-j", "--jobs", type=int, default=None,
                   help="targets at once (default: what the machine's cores and memory fit, ~1 GiB per guest)")
    p.add_argument("--shard", default=None, metavar="K/N",
                   help="run only the K-th of N deterministic slices of targets x tests "
                   "(join the shards with `harness report merge`)")
    p.add_argument("--plain", action="store_true", help="plain progress lines even on a terminal")
    p.set_defaults(func=run)


@dataclass
class TargetJob:
    name: str
    argv: list[str]
    log: Path
    progress: TargetProgress
    process: subprocess.Popen[bytes] | None = None


def resolve_targets(requested: list[str]) -> list[str]:
    # `harness run local` needs no catalog; anything else is looked up in it.
    return expand_targets(requested, catalog_target_names() if set(requested) - {"local"} else [])


def suite_root(suites: Path) -> Path:
    """The pytest rootdir every process of a run shares: node ids are
    relative to it, and the shard lists are built from them."""
    return suites.resolve().parent


def collect_nodeids(suites: Path, passthrough: list[str]) -> list[str]:
    """The test ids the suites hold (with the user's -k/-m applied).
    Collection does not depend on the target: targets only enter through
    fixtures, so collecting once for ``local`` serves every target."""
    argv = [sys.executable, "-m", "pytest", str(suites), "--collect-only", "-q", "-p", "no:cacheprovider",
            "--rootdir", str(suite_root(suites)), "--target", "local", *passthrough]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 5):
        raise HostError("collecting the suites failed (pytest exit %d)" % proc.returncode, argv=argv,
                        console_tail=(proc.stdout + proc.stderr).splitlines()[-20:])
    return [line.strip() for line in proc.stdout.splitlines() if "::" in line and not line.startswith(" ")]


def plan_selection(targets: list[str], suites: Path, passthrough: list[str],
                   shard: Shard | None) -> dict[str, list[str] | None]:
    """Per target the node ids to run, or None for "the whole suite"."""
    if shard is None:
        return dict.fromkeys(targets)
    nodeids = collect_nodeids(suites, passthrough)
    mine = split_shard([(t, n) for t in targets for n in nodeids], shard)
    return {t: [n for tt, n in mine if tt == t] for t in targets if any(tt == t for tt, _ in mine)}


def build_argv(name: str, run_dir: Path, args: argparse.Namespace, selection: list[str] | None) -> list[str]:
    target_dir = run_dir / name
    argv = [sys.executable, "-m", "pytest", "--rootdir", str(suite_root(args.suites))]
    if selection is None:
        argv.append(str(args.suites))
    else:
        # Node ids go through an argument file: a shard can hold hundreds.
        listing = target_dir / "selection.txt"
        write_atomic(listing, "".join("%s\n" % (suite_root(args.suites) / n) for n in selection))
        argv.append("@%s" % listing)
    argv += ["--target", name, "--accel", args.accel, "--run-dir", str(run_dir),
             "--junitxml", str(target_dir / "junit.xml"), "-o", "junit_family=xunit1",
             "-p", "no:cacheprovider", "-q", "-rN", *args.passthrough]
    return argv


def image_build_in_progress(target: str, root: Path | None = None) -> bool:
    """Whether an image of ``target`` is being built now.  build_cached()
    (harness/images/cache.py) builds in ``<images root>/<target>/.building-<hash>-<pid>``
    and renames that into place when done, so the directory exists exactly
    while a build runs (ours, or another process's the target waits for)."""
    target_dir = (root or images_root()) / target
    return any(path.is_dir() for path in target_dir.glob(".building-*"))


def show_image_build(progress: TargetProgress) -> None:
    """Name the image phase by what it is doing: "building image" while a
    build runs, "preparing image" for a cache lookup."""
    if progress.phase in (PREPARING_IMAGE, BUILDING_IMAGE):
        progress.phase = BUILDING_IMAGE if image_build_in_progress(progress.name) else PREPARING_IMAGE


def execute(jobs: list[TargetJob], parallel: int, plain: bool) -> None:
    queue = list(jobs)
    running: list[TargetJob] = []
    progresses = [j.progress for j in jobs]
    try:
        with make_view(force_plain=plain) as view:
            while queue or running:
                while queue and len(running) < parallel:
                    job = queue.pop(0)
                    job.log.parent.mkdir(parents=True, exist_ok=True)
                    with open(job.log, "wb") as log:
                        job.process = subprocess.Popen(job.argv, stdout=log, stderr=subprocess.STDOUT)
                    job.progress.start()
                    running.append(job)
                new_failures = {j.name: j.progress.poll() for j in running}
                for job in list(running):
                    assert job.process is not None
                    status = job.process.poll()
                    if status is not None:
                        new_failures[job.name] += job.progress.poll()
                        job.progress.finish(status)
                        running.remove(job)
                for job in running:
                    show_image_build(job.progress)
                view.update(progresses, new_failures)
                if queue or running:
                    time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        for job in running:
            if job.process is not None:
                job.process.terminate()
        for job in running:
            if job.process is not None:
                job.progress.poll()
                job.progress.finish(job.process.wait())
        raise


def gather(jobs: list[TargetJob], run_dir: Path, shard: Shard | None, started: float) -> RunResults:
    """The per-target results joined; a target that ended without results
    (or crashed) gets a record saying so, with its log tail."""
    parts: list[tuple[RunResults, Path]] = []
    problems: dict[str, TargetRecord] = {}
    for job in jobs:
        partial = run_dir / job.name / RESULTS_NAME
        status = job.progress.exit_status
        if partial.exists():
            parts.append((load_results(partial), partial.parent))
        if not partial.exists() or status not in RAN_STATUSES:
            tid = parse_target(job.name)
            record = TargetRecord(name=job.name, os=tid.os, distro=tid.distro, release=tid.release, arch=tid.arch)
            record.problem = "pytest exited %s %s: see %s" % (
                status, "without results" if not partial.exists() else "abnormally",
                job.log.relative_to(run_dir))
            record.problem_tail = tail_of(job.log, 30)
            problems[job.name] = record
    merged = merge_results(parts, run_dir)
    for name, record in problems.items():
        if name in merged.targets:
            merged.targets[name].problem, merged.targets[name].problem_tail = record.problem, record.problem_tail
        else:
            merged.targets[name] = record
    # Keep the order the user asked for: it is the column order of every report.
    merged.targets = {j.name: merged.targets[j.name] for j in jobs}
    for job in jobs:
        tr = merged.targets[job.name]
        tr.exit_status = job.progress.exit_status
        tr.duration = round(job.progress.elapsed, 3)
        tr.logs.setdefault("pytest.log", str(job.log.relative_to(run_dir)))
    merged.created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
    merged.shard = str(shard) if shard else None
    merged.argv = sys.argv[:]
    return merged


def write_reports(results: RunResults, run_dir: Path) -> dict[str, Path]:
    paths = {"results": run_dir / RESULTS_NAME, "html": run_dir / "report.html",
             "markdown": run_dir / "summary.md", "text": run_dir / "summary.txt"}
    save_results(results, paths["results"])
    write_html(results, paths["html"])
    write_atomic(paths["markdown"], markdown_summary(results))
    write_atomic(paths["text"], text_summary(results) + "\n")
    return paths


def run(args: argparse.Namespace) -> int:
    targets = resolve_targets(args.targets)
    args.shard = parse_shard(args.shard) if args.shard else None
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError("--jobs %d: need at least 1" % args.jobs)
    run_dir = args.run_dir or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    selection = plan_selection(targets, args.suites, args.passthrough, args.shard)
    if not selection:
        print("shard %s holds no tests of %s" % (args.shard, ", ".join(targets)))
    jobs = []
    for name, nodeids in selection.items():
        for stale in (run_dir / name / PROGRESS_NAME, run_dir / name / RESULTS_NAME):
            stale.unlink(missing_ok=True)
        jobs.append(TargetJob(name, build_argv(name, run_dir, args, nodeids), run_dir / name / "pytest.log",
                              progress_for(name, run_dir)))
    parallel = args.jobs or default_jobs(list(selection))
    print("trapline: %d target(s) (%s), %d at once%s; run directory %s" % (
        len(jobs), ", ".join(selection), parallel, ", shard %s" % args.shard if args.shard else "", run_dir),
        flush=True)
    started = time.time()
    try:
        execute(jobs, parallel, args.plain)
    except KeyboardInterrupt:
        # What finished is still worth a report; the targets cut short say so.
        paths = write_reports(gather([j for j in jobs if j.progress.started is not None], run_dir, args.shard,
                                     started), run_dir)
        print("\ninterrupted: partial results in %s" % paths["results"], file=sys.stderr)
        raise
    results = gather(jobs, run_dir, args.shard, started)
    paths = write_reports(results, run_dir)
    print()
    print(text_summary(results))
    print()
    for kind in ("results", "html", "markdown"):
        print("%-8s %s" % (kind + ":", paths[kind]))
    return 1 if results.failed else 0
