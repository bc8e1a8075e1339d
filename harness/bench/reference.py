"""The C reference: ``reference.c`` built with the system ``cc`` at bench time.

The binary is cached under ``$XDG_CACHE_HOME/trapline/bench`` (else
``~/.cache/trapline/bench``), named by a hash of the source, the compiler
command and the compiler's version line, so an edit or a new compiler
rebuilds it and nothing else does.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Protocol

from ..errors import GuestError, HostError
from ..paths import cache_root
from .measure import Figure, Measurement, Unavailable

SOURCE = Path(__file__).resolve().with_name("reference.c")
CFLAGS = ("-O2", "-std=gnu11", "-Wall", "-Wextra")
WHATS = ("steps", "breakpoints")


def default_cache_dir() -> Path:
    return cache_root() / "bench"


def compiler() -> list[str]:
    """``$CC`` (split as a shell would) or ``cc``."""
    argv = shlex.split(os.environ.get("CC", "")) or ["cc"]
    if shutil.which(argv[0]) is None:
        raise HostError("no C compiler %r on PATH for the bench's C reference" % argv[0],
                        hint="install one (apt-get install gcc, as scripts/install-system-packages does) "
                        "or point CC at one")
    return argv


def build(cache_dir: Path | None = None, cc: list[str] | None = None) -> Path:
    """The reference binary, compiled now unless a cached one matches;
    ``cc`` (e.g. a cross compiler) instead of :func:`compiler`."""
    cc = cc or compiler()
    version = subprocess.run([*cc, "--version"], capture_output=True, text=True, check=False)
    source = SOURCE.read_bytes()
    key = hashlib.sha256(b"\0".join([source, " ".join([*cc, *CFLAGS]).encode(),
                                     version.stdout.split("\n", 1)[0].encode()])).hexdigest()[:16]
    directory = cache_dir or default_cache_dir()
    binary = directory / ("reference-%s" % key)
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    directory.mkdir(parents=True, exist_ok=True)
    # Compile beside the final name, then rename: a bench killed mid-build
    # leaves no half-written binary under the name the cache trusts.
    fd, partial = tempfile.mkstemp(prefix=".reference-", dir=directory)
    os.close(fd)
    argv = [*cc, *CFLAGS, "-o", partial, str(SOURCE)]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise HostError("the C reference did not compile (exit %d):\n%s"
                            % (result.returncode, result.stderr.strip()[-2000:]), argv=argv,
                            hint="the source is %s; CC selects another compiler" % SOURCE)
        os.replace(partial, binary)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return binary


def run(binary: Path, what: str, count: int, timeout: float = 600.0) -> Figure:
    """Run one part of the reference; its own clock times the loop."""
    if what not in WHATS:
        raise ValueError("what must be one of %s, not %r" % (", ".join(WHATS), what))
    if count <= 0:
        raise ValueError("count must be a positive number of operations, not %d" % count)
    argv = [str(binary), what, str(count)]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise HostError("the C reference took over %.0f s for %d %s" % (timeout, count, what),
                        argv=argv, hint="lower --count") from None
    if result.returncode != 0:
        raise HostError("the C reference failed (exit %d): %s"
                        % (result.returncode, result.stderr.strip()[-2000:]), argv=argv)
    try:
        return parse_reply(result.stdout, what, count)
    except ValueError as e:
        raise HostError(str(e), argv=argv) from None


def parse_reply(line: str, what: str, count: int) -> Figure:
    """One JSON line of the reference's output; ValueError if it is not
    the answer to ``what``/``count``."""
    try:
        reply = json.loads(line)
    except ValueError:
        raise ValueError("the C reference printed %r, not one JSON line" % line[:200]) from None
    if not isinstance(reply, dict) or reply.get("what") != what:
        raise ValueError("the C reference answered %r to %s %d" % (reply, what, count))
    if "unavailable" in reply:
        return Unavailable(str(reply["unavailable"]))
    if reply.get("count") != count or not isinstance(reply.get("seconds"), (int, float)):
        raise ValueError("the C reference answered %r to %s %d" % (reply, what, count))
    return Measurement(count, float(reply["seconds"]))


class CommandRunner(Protocol):
    """What :func:`measure_remote` needs of a guest: ``exec`` as
    :class:`harness.remote.ssh.SshSession` has it."""

    def exec(self, command: str, *, stdin: bytes | None = None,
             timeout: float | None = None) -> Any: ...


# In a private directory on the guest: build with the guest's own cc, or
# take a binary the host built; run both parts ROUNDS times; clean up.  The
# status is the first failure's.
_REMOTE_BUILD = ('d=$(mktemp -d) || exit 1; '
                 'cat > "$d/reference.c" && cc %(cflags)s -o "$d/reference" "$d/reference.c"')
_REMOTE_RECEIVE = 'd=$(mktemp -d) || exit 1; cat > "$d/reference" && chmod 700 "$d/reference"'
_REMOTE_ROUND = ' && "$d/reference" steps %(count)d && "$d/reference" breakpoints %(count)d'
_REMOTE_CLEANUP = '; s=$?; rm -rf "$d"; exit $s'


def measure_remote(runner: CommandRunner, count: int, *, rounds: int = 1, target: str,
                   binary: Path | None = None, timeout: float = 1800.0) -> list[dict[str, Figure]]:
    """Run the reference ``rounds`` times inside a (Linux) guest over
    ``runner``: compiled there once by the guest's cc, or, given ``binary``
    (built on the host for the guest's arch), sent and run as it is.  One
    figure dict per round."""
    if count <= 0 or rounds <= 0:
        raise ValueError("count and rounds must be positive, not %d and %d" % (count, rounds))
    values = {"cflags": " ".join(CFLAGS), "count": count}
    if binary is None:
        setup, payload = _REMOTE_BUILD % values, SOURCE.read_bytes()
        hint = "the guest image needs cc and libc headers (gcc, libc6-dev on Debian)"
    else:
        setup, payload = _REMOTE_RECEIVE, binary.read_bytes()
        hint = "%s was built on the host for this guest; check it runs there" % binary.name
    command = setup + _REMOTE_ROUND % values * rounds + _REMOTE_CLEANUP
    result = runner.exec(command, stdin=payload, timeout=timeout)
    stderr = result.stderr.decode(errors="replace").strip()
    if result.exit_status != 0:
        raise GuestError("the C reference failed on the guest (exit %d): %s"
                         % (result.exit_status, stderr[-2000:] or "(no stderr)"), target=target, hint=hint)
    lines = result.stdout.decode(errors="replace").splitlines()
    if len(lines) != len(WHATS) * rounds:
        raise GuestError("the C reference printed %r, not %d lines" % (lines, len(WHATS) * rounds),
                         target=target)
    try:
        return [{what: parse_reply(lines[n * len(WHATS) + i], what, count) for i, what in enumerate(WHATS)}
                for n in range(rounds)]
    except ValueError as e:
        raise GuestError(str(e), target=target) from None


def guest_has_cc(runner: CommandRunner) -> bool:
    return runner.exec("command -v cc >/dev/null 2>&1", timeout=60.0).exit_status == 0


def measure(count: int, cache_dir: Path | None = None) -> dict[str, Figure]:
    binary = build(cache_dir)
    return {what: run(binary, what, count) for what in WHATS}
