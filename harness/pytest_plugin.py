"""trapline's pytest plugin: ``--target``, the fixtures suites use, and the
known-deviation expectations.  Registered through the ``pytest11`` entry
point, so ``pytest suites/`` and ``harness run`` behave the same.

Fixtures:
  target   facts about the target: ``.name .os .release .arch`` plus the
           core's hello (``.hello``) and ABI description (``.abi``)
  tracer   the RPC client to the core on the target (``rpc`` is the same)
  spawn    starts tracee programs and kills any left at the end of the test
"""

from __future__ import annotations

import contextlib
import fnmatch
import operator
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .errors import ConfigError
from .rpc import RemoteError, RpcClient
from .targets import TargetId, open_target, parse_target
from .tracecore.abi.types import release_key

SELFCHECK_FILE = "test_abi_selfcheck.py"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("trapline", "trapline conformance targets")
    group.addoption("--target", default="local",
                    help="where the suites run: 'local' or <os>-<release>-<arch> (default: local)")
    group.addoption("--accel", default="auto", choices=("auto", "kvm", "tcg"),
                    help="QEMU accelerator for guest targets (default: auto, which probes KVM)")
    group.addoption("--run-dir", default=None,
                    help="directory for logs, transcripts and results (default: a temporary one)")
    group.addoption("--expectations", default=None,
                    help="known-deviation file (default: suites/expectations.toml beside the suites)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "only_on(os=None, arch=None, reason=...): run only where the "
                            "target's hello matches; skip elsewhere with the reason")


@dataclass
class TargetFacts:
    id: TargetId
    hello: dict[str, Any] = field(default_factory=dict)
    abi: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.id.name

    @property
    def os(self) -> str:
        return self.hello.get("os", self.id.os)

    @property
    def arch(self) -> str:
        return self.hello.get("arch", self.id.arch)

    @property
    def release(self) -> str:
        return self.hello.get("release", self.id.release)

    def const(self, name: str) -> int:
        try:
            return self.abi["constants"][name]
        except KeyError:
            raise KeyError("%s has no constant %s in its ABI table" % (self.name, name)) from None


# -- expectations --------------------------------------------------------------------
# A release range is comparisons joined by commas, all of which must hold:
# ">=9.4,<10.2".  Longer operators first, so ">=" is not read as ">" then "=9.4".
_RANGE_OPERATORS = {">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
                    ">": operator.gt, "<": operator.lt}
_RANGE_CLAUSE = re.compile(r"^(>=|<=|==|!=|>|<)\s*([0-9]+(?:\.[0-9]+)*)$")
RANGE_SYNTAX = 'comparisons joined by commas, e.g. ">=9.4,<10.2" or "<7.7" (operators: >= <= == != > <)'


def is_release_range(release: str) -> bool:
    """A ``release`` value starting with a comparison is a range; anything
    else is an fnmatch pattern (release names never start with one)."""
    return release.lstrip()[:1] in ("<", ">", "=", "!")


def _without_trailing_zeros(key: tuple[int, ...]) -> tuple[int, ...]:
    # 11.0 and 11 are one release: == and != must agree with < and >.
    trimmed = list(key)
    while len(trimmed) > 1 and trimmed[-1] == 0:
        trimmed.pop()
    return tuple(trimmed)


def parse_release_range(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """``">=9.4,<10.2"`` -> ``[(">=", (9, 4)), ("<", (10, 2))]``.  Raises
    ValueError saying which clause is wrong."""
    clauses = []
    for clause in text.split(","):
        m = _RANGE_CLAUSE.match(clause.strip())
        if not m:
            raise ValueError("clause %r is not an operator and a numeric release (%s)"
                             % (clause.strip(), RANGE_SYNTAX))
        clauses.append((m[1], _without_trailing_zeros(tuple(int(part) for part in m[2].split(".")))))
    return clauses


def release_matches(pattern: str, release: str) -> bool:
    """``release`` (a target's, e.g. ``"10.1"``) against an expectation's
    ``release``: a range compares numerically; a release with no number
    (``host`` for --target local) is in no range.  Anything else is fnmatch."""
    if not is_release_range(pattern):
        return fnmatch.fnmatchcase(release, pattern)
    key = release_key(release)
    if key is None:
        return False
    have = _without_trailing_zeros(key)
    return all(_RANGE_OPERATORS[op](have, bound) for op, bound in parse_release_range(pattern))


@dataclass(frozen=True)
class Expectation:
    test: str
    os: str
    arch: str
    release: str
    reason: str
    reference: str

    def matches(self, nodeid: str, tid: TargetId) -> bool:
        return (fnmatch.fnmatchcase(nodeid, self.test) or fnmatch.fnmatchcase(nodeid.split("::", 1)[-1], self.test)) \
            and fnmatch.fnmatchcase(tid.os, self.os) and fnmatch.fnmatchcase(tid.arch, self.arch) \
            and release_matches(self.release, tid.release)


_EXPECTATION_KEYS = {"test", "os", "arch", "release", "reason", "reference"}


def load_expectations(path: Path) -> list[Expectation]:
    """``[[deviation]]`` tables: test (a node-id pattern), os/arch/release
    patterns (release may instead be a range, ">=9.4,<10.2"), a reason and a
    reference.  Bad entries fail loudly."""
    if not path.exists():
        return []
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("%s: not valid TOML: %s" % (path, e)) from None
    # A misspelt table ([[deviations]]) would otherwise be an empty file.
    stray = set(data) - {"deviation"}
    if stray:
        raise ConfigError("%s: top-level key(s) %s are not read; entries go in [[deviation]] tables"
                          % (path, ", ".join(sorted(stray))))
    out = []
    for i, entry in enumerate(data.get("deviation", [])):
        where = "%s: [[deviation]] #%d" % (path, i + 1)
        unknown = set(entry) - _EXPECTATION_KEYS
        if unknown:
            raise ConfigError("%s: unknown key(s) %s (allowed: %s)" % (where, ", ".join(sorted(unknown)),
                                                                        ", ".join(sorted(_EXPECTATION_KEYS))))
        for key in ("test", "reason", "reference"):
            if not entry.get(key):
                raise ConfigError("%s: %r is required" % (where, key))
        wrong = sorted(key for key, value in entry.items() if not isinstance(value, str))
        if wrong:
            raise ConfigError("%s: %s must be strings (patterns and text)" % (where, ", ".join(wrong)))
        release = entry.get("release", "*")
        if is_release_range(release):
            try:
                parse_release_range(release)
            except ValueError as e:
                raise ConfigError("%s: release %r is not a release range: %s" % (where, release, e),
                                  hint="write a range as %s, or a pattern such as \"10.*\"" % RANGE_SYNTAX) \
                    from None
        out.append(Expectation(entry["test"], entry.get("os", "*"), entry.get("arch", "*"),
                               entry.get("release", "*"), entry["reason"], entry["reference"]))
    return out


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tid = parse_target(config.getoption("--target"))
    option = config.getoption("--expectations")
    path = Path(option) if option else Path(__file__).resolve().parent.parent / "suites" / "expectations.toml"
    expectations = load_expectations(path)
    for item in items:
        for exp in expectations:
            if exp.matches(item.nodeid, tid):
                item.add_marker(pytest.mark.xfail(strict=True, reason="%s (%s)" % (exp.reason, exp.reference)))
                item.user_properties.append(("expected_deviation", exp.reason))
                break
    # The ABI self-check first: every later result rests on the tables it checks.
    items.sort(key=lambda item: item.path.name != SELFCHECK_FILE)


# -- fixtures ------------------------------------------------------------------------
@pytest.fixture(scope="session")
def trapline_run_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    option = request.config.getoption("--run-dir")
    path = Path(option) if option else tmp_path_factory.mktemp("trapline-run")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def _trapline_connection(
    request: pytest.FixtureRequest, trapline_run_dir: Path
) -> Iterator[tuple[RpcClient, TargetFacts]]:
    name = request.config.getoption("--target")
    from .report import collector

    target = open_target(name, workdir=trapline_run_dir / name, accel=request.config.getoption("--accel"),
                         on_phase=collector.announce)
    target.start()
    try:
        client = target.start_core()
        try:
            facts = TargetFacts(target.id, client.hello, client.call("abi.describe"))
            yield client, facts
        finally:
            client.close()
    finally:
        target.close()


@pytest.fixture(scope="session")
def tracer(_trapline_connection: tuple[RpcClient, TargetFacts]) -> RpcClient:
    return _trapline_connection[0]


@pytest.fixture(scope="session")
def rpc(tracer: RpcClient) -> RpcClient:
    return tracer


@pytest.fixture(scope="session")
def target(_trapline_connection: tuple[RpcClient, TargetFacts]) -> TargetFacts:
    return _trapline_connection[1]


@pytest.fixture(autouse=True)
def _trapline_only_on(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("only_on")
    if marker is None:
        return
    facts: TargetFacts = request.getfixturevalue("target")
    want_os, want_arch = marker.kwargs.get("os"), marker.kwargs.get("arch")
    reason = marker.kwargs.get("reason", "")
    if want_os and facts.os not in _as_tuple(want_os):
        pytest.skip("%s only (target %s is %s): %s" % ("/".join(_as_tuple(want_os)), facts.name, facts.os, reason))
    if want_arch and facts.arch not in _as_tuple(want_arch):
        pytest.skip("%s only (target %s is %s): %s" % ("/".join(_as_tuple(want_arch)), facts.name, facts.arch,
                                                      reason))


def _as_tuple(value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


@pytest.fixture
def spawn(tracer: RpcClient) -> Iterator[Callable[..., dict[str, Any]]]:
    """``spawn("loop", "10")`` starts a traced tracee program at its ready
    point; whatever is still alive at the end of the test is killed."""
    before = set(tracer.tracee.list())

    def _spawn(program: str, *args: object, **kwargs: Any) -> dict[str, Any]:
        return tracer.tracee.spawn(program=program, args=[str(a) for a in args], **kwargs)

    yield _spawn
    # Everything the test left traced (its forked children and threads too),
    # so no stop of this test's tracees reaches the next test's waits.
    # A pid may be gone already (exited with its process, or reaped).
    for pid in sorted(set(tracer.tracee.list()) - before, reverse=True):
        with contextlib.suppress(RemoteError):
            tracer.ptrace.kill(pid=pid)


# -- results collection (harness.report) --
# With --run-dir, every test's record and the live progress of this target go
# to <run-dir>/<target>/ (results.json, progress.jsonl); harness.report owns it.
# Registered at session start: before collection, after every conftest.
def pytest_sessionstart(session: pytest.Session) -> None:
    from .report import collector

    collector.configure(session.config)


def pytest_unconfigure(config: pytest.Config) -> None:
    from .report import collector

    collector.unconfigure(config)
