"""The core must run on any guest python3 >= 3.9 from a zip, stdlib only."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from harness.tracecore_zip import CORE_DIR, build_zip, zip_bytes

CORE_FILES = sorted(CORE_DIR.rglob("*.py"))


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(CORE_DIR)))
def test_core_parses_as_python_3_9(path: Path):
    ast.parse(path.read_text(), filename=str(path), feature_version=(3, 9))


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(CORE_DIR)))
def test_core_imports_only_stdlib_and_itself(path: Path):
    tree = ast.parse(path.read_text())
    outside = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        outside += [n for n in names if n.split(".")[0] not in sys.stdlib_module_names and n != "__future__"]
    assert outside == []


def test_zip_is_deterministic(tmp_path):
    assert zip_bytes() == zip_bytes()
    path, digest = build_zip(tmp_path)
    again, digest_again = build_zip(tmp_path)
    assert (path, digest) == (again, digest_again)
    assert digest[:12] in path.name


def test_zip_holds_every_core_module(tmp_path):
    path, _ = build_zip(tmp_path)
    names = set(zipfile.ZipFile(path).namelist())
    assert "__main__.py" in names
    expected = {str(p.relative_to(CORE_DIR.parent)) for p in CORE_FILES}
    assert expected <= names


def _hello(argv, env=None):
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, check=True).stdout
    return out


def test_zip_runs_as_a_script(tmp_path):
    path, _ = build_zip(tmp_path)
    assert '"protocol": 1' in _hello([sys.executable, str(path), "hello"])


def test_zip_runs_as_a_module_on_pythonpath(tmp_path):
    path, _ = build_zip(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(path))
    assert '"protocol": 1' in _hello([sys.executable, "-m", "tracecore", "hello"], env=env)


def _python39() -> str | None:
    """A python3.9 that actually runs (a pyenv shim may exist without one)."""
    pyenv = sorted(Path.home().glob(".pyenv/versions/3.9*/bin/python3.9"))
    for candidate in [*map(str, pyenv), shutil.which("python3.9")]:
        if candidate and subprocess.run([candidate, "-c", "pass"], capture_output=True, check=False).returncode == 0:
            return candidate
    return None


def test_zip_serves_under_python_3_9(tmp_path):
    python = _python39()
    if python is None:
        pytest.skip("no python3.9 on this machine to run the core under")
    path, _ = build_zip(tmp_path)
    proc = subprocess.run([python, str(path), "serve"], input=b'{"id": 1, "method": "ping"}\n',
                          capture_output=True, timeout=60, check=True)
    lines = proc.stdout.decode().splitlines()
    assert '"python": "3.9' in lines[0]
    assert lines[1] == '{"id": 1, "result": "pong"}'
