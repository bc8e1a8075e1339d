"""Two VMs booted side by side by two pytest-xdist workers: each gets its own
forwarded port and its own transcript, and both run at the same time.

The sparc64 firmware (OpenBIOS, no disk image needed) is the guest, as in
``test_vm_firmware.py``.  A generated test file runs under ``pytest -n 2``
in a subprocess; each of its two tests boots a VM to the ``0 >`` prompt,
writes what it got to a record, and keeps its VM up until the other test's
record shows up, so the two VMs' lifetimes overlap whenever the workers
really run in parallel (and do not, failing the test, if they ran one
after the other).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.guest

REPO = Path(__file__).resolve().parents[2]
# How long one generated test waits for the other's VM to be up; a worker
# that never gets its VM up makes the other fail after this, not hang.
PARTNER_WAIT = 30.0

_GENERATED = textwrap.dedent(
    """
    import json
    import os
    import time
    from pathlib import Path

    import pytest

    from harness.vm import BootSpec, launch

    RECORDS = Path(os.environ["TRAPLINE_XDIST_RECORDS"])
    PARTNER_WAIT = float(os.environ["TRAPLINE_XDIST_PARTNER_WAIT"])


    def _write(name, record):
        tmp = RECORDS / (name + ".tmp")
        tmp.write_text(json.dumps(record))
        tmp.rename(RECORDS / (name + ".json"))


    @pytest.mark.parametrize("name", ["first", "second"])
    def test_boot_firmware(name, tmp_path):
        partner_up = RECORDS / ("%s-up.json" % ("second" if name == "first" else "first"))
        spec = BootSpec(target="xdist-%s" % name, arch="sparc64", recipe_id="openbios")
        with launch(spec, tmp_path, accel="tcg") as vm:
            vm.console.expect(r"0 > ", "console_prompt")
            record = {
                "worker": os.environ.get("PYTEST_XDIST_WORKER"), "worker_pid": os.getpid(),
                "qemu_pid": vm.pid, "ssh_port": vm.ssh_port, "transcript": str(vm.transcript_path),
                "up_at": time.time(),
            }
            _write(name + "-up", record)
            deadline = time.monotonic() + PARTNER_WAIT
            while not partner_up.exists():
                assert time.monotonic() < deadline, "the other VM was never up while this one ran"
                time.sleep(0.1)
            record["down_at"] = time.time()
        _write(name, record)
    """
)


def _gone(pid: int) -> bool:
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_two_xdist_workers_boot_vms_side_by_side(tmp_path: Path) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist is not installed: pip install pytest-xdist")
    records = tmp_path / "records"
    records.mkdir()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "test_side_by_side.py").write_text(_GENERATED)
    # An ini of its own: the generated run must not pick up this repository's
    # configuration (its test paths, its plugins' options).
    (run_dir / "pytest.ini").write_text("[pytest]\n")
    env = dict(os.environ, PYTHONPATH=str(REPO), TRAPLINE_XDIST_RECORDS=str(records),
               TRAPLINE_XDIST_PARTNER_WAIT=str(PARTNER_WAIT))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
         "-c", str(run_dir / "pytest.ini"), "--rootdir", str(run_dir), "--basetemp", str(tmp_path / "base"),
         str(run_dir / "test_side_by_side.py")],
        check=False, cwd=run_dir, env=env, capture_output=True, text=True, timeout=PARTNER_WAIT + 30,
    )
    assert result.returncode == 0, "the generated xdist run failed:\n%s\n%s" % (result.stdout, result.stderr)
    assert "2 passed" in result.stdout
    first = json.loads((records / "first.json").read_text())
    second = json.loads((records / "second.json").read_text())

    assert {first["worker"], second["worker"]} == {"gw0", "gw1"}
    assert first["worker_pid"] != second["worker_pid"]
    # Each VM was up (at its prompt) before the other one was shut down.
    assert max(first["up_at"], second["up_at"]) < min(first["down_at"], second["down_at"])
    assert first["ssh_port"] != second["ssh_port"]
    assert first["qemu_pid"] != second["qemu_pid"]
    assert first["transcript"] != second["transcript"]
    for record in (first, second):
        assert "0 > " in Path(record["transcript"]).read_text(errors="replace")
        assert _gone(record["qemu_pid"]), "QEMU %d outlived its xdist worker" % record["qemu_pid"]
