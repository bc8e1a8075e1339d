"""tox.ini has an env for every catalog target and arch pattern, each running
``harness run`` on that target: CI systems that speak tox start a target by
its catalog name (``tox -e netbsd-10.1-amd64``), so a release added to
images/*.toml without its tox env would be unreachable that way.

The check asks tox itself (``tox config``, about half a second for all envs)
rather than re-parsing tox.ini's brace expansion here, so what is tested is
what ``tox -e`` would run.
"""

from __future__ import annotations

import configparser
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from harness.images.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tox") is None,
    reason="tox is not installed in this interpreter (pip install -e '.[dev]')",
)


def _tox_config(envs: list[str], key: str) -> dict[str, str]:
    """``{env: value of key}`` as ``tox config`` resolves them."""
    proc = subprocess.run(
        [sys.executable, "-m", "tox", "config", "-e", ",".join(envs), "-k", key],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, "tox config failed:\n%s%s" % (proc.stdout, proc.stderr)
    parsed = configparser.ConfigParser(interpolation=None)
    parsed.read_string(proc.stdout)
    return {section.removeprefix("testenv:"): parsed[section][key].strip() for section in parsed.sections()}


def _tox_commands(envs: list[str]) -> dict[str, str]:
    return _tox_config(envs, "commands")


def test_every_catalog_target_has_a_tox_env_running_it() -> None:
    targets = ["local", *load_catalog()]
    assert "netbsd-10.1-amd64" in targets  # the name the issue asks for
    commands = _tox_commands(targets)
    expected = {name: "harness run %s --run-dir %s/runs/tox-%s" % (name, ROOT, name) for name in targets}
    assert commands == expected


def test_every_arch_and_the_matrix_have_a_pattern_env() -> None:
    arches = sorted({entry.arch for entry in load_catalog().values()})
    commands = _tox_commands([*arches, "matrix"])
    expected = {arch: "harness run '*-%s' --run-dir %s/runs/tox-%s" % (arch, ROOT, arch) for arch in arches}
    expected["matrix"] = "harness run '*' --run-dir %s/runs/tox-matrix" % ROOT
    assert commands == expected


def test_run_envs_install_harness_editable() -> None:
    # harness finds images/ and suites/ beside its source; installed into
    # site-packages it would find neither, and `harness run` would reject
    # every catalog target as unknown.
    arches = sorted({entry.arch for entry in load_catalog().values()})
    envs = ["local", *load_catalog(), *arches, "matrix"]
    assert _tox_config(envs, "package") == dict.fromkeys(envs, "editable")


def test_tox_refuses_a_target_the_catalog_does_not_have() -> None:
    # The guard the two tests above rely on: were tox to invent an env for an
    # unknown name, it would run the default unit-test command instead.
    proc = subprocess.run(
        [sys.executable, "-m", "tox", "config", "-e", "netbsd-0.1-amd64", "-k", "commands"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode != 0
    assert "netbsd-0.1-amd64" in proc.stdout + proc.stderr
