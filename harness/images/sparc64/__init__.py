"""The debian-12-sparc64 guest: a big-endian sparc64 Linux cross-built from Debian 12's packages.

:func:`ensure_built` returns the cached image, built first when absent: a
directory holding ``disk.img``, ``vmlinux``, ``ssh_key``, ``ssh_key.pub``,
``host_key.pub`` and ``manifest.json``.
"""

from .builder import build, ensure_built, image_hash, recipe_from_entry
from .recipe import TARGET, Recipe

__all__ = ["TARGET", "Recipe", "build", "ensure_built", "image_hash", "recipe_from_entry"]
