"""The machine layer against real QEMU, booting only firmware (no disk image
needed): sparc64 to OpenBIOS's prompt, amd64 through SeaBIOS, timeouts with
transcripts, ready-state save and restore, and no QEMU outliving its owner."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.errors import Timeout
from harness.vm import BootSpec, ReadyStateStore, launch
from harness.vm.console import transcript_tail

pytestmark = pytest.mark.guest

SPARC64 = BootSpec(target="firmware-sparc64", arch="sparc64", recipe_id="openbios")
AMD64 = BootSpec(target="firmware-amd64", arch="amd64", recipe_id="seabios")
SEABIOS_DONE = r"No bootable device"


def _gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie nobody reaped counts as exited)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return _gone(pid)


def test_sparc64_openbios_reaches_its_prompt_and_runs_forth(tmp_path: Path) -> None:
    with launch(SPARC64, tmp_path, accel="tcg") as vm:
        vm.console.expect(r"0 > ", "console_prompt")
        vm.console.sendline("6 7 * .")
        vm.console.expect(r"2a +ok", "console_prompt")  # OpenBIOS counts in hex
        transcript = vm.transcript_path.read_bytes()
        pid = vm.pid
    assert b"OpenBIOS for Sparc64" in transcript
    assert b"0 > " in transcript
    assert pid is not None and _wait_gone(pid, 5)


def test_amd64_seabios_prints_on_the_serial_console(tmp_path: Path) -> None:
    with launch(AMD64, tmp_path, accel="tcg") as vm:
        vm.console.expect(SEABIOS_DONE, "console_prompt")
        assert vm.alive()
    text = vm.transcript_path.read_text(errors="replace")
    assert "SeaBIOS (version" in text
    assert transcript_tail(vm.transcript_path)[-1].startswith("No bootable device")


def test_an_expected_string_that_never_comes_times_out_with_the_transcript(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(Timeout) as err, launch(SPARC64, tmp_path, accel="tcg", timeouts={"console_prompt": 0.5}) as vm:
        pid = vm.pid
        vm.console.expect(r"login: ", "console_prompt")  # OpenBIOS has no login
    elapsed = time.monotonic() - started
    scaled = vm.timeouts.seconds("console_prompt")
    assert scaled <= elapsed < scaled + 10
    message = str(err.value)
    assert "never showed 'login: '" in message
    assert "(timeout console_prompt: waited" in message
    assert "transcript: %s" % vm.transcript_path in message
    assert "OpenBIOS for Sparc64" in (err.value.console_tail or [])
    assert _wait_gone(pid, 5)  # the failure closed the VM


def test_two_vms_side_by_side_get_their_own_port_and_files(tmp_path: Path) -> None:
    with launch(SPARC64, tmp_path, accel="tcg") as first, launch(SPARC64, tmp_path, accel="tcg") as second:
        first.console.expect(r"0 > ", "console_prompt")
        second.console.expect(r"0 > ", "console_prompt")
        assert first.ssh_port != second.ssh_port
        assert first.transcript_path.parent != second.transcript_path.parent
        assert first.transcript_path.parent.parent == second.transcript_path.parent.parent == tmp_path


_OWNER = textwrap.dedent(
    """
    import signal, sys, time
    from pathlib import Path
    from harness.vm import BootSpec, launch
    # Stand in for a user at a terminal: a CI job started in the background
    # of a non-interactive shell hands its children SIGINT ignored, and then
    # the Ctrl-C below would never arrive.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    vm = launch(BootSpec(target="owner", arch="sparc64"), Path(sys.argv[1]), accel="tcg")
    vm.console.expect(r"0 > ", "console_prompt")
    print(vm.pid, flush=True)
    with vm:
        time.sleep(600)
    """
)


def _start_owner(tmp_path: Path) -> tuple[subprocess.Popen, int]:
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert owner.stdout is not None
    line = owner.stdout.readline()
    assert line.strip().isdigit(), "the owner process printed %r instead of a QEMU pid" % line
    qemu_pid = int(line)
    assert not _gone(qemu_pid)
    return owner, qemu_pid


def test_no_qemu_survives_a_kill_9_of_its_owner(tmp_path: Path) -> None:
    owner, qemu_pid = _start_owner(tmp_path)
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    assert _wait_gone(qemu_pid, 5), "QEMU %d outlived its kill -9'ed owner" % qemu_pid


def test_no_qemu_survives_ctrl_c_of_its_owner(tmp_path: Path) -> None:
    owner, qemu_pid = _start_owner(tmp_path)
    owner.send_signal(signal.SIGINT)
    owner.wait(timeout=30)
    assert _wait_gone(qemu_pid, 5), "QEMU %d outlived its interrupted owner" % qemu_pid


def test_amd64_firmware_state_saves_and_restores(tmp_path: Path) -> None:
    store = ReadyStateStore(tmp_path / "cache")
    with launch(AMD64, tmp_path, accel="tcg", ready_state=store) as cold:
        assert not cold.restored
        cold.console.expect(SEABIOS_DONE, "console_prompt")
        saved = cold.save_ready_state()
        assert saved is not None and (saved / "state.bin").stat().st_size > 0
        assert cold.qmp.status() == "running"  # the source carries on after saving
    with launch(AMD64, tmp_path, accel="tcg", ready_state=store) as warm:
        assert warm.restored
        assert warm.qmp.status() == "running"
        # A restored guest resumes where it was saved; it does not reboot, so
        # the firmware's banner (printed first thing on a cold start) never
        # shows on the new console.
        time.sleep(2)
        assert warm.alive()
        assert "SeaBIOS (version" not in warm.transcript_path.read_text(errors="replace")
        assert warm.save_ready_state() == saved


def test_sparc64_cannot_save_state_here_and_falls_back_to_cold_boot(tmp_path: Path) -> None:
    store = ReadyStateStore(tmp_path / "cache")
    with launch(SPARC64, tmp_path, accel="tcg", ready_state=store) as vm:
        vm.console.expect(r"0 > ", "console_prompt")
        saved = vm.save_ready_state()
        # The probe ran in its own QEMU: this VM is unharmed.
        vm.console.sendline("1 1 + .")
        vm.console.expect(r"2 +ok", "console_prompt")
    records = list((tmp_path / "cache").glob("save-support-*.json"))
    assert saved is None
    assert len(records) == 1
    # Measured on this machine's QEMU 7.2 (DESIGN.md section 5): saving any
    # sun4u guest kills QEMU with SIGFPE.  A QEMU with that fixed would make
    # this assertion fail, and the fallback unnecessary.
    assert "died with SIGFPE" in records[0].read_text()
    with launch(SPARC64, tmp_path, accel="tcg", ready_state=store) as again:
        assert not again.restored


def test_a_port_taken_before_qemu_binds_it_is_retried_with_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from harness.vm import machine as machine_module
    from harness.vm.ports import PortLease, lease_port

    with socket.socket() as thief:
        thief.bind(("127.0.0.1", 0))
        thief.listen()
        stolen = thief.getsockname()[1]
        leases = iter([PortLease(stolen)])
        # The first lease hands out a port someone else took after the check,
        # the race ports.py cannot close for processes outside the harness.
        monkeypatch.setattr(machine_module, "lease_port", lambda: next(leases, None) or lease_port())
        with launch(SPARC64, tmp_path, accel="tcg") as vm:
            vm.console.expect(r"0 > ", "console_prompt")
            assert vm.ssh_port != stolen
            log = (vm.transcript_path.parent / "qemu.log").read_text()
    assert "Could not set up host forwarding rule 'tcp:127.0.0.1:%d-:22'" % stolen in log


@pytest.mark.parametrize("arch", ["amd64", "aarch64", "sparc64"])
def test_each_profile_starts_with_a_disk_on_an_overlay_over_the_base(tmp_path: Path, arch: str) -> None:
    import hashlib

    base = tmp_path / "base.img"
    base.write_bytes(b"\0" * (1 << 20))
    digest = hashlib.sha256(base.read_bytes()).hexdigest()
    spec = BootSpec(target="disk-%s" % arch, arch=arch, base_disk=base, recipe_id="blank")
    with launch(spec, tmp_path / "run", accel="tcg") as vm:
        assert vm.qmp.status() == "running"
        disks = [d for d in vm.qmp.command("query-block") if d.get("inserted")]
        assert len(disks) == 1
        image = disks[0]["inserted"]["image"]
        assert image["filename"].endswith("/overlay.qcow2")
        assert image["backing-filename"] == str(base)
        assert not disks[0]["inserted"]["ro"]
        time.sleep(1)
        assert vm.alive()
    assert hashlib.sha256(base.read_bytes()).hexdigest() == digest


def test_a_state_that_fails_to_restore_is_discarded_and_the_guest_boots_cold(tmp_path: Path) -> None:
    store = ReadyStateStore(tmp_path / "cache")
    with launch(AMD64, tmp_path, accel="tcg", ready_state=store) as cold:
        cold.console.expect(SEABIOS_DONE, "console_prompt")
        saved = cold.save_ready_state()
    assert saved is not None
    (saved / "state.bin").write_bytes(b"QEVM garbage")
    with launch(AMD64, tmp_path, accel="tcg", ready_state=store) as vm:
        assert not vm.restored
        vm.console.expect(SEABIOS_DONE, "console_prompt")
    assert not saved.exists()
