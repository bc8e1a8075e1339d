"""Which accelerator a guest gets: probe, don't assume.

``/dev/kvm`` existing proves little.  On this machine it opens, SeaBIOS and a
tiny protected-mode guest run under it, and yet a Linux kernel never prints
its first line: every first touch of guest memory is so slow that zeroing
32 MiB takes 15 s instead of milliseconds (measured with the probe below).  So
KVM is chosen only when a probe guest enters long mode, writes 32 MiB of its
memory and reports back within a few seconds.  The verdict is cached for the
life of the process and its reason logged once; it is also remembered on disk
until the host reboots or QEMU changes, so each pytest-xdist worker does not
pay the probe's seconds again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, HostError
from .profiles import profile_for

log = logging.getLogger(__name__)

ACCEL_CHOICES = ("auto", "kvm", "tcg")
PROBE_MARKER = "trapline-accel-probe-ok"

# The amd64 probe guest: a multiboot image (QEMU's -kernel loads it; the
# header's a.out-kludge flag, bit 16, gives load addresses so no ELF is
# needed).  Assembled from this source (GNU as, --32, linked at 0x100000):
#
#   header: .long 0x1BADB002, 0x00010000, -(0x1BADB002+0x00010000)
#           .long header, header, 0, 0, _start
#   _start: out 'P' to COM1 (0x3f8)
#           zero 12 KiB at 0x200000; PML4[0] -> PDPT at 0x201000 -> PD at
#           0x202000 with 32 2-MiB identity pages (first 64 MiB)
#           CR4.PAE, CR3, EFER.LME via wrmsr, CR0.PG|PE, lgdt, ljmp to 64-bit
#   long64: rep stosq 32 MiB at 16 MiB       <- the part a broken KVM crawls on
#           print "trapline-accel-probe-ok\r\n" to COM1
#           out 0x10 to port 0xf4 (isa-debug-exit: QEMU exits with 0x21)
#           hlt loop
#   gdt:    null, 64-bit code (0x00209A0000000000), data (0x0000920000000000)
_AMD64_PROBE_IMAGE = bytes.fromhex(
    "02b0ad1b00000100fe4f51e4000010000000100000000000000000002000100066baf803b050eebf0000200031c0b9000c"
    "0000f3abc7050000200003102000c7050010200003202000bf00202000b883000000b9200000008907050000200083c708"
    "e2f40f20e083c8200f22e0b8000020000f22d8b9800000c00f320d000100000f300f20c00d010000800f22c00f0115f800"
    "1000ea9c001000080049c7c00100000048c7c70000000148c7c1000040004c89c0f348ab49ffc875e766baf803488d3537"
    "000000ac84c07403eeebf866baf400b010eef4ebfd8db42600000000000000000000000000000000009a20000000000000"
    "9200001700e0001000747261706c696e652d616363656c2d70726f62652d6f6b0d0a00"
)
# isa-debug-exit turns the value written (0x10) into exit status (0x10 << 1) | 1.
_PROBE_EXIT_STATUS = 0x21

_KVM_FAILURE_SIGNS = ("KVM internal error", "emulation failure", "failed to set MSR", "Could not access KVM")


@dataclass(frozen=True)
class ProbeResult:
    """What the probe guest did: its exit status (None if it was killed on timeout) and its output."""

    returncode: int | None
    output: str
    timed_out: bool


ProbeRunner = Callable[[list[str], float], ProbeResult]


@dataclass(frozen=True)
class AccelChoice:
    accel: str
    reason: str


def host_machine_arch() -> str:
    return platform.machine()


def run_probe(argv: list[str], timeout: float) -> ProbeResult:
    """Run a probe QEMU, killing it after ``timeout`` seconds."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        out = _text(exc.stdout) + _text(exc.stderr)
        return ProbeResult(None, out, True)
    except FileNotFoundError as exc:
        raise HostError("%s is not installed" % argv[0], argv=argv, hint="run scripts/install-system-packages") from exc
    return ProbeResult(proc.returncode, proc.stdout + proc.stderr, False)


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


_cache: dict[str, AccelChoice] = {}
_cache_lock = threading.Lock()


def probe_accel(
    arch: str,
    requested: str = "auto",
    *,
    runner: ProbeRunner | None = None,
    kvm_device: Path = Path("/dev/kvm"),
    host_arch: str | None = None,
    timeout: float = 5.0,
) -> AccelChoice:
    """Pick ``kvm`` or ``tcg`` for a guest of ``arch``.

    ``requested`` is ``auto`` (KVM when the probe proves it works), ``tcg``
    (always honoured) or ``kvm`` (a HostError naming the reason when it cannot
    work).  ``runner`` is injectable for tests; only the default runner's
    verdicts are cached, once per process and arch.
    """
    if requested not in ACCEL_CHOICES:
        raise ConfigError("--accel %r is not one of %s" % (requested, ", ".join(ACCEL_CHOICES)))
    if requested == "tcg":
        return AccelChoice("tcg", "TCG requested")
    cacheable = runner is None and host_arch is None and kvm_device == Path("/dev/kvm")
    if cacheable:
        with _cache_lock:
            cached = _cache.get(arch)
        if cached is None:
            cached = _remembered(
                arch, lambda: _decide(arch, run_probe, kvm_device, host_machine_arch(), timeout)
            )
            with _cache_lock:
                if arch not in _cache:
                    _cache[arch] = cached
                    log.info("accelerator for %s guests: %s (%s)", arch, cached.accel, cached.reason)
                cached = _cache[arch]
        choice = cached
    else:
        choice = _decide(arch, runner or run_probe, kvm_device, host_arch or host_machine_arch(), timeout)
    if requested == "kvm" and choice.accel != "kvm":
        raise HostError(
            "--accel kvm was requested but KVM cannot run %s guests here: %s" % (arch, choice.reason),
            hint="use --accel tcg (or auto, which falls back by itself)",
        )
    return choice


def _remembered(arch: str, decide: Callable[[], AccelChoice]) -> AccelChoice:
    """``decide()``, or its verdict from an earlier process since this boot with this QEMU."""
    from ..paths import cache_root
    from .ready_state import qemu_version

    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return decide()
    binary = profile_for(arch).qemu_binary
    ident = hashlib.sha256(json.dumps([boot_id, qemu_version(binary), arch]).encode()).hexdigest()[:16]
    record = cache_root() / "accel" / ("%s-%s.json" % (arch, ident))
    with contextlib.suppress(OSError, ValueError, KeyError):
        data = json.loads(record.read_text())
        return AccelChoice(str(data["accel"]), "%s (probed earlier since this boot)" % data["reason"])
    choice = decide()
    with contextlib.suppress(OSError):
        record.parent.mkdir(parents=True, exist_ok=True)
        tmp = record.with_name(record.name + ".%d.tmp" % os.getpid())
        tmp.write_text(json.dumps({"accel": choice.accel, "reason": choice.reason}))
        tmp.rename(record)
    return choice


def _decide(arch: str, runner: ProbeRunner, kvm_device: Path, host_arch: str, timeout: float) -> AccelChoice:
    profile = profile_for(arch)
    if profile.kvm_host_arch is None or profile.kvm_host_arch != host_arch:
        return AccelChoice("tcg", "KVM runs only same-arch guests: host is %s, guest is %s" % (host_arch, arch))
    if not kvm_device.exists():
        return AccelChoice("tcg", "%s does not exist" % kvm_device)
    if not os.access(kvm_device, os.R_OK | os.W_OK):
        return AccelChoice("tcg", "%s is not readable and writable by this user" % kvm_device)
    if arch != "amd64":
        # No probe guest for this arch yet: refuse KVM rather than trust it.
        return AccelChoice("tcg", "no KVM probe guest for %s" % arch)
    with tempfile.TemporaryDirectory(prefix="trapline-kvm-probe-") as tmp:
        image = Path(tmp) / "probe.bin"
        image.write_bytes(_AMD64_PROBE_IMAGE)
        argv = [
            profile.qemu_binary,
            "-accel", "kvm",
            "-M", profile.machine,
            "-m", "128",
            "-nodefaults", "-display", "none", "-no-user-config",
            "-serial", "stdio",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=1",
            "-kernel", os.fspath(image),
        ]  # fmt: skip
        started = time.monotonic()
        result = runner(argv, timeout)
        elapsed = time.monotonic() - started
    return _judge(result, timeout, elapsed)


def _judge(result: ProbeResult, timeout: float, elapsed: float) -> AccelChoice:
    sign = next((s for s in _KVM_FAILURE_SIGNS if s in result.output), None)
    if sign:
        line = next(line for line in result.output.splitlines() if sign in line)
        return AccelChoice("tcg", "the KVM probe guest failed: %s" % line.strip())
    if result.timed_out:
        reached = "entered its 64-bit code" if "P" in result.output.split(PROBE_MARKER)[0] else "printed nothing"
        return AccelChoice(
            "tcg",
            "the KVM probe guest %s but did not finish writing 32 MiB of its memory within %.0f s "
            "(a working KVM takes milliseconds): real guests would crawl" % (reached, timeout),
        )
    if PROBE_MARKER not in result.output or result.returncode != _PROBE_EXIT_STATUS:
        tail = " | ".join(result.output.strip().splitlines()[-3:]) or "no output"
        return AccelChoice("tcg", "the KVM probe guest exited with status %s: %s" % (result.returncode, tail))
    return AccelChoice("kvm", "the KVM probe guest ran in %.2f s" % elapsed)
