"""The self-check's generator, output parser and comparison, without a compiler."""

from __future__ import annotations

import re

import pytest

from harness.tracecore import abi as abi_tables
from harness.tracecore import selfcheck
from harness.tracecore.abi import linux_amd64
from harness.tracecore.abi.types import Abi


@pytest.mark.parametrize(("os_name", "arch"), abi_tables.KNOWN)
def test_every_table_constant_becomes_a_fact(os_name: str, arch: str):
    table = abi_tables.load(os_name, arch)
    probe = selfcheck.generate(table)
    names = {f.name for f in probe.facts if f.kind == "constant"}
    for group in table.constant_groups():
        assert set(group.values) <= names
        assert set(group.absent) <= names


@pytest.mark.parametrize(("os_name", "arch"), abi_tables.KNOWN)
def test_every_struct_field_gets_offset_and_size_facts(os_name: str, arch: str):
    table = abi_tables.load(os_name, arch)
    probe = selfcheck.generate(table)
    by_name = {f.name: f for f in probe.facts}
    for layout in table.all_structs().values():
        t = selfcheck.c_type(layout.c_name)
        assert by_name["sizeof(%s)" % t].expected == layout.size
        for field in layout.fields:
            assert by_name["offsetof(%s, %s)" % (t, field.member)].expr == "offsetof(%s, %s)" % (t, field.member)


def test_bsd_probes_cover_ktrace_tables():
    probe = selfcheck.generate(abi_tables.load("netbsd", "amd64"))
    by_name = {f.name: f for f in probe.facts}
    assert by_name["KTR_SYSCALL"].expected == 1
    assert by_name["KTR_SYSCALL"].include == "sys/ktrace.h"
    # Only the host byte order's view of the v2 header: type at 4, version at 6.
    assert by_name["offsetof(struct ktr_header, ktr_type)"].expected == 4
    assert by_name["offsetof(struct ktr_header, _v._v2._lid)"].expected == 48
    assert "KTR_CSW" not in {f.name for f in selfcheck.generate(abi_tables.load("openbsd", "amd64")).facts}


def test_hundreds_of_facts_per_table():
    for os_name, arch in abi_tables.KNOWN:
        assert len(selfcheck.generate(abi_tables.load(os_name, arch)).facts) > 200, (os_name, arch)


@pytest.mark.parametrize(("os_name", "arch", "release", "name", "expected"), [
    # NetBSD 10 added PT_STOP (23) and PT_SET_SIGPASS (26): a 9.x kernel's
    # header has neither, so the probe expects them absent there.
    ("netbsd", "amd64", "9.3", "PT_STOP", None),
    ("netbsd", "amd64", "9.3", "PT_SET_SIGPASS", None),
    ("netbsd", "amd64", "10.1", "PT_STOP", 23),
    ("netbsd", "amd64", "10.1", "PT_SET_SIGPASS", 26),
    # OpenBSD amd64's XSTATE requests arrived in 7.7 (ptrace.h 1.2).
    ("openbsd", "amd64", "7.6", "PT_GETXSTATE", None),
    ("openbsd", "amd64", "7.7", "PT_GETXSTATE", 38),
])
def test_the_release_decides_which_requests_the_probe_expects(os_name, arch, release, name, expected):
    facts = {f.name: f for f in selfcheck.generate(abi_tables.load(os_name, arch), release).facts}
    assert facts[name].expected == expected


def test_each_fact_sits_on_its_own_line():
    probe = selfcheck.generate(linux_amd64.ABI)
    for idx in range(len(probe.units)):
        text, line_of = selfcheck.unit_source(probe, "u%d" % idx, {})
        lines = text.splitlines()
        for line_no, fact_index in line_of.items():
            assert "(%d," % fact_index in lines[line_no - 1]


def test_a_failed_fact_becomes_a_preprocessor_test():
    probe = selfcheck.generate(linux_amd64.ABI)
    index = next(i for i, f in enumerate(probe.facts) if f.name == "_WSTOPPED")
    text, line_of = selfcheck.unit_source(probe, probe.facts[index].unit, {index: "undeclared"})
    assert "#ifdef __W_STOPCODE\nTL_UNUSABLE(%d);\n#else\nTL_ABSENT(%d);\n#endif" % (index, index) in text
    assert index not in line_of.values()


def test_linux_struct_include_override_and_spellings():
    facts = {f.name: f for f in selfcheck.generate(linux_amd64.ABI).facts}
    assert facts["sizeof(struct ptrace_syscall_info)"].include == "linux/ptrace.h"
    assert facts["_WCONTINUED"].expr == "__W_CONTINUED"
    assert facts["_WCONTINUED"].expected == 0xFFFF


def test_blame_reads_gcc_clang_and_old_gcc_locations():
    line_of = {12: 3, 13: 4, 20: 5}
    output = "\n".join([
        "In file included from u0.c:5:",
        "u0.c:12:30: error: 'PT_NOPE' undeclared (first use in this function)",
        "/tmp/x/u0.c:13:9: error: use of undeclared identifier 'PT_GONE'",
        "u0.c:20: error: invalid application of 'sizeof' to incomplete type",
        "u0.c:12:30: note: each undeclared identifier is reported only once",
        "u10.c:13:1: error: elsewhere",
    ])
    assert selfcheck._blame(output, "u0.c", line_of) == {
        3: "error: 'PT_NOPE' undeclared (first use in this function)",
        4: "error: use of undeclared identifier 'PT_GONE'",
        5: "error: invalid application of 'sizeof' to incomplete type",
    }


def test_blame_finds_nothing_in_a_header_clash():
    output = "/usr/include/linux/ptrace.h:50:8: error: redefinition of 'struct ptrace_peeksiginfo_args'"
    assert selfcheck._blame(output, "u0.c", {12: 0}) == {}


def test_parse_output_rejects_a_stray_line():
    with pytest.raises(selfcheck.SelfCheckError, match=r"probe output line 2 is not a fact: 'hello'"):
        selfcheck.parse_output("0 v 1\nhello\n")


def test_parse_output_reads_every_tag():
    assert selfcheck.parse_output("0 v -2\n1 v 18446744073709551615\n2 b cc\n3 a\n4 u\n") == {
        0: ("value", -2), 1: ("value", 2**64 - 1), 2: ("value", "cc"), 3: ("absent", None), 4: ("unusable", None),
    }


def _output_agreeing(probe: selfcheck.Probe) -> list[str]:
    lines = []
    for i, f in enumerate(probe.facts):
        if f.expected is None or f.optional:
            lines.append("%d a" % i)
        elif isinstance(f.expected, str):
            lines.append("%d b %s" % (i, f.expected))
        else:
            lines.append("%d v %d" % (i, f.expected))
    return lines


def test_compare_counts_every_fact_and_leaves_optional_ones_unchecked():
    probe = selfcheck.generate(linux_amd64.ABI)
    report = selfcheck.compare(probe, "\n".join(_output_agreeing(probe)))
    optional = [f.name for f in probe.facts if f.optional]
    assert report["ok"] is True
    assert report["unchecked"] == optional
    assert report["checked"] == report["agreed"] == len(probe.facts) - len(optional)


def test_compare_names_each_disagreement_in_the_agreed_format():
    probe = selfcheck.generate(linux_amd64.ABI)
    lines = _output_agreeing(probe)
    index = {f.name: i for i, f in enumerate(probe.facts)}
    lines[index["PTRACE_SETOPTIONS"]] = "%d v %d" % (index["PTRACE_SETOPTIONS"], 0x4201)
    lines[index["sizeof(struct user_regs_struct)"]] = "%d a" % index["sizeof(struct user_regs_struct)"]
    lines[index["SIGTRAP"]] = "%d u" % index["SIGTRAP"]
    report = selfcheck.compare(probe, "\n".join(lines))
    assert report["ok"] is False
    assert report["disagreements"] == [
        "PTRACE_SETOPTIONS: table 0x4200, target 0x4201 (sys/ptrace.h)",
        "SIGTRAP: table 5, target defined but not an integer constant (signal.h)",
        "sizeof(struct user_regs_struct): table 216, target absent (sys/user.h)",
    ]


def test_compare_fails_on_a_missing_fact_line():
    probe = selfcheck.generate(linux_amd64.ABI)
    lines = _output_agreeing(probe)[:-1]
    with pytest.raises(selfcheck.SelfCheckError, match="printed nothing for fact %d" % (len(probe.facts) - 1)):
        selfcheck.compare(probe, "\n".join(lines))


def test_accessor_value_maps_back_to_the_offset_it_reads_big_endian():
    table: Abi = abi_tables.load("netbsd", "sparc64")
    probe = selfcheck.generate(table)
    index = next(i for i, f in enumerate(probe.facts) if f.name.startswith("PTRACE_REG_PC("))
    fact = probe.facts[index]
    pattern = selfcheck._pattern(probe.pattern_size)
    read = int.from_bytes(pattern[fact.expected:fact.expected + fact.size], "big")
    lines = _output_agreeing(probe)
    lines[index] = "%d v %d" % (index, read)
    report = selfcheck.compare(probe, "\n".join(lines))
    row = report["facts"][index]
    assert (row["status"], row["target"]) == ("agree", fact.expected)


def test_pattern_windows_are_unique_across_a_register_struct():
    pattern = selfcheck._pattern(1024)
    windows = [pattern[i:i + 4] for i in range(0, 1024 - 4)]
    assert len(set(windows)) == len(windows)


def test_format_report_ends_with_the_count():
    probe = selfcheck.generate(linux_amd64.ABI)
    report = selfcheck.compare(probe, "\n".join(_output_agreeing(probe)))
    last = selfcheck.format_report(report).splitlines()[-1]
    assert re.fullmatch(r"linux_amd64: %d facts checked, %d agree, 0 disagree \(compiler: None\)"
                        % (report["checked"], report["checked"]), last)


def test_find_compiler_says_what_it_looked_for(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(selfcheck.SelfCheckUnavailable,
                       match=r"no C compiler on this target: none of cc, gcc, clang on PATH \(/nonexistent\)"):
        selfcheck.find_compiler()


def test_bsd_units_define_and_include_what_bsd_headers_need():
    probe = selfcheck.generate(abi_tables.load("netbsd", "amd64"))
    unit = "u%d" % probe.units.index("sys/ktrace.h")
    text, _ = selfcheck.unit_source(probe, unit, {})
    head = [line for line in text.splitlines() if line.startswith("#")][:10]
    assert head == [
        "#define __LEGACY_PT_LWPINFO 1",
        "#include <sys/types.h>", "#include <stddef.h>", "#include <stdio.h>", "#include <string.h>",
        "#include <sys/param.h>", "#include <sys/time.h>", "#include <sys/uio.h>", "#include <signal.h>",
        "#include <sys/ktrace.h>",
    ]
