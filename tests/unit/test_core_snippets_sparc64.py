"""The sparc64 (Linux) snippets: bytes as binutils assembles them, the trap
where the table says, and the delay-slot program's path, which a small
interpreter of the SPARC V9 rules runs step by step next to the software
single-step's predictions."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess

import pytest

from harness.tracecore import snippets, snippets_bsd, softstep
from harness.tracecore.abi import linux_sparc64

TABLE = linux_sparc64.ABI
SPARC = {k: s for k, s in snippets.SNIPPETS.items() if k[0] == "sparc64"}
BASE = 0x40000


def _assemble(text: str, tmp_path) -> bytes:
    # The shared helper (tests/unit/asm_tools.py) where it exists; until then
    # the same binutils run, here.
    if importlib.util.find_spec("asm_tools") is not None:
        import asm_tools

        if not asm_tools.have_tools("sparc64"):
            pytest.skip("sparc64 binutils not installed (binutils-sparc64-linux-gnu)")
        return asm_tools.assemble("sparc64", text)
    if shutil.which("sparc64-linux-gnu-as") is None:
        pytest.skip("sparc64-linux-gnu-as not installed (binutils-sparc64-linux-gnu)")
    src, obj, raw = tmp_path / "s.s", tmp_path / "s.o", tmp_path / "s.bin"
    src.write_text(text + "\n")
    subprocess.run(["sparc64-linux-gnu-as", "-64", "-Av9", "-o", str(obj), str(src)], check=True,
                   capture_output=True)
    subprocess.run(["sparc64-linux-gnu-objcopy", "-O", "binary", "-j", ".text", str(obj), str(raw)], check=True)
    return raw.read_bytes()


def test_there_are_the_three_sparc64_snippets():
    assert sorted(name for _, name in SPARC) == ["delay_slots", "load_all", "set_42"]


@pytest.mark.parametrize("name", sorted(n for _, n in SPARC))
def test_bytes_match_their_assembly(name, tmp_path):
    snippet = SPARC[("sparc64", name)]
    assert _assemble(snippet.assembly, tmp_path) == snippet.code


@pytest.mark.parametrize("name", sorted(n for _, n in SPARC))
def test_ends_in_the_linux_breakpoint_at_trap_offset(name):
    snippet = SPARC[("sparc64", name)]
    assert snippet.code[snippet.trap_offset:] == TABLE.breakpoint.insn == bytes.fromhex("91d02001")
    assert all(len(b) == 4 for _, b in snippet.lines)


def test_load_all_fills_all_four_groups_but_the_reserved_and_pointer_registers():
    snippet = snippets.get("sparc64", "load_all", os_name="linux")
    names = set(TABLE.regs.layout.names())
    assert set(snippet.expect) <= names
    untouched = {"g0", "g6", "g7", "o6", "i6"}
    assert set(snippet.expect) == {n for n in names if n[0] in "goli" and n[1:].isdigit()} - untouched
    assert len(set(snippet.expect.values())) == len(snippet.expect) == 27
    # 8 instructions per 64-bit constant, then the trap.
    assert snippet.trap_offset == 27 * 8 * 4


def test_linux_gets_the_generic_snippets_and_the_bsds_keep_theirs():
    assert snippets.get("sparc64", "set_42", os_name="linux") is SPARC[("sparc64", "set_42")]
    assert snippets.get("sparc64", "load_all", os_name="netbsd") is snippets_bsd.SNIPPETS[
        ("netbsd", "sparc64", "load_all")]
    assert snippets.get("sparc64", "set_42", os_name="linux").code == bytes.fromhex("9010202a91d02001")


# -- the delay-slot program, run by the V9 rules --------------------------------------
def _sx(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def _run(code: bytes) -> tuple[list[int], dict[str, int], list[tuple[int, int]]]:
    """Execute the subset the snippet uses (or, subcc, Bicc, BPcc on
    %xcc/%icc, BPr, ta) from BASE: the PCs visited, the %o registers at the
    trap, and the (pc, npc) before each instruction.  Only the Z flag matters
    to the branches used (e, ne, a); both icc and xcc Z are set by subcc."""
    regs = [0] * 32
    z = False
    pc, npc = BASE, BASE + 4
    visited, states = [], []
    while True:
        insn = int.from_bytes(code[pc - BASE:pc - BASE + 4], "big")
        visited.append(pc)
        states.append((pc, npc))
        op = insn >> 30
        if op == 2:
            rd, op3, rs1 = (insn >> 25) & 31, (insn >> 19) & 63, (insn >> 14) & 31
            assert insn >> 13 & 1, "only immediate forms are used"
            simm = _sx(insn & 0x1FFF, 13)
            if op3 == 0x3A:  # Tcc: the trap ends the run
                return visited, {"o%d" % i: regs[8 + i] for i in range(8)}, states
            if op3 == 0x02:
                result = regs[rs1] | (simm & (2 ** 64 - 1))
            elif op3 == 0x14:
                result = (regs[rs1] - simm) & (2 ** 64 - 1)
                z = result == 0
            else:
                raise AssertionError("unexpected op3 0x%x at 0x%x" % (op3, pc))
            if rd:
                regs[rd] = result
            pc, npc = npc, npc + 4
            continue
        assert op == 0, "unexpected op %d at 0x%x" % (op, pc)
        annul, op2 = insn >> 29 & 1, insn >> 22 & 7
        if op2 == 3:  # BPr
            rcond = insn >> 25 & 7
            value = regs[insn >> 14 & 31]
            taken = {1: value == 0, 5: value != 0}[rcond]
            disp = _sx((insn >> 20 & 3) << 14 | insn & 0x3FFF, 16)
            always = False
        else:
            cond = insn >> 25 & 15
            taken = {8: True, 0: False, 1: z, 9: not z}[cond]
            disp = _sx(insn & (0x7FFFF if op2 == 1 else 0x3FFFFF), 19 if op2 == 1 else 22)
            always = cond in (0, 8)
        target = pc + 4 * disp
        if taken:
            # ba,a annuls its slot even though it is taken (V9 6.3.4.1).
            pc, npc = (target, target + 4) if (always and annul) else (npc, target)
        elif annul:
            pc, npc = npc + 4, npc + 8
        else:
            pc, npc = npc, npc + 4


DELAY = SPARC[("sparc64", "delay_slots")]


def test_the_delay_slot_program_goes_where_its_path_says_and_sets_what_it_expects():
    visited, outs, _ = _run(DELAY.code)
    assert visited == [BASE + 4 * i for i in DELAY.path]
    assert {k: outs[k] for k in DELAY.expect} == DELAY.expect
    assert outs["o5"] != 0xBAD
    assert DELAY.path[-1] * 4 == DELAY.trap_offset


def test_software_step_predicts_every_next_pc_of_the_delay_slot_program():
    _, _, states = _run(DELAY.code)

    def read(addr: int, size: int) -> bytes:
        return DELAY.code[addr - BASE:addr - BASE + size]

    predictions = [softstep.next_pcs(TABLE, {"pc": pc, "npc": npc}, read) for pc, npc in states[:-1]]
    for (pc, _), (actual, _), predicted in zip(states[:-1], states[1:], predictions, strict=True):
        assert actual in predicted, "at 0x%x: went to 0x%x, step trapped %s" % (pc, actual, predicted)
    # Per kind of branch: the non-annulled ones trap their slot only; the
    # conditional annulled ones the slot and past it; ba,a the target only.
    by_index = {(pc - BASE) // 4: p for (pc, _), p in zip(states[:-1], predictions, strict=True)}
    at = lambda i: BASE + 4 * i  # noqa: E731
    assert by_index[3] == [at(4)]
    assert by_index[4] == [at(6)]
    assert by_index[6] == [at(7), at(8)]
    assert by_index[8] == [at(9), at(10)]
    assert by_index[9] == [at(11)]
    assert by_index[11] == [at(12), at(13)]
    assert by_index[13] == [at(16)]
    assert by_index[16] == [at(17)]


# -- on QEMU's sparc64 CPU ---------------------------------------------------------------
# qemu-user has no ptrace and does not turn "ta 1" (trap 0x101) into SIGTRAP:
# it stops with "Unhandled trap: 0x101" and prints the CPU state (%g, %o, %l,
# %i in four-register rows, pc and npc).  That dump is an independent reading
# of what each snippet leaves in which register on a real instruction set
# implementation.
_RUNNER = r"""
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
int main(void) {
    static unsigned char code[8192];
    size_t n = fread(code, 1, sizeof code, stdin);
    void *page = mmap(NULL, sizeof code, PROT_READ | PROT_WRITE | PROT_EXEC,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) return 2;
    memcpy(page, code, n);
    __builtin___clear_cache((char *)page, (char *)page + n);
    printf("base %lx\n", (unsigned long)page);
    fflush(stdout);
    ((void (*)(void))page)();
    return 3;
}
"""


@pytest.fixture(scope="module")
def sparc64_runner(tmp_path_factory) -> str:
    missing = [t for t in ("sparc64-linux-gnu-gcc", "qemu-sparc64-static") if shutil.which(t) is None]
    if missing:
        pytest.skip("needs %s (scripts/install-system-packages installs them)" % ", ".join(missing))
    work = tmp_path_factory.mktemp("sparc64-runner")
    (work / "run.c").write_text(_RUNNER)
    subprocess.run(["sparc64-linux-gnu-gcc", "-O1", "-o", str(work / "run"), str(work / "run.c")],
                   check=True, capture_output=True)
    return str(work / "run")


def _cpu_state_at_trap(runner: str, code: bytes) -> dict[str, int]:
    proc = subprocess.run(["qemu-sparc64-static", "-L", "/usr/sparc64-linux-gnu", runner], input=code,
                          capture_output=True, timeout=60, check=False)
    text = (proc.stdout + proc.stderr).decode(errors="replace")
    assert "Unhandled trap: 0x101" in text, text[-2000:]
    state: dict[str, int] = {}
    for line in text.splitlines():
        words = line.split()
        if words and words[0] == "base":
            state["base"] = int(words[1], 16)
        elif words and words[0] == "pc:":
            state["pc"], state["npc"] = int(words[1], 16), int(words[3], 16)
        elif words and words[0][:1] == "%" and words[0].endswith(":"):
            group, first = words[0][1], int(words[0][2])
            for i, value in enumerate(words[1:5]):
                state["%s%d" % (group, first + i)] = int(value, 16)
    return state


@pytest.mark.parametrize("name", sorted(n for _, n in SPARC))
def test_on_qemus_sparc64_cpu_the_snippet_stops_at_its_trap_with_its_values(name, sparc64_runner):
    snippet = SPARC[("sparc64", name)]
    state = _cpu_state_at_trap(sparc64_runner, snippet.code)
    assert state["pc"] - state["base"] == snippet.trap_offset
    assert state["npc"] == state["pc"] + 4
    assert {reg: state[reg] for reg in snippet.expect} == snippet.expect
