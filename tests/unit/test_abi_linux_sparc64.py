"""The Linux sparc64 table: regset layout, big-endian decoding, PC/NPC,
breakpoint, the request quirks, and agreement with Debian's sparc64 headers."""

from __future__ import annotations

import ctypes
import shutil
import struct
import subprocess
from dataclasses import replace

import pytest

from harness.tracecore import abi, selfcheck
from harness.tracecore.abi import linux_sparc64
from harness.tracecore.backends.linux import LinuxBackend
from harness.tracecore.events import signal_name
from harness.tracecore.ptrace import PtraceBinding
from harness.tracecore.tracer import Tracee, Tracer

TABLE = linux_sparc64.ABI
NAMES = (["g%d" % i for i in range(8)] + ["o%d" % i for i in range(8)]
         + ["l%d" % i for i in range(8)] + ["i%d" % i for i in range(8)]
         + ["tstate", "pc", "npc", "y"])


def test_loads_by_os_and_arch():
    loaded = abi.load("linux", "sparc64")
    assert loaded is TABLE
    assert ("linux", "sparc64") in abi.KNOWN
    assert (loaded.key, loaded.byteorder, loaded.pointer_size, loaded.hardware_step) == (
        "linux_sparc64", "big", 8, False)


def test_regset_is_36_doublewords_in_the_kernels_order():
    layout = TABLE.regs.layout
    assert layout.size == 288
    assert layout.names() == tuple(NAMES)
    assert {f.name: f.offset for f in layout} == {name: 8 * i for i, name in enumerate(NAMES)}
    assert {(f.size, f.count) for f in layout} == {(8, 1)}
    assert [layout.field(n).offset for n in ("g0", "o0", "l0", "i0", "tstate", "pc", "npc", "y")] == [
        0, 64, 128, 192, 256, 264, 272, 280]


def test_regs_move_through_getregset_with_nt_prstatus_and_fp_with_nt_prfpreg():
    assert (TABLE.regs.get, TABLE.regs.set, TABLE.regs.note) == ("PTRACE_GETREGSET", "PTRACE_SETREGSET", 1)
    assert (TABLE.fpregs.get, TABLE.fpregs.note, TABLE.fpregs.layout.size) == ("PTRACE_GETREGSET", 2, 280)
    assert TABLE.fpregs.layout.field("pr_fprs").offset == 272


def test_decoding_a_hand_built_big_endian_regset():
    values = [0x0102030405060700 + i for i in range(36)]
    raw = struct.pack(">36Q", *values)
    regs = TABLE.regs.layout.decode(raw, TABLE.byteorder)
    assert regs == dict(zip(NAMES, values, strict=True))
    assert (regs["o6"], regs["i6"], regs["pc"], regs["npc"]) == (values[14], values[30], values[33], values[34])


def test_encoding_one_register_changes_only_its_eight_bytes():
    base = struct.pack(">36Q", *range(100, 136))
    out = TABLE.regs.layout.encode({"o0": 0x1122334455667788}, TABLE.byteorder, base=base)
    assert out[64:72] == bytes.fromhex("1122334455667788")
    assert out[:64] + out[72:] == base[:64] + base[72:]


def test_roles_name_pc_npc_and_the_syscall_registers():
    r = TABLE.roles
    assert (r.pc, r.npc, r.sp, r.fp, r.retval, r.syscall_nr) == ("pc", "npc", "o6", "i6", "o0", "g1")
    assert r.args == ("o0", "o1", "o2", "o3", "o4", "o5")


def test_breakpoint_is_ta_1_big_endian_with_no_pc_adjustment():
    bp = TABLE.breakpoint
    assert (bp.insn, bp.size, bp.pc_adjust, bp.si_code) == (struct.pack(">I", 0x91D02001), 4, 0, "TRAP_BRKPT")


def test_request_quirks_detach_is_11_and_there_is_no_singlestep():
    assert TABLE.request("PTRACE_DETACH") == 11
    assert TABLE.request("PTRACE_ATTACH") == 16
    assert TABLE.request("PTRACE_GETREGS") == 22
    assert TABLE.request("PTRACE_GETREGSET") == 0x4204
    assert not TABLE.has_request("PTRACE_SINGLESTEP")
    assert TABLE.request("PTRACE_WRITEDATA") == 17


def test_sparc_signal_and_errno_numbers():
    s = TABLE.signals
    assert (s["SIGBUS"], s["SIGUSR1"], s["SIGUSR2"], s["SIGCHLD"], s["SIGSTOP"], s["SIGCONT"], s["SIGURG"]) == (
        10, 30, 31, 20, 17, 19, 16)
    assert "SIGSTKFLT" not in s
    assert signal_name(TABLE, 29) == "SIGLOST"
    assert (TABLE.errnos["EDEADLK"], TABLE.errnos["ENOSYS"], TABLE.errnos["EINVAL"]) == (78, 90, 22)


def test_syscall_error_is_a_carry_bit_in_tstate():
    assert (TABLE.constant("TSTATE_ICARRY"), TABLE.constant("TSTATE_XCARRY")) == (1 << 32, 1 << 36)
    assert TABLE.constant("SYS_getppid") == 197


def test_fault_siginfo_has_the_trap_number_after_the_address():
    layout = TABLE.structs["siginfo_fault"]
    assert (layout.field("si_addr").offset, layout.field("si_trapno").offset) == (16, 24)
    raw = struct.pack(">iii4xQi", 11, 0, 1, 0xDEAD0000, 0x34).ljust(128, b"\0")
    assert layout.decode(raw, "big") == {"si_signo": 11, "si_errno": 0, "si_code": 1,
                                         "si_addr": 0xDEAD0000, "si_trapno": 0x34}


# -- the backend and tracer, with the kernel replaced by a recording fake ------------
class _FakePtrace:
    """Records calls; GETREGSET fills the iovec's buffer with ``regset``."""

    def __init__(self, regset: bytes) -> None:
        self.regset = bytearray(regset)
        self.calls = []

    def __call__(self, request, pid, addr=0, data=0):
        self.calls.append((request, pid, addr))
        if request in ("PTRACE_GETREGSET", "PTRACE_SETREGSET"):
            iov = ctypes.cast(data, ctypes.POINTER(ctypes.c_size_t * 2)).contents
            base, length = iov[0], iov[1]
            if request == "PTRACE_GETREGSET":
                ctypes.memmove(base, bytes(self.regset[:length]), length)
            else:
                self.regset[:length] = ctypes.string_at(base, length)
        return 0


def _backend(regset: bytes):
    backend = LinuxBackend(TABLE)
    backend.ptrace = _FakePtrace(regset)
    return backend


def test_backend_reads_the_regset_through_an_iovec_of_288_bytes():
    raw = struct.pack(">36Q", *range(1, 37))
    backend = _backend(raw)
    assert backend.get_regs(77) == raw
    assert backend.ptrace.calls == [("PTRACE_GETREGSET", 77, 1)]


def test_backend_refuses_a_kernel_step_and_says_why():
    with pytest.raises(NotImplementedError, match="linux_sparc64 has no PTRACE_SINGLESTEP"):
        _backend(bytes(288)).resume(77, "step")


def test_setting_the_pc_sets_npc_to_the_next_instruction():
    tracer = Tracer(TABLE)
    tracer.backend = _backend(struct.pack(">36Q", *range(1, 37)))
    tracer.tracees[77] = Tracee(77, stopped=True)
    tracer.set_pc(77, 0x100000)
    regs = TABLE.regs.layout.decode(bytes(tracer.backend.ptrace.regset), "big")
    assert (regs["pc"], regs["npc"]) == (0x100000, 0x100004)
    # Everything else is written back as read.
    assert {n: v for n, v in regs.items() if n not in ("pc", "npc")} == {
        n: i + 1 for i, n in enumerate(NAMES) if n not in ("pc", "npc")}


def test_detach_goes_out_as_request_11():
    backend = _backend(bytes(288))
    backend.detach(77)
    assert backend.ptrace.calls == [("PTRACE_DETACH", 77, 0)]
    assert PtraceBinding(TABLE).number("PTRACE_DETACH") == 11


# -- agreement with Debian's sparc64 glibc and kernel headers ---------------------------
def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip("needs %s (scripts/install-system-packages installs them)" % ", ".join(missing))


def _run_under_qemu_user(path: str) -> str:
    proc = subprocess.run(["qemu-sparc64-static", "-L", "/usr/sparc64-linux-gnu", path],
                          capture_output=True, check=True, timeout=120)
    return proc.stdout.decode()


def test_table_agrees_with_the_sparc64_cross_headers():
    _need("sparc64-linux-gnu-gcc", "qemu-sparc64-static")
    report = selfcheck.check(TABLE, cc="sparc64-linux-gnu-gcc", execute=_run_under_qemu_user)
    assert report["disagreements"] == []
    assert report["ok"] and report["checked"] >= 250
    checked = {r["name"] for r in report["facts"] if r["status"] == "agree"}
    assert {"PTRACE_DETACH", "ELF_NGREG", "sizeof(struct { elf_gregset_t r; })",
            "offsetof(struct { elf_gregset_t r; }, r[34])", "TSTATE_XCARRY", "SIGSTKFLT",
            "offsetof(siginfo_t, si_trapno)", "offsetof(elf_fpregset_t, pr_fprs)"} <= checked


def test_a_wrong_sparc_number_is_caught_by_the_probe():
    _need("sparc64-linux-gnu-gcc", "qemu-sparc64-static")
    wrong = replace(TABLE, requests=replace(TABLE.requests, values=dict(TABLE.requests.values, PTRACE_DETACH=17)),
                    errnos=replace(TABLE.errnos, values=dict(TABLE.errnos.values, EDEADLK=35)))
    report = selfcheck.check(wrong, cc="sparc64-linux-gnu-gcc", execute=_run_under_qemu_user)
    assert sorted(report["disagreements"]) == [
        "EDEADLK: table 35, target 78 (errno.h)",
        "PTRACE_DETACH: table 17, target 11 (sys/ptrace.h)",
    ]
