"""Build steps with a log and visible progress, shared by every image builder.

Each step is timed, announced on the terminal (a live spinner with the
step's latest output line when stderr is a terminal, one line per finished
step otherwise) and everything its commands print goes to the build log.  A
failing command raises :class:`HostError` with its last lines and the log path.
"""

from __future__ import annotations

import subprocess
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..errors import HostError

_TAIL_LINES = 40


class StepRunner:
    def __init__(self, log_path: Path, *, target: str, console: Console | None = None) -> None:
        self.log_path = log_path
        self.target = target
        self.console = console or Console(stderr=True)
        self.timings: dict[str, float] = {}
        self._log: IO[str] = open(log_path, "a", encoding="utf-8", errors="replace")  # noqa: SIM115
        self._progress: Progress | None = None
        self._task: int | None = None
        self._step = ""

    def close(self) -> None:
        self._log.close()

    def __enter__(self) -> StepRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def note(self, line: str) -> None:
        self._log.write(line.rstrip("\n") + "\n")
        self._log.flush()

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self._step = name
        self.note("==> %s" % name)
        started = time.monotonic()
        if not self.console.is_terminal:
            # No live display to update: a log or CI gets one line per step.
            yield
            self._record(name, started)
            return
        progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.fields[step]}"),
                            TextColumn("{task.description}"), TimeElapsedColumn(),
                            console=self.console, transient=True)
        self._progress = progress
        with progress:
            self._task = progress.add_task("", step="%s: %s" % (self.target, name))
            try:
                yield
            finally:
                self._progress = None
        self._record(name, started)

    def _record(self, name: str, started: float) -> None:
        elapsed = time.monotonic() - started
        self.timings[name] = round(elapsed, 1)
        self.note("<== %s: %.1f s" % (name, elapsed))
        self.console.print("[green]done[/] %s: %s (%.1f s)" % (self.target, name, elapsed))

    def _show(self, line: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=line[-80:])  # type: ignore[arg-type]

    def run(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
            hint: str | None = None) -> None:
        """Run one command, its output into the log; raise on a non-zero exit."""
        self.note("$ " + " ".join(argv))
        tail: deque[str] = deque(maxlen=_TAIL_LINES)
        try:
            proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=dict(env) if env is not None else None,
                                    text=True, errors="replace", bufsize=1)
        except OSError as e:
            raise HostError("cannot run %s: %s" % (argv[0], e.strerror), target=self.target, argv=argv,
                            hint=hint) from e
        assert proc.stdout is not None
        for line in proc.stdout:
            self._log.write(line)
            tail.append(line.rstrip("\n"))
            if line.strip():
                self._show(line.strip())
        self._log.flush()
        code = proc.wait()
        if code != 0:
            raise HostError(
                "%s: %s exited with status %d" % (self._step, argv[0], code),
                target=self.target, argv=argv, console_tail=list(tail),
                hint=(hint + "; " if hint else "") + "build log: %s" % self.log_path,
            )
