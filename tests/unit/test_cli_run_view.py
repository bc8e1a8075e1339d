"""The live view of ``harness run`` says "building image" while a target's
image is being built, and "preparing image" when the phase is only a cache
lookup.

The target processes here are small Python scripts standing in for a
target's pytest: they write the progress events the collector writes and
create the cache's build directory the way build_cached() does
(``<images root>/<target>/.building-<hash>-<pid>``).  Each waits until the
view has shown the state under test, so nothing depends on timing.
"""

from __future__ import annotations

import io
import sys
import textwrap
from pathlib import Path

import pytest

from harness.cli import run as run_cli
from harness.images.cache import images_root
from harness.report.progress import PlainView, TargetProgress, progress_for

TARGET = "netbsd-10.1-amd64"

# argv: progress file, images root, "build" or "cached", handshake file.
FAKE_TARGET = textwrap.dedent("""
    import json, os, sys, time
    progress, root, mode, seen = sys.argv[1:5]
    target_dir = os.path.join(root, %r)

    def event(kind, **fields):
        with open(progress, "a") as f:
            f.write(json.dumps(dict(event=kind, **fields)) + "\\n")

    event("collected", count=1)
    building = os.path.join(target_dir, ".building-0123abcd-%%d" %% os.getpid())
    if mode == "build":
        os.makedirs(building)
    event("phase", phase="preparing image")
    deadline = time.monotonic() + 30
    while not os.path.exists(seen):
        if time.monotonic() > deadline:
            sys.exit(3)  # the view never showed the state under test
        time.sleep(0.02)
    if mode == "build":
        os.rename(building, os.path.join(target_dir, "0123abcd"))
    event("phase", phase="starting VM")
    event("test", nodeid="suites/test_attach.py::test_attach", outcome="passed")
""" % TARGET)


class RecordingView:
    """The plain view, writing to a buffer, plus every state it showed; it
    creates the handshake file once it has shown ``awaited``."""

    def __init__(self, awaited: str, handshake: Path) -> None:
        self.out = io.StringIO()
        self.plain = PlainView(out=self.out)
        self.states: list[str] = []
        self.awaited = awaited
        self.handshake = handshake

    def __enter__(self) -> RecordingView:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, targets: list[TargetProgress], new_failures: dict[str, list[str]]) -> None:
        self.plain.update(targets, new_failures)
        for target in targets:
            state = target.describe()
            if not self.states or self.states[-1] != state:
                self.states.append(state)
            if state == self.awaited:
                self.handshake.touch()


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (images_root() / TARGET).mkdir(parents=True)
    return images_root()


def _run_fake_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, awaited: str) -> RecordingView:
    script = tmp_path / "fake_target.py"
    script.write_text(FAKE_TARGET)
    run_dir = tmp_path / "run"
    progress = progress_for(TARGET, run_dir)
    progress.path.parent.mkdir(parents=True)
    view = RecordingView(awaited, tmp_path / "seen")
    monkeypatch.setattr(run_cli, "make_view", lambda force_plain=False: view)
    argv = [sys.executable, str(script), str(progress.path), str(images_root()), mode, str(view.handshake)]
    job = run_cli.TargetJob(TARGET, argv, run_dir / TARGET / "pytest.log", progress)
    run_cli.execute([job], parallel=1, plain=True)
    assert progress.exit_status == 0, (job.log.read_text(), view.states)
    return view


def test_the_view_shows_building_while_the_image_is_built(tmp_path, monkeypatch, cache_home):
    view = _run_fake_target(tmp_path, monkeypatch, "build", awaited=run_cli.BUILDING_IMAGE)
    assert "building image" in view.states
    assert view.states[-1] == "done"
    lines = view.out.getvalue().splitlines()
    assert "%s: building image" % TARGET in lines


def test_the_view_shows_preparing_when_the_image_is_cached(tmp_path, monkeypatch, cache_home):
    view = _run_fake_target(tmp_path, monkeypatch, "cached", awaited=run_cli.PREPARING_IMAGE)
    assert "preparing image" in view.states
    assert "building image" not in view.states
    assert "%s: preparing image" % TARGET in view.out.getvalue().splitlines()


def test_image_build_in_progress_reads_the_build_directory(tmp_path):
    target_dir = tmp_path / TARGET
    target_dir.mkdir()
    assert not run_cli.image_build_in_progress(TARGET, root=tmp_path)
    # What a finished build and a waiting builder leave: not a build running.
    (target_dir / "0123abcd").mkdir()
    (target_dir / ".lock-0123abcd").touch()
    assert not run_cli.image_build_in_progress(TARGET, root=tmp_path)
    (target_dir / ".building-4567ef01-4242").mkdir()
    assert run_cli.image_build_in_progress(TARGET, root=tmp_path)
    assert not run_cli.image_build_in_progress("netbsd-9.4-amd64", root=tmp_path)


@pytest.mark.parametrize(("phase", "building", "shown"), [
    ("preparing image", True, "building image"),
    ("preparing image", False, "preparing image"),
    # The build ended between two polls: back to the plain name.
    ("building image", False, "preparing image"),
    # Later phases are left alone even if a stale build directory lingers.
    ("starting VM", True, "starting VM"),
    ("restoring", True, "restoring"),
])
def test_show_image_build_renames_only_the_image_phase(tmp_path, monkeypatch, phase, building, shown):
    monkeypatch.setattr(run_cli, "image_build_in_progress", lambda target: building)
    progress = TargetProgress(TARGET, tmp_path / "progress.jsonl", phase=phase)
    run_cli.show_image_build(progress)
    assert progress.phase == shown


def test_guest_targets_announce_the_phase_the_view_renames():
    # The view keys on the phase's text; a guest target renaming it would
    # silently leave a build shown as "preparing image".  ensure_image() is
    # where the build happens, so the phase must be announced right before it.
    import inspect

    from harness.remote.guest_target import GuestTarget

    source = inspect.getsource(GuestTarget._start)
    announced = source.find('self.on_phase("%s")' % run_cli.PREPARING_IMAGE)
    building = source.index("ensure_image(")
    assert -1 < announced < building
    assert "self.on_phase(" not in source[announced + 1:building]
