"""The ``harness`` command (also ``python -m harness``).

Each command group is a module here exposing ``register(subparsers)``; it
adds its subcommands with ``set_defaults(func=...)``, a callable taking the
parsed arguments and returning the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ..errors import TraplineError

# Command modules, in the order `harness --help` lists them.
COMMAND_MODULES = (
    "run",
    "report",
    "matrix",
    "images",
    "boot",
    "ssh",
    "abi",
    "kdump",
    "bench",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="trapline: conformance runs of ptrace(2) and ktrace(2) on QEMU guests and this machine.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module("%s.%s" % (__name__, name)).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    # Everything after a bare "--" goes to pytest untouched.
    passthrough: list[str] = []
    if "--" in args_in:
        at = args_in.index("--")
        args_in, passthrough = args_in[:at], args_in[at + 1:]
    parser = build_parser()
    args = parser.parse_args(args_in)
    args.passthrough = passthrough
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except TraplineError as e:
        print("harness: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130
