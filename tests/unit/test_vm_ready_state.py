"""Disk overlays never touch the base; ready-state keys, commits and pruning."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.vm import BootSpec, ReadyStateStore, profile_for
from harness.vm.machine import create_overlay
from harness.vm.ready_state import META_FILE, STATE_FILE, state_key

needs_qemu_utils = pytest.mark.skipif(
    shutil.which("qemu-img") is None or shutil.which("qemu-io") is None,
    reason="qemu-img/qemu-io not installed: run scripts/install-system-packages",
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@needs_qemu_utils
def test_writes_through_an_overlay_never_reach_the_base(tmp_path: Path) -> None:
    base = tmp_path / "base.img"
    base.write_bytes(bytes(range(256)) * 8192)  # 2 MiB of a known pattern
    before = _sha256(base)
    overlay = tmp_path / "overlay.qcow2"
    create_overlay(base, "raw", overlay)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0xab 0 1M", str(overlay)], check=True,
                   capture_output=True)  # fmt: skip
    readback = subprocess.run(["qemu-io", "-f", "qcow2", "-c", "read -P 0xab 0 1M", str(overlay)],
                              check=True, capture_output=True, text=True)  # fmt: skip
    assert "Pattern verification failed" not in readback.stdout
    assert _sha256(base) == before
    info = subprocess.run(["qemu-img", "info", str(overlay)], check=True, capture_output=True, text=True).stdout
    assert "backing file: %s" % base in info


@needs_qemu_utils
def test_an_overlay_over_a_missing_base_is_a_host_error(tmp_path: Path) -> None:
    from harness.errors import HostError

    with pytest.raises(HostError, match="creating the disk overlay failed"):
        create_overlay(tmp_path / "absent.img", "raw", tmp_path / "overlay.qcow2", target="t")


def _spec(tmp_path: Path, recipe: str = "r1", memory: int | None = None) -> BootSpec:
    base = tmp_path / "disk.img"
    if not base.exists():
        base.write_bytes(b"\0" * 4096)
    return BootSpec(target="debian-12-amd64", arch="amd64", base_disk=base, recipe_id=recipe, memory_mb=memory)


def test_key_changes_with_recipe_memory_accel_and_base_but_not_between_calls(tmp_path: Path) -> None:
    profile = profile_for("amd64")
    key = state_key(profile, _spec(tmp_path), "tcg")
    assert key == state_key(profile, _spec(tmp_path), "tcg")
    assert key != state_key(profile, _spec(tmp_path, recipe="r2"), "tcg")
    assert key != state_key(profile, _spec(tmp_path, memory=2048), "tcg")
    assert key != state_key(profile, _spec(tmp_path), "kvm")
    assert key != state_key(profile_for("amd64", {"nic_device": "e1000"}), _spec(tmp_path), "tcg")
    (tmp_path / "disk.img").write_bytes(b"\1" * 8192)  # the image was rebuilt
    assert key != state_key(profile, _spec(tmp_path), "tcg")


def _fill(store: ReadyStateStore, key: str) -> Path:
    tempdir = store.new_tempdir(key)
    (tempdir / STATE_FILE).write_bytes(b"state")
    return tempdir


def test_a_committed_state_is_found_and_a_half_written_one_is_not(tmp_path: Path) -> None:
    store = ReadyStateStore(tmp_path / "cache")
    half = _fill(store, "k1")
    assert store.find("k1") is None  # still a temp dir: invisible
    with store.lock("k1"):
        ready = store.commit("k1", half, {"target": "t"})
    assert store.find("k1") == ready
    assert ready.meta()["target"] == "t"
    assert (ready.state_file.read_bytes(), ready.disk) == (b"state", None)
    (ready.directory / META_FILE).unlink()
    assert store.find("k1") is None


def test_saving_a_new_state_prunes_the_targets_older_ones_only(tmp_path: Path) -> None:
    store = ReadyStateStore(tmp_path / "cache")
    with store.lock("old"):
        old = store.commit("old", _fill(store, "old"), {"target": "debian-12-amd64"})
    with store.lock("other"):
        other = store.commit("other", _fill(store, "other"), {"target": "debian-12-aarch64"})
    with store.lock("new"):
        store.commit("new", _fill(store, "new"), {"target": "debian-12-amd64"})
    assert not old.directory.exists()
    assert other.directory.exists()
    assert store.find("new") is not None


def test_discard_removes_a_state(tmp_path: Path) -> None:
    store = ReadyStateStore(tmp_path / "cache")
    with store.lock("k"):
        store.commit("k", _fill(store, "k"), {"target": "t"})
    store.discard("k", "test")
    assert store.find("k") is None
