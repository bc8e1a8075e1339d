"""The SSH layer against a real paramiko SSH server on 127.0.0.1: host-key
pinning, key login, exec and channels, and the ready timeout."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from harness.errors import GuestError, HostError, Timeout
from harness.remote.ssh import SshEndpoint, SshSession, SshTimeouts, fingerprint, load_public_key

FAST = SshTimeouts(ready=5.0, attempt=2.0, command=5.0)


def _keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", str(path)], check=True)
    return path


class _Server(paramiko.ServerInterface):
    def __init__(self, allowed: paramiko.PKey) -> None:
        self.allowed = allowed

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        ok = username == "root" and key.asbytes() == self.allowed.asbytes()
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        threading.Thread(target=_serve_command, args=(channel, command.decode()), daemon=True).start()
        return True


def _serve_command(channel: paramiko.Channel, command: str) -> None:
    """Two commands: ``status N`` (prints to both streams, exits N) and
    ``upper`` (echoes each stdin line in capitals until EOF)."""
    if command.startswith("status "):
        # Reading stdin to its EOF first means the client has seen the exec
        # request succeed before the channel closes, as with a real sshd.
        while channel.recv(1024):
            pass
        channel.sendall(b"out\n")
        channel.sendall_stderr(b"err\n")
        channel.send_exit_status(int(command.split()[1]))
    elif command == "upper":
        f = channel.makefile("rb")
        for line in f:
            channel.sendall(line.upper())
        channel.send_exit_status(0)
    channel.close()


class SshServer:
    """Serves connections on 127.0.0.1 with the given host key until closed."""

    def __init__(self, host_key_path: Path, client_pub: paramiko.PKey) -> None:
        self.host_key = paramiko.PKey.from_path(host_key_path)
        self.client_pub = client_pub
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.transports: list[paramiko.Transport] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            t = paramiko.Transport(sock)
            self.transports.append(t)
            t.add_server_key(self.host_key)
            try:
                t.start_server(server=_Server(self.client_pub))
            except (paramiko.SSHException, EOFError, OSError):
                continue  # a client that hung up mid-handshake (the mismatch test does)

    def close(self) -> None:
        self.listener.close()
        for t in self.transports:
            t.close()


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    return {
        "server": _keygen(tmp_path / "server_host_key"),
        "other": _keygen(tmp_path / "other_host_key"),
        "client": _keygen(tmp_path / "id_ed25519"),
    }


@pytest.fixture
def server(keys: dict[str, Path]) -> Iterator[SshServer]:
    s = SshServer(keys["server"], load_public_key(Path(str(keys["client"]) + ".pub")))
    yield s
    s.close()


def _endpoint(port: int, keys: dict[str, Path], pinned: str) -> SshEndpoint:
    return SshEndpoint(target="test-1-amd64", host="127.0.0.1", port=port, user="root",
                       client_key=keys["client"], host_public_key=Path(str(keys[pinned]) + ".pub"))


def test_pinned_key_matches_and_exec_returns_output_and_status(server: SshServer,
                                                               keys: dict[str, Path]) -> None:
    with SshSession.connect(_endpoint(server.port, keys, "server"), timeouts=FAST) as session:
        result = session.exec("status 7")
    assert (result.exit_status, result.stdout, result.stderr) == (7, b"out\n", b"err\n")
    with pytest.raises(GuestError, match=r"'status 7' exited with status 7: err"):
        result.check()


def test_wrong_host_key_is_rejected_naming_both_fingerprints(server: SshServer, keys: dict[str, Path]) -> None:
    offered = fingerprint(load_public_key(Path(str(keys["server"]) + ".pub")))
    pinned = fingerprint(load_public_key(Path(str(keys["other"]) + ".pub")))
    with pytest.raises(HostError) as info:
        SshSession.connect(_endpoint(server.port, keys, "other"), timeouts=FAST)
    message = str(info.value)
    assert "host key mismatch on 127.0.0.1:%d" % server.port in message
    assert "offered ssh-ed25519 %s, the image's key is ssh-ed25519 %s" % (offered, pinned) in message


def test_refused_login_key_is_a_guest_error(server: SshServer, keys: dict[str, Path], tmp_path: Path) -> None:
    stranger = _keygen(tmp_path / "stranger")
    endpoint = _endpoint(server.port, {**keys, "client": stranger}, "server")
    with pytest.raises(GuestError, match=r"the guest refused our key .*stranger for root"):
        SshSession.connect(endpoint, timeouts=FAST)


def test_channel_gives_binary_streams_and_eof_on_stdin_close(server: SshServer, keys: dict[str, Path]) -> None:
    with SshSession.connect(_endpoint(server.port, keys, "server"), timeouts=FAST) as session:
        proc = session.open_channel("upper")
        proc.stdin.write(b"hello\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"HELLO\n"
        proc.stdin.close()
        assert proc.wait(5) == 0
        proc.close()


def test_nothing_listening_times_out_with_the_named_timeout(keys: dict[str, Path]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    # The port is closed now: every attempt is refused until "ssh ready" runs out.
    with pytest.raises(Timeout) as info:
        SshSession.connect(_endpoint(port, keys, "server"), timeouts=SshTimeouts(ready=1.0, attempt=0.5))
    assert info.value.timeout_name == "ssh ready"
    assert "never logged us in" in str(info.value)
    assert "last: connect: Connection refused" in str(info.value)


def test_dead_vm_stops_the_wait_at_once(keys: dict[str, Path]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    calls = []

    def alive() -> bool:
        calls.append(1)
        return len(calls) < 3

    with pytest.raises(GuestError, match="the VM exited while waiting for SSH"):
        SshSession.connect(_endpoint(port, keys, "server"), timeouts=SshTimeouts(ready=30.0), alive=alive)
    # The loop asks before each attempt; its watcher thread may have asked
    # once more (and seen the same False) in between.
    assert 3 <= len(calls) <= 4


def test_openssh_argv_pins_the_same_key(keys: dict[str, Path]) -> None:
    endpoint = _endpoint(2222, keys, "server")
    argv = endpoint.openssh_argv(Path("/tmp/kh"))
    assert argv[-1] == "root@127.0.0.1"
    assert "StrictHostKeyChecking=yes" in argv and "HostKeyAlias=trapline-test-1-amd64" in argv
    key_type, blob = Path(str(keys["server"]) + ".pub").read_text().split()[:2]
    assert endpoint.known_hosts_line() == "trapline-test-1-amd64 %s %s\n" % (key_type, blob)


def test_silent_guest_times_out_naming_the_transcript_and_console_tail(keys: dict[str, Path],
                                                                        tmp_path: Path) -> None:
    # QEMU's user-mode network accepts the TCP connection of a guest whose
    # sshd never comes up and then sends nothing: no SSH banner, ever.
    accepted: list[socket.socket] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def hold_open() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                accepted.append(conn)

        threading.Thread(target=hold_open, daemon=True).start()
        transcript = tmp_path / "console-test-1-amd64.log"
        tail = ["[    2.5] Freeing unused kernel memory", "[  OK  ] Reached target Multi-User System."]
        try:
            with pytest.raises(Timeout) as info:
                SshSession.connect(_endpoint(port, keys, "server"),
                                   timeouts=SshTimeouts(ready=1.5, attempt=0.5),
                                   transcript=transcript, console_tail=lambda: tail)
        finally:
            for conn in accepted:
                conn.close()
    error = info.value
    assert error.timeout_name == "ssh ready"
    assert error.waited >= 1.5
    assert accepted, "the silent listener never saw a connection"
    message = str(error)
    assert "last: handshake:" in message and "banner" in message.lower()
    assert message.endswith("\n  transcript: %s" % transcript)
    assert "last console lines:\n    %s\n    %s" % tuple(tail) in message
    assert error.transcript == transcript and error.console_tail == tail


@pytest.mark.parametrize("trouble", ["panic", "exit"])
def test_trouble_during_a_silent_attempt_cuts_it_short(keys: dict[str, Path], trouble: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # A banner wait and attempt limit of a minute: only the cut can end the
    # attempt sooner.
    monkeypatch.setattr("harness.remote.ssh._FIRST_BANNER_WAIT", 60.0)
    connected = threading.Event()
    accepted: list[socket.socket] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        def hold_open() -> None:
            while True:
                try:
                    accepted.append(listener.accept()[0])
                except OSError:
                    return
                connected.set()

        threading.Thread(target=hold_open, daemon=True).start()
        # The guest fails only once the attempt is under way.
        problem = (lambda: "kernel panic: boom" if connected.is_set() else None) if trouble == "panic" else None
        alive = (lambda: not connected.is_set()) if trouble == "exit" else None
        started = time.monotonic()
        try:
            with pytest.raises(GuestError) as info:
                SshSession.connect(_endpoint(listener.getsockname()[1], keys, "server"),
                                   timeouts=SshTimeouts(ready=120.0, attempt=60.0),
                                   alive=alive, console_problem=problem)
        finally:
            for conn in accepted:
                conn.close()
    assert time.monotonic() - started < 30.0, "the silent attempt ran to its banner wait"
    assert len(accepted) == 1
    expected = ("kernel panic: boom (while waiting for SSH, last: handshake:" if trouble == "panic"
                else "the VM exited while waiting for SSH (last: handshake:")
    assert info.value.message.startswith(expected)
