"""Where trapline keeps what outlives a run: built images, ready states,
downloaded media, benchmark binaries.  One root, so a user who moves or
clears the cache has one place to look."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/trapline`` (``~/.cache/trapline`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "trapline"
