"""The contract every OS backend keeps.

Methods act on one stopped tracee (or LWP) and raise ``OSError`` with the
kernel's errno.  Registers move as raw bytes in the kernel's layout; the
tracer decodes them with the table's ``Struct``.
"""

from __future__ import annotations

import os
from typing import FrozenSet, Optional, Tuple

from ..abi.types import Abi
from ..events import StopEvent, si_code_name, signal_name
from ..ptrace import PtraceBinding
from ..waitstatus import WaitStatus


class ShortTransfer(OSError):
    """A memory transfer stopped part way: ``transferred`` bytes from the
    start did move (for a read, ``data`` holds them), the rest failed with
    the kernel's errno.  Nothing partial is ever returned as the whole."""

    def __init__(self, err: int, message: str, transferred: int, data: bytes = b"") -> None:
        super().__init__(err, message)
        self.transferred = transferred
        self.data = data


# Event names a tracer may ask for; each backend maps the ones its OS has.
EVENT_NAMES = ("fork", "vfork", "vfork_done", "clone", "exec", "exit", "syscall", "lwp", "spawn")


class Backend:
    def __init__(self, abi: Abi, release: Optional[str] = None) -> None:
        self.abi = abi
        self.release = release
        self.ptrace = PtraceBinding(abi, release)

    # -- what this OS offers -------------------------------------------------
    supported_events: FrozenSet[str] = frozenset()

    def wait_options(self) -> int:
        """Extra waitpid options so stops of every thread/child are seen."""
        return 0

    # -- life cycle ------------------------------------------------------------
    def trace_me(self) -> None:
        raise NotImplementedError

    def attach(self, pid: int) -> None:
        raise NotImplementedError

    def detach(self, pid: int, signo: int = 0) -> None:
        raise NotImplementedError

    def resume(self, pid: int, how: str, signo: int = 0) -> None:
        """Resume: ``how`` is ``cont``, ``step`` or ``syscall``."""
        raise NotImplementedError

    def kill(self, pid: int) -> None:
        raise NotImplementedError

    def set_events(self, pid: int, events: FrozenSet[str]) -> None:
        raise NotImplementedError

    # -- state -----------------------------------------------------------------
    def get_regs(self, pid: int) -> bytes:
        raise NotImplementedError

    def set_regs(self, pid: int, data: bytes) -> None:
        raise NotImplementedError

    def get_fpregs(self, pid: int) -> bytes:
        raise NotImplementedError

    def read_memory(self, pid: int, addr: int, size: int) -> bytes:
        raise NotImplementedError

    def write_memory(self, pid: int, addr: int, data: bytes) -> None:
        raise NotImplementedError

    # The one-value transfer requests (PT_READ_D/PT_WRITE_D on the BSDs,
    # PTRACE_PEEKDATA/POKEDATA on Linux) and how many bytes one moves.
    word_requests: Tuple[str, str] = ("", "")

    @property
    def word_size(self) -> int:
        raise NotImplementedError

    def read_word(self, pid: int, addr: int) -> int:
        """One value at ``addr`` (``word_size`` bytes, in the tracee's byte order), unsigned."""
        value = self.ptrace.peek(self.word_requests[0], pid, addr)
        return value & ((1 << (8 * self.word_size)) - 1)

    def write_word(self, pid: int, addr: int, value: int) -> None:
        """Store ``value`` (0 <= value < 2**(8 * word_size)) at ``addr``."""
        bits = 8 * self.word_size
        if not 0 <= value < 1 << bits:
            raise ValueError("value 0x%x does not fit the %d bytes %s moves"
                             % (value, self.word_size, self.word_requests[1]))
        self.ptrace(self.word_requests[1], pid, addr, self._word_argument(value, bits))

    def _word_argument(self, value: int, bits: int) -> int:
        return value

    # -- decoding --------------------------------------------------------------
    def decode_stop(self, pid: int, status: WaitStatus) -> StopEvent:
        """Turn a wait status into a StopEvent, asking the kernel for siginfo
        and event details where this OS has them."""
        abi = self.abi
        sig = signal_name(abi, status.signo)
        event = StopEvent(pid=pid, kind=status.kind, signal=sig, signo=status.signo,
                          exit_code=status.exit_code, core_dumped=status.core_dumped,
                          raw_status=status.raw)
        return event

    def _name_si_code(self, event: StopEvent, code: Optional[int]) -> None:
        event.si_code_value = code
        event.si_code = si_code_name(self.abi, event.signal, code)

    @staticmethod
    def errno_name(err: int) -> str:
        import errno as _errno
        return _errno.errorcode.get(err, "E%d" % err)

    @staticmethod
    def strerror(err: int) -> str:
        return os.strerror(err)
