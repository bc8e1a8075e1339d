"""QEMU control through QMP (the ``qemu.qmp`` library's synchronous facade)."""

from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qemu.qmp import QMPError
from qemu.qmp.legacy import QEMUMonitorProtocol

from ..errors import HostError, Timeout

log = logging.getLogger(__name__)

# QEMU 7.2 caps outgoing migration at 32 MiB/s by default (max-bandwidth);
# to a local file that only slows the save down.
_UNLIMITED_BANDWIDTH = 1 << 40


class Qmp:
    """One QMP connection to one QEMU."""

    def __init__(self, socket_path: Path, *, target: str, command_timeout: float) -> None:
        self.socket_path = socket_path
        self.target = target
        self.command_timeout = command_timeout
        self._monitor: QEMUMonitorProtocol | None = None

    def connect(self, deadline: float, alive: Callable[[], bool]) -> None:
        """Connect, retrying until ``deadline`` (time.monotonic) while ``alive()`` holds."""
        while True:
            if not self.socket_path.exists() and alive() and time.monotonic() < deadline:
                # Not listening yet; connecting now would only log a failure.
                time.sleep(0.05)
                continue
            monitor = QEMUMonitorProtocol(str(self.socket_path))
            try:
                monitor.connect(negotiate=True)
            except (OSError, QMPError) as exc:
                _quiet_close(monitor)
                if not alive():
                    raise HostError("QEMU exited before its QMP socket answered", target=self.target) from exc
                if time.monotonic() >= deadline:
                    raise HostError(
                        "QMP socket %s did not answer: %s" % (self.socket_path, exc), target=self.target
                    ) from exc
                time.sleep(0.05)
                continue
            monitor.settimeout(self.command_timeout)
            self._monitor = monitor
            return

    def command(self, name: str, **arguments: Any) -> Any:
        """Run one QMP command and return its ``return`` value; errors become HostError."""
        if self._monitor is None:
            raise HostError("QMP of %s is not connected (command %s)" % (self.target, name), target=self.target)
        try:
            return self._monitor.cmd(name, **arguments)
        except (QMPError, OSError, TimeoutError) as exc:
            raise HostError(
                "QMP %s %s failed: %s: %s" % (name, arguments or "", type(exc).__name__, exc), target=self.target
            ) from exc

    def status(self) -> str:
        """The run state: ``running``, ``paused``, ``inmigrate``, ``postmigrate``, ``shutdown``..."""
        return str(self.command("query-status")["status"])

    def stop(self) -> None:
        self.command("stop")

    def cont(self) -> None:
        self.command("cont")

    def powerdown(self) -> None:
        self.command("system_powerdown")

    def quit(self) -> None:
        """Ask QEMU to exit; the connection drops as it does, which is not an error here."""
        if self._monitor is None:
            return
        try:
            self._monitor.cmd("quit")
        except (QMPError, OSError, TimeoutError) as exc:
            log.debug("QMP quit on %s: %s", self.target, exc)

    def save_state(self, path: Path, timeout: float) -> float:
        """Stop the VM and migrate its RAM and devices into ``path``.  The VM
        stays stopped (call :meth:`cont`).  Returns the seconds it took."""
        started = time.monotonic()
        self.stop()
        self.command("migrate-set-parameters", **{"max-bandwidth": _UNLIMITED_BANDWIDTH})
        self.command("migrate", uri="exec:cat > %s" % shlex.quote(str(path)))
        self._wait_migration(timeout, "save", started)
        return time.monotonic() - started

    def load_state(self, path: Path, timeout: float) -> float:
        """Load a saved state into a QEMU started with ``-incoming defer``; it stays paused."""
        started = time.monotonic()
        self.command("migrate-incoming", uri="exec:cat %s" % shlex.quote(str(path)))
        while True:
            status = self.status()
            if status != "inmigrate":
                break
            if time.monotonic() - started > timeout:
                raise Timeout(
                    "loading the saved state %s into %s did not finish" % (path, self.target),
                    waited=time.monotonic() - started,
                    timeout_name="restore",
                    target=self.target,
                )
            time.sleep(0.05)
        if status not in ("paused", "prelaunch", "running"):
            raise HostError(
                "loading the saved state %s left %s in state %r" % (path, self.target, status), target=self.target
            )
        return time.monotonic() - started

    def _wait_migration(self, timeout: float, what: str, started: float) -> None:
        while True:
            info = self.command("query-migrate")
            state = info.get("status")
            if state == "completed":
                return
            if state in ("failed", "cancelled"):
                raise HostError(
                    "%s of %s's state %s: %s" % (what, self.target, state, info.get("error-desc", "no reason given")),
                    target=self.target,
                )
            if time.monotonic() - started > timeout:
                raise Timeout(
                    "%s of %s's state did not complete (migration %s)" % (what, self.target, state),
                    waited=time.monotonic() - started,
                    timeout_name=what,
                    target=self.target,
                )
            time.sleep(0.05)

    def close(self) -> None:
        if self._monitor is not None:
            _quiet_close(self._monitor)
            self._monitor = None


def _quiet_close(monitor: QEMUMonitorProtocol) -> None:
    # The facade's close() raises when QEMU already hung up; closing is all
    # that is wanted here, and its __del__ would otherwise print the trace.
    try:
        monitor.close()
    except Exception as exc:
        log.debug("closing QMP: %s", exc)
