"""The ABI self-check in the reports: any failure of it (not only a table
disagreement) marks the target untrustworthy, a skip does not, and the
number of facts it compared is shown per target everywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.report.html import render_html
from harness.report.markdown import markdown_summary
from harness.report.merge import merge_files, merge_results
from harness.report.model import RunResults, TargetRecord, TestRecord, load_results, save_results
from harness.report.plan import Shard, split_shard
from harness.report.text import text_summary

# Stand-ins for suites/test_abi_selfcheck.py, one per way it can end.  The
# property names are the contract with the real suite.
SELFCHECKS = {
    # The fact count did not add up: no disagreement was listed.
    "miscounted": '''
import json

def test_abi_tables_match_target_headers(record_property):
    record_property("abi_facts_checked", 5)
    record_property("abi_disagreements", json.dumps([]))
    assert 5 == 6, "facts answered do not add up to the table's"
''',
    # The probe crashed: the core answered with an error before any property was recorded.
    "remote error": '''
from harness.rpc import RemoteError

def test_abi_tables_match_target_headers():
    raise RemoteError("selfcheck.run_probe", {"type": "OSError", "errno": "ENOEXEC", "message": "probe crashed"})
''',
    # The fixture the check needs broke: an error at setup.
    "setup error": '''
import pytest

@pytest.fixture
def tracer():
    raise RuntimeError("core did not start")

def test_abi_tables_match_target_headers(tracer):
    pass
''',
}
SKIPPED = '''
import pytest

def test_abi_tables_match_target_headers():
    pytest.skip("ABI self-check not run on local: no C compiler (cc) on the target")
'''
PASSED = '''
import json

def test_abi_tables_match_target_headers(record_property):
    record_property("abi_facts_checked", 412)
    record_property("abi_disagreements", json.dumps([]))
'''
OTHER = '''
def test_other():
    assert True
'''


def run_with_selfcheck(tmp_path: Path, selfcheck: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_abi_selfcheck.py").write_text(selfcheck)
    (suite / "test_other.py").write_text(OTHER)
    run_dir = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "local", "--plain", "--suites", str(suite),
                           "--run-dir", str(run_dir)], capture_output=True, text=True, timeout=300, check=False)
    return proc, run_dir


@pytest.mark.parametrize("how", sorted(SELFCHECKS))
def test_a_selfcheck_failing_without_disagreements_marks_the_target(tmp_path: Path, how: str) -> None:
    proc, run_dir = run_with_selfcheck(tmp_path, SELFCHECKS[how])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    local = json.loads((run_dir / "results.json").read_text())["targets"]["local"]
    assert local["abi_disagreements"] == []
    assert local["abi_selfcheck"] == ("error" if how == "setup error" else "failed")
    expected_message = {"miscounted": "AssertionError: facts answered do not add up to the table's",
                        "remote error": "harness.rpc.RemoteError: selfcheck.run_probe failed: OSError [ENOEXEC]: "
                                        "probe crashed",
                        "setup error": "RuntimeError: core did not start"}[how]
    assert local["abi_selfcheck_message"].startswith(expected_message), local["abi_selfcheck_message"]
    assert "UNTRUSTWORTHY: the ABI self-check %s" % local["abi_selfcheck"] in proc.stdout
    summary = (run_dir / "summary.md").read_text()
    assert "### Untrustworthy results" in summary
    assert "- **local**: the ABI self-check %s: %s" % (local["abi_selfcheck"], expected_message) in summary
    assert "local: results untrustworthy" in (run_dir / "report.html").read_text()


def test_a_skipped_selfcheck_does_not_mark_the_target(tmp_path: Path) -> None:
    proc, run_dir = run_with_selfcheck(tmp_path, SKIPPED)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    local = json.loads((run_dir / "results.json").read_text())["targets"]["local"]
    assert (local["abi_selfcheck"], local["abi_facts_checked"]) == ("skipped", None)
    assert "UNTRUSTWORTHY" not in proc.stdout
    assert "  ABI self-check: skipped: ABI self-check not run on local: no C compiler (cc) on the target" \
        in proc.stdout
    assert "Untrustworthy" not in (run_dir / "summary.md").read_text()
    assert "results untrustworthy" not in (run_dir / "report.html").read_text()


def test_facts_checked_reach_results_and_every_summary(tmp_path: Path) -> None:
    proc, run_dir = run_with_selfcheck(tmp_path, PASSED)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    local = json.loads((run_dir / "results.json").read_text())["targets"]["local"]
    assert (local["abi_selfcheck"], local["abi_facts_checked"]) == ("passed", 412)
    assert "  ABI self-check: passed, 412 facts checked" in proc.stdout
    assert "  ABI self-check: passed, 412 facts checked" in (run_dir / "summary.txt").read_text()
    assert "| 0.0 s | passed, 412 facts checked |" in (run_dir / "summary.md").read_text().replace(
        "| %.1f s |" % local["duration"], "| 0.0 s |")
    assert "<td class='selfcheck'>passed, 412 facts checked</td>" in (run_dir / "report.html").read_text()
    # Read back from results.json, the reports say the same.
    again = load_results(run_dir)
    assert again.targets["local"].abi_facts_checked == 412
    assert "passed, 412 facts checked" in markdown_summary(again)


def results_with(**selfcheck: object) -> RunResults:
    target = TargetRecord("netbsd-10.1-amd64", os="netbsd", **selfcheck)  # type: ignore[arg-type]
    tests = [TestRecord(target.name, "suites/test_step.py::test_a", "passed")]
    if target.abi_selfcheck is not None:
        tests.append(TestRecord(target.name, "suites/test_abi_selfcheck.py::test_abi_tables_match_target_headers",
                                target.abi_selfcheck))
    return RunResults(targets={target.name: target}, tests=tests)


@pytest.mark.parametrize("outcome", ["failed", "error", "xfailed"])
def test_reports_mark_any_selfcheck_failure(outcome: str) -> None:
    run = results_with(abi_selfcheck=outcome, abi_selfcheck_message="RemoteError: probe crashed",
                       abi_facts_checked=None)
    assert run.targets["netbsd-10.1-amd64"].untrustworthy
    assert "UNTRUSTWORTHY: the ABI self-check %s" % outcome in text_summary(run)
    assert "- **netbsd-10.1-amd64**: the ABI self-check %s: RemoteError: probe crashed" % outcome \
        in markdown_summary(run)
    assert "netbsd-10.1-amd64: results untrustworthy</b>, the ABI self-check did not pass" in render_html(run)


@pytest.mark.parametrize("outcome", ["passed", "skipped", "xpassed", None])
def test_reports_trust_a_selfcheck_that_did_not_fail(outcome: str | None) -> None:
    run = results_with(abi_selfcheck=outcome)
    assert not run.targets["netbsd-10.1-amd64"].untrustworthy
    assert "UNTRUSTWORTHY" not in text_summary(run)
    assert "Untrustworthy" not in markdown_summary(run)
    assert "results untrustworthy" not in render_html(run)


def test_selfcheck_fields_round_trip_through_results_json(tmp_path: Path) -> None:
    run = results_with(abi_selfcheck="failed", abi_selfcheck_message="assert 5 == 6", abi_facts_checked=5)
    save_results(run, tmp_path / "results.json")
    target = load_results(tmp_path).targets["netbsd-10.1-amd64"]
    assert (target.abi_selfcheck, target.abi_selfcheck_message, target.abi_facts_checked) == (
        "failed", "assert 5 == 6", 5)
    assert target.untrustworthy


SELFCHECK_ID = "suites/test_abi_selfcheck.py::test_abi_tables_match_target_headers"


@pytest.mark.parametrize("count", [2, 3, 5])
def test_every_shard_holding_a_targets_tests_runs_its_selfcheck(count: int) -> None:
    targets = ("debian-12-amd64", "local", "netbsd-10.1-sparc64")
    pairs = [(t, "suites/test_%d.py::test_%02d" % (i % 3, i)) for t in targets for i in range(11)]
    pairs += [(t, SELFCHECK_ID) for t in targets]
    slices = [split_shard(pairs, Shard(k, count)) for k in range(1, count + 1)]
    for piece in slices:
        holding = {t for t, n in piece if n != SELFCHECK_ID}
        assert {t for t, n in piece if n == SELFCHECK_ID} == holding, piece
    others = [p for piece in slices for p in piece if p[1] != SELFCHECK_ID]
    # The other tests are still cut once each, and evenly.
    assert sorted(others) == sorted(p for p in pairs if p[1] != SELFCHECK_ID)
    sizes = [len([p for p in piece if p[1] != SELFCHECK_ID]) for piece in slices]
    assert max(sizes) - min(sizes) <= 1


def test_a_selection_of_only_selfchecks_is_cut_like_any_test() -> None:
    pairs = [(t, SELFCHECK_ID) for t in ("a", "b", "c", "d")]
    assert [split_shard(pairs, Shard(k, 2)) for k in (1, 2)] == [pairs[:2], pairs[2:]]


def shard_results(shard: str, selfcheck: str, facts: int | None, other: str) -> RunResults:
    target = TargetRecord("local", abi_selfcheck=selfcheck, abi_facts_checked=facts,
                          abi_selfcheck_message="" if selfcheck == "passed" else "RemoteError: probe crashed")
    return RunResults(targets={"local": target}, shard=shard, tests=[
        TestRecord("local", SELFCHECK_ID, selfcheck, duration=2.0), TestRecord("local", other, "passed")])


def test_merge_keeps_one_selfcheck_record_with_the_worst_outcome(tmp_path: Path) -> None:
    merged = merge_results([(shard_results("1/2", "passed", 412, "suites/test_a.py::test_x"), tmp_path),
                            (shard_results("2/2", "error", None, "suites/test_b.py::test_y"), tmp_path)], tmp_path)
    assert merged.counts("local") == {"passed": 2, "error": 1}
    (check,) = [t for t in merged.tests if t.nodeid == SELFCHECK_ID]
    assert (check.outcome, check.duration) == ("error", 2.0)
    local = merged.targets["local"]
    assert (local.abi_selfcheck, local.abi_selfcheck_message, local.abi_facts_checked) == (
        "error", "RemoteError: probe crashed", 412)
    assert local.untrustworthy
    # Both shards passing: still one record, and the count is not summed.
    twice = merge_results([(shard_results("1/2", "passed", 412, "suites/test_a.py::test_x"), tmp_path),
                           (shard_results("2/2", "passed", 412, "suites/test_b.py::test_y"), tmp_path)], tmp_path)
    assert twice.counts("local") == {"passed": 3}
    assert twice.targets["local"].abi_facts_checked == 412


def test_sharded_run_puts_the_selfcheck_first_in_each_shard_and_merges_it_once(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_abi_selfcheck.py").write_text(PASSED)
    # Sorted after the self-check file, so the cut of 4 other tests over 2 shards
    # would give the second shard no self-check without the fix.
    (suite / "test_other.py").write_text("def test_a():\n    pass\n\ndef test_b():\n    pass\n\n"
                                         "def test_c():\n    pass\n\ndef test_d():\n    pass\n")
    for k in (1, 2):
        proc = subprocess.run([sys.executable, "-m", "harness", "run", "local", "--plain", "--suites", str(suite),
                               "--run-dir", str(tmp_path / ("shard%d" % k)), "--shard", "%d/2" % k],
                              capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        events = [json.loads(line) for line in
                  (tmp_path / ("shard%d" % k) / "local" / "progress.jsonl").read_text().splitlines()]
        ran = [e["nodeid"].split("::")[-1] for e in events if e.get("event") == "test"]
        assert ran == ["test_abi_tables_match_target_headers", *(["test_a", "test_b"] if k == 1
                                                                 else ["test_c", "test_d"])]
    merged = merge_files([tmp_path / "shard1", tmp_path / "shard2"], tmp_path / "merged")
    assert [t.nodeid.split("::")[-1] for t in merged.tests].count("test_abi_tables_match_target_headers") == 1
    assert merged.counts("local") == {"passed": 5}
    assert (merged.targets["local"].abi_selfcheck, merged.targets["local"].abi_facts_checked) == ("passed", 412)
