"""``harness run --jobs N`` runs up to N targets at once: with two targets,
one slow, ``--jobs 2`` overlaps them and ``--jobs 1`` runs one after the
other.

build_argv() (the target's pytest command line) is replaced by a small
Python script that records when it started and ended.  Overlap is shown by
a handshake, not by timing: the slow target waits for the fast one to
finish, which it can only see when both run at once.  With ``--jobs 1`` the
fast one is started only after the slow one has exited, so its start comes
after the slow one's recorded end.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

import pytest

from harness.cli import main
from harness.cli import run as run_cli

SLOW, FAST = "netbsd-10.1-amd64", "local"

# argv: marker directory, own name, the name to wait for (or ""), seconds to wait.
FAKE_TARGET = textwrap.dedent("""
    import json, os, sys, time
    markers, name, partner, wait = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    started = time.time()
    saw_partner_end = False
    if partner:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if os.path.exists(os.path.join(markers, partner + ".json")):
                saw_partner_end = True
                break
            time.sleep(0.02)
    record = dict(start=started, end=time.time(), saw_partner_end=saw_partner_end)
    tmp = os.path.join(markers, name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(record, f)
    os.replace(tmp, os.path.join(markers, name + ".json"))
""")


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int, slow_waits: float) -> dict[str, dict]:
    script = tmp_path / "fake_target.py"
    script.write_text(FAKE_TARGET)
    markers = tmp_path / "markers"
    markers.mkdir()
    started_order: list[str] = []

    def fake_argv(name: str, run_dir: Path, args: argparse.Namespace, selection: list[str] | None) -> list[str]:
        started_order.append(name)
        if name == SLOW:
            return [sys.executable, str(script), str(markers), name, FAST, str(slow_waits)]
        return [sys.executable, str(script), str(markers), name, "", "0"]

    monkeypatch.setattr(run_cli, "build_argv", fake_argv)
    status = main(["run", SLOW, FAST, "--jobs", str(jobs), "--plain", "--run-dir", str(tmp_path / "run")])
    # The fake targets write no results.json: each is reported as a target
    # that ended without results, which makes the run fail.
    assert status == 1
    assert started_order == [SLOW, FAST]
    return {name: json.loads((markers / ("%s.json" % name)).read_text()) for name in (SLOW, FAST)}


def test_two_jobs_run_both_targets_at_once(tmp_path, monkeypatch):
    # 30 s is only reached when the targets do not overlap (the failure case).
    record = _run(tmp_path, monkeypatch, jobs=2, slow_waits=30.0)
    assert record[SLOW]["saw_partner_end"] is True
    assert record[FAST]["start"] < record[SLOW]["end"]
    assert record[FAST]["end"] <= record[SLOW]["end"]


def test_one_job_runs_the_targets_one_after_the_other(tmp_path, monkeypatch):
    record = _run(tmp_path, monkeypatch, jobs=1, slow_waits=0.5)
    assert record[SLOW]["saw_partner_end"] is False
    assert record[FAST]["start"] >= record[SLOW]["end"]


def test_the_run_directory_records_both_targets_in_the_order_asked(tmp_path, monkeypatch):
    _run(tmp_path, monkeypatch, jobs=2, slow_waits=30.0)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert list(results["targets"]) == [SLOW, FAST]
    assert all(results["targets"][name]["exit_status"] == 0 for name in (SLOW, FAST))
