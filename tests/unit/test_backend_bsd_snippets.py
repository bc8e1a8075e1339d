"""The BSD snippets' bytes are what Debian's cross binutils assemble from the
text beside them; each ends in its arch's trap at ``trap_offset``."""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import subprocess

import pytest

from harness.tracecore import snippets, snippets_bsd

TOOLS = {
    "amd64": ("x86_64-linux-gnu-as", "x86_64-linux-gnu-objcopy", ["--64"]),
    "aarch64": ("aarch64-linux-gnu-as", "aarch64-linux-gnu-objcopy", []),
    "sparc64": ("sparc64-linux-gnu-as", "sparc64-linux-gnu-objcopy", ["-64", "-Av9"]),
}
# The trap each snippet ends in: the OS's breakpoint (NetBSD aarch64: brk #13,
# OpenBSD aarch64: brk #0).
TRAPS = {
    ("netbsd", "amd64"): b"\xcc", ("openbsd", "amd64"): b"\xcc",
    ("netbsd", "aarch64"): b"\xa0\x01\x20\xd4", ("openbsd", "aarch64"): b"\x00\x00\x20\xd4",
    ("netbsd", "sparc64"): b"\x91\xd0\x20\x01", ("openbsd", "sparc64"): b"\x91\xd0\x20\x01",
}
KEYS = sorted(snippets_bsd.SNIPPETS)
BSD_TARGETS = [(o, a) for o in ("netbsd", "openbsd") for a in ("amd64", "aarch64", "sparc64")]


def _assemble(arch: str, text: str, tmp_path) -> bytes:
    assembler, objcopy, flags = TOOLS[arch]
    if shutil.which(assembler) is None:
        if arch == "amd64" and shutil.which("as"):
            assembler, objcopy = "as", "objcopy"
        else:
            pytest.skip("%s not installed (Debian binutils for %s)" % (assembler, arch))
    src, obj, raw = tmp_path / "s.s", tmp_path / "s.o", tmp_path / "s.bin"
    src.write_text(text + "\n")
    subprocess.run([assembler, *flags, "-o", str(obj), str(src)], check=True, capture_output=True)
    subprocess.run([objcopy, "-O", "binary", "-j", ".text", str(obj), str(raw)], check=True)
    return raw.read_bytes()


@pytest.mark.parametrize("key", KEYS, ids="-".join)
def test_bsd_snippet_bytes_match_their_assembly(key, tmp_path):
    snippet = snippets_bsd.SNIPPETS[key]
    assert _assemble(snippet.arch, snippet.assembly, tmp_path) == snippet.code


@pytest.mark.parametrize("key", KEYS, ids="-".join)
def test_bsd_snippet_ends_in_the_trap(key):
    snippet = snippets_bsd.SNIPPETS[key]
    trap = TRAPS[(key[0], snippet.arch)]
    assert snippet.code[snippet.trap_offset:] == trap


def test_sparc64_load_all_covers_what_each_struct_reg_holds():
    netbsd = snippets_bsd.get("netbsd", "sparc64", "load_all")
    openbsd = snippets_bsd.get("openbsd", "sparc64", "load_all")
    # NetBSD's struct reg64 has globals and outs only; OpenBSD adds locals and ins.
    assert set(netbsd.expect) == {"g1", "g2", "g3", "g4", "g5", "o0", "o1", "o2", "o3", "o4", "o5", "o7"}
    assert set(openbsd.expect) - set(netbsd.expect) == {"l%d" % n for n in range(8)} | {
        "i0", "i1", "i2", "i3", "i4", "i5", "i7"}
    assert len(set(openbsd.expect.values())) == len(openbsd.expect)


def test_unknown_snippet_names_what_exists():
    with pytest.raises(KeyError, match="sync_syscall"):
        snippets_bsd.get("netbsd", "amd64", "nope")


@pytest.mark.parametrize("key", KEYS, ids="-".join)
def test_expected_registers_are_fields_of_the_tables_struct_reg(key):
    os_name, arch, _ = key
    module = "harness.tracecore.abi.%s_%s" % (os_name, arch)
    if importlib.util.find_spec(module) is None:
        pytest.skip("no %s table yet" % module)
    table = importlib.import_module(module).ABI
    snippet = snippets_bsd.SNIPPETS[key]
    assert set(snippet.expect) - set(table.regs.layout.names()) == set()
    assert snippet.code[snippet.trap_offset:] == table.breakpoint.insn


@pytest.mark.parametrize("name", ["load_all", "set_42"])
@pytest.mark.parametrize("os_name,arch", BSD_TARGETS, ids="-".join)
def test_the_snippet_the_core_loads_names_only_fields_of_struct_reg(os_name, arch, name):
    # What snippet.load picks for the target (the OS's own, else the generic
    # one): every register it expects must be a field the target's table
    # decodes, or the register suite reads back a KeyError, not a value.
    table = importlib.import_module("harness.tracecore.abi.%s_%s" % (os_name, arch)).ABI
    snippet = snippets.get(arch, name, os_name=os_name)
    assert set(snippet.expect) - set(table.regs.layout.names()) == set()


def test_openbsd_aarch64_load_all_reads_x30_back_as_lr():
    generic = snippets.get("aarch64", "load_all")
    openbsd = snippets.get("aarch64", "load_all", os_name="openbsd")
    # Same code, same values; only x30's name follows OpenBSD's struct reg.
    assert openbsd.code == generic.code and openbsd.trap_offset == generic.trap_offset
    assert ("x30" in openbsd.expect, openbsd.expect["lr"]) == (False, generic.expect["x30"])
    assert len(openbsd.expect) == len(generic.expect) == 31
    # NetBSD's r_reg[31] includes x30: the generic snippet serves it.
    assert snippets.get("aarch64", "load_all", os_name="netbsd") is generic
