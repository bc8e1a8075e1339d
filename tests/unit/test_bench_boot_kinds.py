"""A guest bench times both start kinds: whichever the first start was not."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.bench import runner
from harness.remote import guest_target


class _Guest:
    """Records how the bench starts it and reports the phase it would time."""

    made: list[dict] = []

    def __init__(self, name: str, *, accel: str, workdir: Path, use_ready_state: bool = True) -> None:
        self.use_ready_state = use_ready_state
        self.timings = {"boot_to_ssh": 41.5} if not use_ready_state else {"restore_to_ssh": 2.25}
        self.closed = False
        _Guest.made.append({"name": name, "use_ready_state": use_ready_state, "workdir": workdir.name})

    def start(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


@pytest.fixture(autouse=True)
def fake_guest(monkeypatch: pytest.MonkeyPatch) -> None:
    _Guest.made = []
    monkeypatch.setattr(guest_target, "GuestTarget", _Guest)


def test_after_a_restore_a_cold_boot_is_timed(tmp_path: Path) -> None:
    got = runner._other_start("debian-12-amd64", tmp_path, "tcg", {"restore_to_ssh": 2.0}, lambda m: None)
    assert got == {"boot_to_ssh": 41.5}
    assert _Guest.made == [{"name": "debian-12-amd64", "use_ready_state": False, "workdir": "cold"}]


def test_after_a_cold_boot_that_saved_a_state_a_restore_is_timed(tmp_path: Path) -> None:
    first = {"boot_to_ssh": 40.0, "save_ready_state": 1.5}
    got = runner._other_start("debian-12-aarch64", tmp_path, "tcg", first, lambda m: None)
    assert got == {"restore_to_ssh": 2.25}
    assert _Guest.made == [{"name": "debian-12-aarch64", "use_ready_state": True, "workdir": "restore"}]


def test_without_a_saved_state_nothing_more_is_started(tmp_path: Path) -> None:
    # sparc64: savevm crashes this QEMU, so the cold boot saved nothing.
    assert runner._other_start("debian-12-sparc64", tmp_path, "tcg", {"boot_to_ssh": 60.0}, lambda m: None) == {}
    assert _Guest.made == []
