"""Build a NetBSD or OpenBSD guest image from the project's official media.

Steps (each timed and logged by :class:`StepRunner`):

1. fetch and verify the catalog's media into the media cache
   (:func:`harness.images.fetch.fetch_media`; nothing unverified is booted);
2. make the disk, per the catalog's ``install``:

   * ``live-image`` / ``disk-image``: gunzip the image into a raw disk and
     grow it to ``disk_mib`` (the rest reads as zeros; NetBSD's live image
     grows its label into it on first boot); ``disk-image`` also unpacks the
     kernel QEMU boots with ``-kernel``;
   * ``sysinst`` / ``autoinstall``: boot the install media (CD, or a
     read-only second disk: :func:`harness.images.catalog.install_boot`) with
     a blank disk on an overlay, drive the installer's dialogue over the
     serial console (:mod:`harness.images.dialogue`; OpenBSD's
     ``install.conf`` and sets come from the install server), and keep what
     it wrote (:meth:`harness.vm.QemuMachine.export_disk`);

3. resolve python3 and its dependencies from the release's package index and
   fetch them into the media cache (:mod:`harness.images.packages`);
4. boot the installed disk and walk the ``<os>-provision`` dialogue on the
   serial console: log in as root, bring the network up, fetch and run the
   provisioning script from the install server
   (our login key, a host key made here, sshd on, what slows first boot off,
   ``pkg_add`` of the packages in dependency order, ``python3`` on the
   default PATH), power off, keep the disk;
5. publish: :func:`harness.images.cache.build_cached` renames the finished
   directory into place under its lock.

The guest reaches the host's install server at QEMU user networking's
10.0.2.2 (:mod:`harness.images.install_server`); its request log, the VM
transcripts and the build log stay beside the image directory when a build
fails.  The VM steps go through a :class:`GuestDriver`, so everything else can
be exercised where no BSD can boot (the unit tests inject a fake driver).
"""

from __future__ import annotations

import gzip
import json
import secrets
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console

from ..errors import ConfigError, HostError, Timeout
from . import dialogue
from .cache import BuiltImage, build_cached
from .catalog import CatalogEntry, recipe_hash
from .install_server import InstallServer
from .steps import StepRunner

# Bump when the procedure changes what ends up in the image in a way the
# catalog entry and the scripts below do not capture.
BUILDER_VERSION = "bsd-1"
SSH_USER = "root"
PYTHON = "/usr/bin/python3"

# Typed on the root console before the provisioning script can be fetched:
# the first interface that is not a pseudo-device gets QEMU user
# networking's guest address and the host as its gateway.  Static, so no
# DHCP client (different on each OS and release) has to be driven here; the
# provisioning script makes the setting DHCP for later boots.
NETWORK_UP = (
    # The interface list the way install.sub's get_ifdevs() reads it (OpenBSD
    # distrib/miniroot/install.sub v1.814): works on both OSes' ifconfig.
    "for i in $(ifconfig | sed -n 's/^\\([^[:space:]]*\\):.*/\\1/p'); do case $i in "
    "lo*|pflog*|enc*|pfsync*|gif*|stf*) ;; "
    "*) ifconfig $i inet 10.0.2.15 netmask 255.255.255.0 up && break ;; esac; done; "
    # A default route may be there already (a DHCP client ran): not an error;
    # the fetch of the provisioning script right after is the real check.
    "route -n add default 10.0.2.2 >/dev/null 2>&1; true"
)

# sshd_config keywords the script owns: earlier lines for them are removed
# (sshd takes the first value it reads), then these are appended.
SSHD_SETTINGS = {
    "HostKey": "/etc/ssh/ssh_host_ed25519_key",
    "PermitRootLogin": "prohibit-password",
    "PasswordAuthentication": "no",
    "KbdInteractiveAuthentication": "no",
    "ChallengeResponseAuthentication": "no",
    "UseDNS": "no",
}

_PROVISION_COMMON = """\
#!/bin/sh
# Written by trapline's image builder; run once as root on the console.
set -e
base=$1
umask 022
fetch() { ftp -V -o "$2" "$base/$1" || ftp -o "$2" "$base/$1"; }
mkdir -p /root/.ssh
chmod 700 /root/.ssh
fetch keys/authorized_keys /root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys
rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub
fetch keys/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key
fetch keys/ssh_host_ed25519_key.pub /etc/ssh/ssh_host_ed25519_key.pub
chmod 600 /etc/ssh/ssh_host_ed25519_key
grep -v -i -E '^[[:space:]]*(%(sshd_keys)s)[[:space:]]' /etc/ssh/sshd_config >/tmp/sshd_config || true
cat >>/tmp/sshd_config <<'EOF'
%(sshd_lines)s
EOF
mv /tmp/sshd_config /etc/ssh/sshd_config
fetch packages/ORDER /tmp/trapline-packages
while read -r f; do
    [ -n "$f" ] || continue
    echo "pkg_add $f"
    %(pkg_add)s "$base/packages/$f"
done </tmp/trapline-packages
py=
for p in /usr/pkg/bin/python3.? /usr/pkg/bin/python3.?? /usr/local/bin/python3.? /usr/local/bin/python3.??; do
    if [ -x "$p" ]; then py=$p; fi
done
[ -n "$py" ] || { echo "trapline: no python3.N binary after pkg_add"; exit 1; }
ln -sf "$py" %(python)s
%(python)s -c 'import ctypes, zlib, json; print("trapline: python3 ok")'
"""

# Per OS: how packages are added and how the system is set for the next boots.
_PROVISION_OS = {
    "netbsd": {
        # pkgsrc's binary packages are not signed by default; the host fetched
        # them from the mirror given in the catalog.
        "pkg_add": "pkg_add -v",
        "tail": (
            "cat >>/etc/rc.conf <<'EOF'\n"
            "sshd=YES\n"
            "dhcpcd=YES\n"
            # ntpdate blocks boot waiting for servers the guest cannot reach;
            # DESIGN.md section 4 (sshd drops connections while it runs).
            "ntpdate=NO\n"
            "ntpd=NO\n"
            "EOF\n"
            # IPv6 duplicate address detection delays the interface's
            # addresses at every boot (DESIGN.md section 4).
            "echo 'net.inet6.ip6.dad_count=0' >>/etc/sysctl.conf\n"
        ),
    },
    "openbsd": {
        # -I: never ask; the packages' signatures are checked by pkg_add
        # against the release's /etc/signify/openbsd-NN-pkg.pub.
        "pkg_add": "pkg_add -I",
        "tail": "rcctl enable sshd\nrcctl disable ntpd || true\n",
    },
}


def provision_script(os_name: str) -> str:
    """The provisioning script for ``os_name`` (argument: the server's base URL)."""
    if os_name not in _PROVISION_OS:
        raise ConfigError("no provisioning script for %r targets" % os_name)
    settings = _PROVISION_OS[os_name]
    body = _PROVISION_COMMON % {
        "sshd_keys": "|".join(SSHD_SETTINGS),
        "sshd_lines": "\n".join("%s %s" % kv for kv in SSHD_SETTINGS.items()),
        "pkg_add": settings["pkg_add"],
        "python": PYTHON,
    }
    return body + settings["tail"] + "sync\necho 'trapline: provisioned'\n"


def image_hash(entry: CatalogEntry) -> str:
    """The recipe hash of ``entry``'s image (the package versions are
    resolved at build time and recorded in the manifest)."""
    _require_bsd(entry)
    return recipe_hash(entry, BUILDER_VERSION, {
        "provision": provision_script(entry.os), "network_up": NETWORK_UP, "python": PYTHON,
    })


# ---------------------------------------------------------------- the VM seam


@dataclass
class BuildJob:
    """What one build's VM steps need."""

    entry: CatalogEntry
    media: Mapping[str, Path]  # verified local files, keyed by media path
    server: InstallServer
    root_password: str
    vm_dir: Path  # VM work dirs (transcripts) go here; kept when the build fails
    steps: StepRunner
    variables: dict[str, str] = field(default_factory=dict)  # for the dialogues and install.conf


class GuestDriver(Protocol):
    """The steps that boot the guest.  :class:`QemuDriver` is the real one."""

    def install(self, job: BuildJob, disk: Path) -> None:
        """Run the installer from the install media onto the blank raw ``disk``."""

    def provision(self, job: BuildJob, disk: Path, kernel: Path | None) -> None:
        """Boot ``disk``, run the provisioning script from ``job.server``, power
        off; ``disk`` holds the result afterwards."""


# How long an installer or the provisioning may run, and how long a powered
# off guest may take to leave QEMU, before the arch's timeout scale.  A
# NetBSD sysinst extracting the sets on TCG sparc64 is the slow end (anita
# allows an hour for whole installs).
INSTALL_SECONDS = 3600.0
POWEROFF_SECONDS = 120.0


class QemuDriver:
    """Boots the guest under QEMU through :func:`harness.vm.launch`."""

    def __init__(self, accel: str = "auto") -> None:
        self.accel = accel

    def install(self, job: BuildJob, disk: Path) -> None:
        from ..vm import BootSpec, launch
        from .catalog import install_boot, require_firmware

        entry = job.entry
        require_firmware(entry)
        media = job.media[entry["install_media"]]
        boot = {"profile_overrides": entry["profile"], **install_boot(entry, media)}
        spec = BootSpec(target=entry.name, arch=entry.arch, base_disk=disk, disk_format="raw",
                        memory_mb=entry["memory_mb"], exit_on_reboot=True, **boot)
        if entry["install"] == "autoinstall":
            job.server.set_install_conf(dialogue.render_install_conf(entry, job.variables))
        with launch(spec, job.vm_dir, accel=self.accel) as machine:
            job.steps.note("install VM transcript: %s" % machine.transcript_path)
            dialogue.run_dialogue("%s-%s" % (entry.os, entry["install"]), machine.console,
                                  variables=job.variables, log=job.vm_dir / "install-dialogue.log",
                                  timeouts=machine.timeouts)
            _wait_powered_off(machine, INSTALL_SECONDS)
            machine.export_disk(disk)

    def provision(self, job: BuildJob, disk: Path, kernel: Path | None) -> None:
        from ..vm import BootSpec, launch

        entry = job.entry
        spec = BootSpec(target=entry.name, arch=entry.arch, base_disk=disk, disk_format="raw", kernel=kernel,
                        append=entry["kernel_append"] if kernel is not None else None,
                        memory_mb=entry["memory_mb"], profile_overrides=entry["profile"], exit_on_reboot=True)
        with launch(spec, job.vm_dir, accel=self.accel) as machine:
            job.steps.note("provisioning VM transcript: %s" % machine.transcript_path)
            dialogue.run_dialogue("%s-provision" % entry.os, machine.console,
                                  variables={**job.variables, "network_up": NETWORK_UP},
                                  log=job.vm_dir / "provision-dialogue.log", timeouts=machine.timeouts)
            machine.console.sendline("shutdown -p now")
            _wait_powered_off(machine, POWEROFF_SECONDS)
            machine.export_disk(disk)


def _wait_powered_off(machine: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds * machine.timeouts.scale
    while machine.alive():
        if time.monotonic() > deadline:
            raise Timeout("%s did not power off" % machine.spec.target, target=machine.spec.target,
                          waited=seconds * machine.timeouts.scale, timeout_name="bsd.POWEROFF/INSTALL_SECONDS",
                          transcript=machine.transcript_path, console_tail=machine.console.tail())
        time.sleep(0.5)


# ---------------------------------------------------------------- the build


FetchMedia = Callable[..., Mapping[str, Path]]


def ensure_built(entry: CatalogEntry, *, console: Console | None = None, mirror: str | None = None,
                 driver: GuestDriver | None = None, fetch_media: FetchMedia | None = None
                 ) -> tuple[BuiltImage, bool]:
    """The cached image for ``entry``, built now if absent: ``(image, built_now)``.

    ``mirror`` overrides the catalog's mirror (``--mirror``).  ``driver`` and
    ``fetch_media`` replace the VM steps and the media fetch (tests)."""
    _require_bsd(entry)
    console = console or Console(stderr=True)
    digest = image_hash(entry)

    def waiting(lock: Path) -> None:
        console.print("%s: another process is building this image; waiting for %s" % (entry.name, lock))

    def build(work: Path, log: Path) -> dict[str, Any]:
        with StepRunner(log, target=entry.name, console=console) as steps:
            return _build(entry, work, log, steps, driver or QemuDriver(), fetch_media, mirror)

    return build_cached(entry.name, digest, build, on_wait=waiting)


def _require_bsd(entry: CatalogEntry) -> None:
    if entry.os not in _PROVISION_OS:
        raise ConfigError("target %s is not a NetBSD or OpenBSD target (os %r)" % (entry.name, entry.os),
                          target=entry.name)


def _fetch(entry: CatalogEntry, fetch_media: FetchMedia | None, mirror: str | None,
           steps: StepRunner) -> dict[str, Path]:
    if fetch_media is None:
        from .fetch import fetch_media as real_fetch
        fetch_media = real_fetch
    media = dict(fetch_media(entry, mirror=mirror))
    missing = [m for m in entry["media"] if m not in media]
    if missing:
        raise HostError("the media fetch returned no file for %s" % ", ".join(missing), target=entry.name)
    for key in entry["media"]:
        steps.note("media %s: %s" % (key, media[key]))
    return media


def unpack_disk_image(image_gz: Path, disk: Path, disk_mib: int, *, target: str) -> int:
    """Gunzip ``image_gz`` into the raw ``disk`` and grow it to ``disk_mib``
    MiB; returns the image's own size in bytes.  Written under a temporary
    name and renamed, so a cut build never leaves a half disk."""
    tmp = disk.with_name(disk.name + ".tmp")
    try:
        with gzip.open(image_gz, "rb") as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
            size = out.tell()
            wanted = disk_mib * 1024 * 1024
            if size > wanted:
                raise ConfigError("%s: %s unpacks to %d MiB, more than disk_mib = %d"
                                  % (target, image_gz.name, -(-size // (1024 * 1024)), disk_mib),
                                  target=target, hint="raise disk_mib to at least %d" % -(-size // (1024 * 1024)))
            # Sparse: the grown tail costs no space until the guest writes it.
            out.truncate(wanted)
    except (OSError, EOFError) as exc:
        tmp.unlink(missing_ok=True)
        raise HostError("%s: cannot unpack %s: %s" % (target, image_gz, exc), target=target,
                        hint="the cached file may be damaged: harness images fetch %s again" % target) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(disk)
    return size


def _unpack_kernel(source: Path, dest: Path) -> None:
    if source.suffix == ".gz":
        tmp = dest.with_name(dest.name + ".tmp")
        with gzip.open(source, "rb") as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        tmp.replace(dest)
    else:
        shutil.copyfile(source, dest)


def _make_keys(work: Path, target: str) -> dict[str, bytes]:
    """The login key pair (kept in the image dir) and the guest's host key
    (only its public half is kept); returns what the guest is served."""
    login = Ed25519PrivateKey.generate()
    host = Ed25519PrivateKey.generate()

    def private(key: Ed25519PrivateKey) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                 serialization.NoEncryption())

    def public(key: Ed25519PrivateKey, comment: str) -> bytes:
        blob = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        return blob + b" " + comment.encode() + b"\n"

    (work / "id_ed25519").touch(mode=0o600)
    (work / "id_ed25519").write_bytes(private(login))
    (work / "id_ed25519.pub").write_bytes(public(login, "trapline@%s" % target))
    (work / "ssh_host_ed25519_key.pub").write_bytes(public(host, "root@%s" % target))
    return {
        "authorized_keys": public(login, "trapline@%s" % target),
        "ssh_host_ed25519_key": private(host),
        "ssh_host_ed25519_key.pub": public(host, "root@%s" % target),
    }


def _sets_signature(entry: CatalogEntry, media: Mapping[str, Path]) -> dict[str, Path]:
    """SHA256.sig beside each served media directory, when the cache has it:
    the OpenBSD installer verifies the sets against it."""
    found = {}
    for key, path in media.items():
        directory = key.rpartition("/")[0]
        sig = path.parent / "SHA256.sig"
        route = "%s/SHA256.sig" % directory if directory else "SHA256.sig"
        if entry.os == "openbsd" and sig.is_file() and route not in media:
            found[route] = sig
    return found


def _build(entry: CatalogEntry, work: Path, log: Path, steps: StepRunner, driver: GuestDriver,
           fetch_media: FetchMedia | None, mirror: str | None) -> dict[str, Any]:
    from . import packages

    started = time.monotonic()
    logs_dir = log.parent
    stem = log.name[:-len(".log")] if log.name.endswith(".log") else log.name
    http_log = logs_dir / ("%s-http.log" % stem)
    vm_dir = logs_dir / ("%s-vm" % stem)
    shutil.rmtree(vm_dir, ignore_errors=True)
    vm_dir.mkdir(parents=True)

    with steps.step("fetch and verify media"):
        media = _fetch(entry, fetch_media, mirror, steps)

    root_password = secrets.token_urlsafe(18)
    (work / "root_password").touch(mode=0o600)
    (work / "root_password").write_text(root_password + "\n")
    with InstallServer(http_log) as server:
        steps.note("install server %s (guest %s), requests logged to %s" % (server.url, server.guest_url, http_log))
        for key, path in {**media, **_sets_signature(entry, media)}.items():
            server.add_file("/" + key, path)
        install_dir = entry["install_media"].rpartition("/")[0]
        job = BuildJob(entry=entry, media=media, server=server, root_password=root_password, vm_dir=vm_dir,
                       steps=steps, variables={
                           "hostname": entry.name.replace(".", "-"),
                           "root_password": root_password,
                           "http_server": server.guest_host,
                           "server_url": server.guest_url,
                           "server_directory": install_dir,
                           "install_conf_url": server.guest_url + "/install.conf",
                           "disk_mib": str(entry["disk_mib"]),
                       })

        disk = work / "disk.img"
        kernel: Path | None = None
        image_bytes = None
        if entry["install"] in ("live-image", "disk-image"):
            with steps.step("unpack %s to %d MiB" % (Path(entry["install_media"]).name, entry["disk_mib"])):
                image_bytes = unpack_disk_image(media[entry["install_media"]], disk, entry["disk_mib"],
                                                target=entry.name)
            if entry["kernel"]:
                kernel = work / "kernel"
                with steps.step("unpack kernel %s" % Path(entry["kernel"]).name):
                    _unpack_kernel(media[entry["kernel"]], kernel)
        else:
            from ..vm.machine import create_blank_disk
            create_blank_disk(disk, entry["disk_mib"], target=entry.name)
            with steps.step("%s from %s" % (entry["install"], Path(entry["install_media"]).name)):
                driver.install(job, disk)

        with steps.step("resolve and fetch %s" % entry["python_package"]):
            package_set = packages.fetch_python(
                entry.os, entry["python_package"], entry["pkg_path"],
                packages.packages_dir(entry.os, entry["release_dir"], entry.arch))
            steps.note("packages in install order: %s" % ", ".join(package_set.names))
        for path in package_set.files:
            server.add_file("/packages/" + path.name, path)
        server.add_bytes("/packages/ORDER", "".join(p.file_name + "\n" for p in package_set.packages).encode())

        with steps.step("keys"):
            for name, data in _make_keys(work, entry.name).items():
                server.add_bytes("/keys/" + name, data)
        server.add_bytes("/provision.sh", provision_script(entry.os).encode())

        with steps.step("provision (console: login, sshd, keys, pkg_add python3)"):
            driver.provision(job, disk, kernel)
        served = server.requests

    missing = sorted({r.path for r in served if r.status == 404})
    if missing:
        steps.note("the guest asked for files the server did not have: %s" % ", ".join(missing))
    shutil.copyfile(http_log, work / "install-http.log")
    manifest: dict[str, Any] = {
        "os": entry.os,
        "release": entry.release,
        "arch": entry.arch,
        "builder": BUILDER_VERSION,
        "settings": json.loads(json.dumps(dict(entry.settings))),
        "install": entry["install"],
        "media": {key: str(media[key]) for key in entry["media"]},
        "packages": package_set.names,
        "package_index_sha256": package_set.index_sha256,
        "python": PYTHON,
        "memory_mb": entry["memory_mb"],
        "ssh_user": SSH_USER,
        "disk_mib": entry["disk_mib"],
        "timings_s": {**steps.timings, "total": round(time.monotonic() - started, 1)},
        "files": {
            "disk": "disk.img",
            "client_key": "id_ed25519",
            "client_public_key": "id_ed25519.pub",
            "host_public_key": "ssh_host_ed25519_key.pub",
            "root_password": "root_password",
            "install_http_log": "install-http.log",
        },
    }
    if image_bytes is not None:
        manifest["image_bytes"] = image_bytes
    if kernel is not None:
        manifest["files"]["kernel"] = "kernel"
        manifest["kernel_cmdline"] = entry["kernel_append"]
    # The transcripts are worth keeping with the image; the rest of the VM
    # dirs (sockets, QEMU's own log) only matter for a failed build.
    for transcript in sorted(vm_dir.rglob("*.log")):
        kept = work / "logs" / ("%s-%s" % (transcript.parent.name, transcript.name))
        kept.parent.mkdir(exist_ok=True)
        shutil.copyfile(transcript, kept)
    shutil.rmtree(vm_dir, ignore_errors=True)
    return manifest
