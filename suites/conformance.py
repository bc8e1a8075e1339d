"""What conformance means per OS, where the OSes legitimately differ.

The suites look answers up here by the target's OS (from its hello), never
by guessing; each entry cites the kernel source that decides it.  A missing
entry makes the test skip and say so, never pass.
"""

from __future__ import annotations

import pytest

# errno names expected from ptrace error paths.
ERRNO = {
    "linux": {
        # kernel/ptrace.c (v6.1) ptrace_attach(): same thread group -> EPERM;
        # task->ptrace already set -> EPERM; __ptrace_may_access() -> EPERM.
        "attach_self": "EPERM",
        "attach_traced": "EPERM",
        "attach_unprivileged": "EPERM",
        # kernel/ptrace.c find_get_task_by_vpid() fails -> ESRCH.
        "attach_nonexistent": "ESRCH",
        # kernel/ptrace.c generic_ptrace_peekdata/pokedata: short access -> EIO.
        "read_unmapped": "EIO",
        "write_unmapped": "EIO",
    },
    "netbsd": {
        # sys/kern/sys_ptrace_common.c 1.53 (2019/05/10), ptrace_allowed()
        # PT_ATTACH: "t == p" -> EINVAL; PSL_TRACED already set -> EBUSY.
        "attach_self": "EINVAL",
        "attach_traced": "EBUSY",
        # Same file, ptrace_listener_cb(): another uid is not allowed by the
        # ptrace listener, so kauth's default (suser) refuses: EPERM.
        "attach_unprivileged": "EPERM",
        # Same file, do_ptrace(): ptrace_find() == NULL -> ESRCH.
        "attach_nonexistent": "ESRCH",
    },
    "openbsd": {
        # sys/kern/sys_process.c 1.106 (2025/02/17), ptrace_ctrl() PT_ATTACH:
        # "tr == p->p_p" -> EINVAL; PS_TRACED already set -> EBUSY; another
        # ruid and suser() fails -> EPERM (checked before the init rule).
        "attach_self": "EINVAL",
        "attach_traced": "EBUSY",
        "attach_unprivileged": "EPERM",
        # Same function: process_tprfind() == NULL, or a pid above
        # THREAD_PID_OFFSET for PT_ATTACH -> ESRCH.
        "attach_nonexistent": "ESRCH",
    },
}

# si_code of the SIGSTOP a tracee sends itself with kill(2).  OpenBSD gives a
# tracer no siginfo through ptrace at all, so the core reports none (None).
SI_CODE_KILL: dict[str, str | None] = {"linux": "SI_USER", "netbsd": "SI_USER", "openbsd": None}
# si_code of a hardware single-step trap: linux v6.1 arch/x86/kernel/traps.c
# exc_debug_user() and arch/arm64/kernel/debug-monitors.c single_step_handler()
# send TRAP_TRACE; NetBSD sys/arch/*/trap.c trapsignal(TRAP_TRACE).
SI_CODE_STEP: dict[str, str | None] = {"linux": "TRAP_TRACE", "netbsd": "TRAP_TRACE", "openbsd": None}


def expected(table: dict, os_name: str, key: str | None = None):
    row = table.get(os_name)
    if row is None:
        pytest.skip("no recorded expectation for %s in suites/conformance.py" % os_name)
    if key is None:
        return row
    try:
        return row[key]
    except KeyError:
        pytest.skip("no recorded expectation %r for %s in suites/conformance.py" % (key, os_name))
