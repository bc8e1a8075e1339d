"""QEMU processes that never outlive their owner.

Three layers, because each one alone has a hole:
- the parent-death signal (prctl PR_SET_PDEATHSIG): the kernel kills QEMU
  when the process that started it dies, even by ``kill -9``;
- a process group of its own per QEMU, so closing a VM also reaches what
  QEMU spawned (``exec:`` migration helpers) and Ctrl-C at a terminal does
  not hit QEMU before the harness has had a chance to quit it cleanly;
- an atexit hook and ``Machine.close`` for the ordinary paths.

PR_SET_PDEATHSIG fires when the *thread* that forked exits, so start VMs
from a thread that lives as long as they do (the main thread, in pytest).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

from ..errors import HostError

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_live: dict[int, subprocess.Popen] = {}
_live_lock = threading.Lock()


def _die_with_parent(parent_pid: int):
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

    def preexec() -> None:
        # SIGKILL, not SIGTERM: the overlay is disposable and nothing is left
        # to flush; a QEMU ignoring TERM while stuck would otherwise survive.
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # The parent may have died between fork and prctl: then nobody will
        # ever send the signal, so go now.
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


def spawn_owned(argv: Sequence[str], *, log_path: Path, cwd: Path) -> subprocess.Popen:
    """Start ``argv`` in its own process group, bound to die with this process;
    its stdout and stderr go to ``log_path``."""
    with open(log_path, "ab") as log_file:
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                start_new_session=True,
                # The hook only calls prctl and getppid: no locks, no allocation
                # that another thread could hold across the fork.
                preexec_fn=_die_with_parent(os.getpid()),  # noqa: PLW1509
            )
        except FileNotFoundError as exc:
            raise HostError(
                "%s is not installed" % argv[0], argv=argv, hint="run scripts/install-system-packages"
            ) from exc
    with _live_lock:
        _live[proc.pid] = proc
    return proc


def terminate(proc: subprocess.Popen, grace: float = 5.0) -> int:
    """SIGTERM the process group, then SIGKILL after ``grace`` seconds; returns the exit status."""
    if proc.poll() is None:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
    else:
        # QEMU is gone; a helper it spawned into the group may not be.
        _signal_group(proc, signal.SIGKILL)
    with _live_lock:
        _live.pop(proc.pid, None)
    return proc.returncode


def forget(proc: subprocess.Popen) -> None:
    with _live_lock:
        _live.pop(proc.pid, None)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


@atexit.register
def _kill_all_at_exit() -> None:
    with _live_lock:
        procs = list(_live.values())
    for proc in procs:
        terminate(proc, grace=2.0)
