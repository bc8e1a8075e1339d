"""``harness images build|fetch|verify|prune|list``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..errors import ConfigError, TraplineError
from ..images import check_mirror_applies, ensure_image, image_hash, load_catalog
from ..images.cache import BuiltImage, images_root, list_built
from ..images.catalog import CatalogEntry

# The states ``harness images list`` shows for a catalog target, each a step
# further along: nothing cached; media downloaded (not verified, or changed
# since); media verified; image built for the current recipe; and a ready
# state saved from that image (restores in seconds).
STATES = ("absent", "downloaded", "verified", "built", "ready")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("images", help="fetch install media, build and list guest images")
    images_sub = p.add_subparsers(dest="images_command", metavar="ACTION")
    images_sub.required = True
    build = images_sub.add_parser("build", help="build the images of TARGETs (cached by recipe hash)")
    build.add_argument("targets", nargs="+", metavar="TARGET", help="e.g. debian-12-amd64")
    _mirror_option(build, " (NetBSD/OpenBSD targets; their python3 packages still come from the "
                          "catalog's pkg_path)")
    build.add_argument("--no-ready-state", dest="ready_state", action="store_false",
                       help="stop at the built disk; by default the guest is booted once and its "
                       "ready state saved, so the first run restores in seconds")
    build.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto",
                       help="accelerator for the boot that saves the ready state (default: auto)")
    build.set_defaults(func=build_command)

    fetch = images_sub.add_parser("fetch", help="download and verify the install media of NetBSD/OpenBSD TARGETs")
    fetch.add_argument("targets", nargs="+", metavar="TARGET", help="e.g. netbsd-10.1-amd64")
    _mirror_option(fetch)
    _key_option(fetch)
    fetch.set_defaults(func=fetch_command)

    verify = images_sub.add_parser("verify", help="hash the cached media of TARGETs again against their "
                                                  "checksum files (no download)")
    verify.add_argument("targets", nargs="+", metavar="TARGET")
    _key_option(verify)
    verify.set_defaults(func=verify_command)

    prune = images_sub.add_parser("prune", help="remove cached media no catalog target needs, and partial "
                                                "downloads")
    prune.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    prune.set_defaults(func=prune_command)

    listing = images_sub.add_parser("list", help="catalog targets, their state (%s) and built images"
                                    % " / ".join(STATES))
    listing.set_defaults(func=list_command)


def _mirror_option(parser: argparse.ArgumentParser, applies: str = "") -> None:
    parser.add_argument("--mirror", metavar="URL",
                        help="mirror to download install media from (http://, https:// or file:///dir); overrides "
                             "TRAPLINE_NETBSD_MIRROR / TRAPLINE_OPENBSD_MIRROR and the catalog" + applies)


def _key_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", type=Path, metavar="FILE",
                        help="signify public key to check OpenBSD's SHA256.sig with, instead of the release "
                             "key trapline carries (RELEASE_KEYS in harness/images/verify.py)")


def _public_key(path: Path | None) -> Any:
    if path is None:
        return None
    from ..images.signify import parse_public_key

    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError("--key %s: cannot read it: %s" % (path, exc.strerror)) from exc
    return parse_public_key(text, source=str(path))


def build_command(args: argparse.Namespace) -> int:
    catalog = load_catalog()
    console = Console(stderr=True)
    for target in args.targets:
        entry = catalog[target]  # an unknown name fails before any build starts
        if args.mirror is not None:  # and so does a --mirror the target cannot use, or a malformed one
            from ..images.fetch import resolve_mirror

            check_mirror_applies(entry)
            resolve_mirror(entry, args.mirror)
    for target in args.targets:
        started = time.monotonic()
        image, built_now = ensure_image(target, catalog=catalog, console=console, mirror=args.mirror)
        if built_now:
            console.print("%s: built in %.0f s: %s" % (target, time.monotonic() - started, image.directory))
        else:
            console.print("%s: already built: %s" % (target, image.directory))
        if args.ready_state:
            _save_ready_state(target, image, args.accel, console)
    return 0


def _save_ready_state(target: str, image: BuiltImage, accel: str, console: Console) -> None:
    """Boot the new image once, as a run would, so its ready state is saved
    (the guest target does that on a cold boot); say what happened."""
    if _ready_state_saved(target, image.manifest_path.stat().st_mtime):
        console.print("%s: ready state already saved" % target)
        return
    import tempfile

    from ..targets import open_target

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="trapline-ready-") as workdir:
        guest = open_target(target, workdir=Path(workdir), accel=accel,
                            on_phase=lambda phase: console.print("%s: %s" % (target, phase)))
        try:
            guest.start()
        finally:
            guest.close()
    if _ready_state_saved(target, image.manifest_path.stat().st_mtime):
        console.print("%s: ready state saved in %.0f s" % (target, time.monotonic() - started))
    else:
        # QEMU could not save this machine (sun4u): runs will boot it cold.
        console.print("%s: booted in %.0f s, but no ready state could be saved (see the warning above); "
                      "runs boot it cold" % (target, time.monotonic() - started))


def _entries(targets: list[str]) -> list[CatalogEntry]:
    from ..images.fetch import resolve_mirror

    catalog = load_catalog()
    entries = [catalog[name] for name in targets]  # unknown names fail before any download
    for entry in entries:
        resolve_mirror(entry)  # so does a target without media, or a bad mirror setting
    return entries


def _files(n: int) -> str:
    return "%d media file%s" % (n, "" if n == 1 else "s")


def fetch_command(args: argparse.Namespace) -> int:
    from ..images.fetch import fetch_media, release_cache

    key = _public_key(args.key)
    for entry in _entries(args.targets):
        started = time.monotonic()
        files = fetch_media(entry, mirror=args.mirror, public_key=key)
        # Plain prints: a path must stay on one line for whoever greps the log.
        print("%s: %s verified in %s (%.0f s)" % (entry.name, _files(len(files)), release_cache(entry),
                                                 time.monotonic() - started), file=sys.stderr)
    return 0


def verify_command(args: argparse.Namespace) -> int:
    from ..images.fetch import verify_cached

    key = _public_key(args.key)
    failed = 0
    for entry in _entries(args.targets):
        try:
            files = verify_cached(entry, public_key=key)
        except TraplineError as exc:
            print("harness: %s" % exc, file=sys.stderr)
            failed += 1
            continue
        print("%s: %s verified" % (entry.name, _files(len(files))))
    return 1 if failed else 0


def _size(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return "%.1f %s" % (n / scale, unit)
    return "%d bytes" % n


def prune_command(args: argparse.Namespace) -> int:
    from ..images.fetch import prune_media

    result = prune_media(load_catalog(), dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for path, size in result.removed:
        print("%s %s (%d bytes)" % (verb, path, size))
    for path in result.in_use:
        print("left %s: a fetch of it is running" % path)
    print("%s %d bytes (%s)" % ("would free" if args.dry_run else "freed", result.freed_bytes,
                                _size(result.freed_bytes)))
    return 0


def _ready_state_saved(target: str, since: float) -> bool:
    """Whether a ready state of ``target`` was saved after ``since`` (the
    image's build): the ready-state store keeps one per target."""
    from ..vm.ready_state import META_FILE, STATE_FILE, ReadyStateStore

    root = ReadyStateStore().root
    if not root.is_dir():
        return False
    for directory in root.iterdir():
        if directory.name.startswith(".") or not (directory / STATE_FILE).is_file():
            continue
        try:
            meta = json.loads((directory / META_FILE).read_text())
        except (OSError, ValueError):
            continue
        if meta.get("target") == target and float(meta.get("saved_at", 0)) >= since:
            return True
    return False


def target_state(entry: CatalogEntry, image: BuiltImage | None) -> str:
    """One of :data:`STATES` for ``entry``; ``image`` is its image for the current recipe, if built."""
    if image is not None:
        return "ready" if _ready_state_saved(entry.name, image.manifest_path.stat().st_mtime) else "built"
    if "media" not in entry.settings:
        return "absent"
    from ..images.fetch import media_state

    return media_state(entry)


def _media_bytes(entry: CatalogEntry) -> int:
    if "media" not in entry.settings:
        return 0
    from ..images.fetch import release_cache

    root = release_cache(entry)
    return sum(p.stat().st_size for p in (root / m for m in entry["media"]) if p.is_file())


def _mib(n: int) -> str:
    return "%.0f MiB" % (n / 2**20)


def list_command(args: argparse.Namespace) -> int:
    catalog = load_catalog()
    built = list_built()
    current: dict[str, str | None] = {}
    for name in catalog:
        try:
            current[name] = image_hash(catalog[name])
        except ConfigError:  # an OS without a builder yet: listed, never built
            current[name] = None
    table = Table(title="targets, and images under %s" % images_root(), title_justify="left")
    for column in ("target", "recipe", "state", "media", "image", "built", "path"):
        table.add_column(column)
    for name in catalog:
        entry = catalog[name]
        image = next((i for i in built if i.target == name and i.recipe_hash == current[name]), None)
        media = _media_bytes(entry)
        if image is None:
            table.add_row(name, current[name] or "-", target_state(entry, None), _mib(media) if media else "",
                          "", "", "")
            continue
        table.add_row(name, image.recipe_hash, target_state(entry, image), _mib(media) if media else "",
                      _mib(image.size_bytes()), _built_at(image), str(image.directory))
    for image in built:
        if image.target in current and current[image.target] == image.recipe_hash:
            continue
        state = "stale (catalog changed)" if image.target in current else "not in catalog"
        table.add_row(image.target, image.recipe_hash, state, "", _mib(image.size_bytes()), _built_at(image),
                      str(image.directory))
    out = Console()
    # Piped output keeps whole paths on one line rather than wrapping at 80.
    (out if out.is_terminal else Console(width=200)).print(table)
    return 0


def _built_at(image: BuiltImage) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(image.manifest_path.stat().st_mtime))
