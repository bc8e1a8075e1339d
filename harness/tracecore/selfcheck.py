"""The ABI self-check: prove an (OS, arch) table against the target's own headers.

The tables in :mod:`tracecore.abi` were typed from headers read elsewhere; a
wrong number there makes every later result meaningless.  So, from the table
alone, this module writes a small C probe that prints every named constant,
every struct's ``sizeof``, every field's ``offsetof`` and member size, and the
breakpoint macros where the OS has them; compiles it with the target's ``cc``;
runs it; and compares each printed value with the table.

The probe is split into translation units, one per header a table cites, so
headers that cannot share a unit (glibc's ``sys/ptrace.h`` and
``linux/ptrace.h``) never meet.  Every fact sits on a line of its own, so a
compiler error is pinned on the fact whose line it names: the unit is written
again with that fact turned into a preprocessor test (a macro that is not an
integer is reported as such; a name, struct or member the header lacks is
reported absent), until it compiles.  That one mechanism covers enum
constants (glibc's ``PTRACE_*``), which ``#ifdef`` cannot see, on every OS.

Where the target has no compiler, the host generates and cross-compiles the
same probe and only the binary runs on the target (:func:`check_target`,
through the core's ``selfcheck.run_probe``).

Stdlib only, Python >= 3.9: this runs in the guest.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .abi.types import Abi, Constants, Struct

Value = Union[int, str]

# Included first in every unit: BSD headers use types they do not declare.
_PRELUDE = ("sys/types.h", "stddef.h", "stdio.h", "string.h")

# Extra includes per OS that must come before a table's header, by header;
# "*" for every unit.  Why: BSD headers use types and macros from
# sys/param.h without including it (NetBSD's own ptrace tests,
# tests/lib/libc/sys/t_ptrace_wait.c 1.192, include it first), and
# sys/ktrace.h uses struct timespec, struct iovec and sigset_t bare.
COMPANIONS: Mapping[str, Mapping[str, Tuple[str, ...]]] = {
    "netbsd": {"*": ("sys/param.h",), "sys/ktrace.h": ("sys/time.h", "sys/uio.h", "signal.h")},
    "openbsd": {"*": ("sys/param.h",), "sys/ktrace.h": ("sys/time.h", "sys/uio.h", "signal.h")},
}

# Where a struct lives in a different header than its table's Header cites,
# per OS and C name.  Why each:
#   linux, struct ptrace_syscall_info: glibc's sys/ptrace.h declares it as
#   ``struct __ptrace_syscall_info``; the kernel's spelling is in the uapi
#   header linux/ptrace.h, which cannot share a unit with sys/ptrace.h.
STRUCT_INCLUDE: Mapping[str, Mapping[str, str]] = {
    "linux": {"struct ptrace_syscall_info": "linux/ptrace.h"},
}

# Macros defined while compiling, per OS.  Why each:
#   linux: glibc shows TRAP_BRANCH, TRAP_HWBKPT (and TRAP_BRKPT outside
#   XPG modes) only under _GNU_SOURCE.
#   netbsd: sys/ptrace.h 1.75 hides PT_LWPINFO and struct ptrace_lwpinfo
#   behind __LEGACY_PT_LWPINFO (t_ptrace_wait.c 1.192 defines it too); the
#   tables keep them for netbsd-9 kernels.
DEFINES: Mapping[str, Tuple[str, ...]] = {
    "linux": ("_GNU_SOURCE",),
    "netbsd": ("__LEGACY_PT_LWPINFO",),
}

# Table names a header spells differently, per OS: name -> (C expression,
# the macro that must exist for it).  Why: glibc has no _WSTOPPED or
# _WCONTINUED; bits/waitstatus.h (2.36) encodes the same values as
# __W_STOPCODE(0) and __W_CONTINUED, which sys/wait.h includes.
SPELLINGS: Mapping[str, Mapping[str, Tuple[str, str]]] = {
    "linux": {"_WSTOPPED": ("__W_STOPCODE(0)", "__W_STOPCODE"),
              "_WCONTINUED": ("__W_CONTINUED", "__W_CONTINUED")},
}

# NetBSD's machine/ptrace.h breakpoint macros, reached through sys/ptrace.h.
_BREAKPOINT_INCLUDE = "sys/ptrace.h"

# Register accessor macros (NetBSD machine/ptrace.h) and the role each reads.
_ACCESSORS = (("PTRACE_REG_PC", "pc"), ("PTRACE_REG_SP", "sp"),
              ("PTRACE_REG_FP", "fp"), ("PTRACE_REG_INTRV", "retval"))

COMPILERS = ("cc", "gcc", "clang")


class SelfCheckError(Exception):
    """The self-check itself could not run (not a disagreement)."""


class SelfCheckUnavailable(SelfCheckError):
    """The target cannot compile the probe: no compiler, or no headers."""


@dataclass(frozen=True)
class Fact:
    """One value the table states and the target can confirm.

    ``expected`` None means the table says the header lacks the name.
    ``optional`` facts (macros only some OSes have) are left unchecked, not
    failed, when the target lacks them.  ``unit`` is the include the fact is
    compiled under.
    """

    name: str
    kind: str
    include: str
    source: str
    expected: Optional[Value]
    expr: str
    guard: Optional[str] = None
    optional: bool = False
    unit: str = ""
    # The struct an accessor macro is applied to, and the register's size.
    ctype: Optional[str] = None
    size: int = 0


@dataclass(frozen=True)
class Probe:
    abi_key: str
    byteorder: str
    release: Optional[str]
    facts: Tuple[Fact, ...]
    units: Tuple[str, ...]
    defines: Tuple[str, ...]
    companions: Mapping[str, Tuple[str, ...]]
    pattern_size: int


def ktrace_tables(abi: Abi) -> Tuple[Tuple[Constants, ...], Tuple[Struct, ...]]:
    """The ktrace(2) tables that describe this OS's current headers.

    Left out on purpose: layouts for traces written by older kernels
    (OpenBSD's pre-1.50 KTR_CSW), which today's headers no longer declare,
    and NetBSD record headers of the other byte order.
    """
    from .ktrace import layouts as k
    if abi.os == "netbsd":
        headers = tuple(h for (_, order), h in sorted(k.NETBSD_HEADERS.items()) if order == abi.byteorder)
        return ((k.NETBSD_OPS, k.NETBSD_TYPES, k.NETBSD_FACILITIES, k.NETBSD_SIGNALS),
                (*headers, k.NETBSD_SYSCALL, k.NETBSD_SYSRET, k.NETBSD_GENIO, k.NETBSD_PSIG, k.NETBSD_CSW,
                 k.NETBSD_USER, k.NETBSD_EXECFD, k.NETBSD_SIGINFO_RT, k.NETBSD_SIGINFO_CHILD,
                 k.NETBSD_SIGINFO_FAULT))
    if abi.os == "openbsd":
        return ((k.OPENBSD_OPS, k.OPENBSD_TYPES, k.OPENBSD_FACILITIES, k.OPENBSD_PROC, k.OPENBSD_SIGNALS),
                (k.OPENBSD_HEADER, k.OPENBSD_SYSCALL, k.OPENBSD_SYSRET, k.OPENBSD_GENIO, k.OPENBSD_PSIG,
                 k.OPENBSD_USER, k.OPENBSD_PLEDGE, k.OPENBSD_PINSYSCALL, k.OPENBSD_SIGINFO_RT,
                 k.OPENBSD_SIGINFO_CHILD, k.OPENBSD_SIGINFO_FAULT))
    return (), ()


def c_type(c_name: str) -> str:
    """The C type of a table's struct: tables name overlapping views of one
    type with a suffix in parentheses (``siginfo_t (_fault)``)."""
    return re.sub(r"\s*\(.*\)$", "", c_name)


def _struct_facts(abi: Abi, extra: Sequence[Struct]) -> List[Fact]:
    out: List[Fact] = []
    overrides = STRUCT_INCLUDE.get(abi.os, {})
    for layout in list(abi.all_structs().values()) + list(extra):
        t = c_type(layout.c_name)
        include = overrides.get(t, layout.header.include)
        src = layout.header.source
        out.append(Fact("sizeof(%s)" % t, "sizeof", include, src, layout.size, "sizeof(%s)" % t))
        for f in layout.fields:
            out.append(Fact("offsetof(%s, %s)" % (t, f.member), "offsetof", include, src, f.offset,
                            "offsetof(%s, %s)" % (t, f.member)))
            # A subscripted member names one element; a bare one the whole array.
            whole = f.size if f.member.endswith("]") else f.size * f.count
            out.append(Fact("sizeof(%s.%s)" % (t, f.member), "membersize", include, src, whole,
                            "sizeof(((%s *)0)->%s)" % (t, f.member)))
    return out


def _constant_facts(abi: Abi, release: Optional[str], extra: Sequence[Constants]) -> List[Fact]:
    out: List[Fact] = []
    spellings = SPELLINGS.get(abi.os, {})
    for table in list(abi.constant_groups()) + list(extra):
        # Requests as the release sees them: its numbers, and what it predates as absent.
        group = abi.requests_for(release) if table is abi.requests else table
        h = group.header
        values: Dict[str, int] = dict(group.values)
        for name, value in list(values.items()) + [(n, None) for n in group.absent]:
            expr, guard = spellings.get(name, (name, name))
            out.append(Fact(name, "constant", h.include, h.source, value, expr, guard=guard))
    return out


def _machine_facts(abi: Abi) -> List[Fact]:
    src = "the C compiler's own data model"
    bp = abi.breakpoint
    out = [
        Fact("sizeof(void *)", "sizeof", "stddef.h", src, abi.pointer_size, "sizeof(void *)"),
        Fact("little-endian", "runtime", "stddef.h", src, 1 if abi.byteorder == "little" else 0,
             "(*(const unsigned char *)&(const unsigned int){1U})"),
        Fact("PTRACE_BREAKPOINT", "bytes", _BREAKPOINT_INCLUDE, bp.source, bp.insn.hex(),
             "PTRACE_BREAKPOINT", guard="PTRACE_BREAKPOINT", optional=True),
        Fact("PTRACE_BREAKPOINT_SIZE", "constant", _BREAKPOINT_INCLUDE, bp.source, bp.size,
             "PTRACE_BREAKPOINT_SIZE", guard="PTRACE_BREAKPOINT_SIZE", optional=True),
        Fact("PTRACE_BREAKPOINT_ADJ", "constant", _BREAKPOINT_INCLUDE, bp.source, bp.pc_adjust,
             "PTRACE_BREAKPOINT_ADJ", guard="PTRACE_BREAKPOINT_ADJ", optional=True),
    ]
    regs = abi.regs.layout
    for macro, role in _ACCESSORS:
        field_name = getattr(abi.roles, role)
        if field_name is None:
            continue
        f = regs.field(field_name)
        # The accessor reads a struct filled with a known byte pattern; where
        # its value sits in the pattern is the offset it reads.
        out.append(Fact("%s(%s)" % (macro, c_type(regs.c_name)), "accessor", _BREAKPOINT_INCLUDE,
                        regs.header.source, f.offset, macro, guard=macro, optional=True,
                        ctype=c_type(regs.c_name), size=f.size))
    return out


def _pattern(size: int) -> bytes:
    """Bytes no two register-sized windows of a struct share (an LCG's high bits)."""
    x, out = 0x2545F491, bytearray()
    for _ in range(size):
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        out.append((x >> 16) & 0xFF)
    return bytes(out)


def generate(abi: Abi, release: Optional[str] = None) -> Probe:
    """Every fact the table states, grouped into units by include."""
    facts: List[Fact] = []
    seen = set()
    kt_constants, kt_structs = ktrace_tables(abi)
    for fact in _constant_facts(abi, release, kt_constants) + _struct_facts(abi, kt_structs) + _machine_facts(abi):
        # Two views of one struct repeat the shared members: check each once.
        key = (fact.name, fact.include, fact.expected)
        if key in seen:
            continue
        seen.add(key)
        facts.append(fact)
    units: List[str] = []
    for fact in facts:
        if fact.include not in units:
            units.append(fact.include)
    facts = [Fact(**dict(vars(f), unit="u%d" % units.index(f.include))) for f in facts]
    regs = abi.regs.layout
    return Probe(abi.key, abi.byteorder, release, tuple(facts), tuple(units), DEFINES.get(abi.os, ()),
                 COMPANIONS.get(abi.os, {}), regs.size)


# -- C text --------------------------------------------------------------------------
_HELPERS = r"""
#define TL_INT(id, e) do { if ((e) < 0) printf("%d v %lld\n", id, (long long)(e)); \
    else printf("%d v %llu\n", id, (unsigned long long)(e)); } while (0)
#define TL_CONST(id, e) do { switch (0) { case (e): default: break; } TL_INT(id, e); } while (0)
#define TL_ABSENT(id) printf("%d a\n", id)
#define TL_UNUSABLE(id) printf("%d u\n", id)
#define TL_BYTES(id, b) do { const unsigned char *p_ = (const unsigned char *)(b); size_t i_; \
    printf("%d b ", id); for (i_ = 0; i_ < sizeof(b); i_++) printf("%02x", p_[i_]); printf("\n"); } while (0)
"""


def unit_source(probe: Probe, unit: str, failed: Mapping[int, str]) -> Tuple[str, Dict[int, int]]:
    """One unit's C text and its line -> fact index map.  ``failed`` facts
    (index -> compiler message) are emitted as preprocessor tests only."""
    include = probe.units[int(unit[1:])]
    lines = ["/* trapline ABI self-check probe for %s: generated, not stored */" % probe.abi_key]
    lines += ["#define %s 1" % d for d in probe.defines]
    for name in _PRELUDE + probe.companions.get("*", ()) + probe.companions.get(include, ()) + (include,):
        lines.append("#include <%s>" % name)
    lines.extend(_HELPERS.strip().splitlines())
    lines.append("static const unsigned char tl_pattern[%d] = {%s};"
                 % (probe.pattern_size, ",".join(str(b) for b in _pattern(probe.pattern_size))))
    lines.append("void trapline_%s(void) {" % unit)
    lines.append("(void)tl_pattern;")
    line_of: Dict[int, int] = {}
    for i, fact in enumerate(probe.facts):
        if fact.unit != unit:
            continue
        if i in failed:
            if fact.guard is not None:
                lines += ["#ifdef %s" % fact.guard, "TL_UNUSABLE(%d);" % i, "#else",
                          "TL_ABSENT(%d);" % i, "#endif"]
            else:
                lines.append("TL_ABSENT(%d);" % i)
            continue
        statement = _statement(i, fact)
        if fact.optional:
            lines += ["#ifdef %s" % fact.guard, statement, "#else", "TL_ABSENT(%d);" % i, "#endif"]
            line_of[len(lines) - 3] = i
        else:
            lines.append(statement)
            line_of[len(lines)] = i
    lines.append("}")
    return "\n".join(lines) + "\n", line_of


def _statement(i: int, fact: Fact) -> str:
    if fact.kind == "bytes":
        return "TL_BYTES(%d, %s);" % (i, fact.expr)
    if fact.kind == "accessor":
        return ("{ union { unsigned char b[sizeof(tl_pattern)]; %s r; } u_; memcpy(u_.b, tl_pattern, "
                "sizeof(tl_pattern)); TL_INT(%d, %s(&u_.r)); }" % (fact.ctype, i, fact.expr))
    if fact.kind == "runtime":
        return "TL_INT(%d, %s);" % (i, fact.expr)
    # A case label takes only an integer constant expression, so a macro that
    # expands to a string or a pointer fails to compile instead of printing.
    return "TL_CONST(%d, %s);" % (i, fact.expr)


def main_source(units: Sequence[str]) -> str:
    lines = ["/* trapline ABI self-check probe: generated, not stored */"]
    lines += ["void trapline_%s(void);" % u for u in units]
    lines.append("int main(void) {")
    lines += ["trapline_%s();" % u for u in units]
    lines += ["return 0;", "}"]
    return "\n".join(lines) + "\n"


# -- building ------------------------------------------------------------------------
@dataclass
class Build:
    """A compiled probe: the binary, and what the compiler already told us."""

    binary: str
    compiler: List[str]
    # fact index -> compiler message, for facts whose first form did not compile
    compile_errors: Dict[int, str] = field(default_factory=dict)
    # unit -> compiler output, for units that never compiled (header clashes)
    failed_units: Dict[str, str] = field(default_factory=dict)


def find_compiler(cc: Optional[str] = None) -> List[str]:
    """The compiler argv: ``cc`` if given, else ``$CC``, else the first of
    cc, gcc, clang on PATH."""
    if cc:
        return cc.split()
    if os.environ.get("CC"):
        return os.environ["CC"].split()
    for name in COMPILERS:
        path = shutil.which(name)
        if path:
            return [path]
    raise SelfCheckUnavailable("no C compiler on this target: none of %s on PATH (%s)"
                               % (", ".join(COMPILERS), os.environ.get("PATH", "")))


def _cc(compiler: Sequence[str], args: Sequence[str], cwd: str, timeout: float) -> Tuple[int, str]:
    env = dict(os.environ, LC_ALL="C", LANG="C")
    try:
        proc = subprocess.run([*compiler, *args], check=False, cwd=cwd, env=env, timeout=timeout,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as e:
        raise SelfCheckUnavailable("cannot run the compiler %s: %s" % (" ".join(compiler), e)) from e
    except subprocess.TimeoutExpired:
        raise SelfCheckError("%s did not finish within %.0f s in %s" % (" ".join(compiler), timeout, cwd)) from None
    return proc.returncode, proc.stdout.decode(errors="replace")


def preflight(compiler: Sequence[str], workdir: str, timeout: float = 300.0) -> None:
    """Fail as unavailable when the compiler cannot build a hello program
    (a compiler without libc headers is no compiler for this purpose)."""
    path = os.path.join(workdir, "preflight.c")
    with open(path, "w") as f:
        f.write("#include <sys/types.h>\n#include <stdio.h>\nint main(void) { return printf(\"\") ; }\n")
    rc, out = _cc(compiler, ["-w", "-o", "preflight", "preflight.c"], workdir, timeout)
    if rc != 0:
        raise SelfCheckUnavailable("%s cannot build a C program including stdio.h (libc headers missing?): %s"
                                   % (" ".join(compiler), out.strip()[-600:]))


def _compile_unit(probe: Probe, unit: str, compiler: Sequence[str], workdir: str,
                  timeout: float) -> Tuple[bool, Dict[int, str], str]:
    """Compile one unit until it builds, turning each fact the compiler
    blames into a preprocessor test.  Every round blames at least one new
    fact or stops, so this ends; no round limit, because clang stops after
    20 errors per run.  Returns (built, blamed facts, last output)."""
    failed: Dict[int, str] = {}
    name = "%s.c" % unit
    while True:
        text, line_of = unit_source(probe, unit, failed)
        _write(os.path.join(workdir, name), text)
        rc, out = _cc(compiler, ["-w", "-c", "-o", unit + ".o", name], workdir, timeout)
        if rc == 0:
            return True, failed, out
        blamed = _blame(out, name, line_of)
        if not blamed:
            return False, failed, out
        failed.update(blamed)


def build(probe: Probe, compiler: Sequence[str], workdir: str, timeout: float = 300.0) -> Build:
    """Compile every unit (as many at once as there are CPUs), then link."""
    result = Build(os.path.join(workdir, "abi-probe"), list(compiler))
    units = ["u%d" % idx for idx in range(len(probe.units))]
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        outcomes = list(pool.map(lambda u: _compile_unit(probe, u, compiler, workdir, timeout), units))
    built: List[str] = []
    # No zip(strict=): the guest may run Python 3.9.
    for unit, (ok, failed, out) in ((units[i], o) for i, o in enumerate(outcomes)):
        if ok:
            built.append(unit)
            result.compile_errors.update(failed)
        else:
            result.failed_units[unit] = out.strip()
    _write(os.path.join(workdir, "main.c"), main_source(built))
    rc, out = _cc(compiler, ["-w", "-o", "abi-probe", "main.c"] + [u + ".o" for u in built], workdir, timeout)
    if rc != 0:
        raise SelfCheckError("linking the probe failed in %s: %s" % (workdir, out.strip()[-1000:]))
    return result


def _write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _blame(output: str, filename: str, line_of: Mapping[int, int]) -> Dict[int, str]:
    """Facts whose lines the compiler's diagnostics name, with the first message."""
    blamed: Dict[int, str] = {}
    pattern = re.compile(r"(?:^|[\s/])%s:(\d+):(?:\d+:)?\s*(.*)" % re.escape(filename))
    for line in output.splitlines():
        m = pattern.search(line)
        if m and int(m.group(1)) in line_of:
            blamed.setdefault(line_of[int(m.group(1))], m.group(2).strip())
    return blamed


def run_binary(path: str, timeout: float = 120.0) -> str:
    try:
        proc = subprocess.run([path], capture_output=True, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SelfCheckError("the probe %s did not finish within %.0f s" % (path, timeout)) from None
    if proc.returncode != 0:
        raise SelfCheckError("the probe %s exited with %d: %s"
                             % (path, proc.returncode, proc.stderr.decode(errors="replace")[-500:]))
    return proc.stdout.decode()


# -- comparing -----------------------------------------------------------------------
def parse_output(text: str) -> Dict[int, Tuple[str, Optional[Value]]]:
    """Probe lines ``<id> v <int>``, ``<id> b <hex>``, ``<id> a`` (absent),
    ``<id> u`` (defined but not an integer) -> {id: (status, value)}."""
    out: Dict[int, Tuple[str, Optional[Value]]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if len(parts) < 2 or not parts[0].isdigit() or parts[1] not in "vbau" or len(parts[1]) != 1:
            raise SelfCheckError("probe output line %d is not a fact: %r" % (n, line))
        i, tag = int(parts[0]), parts[1]
        if tag == "v":
            out[i] = ("value", int(parts[2]))
        elif tag == "b":
            out[i] = ("value", parts[2] if len(parts) > 2 else "")
        elif tag == "a":
            out[i] = ("absent", None)
        else:
            out[i] = ("unusable", None)
    return out


def _pattern_offset(probe: Probe, value: int, size: int) -> int:
    """Where in the probe's byte pattern a register value read by an accessor
    macro came from; -1 when nowhere (the macro computes something else)."""
    try:
        wanted = (value & ((1 << (8 * size)) - 1)).to_bytes(size, probe.byteorder)
    except OverflowError:
        return -1
    return _pattern(probe.pattern_size).find(wanted)


def show(value: Optional[Value], status: str = "value") -> str:
    if status == "unusable":
        return "defined but not an integer constant"
    if value is None:
        return "absent"
    if isinstance(value, str):
        return value
    return "0x%x" % value if abs(value) >= 1024 else str(value)


def compare(probe: Probe, output: str, build_result: Optional[Build] = None) -> Dict[str, Any]:
    """The report: every fact with the table's and the target's value."""
    observed = parse_output(output)
    errors = build_result.compile_errors if build_result else {}
    failed_units = build_result.failed_units if build_result else {}
    rows: List[Dict[str, Any]] = []
    for i, fact in enumerate(probe.facts):
        row: Dict[str, Any] = {"name": fact.name, "kind": fact.kind, "header": fact.include,
                               "source": fact.source, "table": fact.expected}
        if fact.unit in failed_units:
            row.update(target=None, status="disagree",
                       detail="%s did not compile: %s" % (fact.include, failed_units[fact.unit][-400:]))
            row["message"] = "%s: table %s, target unit did not compile (%s)" % (
                fact.name, show(fact.expected), fact.include)
            rows.append(row)
            continue
        if i not in observed:
            raise SelfCheckError("the probe printed nothing for fact %d (%s)" % (i, fact.name))
        status, value = observed[i]
        if fact.kind == "accessor" and status == "value":
            value = _pattern_offset(probe, int(value), fact.size)  # type: ignore[arg-type]
        row["target"] = value
        if i in errors:
            row["detail"] = errors[i]
        if status == "absent" and fact.optional:
            row["status"] = "unchecked"
        elif (status == "value" and value == fact.expected) or (status == "absent" and fact.expected is None):
            row["status"] = "agree"
        else:
            row["status"] = "disagree"
            row["message"] = "%s: table %s, target %s (%s)" % (
                fact.name, show(fact.expected), show(value, status), fact.include)
        rows.append(row)
    disagreements = [r for r in rows if r["status"] == "disagree"]
    return {
        "abi": probe.abi_key,
        "release": probe.release,
        "compiler": " ".join(build_result.compiler) if build_result else None,
        "ok": not disagreements,
        "checked": sum(1 for r in rows if r["status"] != "unchecked"),
        "agreed": sum(1 for r in rows if r["status"] == "agree"),
        "disagreements": [r["message"] for r in disagreements],
        "unchecked": [r["name"] for r in rows if r["status"] == "unchecked"],
        "facts": rows,
    }


def check(abi: Abi, release: Optional[str] = None, cc: Optional[str] = None,
          workdir: Optional[str] = None, execute: Optional[Callable[[str], str]] = None,
          timeout: float = 600.0) -> Dict[str, Any]:
    """Generate, compile, run and compare.  ``execute`` runs the probe binary
    (default: here); the host passes one that sends it to a guest.
    ``timeout`` bounds each compiler run and the probe's own run."""
    compiler = find_compiler(cc)
    own_dir = workdir is None
    work = tempfile.mkdtemp(prefix="trapline-abi-probe-") if own_dir else workdir
    try:
        preflight(compiler, work, timeout)
        probe = generate(abi, release)
        built = build(probe, compiler, work, timeout)
        output = execute(built.binary) if execute else run_binary(built.binary, timeout)
        return compare(probe, output, built)
    finally:
        if own_dir:
            shutil.rmtree(work, ignore_errors=True)


# -- from the host ---------------------------------------------------------------------
# Cross compilers the host may hold per (OS, arch), for targets without one.
# Only Linux: a BSD cross toolchain needs that BSD's headers and libc.
CROSS_COMPILERS: Mapping[Tuple[str, str], str] = {
    ("linux", "amd64"): "x86_64-linux-gnu-gcc",
    ("linux", "aarch64"): "aarch64-linux-gnu-gcc",
    ("linux", "sparc64"): "sparc64-linux-gnu-gcc",
}


def cross_compiler(os_name: str, arch: str) -> Optional[str]:
    """The host's cross compiler for a target, if installed."""
    name = CROSS_COMPILERS.get((os_name, arch))
    return shutil.which(name) if name else None


def check_target(call: Callable[..., Any], hello: Mapping[str, Any], cc: Optional[str] = None,
                 cross: bool = True) -> Dict[str, Any]:
    """Run the self-check on a target through its core (``call(method,
    **params)``, the RPC client's ``call``).

    The target compiles the probe itself when it can.  When it has no
    compiler, the host compiles it with ``cc`` or the known cross compiler
    and only runs the binary there.  ``cc`` forces the host-side path.  The
    report says which was used in ``built_on``; ``available`` is False, with
    the reason, when neither could run.
    """
    release = hello.get("release")
    if cc is None:
        report = call("selfcheck.run", release=release)
        if report.get("available") or not cross:
            report["built_on"] = "target"
            return report
        cc = cross_compiler(hello["os"], hello["arch"])
        if cc is None:
            wanted = CROSS_COMPILERS.get((hello["os"], hello["arch"]))
            report["reason"] += "; and the host has no cross compiler for %s/%s%s" % (
                hello["os"], hello["arch"], " (%s not on PATH)" % wanted if wanted else "")
            report["built_on"] = None
            return report
    from . import abi as abi_tables

    def run_there(path: str) -> str:
        with open(path, "rb") as f:
            return call("selfcheck.run_probe", binary=f.read().hex())

    try:
        report = check(abi_tables.load(hello["os"], hello["arch"]), release, cc=cc, execute=run_there)
    except SelfCheckUnavailable as e:
        return {"available": False, "reason": "host compiler %s: %s" % (cc, e), "built_on": None}
    report.update(available=True, built_on="host (%s)" % cc)
    return report


def format_report(report: Mapping[str, Any], verbose: bool = False) -> str:
    """The comparison table for people: disagreements first, then the count."""
    lines = []
    if verbose:
        for r in report["facts"]:
            lines.append("  %-9s %-60s table %-12s target %s" % (
                r["status"], r["name"], show(r["table"]), show(r["target"])))
    for message in report["disagreements"]:
        lines.append("MISMATCH " + message)
    if report["unchecked"]:
        lines.append("not on this target (optional macros): %s" % ", ".join(report["unchecked"]))
    lines.append("%s: %d facts checked, %d agree, %d disagree (compiler: %s)" % (
        report["abi"], report["checked"], report["agreed"], len(report["disagreements"]), report["compiler"]))
    return "\n".join(lines)
