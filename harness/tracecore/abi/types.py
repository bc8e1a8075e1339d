"""Types for the per-(OS, arch) ABI tables.

Every number in an ABI module sits in a table that names the header it was
read from (``Header``), so a reader, the layout unit tests and the on-target
self-check can all trace a value back to its source in one step.

Stdlib only, Python >= 3.9: this package is pushed into guests.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from functools import cached_property
from typing import Dict, Iterator, Mapping, Optional, Tuple

# struct module format characters by (size, signed).
_INT_FORMATS = {
    (1, False): "B", (1, True): "b",
    (2, False): "H", (2, True): "h",
    (4, False): "I", (4, True): "i",
    (8, False): "Q", (8, True): "q",
}


@dataclass(frozen=True)
class Header:
    """Where a table's facts come from.

    ``include`` is the name a C program on the target includes (``sys/ptrace.h``);
    ``source`` says exactly what was read: repository, path and revision.
    """

    include: str
    source: str


@dataclass(frozen=True)
class Constants:
    """Named integer constants, all read from one header.

    A name missing from ``values`` is a fact too: the header lacks it (NetBSD
    sparc64 has no ``PT_STEP``).  ``absent`` lists names worth saying so about,
    so the self-check can confirm the target's header lacks them as well.
    """

    header: Header
    values: Mapping[str, int]
    absent: Tuple[str, ...] = ()

    def __getitem__(self, name: str) -> int:
        return self.values[name]

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def get(self, name: str, default: Optional[int] = None) -> Optional[int]:
        return self.values.get(name, default)

    def name_of(self, value: int, prefix: str = "") -> Optional[str]:
        """The first name (in table order) with this value and prefix."""
        for name, v in self.values.items():
            if v == value and name.startswith(prefix):
                return name
        return None


@dataclass(frozen=True)
class Field:
    """One member of a C struct: integer, or an array of ``count`` integers.

    ``size`` is the size of one element; a field with ``count`` > 1 decodes
    to a tuple.  ``signed`` matters only for decoding.  ``c_name`` is the
    member as C spells it when that differs from ``name`` (``regs[3]``,
    ``__pc``); the self-check uses it for ``offsetof``.
    """

    name: str
    offset: int
    size: int
    count: int = 1
    signed: bool = False
    c_name: Optional[str] = None

    @property
    def end(self) -> int:
        return self.offset + self.size * self.count

    @property
    def member(self) -> str:
        return self.c_name if self.c_name is not None else self.name

    @cached_property
    def _format(self) -> str:
        if (self.size, self.signed) in _INT_FORMATS:
            return "%d%s" % (self.count, _INT_FORMATS[(self.size, self.signed)])
        return "%ds" % (self.size * self.count)

    def format(self) -> str:
        """The ``struct`` format of the member (no byte order): integers, or
        bytes for sizes C has no integer of (vector registers, char arrays)."""
        return self._format

    @property
    def is_bytes(self) -> bool:
        return self._format.endswith("s")


@dataclass(frozen=True)
class Struct:
    """A C struct layout: the size and every member we use, by offset.

    Members we do not name are padding to us; ``decode`` leaves them out and
    ``encode`` keeps their bytes from a base buffer, so a read-modify-write
    never clobbers what we did not understand.
    """

    c_name: str
    header: Header
    size: int
    fields: Tuple[Field, ...]

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError("%s: duplicate field names" % self.c_name)
        last_end = 0
        for f in sorted(self.fields, key=lambda f: f.offset):
            if f.offset < last_end:
                raise ValueError("%s: field %s overlaps the one before" % (self.c_name, f.name))
            last_end = f.end
        if last_end > self.size:
            raise ValueError("%s: fields end at %d, past size %d" % (self.c_name, last_end, self.size))

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields)

    def field(self, name: str) -> Field:
        by_name = self.__dict__.get("_by_name")
        if by_name is None:
            by_name = self.__dict__["_by_name"] = {f.name: f for f in self.fields}
        try:
            return by_name[name]
        except KeyError:
            raise KeyError("%s has no field %r" % (self.c_name, name)) from None

    def names(self) -> Tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def _codec(self, byteorder: str) -> Tuple[struct.Struct, Tuple[Tuple[str, int, bool], ...]]:
        """One compiled ``struct.Struct`` for every named member (gaps skipped
        as pad bytes) and, per member, (name, values it takes, is a tuple).

        Decoding the registers is on the hot path of every step and every
        breakpoint hit; one unpack of the whole struct is several times
        faster than one per member.
        """
        cache = self.__dict__.setdefault("_codecs", {})
        codec = cache.get(byteorder)
        if codec is None:
            parts, plan, at = [], [], 0
            for f in sorted(self.fields, key=lambda f: f.offset):
                if f.offset > at:
                    parts.append("%dx" % (f.offset - at))
                parts.append(f.format())
                at = f.end
                taken = 1 if f.is_bytes else f.count
                plan.append((f.name, taken, not f.is_bytes and f.count > 1))
            codec = (struct.Struct(("<" if byteorder == "little" else ">") + "".join(parts)), tuple(plan))
            cache[byteorder] = codec
        return codec

    def decode(self, data: bytes, byteorder: str) -> Dict[str, object]:
        if len(data) < self.size:
            raise ValueError("%s needs %d bytes, got %d" % (self.c_name, self.size, len(data)))
        compiled, plan = self._codec(byteorder)
        values = compiled.unpack_from(data)
        out: Dict[str, object] = {}
        at = 0
        for name, taken, is_tuple in plan:
            out[name] = tuple(values[at:at + taken]) if is_tuple else values[at]
            at += taken
        return out

    def decode_field(self, data: bytes, name: str, byteorder: str) -> object:
        """Just one member (the PC on every stop), without decoding the rest."""
        f = self.field(name)
        if len(data) < f.end:
            raise ValueError("%s.%s needs %d bytes, got %d" % (self.c_name, name, f.end, len(data)))
        values = struct.unpack_from(("<" if byteorder == "little" else ">") + f.format(), data, f.offset)
        return tuple(values) if not f.is_bytes and f.count > 1 else values[0]

    def encode(self, values: Mapping[str, object], byteorder: str,
               base: Optional[bytes] = None) -> bytes:
        buf = bytearray(base if base is not None else bytes(self.size))
        if len(buf) < self.size:
            raise ValueError("%s base buffer is %d bytes, need %d" % (self.c_name, len(buf), self.size))
        order = "<" if byteorder == "little" else ">"
        for name, value in values.items():
            f = self.field(name)
            fmt = f.format()
            if fmt.endswith("s"):
                struct.pack_into(order + fmt, buf, f.offset, value)
            elif f.count == 1:
                struct.pack_into(order + fmt, buf, f.offset, _wrap(value, f))
            else:
                seq = list(value)  # type: ignore[call-overload]
                if len(seq) != f.count:
                    raise ValueError("%s.%s takes %d values" % (self.c_name, name, f.count))
                struct.pack_into(order + fmt, buf, f.offset, *[_wrap(v, f) for v in seq])
        return bytes(buf)


def _wrap(value: object, f: Field) -> int:
    """Fold a Python int into the field's range (so -1 fits an unsigned word)."""
    v = int(value)  # type: ignore[call-overload]
    bits = 8 * f.size
    v &= (1 << bits) - 1
    if f.signed and v >= 1 << (bits - 1):
        v -= 1 << bits
    return v


@dataclass(frozen=True)
class RegisterRoles:
    """Which ``struct reg`` fields play which part.

    ``npc`` exists on sparc64 only: the next PC, which the CPU fetches after
    the current one (delay slots).  ``retval`` is where a syscall or function
    return value lands; ``syscall_nr`` where the syscall number is at a
    syscall stop, when the registers show it.
    """

    pc: str
    sp: str
    retval: str
    fp: Optional[str] = None
    npc: Optional[str] = None
    syscall_nr: Optional[str] = None
    args: Tuple[str, ...] = ()


@dataclass(frozen=True)
class RegisterSet:
    """A register set and the requests that move it.

    ``note`` is the ELF note type for Linux's ``PTRACE_GETREGSET`` (the iovec
    interface); ``None`` means the get/set requests take the buffer directly.
    """

    layout: Struct
    get: str
    set: str
    note: Optional[int] = None


@dataclass(frozen=True)
class Breakpoint:
    """The software breakpoint instruction and what the kernel reports for it.

    ``pc_adjust`` is the PC reported at the stop minus the breakpoint address:
    1 on x86 (``int3`` has executed), 0 where the PC stays on the trap.
    ``si_code`` names the code the kernel puts in the SIGTRAP's siginfo, or
    is ``None`` where the OS gives the tracer no siginfo (OpenBSD).
    """

    insn: bytes
    pc_adjust: int
    si_code: Optional[str]
    source: str

    @property
    def size(self) -> int:
        return len(self.insn)


def release_key(release: Optional[str]) -> Optional[Tuple[int, ...]]:
    """``"9.3"`` -> (9, 3), ``"10"`` -> (10,), ``"10.1_STABLE"`` -> (10, 1).

    None when the release is unknown or does not start with a number: such a
    target is taken to be as new as the tables (their headers are the newest
    read), so nothing is held back from it.
    """
    if not release:
        return None
    parts = []
    for piece in release.split("."):
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) < len(piece):
            break
    return tuple(parts) if parts else None


class AbsentRequest(KeyError):
    """A request the target's release does not have (its kernel predates it).

    A KeyError, so every ``name in table`` style check treats it as missing;
    ``str()`` gives the sentence, not KeyError's quoted repr.
    """

    def __init__(self, key: str, name: str, release: str, since: str) -> None:
        self.name = name
        self.release = release
        self.since = since
        super().__init__("%s: %s first appears in release %s; this target runs %s, whose kernel "
                         "does not know the number" % (key, name, since, release))

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Abi:
    """Everything the core needs to know about one (OS, arch).

    Tables are grouped by the header that defines them.  Optional tables are
    ``None`` where the OS has no such thing (Linux has no ``struct ptrace_io_desc``).
    """

    os: str
    arch: str
    byteorder: str
    pointer_size: int
    sources: Tuple[str, ...]
    requests: Constants
    signals: Constants
    si_codes: Constants
    errnos: Constants
    wait: Constants
    regs: RegisterSet
    roles: RegisterRoles
    breakpoint: Breakpoint
    # Kernel single-step: False where there is no step request (sparc64).
    hardware_step: bool
    fpregs: Optional[RegisterSet] = None
    # OS event options / masks and the structs that report them.
    events: Optional[Constants] = None
    extra_constants: Tuple[Constants, ...] = ()
    structs: Mapping[str, Struct] = field(default_factory=dict)
    libc_symbols: Mapping[str, str] = field(default_factory=dict)
    # Release-keyed overrides of request numbers: {"9": {"PT_X": 30}} for a
    # release whose number differs from ``requests`` ("9" matches 9.x).
    requests_by_release: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    # The first release that has each request newer than the oldest release
    # the table serves: {"PT_STOP": "10"}.  Older releases lack it entirely,
    # so the core must refuse it there instead of sending a number the
    # kernel does not know (EINVAL at best, another request at worst).
    requests_since: Mapping[str, str] = field(default_factory=dict)
    notes: Tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return "%s_%s" % (self.os, self.arch)

    def request(self, name: str, release: Optional[str] = None) -> int:
        """A request number for a release (None: the newest the table knows).

        Raises :class:`AbsentRequest` (a KeyError) when the release predates
        the request, KeyError when the OS has no such request at all.
        """
        if release is not None:
            if self.absent_in(name, release):
                raise AbsentRequest(self.key, name, release, self.requests_since[name])
            for prefix, table in self.requests_by_release.items():
                if (release == prefix or release.startswith(prefix + ".")) and name in table:
                    return table[name]
        return self.requests[name]

    def absent_in(self, name: str, release: Optional[str]) -> bool:
        """True when ``release`` is older than the first release with ``name``."""
        since = self.requests_since.get(name)
        have, first = release_key(release), release_key(since)
        return since is not None and have is not None and first is not None and have < first

    def has_request(self, name: str, release: Optional[str] = None) -> bool:
        try:
            self.request(name, release)
        except KeyError:
            return False
        return True

    def requests_for(self, release: Optional[str]) -> Constants:
        """The request table as one release sees it: its numbers, and the
        requests it predates moved to ``absent``."""
        if release is None:
            return self.requests
        values: Dict[str, int] = {}
        absent = list(self.requests.absent)
        for name in self.requests.values:
            if self.absent_in(name, release):
                absent.append(name)
            else:
                values[name] = self.request(name, release)
        return Constants(self.requests.header, values, absent=tuple(absent))

    def constant_groups(self) -> Tuple[Constants, ...]:
        groups = [self.requests, self.signals, self.si_codes, self.errnos, self.wait]
        if self.events is not None:
            groups.append(self.events)
        groups.extend(self.extra_constants)
        return tuple(groups)

    def all_structs(self) -> Dict[str, Struct]:
        out = {"regs": self.regs.layout}
        if self.fpregs is not None:
            out["fpregs"] = self.fpregs.layout
        out.update(self.structs)
        return out

    def constant(self, name: str) -> int:
        for group in self.constant_groups():
            if name in group:
                return group[name]
        raise KeyError("%s has no constant %s" % (self.key, name))

    def word(self, data: bytes) -> int:
        return int.from_bytes(data[: self.pointer_size], self.byteorder)
