"""QEMU command lines per arch, profile overrides, boot specs and timeouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.vm import BootSpec, Timeouts, build_argv, profile_for
from harness.vm.profiles import VmPaths

PATHS = VmPaths(
    qmp_socket=Path("/run/vm/qmp.sock"),
    console_socket=Path("/run/vm/console.sock"),
    transcript=Path("/run/vm/console.log"),
    disk_overlay=Path("/run/vm/overlay.qcow2"),
)
CONSOLE = [
    "-chardev",
    "socket,id=console0,path=/run/vm/console.sock,server=on,wait=off,logfile=/run/vm/console.log,logappend=on",
    "-serial",
    "chardev:console0",
    "-qmp",
    "unix:/run/vm/qmp.sock,server=on,wait=off",
]


def _spec(arch: str, **kw) -> BootSpec:
    return BootSpec(target="test-1-%s" % arch, arch=arch, base_disk=Path("/img/disk.img"), **kw)


def test_amd64_argv_is_q35_with_virtio_disk_and_nic() -> None:
    spec = _spec("amd64", kernel=Path("/img/vmlinuz"), initrd=Path("/img/initrd.img"), append="console=ttyS0")
    argv = build_argv(profile_for("amd64"), spec, "tcg", 40022, PATHS)
    assert argv == [
        "qemu-system-x86_64", "-M", "q35", "-accel", "tcg", "-smp", "1", "-m", "1024",
        "-nodefaults", "-display", "none", "-no-user-config", "-S",
        *CONSOLE,
        "-drive", "file=/run/vm/overlay.qcow2,format=qcow2,if=none,id=disk0",
        "-device", "virtio-blk-pci,drive=disk0",
        "-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:40022-:22",
        "-device", "virtio-net-pci,netdev=net0",
        "-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-pci,rng=rng0",
        "-kernel", "/img/vmlinuz", "-initrd", "/img/initrd.img", "-append", "console=ttyS0",
        "-machine", "graphics=off",
    ]  # fmt: skip


def test_aarch64_argv_is_virt_cortex_a57_with_mmio_virtio() -> None:
    spec = _spec("aarch64", kernel=Path("/img/vmlinuz"), append="console=ttyAMA0", memory_mb=2048)
    argv = build_argv(profile_for("aarch64"), spec, "tcg", 40023, PATHS)
    assert argv == [
        "qemu-system-aarch64", "-M", "virt", "-accel", "tcg", "-cpu", "cortex-a57", "-smp", "1", "-m", "2048",
        "-nodefaults", "-display", "none", "-no-user-config", "-S",
        *CONSOLE,
        "-drive", "file=/run/vm/overlay.qcow2,format=qcow2,if=none,id=disk0",
        "-device", "virtio-blk-device,drive=disk0",
        "-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:40023-:22",
        "-device", "virtio-net-device,netdev=net0",
        "-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-device,rng=rng0",
        "-kernel", "/img/vmlinuz", "-append", "console=ttyAMA0",
    ]  # fmt: skip


def test_sparc64_argv_is_sun4u_with_ide_disk_and_e1000_on_pcib() -> None:
    argv = build_argv(profile_for("sparc64"), _spec("sparc64"), "tcg", 40024, PATHS)
    assert argv == [
        "qemu-system-sparc64", "-M", "sun4u", "-accel", "tcg", "-smp", "1", "-m", "1024",
        "-nodefaults", "-display", "none", "-no-user-config", "-S",
        *CONSOLE,
        "-drive", "file=/run/vm/overlay.qcow2,format=qcow2,if=ide,index=0",
        "-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:40024-:22",
        "-device", "e1000,netdev=net0,bus=pciB",
    ]  # fmt: skip


def test_restore_adds_incoming_defer_and_firmware_boot_has_no_disk() -> None:
    paths = VmPaths(PATHS.qmp_socket, PATHS.console_socket, PATHS.transcript, None, Path("/cache/state.bin"))
    argv = build_argv(profile_for("sparc64"), BootSpec(target="fw", arch="sparc64"), "tcg", 1, paths)
    assert argv[-2:] == ["-incoming", "defer"]
    assert "-drive" not in argv


def test_commas_in_paths_are_doubled_for_qemu() -> None:
    paths = VmPaths(Path("/a,b/qmp.sock"), PATHS.console_socket, PATHS.transcript)
    argv = build_argv(profile_for("amd64"), BootSpec(target="fw", arch="amd64"), "tcg", 1, paths)
    assert "unix:/a,,b/qmp.sock,server=on,wait=off" in argv


def test_sparc64_memory_above_2_gb_is_refused() -> None:
    with pytest.raises(ConfigError, match="4096 MB of memory exceeds the sparc64 profile's limit of 2048 MB"):
        build_argv(profile_for("sparc64"), _spec("sparc64", memory_mb=4096), "tcg", 1, PATHS)


def test_override_replaces_fields_and_keeps_the_rest() -> None:
    profile = profile_for("sparc64", {"nic_device": "sunhme", "nic_options": [], "extra_args": ["-bios", "x"]})
    assert (profile.nic_device, profile.nic_options, profile.extra_args) == ("sunhme", (), ("-bios", "x"))
    assert profile.machine == "sun4u"
    assert profile_for("sparc64").nic_device == "e1000"  # the table itself is untouched


def test_override_with_unknown_key_names_it_and_the_known_keys() -> None:
    with pytest.raises(ConfigError) as err:
        profile_for("amd64", {"nic": "e1000"})
    assert "unknown override key(s) nic" in str(err.value)
    assert "nic_device" in str(err.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"smp": "2"}, "smp='2' must be a positive integer"),
        ({"extra_args": "-rtc base=utc"}, "must be a list of strings"),
        ({"machine": 5}, "machine=5 must be a string"),
        ({"disk_device": "virtio-blk-pci", "drive_if": "ide"}, "would attach it twice"),
        ({"default_memory_mb": 4096}, "default_memory_mb 4096 exceeds max_memory_mb 2048"),
    ],
)
def test_bad_override_values_are_config_errors(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        profile_for("sparc64", overrides)


def test_unknown_arch_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="no QEMU profile for arch 'mips'"):
        profile_for("mips")


def test_boot_spec_validates_and_freezes() -> None:
    spec = BootSpec(target="t", arch="amd64", kernel=Path("k"), profile_overrides={"smp": 2})
    assert spec.kernel == Path("k").absolute()
    with pytest.raises(TypeError):
        spec.profile_overrides["smp"] = 4  # type: ignore[index]
    with pytest.raises(ConfigError, match="disk_format 'vmdk'"):
        BootSpec(target="t", arch="amd64", disk_format="vmdk")
    with pytest.raises(ConfigError, match="needs a kernel"):
        BootSpec(target="t", arch="amd64", append="console=ttyS0")


def test_timeouts_scale_per_arch_and_accel_but_not_host_side(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRAPLINE_TIMEOUT_SCALE", raising=False)
    amd64 = Timeouts.for_machine("amd64", "tcg")
    sparc = Timeouts.for_machine("sparc64", "tcg")
    assert amd64.seconds("boot_to_ssh") == 240.0
    assert sparc.seconds("boot_to_ssh") == 1440.0
    assert sparc.seconds("qmp") == amd64.seconds("qmp") == 10.0
    assert Timeouts.for_machine("amd64", "kvm").seconds("console_prompt") == 15.0
    monkeypatch.setenv("TRAPLINE_TIMEOUT_SCALE", "2")
    assert Timeouts.for_machine("amd64", "tcg", console_prompt=5).seconds("console_prompt") == 10.0


def test_timeouts_reject_unknown_names_and_bad_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="unknown timeout 'boot'"):
        Timeouts().seconds("boot")
    with pytest.raises(ConfigError, match="unknown timeout name"):
        Timeouts.for_machine("amd64", "tcg", boot=3)
    monkeypatch.setenv("TRAPLINE_TIMEOUT_SCALE", "fast")
    with pytest.raises(ConfigError, match="TRAPLINE_TIMEOUT_SCALE='fast' is not a number"):
        Timeouts.for_machine("amd64", "tcg")
