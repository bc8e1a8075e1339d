"""The self-check compiled and run with this machine's C compiler.

Two kinds of table: this machine's own (linux_amd64 or whichever the host
is), which must agree with the installed headers, and a synthetic table
over a header written here, which exercises what Linux headers lack
(the NetBSD breakpoint and register accessor macros, an enum, a macro that
is not an integer, a header that does not compile).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from harness.cli import abi as abi_cli
from harness.tracecore import abi as abi_tables
from harness.tracecore import selfcheck, server
from harness.tracecore.abi.types import (
    Abi,
    Breakpoint,
    Constants,
    Field,
    Header,
    RegisterRoles,
    RegisterSet,
    Struct,
)

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no cc on this host to compile the probe")

FAKE_HEADER = """\
#ifndef TL_FAKE_PTRACE_H
#define TL_FAKE_PTRACE_H
#define PT_FAKE_STEP 9
#define PT_FAKE_TEXT "not a number"
enum fake_request { PT_FAKE_ENUM = 0x4200, PT_FAKE_NEG = -3 };
struct fake_reg { unsigned long r_regs[4]; unsigned long r_pc; int r_flags; };
#define PTRACE_BREAKPOINT ((const unsigned char[]) { 0xd4, 0x20, 0x00, 0x00 })
#define PTRACE_BREAKPOINT_SIZE 4
#define PTRACE_BREAKPOINT_ADJ 0
#define PTRACE_REG_PC(r) ((r)->r_pc)
#define PTRACE_REG_SP(r) ((r)->r_regs[1])
#endif
"""

FAKE = Header("sys/ptrace.h", "written by test_selfcheck_compile.py")
REGS = Struct("struct fake_reg", FAKE, 48, (
    Field("r0", 0, 8, c_name="r_regs[0]"),
    Field("sp", 8, 8, c_name="r_regs[1]"),
    Field("regs_rest", 16, 8, count=2, c_name="r_regs[2]"),
    Field("pc", 32, 8, c_name="r_pc"),
    Field("flags", 40, 4, c_name="r_flags"),
))


def fake_abi(**changes: object) -> Abi:
    empty = Constants(FAKE, {})
    table = Abi(
        os="fakeos", arch="amd64", byteorder="little", pointer_size=8, sources=(FAKE.source,),
        requests=Constants(FAKE, {"PT_FAKE_STEP": 9, "PT_FAKE_ENUM": 0x4200, "PT_FAKE_NEG": -3},
                           absent=("PT_FAKE_GONE",)),
        signals=empty, si_codes=empty, errnos=empty, wait=empty,
        regs=RegisterSet(REGS, get="PT_FAKE_GETREGS", set="PT_FAKE_SETREGS"),
        roles=RegisterRoles(pc="pc", sp="sp", retval="r0"),
        breakpoint=Breakpoint(b"\xd4\x20\x00\x00", pc_adjust=0, si_code=None, source=FAKE.source),
        hardware_step=True,
    )
    return dataclasses.replace(table, **changes)  # type: ignore[arg-type]


@pytest.fixture
def fake_cc(tmp_path: Path) -> str:
    include = tmp_path / "include" / "sys"
    include.mkdir(parents=True)
    (include / "ptrace.h").write_text(FAKE_HEADER)
    (tmp_path / "include" / "tl_broken.h").write_text("#error this header does not compile\n")
    return "cc -I%s" % (tmp_path / "include")


def by_name(report: dict) -> dict:
    return {row["name"]: row for row in report["facts"]}


# -- this machine's own table ---------------------------------------------------------
def test_host_table_agrees_with_host_headers():
    table = abi_tables.for_host()
    report = selfcheck.check(table)
    probe = selfcheck.generate(table)
    assert report["disagreements"] == []
    assert report["checked"] == len(probe.facts) - len(report["unchecked"])
    assert report["checked"] > 200


@pytest.mark.skipif(abi_tables.host_os() != "linux", reason="the wrong entries below are Linux table names")
def test_a_wrong_constant_fails_with_the_message_format():
    table = abi_tables.for_host()
    wrong = dataclasses.replace(table.requests, values=dict(table.requests.values, PTRACE_CONT=8))
    report = selfcheck.check(dataclasses.replace(table, requests=wrong))
    assert report["ok"] is False
    assert report["disagreements"] == ["PTRACE_CONT: table 8, target 7 (sys/ptrace.h)"]


@pytest.mark.skipif(abi_tables.host_os() != "linux" or abi_tables.host_arch() != "amd64",
                    reason="the wrong entries below are linux_amd64 field names")
def test_wrong_offsets_and_a_wrong_member_size_fail():
    table = abi_tables.for_host()
    assert table.fpregs is not None
    layout = table.fpregs.layout
    changes = {"cwd": {"size": 1}, "rip": {"offset": 16}, "rdp": {"offset": 8}}
    swapped = [dataclasses.replace(f, **changes.get(f.name, {})) for f in layout.fields]  # type: ignore[arg-type]
    wrong = dataclasses.replace(table.fpregs, layout=dataclasses.replace(layout, fields=tuple(swapped)))
    report = selfcheck.check(dataclasses.replace(table, fpregs=wrong))
    assert report["disagreements"] == [
        "sizeof(struct user_fpregs_struct.cwd): table 1, target 2 (sys/user.h)",
        "offsetof(struct user_fpregs_struct, rip): table 16, target 8 (sys/user.h)",
        "offsetof(struct user_fpregs_struct, rdp): table 8, target 16 (sys/user.h)",
    ]


# -- a synthetic table over a header written here ---------------------------------------------
def test_fake_table_agrees_including_enum_breakpoint_and_accessors(fake_cc: str):
    report = selfcheck.check(fake_abi(), cc=fake_cc)
    rows = by_name(report)
    assert report["disagreements"] == []
    assert rows["PT_FAKE_ENUM"]["target"] == 0x4200
    assert rows["PT_FAKE_NEG"]["target"] == -3
    assert (rows["PT_FAKE_GONE"]["status"], rows["PT_FAKE_GONE"]["target"]) == ("agree", None)
    assert rows["PTRACE_BREAKPOINT"]["target"] == "d4200000"
    assert rows["PTRACE_BREAKPOINT_SIZE"]["status"] == "agree"
    assert rows["PTRACE_REG_PC(struct fake_reg)"]["target"] == 32
    assert rows["PTRACE_REG_SP(struct fake_reg)"]["target"] == 8
    # No PTRACE_REG_INTRV in the header: not a failure, not counted.
    assert report["unchecked"] == ["PTRACE_REG_INTRV(struct fake_reg)"]
    assert rows["sizeof(struct fake_reg.r_regs[2])"]["target"] == 8


def test_fake_table_names_every_kind_of_disagreement(fake_cc: str):
    requests = Constants(FAKE, {"PT_FAKE_STEP": 10, "PT_FAKE_ENUM": 0x4200, "PT_FAKE_MISSING": 3,
                                "PT_FAKE_TEXT": 1}, absent=("PT_FAKE_NEG",))
    regs = Struct("struct fake_reg", FAKE, 48, (
        Field("r0", 0, 8, c_name="r_regs[0]"),
        Field("sp", 8, 8, c_name="r_regs[1]"),
        Field("pc", 24, 8, c_name="r_pc"),
        Field("nope", 40, 4, c_name="r_nope"),
    ))
    table = fake_abi(requests=requests, regs=RegisterSet(regs, get="x", set="y"),
                     breakpoint=Breakpoint(b"\xcc", pc_adjust=1, si_code=None, source=FAKE.source))
    report = selfcheck.check(table, cc=fake_cc)
    assert report["disagreements"] == [
        "PT_FAKE_STEP: table 10, target 9 (sys/ptrace.h)",
        "PT_FAKE_MISSING: table 3, target absent (sys/ptrace.h)",
        "PT_FAKE_TEXT: table 1, target defined but not an integer constant (sys/ptrace.h)",
        "PT_FAKE_NEG: table absent, target -3 (sys/ptrace.h)",
        "offsetof(struct fake_reg, r_pc): table 24, target 32 (sys/ptrace.h)",
        "offsetof(struct fake_reg, r_nope): table 40, target absent (sys/ptrace.h)",
        "sizeof(struct fake_reg.r_nope): table 4, target absent (sys/ptrace.h)",
        "PTRACE_BREAKPOINT: table cc, target d4200000 (sys/ptrace.h)",
        "PTRACE_BREAKPOINT_SIZE: table 1, target 4 (sys/ptrace.h)",
        "PTRACE_BREAKPOINT_ADJ: table 1, target 0 (sys/ptrace.h)",
        "PTRACE_REG_PC(struct fake_reg): table 24, target 32 (sys/ptrace.h)",
    ]
    assert "r_nope" in by_name(report)["offsetof(struct fake_reg, r_nope)"]["detail"]


def test_a_header_that_does_not_compile_fails_its_facts_only(fake_cc: str):
    broken = Constants(Header("tl_broken.h", "a header with #error"), {"TL_ANY": 1})
    report = selfcheck.check(fake_abi(extra_constants=(broken,)), cc=fake_cc)
    assert report["disagreements"] == ["TL_ANY: table 1, target unit did not compile (tl_broken.h)"]
    assert "this header does not compile" in by_name(report)["TL_ANY"]["detail"]
    assert by_name(report)["PT_FAKE_STEP"]["status"] == "agree"


def test_a_compiler_without_headers_is_unavailable(tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(selfcheck.SelfCheckUnavailable, match=r"cannot build a C program including stdio\.h"):
        selfcheck.check(fake_abi(), cc="cc -nostdinc -I%s" % empty)


# -- other architectures, cross-compiled and run under qemu-user ----------------------------
def _qemu_user(arch: str, sysroot: str):
    """An ``execute`` for :func:`selfcheck.check` that runs a foreign binary here."""
    import subprocess

    def execute(path: str) -> str:
        proc = subprocess.run(["qemu-%s-static" % arch, "-L", sysroot, path], capture_output=True, check=True,
                              timeout=120)
        return proc.stdout.decode()
    return execute


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip("needs %s (scripts/install-system-packages installs them)" % ", ".join(missing))


def test_linux_aarch64_table_agrees_with_the_cross_headers():
    _need("aarch64-linux-gnu-gcc", "qemu-aarch64-static")
    table = abi_tables.load("linux", "aarch64")
    report = selfcheck.check(table, cc="aarch64-linux-gnu-gcc",
                             execute=_qemu_user("aarch64", "/usr/aarch64-linux-gnu"))
    assert report["disagreements"] == []
    assert report["checked"] == len(selfcheck.generate(table).facts) - len(report["unchecked"])


def test_big_endian_probe_reads_breakpoint_and_accessors(fake_cc: str):
    """sparc64 is big-endian: the accessor pattern and the bytes must not
    depend on the host's order."""
    _need("sparc64-linux-gnu-gcc", "qemu-sparc64-static")
    table = fake_abi(arch="sparc64", byteorder="big")
    report = selfcheck.check(table, cc=fake_cc.replace("cc ", "sparc64-linux-gnu-gcc ", 1),
                             execute=_qemu_user("sparc64", "/usr/sparc64-linux-gnu"))
    rows = by_name(report)
    assert report["disagreements"] == []
    assert rows["little-endian"]["target"] == 0
    assert rows["PTRACE_BREAKPOINT"]["target"] == "d4200000"
    assert rows["PTRACE_REG_PC(struct fake_reg)"]["target"] == 32


# -- through the core's RPC methods and the CLI ------------------------------------------------
class _TableOnly:
    def __init__(self, table: Abi) -> None:
        self.abi = table

    def close(self) -> None:
        pass


def _call(table: Abi, method: str, **params: object) -> dict:
    session = server.Session(tracer=_TableOnly(table))  # type: ignore[arg-type]
    return server.handle(session, json.dumps({"id": 1, "method": method, "params": params}).encode())


def test_rpc_selfcheck_run_reports_the_host_table():
    reply = _call(abi_tables.for_host(), "selfcheck.run")
    assert reply["result"]["available"] is True
    assert reply["result"]["disagreements"] == []


def test_rpc_selfcheck_run_without_a_compiler_says_so():
    reply = _call(abi_tables.for_host(), "selfcheck.run", cc="/nonexistent/cc")
    assert reply["result"] == {"available": False, "reason": "cannot run the compiler /nonexistent/cc: "
                               "[Errno 2] No such file or directory: '/nonexistent/cc'"}


def test_rpc_run_probe_refuses_non_hex():
    reply = _call(abi_tables.for_host(), "selfcheck.run_probe", binary="zz")
    assert reply["error"]["type"] == "BadRequest"
    assert reply["error"]["message"] == "binary must be the probe's bytes as hex"


def test_check_target_builds_on_the_host_when_the_target_cannot(fake_cc: str):
    """The cross path: the target answers 'no compiler', the host builds
    with the given compiler and the target only runs the binary."""
    table = fake_abi()
    calls: list[str] = []

    def call(method: str, **params: object) -> object:
        calls.append(method)
        if method == "selfcheck.run":
            return {"available": False, "reason": "no C compiler on this target"}
        return _call(table, method, **params)["result"]

    report = selfcheck.check_target(call, {"os": "linux", "arch": "amd64", "release": "x"}, cc=fake_cc)
    assert calls == ["selfcheck.run_probe"]
    assert report["built_on"] == "host (%s)" % fake_cc
    assert report["available"] is True


def test_check_target_unavailable_names_the_missing_cross_compiler(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(selfcheck, "cross_compiler", lambda os_name, arch: None)
    report = selfcheck.check_target(lambda method, **params: {"available": False, "reason": "no C compiler"},
                                    {"os": "linux", "arch": "sparc64", "release": "6.1"})
    assert report == {"available": False, "built_on": None, "reason": "no C compiler; and the host has no cross "
                      "compiler for linux/sparc64 (sparc64-linux-gnu-gcc not on PATH)"}


def test_cli_check_local_prints_the_count(capsys: pytest.CaptureFixture[str], tmp_path: Path):
    from harness.cli import main

    assert main(["abi", "local", "--check", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    expected = len(selfcheck.generate(abi_tables.for_host()).facts)
    assert out[0] == "local: built on target"
    assert out[-1].startswith("%s: " % abi_tables.for_host().key)
    checked = int(out[-1].split(": ", 1)[1].split()[0])
    assert checked > 200
    assert checked + len([line for line in out if line.startswith("  unchecked")]) == expected


def test_cli_check_json_and_mismatch_exit(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                          fake_cc: str):
    wrong = fake_abi(requests=Constants(FAKE, {"PT_FAKE_STEP": 7}))

    def fake_check(name: str, **kwargs: object) -> dict:
        report = selfcheck.check(wrong, cc=fake_cc)
        report.update(available=True, built_on="target", target=name)
        return report

    monkeypatch.setattr(abi_cli, "check_on_target", fake_check)
    from harness.cli import main

    assert main(["abi", "local", "--check", "--json"]) == abi_cli.EXIT_MISMATCH
    report = json.loads(capsys.readouterr().out)
    assert report["disagreements"] == ["PT_FAKE_STEP: table 7, target 9 (sys/ptrace.h)"]


def test_cli_cc_without_check_is_a_config_error():
    from harness.cli import main

    assert main(["abi", "local", "--cc", "gcc"]) != 0
