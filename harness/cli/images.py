"""``harness images build TARGET...`` and ``harness images list``."""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

from ..errors import ConfigError
from ..images import ensure_image, image_hash, load_catalog
from ..images.cache import images_root, list_built


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("images", help="build and list guest images")
    images_sub = p.add_subparsers(dest="images_command", metavar="ACTION")
    images_sub.required = True
    build = images_sub.add_parser("build", help="build the images of TARGETs (cached by recipe hash)")
    build.add_argument("targets", nargs="+", metavar="TARGET", help="e.g. debian-12-amd64")
    build.set_defaults(func=build_command)
    listing = images_sub.add_parser("list", help="catalog targets and the images built for them")
    listing.set_defaults(func=list_command)


def build_command(args: argparse.Namespace) -> int:
    catalog = load_catalog()
    console = Console(stderr=True)
    for target in args.targets:
        catalog[target]  # an unknown name fails before any build starts
    for target in args.targets:
        started = time.monotonic()
        image, built_now = ensure_image(target, catalog=catalog, console=console)
        if built_now:
            console.print("%s: built in %.0f s: %s" % (target, time.monotonic() - started, image.directory))
        else:
            console.print("%s: already built: %s" % (target, image.directory))
    return 0


def _mib(n: int) -> str:
    return "%.0f MiB" % (n / 2**20)


def list_command(args: argparse.Namespace) -> int:
    catalog = load_catalog()
    built = list_built()
    current = {}
    for name in catalog:
        try:
            current[name] = image_hash(catalog[name])
        except ConfigError:  # an OS without a builder yet: listed, never built
            current[name] = None
    table = Table(title="images under %s" % images_root(), title_justify="left")
    for column in ("target", "recipe", "state", "size", "built", "path"):
        table.add_column(column)
    for image in built:
        if image.target not in current:
            state = "not in catalog"
        elif current[image.target] == image.recipe_hash:
            state = "current"
        else:
            state = "stale (catalog changed)"
        built_at = time.strftime("%Y-%m-%d %H:%M", time.localtime(image.manifest_path.stat().st_mtime))
        table.add_row(image.target, image.recipe_hash, state, _mib(image.size_bytes()), built_at,
                      str(image.directory))
    for name in catalog:
        if not any(i.target == name and i.recipe_hash == current[name] for i in built):
            table.add_row(name, current[name] or "-", "not built", "", "", "")
    out = Console()
    # Piped output keeps whole paths on one line rather than wrapping at 80.
    (out if out.is_terminal else Console(width=200)).print(table)
    return 0
