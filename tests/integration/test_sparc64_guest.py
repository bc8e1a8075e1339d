"""debian-12-sparc64 for real: build (or reuse) the cross-built image, boot it
through the harness's sun4u profile (virtio-blk root on pciB, e1000 NIC),
log in with the image's key against its pinned host key, call into libc
through ctypes on a big-endian kernel, and write to the root disk."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.images import ensure_image, image_hash, load_catalog
from harness.remote.guest_target import GuestTarget

pytestmark = pytest.mark.guest

TARGET = "debian-12-sparc64"


@pytest.fixture(scope="module")
def built_image():
    if os.geteuid() != 0:
        pytest.skip("building the sparc64 image needs root (root-owned files in the ext4 image)")
    image, _ = ensure_image(TARGET)
    return image


@pytest.fixture
def guest(built_image, tmp_path: Path) -> Iterator[GuestTarget]:
    target = GuestTarget(TARGET, accel="tcg", workdir=tmp_path / "guest")
    target.start()
    yield target
    target.close()


def test_image_directory_holds_the_promised_files(built_image) -> None:
    assert built_image.recipe_hash == image_hash(load_catalog()[TARGET])
    directory = built_image.directory
    for name in ("disk.img", "vmlinux", "ssh_key", "ssh_key.pub", "host_key.pub", "manifest.json"):
        assert (directory / name).stat().st_size > 0, name
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["arch"] == "sparc64"
    assert manifest["python_missing_modules"] == []
    assert (directory / "host_key.pub").read_text().startswith("ssh-ed25519 ")
    assert "root=/dev/vda" in built_image.kernel_cmdline.split()


def test_boots_answers_ssh_and_ctypes_calls_libc_big_endian(guest: GuestTarget) -> None:
    ssh = guest.ssh()
    assert ssh.exec("uname -m").check().stdout == b"sparc64\n"
    out = ssh.exec("python3 -c 'import ctypes, os, sys; "
                   "print(sys.byteorder, ctypes.CDLL(None).getpid() == os.getpid())'").check().stdout
    assert out == b"big True\n"
    # The pushed core is a deflated zip: zlib must import.
    assert ssh.exec("python3 -c 'import zlib; print(zlib.decompress(zlib.compress(b\"ok\")).decode())'"
                    ).check().stdout == b"ok\n"
    # The root is on virtio-blk, not the sun4u IDE that loses interrupts.
    assert ssh.exec("cat /sys/block/vda/size").check().stdout.strip().isdigit()


def test_core_answers_hello_from_the_guest(guest: GuestTarget) -> None:
    core = guest.start_core()
    assert core.hello["os"] == "linux"
    assert core.hello["arch"] == "sparc64"
    assert core.hello["byteorder"] == "big"
