"""What a matrix run runs: target patterns expanded over the catalog,
shards of targets x tests, and how many targets fit the machine at once."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass

from ..errors import ConfigError
from ..targets import parse_target
from .model import is_selfcheck

# A TCG guest takes about 1 GiB of RAM plus QEMU's own; the host keeps some
# for itself, pytest and the page cache the disk images live in.
GUEST_MEMORY_BYTES = 5 * 1024**3 // 4
HOST_RESERVE_BYTES = 2 * 1024**3
_GLOB_CHARS = frozenset("*?[")


def catalog_target_names() -> list[str]:
    """Every target the image catalog defines, or none when there is no
    catalog (a checkout without images/ still runs ``local``)."""
    from ..images.catalog import load_catalog

    try:
        return list(load_catalog())
    except ConfigError as e:
        if "no catalog files" in e.message:
            return []
        raise


def expand_targets(requested: list[str], known: list[str]) -> list[str]:
    """Names stay as given (checked against ``known``); patterns (``*-aarch64``,
    ``netbsd-*-sparc64``) expand over ``known`` plus ``local``, in sorted
    order.  A pattern that matches nothing is an error naming what exists."""
    universe = sorted(set(known) | {"local"})
    out: list[str] = []
    for word in requested:
        if _GLOB_CHARS & set(word):
            hits = [name for name in universe if fnmatch.fnmatchcase(name, word)]
            if not hits:
                raise ConfigError("target pattern %r matches no target" % word,
                                  hint="known targets: %s" % ", ".join(universe))
        else:
            hits = [parse_target(word).name]
            if hits[0] not in universe:
                # Caught here, not as the same error from every test of the target.
                raise ConfigError("no target %r in the image catalog" % word,
                                  hint="known targets: %s" % ", ".join(universe))
        out.extend(h for h in hits if h not in out)
    return out


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based, as written on the command line
    count: int

    def __str__(self) -> str:
        return "%d/%d" % (self.index, self.count)


def parse_shard(text: str) -> Shard:
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ConfigError("--shard %r is not K/N (e.g. 2/4)" % text) from None
    if not 1 <= k <= n:
        raise ConfigError("--shard %r: K must be between 1 and N" % text, hint="shards are numbered 1..N")
    return Shard(k, n)


def split_shard(pairs: list[tuple[str, str]], shard: Shard) -> list[tuple[str, str]]:
    """This shard's share of (target, nodeid) pairs.

    The pairs are sorted and cut into N contiguous slices of sizes differing
    by at most one: every runner with the same inputs computes the same cut,
    the counts balance, and a target's tests stay together so each shard
    boots as few VMs as possible.

    The ABI self-check is outside the cut: every shard that holds any test
    of a target also runs that target's self-check, because a shard's
    results are only trustworthy if that shard proved the table on its own
    machine (``harness report merge`` keeps one record of it).  A target
    whose only selected tests are self-checks has them cut like any test.
    """
    ordered = sorted(set(pairs))
    checks: dict[str, list[tuple[str, str]]] = {}
    for target, nodeid in ordered:
        if is_selfcheck(nodeid):
            checks.setdefault(target, []).append((target, nodeid))
    has_other_tests = {target for target, nodeid in ordered if not is_selfcheck(nodeid)}
    cut = [(t, n) for t, n in ordered if not is_selfcheck(n) or t not in has_other_tests]
    base, extra = divmod(len(cut), shard.count)
    start = (shard.index - 1) * base + min(shard.index - 1, extra)
    size = base + (1 if shard.index <= extra else 0)
    mine = cut[start:start + size]
    for target in sorted({t for t, n in mine if not is_selfcheck(n)}):
        mine.extend(checks.get(target, []))
    return sorted(mine)


def available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def default_jobs(targets: list[str], cpus: int | None = None, memory: int | None = None) -> int:
    """As many targets at once as there are cores, and as guests fit in
    memory (``local`` needs no guest)."""
    cpus = cpus if cpus is not None else (os.cpu_count() or 1)
    memory = memory if memory is not None else available_memory()
    guests = [t for t in targets if t != "local"]
    jobs = max(1, min(cpus, len(targets) or 1))
    if guests and memory is not None:
        fit = max(1, (memory - HOST_RESERVE_BYTES) // GUEST_MEMORY_BYTES)
        # local runs beside the guests without taking a guest's memory.
        jobs = min(jobs, fit + (1 if "local" in targets else 0))
    return max(1, jobs)
