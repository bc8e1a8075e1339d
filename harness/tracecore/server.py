"""``python3 -m tracecore serve``: the tracer behind a JSON-lines protocol.

The first line out is a hello: ``{"hello": {"protocol": N, "os": ..., ...}}``.
Then each request line ``{"id": ID, "method": NAME, "params": {...}}`` gets
exactly one reply line, ``{"id": ID, "result": ...}`` or ``{"id": ID,
"error": {"type": ..., "errno": NAME|null, "errno_value": N|null,
"message": ...}}``.  Bytes travel as hex strings.  A malformed line, an
unknown method or a dead tracee gives an error reply and the server keeps
serving; EOF on input kills and reaps every tracee still held, then exits 0.
"""

from __future__ import annotations

import contextlib
import errno
import inspect
import json
import os
import platform
import select
import signal
import sys
import tempfile
import time
from typing import IO, Any, Callable, Dict, List, Optional, Sequence

from . import PROTOCOL_VERSION, snippets, tracees
from . import abi as abi_tables
from .backends.base import ShortTransfer
from .tracer import Tracer, TracerError, WaitTimeout

METHODS: Dict[str, Callable[..., Any]] = {}


def method(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        METHODS[name] = fn
        return fn
    return register


class BadRequest(Exception):
    """The request itself is wrong: its shape, a parameter, a name."""


def launcher() -> List[str]:
    """The argv prefix that runs this core again, for tracee programs: the
    zip when we run from one, else ``-m tracecore`` on our own path."""
    pkg_dir = os.path.dirname(os.path.abspath(__file__))
    container = os.path.dirname(pkg_dir)
    if os.path.isfile(container):  # running from tracecore.zip
        return [sys.executable, container]
    return [sys.executable, "-c",
            "import sys; sys.path.insert(0, %r); from tracecore.__main__ import main; sys.exit(main())"
            % container]


def platform_facts() -> Dict[str, Any]:
    uname = os.uname()
    table = abi_tables.for_host()
    return {
        "protocol": PROTOCOL_VERSION,
        "os": abi_tables.host_os(),
        "release": uname.release,
        "version": uname.version,
        "machine": uname.machine,
        "arch": table.arch,
        "byteorder": table.byteorder,
        "abi": table.key,
        "python": platform.python_version(),
        "pid": os.getpid(),
        "uid": os.getuid(),
        "hardware_step": table.hardware_step,
        "page_size": os.sysconf("SC_PAGE_SIZE"),
    }


class _ReportPipe:
    """The read end of a tracee's report pipe, split into JSON lines."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def next(self, timeout: float) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout("no report line within %.1f s" % timeout)
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise EOFError("the tracee closed its report pipe")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def close(self) -> None:
        os.close(self.fd)


class Session:
    """The state one server connection holds: the tracer and its tracees'
    report pipes and output files."""

    def __init__(self, tracer: Optional[Tracer] = None) -> None:
        # The running kernel's release: NetBSD 9 and 10 differ in requests
        # (PT_LWPINFO against PT_LWPNEXT) and the backend picks by it.
        self.tracer = tracer if tracer is not None else Tracer(release=os.uname().release)
        self.reports: Dict[int, _ReportPipe] = {}
        self.outputs: Dict[int, str] = {}
        self.ready: Dict[int, Dict[str, Any]] = {}
        self.untraced: Dict[int, int] = {}
        self.workdir = tempfile.mkdtemp(prefix="tracecore-")

    def close(self) -> None:
        self.tracer.close()
        for pid in list(self.untraced):
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        for pipe in self.reports.values():
            pipe.close()

    def program_argv(self, program: str, args: List[str]) -> List[str]:
        if program not in tracees.PROGRAMS:
            raise BadRequest("no tracee program %r (have: %s)" % (program, ", ".join(sorted(tracees.PROGRAMS))))
        return launcher() + ["tracee", program] + [str(a) for a in args]

    def start_child(self, argv: List[str], traced: bool, **spawn_args: Any):
        """Start argv with a report pipe and an output file; returns
        (pid, exec event or None)."""
        read_fd, write_fd = os.pipe()
        out_path = os.path.join(self.workdir, "out-%d-%d" % (len(self.outputs), time.monotonic_ns()))
        env = dict(os.environ)
        env[tracees.REPORT_FD_ENV] = str(write_fd)
        out_fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            if traced:
                event = self.tracer.spawn(argv, env=env, pass_fds=(write_fd,), stdio_fd=out_fd, **spawn_args)
                pid = event.pid
            else:
                pid, event = _spawn_plain(argv, env, write_fd, out_fd), None
                self.untraced[pid] = pid
        finally:
            os.close(write_fd)
            os.close(out_fd)
        self.reports[pid] = _ReportPipe(read_fd)
        self.outputs[pid] = out_path
        return pid, event


def _spawn_plain(argv: List[str], env: Dict[str, str], report_fd: int, out_fd: int) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            os.set_inheritable(report_fd, True)
            os.dup2(out_fd, 1)
            os.dup2(out_fd, 2)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    return pid


def _hex(data: bytes) -> str:
    return data.hex()


def _jsonable(value: Any) -> Any:
    """``value`` with every ``bytes`` as a hex string, for the JSON reply.

    Structs decode byte-array members (vector registers, char arrays) to
    bytes; JSON has no bytes type, and a reply that fails to encode would
    end the session rather than just the request.
    """
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _event(e) -> Dict[str, Any]:
    return e.to_dict()


# -- methods -------------------------------------------------------------------------
@method("hello")
def m_hello(s: Session) -> Dict[str, Any]:
    return platform_facts()


@method("ping")
def m_ping(s: Session) -> str:
    return "pong"


@method("abi.describe")
def m_abi_describe(s: Session) -> Dict[str, Any]:
    a = s.tracer.abi
    return {
        "os": a.os, "arch": a.arch, "byteorder": a.byteorder, "pointer_size": a.pointer_size,
        "sources": list(a.sources),
        "registers": [{"name": f.name, "offset": f.offset, "size": f.size, "count": f.count}
                      for f in a.regs.layout],
        "regs_struct": a.regs.layout.c_name, "regs_size": a.regs.layout.size,
        "roles": {"pc": a.roles.pc, "sp": a.roles.sp, "retval": a.roles.retval, "fp": a.roles.fp,
                  "npc": a.roles.npc, "syscall_nr": a.roles.syscall_nr, "args": list(a.roles.args)},
        "breakpoint": {"insn": _hex(a.breakpoint.insn), "pc_adjust": a.breakpoint.pc_adjust,
                       "si_code": a.breakpoint.si_code, "source": a.breakpoint.source},
        "hardware_step": a.hardware_step,
        "constants": {name: value for group in a.constant_groups() for name, value in group.values.items()},
        "events": sorted(s.tracer.backend.supported_events),
    }


@method("tracee.spawn")
def m_spawn(s: Session, program: Optional[str] = None, args: Optional[List[str]] = None,
            argv: Optional[List[str]] = None, events: Optional[List[str]] = None,
            stop_at: str = "ready", stop_before_exec: bool = True, timeout: float = 30.0) -> Dict[str, Any]:
    """Start a traced child.  ``stop_at="exec"`` returns at the exec stop;
    ``"ready"`` (tracee programs only) runs on to the program's ready point
    and returns the facts it reported there."""
    if (program is None) == (argv is None):
        raise BadRequest("give exactly one of program (a tracee program name) or argv")
    if stop_at not in ("exec", "ready"):
        raise BadRequest("stop_at must be 'exec' or 'ready', not %r" % stop_at)
    if argv is None:
        argv = s.program_argv(program, list(args or []))  # type: ignore[arg-type]
    elif stop_at == "ready":
        raise BadRequest("stop_at='ready' needs a tracee program; use stop_at='exec' with argv")
    wanted = ["exec"] if events is None else list(events)
    pid, exec_event = s.start_child(argv, traced=True, events=wanted,
                                    stop_before_exec=stop_before_exec, timeout=timeout)
    result: Dict[str, Any] = {"pid": pid, "exec_event": _event(exec_event)}
    if stop_at == "ready":
        s.tracer.cont(pid)
        stop = s.tracer.wait(pid, timeout=timeout)
        if stop.kind != "stopped" or stop.signal != "SIGSTOP":
            raise TracerError("tracee %d did not reach its ready point: %r (output: %s)"
                              % (pid, stop.to_dict(), _tail(s, pid)))
        result["event"] = _event(stop)
        result["ready"] = s.ready[pid] = s.reports[pid].next(timeout)["ready"]
    return result


@method("tracee.start_untraced")
def m_start_untraced(s: Session, program: str, args: Optional[List[str]] = None,
                     timeout: float = 30.0) -> Dict[str, Any]:
    argv = s.program_argv(program, list(args or []))
    pid, _ = s.start_child(argv, traced=False)
    return {"pid": pid, "ready": s.reports[pid].next(timeout)["ready"]}


@method("tracee.list")
def m_list(s: Session) -> List[int]:
    """Every pid the tracer holds, forked children and threads included."""
    return sorted(s.tracer.tracees)


@method("tracee.report")
def m_report(s: Session, pid: int, timeout: float = 30.0) -> Dict[str, Any]:
    try:
        return s.reports[pid].next(timeout)
    except KeyError:
        raise BadRequest("pid %d has no report pipe" % pid) from None


@method("tracee.output")
def m_output(s: Session, pid: int) -> str:
    return _tail(s, pid, limit=1 << 20)


def _tail(s: Session, pid: int, limit: int = 2000) -> str:
    path = s.outputs.get(pid)
    if path is None:
        return ""
    with open(path, "rb") as f:
        return f.read()[-limit:].decode(errors="replace")


@method("process.signal")
def m_signal(s: Session, pid: int, signal: str) -> None:
    os.kill(pid, s.tracer.abi.signals[signal])


@method("process.reap_untraced")
def m_reap_untraced(s: Session, pid: int) -> Dict[str, Any]:
    """Kill and reap an untraced helper child."""
    if pid not in s.untraced:
        raise BadRequest("pid %d is not an untraced child of this server" % pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    del s.untraced[pid]
    return {"status": status}


@method("ptrace.attach")
def m_attach(s: Session, pid: int, timeout: float = 30.0) -> Dict[str, Any]:
    return _event(s.tracer.attach(pid, timeout=timeout))


@method("ptrace.attach_raw")
def m_attach_raw(s: Session, pid: int) -> None:
    """One bare attach request, no wait: for error-semantics tests."""
    s.tracer.backend.attach(pid)


@method("ptrace.attach_as")
def m_attach_as(s: Session, pid: int, uid: int, gid: int) -> Dict[str, Any]:
    """Try PT_ATTACH to ``pid`` from a child running as ``uid``/``gid``;
    return the errno name it got (``null`` if the attach worked)."""
    read_fd, write_fd = os.pipe()
    child = os.fork()
    if child == 0:
        code = 0
        try:
            os.close(read_fd)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            s.tracer.backend.attach(pid)
        except OSError as e:
            code = e.errno or 255
        finally:
            os.write(write_fd, str(code).encode())
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        code = int(f.read() or b"255")
    os.waitpid(child, 0)
    return {"errno": errno.errorcode.get(code) if code else None, "errno_value": code or None}


@method("ptrace.detach")
def m_detach(s: Session, pid: int, signal: Optional[str] = None) -> None:
    s.tracer.detach(pid, s.tracer.abi.signals[signal] if signal else 0)


def _signo(s: Session, signal: Optional[str]) -> int:
    return s.tracer.abi.signals[signal] if signal else 0


@method("ptrace.cont")
def m_cont(s: Session, pid: int, signal: Optional[str] = None) -> None:
    s.tracer.cont(pid, _signo(s, signal))


@method("ptrace.syscall")
def m_syscall(s: Session, pid: int, signal: Optional[str] = None) -> None:
    s.tracer.syscall(pid, _signo(s, signal))


@method("ptrace.step")
def m_step(s: Session, pid: int, signal: Optional[str] = None, timeout: float = 30.0) -> Dict[str, Any]:
    return _event(s.tracer.step(pid, _signo(s, signal), timeout=timeout))


@method("ptrace.kill")
def m_kill(s: Session, pid: int, timeout: float = 30.0) -> Dict[str, Any]:
    return _event(s.tracer.kill(pid, timeout=timeout))


@method("ptrace.set_events")
def m_set_events(s: Session, pid: int, events: List[str]) -> None:
    s.tracer.set_events(pid, events)


@method("wait")
def m_wait(s: Session, pid: int = -1, timeout: float = 30.0) -> Dict[str, Any]:
    return _event(s.tracer.wait(pid, timeout=timeout))


@method("regs.get")
def m_regs_get(s: Session, pid: int) -> Dict[str, Any]:
    return s.tracer.regs(pid)


@method("regs.set")
def m_regs_set(s: Session, pid: int, values: Dict[str, int]) -> None:
    names = set(s.tracer.abi.regs.layout.names())
    unknown = sorted(set(values) - names)
    if unknown:
        raise BadRequest("no register %s in %s" % (", ".join(unknown), s.tracer.abi.regs.layout.c_name))
    s.tracer.set_regs(pid, values)


@method("regs.pc")
def m_pc(s: Session, pid: int) -> int:
    return s.tracer.pc(pid)


@method("regs.set_pc")
def m_set_pc(s: Session, pid: int, value: int) -> None:
    s.tracer.set_pc(pid, value)


@method("fpregs.get")
def m_fpregs(s: Session, pid: int) -> Dict[str, Any]:
    return s.tracer.fpregs(pid)


@method("mem.read")
def m_read(s: Session, pid: int, addr: int, size: int) -> str:
    return _hex(s.tracer.read(pid, addr, size))


@method("mem.write")
def m_write(s: Session, pid: int, addr: int, data: str) -> None:
    s.tracer.write(pid, addr, bytes.fromhex(data))


@method("mem.peek")
def m_peek(s: Session, pid: int, addr: int) -> Dict[str, Any]:
    """One PT_READ_D / PTRACE_PEEKDATA: the value and how many bytes it spans."""
    return {"value": s.tracer.read_word(pid, addr), "size": s.tracer.backend.word_size,
            "request": s.tracer.backend.word_requests[0]}


@method("mem.poke")
def m_poke(s: Session, pid: int, addr: int, value: int) -> Dict[str, Any]:
    """One PT_WRITE_D / PTRACE_POKEDATA of ``value``."""
    try:
        s.tracer.write_word(pid, addr, value)
    except ValueError as e:
        raise BadRequest(str(e)) from None
    return {"size": s.tracer.backend.word_size, "request": s.tracer.backend.word_requests[1]}


@method("bp.insert")
def m_bp_insert(s: Session, pid: int, addr: int) -> None:
    s.tracer.insert_breakpoint(pid, addr)


@method("bp.remove")
def m_bp_remove(s: Session, pid: int, addr: int) -> None:
    s.tracer.remove_breakpoint(pid, addr)


@method("bp.list")
def m_bp_list(s: Session, pid: int) -> List[int]:
    return s.tracer.breakpoints(pid)


@method("snippet.load")
def m_snippet_load(s: Session, pid: int, name: str) -> Dict[str, Any]:
    """Write a snippet at the tracee's code page and point the PC at it."""
    ready = s.ready.get(pid)
    if ready is None:
        raise BadRequest("pid %d was not started as a tracee program: no code page" % pid)
    snippet = snippets.get(s.tracer.abi.arch, name, os_name=s.tracer.abi.os)
    addr = int(ready["code"])
    s.tracer.write(pid, addr, snippet.code)
    s.tracer.set_pc(pid, addr)
    starts, at = [], addr
    for _, encoded in snippet.lines:
        starts.append(at)
        at += len(encoded)
    return {"addr": addr, "trap_addr": addr + snippet.trap_offset, "expect": snippet.expect,
            "size": len(snippet.code), "assembly": snippet.assembly, "instructions": starts,
            "path": [starts[i] for i in snippet.path]}


@method("ktrace.run")
def m_ktrace_run(s: Session, program: str, args: Optional[List[str]] = None,
                 facilities: Optional[List[str]] = None, timeout: float = 120.0,
                 version: Optional[int] = 2, data_limit: Optional[int] = 4096) -> Dict[str, Any]:
    """ktrace a known-work child and return its decoded records."""
    from .ktrace.runner import rpc_ktrace_run
    return rpc_ktrace_run(program, args, facilities=facilities, timeout=timeout,
                          version=version, data_limit=data_limit)


@method("bench.steps")
def m_bench_steps(s: Session, pid: int, count: int) -> Dict[str, Any]:
    """Single-step ``count`` times inside the server: the in-process rate."""
    start = time.perf_counter()
    for _ in range(count):
        s.tracer.step(pid, timeout=None)
    return {"count": count, "seconds": time.perf_counter() - start}


# -- bench methods --
# Loops timed inside the core (harness/bench), so a rate excludes the RPC.
@method("bench.breakpoint_hits")
def m_bench_breakpoint_hits(s: Session, pid: int, addr: int, count: int,
                            timeout: float = 30.0) -> Dict[str, Any]:
    """Continue onto the armed breakpoint at ``addr`` ``count`` times."""
    if addr not in s.tracer.breakpoints(pid):
        raise BadRequest("no breakpoint armed at 0x%x in tracee %d; bp.insert it first" % (addr, pid))
    start = time.perf_counter()
    for hit in range(count):
        s.tracer.cont(pid)
        event = s.tracer.wait(pid, timeout=timeout)
        if event.event != "breakpoint" or event.breakpoint != addr:
            raise TracerError("continue %d stopped with %r, not at the breakpoint 0x%x"
                              % (hit + 1, event.to_dict(), addr))
    return {"count": count, "seconds": time.perf_counter() - start}


# -- selfcheck methods --
# The ABI self-check (tracecore.selfcheck): this system's headers against the
# table the core uses, compiled here, or compiled by the host and run here.
@method("selfcheck.run")
def m_selfcheck_run(s: Session, release: Optional[str] = None, cc: Optional[str] = None,
                    timeout: float = 600.0) -> Dict[str, Any]:
    """Generate, compile and run the probe here and compare.  Without a
    working compiler: ``{"available": false, "reason": ...}``."""
    from . import selfcheck
    try:
        report = selfcheck.check(s.tracer.abi, release if release is not None else os.uname().release,
                                 cc=cc, timeout=timeout)
    except selfcheck.SelfCheckUnavailable as e:
        return {"available": False, "reason": str(e)}
    report["available"] = True
    return report


@method("selfcheck.run_probe")
def m_selfcheck_run_probe(s: Session, binary: str, timeout: float = 120.0) -> str:
    """Run a probe binary the host cross-compiled (hex); return its output."""
    from . import selfcheck
    try:
        data = bytes.fromhex(binary)
    except ValueError:
        raise BadRequest("binary must be the probe's bytes as hex") from None
    fd, path = tempfile.mkstemp(prefix="abi-probe-", dir=s.workdir)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    try:
        os.chmod(path, 0o700)
        return selfcheck.run_binary(path, timeout=timeout)
    finally:
        os.unlink(path)


# -- OS-specific ptrace requests --
# NetBSD's and OpenBSD's extras, each a thin call into the backend through
# Tracer.os_request.  A target whose OS, arch or release table lacks one gets
# a NotImplementedError naming the OS and the request, never an
# AttributeError or a KeyError from inside the core.
def _offered(s: Session, method_name: str, backend_method: str, requests: Sequence[str], owner: str) -> None:
    """Refuse ``method_name`` clearly unless the backend has ``backend_method``
    and the table has each request (``"A|B"``: either will do)."""
    abi = s.tracer.abi
    where = "%s %s%s" % (abi.os, abi.arch, " %s" % s.tracer.release if s.tracer.release else "")
    wanted = " and ".join(r.replace("|", " or ") for r in requests)
    if not callable(getattr(s.tracer.backend, backend_method, None)):
        raise NotImplementedError("%s: %s ptrace has no %s (%s only; this target: %s)"
                                  % (method_name, abi.os, wanted, owner, where))
    missing = [r.replace("|", " or ") for r in requests
               if not any(abi.has_request(alt, s.tracer.release) for alt in r.split("|"))]
    if missing:
        raise NotImplementedError("%s: the %s table has no %s (this target: %s)"
                                  % (method_name, abi.key, " and ".join(missing), where))


def _check_fields(s: Session, struct_key: str, values: Dict[str, Any]) -> None:
    layout = s.tracer.abi.structs.get(struct_key)
    if layout is None:
        raise NotImplementedError("the %s table has no %s layout" % (s.tracer.abi.key, struct_key))
    unknown = sorted(set(values) - set(layout.names()))
    if unknown:
        raise BadRequest("no member %s in %s (members: %s)" % (", ".join(unknown), layout.c_name,
                                                                ", ".join(layout.names())))


def _signal_numbers(s: Session, names: List[str]) -> List[int]:
    signals = s.tracer.abi.signals
    unknown = [n for n in names if n not in signals]
    if unknown:
        raise BadRequest("no signal %s on %s (have: %s)" % (", ".join(unknown), s.tracer.abi.os,
                                                             ", ".join(sorted(signals.values))))
    return [signals[n] for n in names]


@method("lwp.list")
def m_lwp_list(s: Session, pid: int) -> List[Dict[str, Any]]:
    """Every LWP of a stopped tracee (PT_LWPNEXT on NetBSD 10, PT_LWPINFO on 9)."""
    _offered(s, "lwp.list", "lwps", ["PT_LWPNEXT|PT_LWPINFO"], "NetBSD")
    return s.tracer.os_request(pid, "lwps")  # type: ignore[return-value]


@method("lwp.status")
def m_lwp_status(s: Session, pid: int, lwp: int) -> Dict[str, Any]:
    """PT_LWPSTATUS of one LWP: its pending and blocked signals, name, TLS base."""
    _offered(s, "lwp.status", "lwp_status", ["PT_LWPSTATUS"], "NetBSD")
    return s.tracer.os_request(pid, "lwp_status", lwp)  # type: ignore[return-value]


@method("lwp.suspend")
def m_lwp_suspend(s: Session, pid: int, lwp: int) -> None:
    """PT_SUSPEND: ``lwp`` stays stopped when the process is next resumed."""
    _offered(s, "lwp.suspend", "suspend_lwp", ["PT_SUSPEND"], "NetBSD")
    s.tracer.os_request(pid, "suspend_lwp", lwp)


@method("lwp.resume")
def m_lwp_resume(s: Session, pid: int, lwp: int) -> None:
    """PT_RESUME: undo PT_SUSPEND; the process itself stays stopped."""
    _offered(s, "lwp.resume", "unsuspend_lwp", ["PT_RESUME"], "NetBSD")
    s.tracer.os_request(pid, "unsuspend_lwp", lwp)


@method("lwp.cont")
def m_lwp_cont(s: Session, pid: int, lwp: int, how: str = "cont") -> None:
    """Run only LWP ``lwp`` (PT_CONTINUE/PT_STEP/PT_SYSCALL with data -lwp)."""
    if how not in ("cont", "step", "syscall"):
        raise BadRequest("how must be cont, step or syscall, not %r" % how)
    request = {"cont": "PT_CONTINUE", "step": "PT_STEP", "syscall": "PT_SYSCALL"}[how]
    _offered(s, "lwp.cont", "resume_lwp", [request], "NetBSD")
    s.tracer.resume_lwp(pid, lwp, how)


@method("proc.stop")
def m_proc_stop(s: Session, pid: int) -> None:
    """PT_STOP a running tracee; its stop (SIGSTOP) comes to the next wait."""
    _offered(s, "proc.stop", "stop", ["PT_STOP"], "NetBSD")
    s.tracer.os_request(pid, "stop", stopped=False)


@method("ptrace.syscall_emu")
def m_syscall_emu(s: Session, pid: int) -> None:
    """PT_SYSCALLEMU at a syscall-entry stop: the kernel skips the call."""
    _offered(s, "ptrace.syscall_emu", "syscall_emu", ["PT_SYSCALLEMU"], "NetBSD")
    s.tracer.os_request(pid, "syscall_emu")


@method("sigpass.set")
def m_sigpass_set(s: Session, pid: int, signals: List[str]) -> None:
    """PT_SET_SIGPASS: these signals reach the tracee without a stop."""
    _offered(s, "sigpass.set", "set_sigpass", ["PT_SET_SIGPASS"], "NetBSD")
    s.tracer.os_request(pid, "set_sigpass", _signal_numbers(s, list(signals)))


@method("sigpass.get")
def m_sigpass_get(s: Session, pid: int) -> List[str]:
    """PT_GET_SIGPASS, as signal names (a number where the table has no name)."""
    _offered(s, "sigpass.get", "get_sigpass", ["PT_GET_SIGPASS"], "NetBSD")
    names = {v: k for k, v in s.tracer.abi.signals.values.items()}
    numbers = s.tracer.os_request(pid, "get_sigpass")
    return [names.get(n, str(n)) for n in numbers]  # type: ignore[attr-defined]


@method("step.set")
def m_step_set(s: Session, pid: int, lwp: int) -> None:
    """PT_SETSTEP: every later PT_CONTINUE of ``lwp`` steps one instruction."""
    _offered(s, "step.set", "set_step", ["PT_SETSTEP"], "NetBSD")
    s.tracer.os_request(pid, "set_step", lwp)


@method("step.clear")
def m_step_clear(s: Session, pid: int, lwp: int) -> None:
    _offered(s, "step.clear", "clear_step", ["PT_CLEARSTEP"], "NetBSD")
    s.tracer.os_request(pid, "clear_step", lwp)


@method("dbregs.get")
def m_dbregs_get(s: Session, pid: int) -> Dict[str, Any]:
    """PT_GETDBREGS (x86): the debug registers of the LWP that stopped."""
    _offered(s, "dbregs.get", "get_dbregs", ["PT_GETDBREGS"], "NetBSD x86")
    return s.tracer.os_request(pid, "get_dbregs")  # type: ignore[return-value]


@method("dbregs.set")
def m_dbregs_set(s: Session, pid: int, values: Dict[str, Any]) -> None:
    """PT_SETDBREGS: change the named members, keep the rest as they are."""
    _offered(s, "dbregs.set", "set_dbregs", ["PT_GETDBREGS", "PT_SETDBREGS"], "NetBSD x86")
    _check_fields(s, "dbreg", values)
    s.tracer.os_request(pid, "set_dbregs", dict(values))


@method("siginfo.get")
def m_siginfo_get(s: Session, pid: int) -> Dict[str, Any]:
    """PT_GET_SIGINFO: the siginfo of the signal the tracee stopped with."""
    _offered(s, "siginfo.get", "get_siginfo", ["PT_GET_SIGINFO"], "NetBSD")
    return s.tracer.os_request(pid, "get_siginfo")  # type: ignore[return-value]


@method("siginfo.set")
def m_siginfo_set(s: Session, pid: int, values: Dict[str, Any]) -> None:
    """PT_SET_SIGINFO: change the named members (si_signo, si_code, ...); the
    next continue delivers that siginfo."""
    _offered(s, "siginfo.set", "set_siginfo", ["PT_GET_SIGINFO", "PT_SET_SIGINFO"], "NetBSD")
    _check_fields(s, "ptrace_siginfo", values)
    s.tracer.os_request(pid, "set_siginfo", dict(values))


@method("threads.list")
def m_threads_list(s: Session, pid: int) -> List[int]:
    """Thread ids (THREAD_PID_OFFSET included) by PT_GET_THREAD_FIRST/NEXT."""
    _offered(s, "threads.list", "threads", ["PT_GET_THREAD_FIRST", "PT_GET_THREAD_NEXT"], "OpenBSD")
    return s.tracer.os_request(pid, "threads")  # type: ignore[return-value]


@method("wcookie.get")
def m_wcookie_get(s: Session, pid: int) -> int:
    """PT_WCOOKIE (OpenBSD sparc64): the cookie the kernel XORs into saved
    register-window return addresses."""
    _offered(s, "wcookie.get", "wcookie", ["PT_WCOOKIE"], "OpenBSD sparc64")
    return s.tracer.os_request(pid, "wcookie")  # type: ignore[return-value]


@method("pacmask.get")
def m_pacmask_get(s: Session, pid: int) -> Dict[str, int]:
    """PT_PACMASK (OpenBSD arm64): the pointer-authentication masks."""
    _offered(s, "pacmask.get", "pacmask", ["PT_PACMASK"], "OpenBSD arm64")
    data_mask, insn_mask = s.tracer.os_request(pid, "pacmask")  # type: ignore[misc]
    return {"data_mask": data_mask, "insn_mask": insn_mask}


@method("xstate.info")
def m_xstate_info(s: Session, pid: int) -> Dict[str, Any]:
    """PT_GETXSTATE_INFO (OpenBSD amd64, 7.7 on): XSAVE feature mask and size."""
    _offered(s, "xstate.info", "xstate_info", ["PT_GETXSTATE_INFO"], "OpenBSD amd64")
    return s.tracer.os_request(pid, "xstate_info")  # type: ignore[return-value]


@method("xstate.get")
def m_xstate_get(s: Session, pid: int) -> str:
    """PT_GETXSTATE: the whole XSAVE area, hex."""
    _offered(s, "xstate.get", "get_xstate", ["PT_GETXSTATE_INFO", "PT_GETXSTATE"], "OpenBSD amd64")
    return s.tracer.os_request(pid, "get_xstate").hex()  # type: ignore[attr-defined]


# -- the loop ---------------------------------------------------------------------------
# Linux names errno 35 EDEADLOCK (its alias, defined last); the BSDs have only
# EDEADLK.  A name must mean the same on every target, so the POSIX one wins.
_ERRNO_ALIASES = {"EDEADLOCK": "EDEADLK"}


def _errno_name(err: int) -> Optional[str]:
    name = errno.errorcode.get(err)
    return _ERRNO_ALIASES.get(name, name) if name is not None else None


def _error(exc: BaseException) -> Dict[str, Any]:
    err = getattr(exc, "errno", None) if isinstance(exc, OSError) else None
    reply: Dict[str, Any] = {
        "type": type(exc).__name__,
        "errno": _errno_name(err) if err else None,
        "errno_value": err,
        "message": str(exc),
    }
    if isinstance(exc, ShortTransfer):
        # What did move is part of the answer, not lost in the message.
        reply["transferred"] = exc.transferred
        reply["data"] = _hex(exc.data)
    return reply


def handle(session: Session, line: bytes) -> Dict[str, Any]:
    """One request line in, one reply dict out; never raises."""
    request_id = None
    try:
        try:
            request = json.loads(line)
        except ValueError as e:
            raise BadRequest("not JSON: %s" % e) from None
        if not isinstance(request, dict):
            raise BadRequest("a request is a JSON object, got %s" % type(request).__name__)
        request_id = request.get("id")
        name = request.get("method")
        params = request.get("params") or {}
        if not isinstance(params, dict):
            raise BadRequest("params must be an object")
        fn = METHODS.get(name)  # type: ignore[arg-type]
        if fn is None:
            return {"id": request_id, "error": {"type": "UnknownMethod", "errno": None, "errno_value": None,
                                                "message": "no method %r" % (name,)}}
        try:
            inspect.signature(fn).bind(session, **params)
        except TypeError as e:
            raise BadRequest("%s: %s" % (name, e)) from None
        result = fn(session, **params)
        return {"id": request_id, "result": _jsonable(result)}
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:
        return {"id": request_id, "error": _error(e)}


def serve(stdin: Optional[IO[bytes]] = None, stdout: Optional[IO[bytes]] = None) -> int:
    # Keep the protocol on private descriptors and give fds 0 and 1 to
    # /dev/null and stderr, so no child can read our requests or write
    # into our replies.
    if stdin is None:
        # Buffered: an unbuffered readline reads one byte per system call,
        # which on a TCG sparc64 guest made a 2 MB request take minutes.  A
        # buffered readline still returns as soon as its newline arrives.
        stdin = os.fdopen(os.dup(0), "rb")
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
    if stdout is None:
        stdout = os.fdopen(os.dup(1), "wb")
        os.dup2(2, 1)
    session = Session()

    def send(obj: Dict[str, Any]) -> None:
        stdout.write(json.dumps(obj).encode() + b"\n")  # type: ignore[union-attr]
        stdout.flush()  # type: ignore[union-attr]

    try:
        send({"hello": platform_facts()})
        for line in iter(stdin.readline, b""):  # type: ignore[union-attr]
            if line.strip():
                send(handle(session, line))
    finally:
        session.close()
    return 0
