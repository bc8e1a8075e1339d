"""OpenBSD ptrace mechanics (7.x).

OpenBSD gives a tracer no siginfo through ptrace, so ``si_code`` stays
``None``: a breakpoint, a single-step and an exec are all plain SIGTRAPs, told
apart by the tracer's own bookkeeping (breakpoint table, the resume it made),
never by an invented code.  The only process event is ``PTRACE_FORK``; after
a SIGTRAP, ``PT_GET_PROCESS_STATE`` says whether it was one (``pe_report_event``,
``pe_other_pid``) and which thread trapped (``pe_tid``, already offset by
THREAD_PID_OFFSET, so it can be passed as the pid of a thread request).

Threads: ``PT_GET_THREAD_FIRST``/``PT_GET_THREAD_NEXT`` walk them, ending with
``pts_tid`` -1.  A pid below THREAD_PID_OFFSET names the process (and the
thread that trapped); a tid above it names one thread.

Sources: sys/sys/ptrace.h 1.16 (2020/03/16: PTRACE_FORK 0x2, ptrace_state with
pe_tid, PT_GET_THREAD_*); sys/kern/sys_process.c 1.106 (2025/02/17:
sys_ptrace size checks, ptrace_ctrl, ptrace_kstate pe_tid and pts_tid,
ptrace_ustate PT_WCOOKIE and PT_PACMASK copy out register_t values).
"""

from __future__ import annotations

import ctypes
from typing import Dict, List, Optional, Tuple

from ..events import StopEvent
from ..waitstatus import WaitStatus
from .bsd_common import BsdBackend

_EVENT_BITS = {"fork": ("PTRACE_FORK",)}
_FORK_EVENTS = {"PTRACE_FORK": "fork"}


class OpenbsdBackend(BsdBackend):
    _EVENT_BITS = _EVENT_BITS
    # OpenBSD stops a traced process after execve with a plain SIGTRAP and
    # has no event bit for it: accepted, never named (nothing says "exec").
    _ALWAYS_ON = frozenset({"exec"})

    def decode_stop(self, pid: int, status: WaitStatus) -> StopEvent:
        event = super().decode_stop(pid, status)
        if status.kind != "stopped":
            if status.kind in ("exited", "signalled"):
                self._forget(pid)
            return event
        try:
            state = self.process_state(pid)
        except OSError:
            state = None
        if state is not None:
            tid = int(state["pe_tid"])  # type: ignore[call-overload]
            if tid > 0:
                event.lwp = tid
            if event.signal == "SIGTRAP":
                self._name_fork_event(pid, event, state, _FORK_EVENTS)
        self._seen.add(pid)
        return event

    # -- OpenBSD extras ------------------------------------------------------------------
    def threads(self, pid: int) -> List[int]:
        """Thread ids (THREAD_PID_OFFSET included) in the kernel's order."""
        out: List[int] = []
        state = self._struct_request("PT_GET_THREAD_FIRST", pid, "ptrace_thread_state")
        while int(state["pts_tid"]) != -1:  # type: ignore[call-overload]
            tid = int(state["pts_tid"])  # type: ignore[call-overload]
            out.append(tid)
            if len(out) > 1 << 16:
                raise RuntimeError("PT_GET_THREAD_NEXT on pid %d never ended (last tid %d)" % (pid, tid))
            state = self._struct_request("PT_GET_THREAD_NEXT", pid, "ptrace_thread_state", {"pts_tid": tid})
        return out

    def _register_out(self, request: str, pid: int, count: int) -> Tuple[int, ...]:
        self.require(request)
        size = self.abi.pointer_size
        buf = ctypes.create_string_buffer(size * count)
        self.ptrace(request, pid, ctypes.addressof(buf), size * count)
        raw = buf.raw
        return tuple(int.from_bytes(raw[i * size:(i + 1) * size], self.abi.byteorder) for i in range(count))

    def wcookie(self, pid: int) -> int:
        """PT_WCOOKIE (sparc64): the register-window cookie, one register_t."""
        return self._register_out("PT_WCOOKIE", pid, 1)[0]

    def pacmask(self, pid: int) -> Tuple[int, int]:
        """PT_PACMASK (arm64): the data and instruction PAC masks, in that order."""
        data_mask, insn_mask = self._register_out("PT_PACMASK", pid, 2)
        return data_mask, insn_mask

    def xstate_info(self, pid: int) -> Dict[str, object]:
        """PT_GETXSTATE_INFO (amd64, where the release has it)."""
        # 7.6 and older lack it (abi requests_since): refuse before any call.
        self.require("PT_GETXSTATE_INFO")
        return self._struct_request("PT_GETXSTATE_INFO", pid, "ptrace_xstate_info")

    def get_xstate(self, pid: int, size: Optional[int] = None) -> bytes:
        """PT_GETXSTATE: the XSAVE area, ``xsave_len`` bytes by default
        (struct ptrace_xstate_info: u64 xsave_mask, u32 xsave_len; amd64 ptrace.h)."""
        self.require("PT_GETXSTATE")
        if size is None:
            size = int(self.xstate_info(pid)["xsave_len"])  # type: ignore[call-overload]
        buf = ctypes.create_string_buffer(size)
        self.ptrace("PT_GETXSTATE", pid, ctypes.addressof(buf), size)
        return buf.raw


BACKEND = OpenbsdBackend
