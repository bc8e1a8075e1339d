"""Free TCP ports on 127.0.0.1 that parallel harness processes never share.

Asking the kernel for a free port and handing it to QEMU leaves a window in
which another process can take it.  Within the harness that window is closed
by a lease: a byte-range lock at offset <port> on one shared file, held for
the VM's life, plus an in-process set (POSIX record locks do not exclude the
process holding them).  Outside processes can still race us; QEMU then fails
to set up its forwarding and the machine retries with a new lease.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..errors import HostError

_held: set[int] = set()
_held_lock = threading.Lock()
# Kept open for the life of the process: closing any descriptor of the lock
# file would drop every record lock this process holds on it.
_lock_fds: dict[str, int] = {}


def _lock_file() -> int:
    with _held_lock:
        if "fd" not in _lock_fds:
            path = Path(tempfile.gettempdir()) / ("trapline-ports-%d.lock" % os.getuid())
            _lock_fds["fd"] = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        return _lock_fds["fd"]


def kernel_free_ports(host: str = "127.0.0.1") -> Iterator[int]:
    """Endless ports the kernel says are free right now."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        yield port


def can_bind(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class PortLease:
    """A port reserved for this process until :meth:`release`."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._released = False

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        fcntl.lockf(_lock_file(), fcntl.LOCK_UN, 1, self.port, os.SEEK_SET)
        with _held_lock:
            _held.discard(self.port)

    def __enter__(self) -> PortLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return "PortLease(%d%s)" % (self.port, ", released" if self._released else "")


def lease_port(
    candidates: Iterable[int] | None = None,
    *,
    attempts: int = 64,
    bindable: Callable[[int], bool] = can_bind,
) -> PortLease:
    """Lease a port nobody in this or another harness process holds and that can be bound now."""
    source = iter(candidates) if candidates is not None else kernel_free_ports()
    tried = []
    for port in source:
        if len(tried) >= attempts:
            break
        tried.append(port)
        with _held_lock:
            if port in _held:
                continue
            _held.add(port)
        try:
            fcntl.lockf(_lock_file(), fcntl.LOCK_EX | fcntl.LOCK_NB, 1, port, os.SEEK_SET)
        except OSError as exc:
            with _held_lock:
                _held.discard(port)
            if exc.errno in (errno.EACCES, errno.EAGAIN):
                continue  # another harness process holds it
            raise
        lease = PortLease(port)
        if bindable(port):
            return lease
        lease.release()
    raise HostError(
        "no free TCP port on 127.0.0.1 after trying %d: %s" % (len(tried), ", ".join(map(str, tried[:10]))),
        hint="too many VMs or listeners on this host? close some and retry",
    )
