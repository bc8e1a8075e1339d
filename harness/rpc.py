"""Host side of the core's JSON-lines protocol, over any pair of byte streams.

``RpcClient.local()`` starts the core as a subprocess of this machine (the
``local`` target); the SSH layer hands in a channel's streams instead.  The
suites see one API either way::

    with RpcClient.local() as rpc:
        r = rpc.tracee.spawn(program="loop")
        rpc.bp.insert(pid=r["pid"], addr=r["ready"]["getppid"])

A remote failure raises :class:`RemoteError` carrying the errno *name*
(``ESRCH``), which means the same on every OS even where numbers differ.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from .errors import GuestError, HostError
from .tracecore_zip import build_zip


class RemoteError(Exception):
    """The core answered a request with an error."""

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        self.method = method
        self.type: str = error.get("type", "?")
        self.errno: str | None = error.get("errno")
        self.errno_value: int | None = error.get("errno_value")
        self.remote_message: str = error.get("message", "")
        # A memory transfer that stopped part way: how many bytes did move,
        # and (reads) those bytes; None for every other error.
        self.transferred: int | None = error.get("transferred")
        self.partial_data: bytes | None = (bytes.fromhex(error["data"]) if "data" in error else None)
        where = " [%s]" % self.errno if self.errno else ""
        super().__init__("%s failed: %s%s: %s" % (method, self.type, where, self.remote_message))


class _Namespace:
    def __init__(self, client: RpcClient, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        method = "%s.%s" % (self._prefix, name)
        return lambda **params: self._client.call(method, **params)


class RpcClient:
    """One connection to one running core."""

    def __init__(self, reader: IO[bytes], writer: IO[bytes], *, name: str = "core",
                 on_close: Callable[[], None] | None = None) -> None:
        self._reader = reader
        self._writer = writer
        self._on_close = on_close
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.name = name
        self.closed = False
        first = reader.readline()
        if not first:
            raise GuestError("the core exited before saying hello", target=name)
        try:
            self.hello: dict[str, Any] = json.loads(first)["hello"]
        except (ValueError, KeyError, TypeError):
            raise GuestError("the core's first line is not a hello: %r" % first[:200], target=name) from None
        self.calls = 0

    @classmethod
    def local(cls, *, python: str | None = None, stderr_path: Path | None = None,
              zip_dir: Path | None = None) -> RpcClient:
        """Start the core on this machine from its zip, as a guest would."""
        zip_path, _ = build_zip(zip_dir or Path(tempfile.gettempdir()) / "trapline-core")
        err = open(stderr_path, "ab") if stderr_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            proc = subprocess.Popen([python or sys.executable, str(zip_path), "serve"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        except OSError as e:
            raise HostError("cannot start the core: %s" % e, target="local") from e
        finally:
            if stderr_path:
                err.close()  # type: ignore[union-attr]

        def finish() -> None:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

        assert proc.stdout is not None and proc.stdin is not None
        return cls(proc.stdout, proc.stdin, name="local", on_close=finish)

    def call(self, method: str, **params: Any) -> Any:
        if self.closed:
            raise HostError("call %s on a closed connection" % method, target=self.name)
        with self._lock:
            request_id = next(self._ids)
            line = json.dumps({"id": request_id, "method": method, "params": params}).encode() + b"\n"
            try:
                self._writer.write(line)
                self._writer.flush()
                reply_line = self._reader.readline()
            except OSError as e:
                raise GuestError("lost the core during %s: %s" % (method, e), target=self.name) from e
            if not reply_line:
                raise GuestError("the core closed the connection during %s" % method, target=self.name)
            self.calls += 1
        reply = json.loads(reply_line)
        if reply.get("id") != request_id:
            raise GuestError("reply id %r does not match request %d" % (reply.get("id"), request_id),
                             target=self.name)
        if "error" in reply:
            raise RemoteError(method, reply["error"])
        return reply["result"]

    def __getattr__(self, name: str) -> _Namespace:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Namespace(self, name)

    def ping(self) -> str:
        return self.call("ping")

    def wait(self, **params: Any) -> dict[str, Any]:
        return self.call("wait", **params)

    def close(self) -> None:
        """EOF to the core: it kills and reaps its tracees and exits."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            self._writer.close()
        if self._on_close is not None:
            self._on_close()

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
