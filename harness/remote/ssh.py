"""SSH to a guest with paramiko: wait until it answers, pin its host key,
log in with the image's key, run commands or open a channel for the RPC.

The guest's host key was made on this machine when the image was built
(:mod:`harness.images.debian`), so there is no first-use trust: the only key
accepted is the one recorded beside the image, and the transport is told to
negotiate that key type alone.  Anything else answering on the port is an
error naming both fingerprints.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import shlex
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

import paramiko

from ..errors import GuestError, HostError, Timeout

# paramiko logs a traceback at ERROR for every silent or refused attempt
# while a guest boots; those are expected and summarised in our own errors.
# Attempts log to this channel, silenced; a transport that logs in goes back
# to paramiko's usual channel, so real trouble later is still reported.
_ATTEMPT_LOG = "harness.remote.ssh.attempt"
logging.getLogger(_ATTEMPT_LOG).setLevel(logging.CRITICAL + 1)
logging.getLogger(_ATTEMPT_LOG).propagate = False

# The first attempts run while the guest is still booting: QEMU's user-mode
# network accepts the TCP connection at once and then sits silent until the
# guest's stack answers, so a short banner wait finds out sooner; it grows
# after each silent attempt in case sshd itself is slow (TCG, loaded host).
_FIRST_BANNER_WAIT = 2.0
_FIRST_BACKOFF = 0.1
_MAX_BACKOFF = 2.0
# How often ``alive`` and ``console_problem`` are asked while an attempt
# blocks (a silent attempt can take ``SshTimeouts.attempt``, scaled).
_WATCH_INTERVAL = 0.5


@dataclass(frozen=True)
class SshTimeouts:
    """Named timeouts (seconds) of the SSH layer; ``scaled`` stretches them
    for slow emulation."""

    ready: float = 120.0  # from VM start (or restore) until SSH logs us in
    attempt: float = 15.0  # one connection: TCP, banner, key exchange, auth
    command: float = 120.0  # one exec() from start to exit status

    def scaled(self, factor: float) -> SshTimeouts:
        return replace(self, ready=self.ready * factor, attempt=self.attempt * factor,
                       command=self.command * factor)


@dataclass(frozen=True)
class SshEndpoint:
    """Where a guest's sshd is and how to log in to it."""

    target: str
    host: str
    port: int
    user: str
    client_key: Path
    host_public_key: Path  # an OpenSSH ``.pub`` file: "<type> <base64> [comment]"

    def openssh_argv(self, known_hosts: Path) -> list[str]:
        """``ssh`` options that log in the same way, for interactive use.
        ``known_hosts`` must hold :meth:`known_hosts_line`."""
        return [
            "ssh", "-p", str(self.port), "-i", str(self.client_key),
            "-o", "IdentitiesOnly=yes", "-o", "PasswordAuthentication=no",
            "-o", "UserKnownHostsFile=%s" % known_hosts, "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes", "-o", "HostKeyAlias=%s" % self.host_key_alias,
            "-o", "LogLevel=ERROR",
            "%s@%s" % (self.user, self.host),
        ]

    @property
    def host_key_alias(self) -> str:
        return "trapline-%s" % self.target

    def known_hosts_line(self) -> str:
        key_type, blob, *_ = self.host_public_key.read_text().split()
        return "%s %s %s\n" % (self.host_key_alias, key_type, blob)


def load_public_key(path: Path) -> paramiko.PKey:
    """Parse an OpenSSH public key file; a clear error when it is not one."""
    try:
        key_type, blob, *_ = path.read_text().split()
        return paramiko.PKey.from_type_string(key_type, base64.b64decode(blob))
    except OSError as e:
        raise HostError("cannot read the pinned host key %s: %s" % (path, e.strerror)) from e
    except (ValueError, paramiko.SSHException) as e:
        raise HostError("%s is not an OpenSSH public key: %s" % (path, e),
                        hint="rebuild the image (harness images build)") from e


def fingerprint(key: paramiko.PKey) -> str:
    """The ``SHA256:...`` form ssh-keygen -l prints."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


@dataclass(frozen=True)
class ExecResult:
    command: str
    exit_status: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def check(self, *, target: str | None = None) -> ExecResult:
        """Raise :class:`GuestError` unless the command exited 0."""
        if self.exit_status != 0:
            raise GuestError("%r exited with status %d: %s" % (
                self.command, self.exit_status,
                self.stderr.decode(errors="replace").strip()[-2000:] or "(no stderr)"), target=target)
        return self


class RemoteProcess:
    """A command running over one SSH channel, with binary stdin/stdout.

    Closing ``stdin`` sends EOF.  The command's stderr is copied to
    ``stderr_path`` (or dropped) by a thread, so a chatty command never
    stalls on a full window.
    """

    def __init__(self, channel: paramiko.Channel, command: str, stderr_path: Path | None) -> None:
        self.channel = channel
        self.command = command
        self.stdin: IO[bytes] = channel.makefile_stdin("wb")  # type: ignore[assignment]
        self.stdout: IO[bytes] = channel.makefile("rb")  # type: ignore[assignment]
        self._stderr_thread = threading.Thread(target=self._drain_stderr, args=(stderr_path,),
                                               name="ssh-stderr", daemon=True)
        self._stderr_thread.start()

    def _drain_stderr(self, path: Path | None) -> None:
        sink = open(path, "ab") if path is not None else None  # noqa: SIM115
        try:
            while True:
                data = self.channel.recv_stderr(65536)
                if not data:
                    return
                if sink is not None:
                    sink.write(data)
                    sink.flush()
        except OSError:
            return
        finally:
            if sink is not None:
                sink.close()

    def wait(self, timeout: float) -> int | None:
        """The exit status, or None if the command is still running after ``timeout``."""
        if not self.channel.status_event.wait(timeout):
            return None
        return self.channel.recv_exit_status()

    def close(self) -> None:
        self.channel.close()
        self._stderr_thread.join(timeout=5)


class SshSession:
    """One authenticated SSH transport to one guest."""

    def __init__(self, transport: paramiko.Transport, endpoint: SshEndpoint, timeouts: SshTimeouts) -> None:
        self.transport = transport
        self.endpoint = endpoint
        self.timeouts = timeouts

    @classmethod
    def connect(
        cls,
        endpoint: SshEndpoint,
        *,
        timeouts: SshTimeouts = SshTimeouts(),
        alive: Callable[[], bool] | None = None,
        console_problem: Callable[[], str | None] | None = None,
        transcript: Path | None = None,
        console_tail: Callable[[], Sequence[str]] | None = None,
    ) -> SshSession:
        """Retry with backoff until the guest logs us in, within ``timeouts.ready``.

        ``alive`` is asked between attempts so a dead VM fails at once rather
        than at the timeout; so is ``console_problem``, which says what the
        console shows has gone wrong (a kernel panic: see
        :class:`harness.remote.panic_watch.PanicWatch`) or None.
        ``transcript`` and ``console_tail`` go into the error so it shows
        what the guest printed.
        """
        pinned = load_public_key(endpoint.host_public_key)
        try:
            login_key = paramiko.PKey.from_path(endpoint.client_key)
        except (OSError, paramiko.SSHException) as e:
            raise HostError("cannot load the login key %s: %s" % (endpoint.client_key, e), target=endpoint.target,
                            hint="rebuild the image (harness images build %s)" % endpoint.target) from e
        started = time.monotonic()
        delay = _FIRST_BACKOFF
        banner_wait = _FIRST_BANNER_WAIT
        last_problem = "no attempt made"
        attempts = 0
        with _AttemptCutter(alive, console_problem) as cutter:
            while True:
                # Checked before the time left, so a guest that died or panicked
                # during the last attempt is reported as such, not as a timeout.
                if alive is not None and not alive():
                    raise GuestError("the VM exited while waiting for SSH (last: %s)" % last_problem,
                                     target=endpoint.target, transcript=transcript,
                                     console_tail=console_tail() if console_tail else None)
                problem = console_problem() if console_problem is not None else None
                if problem is not None:
                    raise GuestError("%s (while waiting for SSH, last: %s)" % (problem, last_problem),
                                     target=endpoint.target, transcript=transcript,
                                     console_tail=console_tail() if console_tail else None,
                                     hint="the guest's kernel failed; the full console output is in the transcript")
                remaining = timeouts.ready - (time.monotonic() - started)
                if remaining <= 0:
                    break
                attempts += 1
                attempt_limit = min(timeouts.attempt, max(remaining, 0.5))
                try:
                    transport = _open_transport(endpoint, pinned, login_key, attempt_limit,
                                                min(banner_wait, attempt_limit), cutter)
                    return cls(transport, endpoint, timeouts)
                except _NotYet as e:
                    last_problem = str(e)
                    if e.silent:
                        banner_wait = min(banner_wait * 1.5, timeouts.attempt)
                time.sleep(min(delay, max(0.0, timeouts.ready - (time.monotonic() - started))))
                delay = min(delay * 2, _MAX_BACKOFF)
        raise Timeout(
            "SSH on 127.0.0.1:%d never logged us in after %d attempts (last: %s)"
            % (endpoint.port, attempts, last_problem),
            waited=time.monotonic() - started, timeout_name="ssh ready", target=endpoint.target,
            transcript=transcript, console_tail=console_tail() if console_tail else None,
        )

    def exec(self, command: str, *, stdin: bytes | None = None, timeout: float | None = None) -> ExecResult:
        """Run ``command`` (a shell command line), feed it ``stdin``, collect its output."""
        limit = self.timeouts.command if timeout is None else timeout
        try:
            channel = self.transport.open_session(timeout=limit)
            channel.exec_command(command)
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise HostError("SSH exec of %r failed: %s" % (command, e), target=self.endpoint.target) from e
        try:
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
        except OSError as e:
            # A command may exit without reading its input; its status and
            # output still count.  Anything else is a lost connection.
            if not channel.exit_status_ready():
                channel.close()
                raise HostError("SSH exec of %r: sending input failed: %s" % (command, e),
                                target=self.endpoint.target) from e
        out, err = bytearray(), bytearray()
        started = time.monotonic()
        pause = 0.001
        try:
            while True:
                progressed = False
                if channel.recv_ready():
                    out += channel.recv(65536)
                    progressed = True
                if channel.recv_stderr_ready():
                    err += channel.recv_stderr(65536)
                    progressed = True
                if progressed:
                    pause = 0.001
                    continue
                if channel.exit_status_ready() and channel.eof_received:
                    break
                if time.monotonic() - started > limit:
                    raise Timeout("%r did not finish" % command, waited=time.monotonic() - started,
                                  timeout_name="ssh command", target=self.endpoint.target)
                time.sleep(pause)
                pause = min(pause * 2, 0.05)
            return ExecResult(command, channel.recv_exit_status(), bytes(out), bytes(err))
        finally:
            channel.close()

    def open_channel(self, command: str, *, stderr_path: Path | None = None) -> RemoteProcess:
        """Start ``command`` and hand back its binary stdin/stdout streams."""
        try:
            channel = self.transport.open_session(timeout=self.timeouts.attempt)
            channel.exec_command(command)
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise HostError("SSH cannot start %r: %s" % (command, e), target=self.endpoint.target) from e
        return RemoteProcess(channel, command, stderr_path)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> SshSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _NotYet(Exception):
    """One connection attempt failed in a way a booting guest explains."""

    def __init__(self, message: str, *, silent: bool = False) -> None:
        super().__init__(message)
        self.silent = silent


class _AttemptCutter:
    """While the SSH wait runs, a thread asks ``alive`` and ``console_problem``
    every :data:`_WATCH_INTERVAL` and, when either reports trouble, shuts
    the socket of the attempt in flight: a guest that died or panicked ends
    a silent attempt at once instead of after its banner wait.  The wait
    loop then asks them itself and raises."""

    def __init__(self, alive: Callable[[], bool] | None,
                 console_problem: Callable[[], str | None] | None) -> None:
        self.alive = alive
        self.console_problem = console_problem
        self._sock: socket.socket | None = None
        self._tripped = False
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _AttemptCutter:
        if self.alive is not None or self.console_problem is not None:
            self._thread = threading.Thread(target=self._watch, name="ssh-wait-watch", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()

    def attempt_started(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            tripped = self._tripped
        if tripped:
            _shut(sock)

    def _watch(self) -> None:
        while not self._done.wait(_WATCH_INTERVAL):
            dead = self.alive is not None and not self.alive()
            if dead or (self.console_problem is not None and self.console_problem() is not None):
                with self._lock:
                    self._tripped = True
                    sock = self._sock
                if sock is not None:
                    _shut(sock)
                return


def _shut(sock: socket.socket) -> None:
    # shutdown() rather than close(): it wakes paramiko's reader thread, and
    # the descriptor stays the transport's to close.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _open_transport(endpoint: SshEndpoint, pinned: paramiko.PKey, login_key: paramiko.PKey,
                    attempt_limit: float, banner_wait: float, cutter: _AttemptCutter) -> paramiko.Transport:
    try:
        sock = socket.create_connection((endpoint.host, endpoint.port), timeout=attempt_limit)
    except OSError as e:
        raise _NotYet("connect: %s" % (e.strerror or e)) from e
    cutter.attempt_started(sock)
    transport = paramiko.Transport(sock)
    transport.set_log_channel(_ATTEMPT_LOG)
    try:
        transport.banner_timeout = banner_wait
        transport.handshake_timeout = attempt_limit
        transport.auth_timeout = attempt_limit
        # Offer only the pinned key's type, so a server holding several keys
        # shows the one we can check.
        transport.get_security_options().key_types = [pinned.get_name()]
        try:
            transport.start_client(timeout=attempt_limit)
        except (paramiko.SSHException, OSError, EOFError) as e:
            silent = "banner" in str(e).lower()
            raise _NotYet("handshake: %s" % (e or type(e).__name__), silent=silent) from e
        # start_client returns without an error when its own timeout passes.
        if not transport.is_active() or not transport.initial_kex_done:
            raise _NotYet("handshake: no SSH banner within %.1f s" % banner_wait, silent=True)
        offered = transport.get_remote_server_key()
        if offered.get_name() != pinned.get_name() or offered.asbytes() != pinned.asbytes():
            raise HostError(
                "host key mismatch on 127.0.0.1:%d: the server offered %s %s, the image's key is %s %s"
                % (endpoint.port, offered.get_name(), fingerprint(offered), pinned.get_name(), fingerprint(pinned)),
                target=endpoint.target,
                hint="this is not the guest built with %s; another process may hold the port, "
                     "or the image was rebuilt under a running VM" % endpoint.host_public_key,
            )
        try:
            transport.auth_publickey(endpoint.user, login_key)
        except paramiko.AuthenticationException as e:
            raise GuestError("the guest refused our key %s for %s: %s"
                             % (endpoint.client_key, endpoint.user, e), target=endpoint.target,
                             hint="rebuild the image (harness images build %s)" % endpoint.target) from e
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise _NotYet("auth: %s" % (e or type(e).__name__)) from e
        transport.set_keepalive(30)
        transport.set_log_channel("paramiko.transport")
        return transport
    except BaseException:
        transport.close()
        raise


def shell_quote(words: Sequence[str]) -> str:
    """A POSIX shell command line running exactly ``words``."""
    return " ".join(shlex.quote(w) for w in words)
