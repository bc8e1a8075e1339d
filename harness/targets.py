"""Targets: where the core runs.  ``local`` is this machine's own kernel;
``<os>-<release>-<arch>`` names a guest from the image catalog.

A target gives the suites one thing: a started core to talk to.  Guests come
from :mod:`harness.remote.guest_target`; this module holds the naming rules
and the local target, so nothing here needs QEMU.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .errors import ConfigError
from .rpc import RpcClient
from .tracecore import abi as abi_tables

ARCHES = ("amd64", "aarch64", "sparc64")
_NAME = re.compile(r"^(?P<os>[a-z]+)-(?P<release>[0-9][0-9.]*)-(?P<arch>[a-z0-9]+)$")


# The kernel each distribution runs: ABI tables and expectations are per kernel.
KERNEL_OF = {"debian": "linux", "netbsd": "netbsd", "openbsd": "openbsd"}


@dataclass(frozen=True)
class TargetId:
    """``os`` is the kernel (``linux`` for Debian guests); ``distro`` the
    name the target was given by."""

    name: str
    os: str
    release: str
    arch: str
    distro: str

    @property
    def is_local(self) -> bool:
        return self.name == "local"


def parse_target(name: str) -> TargetId:
    """``local`` or ``<os>-<release>-<arch>``; a clear error otherwise."""
    if name == "local":
        host = abi_tables.host_os()
        return TargetId("local", host, "host", abi_tables.host_arch(), host)
    m = _NAME.match(name)
    if not m:
        raise ConfigError(
            "target %r is not 'local' or <os>-<release>-<arch>" % name,
            hint="e.g. debian-12-amd64, netbsd-10.1-sparc64, openbsd-7.6-aarch64",
        )
    if m["arch"] not in ARCHES:
        raise ConfigError("target %r: arch %r is not one of %s" % (name, m["arch"], ", ".join(ARCHES)))
    if m["os"] not in KERNEL_OF:
        raise ConfigError("target %r: OS %r is not one of %s" % (name, m["os"], ", ".join(sorted(KERNEL_OF))))
    return TargetId(name, KERNEL_OF[m["os"]], m["release"], m["arch"], m["os"])


class Target(Protocol):
    id: TargetId

    def start(self) -> None: ...
    def start_core(self) -> RpcClient: ...
    def close(self) -> None: ...


class LocalTarget:
    """This machine's kernel: the core runs as a subprocess, from its zip."""

    def __init__(self, workdir: Path) -> None:
        self.id = parse_target("local")
        self.workdir = workdir

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)

    def start_core(self) -> RpcClient:
        return RpcClient.local(stderr_path=self.workdir / "core-stderr.log", zip_dir=self.workdir)

    def close(self) -> None:
        pass


def open_target(name: str, *, workdir: Path, accel: str = "auto",
                on_phase: Callable[[str], None] | None = None) -> Target:
    """``on_phase`` hears what a guest is doing before it can answer
    ("building image", "booting", "restoring", ...), for progress views."""
    tid = parse_target(name)
    if tid.is_local:
        return LocalTarget(workdir)
    from .remote.guest_target import GuestTarget  # QEMU and SSH only when needed
    return GuestTarget(name, accel=accel, workdir=workdir, on_phase=on_phase)
