"""The C reference builds with the system cc, runs, and reports real counts."""

from __future__ import annotations

import platform
import shutil
import subprocess
from types import SimpleNamespace

import pytest

from harness.bench import reference
from harness.bench.measure import Measurement, Unavailable
from harness.errors import GuestError, HostError

# reference.c has breakpoint code for these machines (uname -m) only.
BREAKPOINT_ARCHES = ("x86_64", "aarch64")


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    return reference.build(tmp_path_factory.mktemp("bench-cache"))


def test_steps_report_the_count_and_a_positive_rate(binary):
    fig = reference.run(binary, "steps", 50)
    assert isinstance(fig, Measurement)
    assert fig.count == 50
    assert fig.seconds > 0
    assert fig.per_second > 0


def test_breakpoints_report_the_count_where_written(binary):
    fig = reference.run(binary, "breakpoints", 20)
    if platform.machine() in BREAKPOINT_ARCHES:
        assert isinstance(fig, Measurement)
        assert fig.count == 20
        assert fig.seconds > 0
    else:
        assert isinstance(fig, Unavailable)
        assert fig.reason.startswith("n/a on ")


def test_a_cached_build_is_reused(tmp_path):
    first = reference.build(tmp_path)
    mtime = first.stat().st_mtime_ns
    assert reference.build(tmp_path) == first
    assert first.stat().st_mtime_ns == mtime
    # Only the binary stays: the partial file of the build was renamed away.
    assert [p.name for p in tmp_path.iterdir()] == [first.name]


def test_a_failing_compiler_is_a_host_error_naming_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", "false")
    with pytest.raises(HostError, match="did not compile") as caught:
        reference.build(tmp_path)
    assert caught.value.argv is not None and caught.value.argv[0] == "false"
    assert list(tmp_path.iterdir()) == []


def test_a_missing_compiler_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", "no-such-cc-anywhere")
    with pytest.raises(HostError, match="no C compiler 'no-such-cc-anywhere'") as caught:
        reference.build(tmp_path)
    assert "apt-get install gcc" in (caught.value.hint or "")


@pytest.mark.parametrize(("what", "count"), [("steps", 0), ("jumps", 5)])
def test_bad_arguments_are_refused_before_running(binary, what, count):
    with pytest.raises(ValueError):
        reference.run(binary, what, count)


class _LocalShell:
    """Runs the guest script with this machine's sh and cc, as SSH would there."""

    def exec(self, command, *, stdin=None, timeout=None):
        done = subprocess.run(["sh", "-c", command], input=stdin, capture_output=True, timeout=timeout,
                              check=False)
        return SimpleNamespace(exit_status=done.returncode, stdout=done.stdout, stderr=done.stderr)


def test_the_guest_script_builds_once_and_runs_every_round():
    rounds = reference.measure_remote(_LocalShell(), 10, rounds=2, target="local-sh")
    assert len(rounds) == 2
    for figures in rounds:
        assert figures["steps"] == Measurement(10, figures["steps"].seconds)
        assert figures["steps"].seconds > 0


class _BrokenGuest:
    def exec(self, command, *, stdin=None, timeout=None):
        return SimpleNamespace(exit_status=127, stdout=b"", stderr=b"sh: 1: cc: not found")


def test_a_guest_without_cc_is_a_guest_error_with_the_fix():
    with pytest.raises(GuestError, match=r"exit 127\).*cc: not found") as caught:
        reference.measure_remote(_BrokenGuest(), 10, target="debian-12-amd64")
    assert caught.value.target == "debian-12-amd64"
    assert "gcc, libc6-dev" in (caught.value.hint or "")


@pytest.mark.parametrize("line", ['{"what": "steps", "count": 9, "seconds": 1.0}', "Segmentation fault",
                                  '{"what": "breakpoints", "count": 10, "seconds": 1.0}'])
def test_a_reply_for_other_work_is_refused(line):
    with pytest.raises(ValueError, match="C reference"):
        reference.parse_reply(line, "steps", 10)


def test_a_host_built_binary_is_sent_and_run_every_round(binary):
    # The guest script for a guest without cc: the binary arrives on stdin
    # and is never compiled there (this machine's sh stands in for the guest's).
    shell = _LocalShell()
    sent = []

    class _Recording:
        def exec(self, command, *, stdin=None, timeout=None):
            sent.append((command, stdin))
            return shell.exec(command, stdin=stdin, timeout=timeout)

    rounds = reference.measure_remote(_Recording(), 10, rounds=3, target="local-sh", binary=binary)
    assert [sorted(r) for r in rounds] == [["breakpoints", "steps"]] * 3
    assert rounds[0]["breakpoints"].count == 10
    (command, stdin), = sent
    assert stdin == binary.read_bytes()
    assert " cc " not in command and command.count('"$d/reference" steps 10') == 3


def test_a_host_built_binary_that_fails_names_itself(binary):
    with pytest.raises(GuestError) as caught:
        reference.measure_remote(_BrokenGuest(), 10, target="debian-12-sparc64", binary=binary)
    assert binary.name in (caught.value.hint or "")


def test_guest_has_cc_asks_the_guest_shell():
    assert reference.guest_has_cc(_LocalShell()) is (shutil.which("cc") is not None)
    assert reference.guest_has_cc(_BrokenGuest()) is False


def test_build_with_a_given_compiler_keys_the_cache_by_it(tmp_path):
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no cc on this machine to build the reference with")
    plain = reference.build(tmp_path)
    # The same compiler under another command line is another cache entry.
    other = reference.build(tmp_path, cc=[cc, "-g"])
    assert plain != other and other.is_file()
    assert reference.build(tmp_path, cc=[cc, "-g"]) == other


@pytest.mark.parametrize(("cross", "machine"), [("sparc64-linux-gnu-gcc", "SPARC V9"),
                                                ("aarch64-linux-gnu-gcc", "ARM aarch64")])
def test_reference_builds_for_the_guests_without_a_compiler(tmp_path, cross, machine):
    # What the bench sends a guest that has no cc; it can only run there,
    # but it must build here with the compiler the bench would use.
    if shutil.which(cross) is None:
        pytest.skip("%s is not installed (scripts/install-system-packages)" % cross)
    built = reference.build(tmp_path, cc=[cross])
    header = built.read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    # e_machine: EM_SPARCV9 43 (big-endian) or EM_AARCH64 183 (little-endian).
    assert (header[5], header[18:20]) == ((2, b"\x00\x2b") if machine == "SPARC V9" else (1, b"\xb7\x00"))
