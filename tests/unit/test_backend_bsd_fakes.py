"""A fake BSD ptrace for the backend tests, and the test ABIs it serves.

No BSD kernel runs here, so the NetBSD and OpenBSD backends are driven
against ``FakePtrace``: it records every call (request name and number,
pid, addr, data) and answers struct requests with bytes packed here with
``struct`` from the header layouts, independently of the ``Struct`` tables
the backends decode with.  That way a wrong offset in a table, or a wrong
byte order, fails a test instead of agreeing with itself.

Layouts (LP64, every arch here; sparc64 big-endian):
  NetBSD sys/sys/ptrace.h 1.75: ptrace_io_desc {int op; void *offs; void *addr;
    size_t len} = 32 bytes; ptrace_event {int} = 4; ptrace_state {int; union
    {pid_t; lwpid_t}} = 8; ptrace_lwpinfo {lwpid_t; int} = 8; ptrace_lwpstatus
    {lwpid_t; sigset_t x2; char[20]; void *} = 64; ptrace_siginfo {siginfo_t
    (128 bytes); lwpid_t} = 136.
  NetBSD sys/sys/siginfo.h: struct _ksiginfo {int signo, code, errno; int _pad
    (_LP64); union _reason at 16}; _syscall {int sysnum; int retval[2]; int
    error; uint64_t args[8]}.  sys/sys/sigtypes.h: sigset_t {uint32_t bits[4]}.
  OpenBSD sys/sys/ptrace.h 1.16: ptrace_state {int; pid_t; pid_t} = 12;
    ptrace_thread_state {pid_t} = 4.
  struct reg, sparc64: NetBSD sparc64/include/reg.h struct reg64 {r_tstate,
    r_pc, r_npc (int64); r_y (int32); r_global[8], r_out[8]} (160 bytes);
    OpenBSD sparc64/include/reg.h adds r_local[8], r_in[8] (288 bytes).
    amd64: a reduced 3-field view is enough for request mechanics.
Request numbers: NetBSD ptrace.h 1.75 and amd64/include/ptrace.h (PT_STEP =
PT_FIRSTMACH+0, GETREGS +1, SETREGS +2, GETFPREGS +3, SETFPREGS +4,
GETDBREGS +5, SETDBREGS +6, SETSTEP +7, CLEARSTEP +8); sparc64/include/ptrace.h
has no PT_STEP (GETREGS +0, SETREGS +1, GETFPREGS +2, SETFPREGS +3).
OpenBSD ptrace.h 1.16 and amd64/include/ptrace.h (PT_STEP +0, GETREGS +1,
SETREGS +2, GETFPREGS +3, SETFPREGS +4, GETXSTATE_INFO +5, GETXSTATE +6);
sparc64/include/ptrace.h 1.2 (GETREGS +0, SETREGS +1, GETFPREGS +2, SETFPREGS +3;
no PT_STEP, PT_WCOOKIE +4); arm64/include/ptrace.h (PT_STEP +0 ... SETFPREGS
+4, PT_PACMASK +5).  PT_FIRSTMACH is 32 in OpenBSD's ptrace.h, so those two are
36 and 37, as harness/tracecore/abi/openbsd_{sparc64,aarch64}.py cite them.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from harness.tracecore.abi.types import (
    Abi,
    Breakpoint,
    Constants,
    Field,
    Header,
    RegisterRoles,
    RegisterSet,
    Struct,
)

_H = Header("sys/ptrace.h", "test fixture: see this module's docstring")


def _s(name: str, size: int, *fields: Field) -> Struct:
    return Struct(name, _H, size, tuple(fields))


COMMON_STRUCTS = {
    "ptrace_io_desc": _s("struct ptrace_io_desc", 32, Field("piod_op", 0, 4, signed=True),
                         Field("piod_offs", 8, 8), Field("piod_addr", 16, 8), Field("piod_len", 24, 8)),
    "ptrace_event": _s("struct ptrace_event", 4, Field("pe_set_event", 0, 4, signed=True)),
}
NETBSD_STRUCTS = dict(COMMON_STRUCTS, **{
    "ptrace_state": _s("struct ptrace_state", 8, Field("pe_report_event", 0, 4, signed=True),
                       Field("pe_other_pid", 4, 4, signed=True)),
    "ptrace_state_lwp": _s("struct ptrace_state", 8, Field("pe_report_event", 0, 4, signed=True),
                           Field("pe_lwp", 4, 4, signed=True)),
    "ptrace_siginfo": _s("struct ptrace_siginfo", 136, Field("si_signo", 0, 4, signed=True),
                         Field("si_code", 4, 4, signed=True), Field("si_errno", 8, 4, signed=True),
                         Field("psi_lwpid", 128, 4, signed=True)),
    "ptrace_siginfo_syscall": _s("struct ptrace_siginfo", 136, Field("si_sysnum", 16, 4, signed=True),
                                 Field("si_retval", 20, 4, count=2, signed=True),
                                 Field("si_error", 28, 4, signed=True), Field("si_args", 32, 8, count=8)),
    "ptrace_lwpinfo": _s("struct ptrace_lwpinfo", 8, Field("pl_lwpid", 0, 4, signed=True),
                         Field("pl_event", 4, 4, signed=True)),
    "ptrace_lwpstatus": _s("struct ptrace_lwpstatus", 64, Field("pl_lwpid", 0, 4, signed=True),
                           Field("pl_sigpend", 4, 4, count=4), Field("pl_sigmask", 20, 4, count=4),
                           Field("pl_name", 36, 20), Field("pl_private", 56, 8)),
    "sigset": _s("sigset_t", 16, Field("bits", 0, 4, count=4)),
    # x86/include/reg.h (NetBSD): struct dbreg { long dr[16]; }.
    "dbreg": _s("struct dbreg", 128, Field("dr", 0, 8, count=16)),
})
OPENBSD_STRUCTS = dict(COMMON_STRUCTS, **{
    "ptrace_state": _s("struct ptrace_state", 12, Field("pe_report_event", 0, 4, signed=True),
                       Field("pe_other_pid", 4, 4, signed=True), Field("pe_tid", 8, 4, signed=True)),
    "ptrace_thread_state": _s("struct ptrace_thread_state", 4, Field("pts_tid", 0, 4, signed=True)),
    "ptrace_xstate_info": _s("struct ptrace_xstate_info", 16, Field("xsave_mask", 0, 8),
                             Field("xsave_len", 8, 4)),
})

NETBSD_MI = {"PT_TRACE_ME": 0, "PT_READ_I": 1, "PT_READ_D": 2, "PT_WRITE_I": 4, "PT_WRITE_D": 5,
             "PT_CONTINUE": 7, "PT_KILL": 8, "PT_ATTACH": 9, "PT_DETACH": 10, "PT_IO": 11,
             "PT_DUMPCORE": 12, "PT_LWPINFO": 13, "PT_SYSCALL": 14, "PT_SYSCALLEMU": 15,
             "PT_SET_EVENT_MASK": 16, "PT_GET_EVENT_MASK": 17, "PT_GET_PROCESS_STATE": 18,
             "PT_SET_SIGINFO": 19, "PT_GET_SIGINFO": 20, "PT_RESUME": 21, "PT_SUSPEND": 22,
             "PT_STOP": 23, "PT_LWPSTATUS": 24, "PT_LWPNEXT": 25, "PT_SET_SIGPASS": 26,
             "PT_GET_SIGPASS": 27}
OPENBSD_MI = {"PT_TRACE_ME": 0, "PT_READ_I": 1, "PT_READ_D": 2, "PT_WRITE_I": 4, "PT_WRITE_D": 5,
              "PT_CONTINUE": 7, "PT_KILL": 8, "PT_ATTACH": 9, "PT_DETACH": 10, "PT_IO": 11,
              "PT_SET_EVENT_MASK": 12, "PT_GET_EVENT_MASK": 13, "PT_GET_PROCESS_STATE": 14,
              "PT_GET_THREAD_FIRST": 15, "PT_GET_THREAD_NEXT": 16}
MD = {
    ("netbsd", "amd64"): {"PT_STEP": 32, "PT_GETREGS": 33, "PT_SETREGS": 34, "PT_GETFPREGS": 35,
                          "PT_SETFPREGS": 36, "PT_GETDBREGS": 37, "PT_SETDBREGS": 38,
                          "PT_SETSTEP": 39, "PT_CLEARSTEP": 40},
    ("netbsd", "sparc64"): {"PT_GETREGS": 32, "PT_SETREGS": 33, "PT_GETFPREGS": 34, "PT_SETFPREGS": 35},
    ("openbsd", "amd64"): {"PT_STEP": 32, "PT_GETREGS": 33, "PT_SETREGS": 34, "PT_GETFPREGS": 35,
                           "PT_SETFPREGS": 36, "PT_GETXSTATE_INFO": 37, "PT_GETXSTATE": 38},
    ("openbsd", "aarch64"): {"PT_STEP": 32, "PT_GETREGS": 33, "PT_SETREGS": 34, "PT_GETFPREGS": 35,
                             "PT_SETFPREGS": 36, "PT_PACMASK": 37},
    ("openbsd", "sparc64"): {"PT_GETREGS": 32, "PT_SETREGS": 33, "PT_GETFPREGS": 34,
                             "PT_SETFPREGS": 35, "PT_WCOOKIE": 36},
}
# NetBSD sys/sys/signal.h and OpenBSD sys/sys/signal.h agree on these.
SIGNALS = {"SIGHUP": 1, "SIGINT": 2, "SIGTRAP": 5, "SIGKILL": 9, "SIGSEGV": 11, "SIGSTOP": 17,
           "SIGCHLD": 20, "SIGUSR1": 30, "SIGUSR2": 31}
# NetBSD sys/sys/siginfo.h.
NETBSD_SI = {"SI_USER": 0, "SI_QUEUE": -1, "SI_LWP": -5, "TRAP_BRKPT": 1, "TRAP_TRACE": 2,
             "TRAP_EXEC": 3, "TRAP_CHLD": 4, "TRAP_LWP": 5, "TRAP_DBREG": 6, "TRAP_SCE": 7,
             "TRAP_SCX": 8, "CLD_EXITED": 1}
OPENBSD_SI = {"SI_USER": 0, "TRAP_BRKPT": 1, "TRAP_TRACE": 2}
NETBSD_EVENTS = {"PTRACE_FORK": 0x1, "PTRACE_VFORK": 0x2, "PTRACE_VFORK_DONE": 0x4,
                 "PTRACE_LWP_CREATE": 0x8, "PTRACE_LWP_EXIT": 0x10, "PTRACE_POSIX_SPAWN": 0x20}
OPENBSD_EVENTS = {"PTRACE_FORK": 0x2}
PIOD = {"PIOD_READ_D": 1, "PIOD_WRITE_D": 2, "PIOD_READ_I": 3, "PIOD_WRITE_I": 4}
WAIT = {"_WSTOPPED": 0x7F, "WCOREFLAG": 0x80, "_WCONTINUED": 0xFFFF}


def _regs(os_name: str, arch: str) -> Struct:
    if arch == "sparc64":
        size = 160 if os_name == "netbsd" else 288
        fields = [Field("r_tstate", 0, 8), Field("r_pc", 8, 8), Field("r_npc", 16, 8), Field("r_y", 24, 4),
                  Field("r_global", 32, 8, count=8), Field("r_out", 96, 8, count=8)]
        if os_name == "openbsd":
            fields += [Field("r_local", 160, 8, count=8), Field("r_in", 224, 8, count=8)]
        return _s("struct reg", size, *fields)
    return _s("struct reg", 24, Field("rax", 0, 8), Field("rsp", 8, 8), Field("rip", 16, 8))


# Requests 23..27 of NetBSD sys/sys/ptrace.h 1.75: absent from the netbsd-9
# branch's header, so a 9.x kernel must never be sent them.
NETBSD_10_REQUESTS = {name: "10" for name in
                      ("PT_STOP", "PT_LWPSTATUS", "PT_LWPNEXT", "PT_SET_SIGPASS", "PT_GET_SIGPASS")}

# OpenBSD amd64/include/ptrace.h gained PT_GETXSTATE_INFO/PT_GETXSTATE for 7.7.
OPENBSD_77_REQUESTS = {"PT_GETXSTATE_INFO": "7.7", "PT_GETXSTATE": "7.7"}


def make_abi(os_name: str, arch: str) -> Abi:
    big = arch == "sparc64"
    requests = dict(NETBSD_MI if os_name == "netbsd" else OPENBSD_MI, **MD[(os_name, arch)])
    regs = _regs(os_name, arch)
    roles = (RegisterRoles(pc="r_pc", sp="r_out", retval="r_out", npc="r_npc") if big
             else RegisterRoles(pc="rip", sp="rsp", retval="rax"))
    insn = b"\x91\xd0\x20\x01" if big else b"\xcc"
    return Abi(
        os=os_name, arch=arch, byteorder="big" if big else "little", pointer_size=8,
        sources=("test fixture",),
        requests=Constants(_H, requests),
        signals=Constants(_H, SIGNALS),
        si_codes=Constants(_H, NETBSD_SI if os_name == "netbsd" else OPENBSD_SI),
        errnos=Constants(_H, {"EFAULT": errno.EFAULT, "ESRCH": errno.ESRCH, "EDEADLK": errno.EDEADLK}),
        wait=Constants(_H, WAIT),
        regs=RegisterSet(regs, "PT_GETREGS", "PT_SETREGS"),
        roles=roles,
        breakpoint=Breakpoint(insn, 0 if big else 1, "TRAP_BRKPT" if os_name == "netbsd" else None, "test"),
        hardware_step=not big,
        events=Constants(_H, NETBSD_EVENTS if os_name == "netbsd" else OPENBSD_EVENTS),
        extra_constants=(Constants(_H, PIOD),),
        structs=NETBSD_STRUCTS if os_name == "netbsd" else OPENBSD_STRUCTS,
        libc_symbols={"ptrace": "ptrace", "ptrace_data": "int"},
        requests_since=(NETBSD_10_REQUESTS if os_name == "netbsd"
                        else OPENBSD_77_REQUESTS if (os_name, arch) == ("openbsd", "amd64") else {}),
    )


# -- the fake -----------------------------------------------------------------------------
@dataclass
class Call:
    request: str
    number: int
    pid: int
    addr: int
    data: int


Handler = Callable[["FakePtrace", Call], int]


class FakePtrace:
    """Stands in for ``PtraceBinding``: same call shape, records each call."""

    def __init__(self, abi: Abi, release: str | None = None) -> None:
        self.abi = abi
        self.release = release
        self.calls: list[Call] = []
        self.handlers: dict[str, Handler] = {}
        self.errors: dict[str, int] = {}
        self.order = "<" if abi.byteorder == "little" else ">"
        # Tracee memory for PT_IO: [base, base + len(memory)) is mapped.
        self.memory = bytearray()
        self.base = 0
        # At most this many bytes per PT_IO (None: all asked).
        self.io_limit: int | None = None

    def number(self, request: str) -> int:
        return self.abi.request(request, self.release)

    def __call__(self, request: str, pid: int, addr: int = 0, data: int = 0) -> int:
        call = Call(request, self.number(request), pid, addr, data)
        self.calls.append(call)
        err = self.errors.get(request)
        if err:
            raise OSError(err, "%s(pid %d): %s" % (request, pid, os.strerror(err)))
        handler = self.handlers.get(request)
        if request == "PT_IO" and handler is None:
            handler = FakePtrace._pt_io
        return handler(self, call) if handler is not None else 0

    def peek(self, request: str, pid: int, addr: int) -> int:
        return self(request, pid, addr, 0)

    def named(self, request: str) -> list[Call]:
        return [c for c in self.calls if c.request == request]

    # -- buffer helpers: pack the header layouts by hand ---------------------------------
    def put(self, addr: int, fmt: str, *values: object) -> None:
        raw = struct.pack(self.order + fmt, *values)
        ctypes.memmove(addr, raw, len(raw))

    def get(self, addr: int, fmt: str) -> tuple:
        return struct.unpack(self.order + fmt, ctypes.string_at(addr, struct.calcsize(self.order + fmt)))

    def _pt_io(self, call: Call) -> int:
        op, offs, local, length = self.get(call.addr, "i4xQQQ")
        assert call.data == 32, "PT_IO data must be sizeof(struct ptrace_io_desc)"
        start = offs - self.base
        if start < 0 or start >= len(self.memory):
            raise OSError(errno.EFAULT, "PT_IO: unmapped 0x%x" % offs)
        n = min(length, len(self.memory) - start)
        if self.io_limit is not None:
            n = min(n, self.io_limit)
        if op in (PIOD["PIOD_READ_D"], PIOD["PIOD_READ_I"]):
            ctypes.memmove(local, bytes(self.memory[start:start + n]), n)
        else:
            self.memory[start:start + n] = ctypes.string_at(local, n)
        self.put(call.addr + 24, "Q", n)
        return 0


# -- the fixtures' own layouts agree with the header sizes ---------------------------------
@pytest.mark.parametrize(("key", "size"), [("ptrace_io_desc", 32), ("ptrace_event", 4), ("ptrace_state", 8),
                                           ("ptrace_siginfo", 136), ("ptrace_lwpinfo", 8),
                                           ("ptrace_lwpstatus", 64), ("sigset", 16)])
def test_netbsd_fixture_struct_sizes(key, size):
    assert NETBSD_STRUCTS[key].size == size


@pytest.mark.parametrize(("key", "size"), [("ptrace_state", 12), ("ptrace_thread_state", 4)])
def test_openbsd_fixture_struct_sizes(key, size):
    assert OPENBSD_STRUCTS[key].size == size


def test_fake_records_request_numbers_from_the_table():
    fake = FakePtrace(make_abi("netbsd", "amd64"))
    fake("PT_LWPNEXT", 42, 0, 64)
    assert fake.calls == [Call("PT_LWPNEXT", 25, 42, 0, 64)]
