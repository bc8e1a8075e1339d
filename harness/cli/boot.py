"""``harness boot TARGET``: boot a guest with its serial console on this terminal.

The guest boots from its ready state when one matches (``--cold`` ignores
it).  ``--firmware ARCH`` boots only an arch's firmware (no image needed):
OpenBIOS's ``0 >`` prompt on sparc64, SeaBIOS on amd64.  Ctrl-] leaves the
console and shuts the VM down; the transcript stays in the work directory.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ..vm import PROFILES, BootSpec, ReadyStateStore, launch


def register(subparsers: argparse._SubParsersAction) -> None:
    cmd = subparsers.add_parser(
        "boot",
        help="boot a guest with its serial console attached (Ctrl-] quits)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = cmd.add_mutually_exclusive_group(required=True)
    what.add_argument("target", nargs="?", help="a catalog target, e.g. debian-12-amd64")
    what.add_argument("--firmware", metavar="ARCH", choices=sorted(PROFILES), help="boot only this arch's firmware")
    cmd.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto", help="accelerator (default: auto)")
    cmd.add_argument("--cold", action="store_true", help="cold boot even when a ready state exists")
    cmd.add_argument("--workdir", type=Path, help="where the VM's files go (default: a new temporary directory)")
    cmd.set_defaults(func=run)


def _spec_for(args: argparse.Namespace) -> BootSpec:
    if args.firmware:
        return BootSpec(target="firmware-%s" % args.firmware, arch=args.firmware, recipe_id="firmware")
    from ..images import ensure_image, load_catalog
    from ..remote.guest_target import boot_spec

    catalog = load_catalog()
    entry = catalog[args.target]  # a ConfigError naming the known targets when unknown
    image, _ = ensure_image(args.target, catalog=catalog)
    return boot_spec(image, memory_mb=entry["memory_mb"], profile_overrides=entry["profile"])


def run(args: argparse.Namespace) -> int:
    spec = _spec_for(args)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="trapline-boot-"))
    store = None if args.cold else ReadyStateStore()
    with launch(spec, workdir, accel=args.accel, ready_state=store) as vm:
        how = "restored from its ready state" if vm.restored else "cold boot"
        print(
            "harness: %s (%s), ssh on 127.0.0.1:%d, transcript %s\nharness: Ctrl-] leaves and shuts the VM down"
            % (spec.target, how, vm.ssh_port, vm.transcript_path),
            file=sys.stderr,
        )
        vm.console.interact()
    print("\nharness: %s shut down; transcript %s" % (spec.target, vm.transcript_path), file=sys.stderr)
    return 0
