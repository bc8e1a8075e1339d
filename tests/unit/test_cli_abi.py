"""``harness abi TARGET``: the printed table, line by line.

Expected numbers come from the headers the tables cite: NetBSD sparc/ptrace.h
1.9 (PT_GETREGS = PT_FIRSTMACH 32 + 0, no PT_STEP, PTRACE_BREAKPOINT
91 d0 20 01), sparc64 reg.h 1.15 (struct reg64 160 bytes, fpreg64 272),
frame.h (BIAS 2047); NetBSD ptrace.h 1.75 (PT_STOP 23, newer than netbsd-9);
OpenBSD amd64 ptrace.h 1.2 (PT_GETXSTATE_INFO 37, first in 7.7) and sparc64
ptrace.h 1.3 (PT_WCOOKIE 36).
"""

from __future__ import annotations

import json

import pytest

from harness.cli import main


def _run(capsys, *argv: str) -> list[str]:
    assert main(["abi", *argv]) == 0
    return capsys.readouterr().out.splitlines()


def _request_line(lines: list[str], name: str) -> str:
    found = [line for line in lines if line.split()[:1] == [name]]
    assert len(found) == 1, (name, found)
    return found[0]


def test_netbsd_sparc64_prints_its_requests_registers_and_breakpoint(capsys):
    lines = _run(capsys, "netbsd-10.1-sparc64")
    assert lines[0] == "netbsd-10.1-sparc64  (netbsd_sparc64, big-endian)"
    assert _request_line(lines, "PT_GETREGS").split() == ["PT_GETREGS", "32", "0x20"]
    assert _request_line(lines, "PT_STOP").split() == ["PT_STOP", "23", "0x17"]
    # sparc64 has no kernel single-step: listed as absent, never with a number.
    assert _request_line(lines, "PT_STEP").split() == ["PT_STEP", "absent"]
    assert any(line.startswith("regs struct reg64: 160 bytes, PT_GETREGS / PT_SETREGS  [NetBSD/src ")
               for line in lines)
    assert any(line.startswith("fpregs struct fpreg64: 272 bytes, PT_GETFPREGS / PT_SETFPREGS  [")
               for line in lines)
    assert "  npc              offset   16  size   8" in lines
    roles = next(line for line in lines if line.startswith("roles: "))
    assert "pc=pc" in roles and "npc=npc" in roles and "sp=o6" in roles
    assert "stack bias: 2047 (%sp and %fp point this far below the frame)" in lines
    breakpoint = next(line for line in lines if line.startswith("breakpoint: "))
    assert breakpoint.startswith("breakpoint: 91 d0 20 01, PC adjust 0, si_code TRAP_BRKPT  [NetBSD/src ")
    assert lines[-1] == "single-step: software (no kernel step)"


def test_netbsd_9_lists_what_it_lacks_with_the_release_that_added_it(capsys):
    lines = _run(capsys, "netbsd-9.3-amd64")
    for name in ("PT_STOP", "PT_LWPSTATUS", "PT_LWPNEXT", "PT_SET_SIGPASS", "PT_GET_SIGPASS"):
        assert _request_line(lines, name).split() == [name, "absent", "(from", "release", "10)"]
    assert _request_line(lines, "PT_LWPINFO").split() == ["PT_LWPINFO", "13", "0xd"]
    assert _request_line(lines, "PT_STEP").split() == ["PT_STEP", "32", "0x20"]
    # amd64 has no stack bias; its single-step is the kernel's.
    assert not any(line.startswith("stack bias") for line in lines)
    assert lines[-1] == "single-step: kernel (PT_STEP)"


@pytest.mark.parametrize(("release", "expected"), [
    ("7.6", ["PT_GETXSTATE_INFO", "absent", "(from", "release", "7.7)"]),
    ("7.7", ["PT_GETXSTATE_INFO", "37", "0x25"]),
])
def test_openbsd_amd64_xstate_depends_on_the_release(capsys, release, expected):
    lines = _run(capsys, "openbsd-%s-amd64" % release)
    assert _request_line(lines, "PT_GETXSTATE_INFO").split() == expected
    assert any(line.startswith("breakpoint: cc, PC adjust 1, si_code None  [") for line in lines)


def test_openbsd_sparc64_prints_wcookie(capsys):
    lines = _run(capsys, "openbsd-7.9-sparc64")
    assert _request_line(lines, "PT_WCOOKIE").split() == ["PT_WCOOKIE", "36", "0x24"]
    assert "stack bias: 2047 (%sp and %fp point this far below the frame)" in lines


def test_json_output_carries_the_release_view(capsys):
    assert main(["abi", "netbsd-9.3-sparc64", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["abi"], info["release"], info["byteorder"]) == ("netbsd_sparc64", "9.3", "big")
    assert info["requests"]["PT_GETREGS"] == 32
    assert "PT_STOP" not in info["requests"]
    assert info["requests_since"]["PT_STOP"] == "10"
    assert {"PT_STEP", "PT_STOP"} <= set(info["absent_requests"])
    assert info["breakpoint"]["insn"] == "91d02001"
    assert (info["regs"]["size"], info["fpregs"]["size"], info["stack_bias"]) == (160, 272, 2047)
    assert info["roles"]["npc"] == "npc"
