"""A real guest kernel that panics at boot ends the wait for SSH with the
panic's message, not with the ready timeout.

debian-12-amd64 is booted with ``rdinit=`` naming an init that does not
exist: the kernel then skips the initramfs, finds no root file system (the
virtio disk driver is a module in that initramfs) and panics with ``VFS:
Unable to mount root fs``, a few seconds into the boot.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from harness.errors import GuestError
from harness.images import ensure_image
from harness.remote.guest_target import boot_spec
from harness.remote.panic_watch import PanicWatch
from harness.remote.ssh import SshEndpoint, SshSession, SshTimeouts
from harness.vm import launch

pytestmark = pytest.mark.guest

TARGET = "debian-12-amd64"


def test_a_linux_panic_at_boot_fails_the_ssh_wait_with_its_message(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("building a Debian image needs root (mmdebstrap --mode=root)")
    image, _ = ensure_image(TARGET)
    spec = boot_spec(image)
    spec = dataclasses.replace(spec, append="%s rdinit=/trapline-no-such-init" % spec.append)
    with launch(spec, tmp_path, accel="tcg") as vm:
        endpoint = SshEndpoint(target=TARGET, host="127.0.0.1", port=vm.ssh_port, user=image.ssh_user,
                               client_key=image.client_key, host_public_key=image.host_public_key)
        with pytest.raises(GuestError) as info:
            # A ready timeout far beyond this boot: only the panic can end the wait as a GuestError.
            SshSession.connect(endpoint, timeouts=SshTimeouts(ready=300.0), alive=vm.alive,
                               console_problem=PanicWatch(vm.console), transcript=vm.transcript_path,
                               console_tail=vm.console.tail)
        assert vm.alive()  # the panicked kernel halts; QEMU itself still runs
    error = info.value
    assert error.message.startswith(
        "kernel panic: VFS: Unable to mount root fs on unknown-block(0,0) (while waiting for SSH, last: ")
    assert error.transcript == vm.transcript_path
    assert error.console_tail is not None
    assert any("Kernel panic - not syncing" in line for line in error.console_tail)
