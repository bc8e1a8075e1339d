"""``harness boot --firmware sparc64``: the console is wired to the terminal
and Ctrl-] shuts the VM down."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.guest

_RUN_BOOT = (
    "import argparse, sys; from harness.cli import boot; p = argparse.ArgumentParser(); "
    "boot.register(p.add_subparsers()); a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))"
)


def _read_until(proc: subprocess.Popen, needle: bytes, seconds: float) -> bytes:
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + seconds
    while needle not in seen:
        left = deadline - time.monotonic()
        assert left > 0, "never saw %r; got %r" % (needle, seen[-400:])
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            assert chunk, "output ended before %r; got %r" % (needle, seen[-400:])
            seen += chunk
    return seen


def test_boot_firmware_attaches_the_console_and_ctrl_bracket_quits(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _RUN_BOOT, "boot", "--firmware", "sparc64", "--accel", "tcg",
         "--workdir", str(tmp_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert proc.stdin is not None
    try:
        _read_until(proc, b"0 > ", 60)
        proc.stdin.write(b"6 7 * .\r")
        proc.stdin.flush()
        _read_until(proc, b"2a  ok", 30)
        proc.stdin.write(b"\x1d")
        proc.stdin.flush()
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert b"firmware-sparc64 shut down; transcript" in stderr
    transcripts = list(tmp_path.glob("firmware-sparc64-*/console.log"))
    assert len(transcripts) == 1
    assert b"6 7 * . 2a  ok" in transcripts[0].read_bytes()
