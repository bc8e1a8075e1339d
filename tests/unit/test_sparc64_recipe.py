"""The sparc64 image recipe: hashes, the kernel config fragment, guest files, keys."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.errors import ConfigError
from harness.images.catalog import CatalogEntry
from harness.images.sparc64 import guest
from harness.images.sparc64.builder import PrivateApt, part_dir, part_inputs, recipe_from_entry
from harness.images.sparc64.recipe import (
    Recipe,
    Versions,
    config_mismatches,
    drop_module_options,
    fragment_settings,
    kernel_config_fragment,
    recipe_hash,
    stable_hash,
)

VERSIONS = Versions(host={"linux-source-6.1": "6.1.192-2", "gcc-sparc64-linux-gnu": "4:12.2.0-5"},
                    sources={"busybox": "1:1.35.0-4+deb12u1", "python3.11": "3.11.2-6+deb12u8"},
                    build_python="3.11.2", extra={"cross_gcc": "12.2.0"})


def test_stable_hash_is_pinned_and_ignores_key_order() -> None:
    # The literal (sha256 of {"a":"x","b":[1,2]}) pins the canonical JSON
    # form: changing it would silently orphan every cached part and image.
    assert stable_hash({"b": [1, 2], "a": "x"}) == stable_hash({"a": "x", "b": [1, 2]})
    assert stable_hash({"a": "x", "b": [1, 2]}) == "721ef82f2d6c0997"
    assert stable_hash({"a": "x", "b": (1, 2)}) == stable_hash({"a": "x", "b": [1, 2]})


def test_recipe_hash_is_stable_across_calls() -> None:
    files = guest.guest_files(Recipe())
    assert recipe_hash(Recipe(), VERSIONS, files) == recipe_hash(Recipe(), VERSIONS, dict(files))


def test_recipe_hash_follows_every_input() -> None:
    recipe = Recipe()
    files = guest.guest_files(recipe)
    base = recipe_hash(recipe, VERSIONS, files)
    newer_busybox = Versions(host=VERSIONS.host, sources={**VERSIONS.sources, "busybox": "1:1.35.0-4+deb12u2"},
                             build_python=VERSIONS.build_python, extra=VERSIONS.extra)
    assert recipe_hash(recipe, newer_busybox, files) != base
    assert recipe_hash(recipe, VERSIONS, {**files, "etc/motd": "hi\n"}) != base
    assert recipe_hash(Recipe(kernel_cmdline="root=/dev/sda console=ttyS0 quiet"), VERSIONS, files) != base


def test_recipe_hash_ignores_run_time_knobs() -> None:
    files = guest.guest_files(Recipe())
    assert recipe_hash(Recipe(jobs=8, memory_mb=1024), VERSIONS, files) == recipe_hash(Recipe(), VERSIONS, files)


def test_fragment_turns_on_what_the_sun4u_guest_needs() -> None:
    wanted = fragment_settings(kernel_config_fragment())
    for option in ("CONFIG_PATA_CMD64X", "CONFIG_ATA", "CONFIG_BLK_DEV_SD", "CONFIG_HAPPYMEAL", "CONFIG_E1000",
                   "CONFIG_SERIAL_SUNSU", "CONFIG_SERIAL_SUNSU_CONSOLE", "CONFIG_EXT4_FS", "CONFIG_DEVTMPFS",
                   "CONFIG_DEVTMPFS_MOUNT", "CONFIG_UNIX", "CONFIG_INET", "CONFIG_UNIX98_PTYS", "CONFIG_PCI"):
        assert wanted[option] == "y", option


def test_fragment_builds_everything_in_and_drops_smp() -> None:
    wanted = fragment_settings(kernel_config_fragment())
    assert wanted["CONFIG_MODULES"] == "n"
    assert wanted["CONFIG_SMP"] == "n"
    assert wanted["CONFIG_SOUND"] == "n"
    assert wanted["CONFIG_USB_SUPPORT"] == "n"


def test_fragment_parser_rejects_a_line_that_is_not_kconfig() -> None:
    with pytest.raises(ConfigError, match="line 2"):
        fragment_settings("CONFIG_A=y\nCONIFG_B=y\n")


def test_config_mismatches_accepts_absent_off_options_and_reports_lost_on_options() -> None:
    wanted = {"CONFIG_A": "y", "CONFIG_B": "n", "CONFIG_C": "y"}
    config = "CONFIG_A=y\nCONFIG_CMDLINE=\n# CONFIG_C is not set\n"
    assert config_mismatches(wanted, config) == ["CONFIG_C: wanted y, .config has n"]


def test_dropbear_key_file_layout() -> None:
    key = Ed25519PrivateKey.generate()
    blob = guest.dropbear_ed25519_key(key)
    assert struct.unpack(">I", blob[:4]) == (11,)
    assert blob[4:15] == b"ssh-ed25519"
    assert struct.unpack(">I", blob[15:19]) == (64,)
    assert len(blob) == 19 + 64
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert blob[19:51] == seed
    assert blob[51:] == public


def test_host_key_public_line_matches_the_private_key() -> None:
    private, public_line = guest.make_host_key("root@test")
    seed = private[19:51]
    key = Ed25519PrivateKey.from_private_bytes(seed)
    expected = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    assert public_line == expected.decode() + " root@test\n"


def test_client_key_is_private_to_its_owner(tmp_path: Path) -> None:
    private, public = guest.write_client_key(tmp_path, "me@here")
    assert private.stat().st_mode & 0o777 == 0o600
    loaded = serialization.load_ssh_private_key(private.read_bytes(), password=None)
    assert public.startswith("ssh-ed25519 ") and public.endswith(" me@here\n")
    line = loaded.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    assert public.split()[1] == line.decode().split()[1]


def test_guest_files_start_sshd_with_the_installed_host_key_and_a_static_address() -> None:
    files = guest.guest_files(Recipe(guest_address="10.0.2.15/24", guest_gateway="10.0.2.2"))
    assert "::respawn:/usr/sbin/dropbear -F -r /etc/dropbear/dropbear_ed25519_host_key\n" in files["etc/inittab"]
    assert "ip addr add 10.0.2.15/24 dev eth0\n" in files["etc/init.d/rcS"]
    assert "ip route add default via 10.0.2.2\n" in files["etc/init.d/rcS"]
    assert files["etc/passwd"].startswith("root:x:0:0:root:/root:/bin/sh\n")


def _entry(**settings: object) -> CatalogEntry:
    return CatalogEntry(name="debian-12-sparc64", os="debian", release="12", arch=str(settings.pop("arch", "sparc64")),
                        source=Path("images/debian.toml"), settings=settings)


def test_recipe_from_entry_takes_catalog_values_and_keeps_other_defaults() -> None:
    recipe = recipe_from_entry(_entry(kernel_cmdline="root=/dev/sda console=ttyS0", disk_free_mib=64,
                                      source_packages=["busybox", "dropbear", "zlib", "libffi", "python3.11"]))
    assert recipe.kernel_cmdline == "root=/dev/sda console=ttyS0"
    assert recipe.disk_free_mib == 64
    assert recipe.suite == "bookworm"


def test_recipe_from_entry_refuses_another_arch() -> None:
    with pytest.raises(ConfigError, match="not a sparc64 target"):
        recipe_from_entry(_entry(arch="amd64"))


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="version comparison uses dpkg --compare-versions")
def test_private_apt_picks_the_newest_version_of_each_source(tmp_path: Path) -> None:
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "deb.debian.org_debian_dists_bookworm_main_source_Sources").write_text(
        "Package: busybox\nVersion: 1:1.35.0-4\n\n"
        "Package: busybox\nVersion: 1:1.35.0-4+deb12u1\n\n"
        "Package: zlib\nVersion: 1:1.2.13.dfsg-1\n\n"
        "Package: unrelated\nVersion: 9\n")
    apt = PrivateApt(tmp_path, Recipe())
    assert apt.source_versions(("busybox", "zlib")) == {"busybox": "1:1.35.0-4+deb12u1", "zlib": "1:1.2.13.dfsg-1"}


def test_private_apt_names_the_missing_source_package(tmp_path: Path) -> None:
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "x_source_Sources").write_text("Package: zlib\nVersion: 1\n")
    from harness.errors import HostError
    with pytest.raises(HostError, match="dropbear"):
        PrivateApt(tmp_path, Recipe()).source_versions(("zlib", "dropbear"))


def test_module_options_of_the_defconfig_are_dropped_not_built_in() -> None:
    config = "CONFIG_A=y\nCONFIG_SND=m\nCONFIG_SND_DUMMY=m\n# CONFIG_B is not set\n"
    assert drop_module_options(config) == ("CONFIG_A=y\n# CONFIG_SND is not set\n# CONFIG_SND_DUMMY is not set\n"
                                           "# CONFIG_B is not set\n")


def _versions(**sources: str) -> Versions:
    host = {"linux-source-6.1": "6.1.192-2", "binutils-sparc64-linux-gnu": "2.40-2",
            "libc6-dev-sparc64-cross": "2.36-8cross1", "linux-libc-dev-sparc64-cross": "6.1.4-1cross1"}
    base = {"busybox": "1:1.35.0-4+deb12u1", "dropbear": "2022.83-1+deb12u3", "zlib": "1:1.2.13.dfsg-1",
            "libffi": "3.4.4-1", "python3.11": "3.11.2-6+deb12u8"}
    return Versions(host=host, sources={**base, **sources}, build_python="3.11.2", extra={"cross_gcc": "12.2.0"})


def test_a_new_busybox_rebuilds_busybox_but_not_the_kernel_or_python(tmp_path: Path) -> None:
    before = part_inputs(_versions())
    after = part_inputs(_versions(busybox="1:1.35.0-4+deb12u2"))
    changed = sorted(name for name in before if part_dir(tmp_path, name, before[name])
                     != part_dir(tmp_path, name, after[name]))
    assert changed == ["busybox"]


def test_a_new_libffi_rebuilds_the_libraries_and_python() -> None:
    before = part_inputs(_versions())
    after = part_inputs(_versions(libffi="3.4.4-2"))
    changed = sorted(name for name in before if stable_hash(before[name]) != stable_hash(after[name]))
    assert changed == ["libs", "python"]
