"""Every timeout the machine layer waits with, in one value.

Named timeouts instead of literals scattered through the code: a failure says
which one ran out, and slow emulation scales them all at once.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from ..errors import ConfigError

# How much slower than amd64 under TCG a guest gets, per (arch, accelerator).
# Measured here (DESIGN.md section 5): Debian amd64 TCG 24 s to SSH, aarch64
# TCG 33 s.  Public projects (anita, anyvm) report sparc64 and aarch64 under
# TCG 5-10x slower than amd64 for BSD installs; the scales below leave room for
# that rather than for our best case, because a spurious timeout burns a whole
# CI run while a generous one costs nothing when the guest is healthy.
_SCALE = {
    ("amd64", "kvm"): 0.5,
    ("amd64", "tcg"): 1.0,
    ("aarch64", "tcg"): 3.0,
    ("sparc64", "tcg"): 6.0,
}

# Timeouts spent on the host side (QEMU's own socket, a QMP reply) do not
# depend on how fast the guest CPU is emulated, so the scale leaves them alone.
_HOST_SIDE = frozenset({"qmp", "qemu_start"})

# Multiplies every guest-side timeout, for a slow or loaded CI host.
SCALE_ENV = "TRAPLINE_TIMEOUT_SCALE"


@dataclass(frozen=True)
class Timeouts:
    """Seconds for each named wait, before scaling; read them with :meth:`seconds`."""

    # Cold boot until sshd answers: Debian amd64 under TCG takes 24 s on an
    # idle host here, but 115 s was measured with the 2 cores shared by
    # parallel builds; a timeout must hold on the loaded host.
    boot_to_ssh: float = 240.0
    console_prompt: float = 30.0  # a firmware or shell prompt on the serial console
    qemu_start: float = 10.0  # QEMU up and its QMP socket accepting
    qmp: float = 10.0  # one QMP command's reply
    shutdown: float = 20.0  # ACPI powerdown until QEMU exits
    save: float = 120.0  # migrate the RAM and devices to a file
    restore: float = 30.0  # incoming migration from a file until the VM can run
    accel_probe: float = 8.0  # the tiny KVM probe guest printing its marker
    # Installer dialogues (harness.images.dialogue).  A step's timeout is a
    # stall timer: any new console output restarts it, up to installer_total.
    installer_boot: float = 300.0  # power on until the installer's first question (firmware, kernel load)
    installer_prompt: float = 120.0  # an installer screen's next question, console silent meanwhile
    installer_sets: float = 900.0  # extracting or fetching the sets: output can pause for a whole set
    installer_total: float = 3600.0  # one whole dialogue, however busy the console
    provision_command: float = 300.0  # one provisioning command on the root shell (sshd's first key generation)
    dialogue_poll: float = 2.0  # how often a waiting dialogue checks the console for progress
    ddb_command: float = 60.0  # one ddb command's output until ddb prompts again
    scale: float = 1.0

    @classmethod
    def for_machine(cls, arch: str, accel: str, **base: float) -> Timeouts:
        """Defaults (or ``base`` overrides) scaled for ``arch`` under ``accel``,
        times ``$TRAPLINE_TIMEOUT_SCALE`` when set."""
        scale = _SCALE.get((arch, accel))
        if scale is None:
            # KVM only runs same-arch guests; any other pair is TCG-like.
            scale = _SCALE.get((arch, "tcg"), 1.0)
        env = os.environ.get(SCALE_ENV)
        if env:
            try:
                extra = float(env)
            except ValueError:
                raise ConfigError(
                    "$%s=%r is not a number" % (SCALE_ENV, env), hint="e.g. %s=2 for a slow host" % SCALE_ENV
                ) from None
            if extra <= 0:
                raise ConfigError("$%s=%r must be positive" % (SCALE_ENV, env))
            scale *= extra
        names = {f.name for f in dataclasses.fields(cls)} - {"scale"}
        unknown = sorted(set(base) - names)
        if unknown:
            raise ConfigError(
                "unknown timeout name(s) %s" % ", ".join(unknown), hint="known: %s" % ", ".join(sorted(names))
            )
        return cls(scale=scale, **base)

    def seconds(self, name: str) -> float:
        """The named timeout in seconds, scaled unless it is host-side."""
        if name == "scale" or name not in {f.name for f in dataclasses.fields(self)}:
            raise ConfigError(
                "unknown timeout %r" % name,
                hint="one of %s" % ", ".join(f.name for f in dataclasses.fields(self) if f.name != "scale"),
            )
        value = float(getattr(self, name))
        return value if name in _HOST_SIDE else value * self.scale
