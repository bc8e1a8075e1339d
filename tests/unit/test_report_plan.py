"""Target pattern expansion, shard splits and the default job count."""

from __future__ import annotations

import random

import pytest

from harness.errors import ConfigError
from harness.report.plan import (
    GUEST_MEMORY_BYTES,
    HOST_RESERVE_BYTES,
    Shard,
    default_jobs,
    expand_targets,
    parse_shard,
    split_shard,
)

CATALOG = ["debian-12-aarch64", "debian-12-amd64", "netbsd-10.1-aarch64", "netbsd-10.1-sparc64",
           "netbsd-9.4-sparc64", "openbsd-7.6-amd64"]


def test_arch_pattern_expands_over_catalog_sorted() -> None:
    assert expand_targets(["*-aarch64"], CATALOG) == ["debian-12-aarch64", "netbsd-10.1-aarch64"]


def test_os_release_pattern() -> None:
    assert expand_targets(["netbsd-*-sparc64"], CATALOG) == ["netbsd-10.1-sparc64", "netbsd-9.4-sparc64"]


def test_star_includes_local_and_names_keep_order_without_duplicates() -> None:
    assert expand_targets(["local", "debian-12-amd64", "debian-*"], CATALOG) == [
        "local", "debian-12-amd64", "debian-12-aarch64"]
    assert "local" in expand_targets(["*"], CATALOG)


def test_pattern_matching_nothing_names_the_known_targets() -> None:
    with pytest.raises(ConfigError, match=r"'freebsd-\*' matches no target") as err:
        expand_targets(["freebsd-*"], CATALOG)
    assert "debian-12-amd64" in (err.value.hint or "")


def test_plain_names_are_validated() -> None:
    with pytest.raises(ConfigError, match="arch 'mips'"):
        expand_targets(["netbsd-10.1-mips"], CATALOG)


def test_a_well_formed_name_the_catalog_lacks_is_refused_before_anything_runs() -> None:
    with pytest.raises(ConfigError, match=r"no target 'netbsd-10\.0-amd64' in the image catalog") as err:
        expand_targets(["local", "netbsd-10.0-amd64"], CATALOG)
    assert "netbsd-10.1-aarch64" in (err.value.hint or "")


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/2/3"])
def test_bad_shard_specs_are_rejected(text: str) -> None:
    with pytest.raises(ConfigError, match="--shard"):
        parse_shard(text)


def test_parse_shard() -> None:
    assert parse_shard("2/5") == Shard(2, 5)


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_partition_pairs_evenly_and_independent_of_input_order(count: int) -> None:
    pairs = [(t, "suites/test_%d.py::test_%d" % (i % 4, i)) for t in ("local", "debian-12-amd64") for i in range(23)]
    shuffled = pairs[:]
    random.Random(7).shuffle(shuffled)
    slices = [split_shard(pairs, Shard(k, count)) for k in range(1, count + 1)]
    assert [split_shard(shuffled, Shard(k, count)) for k in range(1, count + 1)] == slices
    flat = [p for s in slices for p in s]
    assert sorted(flat) == sorted(pairs)
    assert len(set(flat)) == len(flat)
    sizes = [len(s) for s in slices]
    assert max(sizes) - min(sizes) <= 1


def test_shards_keep_a_targets_tests_together() -> None:
    pairs = [(t, "t::%02d" % i) for t in ("a", "b", "c", "d") for i in range(10)]
    targets_per_shard = [{t for t, _ in split_shard(pairs, Shard(k, 4))} for k in range(1, 5)]
    assert targets_per_shard == [{"a"}, {"b"}, {"c"}, {"d"}]


def test_default_jobs_fit_cores_and_memory() -> None:
    guests = ["debian-12-amd64", "debian-12-aarch64", "netbsd-10.1-sparc64"]
    plenty = 64 * 1024**3
    assert default_jobs(guests, cpus=2, memory=plenty) == 2
    assert default_jobs(guests, cpus=16, memory=plenty) == 3
    one_guest = HOST_RESERVE_BYTES + GUEST_MEMORY_BYTES
    assert default_jobs(guests, cpus=16, memory=one_guest) == 1
    # local needs no guest memory: it runs beside the one guest that fits.
    assert default_jobs(["local", *guests], cpus=16, memory=one_guest) == 2
    assert default_jobs(["local"], cpus=8, memory=0) == 1


def test_patterns_expand_over_the_real_catalog() -> None:
    from harness.cli.run import resolve_targets

    assert {"debian-12-amd64", "debian-12-aarch64"} <= set(resolve_targets(["debian-*"]))
    assert "local" not in resolve_targets(["debian-*"])
    # Without a pattern the catalog is not needed at all.
    assert resolve_targets(["local"]) == ["local"]
