"""The NetBSD/OpenBSD image builder end to end, with stand-ins where no BSD
can boot.

What runs for real: the catalog entries (from images/*.toml, with the disk
size shrunk and the package repository pointed at a generated file:// tree),
the gunzip-and-grow of a generated fake ``.img.gz``, package resolution and
fetching, key generation, the install HTTP server, the cache's locking and
atomic publish.  What is a stand-in: the media fetch (a function returning
local files, since the verifier is tested on its own) and the VM steps (a
fake :class:`GuestDriver` that does over real HTTP what the guest's
provisioning script does, and writes to the disk as an installer would).
No BSD guest boots in these tests.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import urllib.request
from pathlib import Path

import pytest

from harness.errors import ConfigError, GuestError, HostError
from harness.images import _builder, bsd
from harness.images.bsd import BuildJob, provision_script, unpack_disk_image
from harness.images.catalog import CatalogEntry, load_catalog

IMAGE_HEAD = b"\xeb\x3c\x90NetBSD-fake-image\x00" + bytes(range(256))
PKG_SUMMARY = (
    "PKGNAME=python312-3.12.8\nDEPENDS=libffi>=3.0\nFILE_SIZE=7\n\n"
    "PKGNAME=libffi-3.4.6\nFILE_SIZE=7\n\n"
)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return reply.read()


class FakeGuest:
    """Plays the guest: reads what the install server offers the way the
    provisioning script does, and writes to the disk like an installer."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fetched: dict[str, bytes] = {}
        self.install_disk_size = 0
        self.job: BuildJob | None = None
        self.port = 0

    def install(self, job: BuildJob, disk: Path) -> None:
        self.calls.append("install")
        self.job = job
        self.port = job.server.port  # the server is closed once the build is over
        self.install_disk_size = disk.stat().st_size
        for route in ("/" + job.entry["install_media"],):
            self.fetched[route] = _get(job.server.url + route)
        with open(disk, "r+b") as f:
            f.write(b"INSTALLED-BY-FAKE")

    def provision(self, job: BuildJob, disk: Path, kernel: Path | None) -> None:
        self.calls.append("provision kernel=%s" % (kernel.name if kernel else None))
        self.job = job
        base = job.server.url
        for route in ("/provision.sh", "/keys/authorized_keys", "/keys/ssh_host_ed25519_key",
                      "/keys/ssh_host_ed25519_key.pub", "/packages/ORDER"):
            self.fetched[route] = _get(base + route)
        for name in self.fetched["/packages/ORDER"].decode().split():
            self.fetched["/packages/" + name] = _get(base + "/packages/" + name)
        with open(disk, "r+b") as f:
            f.seek(1024 * 1024)
            f.write(b"PROVISIONED")


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture()
def pkg_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "pkgsrc" / "All"
    repo.mkdir(parents=True)
    (repo / "pkg_summary.gz").write_bytes(gzip.compress(PKG_SUMMARY.encode()))
    (repo / "python312-3.12.8.tgz").write_bytes(b"python!")
    (repo / "libffi-3.4.6.tgz").write_bytes(b"libffi!")
    return repo


def _entry(name: str, **settings: object) -> CatalogEntry:
    real = load_catalog()[name]
    return dataclasses.replace(real, settings={**real.settings, **settings})


def _fake_image(path: Path, size: int) -> Path:
    data = IMAGE_HEAD + os.urandom(size - len(IMAGE_HEAD))
    path.write_bytes(gzip.compress(data, compresslevel=1))
    return path


def test_live_image_is_unpacked_grown_provisioned_and_published(tmp_path: Path, cache: Path,
                                                                 pkg_repo: Path) -> None:
    entry = _entry("netbsd-10.1-amd64", disk_mib=8, pkg_path=pkg_repo.as_uri())
    image_gz = _fake_image(tmp_path / "NetBSD-10.1-amd64-live.img.gz", 3 * 1024 * 1024 + 17)
    fetch_calls: list[tuple[str, object]] = []

    def fetch_media(e: CatalogEntry, *, mirror: str | None = None) -> dict[str, Path]:
        fetch_calls.append((e.name, mirror))
        return {entry["install_media"]: image_gz}

    guest = FakeGuest()
    image, built = bsd.ensure_built(entry, mirror="file:///srv/netbsd", driver=guest, fetch_media=fetch_media)

    assert built is True
    assert fetch_calls == [("netbsd-10.1-amd64", "file:///srv/netbsd")]
    assert guest.calls == ["provision kernel=None"]  # a live image runs no installer
    assert image.directory == cache / "trapline" / "images" / "netbsd-10.1-amd64" / bsd.image_hash(entry)
    disk = image.disk.read_bytes()
    assert len(disk) == 8 * 1024 * 1024
    unpacked = gzip.decompress(image_gz.read_bytes())
    # The image's bytes, except what the fake guest wrote at 1 MiB, then zeros.
    assert disk[:len(IMAGE_HEAD)] == IMAGE_HEAD
    assert disk[1024 * 1024:1024 * 1024 + 11] == b"PROVISIONED"
    assert disk[1024 * 1024 + 11:len(unpacked)] == unpacked[1024 * 1024 + 11:]
    assert disk[len(unpacked):] == bytes(8 * 1024 * 1024 - len(unpacked))
    assert image.manifest["image_bytes"] == len(unpacked)

    # What the guest was served: the script, our keys, the packages in order.
    assert guest.fetched["/provision.sh"] == provision_script("netbsd").encode()
    assert guest.fetched["/keys/authorized_keys"] == image.client_key.with_suffix(".pub").read_bytes()
    assert guest.fetched["/keys/ssh_host_ed25519_key.pub"] == image.host_public_key.read_bytes()
    assert guest.fetched["/keys/ssh_host_ed25519_key"].startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")
    assert guest.fetched["/packages/ORDER"] == b"libffi-3.4.6.tgz\npython312-3.12.8.tgz\n"
    assert guest.fetched["/packages/python312-3.12.8.tgz"] == b"python!"
    assert image.manifest["packages"] == ["libffi-3.4.6", "python312-3.12.8"]

    # The host key's private half never lands in the image directory.
    names = sorted(p.name for p in image.directory.iterdir())
    assert names == ["build.log", "disk.img", "id_ed25519", "id_ed25519.pub", "install-http.log", "manifest.json",
                     "root_password", "ssh_host_ed25519_key.pub"]
    assert oct(image.client_key.stat().st_mode & 0o777) == "0o600"
    assert image.ssh_user == "root"
    assert image.kernel is None
    log = (image.directory / "install-http.log").read_text()
    assert "GET /packages/python312-3.12.8.tgz 200 7" in log
    assert "provision (console: login, sshd, keys, pkg_add python3)" in image.build_log.read_text()

    # Cached now: no fetch, no guest.
    again, built_again = bsd.ensure_built(entry, driver=FakeGuest(), fetch_media=fetch_media)
    assert (again.directory, built_again) == (image.directory, False)
    assert len(fetch_calls) == 1


def test_disk_image_also_unpacks_the_kernel_for_qemu(tmp_path: Path, cache: Path, pkg_repo: Path) -> None:
    entry = _entry("netbsd-10.1-aarch64", disk_mib=4, pkg_path=pkg_repo.as_uri())
    kernel_bytes = b"\x4d\x5a" + os.urandom(5000)
    (tmp_path / "k.img.gz").write_bytes(gzip.compress(kernel_bytes))
    media = {entry["install_media"]: _fake_image(tmp_path / "arm64.img.gz", 1024 * 1024),
             entry["kernel"]: tmp_path / "k.img.gz"}
    guest = FakeGuest()
    image, _ = bsd.ensure_built(entry, driver=guest, fetch_media=lambda e, mirror=None: media)
    assert guest.calls == ["provision kernel=kernel"]
    assert image.kernel is not None and image.kernel.read_bytes() == kernel_bytes
    assert image.kernel_cmdline == entry["kernel_append"] == "root=NAME=netbsd-root"
    assert image.disk.stat().st_size == 4 * 1024 * 1024


def test_an_installer_target_boots_the_media_onto_a_blank_disk(tmp_path: Path, cache: Path, pkg_repo: Path) -> None:
    entry = _entry("netbsd-10.1-sparc64", disk_mib=6, pkg_path=pkg_repo.as_uri())
    iso = tmp_path / "NetBSD-10.1-sparc64.iso"
    iso.write_bytes(b"CD001" + os.urandom(4096))
    guest = FakeGuest()
    image, _ = bsd.ensure_built(entry, driver=guest, fetch_media=lambda e, mirror=None: {entry["install_media"]: iso})
    assert guest.calls == ["install", "provision kernel=None"]
    assert guest.install_disk_size == 6 * 1024 * 1024
    # The install media is served to the guest, byte for byte.
    assert guest.fetched["/" + entry["install_media"]] == iso.read_bytes()
    disk = image.disk.read_bytes()
    assert disk[:17] == b"INSTALLED-BY-FAKE"
    assert disk[1024 * 1024:1024 * 1024 + 11] == b"PROVISIONED"
    assert guest.job is not None
    variables = guest.job.variables
    assert variables["http_server"] == "10.0.2.2:%d" % guest.port
    assert variables["install_conf_url"] == "http://10.0.2.2:%d/install.conf" % guest.port
    assert variables["root_password"] == (image.directory / "root_password").read_text().strip()


def test_a_failed_provisioning_publishes_nothing_and_keeps_the_logs(tmp_path: Path, cache: Path,
                                                                    pkg_repo: Path) -> None:
    entry = _entry("netbsd-10.1-amd64", disk_mib=8, pkg_path=pkg_repo.as_uri())
    image_gz = _fake_image(tmp_path / "live.img.gz", 1024 * 1024)

    class Broken(FakeGuest):
        def provision(self, job: BuildJob, disk: Path, kernel: Path | None) -> None:
            _get(job.server.url + "/provision.sh")
            raise GuestError("pkg_add failed on the console", target=entry.name)

    with pytest.raises(GuestError, match="pkg_add failed"):
        bsd.ensure_built(entry, driver=Broken(), fetch_media=lambda e, mirror=None: {entry["install_media"]: image_gz})
    target_dir = cache / "trapline" / "images" / "netbsd-10.1-amd64"
    digest = bsd.image_hash(entry)
    assert not (target_dir / digest).exists()
    assert not list(target_dir.glob(".building-*"))
    assert "GET /provision.sh 200" in (target_dir / ("build-%s-http.log" % digest)).read_text()
    assert "==> provision" in (target_dir / ("build-%s.log" % digest)).read_text()


def test_an_image_larger_than_disk_mib_names_both_sizes(tmp_path: Path) -> None:
    image_gz = _fake_image(tmp_path / "big.img.gz", 3 * 1024 * 1024)
    with pytest.raises(ConfigError, match=r"big\.img\.gz unpacks to 3 MiB, more than disk_mib = 2") as err:
        unpack_disk_image(image_gz, tmp_path / "disk.img", 2, target="netbsd-10.1-amd64")
    assert err.value.hint == "raise disk_mib to at least 3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.img.gz"]


def test_a_damaged_image_is_a_clear_error_and_leaves_no_disk(tmp_path: Path) -> None:
    bad = tmp_path / "live.img.gz"
    bad.write_bytes(gzip.compress(os.urandom(100000))[:5000])  # cut short mid-stream
    with pytest.raises(HostError, match=r"cannot unpack .*live\.img\.gz"):
        unpack_disk_image(bad, tmp_path / "disk.img", 2, target="netbsd-10.1-amd64")
    assert not (tmp_path / "disk.img").exists()
    assert not (tmp_path / "disk.img.tmp").exists()


def test_image_hash_is_stable_and_differs_per_target() -> None:
    catalog = load_catalog()
    a, b = catalog["netbsd-10.1-amd64"], catalog["openbsd-7.6-amd64"]
    assert bsd.image_hash(a) == bsd.image_hash(a)
    assert bsd.image_hash(a) != bsd.image_hash(b)
    # The mirror does not shape the image (affects_image=False in the schema).
    moved = dataclasses.replace(a, settings={**a.settings, "mirror": "file:///elsewhere"})
    assert bsd.image_hash(moved) == bsd.image_hash(a)


def test_bsd_targets_are_registered_with_the_image_entry_point() -> None:
    catalog = load_catalog()
    assert _builder(catalog["netbsd-10.1-sparc64"]) is bsd
    assert _builder(catalog["openbsd-7.6-aarch64"]) is bsd


def test_a_debian_entry_is_refused_by_the_bsd_builder() -> None:
    with pytest.raises(ConfigError, match="not a NetBSD or OpenBSD target"):
        bsd.image_hash(load_catalog()["debian-12-amd64"])


@pytest.mark.parametrize("os_name", ["netbsd", "openbsd"])
def test_provision_script_owns_the_sshd_settings_and_installs_in_order(os_name: str) -> None:
    script = provision_script(os_name)
    assert "PermitRootLogin prohibit-password\n" in script
    assert "grep -v -i -E '^[[:space:]]*(HostKey|PermitRootLogin|PasswordAuthentication|" in script
    assert 'done </tmp/trapline-packages' in script
    assert "ln -sf \"$py\" /usr/bin/python3" in script
    assert ("sshd=YES" in script) is (os_name == "netbsd")
    assert ("rcctl enable sshd" in script) is (os_name == "openbsd")


def _run_os_tail(os_name: str, etc: Path, prelude: str = "") -> None:
    """Run the OS-specific end of the provisioning script with ``/etc/``
    pointed at ``etc``, so what it writes can be read back."""
    import subprocess
    tail = bsd._PROVISION_OS[os_name]["tail"]
    assert provision_script(os_name).endswith(tail + "sync\necho 'trapline: provisioned'\n")
    script = prelude + tail.replace("/etc/", "%s/" % etc)
    result = subprocess.run(["sh", "-e", "-c", script], check=False, capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (0, "")


def test_netbsd_provisioning_turns_off_ntpdate_and_ipv6_dad_for_the_next_boots(tmp_path: Path) -> None:
    (tmp_path / "rc.conf").write_text("rc_configured=YES\nhostname=trapline\n")
    (tmp_path / "sysctl.conf").write_text("kern.defcorename=%n.core\n")
    _run_os_tail("netbsd", tmp_path)
    # rc.conf is sourced, so the appended lines win over any earlier setting.
    assert (tmp_path / "rc.conf").read_text().splitlines() == [
        "rc_configured=YES", "hostname=trapline", "sshd=YES", "dhcpcd=YES", "ntpdate=NO", "ntpd=NO"]
    assert (tmp_path / "sysctl.conf").read_text().splitlines() == [
        "kern.defcorename=%n.core", "net.inet6.ip6.dad_count=0"]


def test_openbsd_provisioning_enables_sshd_and_disables_ntpd(tmp_path: Path) -> None:
    log = tmp_path / "rcctl.log"
    _run_os_tail("openbsd", tmp_path, prelude='rcctl() { echo "$*" >>%s; }\n' % log)
    assert log.read_text().splitlines() == ["enable sshd", "disable ntpd"]


@pytest.mark.parametrize("text", [provision_script("netbsd"), provision_script("openbsd"), bsd.NETWORK_UP],
                         ids=["netbsd-script", "openbsd-script", "network-up"])
def test_what_the_guest_shell_runs_parses_as_sh(text: str) -> None:
    import subprocess
    result = subprocess.run(["sh", "-n", "-c", text], check=False, capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (0, "")


# -- with the real fetcher, from a local HTTP mirror


@pytest.fixture()
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("no_proxy", "127.0.0.1")


def _serve_netbsd_image(mirror: object, entry: CatalogEntry, image_gz: bytes) -> str:
    from tests.fakes.mirror import FakeMirror, checksum_lines

    assert isinstance(mirror, FakeMirror)
    path = entry["install_media"]
    mirror.put(FakeMirror.url_path("netbsd", entry["release_dir"], path), image_gz)
    directory, _, name = path.rpartition("/")
    mirror.put(FakeMirror.url_path("netbsd", entry["release_dir"], directory + "/SHA512"),
               checksum_lines("SHA512", {name: image_gz}))
    return FakeMirror.url_path("netbsd", entry["release_dir"], path)


def test_build_downloads_and_verifies_the_media_from_the_mirror(tmp_path: Path, cache: Path, pkg_repo: Path,
                                                                no_proxy: None) -> None:
    from tests.fakes.mirror import FakeMirror

    entry = _entry("netbsd-10.1-amd64", disk_mib=8, pkg_path=pkg_repo.as_uri())
    image_gz = _fake_image(tmp_path / "src.img.gz", 1024 * 1024).read_bytes()
    with FakeMirror() as mirror:
        url_path = _serve_netbsd_image(mirror, entry, image_gz)
        image, built = bsd.ensure_built(entry, mirror=mirror.base_url("netbsd"), driver=FakeGuest())
        assert built
        assert mirror.count(url_path) == 1
    assert image.disk.read_bytes()[:len(IMAGE_HEAD)] == IMAGE_HEAD
    cached = cache / "trapline" / "media" / "netbsd" / "NetBSD-10.1" / entry["install_media"]
    assert cached.read_bytes() == image_gz
    assert "media %s: %s" % (entry["install_media"], cached) in image.build_log.read_text()


def test_media_that_fail_verification_never_reach_the_guest(tmp_path: Path, cache: Path, pkg_repo: Path,
                                                            no_proxy: None) -> None:
    from harness.images.verify import VerificationError
    from tests.fakes.mirror import FakeMirror

    entry = _entry("netbsd-10.1-amd64", disk_mib=8, pkg_path=pkg_repo.as_uri())
    image_gz = _fake_image(tmp_path / "src.img.gz", 1024 * 1024).read_bytes()
    guest = FakeGuest()
    with FakeMirror() as mirror:
        mirror.tamper(_serve_netbsd_image(mirror, entry, image_gz))
        with pytest.raises(VerificationError, match=r"NetBSD-10\.1-amd64-live\.img\.gz does not match"):
            bsd.ensure_built(entry, mirror=mirror.base_url("netbsd"), driver=guest)
    assert guest.calls == []
    assert not (cache / "trapline" / "images" / "netbsd-10.1-amd64" / bsd.image_hash(entry)).exists()
    assert not (cache / "trapline" / "media" / "netbsd" / "NetBSD-10.1" / entry["install_media"]).exists()
