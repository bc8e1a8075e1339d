"""NetBSD ptrace mechanics (9.x and 10.x).

What a stop means comes from the kernel, not from guessing: ``PT_GET_SIGINFO``
gives the stopping LWP (``psi_lwpid``) and the SIGTRAP's si_code (TRAP_BRKPT,
TRAP_TRACE, TRAP_EXEC, TRAP_CHLD, TRAP_LWP, TRAP_SCE, TRAP_SCX, TRAP_DBREG);
``PT_GET_PROCESS_STATE`` then names a TRAP_CHLD/TRAP_LWP stop (fork, vfork,
vfork_done, posix_spawn, LWP create/exit) and gives the other pid or LWP.

Requests that act on one LWP take its id in ``data`` (PT_GETREGS, PT_SETSTEP,
PT_SUSPEND, ...); this backend passes the LWP that last stopped, as
``psi_lwpid`` reported it, so a multi-threaded tracee's registers are those
of the thread that trapped.  PT_CONTINUE/PT_SYSCALL take a signal in
``data``; a negative ``data`` resumes only LWP ``-data`` (``resume_lwp``).
PT_STEP's positive ``data`` is an LWP too, never a signal, so a step that
delivers a signal is PT_SETSTEP + PT_CONTINUE, cleared at the next stop.

Sources: sys/sys/ptrace.h 1.75 (2022/06/08; netbsd-10: PT_STOP, PT_LWPSTATUS,
PT_LWPNEXT, PT_SET/GET_SIGPASS, PTRACE_POSIX_SPAWN; PT_LWPINFO is legacy);
sys/kern/sys_ptrace_common.c 1.53 (2019/05/10; netbsd-9: PT_LWPINFO iterates
from pl_lwpid 0 and ends at 0; every struct request checks data == sizeof).
"""

from __future__ import annotations

import ctypes
from typing import Dict, FrozenSet, Iterable, List, Optional

from ..events import StopEvent
from ..waitstatus import WaitStatus
from .bsd_common import BsdBackend, release_major

# trapline event name -> the PTRACE_* bits that ask for it.
_EVENT_BITS = {
    "fork": ("PTRACE_FORK",),
    "vfork": ("PTRACE_VFORK",),
    "vfork_done": ("PTRACE_VFORK_DONE",),
    "lwp": ("PTRACE_LWP_CREATE", "PTRACE_LWP_EXIT"),
    "spawn": ("PTRACE_POSIX_SPAWN",),
}

# pe_report_event of a TRAP_CHLD stop -> event name (pe_other_pid is a pid).
_CHLD_EVENTS = {
    "PTRACE_FORK": "fork",
    "PTRACE_VFORK": "vfork",
    "PTRACE_VFORK_DONE": "vfork_done",
    "PTRACE_POSIX_SPAWN": "spawn",
}
# pe_report_event of a TRAP_LWP stop -> event name (pe_lwp is an LWP id).
_LWP_EVENTS = {"PTRACE_LWP_CREATE": "lwp_create", "PTRACE_LWP_EXIT": "lwp_exit"}


class NetbsdBackend(BsdBackend):
    _EVENT_BITS = _EVENT_BITS
    # A traced process always stops with SIGTRAP/TRAP_EXEC after execve.
    _ALWAYS_ON = frozenset({"exec"})

    def __init__(self, abi, release: Optional[str] = None) -> None:
        super().__init__(abi, release)
        # pid -> the LWP that stopped last (psi_lwpid); 0 = the kernel's pick.
        self._lwp: Dict[int, int] = {}
        # pid -> LWP with PT_SETSTEP armed by a signal-carrying step.
        self._armed_step: Dict[int, int] = {}

    @property
    def supported_events(self) -> FrozenSet[str]:  # type: ignore[override]
        return super().supported_events | {"exec"}

    def _forget(self, pid: int) -> None:
        super()._forget(pid)
        self._lwp.pop(pid, None)
        self._armed_step.pop(pid, None)

    def _regs_data(self, pid: int) -> int:
        return self._lwp.get(pid, 0)

    # -- resuming --------------------------------------------------------------------
    def resume(self, pid: int, how: str, signo: int = 0) -> None:
        if how == "step" and not self.has_request("PT_STEP"):
            return super().resume(pid, how, signo)
        if how == "step" and signo:
            # PT_STEP's data is an LWP, so a signal cannot ride on it: arm the
            # step on the LWP and continue with the signal instead.
            lwp = self._lwp.get(pid, 0)
            self.ptrace("PT_SETSTEP", pid, 0, lwp)
            self._armed_step[pid] = lwp
            self.ptrace("PT_CONTINUE", pid, 1, signo)
            return
        if how == "step":
            # Step the LWP that stopped: a positive data names it (do_ptrace,
            # sys_ptrace_common.c 1.53); data 0 would step the first LWP.
            self.ptrace("PT_STEP", pid, 1, self._lwp.get(pid, 0))
            return
        super().resume(pid, how, signo)

    def resume_lwp(self, pid: int, lwp: int, how: str = "cont") -> None:
        """Resume only LWP ``lwp`` (data = -lwp); the others stay stopped."""
        if lwp <= 0:
            raise ValueError("lwp must be a positive LWP id, not %d" % lwp)
        request = {"cont": "PT_CONTINUE", "step": "PT_STEP", "syscall": "PT_SYSCALL"}[how]
        self.ptrace(request, pid, 1, -lwp)

    # -- NetBSD extras -------------------------------------------------------------------
    def get_siginfo(self, pid: int) -> Dict[str, object]:
        """PT_GET_SIGINFO: the pending signal's siginfo and its LWP."""
        return self._struct_request("PT_GET_SIGINFO", pid, "ptrace_siginfo")

    def set_siginfo(self, pid: int, values: Dict[str, object]) -> None:
        """PT_SET_SIGINFO: read, change the named fields, write back."""
        layout = self._struct("ptrace_siginfo")
        current = ctypes.create_string_buffer(layout.size)
        self.ptrace("PT_GET_SIGINFO", pid, ctypes.addressof(current), layout.size)
        buf = ctypes.create_string_buffer(layout.encode(values, self.abi.byteorder, base=current.raw), layout.size)
        self.ptrace("PT_SET_SIGINFO", pid, ctypes.addressof(buf), layout.size)

    def lwps(self, pid: int) -> List[Dict[str, object]]:
        """Every LWP of the process: PT_LWPSTATUS/PT_LWPNEXT on 10.x and
        later, PT_LWPINFO before (9.x has no PT_LWPNEXT)."""
        major = release_major(self.release)
        if self.has_request("PT_LWPNEXT") and (major is None or major >= 10):
            request, key = "PT_LWPNEXT", "ptrace_lwpstatus"
        else:
            request, key = "PT_LWPINFO", "ptrace_lwpinfo"
        out: List[Dict[str, object]] = []
        lwpid = 0
        while True:
            info = self._struct_request(request, pid, key, {"pl_lwpid": lwpid})
            lwpid = int(info["pl_lwpid"])  # type: ignore[call-overload]
            if lwpid == 0:
                return out
            out.append(info)
            if len(out) > 1 << 16:
                raise RuntimeError("%s on pid %d never ended (last LWP %d)" % (request, pid, lwpid))

    def lwp_status(self, pid: int, lwp: int) -> Dict[str, object]:
        """PT_LWPSTATUS for one LWP (netbsd-10 and later)."""
        # netbsd-9 lacks it (abi requests_since): refuse before any call.
        self.require("PT_LWPSTATUS")
        return self._struct_request("PT_LWPSTATUS", pid, "ptrace_lwpstatus", {"pl_lwpid": lwp})

    def suspend_lwp(self, pid: int, lwp: int) -> None:
        """PT_SUSPEND: the LWP stays stopped when the process is resumed; a
        resume with every LWP suspended fails with EDEADLK."""
        self.ptrace("PT_SUSPEND", pid, 0, lwp)

    def unsuspend_lwp(self, pid: int, lwp: int) -> None:
        """PT_RESUME: undo PT_SUSPEND (it does not run the process)."""
        self.ptrace("PT_RESUME", pid, 0, lwp)

    def stop(self, pid: int) -> None:
        """PT_STOP: stop a running tracee, reported like a SIGSTOP (netbsd-10)."""
        self.require("PT_STOP")
        self.ptrace("PT_STOP", pid, 0, 0)

    def set_step(self, pid: int, lwp: int) -> None:
        self.ptrace("PT_SETSTEP", pid, 0, lwp)

    def clear_step(self, pid: int, lwp: int) -> None:
        self.ptrace("PT_CLEARSTEP", pid, 0, lwp)

    def syscall_emu(self, pid: int) -> None:
        """PT_SYSCALLEMU at a syscall-entry stop: the kernel skips the call."""
        self.ptrace("PT_SYSCALLEMU", pid, 1, 0)

    def get_dbregs(self, pid: int) -> Dict[str, object]:
        """PT_GETDBREGS (x86): the debug registers of the LWP that stopped."""
        self.require("PT_GETDBREGS")
        layout = self._struct("dbreg")
        return layout.decode(self._get_set(pid, "PT_GETDBREGS", layout.size), self.abi.byteorder)

    def set_dbregs(self, pid: int, values: Dict[str, object]) -> None:
        """PT_SETDBREGS, read-modify-write.  Non-root tracers are refused
        (EPERM) unless security.models.extensions.user_set_dbregs is 1
        (sys_ptrace_common.c 1.53 ptrace_listener_cb)."""
        layout = self._struct("dbreg")
        current = self._get_set(pid, "PT_GETDBREGS", layout.size)
        self._put_set(pid, "PT_SETDBREGS", layout.size, layout.encode(values, self.abi.byteorder, base=current))

    def set_sigpass(self, pid: int, signals: Iterable[int]) -> None:
        """PT_SET_SIGPASS: signals the kernel hands the tracee without a stop."""
        self.require("PT_SET_SIGPASS")
        layout = self._struct("sigset")
        field = layout.field("bits")
        words = [0] * field.count
        bits_per_word = 8 * field.size
        for signo in signals:
            if signo <= 0:
                raise ValueError("signal numbers start at 1, not %d" % signo)
            words[(signo - 1) // bits_per_word] |= 1 << ((signo - 1) % bits_per_word)
        self._struct_request("PT_SET_SIGPASS", pid, "sigset", {"bits": words})

    def get_sigpass(self, pid: int) -> List[int]:
        self.require("PT_GET_SIGPASS")
        layout = self._struct("sigset")
        field = layout.field("bits")
        words = self._struct_request("PT_GET_SIGPASS", pid, "sigset")["bits"]
        bits_per_word = 8 * field.size
        return [w * bits_per_word + b + 1 for w, word in enumerate(words)  # type: ignore[arg-type]
                for b in range(bits_per_word) if word >> b & 1]

    # -- decoding ------------------------------------------------------------------------
    def decode_stop(self, pid: int, status: WaitStatus) -> StopEvent:
        event = super().decode_stop(pid, status)
        if status.kind != "stopped":
            if status.kind in ("exited", "signalled"):
                self._forget(pid)
            return event
        armed = self._armed_step.pop(pid, None)
        if armed is not None:
            self.clear_step(pid, armed)
        raw = self._raw_siginfo(pid)
        if raw is not None:
            info = self._struct("ptrace_siginfo").decode(raw, self.abi.byteorder)
            lwp = int(info["psi_lwpid"])  # type: ignore[call-overload]
            if lwp:
                event.lwp = lwp
                self._lwp[pid] = lwp
            self._name_si_code(event, int(info["si_code"]))  # type: ignore[call-overload]
            if event.signal == "SIGTRAP":
                self._name_trap(pid, event, raw)
        self._seen.add(pid)
        return event

    def _name_trap(self, pid: int, event: StopEvent, raw: bytes) -> None:
        code = event.si_code
        if code == "TRAP_EXEC":
            event.event = "exec"
        elif code == "TRAP_CHLD":
            self._name_fork_event(pid, event, self.process_state(pid), _CHLD_EVENTS)
        elif code == "TRAP_LWP":
            # ptrace_state seen through the union's other member, pe_lwp.
            state = self._struct_request("PT_GET_PROCESS_STATE", pid, "ptrace_state_lwp")
            reported = int(state["pe_report_event"])  # type: ignore[call-overload]
            for bit, name in _LWP_EVENTS.items():
                if self.abi.events is not None and self.abi.events.get(bit) == reported:
                    event.event = name
                    # The LWP created or ended, in other_pid: the tracer
                    # must not take an LWP id for a new process.
                    event.other_pid = int(state["pe_lwp"])  # type: ignore[call-overload]
        elif code in ("TRAP_SCE", "TRAP_SCX"):
            self._name_syscall(event, code, raw)

    def _name_syscall(self, event: StopEvent, code: str, raw: bytes) -> None:
        event.event = "syscall_entry" if code == "TRAP_SCE" else "syscall_exit"
        view = self.abi.structs.get("ptrace_siginfo_syscall")
        if view is None:
            return
        # The same siginfo bytes, seen through the _reason._syscall member.
        sc = view.decode(raw, self.abi.byteorder)
        event.syscall_nr = int(sc["si_sysnum"])  # type: ignore[call-overload]
        if code == "TRAP_SCX":
            event.syscall_error = bool(sc["si_error"])
            retval = sc["si_retval"]
            event.syscall_retval = int(retval[0] if isinstance(retval, tuple) else retval)  # type: ignore[call-overload]

    def _raw_siginfo(self, pid: int) -> Optional[bytes]:
        layout = self._struct("ptrace_siginfo")
        buf = ctypes.create_string_buffer(layout.size)
        try:
            self.ptrace("PT_GET_SIGINFO", pid, ctypes.addressof(buf), layout.size)
        except OSError:
            return None
        return buf.raw


BACKEND = NetbsdBackend
