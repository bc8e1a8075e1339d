"""One root error type for the host side, with a subclass per whose-fault.

A guest fault (it panicked, never answered SSH, the installer showed an
unexpected screen) is told apart from a host fault (QEMU missing, a port
taken, a bad catalog entry) and from a timeout, so a report can say which.
Each carries the target, and where there is one, the console transcript path
and its last lines: a failure message always ends with where to look.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class TraplineError(Exception):
    """Root of every error the harness raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        target: str | None = None,
        argv: Sequence[str] | None = None,
        transcript: Path | None = None,
        console_tail: Sequence[str] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.target = target
        self.argv = list(argv) if argv is not None else None
        self.transcript = transcript
        self.console_tail = list(console_tail) if console_tail is not None else None
        self.hint = hint

    def __str__(self) -> str:
        parts = []
        if self.target:
            parts.append("[%s] " % self.target)
        parts.append(self.message)
        if self.hint:
            parts.append("\n  fix: " + self.hint)
        if self.argv:
            parts.append("\n  command: " + " ".join(self.argv))
        if self.console_tail is not None:
            if self.console_tail:
                parts.append("\n  last console lines:\n    " + "\n    ".join(self.console_tail))
            else:
                parts.append("\n  (the console printed nothing)")
        if self.transcript:
            parts.append("\n  transcript: %s" % self.transcript)
        return "".join(parts)


class ConfigError(TraplineError):
    """Bad user input: an option, a catalog entry, a target name."""


class HostError(TraplineError):
    """The host failed us: a missing tool, QEMU died, SSH refused, no free port."""


class GuestError(TraplineError):
    """The guest failed: it panicked, showed an unexpected screen, broke the protocol."""


class Timeout(TraplineError):
    """Something we waited for did not happen within its named timeout."""

    def __init__(self, message: str, *, waited: float, timeout_name: str, **kwargs) -> None:
        super().__init__("%s (timeout %s: waited %.1f s)" % (message, timeout_name, waited), **kwargs)
        self.waited = waited
        self.timeout_name = timeout_name
