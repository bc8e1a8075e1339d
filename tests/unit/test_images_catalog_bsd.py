"""The NetBSD and OpenBSD catalogs: what they hold, and how a bad entry is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.images.catalog import (
    CATALOG_DIR,
    firmware_dir,
    load_catalog,
    load_catalog_file,
    missing_firmware,
    recipe_hash,
    require_firmware,
)

NETBSD_RELEASES = ("9.4", "10.1", "11.0")
OPENBSD_RELEASES = ("7.5", "7.6", "7.7", "7.8", "7.9")
ARCHES = ("amd64", "aarch64", "sparc64")

# One good target per install method; tests break one key at a time.
NETBSD = """\
os = "netbsd"

[targets."netbsd-10.1-aarch64"]
release = "10.1"
arch = "aarch64"
native_arch = "evbarm-aarch64"
release_dir = "NetBSD-10.1"
media = ["evbarm-aarch64/binary/gzimg/arm64.img.gz", "evbarm-aarch64/binary/kernel/netbsd-GENERIC64.img.gz"]
install = "disk-image"
install_media = "evbarm-aarch64/binary/gzimg/arm64.img.gz"
kernel = "evbarm-aarch64/binary/kernel/netbsd-GENERIC64.img.gz"
kernel_append = "root=NAME=netbsd-root"
disk_mib = 4096
python_package = "python312"
pkg_path = "https://cdn.NetBSD.org/pub/pkgsrc/packages/NetBSD/aarch64/10.0/All"
"""

NETBSD_SPARC64 = """\
os = "netbsd"

[targets."netbsd-10.1-sparc64"]
release = "10.1"
arch = "sparc64"
native_arch = "sparc64"
release_dir = "NetBSD-10.1"
media = ["images/NetBSD-10.1-sparc64.iso"]
install = "sysinst"
install_media = "images/NetBSD-10.1-sparc64.iso"
disk_mib = 3072
python_package = "python312"
pkg_path = "https://cdn.NetBSD.org/pub/pkgsrc/packages/NetBSD/sparc64/10.0_2026Q1/All"
"""

OPENBSD = """\
os = "openbsd"

[targets."openbsd-7.9-sparc64"]
release = "7.9"
arch = "sparc64"
native_arch = "sparc64"
release_dir = "7.9"
media = ["sparc64/install79.iso", "sparc64/bsd.rd", "sparc64/base79.tgz"]
install = "autoinstall"
install_media = "sparc64/install79.iso"
disk_mib = 6144
python_package = "python%3.12"
pkg_path = "https://cdn.openbsd.org/pub/OpenBSD/7.9/packages/sparc64"
profile = { bios = "{firmware}/openbios-sparc64-openbsd" }
"""


def write(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def refused(tmp_path: Path, text: str, name: str = "netbsd.toml") -> str:
    path = write(tmp_path, text, name)
    with pytest.raises(ConfigError) as info:
        load_catalog_file(path)
    return str(info.value)


def where(tmp_path: Path, name: str, target: str) -> str:
    return "%s: [targets.%s] " % (tmp_path / name, target)


# -- the shipped catalogs ----------------------------------------------------


def test_every_release_and_arch_of_both_oses_is_in_the_catalog() -> None:
    catalog = load_catalog(CATALOG_DIR)
    expected = {"netbsd-%s-%s" % (r, a) for r in NETBSD_RELEASES for a in ARCHES}
    expected |= {"openbsd-%s-%s" % (r, a) for r in OPENBSD_RELEASES for a in ARCHES}
    bsd = {name for name in catalog if catalog[name].os in ("netbsd", "openbsd")}
    assert bsd == expected


def test_the_newest_release_is_the_one_default_per_os_and_arch() -> None:
    catalog = load_catalog(CATALOG_DIR)
    for arch in ARCHES:
        assert catalog.default_target("netbsd", arch).name == "netbsd-11.0-%s" % arch
        assert catalog.default_target("openbsd", arch).name == "openbsd-7.9-%s" % arch
        for os_name in ("netbsd", "openbsd"):
            marked = [n for n in catalog if catalog[n].os == os_name and catalog[n].arch == arch
                      and catalog[n]["default"]]
            assert len(marked) == 1, (os_name, arch, marked)
    # An OS with one target per arch needs no mark: that target is the default.
    assert catalog.default_target("debian", "sparc64").name == "debian-12-sparc64"


def test_default_target_of_an_unknown_pair_names_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        load_catalog(CATALOG_DIR).default_target("netbsd", "riscv64")
    assert info.value.message == "no netbsd target for riscv64 in the catalog"
    assert "netbsd sparc64" in info.value.hint and "openbsd aarch64" in info.value.hint


def test_shipped_media_follow_each_release() -> None:
    catalog = load_catalog(CATALOG_DIR)
    assert catalog["netbsd-10.1-amd64"]["media"] == ["images/NetBSD-10.1-amd64-live.img.gz"]
    assert catalog["netbsd-11.0-sparc64"]["install_media"] == "images/NetBSD-11.0-sparc64.iso"
    arm = catalog["netbsd-11.0-aarch64"]
    assert arm["kernel"] == "evbarm-aarch64/binary/kernel/netbsd-GENERIC64.img.gz"
    assert arm["kernel_append"] == "root=NAME=netbsd-root"
    assert catalog["netbsd-9.4-aarch64"]["kernel_append"] == "root=ld4a"
    assert catalog["openbsd-7.6-amd64"]["media"] == [
        "amd64/cd76.iso", "amd64/bsd", "amd64/bsd.mp", "amd64/bsd.rd", "amd64/base76.tgz", "amd64/comp76.tgz"]
    assert catalog["openbsd-7.8-aarch64"]["install_media"] == "arm64/miniroot78.img"
    assert catalog["openbsd-7.9-sparc64"]["install_media"] == "sparc64/install79.iso"
    assert catalog["openbsd-7.9-aarch64"]["pkg_path"] == "https://cdn.openbsd.org/pub/OpenBSD/7.9/packages/aarch64"
    assert catalog["netbsd-11.0-amd64"]["pkg_path"] == (
        "https://cdn.NetBSD.org/pub/pkgsrc/packages/NetBSD/x86_64/11.0/All")
    assert catalog["openbsd-7.9-amd64"]["mirror"] == "https://cdn.openbsd.org/pub/OpenBSD"
    assert catalog["netbsd-11.0-amd64"]["mirror"] == "https://cdn.NetBSD.org/pub/NetBSD"


def test_netbsd_sparc64_stays_inside_anitas_limits() -> None:
    catalog = load_catalog(CATALOG_DIR)
    for release in NETBSD_RELEASES:
        entry = catalog["netbsd-%s-sparc64" % release]
        assert entry["disk_mib"] < 4096
        assert entry["memory_mb"] <= 2048


# -- validation ----------------------------------------------------------------


def test_good_entries_load(tmp_path: Path) -> None:
    assert list(load_catalog_file(write(tmp_path, NETBSD, "netbsd.toml"))) == ["netbsd-10.1-aarch64"]
    assert list(load_catalog_file(write(tmp_path, NETBSD_SPARC64, "sparc.toml"))) == ["netbsd-10.1-sparc64"]
    assert list(load_catalog_file(write(tmp_path, OPENBSD, "openbsd.toml"))) == ["openbsd-7.9-sparc64"]


def test_install_method_must_be_one_the_os_has(tmp_path: Path) -> None:
    text = NETBSD.replace('install = "disk-image"', 'install = "autoinstall"')
    assert refused(tmp_path, text) == where(tmp_path, "netbsd.toml", "netbsd-10.1-aarch64") + (
        "key 'install': 'autoinstall' is not one of live-image, disk-image, sysinst")


def test_install_media_must_be_a_media_entry(tmp_path: Path) -> None:
    text = OPENBSD.replace('install_media = "sparc64/install79.iso"', 'install_media = "sparc64/cd79.iso"')
    assert refused(tmp_path, text, "openbsd.toml") == where(tmp_path, "openbsd.toml", "openbsd-7.9-sparc64") + (
        "key 'install_media': 'sparc64/cd79.iso' is not one of the media entries: "
        "sparc64/install79.iso, sparc64/bsd.rd, sparc64/base79.tgz")


def test_kernel_must_be_a_media_entry(tmp_path: Path) -> None:
    text = NETBSD.replace('kernel = "evbarm-aarch64/binary/kernel/netbsd-GENERIC64.img.gz"',
                          'kernel = "evbarm-aarch64/binary/kernel/netbsd-GENERIC.img.gz"')
    message = refused(tmp_path, text)
    assert message.startswith(where(tmp_path, "netbsd.toml", "netbsd-10.1-aarch64") + (
        "key 'kernel': 'evbarm-aarch64/binary/kernel/netbsd-GENERIC.img.gz' is not one of the media entries: "))


def test_disk_image_needs_a_kernel(tmp_path: Path) -> None:
    text = NETBSD.replace('kernel = "evbarm-aarch64/binary/kernel/netbsd-GENERIC64.img.gz"\n', "").replace(
        'kernel_append = "root=NAME=netbsd-root"\n', "")
    assert refused(tmp_path, text) == where(tmp_path, "netbsd.toml", "netbsd-10.1-aarch64") + (
        "missing key 'kernel': install 'disk-image' boots the image with a kernel given to QEMU; "
        "name its media entry")


def test_kernel_is_refused_where_the_install_media_boots(tmp_path: Path) -> None:
    text = NETBSD_SPARC64 + 'kernel = "images/NetBSD-10.1-sparc64.iso"\n'
    assert refused(tmp_path, text) == where(tmp_path, "netbsd.toml", "netbsd-10.1-sparc64") + (
        "key 'kernel' is only used with install = 'disk-image', here 'sysinst'; remove it")


def test_kernel_append_needs_a_kernel(tmp_path: Path) -> None:
    text = NETBSD_SPARC64 + 'kernel_append = "root=wd0a"\n'
    assert refused(tmp_path, text) == where(tmp_path, "netbsd.toml", "netbsd-10.1-sparc64") + (
        "key 'kernel_append' needs a 'kernel' to append to; remove it")


@pytest.mark.parametrize(("text", "name", "target", "message"), [
    (NETBSD.replace('release_dir = "NetBSD-10.1"', 'release_dir = "NetBSD-10.0"'), "netbsd.toml",
     "netbsd-10.1-aarch64", "key 'release_dir': 'NetBSD-10.0' does not match release 10.1; use 'NetBSD-10.1'"),
    (OPENBSD.replace('release_dir = "7.9"', 'release_dir = "OpenBSD-7.9"'), "openbsd.toml",
     "openbsd-7.9-sparc64", "key 'release_dir': 'OpenBSD-7.9' does not match release 7.9; use '7.9'"),
])
def test_release_dir_follows_the_release(tmp_path: Path, text: str, name: str, target: str, message: str) -> None:
    assert refused(tmp_path, text, name) == where(tmp_path, name, target) + message


def test_openbsd_media_numbers_follow_the_release(tmp_path: Path) -> None:
    text = OPENBSD.replace('"sparc64/base79.tgz"]', '"sparc64/base76.tgz"]')
    assert refused(tmp_path, text, "openbsd.toml") == where(tmp_path, "openbsd.toml", "openbsd-7.9-sparc64") + (
        "key 'media': 'sparc64/base76.tgz' is numbered 76, but release 7.9 names its files with 79")


def test_netbsd_media_names_follow_the_release(tmp_path: Path) -> None:
    text = NETBSD_SPARC64.replace('media = ["images/NetBSD-10.1-sparc64.iso"]',
                                  'media = ["images/NetBSD-10.0-sparc64.iso"]')
    assert refused(tmp_path, text) == where(tmp_path, "netbsd.toml", "netbsd-10.1-sparc64") + (
        "key 'media': 'images/NetBSD-10.0-sparc64.iso' names NetBSD 10.0, not 10.1")


def test_media_of_another_port_are_refused(tmp_path: Path) -> None:
    text = OPENBSD.replace('"sparc64/bsd.rd"', '"amd64/bsd.rd"')
    assert refused(tmp_path, text, "openbsd.toml") == where(tmp_path, "openbsd.toml", "openbsd-7.9-sparc64") + (
        "key 'media': 'amd64/bsd.rd' is not under sparc64/")


def test_media_must_be_relative_paths(tmp_path: Path) -> None:
    text = OPENBSD.replace('"sparc64/bsd.rd"', '"../7.8/sparc64/bsd.rd"')
    assert refused(tmp_path, text, "openbsd.toml") == where(tmp_path, "openbsd.toml", "openbsd-7.9-sparc64") + (
        "key 'media': ['sparc64/install79.iso', '../7.8/sparc64/bsd.rd', 'sparc64/base79.tgz'] must be file "
        "paths relative to the release directory: '../7.8/sparc64/bsd.rd'")


def test_native_arch_must_be_the_oses_name(tmp_path: Path) -> None:
    text = NETBSD.replace('native_arch = "evbarm-aarch64"', 'native_arch = "arm64"')
    assert refused(tmp_path, text) == where(tmp_path, "netbsd.toml", "netbsd-10.1-aarch64") + (
        "key 'native_arch': 'arm64' is not netbsd's name for aarch64; use 'evbarm-aarch64'")


def test_pkg_path_must_be_the_releases_package_directory(tmp_path: Path) -> None:
    text = NETBSD.replace("NetBSD/aarch64/10.0/All", "NetBSD/aarch64/9.0/All")
    assert refused(tmp_path, text) == where(tmp_path, "netbsd.toml", "netbsd-10.1-aarch64") + (
        "key 'pkg_path': 'https://cdn.NetBSD.org/pub/pkgsrc/packages/NetBSD/aarch64/9.0/All' is not the package "
        "directory of netbsd 10.1 on aarch64 (<...>/NetBSD/aarch64/10.0/All)")
    text = OPENBSD.replace("7.9/packages/sparc64", "7.9/packages/arm64")
    assert refused(tmp_path, text, "openbsd.toml") == where(tmp_path, "openbsd.toml", "openbsd-7.9-sparc64") + (
        "key 'pkg_path': 'https://cdn.openbsd.org/pub/OpenBSD/7.9/packages/arm64' is not the package directory "
        "of openbsd 7.9 on sparc64 (<mirror>/7.9/packages/sparc64)")


@pytest.mark.parametrize(("text", "name", "target", "message"), [
    (NETBSD.replace('"python312"', '"python3"'), "netbsd.toml", "netbsd-10.1-aarch64",
     "key 'python_package': 'python3' must be a pkgsrc python package name (python312)"),
    (OPENBSD.replace('"python%3.12"', '"python-3.12.4"'), "openbsd.toml", "openbsd-7.9-sparc64",
     "key 'python_package': 'python-3.12.4' must be pkg_add's stem%branch form (python%3.12)"),
])
def test_python_package_is_the_oses_own_form(tmp_path: Path, text: str, name: str, target: str,
                                             message: str) -> None:
    assert refused(tmp_path, text, name) == where(tmp_path, name, target) + message


def test_release_number_form(tmp_path: Path) -> None:
    text = OPENBSD.replace('[targets."openbsd-7.9-sparc64"]', '[targets."openbsd-79-sparc64"]').replace(
        'release = "7.9"', 'release = "79"')
    assert refused(tmp_path, text, "openbsd.toml") == where(tmp_path, "openbsd.toml", "openbsd-79-sparc64") + (
        "key 'release': '79' is not a openbsd release number (7.9)")


def test_mirror_may_be_a_local_directory_but_not_ftp(tmp_path: Path) -> None:
    local = load_catalog_file(write(tmp_path, NETBSD + 'mirror = "file:///srv/netbsd"\n', "netbsd.toml"))
    assert local["netbsd-10.1-aarch64"]["mirror"] == "file:///srv/netbsd"
    text = NETBSD + 'mirror = "ftp://ftp.netbsd.org/pub/NetBSD"\n'
    assert refused(tmp_path, text) == where(tmp_path, "netbsd.toml", "netbsd-10.1-aarch64") + (
        "key 'mirror': 'ftp://ftp.netbsd.org/pub/NetBSD' must be an http://, https:// or file:/// URL")


def test_netbsd_sparc64_root_disk_must_stay_below_4_gib(tmp_path: Path) -> None:
    text = NETBSD_SPARC64.replace("disk_mib = 3072", "disk_mib = 4096")
    assert refused(tmp_path, text) == where(tmp_path, "netbsd.toml", "netbsd-10.1-sparc64") + (
        "key 'disk_mib': 4096 is too big: NetBSD/sparc64's root file system must stay below 4096 MiB "
        "to boot under OpenBIOS (anita)")


def test_memory_above_the_profiles_cap_fails_on_load(tmp_path: Path) -> None:
    text = NETBSD_SPARC64 + "memory_mb = 4096\n"
    assert refused(tmp_path, text) == where(tmp_path, "netbsd.toml", "netbsd-10.1-sparc64") + (
        "key 'memory_mb': 4096 exceeds the sparc64 profile's limit of 2048 MiB")


def test_a_bad_profile_override_fails_on_load(tmp_path: Path) -> None:
    text = NETBSD + 'profile = { machin = "virt" }\n'
    path = write(tmp_path, text, "netbsd.toml")
    with pytest.raises(ConfigError) as info:
        load_catalog_file(path)
    assert info.value.message == where(tmp_path, "netbsd.toml", "netbsd-10.1-aarch64") + (
        "key 'profile': aarch64 profile: unknown override key(s) machin")
    assert info.value.hint.startswith("known keys: arch, bios, ")
    assert "machine" in info.value.hint


def test_a_profile_attaching_the_disk_twice_fails_on_load(tmp_path: Path) -> None:
    text = NETBSD_SPARC64 + 'profile = { disk_device = "ide-hd" }\n'
    assert refused(tmp_path, text).startswith(where(tmp_path, "netbsd.toml", "netbsd-10.1-sparc64") + (
        "key 'profile': sparc64 profile: drive_if='ide' attaches the disk itself"))


# -- defaults ----------------------------------------------------------------


def two_releases(first_default: bool, second_default: bool) -> str:
    eleven = NETBSD_SPARC64.replace("10.1", "11.0").replace("10.0_2026Q1", "11.0").replace('os = "netbsd"\n', "")
    return (NETBSD_SPARC64 + ("default = true\n" if first_default else "") + eleven
            + ("default = true\n" if second_default else ""))


def test_one_default_among_several_releases_is_required(tmp_path: Path) -> None:
    path = write(tmp_path, two_releases(False, False), "netbsd.toml")
    with pytest.raises(ConfigError) as info:
        load_catalog_file(path)
    assert info.value.message == "%s: no default netbsd target for sparc64 among netbsd-10.1-sparc64, " \
                                 "netbsd-11.0-sparc64" % path
    assert info.value.hint == "set default = true on the release used when none is named (usually the newest)"


def test_two_defaults_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, two_releases(True, True), "netbsd.toml")
    assert refused(tmp_path, two_releases(True, True)) == (
        "%s: [targets.netbsd-11.0-sparc64] key 'default': netbsd sparc64 already has its default in "
        "%s: [targets.netbsd-10.1-sparc64]; one default per OS and arch" % (path, path))


def test_the_marked_release_is_the_default(tmp_path: Path) -> None:
    write(tmp_path, two_releases(False, True), "netbsd.toml")
    assert load_catalog(tmp_path).default_target("netbsd", "sparc64").name == "netbsd-11.0-sparc64"


def test_defaults_in_two_files_of_one_os_are_refused(tmp_path: Path) -> None:
    first = write(tmp_path, NETBSD_SPARC64 + "default = true\n", "a.toml")
    eleven = NETBSD_SPARC64.replace("10.1", "11.0").replace("10.0_2026Q1", "11.0")
    second = write(tmp_path, eleven + "default = true\n", "b.toml")
    with pytest.raises(ConfigError) as info:
        load_catalog(tmp_path)
    assert info.value.message == (
        "%s: [targets.netbsd-11.0-sparc64] key 'default': netbsd sparc64 already has its default in "
        "%s: [targets.netbsd-10.1-sparc64]; one default per OS and arch" % (second, first))


# -- image hash ----------------------------------------------------------------


def test_image_shaping_keys_change_the_hash_and_run_time_keys_do_not(tmp_path: Path) -> None:
    def hash_of(text: str, name: str) -> str:
        entry = load_catalog_file(write(tmp_path, text, name))["openbsd-7.9-sparc64"]
        return recipe_hash(entry, "v1")

    base = hash_of(OPENBSD, "base.toml")
    for key, changed in [
        ("media", OPENBSD.replace('"sparc64/base79.tgz"]', '"sparc64/base79.tgz", "sparc64/comp79.tgz"]')),
        ("disk_mib", OPENBSD.replace("disk_mib = 6144", "disk_mib = 4096")),
        ("python_package", OPENBSD.replace("python%3.12", "python%3.13")),
        ("install_media", OPENBSD.replace('"sparc64/bsd.rd", ', '"sparc64/bsd.rd", "sparc64/cd79.iso", ').replace(
            'install_media = "sparc64/install79.iso"', 'install_media = "sparc64/cd79.iso"')),
    ]:
        assert hash_of(changed, key + ".toml") != base, key
    for key, changed in [
        ("mirror", OPENBSD + 'mirror = "file:///srv/openbsd"\n'),
        ("pkg_path", OPENBSD.replace("https://cdn.openbsd.org/pub/OpenBSD/7.9", "https://mirror.example/pub/7.9")),
        ("profile", OPENBSD.replace('profile = { bios = "{firmware}/openbios-sparc64-openbsd" }', "")),
        ("memory_mb", OPENBSD + "memory_mb = 1024\n"),
        ("default", OPENBSD + "default = true\n"),
    ]:
        assert hash_of(changed, key + ".toml") == base, key


# -- firmware ----------------------------------------------------------------


def test_firmware_prefix_names_the_cache_firmware_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    entry = load_catalog_file(write(tmp_path, OPENBSD, "openbsd.toml"))["openbsd-7.9-sparc64"]
    assert firmware_dir() == tmp_path / "cache" / "trapline" / "firmware"
    assert entry["profile"]["bios"] == str(tmp_path / "cache" / "trapline" / "firmware" / "openbios-sparc64-openbsd")


def test_missing_firmware_is_named_with_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = write(tmp_path, OPENBSD, "openbsd.toml")
    entry = load_catalog_file(path)["openbsd-7.9-sparc64"]
    bios = tmp_path / "cache" / "trapline" / "firmware" / "openbios-sparc64-openbsd"
    assert missing_firmware(entry) == bios
    with pytest.raises(ConfigError) as info:
        require_firmware(entry)
    assert info.value.message == (
        "openbsd-7.9-sparc64 needs the firmware file %s (profile key 'bios' in %s), which is missing" % (bios, path))
    assert info.value.target == "openbsd-7.9-sparc64"
    assert "anyvm-org/openbsd-builder" in info.value.hint
    assert "bios/build-openbios.sh" in info.value.hint
    assert "copy the resulting bios/openbios-sparc64.elf to %s" % bios in info.value.hint

    bios.parent.mkdir(parents=True)
    bios.write_bytes(b"\x7fELF")
    assert missing_firmware(entry) is None
    require_firmware(entry)


def test_qemus_own_firmware_names_are_not_checked(tmp_path: Path) -> None:
    text = OPENBSD.replace("{firmware}/openbios-sparc64-openbsd", "openbios-sparc64")
    entry = load_catalog_file(write(tmp_path, text, "openbsd.toml"))["openbsd-7.9-sparc64"]
    assert missing_firmware(entry) is None


def test_shipped_arm64_firmware_is_debians_edk2(tmp_path: Path) -> None:
    entry = load_catalog(CATALOG_DIR)["openbsd-7.9-aarch64"]
    assert entry["profile"]["bios"] == "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd"
    if not Path("/usr/share/qemu-efi-aarch64/QEMU_EFI.fd").is_file():
        with pytest.raises(ConfigError, match="qemu-efi-aarch64"):
            require_firmware(entry)
    else:
        require_firmware(entry)
