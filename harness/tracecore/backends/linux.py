"""Linux ptrace mechanics: the reference backend, testable on this machine.

Registers move with PTRACE_GETREGS where the arch has it (amd64) and through
PTRACE_GETREGSET + an iovec where it does not (aarch64) or where the regset
holds more (sparc64: its NT_PRSTATUS set adds the register window's locals
and ins, read from and written to the user stack): the table's
``RegisterSet.note`` says which.  sparc64 has no kernel single-step; the
tracer steps in software there and never asks this backend to.  Memory moves a word at a time with
PEEKDATA/POKEDATA, the facility under test.  Syscall stops are told apart
with PTRACE_GET_SYSCALL_INFO (Linux >= 5.3), not by counting.
"""

from __future__ import annotations

import ctypes
import errno
from typing import FrozenSet, Optional

from ..abi.types import RegisterSet
from ..events import StopEvent
from ..waitstatus import WaitStatus
from .base import Backend, ShortTransfer

# Trapline event name -> PTRACE_O_* option.
_OPTIONS = {
    "fork": "PTRACE_O_TRACEFORK",
    "vfork": "PTRACE_O_TRACEVFORK",
    "vfork_done": "PTRACE_O_TRACEVFORKDONE",
    "clone": "PTRACE_O_TRACECLONE",
    "exec": "PTRACE_O_TRACEEXEC",
    "exit": "PTRACE_O_TRACEEXIT",
}

# PTRACE_EVENT_* name -> trapline event name.
_EVENTS = {
    "PTRACE_EVENT_FORK": "fork",
    "PTRACE_EVENT_VFORK": "vfork",
    "PTRACE_EVENT_CLONE": "clone",
    "PTRACE_EVENT_EXEC": "exec",
    "PTRACE_EVENT_VFORK_DONE": "vfork_done",
    "PTRACE_EVENT_EXIT": "exit",
    "PTRACE_EVENT_SECCOMP": "seccomp",
    "PTRACE_EVENT_STOP": "group_stop",
}

# The events whose PTRACE_GETEVENTMSG is another pid.
_OTHER_PID_EVENTS = frozenset({"fork", "vfork", "clone", "vfork_done"})


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class LinuxBackend(Backend):
    supported_events = frozenset(_OPTIONS) | {"syscall"}

    def wait_options(self) -> int:
        # __WALL: see stops of clone()d threads too, not only of children.
        return self.abi.wait["__WALL"]

    def trace_me(self) -> None:
        self.ptrace("PTRACE_TRACEME", 0)

    def attach(self, pid: int) -> None:
        self.ptrace("PTRACE_ATTACH", pid)

    def detach(self, pid: int, signo: int = 0) -> None:
        self.ptrace("PTRACE_DETACH", pid, 0, signo)

    _RESUME = {"cont": "PTRACE_CONT", "step": "PTRACE_SINGLESTEP", "syscall": "PTRACE_SYSCALL"}

    def resume(self, pid: int, how: str, signo: int = 0) -> None:
        if how == "step" and not self.abi.hardware_step:
            # The kernel would answer EIO (no arch_has_single_step); say why.
            raise NotImplementedError(
                "%s has no PTRACE_SINGLESTEP: step with Tracer.step, which steps in software here"
                % self.abi.key)
        self.ptrace(self._RESUME[how], pid, 0, signo)

    def kill(self, pid: int) -> None:
        self.ptrace("PTRACE_KILL", pid)

    def set_events(self, pid: int, events: FrozenSet[str]) -> None:
        unknown = set(events) - self.supported_events
        if unknown:
            raise ValueError("events not offered by Linux ptrace: %s" % ", ".join(sorted(unknown)))
        table = self.abi.events
        # TRACESYSGOOD always: syscall stops then carry SIGTRAP|0x80 and can
        # never be mistaken for a breakpoint.  EXITKILL: tracees never outlive
        # a tracer that dies, which keeps a crashed server from leaking them.
        mask = table["PTRACE_O_TRACESYSGOOD"] | table["PTRACE_O_EXITKILL"]
        for name in events:
            if name in _OPTIONS:
                mask |= table[_OPTIONS[name]]
        self.ptrace("PTRACE_SETOPTIONS", pid, 0, mask)

    # -- registers ---------------------------------------------------------------
    def _get_set(self, pid: int, regset: RegisterSet) -> bytes:
        buf = ctypes.create_string_buffer(regset.layout.size)
        if regset.note is None:
            # Linux takes the buffer in data; the BSDs take it in addr.
            self.ptrace(regset.get, pid, 0, ctypes.addressof(buf))
        else:
            iov = _Iovec(ctypes.addressof(buf), regset.layout.size)
            self.ptrace(regset.get, pid, regset.note, ctypes.addressof(iov))
        return buf.raw

    def _put_set(self, pid: int, regset: RegisterSet, data: bytes) -> None:
        buf = ctypes.create_string_buffer(bytes(data), regset.layout.size)
        if regset.note is None:
            self.ptrace(regset.set, pid, 0, ctypes.addressof(buf))
        else:
            iov = _Iovec(ctypes.addressof(buf), regset.layout.size)
            self.ptrace(regset.set, pid, regset.note, ctypes.addressof(iov))

    def get_regs(self, pid: int) -> bytes:
        return self._get_set(pid, self.abi.regs)

    def set_regs(self, pid: int, data: bytes) -> None:
        self._put_set(pid, self.abi.regs, data)

    def get_fpregs(self, pid: int) -> bytes:
        if self.abi.fpregs is None:
            raise NotImplementedError("%s has no FP register set in its table" % self.abi.key)
        return self._get_set(pid, self.abi.fpregs)

    # -- memory ------------------------------------------------------------------
    # PEEKDATA returns, and POKEDATA takes, an unsigned long: one pointer-sized
    # word (kernel/ptrace.c generic_ptrace_peekdata/pokedata).
    word_requests = ("PTRACE_PEEKDATA", "PTRACE_POKEDATA")

    @property
    def word_size(self) -> int:
        return self.abi.pointer_size

    def _peek(self, pid: int, addr: int) -> bytes:
        word = self.ptrace.peek("PTRACE_PEEKDATA", pid, addr)
        size = self.abi.pointer_size
        return (word & ((1 << (8 * size)) - 1)).to_bytes(size, self.abi.byteorder)

    def read_memory(self, pid: int, addr: int, size: int) -> bytes:
        """PTRACE_PEEKDATA word by word.  A word that fails ends the read
        with ShortTransfer carrying the requested bytes read before it."""
        word = self.abi.pointer_size
        start = addr - addr % word
        out = bytearray()
        skip = addr - start
        for at in range(start, addr + size, word):
            try:
                out += self._peek(pid, at)
            except OSError as e:
                got = bytes(out[skip:skip + size])
                raise ShortTransfer(e.errno or errno.EIO, "PTRACE_PEEKDATA at 0x%x: %s after %d of %d bytes"
                                    % (at, e.strerror, len(got), size), len(got), got) from e
        return bytes(out[skip:skip + size])

    def write_memory(self, pid: int, addr: int, data: bytes) -> None:
        """PTRACE_POKEDATA word by word (a partial word is read, merged and
        written back).  A word that fails ends the write with ShortTransfer
        counting the requested bytes written before it."""
        word = self.abi.pointer_size
        start = addr - addr % word
        end = addr + len(data)
        at = start
        while at < end:
            lo, hi = max(addr, at), min(end, at + word)
            try:
                if lo == at and hi == at + word:
                    chunk = data[at - addr:at - addr + word]
                else:
                    # A partial word: keep the bytes around ours.
                    current = bytearray(self._peek(pid, at))
                    current[lo - at:hi - at] = data[lo - addr:hi - addr]
                    chunk = bytes(current)
                value = int.from_bytes(chunk, self.abi.byteorder)
                self.ptrace("PTRACE_POKEDATA", pid, at, value)
            except OSError as e:
                done = lo - addr
                raise ShortTransfer(e.errno or errno.EIO, "PTRACE_POKEDATA at 0x%x: %s after %d of %d bytes"
                                    % (at, e.strerror, done, len(data)), done) from e
            at += word

    # -- decoding ----------------------------------------------------------------
    def _event_message(self, pid: int) -> int:
        msg = ctypes.c_ulong(0)
        self.ptrace("PTRACE_GETEVENTMSG", pid, 0, ctypes.addressof(msg))
        return msg.value

    def _siginfo(self, pid: int) -> Optional[dict]:
        layout = self.abi.structs["siginfo"]
        buf = ctypes.create_string_buffer(layout.size)
        try:
            self.ptrace("PTRACE_GETSIGINFO", pid, 0, ctypes.addressof(buf))
        except OSError:
            return None
        return layout.decode(buf.raw, self.abi.byteorder)

    def _syscall_info(self, pid: int, event: StopEvent) -> None:
        entry = self.abi.structs["syscall_info"]
        buf = ctypes.create_string_buffer(entry.size)
        self.ptrace("PTRACE_GET_SYSCALL_INFO", pid, entry.size, ctypes.addressof(buf))
        info = entry.decode(buf.raw, self.abi.byteorder)
        ops = self.abi.constant
        if info["op"] == ops("PTRACE_SYSCALL_INFO_ENTRY"):
            event.event = "syscall_entry"
            event.syscall_nr = info["nr"]  # type: ignore[assignment]
        elif info["op"] == ops("PTRACE_SYSCALL_INFO_EXIT"):
            out = self.abi.structs["syscall_info_exit"].decode(buf.raw, self.abi.byteorder)
            event.event = "syscall_exit"
            event.syscall_retval = out["rval"]  # type: ignore[assignment]
            event.syscall_error = bool(out["is_error"])
        event.pc = info["instruction_pointer"]  # type: ignore[assignment]

    def decode_stop(self, pid: int, status: WaitStatus) -> StopEvent:
        event = super().decode_stop(pid, status)
        event.lwp = pid
        if status.kind != "stopped":
            return event
        sigtrap = self.abi.signals["SIGTRAP"]
        if status.signo == sigtrap | 0x80:
            # A syscall stop (PTRACE_O_TRACESYSGOOD): the signal is SIGTRAP.
            event.signo, event.signal = sigtrap, "SIGTRAP"
            self._syscall_info(pid, event)
            return event
        if status.event_code:
            name = self.abi.events.name_of(status.event_code, "PTRACE_EVENT_")
            event.event = _EVENTS.get(name or "", "event_%d" % status.event_code)
            if event.event in _OTHER_PID_EVENTS:
                event.other_pid = self._event_message(pid)
            return event
        info = self._siginfo(pid)
        if info is not None:
            self._name_si_code(event, info["si_code"])  # type: ignore[arg-type]
        return event


BACKEND = LinuxBackend
