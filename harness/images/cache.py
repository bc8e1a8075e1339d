"""Where built images live, and how one gets there without half-built leftovers.

Layout::

    $XDG_CACHE_HOME/trapline/images/<target>/<recipe-hash>/
        manifest.json      written last: its presence means "complete"
        disk.img           the root file system image (the base; never written by a VM)
        vmlinuz, initrd.img kernel and initrd for direct boot (when the OS boots that way)
        id_ed25519[.pub]   the key the harness logs in with (one per image)
        ssh_host_ed25519_key.pub  the guest's host key, pinned by the SSH layer
        build.log          everything the build steps printed

A build happens in ``<target>/.building-<hash>-<pid>`` under a file lock on
``<target>/.lock-<hash>`` and is renamed into place when complete, so a
reader never sees a partial image and two builders of one recipe never race
(builders of different recipes do not wait for each other).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock

from ..errors import HostError, Timeout
from ..paths import cache_root

MANIFEST = "manifest.json"
BUILD_LOG = "build.log"
# An aarch64 build through qemu-user takes ~7 min here; a waiter gives the
# other builder generous room before calling it stuck.
BUILD_LOCK_TIMEOUT = 3600.0


def images_root() -> Path:
    return cache_root() / "images"


@dataclass(frozen=True)
class BuiltImage:
    """A complete image in the cache, as its manifest describes it."""

    directory: Path
    manifest: dict[str, Any]

    @property
    def target(self) -> str:
        return self.manifest["target"]

    @property
    def recipe_hash(self) -> str:
        return self.manifest["recipe_hash"]

    @property
    def arch(self) -> str:
        return self.manifest["arch"]

    def _file(self, key: str) -> Path | None:
        name = self.manifest["files"].get(key)
        return self.directory / name if name else None

    @property
    def disk(self) -> Path:
        path = self._file("disk")
        assert path is not None
        return path

    @property
    def kernel(self) -> Path | None:
        return self._file("kernel")

    @property
    def initrd(self) -> Path | None:
        return self._file("initrd")

    @property
    def kernel_cmdline(self) -> str | None:
        return self.manifest.get("kernel_cmdline")

    @property
    def client_key(self) -> Path:
        path = self._file("client_key")
        assert path is not None
        return path

    @property
    def host_public_key(self) -> Path:
        path = self._file("host_public_key")
        assert path is not None
        return path

    @property
    def ssh_user(self) -> str:
        return self.manifest.get("ssh_user", "root")

    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST

    @property
    def build_log(self) -> Path:
        return self.directory / BUILD_LOG

    def size_bytes(self) -> int:
        """Bytes actually used on the host (the disk image is sparse)."""
        return sum(p.stat().st_blocks * 512 for p in self.directory.iterdir() if p.is_file())


def load_built(directory: Path) -> BuiltImage | None:
    """The image in ``directory``, or None when it is absent or incomplete."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    image = BuiltImage(directory, manifest)
    if not all((directory / name).exists() for name in manifest.get("files", {}).values()):
        return None
    return image


def list_built(root: Path | None = None) -> list[BuiltImage]:
    root = root or images_root()
    found = []
    for target_dir in sorted(root.glob("*")) if root.is_dir() else []:
        for image_dir in sorted(target_dir.iterdir()):
            if image_dir.name.startswith("."):
                continue
            image = load_built(image_dir)
            if image is not None:
                found.append(image)
    return found


def build_cached(
    target: str,
    recipe_hash: str,
    build: Callable[[Path, Path], dict[str, Any]],
    *,
    root: Path | None = None,
    on_wait: Callable[[Path], None] | None = None,
) -> tuple[BuiltImage, bool]:
    """Return the cached image for (target, hash), building it first if needed.

    ``build(tmpdir, log_path)`` fills ``tmpdir`` and returns the manifest
    (without the target and hash, added here).  Returns ``(image, built_now)``.
    The log is written to ``<target>/build-<hash>.log`` and moved into the
    image when complete; on failure it stays there (the path in the error)
    and the partial directory is removed.
    """
    target_dir = (root or images_root()) / target
    final = target_dir / recipe_hash
    image = load_built(final)
    if image is not None:
        return image, False
    target_dir.mkdir(parents=True, exist_ok=True)
    lock_path = target_dir / (".lock-%s" % recipe_hash)
    lock = filelock.FileLock(str(lock_path))
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        if on_wait is not None:
            on_wait(lock_path)
        started = time.monotonic()
        try:
            lock.acquire(timeout=BUILD_LOCK_TIMEOUT)
        except filelock.Timeout:
            raise Timeout("another process holds the build lock of %s" % target, target=target,
                          waited=time.monotonic() - started, timeout_name="BUILD_LOCK_TIMEOUT",
                          hint="if no build is running, remove %s" % lock_path) from None
    try:
        image = load_built(final)
        if image is not None:  # another builder finished while we waited
            return image, False
        # Holding the lock, any build dir of this recipe is from a builder that died.
        for stale in target_dir.glob(".building-%s-*" % recipe_hash):
            shutil.rmtree(stale, ignore_errors=True)
        work = target_dir / (".building-%s-%d" % (recipe_hash, os.getpid()))
        work.mkdir()
        log = target_dir / ("build-%s.log" % recipe_hash)
        log.unlink(missing_ok=True)
        try:
            manifest = build(work, log)
            log.replace(work / BUILD_LOG)
            manifest = {"target": target, "recipe_hash": recipe_hash, **manifest}
            tmp_manifest = work / (MANIFEST + ".tmp")
            tmp_manifest.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            tmp_manifest.replace(work / MANIFEST)
            if final.exists():  # an incomplete leftover (no manifest): replace it
                shutil.rmtree(final)
            work.rename(final)
        except BaseException:
            _release_mounts(work)
            shutil.rmtree(work, ignore_errors=True)
            raise
        image = load_built(final)
        if image is None:
            raise HostError("image %s was built but its manifest names missing files" % final, target=target)
        return image, True
    finally:
        lock.release()


def _release_mounts(directory: Path) -> None:
    """Unmount whatever a killed builder left mounted below ``directory``
    (mmdebstrap mounts proc, sys and dev in the root it builds), so removing
    the directory never reaches into those file systems."""
    try:
        with open("/proc/self/mounts") as f:
            lines = f.read().splitlines()
    except OSError:
        return
    prefix = str(directory.resolve()) + "/"
    # /proc/self/mounts escapes blanks in paths as octal.
    points = [line.split()[1].encode().decode("unicode_escape") for line in lines if len(line.split()) > 1]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], check=False, capture_output=True)
