"""OS mechanics of ptrace, one module per OS, behind one small interface.

The per-arch facts (numbers, layouts, breakpoint bytes) come from the ABI
table; a backend holds only what differs in *how* an OS's ptrace is driven:
how registers move, how memory moves, how events are asked for and told.
"""

from __future__ import annotations

import importlib
from typing import Optional

from ..abi.types import Abi
from .base import Backend

_MODULES = {"linux": "linux", "netbsd": "netbsd", "openbsd": "openbsd"}


def for_abi(abi: Abi, release: Optional[str] = None) -> Backend:
    try:
        module_name = _MODULES[abi.os]
    except KeyError:
        raise NotImplementedError("no ptrace backend for %s" % abi.os) from None
    module = importlib.import_module("%s.%s" % (__name__, module_name))
    return module.BACKEND(abi, release)
