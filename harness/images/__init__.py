"""Guest images: the catalog (``images/*.toml``), the cache of built images,
and one builder per OS.  :func:`ensure_image` is the one entry point the rest
of the harness needs: a target name in, a complete built image out.
"""

from __future__ import annotations

from types import ModuleType

from rich.console import Console

from ..errors import ConfigError
from .cache import BuiltImage
from .catalog import Catalog, CatalogEntry, load_catalog

__all__ = ["BuiltImage", "Catalog", "CatalogEntry", "ensure_image", "image_hash", "load_catalog"]


def _builder(entry: CatalogEntry) -> ModuleType:
    """The module that builds ``entry``'s image (imported lazily: each pulls in its own tools)."""
    if entry.os == "debian" and entry["builder"] == "mmdebstrap":
        from . import debian
        return debian
    if entry.os == "debian" and entry["builder"] == "sparc64-cross":
        from .sparc64 import builder
        return builder
    if entry.os in ("netbsd", "openbsd"):
        from . import bsd
        return bsd
    raise ConfigError("no image builder for %s targets yet (%s)" % (entry.os, entry.name))


def image_hash(entry: CatalogEntry) -> str:
    """The recipe hash the entry's builder files its image under."""
    return _builder(entry).image_hash(entry)


def ensure_image(target: str, *, catalog: Catalog | None = None,
                 console: Console | None = None) -> tuple[BuiltImage, bool]:
    """The built image of ``target``, building it first when the cache lacks
    this recipe.  Returns ``(image, built_now)``."""
    entry = (catalog or load_catalog())[target]
    return _builder(entry).ensure_built(entry, console=console)
