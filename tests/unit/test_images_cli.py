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
    args = parse("images", "build", "debian-12-amd64", "--no-ready-state")
    assert args.func(args) == 0
    expected = tmp_path / "trapline" / "images" / "debian-12-amd64" / current
    assert "debian-12-amd64: already built: %s" % expected in capsys.readouterr().err.replace("\n", "")


def record_bsd_builds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[str, str | None]]:
    """Replace the BSD builder's entry point with one that records (target, mirror)."""
    from harness.images import bsd
    from harness.images.cache import BuiltImage

    builds: list[tuple[str, str | None]] = []

    def ensure_built(entry: Any, *, console: Any = None, mirror: str | None = None) -> tuple[BuiltImage, bool]:
        builds.append((entry.name, mirror))
        return BuiltImage(tmp_path / entry.name, {"target": entry.name}), False

    monkeypatch.setattr(bsd, "ensure_built", ensure_built)
    return builds


def test_build_passes_the_mirror_option_to_the_bsd_builder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    builds = record_bsd_builds(monkeypatch, tmp_path)
    mirror = "file://%s/pub" % tmp_path
    args = parse("images", "build", "netbsd-10.1-amd64", "openbsd-7.9-sparc64", "--mirror", mirror,
                 "--no-ready-state")
    assert args.mirror == mirror
    assert args.func(args) == 0
    assert builds == [("netbsd-10.1-amd64", mirror), ("openbsd-7.9-sparc64", mirror)]


def test_build_without_mirror_leaves_the_choice_to_the_environment_and_catalog(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    builds = record_bsd_builds(monkeypatch, tmp_path)
    args = parse("images", "build", "netbsd-10.1-amd64", "--no-ready-state")
    assert args.mirror is None
    assert args.func(args) == 0
    assert builds == [("netbsd-10.1-amd64", None)]


def test_build_with_mirror_refuses_a_debian_target_before_building(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    builds = record_bsd_builds(monkeypatch, tmp_path)
    args = parse("images", "build", "netbsd-10.1-amd64", "debian-12-amd64", "--mirror", "file:///srv/mirror")
    with pytest.raises(ConfigError) as raised:
        args.func(args)
    assert raised.value.message == "--mirror applies to NetBSD and OpenBSD targets, not debian-12-amd64 (os debian)"
    assert builds == []


def test_build_with_a_malformed_mirror_fails_before_building(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    builds = record_bsd_builds(monkeypatch, tmp_path)
    args = parse("images", "build", "openbsd-7.9-amd64", "--mirror", "ftp.openbsd.org")
    with pytest.raises(ConfigError, match=r"mirror 'ftp\.openbsd\.org' \(from --mirror\) is not an http://, "
                                          r"https:// or file:/// URL"):
        args.func(args)
    assert builds == []


def test_ensure_image_refuses_a_mirror_for_a_builder_without_media(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.images import ensure_image

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(ConfigError, match=r"--mirror applies to NetBSD and OpenBSD targets, not debian-12-amd64"):
        ensure_image("debian-12-amd64", mirror="file:///srv/mirror")
    assert not (tmp_path / "trapline").exists()


# -- the ready state a build leaves behind -----------------------------------------------------
class FakeGuest:
    """Stands in for the guest target: ``start()`` either saves a ready state
    (as a cold boot does) or, like a sun4u machine, cannot."""

    opened: list[tuple[str, str]] = []

    def __init__(self, name: str, accel: str, saves: bool) -> None:
        self.name, self.saves = name, saves
        self.events: list[str] = []
        FakeGuest.opened.append((name, accel))

    def start(self) -> None:
        self.events.append("start")
        if self.saves:
            save_ready_state(self.name)

    def close(self) -> None:
        self.events.append("close")


def fake_targets(monkeypatch: pytest.MonkeyPatch, saves: bool) -> list[FakeGuest]:
    from harness import targets

    guests: list[FakeGuest] = []
    FakeGuest.opened = []

    def open_target(name: str, *, workdir: Path, accel: str = "auto", on_phase: Any = None) -> FakeGuest:
        assert workdir.is_dir()
        guests.append(FakeGuest(name, accel, saves))
        return guests[-1]

    monkeypatch.setattr(targets, "open_target", open_target)
    return guests


def build_cached_debian(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fake_image("debian-12-amd64", image_hash(load_catalog()["debian-12-amd64"]))


def test_build_boots_once_to_save_the_ready_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    build_cached_debian(tmp_path, monkeypatch)
    guests = fake_targets(monkeypatch, saves=True)
    args = parse("images", "build", "debian-12-amd64", "--accel", "tcg")
    assert args.func(args) == 0
    assert [(g.name, g.events) for g in guests] == [("debian-12-amd64", ["start", "close"])]
    assert FakeGuest.opened == [("debian-12-amd64", "tcg")]
    assert "debian-12-amd64: ready state saved in" in capsys.readouterr().err
    # Now the list says so, and a second build does not boot again.
    assert ("debian-12-amd64", image_hash(load_catalog()["debian-12-amd64"]), "ready") in list_rows(capsys)
    assert args.func(args) == 0
    assert len(guests) == 1
    assert "debian-12-amd64: ready state already saved" in capsys.readouterr().err


def test_build_says_when_no_ready_state_could_be_saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    build_cached_debian(tmp_path, monkeypatch)
    guests = fake_targets(monkeypatch, saves=False)
    args = parse("images", "build", "debian-12-amd64")
    assert args.func(args) == 0
    assert guests[0].events == ["start", "close"]
    assert "no ready state could be saved" in capsys.readouterr().err.replace("\n", "")


def test_build_without_ready_state_never_boots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_cached_debian(tmp_path, monkeypatch)
    guests = fake_targets(monkeypatch, saves=True)
    args = parse("images", "build", "debian-12-amd64", "--no-ready-state")
    assert args.func(args) == 0
    assert guests == []
