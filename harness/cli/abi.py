"""``harness abi TARGET``: the ABI table the core would use for a target,
so a user on a real BSD can hold it against their own headers."""

from __future__ import annotations

import argparse
import json

from ..errors import ConfigError
from ..targets import parse_target
from ..tracecore import abi as abi_tables
from ..tracecore.abi.types import Abi


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("abi", help="print the ABI table the core uses for a target")
    p.add_argument("target", help="local, or <os>-<release>-<arch>")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def describe(table: Abi, release: str | None = None) -> dict:
    regs = table.regs.layout
    return {
        "abi": table.key,
        "byteorder": table.byteorder,
        "sources": list(table.sources),
        "requests": {name: table.request(name, release) for name in table.requests.values},
        "requests_header": table.requests.header.source,
        "absent_requests": list(table.requests.absent),
        "regs": {"struct": regs.c_name, "size": regs.size, "header": regs.header.source,
                 "get": table.regs.get, "set": table.regs.set,
                 "fields": [[f.name, f.offset, f.size * f.count] for f in regs]},
        "roles": {k: v for k, v in vars(table.roles).items() if v},
        "breakpoint": {"insn": table.breakpoint.insn.hex(), "pc_adjust": table.breakpoint.pc_adjust,
                       "si_code": table.breakpoint.si_code, "source": table.breakpoint.source},
        "hardware_step": table.hardware_step,
    }


def run(args: argparse.Namespace) -> int:
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
        print("  %-28s   absent" % name)
    r = info["regs"]
    print("\n%s: %d bytes, %s / %s  [%s]" % (r["struct"], r["size"], r["get"], r["set"], r["header"]))
    for name, offset, size in r["fields"]:
        print("  %-16s offset %4d  size %3d" % (name, offset, size))
    print("\nroles: " + ", ".join("%s=%s" % kv for kv in info["roles"].items()))
    b = info["breakpoint"]
    print("breakpoint: %s, PC adjust %d, si_code %s  [%s]" % (b["insn"], b["pc_adjust"], b["si_code"], b["source"]))
    print("single-step: %s" % ("kernel (PT_STEP)" if info["hardware_step"] else "software (no kernel step)"))
    return 0
