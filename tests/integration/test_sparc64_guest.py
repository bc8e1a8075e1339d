"""debian-12-sparc64 for real: build (or reuse) the cross-built image, boot
it under qemu-system-sparc64 -M sun4u on a throw-away overlay, log in with the
image's key against its pinned host key, and call into libc through ctypes
on a big-endian kernel."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from harness.images.sparc64 import Recipe, build

pytestmark = pytest.mark.guest

# TCG boot of the trimmed kernel plus busybox init is seconds; the margin is
# for a loaded CI machine.
BOOT_TO_SSH_TIMEOUT = 180.0


@pytest.fixture(scope="module")
def image_dir() -> Path:
    if os.geteuid() != 0:
        pytest.skip("building the sparc64 image needs root (root-owned files in the ext4 image)")
    return build(Recipe())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Booted:
    def __init__(self, proc: subprocess.Popen[bytes], port: int, console: Path) -> None:
        self.proc = proc
        self.port = port
        self.console = console


@pytest.fixture
def booted(image_dir: Path, tmp_path: Path) -> Iterator[Booted]:
    manifest = json.loads((image_dir / "manifest.json").read_text())
    overlay = tmp_path / "overlay.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(image_dir / "disk.img"),
                    str(overlay)], check=True)
    port = _free_port()
    console = tmp_path / "console.log"
    argv = ["qemu-system-sparc64", "-M", "sun4u", "-m", str(manifest["memory_mb"]), "-nographic",
            "-kernel", str(image_dir / "vmlinux"), "-append", manifest["kernel_cmdline"],
            "-drive", "file=%s,if=ide,format=qcow2" % overlay,
            "-netdev", "user,id=n0,hostfwd=tcp:127.0.0.1:%d-:22" % port,
            "-device", "e1000,netdev=n0,bus=pciB", "-serial", "file:%s" % console, "-monitor", "none"]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield Booted(proc, port, console)
    finally:
        proc.kill()
        proc.wait()


def _connect(image_dir: Path, booted: Booted) -> paramiko.SSHClient:
    host_key = (image_dir / "host_key.pub").read_text().split()
    client = paramiko.SSHClient()
    client.get_host_keys().add("[127.0.0.1]:%d" % booted.port, host_key[0],
                               paramiko.Ed25519Key(data=base64.b64decode(host_key[1])))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    key = paramiko.Ed25519Key.from_private_key_file(str(image_dir / "ssh_key"))
    deadline = time.monotonic() + BOOT_TO_SSH_TIMEOUT
    while True:
        if booted.proc.poll() is not None:
            pytest.fail("QEMU exited with %s: %s\nconsole:\n%s" % (
                booted.proc.returncode, booted.proc.stderr.read().decode(errors="replace") if booted.proc.stderr
                else "", booted.console.read_text(errors="replace")[-3000:]))
        try:
            client.connect("127.0.0.1", port=booted.port, username="root", pkey=key, timeout=10,
                           banner_timeout=10, auth_timeout=10, look_for_keys=False, allow_agent=False)
            return client
        except (OSError, paramiko.SSHException):
            if time.monotonic() > deadline:
                pytest.fail("no SSH on port %d after %.0f s; console:\n%s" % (
                    booted.port, BOOT_TO_SSH_TIMEOUT, booted.console.read_text(errors="replace")[-3000:]))
            time.sleep(2)


def _run(client: paramiko.SSHClient, command: str) -> str:
    _, stdout, stderr = client.exec_command(command, timeout=120)
    out = stdout.read().decode()
    status = stdout.channel.recv_exit_status()
    assert status == 0, "%r exited %d: %s" % (command, status, stderr.read().decode())
    return out


def test_image_directory_holds_the_promised_files(image_dir: Path) -> None:
    for name in ("disk.img", "vmlinux", "ssh_key", "ssh_key.pub", "host_key.pub", "manifest.json"):
        assert (image_dir / name).stat().st_size > 0, name
    manifest = json.loads((image_dir / "manifest.json").read_text())
    assert manifest["arch"] == "sparc64"
    assert manifest["python_missing_modules"] == []
    assert (image_dir / "host_key.pub").read_text().startswith("ssh-ed25519 ")


def test_boots_answers_ssh_with_the_pinned_key_and_ctypes_calls_libc(image_dir: Path, booted: Booted) -> None:
    client = _connect(image_dir, booted)
    try:
        assert _run(client, "uname -m") == "sparc64\n"
        out = _run(client, "python3 -c 'import ctypes, os, sys; "
                           "print(sys.byteorder, ctypes.CDLL(None).getpid() == os.getpid())'")
        assert out == "big True\n"
        # The pushed core is a deflated zip: zlib must import.
        assert _run(client, "python3 -c 'import zlib; print(zlib.decompress(zlib.compress(b\"ok\")).decode())'") \
            == "ok\n"
    finally:
        client.close()
