"""``harness images list`` and ``build`` over a cache in a temporary directory."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from harness.cli import images as images_cli
from harness.errors import ConfigError
from harness.images import image_hash, load_catalog
from harness.images.cache import build_cached


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    images_cli.register(parser.add_subparsers())
    return parser.parse_args(list(argv))


def fake_image(target: str, recipe: str) -> None:
    def build(work: Path, log: Path) -> dict[str, Any]:
        log.write_text("")
        (work / "disk.img").write_bytes(b"\0" * 8192)
        return {"arch": "amd64", "files": {"disk": "disk.img"}}

    build_cached(target, recipe, build)


def list_rows(capsys: pytest.CaptureFixture[str]) -> set[tuple[str, ...]]:
    args = parse("images", "list")
    assert args.func(args) == 0
    return {tuple(cell.strip() for cell in line.split("│")[1:4])
            for line in capsys.readouterr().out.splitlines() if "│" in line}


def save_ready_state(target: str) -> None:
    from harness.vm.ready_state import ReadyStateStore

    store = ReadyStateStore()
    tempdir = store.new_tempdir("k" * 24)
    (tempdir / "state.bin").write_bytes(b"state")
    with store.lock("k" * 24):
        store.commit("k" * 24, tempdir, {"target": target})


def test_list_shows_built_stale_absent_and_ready(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    current = image_hash(load_catalog()["debian-12-amd64"])
    fake_image("debian-12-amd64", current)
    fake_image("debian-12-amd64", "0000000000000000")
    rows = list_rows(capsys)
    assert ("debian-12-amd64", current, "built") in rows
    assert ("debian-12-amd64", "0000000000000000", "stale (catalog changed)") in rows
    aarch64 = image_hash(load_catalog()["debian-12-aarch64"])
    assert ("debian-12-aarch64", aarch64, "absent") in rows
    save_ready_state("debian-12-amd64")
    assert ("debian-12-amd64", current, "ready") in list_rows(capsys)


def test_build_of_unknown_target_fails_before_building(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    args = parse("images", "build", "debian-12-amd64", "debian-99-amd64")
    with pytest.raises(ConfigError, match="no image target 'debian-99-amd64' in the catalog"):
        args.func(args)
    assert not (tmp_path / "trapline").exists()


def test_build_of_a_cached_image_reports_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    current = image_hash(load_catalog()["debian-12-amd64"])
    fake_image("debian-12-amd64", current)
    args = parse("images", "build", "debian-12-amd64")
    assert args.func(args) == 0
    expected = tmp_path / "trapline" / "images" / "debian-12-amd64" / current
    assert "debian-12-amd64: already built: %s" % expected in capsys.readouterr().err.replace("\n", "")
