"""Per-(OS, arch) ABI tables: one data module each, named ``<os>_<arch>``.

Each module defines ``ABI``, an :class:`~tracecore.abi.types.Abi`, and opens
with the headers and revisions its numbers were read from.  Facts every arch
of an OS shares live in ``<os>_common``.
"""

from __future__ import annotations

import importlib
import platform
import sys
from typing import Tuple

from .types import Abi

# (os, arch) pairs with a table.  Arch names are trapline's: amd64, aarch64, sparc64.
KNOWN: Tuple[Tuple[str, str], ...] = (
    ("linux", "amd64"),
    ("linux", "aarch64"),
    ("linux", "sparc64"),
    ("netbsd", "amd64"),
    ("netbsd", "aarch64"),
    ("netbsd", "sparc64"),
    ("openbsd", "amd64"),
    ("openbsd", "aarch64"),
    ("openbsd", "sparc64"),
)

# uname -m (or platform.machine()) spellings, per OS, to trapline's arch names.
_MACHINE_ALIASES = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "aarch64",
    "arm64": "aarch64",
    "evbarm": "aarch64",
    "sparc64": "sparc64",
}


class UnsupportedPlatform(Exception):
    """No ABI table exists for this (OS, arch)."""


def normalise_arch(machine: str) -> str:
    try:
        return _MACHINE_ALIASES[machine.lower()]
    except KeyError:
        raise UnsupportedPlatform(
            "machine %r is not one trapline knows (known: %s)"
            % (machine, ", ".join(sorted(set(_MACHINE_ALIASES.values()))))
        ) from None


def host_os() -> str:
    return sys.platform.rstrip("0123456789")


def host_arch() -> str:
    return normalise_arch(platform.machine())


def load(os_name: str, arch: str) -> Abi:
    """The table for one (OS, arch); a clear error when there is none."""
    if (os_name, arch) not in KNOWN:
        raise UnsupportedPlatform(
            "no ABI table for %s/%s (tables exist for: %s)"
            % (os_name, arch, ", ".join("%s/%s" % k for k in KNOWN))
        )
    module = importlib.import_module("%s.%s_%s" % (__name__, os_name, arch))
    return module.ABI


def for_host() -> Abi:
    return load(host_os(), host_arch())
