"""The NetBSD and OpenBSD ABI tables against the numbers their headers give.

Every expected number here was written down from the header revision the
module cites (see each module's docstring), not computed from the table,
so a typo in a table fails here.  Buffers for the decode tests are packed
with ``struct`` from the C declarations, independently of the tables.
"""

from __future__ import annotations

import re
import struct

import pytest

from harness.tracecore import abi as abi_tables
from harness.tracecore.abi import (
    netbsd_aarch64,
    netbsd_amd64,
    netbsd_sparc64,
    openbsd_aarch64,
    openbsd_amd64,
    openbsd_common,
    openbsd_sparc64,
)
from harness.tracecore.abi.types import AbsentRequest, release_key

MODULES = {
    ("netbsd", "amd64"): netbsd_amd64,
    ("netbsd", "aarch64"): netbsd_aarch64,
    ("netbsd", "sparc64"): netbsd_sparc64,
    ("openbsd", "amd64"): openbsd_amd64,
    ("openbsd", "aarch64"): openbsd_aarch64,
    ("openbsd", "sparc64"): openbsd_sparc64,
}
KEYS = list(MODULES)
ids = "_".join


def _abi(key):
    return MODULES[key].ABI


# -- registration ---------------------------------------------------------------
@pytest.mark.parametrize("key", KEYS, ids=ids)
def test_table_is_registered_and_loads(key):
    assert key in abi_tables.KNOWN
    loaded = abi_tables.load(*key)
    assert (loaded.os, loaded.arch, loaded.key) == (key[0], key[1], "%s_%s" % key)


# -- register sets: sizes and key offsets ------------------------------------------
# (struct reg size, struct fpreg size): amd64 NetBSD long regs[26]; OpenBSD 24
# int64_t; aarch64 31 (NetBSD) or 30 + lr (OpenBSD) regs + sp, pc, spsr, tpidr;
# NetBSD fpreg's 16-byte aligned union makes 516 round to 528; sparc64 reg64 is
# 160 (NetBSD: g, o) or 288 (OpenBSD: g, o, l, i); fpreg64 is 64 u_int + int64 + int.
SIZES = {
    ("netbsd", "amd64"): (208, 512),
    ("netbsd", "aarch64"): (280, 528),
    ("netbsd", "sparc64"): (160, 272),
    ("openbsd", "amd64"): (192, 512),
    ("openbsd", "aarch64"): (280, 520),
    ("openbsd", "sparc64"): (288, 272),
}


@pytest.mark.parametrize("key", KEYS, ids=ids)
def test_register_set_sizes(key):
    table = _abi(key)
    assert (table.regs.layout.size, table.fpregs.layout.size) == SIZES[key]
    assert (table.regs.get, table.regs.set) == ("PT_GETREGS", "PT_SETREGS")
    assert (table.fpregs.get, table.fpregs.set) == ("PT_GETFPREGS", "PT_SETFPREGS")


# role -> (field, offset).  NetBSD amd64 offsets are 8 * _REG_* (frame_regs.h);
# OpenBSD amd64 8 * position in struct reg; sparc64 r_out at 96, r_in at 224.
ROLES = {
    ("netbsd", "amd64"): {"pc": ("rip", 168), "sp": ("rsp", 192), "retval": ("rax", 112), "fp": ("rbp", 96)},
    ("netbsd", "aarch64"): {"pc": ("pc", 256), "sp": ("sp", 248), "retval": ("x0", 0), "fp": ("x29", 232)},
    ("netbsd", "sparc64"): {"pc": ("pc", 8), "npc": ("npc", 16), "sp": ("o6", 144), "retval": ("o0", 96)},
    ("openbsd", "amd64"): {"pc": ("rip", 128), "sp": ("rsp", 120), "retval": ("rax", 112), "fp": ("rbp", 96)},
    ("openbsd", "aarch64"): {"pc": ("pc", 256), "sp": ("sp", 248), "retval": ("x0", 0), "fp": ("x29", 232)},
    ("openbsd", "sparc64"): {"pc": ("pc", 8), "npc": ("npc", 16), "sp": ("o6", 144), "retval": ("o0", 96),
                             "fp": ("i6", 272)},
}


@pytest.mark.parametrize("key", KEYS, ids=ids)
def test_register_roles_point_at_the_header_offsets(key):
    table = _abi(key)
    got = {}
    for role in ("pc", "npc", "sp", "retval", "fp"):
        name = getattr(table.roles, role)
        if name is not None:
            got[role] = (name, table.regs.layout.field(name).offset)
    assert got == ROLES[key]
    for name in table.roles.args:
        assert table.regs.layout.field(name).size == 8


def test_netbsd_sparc64_regs_have_no_frame_pointer_role_because_reg64_lacks_r_in():
    names = netbsd_sparc64.ABI.regs.layout.names()
    assert netbsd_sparc64.ABI.roles.fp is None
    assert not any(n.startswith(("i", "l")) for n in names)
    assert names[:4] == ("tstate", "pc", "npc", "y")


def test_netbsd_amd64_register_order_follows_frame_regs():
    layout = netbsd_amd64.ABI.regs.layout
    assert [f.name for f in layout][:6] == ["rdi", "rsi", "rdx", "rcx", "r8", "r9"]
    assert layout.field("rflags").offset == 23 * 8
    assert layout.field("ss").member == "regs[25]"


def test_fxsave_layout_amd64():
    net = netbsd_amd64.ABI.fpregs.layout
    assert [(net.field(n).offset, net.field(n).size) for n in ("fx_opcode", "fx_mxcsr", "fx_87_ac", "fx_xmm")] == [
        (6, 2), (24, 4), (32, 16), (160, 16)]
    obsd = openbsd_amd64.ABI.fpregs.layout
    assert (obsd.field("fx_mxcsr").offset, obsd.field("fx_xmm").offset, obsd.field("fx_xmm").count) == (24, 160, 32)


def test_netbsd_amd64_dbreg_is_sixteen_longs():
    dbreg = netbsd_amd64.ABI.structs["dbreg"]
    assert (dbreg.size, dbreg.field("dr").count, dbreg.field("dr").size) == (128, 16, 8)


# -- requests -----------------------------------------------------------------------
# (PT_STEP, PT_GETREGS, PT_SETREGS, PT_GETFPREGS, PT_SETFPREGS); PT_FIRSTMACH is 32.
MD_REQUESTS = {
    ("netbsd", "amd64"): (32, 33, 34, 35, 36),
    ("netbsd", "aarch64"): (36, 32, 33, 34, 35),
    ("netbsd", "sparc64"): (None, 32, 33, 34, 35),
    ("openbsd", "amd64"): (32, 33, 34, 35, 36),
    ("openbsd", "aarch64"): (32, 33, 34, 35, 36),
    ("openbsd", "sparc64"): (None, 32, 33, 34, 35),
}


@pytest.mark.parametrize("key", KEYS, ids=ids)
def test_machine_dependent_request_numbers(key):
    requests = _abi(key).requests
    names = ("PT_STEP", "PT_GETREGS", "PT_SETREGS", "PT_GETFPREGS", "PT_SETFPREGS")
    assert tuple(requests.get(n) for n in names) == MD_REQUESTS[key]


@pytest.mark.parametrize("key", KEYS, ids=ids)
def test_request_numbers_are_unique(key):
    # Two names on one number would make a traced request undecodable (a typo, too).
    values = list(_abi(key).requests.values.values())
    assert len(values) == len(set(values))


def test_netbsd_extra_md_requests():
    assert [netbsd_amd64.ABI.requests[n] for n in (
        "PT_GETDBREGS", "PT_SETDBREGS", "PT_SETSTEP", "PT_CLEARSTEP", "PT_GETXSTATE", "PT_SETXSTATE")] == [
        37, 38, 39, 40, 41, 42]
    assert (netbsd_aarch64.ABI.requests["PT_SETSTEP"], netbsd_aarch64.ABI.requests["PT_CLEARSTEP"]) == (37, 38)


def test_openbsd_amd64_xstate_requests_and_info_struct():
    table = openbsd_amd64.ABI
    assert [table.requests[n] for n in ("PT_GETXSTATE_INFO", "PT_GETXSTATE", "PT_SETXSTATE")] == [37, 38, 39]
    info = table.structs["ptrace_xstate_info"]
    assert (info.size, info.field("xsave_mask").offset, info.field("xsave_len").offset) == (16, 0, 8)


@pytest.mark.parametrize("module", [netbsd_amd64, netbsd_aarch64, netbsd_sparc64], ids=lambda m: m.ABI.arch)
def test_netbsd_machine_independent_requests(module):
    table = module.ABI
    assert [table.requests[n] for n in (
        "PT_TRACE_ME", "PT_READ_D", "PT_CONTINUE", "PT_ATTACH", "PT_DETACH", "PT_IO", "PT_LWPINFO",
        "PT_SYSCALL", "PT_SYSCALLEMU", "PT_SET_EVENT_MASK", "PT_GET_PROCESS_STATE", "PT_SET_SIGINFO",
        "PT_GET_SIGINFO", "PT_RESUME", "PT_SUSPEND", "PT_STOP", "PT_LWPSTATUS", "PT_LWPNEXT",
        "PT_SET_SIGPASS", "PT_GET_SIGPASS")] == [
        0, 2, 7, 9, 10, 11, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27]
    assert table.request("PT_LWPINFO", "9.3") == 13
    assert any("netbsd-9" in note for note in table.notes)


# -- release keying -----------------------------------------------------------------
@pytest.mark.parametrize(("release", "key"), [
    ("9.3", (9, 3)), ("10", (10,)), ("10.1_STABLE", (10, 1)), ("7.10", (7, 10)),
    ("current", None), ("", None), (None, None),
])
def test_release_key_reads_the_leading_numbers(release, key):
    assert release_key(release) == key


# ptrace.h 1.75 numbers 23..27 postdate the netbsd-9 branch (2019-07-30).
NETBSD_10_ONLY = {"PT_STOP": 23, "PT_LWPSTATUS": 24, "PT_LWPNEXT": 25, "PT_SET_SIGPASS": 26, "PT_GET_SIGPASS": 27}


@pytest.mark.parametrize("module", [netbsd_amd64, netbsd_aarch64, netbsd_sparc64], ids=lambda m: m.ABI.arch)
def test_netbsd_9_lacks_exactly_the_requests_10_added(module):
    table = module.ABI
    nine, ten = table.requests_for("9.3"), table.requests_for("10.1")
    assert {n: v for n, v in ten.values.items() if n not in nine.values} == NETBSD_10_ONLY
    assert set(nine.values) <= set(ten.values)
    assert set(nine.absent) - set(ten.absent) == set(NETBSD_10_ONLY)
    assert nine.values["PT_LWPINFO"] == 13 and ten.values["PT_LWPINFO"] == 13
    # No release (a local or unknown target): the newest table, all of them.
    assert table.requests_for(None) is table.requests


def test_netbsd_9_request_is_refused_with_the_release_it_arrived_in():
    table = netbsd_amd64.ABI
    with pytest.raises(AbsentRequest) as caught:
        table.request("PT_LWPNEXT", "9.3")
    assert str(caught.value) == ("netbsd_amd64: PT_LWPNEXT first appears in release 10; this target runs 9.3, "
                                 "whose kernel does not know the number")
    assert isinstance(caught.value, KeyError)
    assert (table.has_request("PT_STOP", "9.0"), table.has_request("PT_STOP", "10.0"),
            table.has_request("PT_STOP")) == (False, True, True)
    assert table.request("PT_STOP", "10.1") == 23
    assert table.request("PT_STOP", "current") == 23


XSTATE = {"PT_GETXSTATE_INFO": 37, "PT_GETXSTATE": 38, "PT_SETXSTATE": 39}


@pytest.mark.parametrize("release", ["7.5", "7.6"])
def test_openbsd_amd64_before_7_7_has_no_xstate_requests(release):
    table = openbsd_amd64.ABI
    seen = table.requests_for(release)
    assert [name for name in XSTATE if name in seen.values] == []
    assert [name for name in XSTATE if name in seen.absent] == list(XSTATE)
    assert not table.has_request("PT_GETXSTATE", release)
    assert seen.values["PT_GETFPREGS"] == 35


@pytest.mark.parametrize("release", ["7.7", "7.8", "7.9"])
def test_openbsd_amd64_from_7_7_has_the_xstate_requests(release):
    seen = openbsd_amd64.ABI.requests_for(release)
    assert {name: seen.values[name] for name in XSTATE} == XSTATE
    assert not set(XSTATE) & set(seen.absent)


@pytest.mark.parametrize("module", [openbsd_aarch64, openbsd_sparc64], ids=lambda m: m.ABI.arch)
def test_openbsd_other_arches_see_one_request_set_on_every_release(module):
    table = module.ABI
    assert table.requests_for("7.5").values == table.requests_for("7.9").values == dict(table.requests.values)


def test_openbsd_sparc64_wcookie_and_arm64_pacmask_numbers():
    # sparc64/include/ptrace.h 1.3: PT_WCOOKIE (PT_FIRSTMACH + 4);
    # arm64/include/ptrace.h: PT_PACMASK (PT_FIRSTMACH + 5).
    assert openbsd_sparc64.ABI.requests["PT_WCOOKIE"] == 36
    assert openbsd_aarch64.ABI.requests["PT_PACMASK"] == 37
    assert "PT_WCOOKIE" not in openbsd_aarch64.ABI.requests
    assert "PT_PACMASK" not in openbsd_sparc64.ABI.requests
    assert openbsd_sparc64.ABI.requests.name_of(36, "PT_") == "PT_WCOOKIE"


def test_openbsd_thread_pid_offset():
    # sys/sys/proc.h 1.397: THREAD_PID_OFFSET 100000.
    assert openbsd_common.THREAD_PID_OFFSET == 100000
    assert any("THREAD_PID_OFFSET = 100000" in note for note in openbsd_amd64.ABI.notes)


def test_openbsd_siginfo_follows_revision_1_14():
    # siginfo.h 1.14: _proc {pid_t _pid; uid_t _uid; union _pdata {_kill {sigval};
    # _cld {clock_t _utime, _stime; int _status}}}; _fault {void *_addr; int _trapno}.
    child = openbsd_amd64.ABI.structs["siginfo"]
    fault = openbsd_amd64.ABI.structs["siginfo_fault"]
    offsets = {f.name: (f.offset, f.size) for f in child}
    offsets.update({f.name: (f.offset, f.size) for f in fault})
    assert offsets == {
        "si_signo": (0, 4), "si_code": (4, 4), "si_errno": (8, 4), "si_pid": (16, 4), "si_uid": (20, 4),
        "si_utime": (24, 8), "si_stime": (32, 8), "si_status": (40, 4), "si_addr": (16, 8), "si_trapno": (24, 4),
    }
    assert child.field("si_uid").member == "_data._proc._uid"
    assert child.field("si_status").member == "_data._proc._pdata._cld._status"
    assert child.size == fault.size == 136


@pytest.mark.parametrize("module", [openbsd_amd64, openbsd_aarch64, openbsd_sparc64], ids=lambda m: m.ABI.arch)
def test_openbsd_machine_independent_requests(module):
    table = module.ABI
    assert [table.requests[n] for n in (
        "PT_TRACE_ME", "PT_READ_D", "PT_CONTINUE", "PT_ATTACH", "PT_DETACH", "PT_IO",
        "PT_SET_EVENT_MASK", "PT_GET_EVENT_MASK", "PT_GET_PROCESS_STATE",
        "PT_GET_THREAD_FIRST", "PT_GET_THREAD_NEXT")] == [0, 2, 7, 9, 10, 11, 12, 13, 14, 15, 16]
    for missing in ("PT_SYSCALL", "PT_GET_SIGINFO", "PT_LWPINFO"):
        assert missing not in table.requests
        assert missing in table.requests.absent


# -- sparc64 ---------------------------------------------------------------------------
@pytest.mark.parametrize("module", [netbsd_sparc64, openbsd_sparc64], ids=lambda m: m.ABI.os)
def test_sparc64_is_big_endian_without_kernel_step(module):
    table = module.ABI
    assert (table.byteorder, table.pointer_size, table.hardware_step) == ("big", 8, False)
    assert "PT_STEP" not in table.requests
    assert "PT_STEP" in table.requests.absent
    assert table.constant("BIAS") == 2047
    assert table.roles.npc == "npc"


@pytest.mark.parametrize("key", [k for k in KEYS if k[1] != "sparc64"], ids=ids)
def test_other_arches_are_little_endian_with_kernel_step(key):
    table = _abi(key)
    assert (table.byteorder, table.hardware_step, "PT_STEP" in table.requests) == ("little", True, True)


# -- breakpoints ---------------------------------------------------------------------
BREAKPOINTS = {
    ("netbsd", "amd64"): (b"\xcc", 1, "TRAP_BRKPT"),
    ("netbsd", "aarch64"): (bytes.fromhex("a00120d4"), 0, "TRAP_BRKPT"),
    ("netbsd", "sparc64"): (bytes.fromhex("91d02001"), 0, "TRAP_BRKPT"),
    ("openbsd", "amd64"): (b"\xcc", 1, None),
    ("openbsd", "aarch64"): (bytes.fromhex("000020d4"), 0, None),
    ("openbsd", "sparc64"): (bytes.fromhex("91d02001"), 0, None),
}


@pytest.mark.parametrize("key", KEYS, ids=ids)
def test_breakpoint_bytes_adjust_and_si_code(key):
    bp = _abi(key).breakpoint
    assert (bp.insn, bp.pc_adjust, bp.si_code) == BREAKPOINTS[key]
    assert bp.size == len(BREAKPOINTS[key][0])
    if bp.si_code is not None:
        assert _abi(key).si_codes[bp.si_code] == 1


def test_breakpoint_words_read_back_as_the_instruction_in_target_order():
    assert int.from_bytes(netbsd_sparc64.ABI.breakpoint.insn, "big") == 0x91D02001  # ta 1
    assert int.from_bytes(netbsd_aarch64.ABI.breakpoint.insn, "little") == 0xD42001A0  # brk #13
    assert int.from_bytes(openbsd_aarch64.ABI.breakpoint.insn, "little") == 0xD4200000  # brk #0


# -- constants ---------------------------------------------------------------------
@pytest.mark.parametrize("key", KEYS, ids=ids)
def test_signals_errnos_and_wait_bits(key):
    table = _abi(key)
    assert [table.signals[n] for n in ("SIGTRAP", "SIGKILL", "SIGSTOP", "SIGCONT", "SIGCHLD", "SIGUSR1")] == [
        5, 9, 17, 19, 20, 30]
    assert [table.errnos[n] for n in ("EPERM", "ESRCH", "EIO", "EDEADLK", "EFAULT", "EBUSY", "EINVAL", "EAGAIN",
                                      "ENOSYS")] == [1, 3, 5, 11, 14, 16, 22, 35, 78]
    assert (table.wait["WNOHANG"], table.wait["WUNTRACED"], table.wait["_WSTOPPED"], table.wait["WCOREFLAG"]) == (
        1, 2, 0x7F, 0x80)


def test_netbsd_wait_si_codes_and_events():
    table = netbsd_amd64.ABI
    assert [table.wait[n] for n in ("WALTSIG", "WALLSIG", "WCONTINUED", "WEXITED", "WTRAPPED", "__WALL")] == [
        4, 8, 0x10, 0x20, 0x40, 8]
    assert [table.si_codes[n] for n in ("TRAP_EXEC", "TRAP_CHLD", "TRAP_LWP", "TRAP_DBREG", "TRAP_SCE",
                                        "TRAP_SCX", "SI_LWP")] == [3, 4, 5, 6, 7, 8, -5]
    assert dict(table.events.values) == {"PTRACE_FORK": 1, "PTRACE_VFORK": 2, "PTRACE_VFORK_DONE": 4,
                                         "PTRACE_LWP_CREATE": 8, "PTRACE_LWP_EXIT": 16, "PTRACE_POSIX_SPAWN": 32}
    assert "_WCONTINUED" in table.wait.absent


def test_openbsd_wait_si_codes_and_events():
    table = openbsd_sparc64.ABI
    assert [table.wait[n] for n in ("WEXITED", "WCONTINUED", "WNOWAIT", "WTRAPPED", "_WCONTINUED")] == [
        4, 8, 0x10, 0x20, 0xFFFF]
    assert dict(table.events.values) == {"PTRACE_FORK": 2}
    assert (table.si_codes["SI_LWP"], table.si_codes["SI_QUEUE"], table.si_codes["TRAP_TRACE"]) == (-1, -2, 2)
    assert "TRAP_EXEC" not in table.si_codes


@pytest.mark.parametrize("key", KEYS, ids=ids)
def test_piod_and_syscall_numbers(key):
    table = _abi(key)
    assert [table.constant(n) for n in ("PIOD_READ_D", "PIOD_WRITE_D", "PIOD_READ_I", "PIOD_WRITE_I")] == [
        1, 2, 3, 4]
    common = (table.constant("SYS_exit"), table.constant("SYS_fork"), table.constant("SYS_read"),
              table.constant("SYS_write"), table.constant("SYS_getpid"), table.constant("SYS_getppid"),
              table.constant("SYS_execve"), table.constant("SYS_vfork"))
    assert common == (1, 2, 3, 4, 20, 39, 59, 66)
    assert table.constant("SYS_kill") == (37 if key[0] == "netbsd" else 122)


@pytest.mark.parametrize("key", KEYS, ids=ids)
def test_libc_symbols(key):
    symbols = _abi(key).libc_symbols
    assert (symbols["ptrace"], symbols["ptrace_data"]) == ("ptrace", "int")
    assert symbols.get("wait4") == ("__wait450" if key[0] == "netbsd" else None)


# -- structs: sizes and offsets -------------------------------------------------------
NETBSD_STRUCTS = {
    "ptrace_io_desc": (32, {"piod_op": 0, "piod_offs": 8, "piod_addr": 16, "piod_len": 24}),
    "ptrace_event": (4, {"pe_set_event": 0}),
    "ptrace_state": (8, {"pe_report_event": 0, "pe_other_pid": 4}),
    "ptrace_state_lwp": (8, {"pe_lwp": 4}),
    "ptrace_lwpinfo": (8, {"pl_lwpid": 0, "pl_event": 4}),
    "ptrace_lwpstatus": (64, {"pl_lwpid": 0, "pl_sigpend": 4, "pl_sigmask": 20, "pl_name": 36, "pl_private": 56}),
    "ptrace_siginfo": (136, {"si_signo": 0, "si_code": 4, "si_errno": 8, "psi_lwpid": 128}),
    "ptrace_siginfo_syscall": (136, {"si_sysnum": 16, "si_retval": 20, "si_error": 28, "si_args": 32}),
    "siginfo": (128, {"si_pid": 16, "si_uid": 20, "si_status": 24}),
    "siginfo_fault": (128, {"si_addr": 16, "si_trap": 24}),
    "sigset": (16, {"bits": 0}),
}
OPENBSD_STRUCTS = {
    "ptrace_io_desc": (32, {"piod_op": 0, "piod_offs": 8, "piod_addr": 16, "piod_len": 24}),
    "ptrace_event": (4, {"pe_set_event": 0}),
    "ptrace_state": (12, {"pe_report_event": 0, "pe_other_pid": 4, "pe_tid": 8}),
    "ptrace_thread_state": (4, {"pts_tid": 0}),
    "siginfo": (136, {"si_signo": 0, "si_code": 4, "si_errno": 8, "si_pid": 16, "si_uid": 20, "si_status": 40}),
    "siginfo_fault": (136, {"si_addr": 16, "si_trapno": 24}),
}


@pytest.mark.parametrize("key", KEYS, ids=ids)
def test_struct_sizes_and_offsets(key):
    wanted = NETBSD_STRUCTS if key[0] == "netbsd" else OPENBSD_STRUCTS
    structs = _abi(key).structs
    got = {name: (structs[name].size, {f: structs[name].field(f).offset for f in fields})
           for name, (_, fields) in wanted.items()}
    assert got == wanted


# -- decoding byte-exact buffers -----------------------------------------------------
ORDERS = {"little": "<", "big": ">"}


@pytest.mark.parametrize("order", ["little", "big"])
def test_netbsd_sparc64_reg64_decodes(order):
    # struct reg64: 3 int64, int32 r_y, 4 bytes padding, r_global[8], r_out[8].
    globals_ = list(range(100, 108))
    outs = [0x7FFFF000 + i for i in range(8)]
    raw = struct.pack(ORDERS[order] + "qqqi4x8q8q", 0x44, 0x100000, 0x100004, -3, *globals_, *outs)
    assert len(raw) == 160
    regs = netbsd_sparc64.ABI.regs.layout.decode(raw, order)
    assert (regs["pc"], regs["npc"], regs["y"], regs["g1"], regs["o0"], regs["o6"]) == (
        0x100000, 0x100004, 0xFFFFFFFD, 101, 0x7FFFF000, 0x7FFFF006)


@pytest.mark.parametrize("order", ["little", "big"])
def test_openbsd_sparc64_reg64_decodes_locals_and_ins(order):
    raw = struct.pack(ORDERS[order] + "qqqi4x32q", 0, 0x2000, 0x2004, 0, *range(32))
    regs = openbsd_sparc64.ABI.regs.layout.decode(raw, order)
    assert (regs["g0"], regs["o6"], regs["l0"], regs["i6"], regs["i7"]) == (0, 14, 16, 30, 31)


@pytest.mark.parametrize("key", [("netbsd", "amd64"), ("openbsd", "amd64"), ("netbsd", "aarch64"),
                                 ("openbsd", "aarch64")], ids=ids)
@pytest.mark.parametrize("order", ["little", "big"])
def test_word_register_sets_decode_in_declaration_order(key, order):
    layout = _abi(key).regs.layout
    words = layout.size // 8
    raw = struct.pack(ORDERS[order] + "%dQ" % words, *[0x1000 + i for i in range(words)])
    regs = layout.decode(raw, order)
    pc_index = {("netbsd", "amd64"): 21, ("openbsd", "amd64"): 16}.get(key, 32)
    assert regs[_abi(key).roles.pc] == 0x1000 + pc_index


@pytest.mark.parametrize("order", ["little", "big"])
def test_netbsd_ptrace_siginfo_views_decode(order):
    e = ORDERS[order]
    raw = bytearray(136)
    # _ksiginfo: signo, code, errno, pad; _reason._syscall at 16; psi_lwpid at 128.
    struct.pack_into(e + "iii", raw, 0, 5, 8, 0)
    struct.pack_into(e + "i2ii8Q", raw, 16, 20, 4321, 0, 1, *range(8))
    struct.pack_into(e + "i", raw, 128, 3)
    structs = netbsd_amd64.ABI.structs
    head = structs["ptrace_siginfo"].decode(bytes(raw), order)
    assert (head["si_signo"], head["si_code"], head["si_errno"], head["psi_lwpid"]) == (5, 8, 0, 3)
    assert netbsd_amd64.ABI.si_codes.name_of(head["si_code"], "TRAP_") == "TRAP_SCX"
    sc = structs["ptrace_siginfo_syscall"].decode(bytes(raw), order)
    assert (sc["si_sysnum"], sc["si_retval"], sc["si_error"], sc["si_args"]) == (20, (4321, 0), 1, tuple(range(8)))


@pytest.mark.parametrize("order", ["little", "big"])
def test_netbsd_lwpstatus_and_state_decode(order):
    e = ORDERS[order]
    raw = struct.pack(e + "i4I4I20sQ", 7, 1 << 4, 0, 0, 0, 0, 0, 0, 0, b"worker".ljust(20, b"\0"), 0xDEAD0000)
    status = netbsd_amd64.ABI.structs["ptrace_lwpstatus"].decode(raw, order)
    assert (status["pl_lwpid"], status["pl_sigpend"][0], status["pl_name"].rstrip(b"\0"), status["pl_private"]) == (
        7, 16, b"worker", 0xDEAD0000)
    state = struct.pack(e + "ii", 8, 2)
    assert netbsd_sparc64.ABI.structs["ptrace_state_lwp"].decode(state, order) == {
        "pe_report_event": 8, "pe_lwp": 2}


@pytest.mark.parametrize("order", ["little", "big"])
def test_openbsd_state_thread_and_io_desc_decode(order):
    e = ORDERS[order]
    structs = openbsd_sparc64.ABI.structs
    state = structs["ptrace_state"].decode(struct.pack(e + "iii", 2, 4242, 100007), order)
    assert state == {"pe_report_event": 2, "pe_other_pid": 4242, "pe_tid": 100007}
    assert structs["ptrace_thread_state"].decode(struct.pack(e + "i", -1), order) == {"pts_tid": -1}
    desc = structs["ptrace_io_desc"].decode(struct.pack(e + "i4xQQQ", 1, 0x1000, 0x2000, 16), order)
    assert desc == {"piod_op": 1, "piod_offs": 0x1000, "piod_addr": 0x2000, "piod_len": 16}


@pytest.mark.parametrize("order", ["little", "big"])
def test_openbsd_siginfo_child_view_decodes(order):
    e = ORDERS[order]
    raw = bytearray(136)
    struct.pack_into(e + "iii", raw, 0, 20, 1, 0)
    struct.pack_into(e + "iIqqi", raw, 16, 321, 1000, 5, 6, 7)
    info = openbsd_amd64.ABI.structs["siginfo"].decode(bytes(raw), order)
    assert (info["si_signo"], info["si_code"], info["si_pid"], info["si_uid"], info["si_status"]) == (
        20, 1, 321, 1000, 7)


def test_encode_keeps_unnamed_bytes_and_round_trips_big_endian():
    layout = netbsd_sparc64.ABI.regs.layout
    base = bytes(range(160))
    out = layout.encode({"pc": 0x4000, "npc": 0x4004}, "big", base=base)
    assert out[8:24] == struct.pack(">QQ", 0x4000, 0x4004)
    assert out[28:32] == base[28:32]  # the padding after r_y stays as it was
    assert layout.decode(out, "big")["npc"] == 0x4004


# -- citations -------------------------------------------------------------------------
_REVISION = re.compile(r"\b\d+\.\d+(\.\d+)*\b")
_REPO = re.compile(r"(NetBSD/src|openbsd/src) ")


def _headers(table):
    for group in table.constant_groups():
        yield "constants", group.header
    for name, layout in table.all_structs().items():
        yield name, layout.header


@pytest.mark.parametrize("key", KEYS, ids=ids)
def test_every_table_cites_a_header_revision(key):
    table = _abi(key)
    uncited = []
    for what, header in _headers(table):
        if not (header.include and _REPO.search(header.source) and _REVISION.search(header.source)):
            uncited.append("%s: %r" % (what, header))
    assert uncited == []
    assert _REVISION.search(table.breakpoint.source)
    assert all(_REVISION.search(source) for source in table.sources)


@pytest.mark.parametrize("key", KEYS, ids=ids)
def test_module_docstring_names_its_sources(key):
    doc = MODULES[key].__doc__
    assert doc is not None
    assert "ptrace.h" in doc and "reg.h" in doc
    assert _REVISION.search(doc)


@pytest.mark.parametrize("key", KEYS, ids=ids)
def test_request_table_cites_both_the_mi_and_the_md_header(key):
    source = _abi(key).requests.header.source
    assert "sys/sys/ptrace.h" in source
    assert "/include/ptrace.h" in source
