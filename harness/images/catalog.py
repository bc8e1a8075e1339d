"""The image catalog: ``images/<os>.toml`` files naming every guest target.

One file per OS.  Each declares its ``os`` and holds a ``[targets.<name>]``
table per target, optionally sharing keys through a ``[defaults]`` table
(a target's own keys win).  The target name must be ``<os>-<release>-<arch>``
so a name alone says what it is.  Keys every OS shares (``release``, ``arch``,
...) are checked by :data:`COMMON_FIELDS`; each OS adds its own schema to
:data:`OS_FIELDS`, which is all another OS (NetBSD, OpenBSD) has to do to fit
this loader.

Everything is validated on load: an error names the file, the target, the key
and what is allowed, so a typo never surfaces later as a broken image.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

ARCHES = ("amd64", "aarch64", "sparc64")
CATALOG_DIR = Path(__file__).resolve().parents[2] / "images"


@dataclass(frozen=True)
class FieldSpec:
    """What one catalog key may hold.

    ``kind`` is ``str``, ``int``, ``bool`` or ``list`` (of strings).
    ``affects_image`` is False for keys that change how a guest is run but not
    what is built, so editing them does not invalidate a built image.
    """

    kind: type
    doc: str
    required: bool = True
    default: Any = None
    allowed: tuple[str, ...] | None = None
    check: Callable[[Any], str | None] | None = None
    affects_image: bool = True


def _positive(value: Any) -> str | None:
    return None if value > 0 else "must be > 0"


def _non_negative(value: Any) -> str | None:
    return None if value >= 0 else "must be >= 0"


def _url(value: Any) -> str | None:
    return None if re.match(r"^https?://[^\s/]+", value) else "must be an http:// or https:// URL"


def _package_names(value: Any) -> str | None:
    bad = [p for p in value if not re.match(r"^[a-z0-9][a-z0-9+.-]+$", p)]
    return "not Debian package names: %s" % ", ".join(map(repr, bad)) if bad else None


def _unit_names(value: Any) -> str | None:
    bad = [u for u in value if not re.match(r"^[A-Za-z0-9@_.:-]+\.(service|timer|socket|target|path|mount)$", u)]
    return "not systemd unit names (name.service, name.timer, ...): %s" % ", ".join(map(repr, bad)) if bad else None


def _linux_cmdline(value: Any) -> str | None:
    words = value.split()
    # The guest's network configuration matches eth0, and the harness reads
    # the serial console: a command line without these boots a guest we
    # cannot reach.
    if "net.ifnames=0" not in words:
        return "must contain net.ifnames=0 (the guest's network config names eth0)"
    if not any(w.startswith("console=") for w in words):
        return "must name the serial console (console=ttyS0, console=ttyAMA0, ...)"
    if not any(w.startswith("root=") for w in words):
        return "must name the root device (root=/dev/vda)"
    return None


COMMON_FIELDS: dict[str, FieldSpec] = {
    "release": FieldSpec(str, "the OS release, as in the target name (12, 10.1, 7.6)"),
    "arch": FieldSpec(str, "trapline's arch name", allowed=ARCHES),
    "native_arch": FieldSpec(str, "the OS's own name for the arch (Debian arm64, NetBSD evbarm-aarch64)"),
    "description": FieldSpec(str, "one line for `harness images list`", required=False, default="",
                             affects_image=False),
    "memory_mb": FieldSpec(int, "guest RAM in MiB; the arch profile's default when absent", required=False,
                           check=_positive, affects_image=False),
    "profile": FieldSpec(dict, "QEMU profile overrides for this target (keys of harness.vm.profiles.Profile)",
                         required=False, default={}, affects_image=False),
}

OS_FIELDS: dict[str, dict[str, FieldSpec]] = {
    "debian": {
        "builder": FieldSpec(str, "how the image is made: mmdebstrap installs Debian's binary packages for the arch; "
                             "sparc64-cross cross-builds a small system from Debian's sources and sparc64 cross "
                             "toolchain (Debian 12 has no sparc64 port)", required=False, default="mmdebstrap",
                             allowed=("mmdebstrap", "sparc64-cross")),
        "suite": FieldSpec(str, "Debian suite (bookworm)"),
        "mirror": FieldSpec(str, "Debian archive URL", check=_url),
        "components": FieldSpec(list, "archive components", required=False, default=["main"]),
        "variant": FieldSpec(str, "mmdebstrap --variant", required=False, default="apt",
                             allowed=("extract", "custom", "essential", "apt", "required", "minbase",
                                      "buildd", "important", "standard")),
        "kernel_package": FieldSpec(str, "the linux-image package booted directly by QEMU; builder mmdebstrap",
                                    required=False, check=lambda v: _package_names([v])),
        "packages": FieldSpec(list, "packages installed beside the kernel; builder mmdebstrap", required=False,
                              check=_package_names),
        "source_packages": FieldSpec(list, "source packages cross-built into the image; builder sparc64-cross",
                                     required=False, check=_package_names),
        "kernel_cmdline": FieldSpec(str, "kernel command line for direct boot", check=_linux_cmdline),
        "disk_free_mib": FieldSpec(int, "free space left in the root file system", required=False,
                                   default=1024, check=_non_negative),
        "mask_units": FieldSpec(list, "systemd units masked because they slow boot or wake up mid-test",
                                required=False, default=[], check=_unit_names),
    },
}


@dataclass(frozen=True)
class CatalogEntry:
    """One validated target.  ``settings`` holds every key, defaults filled in."""

    name: str
    os: str
    release: str
    arch: str
    source: Path
    settings: Mapping[str, Any] = field(repr=False)

    def __getitem__(self, key: str) -> Any:
        return self.settings[key]

    @property
    def image_settings(self) -> dict[str, Any]:
        """The keys that shape the built image (what the recipe hash covers)."""
        specs = _schema(self.os)
        return {k: v for k, v in self.settings.items() if specs[k].affects_image}


# Keys that only one builder reads: (builder key, value) -> keys it needs, and
# keys it must not be given (they would be silently ignored otherwise).
BUILDER_KEYS: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {
    ("builder", "mmdebstrap"): (("kernel_package", "packages"), ("source_packages",)),
    ("builder", "sparc64-cross"): (("source_packages",), ("kernel_package", "packages")),
}


def _check_builder_keys(where: str, specs: Mapping[str, FieldSpec], raw: Mapping[str, Any],
                        settings: Mapping[str, Any]) -> None:
    for (key, value), (needed, refused) in BUILDER_KEYS.items():
        if key not in settings or settings[key] != value:
            continue
        for name in needed:
            if name not in raw:
                raise ConfigError("%s missing key %r (%s)" % (where, name, specs[name].doc))
        for name in refused:
            if name in raw:
                raise ConfigError("%s key %r is not used when %s = %r; remove it" % (where, name, key, value))


def _schema(os_name: str) -> dict[str, FieldSpec]:
    return {**COMMON_FIELDS, **OS_FIELDS[os_name]}


def _type_name(kind: type) -> str:
    return {str: "a string", int: "an integer", bool: "true or false", list: "a list of strings",
            dict: "a table"}[kind]


def _check_value(where: str, key: str, spec: FieldSpec, value: Any) -> Any:
    ok_type = isinstance(value, spec.kind) and not (spec.kind is int and isinstance(value, bool))
    if spec.kind is list and ok_type and not all(isinstance(v, str) for v in value):
        ok_type = False
    if not ok_type:
        raise ConfigError("%s key %r: %r is not %s (%s)" % (where, key, value, _type_name(spec.kind), spec.doc))
    if spec.allowed is not None and value not in spec.allowed:
        raise ConfigError("%s key %r: %r is not one of %s" % (where, key, value, ", ".join(spec.allowed)))
    if spec.check is not None:
        problem = spec.check(value)
        if problem:
            raise ConfigError("%s key %r: %r %s" % (where, key, value, problem))
    return value


def _validate_target(path: Path, os_name: str, name: str, raw: Mapping[str, Any]) -> CatalogEntry:
    where = "%s: [targets.%s]" % (path, name)
    specs = _schema(os_name)
    unknown = sorted(set(raw) - set(specs))
    if unknown:
        raise ConfigError("%s unknown key %r; allowed keys: %s" % (where, unknown[0], ", ".join(sorted(specs))))
    settings: dict[str, Any] = {}
    for key, spec in specs.items():
        if key not in raw:
            if spec.required:
                raise ConfigError("%s missing key %r (%s)" % (where, key, spec.doc))
            settings[key] = spec.default
            continue
        settings[key] = _check_value(where, key, spec, raw[key])
    _check_builder_keys(where, specs, raw, settings)
    expected = "%s-%s-%s" % (os_name, settings["release"], settings["arch"])
    if name != expected:
        raise ConfigError("%s target name must be <os>-<release>-<arch>, here %r" % (where, expected))
    return CatalogEntry(name=name, os=os_name, release=settings["release"], arch=settings["arch"],
                        source=path, settings=settings)


def load_catalog_file(path: Path) -> dict[str, CatalogEntry]:
    """Load and validate one ``<os>.toml``."""
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as e:
        raise ConfigError("cannot read catalog %s: %s" % (path, e.strerror)) from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("%s: not valid TOML: %s" % (path, e)) from e
    unknown = sorted(set(doc) - {"os", "defaults", "targets"})
    if unknown:
        raise ConfigError("%s: unknown top-level key %r; allowed: os, defaults, targets" % (path, unknown[0]))
    os_name = doc.get("os")
    if os_name not in OS_FIELDS:
        raise ConfigError("%s: key 'os': %r is not one of %s" % (path, os_name, ", ".join(sorted(OS_FIELDS))))
    defaults = doc.get("defaults", {})
    targets = doc.get("targets")
    if not isinstance(defaults, dict):
        raise ConfigError("%s: 'defaults' must be a table" % path)
    if not isinstance(targets, dict) or not targets:
        raise ConfigError("%s: no [targets.<name>] tables" % path)
    entries = {}
    for name, raw in targets.items():
        if not isinstance(raw, dict):
            raise ConfigError("%s: 'targets.%s' must be a table" % (path, name))
        entries[name] = _validate_target(path, os_name, name, {**defaults, **raw})
    return entries


class Catalog(Mapping[str, CatalogEntry]):
    """Every target of every catalog file in one directory."""

    def __init__(self, entries: Mapping[str, CatalogEntry]) -> None:
        self._entries = dict(entries)

    def __getitem__(self, name: str) -> CatalogEntry:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(
                "no image target %r in the catalog" % name,
                hint="known targets: %s" % (", ".join(sorted(self._entries)) or "(none)"),
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)


def load_catalog(directory: Path = CATALOG_DIR) -> Catalog:
    """Load every ``*.toml`` under ``directory``; a target named twice is an error."""
    entries: dict[str, CatalogEntry] = {}
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise ConfigError("no catalog files (*.toml) in %s" % directory)
    for path in files:
        for name, entry in load_catalog_file(path).items():
            if name in entries:
                raise ConfigError("target %r is defined in both %s and %s" % (name, entries[name].source, path))
            entries[name] = entry
    return Catalog(entries)


def recipe_hash(entry: CatalogEntry, builder_version: str, extra: Mapping[str, Any] | None = None) -> str:
    """A short, stable hash of everything that shapes the built image.

    ``extra`` carries builder-produced inputs (files written into the image)
    so changing them rebuilds even without a version bump.
    """
    recipe = {
        "target": entry.name,
        "os": entry.os,
        "settings": entry.image_settings,
        "builder": builder_version,
        "extra": dict(extra or {}),
    }
    blob = json.dumps(recipe, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
