"""What NetBSD's and OpenBSD's ptrace share: the 4.4BSD request shapes.

Both declare ``int ptrace(int req, pid_t pid, caddr_t addr, int data)``:
buffers travel in ``addr`` and their size in ``data``; ``addr`` 1 means
"resume where it stopped" (a 0 there is EINVAL on NetBSD and a jump to
address 0 on OpenBSD).  Memory moves with ``PT_IO`` and a
``struct ptrace_io_desc`` whose ``piod_len`` comes back as the count the
kernel really moved.

Sources:
  NetBSD  sys/sys/ptrace.h 1.75 (2022/06/08), sys/kern/sys_ptrace_common.c 1.53
          (do_ptrace: "data < 0 : step or continue single thread, lwp = -data";
          ``addr == 0`` -> EINVAL; ptrace_doio: ``piod_len -= uio_resid``)
  OpenBSD sys/sys/ptrace.h 1.16, sys/kern/sys_process.c 1.106 (2025/02/17)
          (sys_ptrace: IN/OUT requests need ``data == sizeof``, PT_IO is exempt;
          ptrace_ustate PT_IO: ``piod_len -= uio_resid``, no copy-out on error)

Short transfers: a ``PT_IO`` that moves fewer bytes than asked is repeated
for the rest.  When the kernel moves nothing (``piod_len`` 0) or fails part
way, :class:`ShortTransfer` is raised: an ``OSError`` (the kernel's errno,
or EFAULT when the kernel moved nothing without an error) that carries how
many bytes did move and, for reads, those bytes.  Nothing partial is ever
returned as if it were the whole.
"""

from __future__ import annotations

import ctypes
import errno
from typing import Dict, FrozenSet, Iterable, Mapping, Optional, Set

from ..abi.types import Struct
from ..events import StopEvent
from .base import Backend, ShortTransfer


def release_major(release: Optional[str]) -> Optional[int]:
    """``"10.1"`` -> 10; None when the release is unknown or not numeric."""
    if not release:
        return None
    head = release.split(".", 1)[0]
    return int(head) if head.isdigit() else None


class BsdBackend(Backend):
    """PT_* mechanics both BSDs share; subclasses add events and extras."""

    # Event names each OS accepts and reports; set by the subclass.
    _EVENT_BITS: Mapping[str, tuple] = {}
    # Names accepted by set_events although nothing is asked of the kernel:
    # the OS always stops on them (exec after PT_TRACE_ME).
    _ALWAYS_ON: FrozenSet[str] = frozenset()

    def __init__(self, abi, release: Optional[str] = None) -> None:
        super().__init__(abi, release)
        # Pids whose stops this backend has decoded: a fork event on a pid
        # never seen before is the new child's side of the fork.
        self._seen: Set[int] = set()

    # -- table access ------------------------------------------------------------
    def has_request(self, name: str) -> bool:
        try:
            self.abi.request(name, self.release)
        except KeyError:
            return False
        return True

    def require(self, request: str) -> None:
        """Fail clearly when the table lacks a request a method needs."""
        if not self.has_request(request):
            raise NotImplementedError("the %s table has no %s%s; see its notes: %s" % (
                self.abi.key, request, " for release %s" % self.release if self.release else "",
                " / ".join(self.abi.notes) or "none"))

    def _struct(self, key: str) -> Struct:
        try:
            return self.abi.structs[key]
        except KeyError:
            raise NotImplementedError(
                "the %s table has no %r struct, which this request needs" % (self.abi.key, key)) from None

    def _encode(self, layout: Struct, values: Mapping[str, object]) -> ctypes.Array:
        raw = layout.encode(values, self.abi.byteorder)
        return ctypes.create_string_buffer(raw, layout.size)

    def _decode(self, layout: Struct, buf: ctypes.Array) -> Dict[str, object]:
        return layout.decode(buf.raw, self.abi.byteorder)

    def _struct_request(self, request: str, pid: int, key: str,
                        values: Optional[Mapping[str, object]] = None) -> Dict[str, object]:
        """A request whose addr is one struct in (``values``) and/or out and
        whose data is its size (both kernels check it)."""
        layout = self._struct(key)
        buf = self._encode(layout, values or {})
        self.ptrace(request, pid, ctypes.addressof(buf), layout.size)
        return self._decode(layout, buf)

    # -- life cycle ----------------------------------------------------------------
    def trace_me(self) -> None:
        self.ptrace("PT_TRACE_ME", 0, 0, 0)

    def attach(self, pid: int) -> None:
        self.ptrace("PT_ATTACH", pid, 0, 0)

    def detach(self, pid: int, signo: int = 0) -> None:
        # addr 1: resume where it stopped.
        self.ptrace("PT_DETACH", pid, 1, signo)
        self._forget(pid)

    def kill(self, pid: int) -> None:
        self.ptrace("PT_KILL", pid, 0, 0)
        self._forget(pid)

    def _forget(self, pid: int) -> None:
        self._seen.discard(pid)

    def resume(self, pid: int, how: str, signo: int = 0) -> None:
        request = {"cont": "PT_CONTINUE", "step": "PT_STEP", "syscall": "PT_SYSCALL"}.get(how)
        if request is None:
            raise ValueError("resume how=%r: use cont, step or syscall" % how)
        if not self.has_request(request):
            raise NotImplementedError(
                "%s %s has no %s%s" % (self.abi.os, self.abi.arch, request,
                                       " (the tracer steps in software)" if how == "step" else ""))
        self.ptrace(request, pid, 1, signo)

    # -- events --------------------------------------------------------------------
    @property
    def supported_events(self) -> FrozenSet[str]:  # type: ignore[override]
        table = self.abi.events
        have = set()
        for name, bits in self._EVENT_BITS.items():
            if table is not None and all(bit in table for bit in bits):
                have.add(name)
        if self.has_request("PT_SYSCALL"):
            have.add("syscall")
        return frozenset(have)

    def event_mask(self, events: Iterable[str]) -> int:
        wanted = set(events) - self._ALWAYS_ON
        unknown = wanted - self.supported_events
        if unknown:
            raise ValueError("events not offered by %s ptrace: %s (offered: %s)" % (
                self.abi.os, ", ".join(sorted(unknown)), ", ".join(sorted(self.supported_events))))
        mask = 0
        for name in wanted:
            for bit in self._EVENT_BITS.get(name, ()):
                mask |= self.abi.events[bit]  # type: ignore[index]
        return mask

    def set_events(self, pid: int, events: FrozenSet[str]) -> None:
        mask = self.event_mask(events)
        self._struct_request("PT_SET_EVENT_MASK", pid, "ptrace_event", {"pe_set_event": mask})

    def get_event_mask(self, pid: int) -> int:
        return int(self._struct_request("PT_GET_EVENT_MASK", pid, "ptrace_event")["pe_set_event"])  # type: ignore[call-overload]

    def process_state(self, pid: int) -> Dict[str, object]:
        """PT_GET_PROCESS_STATE, decoded with the table's ``ptrace_state``."""
        return self._struct_request("PT_GET_PROCESS_STATE", pid, "ptrace_state")

    def _name_fork_event(self, pid: int, event: StopEvent, state: Mapping[str, object],
                         names: Mapping[str, str]) -> bool:
        """Name a fork-like stop from ``pe_report_event``; True if it was one.

        Both sides of a fork stop with the same report: the parent's
        ``pe_other_pid`` is the child, the child's is the parent.  The child
        is the side this backend has never seen stop before, and is named
        ``<event>_child`` so the tracer never takes it for the parent.
        """
        reported = int(state["pe_report_event"])  # type: ignore[call-overload]
        for bit, name in names.items():
            value = self.abi.events.get(bit) if self.abi.events is not None else None
            if value is not None and reported == value:
                child_side = pid not in self._seen
                event.event = name + "_child" if child_side and name != "vfork_done" else name
                event.other_pid = int(state["pe_other_pid"])  # type: ignore[call-overload]
                return True
        return False

    # -- registers -----------------------------------------------------------------
    def _regs_data(self, pid: int) -> int:
        """The ``data`` of PT_GETREGS and friends (NetBSD: an LWP id)."""
        return 0

    def _get_set(self, pid: int, get: str, size: int) -> bytes:
        buf = ctypes.create_string_buffer(size)
        self.ptrace(get, pid, ctypes.addressof(buf), self._regs_data(pid))
        return buf.raw

    def _put_set(self, pid: int, put: str, size: int, data: bytes) -> None:
        if len(data) != size:
            raise ValueError("%s takes %d bytes, not %d" % (put, size, len(data)))
        buf = ctypes.create_string_buffer(bytes(data), size)
        self.ptrace(put, pid, ctypes.addressof(buf), self._regs_data(pid))

    def get_regs(self, pid: int) -> bytes:
        regs = self.abi.regs
        return self._get_set(pid, regs.get, regs.layout.size)

    def set_regs(self, pid: int, data: bytes) -> None:
        regs = self.abi.regs
        self._put_set(pid, regs.set, regs.layout.size, data)

    def get_fpregs(self, pid: int) -> bytes:
        if self.abi.fpregs is None:
            raise NotImplementedError("%s has no FP register set in its table" % self.abi.key)
        return self._get_set(pid, self.abi.fpregs.get, self.abi.fpregs.layout.size)

    # -- memory --------------------------------------------------------------------
    def _pt_io(self, pid: int, op: str, addr: int, local: int, length: int) -> int:
        """One PT_IO; returns the count the kernel says it moved."""
        layout = self._struct("ptrace_io_desc")
        desc = self._encode(layout, {"piod_op": self.abi.constant(op), "piod_offs": addr,
                                     "piod_addr": local, "piod_len": length})
        # NetBSD checks data == sizeof(struct ptrace_io_desc); OpenBSD ignores it.
        self.ptrace("PT_IO", pid, ctypes.addressof(desc), layout.size)
        return int(self._decode(layout, desc)["piod_len"])  # type: ignore[call-overload]

    def _transfer(self, pid: int, op: str, addr: int, buf: ctypes.Array, size: int) -> int:
        """PT_IO until ``size`` bytes moved; ShortTransfer when it cannot."""
        done = 0
        base = ctypes.addressof(buf)
        while done < size:
            want = size - done
            try:
                moved = self._pt_io(pid, op, addr + done, base + done, want)
            except OSError as e:
                raise ShortTransfer(e.errno or errno.EIO,
                                    "%s at 0x%x: %s after %d of %d bytes" % (op, addr + done, e.strerror, done, size),
                                    done, buf.raw[:done]) from e
            if moved <= 0 or moved > want:
                raise ShortTransfer(errno.EFAULT,
                                    "%s at 0x%x: the kernel moved %d of %d bytes (%d before)"
                                    % (op, addr + done, moved, want, done),
                                    done, buf.raw[:done])
            done += moved
        return done

    def read_memory(self, pid: int, addr: int, size: int) -> bytes:
        if size < 0:
            raise ValueError("size must be >= 0, not %d" % size)
        if size == 0:
            # NetBSD refuses a zero-length PT_IO with EINVAL: nothing to ask.
            return b""
        buf = ctypes.create_string_buffer(size)
        self._transfer(pid, "PIOD_READ_D", addr, buf, size)
        return buf.raw[:size]

    def write_memory(self, pid: int, addr: int, data: bytes) -> None:
        """Write through the I space: the tracer's writes are breakpoints and
        snippets, and OpenBSD flushes the instruction cache only for
        PIOD_WRITE_I (sys_process.c 1.106 process_domem); for data the two
        ops move bytes the same way."""
        self._write(pid, addr, data, "PIOD_WRITE_I")

    def write_data(self, pid: int, addr: int, data: bytes) -> None:
        """Write through the D space (PIOD_WRITE_D)."""
        self._write(pid, addr, data, "PIOD_WRITE_D")

    def _write(self, pid: int, addr: int, data: bytes, op: str) -> None:
        if not data:
            return
        buf = ctypes.create_string_buffer(bytes(data), len(data))
        self._transfer(pid, op, addr, buf, len(data))

    # PT_READ_D/PT_WRITE_D move an int, not a word: the value travels in
    # ptrace(2)'s int data argument and the kernel copies sizeof(int)
    # (NetBSD sys_ptrace_common.c 1.28 do_ptrace(): piod_len = sizeof(tmp),
    # an int; OpenBSD sys_process.c sys_ptrace(): iov_len = sizeof(int), read
    # in an early revision, and ptrace(2)'s data is an int in sys/sys/ptrace.h
    # 1.16).  4 bytes on every arch here.
    word_requests = ("PT_READ_D", "PT_WRITE_D")

    @property
    def word_size(self) -> int:
        return ctypes.sizeof(ctypes.c_int)

    def _word_argument(self, value: int, bits: int) -> int:
        # ptrace's data is a C int: pass the same bits as a signed value.
        return value - (1 << bits) if value >= 1 << (bits - 1) else value
