"""Saved running states: boot once to SSH, restore in seconds afterwards.

A ready state is a directory holding the guest's RAM and devices as QEMU
migrated them (``state.bin``), the disk overlay frozen at that instant
(``disk.qcow2``, backed by the read-only base image) and ``meta.json``.
Later VMs run on a fresh overlay over that frozen one and load the state.

The key hashes what makes a state valid: the image recipe, the base image
and kernel files, the QEMU command line that matters (devices, memory, CPU,
accelerator; not ports or per-VM paths) and the QEMU version.  Change any and
the key changes; older states of the same target are pruned when a new one
is saved.  Writes go to a temporary directory renamed into place under a file
lock, so parallel workers never see half a state.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from ..errors import HostError
from ..paths import cache_root
from .profiles import Profile, VmPaths, build_argv

log = logging.getLogger(__name__)

STATE_FILE = "state.bin"
DISK_FILE = "disk.qcow2"
META_FILE = "meta.json"
_FORMAT = 1  # bump when the layout of a state directory changes


_versions: dict[str, str] = {}


def qemu_version(binary: str) -> str:
    """The first line of ``<binary> --version``, cached per process."""
    if binary not in _versions:
        try:
            out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True, timeout=30)
        except FileNotFoundError as exc:
            raise HostError("%s is not installed" % binary, hint="run scripts/install-system-packages") from exc
        except subprocess.CalledProcessError as exc:
            raise HostError("%s --version failed: %s" % (binary, exc.stderr.strip()), argv=exc.cmd) from exc
        _versions[binary] = out.stdout.splitlines()[0].strip() if out.stdout else "unknown"
    return _versions[binary]


def _file_identity(path: Path | None) -> list[Any] | None:
    if path is None:
        return None
    st = path.stat()
    return [str(path), st.st_size, st.st_mtime_ns]


def canonical_argv(profile: Profile, spec: Any, accel: str) -> list[str]:
    """The command line with per-VM ports and paths replaced by placeholders."""
    placeholder = Path("/vm")
    paths = VmPaths(
        qmp_socket=placeholder / "qmp.sock",
        console_socket=placeholder / "console.sock",
        transcript=placeholder / "console.log",
        disk_overlay=(placeholder / "overlay.qcow2") if spec.base_disk is not None else None,
    )
    return build_argv(profile, spec, accel, 0, paths)


def state_key(profile: Profile, spec: Any, accel: str) -> str:
    ingredients = {
        "format": _FORMAT,
        "target": spec.target,
        "recipe": spec.recipe_id,
        "base": _file_identity(spec.base_disk),
        "kernel": _file_identity(spec.kernel),
        "initrd": _file_identity(spec.initrd),
        "argv": canonical_argv(profile, spec, accel),
        "qemu": qemu_version(profile.qemu_binary),
    }
    blob = json.dumps(ingredients, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


@dataclass(frozen=True)
class ReadyState:
    key: str
    directory: Path

    @property
    def state_file(self) -> Path:
        return self.directory / STATE_FILE

    @property
    def disk(self) -> Path | None:
        disk = self.directory / DISK_FILE
        return disk if disk.exists() else None

    def meta(self) -> dict[str, Any]:
        return json.loads((self.directory / META_FILE).read_text())


class ReadyStateStore:
    """The on-disk cache of ready states, safe to share between processes."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or cache_root() / "ready-states").absolute()

    def _dir(self, key: str) -> Path:
        return self.root / key

    def find(self, key: str) -> ReadyState | None:
        directory = self._dir(key)
        # meta.json is written last inside the temp dir and the dir renamed
        # whole, so its presence means the state is complete.
        if (directory / META_FILE).is_file() and (directory / STATE_FILE).is_file():
            return ReadyState(key, directory)
        return None

    def lock(self, key: str) -> FileLock:
        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / (".%s.lock" % key)))

    def new_tempdir(self, key: str) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".tmp-%s-" % key, dir=self.root))

    def commit(self, key: str, tempdir: Path, meta: dict[str, Any]) -> ReadyState:
        """Move a filled ``tempdir`` into place as the state for ``key``; call with the key's lock held."""
        meta = dict(meta, key=key, saved_at=time.time(), format=_FORMAT)
        tmp_meta = tempdir / (META_FILE + ".tmp")
        tmp_meta.write_text(json.dumps(meta, indent=2, sort_keys=True))
        tmp_meta.rename(tempdir / META_FILE)
        final = self._dir(key)
        if final.exists():
            shutil.rmtree(final)
        tempdir.rename(final)
        self._prune(meta.get("target"), keep=key)
        return ReadyState(key, final)

    def discard(self, key: str, why: str) -> None:
        """Remove a state that failed to restore, so nobody tries it again."""
        with self.lock(key):
            directory = self._dir(key)
            if directory.exists():
                log.warning("discarding ready state %s: %s", directory, why)
                shutil.rmtree(directory, ignore_errors=True)

    def _prune(self, target: str | None, keep: str) -> None:
        if not target:
            return
        for directory in self.root.iterdir():
            if directory.name == keep or directory.name.startswith(".") or not directory.is_dir():
                continue
            try:
                other = json.loads((directory / META_FILE).read_text())
            except (OSError, ValueError):
                continue
            if other.get("target") == target:
                log.info("pruning stale ready state %s of %s", directory, target)
                shutil.rmtree(directory, ignore_errors=True)

    # Whether a profile can save state at all, probed once per QEMU version
    # and command line and remembered on disk (the probe costs a QEMU start).

    def save_support(self, profile: Profile, accel: str, run_probe: Any) -> SaveSupport:
        ident = hashlib.sha256(
            json.dumps([qemu_version(profile.qemu_binary), profile.machine, profile.cpu, accel]).encode()
        ).hexdigest()[:16]
        record = self.root / ("save-support-%s.json" % ident)
        # Remembered per record, not per ident: each store keeps its own
        # answer on disk, so a second store in the same process still gets one.
        with _support_lock:
            if record in _support:
                return _support[record]
        support: SaveSupport | None = None
        with contextlib.suppress(OSError, ValueError, KeyError):
            data = json.loads(record.read_text())
            support = SaveSupport(bool(data["ok"]), str(data["reason"]))
        if support is None:
            support = run_probe()
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = record.with_name(record.name + ".%d.tmp" % os.getpid())
            tmp.write_text(json.dumps({"ok": support.ok, "reason": support.reason}))
            tmp.rename(record)
        with _support_lock:
            first = record not in _support
            _support[record] = support
        if first and not support.ok:
            log.warning(
                "%s guests cannot save a ready state, so they always boot cold: %s", profile.arch, support.reason
            )
        return support


@dataclass(frozen=True)
class SaveSupport:
    ok: bool
    reason: str


_support: dict[Path, SaveSupport] = {}
_support_lock = threading.Lock()
