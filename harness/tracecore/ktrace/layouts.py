"""ktrace(2) record layouts and constants for NetBSD and OpenBSD, as data.

Sources (read from the public trees; offsets are the LP64 ABI's layout of
the declarations, which is what amd64, aarch64 and sparc64 all use):

NetBSD
  sys/sys/ktrace.h   $NetBSD: ktrace.h,v 1.66 2018/04/19 21:19:07 christos Exp $
                     (NetBSD/src d4a48006): header union v0/v1/v2, KTR_*, KTRFAC_*,
                     KTROP_*, payload structs.
  sys/kern/kern_ktrace.c $NetBSD: kern_ktrace.c,v 1.166 2014/11/21 09:40:10 ozaki-r Exp $:
                     ktr_len is the payload length; every header version is written
                     ``sizeof(struct ktr_header) - (sizeof(_v) - MAX(sizeof _v0, sizeof _v1))``
                     bytes long (56 on LP64 for v0, v1 and v2); the record version
                     travels in the ``ops`` argument; ktr_psig appends a siginfo_t
                     when the kernel has a ksiginfo.
  sys/sys/siginfo.h  (NetBSD/src 00fab97a) siginfo_t is a 128-byte union over
                     struct _ksiginfo; on _LP64 an int of padding puts the reason
                     union at 16.
OpenBSD
  sys/sys/ktrace.h   $OpenBSD: ktrace.h,v 1.50 2024/07/27 02:10:26 guenther Exp $
  sys/kern/kern_ktrace.c $OpenBSD: kern_ktrace.c,v 1.115 2024/12/27 11:57:16 mpi Exp $:
                     KTR_START is written as htobe32(KTR_START) with pid and tid -1
                     and no payload, once per KTROP_SET; tid is p_tid + THREAD_PID_OFFSET;
                     SYSRET appends the return value (register_t, or long long for
                     lseek) only when ktr_error is 0.
  sys/sys/ktrace.h   $OpenBSD: ktrace.h,v 1.23 2015/07/28 $: KTR_CSW (6) and KTR_EMUL (7),
                     gone from 1.50 but still in traces from older kernels.
  sys/sys/siginfo.h  $OpenBSD: siginfo.h,v 1.9 2005/12/13 $: SI_MAXSZ 128, three ints
                     then a union that holds a pointer (so it starts at 16 on LP64).
  sys/sys/syslimits.h: _MAXCOMLEN 24 (includes the NUL): ktr_comm is 24 bytes.
"""

from __future__ import annotations

from typing import Dict, Tuple

from ..abi.types import Constants, Field, Header, Struct

NETBSD_KTRACE_H = Header(
    "sys/ktrace.h",
    "NetBSD/src sys/sys/ktrace.h v1.66 2018/04/19 (d4a48006); "
    "sys/kern/kern_ktrace.c v1.166 2014/11/21 (ktealloc, ktrwrite, ktrops, ktr_psig)",
)
NETBSD_SIGINFO_H = Header("sys/siginfo.h", "NetBSD/src sys/sys/siginfo.h (00fab97a)")
NETBSD_SIGNAL_H = Header("sys/signal.h", "NetBSD/src sys/sys/signal.h (4.4BSD numbering; SIGPWR 32)")
OPENBSD_KTRACE_H = Header(
    "sys/ktrace.h",
    "openbsd/src sys/sys/ktrace.h v1.50 2024/07/27; sys/kern/kern_ktrace.c v1.115 2024/12/27",
)
OPENBSD_OLD_KTRACE_H = Header(
    "sys/ktrace.h", "openbsd/src sys/sys/ktrace.h v1.23 2015/07/28 (KTR_CSW, KTR_EMUL)")
OPENBSD_SIGINFO_H = Header("sys/siginfo.h", "openbsd/src sys/sys/siginfo.h v1.9 2005/12/13")
OPENBSD_SIGNAL_H = Header("sys/signal.h", "openbsd/src sys/sys/signal.h (4.4BSD numbering)")
OPENBSD_PROC_H = Header(
    "sys/proc.h", "openbsd/src sys/sys/proc.h THREAD_PID_OFFSET 100000 (1000000 in releases before the "
    "unveil era); used by kern_ktrace.c v1.115 for ktr_tid")

# Both kernels write register_t arguments and return values: 8 bytes on LP64.
REGISTER_SIZE = 8
POINTER_SIZE = 8

# --- operations (the ``ops`` argument) ------------------------------------

NETBSD_OPS = Constants(NETBSD_KTRACE_H, {
    "KTROP_SET": 0,
    "KTROP_CLEAR": 1,
    "KTROP_CLEARFILE": 2,
    "KTROP_MASK": 0x3,
    "KTRFLAG_DESCEND": 4,
})

OPENBSD_OPS = Constants(OPENBSD_KTRACE_H, {
    "KTROP_SET": 0,
    "KTROP_CLEAR": 1,
    "KTROP_CLEARFILE": 2,
    "KTRFLAG_DESCEND": 4,
})

# --- record types -----------------------------------------------------------

NETBSD_TYPES = Constants(NETBSD_KTRACE_H, {
    "KTR_SYSCALL": 1,
    "KTR_SYSRET": 2,
    "KTR_NAMEI": 3,
    "KTR_GENIO": 4,
    "KTR_PSIG": 5,
    "KTR_CSW": 6,
    "KTR_EMUL": 7,
    "KTR_USER": 8,
    "KTR_EXEC_ARG": 10,
    "KTR_EXEC_ENV": 11,
    "KTR_SAUPCALL": 13,
    "KTR_MIB": 14,
    "KTR_EXEC_FD": 15,
}, absent=("KTR_START", "KTR_STRUCT", "KTR_PLEDGE", "KTR_PINSYSCALL"))

OPENBSD_TYPES = Constants(OPENBSD_KTRACE_H, {
    "KTR_START": 0x4B545200,  # "KTR\0", written big-endian whatever the host order
    "KTR_SYSCALL": 1,
    "KTR_SYSRET": 2,
    "KTR_NAMEI": 3,
    "KTR_GENIO": 4,
    "KTR_PSIG": 5,
    "KTR_STRUCT": 8,
    "KTR_USER": 9,
    "KTR_EXECARGS": 10,
    "KTR_EXECENV": 11,
    "KTR_PLEDGE": 12,
    "KTR_PINSYSCALL": 13,
}, absent=("KTR_EXEC_FD", "KTR_MIB"))

OPENBSD_OLD_TYPES = Constants(OPENBSD_OLD_KTRACE_H, {
    "KTR_CSW": 6,
    "KTR_EMUL": 7,
})

# The bytes KTR_START occupies at the start of an OpenBSD trace file.
OPENBSD_START_MAGIC = b"KTR\x00"

# --- facility bits (the ``facs`` argument) -------------------------------

NETBSD_FACILITIES = Constants(NETBSD_KTRACE_H, {
    "KTRFAC_SYSCALL": 1 << 1,
    "KTRFAC_SYSRET": 1 << 2,
    "KTRFAC_NAMEI": 1 << 3,
    "KTRFAC_GENIO": 1 << 4,
    "KTRFAC_PSIG": 1 << 5,
    "KTRFAC_CSW": 1 << 6,
    "KTRFAC_EMUL": 1 << 7,
    "KTRFAC_USER": 1 << 8,
    "KTRFAC_EXEC_ARG": 1 << 10,
    "KTRFAC_EXEC_ENV": 1 << 11,
    "KTRFAC_MIB": 1 << 14,
    "KTRFAC_EXEC_FD": 1 << 15,
    "KTRFAC_MASK": 0x00FFFFFF,
    "KTRFAC_PERSISTENT": 0x80000000,
    "KTRFAC_INHERIT": 0x40000000,
    "KTRFAC_TRC_EMUL": 0x10000000,
    "KTRFAC_VER_MASK": 0x0F000000,
    "KTRFAC_VER_SHIFT": 24,
    "KTRFACv0": 0 << 24,
    "KTRFACv1": 1 << 24,
    "KTRFACv2": 2 << 24,
}, absent=("KTRFAC_ROOT",))

OPENBSD_FACILITIES = Constants(OPENBSD_KTRACE_H, {
    "KTRFAC_SYSCALL": 1 << 1,
    "KTRFAC_SYSRET": 1 << 2,
    "KTRFAC_NAMEI": 1 << 3,
    "KTRFAC_GENIO": 1 << 4,
    "KTRFAC_PSIG": 1 << 5,
    "KTRFAC_STRUCT": 1 << 8,
    "KTRFAC_USER": 1 << 9,
    "KTRFAC_EXECARGS": 1 << 10,
    "KTRFAC_EXECENV": 1 << 11,
    "KTRFAC_PLEDGE": 1 << 12,
    "KTRFAC_PINSYSCALL": 1 << 13,
    "KTRFAC_MASK": 0x00FFFFFF,
    "KTRFAC_ROOT": 0x80000000,
    "KTRFAC_INHERIT": 0x40000000,
}, absent=("KTRFAC_VER_MASK", "KTRFAC_CSW", "KTRFAC_EMUL"))

OPENBSD_PROC = Constants(OPENBSD_PROC_H, {"THREAD_PID_OFFSET": 100000})

# Header versions NetBSD's ktrops accepts (anything else is EINVAL).
NETBSD_VERSIONS = (0, 1, 2)

# ``enum uio_rw`` (sys/uio.h on both): the direction in ktr_genio.
UIO_READ = 0
UIO_WRITE = 1

# --- headers ------------------------------------------------------------------

NETBSD_COMM_SIZE = 17  # MAXCOMLEN + 1, MAXCOMLEN 16 (sys/param.h)
NETBSD_HEADER_SIZE = 56
OPENBSD_COMM_SIZE = 24  # _MAXCOMLEN, includes the NUL
OPENBSD_HEADER_SIZE = 64


def _netbsd_header(version: int, byteorder: str) -> Struct:
    # The union in ktrace.h swaps ktr_type and ktr_version on big-endian
    # hosts, so the 32-bit word at offset 4 reads as (version << 16) | type
    # in the host's own order on both.
    type_at, version_at = (4, 6) if byteorder == "little" else (6, 4)
    common = (
        Field("len", 0, 4, signed=True, c_name="ktr_len"),
        Field("type", type_at, 2, signed=True, c_name="ktr_type"),
        Field("version", version_at, 2, signed=True, c_name="ktr_version"),
        Field("pid", 8, 4, signed=True, c_name="ktr_pid"),
        Field("comm", 12, NETBSD_COMM_SIZE, c_name="ktr_comm"),
    )
    if version == 0:
        tail = (
            Field("tv_sec", 32, 4, signed=True, c_name="_v._v0._tv.tv_sec"),
            Field("tv_usec", 40, 8, signed=True, c_name="_v._v0._tv.tv_usec"),
            Field("buf", 48, 8, c_name="_v._v0._buf"),
        )
    elif version == 1:
        tail = (
            Field("tv_sec", 32, 4, signed=True, c_name="_v._v1._ts.tv_sec"),
            Field("tv_nsec", 40, 8, signed=True, c_name="_v._v1._ts.tv_nsec"),
            Field("lid", 48, 4, signed=True, c_name="_v._v1._lid"),
        )
    else:
        tail = (
            Field("tv_sec", 32, 8, signed=True, c_name="_v._v2._ts.tv_sec"),
            Field("tv_nsec", 40, 8, signed=True, c_name="_v._v2._ts.tv_nsec"),
            Field("lid", 48, 4, signed=True, c_name="_v._v2._lid"),
        )
    return Struct("struct ktr_header (v%d, %s-endian)" % (version, byteorder),
                  NETBSD_KTRACE_H, NETBSD_HEADER_SIZE, common + tail)


NETBSD_HEADERS: Dict[Tuple[int, str], Struct] = {
    (v, order): _netbsd_header(v, order) for v in NETBSD_VERSIONS for order in ("little", "big")
}

OPENBSD_HEADER = Struct("struct ktr_header", OPENBSD_KTRACE_H, OPENBSD_HEADER_SIZE, (
    Field("type", 0, 4, c_name="ktr_type"),
    Field("pid", 4, 4, signed=True, c_name="ktr_pid"),
    Field("tid", 8, 4, signed=True, c_name="ktr_tid"),
    Field("tv_sec", 16, 8, signed=True, c_name="ktr_time.tv_sec"),
    Field("tv_nsec", 24, 8, signed=True, c_name="ktr_time.tv_nsec"),
    Field("comm", 32, OPENBSD_COMM_SIZE, c_name="ktr_comm"),
    Field("len", 56, 8, c_name="ktr_len"),
))

# --- payloads shared by both ---------------------------------------------------

def _syscall(header: Header) -> Struct:
    return Struct("struct ktr_syscall", header, 8, (
        Field("code", 0, 4, signed=True, c_name="ktr_code"),
        Field("argsize", 4, 4, signed=True, c_name="ktr_argsize"),
    ))


def _genio(header: Header) -> Struct:
    return Struct("struct ktr_genio", header, 8, (
        Field("fd", 0, 4, signed=True, c_name="ktr_fd"),
        Field("rw", 4, 4, signed=True, c_name="ktr_rw"),
    ))


def _csw(header: Header) -> Struct:
    return Struct("struct ktr_csw", header, 8, (
        Field("out", 0, 4, signed=True),
        Field("user", 4, 4, signed=True),
    ))


def _user(header: Header) -> Struct:
    return Struct("struct ktr_user", header, 20, (
        Field("id", 0, 20, c_name="ktr_id"),
    ))


NETBSD_SYSCALL = _syscall(NETBSD_KTRACE_H)
NETBSD_GENIO = _genio(NETBSD_KTRACE_H)
NETBSD_CSW = _csw(NETBSD_KTRACE_H)
NETBSD_USER = _user(NETBSD_KTRACE_H)
OPENBSD_SYSCALL = _syscall(OPENBSD_KTRACE_H)
OPENBSD_GENIO = _genio(OPENBSD_KTRACE_H)
OPENBSD_CSW = _csw(OPENBSD_OLD_KTRACE_H)
OPENBSD_USER = _user(OPENBSD_KTRACE_H)

# --- NetBSD payloads -----------------------------------------------------------------

NETBSD_SYSRET = Struct("struct ktr_sysret", NETBSD_KTRACE_H, 24, (
    Field("code", 0, 2, signed=True, c_name="ktr_code"),
    Field("eosys", 2, 2, signed=True, c_name="ktr_eosys"),
    Field("error", 4, 4, signed=True, c_name="ktr_error"),
    Field("retval", 8, 8, signed=True, c_name="ktr_retval"),
    Field("retval_1", 16, 8, signed=True, c_name="ktr_retval_1"),
))

# sigset_t is four 32-bit words; sig_t a pointer (8-aligned, so at 8).
NETBSD_PSIG = Struct("struct ktr_psig", NETBSD_KTRACE_H, 40, (
    Field("signo", 0, 4, signed=True),
    Field("action", 8, 8),
    Field("mask", 16, 4, count=4, c_name="mask.__bits"),
    Field("code", 32, 4, signed=True),
))

NETBSD_SIGINFO_SIZE = 128
# The reason union overlaps, so each reading is its own table.
_NETBSD_SI_BASE = (
    Field("si_signo", 0, 4, signed=True, c_name="_info._signo"),
    Field("si_code", 4, 4, signed=True, c_name="_info._code"),
    Field("si_errno", 8, 4, signed=True, c_name="_info._errno"),
)
NETBSD_SIGINFO_RT = Struct("siginfo_t (_rt)", NETBSD_SIGINFO_H, NETBSD_SIGINFO_SIZE, (
    *_NETBSD_SI_BASE,
    Field("si_pid", 16, 4, signed=True, c_name="_info._reason._rt._pid"),
    Field("si_uid", 20, 4, c_name="_info._reason._rt._uid"),
    Field("si_value", 24, 8, c_name="_info._reason._rt._sigval"),
))
NETBSD_SIGINFO_CHILD = Struct("siginfo_t (_child)", NETBSD_SIGINFO_H, NETBSD_SIGINFO_SIZE, (
    *_NETBSD_SI_BASE,
    Field("si_pid", 16, 4, signed=True, c_name="_info._reason._child._pid"),
    Field("si_uid", 20, 4, c_name="_info._reason._child._uid"),
    Field("si_status", 24, 4, signed=True, c_name="_info._reason._child._status"),
))
NETBSD_SIGINFO_FAULT = Struct("siginfo_t (_fault)", NETBSD_SIGINFO_H, NETBSD_SIGINFO_SIZE, (
    *_NETBSD_SI_BASE,
    Field("si_addr", 16, 8, c_name="_info._reason._fault._addr"),
    Field("si_trap", 24, 4, signed=True, c_name="_info._reason._fault._trap"),
))

NETBSD_EXECFD = Struct("struct ktr_execfd", NETBSD_KTRACE_H, 8, (
    Field("fd", 0, 4, signed=True, c_name="ktr_fd"),
    Field("dtype", 4, 4, c_name="ktr_dtype"),
))

# --- OpenBSD payloads ------------------------------------------------------------------

# Followed by the return value only when error is 0 (kern_ktrace.c v1.115).
OPENBSD_SYSRET = Struct("struct ktr_sysret", OPENBSD_KTRACE_H, 8, (
    Field("code", 0, 4, signed=True, c_name="ktr_code"),
    Field("error", 4, 4, signed=True, c_name="ktr_error"),
))

OPENBSD_SIGINFO_SIZE = 136  # 12 bytes, pad to 16, union of int[29] and pointers: 120
OPENBSD_PSIG = Struct("struct ktr_psig", OPENBSD_KTRACE_H, 24 + OPENBSD_SIGINFO_SIZE, (
    Field("signo", 0, 4, signed=True),
    Field("action", 8, 8),
    Field("mask", 16, 4),
    Field("code", 20, 4, signed=True),
))
OPENBSD_SIGINFO_OFFSET = 24
_OPENBSD_SI_BASE = (
    Field("si_signo", 0, 4, signed=True),
    Field("si_code", 4, 4, signed=True),
    Field("si_errno", 8, 4, signed=True),
)
OPENBSD_SIGINFO_RT = Struct("siginfo_t (_proc._kill)", OPENBSD_SIGINFO_H, OPENBSD_SIGINFO_SIZE, (
    *_OPENBSD_SI_BASE,
    Field("si_pid", 16, 4, signed=True, c_name="_data._proc._pid"),
    Field("si_uid", 24, 4, c_name="_data._proc._pdata._kill._uid"),
    Field("si_value", 32, 8, c_name="_data._proc._pdata._kill._value"),
))
OPENBSD_SIGINFO_CHILD = Struct("siginfo_t (_proc._cld)", OPENBSD_SIGINFO_H, OPENBSD_SIGINFO_SIZE, (
    *_OPENBSD_SI_BASE,
    Field("si_pid", 16, 4, signed=True, c_name="_data._proc._pid"),
    Field("si_utime", 24, 8, signed=True, c_name="_data._proc._pdata._cld._utime"),
    Field("si_status", 32, 4, signed=True, c_name="_data._proc._pdata._cld._status"),
    Field("si_stime", 40, 8, signed=True, c_name="_data._proc._pdata._cld._stime"),
))
OPENBSD_SIGINFO_FAULT = Struct("siginfo_t (_fault)", OPENBSD_SIGINFO_H, OPENBSD_SIGINFO_SIZE, (
    *_OPENBSD_SI_BASE,
    Field("si_addr", 16, 8, c_name="_data._fault._addr"),
    Field("si_trapno", 24, 4, signed=True, c_name="_data._fault._trapno"),
))

OPENBSD_PLEDGE = Struct("struct ktr_pledge", OPENBSD_KTRACE_H, 16, (
    Field("error", 0, 4, signed=True),
    Field("syscall", 4, 4, signed=True),
    Field("code", 8, 8),
))

OPENBSD_PINSYSCALL = Struct("struct ktr_pinsyscall", OPENBSD_KTRACE_H, 16, (
    Field("error", 0, 4, signed=True),
    Field("syscall", 4, 4, signed=True),
    Field("addr", 8, 8),
))

# --- signals (for printing and for choosing a siginfo reading) -------------------------

_BSD_SIGNALS = {
    "SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5,
    "SIGABRT": 6, "SIGEMT": 7, "SIGFPE": 8, "SIGKILL": 9, "SIGBUS": 10,
    "SIGSEGV": 11, "SIGSYS": 12, "SIGPIPE": 13, "SIGALRM": 14, "SIGTERM": 15,
    "SIGURG": 16, "SIGSTOP": 17, "SIGTSTP": 18, "SIGCONT": 19, "SIGCHLD": 20,
    "SIGTTIN": 21, "SIGTTOU": 22, "SIGIO": 23, "SIGXCPU": 24, "SIGXFSZ": 25,
    "SIGVTALRM": 26, "SIGPROF": 27, "SIGWINCH": 28, "SIGINFO": 29,
    "SIGUSR1": 30, "SIGUSR2": 31,
}
NETBSD_SIGNALS = Constants(NETBSD_SIGNAL_H, dict(_BSD_SIGNALS, SIGPWR=32))
OPENBSD_SIGNALS = Constants(OPENBSD_SIGNAL_H, dict(_BSD_SIGNALS, SIGTHR=32))

FAULT_SIGNALS = ("SIGILL", "SIGTRAP", "SIGFPE", "SIGBUS", "SIGSEGV", "SIGEMT")


def all_structs() -> Tuple[Struct, ...]:
    """Every layout above, for the self-check and the layout unit tests."""
    return (
        *tuple(NETBSD_HEADERS.values()), OPENBSD_HEADER, NETBSD_SYSCALL, NETBSD_SYSRET,
        NETBSD_GENIO, NETBSD_PSIG, NETBSD_CSW, NETBSD_USER, NETBSD_EXECFD, NETBSD_SIGINFO_RT,
        NETBSD_SIGINFO_CHILD, NETBSD_SIGINFO_FAULT, OPENBSD_SYSCALL, OPENBSD_SYSRET, OPENBSD_GENIO,
        OPENBSD_PSIG, OPENBSD_CSW, OPENBSD_USER, OPENBSD_PLEDGE, OPENBSD_PINSYSCALL,
        OPENBSD_SIGINFO_RT, OPENBSD_SIGINFO_CHILD, OPENBSD_SIGINFO_FAULT,
    )
