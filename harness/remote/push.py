"""Push the tracing core's zip to a guest, once per content hash.

The guest file is named by the zip's SHA-256.  Only the install program
below writes that name, and it renames a file into place only after checking
its length and hash, so a file under the name holds that content: the check
before sending is a plain shell test of presence and size (no python3 start,
which costs a second or more under TCG), and a guest restored from a ready
state that already holds this core gets nothing.  A copy of the wrong size
(cut short by other means) is replaced.  The install runs as a small python3
program: python3 is there anyway (it runs the core) and behaves the same on
Linux, NetBSD and OpenBSD, where sha256sum, sha256 and cksum differ.

Beside the zip the install unpacks the core into ``tracecore-<sha>/`` and
compiles it there with the guest's own python3.  Started from that directory
the core loads cached bytecode instead of compiling every module from the zip
on each start: measured on the aarch64 guest under TCG, 2.1-2.3 s from hello
to EOF instead of 3.6-4.0 s.  The directory is renamed into place before the
zip, so a zip under its final name means both are complete.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import GuestError, HostError
from .ssh import ExecResult, shell_quote

REMOTE_DIR = "/var/tmp/trapline"

# POSIX sh: the file's size in bytes, or "absent".
_SIZE_COMMAND = 'if [ -f %s ]; then wc -c < %s; else echo absent; fi'

# Reads the zip from stdin and checks length and hash; unpacks and compiles
# it into a directory; renames the directory, then the zip, into place.
_INSTALL_SCRIPT = """\
import compileall, hashlib, io, os, shutil, sys, zipfile
dest, sha, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = sys.stdin.buffer.read()
if len(data) != size or hashlib.sha256(data).hexdigest() != sha:
    sys.stderr.write('received %d bytes with sha256 %s, expected %d bytes with %s\\n'
                     % (len(data), hashlib.sha256(data).hexdigest(), size, sha))
    sys.exit(4)
os.makedirs(os.path.dirname(dest), exist_ok=True)
unpacked = dest[:-len('.zip')]
tmp_dir = '%s.tmp%d' % (unpacked, os.getpid())
zipfile.ZipFile(io.BytesIO(data)).extractall(tmp_dir)
if not compileall.compile_dir(tmp_dir, quiet=1, ddir=unpacked):
    sys.exit(5)
if os.path.isdir(unpacked):
    shutil.rmtree(unpacked)
os.rename(tmp_dir, unpacked)
tmp = '%s.tmp%d' % (dest, os.getpid())
with open(tmp, 'wb') as f:
    f.write(data)
    f.flush()
    os.fsync(f.fileno())
os.chmod(tmp, 0o644)
os.replace(tmp, dest)
"""


class CommandRunner(Protocol):
    """What pushing needs from a session: run a command with stdin."""

    def exec(self, command: str, *, stdin: bytes | None = None, timeout: float | None = None) -> ExecResult: ...


@dataclass(frozen=True)
class PushResult:
    remote_path: str
    sha256: str
    skipped: bool  # the guest already held this exact content
    seconds: float


def remote_zip_path(sha256: str, remote_dir: str = REMOTE_DIR) -> str:
    return "%s/tracecore-%s.zip" % (remote_dir, sha256)


def remote_core_dir(remote_zip: str) -> str:
    """Where the install unpacked and compiled the zip at ``remote_zip``."""
    return remote_zip[: -len(".zip")]


def serve_command(remote_zip: str, python: str = "python3") -> str:
    """The shell command starting the core pushed to ``remote_zip``: from its
    compiled directory, or from the zip itself if the directory is gone."""
    directory = shell_quote([remote_core_dir(remote_zip)])
    return "if [ -f %s/__main__.py ]; then exec %s %s serve; else exec %s %s serve; fi" % (
        directory, python, directory, python, shell_quote([remote_zip]))


def remote_size(runner: CommandRunner, path: str, *, target: str | None = None) -> int | None:
    """The size of ``path`` on the guest, or None when there is no such file."""
    quoted = shell_quote([path])
    out = runner.exec(_SIZE_COMMAND % (quoted, quoted)).check(target=target).stdout.decode().strip()
    if out == "absent":
        return None
    try:
        return int(out)
    except ValueError:
        raise GuestError("cannot read the size of %s on the guest: %r" % (path, out), target=target) from None


def push_core(runner: CommandRunner, zip_path: Path, sha256: str, *, remote_dir: str = REMOTE_DIR,
              python: str = "python3", target: str | None = None) -> PushResult:
    """Make the guest hold ``zip_path`` at ``remote_zip_path(sha256)``."""
    started = time.monotonic()
    dest = remote_zip_path(sha256, remote_dir)
    data = zip_path.read_bytes()
    if remote_size(runner, dest, target=target) == len(data):
        return PushResult(dest, sha256, True, time.monotonic() - started)
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise HostError("%s has sha256 %s, not the %s it was built with" % (zip_path, actual, sha256),
                         target=target, hint="rebuild the zip (harness.tracecore_zip.build_zip)")
    runner.exec(shell_quote([python, "-c", _INSTALL_SCRIPT, dest, sha256, str(len(data))]),
                stdin=data).check(target=target)
    return PushResult(dest, sha256, False, time.monotonic() - started)
