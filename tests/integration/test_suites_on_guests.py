"""The conformance suites end to end on each Debian guest: image (built or
cached), VM (cold boot or ready state), SSH, push, the core, every suite.

Each target is one ``harness run`` (exactly what a user types) in its own
xdist group, so under ``pytest -n 2 --dist loadgroup`` the slow foreign-arch
guests run beside the rest of the tests rather than after them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.guest

SELFCHECK = "test_abi_selfcheck.py::test_abi_tables_match_target_headers"

# target -> (fewest tests that must pass there, fewest ABI facts the
# self-check must compare).  Floors, not exact counts, so adding a test does
# not break this; each well above what a half-working run would reach.
GUESTS = {
    "debian-12-amd64": (80, 200),
    "debian-12-aarch64": (80, 200),
    # Big-endian, no kernel single-step: the software-step and delay-slot
    # tests run here instead of the hardware-step one.
    "debian-12-sparc64": (80, 200),
}
# Where the self-check's probe must be compiled: the amd64 and aarch64 images
# carry gcc and libc6-dev (images/debian.toml), so their own headers are the
# ones compared; the sparc64 guest has no compiler and the host cross-builds.
PROBE_BUILT_ON = {
    "debian-12-amd64": "target",
    "debian-12-aarch64": "target",
    "debian-12-sparc64": "host (",
}


def _run(target: str, run_dir: Path) -> subprocess.CompletedProcess[str]:
    if os.geteuid() != 0:
        pytest.skip("building a Debian image needs root (mmdebstrap --mode=root)")
    return subprocess.run([sys.executable, "-m", "harness", "run", target, "--plain", "--accel", "auto",
                           "--run-dir", str(run_dir)], capture_output=True, text=True, check=False,
                          timeout=3600)


def _selfcheck_properties(junit: Path) -> dict[str, str]:
    for case in ET.parse(junit).getroot().iter("testcase"):
        if case.get("name") == SELFCHECK.split("::")[1]:
            return {p.get("name"): p.get("value") for p in case.iter("property")}
    raise AssertionError("no %s in %s" % (SELFCHECK, junit))


@pytest.mark.parametrize("target", [pytest.param(t, marks=pytest.mark.xdist_group(t)) for t in GUESTS])
def test_suites_pass_on_guest(target: str, tmp_path: Path) -> None:
    min_passed, min_facts = GUESTS[target]
    run = _run(target, tmp_path / "run")
    where = "run dir %s; output tail:\n%s" % (tmp_path / "run", (run.stdout + run.stderr)[-4000:])
    assert run.returncode == 0, where
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    record = results["targets"][target]
    assert record["problem"] is None, where
    assert (record["hello"]["os"], record["hello"]["arch"]) == ("linux", target.rsplit("-", 1)[1]), record["hello"]
    mine = [t for t in results["tests"] if t["target"] == target]
    outcomes = [t["outcome"] for t in mine]
    assert outcomes.count("failed") == outcomes.count("error") == outcomes.count("xpassed") == 0, where
    assert outcomes.count("passed") >= min_passed, where
    (selfcheck,) = [t for t in mine if t["nodeid"].endswith(SELFCHECK)]
    assert selfcheck["outcome"] == "passed", selfcheck
    properties = _selfcheck_properties(tmp_path / "run" / target / "junit.xml")
    assert json.loads(properties["abi_disagreements"]) == []
    assert int(properties["abi_facts_checked"]) >= min_facts, properties
    assert properties["abi_built_on"].startswith(PROBE_BUILT_ON[target]), properties
    for name in ("report.html", "summary.md"):
        assert target in (tmp_path / "run" / name).read_text()
