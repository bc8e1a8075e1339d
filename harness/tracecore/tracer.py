"""The tracer: tracees, stops, registers, memory, breakpoints, events.

OS mechanics live in ``backends``; per-arch facts in ``abi``.  This layer is
the policy a debugger would have: it remembers breakpoints and steps over
them, reaps each tracee exactly once, and says what a stop means.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence

from . import abi as abi_tables
from . import backends, softstep, waitstatus
from .abi.types import Abi
from .events import StopEvent


class WaitTimeout(Exception):
    """No stop arrived within the wait's timeout."""


class TracerError(Exception):
    """A request that makes no sense for the tracee's state (not an errno)."""


@dataclass
class Tracee:
    pid: int
    # Armed software breakpoints: address -> the original bytes under them.
    breakpoints: Dict[int, bytes] = field(default_factory=dict)
    stopped: bool = False
    last_event: Optional[StopEvent] = None
    events: FrozenSet[str] = frozenset()
    # The resume that led to the next stop, so a trap can be named.
    resumed_with: Optional[str] = None
    soft_step_traps: Dict[int, bytes] = field(default_factory=dict)
    # A stop that happened while stepping over a breakpoint, for the next wait.
    pending: Optional[StopEvent] = None
    # The raw register block as read during the current stop.  Registers
    # change only through set_regs while a tracee is stopped, so a step or a
    # continue reuses the read that classified the stop instead of asking the
    # kernel again (a syscall less on every step and breakpoint hit).
    raw_regs: Optional[bytes] = None


class Tracer:
    def __init__(self, abi: Optional[Abi] = None, release: Optional[str] = None) -> None:
        self.abi = abi if abi is not None else abi_tables.for_host()
        self.release = release
        self.backend = backends.for_abi(self.abi, release)
        self.tracees: Dict[int, Tracee] = {}

    # -- starting and ending -------------------------------------------------
    def spawn(self, argv: Sequence[str], *, env: Optional[Mapping[str, str]] = None,
              events: Iterable[str] = ("exec",), stop_before_exec: bool = True,
              pass_fds: Sequence[int] = (), stdio_fd: Optional[int] = None,
              timeout: Optional[float] = 30.0) -> StopEvent:
        """Fork, trace-me, exec ``argv``; return the stop at the exec.

        With ``stop_before_exec`` the child stops itself with SIGSTOP before
        exec, so event options (``exec`` among them) are in force when the
        exec happens, as a debugger would arrange.  Without it the exec stop
        is the OS's plain trace-me SIGTRAP.
        """
        argv = list(argv)
        environ = dict(os.environ if env is None else env)
        pid = os.fork()
        if pid == 0:  # the child: only async-signal-safe-ish work until exec
            try:
                for fd in pass_fds:
                    os.set_inheritable(fd, True)
                if stdio_fd is not None:
                    os.dup2(stdio_fd, 1)
                    os.dup2(stdio_fd, 2)
                self.backend.trace_me()
                if stop_before_exec:
                    os.kill(os.getpid(), signal.SIGSTOP)
                os.execve(argv[0], argv, environ)
            finally:
                os._exit(127)
        tracee = Tracee(pid)
        self.tracees[pid] = tracee
        if stop_before_exec:
            first = self.wait(pid, timeout=timeout)
            if first.kind != "stopped" or first.signal != "SIGSTOP":
                raise TracerError("spawned child %d did not stop before exec: %r" % (pid, first))
            self.set_events(pid, events)
            self.cont(pid)
        return self.wait(pid, timeout=timeout)

    def attach(self, pid: int, timeout: Optional[float] = 30.0) -> StopEvent:
        """Attach and wait for the SIGSTOP the attach delivers."""
        self.backend.attach(pid)
        self.tracees[pid] = Tracee(pid)
        return self.wait(pid, timeout=timeout)

    def detach(self, pid: int, signo: int = 0) -> None:
        tracee = self._stopped(pid)
        for addr in list(tracee.breakpoints):
            self.remove_breakpoint(pid, addr)
        self.backend.detach(pid, signo)
        del self.tracees[pid]

    def kill(self, pid: int, timeout: Optional[float] = 30.0) -> StopEvent:
        """Kill the tracee and reap it; return its final event."""
        tracee = self._known(pid)
        if tracee.stopped:
            self.backend.kill(pid)
        else:
            # PT_KILL needs a stopped tracee; a running one gets kill(2).
            os.kill(pid, signal.SIGKILL)
        tracee.stopped = False
        while True:
            event = self.wait(pid, timeout=timeout)
            if event.kind in ("exited", "signalled"):
                return event

    def close(self) -> None:
        """Kill and reap every tracee still held (the server's EOF path)."""
        for pid in list(self.tracees):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                self._reap_quietly(pid)
            self.tracees.pop(pid, None)

    def _reap_quietly(self, pid: int) -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            got, status = os.waitpid(pid, os.WNOHANG | self.backend.wait_options())
            if got == pid and waitstatus.decode(status, self.abi).kind in ("exited", "signalled"):
                return
            time.sleep(0.005)

    # -- resuming ------------------------------------------------------------------
    def cont(self, pid: int, signo: int = 0) -> None:
        self._resume(pid, "cont", signo)

    def syscall(self, pid: int, signo: int = 0) -> None:
        self._resume(pid, "syscall", signo)

    def step(self, pid: int, signo: int = 0, timeout: Optional[float] = 30.0) -> StopEvent:
        """Execute one instruction; the kernel's step where it has one,
        otherwise the software step (``event.step_kind`` says which).
        On an armed breakpoint, the original instruction is the one run."""
        tracee = self._stopped(pid)
        # The registers are only worth a system call when a breakpoint could
        # be under the PC.
        pc = self.pc(pid) if tracee.breakpoints else None
        armed_here = pc in tracee.breakpoints
        if armed_here:
            self.backend.write_memory(pid, pc, tracee.breakpoints[pc])
        event = self._one_step(tracee, signo, timeout)
        if armed_here and event.kind == "stopped":
            self.backend.write_memory(pid, pc, self.abi.breakpoint.insn)
        return event

    def _one_step(self, tracee: Tracee, signo: int, timeout: Optional[float]) -> StopEvent:
        if not self.abi.hardware_step:
            return self._software_step(tracee, signo, timeout)
        self.backend.resume(tracee.pid, "step", signo)
        tracee.stopped = False
        tracee.raw_regs = None
        tracee.resumed_with = "step"
        event = self.wait(tracee.pid, timeout=timeout)
        event.step_kind = "hardware"
        return event

    def _resume(self, pid: int, how: str, signo: int) -> None:
        tracee = self._stopped(pid)
        if tracee.breakpoints and self.pc(pid) in tracee.breakpoints:
            # Sitting on an armed breakpoint: run the original instruction
            # first, or the tracee would trap again on the spot.
            event = self.step(pid)
            if event.kind != "stopped" or event.event != "step":
                # Something else happened during that step (a signal, an
                # exit): the next wait reports it instead of running past it.
                tracee.pending = event
                return
        self.backend.resume(pid, how, signo)
        tracee.stopped = False
        tracee.raw_regs = None
        tracee.resumed_with = how

    def _software_step(self, tracee: Tracee, signo: int, timeout: Optional[float]) -> StopEvent:
        pid = tracee.pid
        regs = self.regs(pid)
        targets = softstep.next_pcs(self.abi, regs, lambda a, n: self.backend.read_memory(pid, a, n))
        insn = self.abi.breakpoint.insn
        for addr in targets:
            if addr not in tracee.soft_step_traps and addr not in tracee.breakpoints:
                tracee.soft_step_traps[addr] = self.backend.read_memory(pid, addr, len(insn))
                self.backend.write_memory(pid, addr, insn)
        self.backend.resume(pid, "cont", signo)
        tracee.stopped = False
        tracee.raw_regs = None
        tracee.resumed_with = "softstep"
        event = self.wait(pid, timeout=timeout)
        event.step_kind = "software"
        return event

    # -- waiting -------------------------------------------------------------------
    def wait(self, pid: int = -1, timeout: Optional[float] = 30.0) -> StopEvent:
        """Wait for the next stop of ``pid`` (or any tracee); decode it.

        Raises ``WaitTimeout`` when nothing arrives in time, and the
        ``ChildProcessError`` (ECHILD) of waitpid when there is nothing left
        to reap: a tracee is reaped exactly once.
        """
        held = self.tracees.get(pid)
        if held is not None and held.pending is not None:
            event, held.pending = held.pending, None
            return event
        options = self.backend.wait_options()
        got, status = _waitpid(pid, options, timeout)
        decoded = waitstatus.decode(status, self.abi)
        event = self.backend.decode_stop(got, decoded)
        tracee = self.tracees.get(got)
        if tracee is None:
            # A new child of a tracee (fork/vfork/clone) can report its first
            # stop before its parent's event; it is ours from now on.
            tracee = self.tracees[got] = Tracee(got)
        if event.kind in ("exited", "signalled"):
            self.tracees.pop(got, None)
            tracee.stopped = False
            return event
        tracee.stopped = event.kind == "stopped"
        tracee.raw_regs = None
        tracee.last_event = event
        if event.kind == "stopped":
            self._classify_trap(tracee, event)
            if event.other_pid and event.event in ("fork", "vfork", "clone"):
                # The child inherited our breakpoints with the parent's memory
                # (vfork shares it): remember them so they can be removed.
                child = self.tracees.setdefault(event.other_pid, Tracee(event.other_pid))
                child.breakpoints = dict(tracee.breakpoints)
                child.events = tracee.events
        return event

    def _classify_trap(self, tracee: Tracee, event: StopEvent) -> None:
        if event.signal != "SIGTRAP" or event.event is not None:
            return
        try:
            pc = self.pc(tracee.pid)
        except OSError:
            return
        event.pc = pc
        for addr in list(tracee.soft_step_traps):
            self.backend.write_memory(tracee.pid, addr, tracee.soft_step_traps.pop(addr))
            if pc == addr:
                event.event = "step"
        if event.event == "step":
            return
        bp_addr = pc - self.abi.breakpoint.pc_adjust
        if bp_addr in tracee.breakpoints:
            event.event = "breakpoint"
            event.breakpoint = bp_addr
            if self.abi.breakpoint.pc_adjust:
                # Rewind so the PC names the breakpoint and a continue runs
                # the original instruction there.
                self.set_pc(tracee.pid, bp_addr)
        elif tracee.resumed_with == "step":
            event.event = "step"

    # -- registers -----------------------------------------------------------------
    def _raw_regs(self, pid: int) -> bytes:
        tracee = self._stopped(pid)
        if tracee.raw_regs is None:
            tracee.raw_regs = self.backend.get_regs(pid)
        return tracee.raw_regs

    def regs(self, pid: int) -> Dict[str, object]:
        return self.abi.regs.layout.decode(self._raw_regs(pid), self.abi.byteorder)

    def set_regs(self, pid: int, values: Mapping[str, object]) -> None:
        tracee = self._stopped(pid)
        # Read afresh: the write must keep every member we do not name as the
        # kernel has it now.
        raw = self.abi.regs.layout.encode(values, self.abi.byteorder, base=self.backend.get_regs(pid))
        tracee.raw_regs = None
        self.backend.set_regs(pid, raw)

    def fpregs(self, pid: int) -> Dict[str, object]:
        self._stopped(pid)
        if self.abi.fpregs is None:
            raise TracerError("%s has no FP register table" % self.abi.key)
        return self.abi.fpregs.layout.decode(self.backend.get_fpregs(pid), self.abi.byteorder)

    def pc(self, pid: int) -> int:
        # Read on every stop: decode only the PC member.
        raw = self._raw_regs(pid)
        return int(self.abi.regs.layout.decode_field(raw, self.abi.roles.pc, self.abi.byteorder))  # type: ignore[call-overload]

    def set_pc(self, pid: int, value: int) -> None:
        """Set the PC; where the arch has an NPC (sparc64), NPC = PC + 4,
        so execution resumes at ``value`` and runs on in sequence."""
        values = {self.abi.roles.pc: value}
        if self.abi.roles.npc is not None:
            values[self.abi.roles.npc] = value + 4
        self.set_regs(pid, values)

    # -- memory --------------------------------------------------------------------
    def read(self, pid: int, addr: int, size: int) -> bytes:
        self._stopped(pid)
        if size < 0:
            raise ValueError("size must be >= 0, not %d" % size)
        return self.backend.read_memory(pid, addr, size)

    def write(self, pid: int, addr: int, data: bytes) -> None:
        self._stopped(pid)
        self.backend.write_memory(pid, addr, data)

    def read_word(self, pid: int, addr: int) -> int:
        self._stopped(pid)
        return self.backend.read_word(pid, addr)

    def write_word(self, pid: int, addr: int, value: int) -> None:
        self._stopped(pid)
        self.backend.write_word(pid, addr, value)

    # -- breakpoints ---------------------------------------------------------------
    def insert_breakpoint(self, pid: int, addr: int) -> None:
        tracee = self._stopped(pid)
        if addr in tracee.breakpoints:
            raise TracerError("a breakpoint is already armed at 0x%x" % addr)
        insn = self.abi.breakpoint.insn
        original = self.backend.read_memory(pid, addr, len(insn))
        self.backend.write_memory(pid, addr, insn)
        tracee.breakpoints[addr] = original

    def remove_breakpoint(self, pid: int, addr: int) -> None:
        tracee = self._stopped(pid)
        try:
            original = tracee.breakpoints.pop(addr)
        except KeyError:
            raise TracerError("no breakpoint at 0x%x" % addr) from None
        self.backend.write_memory(pid, addr, original)

    def breakpoints(self, pid: int) -> List[int]:
        return sorted(self._known(pid).breakpoints)

    # -- events --------------------------------------------------------------------
    def set_events(self, pid: int, events: Iterable[str]) -> None:
        tracee = self._stopped(pid)
        wanted = frozenset(events)
        self.backend.set_events(pid, wanted)
        tracee.events = wanted

    # -- OS-specific requests (the BSD extras) ------------------------------------------
    def os_request(self, pid: int, name: str, *args: object, stopped: bool = True) -> object:
        """Call the backend's extra ``name`` (``lwps``, ``set_sigpass``, ...)
        on a held tracee: stopped unless ``stopped`` is False (PT_STOP acts
        on a running one).  The caller checks the backend has it."""
        if stopped:
            self._stopped(pid)
        else:
            self._known(pid)
        return getattr(self.backend, name)(pid, *args)

    def resume_lwp(self, pid: int, lwp: int, how: str = "cont") -> None:
        """Resume only LWP ``lwp`` (NetBSD: negative ``data``); the tracee
        counts as running until the next wait, like after ``cont``."""
        tracee = self._stopped(pid)
        self.backend.resume_lwp(pid, lwp, how)  # type: ignore[attr-defined]
        tracee.stopped = False
        tracee.raw_regs = None
        tracee.resumed_with = how

    # -- helpers -------------------------------------------------------------------
    def _known(self, pid: int) -> Tracee:
        try:
            return self.tracees[pid]
        except KeyError:
            raise ProcessLookupError(errno.ESRCH, "pid %d is not a tracee of this tracer" % pid) from None

    def _stopped(self, pid: int) -> Tracee:
        tracee = self._known(pid)
        if not tracee.stopped:
            raise TracerError("tracee %d is running; wait for a stop first" % pid)
        return tracee


class _Alarm(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Alarm()


def _waitpid(pid: int, options: int, timeout: Optional[float]):
    """Blocking waitpid, bounded by ``timeout`` through an interval timer.

    A blocking wait keeps the step rate high (polling with WNOHANG would
    add a sleep to every stop); the timer's handler breaks it off.  Away
    from the main thread, where signals cannot be used, fall back to polling.
    """
    if timeout is None:
        return os.waitpid(pid, options)
    # A stop that is already there (a step's, most often) needs no timer:
    # one WNOHANG call instead of four for the handler and the timer.
    got, status = os.waitpid(pid, options | os.WNOHANG)
    if got:
        return got, status
    try:
        previous = signal.signal(signal.SIGALRM, _on_alarm)
    except ValueError:
        return _poll_waitpid(pid, options, timeout)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return os.waitpid(pid, options)
    except _Alarm:
        raise WaitTimeout("no stop of pid %d within %.1f s" % (pid, timeout)) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _poll_waitpid(pid: int, options: int, timeout: float):
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while True:
        got, status = os.waitpid(pid, options | os.WNOHANG)
        if got:
            return got, status
        if time.monotonic() >= deadline:
            raise WaitTimeout("no stop of pid %d within %.1f s" % (pid, timeout))
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
