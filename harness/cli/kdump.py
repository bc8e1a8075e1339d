"""``harness kdump FILE``: print a ktrace(2) trace file the way kdump(1) would.

Works on this machine for files from any NetBSD or OpenBSD target (or a
user's own): the OS and byte order are detected from the file when only one
reading fits, or given with ``--os`` / ``--byteorder``.  ``--json`` prints
the decoded records as one JSON document instead.  Layouts are the 64-bit
ones (amd64, aarch64, sparc64); files from 32-bit kernels are not read.

Exit status: 0 when every byte parsed into records, 1 when the file stops
early (truncated or corrupt; the records before that point are printed and
the last line says where and why), 2 when the file cannot be read or its
format cannot be determined.
"""

from __future__ import annotations

import argparse
import json
import sys

from harness.tracecore.ktrace import parser as ktrace_parser
from harness.tracecore.ktrace.format import trace_text, trace_to_dict

EXIT_COMPLETE = 0
EXIT_STOPPED_EARLY = 1
EXIT_UNREADABLE = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    cmd = subparsers.add_parser(
        "kdump",
        help="print a ktrace trace file (NetBSD or OpenBSD, either byte order)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(cmd)
    cmd.set_defaults(func=run)


def add_arguments(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("file", metavar="FILE", help="the trace file (ktrace.out)")
    cmd.add_argument("--os", choices=ktrace_parser.OSES, default=None,
                     help="the OS that wrote it (default: detect; OpenBSD files start with KTR_START)")
    cmd.add_argument("--byteorder", choices=ktrace_parser.BYTEORDERS, default=None,
                     help="its byte order (default: detect; big for sparc64, little for amd64/aarch64)")
    cmd.add_argument("--json", action="store_true", help="print the records as JSON")


def run(args: argparse.Namespace) -> int:
    try:
        with open(args.file, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        print("harness kdump: cannot read %s: %s" % (args.file, exc.strerror or exc), file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        trace = ktrace_parser.parse(data, args.os, args.byteorder)
    except ktrace_parser.TraceFormatError as exc:
        print("harness kdump: %s: %s" % (args.file, exc), file=sys.stderr)
        return EXIT_UNREADABLE
    if args.json:
        json.dump(trace_to_dict(trace), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        for line in trace_text(trace):
            sys.stdout.write(line + "\n")
    return EXIT_COMPLETE if trace.complete else EXIT_STOPPED_EARLY


def main(argv: list[str] | None = None) -> int:
    """Run ``kdump`` alone (the ``harness`` CLI calls ``register`` instead)."""
    cmd = argparse.ArgumentParser(prog="harness kdump", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(cmd)
    return run(cmd.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
