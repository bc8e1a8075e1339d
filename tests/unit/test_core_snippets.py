"""The snippets' bytes are what binutils assembles from the text beside them."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from harness.tracecore import snippets

# (arch, assembler, objcopy, assembler flags)
TOOLS = {
    "amd64": ("x86_64-linux-gnu-as", "x86_64-linux-gnu-objcopy", ["--64"]),
    "aarch64": ("aarch64-linux-gnu-as", "aarch64-linux-gnu-objcopy", []),
    "sparc64": ("sparc64-linux-gnu-as", "sparc64-linux-gnu-objcopy", ["-64", "-Av9"]),
}


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


@pytest.mark.parametrize("key", sorted(snippets.SNIPPETS), ids=lambda k: "%s-%s" % k)
def test_snippet_bytes_match_their_assembly(key, tmp_path):
    snippet = snippets.SNIPPETS[key]
    assert _assemble(snippet.arch, snippet.assembly, tmp_path) == snippet.code


@pytest.mark.parametrize("key", sorted(snippets.SNIPPETS), ids=lambda k: "%s-%s" % k)
def test_snippet_ends_in_the_trap_at_trap_offset(key):
    from harness.tracecore import abi
    snippet = snippets.SNIPPETS[key]
    table = abi.load("linux", snippet.arch)
    insn = table.breakpoint.insn
    assert snippet.code[snippet.trap_offset:snippet.trap_offset + len(insn)] == insn
    assert snippet.trap_offset + len(insn) == len(snippet.code)


def test_load_all_values_are_distinct():
    for (arch, name), snippet in snippets.SNIPPETS.items():
        if name == "load_all":
            assert len(set(snippet.expect.values())) == len(snippet.expect), arch


def test_an_os_specific_snippet_wins_and_the_generic_one_is_the_fallback():
    from harness.tracecore import snippets_bsd

    assert snippets.get("sparc64", "load_all", os_name="netbsd") is snippets_bsd.SNIPPETS[
        ("netbsd", "sparc64", "load_all")]
    assert snippets.get("amd64", "set_42", os_name="linux") is snippets.SNIPPETS[("amd64", "set_42")]
    assert snippets.get("amd64", "sync_syscall", os_name="netbsd").expect == {"rax": 0}
    with pytest.raises(KeyError, match=r"no snippet 'sync_syscall' for openbsd/amd64 \(have: load_all, set_42\)"):
        snippets.get("amd64", "sync_syscall", os_name="openbsd")
