"""Install media in the VM layer: the CD on each arch's command line, booting
from it, and keeping the disk an install wrote (qemu-img runs for real)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from harness.errors import ConfigError, HostError
from harness.vm import BootSpec, build_argv, profile_for
from harness.vm.machine import convert_disk, create_blank_disk, create_overlay
from harness.vm.profiles import VmPaths

PATHS = VmPaths(
    qmp_socket=Path("/run/vm/qmp.sock"),
    console_socket=Path("/run/vm/console.sock"),
    transcript=Path("/run/vm/console.log"),
    disk_overlay=Path("/run/vm/overlay.qcow2"),
)


def _install_spec(arch: str, **kw) -> BootSpec:
    return BootSpec(target="netbsd-10.1-%s" % arch, arch=arch, base_disk=Path("/img/blank.img"),
                    cdrom=Path("/media/install.iso"), **kw)


def _after(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, word in enumerate(argv) if word == flag]


def test_sparc64_cd_is_on_the_ide_bus_at_index_2_and_boots_with_boot_d() -> None:
    argv = build_argv(profile_for("sparc64"), _install_spec("sparc64", boot_from="cdrom"), "tcg", 40022, PATHS)
    assert _after(argv, "-drive") == [
        "file=/run/vm/overlay.qcow2,format=qcow2,if=ide,index=0",
        "file=/media/install.iso,format=raw,media=cdrom,readonly=on,if=ide,index=2",
    ]
    assert _after(argv, "-boot") == ["d"]
    # The CD comes after the disk and before the network, once.
    assert argv.index("-boot") > argv.index("file=/media/install.iso,format=raw,media=cdrom,readonly=on,if=ide,index=2")


def test_amd64_cd_is_an_ide_cd_on_the_q35_ahci_and_boots_with_boot_d() -> None:
    argv = build_argv(profile_for("amd64"), _install_spec("amd64", boot_from="cdrom"), "tcg", 40022, PATHS)
    start = argv.index("file=/media/install.iso,format=raw,media=cdrom,readonly=on,if=none,id=cd0") - 1
    assert argv[start:start + 6] == [
        "-drive", "file=/media/install.iso,format=raw,media=cdrom,readonly=on,if=none,id=cd0",
        "-device", "ide-cd,drive=cd0",
        "-boot", "d",
    ]  # fmt: skip


def test_aarch64_cd_sits_on_its_own_virtio_scsi_controller() -> None:
    argv = build_argv(profile_for("aarch64"), _install_spec("aarch64"), "tcg", 40022, PATHS)
    assert _after(argv, "-device")[1:3] == ["virtio-scsi-device,id=cdbus0", "scsi-cd,drive=cd0,bus=cdbus0.0"]
    # boot_from left at the default: the board boots as it always does.
    assert "-boot" not in argv


def test_a_cd_without_boot_from_cdrom_adds_no_boot_order() -> None:
    argv = build_argv(profile_for("sparc64"), _install_spec("sparc64"), "tcg", 40022, PATHS)
    assert "-boot" not in argv
    assert "file=/media/install.iso,format=raw,media=cdrom,readonly=on,if=ide,index=2" in argv


def test_a_run_without_cdrom_has_no_cd_and_no_boot_order() -> None:
    spec = BootSpec(target="netbsd-10.1-sparc64", arch="sparc64", base_disk=Path("/img/disk.img"))
    argv = build_argv(profile_for("sparc64"), spec, "tcg", 40022, PATHS)
    assert _after(argv, "-drive") == ["file=/run/vm/overlay.qcow2,format=qcow2,if=ide,index=0"]
    assert "-boot" not in argv


def test_an_install_run_ends_qemu_on_reboot_and_a_normal_run_does_not() -> None:
    install = build_argv(profile_for("amd64"), _install_spec("amd64", boot_from="cdrom", exit_on_reboot=True),
                         "tcg", 40022, PATHS)
    assert install.count("-no-reboot") == 1
    normal = build_argv(profile_for("amd64"), _install_spec("amd64"), "tcg", 40022, PATHS)
    assert "-no-reboot" not in normal


def test_cd_index_is_a_profile_override() -> None:
    profile = profile_for("sparc64", {"cdrom_index": 3})
    argv = build_argv(profile, _install_spec("sparc64"), "tcg", 40022, PATHS)
    assert "file=/media/install.iso,format=raw,media=cdrom,readonly=on,if=ide,index=3" in argv


def test_booting_a_cd_needs_a_cd() -> None:
    with pytest.raises(ConfigError, match="boot_from='cdrom' needs a cdrom"):
        BootSpec(target="t-1-amd64", arch="amd64", boot_from="cdrom")


def test_boot_from_names_the_allowed_values() -> None:
    with pytest.raises(ConfigError, match="boot_from 'floppy' is not one of default, cdrom"):
        BootSpec(target="t-1-amd64", arch="amd64", cdrom=Path("/x.iso"), boot_from="floppy")


def test_booting_a_cd_and_a_direct_kernel_exclude_each_other() -> None:
    with pytest.raises(ConfigError, match="exclude each other"):
        BootSpec(target="t-1-amd64", arch="amd64", cdrom=Path("/x.iso"), boot_from="cdrom", kernel=Path("/k"))


def test_a_missing_iso_is_reported_as_a_missing_file(tmp_path: Path) -> None:
    spec = BootSpec(target="t-1-amd64", arch="amd64", cdrom=tmp_path / "gone.iso")
    assert spec.missing_files() == [tmp_path / "gone.iso"]


def test_a_profile_with_no_way_to_attach_a_cd_says_so() -> None:
    profile = profile_for("amd64", {"cdrom_device": None})
    with pytest.raises(ConfigError, match="no way to attach a CD"):
        build_argv(profile, _install_spec("amd64"), "tcg", 40022, PATHS)


def test_a_cd_controller_without_a_cd_device_is_refused() -> None:
    with pytest.raises(ConfigError, match="cdrom_controller='virtio-scsi-pci' needs a cdrom_device"):
        profile_for("sparc64", {"cdrom_controller": "virtio-scsi-pci"})


def test_blank_disk_is_sparse_zeros_of_the_asked_size(tmp_path: Path) -> None:
    disk = tmp_path / "blank.img"
    create_blank_disk(disk, 64)
    assert disk.stat().st_size == 64 * 1024 * 1024
    assert disk.stat().st_blocks * 512 < 1024 * 1024  # sparse: nothing written
    assert not (tmp_path / "blank.img.tmp").exists()


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img (qemu-utils) is not installed")
def test_convert_keeps_what_was_written_to_the_overlay(tmp_path: Path) -> None:
    """The install path: a blank base, an overlay taking the writes (here
    written by qemu-io, standing in for the installer), converted to one raw
    image holding the writes; the base stays blank."""
    if shutil.which("qemu-io") is None:
        pytest.skip("qemu-io (qemu-utils) is not installed")
    base = tmp_path / "blank.img"
    create_blank_disk(base, 8)
    overlay = tmp_path / "overlay.qcow2"
    create_overlay(base, "raw", overlay)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 4k", str(overlay)], check=True,
                   capture_output=True)
    out = tmp_path / "disk.img"
    convert_disk(overlay, out)
    data = out.read_bytes()
    assert len(data) == 8 * 1024 * 1024
    assert data[1024 * 1024:1024 * 1024 + 4096] == b"\x5a" * 4096
    assert data[:1024 * 1024] == bytes(1024 * 1024)
    assert base.read_bytes() == bytes(8 * 1024 * 1024)
    assert not (tmp_path / "disk.img.tmp").exists()


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img (qemu-utils) is not installed")
def test_a_failed_convert_names_the_problem_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(HostError, match="converting the disk failed"):
        convert_disk(tmp_path / "absent.qcow2", tmp_path / "disk.img")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
