"""Build a Debian guest image from Debian's packages.

Steps: mmdebstrap a root file system into a directory (a foreign arch runs
its maintainer scripts through qemu-user via binfmt_misc), configure it
(DHCP on eth0 by systemd-networkd, sshd with root key login, our keys,
masked slow units), copy the kernel and initrd out for QEMU's direct boot,
and pack the tree into an ext4 image with ``mkfs.ext4 -d``.

Keys are made here, on the host: the login key pair stays in the cache, the
guest's host key pair is installed into the image and only its public half
is kept beside it, so the SSH layer pins it from the first connection on and
never has to trust whatever answers.
"""

from __future__ import annotations

import os
import platform
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

from rich.console import Console

from ..errors import ConfigError, HostError
from .cache import BuiltImage, build_cached
from .catalog import CatalogEntry, recipe_hash
from .steps import StepRunner

# Bump when the build procedure changes what ends up in the image in a way
# the catalog entry and GUEST_FILES below do not capture.
BUILDER_VERSION = "debian-1"

# Written into the image verbatim (and part of the recipe hash).
GUEST_FILES: dict[str, str] = {
    "etc/fstab": "/dev/vda / ext4 rw,errors=remount-ro 0 1\n",
    "etc/systemd/network/20-eth0.network": (
        "# QEMU user networking serves DHCP on 10.0.2.0/24.\n"
        "[Match]\nName=eth0\n\n"
        "[Network]\nDHCP=ipv4\n"
        # No IPv6 autoconfiguration: nothing uses it, and waiting for router
        # advertisements only delays the network being declared up.
        "IPv6AcceptRA=no\nLinkLocalAddressing=no\n"
    ),
    "etc/ssh/sshd_config.d/trapline.conf": (
        # Debian's sshd_config includes this directory first, and the first
        # value sshd reads for a keyword wins.
        "HostKey /etc/ssh/ssh_host_ed25519_key\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UseDNS no\n"
    ),
}
# Written before the kernel is installed, so its initramfs is built with
# them.  Debian's default (MODULES=most) packs most of the kernel's modules:
# a 36 MB initrd that QEMU loads and the guest unpacks on every cold boot,
# and minutes of mkinitramfs under qemu-user for a foreign arch.  A guest
# on QEMU's virt/pc boards needs only the virtio disk and ext4 to find root.
INITRAMFS_MODULES = ("virtio_pci", "virtio_mmio", "virtio_blk", "ext4", "crc32c_generic")
PRE_INSTALL_FILES: dict[str, tuple[str, int]] = {
    "etc/initramfs-tools/conf.d/trapline.conf": ("MODULES=list\n", 0o644),
    "etc/initramfs-tools/hooks/trapline-virtio": (
        "#!/bin/sh\n"
        "# Added by trapline's image builder: the modules a QEMU guest needs to mount its root.\n"
        'case "$1" in prereqs) exit 0 ;; esac\n'
        ". /usr/share/initramfs-tools/hook-functions\n"
        "for m in %s; do manual_add_modules \"$m\"; done\n" % " ".join(INITRAMFS_MODULES),
        0o755,
    ),
}
ENABLE_UNITS = ("systemd-networkd.service",)
SSH_USER = "root"

# trapline arch -> (Debian arch, binfmt_misc entry for running it on another host)
_DEBIAN_ARCH = {"amd64": ("amd64", "qemu-x86_64"), "aarch64": ("arm64", "qemu-aarch64")}
_HOST_ARCH = {"x86_64": "amd64", "aarch64": "aarch64", "arm64": "aarch64"}
_BINFMT = Path("/proc/sys/fs/binfmt_misc")
# Less to unpack and copy into the image; the guest never shows a manual.
_DPKG_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*",
                  "/usr/share/lintian/*")


def image_hash(entry: CatalogEntry) -> str:
    return recipe_hash(entry, BUILDER_VERSION, {
        "files": GUEST_FILES, "pre_install": {k: [t, m] for k, (t, m) in PRE_INSTALL_FILES.items()},
        "enable": list(ENABLE_UNITS), "dpkg_excludes": list(_DPKG_EXCLUDES),
    })


def ensure_built(entry: CatalogEntry, *, console: Console | None = None) -> tuple[BuiltImage, bool]:
    """The cached image for ``entry``, built now if absent.  ``(image, built_now)``."""
    if entry.os != "debian":
        raise ConfigError("target %s is not a Debian target (os %r)" % (entry.name, entry.os))
    console = console or Console(stderr=True)

    def waiting(lock: Path) -> None:
        console.print("%s: another process is building this image; waiting for %s" % (entry.name, lock))

    def build(work: Path, log: Path) -> dict[str, Any]:
        with StepRunner(log, target=entry.name, console=console) as steps:
            return _build(entry, work, steps)

    return build_cached(entry.name, image_hash(entry), build, on_wait=waiting)


def _require_tools(target: str) -> None:
    if os.geteuid() != 0:
        raise HostError("building a Debian image needs root (mmdebstrap --mode=root, file ownership in "
                        "the image)", target=target, hint="run the build as root, e.g. sudo harness images build")
    for tool, package in (("mmdebstrap", "mmdebstrap"), ("mkfs.ext4", "e2fsprogs"),
                          ("ssh-keygen", "openssh-client"), ("systemctl", "systemd")):
        if shutil.which(tool) is None:
            raise HostError("%s not found" % tool, target=target,
                            hint="install the %s package (scripts/install-system-packages)" % package)


def ensure_binfmt(binfmt_name: str, *, target: str, steps: StepRunner | None = None) -> None:
    """Make sure the kernel runs ``binfmt_name`` binaries through qemu-user.

    Containers often start with binfmt_misc unmounted, and update-binfmts
    only registers handlers when it is mounted: mount it, then enable.
    """
    def run(argv: list[str]) -> None:
        if steps is not None:
            steps.run(argv, hint="foreign-arch builds need binfmt_misc (a privileged container or a VM host)")
        else:
            subprocess.run(argv, check=True, capture_output=True)

    entry = _BINFMT / binfmt_name
    try:
        if not (_BINFMT / "status").exists():
            run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(_BINFMT)])
        if not entry.exists() or "enabled" not in entry.read_text():
            if shutil.which("update-binfmts") is None:
                raise HostError("update-binfmts not found", target=target,
                                hint="install binfmt-support and qemu-user-static")
            run(["update-binfmts", "--enable", binfmt_name])
    except (HostError, subprocess.CalledProcessError, OSError) as e:
        raise HostError("cannot register %s with binfmt_misc: %s" % (binfmt_name, e), target=target,
                        hint="as root: mount -t binfmt_misc binfmt_misc %s && update-binfmts --enable %s "
                        "(needs qemu-user-static and binfmt-support)" % (_BINFMT, binfmt_name)) from e
    if not entry.exists() or "enabled" not in entry.read_text():
        raise HostError("%s is not enabled in %s after update-binfmts" % (binfmt_name, _BINFMT), target=target,
                        hint="install qemu-user-static, then: update-binfmts --enable %s" % binfmt_name)


def _make_key(path: Path, comment: str, steps: StepRunner) -> None:
    steps.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def _install_file(root: Path, rel: str, data: bytes, mode: int) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, mode)
    os.chown(path, 0, 0)


def _single(root: Path, pattern: str, target: str) -> Path:
    found = sorted((root / "boot").glob(pattern))
    if len(found) != 1:
        raise HostError("expected one /boot/%s in the root file system, found %s"
                        % (pattern, [p.name for p in found] or "none"), target=target,
                        hint="the kernel_package should pull in exactly one kernel and initramfs-tools")
    return found[0]


def _disk_usage_mib(path: Path) -> int:
    out = subprocess.run(["du", "-s", "-x", "-B1M", str(path)], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[0])


def _build(entry: CatalogEntry, work: Path, steps: StepRunner) -> dict[str, Any]:
    _require_tools(entry.name)
    debian_arch, binfmt_name = _DEBIAN_ARCH[entry.arch]
    if entry["native_arch"] != debian_arch:
        raise ConfigError("%s: [targets.%s] key 'native_arch': %r, but Debian calls %s %r"
                          % (entry.source, entry.name, entry["native_arch"], entry.arch, debian_arch))
    host_arch = _HOST_ARCH.get(platform.machine())
    if host_arch != entry.arch:
        # mmdebstrap asks arch-test whether the kernel can run the foreign arch.
        if shutil.which("arch-test") is None:
            raise HostError("arch-test not found (mmdebstrap needs it for a foreign-arch build)",
                            target=entry.name, hint="install the arch-test package "
                            "(scripts/install-system-packages)")
        with steps.step("binfmt_misc for %s" % debian_arch):
            ensure_binfmt(binfmt_name, target=entry.name, steps=steps)

    keys = work / "keys"
    keys.mkdir()
    with steps.step("keys"):
        _make_key(work / "id_ed25519", "trapline@%s" % entry.name, steps)
        _make_key(keys / "ssh_host_ed25519_key", "root@%s" % entry.name, steps)

    rootfs = work / "rootfs"
    staged = work / "pre-install"
    for rel, (text, mode) in PRE_INSTALL_FILES.items():
        _install_file(staged, rel, text.encode(), mode)
    packages = [entry["kernel_package"], *entry["packages"]]
    argv = [
        # --verbose: apt's and dpkg's output into the build log (and live
        # onto the progress line) rather than only mmdebstrap's summary.
        "mmdebstrap", "--verbose", "--mode=root", "--variant=%s" % entry["variant"], "--arch=%s" % debian_arch,
        "--components=%s" % ",".join(entry["components"]), "--include=%s" % ",".join(packages),
        "--aptopt=Acquire::Languages \"none\"",
        *("--dpkgopt=path-exclude=%s" % p for p in _DPKG_EXCLUDES),
        # After the Essential packages, before the kernel and the rest.
        '--essential-hook=cp -a %s/. "$1"/' % shlex.quote(str(staged)),
        entry["suite"], str(rootfs), entry["mirror"],
    ]
    with steps.step("mmdebstrap %s %s" % (entry["suite"], debian_arch)):
        steps.run(argv, hint="is %s reachable? (apt sources of this machine)" % entry["mirror"])

    with steps.step("configure the guest"):
        for rel, text in GUEST_FILES.items():
            _install_file(rootfs, rel, text.encode(), 0o644)
        _install_file(rootfs, "etc/hostname", (entry.name + "\n").encode(), 0o644)
        _install_file(rootfs, "etc/hosts", ("127.0.0.1 localhost\n127.0.1.1 %s\n" % entry.name).encode(), 0o644)
        # Only our host key: the ones openssh-server's postinst generated are
        # unknown to us and would just be offered for nothing.
        for old in (rootfs / "etc/ssh").glob("ssh_host_*"):
            old.unlink()
        _install_file(rootfs, "etc/ssh/ssh_host_ed25519_key",
                      (keys / "ssh_host_ed25519_key").read_bytes(), 0o600)
        _install_file(rootfs, "etc/ssh/ssh_host_ed25519_key.pub",
                      (keys / "ssh_host_ed25519_key.pub").read_bytes(), 0o644)
        (rootfs / "root/.ssh").mkdir(exist_ok=True)
        os.chmod(rootfs / "root/.ssh", 0o700)
        _install_file(rootfs, "root/.ssh/authorized_keys", (work / "id_ed25519.pub").read_bytes(), 0o600)
        steps.run(["systemctl", "--root=%s" % rootfs, "enable", *ENABLE_UNITS])
        if entry["mask_units"]:
            steps.run(["systemctl", "--root=%s" % rootfs, "mask", *entry["mask_units"]])
        # The host half of the host key is no use to anyone outside the image.
        shutil.copyfile(keys / "ssh_host_ed25519_key.pub", work / "ssh_host_ed25519_key.pub")
        shutil.rmtree(keys)
        shutil.rmtree(staged)
        shutil.copyfile(_single(rootfs, "vmlinuz-*", entry.name), work / "vmlinuz")
        shutil.copyfile(_single(rootfs, "initrd.img-*", entry.name), work / "initrd.img")
        kernel_version = _single(rootfs, "vmlinuz-*", entry.name).name.removeprefix("vmlinuz-")

    used_mib = _disk_usage_mib(rootfs)
    # ext4 metadata (inode tables, journal) takes ~5-10% beyond the files.
    size_mib = used_mib + used_mib // 8 + 64 + entry["disk_free_mib"]
    with steps.step("mkfs.ext4 (%d MiB)" % size_mib):
        steps.run(["mkfs.ext4", "-q", "-F", "-L", "trapline-root", "-d", str(rootfs),
                   str(work / "disk.img"), "%dM" % size_mib])
        shutil.rmtree(rootfs)

    return {
        "os": entry.os,
        "release": entry.release,
        "arch": entry.arch,
        "builder": BUILDER_VERSION,
        "settings": dict(entry.settings),
        "kernel_version": kernel_version,
        "kernel_cmdline": entry["kernel_cmdline"],
        "memory_mb": entry["memory_mb"],
        "ssh_user": SSH_USER,
        "rootfs_mib": used_mib,
        "disk_mib": size_mib,
        "timings_s": dict(steps.timings),
        "files": {
            "disk": "disk.img",
            "kernel": "vmlinuz",
            "initrd": "initrd.img",
            "client_key": "id_ed25519",
            "host_public_key": "ssh_host_ed25519_key.pub",
        },
    }
