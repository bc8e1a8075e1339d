"""Join results: the per-target files of one run, or the shards of a run
split over several machines, into one :class:`RunResults`."""

from __future__ import annotations

import time
from pathlib import Path

from ..errors import ConfigError
from .model import (
    RunResults,
    TargetRecord,
    is_selfcheck,
    load_results,
    resolve_results_path,
    worse_selfcheck,
)


def _merge_target(into: TargetRecord, other: TargetRecord) -> None:
    into.hello = into.hello or other.hello
    for attr in ("os", "distro", "release", "arch", "junit"):
        if not getattr(into, attr):
            setattr(into, attr, getattr(other, attr))
    statuses = [s for s in (into.exit_status, other.exit_status) if s is not None]
    into.exit_status = max(statuses) if statuses else None
    into.duration = round(into.duration + other.duration, 3)
    for name, path in other.logs.items():
        into.logs.setdefault(name, path)
    into.abi_disagreements += [d for d in other.abi_disagreements if d not in into.abi_disagreements]
    # Every shard holding a target's tests ran its self-check: the worst run decides.
    worse = worse_selfcheck(into.abi_selfcheck, other.abi_selfcheck)
    if worse != into.abi_selfcheck:
        into.abi_selfcheck, into.abi_selfcheck_message = worse, other.abi_selfcheck_message
    counts = [c for c in (into.abi_facts_checked, other.abi_facts_checked) if c is not None]
    # The same check again compares the same facts: a count, not a sum.
    into.abi_facts_checked = max(counts) if counts else None
    if other.problem:
        into.problem = "%s; %s" % (into.problem, other.problem) if into.problem else other.problem
        into.problem_tail = into.problem_tail + other.problem_tail


def merge_results(parts: list[tuple[RunResults, Path]], out_dir: Path) -> RunResults:
    """``parts`` are results with the directory their paths are relative
    to; the merged paths are relative to ``out_dir``.  The same test on the
    same target in two parts is an error: shards never overlap, except in
    the ABI self-check, which every shard holding a target's tests runs and
    which is kept once (its worst outcome)."""
    merged = RunResults(created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    seen: dict[tuple[str, str], Path] = {}
    kept_at: dict[tuple[str, str], int] = {}
    shards: list[str] = []
    for results, base in parts:
        results.rebase(base, out_dir)
        if results.shard:
            shards.append(results.shard)
        for name, tr in results.targets.items():
            if name in merged.targets:
                _merge_target(merged.targets[name], tr)
            else:
                merged.targets[name] = tr
        for record in results.tests:
            if record.key in kept_at and is_selfcheck(record.nodeid):
                kept = merged.tests[kept_at[record.key]]
                if worse_selfcheck(kept.outcome, record.outcome) != kept.outcome:
                    merged.tests[kept_at[record.key]] = record
                continue
            if record.key in seen:
                raise ConfigError("%s on %s is in both %s and %s" % (record.nodeid, record.target,
                                                                     seen[record.key], base),
                                  hint="merge each shard once; shards of one run never overlap")
            seen[record.key] = base
            kept_at[record.key] = len(merged.tests)
            merged.tests.append(record)
        if not merged.argv:
            merged.argv = results.argv
    merged.shard = None
    if shards and len(set(shards)) != len(shards):
        raise ConfigError("shard(s) %s given more than once" % ", ".join(sorted({s for s in shards
                                                                                  if shards.count(s) > 1})))
    return merged


def merge_files(paths: list[Path], out_dir: Path) -> RunResults:
    parts = []
    for path in paths:
        resolved = resolve_results_path(path)
        parts.append((load_results(resolved), resolved.parent))
    return merge_results(parts, out_dir)
