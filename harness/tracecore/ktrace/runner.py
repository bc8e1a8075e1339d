"""Run a program under ktrace and return its decoded records.

``run_traced`` is what the RPC method ``ktrace.run`` calls.  The child turns
tracing on for itself between fork and exec (as ktrace(1) does), so the
trace begins with the ktrace call's return and the execve, and nothing of the
parent's work leaks in.  The trace file is a private temp file, removed
afterwards; the records come back decoded as JSON-able dicts.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from typing import Dict, Iterable, List, Optional, Union

from . import parser
from .binding import Ktrace, facility_mask
from .format import trace_to_dict

# Programs the RPC method may run, by name: the suite never sends a path.
KNOWN_PROGRAMS = ("ktrace_child",)

DEFAULT_TIMEOUT = 120.0
# GENIO of a Python child includes every module file it reads; the RPC reply
# keeps this many bytes of each data field (the full length rides along).
DEFAULT_DATA_LIMIT = 4096


def _package_root() -> str:
    """The sys.path entry holding the top-level core package (a dir or the zip)."""
    top = __name__.split(".")[0]
    module = sys.modules[top]
    where = list(getattr(module, "__path__", []))
    if not where:
        raise RuntimeError("cannot find where package %s lives" % top)
    return os.path.dirname(where[0])


def child_argv(args: Iterable[str]) -> List[str]:
    """argv that runs ``child.py`` with this interpreter, inside or outside the zip."""
    module = __name__.rsplit(".", 1)[0] + ".child"
    return [sys.executable, "-m", module, *list(args)]


def child_env() -> Dict[str, str]:
    env = dict(os.environ)
    root = _package_root()
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_traced(argv: List[str], *, facilities: Union[int, Iterable[str]], inherit: bool = True,
               version: Optional[int] = 2, timeout: float = DEFAULT_TIMEOUT,
               env: Optional[Dict[str, str]] = None, os_name: Optional[str] = None,
               data_limit: Optional[int] = None) -> Dict[str, object]:
    """ktrace a child running ``argv``; return its records and how it ended.

    Returns ``{"os", "byteorder", "size", "records", "stop_offset", "note",
    "exit_status", "stdout", "stderr", "argv"}``; ``exit_status`` is the
    returncode (negative: killed by that signal).  ``data_limit`` cuts
    long byte fields (see ``format.jsonable``).
    """
    tracer = Ktrace(os_name)
    mask = facility_mask(tracer.os, facilities)
    fd, trace_path = tempfile.mkstemp(prefix="trapline-ktrace-", suffix=".out")
    os.close(fd)
    # subprocess reports a failing preexec_fn without its errno; this pipe
    # carries the errno back so the caller sees the kernel's real answer.
    err_r, err_w = os.pipe()
    os.set_blocking(err_r, False)
    try:
        def start_tracing() -> None:
            # Runs in the child after fork, before exec: trace ourselves.
            try:
                tracer.set(trace_path, mask, os.getpid(), inherit=inherit, version=version)
            except OSError as exc:
                os.write(err_w, str(exc.errno or 0).encode("ascii"))
                raise

        try:
            proc = subprocess.run(
                argv, preexec_fn=start_tracing, capture_output=True, timeout=timeout,
                env=env, check=False,
            )
        except subprocess.SubprocessError as exc:
            os.close(err_w)
            err_w = -1
            try:
                code = os.read(err_r, 32).decode("ascii")
            except BlockingIOError:
                code = ""
            if code:
                raise OSError(int(code), "ktrace(%s, SET, %#x, child) failed before exec of %s: %s"
                              % (trace_path, mask, argv[0], os.strerror(int(code)))) from exc
            raise
        with open(trace_path, "rb") as fh:
            data = fh.read()
    finally:
        os.close(err_r)
        if err_w != -1:
            os.close(err_w)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(trace_path)
    trace = parser.parse(data, tracer.os, sys.byteorder)
    out = trace_to_dict(trace, data_limit)
    out.update({
        "argv": list(argv),
        "exit_status": proc.returncode,
        "stdout": proc.stdout.decode("utf-8", "backslashreplace"),
        "stderr": proc.stderr.decode("utf-8", "backslashreplace"),
    })
    return out


def rpc_ktrace_run(program: str, args: Optional[List[str]] = None, *,
                   facilities: Optional[List[str]] = None, timeout: float = DEFAULT_TIMEOUT,
                   version: Optional[int] = 2,
                   data_limit: Optional[int] = DEFAULT_DATA_LIMIT) -> Dict[str, object]:
    """The ``ktrace.run`` RPC method: run a known program traced.

    ``program`` names one of ``KNOWN_PROGRAMS``; ``args`` go to it;
    ``facilities`` are names as ``binding.facility_mask`` takes them
    (default: all); ``data_limit`` caps each returned byte field.
    """
    if program not in KNOWN_PROGRAMS:
        raise ValueError("unknown program %r for ktrace.run (known: %s)"
                         % (program, ", ".join(KNOWN_PROGRAMS)))
    argv = child_argv(args or [])
    return run_traced(argv, facilities=facilities or ["all"], timeout=timeout,
                      version=version, env=child_env(), data_limit=data_limit)
