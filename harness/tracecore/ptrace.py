"""A thin ctypes binding to ptrace(2), driven by the ABI table.

It knows request *names*; the numbers come from the (OS, arch) table, so the
same code serves every kernel.  Failures raise ``OSError`` with the real
errno and the request named, never a bare -1.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Dict, Optional

from .abi.types import Abi


def libc() -> ctypes.CDLL:
    # CDLL(None) is the running process's own symbols: libc is always there,
    # and it is exactly the libc the kernel ABI tables were read against.
    return ctypes.CDLL(None, use_errno=True)


class PtraceBinding:
    """Calls ptrace by request name.

    Linux declares ``long ptrace(enum, pid_t, void *, void *)``; the BSDs
    declare ``int ptrace(int, pid_t, caddr_t, int)``.  The table says which
    (``libc_symbols["ptrace_data"]`` is ``"int"`` on the BSDs), and getting
    it right matters on big-endian sparc64, where an int travels differently
    from a pointer-sized value.
    """

    def __init__(self, abi: Abi, release: Optional[str] = None) -> None:
        self.abi = abi
        self.release = release
        self._libc = libc()
        fn = getattr(self._libc, abi.libc_symbols.get("ptrace", "ptrace"))
        data_is_int = abi.libc_symbols.get("ptrace_data") == "int"
        fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p,
                       ctypes.c_int if data_is_int else ctypes.c_void_p]
        fn.restype = ctypes.c_int if data_is_int else ctypes.c_long
        self._fn = fn
        self._data_is_int = data_is_int
        self._numbers: Dict[str, int] = {}

    def number(self, request: str) -> int:
        # Looked up once per name: the table's answer for a release never
        # changes, and a step makes several calls.
        try:
            return self._numbers[request]
        except KeyError:
            number = self._numbers[request] = self.abi.request(request, self.release)
            return number

    def __call__(self, request: str, pid: int, addr: int = 0, data: int = 0) -> int:
        """Make one call; return the kernel's result."""
        number = self.number(request)
        if not self._data_is_int and data < 0:
            data &= (1 << (8 * self.abi.pointer_size)) - 1
        result = self._fn(number, pid, addr or None, data)
        # Only PEEK/READ requests return data (they go through peek()); for
        # every other request -1 is a failure with errno set, so errno is
        # read only then.  Each ctypes call saved counts: under emulation
        # one costs nearly a millisecond.
        if result == -1:
            err = ctypes.get_errno()
            raise OSError(err, "%s(pid %d): %s" % (request, pid, os.strerror(err)))
        return result

    def peek(self, request: str, pid: int, addr: int) -> int:
        """A PEEK/READ request, whose -1 result is only an error if errno says so."""
        number = self.number(request)
        ctypes.set_errno(0)
        result = self._fn(number, pid, addr or None, 0)
        err = ctypes.get_errno()
        if err != 0:
            raise OSError(err, "%s(pid %d, 0x%x): %s" % (request, pid, addr, os.strerror(err)))
        return result

    def with_buffer(self, request: str, pid: int, buf: ctypes.Array, data: int = 0) -> int:
        """A request whose ``addr`` is a buffer (PT_GETREGS, PT_IO, ...)."""
        return self(request, pid, ctypes.addressof(buf), data)
