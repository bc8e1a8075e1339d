"""push_core against a runner that executes the same shell commands on this
machine, so the guest-side check and install programs really run."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import GuestError, HostError
from harness.remote.push import push_core, remote_core_dir, remote_size, remote_zip_path, serve_command
from harness.remote.ssh import ExecResult
from harness.tracecore_zip import zip_bytes


class LocalRunner:
    """Runs commands with /bin/sh here, recording each command line."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    def exec(self, command: str, *, stdin: bytes | None = None, timeout: float | None = None) -> ExecResult:
        self.commands.append(command)
        proc = subprocess.run(["/bin/sh", "-c", command], input=stdin or b"", capture_output=True, check=False,
                              timeout=timeout or 30)
        return ExecResult(command, proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def core_zip(tmp_path: Path) -> tuple[Path, str]:
    """The real core, zipped as it is pushed."""
    data = zip_bytes()
    path = tmp_path / "core.zip"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def test_first_push_uploads_and_second_is_skipped(tmp_path: Path, core_zip: tuple[Path, str]) -> None:
    zip_path, sha = core_zip
    remote_dir = tmp_path / "guest" / "var-tmp"
    runner = LocalRunner()

    first = push_core(runner, zip_path, sha, remote_dir=str(remote_dir), python=sys.executable)
    assert first.skipped is False
    assert first.remote_path == str(remote_dir / ("tracecore-%s.zip" % sha))
    assert Path(first.remote_path).read_bytes() == zip_path.read_bytes()
    assert len(runner.commands) == 2  # size check, then install

    runner.commands.clear()
    second = push_core(runner, zip_path, sha, remote_dir=str(remote_dir), python=sys.executable)
    assert second.skipped is True
    assert len(runner.commands) == 1  # the size check only
    assert "python" not in runner.commands[0]  # no interpreter start just to find it there
    assert sorted(p.name for p in remote_dir.iterdir()) == ["tracecore-%s" % sha, "tracecore-%s.zip" % sha]


def test_push_unpacks_and_compiles_and_serve_command_starts_the_core(tmp_path: Path,
                                                                     core_zip: tuple[Path, str]) -> None:
    zip_path, sha = core_zip
    pushed = push_core(LocalRunner(), zip_path, sha, remote_dir=str(tmp_path), python=sys.executable)
    unpacked = Path(remote_core_dir(pushed.remote_path))
    assert unpacked == tmp_path / ("tracecore-%s" % sha)
    assert (unpacked / "__main__.py").is_file()
    assert list((unpacked / "tracecore" / "__pycache__").glob("server.*.pyc"))

    proc = subprocess.run(["/bin/sh", "-c", serve_command(pushed.remote_path, python=sys.executable)],
                          input=b"", capture_output=True, timeout=60, check=False)
    hello = json.loads(proc.stdout.splitlines()[0])["hello"]
    assert hello["os"] == "linux" and proc.returncode == 0

    # Without the directory the zip itself still serves.
    shutil.rmtree(unpacked)
    proc = subprocess.run(["/bin/sh", "-c", serve_command(pushed.remote_path, python=sys.executable)],
                          input=b"", capture_output=True, timeout=60, check=False)
    assert json.loads(proc.stdout.splitlines()[0])["hello"]["os"] == "linux"


def test_damaged_copy_on_the_guest_is_replaced(tmp_path: Path, core_zip: tuple[Path, str]) -> None:
    zip_path, sha = core_zip
    remote = Path(remote_zip_path(sha, str(tmp_path)))
    remote.write_bytes(b"truncated")
    result = push_core(LocalRunner(), zip_path, sha, remote_dir=str(tmp_path), python=sys.executable)
    assert result.skipped is False
    assert remote.read_bytes() == zip_path.read_bytes()


def test_remote_size_of_missing_file_is_none_and_of_present_file_its_length(tmp_path: Path) -> None:
    assert remote_size(LocalRunner(), str(tmp_path / "absent.zip")) is None
    (tmp_path / "with space.zip").write_bytes(b"12345")
    assert remote_size(LocalRunner(), str(tmp_path / "with space.zip")) == 5


def test_upload_cut_short_leaves_no_file_under_the_final_name(tmp_path: Path,
                                                              core_zip: tuple[Path, str]) -> None:
    zip_path, sha = core_zip

    class CuttingRunner(LocalRunner):
        def exec(self, command: str, *, stdin: bytes | None = None,
                 timeout: float | None = None) -> ExecResult:
            return super().exec(command, stdin=stdin[:100] if stdin else stdin, timeout=timeout)

    with pytest.raises(GuestError, match="exited with status 4: received 100 bytes"):
        push_core(CuttingRunner(), zip_path, sha, remote_dir=str(tmp_path / "g"), python=sys.executable)
    assert not (tmp_path / "g").exists() or list((tmp_path / "g").iterdir()) == []


def test_local_zip_not_matching_its_hash_is_refused(tmp_path: Path, core_zip: tuple[Path, str]) -> None:
    zip_path, _ = core_zip
    wrong = "0" * 64
    with pytest.raises(HostError, match=r"has sha256 [0-9a-f]{64}, not the 0{64} it was built with"):
        push_core(LocalRunner(), zip_path, wrong, remote_dir=str(tmp_path / "g"), python=sys.executable)
