"""``harness abi TARGET``: the ABI table the core would use for a target,
so a user on a real BSD can hold it against their own headers.

``harness abi TARGET --check`` does that holding itself: the target's core
compiles a probe from the table against the target's own headers, runs it
and compares (``tracecore.selfcheck``).  Exit status 0 when every fact
agrees, 1 on any disagreement, 3 when the target cannot compile the probe.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from ..errors import ConfigError, GuestError
from ..rpc import RemoteError
from ..targets import open_target, parse_target
from ..tracecore import abi as abi_tables
from ..tracecore import selfcheck
from ..tracecore.abi.types import Abi, RegisterSet

EXIT_MISMATCH = 1
EXIT_UNAVAILABLE = 3


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("abi", help="print the ABI table the core uses for a target, or --check it there")
    p.add_argument("target", help="local, or <os>-<release>-<arch>")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--check", action="store_true",
                   help="compile the table into a probe on the target, run it against the target's own "
                   "headers and print the comparison (exit 1 on any disagreement)")
    p.add_argument("--cc", default=None, metavar="COMPILER",
                   help="with --check: compile on this host with COMPILER (a cross compiler for the target) "
                   "and only run the probe on the target (default: the target's cc; the host's cross "
                   "compiler only if the target has none)")
    p.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto",
                   help="with --check: QEMU accelerator for guest targets (default: probe)")
    p.add_argument("--workdir", type=Path, default=None,
                   help="with --check: where the target's files go (default: a new temporary directory)")
    p.set_defaults(func=run)


def describe(table: Abi, release: str | None = None) -> dict:
    """The table as ``release`` sees it (None: the newest the table knows)."""
    requests = table.requests_for(release)
    return {
        "abi": table.key,
        "release": release,
        "byteorder": table.byteorder,
        "sources": list(table.sources),
        "requests": dict(requests.values),
        "requests_header": requests.header.source,
        "absent_requests": list(requests.absent),
        # Why a request is absent for this release: the release it arrived in.
        "requests_since": {name: table.requests_since[name] for name in requests.absent
                           if name in table.requests_since},
        "regs": _register_set(table.regs),
        "fpregs": _register_set(table.fpregs) if table.fpregs is not None else None,
        "roles": {k: v for k, v in vars(table.roles).items() if v},
        "breakpoint": {"insn": table.breakpoint.insn.hex(), "pc_adjust": table.breakpoint.pc_adjust,
                       "si_code": table.breakpoint.si_code, "source": table.breakpoint.source},
        "hardware_step": table.hardware_step,
        "stack_bias": _stack_bias(table),
    }


def _register_set(regset: RegisterSet) -> dict:
    layout = regset.layout
    return {"struct": layout.c_name, "size": layout.size, "header": layout.header.source,
            "get": regset.get, "set": regset.set,
            "fields": [[f.name, f.offset, f.size * f.count] for f in layout]}


def _stack_bias(table: Abi) -> int | None:
    """sparc64's BIAS (frame.h): %sp and %fp point 2047 bytes below the frame."""
    for group in table.extra_constants:
        if "BIAS" in group:
            return group["BIAS"]
    return None


def _print_register_set(title: str, r: dict) -> None:
    print("\n%s %s: %d bytes, %s / %s  [%s]" % (title, r["struct"], r["size"], r["get"], r["set"], r["header"]))
    for name, offset, size in r["fields"]:
        print("  %-16s offset %4d  size %3d" % (name, offset, size))


def run(args: argparse.Namespace) -> int:
    if args.check:
        return run_check(args)
    if args.cc is not None:
        raise ConfigError("--cc only applies with --check", hint="harness abi %s --check --cc %s"
                          % (args.target, args.cc))
    tid = parse_target(args.target)
    try:
        table = abi_tables.load(tid.os, tid.arch)
    except abi_tables.UnsupportedPlatform as e:
        raise ConfigError(str(e), target=tid.name) from None
    info = describe(table, None if tid.is_local else tid.release)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print("%s  (%s, %s-endian)" % (tid.name, info["abi"], table.byteorder))
    print("\nrequests  [%s]" % info["requests_header"])
    for name, value in info["requests"].items():
        print("  %-28s %6d  0x%x" % (name, value, value))
    for name in info["absent_requests"]:
        since = info["requests_since"].get(name)
        print("  %-28s   absent%s" % (name, " (from release %s)" % since if since else ""))
    _print_register_set("regs", info["regs"])
    if info["fpregs"] is not None:
        _print_register_set("fpregs", info["fpregs"])
    print("\nroles: " + ", ".join("%s=%s" % kv for kv in info["roles"].items()))
    if info["stack_bias"] is not None:
        print("stack bias: %d (%%sp and %%fp point this far below the frame)" % info["stack_bias"])
    b = info["breakpoint"]
    print("breakpoint: %s, PC adjust %d, si_code %s  [%s]" % (
        " ".join(b["insn"][i:i + 2] for i in range(0, len(b["insn"]), 2)), b["pc_adjust"], b["si_code"],
        b["source"]))
    print("single-step: %s" % ("kernel (PT_STEP)" if info["hardware_step"] else "software (no kernel step)"))
    return 0


def check_on_target(name: str, *, cc: str | None = None, accel: str = "auto",
                    workdir: Path | None = None) -> dict[str, Any]:
    """Start the target and its core, run the self-check, close; the report."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="trapline-abi-check-"))
    target = open_target(name, workdir=workdir / name, accel=accel)
    target.start()
    try:
        client = target.start_core()
        try:
            report = selfcheck.check_target(client.call, client.hello, cc=cc)
        except RemoteError as e:
            raise GuestError("the ABI self-check failed on the target: %s" % e, target=name,
                             hint="with --cc, give the cross compiler for the target's OS and arch"
                             if cc else None) from e
        finally:
            client.close()
    finally:
        target.close()
    report["target"] = name
    return report


def run_check(args: argparse.Namespace) -> int:
    tid = parse_target(args.target)
    report = check_on_target(tid.name, cc=args.cc, accel=args.accel, workdir=args.workdir)
    if not report["available"] and args.cc is not None:
        raise ConfigError("--cc %s cannot build the probe: %s" % (args.cc, report["reason"]), target=tid.name,
                          hint="give a working compiler for %s/%s, or drop --cc to use the target's own"
                          % (tid.os, tid.arch))
    if args.json:
        print(json.dumps(report, indent=2))
    elif not report["available"]:
        print("%s: ABI self-check not run: %s" % (tid.name, report["reason"]))
    else:
        print("%s: built on %s" % (tid.name, report["built_on"]))
        print(selfcheck.format_report(report, verbose=True))
    if not report["available"]:
        return EXIT_UNAVAILABLE
    return 0 if report["ok"] else EXIT_MISMATCH
