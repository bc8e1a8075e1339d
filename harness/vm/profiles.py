"""QEMU machine profiles as data, one per arch, and the one argv builder.

A profile says which QEMU binary, machine, CPU, disk and NIC a guest of an
arch gets, with the reason for each quirk beside it.  An OS overlays its own
quirks with :meth:`Profile.with_overrides` (the BSD images do); nothing else
in the harness spells QEMU flags.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError


@dataclass(frozen=True)
class Profile:
    """How to run one arch under QEMU.  Frozen: overlay with :meth:`with_overrides`."""

    arch: str
    qemu_binary: str
    machine: str
    cpu: str | None
    smp: int
    default_memory_mb: int
    max_memory_mb: int
    # How the disk is attached: ``drive_if="none"`` plus a ``disk_device`` for
    # -device attachment, or a board interface (``ide``) with no device.
    drive_if: str
    disk_device: str | None
    nic_device: str
    nic_options: tuple[str, ...] = ()
    rng_device: str | None = None
    # The guest's name for the serial port the console is wired to, for the
    # kernel command line (``console=<kernel_console>``).
    kernel_console: str = "ttyS0"
    # The host machine arch KVM can run this profile on, or None.
    kvm_host_arch: str | None = None
    bios: str | None = None
    extra_args: tuple[str, ...] = ()
    # How an install CD is attached: a -device model (``cdrom_device``, on a
    # ``cdrom_controller`` added first when the board has no bus for it), or,
    # with no device, on the board's own ``drive_if`` bus at ``cdrom_index``.
    cdrom_device: str | None = None
    cdrom_controller: str | None = None
    cdrom_index: int = 2

    def with_overrides(self, overrides: Mapping[str, Any]) -> Profile:
        """A copy with ``overrides`` applied; unknown keys and wrong types are ConfigErrors."""
        if not overrides:
            return self
        fields = {f.name: f for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - set(fields))
        if unknown:
            raise ConfigError(
                "%s profile: unknown override key(s) %s" % (self.arch, ", ".join(unknown)),
                hint="known keys: %s" % ", ".join(sorted(fields)),
            )
        clean: dict[str, Any] = {}
        for key, value in overrides.items():
            current = getattr(self, key)
            if isinstance(current, tuple) or key in ("nic_options", "extra_args"):
                if isinstance(value, str) or not isinstance(value, Sequence):
                    raise ConfigError(
                        "%s profile: override %s=%r must be a list of strings" % (self.arch, key, value),
                        hint='e.g. %s = ["-rtc", "base=utc"]' % key,
                    )
                clean[key] = tuple(str(item) for item in value)
                continue
            elif key in ("smp", "default_memory_mb", "max_memory_mb", "cdrom_index"):
                if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                    raise ConfigError("%s profile: override %s=%r must be a positive integer" % (self.arch, key, value))
            elif value is not None and not isinstance(value, str):
                raise ConfigError("%s profile: override %s=%r must be a string" % (self.arch, key, value))
            clean[key] = value
        merged = dataclasses.replace(self, **clean)
        merged.validate()
        return merged

    def validate(self) -> None:
        if self.drive_if == "none" and not self.disk_device:
            raise ConfigError("%s profile: drive_if='none' needs a disk_device" % self.arch)
        if self.drive_if != "none" and self.disk_device:
            raise ConfigError(
                "%s profile: drive_if=%r attaches the disk itself; disk_device=%r would attach it twice"
                % (self.arch, self.drive_if, self.disk_device),
                hint="set disk_device to null, or drive_if to 'none'",
            )
        if self.cdrom_controller and not self.cdrom_device:
            raise ConfigError(
                "%s profile: cdrom_controller=%r needs a cdrom_device to attach to it"
                % (self.arch, self.cdrom_controller)
            )
        if self.default_memory_mb > self.max_memory_mb:
            raise ConfigError(
                "%s profile: default_memory_mb %d exceeds max_memory_mb %d"
                % (self.arch, self.default_memory_mb, self.max_memory_mb)
            )


PROFILES: Mapping[str, Profile] = {
    "amd64": Profile(
        arch="amd64",
        qemu_binary="qemu-system-x86_64",
        # q35 gives PCIe and an AHCI/ICH9 chipset every current guest drives.
        machine="q35",
        # None: QEMU's default model.  '-cpu host' needs KVM and here fails to
        # set MSR 0x10a (measured, DESIGN.md section 5).
        cpu=None,
        smp=1,
        default_memory_mb=1024,
        max_memory_mb=16384,
        drive_if="none",
        disk_device="virtio-blk-pci",
        nic_device="virtio-net-pci",
        # Without an entropy source, sshd can wait for the CRNG on first boot.
        rng_device="virtio-rng-pci",
        kernel_console="ttyS0",
        kvm_host_arch="x86_64",
        # With no display, QEMU tells SeaBIOS (fw_cfg etc/sercon-port) to
        # mirror its screen on the serial port: firmware messages and boot
        # menus then reach the console and the transcript.
        extra_args=("-machine", "graphics=off"),
        # q35's ICH9 AHCI controller is on the board (kept by -nodefaults);
        # SeaBIOS boots a CD on it, which no virtio device offers.
        cdrom_device="ide-cd",
    ),
    "aarch64": Profile(
        arch="aarch64",
        qemu_binary="qemu-system-aarch64",
        # 'virt' is the board every aarch64 OS supports under QEMU; kernels
        # are booted directly with -kernel (no firmware package needed).
        machine="virt",
        # cortex-a57 is what anita and cross-platform-actions boot NetBSD and
        # OpenBSD with; 'max' under TCG enables costly extras (SVE, pauth).
        cpu="cortex-a57",
        smp=1,
        default_memory_mb=1024,
        max_memory_mb=16384,
        drive_if="none",
        # The MMIO transport: the virt board has it without a PCI scan, and
        # it is what anita uses for NetBSD (virtio-blk-device).
        disk_device="virtio-blk-device",
        nic_device="virtio-net-device",
        rng_device="virtio-rng-device",
        kernel_console="ttyAMA0",  # the virt board's PL011 UART
        kvm_host_arch="aarch64",
        # virt has no IDE/AHCI: a CD sits on virtio-scsi, which EDK II and
        # both BSDs drive (cross-platform-actions installs NetBSD this way).
        cdrom_device="scsi-cd",
        cdrom_controller="virtio-scsi-device",
    ),
    "sparc64": Profile(
        arch="sparc64",
        qemu_binary="qemu-system-sparc64",
        # sun4u (UltraSPARC IIi) is the only sparc64 board QEMU boots OSes on,
        # with OpenBIOS as its firmware.
        machine="sun4u",
        cpu=None,
        # sun4u in QEMU is uniprocessor (anita, anyvm).
        smp=1,
        default_memory_mb=1024,
        # Above ~2 GB NetBSD/sparc64 panics at boot (anita).
        max_memory_mb=2048,
        # The board's cmd646 IDE; OpenBIOS cannot boot from virtio.
        drive_if="ide",
        disk_device=None,
        # e1000 on the second PCI bus: the onboard sunhme is unreliable under
        # NetBSD/OpenBSD, and pciA's slots are taken by the board (anyvm).
        nic_device="e1000",
        nic_options=("bus=pciB",),
        rng_device=None,
        kernel_console="ttyS0",
        kvm_host_arch=None,
        # The CD on the cmd646's secondary channel (index 2), where OpenBIOS's
        # 'cdrom' alias points; anita and anyvm attach install ISOs there.
        cdrom_device=None,
        cdrom_index=2,
    ),
}


def profile_for(arch: str, overrides: Mapping[str, Any] | None = None) -> Profile:
    """The profile of ``arch`` with ``overrides`` applied."""
    try:
        base = PROFILES[arch]
    except KeyError:
        raise ConfigError("no QEMU profile for arch %r" % arch, hint="one of %s" % ", ".join(PROFILES)) from None
    return base.with_overrides(overrides or {})


@dataclass(frozen=True)
class VmPaths:
    """The per-VM files QEMU is pointed at."""

    qmp_socket: Path
    console_socket: Path
    transcript: Path
    disk_overlay: Path | None = None
    # A saved state to load with -incoming; None for a cold boot.
    incoming: Path | None = None
    extra: Mapping[str, Path] = field(default_factory=dict)


def build_argv(
    profile: Profile,
    spec: Any,
    accel: str,
    ssh_port: int,
    paths: VmPaths,
) -> list[str]:
    """The full QEMU command line for ``spec`` (a :class:`harness.vm.BootSpec`).

    The VM starts paused (``-S``): the caller attaches the console first, so
    no byte the guest prints is lost, then continues it over QMP.
    """
    memory = spec.memory_mb or profile.default_memory_mb
    if memory > profile.max_memory_mb:
        raise ConfigError(
            "%s: %d MB of memory exceeds the %s profile's limit of %d MB"
            % (spec.target, memory, profile.arch, profile.max_memory_mb),
            target=spec.target,
            hint="lower memory_mb to %d or less" % profile.max_memory_mb,
        )
    if accel not in ("kvm", "tcg"):
        raise ConfigError("accelerator %r is not kvm or tcg" % accel)
    argv = [profile.qemu_binary, "-M", profile.machine, "-accel", accel]
    if profile.cpu:
        argv += ["-cpu", profile.cpu]
    argv += ["-smp", str(profile.smp), "-m", str(memory)]
    if profile.bios:
        argv += ["-bios", profile.bios]
    # -nodefaults: no VGA, no default NIC or CD drive that would differ per
    # board; every device the guest sees is one listed below.
    argv += ["-nodefaults", "-display", "none", "-no-user-config", "-S"]
    # The console: a unix socket the harness connects to, and QEMU itself
    # logging every byte the guest prints, so the transcript survives even a
    # harness crash.
    argv += [
        "-chardev",
        "socket,id=console0,path=%s,server=on,wait=off,logfile=%s,logappend=on"
        % (_opt(paths.console_socket), _opt(paths.transcript)),
        "-serial",
        "chardev:console0",
    ]
    argv += ["-qmp", "unix:%s,server=on,wait=off" % _opt(paths.qmp_socket)]
    if paths.disk_overlay is not None:
        drive = "file=%s,format=qcow2,if=%s" % (_opt(paths.disk_overlay), profile.drive_if)
        if profile.drive_if == "none":
            argv += ["-drive", drive + ",id=disk0", "-device", "%s,drive=disk0" % profile.disk_device]
        else:
            argv += ["-drive", drive + ",index=0"]
    if spec.cdrom is not None:
        argv += _cdrom_args(profile, spec.cdrom)
    if spec.boot_from == "cdrom":
        # 'd' is the first CD drive, for SeaBIOS and OpenBIOS alike.
        argv += ["-boot", "d"]
    if getattr(spec, "exit_on_reboot", False):
        argv += ["-no-reboot"]
    # User-mode networking: no root, no bridge; only SSH is reachable, and
    # only from this host (127.0.0.1), never from the network.
    argv += [
        "-netdev",
        "user,id=net0,hostfwd=tcp:127.0.0.1:%d-:22" % ssh_port,
        "-device",
        ",".join([profile.nic_device, "netdev=net0", *profile.nic_options]),
    ]
    if profile.rng_device:
        argv += ["-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "%s,rng=rng0" % profile.rng_device]
    if spec.kernel is not None:
        argv += ["-kernel", os.fspath(spec.kernel)]
        if spec.initrd is not None:
            argv += ["-initrd", os.fspath(spec.initrd)]
        if spec.append:
            argv += ["-append", spec.append]
    if paths.incoming is not None:
        # 'defer': the harness starts the load over QMP once the console is
        # attached, and can tell a failed load from a failed start.
        argv += ["-incoming", "defer"]
    argv += list(profile.extra_args)
    return argv


def _cdrom_args(profile: Profile, iso: Path) -> list[str]:
    # readonly: the verified ISO in the media cache is shared by every build.
    drive = "file=%s,format=raw,media=cdrom,readonly=on" % _opt(iso)
    if profile.cdrom_device is None:
        if profile.drive_if == "none":
            raise ConfigError(
                "%s profile: no way to attach a CD (drive_if='none' and no cdrom_device)" % profile.arch,
                hint="set cdrom_device (e.g. ide-cd) in the profile overrides",
            )
        return ["-drive", "%s,if=%s,index=%d" % (drive, profile.drive_if, profile.cdrom_index)]
    args: list[str] = []
    device = "%s,drive=cd0" % profile.cdrom_device
    if profile.cdrom_controller:
        args += ["-device", "%s,id=cdbus0" % profile.cdrom_controller]
        device += ",bus=cdbus0.0"
    return [*args, "-drive", drive + ",if=none,id=cd0", "-device", device]


def _opt(path: Path) -> str:
    # QEMU's option parser splits on commas; a doubled comma is a literal one.
    return os.fspath(path).replace(",", ",,")
