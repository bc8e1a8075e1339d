"""NetBSD and OpenBSD install media: downloaded from a mirror into the media
cache, verified against the release's checksum file, and only then handed
out.

Layout (independent of the mirror, so switching mirrors reuses the cache)::

    <media root>/<os>/<release_dir>/<media path>            the verified file
    <media root>/<os>/<release_dir>/<media path>.verified   stamp: digest, size, mtime, checksum file hash
    <media root>/<os>/<release_dir>/<media path>.part       a download in progress (resumed from here)
    <media root>/<os>/<release_dir>/<media path>.lock       held while one process downloads or checks it
    <media root>/<os>/<release_dir>/<dir>/SHA512            NetBSD's checksum file of that directory
    <media root>/<os>/<release_dir>/<dir>/SHA256.sig        OpenBSD's signed one

where the media root is ``$XDG_CACHE_HOME/trapline/media``.  Every media file
is checked against the checksum file of its own directory
(:data:`harness.images.verify.CHECKSUM_FILE`), fetched fresh from the mirror
whenever a file of that directory has to be downloaded or checked.  A file is
renamed from ``.part`` to its name only after it matched, so the cache never
holds an unverified file under a media name; the stamp lets later calls skip
rehashing gigabytes, and a file whose size or modification time changed since
its stamp was written is checked again (and downloaded again if it no longer
matches).  Everything for one file happens under its file lock, so parallel
workers (threads or processes) download it once and never see it half
written.

The mirror comes from ``--mirror``, else the OS's ``TRAPLINE_*_MIRROR``
variable, else the catalog; ``file:///dir`` serves a local copy of a mirror.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import filelock
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from ..errors import ConfigError, HostError, Timeout, TraplineError
from ..paths import cache_root
from .catalog import CatalogEntry

if TYPE_CHECKING:
    from .signify import PublicKey

log = logging.getLogger(__name__)

# How long to wait for a mirror to accept the connection: a host that does
# not answer within this is down or unreachable, and waiting longer only
# delays the error that says so.
CONNECT_TIMEOUT = 30.0
# How long one read of the body may stall: a CDN under load pauses for tens
# of seconds now and then; past this the connection is dropped and the
# download resumes from where it stopped on a new one.
READ_TIMEOUT = 120.0
# How many times one download is started before giving up, as long as each
# try stopped in the middle of the body (a cut connection, a stalled read).
DOWNLOAD_ATTEMPTS = 4
# How long a worker waits for another process that is downloading or
# checking the same file: an install ISO over a slow link can take an hour.
LOCK_TIMEOUT = 4 * 3600.0

MIRROR_ENV = {"netbsd": "TRAPLINE_NETBSD_MIRROR", "openbsd": "TRAPLINE_OPENBSD_MIRROR"}
PART_SUFFIX = ".part"
STAMP_SUFFIX = ".verified"
LOCK_SUFFIX = ".lock"
_SIDECARS = (PART_SUFFIX, STAMP_SUFFIX, LOCK_SUFFIX)
_CHUNK = 1 << 20
_USER_AGENT = "trapline-fetch/1 (Python urllib)"
_STAMP_FORMAT = 1


def media_root(cache: Path | None = None) -> Path:
    """The media cache: ``cache`` when given, else ``$XDG_CACHE_HOME/trapline/media``."""
    return cache if cache is not None else cache_root() / "media"


def release_cache(entry: CatalogEntry, cache: Path | None = None) -> Path:
    """Where ``entry``'s release tree is mirrored in the cache."""
    return media_root(cache) / entry.os / entry["release_dir"]


# ---------------------------------------------------------------- the mirror


@dataclass(frozen=True)
class Mirror:
    """The mirror a fetch uses, and where that choice came from (for errors)."""

    url: str  # without a trailing slash
    source: str  # "--mirror", the environment variable's name, or the catalog file

    def hint(self, os_name: str) -> str:
        return ("the mirror is %s (from %s); pick another with --mirror URL or %s, or a local copy "
                "with file:///dir" % (self.url, self.source, MIRROR_ENV.get(os_name, "--mirror")))


def _check_mirror(url: str, source: str) -> str:
    if not re.match(r"^(https?://[^\s/]+|file:///)", url):
        raise ConfigError("mirror %r (from %s) is not an http://, https:// or file:/// URL" % (url, source),
                          hint="e.g. https://cdn.openbsd.org/pub/OpenBSD or file:///srv/mirror/OpenBSD")
    return url.rstrip("/")


def resolve_mirror(entry: CatalogEntry, mirror: str | None = None) -> Mirror:
    """``mirror`` (``--mirror``) if given, else the OS's ``TRAPLINE_*_MIRROR``, else the catalog's."""
    _require_media(entry)
    if mirror:
        return Mirror(_check_mirror(mirror, "--mirror"), "--mirror")
    variable = MIRROR_ENV[entry.os]
    from_env = os.environ.get(variable)
    if from_env:
        return Mirror(_check_mirror(from_env, variable), variable)
    source = "the catalog (%s)" % entry.source
    return Mirror(_check_mirror(entry["mirror"], source), source)


def media_url(mirror: Mirror, entry: CatalogEntry, path: str) -> str:
    """The URL of ``path`` (relative to the release directory) on ``mirror``."""
    return "%s/%s/%s" % (mirror.url, urllib.parse.quote(entry["release_dir"]), urllib.parse.quote(path))


def _require_media(entry: CatalogEntry) -> None:
    if entry.os not in MIRROR_ENV or "media" not in entry.settings:
        raise ConfigError("%s has no install media to fetch: %s targets are built another way"
                          % (entry.name, entry.os), target=entry.name)


# ---------------------------------------------------------------- downloading


class _ConnectThenReadTimeout:
    """Gives an HTTP connection the connect timeout while connecting and the
    read timeout afterwards; urllib alone has one timeout for both."""

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self.sock.settimeout(READ_TIMEOUT)  # type: ignore[attr-defined]


class _HTTPConnection(_ConnectThenReadTimeout, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_ConnectThenReadTimeout, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPSConnection, req)


_OPENER = urllib.request.build_opener(_HTTPHandler, _HTTPSHandler)


class _Bar:
    """One file's progress bar (a no-op when progress is off)."""

    def __init__(self, progress: Progress | None, label: str) -> None:
        self._progress = progress
        self._task = progress.add_task(label, total=None) if progress is not None else None

    def reset(self, completed: int, total: int | None) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=completed, total=total)

    def advance(self, n: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, n)


def _content_range_start(value: str | None) -> tuple[int, int | None] | None:
    """(first byte, full length or None) of a ``Content-Range: bytes a-b/n`` header."""
    match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", value or "")
    if not match:
        return None
    return int(match.group(1)), int(match.group(3)) if match.group(3).isdigit() else None


def _download_to_part(url: str, part: Path, *, hint: str, bar: _Bar) -> None:
    """Fill ``part`` with the body of ``url``, resuming from what ``part``
    already holds (HTTP Range).  A server that answers a range request with
    the whole file gets ``part`` rewritten from the start.  Returns when the
    body is complete, as far as the server's length says."""
    attempts = 0
    restarted = False
    while True:
        attempts += 1
        offset = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
        if offset:
            request.add_header("Range", "bytes=%d-" % offset)
        try:
            reply = _OPENER.open(request, timeout=CONNECT_TIMEOUT)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 416 and offset and not restarted:
                # Nothing left to send from ``offset``: either the partial
                # file is already whole (a run stopped between download and
                # verification), or it is longer than the mirror's file,
                # which changed since; then start over.
                full = re.fullmatch(r"\s*bytes\s+\*/(\d+)\s*", exc.headers.get("Content-Range") or "")
                if full and int(full.group(1)) == offset:
                    return
                log.info("%s: the mirror refused to resume at byte %d (HTTP 416); starting over", url, offset)
                part.unlink()
                restarted = True
                continue
            raise HostError("cannot download %s: HTTP %d %s" % (url, exc.code, exc.reason), hint=hint) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise HostError("cannot download %s: %s" % (url, reason), hint=hint) from exc
        with reply:
            status = getattr(reply, "status", None)
            total: int | None
            if offset and status == 206:
                start = _content_range_start(reply.headers.get("Content-Range"))
                if start is None or start[0] != offset:
                    if restarted:
                        raise HostError("cannot download %s: asked for bytes from %d, the server sent range %r"
                                        % (url, offset, reply.headers.get("Content-Range")), hint=hint)
                    log.info("%s: the server sent another range than asked; starting over", url)
                    part.unlink()
                    restarted = True
                    continue
                total = start[1]
                mode = "ab"
            else:
                if offset:
                    # Status 200 to a range request (or a file:// URL): the body is the whole file.
                    log.info("%s: the server ignored the range request; downloading from the start", url)
                length = reply.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                offset = 0
                mode = "wb"
            bar.reset(offset, total)
            failure: BaseException | None = None
            with open(part, mode) as out:
                while True:
                    try:
                        chunk = reply.read(_CHUNK)
                    except (http.client.HTTPException, OSError) as exc:
                        failure = exc
                        break
                    if not chunk:
                        break
                    out.write(chunk)
                    bar.advance(len(chunk))
        got = part.stat().st_size
        if failure is None and (total is None or got >= total):
            return
        why = failure if failure is not None else "connection closed at byte %d of %d" % (got, total or 0)
        if attempts >= DOWNLOAD_ATTEMPTS:
            raise HostError("cannot download %s: %s (%d tries; the partial file %s is kept and resumed next time)"
                            % (url, why, attempts, part), hint=hint)
        log.info("%s: %s; resuming at byte %d", url, why, got)


@contextlib.contextmanager
def _locked(path: Path, what: str) -> Iterator[None]:
    """Hold ``path``'s file lock (``<path>.lock``), saying so when another
    worker has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + LOCK_SUFFIX)
    lock = filelock.FileLock(str(lock_path))
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        log.info("another worker is fetching %s; waiting for it (lock %s)", what, lock_path)
        try:
            lock.acquire(timeout=LOCK_TIMEOUT)
        except filelock.Timeout:
            raise Timeout("another process holds the lock of %s" % what, waited=LOCK_TIMEOUT,
                          timeout_name="fetch.LOCK_TIMEOUT",
                          hint="if no harness is running, remove %s" % lock_path) from None
    try:
        yield
    finally:
        lock.release()


def download_file(url: str, dest: Path, *, hint: str, check: Callable[[Path], Any] | None = None,
                  progress: bool = True, label: str | None = None) -> Path:
    """Download ``url`` to ``dest`` under ``dest``'s lock: resumable through
    ``dest.part``, renamed to ``dest`` only after ``check(part)`` returned
    (``check`` raises, and removes the part, when the bytes are wrong).

    An existing ``dest`` is replaced.  This is the primitive under
    :func:`fetch_media`; other fetchers (binary packages) can use it too."""
    with _locked(dest, dest.name), _progress(progress) as bars:
        _fetch_locked(url, dest, hint=hint, check=check, bar=_Bar(bars, label or dest.name))
    return dest


def _fetch_locked(url: str, dest: Path, *, hint: str, check: Callable[[Path], Any] | None, bar: _Bar) -> Any:
    part = dest.with_name(dest.name + PART_SUFFIX)
    _download_to_part(url, part, hint=hint, bar=bar)
    try:
        result = check(part) if check is not None else None
    except BaseException:
        # Bytes that failed their check are never resumed from.
        part.unlink(missing_ok=True)
        raise
    part.replace(dest)
    return result


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[Progress | None]:
    console = Console(stderr=True)
    # Progress bars only where someone watches: a CI log gets the log lines.
    if not enabled or not console.is_terminal:
        yield None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=console) as bars:
        yield bars


# ---------------------------------------------------------------- stamps


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + STAMP_SUFFIX)


def _write_stamp(path: Path, algorithm: str, digest: str, checksum_path: Path) -> None:
    st = path.stat()
    stamp = {
        "format": _STAMP_FORMAT,
        "algorithm": algorithm,
        "digest": digest,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "checksum_file": checksum_path.name,
        "checksum_sha256": _file_sha256(checksum_path),
    }
    target = _stamp_path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(stamp, sort_keys=True) + "\n")
    tmp.replace(target)


def _stamp_valid(path: Path, checksum_path: Path) -> bool:
    """Whether ``path`` was verified and is unchanged since: same size and
    modification time as then, against the same checksum file."""
    try:
        stamp = json.loads(_stamp_path(path).read_text())
        st = path.stat()
        return (stamp.get("format") == _STAMP_FORMAT and stamp["size"] == st.st_size
                and stamp["mtime_ns"] == st.st_mtime_ns
                and stamp["checksum_sha256"] == _file_sha256(checksum_path))
    except (OSError, ValueError, KeyError, TypeError):
        return False


# ---------------------------------------------------------------- media


def _checksum_name(entry: CatalogEntry) -> str:
    from .verify import CHECKSUM_FILE
    return CHECKSUM_FILE[entry.os]


def _by_directory(entry: CatalogEntry) -> dict[str, list[str]]:
    """The media paths grouped by their directory ('' for the release directory itself)."""
    groups: dict[str, list[str]] = {}
    for path in entry["media"]:
        groups.setdefault(path.rpartition("/")[0], []).append(path)
    return groups


def _join(directory: str, name: str) -> str:
    return "%s/%s" % (directory, name) if directory else name


def _expected(entry: CatalogEntry, checksum_path: Path, public_key: PublicKey | None) -> Mapping[str, Any]:
    from .verify import expected_digests
    return expected_digests(entry.os, entry.release, checksum_path, public_key=public_key)


def _refresh_checksum(entry: CatalogEntry, mirror: Mirror, directory: str, root: Path,
                      public_key: PublicKey | None, bars: Progress | None) -> tuple[Path, Mapping[str, Any]]:
    """Download the checksum file of ``directory`` afresh and read its
    digests (for OpenBSD, after checking its signature).  One that cannot be
    read or whose signature is wrong is removed: nothing unverified stays."""
    relative = _join(directory, _checksum_name(entry))
    dest = root / relative
    url = media_url(mirror, entry, relative)
    with _locked(dest, relative):
        part = dest.with_name(dest.name + PART_SUFFIX)
        # A checksum file is small and may have changed: never resumed.
        part.unlink(missing_ok=True)
        _fetch_locked(url, dest, hint=mirror.hint(entry.os), check=None, bar=_Bar(bars, relative))
        try:
            digests = _expected(entry, dest, public_key)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
    return dest, digests


def _media_files(entry: CatalogEntry, root: Path) -> dict[str, Path]:
    return {path: root / path for path in entry["media"]}


@contextlib.contextmanager
def _naming_target(entry: CatalogEntry) -> Iterator[None]:
    try:
        yield
    except TraplineError as exc:
        if exc.target is None:
            exc.target = entry.name
        raise


def fetch_media(entry: CatalogEntry, *, mirror: str | None = None, cache: Path | None = None,
                public_key: PublicKey | None = None, progress: bool = True) -> dict[str, Path]:
    """Every ``entry["media"]`` path mapped to its verified file in the cache,
    downloading and verifying what is missing or changed.

    ``mirror`` overrides the environment and the catalog; ``cache`` the media
    root; ``public_key`` the OpenBSD release key the checksum file is
    checked with (tests).  Raises :class:`HostError` naming the URL for a
    download that fails and :class:`harness.images.verify.VerificationError`
    naming the file, the expected and the actual digest for a file that does
    not match (that file is removed).
    """
    from .verify import VerificationError, verify_file

    source = resolve_mirror(entry, mirror)
    root = release_cache(entry, cache)
    files = _media_files(entry, root)
    checksum_name = _checksum_name(entry)
    with _progress(progress) as bars, _naming_target(entry):
        for directory, paths in _by_directory(entry).items():
            checksum_path = root / _join(directory, checksum_name)
            pending = [p for p in paths if not _stamp_valid(files[p], checksum_path)]
            if not pending:
                continue
            checksum_path, digests = _refresh_checksum(entry, source, directory, root, public_key, bars)
            for path in pending:
                dest = files[path]
                name = dest.name

                def check(candidate: Path, name: str = name, digests: Mapping[str, Any] = digests,
                          checksum_path: Path = checksum_path) -> tuple[str, str]:
                    digest = verify_file(candidate, name, digests, checksum_path=checksum_path)
                    return digests[name][0], digest

                with _locked(dest, path):
                    if _stamp_valid(dest, checksum_path):  # another worker got it while we waited
                        continue
                    _stamp_path(dest).unlink(missing_ok=True)
                    if dest.exists():
                        try:
                            algorithm, digest = check(dest)
                        except VerificationError as exc:
                            # Changed since it was checked (a damaged disk, an
                            # interrupted copy): the mirror's copy replaces it.
                            log.warning("%s: cached %s no longer matches its checksum (%s); downloading it again",
                                        entry.name, path, exc.message)
                        else:
                            _write_stamp(dest, algorithm, digest, checksum_path)
                            continue
                    algorithm, digest = _fetch_locked(media_url(source, entry, path), dest,
                                                      hint=source.hint(entry.os), check=check, bar=_Bar(bars, path))
                    _write_stamp(dest, algorithm, digest, checksum_path)
    return files


def media_state(entry: CatalogEntry, cache: Path | None = None) -> str:
    """``verified`` when every media file is in the cache and unchanged since
    it was verified, ``downloaded`` when every one is there but some were not
    verified (or changed since), else ``absent``.  Reads no file contents
    beyond the small checksum files."""
    _require_media(entry)
    root = release_cache(entry, cache)
    checksum_name = _checksum_name(entry)
    files = _media_files(entry, root)
    if not all(p.is_file() for p in files.values()):
        return "absent"
    for path, local in files.items():
        if not _stamp_valid(local, root / _join(path.rpartition("/")[0], checksum_name)):
            return "downloaded"
    return "verified"


def verify_cached(entry: CatalogEntry, *, cache: Path | None = None,
                  public_key: PublicKey | None = None) -> dict[str, Path]:
    """Hash every cached media file of ``entry`` again against the cached
    checksum file of its directory (no network), whatever the stamps say.

    Files that match get a fresh stamp and are returned; a file that does not
    match is removed.  Raises :class:`~harness.images.verify.VerificationError`
    naming every file that is missing or wrong."""
    from .verify import VerificationError, verify_file

    _require_media(entry)
    root = release_cache(entry, cache)
    checksum_name = _checksum_name(entry)
    files = _media_files(entry, root)
    problems: list[str] = []
    good: dict[str, Path] = {}
    for directory, paths in _by_directory(entry).items():
        checksum_path = root / _join(directory, checksum_name)
        if not checksum_path.is_file():
            problems += ["%s: not in the cache (no %s beside it)" % (p, checksum_path) for p in paths]
            continue
        digests = _expected(entry, checksum_path, public_key)
        for path in paths:
            dest = files[path]
            with _locked(dest, path):
                if not dest.is_file():
                    problems.append("%s: not in the cache (%s)" % (path, dest))
                    continue
                _stamp_path(dest).unlink(missing_ok=True)
                try:
                    digest = verify_file(dest, dest.name, digests, checksum_path=checksum_path)
                except VerificationError as exc:
                    problems.append(exc.message)
                    continue
                _write_stamp(dest, digests[dest.name][0], digest, checksum_path)
                good[path] = dest
    if problems:
        raise VerificationError("%s: %d of %d media files failed verification:\n  %s"
                                % (entry.name, len(problems), len(files), "\n  ".join(problems)),
                                target=entry.name,
                                hint="harness images fetch %s downloads them again" % entry.name)
    return good


# ---------------------------------------------------------------- pruning


@dataclass
class PruneResult:
    """What :func:`prune_media` removed (or would remove, on a dry run)."""

    dry_run: bool
    removed: list[tuple[Path, int]] = field(default_factory=list)  # (path, bytes)
    in_use: list[Path] = field(default_factory=list)  # locked by a running fetch: left alone

    @property
    def freed_bytes(self) -> int:
        return sum(size for _, size in self.removed)


def _kept_files(catalog: Mapping[str, CatalogEntry], keep: Collection[str], root: Path
                ) -> tuple[set[Path], set[Path]]:
    """(media and checksum files to keep, package directories to keep) of the ``keep`` targets."""
    from .verify import CHECKSUM_FILE

    files: set[Path] = set()
    package_dirs: set[Path] = set()
    for name in keep:
        entry = catalog[name]
        if entry.os not in MIRROR_ENV or "media" not in entry.settings:
            continue
        release = root / entry.os / entry["release_dir"]
        for path in entry["media"]:
            files.add(release / path)
            files.add(release / _join(path.rpartition("/")[0], CHECKSUM_FILE[entry.os]))
        # harness.images.packages keeps each release's binary packages here.
        package_dirs.add(release / "packages" / entry.arch)
    return files, package_dirs


def _base_of(path: Path) -> Path:
    """The media or checksum file a cache file belongs to (itself, or the
    file its part, stamp, lock or half-written stamp is for)."""
    name = path.name.removesuffix(".tmp") or path.name
    for suffix in _SIDECARS:
        if name.endswith(suffix) and len(name) > len(suffix):
            return path.with_name(name[:-len(suffix)])
    return path.with_name(name)


def prune_media(catalog: Mapping[str, CatalogEntry], keep: Collection[str] | None = None, *,
                cache: Path | None = None, dry_run: bool = False) -> PruneResult:
    """Remove from the media cache what no kept target needs: media (and
    their stamps, locks, checksum files, binary packages) of targets not in
    ``keep`` (by default: every target of ``catalog``), and every ``.part``
    left by a cut download.  A file whose lock a running fetch holds is left
    alone and listed in ``in_use``."""
    root = media_root(cache)
    keep = list(catalog) if keep is None else list(keep)
    unknown = [name for name in keep if name not in catalog]
    if unknown:
        raise ConfigError("cannot keep %s: not in the catalog" % ", ".join(unknown),
                          hint="known targets: %s" % ", ".join(catalog))
    kept_files, kept_package_dirs = _kept_files(catalog, keep, root)
    result = PruneResult(dry_run=dry_run)
    if not root.is_dir():
        return result
    groups: dict[Path, list[Path]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        if any(parent in kept_package_dirs for parent in path.parents):
            continue  # harness.images.packages owns these (and its own temporary files)
        groups.setdefault(_base_of(path), []).append(path)
    for base, members in groups.items():
        if base in kept_files:
            doomed = [p for p in members if p.name.endswith(PART_SUFFIX)]
        else:
            # The lock goes last: it is what keeps a racing fetch out meanwhile.
            doomed = sorted(members, key=lambda p: p.name.endswith(LOCK_SUFFIX))
        if doomed:
            _remove_group(base, doomed, result)
    if not dry_run:
        for directory in sorted((d for d in root.rglob("*") if d.is_dir()), key=lambda d: len(d.parts),
                                reverse=True):
            with contextlib.suppress(OSError):
                directory.rmdir()  # only empty ones go
    return result


def _remove_group(base: Path, doomed: list[Path], result: PruneResult) -> None:
    lock_path = base.with_name(base.name + LOCK_SUFFIX)
    lock = filelock.FileLock(str(lock_path)) if lock_path.exists() else None
    if lock is not None:
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            result.in_use.append(base)
            return
    try:
        for path in doomed:
            try:
                size = path.lstat().st_size
            except FileNotFoundError:
                continue
            if not result.dry_run:
                # A lock file unlinked while held is safe: a waiter that
                # opened it sees it unlinked and opens the new one.
                path.unlink(missing_ok=True)
            result.removed.append((path, size))
    finally:
        if lock is not None:
            lock.release()
