"""``harness matrix --emit github|gitlab``: one CI job per target x shard."""

from __future__ import annotations

import json

import pytest

from harness.cli.matrix import github_matrix, gitlab_jobs, jobs_for
from harness.errors import ConfigError


def test_github_matrix_is_an_include_list_of_commands() -> None:
    matrix = json.loads(github_matrix(jobs_for(["local", "debian-12-aarch64"], 2)))
    assert [(j["target"], j["shard"]) for j in matrix["include"]] == [
        ("local", "1/2"), ("local", "2/2"), ("debian-12-aarch64", "1/2"), ("debian-12-aarch64", "2/2")]
    assert matrix["include"][1]["command"] == "harness run local --shard 2/2 --run-dir runs/local-2 --plain"


def test_gitlab_jobs_run_each_shard_then_merge_them_all() -> None:
    text = gitlab_jobs(jobs_for(["local", "debian-12-amd64"], 1))
    assert '"trapline debian-12-amd64 1/1":\n  stage: test\n  script:\n' \
           '    - "harness run debian-12-amd64 --shard 1/1 --run-dir runs/debian-12-amd64-1 --plain"' in text
    assert '    - "harness report merge -o runs/merged runs/local-1 runs/debian-12-amd64-1"' in text


def test_zero_shards_is_refused() -> None:
    with pytest.raises(ConfigError, match="--shards 0"):
        jobs_for(["local"], 0)
