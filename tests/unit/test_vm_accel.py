"""Accelerator decisions, with the probe guest replaced by an injected runner."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError, HostError
from harness.vm import probe_accel
from harness.vm.accel import PROBE_MARKER, ProbeResult

OK = ProbeResult(0x21, "P" + PROBE_MARKER + "\r\n", False)
INTERNAL_ERROR = ProbeResult(
    None, "P\nKVM internal error. Suberror: 1\nemulation failure\nRAX=0000000000000000 RBX=...\n", False
)
CRAWLS = ProbeResult(None, "P", True)


class Runner:
    def __init__(self, result: ProbeResult) -> None:
        self.result = result
        self.argvs: list[list[str]] = []

    def __call__(self, argv: list[str], timeout: float) -> ProbeResult:
        self.argvs.append(argv)
        return self.result


@pytest.fixture
def kvm_device(tmp_path: Path) -> Path:
    device = tmp_path / "kvm"
    device.write_bytes(b"")
    return device


def test_kvm_chosen_when_the_probe_guest_finishes(kvm_device: Path) -> None:
    runner = Runner(OK)
    choice = probe_accel("amd64", runner=runner, kvm_device=kvm_device, host_arch="x86_64")
    assert choice.accel == "kvm"
    argv = runner.argvs[0]
    assert argv[:3] == ["qemu-system-x86_64", "-accel", "kvm"]
    assert "isa-debug-exit,iobase=0xf4,iosize=1" in argv


def test_kvm_internal_error_falls_back_to_tcg_and_says_why(kvm_device: Path) -> None:
    choice = probe_accel("amd64", runner=Runner(INTERNAL_ERROR), kvm_device=kvm_device, host_arch="x86_64")
    assert choice.accel == "tcg"
    assert choice.reason == "the KVM probe guest failed: KVM internal error. Suberror: 1"


def test_a_probe_guest_that_crawls_falls_back_to_tcg(kvm_device: Path) -> None:
    choice = probe_accel("amd64", runner=Runner(CRAWLS), kvm_device=kvm_device, host_arch="x86_64", timeout=5)
    assert choice.accel == "tcg"
    assert "entered its 64-bit code but did not finish writing 32 MiB" in choice.reason


def test_no_dev_kvm_means_tcg_without_running_the_probe(tmp_path: Path) -> None:
    runner = Runner(OK)
    choice = probe_accel("amd64", runner=runner, kvm_device=tmp_path / "absent", host_arch="x86_64")
    assert choice.accel == "tcg"
    assert choice.reason == "%s does not exist" % (tmp_path / "absent")
    assert runner.argvs == []


def test_forced_tcg_never_probes(kvm_device: Path) -> None:
    runner = Runner(OK)
    assert probe_accel("amd64", "tcg", runner=runner, kvm_device=kvm_device, host_arch="x86_64").accel == "tcg"
    assert runner.argvs == []


def test_foreign_arch_is_tcg(kvm_device: Path) -> None:
    runner = Runner(OK)
    choice = probe_accel("sparc64", runner=runner, kvm_device=kvm_device, host_arch="x86_64")
    assert (choice.accel, runner.argvs) == ("tcg", [])
    assert "host is x86_64, guest is sparc64" in choice.reason


def test_forced_kvm_that_cannot_work_is_a_host_error_with_the_reason(kvm_device: Path) -> None:
    with pytest.raises(HostError, match="KVM cannot run amd64 guests here: the KVM probe guest failed") as err:
        probe_accel("amd64", "kvm", runner=Runner(INTERNAL_ERROR), kvm_device=kvm_device, host_arch="x86_64")
    assert err.value.hint == "use --accel tcg (or auto, which falls back by itself)"


def test_forced_kvm_that_works_is_kvm(kvm_device: Path) -> None:
    assert probe_accel("amd64", "kvm", runner=Runner(OK), kvm_device=kvm_device, host_arch="x86_64").accel == "kvm"


def test_unknown_accel_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--accel 'hvf' is not one of auto, kvm, tcg"):
        probe_accel("amd64", "hvf")
