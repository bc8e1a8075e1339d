"""The image cache: complete-or-absent builds, reuse, failed-build leftovers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.images.cache import build_cached, list_built, load_built


def fake_build(calls: list[Path]) -> Any:
    def build(work: Path, log: Path) -> dict[str, Any]:
        calls.append(work)
        log.write_text("step 1\n")
        (work / "disk.img").write_bytes(b"\0" * 4096)
        return {"arch": "amd64", "files": {"disk": "disk.img"}}
    return build


def test_build_once_then_reuse(tmp_path: Path) -> None:
    calls: list[Path] = []
    image, built_now = build_cached("debian-12-amd64", "abc123", fake_build(calls), root=tmp_path)
    assert built_now is True
    assert image.directory == tmp_path / "debian-12-amd64" / "abc123"
    assert image.disk.read_bytes() == b"\0" * 4096
    assert image.manifest["target"] == "debian-12-amd64" and image.recipe_hash == "abc123"
    assert image.build_log.read_text() == "step 1\n"

    again, built_now = build_cached("debian-12-amd64", "abc123", fake_build(calls), root=tmp_path)
    assert (built_now, again.directory, len(calls)) == (False, image.directory, 1)
    assert [i.recipe_hash for i in list_built(tmp_path)] == ["abc123"]


def test_failed_build_leaves_no_image_but_keeps_its_log(tmp_path: Path) -> None:
    def broken(work: Path, log: Path) -> dict[str, Any]:
        log.write_text("mmdebstrap: E: unable to fetch\n")
        (work / "disk.img").write_bytes(b"partial")
        raise RuntimeError("mmdebstrap failed")

    with pytest.raises(RuntimeError, match="mmdebstrap failed"):
        build_cached("debian-12-amd64", "abc123", broken, root=tmp_path)
    target_dir = tmp_path / "debian-12-amd64"
    assert sorted(p.name for p in target_dir.iterdir()) == [".lock-abc123", "build-abc123.log"]
    assert (target_dir / "build-abc123.log").read_text() == "mmdebstrap: E: unable to fetch\n"
    assert list_built(tmp_path) == []


def test_leftover_of_a_killed_builder_is_cleared(tmp_path: Path) -> None:
    stale = tmp_path / "debian-12-amd64" / ".building-abc123-99999"
    stale.mkdir(parents=True)
    (stale / "disk.img").write_bytes(b"half")
    image, _ = build_cached("debian-12-amd64", "abc123", fake_build([]), root=tmp_path)
    assert not stale.exists()
    assert image.disk.read_bytes() == b"\0" * 4096


def test_directory_without_manifest_is_not_an_image(tmp_path: Path) -> None:
    (tmp_path / "disk.img").write_bytes(b"x")
    assert load_built(tmp_path) is None
