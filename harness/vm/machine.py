"""The machine contract and its QEMU implementation.

:class:`Machine` is the whole contract the layers above use (SSH, images,
the pytest plugin): a port, a console, a transcript, a ready state, close.
:class:`QemuMachine` is the one backend; :func:`launch` picks the profile,
the accelerator and the timeouts and starts it.
"""

from __future__ import annotations

import abc
import contextlib
import logging
import re
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from collections.abc import Mapping
from pathlib import Path

from ..errors import GuestError, HostError, TraplineError
from . import procs
from .accel import probe_accel
from .console import Console, transcript_tail
from .ports import PortLease, lease_port
from .profiles import Profile, VmPaths, build_argv, profile_for
from .qmp import Qmp
from .ready_state import DISK_FILE, STATE_FILE, ReadyState, ReadyStateStore, SaveSupport, state_key
from .spec import BootSpec
from .timeouts import Timeouts

log = logging.getLogger(__name__)

# Unix socket paths are limited to 108 bytes (sun_path); deep pytest tmp
# dirs exceed that, so sockets then live in a short private dir under /tmp.
_SOCKET_PATH_LIMIT = 100
_PORT_RETRIES = 3
_HOSTFWD_FAILURE = re.compile(r"Could not set up host forwarding rule|hostfwd.*(in use|failed)", re.I)


class Machine(abc.ABC):
    """A running guest.  Use as a context manager; :meth:`close` is idempotent."""

    ssh_port: int
    transcript_path: Path
    restored: bool
    timeouts: Timeouts

    @property
    @abc.abstractmethod
    def console(self) -> Console: ...

    @abc.abstractmethod
    def save_ready_state(self) -> Path | None:
        """Save the running state for later VMs of this spec to restore.

        Call once SSH answers.  Returns the state's directory, or None when
        this profile cannot save state (the reason is logged once) or no
        store was given."""

    @abc.abstractmethod
    def alive(self) -> bool:
        """Whether the guest's emulator still runs (False once it exited or crashed)."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Machine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class QemuMachine(Machine):
    def __init__(
        self,
        spec: BootSpec,
        profile: Profile,
        accel: str,
        workdir: Path,
        timeouts: Timeouts,
        store: ReadyStateStore | None = None,
    ) -> None:
        self.spec = spec
        self.profile = profile
        self.accel = accel
        self.timeouts = timeouts
        self.store = store
        workdir.mkdir(parents=True, exist_ok=True)
        # Unique per VM, so parallel VMs (xdist workers, several targets) never share a file.
        self.workdir = Path(tempfile.mkdtemp(prefix="%s-" % spec.target, dir=workdir)).absolute()
        self.transcript_path = self.workdir / "console.log"
        self.qemu_log = self.workdir / "qemu.log"
        self.overlay = self.workdir / "overlay.qcow2" if spec.base_disk is not None else None
        self._socket_dir = self.workdir
        if len(str(self.workdir / "console.sock")) > _SOCKET_PATH_LIMIT:
            self._socket_dir = Path(tempfile.mkdtemp(prefix="trapline-"))
        self.ssh_port = 0
        self.restored = False
        self.argv: list[str] = []
        self._key: str | None = None
        self._ready: ReadyState | None = None
        self._proc: subprocess.Popen | None = None
        self._lease: PortLease | None = None
        self._qmp: Qmp | None = None
        self._console: Console | None = None
        self._closed = False
        self._finalizer = weakref.finalize(self, _finalize, [None])

    # -- the contract ------------------------------------------------------

    @property
    def console(self) -> Console:
        if self._console is None:
            raise HostError("%s has no console: it is not started" % self.spec.target, target=self.spec.target)
        return self._console

    @property
    def qmp(self) -> Qmp:
        if self._qmp is None:
            raise HostError("%s has no QMP connection: it is not started" % self.spec.target, target=self.spec.target)
        return self._qmp

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Start QEMU (restoring the ready state when the store has one) and let the guest run."""
        missing = self.spec.missing_files()
        if missing:
            raise HostError(
                "%s: missing file(s) %s" % (self.spec.target, ", ".join(map(str, missing))),
                target=self.spec.target,
                hint="build the image first (harness images build %s)" % self.spec.target,
            )
        ready = None
        if self.store is not None:
            self._key = state_key(self.profile, self.spec, self.accel)
            ready = self.store.find(self._key)
        if ready is not None:
            try:
                self._start(ready)
                self.restored = True
                self._ready = ready
                return
            except _RestoreFailed as exc:
                # A state QEMU cannot load will not load next time either.
                assert self.store is not None and self._key is not None
                self.store.discard(self._key, exc.message)
                self._stop_qemu()
        self._start(None)

    def save_ready_state(self) -> Path | None:
        if self.store is None or self._key is None:
            log.info("%s: no ready-state store given, not saving", self.spec.target)
            return None
        if self.restored and self._ready is not None:
            return self._ready.directory
        support = self.store.save_support(
            self.profile, self.accel, lambda: probe_save_support(self.profile, self.accel, self.workdir)
        )
        if not support.ok:
            return None
        with self.store.lock(self._key):
            existing = self.store.find(self._key)
            if existing is not None:  # another worker saved it first
                return existing.directory
            tempdir = self.store.new_tempdir(self._key)
            try:
                seconds = self.qmp.save_state(tempdir / STATE_FILE, self.timeouts.seconds("save"))
                if self.overlay is not None:
                    # The migration has flushed and released the disk: the
                    # overlay is consistent with the RAM state right now.
                    shutil.copyfile(self.overlay, tempdir / DISK_FILE)
                ready = self.store.commit(
                    self._key,
                    tempdir,
                    {"target": self.spec.target, "arch": self.spec.arch, "accel": self.accel, "argv": self.argv},
                )
            except BaseException:
                shutil.rmtree(tempdir, ignore_errors=True)
                raise
            finally:
                if self.alive():
                    self.qmp.cont()
        log.info("%s: saved ready state %s in %.1f s", self.spec.target, ready.directory, seconds)
        return ready.directory

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop_qemu()
        if self.overlay is not None:
            with contextlib.suppress(FileNotFoundError):
                self.overlay.unlink()
        if self._socket_dir != self.workdir:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
        self._finalizer.detach()

    # -- mechanics -----------------------------------------------------------

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _make_overlay(self, ready: ReadyState | None) -> None:
        assert self.overlay is not None and self.spec.base_disk is not None
        if ready is not None and ready.disk is not None:
            create_overlay(ready.disk, "qcow2", self.overlay)
        else:
            create_overlay(self.spec.base_disk, self.spec.disk_format, self.overlay, target=self.spec.target)

    def _start(self, ready: ReadyState | None) -> None:
        if self.overlay is not None:
            self._make_overlay(ready)
        for attempt in range(1, _PORT_RETRIES + 1):
            self._lease = lease_port()
            self.ssh_port = self._lease.port
            paths = VmPaths(
                qmp_socket=self._socket_dir / "qmp.sock",
                console_socket=self._socket_dir / "console.sock",
                transcript=self.transcript_path,
                disk_overlay=self.overlay,
                incoming=ready.state_file if ready is not None else None,
            )
            for sock in (paths.qmp_socket, paths.console_socket):
                with contextlib.suppress(FileNotFoundError):
                    sock.unlink()
            self.argv = build_argv(self.profile, self.spec, self.accel, self.ssh_port, paths)
            with open(self.qemu_log, "a") as f:
                f.write("# %s\n" % " ".join(self.argv))
            self._proc = procs.spawn_owned(self.argv, log_path=self.qemu_log, cwd=self.workdir)
            self._finalizer.detach()
            self._finalizer = weakref.finalize(self, _finalize, [self._proc])
            deadline = time.monotonic() + self.timeouts.seconds("qemu_start")
            self._qmp = Qmp(paths.qmp_socket, target=self.spec.target, command_timeout=self.timeouts.seconds("qmp"))
            try:
                self._qmp.connect(deadline, self.alive)
            except HostError as exc:
                log_text = self._qemu_log_text()
                self._stop_qemu()
                if _HOSTFWD_FAILURE.search(log_text) and attempt < _PORT_RETRIES:
                    log.info("%s: port %d was taken before QEMU bound it; retrying", self.spec.target, self.ssh_port)
                    continue
                raise self._host_error("QEMU did not start: %s" % exc.message) from exc
            break
        self._console = Console(
            paths.console_socket, self.transcript_path, self.timeouts, target=self.spec.target
        )
        self._console.connect(time.monotonic() + self.timeouts.seconds("qemu_start"))
        if ready is not None:
            try:
                seconds = self.qmp.load_state(ready.state_file, self.timeouts.seconds("restore"))
            except TraplineError as exc:
                failure = self._host_error("restoring the ready state %s failed: %s" % (ready.directory, exc.message))
                raise _RestoreFailed(failure.message, target=self.spec.target, argv=self.argv) from exc
            log.info("%s: restored ready state %s in %.1f s", self.spec.target, ready.directory, seconds)
        self.qmp.cont()

    def _qemu_log_text(self) -> str:
        try:
            return self.qemu_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _host_error(self, message: str) -> HostError:
        lines = [line for line in self._qemu_log_text().splitlines() if not line.startswith("# ")]
        status = self._proc.poll() if self._proc is not None else None
        if status is not None:
            message += " (QEMU exit status %d)" % status
        if lines:
            message += "; QEMU said: " + " | ".join(lines[-5:])
        return HostError(
            message,
            target=self.spec.target,
            argv=self.argv,
            transcript=self.transcript_path,
            console_tail=transcript_tail(self.transcript_path),
        )

    def _stop_qemu(self) -> None:
        """quit over QMP, then SIGTERM, then SIGKILL the process group."""
        if self._console is not None:
            self._console.close()
            self._console = None
        proc = self._proc
        if proc is not None and proc.poll() is None and self._qmp is not None:
            self._qmp.quit()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=min(5.0, self.timeouts.seconds("shutdown")))
        if self._qmp is not None:
            self._qmp.close()
            self._qmp = None
        if proc is not None:
            procs.terminate(proc, grace=3.0)
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    def export_disk(self, dest: Path, disk_format: str = "raw") -> None:
        """Write the guest's disk as it is now (base plus everything the guest
        wrote) to ``dest`` as one standalone image, atomically.

        For installs: boot on an overlay over a blank or unpacked base, let the
        installer write, power off, then keep the result.  Call after QEMU has
        exited (:meth:`wait_exit`), so no write is still in flight, and before
        :meth:`close`, which deletes the overlay."""
        if self.overlay is None:
            raise HostError("%s has no disk to export" % self.spec.target, target=self.spec.target)
        if self.alive():
            raise HostError(
                "%s: the guest is still running; its disk is not consistent yet" % self.spec.target,
                target=self.spec.target,
                hint="power the guest off and wait_exit() first",
            )
        convert_disk(self.overlay, dest, disk_format, target=self.spec.target)

    def wait_exit(self, timeout_name: str = "shutdown") -> int:
        """Wait for QEMU to exit by itself (the guest powered off); its exit status."""
        assert self._proc is not None
        try:
            return self._proc.wait(timeout=self.timeouts.seconds(timeout_name))
        except subprocess.TimeoutExpired:
            raise GuestError(
                "%s did not power off" % self.spec.target,
                target=self.spec.target,
                transcript=self.transcript_path,
                console_tail=transcript_tail(self.transcript_path),
            ) from None


class _RestoreFailed(HostError):
    """QEMU started but could not load the saved state."""


def create_overlay(backing: Path, backing_format: str, overlay: Path, *, target: str | None = None) -> None:
    """A fresh qcow2 ``overlay`` over ``backing``.  The backing file is only
    ever read: every write the guest makes lands in the overlay."""
    with contextlib.suppress(FileNotFoundError):
        overlay.unlink()
    argv = ["qemu-img", "create", "-q", "-f", "qcow2", "-F", backing_format, "-b", str(backing), str(overlay)]
    try:
        subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60)
    except FileNotFoundError as exc:
        raise HostError("qemu-img is not installed", argv=argv, hint="install qemu-utils", target=target) from exc
    except subprocess.CalledProcessError as exc:
        raise HostError("creating the disk overlay failed: %s" % exc.stderr.strip(), argv=argv, target=target) from exc


def create_blank_disk(path: Path, size_mib: int, *, target: str | None = None) -> None:
    """A sparse raw disk of ``size_mib`` MiB of zeros (the target of an install)."""
    if size_mib <= 0:
        raise HostError("disk size %r MiB must be positive" % size_mib, target=target)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.truncate(size_mib * 1024 * 1024)
    tmp.replace(path)


def convert_disk(source: Path, dest: Path, disk_format: str = "raw", *, target: str | None = None) -> None:
    """``qemu-img convert`` ``source`` (following its backing chain) to a
    standalone ``dest``; written to a temporary name and renamed when whole."""
    tmp = dest.with_name(dest.name + ".tmp")
    argv = ["qemu-img", "convert", "-q", "-O", disk_format, str(source), str(tmp)]
    try:
        subprocess.run(argv, capture_output=True, text=True, check=True, timeout=3600)
    except FileNotFoundError as exc:
        raise HostError("qemu-img is not installed", argv=argv, hint="install qemu-utils", target=target) from exc
    except subprocess.CalledProcessError as exc:
        tmp.unlink(missing_ok=True)
        raise HostError("converting the disk failed: %s" % exc.stderr.strip(), argv=argv, target=target) from exc
    tmp.replace(dest)


def _finalize(holder: list[subprocess.Popen | None]) -> None:
    proc = holder[0]
    if proc is not None:
        procs.terminate(proc, grace=1.0)


def probe_save_support(profile: Profile, accel: str, workdir: Path) -> SaveSupport:
    """Whether QEMU can save the running state of a ``profile`` guest: boot
    its firmware (no disk), let it run a moment, save, and see QEMU survive."""
    spec = BootSpec(target="save-probe-%s" % profile.arch, arch=profile.arch)
    probe_dir = Path(tempfile.mkdtemp(prefix="save-probe-", dir=workdir))
    machine = QemuMachine(spec, profile, accel, probe_dir, Timeouts.for_machine(profile.arch, accel))
    try:
        machine.start()
        time.sleep(0.5)
        qmp_log = logging.getLogger("qemu.qmp")
        quiet = qmp_log.level
        # A QEMU that dies mid-save is the answer this probe looks for, not an
        # error: keep qemu.qmp's "connection reset" traceback off the console.
        qmp_log.setLevel(logging.CRITICAL)
        try:
            machine.qmp.save_state(probe_dir / "state.bin", machine.timeouts.seconds("save"))
        except TraplineError as exc:
            status = None
            if machine._proc is not None:
                # QEMU may still be dying when QMP drops: wait to read how it ended.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    status = machine._proc.wait(timeout=5)
            if status is not None and status < 0:
                return SaveSupport(
                    False,
                    "QEMU (%s) died with %s while saving a %s guest's state"
                    % (" ".join(machine.argv[:3]), signal.Signals(-status).name, profile.machine),
                )
            return SaveSupport(False, "saving a %s guest's state failed: %s" % (profile.machine, exc.message))
        finally:
            qmp_log.setLevel(quiet)
        if not machine.alive():
            return SaveSupport(False, "QEMU exited after saving a %s guest's state" % profile.machine)
        return SaveSupport(True, "saved the state of a running %s machine" % profile.machine)
    finally:
        machine.close()
        shutil.rmtree(probe_dir, ignore_errors=True)


def launch(
    spec: BootSpec,
    workdir: Path,
    *,
    accel: str = "auto",
    ready_state: ReadyStateStore | None = None,
    timeouts: Mapping[str, float] | None = None,
) -> Machine:
    """Start ``spec`` under QEMU in a new directory under ``workdir``.

    ``accel`` is ``auto``, ``kvm`` or ``tcg`` (see :func:`probe_accel`).
    With ``ready_state`` (a :class:`ReadyStateStore`), a state saved earlier
    for the same spec is restored (``machine.restored``) and
    ``save_ready_state()`` saves one.  ``timeouts`` overrides named
    timeouts (seconds, before the per-arch scale).
    """
    profile = profile_for(spec.arch, spec.profile_overrides)
    choice = probe_accel(spec.arch, accel)
    machine = QemuMachine(
        spec,
        profile,
        choice.accel,
        Path(workdir),
        Timeouts.for_machine(spec.arch, choice.accel, **dict(timeouts or {})),
        ready_state,
    )
    try:
        machine.start()
    except BaseException:
        machine.close()
        raise
    return machine

