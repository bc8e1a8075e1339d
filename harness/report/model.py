"""The results of a run as data: one record per test x target, one per
target, and the file they live in (``results.json``).

Every report (text, markdown, HTML, compare, merge) reads this one shape, so
a run directory copied off a CI runner can be reported on anywhere.  Paths
inside are relative to the directory holding the file, which keeps a run
directory relocatable.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ConfigError

SCHEMA_VERSION = 1
RESULTS_NAME = "results.json"

OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
# A strict xfail that passes fails the pytest run (the expectation is stale),
# so it counts with the failures everywhere: exit status, compare, reports.
BAD_OUTCOMES = frozenset({"failed", "error", "xpassed"})

# The ABI self-check suite (the pytest plugin runs it first on every target).
SELFCHECK_FILE = "test_abi_selfcheck.py"
# Self-check outcomes, least to most alarming: a target's verdict is the
# worst of its self-check tests.  An expected deviation on the self-check
# (xfailed) still means the table was not proven, so it counts as failing.
SELFCHECK_SEVERITY = ("skipped", "passed", "xpassed", "xfailed", "failed", "error")
SELFCHECK_UNTRUSTED = frozenset({"xfailed", "failed", "error"})


def area_of(nodeid: str) -> str:
    """The suite file a test lives in, without directory and ``test_``
    prefix: ``suites/test_step.py::x`` -> ``step``."""
    stem = Path(nodeid.split("::", 1)[0]).stem
    return stem[len("test_"):] if stem.startswith("test_") else stem


def is_selfcheck(nodeid: str) -> bool:
    """Whether a test belongs to the ABI self-check suite."""
    return Path(nodeid.split("::", 1)[0]).name == SELFCHECK_FILE


def worse_selfcheck(a: str | None, b: str | None) -> str | None:
    """The more alarming of two self-check outcomes (None: not run)."""
    ranked = [o for o in (a, b) if o is not None]
    return max(ranked, key=SELFCHECK_SEVERITY.index) if ranked else None


@dataclass
class TestRecord:
    __test__ = False  # a record, not a pytest test class

    target: str
    nodeid: str
    outcome: str
    duration: float = 0.0
    # First line of the failure, the skip reason, or the xfail reason.
    message: str = ""
    # The whole exception text: assertion values with pytest's explanation.
    detail: str = ""
    # The full traceback as pytest printed it (bounded in size).
    longrepr: str = ""
    expected_deviation: str | None = None
    deviation_reference: str | None = None
    # An expected deviation that did not happen: the entry is stale.
    stale_expectation: bool = False
    transcript: str | None = None
    transcript_tail: list[str] = field(default_factory=list)
    # The tracing core's own stderr (its tracebacks), when it is not the transcript.
    core_log: str | None = None
    core_log_tail: list[str] = field(default_factory=list)
    captured: str = ""

    @property
    def area(self) -> str:
        return area_of(self.nodeid)

    @property
    def name(self) -> str:
        return self.nodeid.split("::", 1)[-1]

    @property
    def key(self) -> tuple[str, str]:
        return (self.target, self.nodeid)

    @property
    def is_bad(self) -> bool:
        return self.outcome in BAD_OUTCOMES

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["area"] = self.area
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TestRecord:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        record = cls(**known)
        if record.outcome not in OUTCOMES:
            raise ConfigError("test %s on %s has unknown outcome %r (one of %s)"
                              % (record.nodeid, record.target, record.outcome, ", ".join(OUTCOMES)))
        return record


@dataclass
class TargetRecord:
    name: str
    os: str = ""
    distro: str = ""
    release: str = ""
    arch: str = ""
    # The core's hello on that target (os, release, arch, python, ...).
    hello: dict[str, Any] = field(default_factory=dict)
    exit_status: int | None = None
    duration: float = 0.0
    junit: str | None = None
    logs: dict[str, str] = field(default_factory=dict)
    # Why the target produced fewer results than asked (crash, no VM, ...).
    problem: str | None = None
    problem_tail: list[str] = field(default_factory=list)
    # Set when the ABI self-check found the core's table disagreeing with the
    # target's headers: every other result of the target is then suspect.
    abi_disagreements: list[str] = field(default_factory=list)
    # The self-check's outcome (None: it did not run on this target), the
    # message of a self-check that did not pass, and how many facts it compared.
    abi_selfcheck: str | None = None
    abi_selfcheck_message: str = ""
    abi_facts_checked: int | None = None

    @property
    def untrustworthy(self) -> bool:
        """A self-check that failed in any way (a disagreement, a wrong fact
        count, a crashed probe, a lost core) leaves the table unproven."""
        return bool(self.abi_disagreements) or self.abi_selfcheck in SELFCHECK_UNTRUSTED

    def untrustworthy_reasons(self) -> list[str]:
        if self.abi_disagreements:
            return list(self.abi_disagreements)
        if self.untrustworthy:
            return ["the ABI self-check %s: %s" % (self.abi_selfcheck, self.abi_selfcheck_message or "no message")]
        return []

    def selfcheck_summary(self) -> str:
        """One phrase for reports: ``passed, 412 facts checked``, ``skipped: no cc``, ``not run``."""
        if self.abi_selfcheck is None:
            return "not run"
        words = self.abi_selfcheck
        if self.abi_facts_checked is not None:
            words += ", %d facts checked" % self.abi_facts_checked
        if self.abi_selfcheck == "skipped" and self.abi_selfcheck_message:
            words += ": %s" % self.abi_selfcheck_message
        return words

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TargetRecord:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class RunResults:
    targets: dict[str, TargetRecord] = field(default_factory=dict)
    tests: list[TestRecord] = field(default_factory=list)
    harness_version: str = __version__
    created: str = ""
    shard: str | None = None
    argv: list[str] = field(default_factory=list)

    def counts(self, target: str | None = None) -> Counter[str]:
        return Counter(t.outcome for t in self.tests if target is None or t.target == target)

    def target_names(self) -> list[str]:
        return list(self.targets)

    def by_key(self) -> dict[tuple[str, str], TestRecord]:
        return {t.key: t for t in self.tests}

    def nodeids(self) -> list[str]:
        return sorted({t.nodeid for t in self.tests}, key=lambda n: (area_of(n), n))

    @property
    def failed(self) -> bool:
        return any(t.is_bad for t in self.tests) or any(
            tr.problem or (tr.exit_status not in (0, None)) for tr in self.targets.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "harness_version": self.harness_version,
            "created": self.created,
            "shard": self.shard,
            "argv": self.argv,
            "targets": {name: tr.to_json() for name, tr in self.targets.items()},
            "tests": [t.to_json() for t in sorted(self.tests, key=lambda t: (t.target, t.area, t.nodeid))],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, source: str = "results") -> RunResults:
        if data.get("schema") != SCHEMA_VERSION:
            raise ConfigError("%s: results schema %r, this harness reads schema %d"
                              % (source, data.get("schema"), SCHEMA_VERSION),
                              hint="report it with the harness version that wrote it (%s)"
                              % data.get("harness_version", "unknown"))
        return cls(
            targets={name: TargetRecord.from_json(tr) for name, tr in data.get("targets", {}).items()},
            tests=[TestRecord.from_json(t) for t in data.get("tests", [])],
            harness_version=data.get("harness_version", ""),
            created=data.get("created", ""),
            shard=data.get("shard"),
            argv=list(data.get("argv", [])),
        )

    def rebase(self, old_base: Path, new_base: Path) -> None:
        """Rewrite every stored relative path from ``old_base`` to ``new_base``."""
        def move(path: str | None) -> str | None:
            if not path or os.path.isabs(path):
                return path
            return os.path.relpath(os.path.abspath(old_base / path), os.path.abspath(new_base))

        for tr in self.targets.values():
            tr.junit = move(tr.junit)
            tr.logs = {k: move(v) or v for k, v in tr.logs.items()}
        for t in self.tests:
            t.transcript = move(t.transcript)
            t.core_log = move(t.core_log)


def resolve_results_path(path: Path) -> Path:
    """A results file, or a run directory holding one."""
    if path.is_dir():
        path = path / RESULTS_NAME
    if not path.exists():
        raise ConfigError("no results at %s" % path,
                          hint="pass a results.json or the run directory `harness run` wrote")
    return path


def load_results(path: Path) -> RunResults:
    path = resolve_results_path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError("%s is not valid JSON: %s" % (path, e)) from e
    return RunResults.from_json(data, source=str(path))


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file and rename, so a reader (or a crash)
    never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % path.name, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def save_results(results: RunResults, path: Path) -> None:
    write_atomic(path, json.dumps(results.to_json(), indent=1, sort_keys=False) + "\n")
