"""Machines: QEMU guests per arch, their console, control and ready states.

The whole API the layers above need::

    from harness.vm import BootSpec, ReadyStateStore, launch

    spec = BootSpec(
        target="debian-12-amd64",
        arch="amd64",
        base_disk=image_dir / "disk.img",      # read-only: the VM runs on an overlay
        disk_format="raw",
        kernel=image_dir / "vmlinuz",
        initrd=image_dir / "initrd.img",
        append="root=/dev/vda console=ttyS0 net.ifnames=0",
        recipe_id=recipe_hash,                 # keys the saved ready state
    )
    with launch(spec, run_dir, accel="auto", ready_state=ReadyStateStore()) as vm:
        if not vm.restored:
            vm.console.expect(r"login:", "boot_to_ssh")   # or poll SSH on vm.ssh_port
            vm.save_ready_state()               # None where the arch cannot (sparc64)
        ssh_to("127.0.0.1", vm.ssh_port)
    # leaving the block quits QEMU; vm.transcript_path keeps every console byte

Errors are :mod:`harness.errors` types: ``Timeout`` (with the console tail and
the transcript path), ``HostError`` (QEMU, ports, files), ``GuestError``,
``ConfigError`` (a bad spec or profile override).
"""

from __future__ import annotations

from ..paths import cache_root
from .accel import AccelChoice, probe_accel
from .console import Console
from .machine import Machine, QemuMachine, launch
from .profiles import PROFILES, Profile, build_argv, profile_for
from .ready_state import ReadyStateStore
from .spec import BootSpec
from .timeouts import Timeouts

__all__ = [
    "PROFILES",
    "AccelChoice",
    "BootSpec",
    "Console",
    "Machine",
    "Profile",
    "QemuMachine",
    "ReadyStateStore",
    "Timeouts",
    "build_argv",
    "cache_root",
    "launch",
    "probe_accel",
    "profile_for",
]
