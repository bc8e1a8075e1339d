"""The BSD-only RPC methods, driven through ``server.handle`` against the
fake ptrace of test_backend_bsd_fakes: the request numbers and arguments the
core sends, the replies it decodes, and the clear refusal on an OS that lacks
a request.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import struct
from collections.abc import Iterator

import pytest
from test_backend_bsd_fakes import NETBSD_SI, SIGNALS, FakePtrace, make_abi

from harness.rpc import RemoteError
from harness.tracecore import server
from harness.tracecore.tracer import Tracee, Tracer
from harness.tracecore.waitstatus import WaitStatus

PID = 4242
TID = 100000 + 17  # OpenBSD: THREAD_PID_OFFSET + p_tid


def _session(os_name: str, arch: str, release: str, *, stopped: bool = True) -> tuple[server.Session, FakePtrace]:
    tracer = Tracer(make_abi(os_name, arch), release)
    fake = FakePtrace(tracer.abi, release)
    tracer.backend.ptrace = fake  # type: ignore[assignment]
    tracer.tracees[PID] = Tracee(PID, stopped=stopped)
    return server.Session(tracer=tracer), fake


@pytest.fixture
def sessions() -> Iterator[list[server.Session]]:
    made: list[server.Session] = []
    yield made
    for s in made:
        # The pids are fakes: nothing to kill, only the work directory to drop.
        s.tracer.tracees.clear()
        os.rmdir(s.workdir)


@pytest.fixture
def netbsd(sessions) -> tuple[server.Session, FakePtrace]:
    s, fake = _session("netbsd", "amd64", "10.1")
    sessions.append(s)
    return s, fake


def call(session: server.Session, method: str, **params: object) -> dict:
    reply = server.handle(session, json.dumps({"id": 7, "method": method, "params": params}).encode())
    # What the server would write: the reply must survive JSON.
    return json.loads(json.dumps(reply))


def sent(fake: FakePtrace) -> list[tuple[str, int, int, int, int]]:
    return [(c.request, c.number, c.pid, c.addr, c.data) for c in fake.calls]


def _lwp_walker(lwps: list[int], size: int):
    """PT_LWPNEXT/PT_LWPINFO: the next LWP after pl_lwpid, 0 after the last."""
    def handler(f: FakePtrace, call_) -> int:
        assert call_.data == size
        current = f.get(call_.addr, "i")[0]
        following = [lwp for lwp in lwps if lwp > current]
        f.put(call_.addr, "i", following[0] if following else 0)
        return 0
    return handler


def _stopped(signo: int) -> WaitStatus:
    return WaitStatus("stopped", signo=signo, raw=(signo << 8) | 0x7F)


def _siginfo(signo: int, code: int, lwp: int, sysnum: int = 0):
    def handler(f: FakePtrace, call_) -> int:
        assert call_.data == 136
        f.put(call_.addr, "iiii", signo, code, 0, 0)
        f.put(call_.addr + 16, "i", sysnum)
        f.put(call_.addr + 128, "i", lwp)
        return 0
    return handler


# -- LWPs ---------------------------------------------------------------------------------------
def test_lwp_list_on_10_walks_pt_lwpnext(netbsd):
    s, fake = netbsd
    fake.handlers["PT_LWPNEXT"] = _lwp_walker([1, 2, 5], 64)
    reply = call(s, "lwp.list", pid=PID)
    assert [lwp["pl_lwpid"] for lwp in reply["result"]] == [1, 2, 5]
    # Each call names the LWP before (0 first) and ends when the kernel says 0.
    assert [(c.number, c.pid, c.data) for c in fake.calls] == [(25, PID, 64)] * 4


def test_lwp_list_on_9_walks_pt_lwpinfo(sessions):
    s, fake = _session("netbsd", "amd64", "9.3")
    sessions.append(s)
    fake.handlers["PT_LWPINFO"] = _lwp_walker([1, 3], 8)
    reply = call(s, "lwp.list", pid=PID)
    assert reply["result"] == [{"pl_lwpid": 1, "pl_event": 0}, {"pl_lwpid": 3, "pl_event": 0}]
    assert [(c.number, c.data) for c in fake.calls] == [(13, 8)] * 3


def test_lwp_status_sends_the_lwp_and_hexes_the_name(netbsd):
    s, fake = netbsd

    def status(f: FakePtrace, call_) -> int:
        assert (f.get(call_.addr, "i")[0], call_.data) == (2, 64)
        f.put(call_.addr + 4, "4I", 1 << 29, 0, 0, 0)
        f.put(call_.addr + 36, "20s", b"worker")
        return 0

    fake.handlers["PT_LWPSTATUS"] = status
    result = call(s, "lwp.status", pid=PID, lwp=2)["result"]
    assert (result["pl_lwpid"], result["pl_sigpend"]) == (2, [1 << 29, 0, 0, 0])
    assert bytes.fromhex(result["pl_name"]).rstrip(b"\0") == b"worker"
    assert fake.calls[0].number == 24


def test_suspend_all_then_continue_is_edeadlk_until_resumed(netbsd):
    s, fake = netbsd
    assert call(s, "lwp.suspend", pid=PID, lwp=1) == {"id": 7, "result": None}
    # The kernel refuses to run a process whose every LWP is suspended.
    fake.errors["PT_CONTINUE"] = errno.EDEADLK
    error = call(s, "ptrace.cont", pid=PID)["error"]
    assert (error["type"], error["errno"], error["errno_value"]) == ("OSError", "EDEADLK", errno.EDEADLK)
    assert "PT_CONTINUE" in error["message"]
    # The refused continue left the tracee stopped, so PT_RESUME is allowed.
    assert s.tracer.tracees[PID].stopped
    del fake.errors["PT_CONTINUE"]
    assert call(s, "lwp.resume", pid=PID, lwp=1)["result"] is None
    assert call(s, "ptrace.cont", pid=PID)["result"] is None
    assert sent(fake) == [("PT_SUSPEND", 22, PID, 0, 1), ("PT_CONTINUE", 7, PID, 1, 0),
                          ("PT_RESUME", 21, PID, 0, 1), ("PT_CONTINUE", 7, PID, 1, 0)]


def test_lwp_cont_sends_minus_the_lwp_and_marks_the_tracee_running(netbsd):
    s, fake = netbsd
    assert call(s, "lwp.cont", pid=PID, lwp=3)["result"] is None
    assert sent(fake) == [("PT_CONTINUE", 7, PID, 1, -3)]
    assert not s.tracer.tracees[PID].stopped
    # Running now: a register read is refused until a wait sees a stop.
    assert call(s, "regs.get", pid=PID)["error"]["type"] == "TracerError"


def test_lwp_cont_step_and_a_bad_how(netbsd):
    s, fake = netbsd
    assert call(s, "lwp.cont", pid=PID, lwp=2, how="step")["result"] is None
    assert sent(fake) == [("PT_STEP", 32, PID, 1, -2)]
    error = call(s, "lwp.cont", pid=PID, lwp=2, how="run")["error"]
    assert error["type"] == "BadRequest" and "'run'" in error["message"]


def test_lwp_cont_of_a_suspended_lwp_is_edeadlk_and_leaves_it_stopped(netbsd):
    s, fake = netbsd
    fake.errors["PT_CONTINUE"] = errno.EDEADLK
    error = call(s, "lwp.cont", pid=PID, lwp=2)["error"]
    assert error["errno"] == "EDEADLK"
    assert sent(fake) == [("PT_CONTINUE", 7, PID, 1, -2)]
    assert s.tracer.tracees[PID].stopped


def test_lwp_cont_refuses_a_non_positive_lwp(netbsd):
    s, fake = netbsd
    error = call(s, "lwp.cont", pid=PID, lwp=0)["error"]
    assert error["type"] == "ValueError" and "positive LWP" in error["message"]
    assert fake.calls == []
    assert s.tracer.tracees[PID].stopped


# -- PT_STOP, PT_SYSCALLEMU ---------------------------------------------------------------------
def test_proc_stop_acts_on_a_running_tracee(sessions):
    s, fake = _session("netbsd", "amd64", "10.1", stopped=False)
    sessions.append(s)
    assert call(s, "proc.stop", pid=PID)["result"] is None
    assert sent(fake) == [("PT_STOP", 23, PID, 0, 0)]


@pytest.mark.parametrize(("method", "params", "request_name"), [
    ("proc.stop", {}, "PT_STOP"),
    ("sigpass.set", {"signals": ["SIGUSR1"]}, "PT_SET_SIGPASS"),
    ("lwp.status", {"lwp": 1}, "PT_LWPSTATUS"),
])
def test_netbsd_9_refuses_the_requests_netbsd_10_added(sessions, method, params, request_name):
    """Requests 23..27 of sys/sys/ptrace.h 1.75 came with netbsd-10: on a 9.x
    kernel the number means nothing (or something else), so the core must
    refuse before it sends anything."""
    s, fake = _session("netbsd", "amd64", "9.3", stopped=False)
    sessions.append(s)
    error = call(s, method, pid=PID, **params)["error"]
    assert error["type"] == "NotImplementedError"
    assert error["message"] == "%s: the netbsd_amd64 table has no %s (this target: netbsd amd64 9.3)" % (
        method, request_name)
    assert fake.calls == []


def test_proc_stop_on_a_pid_not_traced_is_esrch(netbsd):
    s, fake = netbsd
    error = call(s, "proc.stop", pid=PID + 1)["error"]
    assert error["errno"] == "ESRCH" and fake.calls == []


def test_syscall_emu_arguments(netbsd):
    s, fake = netbsd
    assert call(s, "ptrace.syscall_emu", pid=PID)["result"] is None
    assert sent(fake) == [("PT_SYSCALLEMU", 15, PID, 1, 0)]


# -- signals ------------------------------------------------------------------------------------
def test_sigpass_set_packs_names_into_sigset_bits(netbsd):
    s, fake = netbsd
    words = {}
    fake.handlers["PT_SET_SIGPASS"] = lambda f, c: (words.setdefault("w", (f.get(c.addr, "4I"), c.data)), 0)[1]
    assert call(s, "sigpass.set", pid=PID, signals=["SIGUSR1", "SIGHUP"])["result"] is None
    # Bit signo-1 of a uint32_t[4], sizeof(sigset_t) in data.
    assert words["w"] == (((1 << 29) | 1, 0, 0, 0), 16)
    assert fake.calls[0].number == 26


def test_sigpass_get_names_the_signals(netbsd):
    s, fake = netbsd
    fake.handlers["PT_GET_SIGPASS"] = lambda f, c: (f.put(c.addr, "4I", (1 << 29) | (1 << 4), 0, 0, 0), 0)[1]
    assert call(s, "sigpass.get", pid=PID)["result"] == ["SIGTRAP", "SIGUSR1"]
    assert fake.calls[0].number == 27


def test_sigpass_unknown_signal_is_a_bad_request(netbsd):
    s, fake = netbsd
    error = call(s, "sigpass.set", pid=PID, signals=["SIGNOPE"])["error"]
    assert error["type"] == "BadRequest" and "SIGNOPE" in error["message"]
    assert fake.calls == []


def test_siginfo_set_changes_the_signal_and_keeps_the_lwp_and_reason(netbsd):
    s, fake = netbsd
    fake.handlers["PT_GET_SIGINFO"] = _siginfo(SIGNALS["SIGINT"], NETBSD_SI["SI_LWP"], lwp=3, sysnum=77)
    written = {}

    def capture(f: FakePtrace, call_) -> int:
        written["raw"], written["data"] = ctypes.string_at(call_.addr, 136), call_.data
        return 0

    fake.handlers["PT_SET_SIGINFO"] = capture
    # t_ptrace_siginfo_wait.h siginfo_set_faked: SIGINT becomes SIGTRAP/TRAP_BRKPT.
    reply = call(s, "siginfo.set", pid=PID, values={"si_signo": SIGNALS["SIGTRAP"],
                                                    "si_code": NETBSD_SI["TRAP_BRKPT"]})
    assert reply["result"] is None
    assert [c.number for c in fake.calls] == [20, 19]
    assert written["data"] == 136
    assert struct.unpack("<ii", written["raw"][:8]) == (5, 1)
    assert struct.unpack("<i", written["raw"][128:132])[0] == 3
    assert struct.unpack("<i", written["raw"][16:20])[0] == 77


def test_siginfo_set_code_only_keeps_the_signal(netbsd):
    s, fake = netbsd
    fake.handlers["PT_GET_SIGINFO"] = _siginfo(SIGNALS["SIGUSR1"], NETBSD_SI["SI_USER"], lwp=1)
    written = {}
    fake.handlers["PT_SET_SIGINFO"] = lambda f, c: (written.setdefault("raw", ctypes.string_at(c.addr, 8)), 0)[1]
    call(s, "siginfo.set", pid=PID, values={"si_code": NETBSD_SI["SI_QUEUE"]})
    assert struct.unpack("<ii", written["raw"]) == (30, -1)


def test_siginfo_get_decodes_signo_code_and_lwp(netbsd):
    s, fake = netbsd
    fake.handlers["PT_GET_SIGINFO"] = _siginfo(SIGNALS["SIGTRAP"], NETBSD_SI["TRAP_DBREG"], lwp=4)
    result = call(s, "siginfo.get", pid=PID)["result"]
    assert (result["si_signo"], result["si_code"], result["psi_lwpid"]) == (5, 6, 4)


def test_siginfo_set_unknown_member_is_a_bad_request(netbsd):
    s, fake = netbsd
    error = call(s, "siginfo.set", pid=PID, values={"si_sigcode": 1})["error"]
    assert error["type"] == "BadRequest" and "si_sigcode" in error["message"]
    assert fake.calls == []


# -- step and debug registers -------------------------------------------------------------------
def test_step_set_and_clear_name_the_lwp(netbsd):
    s, fake = netbsd
    call(s, "step.set", pid=PID, lwp=2)
    call(s, "step.clear", pid=PID, lwp=2)
    assert sent(fake) == [("PT_SETSTEP", 39, PID, 0, 2), ("PT_CLEARSTEP", 40, PID, 0, 2)]


def test_dbregs_get_and_set_on_the_lwp_that_stopped(netbsd):
    s, fake = netbsd
    fake.handlers["PT_GET_SIGINFO"] = _siginfo(SIGNALS["SIGTRAP"], NETBSD_SI["TRAP_DBREG"], lwp=4)
    s.tracer.backend.decode_stop(PID, _stopped(SIGNALS["SIGTRAP"]))
    fake.calls.clear()
    fake.handlers["PT_GETDBREGS"] = lambda f, c: (f.put(c.addr, "16Q", *range(16)), 0)[1]
    written = {}
    fake.handlers["PT_SETDBREGS"] = lambda f, c: (written.setdefault("dr", f.get(c.addr, "16Q")), 0)[1]
    assert call(s, "dbregs.get", pid=PID)["result"] == {"dr": list(range(16))}
    dr = [0x601000, 0, 0, 0, 0, 0, 0, 0x1] + [0] * 8
    assert call(s, "dbregs.set", pid=PID, values={"dr": dr})["result"] is None
    assert written["dr"] == tuple(dr)
    assert [(c.number, c.data) for c in fake.calls] == [(37, 4), (37, 4), (38, 4)]


def test_dbregs_set_unknown_member_is_a_bad_request(netbsd):
    s, fake = netbsd
    error = call(s, "dbregs.set", pid=PID, values={"dr7": 1})["error"]
    assert error["type"] == "BadRequest" and "dr7" in error["message"]
    assert fake.calls == []


def test_non_root_setdbregs_is_eperm(netbsd):
    s, fake = netbsd
    fake.errors["PT_SETDBREGS"] = errno.EPERM
    error = call(s, "dbregs.set", pid=PID, values={"dr": [0] * 16})["error"]
    assert (error["errno"], error["errno_value"]) == ("EPERM", errno.EPERM)


@pytest.mark.parametrize(("method", "params", "request_name"), [
    ("step.set", {"lwp": 1}, "PT_SETSTEP"),
    ("dbregs.get", {}, "PT_GETDBREGS"),
    ("dbregs.set", {"values": {}}, "PT_GETDBREGS"),
])
def test_netbsd_sparc64_lacks_step_and_dbregs(sessions, method, params, request_name):
    s, fake = _session("netbsd", "sparc64", "10.1")
    sessions.append(s)
    error = call(s, method, pid=PID, **params)["error"]
    assert error["type"] == "NotImplementedError"
    assert "netbsd_sparc64 table has no %s" % request_name in error["message"]
    assert fake.calls == []


def test_a_running_tracee_is_refused_before_the_kernel_is_asked(sessions):
    s, fake = _session("netbsd", "amd64", "10.1", stopped=False)
    sessions.append(s)
    for method, params in [("lwp.list", {}), ("lwp.suspend", {"lwp": 1}), ("siginfo.get", {}),
                           ("lwp.cont", {"lwp": 1})]:
        error = call(s, method, pid=PID, **params)["error"]
        assert error["type"] == "TracerError" and "running" in error["message"], method
    assert fake.calls == []


# -- OpenBSD --------------------------------------------------------------------------------------
def test_openbsd_threads_walk(sessions):
    s, fake = _session("openbsd", "amd64", "7.6")
    sessions.append(s)
    tids = [TID, TID + 5]

    def first(f: FakePtrace, call_) -> int:
        assert call_.data == 4
        f.put(call_.addr, "i", tids[0])
        return 0

    def following(f: FakePtrace, call_) -> int:
        assert call_.data == 4
        later = tids[tids.index(f.get(call_.addr, "i")[0]) + 1:]
        f.put(call_.addr, "i", later[0] if later else -1)
        return 0

    fake.handlers["PT_GET_THREAD_FIRST"] = first
    fake.handlers["PT_GET_THREAD_NEXT"] = following
    assert call(s, "threads.list", pid=PID)["result"] == tids
    assert [(c.number, c.pid) for c in fake.calls] == [(15, PID), (16, PID), (16, PID)]


def test_openbsd_sparc64_wcookie_is_one_big_endian_register(sessions):
    s, fake = _session("openbsd", "sparc64", "7.8")
    sessions.append(s)
    fake.handlers["PT_WCOOKIE"] = lambda f, c: (f.put(c.addr, "Q", 0x0123456789ABCDEF), 0)[1]
    assert call(s, "wcookie.get", pid=PID)["result"] == 0x0123456789ABCDEF
    assert sent(fake)[0][:3] == ("PT_WCOOKIE", 36, PID)
    assert fake.calls[0].data == 8


def test_openbsd_arm64_pacmask_names_both_masks(sessions):
    s, fake = _session("openbsd", "aarch64", "7.8")
    sessions.append(s)
    fake.handlers["PT_PACMASK"] = lambda f, c: (f.put(c.addr, "QQ", 0xFF7F000000000000, 0x7F000000000000), 0)[1]
    assert call(s, "pacmask.get", pid=PID)["result"] == {
        "data_mask": 0xFF7F000000000000, "insn_mask": 0x7F000000000000}
    assert (fake.calls[0].number, fake.calls[0].data) == (37, 16)


def test_openbsd_amd64_xstate_on_7_7(sessions):
    s, fake = _session("openbsd", "amd64", "7.7")
    sessions.append(s)
    fake.handlers["PT_GETXSTATE_INFO"] = lambda f, c: (f.put(c.addr, "QI", 0x7, 832), 0)[1]
    fake.handlers["PT_GETXSTATE"] = lambda f, c: (f.put(c.addr, "I", 0x37F), 0)[1]
    assert call(s, "xstate.info", pid=PID)["result"] == {"xsave_mask": 7, "xsave_len": 832}
    area = bytes.fromhex(call(s, "xstate.get", pid=PID)["result"])
    assert len(area) == 832 and area[:4] == b"\x7f\x03\x00\x00"
    assert [(c.request, c.number, c.data) for c in fake.calls][-1] == ("PT_GETXSTATE", 38, 832)


def test_openbsd_amd64_xstate_before_7_7_is_refused_by_release(sessions):
    s, fake = _session("openbsd", "amd64", "7.6")
    sessions.append(s)
    error = call(s, "xstate.get", pid=PID)["error"]
    assert (error["type"], error["message"]) == (
        "NotImplementedError",
        "xstate.get: the openbsd_amd64 table has no PT_GETXSTATE_INFO and PT_GETXSTATE "
        "(this target: openbsd amd64 7.6)")
    assert fake.calls == []


@pytest.mark.parametrize(("arch", "method", "named"), [
    ("amd64", "wcookie.get", "PT_WCOOKIE"),
    ("sparc64", "pacmask.get", "PT_PACMASK"),
    ("aarch64", "xstate.info", "PT_GETXSTATE_INFO"),
])
def test_openbsd_machine_requests_only_on_their_arch(sessions, arch, method, named):
    s, fake = _session("openbsd", arch, "7.8")
    sessions.append(s)
    error = call(s, method, pid=PID)["error"]
    assert error["message"] == "%s: the openbsd_%s table has no %s (this target: openbsd %s 7.8)" % (
        method, arch, named, arch)
    assert fake.calls == []


@pytest.mark.parametrize(("method", "params", "named"), [
    ("lwp.list", {}, "PT_LWPNEXT or PT_LWPINFO"),
    ("lwp.suspend", {"lwp": 1}, "PT_SUSPEND"),
    ("proc.stop", {}, "PT_STOP"),
    ("sigpass.set", {"signals": ["SIGUSR1"]}, "PT_SET_SIGPASS"),
    ("siginfo.set", {"values": {"si_code": 0}}, "PT_GET_SIGINFO and PT_SET_SIGINFO"),
    ("dbregs.get", {}, "PT_GETDBREGS"),
])
def test_openbsd_refuses_netbsd_requests_by_name(sessions, method, params, named):
    s, fake = _session("openbsd", "amd64", "7.6")
    sessions.append(s)
    error = call(s, method, pid=PID, **params)["error"]
    assert error["type"] == "NotImplementedError"
    assert error["message"].startswith("%s: openbsd ptrace has no %s" % (method, named))
    assert fake.calls == []


def test_netbsd_refuses_the_openbsd_thread_walk(netbsd):
    s, fake = netbsd
    error = call(s, "threads.list", pid=PID)["error"]
    assert error["type"] == "NotImplementedError"
    assert "netbsd ptrace has no PT_GET_THREAD_FIRST and PT_GET_THREAD_NEXT" in error["message"]
    assert "(OpenBSD only; this target: netbsd amd64 10.1)" in error["message"]
    assert fake.calls == []


# -- this machine's kernel (the local target) ----------------------------------------------------
NEW_METHODS = [
    ("lwp.list", {}, "PT_LWPNEXT or PT_LWPINFO", "NetBSD"),
    ("lwp.status", {"lwp": 1}, "PT_LWPSTATUS", "NetBSD"),
    ("lwp.suspend", {"lwp": 1}, "PT_SUSPEND", "NetBSD"),
    ("lwp.resume", {"lwp": 1}, "PT_RESUME", "NetBSD"),
    ("lwp.cont", {"lwp": 1}, "PT_CONTINUE", "NetBSD"),
    ("proc.stop", {}, "PT_STOP", "NetBSD"),
    ("ptrace.syscall_emu", {}, "PT_SYSCALLEMU", "NetBSD"),
    ("sigpass.set", {"signals": ["SIGUSR1"]}, "PT_SET_SIGPASS", "NetBSD"),
    ("sigpass.get", {}, "PT_GET_SIGPASS", "NetBSD"),
    ("step.set", {"lwp": 1}, "PT_SETSTEP", "NetBSD"),
    ("step.clear", {"lwp": 1}, "PT_CLEARSTEP", "NetBSD"),
    ("dbregs.get", {}, "PT_GETDBREGS", "NetBSD x86"),
    ("dbregs.set", {"values": {}}, "PT_GETDBREGS and PT_SETDBREGS", "NetBSD x86"),
    ("siginfo.get", {}, "PT_GET_SIGINFO", "NetBSD"),
    ("siginfo.set", {"values": {}}, "PT_GET_SIGINFO and PT_SET_SIGINFO", "NetBSD"),
    ("threads.list", {}, "PT_GET_THREAD_FIRST and PT_GET_THREAD_NEXT", "OpenBSD"),
    ("wcookie.get", {}, "PT_WCOOKIE", "OpenBSD sparc64"),
    ("pacmask.get", {}, "PT_PACMASK", "OpenBSD arm64"),
    ("xstate.info", {}, "PT_GETXSTATE_INFO", "OpenBSD amd64"),
    ("xstate.get", {}, "PT_GETXSTATE_INFO and PT_GETXSTATE", "OpenBSD amd64"),
]


@pytest.mark.skipif(os.uname().sysname != "Linux", reason="checks the refusal on a Linux kernel")
@pytest.mark.parametrize(("method", "params", "requests", "owner"), NEW_METHODS, ids=[m[0] for m in NEW_METHODS])
def test_on_linux_each_bsd_method_is_refused_naming_linux(method, params, requests, owner):
    s = server.Session()
    try:
        error = call(s, method, pid=os.getpid(), **params)["error"]
    finally:
        os.rmdir(s.workdir)
    assert error["type"] == "NotImplementedError"
    assert error["message"] == "%s: linux ptrace has no %s (%s only; this target: linux %s %s)" % (
        method, requests, owner, s.tracer.abi.arch, os.uname().release)


def test_the_default_session_knows_the_kernel_release():
    # The NetBSD backend walks LWPs with PT_LWPINFO on 9.x and PT_LWPNEXT on
    # 10.x: without the release it would assume 10.
    s = server.Session()
    try:
        assert s.tracer.release == os.uname().release
        assert s.tracer.backend.release == os.uname().release
    finally:
        os.rmdir(s.workdir)


# -- memory: what a short transfer and a one-int transfer look like over RPC ---------------------
@pytest.mark.parametrize("arch", ["amd64", "sparc64"])
def test_a_short_read_reply_carries_the_count_and_the_bytes(sessions, arch):
    s, fake = _session("netbsd", arch, "10.1")
    sessions.append(s)
    fake.base, fake.memory = 0x30000, bytearray(b"abcdefgh")
    error = call(s, "mem.read", pid=PID, addr=0x30004, size=10)["error"]
    # 4 bytes came before the mapping ended; the next PT_IO failed EFAULT.
    assert (error["type"], error["errno"], error["transferred"], error["data"]) == (
        "ShortTransfer", "EFAULT", 4, b"efgh".hex())
    assert "after 4 of 10 bytes" in error["message"]


def test_remote_error_keeps_the_short_transfer(sessions):
    s, fake = _session("openbsd", "amd64", "7.8")
    sessions.append(s)
    fake.base, fake.memory = 0x30000, bytearray(b"abcdefgh")
    error = RemoteError("mem.read", call(s, "mem.read", pid=PID, addr=0x30006, size=4)["error"])
    assert (error.transferred, error.partial_data, error.errno) == (2, b"gh", "EFAULT")
    # Every other error has neither.
    other = RemoteError("mem.read", call(s, "mem.read", pid=PID + 1, addr=0x30000, size=4)["error"])
    assert (other.transferred, other.partial_data) == (None, None)


@pytest.mark.parametrize(("arch", "packed"), [("amd64", b"\x44\x33\x22\x11"), ("sparc64", b"\x11\x22\x33\x44")])
def test_peek_and_poke_move_one_int(sessions, arch, packed):
    s, fake = _session("netbsd", arch, "10.1")
    sessions.append(s)
    stored = {}

    def write(f: FakePtrace, c) -> int:
        # ptrace(2)'s data is a C int: the fake receives it as ctypes would pass it.
        stored[c.addr] = (c.data & 0xFFFFFFFF).to_bytes(4, f.abi.byteorder)
        return 0

    fake.handlers["PT_WRITE_D"] = write
    fake.handlers["PT_READ_D"] = lambda f, c: int.from_bytes(stored[c.addr], f.abi.byteorder, signed=True)
    assert call(s, "mem.poke", pid=PID, addr=0x5000, value=0x11223344)["result"] == {
        "size": 4, "request": "PT_WRITE_D"}
    assert stored[0x5000] == packed
    assert call(s, "mem.peek", pid=PID, addr=0x5000)["result"] == {
        "value": 0x11223344, "size": 4, "request": "PT_READ_D"}
    # A value with the top bit set goes out as the same 32 bits, signed.
    call(s, "mem.poke", pid=PID, addr=0x5004, value=0xFFFFFFFE)
    assert fake.named("PT_WRITE_D")[-1].data == -2
    assert call(s, "mem.peek", pid=PID, addr=0x5004)["result"]["value"] == 0xFFFFFFFE


def test_poke_of_a_value_wider_than_an_int_is_a_bad_request(netbsd):
    s, fake = netbsd
    error = call(s, "mem.poke", pid=PID, addr=0x5000, value=1 << 32)["error"]
    assert (error["type"], error["message"]) == (
        "BadRequest", "value 0x100000000 does not fit the 4 bytes PT_WRITE_D moves")
    assert fake.calls == []
