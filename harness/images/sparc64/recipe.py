"""What a debian-12-sparc64 image is made of, and the hashes that name it.

The image is cross-built on the host from Debian 12's own packages: the
sparc64 cross toolchain and glibc (``gcc-sparc64-linux-gnu``,
``libc6-sparc64-cross``), the kernel from ``linux-source-6.1``, and the source
packages of busybox, dropbear, zlib, libffi and python3.11.  It is not an
official Debian port (Debian's sparc64 lives in debian-ports); the name says
"Debian 12" because every byte comes from Debian 12's archive.

Two levels of hashing:

* the *recipe hash* names the finished image directory; it covers every
  input version (host packages and source packages), every data file the
  builder writes into the guest, and :data:`BUILDER_VERSION`;
* each intermediate *part* (kernel, libraries, CPython, busybox, dropbear)
  has its own hash over just its inputs, so a failure in a later step, or a
  change to the guest's init script, does not rebuild the kernel.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ...errors import ConfigError

TARGET = "debian-12-sparc64"
# Bump when a build step changes what it produces in a way the inputs below
# do not capture.
BUILDER_VERSION = "sparc64-1"

DATA_DIR = Path(__file__).resolve().parent
KERNEL_CONFIG_FRAGMENT = DATA_DIR / "kernel.config"

CROSS = "sparc64-linux-gnu"
# Host packages whose versions shape the output (read with dpkg-query).
HOST_PACKAGES = (
    "gcc-sparc64-linux-gnu", "binutils-sparc64-linux-gnu", "libc6-sparc64-cross",
    "libc6-dev-sparc64-cross", "linux-libc-dev-sparc64-cross", "linux-source-6.1",
)
KERNEL_SOURCE_PACKAGE = "linux-source-6.1"
# The source packages fetched with `apt-get source` (a private apt state with
# a deb-src entry; the host's sources are left alone).
SOURCE_PACKAGES = ("busybox", "dropbear", "zlib", "libffi", "python3.11")


@dataclass(frozen=True)
class Recipe:
    """The knobs of one sparc64 image.  Defaults are the catalog's values."""

    target: str = TARGET
    mirror: str = "http://deb.debian.org/debian"
    # Only the release suite: point-release versions stay in the main pool,
    # while a security-only version's files can vanish from a mirror that
    # still lists it (seen here for python3.11 3.11.2-6+deb12u9).
    suite: str = "bookworm"
    # vda: the root is virtio-blk on pciB (images/debian-sparc64.toml).
    kernel_cmdline: str = "root=/dev/vda ro console=ttyS0 net.ifnames=0"
    memory_mb: int = 512
    # The root is mounted read-only (see guest.py), so free space is only
    # headroom for whoever mounts the image on the host.
    disk_free_mib: int = 64
    jobs: int = 2
    # Guest network: QEMU user networking's fixed addresses.
    guest_address: str = "10.0.2.15/24"
    guest_gateway: str = "10.0.2.2"
    source_packages: tuple[str, ...] = SOURCE_PACKAGES

    def image_inputs(self) -> dict[str, Any]:
        """The fields that change the built image (not jobs)."""
        values = asdict(self)
        values.pop("jobs")
        values.pop("memory_mb")
        values["source_packages"] = list(self.source_packages)
        return values


@dataclass(frozen=True)
class Versions:
    """Resolved versions of everything the build consumes."""

    host: Mapping[str, str]
    sources: Mapping[str, str]
    build_python: str
    extra: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"host": dict(sorted(self.host.items())), "sources": dict(sorted(self.sources.items())),
                "build_python": self.build_python, **dict(self.extra)}


def stable_hash(value: Any, length: int = 16) -> str:
    """sha256 of the canonical JSON of ``value``, hex, shortened."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _json_default(value: Any) -> Any:
    if isinstance(value, (tuple, frozenset, set)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    raise TypeError("not JSON-serialisable in a recipe: %r" % (value,))


def recipe_hash(recipe: Recipe, versions: Versions, guest_files: Mapping[str, str]) -> str:
    return stable_hash({
        "builder": BUILDER_VERSION,
        "recipe": recipe.image_inputs(),
        "versions": versions.as_dict(),
        "kernel_config": kernel_config_fragment(),
        "guest_files": dict(guest_files),
    })


def kernel_config_fragment(path: Path = KERNEL_CONFIG_FRAGMENT) -> str:
    return path.read_text()


def fragment_settings(text: str, *, strict: bool = True) -> dict[str, str]:
    """``{option: value}`` of a Kconfig fragment; ``"n"`` for ``# CONFIG_X is not set``.

    ``strict`` rejects lines that are neither options nor comments (a typo in
    our fragment); a generated ``.config`` is read with ``strict=False``.
    """
    settings: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("# CONFIG_") and line.endswith(" is not set"):
            settings[line[2:-len(" is not set")]] = "n"
        elif line.startswith("CONFIG_"):
            name, sep, value = line.partition("=")
            if strict and (not sep or not value):
                raise ConfigError("kernel config fragment line %d: %r is not CONFIG_X=value" % (number, raw))
            settings[name] = value
        elif strict and line and not line.startswith("#"):
            raise ConfigError("kernel config fragment line %d: %r is not a Kconfig line" % (number, raw))
    return settings


def drop_module_options(config_text: str) -> str:
    """``config_text`` with every ``CONFIG_X=m`` turned into ``# CONFIG_X is not set``."""
    return re.sub(r"^(CONFIG_\w+)=m$", r"# \1 is not set", config_text, flags=re.M)


def config_mismatches(wanted: Mapping[str, str], config_text: str) -> list[str]:
    """Options of ``wanted`` that the final ``.config`` does not honour.

    An option wanted off may be absent altogether (its dependencies are off
    too); an option wanted on must be there with that value, or Kconfig
    dropped it (a renamed option, an unmet dependency) and the guest would
    miss it at run time.
    """
    actual = fragment_settings(config_text, strict=False)
    problems = []
    for name, value in sorted(wanted.items()):
        have = actual.get(name, "n")
        if have != value:
            problems.append("%s: wanted %s, .config has %s" % (name, value, have))
    return problems
