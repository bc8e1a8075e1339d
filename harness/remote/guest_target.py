"""A guest target: the image built, the VM up, SSH logged in, the core running.

``start()`` makes sure the image exists, launches the VM (from the target's
ready state when one matches, else a cold boot), waits for SSH with the
pinned host key, and after a cold boot pushes the core and saves the ready
state, so the next start restores a guest that already holds the core and
is at SSH in seconds.  ``start_core()`` runs ``python3 <zip> serve`` over an
SSH exec channel and hands back the same :class:`RpcClient` the local target
gives.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console

from ..errors import HostError
from ..images import BuiltImage, ensure_image, load_catalog
from ..rpc import RpcClient
from ..targets import parse_target
from ..tracecore_zip import build_zip
from ..vm import BootSpec, Machine, ReadyStateStore, Timeouts, launch
from .panic_watch import PanicWatch
from .push import PushResult, push_core, serve_command
from .ssh import SshEndpoint, SshSession, SshTimeouts


class GuestTarget:
    """One guest, from image to running core.  Use ``start()``, then
    ``start_core()`` as often as needed, then ``close()``."""

    def __init__(self, target_name: str, *, accel: str = "auto", workdir: Path,
                 console: Console | None = None, use_ready_state: bool = True,
                 on_phase: Callable[[str], None] | None = None) -> None:
        """``use_ready_state=False`` always boots cold and saves nothing (for
        measuring a cold boot, or when a state is suspected bad).
        ``on_phase`` is told each phase of ``start()`` as it begins."""
        self.on_phase = on_phase or (lambda phase: None)
        self.id = parse_target(target_name)
        self.use_ready_state = use_ready_state
        self.accel = accel
        self.workdir = workdir
        self.console = console or Console(stderr=True)
        self.image: BuiltImage | None = None
        self.machine: Machine | None = None
        self.session: SshSession | None = None
        self.timings: dict[str, float] = {}  # seconds per phase, for reports and benchmarks
        self.timeouts = SshTimeouts()
        self._stack = contextlib.ExitStack()
        self._cores: list[RpcClient] = []

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        started = time.monotonic()
        catalog = load_catalog()
        entry = catalog[self.id.name]
        self.on_phase("preparing image")
        self.image, built_now = ensure_image(self.id.name, catalog=catalog, console=self.console)
        if built_now:
            self.timings["build"] = time.monotonic() - started
        spec = boot_spec(self.image, memory_mb=entry["memory_mb"], profile_overrides=entry["profile"])
        launched = time.monotonic()
        self.on_phase("starting VM")
        self.machine = self._stack.enter_context(
            launch(spec, self.workdir / "vm", accel=self.accel,
                   ready_state=ReadyStateStore() if self.use_ready_state else None))
        self.timeouts = _ssh_timeouts(self.machine.timeouts)
        self.on_phase("restoring" if self.machine.restored else "booting")
        session = self._connect()
        self.timings["restore_to_ssh" if self.machine.restored else "boot_to_ssh"] = time.monotonic() - launched
        if self.use_ready_state and not self.machine.restored:
            # The ready state should already hold the core, so later starts skip the push.
            self.push(session)
            # Saved with no SSH connection open: a restored guest would
            # otherwise keep a session whose other end never comes back.
            session.close()
            self.on_phase("saving ready state")
            saving = time.monotonic()
            self.machine.save_ready_state()
            self.timings["save_ready_state"] = time.monotonic() - saving
            session = self._connect()
        self.session = session

    def _connect(self) -> SshSession:
        assert self.machine is not None
        machine = self.machine
        return SshSession.connect(
            self.endpoint(), timeouts=self.timeouts, alive=machine.alive,
            console_problem=PanicWatch(machine.console),
            transcript=machine.transcript_path, console_tail=machine.console.tail,
        )

    def endpoint(self) -> SshEndpoint:
        if self.image is None or self.machine is None:
            raise HostError("%s is not started" % self.id.name, target=self.id.name)
        return SshEndpoint(target=self.id.name, host="127.0.0.1", port=self.machine.ssh_port,
                           user=self.image.ssh_user, client_key=self.image.client_key,
                           host_public_key=self.image.host_public_key)

    def push(self, session: SshSession | None = None) -> PushResult:
        session = session or self.ssh()
        zip_path, sha256 = build_zip(self.workdir)
        result = push_core(session, zip_path, sha256, target=self.id.name)
        self.timings["push"] = result.seconds
        return result

    def ssh(self) -> SshSession:
        """The logged-in SSH session (after start)."""
        if self.session is None:
            raise HostError("%s is not started" % self.id.name, target=self.id.name)
        return self.session

    def start_core(self) -> RpcClient:
        """Run the core on the guest over an SSH exec channel."""
        session = self.ssh()
        pushed = self.push(session)
        started = time.monotonic()
        process = session.open_channel(serve_command(pushed.remote_path),
                                       stderr_path=self.workdir / "core-stderr.log")
        core_timeout = self.timeouts.command

        def finish() -> None:
            # The core exits on EOF; a core that does not is cut off with its channel.
            process.wait(core_timeout)
            process.close()

        client = RpcClient(process.stdout, process.stdin, name=self.id.name, on_close=finish)
        self.timings["core_hello"] = time.monotonic() - started
        self._cores.append(client)
        return client

    def close(self) -> None:
        for core in self._cores:
            with contextlib.suppress(Exception):
                core.close()
        self._cores.clear()
        if self.session is not None:
            self.session.close()
            self.session = None
        self._stack.close()
        self.machine = None


def boot_spec(image: BuiltImage, *, memory_mb: int | None = None,
              profile_overrides: Mapping[str, Any] | None = None) -> BootSpec:
    """What the VM layer needs to boot ``image``."""
    return BootSpec(
        target=image.target, arch=image.arch, base_disk=image.disk, disk_format="raw",
        kernel=image.kernel, initrd=image.initrd, append=image.kernel_cmdline, memory_mb=memory_mb,
        profile_overrides=dict(profile_overrides or {}), recipe_id=image.recipe_hash,
    )


def _ssh_timeouts(timeouts: Timeouts) -> SshTimeouts:
    """SSH waits from the machine's named timeouts, scaled for its arch and accelerator."""
    base = SshTimeouts()
    return SshTimeouts(ready=timeouts.seconds("boot_to_ssh"), attempt=base.attempt * timeouts.scale,
                       command=base.command * timeouts.scale)
