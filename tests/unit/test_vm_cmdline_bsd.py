"""The QEMU command line of every NetBSD and OpenBSD target against the
recipes of DESIGN.md section 4, and the Debian command lines unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.images.catalog import CATALOG_DIR, CatalogEntry, install_boot, load_catalog
from harness.vm.profiles import VmPaths, build_argv, profile_for
from harness.vm.spec import BootSpec

CATALOG = load_catalog(CATALOG_DIR)
BSD_TARGETS = sorted(name for name in CATALOG if CATALOG[name].os in ("netbsd", "openbsd"))
PATHS = VmPaths(qmp_socket=Path("/w/qmp.sock"), console_socket=Path("/w/console.sock"),
                transcript=Path("/w/console.log"), disk_overlay=Path("/w/disk.qcow2"))


def spec_for(entry: CatalogEntry, **changes: object) -> BootSpec:
    kernel = Path("/w/kernel") if entry.settings.get("kernel") or entry.os == "debian" else None
    append = entry.settings.get("kernel_append") or entry.settings.get("kernel_cmdline")
    fields = dict(target=entry.name, arch=entry.arch, base_disk=Path("/w/base.img"), kernel=kernel,
                  append=append if kernel else None, memory_mb=entry["memory_mb"],
                  profile_overrides=entry["profile"])
    fields.update(changes)
    return BootSpec(**fields)  # type: ignore[arg-type]


def argv_for(entry: CatalogEntry, **changes: object) -> list[str]:
    spec = spec_for(entry, **changes)
    return build_argv(profile_for(entry.arch, spec.profile_overrides), spec, "tcg", 2222, PATHS)


def install_argv(entry: CatalogEntry, media: Path) -> list[str]:
    # An install boots the media, not a kernel of QEMU's.
    return argv_for(entry, kernel=None, append=None, **install_boot(entry, media))


def value(argv: list[str], flag: str) -> str:
    assert argv.count(flag) == 1, (flag, argv)
    return argv[argv.index(flag) + 1]


def devices(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, word in enumerate(argv) if word == "-device"]


def test_every_bsd_target_has_a_command_line() -> None:
    assert len(BSD_TARGETS) == 24
    for name in BSD_TARGETS:
        argv = argv_for(CATALOG[name])
        assert argv[0] == {"amd64": "qemu-system-x86_64", "aarch64": "qemu-system-aarch64",
                           "sparc64": "qemu-system-sparc64"}[CATALOG[name].arch]
        assert value(argv, "-accel") == "tcg"


@pytest.mark.parametrize("name", [n for n in BSD_TARGETS if n.startswith("netbsd-") and n.endswith("-amd64")])
def test_netbsd_amd64_is_anitas_pc_board_with_an_ide_disk(name: str) -> None:
    argv = argv_for(CATALOG[name])
    assert value(argv, "-M") == "pc"
    assert "-cpu" not in argv
    assert value(argv, "-drive") == "file=/w/disk.qcow2,format=qcow2,if=none,id=disk0"
    assert devices(argv)[:2] == ["ide-hd,drive=disk0", "e1000,netdev=net0"]
    assert "-kernel" not in argv and "-bios" not in argv
    assert value(argv, "-m") == "1024"


@pytest.mark.parametrize("name", [n for n in BSD_TARGETS if n.startswith("netbsd-") and n.endswith("-aarch64")])
def test_netbsd_aarch64_is_anitas_virt_recipe_with_the_kernel_given_to_qemu(name: str) -> None:
    entry = CATALOG[name]
    argv = argv_for(entry)
    assert value(argv, "-M") == "virt"
    assert value(argv, "-cpu") == "cortex-a57"
    assert "-bios" not in argv
    assert devices(argv)[:3] == ["virtio-blk-device,drive=disk0", "virtio-net-device,netdev=net0",
                                 "virtio-rng-device,rng=rng0"]
    assert value(argv, "-kernel") == "/w/kernel"
    expected_root = "root=ld4a" if entry.release.startswith("9.") else "root=NAME=netbsd-root"
    assert value(argv, "-append") == expected_root
    assert install_boot(entry, Path("/m/arm64.img.gz")) == {}


@pytest.mark.parametrize("name", [n for n in BSD_TARGETS if n.startswith("netbsd-") and n.endswith("-sparc64")])
def test_netbsd_sparc64_is_sun4u_with_ide_e1000_on_pcib_and_capped_memory(name: str) -> None:
    entry = CATALOG[name]
    argv = argv_for(entry)
    assert value(argv, "-M") == "sun4u"
    assert value(argv, "-smp") == "1"
    assert value(argv, "-m") == "512"
    assert "-bios" not in argv
    assert value(argv, "-drive") == "file=/w/disk.qcow2,format=qcow2,if=ide,index=0"
    assert devices(argv) == ["e1000,netdev=net0,bus=pciB"]
    with pytest.raises(ConfigError, match="exceeds the sparc64 profile's limit of 2048 MB"):
        argv_for(entry, memory_mb=4096)


@pytest.mark.parametrize("name", [n for n in BSD_TARGETS if n.endswith("-sparc64")])
def test_sparc64_installs_boot_the_cd_at_ide_index_2(name: str) -> None:
    entry = CATALOG[name]
    iso = Path("/cache/media") / entry["install_media"]
    argv = install_argv(entry, iso)
    drives = [argv[i + 1] for i, word in enumerate(argv) if word == "-drive"]
    assert drives == ["file=/w/disk.qcow2,format=qcow2,if=ide,index=0",
                      "file=%s,format=raw,media=cdrom,readonly=on,if=ide,index=2" % iso]
    assert value(argv, "-boot") == "d"
    # The run itself boots the disk: no CD, no -boot.
    assert "-boot" not in argv_for(entry)


@pytest.mark.parametrize("name", [n for n in BSD_TARGETS if n.startswith("openbsd-") and n.endswith("-amd64")])
def test_openbsd_amd64_is_the_pc_board_with_virtio(name: str) -> None:
    entry = CATALOG[name]
    argv = argv_for(entry)
    assert value(argv, "-M") == "pc"
    assert "-cpu" not in argv  # QEMU's default, qemu64, as cross-platform-actions runs it
    assert devices(argv)[:2] == ["virtio-blk-pci,drive=disk0", "virtio-net-pci,netdev=net0"]
    cd = Path("/cache/media") / entry["install_media"]
    install = install_argv(entry, cd)
    cd_drive = install.index("file=%s,format=raw,media=cdrom,readonly=on,if=none,id=cd0" % cd)
    # On the pc board the CD is an IDE CD (PIIX), which SeaBIOS boots with -boot d.
    assert install[cd_drive + 1:cd_drive + 5] == ["-device", "ide-cd,drive=cd0", "-boot", "d"]
    # The amd64 profile's own extra arguments survive the install overlay.
    assert install[install.index("-machine"):install.index("-machine") + 2] == ["-machine", "graphics=off"]


@pytest.mark.parametrize("name", [n for n in BSD_TARGETS if n.startswith("openbsd-") and n.endswith("-aarch64")])
def test_openbsd_arm64_is_virt_without_acpi_on_edk2(name: str) -> None:
    entry = CATALOG[name]
    argv = argv_for(entry)
    assert value(argv, "-M") == "virt,highmem=off,acpi=off"
    assert value(argv, "-cpu") == "cortex-a57"
    assert value(argv, "-bios") == "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd"
    assert devices(argv) == ["virtio-blk-pci,drive=disk0", "virtio-net-pci,netdev=net0", "virtio-rng-pci,rng=rng0"]
    assert "-kernel" not in argv
    miniroot = Path("/cache/media") / entry["install_media"]
    assert miniroot.name == "miniroot%s.img" % entry.release.replace(".", "")
    install = install_argv(entry, miniroot)
    assert "file=%s,format=raw,if=none,id=install0,readonly=on" % miniroot in install
    assert "virtio-blk-pci,drive=install0,bootindex=0" in devices(install)
    assert "-boot" not in install


@pytest.mark.parametrize("name", [n for n in BSD_TARGETS if n.startswith("openbsd-") and n.endswith("-sparc64")])
def test_openbsd_sparc64_boots_the_patched_openbios(name: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    entry = load_catalog(CATALOG_DIR)[name]  # reloaded: the firmware path follows XDG_CACHE_HOME
    argv = argv_for(entry)
    assert value(argv, "-M") == "sun4u"
    assert value(argv, "-smp") == "1"
    assert value(argv, "-m") == "1024"
    assert value(argv, "-bios") == str(tmp_path / "trapline" / "firmware" / "openbios-sparc64-openbsd")
    assert value(argv, "-drive") == "file=/w/disk.qcow2,format=qcow2,if=ide,index=0"
    assert devices(argv) == ["e1000,netdev=net0,bus=pciB"]


def test_install_disk_image_with_commas_is_quoted_for_qemu() -> None:
    entry = CATALOG["openbsd-7.9-aarch64"]
    overrides = install_boot(entry, Path("/odd,dir/miniroot79.img"))["profile_overrides"]
    assert overrides["extra_args"][1] == "file=/odd,,dir/miniroot79.img,format=raw,if=none,id=install0,readonly=on"
    # The target's own overrides stay.
    assert overrides["machine"] == "virt,highmem=off,acpi=off"


def test_the_run_of_an_installed_guest_has_no_install_media() -> None:
    for name in BSD_TARGETS:
        argv = argv_for(CATALOG[name])
        assert "-boot" not in argv and "media=cdrom" not in " ".join(argv) and "install0" not in " ".join(argv)


def test_install_media_qemu_cannot_boot_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"install media bsd.rd is neither an .iso nor an .img"):
        install_boot(CATALOG["openbsd-7.9-amd64"], Path("/m/bsd.rd"))


def test_debian_has_no_install_media() -> None:
    with pytest.raises(ConfigError, match="debian targets are not installed from media"):
        install_boot(CATALOG["debian-12-amd64"], Path("/m/x.iso"))


COMMON_TAIL = [
    "-nodefaults", "-display", "none", "-no-user-config", "-S",
    "-chardev", "socket,id=console0,path=/w/console.sock,server=on,wait=off,logfile=/w/console.log,logappend=on",
    "-serial", "chardev:console0", "-qmp", "unix:/w/qmp.sock,server=on,wait=off",
    "-drive", "file=/w/disk.qcow2,format=qcow2,if=none,id=disk0",
]
NET = ["-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22"]
DEBIAN_ARGV = {
    "debian-12-amd64": [
        "qemu-system-x86_64", "-M", "q35", "-accel", "tcg", "-smp", "1", "-m", "1024", *COMMON_TAIL,
        "-device", "virtio-blk-pci,drive=disk0", *NET, "-device", "virtio-net-pci,netdev=net0",
        "-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-pci,rng=rng0",
        "-kernel", "/w/kernel", "-append", "root=/dev/vda rw console=ttyS0,115200 net.ifnames=0",
        "-machine", "graphics=off"],
    "debian-12-aarch64": [
        "qemu-system-aarch64", "-M", "virt", "-accel", "tcg", "-cpu", "cortex-a57", "-smp", "1", "-m", "1024",
        *COMMON_TAIL, "-device", "virtio-blk-device,drive=disk0", *NET, "-device", "virtio-net-device,netdev=net0",
        "-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-device,rng=rng0",
        "-kernel", "/w/kernel", "-append", "root=/dev/vda rw console=ttyAMA0 net.ifnames=0"],
    "debian-12-sparc64": [
        "qemu-system-sparc64", "-M", "sun4u", "-accel", "tcg", "-smp", "1", "-m", "512", *COMMON_TAIL,
        "-device", "virtio-blk-pci,bus=pciB,drive=disk0", *NET, "-device", "e1000,netdev=net0,bus=pciB",
        "-kernel", "/w/kernel", "-append", "root=/dev/vda ro console=ttyS0 net.ifnames=0"],
}


@pytest.mark.parametrize("name", sorted(DEBIAN_ARGV))
def test_debian_command_lines_are_unchanged(name: str) -> None:
    assert argv_for(CATALOG[name]) == DEBIAN_ARGV[name]
