"""Decoding wait(2) statuses with the table's encoding constants.

Every supported OS uses the classic encoding: low 7 bits 0 for an exit
(code in bits 8-15), 0x7f for a stop (signal in bits 8-15), otherwise the
terminating signal, with 0x80 the core flag.  Linux adds ptrace event
numbers above bit 16.  The constants come from the table, not from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .abi.types import Abi


@dataclass(frozen=True)
class WaitStatus:
    kind: str                 # "exited", "signalled", "stopped", "continued"
    exit_code: Optional[int] = None
    signo: Optional[int] = None
    core_dumped: bool = False
    # Linux only: PTRACE_EVENT_* number carried in status >> 16.
    event_code: int = 0
    raw: int = 0


def decode(status: int, abi: Abi) -> WaitStatus:
    stopped = abi.wait["_WSTOPPED"]
    core = abi.wait["WCOREFLAG"]
    continued = abi.wait.get("_WCONTINUED")
    low = status & 0x7F
    if continued is not None and status & 0xFFFF == continued:
        return WaitStatus("continued", raw=status)
    if low == 0:
        return WaitStatus("exited", exit_code=(status >> 8) & 0xFF, raw=status)
    if low == stopped:
        return WaitStatus("stopped", signo=(status >> 8) & 0xFF,
                          event_code=(status >> 16) & 0xFFFF, raw=status)
    return WaitStatus("signalled", signo=low, core_dumped=bool(status & core), raw=status)
