"""Capture a kernel panic report from the in-kernel debugger on the console.

A NetBSD kernel that panics drops into ddb with the prompt ``db{N}>``, an
OpenBSD one with ``ddb{N}>`` (N is the CPU; DESIGN.md section 4).  There the
harness types what syzkaller types on a panicked BSD kernel (google/syzkaller
``vm/vmimpl/openbsd.go`` DiagnoseOpenBSD, commit 17c4f73b13e3: first ``set
$lines = 0`` and ``set $maxwidth = 0`` against paging and line wrapping, then
``show panic``, ``trace``, ``show registers``, ``ps`` among others), waits for
the prompt after each, and turns the output into a short summary: the panic
message and the first frames of the trace.  QEMU writes every console
byte to the transcript, so the full output stays there; the summary is what
the error message shows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import GuestError, Timeout

# db{0}> (NetBSD ddb) and ddb{0}> (OpenBSD ddb); "d?" keeps both one pattern.
DDB_PROMPT = r"\bd?db\{\d+\}> ?"
# ddb pages long output (NetBSD db_more(), OpenBSD db_more()); a space
# shows the next page.
DDB_MORE = r"--db_more--"
# ddb variables both BSDs' ddb know: no pager, no line wrapping (syzkaller's
# first commands).  The --db_more-- handling stays for a ddb that ignores them.
DDB_SETUP = ("set $lines = 0", "set $maxwidth = 0")
# The report commands, in syzkaller's order.
DDB_COMMANDS = ("show panic", "trace", "show registers", "ps")
TRACE_FRAMES = 5

_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]|\x1bc|[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class PanicReport:
    """What ddb said: the panic message, the first trace frames, each command's output."""

    message: str
    frames: tuple[str, ...]
    outputs: dict[str, str] = field(default_factory=dict)
    incomplete: str | None = None  # why capture stopped early, if it did

    def summary(self) -> str:
        text = self.message
        if self.frames:
            text += "; trace: " + " <- ".join(self.frames)
        if self.incomplete:
            text += " (ddb capture incomplete: %s)" % self.incomplete
        return text


def clean_lines(text: str) -> list[str]:
    """``text`` without carriage returns and terminal escapes, split in lines."""
    return _ESCAPES.sub("", text.replace("\r", "")).splitlines()


def _command_output(command: str, raw: str) -> str:
    lines = clean_lines(raw)
    # ddb echoes the typed command first.
    if lines and lines[0].strip() == command:
        lines = lines[1:]
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def _panic_message(screen_before: str, show_panic: str) -> str:
    for line in reversed(clean_lines(screen_before)):
        found = re.search(r"\bpanic: (.+)", line)
        if found:
            return found.group(1).strip()
    for raw_line in show_panic.splitlines():
        line = raw_line.strip()
        if line and not line.startswith("the kernel did not panic"):
            return re.sub(r"^(?:\*?cpu\d+:\s*)?(?:panic:\s*)?", "", line)
    for line in reversed(clean_lines(screen_before)):
        if line.strip() and not re.search(DDB_PROMPT, line):
            return line.strip()
    return "ddb was entered without a panic message"


def _frames(trace: str) -> tuple[str, ...]:
    frames = []
    for raw_line in trace.splitlines():
        line = raw_line.strip()
        # The trace header ("Stopped in pid ...", "trace: pid ...") is not a frame.
        if not line or line.lower().startswith(("stopped in", "trace:", "--db_more--")):
            continue
        frames.append(line)
        if len(frames) == TRACE_FRAMES:
            break
    return tuple(frames)


def capture_panic(console: Any, *, screen_before: str = "", timeout_name: str = "ddb_command",
                  commands: Sequence[str] = DDB_COMMANDS, setup: Sequence[str] = DDB_SETUP) -> PanicReport:
    """Type ``setup`` then ``commands`` at the ddb prompt ``console`` shows
    now and collect the commands' output.  ``screen_before`` is what the
    console printed before the prompt (where the ``panic:`` line usually is).
    A command that never brings the prompt back ends the capture; what was
    gathered is kept."""
    outputs: dict[str, str] = {}
    incomplete = None
    for command in setup:
        console.send(command + "\r")
        try:
            console.expect([DDB_PROMPT], timeout_name)
        except (Timeout, GuestError) as exc:
            incomplete = "%r got no ddb prompt back (%s)" % (command, exc.message)
            commands = ()
            break
    for command in commands:
        console.send(command + "\r")
        raw = ""
        try:
            while True:
                index = console.expect([DDB_PROMPT, DDB_MORE], timeout_name)
                raw += console.before
                if index == 0:
                    break
                console.send(" ")
        except (Timeout, GuestError) as exc:
            # After a timeout the console's "before" holds what was read
            # without a match (pexpect's behaviour): the partial output.
            raw += console.before
            outputs[command] = _command_output(command, raw)
            incomplete = "%r got no ddb prompt back (%s)" % (command, exc.message)
            break
        outputs[command] = _command_output(command, raw)
    return PanicReport(
        message=_panic_message(screen_before, outputs.get("show panic", "")),
        frames=_frames(outputs.get("trace", "")),
        outputs=outputs,
        incomplete=incomplete,
    )
