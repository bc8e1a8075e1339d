"""Inside one pytest process (one target): turn pytest's reports into
:class:`TestRecord` values and stream progress for ``harness run``'s live view.

Two files per target directory (``<run-dir>/<target>/``):

``results.json``   this target's records, rewritten after every test, so a
                   process killed mid-run still leaves what it finished.
``progress.jsonl`` one JSON object per line: ``collected``, ``phase``
                   (building / booting / restoring, from :func:`announce`),
                   ``test`` (an outcome) and ``finished``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from .model import RESULTS_NAME, RunResults, TargetRecord, TestRecord, is_selfcheck, save_results, worse_selfcheck

PROGRESS_NAME = "progress.jsonl"
CORE_LOG_NAME = "core-stderr.log"
LONGREPR_LIMIT = 20000
TAIL_LINES = 40
# Files a target's directory may hold that a reader wants to find: the
# console transcript (guests), the core's stderr, the pytest log.
TRANSCRIPT_GLOBS = ("*console*.log", "*transcript*", "*serial*.log")
LOG_GLOBS = ("*.log", "*transcript*")

# The collector of this process, if any: announce() needs it without a
# handle passed down through the target code.
_ACTIVE: list[ResultsCollector] = []
_TERMINAL_CONTROL = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*(\x07|\x1b\\)|[@-~])")


def announce(phase: str) -> None:
    """Tell the live view what the target is doing before its first test
    (``building``, ``booting``, ``restoring``).  Does nothing outside a
    collected run, so target code can call it unconditionally."""
    if _ACTIVE:
        _ACTIVE[-1].event("phase", phase=phase)


def tail_of(path: Path, lines: int = TAIL_LINES) -> list[str]:
    """The last lines of a text file, read from its end (transcripts grow large)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read()
    except OSError:
        return []
    # Consoles carry terminal control sequences (SeaBIOS clears the screen,
    # getty sets modes); a report shows the text.
    text = _TERMINAL_CONTROL.sub("", data.decode("utf-8", "replace"))
    return text.splitlines()[-lines:]


def find_logs(target_dir: Path, base: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for pattern in LOG_GLOBS:
        for path in sorted(target_dir.rglob(pattern)):
            if path.is_file():
                found.setdefault(str(path.relative_to(target_dir)), str(path.relative_to(base)))
    return found


def primary_transcript(target_dir: Path) -> Path | None:
    """The console transcript of a guest, or the core's stderr locally."""
    for pattern in TRANSCRIPT_GLOBS:
        hits = sorted(p for p in target_dir.rglob(pattern) if p.is_file())
        if hits:
            return hits[0]
    stderr = target_dir / CORE_LOG_NAME
    return stderr if stderr.exists() else None


def _transcript_from_exception(excinfo: pytest.ExceptionInfo[BaseException] | None) -> Path | None:
    """A TraplineError anywhere in the chain names its transcript."""
    exc: BaseException | None = excinfo.value if excinfo is not None else None
    seen = 0
    while exc is not None and seen < 10:
        path = getattr(exc, "transcript", None)
        if path:
            return Path(path)
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


class ResultsCollector:
    """Registered by the trapline plugin when ``--run-dir`` is given."""

    def __init__(self, config: pytest.Config, run_dir: Path, target: str) -> None:
        self.config = config
        self.run_dir = run_dir
        self.target = target
        self.target_dir = run_dir / target
        self.target_dir.mkdir(parents=True, exist_ok=True)
        self.records: dict[str, TestRecord] = {}
        self.facts: Any = None
        self.started = time.time()
        self._progress: IO[str] = open(self.target_dir / PROGRESS_NAME, "a", encoding="utf-8")  # noqa: SIM115
        self._pending_excinfo: dict[str, pytest.ExceptionInfo[BaseException] | None] = {}
        self.abi_disagreements: list[str] = []
        self.abi_facts_checked: dict[str, int] = {}

    # -- progress --------------------------------------------------------------------
    def event(self, kind: str, **data: Any) -> None:
        data.update(event=kind, time=round(time.time(), 3))
        self._progress.write(json.dumps(data) + "\n")
        self._progress.flush()

    # -- pytest hooks ----------------------------------------------------------------
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.event("collected", count=len(session.items))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
        report: pytest.TestReport = yield
        if call.excinfo is not None and report.failed:
            self._pending_excinfo[item.nodeid] = call.excinfo
        if self.facts is None:
            funcargs = getattr(item, "funcargs", {})
            connection = funcargs.get("_trapline_connection")
            facts = funcargs.get("target") or (connection[1] if isinstance(connection, tuple) else None)
            if facts is not None and hasattr(facts, "hello"):
                self.facts = facts
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = self.records.get(report.nodeid)
        if record is None:
            record = self.records[report.nodeid] = TestRecord(self.target, report.nodeid, "passed")
            # user_properties travel with the report (also from xdist workers).
            deviation = dict(report.user_properties).get("expected_deviation")
            if deviation is not None:
                record.expected_deviation = str(deviation)
        record.duration += report.duration
        self._apply(record, report)
        if report.when == "call" and is_selfcheck(report.nodeid):
            properties = dict(report.user_properties)
            # Recorded before the self-check asserts, so a failing check still says how much it compared.
            if properties.get("abi_facts_checked") is not None:
                self.abi_facts_checked[report.nodeid] = int(properties["abi_facts_checked"])
            if report.failed and properties.get("abi_disagreements"):
                self.abi_disagreements = list(json.loads(str(properties["abi_disagreements"])))

    def pytest_runtest_logfinish(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        record = self.records.get(nodeid)
        if record is None:
            return
        self._pending_excinfo.pop(nodeid, None)
        self.event("test", nodeid=nodeid, outcome=record.outcome)
        self._save()

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self._save(exit_status=int(exitstatus))
        self.event("finished", exit_status=int(exitstatus))
        self._progress.close()

    # -- classification --------------------------------------------------------------
    def _apply(self, record: TestRecord, report: pytest.TestReport) -> None:
        wasxfail = getattr(report, "wasxfail", None)
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self._note_reference(record, str(wasxfail) if wasxfail is not None else str(report.longrepr or ""))
            if report.skipped and wasxfail is not None:
                record.outcome, record.message = "xfailed", str(wasxfail)
            elif report.skipped:
                record.outcome, record.message = "skipped", self._skip_reason(report)
            elif report.passed and wasxfail is not None:
                record.outcome = "xpassed"
                record.stale_expectation = record.expected_deviation is not None
            elif report.failed and str(report.longrepr).startswith("[XPASS(strict)]"):
                record.outcome = "xpassed"
                record.stale_expectation = record.expected_deviation is not None
                record.message = "expected deviation did not happen: %s" % str(report.longrepr)
            elif report.failed:
                record.outcome = "failed" if report.when == "call" else "error"
                self._failure(record, report)
            else:
                record.outcome = "passed"
        elif report.when == "teardown" and report.failed:
            # A teardown error after a failure keeps the failure, with both messages.
            if record.outcome in ("passed", "skipped", "xfailed"):
                record.outcome = "error"
                self._failure(record, report, prefix="teardown: ")
            else:
                record.detail += "\n\nteardown: " + self._crash_message(report)
        if report.when == "call" or record.outcome == "error":
            captured = "\n".join("-- %s --\n%s" % (title, text) for title, text in report.sections if text)
            if captured:
                record.captured = captured[-LONGREPR_LIMIT:]

    @staticmethod
    def _note_reference(record: TestRecord, xfail_reason: str) -> None:
        """The plugin's xfail reason is "<reason> (<reference>)"."""
        if record.expected_deviation is None or record.deviation_reference is not None:
            return
        xfail_reason = xfail_reason.removeprefix("[XPASS(strict)] ")
        prefix = "%s (" % record.expected_deviation
        if xfail_reason.startswith(prefix) and xfail_reason.endswith(")"):
            record.deviation_reference = xfail_reason[len(prefix):-1]

    @staticmethod
    def _skip_reason(report: pytest.TestReport) -> str:
        longrepr = report.longrepr
        if isinstance(longrepr, tuple) and len(longrepr) == 3:
            reason = str(longrepr[2])
            return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason
        return str(longrepr or "")

    @staticmethod
    def _crash_message(report: pytest.TestReport) -> str:
        crash = getattr(report.longrepr, "reprcrash", None)
        if crash is not None:
            return str(crash.message)
        return str(report.longrepr or "").strip().splitlines()[-1:][0] if report.longrepr else ""

    def _failure(self, record: TestRecord, report: pytest.TestReport, prefix: str = "") -> None:
        detail = self._crash_message(report)
        record.detail = prefix + detail
        record.message = prefix + (detail.splitlines()[0] if detail else "%s failed" % report.when)
        record.longrepr = str(report.longrepr)[-LONGREPR_LIMIT:]
        transcript = _transcript_from_exception(self._pending_excinfo.get(report.nodeid)) or \
            primary_transcript(self.target_dir)
        if transcript is not None:
            record.transcript = self._relative(transcript)
            record.transcript_tail = tail_of(transcript)
        core_log = self.target_dir / CORE_LOG_NAME
        if core_log.exists() and core_log != transcript:
            record.core_log = self._relative(core_log)
            record.core_log_tail = tail_of(core_log)

    def _relative(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.run_dir.resolve()))
        except ValueError:
            return str(path.resolve())

    # -- output ----------------------------------------------------------------------
    def _target_record(self, exit_status: int | None) -> TargetRecord:
        from ..targets import parse_target

        tid = parse_target(self.target)
        record = TargetRecord(name=self.target, os=tid.os, distro=tid.distro, release=tid.release, arch=tid.arch,
                              exit_status=exit_status, duration=round(time.time() - self.started, 3))
        if self.facts is not None:
            record.hello = dict(self.facts.hello)
            record.os, record.release, record.arch = self.facts.os, self.facts.release, self.facts.arch
        record.logs = find_logs(self.target_dir, self.run_dir)
        record.abi_disagreements = list(self.abi_disagreements)
        # Judged from the self-check's own records, not its properties: a
        # check that errors before comparing anything records none.
        for test in self.records.values():
            if is_selfcheck(test.nodeid):
                worse = worse_selfcheck(record.abi_selfcheck, test.outcome)
                if worse != record.abi_selfcheck:
                    record.abi_selfcheck, record.abi_selfcheck_message = worse, test.message
        if self.abi_facts_checked:
            record.abi_facts_checked = sum(self.abi_facts_checked.values())
        junit = self.config.getoption("xmlpath", None)
        if junit:
            record.junit = self._relative(Path(junit))
        return record

    def _save(self, exit_status: int | None = None) -> None:
        # Copies: the rebase below must not shift the records kept for the next save.
        results = RunResults(targets={self.target: self._target_record(exit_status)},
                             tests=[dataclasses.replace(r) for r in self.records.values()],
                             created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)))
        # Paths are stored relative to the run directory; this partial file
        # sits one level down, so rebase them to where it is written.
        results.rebase(self.run_dir, self.target_dir)
        save_results(results, self.target_dir / RESULTS_NAME)


def configure(config: pytest.Config) -> None:
    """Register a collector for this process when ``--run-dir`` is given."""
    run_dir = config.getoption("--run-dir", None)
    if not run_dir or getattr(config, "workerinput", None) is not None:
        # xdist workers report to the controller, which collects for them.
        return
    collector = ResultsCollector(config, Path(run_dir), config.getoption("--target"))
    config.pluginmanager.register(collector, "trapline-results")
    _ACTIVE.append(collector)


def unconfigure(config: pytest.Config) -> None:
    collector = config.pluginmanager.get_plugin("trapline-results")
    if collector is not None:
        config.pluginmanager.unregister(collector)
        if collector in _ACTIVE:
            _ACTIVE.remove(collector)
