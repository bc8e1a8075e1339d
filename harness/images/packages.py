"""Binary packages for a BSD guest: python3 and what it depends on, resolved
on the host from the release's package index, fetched into the media cache
and handed to ``pkg_add`` in the guest in dependency order.

NetBSD (pkgsrc binary packages): the repository's ``pkg_summary.gz``.
Format from pkgsrc ``pkgtools/pkg_install/files/lib/pkg_summary.5``
(``$NetBSD: pkg_summary.5,v 1.5 2007/02/07 06:49:22 wiz Exp $``): one
``VARIABLE=VALUE`` per line, packages separated by an empty line, a
multi-line value (DEPENDS: one pattern per line) repeats its ``VARIABLE=``.
``PKGNAME`` names the package, ``DEPENDS`` holds its dependency patterns,
``FILE_SIZE`` its size; ``FILE_NAME`` (written by newer pkg_info -X, not in
that revision) names the file when it is not ``PKGNAME.tgz``.  Patterns are
matched as pkg_install's pkg_match does: ``{a,b}`` alternatives, dewey
comparisons (``libffi>=3.0``, ``python311>=3.11<3.12``), else a shell glob
against the whole PKGNAME (``python311-[0-9]*``).  Dewey version order is
pkgsrc ``pkgtools/pkg_install/files/lib/dewey.c`` (``$NetBSD: dewey.c,v 1.5
2006/04/04 06:30:10 wiz Exp $``): numbers compare numerically; ``alpha`` -3,
``beta`` -2, ``pre``/``rc`` -1, ``pl``/``_``/``.`` 0; a lone letter is 0
followed by its place in the alphabet; ``nbN`` is the pkgsrc revision,
compared last.

OpenBSD: the packages directory's ``index.txt`` (an ``ls -l`` listing: the
file name is the last field) and each package's packing list ``+CONTENTS``,
the first member of the gzipped tar.  ``@depend pkgpath:pkgspec:default``
(OpenBSD ``usr.sbin/pkg_add/pkg_create.1``, ``$OpenBSD: pkg_create.1,v 1.42
2007/06/14 10:16:37 espie Exp $``): a package matching ``pkgspec`` must be
installed first; ``default`` is the package the port was built against and
is taken when the directory has it.
"""

from __future__ import annotations

import fnmatch
import functools
import gzip
import hashlib
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, HostError

_DOWNLOAD_TIMEOUT = 120.0
# Packages are fetched from the catalog's pkg_path alone: --mirror and the
# TRAPLINE_*_MIRROR variables pick where install media come from, not this.
_PKG_PATH_HINT = ("the packages come from the target's pkg_path in images/netbsd.toml or images/openbsd.toml "
                  "(--mirror and TRAPLINE_NETBSD_MIRROR / TRAPLINE_OPENBSD_MIRROR do not change it); "
                  "point pkg_path at a reachable package directory")


@dataclass(frozen=True)
class Package:
    """One binary package of a repository."""

    name: str  # PKGNAME (NetBSD) / @name (OpenBSD), e.g. python311-3.11.9nb1
    file_name: str  # the file in the repository directory
    depends: tuple[str, ...] = ()  # patterns (NetBSD) / pkgspecs with their default (OpenBSD)
    size: int | None = None


class ResolveError(HostError):
    """A dependency the index cannot satisfy, or a dependency cycle."""


# ---------------------------------------------------------------- NetBSD


def parse_pkg_summary(text: str) -> dict[str, Package]:
    """The packages of a pkg_summary(5) text, keyed by PKGNAME."""
    packages: dict[str, Package] = {}
    for number, block in enumerate(re.split(r"\n[ \t]*\n", text.strip("\n"))):
        fields: dict[str, list[str]] = {}
        for line in block.splitlines():
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise ConfigError("pkg_summary entry %d: line %r is not VARIABLE=VALUE" % (number + 1, line))
            fields.setdefault(key, []).append(value)
        if not fields:
            continue
        if "PKGNAME" not in fields:
            raise ConfigError("pkg_summary entry %d has no PKGNAME (keys: %s)"
                              % (number + 1, ", ".join(sorted(fields))))
        name = fields["PKGNAME"][0]
        size = fields.get("FILE_SIZE", [None])[0]
        packages[name] = Package(
            name=name,
            file_name=fields.get("FILE_NAME", [name + ".tgz"])[0],
            depends=tuple(fields.get("DEPENDS", [])),
            size=int(size) if size and size.isdigit() else None,
        )
    return packages


_DEWEY_MODIFIERS = (("alpha", -3), ("beta", -2), ("pre", -1), ("rc", -1), ("pl", 0), ("_", 0), (".", 0))


def _dewey_parts(version: str) -> tuple[tuple[int, ...], int]:
    """A sort key for a pkgsrc version: (components, nb revision)."""
    components: list[int] = []
    revision = 0
    i = 0
    lowered = version.lower()
    while i < len(lowered):
        digits = re.match(r"\d+", lowered[i:])
        if digits:
            components.append(int(digits.group()))
            i += len(digits.group())
            continue
        for word, value in _DEWEY_MODIFIERS:
            if lowered.startswith(word, i):
                components.append(value)
                i += len(word)
                break
        else:
            if lowered.startswith("nb", i):
                nb = re.match(r"\d*", lowered[i + 2:])
                revision = int(nb.group() or 0) if nb else 0
                i += 2 + (len(nb.group()) if nb else 0)
            elif lowered[i].isalpha():
                components += [0, ord(lowered[i]) - ord("a") + 1]
                i += 1
            else:
                i += 1
    return tuple(components), revision


def dewey_compare(left: str, right: str) -> int:
    """-1, 0 or 1 as pkgsrc orders two versions (shorter ones padded with 0)."""
    (lv, lnb), (rv, rnb) = _dewey_parts(left), _dewey_parts(right)
    width = max(len(lv), len(rv))
    lv, rv = lv + (0,) * (width - len(lv)), rv + (0,) * (width - len(rv))
    if lv != rv:
        return -1 if lv < rv else 1
    return (lnb > rnb) - (lnb < rnb)


dewey_sort_key = functools.cmp_to_key(dewey_compare)


def _newest(packages: Iterable[Package]) -> Package:
    return max(packages, key=lambda p: dewey_sort_key(_split_pkgname(p.name)[1]))


_OPS: dict[str, Callable[[int], bool]] = {
    "<=": lambda c: c <= 0, "<": lambda c: c < 0, ">=": lambda c: c >= 0, ">": lambda c: c > 0,
    "==": lambda c: c == 0, "!=": lambda c: c != 0,
}


def _split_pkgname(pkgname: str) -> tuple[str, str]:
    base, _, version = pkgname.rpartition("-")
    return base, version


def _expand_braces(pattern: str) -> list[str]:
    match = re.search(r"\{([^{}]*)\}", pattern)
    if not match:
        return [pattern]
    out: list[str] = []
    for alternative in match.group(1).split(","):
        out += _expand_braces(pattern[:match.start()] + alternative + pattern[match.end():])
    return out


def pkgsrc_match(pattern: str, pkgname: str) -> bool:
    """Whether ``pkgname`` satisfies the pkgsrc dependency ``pattern``."""
    for alternative in _expand_braces(pattern):
        if re.search(r"[<>]", alternative):
            if _dewey_match(alternative, pkgname):
                return True
        elif re.search(r"[*?\[]", alternative):
            if fnmatch.fnmatchcase(pkgname, alternative):
                return True
        elif pkgname == alternative:
            return True
    return False


def _dewey_match(pattern: str, pkgname: str) -> bool:
    base, version = _split_pkgname(pkgname)
    first = re.search(r"[<>]", pattern)
    assert first is not None
    if pattern[:first.start()] != base:
        return False
    # One lower bound and an optional upper one: ">=1.0<2" (dewey_match()).
    for op, bound in re.findall(r"(<=|>=|<|>|==|!=)([^<>=!]+)", pattern[first.start():]):
        if not _OPS[op](dewey_compare(version, bound)):
            return False
    return True


def newest_netbsd(name: str, packages: Mapping[str, Package]) -> Package:
    """The newest package whose base name is ``name`` (``python311``)."""
    found = [p for p in packages.values() if _split_pkgname(p.name)[0] == name]
    if not found:
        close = sorted({_split_pkgname(p)[0] for p in packages if p.startswith(name[:4])})[:10]
        raise ResolveError("no package %r in the package index" % name,
                           hint="names that start alike: %s" % (", ".join(close) or "none"))
    return _newest(found)


def resolve_netbsd(name: str, packages: Mapping[str, Package]) -> list[Package]:
    """``name`` and everything it depends on, dependencies first."""
    root = newest_netbsd(name, packages)

    def pick(pattern: str, wanted_by: Package) -> Package:
        matches = [p for p in packages.values() if pkgsrc_match(pattern, p.name)]
        if not matches:
            raise ResolveError("%s depends on %r, which no package in the index satisfies"
                               % (wanted_by.name, pattern),
                               hint="the package repository is incomplete; try another pkg_path")
        return _newest(matches)

    return _order(root, lambda pkg: [pick(d, pkg) for d in pkg.depends])


# ---------------------------------------------------------------- OpenBSD


def parse_openbsd_index(text: str) -> list[str]:
    """The package file names of an OpenBSD ``index.txt`` (``ls -l`` lines)."""
    names = []
    for line in text.splitlines():
        words = line.split()
        if words and words[-1].endswith(".tgz"):
            names.append(words[-1])
    return names


def read_openbsd_contents(path: Path) -> Package:
    """The ``@name`` and ``@depend`` lines of a package's ``+CONTENTS``."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            member = tar.extractfile("+CONTENTS")
            assert member is not None
            text = member.read().decode("utf-8", errors="replace")
    except (tarfile.TarError, KeyError, OSError, AssertionError) as exc:
        raise HostError("%s is not an OpenBSD package with a +CONTENTS: %s" % (path, exc),
                        hint="delete it from the cache and build again") from exc
    name = None
    depends = []
    for line in text.splitlines():
        if line.startswith("@name "):
            name = line[len("@name "):].strip()
        elif line.startswith("@depend "):
            spec = line[len("@depend "):].strip()
            if spec.count(":") < 2:
                raise HostError("%s: malformed @depend line %r (want pkgpath:pkgspec:default)" % (path, line))
            depends.append(spec)
    if name is None:
        raise HostError("%s: +CONTENTS has no @name line" % path)
    return Package(name=name, file_name=path.name, depends=tuple(depends), size=path.stat().st_size)


def split_openbsd(name: str) -> tuple[str, str, str]:
    """(stem, version, flavor) of an OpenBSD package name: the version is the
    first dash-separated part starting with a digit (packages-specs(7))."""
    parts = name.split("-")
    for i, part in enumerate(parts[1:], start=1):
        if part[:1].isdigit():
            return "-".join(parts[:i]), part, "-".join(parts[i + 1:])
    return name, "", ""


def openbsd_version_key(version: str) -> tuple:
    """Sort key: epoch (``vN``), dotted parts, patch level (``pN``)."""
    epoch = 0
    patch = 0
    m = re.search(r"v(\d+)$", version)
    if m:
        epoch, version = int(m.group(1)), version[:m.start()]
    m = re.search(r"p(\d+)$", version)
    if m:
        patch, version = int(m.group(1)), version[:m.start()]
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.]", version) if p)
    return epoch, parts, patch


def openbsd_spec_match(spec: str, name: str) -> bool:
    """Whether package ``name`` matches the pkgspec ``spec`` (``libffi-*``,
    ``python->=3.11,<3.12``, or an exact name)."""
    stem, version, _flavor = split_openbsd(name)
    m = re.match(r"^(.+?)-((?:[<>=]=?|!=)[^,]+(?:,(?:[<>=]=?|!=)[^,]+)*)(-.*)?$", spec)
    if m:
        if m.group(1) != stem:
            return False
        for bound in m.group(2).split(","):
            op = re.match(r"(<=|>=|<|>|=|!=)", bound)
            assert op is not None
            left, right = openbsd_version_key(version), openbsd_version_key(bound[op.end():])
            cmp = (left > right) - (left < right)
            if not _OPS["==" if op.group() == "=" else op.group()](cmp):
                return False
        return True
    return fnmatch.fnmatchcase(name, spec)


def newest_openbsd(name: str, files: Iterable[str]) -> str:
    """The newest package file for ``name``: pkg_add's ``stem%branch``
    (``python%3.11``: stem python, a version in the 3.11 branch), or a stem
    (``python``), or a stem and version prefix (``python-3.11``)."""
    stems = [f[:-4] for f in files if f.endswith(".tgz")]
    if "%" in name:
        stem, branch = name.split("%", 1)
    else:
        stem, _, branch = name.partition("-") if re.search(r"-\d", name) else (name, "", "")

    def wanted(package: str) -> bool:
        package_stem, version, flavor = split_openbsd(package)
        # A sub-package (python-tkinter) or a flavor is not the package asked for.
        if package_stem != stem or flavor:
            return False
        return not branch or version == branch or version.startswith(branch + ".")

    found = [s for s in stems if wanted(s)]
    if not found:
        close = sorted(s for s in stems if s.startswith(stem))[:10]
        raise ResolveError("no package %r in the package directory's index.txt" % name,
                           hint="packages of that stem: %s" % (", ".join(close) or "none"))
    return max(found, key=lambda s: openbsd_version_key(split_openbsd(s)[1])) + ".tgz"


def resolve_openbsd(name: str, files: Iterable[str], get: Callable[[str], Path]) -> list[Package]:
    """``name`` and its dependencies, dependencies first.  ``get(file_name)``
    returns the local path of a package file (fetching it when needed), since
    dependencies are only known from inside each package."""
    available = set(files)
    root = read_openbsd_contents(get(newest_openbsd(name, available)))
    cache: dict[str, Package] = {root.file_name: root}

    def load(file_name: str) -> Package:
        if file_name not in cache:
            cache[file_name] = read_openbsd_contents(get(file_name))
        return cache[file_name]

    def pick(depend: str, wanted_by: Package) -> Package:
        _pkgpath, spec, default = depend.split(":", 2)
        if default + ".tgz" in available:
            return load(default + ".tgz")
        matches = [f for f in available if openbsd_spec_match(spec, f[:-4])]
        if not matches:
            raise ResolveError("%s depends on %r (%s), which is not in the package directory"
                               % (wanted_by.name, spec, default),
                               hint="the packages directory is incomplete; check pkg_path")
        return load(max(matches, key=lambda f: openbsd_version_key(split_openbsd(f[:-4])[1])))

    return _order(root, lambda pkg: [pick(d, pkg) for d in pkg.depends])


# ---------------------------------------------------------------- shared


def _order(root: Package, deps_of: Callable[[Package], list[Package]]) -> list[Package]:
    """Depth-first post-order: every package after all it depends on."""
    ordered: list[Package] = []
    done: set[str] = set()
    path: list[str] = []

    def visit(pkg: Package) -> None:
        if pkg.name in done:
            return
        if pkg.name in path:
            cycle = [*path[path.index(pkg.name):], pkg.name]
            raise ResolveError("dependency cycle: %s" % " -> ".join(cycle),
                               hint="pkg_add cannot order these; the package index is inconsistent")
        path.append(pkg.name)
        for dep in deps_of(pkg):
            visit(dep)
        path.pop()
        done.add(pkg.name)
        ordered.append(pkg)

    visit(root)
    return ordered


def download(url: str, dest: Path, *, expected_size: int | None = None, refresh: bool = False) -> Path:
    """``url`` (http, https or file) to ``dest``, written to a temporary name
    and renamed when complete; a file already there of the expected size is
    kept.  ``refresh`` (for indexes, which change) fetches again and falls
    back to the cached copy only when the mirror cannot be reached."""
    if not refresh and dest.is_file() and (expected_size is None or dest.stat().st_size == expected_size):
        return dest
    if refresh and dest.is_file():
        try:
            return download(url, dest.with_name(dest.name + ".new"), expected_size=expected_size).replace(dest)
        except HostError:
            return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(".%s.%d.part" % (dest.name, os.getpid()))
    try:
        with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT) as reply, open(tmp, "wb") as out:
            shutil.copyfileobj(reply, out, 1 << 20)
        size = tmp.stat().st_size
        if expected_size is not None and size != expected_size:
            raise HostError("%s: got %d bytes, the index says %d" % (url, size, expected_size),
                            hint="the mirror may be mid-update; try again, or " + _PKG_PATH_HINT)
        tmp.replace(dest)
    except (urllib.error.URLError, OSError) as exc:
        raise HostError("cannot download %s: %s" % (url, getattr(exc, "reason", exc)),
                        hint=_PKG_PATH_HINT) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return dest


@dataclass(frozen=True)
class PackageSet:
    """Resolved, fetched packages, in the order ``pkg_add`` must install them."""

    directory: Path  # where the files are (served as the package directory)
    packages: tuple[Package, ...]
    index_sha256: str  # the index they were resolved from, for the image manifest
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def files(self) -> list[Path]:
        return [self.directory / p.file_name for p in self.packages]

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.packages]


def packages_dir(entry_os: str, release_dir: str, arch: str) -> Path:
    """The media-cache directory of a release's binary packages."""
    try:
        from .fetch import media_root
        root = media_root()
    except ImportError:
        from ..paths import cache_root
        root = cache_root() / "media"
    return root / entry_os / release_dir / "packages" / arch


def fetch_python(entry_os: str, name: str, pkg_url: str, directory: Path) -> PackageSet:
    """Resolve ``name`` (the catalog's python_package) and its dependencies
    from the repository at ``pkg_url``, fetched into ``directory``."""
    base = pkg_url.rstrip("/")
    directory.mkdir(parents=True, exist_ok=True)
    if entry_os == "netbsd":
        # pkg_summary lives in the All/ directory beside the packages.
        index = download(base + "/pkg_summary.gz", directory / "pkg_summary.gz", refresh=True)
        digest = hashlib.sha256(index.read_bytes()).hexdigest()
        try:
            text = gzip.decompress(index.read_bytes()).decode("utf-8", errors="replace")
        except (OSError, EOFError) as exc:
            index.unlink()
            raise HostError("%s/pkg_summary.gz is not gzip data: %s" % (base, exc)) from exc
        ordered = resolve_netbsd(name, parse_pkg_summary(text))
        for pkg in ordered:
            download("%s/%s" % (base, pkg.file_name), directory / pkg.file_name, expected_size=pkg.size)
        return PackageSet(directory, tuple(ordered), digest)
    if entry_os == "openbsd":
        index = download(base + "/index.txt", directory / "index.txt", refresh=True)
        digest = hashlib.sha256(index.read_bytes()).hexdigest()
        files = parse_openbsd_index(index.read_text(errors="replace"))
        ordered = resolve_openbsd(
            name, files, lambda f: download("%s/%s" % (base, f), directory / f))
        return PackageSet(directory, tuple(ordered), digest)
    raise ConfigError("binary packages are resolved for netbsd and openbsd, not %r" % entry_os)
