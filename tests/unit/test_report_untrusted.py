"""An ABI self-check failure runs first and marks the target's results untrustworthy in every report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# A stand-in for suites/test_abi_selfcheck.py that reports what the real one
# does on a disagreement (the property names are the contract).
SELFCHECK = '''
import json

def test_abi_tables_match_target_headers(record_property):
    found = ["PT_STEP: table 9, target 10 (sys/sys/ptrace.h)"]
    record_property("abi_disagreements", json.dumps(found))
    assert found == []
'''

# Named to sort before the self-check, so only the plugin can put it first.
OTHER = '''
def test_aaa_other():
    assert True
'''


def test_selfcheck_failure_runs_first_and_marks_the_target(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_abi_selfcheck.py").write_text(SELFCHECK)
    (suite / "test_aaa.py").write_text(OTHER)
    run = subprocess.run([sys.executable, "-m", "harness", "run", "local", "--plain", "--suites", str(suite),
                          "--run-dir", str(tmp_path / "run")], capture_output=True, text=True, timeout=300,
                         check=False)
    assert run.returncode == 1, run.stdout + run.stderr
    # progress.jsonl has the tests in the order they ran (results.json sorts them by area).
    events = [json.loads(line) for line in (tmp_path / "run" / "local" / "progress.jsonl").read_text().splitlines()]
    assert [e["nodeid"].split("::")[-1] for e in events if e.get("event") == "test"] == [
        "test_abi_tables_match_target_headers", "test_aaa_other"]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["targets"]["local"]["abi_disagreements"] == ["PT_STEP: table 9, target 10 (sys/sys/ptrace.h)"]
    assert "UNTRUSTWORTHY" in run.stdout
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "Untrustworthy results" in summary and "PT_STEP: table 9, target 10" in summary
    assert "results untrustworthy" in (tmp_path / "run" / "report.html").read_text()
