"""A traced child whose work is known exactly, for the ktrace suite.

In order, it:
  1. opens (creates) a uniquely named file        -> NAMEI path, open's SYSCALL/SYSRET and fd
  2. writes known bytes to it                     -> GENIO write with those bytes
  3. seeks back and reads them                     -> GENIO read with the same bytes
  4. closes and unlinks the file
  5. sends itself SIGUSR1 with a handler installed -> PSIG SIGUSR1, action = the C handler
  6. optionally clears its own trace (--clear-before-marker)
  7. writes a utrace marker                        -> USER "trapline" with known bytes
  8. prints one JSON line saying what it did (pid, path, fd, bytes, handler address
     or why sigaction(2) could not read it)
  9. optionally execs a program with known arguments -> EXEC_ARG / EXECARGS

Run as ``python3 -m <package>.ktrace.child [options]``; stdlib only, like the
rest of the core.  The JSON report is the suite's ground truth.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import signal
import sys
import uuid
from typing import Dict, List, Optional, Tuple

from .binding import Ktrace

MARKER_LABEL = "trapline"


def payload_for(tag: str) -> bytes:
    return ("trapline-ktrace payload %s\n" % tag).encode("ascii")


def marker_for(tag: str) -> bytes:
    return ("marker %s" % tag).encode("ascii")


def _installed_handler(signo: int) -> Tuple[Optional[int], Optional[str]]:
    """The handler address the kernel holds for ``signo`` (what PSIG reports as
    action), or None and why it could not be read.

    Python installs its own C trampoline; only sigaction(2) can say where it is.
    NetBSD's libc exports the current ABI as ``__sigaction14`` (``sigaction`` is
    the compat symbol); OpenBSD's is plain ``sigaction``.  Both structs start
    with the handler pointer.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        func = getattr(libc, "__sigaction14", None) if sys.platform.startswith("netbsd") else None
        if func is None:
            func = libc.sigaction
        buf = ctypes.create_string_buffer(256)
        if func(signo, None, buf) != 0:
            err = ctypes.get_errno()
            return None, "sigaction(%d, NULL, &old) failed: %s" % (signo, os.strerror(err) if err else "no errno")
        return ctypes.c_void_p.from_buffer(buf).value or 0, None
    except (OSError, AttributeError) as exc:
        return None, "cannot call sigaction(2) through ctypes: %s" % exc


def run(args: argparse.Namespace) -> Dict[str, object]:
    tag = args.tag or uuid.uuid4().hex[:12]
    pid = os.getpid()
    path = os.path.join(args.dir, "trapline-ktrace-%s-%d.dat" % (tag, pid))
    payload = payload_for(tag)
    report: Dict[str, object] = {"pid": pid, "tag": tag, "path": path, "payload_hex": payload.hex()}

    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    report["fd"] = fd
    report["written"] = os.write(fd, payload)
    os.lseek(fd, 0, os.SEEK_SET)
    back = os.read(fd, len(payload))
    report["read_hex"] = back.hex()
    os.close(fd)
    os.unlink(path)

    caught: List[int] = []
    signal.signal(signal.SIGUSR1, lambda signo, frame: caught.append(signo))
    report["signal"] = int(signal.SIGUSR1)
    report["handler"], report["handler_error"] = _installed_handler(int(signal.SIGUSR1))
    os.kill(pid, signal.SIGUSR1)
    # The Python-level handler runs between bytecodes; give it one.
    for _ in range(1000):
        if caught:
            break
    report["caught"] = bool(caught)

    if args.clear_before_marker:
        Ktrace().clear(["all"], pid)
        report["cleared"] = True

    marker = marker_for(tag)
    report["marker_label"] = MARKER_LABEL
    report["marker_hex"] = marker.hex()
    try:
        Ktrace().utrace(MARKER_LABEL, marker)
        report["marker_written"] = True
    except OSError as exc:
        report["marker_written"] = False
        report["marker_error"] = str(exc)

    report["exec"] = list(args.exec) if args.exec else None
    return report


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="ktrace-child", description=__doc__.split("\n")[0])
    parser.add_argument("--dir", default=os.environ.get("TMPDIR", "/tmp"), help="where to create the file")
    parser.add_argument("--tag", default=None, help="unique tag for the file name and the bytes")
    parser.add_argument("--clear-before-marker", action="store_true",
                        help="clear this process's ktrace before writing the utrace marker")
    parser.add_argument("--exec", nargs=argparse.REMAINDER, default=None,
                        help="program and arguments to exec last (must come last)")
    args = parser.parse_args(argv)
    report = run(args)
    sys.stdout.write(json.dumps(report, sort_keys=True) + "\n")
    sys.stdout.flush()
    if args.exec:
        os.execv(args.exec[0], list(args.exec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
