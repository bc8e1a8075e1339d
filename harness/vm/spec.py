"""What to boot: the caller's description of one VM, independent of QEMU flags."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..errors import ConfigError

_DISK_FORMATS = ("raw", "qcow2")
_BOOT_DEVICES = ("default", "cdrom")


@dataclass(frozen=True)
class BootSpec:
    """One guest to boot.

    ``base_disk`` is only ever read: each VM runs on its own qcow2 overlay.
    ``recipe_id`` names the image recipe (a hash from the image builder); it
    keys the saved ready state, so a rebuilt image never restores an old one.
    ``cdrom`` is an ISO attached read-only as a CD drive (install media);
    ``boot_from="cdrom"`` makes the firmware boot it rather than the disk.
    ``exit_on_reboot`` makes a guest reboot end QEMU (``-no-reboot``): an
    installer that reboots when done would otherwise boot its media again.
    """

    target: str
    arch: str
    base_disk: Path | None = None
    disk_format: str = "raw"
    kernel: Path | None = None
    initrd: Path | None = None
    append: str | None = None
    memory_mb: int | None = None
    profile_overrides: Mapping[str, Any] = field(default_factory=dict)
    recipe_id: str = ""
    cdrom: Path | None = None
    boot_from: str = "default"
    exit_on_reboot: bool = False

    def __post_init__(self) -> None:
        # Frozen all the way down: a spec is a cache key ingredient.
        object.__setattr__(self, "profile_overrides", MappingProxyType(dict(self.profile_overrides)))
        for name in ("base_disk", "kernel", "initrd", "cdrom"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value).absolute())
        if self.disk_format not in _DISK_FORMATS:
            raise ConfigError(
                "%s: disk_format %r is not one of %s" % (self.target, self.disk_format, ", ".join(_DISK_FORMATS)),
                target=self.target,
            )
        if self.initrd is not None and self.kernel is None:
            raise ConfigError("%s: an initrd needs a kernel" % self.target, target=self.target)
        if self.append and self.kernel is None:
            raise ConfigError(
                "%s: a kernel command line (append) needs a kernel" % self.target,
                target=self.target,
                hint="set kernel, or drop append when the firmware boots the disk",
            )
        if self.boot_from not in _BOOT_DEVICES:
            raise ConfigError(
                "%s: boot_from %r is not one of %s" % (self.target, self.boot_from, ", ".join(_BOOT_DEVICES)),
                target=self.target,
            )
        if self.boot_from == "cdrom" and self.cdrom is None:
            raise ConfigError(
                "%s: boot_from='cdrom' needs a cdrom (the install ISO)" % self.target,
                target=self.target,
                hint="set cdrom to the ISO's path",
            )
        if self.boot_from == "cdrom" and self.kernel is not None:
            raise ConfigError(
                "%s: boot_from='cdrom' and a kernel for QEMU's direct boot exclude each other" % self.target,
                target=self.target,
                hint="drop kernel to boot the CD through the firmware",
            )
        if self.memory_mb is not None and self.memory_mb <= 0:
            raise ConfigError("%s: memory_mb=%r must be positive" % (self.target, self.memory_mb), target=self.target)

    def missing_files(self) -> list[Path]:
        return [p for p in (self.base_disk, self.kernel, self.initrd, self.cdrom) if p is not None and not p.is_file()]
