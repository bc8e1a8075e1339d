"""Fetching BSD install media: download, resume, verify, cache, lock, prune,
and the ``harness images fetch|verify|prune|list`` commands, all against a
real HTTP server on 127.0.0.1 (tests/fakes/mirror.py)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness import cli
from harness.errors import ConfigError, HostError
from harness.images import fetch
from harness.images.catalog import CatalogEntry, load_catalog_file
from harness.images.fetch import fetch_media, media_state, prune_media, verify_cached
from tests.fakes.mirror import (
    NETBSD_AARCH64,
    NETBSD_AMD64,
    OPENBSD_AMD64,
    FakeMirror,
    TestSigner,
    write_catalog,
)

REPO = Path(__file__).resolve().parents[2]
NETBSD_IMAGE = "images/NetBSD-10.1-amd64-live.img.gz"
NETBSD_OTHER = "images/NetBSD-10.1-amd64.iso"  # on the mirror, not in the target's media
OPENBSD_MEDIA = ("amd64/cd79.iso", "amd64/bsd.rd", "amd64/base79.tgz")


@dataclass
class Published:
    """A target whose release tree the fake mirror serves."""

    entry: CatalogEntry
    files: dict[str, bytes]  # media path -> the bytes served
    catalog: Path  # the catalog file the entry was loaded from
    public_key: Any = None  # the OpenBSD test key, parsed
    key_text: str = ""  # and as a signify .pub file holds it

    def url_path(self, media_path: str) -> str:
        return FakeMirror.url_path(self.entry.os, self.entry["release_dir"], media_path)


@pytest.fixture
def mirror() -> Any:
    with FakeMirror() as served:
        yield served


@pytest.fixture
def media(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The media cache, under a temporary XDG_CACHE_HOME with no mirror variables set."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    for variable in fetch.MIRROR_ENV.values():
        monkeypatch.delenv(variable, raising=False)
    return tmp_path / "xdg" / "trapline" / "media"


def load_entry(tmp_path: Path, target: str, mirror_url: str) -> tuple[CatalogEntry, Path]:
    directory = write_catalog(tmp_path / ("catalog-%s" % uuid.uuid4().hex[:8]), {target: mirror_url})
    path = directory / ("%s.toml" % target.split("-", maxsplit=1)[0])
    return load_catalog_file(path)[target], path


def publish_netbsd(tmp_path: Path, mirror: FakeMirror, target: str = NETBSD_AMD64,
                   mirror_url: str | None = None) -> Published:
    entry, path = load_entry(tmp_path, target, mirror_url or mirror.base_url("netbsd"))
    extra = [NETBSD_OTHER] if target == NETBSD_AMD64 else []
    files = mirror.publish("netbsd", entry.release, entry["release_dir"], entry["media"], extra=extra)
    return Published(entry, files, path)


def publish_openbsd(tmp_path: Path, mirror: FakeMirror) -> Published:
    entry, path = load_entry(tmp_path, OPENBSD_AMD64, mirror.base_url("openbsd"))
    signer = TestSigner("7.9")
    files = mirror.publish("openbsd", entry.release, entry["release_dir"], entry["media"], signer=signer,
                           extra=["amd64/bsd", "amd64/comp79.tgz"])
    return Published(entry, files, path, signer.public_key(), signer.public_text)


def cached(media: Path, published: Published, path: str) -> Path:
    return media / published.entry.os / published.entry["release_dir"] / path


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith((".part", ".verified")))


# ---------------------------------------------------------------- download and verify


def test_netbsd_media_downloaded_verified_and_then_served_from_the_cache(
        tmp_path: Path, mirror: FakeMirror, media: Path) -> None:
    target = publish_netbsd(tmp_path, mirror)
    assert media_state(target.entry) == "absent"
    files = fetch_media(target.entry, progress=False)
    local = cached(media, target, NETBSD_IMAGE)
    assert files == {NETBSD_IMAGE: local}
    assert local.read_bytes() == target.files[NETBSD_IMAGE]
    assert (local.parent / "SHA512").read_bytes().startswith(b"SHA512 (NetBSD-10.1-amd64-live.img.gz) = ")
    assert [(r.path, r.range, r.status) for r in mirror.requests] == [
        (target.url_path("images/SHA512"), None, 200),
        (target.url_path(NETBSD_IMAGE), None, 200),
    ]
    assert leftovers(local.parent) == ["NetBSD-10.1-amd64-live.img.gz.verified"]
    assert media_state(target.entry) == "verified"
    # Verified and unchanged: no request at all the second time.
    assert fetch_media(target.entry, progress=False) == files
    assert len(mirror.requests) == 2


def test_openbsd_media_verified_against_the_signed_sha256(tmp_path: Path, mirror: FakeMirror, media: Path) -> None:
    target = publish_openbsd(tmp_path, mirror)
    files = fetch_media(target.entry, public_key=target.public_key, progress=False)
    assert sorted(files) == sorted(OPENBSD_MEDIA)
    for path in OPENBSD_MEDIA:
        assert files[path] == cached(media, target, path)
        assert files[path].read_bytes() == target.files[path]
        assert mirror.count(target.url_path(path)) == 1
    # One checksum file for the directory, not one per file; the sets the
    # target does not name are never fetched.
    assert mirror.count(target.url_path("amd64/SHA256.sig")) == 1
    assert mirror.count(target.url_path("amd64/bsd")) == 0
    assert (media / "openbsd" / "7.9" / "amd64" / "SHA256.sig").is_file()
    assert media_state(target.entry) == "verified"


def test_openbsd_checksum_file_signed_by_another_key_is_refused(
        tmp_path: Path, mirror: FakeMirror, media: Path) -> None:
    from harness.images.verify import VerificationError

    target = publish_openbsd(tmp_path, mirror)
    stranger = TestSigner("7.9").public_key()
    with pytest.raises(VerificationError):
        fetch_media(target.entry, public_key=stranger, progress=False)
    release = media / "openbsd" / "7.9" / "amd64"
    assert sorted(p.name for p in release.iterdir() if not p.name.endswith(".lock")) == []
    assert mirror.count(target.url_path("amd64/cd79.iso")) == 0


def test_each_file_is_checked_against_the_checksum_file_of_its_own_directory(
        tmp_path: Path, mirror: FakeMirror, media: Path) -> None:
    target = publish_netbsd(tmp_path, mirror, NETBSD_AARCH64)
    files = fetch_media(target.entry, progress=False)
    for path, data in target.files.items():
        assert files[path].read_bytes() == data
        sums = files[path].parent / "SHA512"
        assert sums.read_bytes() == b"SHA512 (%s) = %s\n" % (
            files[path].name.encode(), hashlib.sha512(data).hexdigest().encode())
    assert mirror.count(target.url_path("evbarm-aarch64/binary/gzimg/SHA512")) == 1
    assert mirror.count(target.url_path("evbarm-aarch64/binary/kernel/SHA512")) == 1


# ---------------------------------------------------------------- resume


def test_cut_connection_resumes_with_a_range_from_the_cut(tmp_path: Path, mirror: FakeMirror, media: Path) -> None:
    target = publish_netbsd(tmp_path, mirror)
    url_path = target.url_path(NETBSD_IMAGE)
    mirror.cut_after(url_path, 70_001)
    files = fetch_media(target.entry, progress=False)
    assert files[NETBSD_IMAGE].read_bytes() == target.files[NETBSD_IMAGE]
    assert [(r.range, r.status) for r in mirror.requests_of(url_path)] == [(None, 200), ("bytes=70001-", 206)]
    assert leftovers(files[NETBSD_IMAGE].parent) == ["NetBSD-10.1-amd64-live.img.gz.verified"]


def test_server_ignoring_range_restarts_from_the_first_byte(tmp_path: Path, mirror: FakeMirror,
                                                             media: Path) -> None:
    target = publish_netbsd(tmp_path, mirror)
    url_path = target.url_path(NETBSD_IMAGE)
    mirror.cut_after(url_path, 50_000)
    mirror.ignore_range = True
    files = fetch_media(target.entry, progress=False)
    # The second answer is the whole file (200): written from the start, not appended.
    assert [(r.range, r.status) for r in mirror.requests_of(url_path)] == [(None, 200), ("bytes=50000-", 200)]
    assert files[NETBSD_IMAGE].read_bytes() == target.files[NETBSD_IMAGE]


def test_partial_file_from_an_earlier_run_is_resumed(tmp_path: Path, mirror: FakeMirror, media: Path) -> None:
    target = publish_netbsd(tmp_path, mirror)
    part = cached(media, target, NETBSD_IMAGE + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(target.files[NETBSD_IMAGE][:12_345])
    files = fetch_media(target.entry, progress=False)
    assert [r.range for r in mirror.requests_of(target.url_path(NETBSD_IMAGE))] == ["bytes=12345-"]
    assert files[NETBSD_IMAGE].read_bytes() == target.files[NETBSD_IMAGE]
    assert not part.exists()


def test_whole_partial_file_is_verified_without_downloading_again(
        tmp_path: Path, mirror: FakeMirror, media: Path) -> None:
    target = publish_netbsd(tmp_path, mirror)
    part = cached(media, target, NETBSD_IMAGE + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(target.files[NETBSD_IMAGE])  # a run stopped between download and verification
    files = fetch_media(target.entry, progress=False)
    size = len(target.files[NETBSD_IMAGE])
    assert [(r.range, r.status) for r in mirror.requests_of(target.url_path(NETBSD_IMAGE))] == [
        ("bytes=%d-" % size, 416)]
    assert files[NETBSD_IMAGE].read_bytes() == target.files[NETBSD_IMAGE]
    assert media_state(target.entry) == "verified"


def test_partial_file_longer_than_the_mirrors_starts_over(tmp_path: Path, mirror: FakeMirror, media: Path) -> None:
    target = publish_netbsd(tmp_path, mirror)
    part = cached(media, target, NETBSD_IMAGE + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(os.urandom(len(target.files[NETBSD_IMAGE]) + 10))
    files = fetch_media(target.entry, progress=False)
    assert [(r.range, r.status) for r in mirror.requests_of(target.url_path(NETBSD_IMAGE))] == [
        ("bytes=%d-" % (len(target.files[NETBSD_IMAGE]) + 10), 416), (None, 200)]
    assert files[NETBSD_IMAGE].read_bytes() == target.files[NETBSD_IMAGE]


# ---------------------------------------------------------------- bad bytes


def test_tampered_file_is_rejected_and_nothing_is_left(tmp_path: Path, mirror: FakeMirror, media: Path) -> None:
    from harness.images.verify import VerificationError

    target = publish_netbsd(tmp_path, mirror)
    served = mirror.tamper(target.url_path(NETBSD_IMAGE))
    with pytest.raises(VerificationError) as raised:
        fetch_media(target.entry, progress=False)
    message = str(raised.value)
    assert "NetBSD-10.1-amd64-live.img.gz" in message
    assert hashlib.sha512(target.files[NETBSD_IMAGE]).hexdigest() in message
    assert hashlib.sha512(served).hexdigest() in message
    directory = cached(media, target, "images")
    assert sorted(p.name for p in directory.iterdir()) == ["NetBSD-10.1-amd64-live.img.gz.lock", "SHA512",
                                                           "SHA512.lock"]
    assert media_state(target.entry) == "absent"


def test_cached_file_changed_after_verification_is_downloaded_again(
        tmp_path: Path, mirror: FakeMirror, media: Path) -> None:
    target = publish_netbsd(tmp_path, mirror)
    local = fetch_media(target.entry, progress=False)[NETBSD_IMAGE]
    with open(local, "r+b") as f:
        f.seek(1000)
        f.write(b"\xde\xad\xbe\xef")
    assert media_state(target.entry) == "downloaded"
    assert fetch_media(target.entry, progress=False) == {NETBSD_IMAGE: local}
    assert local.read_bytes() == target.files[NETBSD_IMAGE]
    assert mirror.count(target.url_path(NETBSD_IMAGE)) == 2
    assert media_state(target.entry) == "verified"


def test_downloaded_but_unstamped_file_is_verified_without_downloading(
        tmp_path: Path, mirror: FakeMirror, media: Path) -> None:
    target = publish_netbsd(tmp_path, mirror)
    local = fetch_media(target.entry, progress=False)[NETBSD_IMAGE]
    local.with_name(local.name + ".verified").unlink()
    assert media_state(target.entry) == "downloaded"
    fetch_media(target.entry, progress=False)
    assert mirror.count(target.url_path(NETBSD_IMAGE)) == 1
    assert mirror.count(target.url_path("images/SHA512")) == 2
    assert media_state(target.entry) == "verified"


def test_verify_cached_rehashes_and_removes_a_damaged_file(tmp_path: Path, mirror: FakeMirror,
                                                           media: Path) -> None:
    from harness.images.verify import VerificationError

    target = publish_openbsd(tmp_path, mirror)
    files = fetch_media(target.entry, public_key=target.public_key, progress=False)
    requests = len(mirror.requests)
    assert verify_cached(target.entry, public_key=target.public_key) == files
    damaged = files["amd64/bsd.rd"]
    stat = damaged.stat()
    data = bytearray(damaged.read_bytes())
    data[0] ^= 1
    damaged.write_bytes(bytes(data))
    # Same size and time as when it was stamped: only a full rehash sees it.
    os.utime(damaged, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert media_state(target.entry) == "verified"
    with pytest.raises(VerificationError) as raised:
        verify_cached(target.entry, public_key=target.public_key)
    assert "1 of 3 media files failed verification" in str(raised.value)
    assert "bsd.rd" in str(raised.value)
    assert hashlib.sha256(bytes(data)).hexdigest() in str(raised.value)
    assert not damaged.exists()
    assert media_state(target.entry) == "absent"
    assert len(mirror.requests) == requests  # verification never touches the network


# ---------------------------------------------------------------- errors


def test_missing_file_names_the_url_the_status_and_the_variable(tmp_path: Path, mirror: FakeMirror,
                                                                 media: Path) -> None:
    entry, _ = load_entry(tmp_path, NETBSD_AMD64, mirror.base_url("netbsd"))
    mirror.publish("netbsd", entry.release, entry["release_dir"], [NETBSD_OTHER])  # SHA512 there, image not
    with pytest.raises(HostError) as raised:
        fetch_media(entry, progress=False)
    url = mirror.base_url("netbsd") + "/NetBSD-10.1/" + NETBSD_IMAGE
    assert raised.value.message == "cannot download %s: HTTP 404 Not Found" % url
    assert raised.value.target == NETBSD_AMD64
    assert "--mirror URL or TRAPLINE_NETBSD_MIRROR" in (raised.value.hint or "")
    assert not cached(media, Published(entry, {}, Path()), NETBSD_IMAGE).exists()


def test_stalled_mirror_fails_after_the_read_timeout(tmp_path: Path, mirror: FakeMirror, media: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    target = publish_netbsd(tmp_path, mirror)
    monkeypatch.setattr(fetch, "READ_TIMEOUT", 0.2)
    mirror.hold(target.url_path("images/SHA512"))
    with pytest.raises(HostError, match=r"cannot download http://127\.0\.0\.1:\d+/pub/NetBSD/NetBSD-10\.1/"
                                        r"images/SHA512: timed out"):
        fetch_media(target.entry, progress=False)


def test_bad_mirror_url_is_a_config_error_naming_its_source(tmp_path: Path, mirror: FakeMirror, media: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    target = publish_netbsd(tmp_path, mirror)
    monkeypatch.setenv("TRAPLINE_NETBSD_MIRROR", "ftp.netbsd.org/pub/NetBSD")
    with pytest.raises(ConfigError, match=r"mirror 'ftp.netbsd.org/pub/NetBSD' \(from TRAPLINE_NETBSD_MIRROR\) "
                                          r"is not an http://, https:// or file:/// URL"):
        fetch_media(target.entry, progress=False)


# ---------------------------------------------------------------- mirrors


def test_file_mirror_serves_offline(tmp_path: Path, mirror: FakeMirror, media: Path) -> None:
    target = publish_netbsd(tmp_path, mirror)
    mirror.write_tree(tmp_path / "copy")
    files = fetch_media(target.entry, mirror="file://%s/pub/NetBSD" % (tmp_path / "copy"), progress=False)
    assert files[NETBSD_IMAGE].read_bytes() == target.files[NETBSD_IMAGE]
    assert mirror.requests == []
    assert media_state(target.entry) == "verified"


def test_environment_variable_overrides_the_catalog_mirror(tmp_path: Path, mirror: FakeMirror, media: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeMirror() as catalog_mirror:
        target = publish_netbsd(tmp_path, mirror, mirror_url=catalog_mirror.base_url("netbsd"))
        monkeypatch.setenv("TRAPLINE_NETBSD_MIRROR", mirror.base_url("netbsd"))
        files = fetch_media(target.entry, progress=False)
        assert catalog_mirror.requests == []
    assert mirror.count(target.url_path(NETBSD_IMAGE)) == 1
    assert files[NETBSD_IMAGE].read_bytes() == target.files[NETBSD_IMAGE]


def test_mirror_option_beats_the_environment_variable(tmp_path: Path, mirror: FakeMirror, media: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeMirror() as env_mirror:
        target = publish_netbsd(tmp_path, mirror, mirror_url=env_mirror.base_url("netbsd"))
        monkeypatch.setenv("TRAPLINE_NETBSD_MIRROR", env_mirror.base_url("netbsd"))
        files = fetch_media(target.entry, mirror=mirror.base_url("netbsd"), progress=False)
        assert env_mirror.requests == []
    assert mirror.count(target.url_path(NETBSD_IMAGE)) == 1
    assert files[NETBSD_IMAGE].read_bytes() == target.files[NETBSD_IMAGE]


# ---------------------------------------------------------------- parallel workers

_WORKER = """\
import sys
from pathlib import Path
from harness.images.catalog import load_catalog_file
from harness.images.fetch import fetch_media
entry = load_catalog_file(Path(sys.argv[1]))[sys.argv[2]]
print(fetch_media(entry, cache=Path(sys.argv[3]), progress=False)[sys.argv[4]])
"""


def test_parallel_threads_and_processes_download_once(tmp_path: Path, mirror: FakeMirror, media: Path) -> None:
    target = publish_netbsd(tmp_path, mirror)
    image = target.url_path(NETBSD_IMAGE)
    sums = target.url_path("images/SHA512")
    gate = mirror.hold(image)  # the first downloader waits inside the server until every worker queued
    results: list[Path] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(fetch_media(target.entry, cache=media, progress=False)[NETBSD_IMAGE])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    processes = [subprocess.Popen([sys.executable, "-c", _WORKER, str(target.catalog), NETBSD_AMD64, str(media),
                                   NETBSD_IMAGE], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    # Every worker read the checksum file before taking the file's lock.
    deadline = time.monotonic() + 60
    while ((mirror.count(sums) < 6 or mirror.arrivals(image) < 1) and time.monotonic() < deadline
           and all(p.poll() is None for p in processes)):
        time.sleep(0.05)
    assert mirror.count(sums) == 6
    time.sleep(0.5)  # room for a second download to start, if the lock let one through
    assert mirror.arrivals(image) == 1
    assert mirror.count(image) == 0  # still held in the server
    gate.set()
    for thread in threads:
        thread.join(60)
    outputs = [process.communicate(timeout=60) for process in processes]
    assert errors == []
    assert [p.returncode for p in processes] == [0, 0], [err for _, err in outputs]
    local = cached(media, target, NETBSD_IMAGE)
    assert results == [local] * 4
    assert [out.strip() for out, _ in outputs] == [str(local)] * 2
    assert mirror.count(image) == 1
    assert local.read_bytes() == target.files[NETBSD_IMAGE]


# ---------------------------------------------------------------- prune


def test_prune_removes_media_of_other_targets_and_partial_files(tmp_path: Path, mirror: FakeMirror,
                                                                media: Path) -> None:
    amd64 = publish_netbsd(tmp_path, mirror)
    aarch64 = publish_netbsd(tmp_path, mirror, NETBSD_AARCH64)
    fetch_media(amd64.entry, progress=False)
    gone = fetch_media(aarch64.entry, progress=False)
    stray = cached(media, amd64, NETBSD_IMAGE + ".part")
    stray.write_bytes(b"x" * 1000)
    packages = media / "netbsd" / "NetBSD-10.1" / "packages" / "amd64" / "python312-3.12.9.tgz"
    packages.parent.mkdir(parents=True)
    packages.write_bytes(b"p" * 10)
    catalog = {amd64.entry.name: amd64.entry, aarch64.entry.name: aarch64.entry}
    doomed = [gone[p] for p in aarch64.entry["media"]]
    sidecars = [p.with_name(p.name + suffix) for p in doomed for suffix in (".verified", ".lock")]
    sums = [p.with_name("SHA512") for p in doomed] + [p.with_name("SHA512.lock") for p in doomed]
    expected = sorted([*doomed, *sidecars, *sums, stray])
    expected_bytes = sum(p.stat().st_size for p in expected)

    dry = prune_media(catalog, keep=[NETBSD_AMD64], cache=media, dry_run=True)
    assert sorted(p for p, _ in dry.removed) == expected
    assert dry.freed_bytes == expected_bytes
    assert all(p.exists() for p in expected)

    done = prune_media(catalog, keep=[NETBSD_AMD64], cache=media)
    assert sorted(p for p, _ in done.removed) == expected
    assert done.freed_bytes == expected_bytes
    assert not any(p.exists() for p in expected)
    assert not (media / "netbsd" / "NetBSD-10.1" / "evbarm-aarch64").exists()
    assert packages.exists()
    assert media_state(amd64.entry, media) == "verified"
    assert prune_media(catalog, cache=media).removed == []


def test_prune_leaves_a_file_whose_fetch_is_running(tmp_path: Path, media: Path) -> None:
    import filelock

    part = media / "openbsd" / "7.4" / "amd64" / "install74.iso.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 10)
    with filelock.FileLock(str(part.with_name("install74.iso.lock"))):
        result = prune_media({}, cache=media)
    assert result.removed == []
    assert result.in_use == [part.with_name("install74.iso")]
    assert part.exists()


def test_prune_refuses_to_keep_an_unknown_target(media: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot keep netbsd-1\.0-amd64: not in the catalog"):
        prune_media({}, keep=["netbsd-1.0-amd64"], cache=media)


# ---------------------------------------------------------------- the CLI


@pytest.fixture
def fake_catalog(tmp_path: Path, mirror: FakeMirror, media: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The CLI's catalog replaced by the fake targets (NetBSD amd64 and OpenBSD amd64)."""
    from harness.cli import images as images_cli
    from harness.images.catalog import Catalog

    netbsd = publish_netbsd(tmp_path, mirror)
    openbsd = publish_openbsd(tmp_path, mirror)
    catalog = Catalog({netbsd.entry.name: netbsd.entry, openbsd.entry.name: openbsd.entry})
    monkeypatch.setattr(images_cli, "load_catalog", lambda: catalog)
    key = tmp_path / "openbsd-79-base.pub"
    key.write_text(openbsd.key_text)
    return netbsd, openbsd, key


def states(out: str) -> dict[str, str]:
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in out.splitlines() if "│" in line]
    return {row[0]: row[2] for row in rows if row and row[0]}


def test_cli_fetch_verify_list_and_prune(fake_catalog: Any, mirror: FakeMirror, media: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    netbsd, openbsd, key = fake_catalog
    assert cli.main(["images", "list"]) == 0
    assert states(capsys.readouterr().out) == {NETBSD_AMD64: "absent", OPENBSD_AMD64: "absent"}

    assert cli.main(["images", "fetch", NETBSD_AMD64, OPENBSD_AMD64, "--key", str(key)]) == 0
    err = capsys.readouterr().err
    assert "%s: 1 media file verified in %s" % (NETBSD_AMD64, media / "netbsd" / "NetBSD-10.1") in err
    assert "%s: 3 media files verified in %s" % (OPENBSD_AMD64, media / "openbsd" / "7.9") in err
    assert cli.main(["images", "list"]) == 0
    assert states(capsys.readouterr().out) == {NETBSD_AMD64: "verified", OPENBSD_AMD64: "verified"}

    local = cached(media, netbsd, NETBSD_IMAGE)
    local.unlink()
    local.with_name(local.name + ".verified").unlink()
    assert cli.main(["images", "verify", NETBSD_AMD64, OPENBSD_AMD64, "--key", str(key)]) == 1
    captured = capsys.readouterr()
    assert "%s: 3 media files verified" % OPENBSD_AMD64 in captured.out
    assert "%s: 1 of 1 media files failed verification" % NETBSD_AMD64 in captured.err
    assert "images/NetBSD-10.1-amd64-live.img.gz: not in the cache (%s)" % local in captured.err

    stray = cached(media, openbsd, "amd64/cd79.iso.part")
    stray.write_bytes(b"y" * 4096)
    assert cli.main(["images", "prune", "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines() == ["would remove %s (4096 bytes)" % stray,
                                                   "would free 4096 bytes (4.0 KiB)"]
    assert stray.exists()
    assert cli.main(["images", "prune"]) == 0
    assert capsys.readouterr().out.splitlines() == ["removed %s (4096 bytes)" % stray,
                                                   "freed 4096 bytes (4.0 KiB)"]
    assert not stray.exists()


def test_cli_fetch_mirror_option(fake_catalog: Any, mirror: FakeMirror, media: Path, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    netbsd, _, _ = fake_catalog
    mirror.write_tree(tmp_path / "copy")
    monkeypatch.setenv("TRAPLINE_NETBSD_MIRROR", "http://127.0.0.1:1/nowhere")
    assert cli.main(["images", "fetch", NETBSD_AMD64, "--mirror", "file://%s/pub/NetBSD" % (tmp_path / "copy")]) == 0
    assert mirror.requests == []
    assert cached(media, netbsd, NETBSD_IMAGE).read_bytes() == netbsd.files[NETBSD_IMAGE]


def test_cli_fetch_of_a_debian_target_says_there_is_nothing_to_fetch(
        media: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["images", "fetch", "debian-12-amd64"]) == 2
    assert "debian-12-amd64 has no install media to fetch" in capsys.readouterr().err


def test_cli_list_states_of_the_real_catalog_over_an_empty_cache(
        media: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.images import load_catalog

    assert cli.main(["images", "list"]) == 0
    found = states(capsys.readouterr().out)
    assert found == {name: "absent" for name in load_catalog()}
