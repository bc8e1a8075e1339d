"""The image catalog: ``images/<os>.toml`` files naming every guest target.

One file per OS.  Each declares its ``os`` and holds a ``[targets.<name>]``
table per target, optionally sharing keys through a ``[defaults]`` table
(a target's own keys win).  The target name must be ``<os>-<release>-<arch>``
so a name alone says what it is.  Keys every OS shares (``release``, ``arch``,
...) are checked by :data:`COMMON_FIELDS`; each OS adds its own schema to
:data:`OS_FIELDS`, which is all another OS (NetBSD, OpenBSD) has to do to fit
this loader.

Everything is validated on load: an error names the file, the target, the key
and what is allowed, so a typo never surfaces later as a broken image.  That
includes the target's QEMU profile overrides (checked by
:func:`harness.vm.profiles.profile_for`) and, for NetBSD and OpenBSD, that the
media, release directory and package path agree with the release and arch.

Where an OS and arch have several releases, exactly one target says
``default = true``: :meth:`Catalog.default_target` answers "which release of
OpenBSD on sparc64" without a release in the name.
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
from ..paths import cache_root
from ..vm.profiles import Profile, profile_for

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
    "default": FieldSpec(bool, "true on the one release used for this OS and arch when no release is named "
                         "(needed where an OS has several releases for the arch)", required=False, default=False,
                         affects_image=False),
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


# -- NetBSD and OpenBSD --------------------------------------------------------

NETBSD_MIRROR = "https://cdn.NetBSD.org/pub/NetBSD"
OPENBSD_MIRROR = "https://cdn.openbsd.org/pub/OpenBSD"

# Each OS's own name for trapline's arch: the directory of the release tree
# (NetBSD's evbarm-aarch64 port, OpenBSD's arm64 platform), and the arch
# directory of the binary package tree, which differs for both OSes
# (pkgsrc's MACHINE_ARCH x86_64; OpenBSD's packages/aarch64 for arm64).
NATIVE_ARCH: dict[str, dict[str, str]] = {
    "netbsd": {"amd64": "amd64", "aarch64": "evbarm-aarch64", "sparc64": "sparc64"},
    "openbsd": {"amd64": "amd64", "aarch64": "arm64", "sparc64": "sparc64"},
}
PACKAGE_ARCH: dict[str, dict[str, str]] = {
    "netbsd": {"amd64": "x86_64", "aarch64": "aarch64", "sparc64": "sparc64"},
    "openbsd": {"amd64": "amd64", "aarch64": "aarch64", "sparc64": "sparc64"},
}

# How each install method starts: live-image and disk-image are written to
# the disk (no installer runs); sysinst and autoinstall boot the install media.
INSTALLS: dict[str, tuple[str, ...]] = {
    "netbsd": ("live-image", "disk-image", "sysinst"),
    "openbsd": ("autoinstall",),
}

# A profile ``bios`` may start with this to name a file under trapline's
# firmware directory (``$XDG_CACHE_HOME/trapline/firmware``): firmware that
# cannot be shipped, which the user builds or fetches once.
FIRMWARE_PREFIX = "{firmware}/"

# How to get each firmware file a catalog names, for the error raised when it
# is missing.  Keyed by file name.
FIRMWARE_SOURCES: dict[str, str] = {
    "QEMU_EFI.fd": "install Debian's qemu-efi-aarch64 package (apt-get install qemu-efi-aarch64; "
                   "scripts/install-system-packages does it)",
    "openbios-sparc64-openbsd": (
        "QEMU's bundled OpenBIOS crashes OpenBSD >= 7.3 on cold boot and names IDE nodes 'ide' not 'ata'. "
        "Build the patched one: from github.com/anyvm-org/openbsd-builder run bios/build-openbios.sh "
        "(OpenBIOS af97fd7af5e7 plus bios/openbios-sparc64.patch; needs gcc-sparc64-linux-gnu) and copy "
        "the resulting bios/openbios-sparc64.elf to {path}, or download openbios-sparc64.elf from that "
        "repository's releases to the same place"),
}


def firmware_dir() -> Path:
    """Where firmware the harness cannot ship is kept (``$XDG_CACHE_HOME/trapline/firmware``)."""
    return cache_root() / "firmware"


def _mirror_url(value: Any) -> str | None:
    if re.match(r"^(https?://[^\s/]+|file:///)", value):
        return None
    return "must be an http://, https:// or file:/// URL"


def _relative_paths(value: Any) -> str | None:
    if not value:
        return "must name at least one file"
    bad = [p for p in value if p.startswith("/") or ".." in p.split("/") or not p or p.endswith("/")]
    if bad:
        return "must be file paths relative to the release directory: %s" % ", ".join(map(repr, bad))
    if len(set(value)) != len(value):
        return "names a file twice"
    return None


def _pkgsrc_name(value: Any) -> str | None:
    # pkgsrc names each CPython branch's package python3NN (lang/python312).
    return None if re.fullmatch(r"python3\d{1,2}", value) else "must be a pkgsrc python package name (python312)"


def _openbsd_python(value: Any) -> str | None:
    # pkg_add(1) picks one of several versions of a stem with stem%branch.
    return None if re.fullmatch(r"python%3\.\d{1,2}", value) else "must be pkg_add's stem%branch form (python%3.12)"


def _bsd_fields(mirror: str, installs: tuple[str, ...], python_check: Callable[[Any], str | None],
                python_doc: str) -> dict[str, FieldSpec]:
    return {
        "mirror": FieldSpec(str, "the mirror's URL; --mirror or the OS's TRAPLINE_*_MIRROR variable override it",
                            required=False, default=mirror, check=_mirror_url, affects_image=False),
        "release_dir": FieldSpec(str, "the release's directory under the mirror"),
        "media": FieldSpec(list, "every file to download, relative to <mirror>/<release_dir>/", check=_relative_paths),
        "install": FieldSpec(str, "how the disk is made", allowed=installs),
        "install_media": FieldSpec(str, "the media entry booted or written to the disk for the install"),
        "kernel": FieldSpec(str, "a media entry QEMU boots with -kernel (install disk-image)", required=False),
        "kernel_append": FieldSpec(str, "the command line of that kernel", required=False),
        "disk_mib": FieldSpec(int, "size of the installed disk in MiB", check=_positive),
        "python_package": FieldSpec(str, python_doc, check=python_check),
        "pkg_path": FieldSpec(str, "URL of the binary package directory for this release and arch", check=_url,
                              affects_image=False),
    }


OS_FIELDS["netbsd"] = _bsd_fields(NETBSD_MIRROR, INSTALLS["netbsd"], _pkgsrc_name,
                                  "pkgsrc's python3 package (python312); its version comes from pkg_summary")
OS_FIELDS["openbsd"] = _bsd_fields(OPENBSD_MIRROR, INSTALLS["openbsd"], _openbsd_python,
                                   "the python3 package as pkg_add names it (python%3.12); its version comes "
                                   "from the package index")

# NetBSD/sparc64: the root file system must stay below ~4 GB for the boot
# loader under OpenBIOS (anita; DESIGN.md section 4).
_NETBSD_SPARC64_DISK_LIMIT_MIB = 4096


def _media_release_problem(os_name: str, release: str, native_arch: str, path: str) -> str | None:
    """Why ``path`` cannot be a file of ``release`` on ``native_arch``, or None."""
    top = path.split("/", 1)[0]
    if os_name == "netbsd":
        # Ports keep their files under <port>/; install ISOs and live images
        # of every port sit together in images/ (NetBSD-10.1/images/...).
        if top not in (native_arch, "images"):
            return "is not under %s/ or images/" % native_arch
        named = re.findall(r"NetBSD-(\d+\.\d+)", path)
        if any(v != release for v in named):
            return "names NetBSD %s, not %s" % (named[0], release)
        return None
    if top != native_arch:
        return "is not under %s/" % native_arch
    # OpenBSD spells the release without its dot in file names: install79.iso,
    # miniroot79.img, base79.tgz.
    numbered = re.fullmatch(r"[a-z]+(\d{2})\.(iso|img|tgz)", path.rsplit("/", 1)[-1])
    if numbered and numbered.group(1) != release.replace(".", ""):
        return "is numbered %s, but release %s names its files with %s" % (
            numbered.group(1), release, release.replace(".", ""))
    return None


def _check_bsd_target(where: str, os_name: str, settings: Mapping[str, Any]) -> None:
    release, arch = settings["release"], settings["arch"]
    release_form = r"\d+\.\d+" if os_name == "netbsd" else r"\d\.\d"
    if not re.fullmatch(release_form, release):
        raise ConfigError("%s key 'release': %r is not a %s release number (%s)"
                          % (where, release, os_name, "10.1" if os_name == "netbsd" else "7.9"))
    native = NATIVE_ARCH[os_name][arch]
    if settings["native_arch"] != native:
        raise ConfigError("%s key 'native_arch': %r is not %s's name for %s; use %r"
                          % (where, settings["native_arch"], os_name, arch, native))
    release_dir = "NetBSD-%s" % release if os_name == "netbsd" else release
    if settings["release_dir"] != release_dir:
        raise ConfigError("%s key 'release_dir': %r does not match release %s; use %r"
                          % (where, settings["release_dir"], release, release_dir))
    media = settings["media"]
    for path in media:
        problem = _media_release_problem(os_name, release, native, path)
        if problem:
            raise ConfigError("%s key 'media': %r %s" % (where, path, problem))
    for key in ("install_media", "kernel"):
        value = settings[key]
        if value is not None and value not in media:
            raise ConfigError("%s key %r: %r is not one of the media entries: %s"
                              % (where, key, value, ", ".join(media)))
    if settings["install"] == "disk-image" and settings["kernel"] is None:
        raise ConfigError("%s missing key 'kernel': install 'disk-image' boots the image with a kernel "
                          "given to QEMU; name its media entry" % where)
    if settings["install"] != "disk-image" and settings["kernel"] is not None:
        raise ConfigError("%s key 'kernel' is only used with install = 'disk-image', here %r; remove it"
                          % (where, settings["install"]))
    if settings["kernel_append"] is not None and settings["kernel"] is None:
        raise ConfigError("%s key 'kernel_append' needs a 'kernel' to append to; remove it" % where)
    pkg_arch = PACKAGE_ARCH[os_name][arch]
    if os_name == "netbsd":
        # pkgsrc builds per major release (10.0 serves 10.1), some ports per
        # quarter (10.0_2026Q1): packages/NetBSD/<arch>/<major>.<n>[_<quarter>]/All.
        major = release.split(".")[0]
        expected = r"/NetBSD/%s/%s\.\d+(_[0-9A-Za-z]+)?/All/?" % (pkg_arch, major)
        shape = "<...>/NetBSD/%s/%s.0/All" % (pkg_arch, major)
    else:
        expected = r"/%s/packages/%s/?" % (re.escape(release), pkg_arch)
        shape = "<mirror>/%s/packages/%s" % (release, pkg_arch)
    if not re.search(expected + "$", settings["pkg_path"]):
        raise ConfigError("%s key 'pkg_path': %r is not the package directory of %s %s on %s (%s)"
                          % (where, settings["pkg_path"], os_name, release, arch, shape))
    if os_name == "netbsd" and arch == "sparc64" and settings["disk_mib"] >= _NETBSD_SPARC64_DISK_LIMIT_MIB:
        raise ConfigError("%s key 'disk_mib': %d is too big: NetBSD/sparc64's root file system must stay "
                          "below %d MiB to boot under OpenBIOS (anita)"
                          % (where, settings["disk_mib"], _NETBSD_SPARC64_DISK_LIMIT_MIB))


# Checks across keys, per OS, run after every key passed its own check.
OS_CHECKS: dict[str, Callable[[str, str, Mapping[str, Any]], None]] = {
    "netbsd": _check_bsd_target,
    "openbsd": _check_bsd_target,
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
    if os_name in OS_CHECKS:
        OS_CHECKS[os_name](where, os_name, settings)
    settings["profile"] = _expand_firmware(settings["profile"])
    profile = _checked_profile(where, settings["arch"], settings["profile"])
    memory = settings["memory_mb"]
    if memory is not None and memory > profile.max_memory_mb:
        raise ConfigError("%s key 'memory_mb': %d exceeds the %s profile's limit of %d MiB"
                          % (where, memory, settings["arch"], profile.max_memory_mb))
    return CatalogEntry(name=name, os=os_name, release=settings["release"], arch=settings["arch"],
                        source=path, settings=settings)


def _expand_firmware(overrides: Mapping[str, Any]) -> dict[str, Any]:
    bios = overrides.get("bios")
    if isinstance(bios, str) and bios.startswith(FIRMWARE_PREFIX):
        return {**overrides, "bios": str(firmware_dir() / bios[len(FIRMWARE_PREFIX):])}
    return dict(overrides)


def _checked_profile(where: str, arch: str, overrides: Mapping[str, Any]) -> Profile:
    # The profile is built now, not when a VM starts, so a misspelt override
    # key fails on load with the file and target in the message.
    try:
        return profile_for(arch, overrides)
    except ConfigError as e:
        raise ConfigError("%s key 'profile': %s" % (where, e.message), hint=e.hint) from e


def _check_defaults(entries: Mapping[str, CatalogEntry]) -> None:
    """Exactly one ``default = true`` per OS and arch that has several targets."""
    groups: dict[tuple[str, str], list[CatalogEntry]] = {}
    for entry in entries.values():
        groups.setdefault((entry.os, entry.arch), []).append(entry)
    for (os_name, arch), group in sorted(groups.items()):
        marked = sorted((e for e in group if e["default"]), key=lambda e: e.name)
        if len(marked) > 1:
            raise ConfigError(
                "%s: [targets.%s] key 'default': %s %s already has its default in %s: [targets.%s]; "
                "one default per OS and arch" % (marked[1].source, marked[1].name, os_name, arch,
                                                 marked[0].source, marked[0].name))
        if not marked and len(group) > 1:
            names = sorted(e.name for e in group)
            raise ConfigError(
                "%s: no default %s target for %s among %s" % (group[0].source, os_name, arch, ", ".join(names)),
                hint="set default = true on the release used when none is named (usually the newest)")


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
    _check_defaults(entries)
    return entries


class Catalog(Mapping[str, CatalogEntry]):
    """Every target of every catalog file in one directory."""

    def __init__(self, entries: Mapping[str, CatalogEntry]) -> None:
        self._entries = dict(entries)
        _check_defaults(self._entries)

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

    def default_target(self, os_name: str, arch: str) -> CatalogEntry:
        """The target of ``os_name`` on ``arch`` used when no release is named:
        the one marked ``default = true``, or the only one there is."""
        group = [e for e in self._entries.values() if e.os == os_name and e.arch == arch]
        marked = [e for e in group if e["default"]]
        if marked:
            return marked[0]
        if len(group) == 1:
            return group[0]
        known = sorted({"%s %s" % (e.os, e.arch) for e in self._entries.values()})
        raise ConfigError("no %s target for %s in the catalog" % (os_name, arch),
                          hint="known OS and arch pairs: %s" % (", ".join(known) or "(none)"))


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


def run_profile(entry: CatalogEntry) -> Profile:
    """The QEMU profile a built image of ``entry`` runs with."""
    return profile_for(entry.arch, entry["profile"])


def missing_firmware(entry: CatalogEntry) -> Path | None:
    """The firmware file ``entry``'s profile boots with (``bios``) when it is absent, else None.

    Only paths are checked: a bare name is one of QEMU's own firmware files.
    """
    bios = entry["profile"].get("bios")
    if not bios or "/" not in bios:
        return None
    path = Path(bios)
    return None if path.is_file() else path


def require_firmware(entry: CatalogEntry) -> None:
    """Raise a ConfigError naming the missing firmware file and how to get it.

    Called before a VM of ``entry`` starts (install or run), not on catalog
    load: a machine without OpenBSD/sparc64's firmware still lists and builds
    every other target.
    """
    path = missing_firmware(entry)
    if path is None:
        return
    how = FIRMWARE_SOURCES.get(path.name, "put the firmware file at {path}").format(path=path)
    raise ConfigError("%s needs the firmware file %s (profile key 'bios' in %s), which is missing"
                      % (entry.name, path, entry.source), target=entry.name, hint=how)


def install_boot(entry: CatalogEntry, install_media: Path) -> dict[str, Any]:
    """The :class:`harness.vm.BootSpec` fields that boot ``install_media``
    (the downloaded, verified ``install_media`` file) for the install run;
    the rest of the spec is the run's.

    Empty for installs that write an image to the disk (live-image,
    disk-image): the disk itself boots.  An ISO becomes the spec's CD, booted
    first (``boot_from="cdrom"``; the profile says where the CD sits: IDE
    index 2 on sun4u as anita and anyvm attach it).  A disk image (OpenBSD's
    minirootNN.img) becomes a second, read-only disk of the profile's own
    kind booted first, as cross-platform-actions' openbsd-builder attaches it
    (openbsd.pkr.hcl: virtio-blk-pci with bootindex, readonly=on).
    """
    if entry.os not in INSTALLS:
        raise ConfigError("%s: no install media: %s targets are not installed from media" % (entry.name, entry.os),
                          target=entry.name)
    if entry["install"] in ("live-image", "disk-image"):
        return {}
    if install_media.suffix == ".iso":
        return {"cdrom": install_media, "boot_from": "cdrom"}
    if install_media.suffix == ".img":
        profile = run_profile(entry)
        media = _qemu_opt(install_media)
        if profile.drive_if == "none":
            disk = ["-drive", "file=%s,format=raw,if=none,id=install0,readonly=on" % media,
                    "-device", "%s,drive=install0,bootindex=0" % profile.disk_device]
        else:
            disk = ["-drive", "file=%s,format=raw,if=%s,index=1,readonly=on" % (media, profile.drive_if)]
        return {"profile_overrides": {**entry["profile"], "extra_args": [*profile.extra_args, *disk]}}
    raise ConfigError("%s: install media %s is neither an .iso nor an .img; QEMU cannot boot it"
                      % (entry.name, install_media.name), target=entry.name)


def _qemu_opt(path: Path) -> str:
    # QEMU's option parser splits on commas; a doubled comma is a literal one.
    return str(path).replace(",", ",,")
