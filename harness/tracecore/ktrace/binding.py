"""ktrace(2), fktrace(2) (NetBSD) and utrace(2) through ctypes.

Prototypes (sys/ktrace.h on both, see layouts.py for revisions):
    int ktrace(const char *tracefile, int ops, int trpoints, pid_t pid);
    int fktrace(int fd, int ops, int trpoints, pid_t pid);        NetBSD only
    int utrace(const char *label, void *addr, size_t len);
NetBSD's ``ktrops`` reads the record version from ``ops & KTRFAC_VER_MASK``
(kern_ktrace.c), so asking for version-2 headers means or-ing KTRFACv2 into
``ops``, not into the facility mask.  OpenBSD has one header format and no
version bits.

Every call raises ``OSError`` with the errno the kernel returned.  On an OS
without ktrace (Linux, where the unit tests run) constructing ``Ktrace``
raises ``KtraceUnsupported`` (an OSError, ENOSYS) saying so; importing this
module works everywhere.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import sys
from typing import Iterable, Optional, Union

from . import layouts as L

SUPPORTED_OSES = ("netbsd", "openbsd")

# Facility names accepted by ``facility_mask``, per OS, to the KTRFAC_ constant.
_FACILITY_NAMES = {
    "netbsd": {
        "syscall": "KTRFAC_SYSCALL", "sysret": "KTRFAC_SYSRET", "namei": "KTRFAC_NAMEI",
        "genio": "KTRFAC_GENIO", "psig": "KTRFAC_PSIG", "csw": "KTRFAC_CSW",
        "emul": "KTRFAC_EMUL", "user": "KTRFAC_USER", "exec_arg": "KTRFAC_EXEC_ARG",
        "exec_env": "KTRFAC_EXEC_ENV", "mib": "KTRFAC_MIB", "exec_fd": "KTRFAC_EXEC_FD",
    },
    "openbsd": {
        "syscall": "KTRFAC_SYSCALL", "sysret": "KTRFAC_SYSRET", "namei": "KTRFAC_NAMEI",
        "genio": "KTRFAC_GENIO", "psig": "KTRFAC_PSIG", "struct": "KTRFAC_STRUCT",
        "user": "KTRFAC_USER", "execargs": "KTRFAC_EXECARGS", "execenv": "KTRFAC_EXECENV",
        "pledge": "KTRFAC_PLEDGE", "pinsyscall": "KTRFAC_PINSYSCALL",
    },
}
# The same ideas under the other OS's spelling, so callers can stay portable.
_ALIASES = {
    "netbsd": {"execargs": "exec_arg", "execenv": "exec_env"},
    "openbsd": {"exec_arg": "execargs", "exec_env": "execenv"},
}


class KtraceUnsupported(OSError):
    """This OS has no ktrace(2)."""


def host_os() -> str:
    return sys.platform.rstrip("0123456789")


def facility_names(os_name: str) -> tuple:
    return tuple(sorted(_FACILITY_NAMES[_check_os(os_name)]))


def _check_os(os_name: str) -> str:
    if os_name not in SUPPORTED_OSES:
        raise ValueError("ktrace exists on %s only, not %r" % (" and ".join(SUPPORTED_OSES), os_name))
    return os_name


def facility_mask(os_name: str, facilities: Union[int, Iterable[str]]) -> int:
    """The KTRFAC_ bit mask for names like ``["syscall", "sysret", "genio"]``.

    ``"all"`` means every facility the OS has; an int passes through.
    """
    _check_os(os_name)
    if isinstance(facilities, int):
        return facilities
    table = _FACILITY_NAMES[os_name]
    consts = L.NETBSD_FACILITIES if os_name == "netbsd" else L.OPENBSD_FACILITIES
    mask = 0
    for raw_name in facilities:
        name = raw_name.lower()
        if name == "all":
            mask |= sum(consts[c] for c in table.values())
            continue
        name = _ALIASES[os_name].get(name, name)
        if name not in table:
            raise ValueError("unknown %s ktrace facility %r (known: %s, or all)"
                             % (os_name, raw_name, ", ".join(sorted(table))))
        mask |= consts[table[name]]
    if mask == 0:
        raise ValueError("no ktrace facilities given: the kernel rejects an empty mask with EINVAL")
    return mask


def ops_value(os_name: str, op: str, *, descend: bool = False, version: Optional[int] = None) -> int:
    """The ``ops`` argument: KTROP_* | KTRFLAG_DESCEND | (NetBSD) KTRFACv<version>."""
    _check_os(os_name)
    table = L.NETBSD_OPS if os_name == "netbsd" else L.OPENBSD_OPS
    key = "KTROP_" + op.upper()
    if key not in table:
        raise ValueError("unknown ktrace op %r (set, clear, clearfile)" % op)
    value = table[key]
    if descend:
        value |= table["KTRFLAG_DESCEND"]
    if version is not None:
        if os_name != "netbsd":
            raise ValueError("only NetBSD has ktrace record versions; OpenBSD has one format")
        if version not in L.NETBSD_VERSIONS:
            raise ValueError("NetBSD ktrace versions are %s, not %r" % (L.NETBSD_VERSIONS, version))
        value |= L.NETBSD_FACILITIES["KTRFACv%d" % version]
    return value


class Ktrace:
    """The calls, bound to this host's libc."""

    def __init__(self, os_name: Optional[str] = None, libc: Optional[ctypes.CDLL] = None) -> None:
        self.os = os_name if os_name is not None else host_os()
        if self.os not in SUPPORTED_OSES:
            raise KtraceUnsupported(
                errno.ENOSYS,
                "ktrace(2) exists only on NetBSD and OpenBSD; this host is %s. "
                "Run this on a NetBSD or OpenBSD target (the ktrace suite skips elsewhere)" % self.os)
        if libc is None:
            path = ctypes.util.find_library("c")
            libc = ctypes.CDLL(path, use_errno=True)
        self._libc = libc
        self._ktrace = libc.ktrace
        self._ktrace.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._ktrace.restype = ctypes.c_int
        self._utrace = libc.utrace
        self._utrace.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
        self._utrace.restype = ctypes.c_int
        self._fktrace = None
        if self.os == "netbsd":
            self._fktrace = libc.fktrace
            self._fktrace.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]
            self._fktrace.restype = ctypes.c_int

    @staticmethod
    def _check(rc: int, what: str) -> None:
        if rc == -1:
            err = ctypes.get_errno()
            raise OSError(err, "%s: %s" % (what, os.strerror(err)))

    def _inherit(self, mask: int, inherit: bool) -> int:
        consts = L.NETBSD_FACILITIES if self.os == "netbsd" else L.OPENBSD_FACILITIES
        return mask | consts["KTRFAC_INHERIT"] if inherit else mask

    def set(self, path: str, facilities: Union[int, Iterable[str]], pid: int, *,
            descend: bool = False, inherit: bool = False, version: Optional[int] = 2) -> None:
        """Start tracing ``pid`` into ``path`` (which must exist: the kernel does not create it)."""
        mask = self._inherit(facility_mask(self.os, facilities), inherit)
        ops = ops_value(self.os, "set", descend=descend, version=version if self.os == "netbsd" else None)
        self._check(self._ktrace(os.fsencode(path), ops, mask, pid),
                    "ktrace(%s, SET, %#x, %d)" % (path, mask, pid))

    def clear(self, facilities: Union[int, Iterable[str]], pid: int, *, descend: bool = False) -> None:
        """Stop the given facilities for ``pid``; with all of them cleared, tracing ends."""
        mask = facility_mask(self.os, facilities)
        ops = ops_value(self.os, "clear", descend=descend)
        # KTROP_CLEAR takes no file: NetBSD ignores it, OpenBSD would open it.
        self._check(self._ktrace(None, ops, mask, pid), "ktrace(NULL, CLEAR, %#x, %d)" % (mask, pid))

    def clear_file(self, path: str) -> None:
        """Stop every trace writing to ``path``."""
        ops = ops_value(self.os, "clearfile")
        mask = facility_mask(self.os, ["all"])
        self._check(self._ktrace(os.fsencode(path), ops, mask, 0), "ktrace(%s, CLEARFILE)" % path)

    def fset(self, fd: int, facilities: Union[int, Iterable[str]], pid: int, *,
             descend: bool = False, inherit: bool = False, version: Optional[int] = 2) -> None:
        """fktrace(2): like ``set`` but into an open descriptor (NetBSD only)."""
        if self._fktrace is None:
            raise KtraceUnsupported(errno.ENOSYS, "fktrace(2) is NetBSD only; this is %s" % self.os)
        mask = self._inherit(facility_mask(self.os, facilities), inherit)
        ops = ops_value(self.os, "set", descend=descend, version=version)
        self._check(self._fktrace(fd, ops, mask, pid), "fktrace(%d, SET, %#x, %d)" % (fd, mask, pid))

    def fclear(self, fd: int, facilities: Union[int, Iterable[str]], pid: int, *,
               descend: bool = False) -> None:
        if self._fktrace is None:
            raise KtraceUnsupported(errno.ENOSYS, "fktrace(2) is NetBSD only; this is %s" % self.os)
        mask = facility_mask(self.os, facilities)
        ops = ops_value(self.os, "clear", descend=descend)
        self._check(self._fktrace(fd, ops, mask, pid), "fktrace(%d, CLEAR, %#x, %d)" % (fd, mask, pid))

    def utrace(self, label: str, data: bytes) -> None:
        """Write a KTR_USER record (label at most 19 bytes; data at most 2048)."""
        buf = ctypes.create_string_buffer(bytes(data), len(data))
        self._check(self._utrace(label.encode("utf-8"), ctypes.cast(buf, ctypes.c_void_p), len(data)),
                    "utrace(%r, %d bytes)" % (label, len(data)))
