"""The live view of ``harness run``: per target its state (queued,
starting, building / booting / restoring, running n/N, done), passes and
failures, read from each target's ``progress.jsonl``.

On a terminal it is a ``rich`` table redrawn in place; elsewhere (CI logs)
one plain line per change of state, and one per failing test.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from .collector import PROGRESS_NAME
from .model import BAD_OUTCOMES


@dataclass
class TargetProgress:
    name: str
    path: Path
    state: str = "queued"
    phase: str = ""
    total: int | None = None
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    started: float | None = None
    finished: float | None = None
    exit_status: int | None = None
    _offset: int = 0

    @property
    def done_count(self) -> int:
        return sum(self.outcomes.values())

    def start(self) -> None:
        self.state, self.started = "starting", time.monotonic()

    def poll(self) -> list[str]:
        """Read new progress lines; return failing test ids seen in them."""
        new_failures: list[str] = []
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except OSError:
            return new_failures
        # Only whole lines: the writer may be mid-line.
        end = chunk.rfind(b"\n") + 1
        self._offset += end
        for line in chunk[:end].splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            kind = event.get("event")
            if kind == "collected":
                self.total = int(event["count"])
            elif kind == "phase":
                self.phase = str(event.get("phase", ""))
            elif kind == "test":
                self.outcomes[event["outcome"]] += 1
                if event["outcome"] in BAD_OUTCOMES:
                    self.failures.append(event["nodeid"])
                    new_failures.append(event["nodeid"])
        return new_failures

    def finish(self, exit_status: int) -> None:
        self.exit_status, self.finished = exit_status, time.monotonic()
        self.state = "done" if exit_status in (0, 1) else "crashed (exit %d)" % exit_status

    def describe(self) -> str:
        if self.state in ("queued",) or self.finished is not None:
            return self.state
        if self.total is None:
            return "collecting"
        if self.done_count == 0:
            return self.phase or "starting target"
        return "running %d/%d" % (self.done_count, self.total)

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.monotonic()) - self.started

    @property
    def passed(self) -> int:
        return self.outcomes["passed"] + self.outcomes["xfailed"]

    @property
    def failed(self) -> int:
        return sum(self.outcomes[o] for o in BAD_OUTCOMES)


def progress_for(name: str, run_dir: Path) -> TargetProgress:
    return TargetProgress(name, run_dir / name / PROGRESS_NAME)


# A target that cannot start fails every test: a log needs the first few only.
FAILURE_LINES_PER_TARGET = 10


class PlainView:
    """One line per state change: readable in a CI log."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self._last: dict[str, str] = {}
        self._failures_shown: dict[str, int] = {}

    def __enter__(self) -> PlainView:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, targets: list[TargetProgress], new_failures: dict[str, list[str]]) -> None:
        for t in targets:
            for nodeid in new_failures.get(t.name, []):
                shown = self._failures_shown.get(t.name, 0)
                self._failures_shown[t.name] = shown + 1
                if shown < FAILURE_LINES_PER_TARGET:
                    self._line("%s: FAILED %s" % (t.name, nodeid))
                elif shown == FAILURE_LINES_PER_TARGET:
                    self._line("%s: more failures; the summary lists them all" % t.name)
            # "running n/N" changes every test; report it per state only.
            state = t.describe()
            coarse = "running" if state.startswith("running") else state
            if self._last.get(t.name) != coarse:
                self._last[t.name] = coarse
                self._line("%s: %s" % (t.name, state if coarse != "running" else "running %d tests" % (t.total or 0)))
        for t in targets:
            key = t.name + "#done"
            if t.finished is not None and key not in self._last:
                self._last[key] = "1"
                self._line("%s: %d passed, %d failed, %d skipped in %.1f s" % (
                    t.name, t.passed, t.failed, t.outcomes["skipped"], t.elapsed))

    def _line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


class RichView:
    """A table redrawn in place while the targets run."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console()
        self.live = Live(console=self.console, refresh_per_second=4, transient=False)
        self._failures_shown: dict[str, int] = {}

    def __enter__(self) -> RichView:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    def update(self, targets: list[TargetProgress], new_failures: dict[str, list[str]]) -> None:
        from rich.markup import escape
        from rich.table import Table

        for name, nodeids in new_failures.items():
            for nodeid in nodeids:
                shown = self._failures_shown.get(name, 0)
                self._failures_shown[name] = shown + 1
                if shown < FAILURE_LINES_PER_TARGET:
                    self.live.console.print("[red]FAILED[/red] %s" % escape("%s [%s]" % (nodeid, name)),
                                            highlight=False)
        table = Table(title="trapline run", expand=False)
        for column in ("target", "state", "passed", "failed", "skipped", "time"):
            table.add_column(column, justify="right" if column in ("passed", "failed", "skipped", "time") else "left")
        for t in targets:
            style = "red" if t.failed or (t.exit_status not in (None, 0)) else ("green" if t.finished else "")
            table.add_row(t.name, t.describe(), str(t.passed), str(t.failed), str(t.outcomes["skipped"]),
                          "%.0f s" % t.elapsed, style=style)
        self.live.update(table)


def make_view(force_plain: bool = False) -> PlainView | RichView:
    if force_plain or not sys.stdout.isatty():
        return PlainView()
    return RichView()
