"""Catalog loading and validation, and the recipe hash."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.images import debian
from harness.images.catalog import CATALOG_DIR, load_catalog, load_catalog_file, recipe_hash
from harness.vm.profiles import profile_for

GOOD = """\
os = "debian"

[defaults]
release = "12"
suite = "bookworm"
mirror = "http://deb.debian.org/debian"
packages = ["openssh-server", "python3"]

[targets.debian-12-amd64]
arch = "amd64"
native_arch = "amd64"
kernel_package = "linux-image-amd64"
kernel_cmdline = "root=/dev/vda rw console=ttyS0 net.ifnames=0"
"""


def write(tmp_path: Path, text: str, name: str = "debian.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_catalog_file(path)
    return str(info.value)


def test_good_entry_fills_defaults(tmp_path: Path) -> None:
    entry = load_catalog_file(write(tmp_path, GOOD))["debian-12-amd64"]
    assert (entry.os, entry.release, entry.arch) == ("debian", "12", "amd64")
    assert entry["variant"] == "apt"
    assert entry["components"] == ["main"]
    assert entry["disk_free_mib"] == 1024
    assert entry["packages"] == ["openssh-server", "python3"]


def test_unknown_key_names_file_target_key_and_allowed_keys(tmp_path: Path) -> None:
    path = tmp_path / "debian.toml"
    message = load_error(tmp_path, GOOD + 'pakages = ["gcc"]\n')
    assert message.startswith("%s: [targets.debian-12-amd64] unknown key 'pakages'; allowed keys: arch, " % path)
    assert "packages" in message.split("allowed keys:")[1]


def test_bad_arch_lists_the_allowed_arches(tmp_path: Path) -> None:
    text = GOOD.replace('arch = "amd64"\nnative', 'arch = "x86_64"\nnative')
    assert load_error(tmp_path, text) == (
        "%s: [targets.debian-12-amd64] key 'arch': 'x86_64' is not one of amd64, aarch64, sparc64"
        % (tmp_path / "debian.toml"))


def test_missing_field_names_it_and_says_what_it_is(tmp_path: Path) -> None:
    text = GOOD.replace('kernel_package = "linux-image-amd64"\n', "")
    assert load_error(tmp_path, text) == (
        "%s: [targets.debian-12-amd64] missing key 'kernel_package' "
        "(the linux-image package booted directly by QEMU; builder mmdebstrap)" % (tmp_path / "debian.toml"))


def test_wrong_type_is_named(tmp_path: Path) -> None:
    text = GOOD.replace('packages = ["openssh-server", "python3"]', 'packages = "openssh-server"')
    assert load_error(tmp_path, text) == (
        "%s: [targets.debian-12-amd64] key 'packages': 'openssh-server' is not a list of strings "
        "(packages installed beside the kernel; builder mmdebstrap)" % (tmp_path / "debian.toml"))


def test_cmdline_without_ifnames_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace(" net.ifnames=0", "")
    assert load_error(tmp_path, text).endswith(
        "key 'kernel_cmdline': 'root=/dev/vda rw console=ttyS0' must contain net.ifnames=0 "
        "(the guest's network config names eth0)")


def test_target_name_must_match_os_release_arch(tmp_path: Path) -> None:
    text = GOOD.replace("[targets.debian-12-amd64]", "[targets.debian-12-x64]")
    assert load_error(tmp_path, text) == (
        "%s: [targets.debian-12-x64] target name must be <os>-<release>-<arch>, here 'debian-12-amd64'"
        % (tmp_path / "debian.toml"))


def test_unknown_os_lists_known_ones(tmp_path: Path) -> None:
    message = load_error(tmp_path, GOOD.replace('os = "debian"', 'os = "plan9"'))
    assert message == "%s: key 'os': 'plan9' is not one of debian, netbsd, openbsd" % (tmp_path / "debian.toml")


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    assert load_error(tmp_path, "os = ").startswith("%s: not valid TOML:" % (tmp_path / "debian.toml"))


def test_duplicate_target_across_files(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.toml")
    write(tmp_path, GOOD, "b.toml")
    with pytest.raises(ConfigError, match=re.escape("target 'debian-12-amd64' is defined in both")):
        load_catalog(tmp_path)


def test_unknown_target_lists_known_ones(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    with pytest.raises(ConfigError) as info:
        load_catalog(tmp_path)["debian-13-amd64"]
    assert info.value.message == "no image target 'debian-13-amd64' in the catalog"
    assert info.value.hint == "known targets: debian-12-amd64"


def test_shipped_catalog_loads_both_debian_targets() -> None:
    catalog = load_catalog(CATALOG_DIR)
    assert {"debian-12-amd64", "debian-12-aarch64"} <= set(catalog)
    assert catalog["debian-12-aarch64"]["native_arch"] == "arm64"
    assert "console=ttyAMA0" in catalog["debian-12-aarch64"]["kernel_cmdline"].split()
    assert "console=ttyS0,115200" in catalog["debian-12-amd64"]["kernel_cmdline"].split()


def test_recipe_hash_is_stable_and_sensitive(tmp_path: Path) -> None:
    base = load_catalog_file(write(tmp_path, GOOD))["debian-12-amd64"]
    again = load_catalog_file(write(tmp_path, GOOD, "again.toml"))["debian-12-amd64"]
    assert recipe_hash(base, "v1") == recipe_hash(again, "v1")
    assert re.fullmatch(r"[0-9a-f]{16}", recipe_hash(base, "v1"))
    assert recipe_hash(base, "v1") != recipe_hash(base, "v2")
    assert recipe_hash(base, "v1") != recipe_hash(base, "v1", {"files": {"etc/x": "1"}})

    more_packages = GOOD.replace('"python3"]', '"python3", "gdb"]')
    changed = load_catalog_file(write(tmp_path, more_packages, "changed.toml"))["debian-12-amd64"]
    assert recipe_hash(changed, "v1") != recipe_hash(base, "v1")

    # Key order in the file and run-time-only keys leave the image as it is.
    reordered = GOOD.replace('suite = "bookworm"\n', "") + 'suite = "bookworm"\n'
    shuffled = load_catalog_file(write(tmp_path, reordered, "shuffled.toml"))["debian-12-amd64"]
    assert recipe_hash(shuffled, "v1") == recipe_hash(base, "v1")
    run_only = GOOD + 'memory_mb = 2048\ndescription = "bigger"\n'
    bigger = load_catalog_file(write(tmp_path, run_only, "bigger.toml"))["debian-12-amd64"]
    assert recipe_hash(bigger, "v1") == recipe_hash(base, "v1")


def test_debian_image_hash_covers_the_files_written_into_the_guest(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    entry = load_catalog_file(write(tmp_path, GOOD))["debian-12-amd64"]
    before = debian.image_hash(entry)
    patched = dict(debian.GUEST_FILES)
    patched["etc/ssh/sshd_config.d/trapline.conf"] += "LogLevel DEBUG\n"
    monkeypatch.setattr(debian, "GUEST_FILES", patched)
    assert debian.image_hash(entry) != before


def test_catalog_console_is_the_serial_port_the_profile_wires_up() -> None:
    catalog = load_catalog(CATALOG_DIR)
    for name in catalog:
        entry = catalog[name]
        if entry.os != "debian":
            continue
        consoles = [w.split("=", 1)[1].split(",")[0] for w in entry["kernel_cmdline"].split()
                    if w.startswith("console=")]
        assert consoles[-1] == profile_for(entry.arch).kernel_console, name


CROSS = """\
os = "debian"

[targets.debian-12-sparc64]
builder = "sparc64-cross"
release = "12"
arch = "sparc64"
native_arch = "sparc64"
suite = "bookworm"
mirror = "http://deb.debian.org/debian"
source_packages = ["busybox", "python3.11"]
kernel_cmdline = "root=/dev/sda ro console=ttyS0 net.ifnames=0"
"""


def test_cross_builder_needs_source_packages(tmp_path: Path) -> None:
    entry = load_catalog_file(write(tmp_path, CROSS))["debian-12-sparc64"]
    assert (entry["builder"], entry["source_packages"]) == ("sparc64-cross", ["busybox", "python3.11"])
    assert load_error(tmp_path, CROSS.replace('source_packages = ["busybox", "python3.11"]\n', "")) == (
        "%s: [targets.debian-12-sparc64] missing key 'source_packages' "
        "(source packages cross-built into the image; builder sparc64-cross)" % (tmp_path / "debian.toml"))


def test_a_key_the_builder_ignores_is_refused(tmp_path: Path) -> None:
    assert load_error(tmp_path, CROSS + 'packages = ["gcc"]\n') == (
        "%s: [targets.debian-12-sparc64] key 'packages' is not used when builder = 'sparc64-cross'; remove it"
        % (tmp_path / "debian.toml"))
    assert load_error(tmp_path, GOOD + 'source_packages = ["zlib"]\n') == (
        "%s: [targets.debian-12-amd64] key 'source_packages' is not used when builder = 'mmdebstrap'; remove it"
        % (tmp_path / "debian.toml"))


def test_unknown_builder_lists_the_known_ones(tmp_path: Path) -> None:
    assert load_error(tmp_path, CROSS.replace('"sparc64-cross"', '"debootstrap"')) == (
        "%s: [targets.debian-12-sparc64] key 'builder': 'debootstrap' is not one of mmdebstrap, sparc64-cross"
        % (tmp_path / "debian.toml"))


def test_shipped_catalog_names_the_sparc64_guest() -> None:
    entry = load_catalog(CATALOG_DIR)["debian-12-sparc64"]
    assert (entry.arch, entry["builder"], entry["memory_mb"]) == ("sparc64", "sparc64-cross", 512)
