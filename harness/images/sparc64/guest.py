"""The small world inside the sparc64 guest: init, network, SSH, keys.

busybox init runs ``/etc/init.d/rcS`` (mounts, static address on eth0), then
keeps dropbear running in the foreground as a respawned inittab entry and a
root shell on the serial console for diagnosis.  The addresses are QEMU user
networking's fixed ones, so no DHCP round trip delays boot.

Keys are made on the host: the guest's host key is written into the image in
dropbear's own key format and only its public half is kept beside the image,
so the SSH layer pins it from the first connection on.
"""

from __future__ import annotations

import struct
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .recipe import Recipe

# Printed on the serial console when rcS has configured the network, just
# before init starts sshd; the harness may wait for it before trying SSH.
READY_MARKER = "trapline: network up, starting sshd"
DROPBEAR_HOST_KEY = "etc/dropbear/dropbear_ed25519_host_key"


def guest_files(recipe: Recipe) -> dict[str, str]:
    """Text files written into the root file system (path relative to /)."""
    return {
        "etc/inittab": (
            "::sysinit:/etc/init.d/rcS\n"
            # -F: stay in the foreground so init restarts it if it dies.
            # Without syslog compiled in it logs to the console; password
            # logins are compiled out (builder.DROPBEAR_LOCAL_OPTIONS).
            "::respawn:/usr/sbin/dropbear -F -r /%s\n" % DROPBEAR_HOST_KEY
            + "ttyS0::respawn:-/bin/sh\n"
            "::ctrlaltdel:/sbin/reboot\n"
            "::shutdown:/bin/umount -a -r\n"
        ),
        "etc/init.d/rcS": (
            "#!/bin/sh\n"
            "mount -t proc proc /proc\n"
            "mount -t sysfs sysfs /sys\n"
            "mkdir -p /dev/pts /dev/shm\n"
            "mount -t devpts -o gid=5,mode=620 devpts /dev/pts\n"
            "mount -t tmpfs tmpfs /dev/shm\n"
            # The root stays read-only and everything written lives in RAM:
            # sun4u cannot save a ready state (DESIGN.md section 5), so every
            # run cold-boots, and a root nobody writes never needs fsck.
            "mount -t tmpfs -o mode=0755 tmpfs /run\n"
            "mount -t tmpfs -o mode=1777 tmpfs /tmp\n"
            "mount -t tmpfs -o mode=1777 tmpfs /var/tmp\n"
            "hostname -F /etc/hostname\n"
            "ip link set lo up\n"
            "ip link set eth0 up\n"
            "ip addr add %s dev eth0\n" % recipe.guest_address
            + "ip route add default via %s\n" % recipe.guest_gateway
            + "echo '%s'\n" % READY_MARKER
        ),
        "etc/fstab": "/dev/root / ext4 ro 0 1\n",
        "etc/hostname": recipe.target + "\n",
        "etc/hosts": "127.0.0.1 localhost\n127.0.1.1 %s\n" % recipe.target,
        "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        # A locked password ("*"): dropbear -s allows keys only anyway.
        "etc/shadow": "root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n",
        "etc/group": "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
        # dropbear refuses a login shell missing from /etc/shells.
        "etc/shells": "/bin/sh\n/bin/ash\n",
        "etc/profile": "export PATH=/usr/sbin:/usr/bin:/sbin:/bin\n",
        "etc/resolv.conf": "nameserver 10.0.2.3\n",
    }


EXECUTABLE_FILES = frozenset({"etc/init.d/rcS"})
SECRET_FILES = frozenset({"etc/shadow"})


def dropbear_ed25519_key(key: Ed25519PrivateKey) -> bytes:
    """``key`` in dropbear's private key file format.

    dropbear 2022.83 ed25519.c, buf_put_ed25519_priv_key(): the string
    "ssh-ed25519", then a string of 64 bytes holding the 32-byte private seed
    followed by the 32-byte public key (SSH wire encoding: uint32 length,
    big-endian, then the bytes).
    """
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    name = b"ssh-ed25519"
    body = seed + public
    return struct.pack(">I", len(name)) + name + struct.pack(">I", len(body)) + body


def openssh_public_line(key: Ed25519PrivateKey, comment: str) -> str:
    blob = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return "%s %s\n" % (blob.decode(), comment)


def write_client_key(directory: Path, comment: str) -> tuple[Path, str]:
    """Make the login key pair ``ssh_key`` / ``ssh_key.pub``; return (private path, public line)."""
    key = Ed25519PrivateKey.generate()
    private = directory / "ssh_key"
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                            serialization.NoEncryption())
    private.touch(mode=0o600)
    private.write_bytes(pem)
    public = openssh_public_line(key, comment)
    (directory / "ssh_key.pub").write_text(public)
    return private, public


def make_host_key(comment: str) -> tuple[bytes, str]:
    """A fresh host key: (dropbear private key file, OpenSSH public key line)."""
    key = Ed25519PrivateKey.generate()
    return dropbear_ed25519_key(key), openssh_public_line(key, comment)
