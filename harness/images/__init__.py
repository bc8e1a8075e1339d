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

__all__ = ["BuiltImage", "Catalog", "CatalogEntry", "check_mirror_applies", "ensure_image", "image_hash",
           "load_catalog"]


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


def ensure_image(target: str, *, catalog: Catalog | None = None, console: Console | None = None,
                 mirror: str | None = None) -> tuple[BuiltImage, bool]:
    """The built image of ``target``, building it first when the cache lacks
    this recipe.  Returns ``(image, built_now)``.

    ``mirror`` (``--mirror``) is where a NetBSD/OpenBSD build downloads its
    install media from; other builders take no media mirror, so it is refused
    for them rather than silently ignored."""
    entry = (catalog or load_catalog())[target]
    if mirror is not None:
        check_mirror_applies(entry)
        return _builder(entry).ensure_built(entry, console=console, mirror=mirror)
    return _builder(entry).ensure_built(entry, console=console)


def check_mirror_applies(entry: CatalogEntry) -> None:
    """Raise :class:`ConfigError` unless ``entry`` downloads install media a
    ``--mirror`` can redirect (NetBSD and OpenBSD targets)."""
    if entry.os not in ("netbsd", "openbsd"):
        raise ConfigError("--mirror applies to NetBSD and OpenBSD targets, not %s (os %s)" % (entry.name, entry.os),
                          target=entry.name,
                          hint="its packages come from the 'mirror' key in %s; drop --mirror for it"
                               % entry.source)
