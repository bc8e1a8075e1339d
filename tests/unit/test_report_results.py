"""results.json, reports, compare and merge from real ``harness run local``
runs of a tiny generated suite (one pass, fail, error, skip, known
deviation, stale expectation, captured output, and a test on the core)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import report as report_cli
from harness.report.compare import compare
from harness.report.markdown import markdown_summary
from harness.report.merge import merge_files
from harness.report.model import load_results, save_results

SUITE = {
    "test_alpha.py": '''
import pytest

def test_passes():
    assert 1 + 1 == 2

def test_fails():
    value = 41
    assert value == 42

def test_skips():
    pytest.skip("needs a sparc64 FPU")

@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")

def test_errors(broken):
    pass
''',
    "test_beta.py": '''
def test_known_deviation():
    assert "EINVAL" == "EPERM"

def test_stale():
    assert True

def test_prints():
    print("hello from the test")

def test_core_says_hello(target):
    assert target.name == "local"

def test_fails_after_the_core_started(target):
    assert target.arch == "vax"
''',
}

EXPECTATIONS = '''
[[deviation]]
test = "test_known_deviation"
reason = "attach to self gives EINVAL here"
reference = "sys/kern/sys_ptrace_common.c 1.1"

[[deviation]]
test = "test_stale"
reason = "used to differ"
reference = "PR kern/12345"
'''

ALL_TESTS = 9


def harness(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *argv], capture_output=True, text=True, cwd=cwd,
                          timeout=300, check=False)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    (root / "suite").mkdir()
    for name, text in SUITE.items():
        (root / "suite" / name).write_text(text)
    (root / "expectations.toml").write_text(EXPECTATIONS)
    return root


def run_suite(workspace: Path, run_dir: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return harness("run", "local", "--suites", str(workspace / "suite"), "--run-dir", str(workspace / run_dir),
                   *extra, "--", "--expectations", str(workspace / "expectations.toml"))


@pytest.fixture(scope="module")
def full_run(workspace: Path) -> subprocess.CompletedProcess[str]:
    return run_suite(workspace, "full")


def record(workspace: Path, run: str, name: str) -> dict:
    data = json.loads((workspace / run / "results.json").read_text())
    (hit,) = [t for t in data["tests"] if t["nodeid"].endswith("::" + name)]
    return hit


def test_run_exits_non_zero_and_prints_the_per_test_summary(full_run: subprocess.CompletedProcess[str]) -> None:
    assert full_run.returncode == 1, full_run.stdout + full_run.stderr
    assert "suite/test_alpha.py::test_fails" in full_run.stdout
    assert "FAILED suite/test_alpha.py::test_fails [local]: assert 41 == 42" in full_run.stdout
    assert "STALE EXPECTATION suite/test_beta.py::test_stale" in full_run.stdout


def test_results_json_has_every_outcome(workspace: Path, full_run: subprocess.CompletedProcess[str]) -> None:
    data = json.loads((workspace / "full" / "results.json").read_text())
    outcomes = {t["nodeid"].split("::")[1]: t["outcome"] for t in data["tests"]}
    assert outcomes == {
        "test_passes": "passed", "test_fails": "failed", "test_skips": "skipped", "test_errors": "error",
        "test_known_deviation": "xfailed", "test_stale": "xpassed", "test_prints": "passed",
        "test_core_says_hello": "passed", "test_fails_after_the_core_started": "failed",
    }
    assert data["harness_version"] == __import__("harness").__version__
    assert {t["area"] for t in data["tests"]} == {"alpha", "beta"}


def test_failure_carries_message_assertion_and_traceback(workspace: Path,
                                                         full_run: subprocess.CompletedProcess[str]) -> None:
    failed = record(workspace, "full", "test_fails")
    assert failed["message"] == "assert 41 == 42"
    assert "assert 41 == 42" in failed["detail"]
    assert "value = 41" in failed["longrepr"]
    assert failed["duration"] > 0
    error = record(workspace, "full", "test_errors")
    assert error["message"] == "RuntimeError: fixture exploded"
    # Once the core runs, a failure points at its transcript (the core's stderr locally).
    late = record(workspace, "full", "test_fails_after_the_core_started")
    assert late["transcript"] == "local/core-stderr.log"
    assert (workspace / "full" / late["transcript"]).exists()


def test_skip_and_deviation_reasons(workspace: Path, full_run: subprocess.CompletedProcess[str]) -> None:
    assert record(workspace, "full", "test_skips")["message"] == "needs a sparc64 FPU"
    known = record(workspace, "full", "test_known_deviation")
    assert known["expected_deviation"] == "attach to self gives EINVAL here"
    assert known["deviation_reference"] == "sys/kern/sys_ptrace_common.c 1.1"
    assert known["stale_expectation"] is False
    stale = record(workspace, "full", "test_stale")
    assert stale["stale_expectation"] is True
    assert stale["deviation_reference"] == "PR kern/12345"
    assert "hello from the test" in record(workspace, "full", "test_prints")["captured"]


def test_target_record_has_the_hello_and_logs(workspace: Path, full_run: subprocess.CompletedProcess[str]) -> None:
    data = json.loads((workspace / "full" / "results.json").read_text())
    local = data["targets"]["local"]
    assert local["hello"]["os"] == "linux"
    assert local["hello"]["protocol"] == 1
    assert local["exit_status"] == 1
    assert local["junit"] == "local/junit.xml"
    assert (workspace / "full" / local["junit"]).exists()
    assert local["logs"]["pytest.log"] == "local/pytest.log"
    for name in ("report.html", "summary.md", "summary.txt"):
        assert (workspace / "full" / name).stat().st_size > 0
    events = [json.loads(line) for line in (workspace / "full" / "local" / "progress.jsonl").read_text().splitlines()]
    assert events[0] == {**events[0], "event": "collected", "count": ALL_TESTS}
    assert events[-1]["event"] == "finished"
    assert events[-1]["exit_status"] == 1


def test_markdown_lists_failures_deviations_and_stale(workspace: Path,
                                                      full_run: subprocess.CompletedProcess[str]) -> None:
    text = markdown_summary(load_results(workspace / "full"))
    assert text.startswith("## trapline conformance run: FAILED")
    assert "| local | linux " in text
    assert "| local | `suite/test_alpha.py::test_fails` | failed | assert 41 == 42 |" in text
    assert "| `suite/test_beta.py::test_known_deviation` | local | attach to self gives EINVAL here | " \
           "sys/kern/sys_ptrace_common.c 1.1 |" in text
    assert "- `suite/test_beta.py::test_stale` on local: used to differ" in text


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    report_cli.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_compare_flags_an_injected_regression(workspace: Path, full_run: subprocess.CompletedProcess[str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    baseline = load_results(workspace / "full")
    current = load_results(workspace / "full")
    (victim,) = [t for t in current.tests if t.nodeid.endswith("::test_passes")]
    victim.outcome, victim.message = "failed", "assert 3 == 2"
    save_results(current, workspace / "regressed.json")
    assert _cli(["report", "compare", str(workspace / "full"), str(workspace / "regressed.json")]) == 1
    out = capsys.readouterr().out
    assert "REGRESSIONS (1):" in out
    assert "suite/test_alpha.py::test_passes: passed -> failed" in out
    assert "now: assert 3 == 2" in out
    # The same run against itself: no regression, though it has failures.
    assert _cli(["report", "compare", str(workspace / "full"), str(workspace / "full")]) == 0
    assert _cli(["report", "compare", "--fail-on", "any-failure", str(workspace / "full"),
                 str(workspace / "full")]) == 1
    assert compare(baseline, current).regressions[0].nodeid == "suite/test_alpha.py::test_passes"


def test_shards_split_disjointly_and_merge_to_the_full_run(workspace: Path,
                                                           full_run: subprocess.CompletedProcess[str]) -> None:
    shard_runs = [run_suite(workspace, "shard%d" % k, "--shard", "%d/2" % k) for k in (1, 2)]
    ids = []
    for k, proc in zip((1, 2), shard_runs, strict=True):
        data = json.loads((workspace / ("shard%d" % k) / "results.json").read_text())
        assert data["shard"] == "%d/2" % k, proc.stdout + proc.stderr
        ids.append({t["nodeid"] for t in data["tests"]})
    assert sorted([len(ids[0]), len(ids[1])]) == [ALL_TESTS // 2, ALL_TESTS - ALL_TESTS // 2]
    assert not ids[0] & ids[1]
    # Deterministic: the same shard again selects the same tests.
    again = run_suite(workspace, "shard1-again", "--shard", "1/2")
    assert {t["nodeid"] for t in json.loads((workspace / "shard1-again" / "results.json").read_text())["tests"]} \
        == ids[0], again.stdout
    merged = merge_files([workspace / "shard1", workspace / "shard2"], workspace / "merged")
    full = load_results(workspace / "full")
    assert {(t.nodeid, t.outcome) for t in merged.tests} == {(t.nodeid, t.outcome) for t in full.tests}
    # Paths point from the merged location back into the shards' directories.
    assert merged.targets["local"].logs["pytest.log"] in ("../shard1/local/pytest.log", "../shard2/local/pytest.log")
    assert _cli(["report", "merge", "-o", str(workspace / "merged"), str(workspace / "shard1"),
                 str(workspace / "shard2")]) == 0
    assert (workspace / "merged" / "report.html").exists()
    with pytest.raises(Exception, match="is in both"):
        merge_files([workspace / "shard1", workspace / "shard1-again"], workspace / "merged2")
