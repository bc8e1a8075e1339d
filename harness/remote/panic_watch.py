"""Notice a guest kernel that panicked while the harness waits for SSH.

A guest that panics at boot never starts sshd, and QEMU's user-mode network
still accepts the forwarded TCP connection, so from the SSH side a panic
looks like a slow boot until the ready timeout runs out.  The console says
at once what happened: a BSD kernel drops into ddb (``db{N}>`` on NetBSD,
``ddb{N}>`` on OpenBSD, recognised by :mod:`harness.images.panic`, which
also captures the ddb report), a Linux kernel prints ``Kernel panic - not
syncing:`` and stops.  :class:`PanicWatch` reads what the console printed
since it was made and turns either into a one-line problem for
:meth:`harness.remote.ssh.SshSession.connect` to fail with.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from ..errors import GuestError, Timeout
from ..images import panic

# Linux's panic() prints this before it halts (kernel/panic.c).
LINUX_PANIC = re.compile(r"Kernel panic - not syncing: ([^\r\n]*)")


class PanicWatch:
    """Callable: None while the console shows no panic, else the panic's summary.

    ``console`` is the VM's console (``expect``/``send``/``before`` and a
    ``transcript_path`` that holds every byte this VM's guest printed: each
    VM gets its own directory, so its own transcript).  The ddb report is captured once;
    later calls give the same summary.
    """

    def __init__(self, console: Any) -> None:
        self.console = console
        self.transcript_path: Path = console.transcript_path
        self._offset = 0
        self._text = ""
        self._summary: str | None = None
        self._lock = threading.Lock()

    def __call__(self) -> str | None:
        with self._lock:
            if self._summary is None:
                self._summary = self._look()
            return self._summary

    def _look(self) -> str | None:
        self._text += self._read_new()
        ddb = re.search(panic.DDB_PROMPT, self._text)
        if ddb is not None:
            return self._capture(self._text[:ddb.start()])
        linux = LINUX_PANIC.search(self._text)
        if linux is not None:
            return "kernel panic: %s" % linux.group(1).strip()
        return None

    def _capture(self, screen_before: str) -> str:
        # The console has not matched this prompt yet: consume it, so each
        # ddb command's output is read up to its own prompt.
        try:
            self.console.expect([panic.DDB_PROMPT], "ddb_command")
        except (Timeout, GuestError) as exc:
            return "kernel panic: %s (ddb report not captured: %s)" % (_last_panic_line(screen_before),
                                                                         exc.message)
        report = panic.capture_panic(self.console, screen_before=screen_before)
        return "kernel panic: %s" % report.summary()

    def _read_new(self) -> str:
        try:
            with open(self.transcript_path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return ""
        self._offset += len(data)
        return data.decode("utf-8", "replace")


def _last_panic_line(screen_before: str) -> str:
    found = re.findall(r"\bpanic: ([^\r\n]+)", screen_before)
    return found[-1].strip() if found else "ddb was entered"

