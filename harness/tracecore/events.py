"""What a wait returns, decoded: the stop event the suites assert on."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional

from .abi.types import Abi

# si_code values overlap between signals (TRAP_BRKPT == CLD_EXITED == 1), so
# a value is named through the prefixes that belong to its signal.
_SI_PREFIXES = {
    "SIGTRAP": ("TRAP_", "SI_"),
    "SIGSEGV": ("SEGV_", "SI_"),
    "SIGBUS": ("BUS_", "SI_"),
    "SIGCHLD": ("CLD_", "SI_"),
    "SIGILL": ("ILL_", "SI_"),
    "SIGFPE": ("FPE_", "SI_"),
}


def si_code_name(abi: Abi, signal: Optional[str], code: Optional[int]) -> Optional[str]:
    if code is None:
        return None
    for prefix in _SI_PREFIXES.get(signal or "", ("SI_",)):
        name = abi.si_codes.name_of(code, prefix)
        if name is not None:
            return name
    return None


def signal_name(abi: Abi, signo: Optional[int]) -> Optional[str]:
    if signo is None:
        return None
    return abi.signals.name_of(signo, "SIG") or "SIG%d" % signo


@dataclass
class StopEvent:
    """One decoded wait result.

    ``event`` names what the stop means beyond its signal: ``exec``, ``fork``,
    ``vfork``, ``vfork_done``, ``clone`` (a new thread/LWP), ``lwp_exit``,
    ``spawn``, ``syscall_entry``, ``syscall_exit``, ``breakpoint``, ``step``,
    ``exit`` (Linux's PTRACE_EVENT_EXIT), or ``None`` for a plain signal stop.
    ``si_code`` is ``None`` where the OS gives the tracer no siginfo.
    """

    pid: int
    kind: str
    signal: Optional[str] = None
    signo: Optional[int] = None
    si_code: Optional[str] = None
    si_code_value: Optional[int] = None
    event: Optional[str] = None
    other_pid: Optional[int] = None
    lwp: Optional[int] = None
    exit_code: Optional[int] = None
    core_dumped: bool = False
    pc: Optional[int] = None
    breakpoint: Optional[int] = None
    syscall_nr: Optional[int] = None
    syscall_retval: Optional[int] = None
    syscall_error: Optional[bool] = None
    step_kind: Optional[str] = None
    raw_status: int = 0

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)
