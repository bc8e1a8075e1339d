"""Drive an installer's dialogue on the serial console: the dialogue is data.

A dialogue file (``images/dialogues/<name>.toml``) lists the installer's
questions in order, each a ``prompt`` regex and the ``answer`` to type, with
the source the prompt text was read from.  This module is the small engine
that walks it:

* it reads the console in chunks, drops terminal escapes (sysinst draws with
  curses) and matches the prompts against that clean text, so a prompt may
  arrive split over several reads;
* a step's ``timeout`` names a stall timer from :class:`harness.vm.Timeouts`:
  any new console output restarts it, and the dialogue's ``limit`` bounds the
  whole run however busy the console is;
* an ``optional`` step is skipped when a later step's prompt shows first; a
  ``repeat`` step is answered every time it shows until the next one does;
* every step (prompt matched, answer sent, seconds waited) goes to a step log
  beside the console transcript;
* a known error screen, a stall, or a ddb prompt (a kernel panic, captured by
  :mod:`harness.images.panic`) ends the run with a :class:`GuestError`
  carrying the transcript path and the last screen.

OpenBSD's autoinstall also needs its answers file: :func:`render_install_conf`.

File format: ``name`` (the file's stem), ``aliases``, ``description``,
``limit`` (a timeout name), ``[sources]`` (citation key -> file and revision),
``[[steps]]`` with ``name``, ``prompt``, ``answer``, ``source`` ("<key>:
where in that file"), optional ``timeout``, ``optional``, ``repeat``,
``secret``; ``[done]`` with ``prompt`` and ``source``; ``[[errors]]`` with
``pattern`` and ``source``.  An answer names special keys (``{ENTER}``,
``{CTRL_C}``, ``{UP}`` ...: :data:`SPECIAL_KEYS`), named groups of its
prompt's match and the run's variables in braces.
"""

from __future__ import annotations

import json
import re
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NoReturn, Protocol

from ..errors import ConfigError, GuestError, Timeout
from ..vm.timeouts import Timeouts
from . import panic

DIALOGUES_DIR = Path(__file__).resolve().parents[2] / "images" / "dialogues"

# What an answer may name in braces besides the variables: keys a terminal
# sends.  Enter is a carriage return on a serial line (see Console.sendline).
SPECIAL_KEYS = {
    "ENTER": "\r",
    "CTRL_C": "\x03",
    "CTRL_D": "\x04",
    "ESC": "\x1b",
    "TAB": "\t",
    "SPACE": " ",
    "BACKSPACE": "\x7f",
    "UP": "\x1b[A",
    "DOWN": "\x1b[B",
    "RIGHT": "\x1b[C",
    "LEFT": "\x1b[D",
}

# One console read: whatever the console holds, at least one character.
_ANY_OUTPUT = r"(?s).+"
# Cursor addressing starts a new screen position: keep it as a line break so
# words from different screen lines do not run together.
_CURSOR_MOVE = re.compile(r"\x1b\[[0-9;]*[Hf]")
_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]|\x1b[=>c78]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# An escape sequence cut by the end of a read: held back for the next one.
_PARTIAL_ESCAPE = re.compile(r"\x1b(?:\[[0-9;?]*|[()])?\Z")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
# The matched screen kept for the next step and for error messages.
_SCREEN_LIMIT = 64 * 1024
# Reads spent completing an error screen's line for the message.
_LINE_READS = 64
# A prompt spanning a whole screen is logged by its end (the part that decided).
_LOGGED_PROMPT = 2000

_STEP_KEYS = {"name", "prompt", "answer", "optional", "repeat", "timeout", "source", "secret"}
_TOP_KEYS = {"name", "aliases", "description", "limit", "sources", "errors", "steps", "done"}


class DialogueConsole(Protocol):
    """What the engine needs of a console (:class:`harness.vm.console.Console`
    is one; ``tests/fakes/console_replay.py`` is another)."""

    transcript_path: Path
    timeouts: Timeouts

    def expect(self, pattern: Any, timeout_name: str = ...) -> int: ...

    def send(self, text: str) -> None: ...

    def tail(self, lines: int = ...) -> list[str]: ...

    @property
    def before(self) -> str: ...

    @property
    def match(self) -> re.Match | None: ...


@dataclass(frozen=True)
class Pattern:
    """A regex with the citation of the text it matches."""

    regex: re.Pattern
    source: str


@dataclass(frozen=True)
class Step:
    name: str
    prompt: re.Pattern
    answer: str
    source: str
    timeout: str = "installer_prompt"
    optional: bool = False
    repeat: bool = False
    secret: bool = False  # the answer is kept out of the step log


@dataclass(frozen=True)
class Dialogue:
    name: str
    path: Path
    description: str
    steps: tuple[Step, ...]
    done: Step  # its answer is empty: the dialogue ends when it matches
    errors: tuple[Pattern, ...]
    limit: str
    sources: Mapping[str, str]
    aliases: tuple[str, ...] = ()


@dataclass
class DialogueResult:
    """What a finished run did, in order."""

    dialogue: str
    answered: list[tuple[str, str]] = field(default_factory=list)  # (step, text sent; secrets masked)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    log: Path | None = None


class DialogueStalled(GuestError, Timeout):
    """No expected prompt came before the step's stall timer or the dialogue's
    limit ran out.  Both a guest fault (the installer is not where the
    dialogue thinks) and a named timeout, so either ``except`` catches it."""


# ---------------------------------------------------------------- loading


def _timeout_names() -> set[str]:
    return {f.name for f in fields(Timeouts)} - {"scale"}


def _compile(where: str, regex: Any) -> re.Pattern:
    if not isinstance(regex, str) or not regex:
        raise ConfigError("%s: a pattern must be a non-empty string, got %r" % (where, regex))
    try:
        return re.compile(regex)
    except re.error as exc:
        raise ConfigError("%s: bad regex %r: %s" % (where, regex, exc)) from None


def _check_source(where: str, source: Any, sources: Mapping[str, str]) -> str:
    # "key: detail", the key naming an entry of [sources] (file and revision).
    if not isinstance(source, str) or ":" not in source:
        raise ConfigError("%s: source %r must read '<key>: <where in that file>'" % (where, source),
                          hint="keys: %s" % ", ".join(sorted(sources)))
    key = source.split(":", 1)[0].strip()
    if key not in sources:
        raise ConfigError("%s: source key %r is not in [sources]" % (where, key),
                          hint="keys: %s" % ", ".join(sorted(sources)))
    return source


def _check_timeout(where: str, name: Any) -> str:
    if name not in _timeout_names():
        raise ConfigError("%s: unknown timeout %r" % (where, name),
                          hint="one of %s (harness/vm/timeouts.py)" % ", ".join(sorted(_timeout_names())))
    return name


def _step(where: str, raw: Any, sources: Mapping[str, str], *, done: bool = False) -> Step:
    if not isinstance(raw, dict):
        raise ConfigError("%s: must be a table" % where)
    unknown = sorted(set(raw) - _STEP_KEYS)
    if unknown:
        raise ConfigError("%s: unknown key(s) %s" % (where, ", ".join(unknown)),
                          hint="allowed: %s" % ", ".join(sorted(_STEP_KEYS)))
    name = raw.get("name", "done" if done else None)
    if not isinstance(name, str) or not name:
        raise ConfigError("%s: every step needs a name" % where)
    where = "%s (%s)" % (where, name)
    answer = raw.get("answer", "")
    if done and answer:
        raise ConfigError("%s: [done] ends the dialogue and takes no answer" % where)
    if not done and not isinstance(answer, str):
        raise ConfigError("%s: answer must be a string" % where)
    for flag in ("optional", "repeat", "secret"):
        if not isinstance(raw.get(flag, False), bool):
            raise ConfigError("%s: %s must be true or false" % (where, flag))
    if done and (raw.get("optional") or raw.get("repeat")):
        raise ConfigError("%s: [done] cannot be optional or repeat" % where)
    return Step(
        name=name,
        prompt=_compile(where + " prompt", raw.get("prompt")),
        answer=answer,
        source=_check_source(where, raw.get("source"), sources),
        timeout=_check_timeout(where, raw.get("timeout", "installer_prompt")),
        optional=raw.get("optional", False),
        repeat=raw.get("repeat", False),
        secret=raw.get("secret", False),
    )


def load_dialogue(path: Path) -> Dialogue:
    """Load and validate one dialogue file; a bad entry names the file, the
    step and the key."""
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError("dialogue file %s does not exist" % path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("%s: not valid TOML: %s" % (path, exc)) from None
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise ConfigError("%s: unknown key(s) %s" % (path, ", ".join(unknown)),
                          hint="allowed: %s" % ", ".join(sorted(_TOP_KEYS)))
    sources = raw.get("sources")
    if not isinstance(sources, dict) or not sources or not all(isinstance(v, str) for v in sources.values()):
        raise ConfigError("%s: [sources] must map citation keys to file and revision strings" % path)
    steps_raw = raw.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise ConfigError("%s: needs at least one [[steps]] entry" % path)
    steps = tuple(_step("%s: steps[%d]" % (path, i), s, sources) for i, s in enumerate(steps_raw))
    names = [s.name for s in steps]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError("%s: step name(s) used twice: %s" % (path, ", ".join(duplicates)))
    if "done" not in raw:
        raise ConfigError("%s: needs a [done] table: the pattern that ends the dialogue" % path)
    errors = []
    for i, entry in enumerate(raw.get("errors", [])):
        where = "%s: errors[%d]" % (path, i)
        if not isinstance(entry, dict) or set(entry) - {"pattern", "source"}:
            raise ConfigError("%s: must be a table with pattern and source" % where)
        errors.append(Pattern(_compile(where, entry.get("pattern")),
                              _check_source(where, entry.get("source"), sources)))
    aliases = raw.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise ConfigError("%s: aliases must be a list of names" % path)
    name = raw.get("name")
    if name != path.stem:
        raise ConfigError("%s: name %r must equal the file name's stem %r" % (path, name, path.stem))
    return Dialogue(
        name=name,
        path=path,
        description=str(raw.get("description", "")),
        steps=steps,
        done=_step("%s: done" % path, raw["done"], sources, done=True),
        errors=tuple(errors),
        limit=_check_timeout("%s: limit" % path, raw.get("limit", "installer_total")),
        sources=dict(sources),
        aliases=tuple(aliases),
    )


def find_dialogue(name: str, directory: Path = DIALOGUES_DIR) -> Dialogue:
    """The dialogue called ``name`` (its file stem or one of its aliases)."""
    direct = directory / ("%s.toml" % name)
    if direct.is_file():
        return load_dialogue(direct)
    known = []
    for path in sorted(directory.glob("*.toml")):
        dialogue = load_dialogue(path)
        if name in dialogue.aliases:
            return dialogue
        known.append(dialogue.name + "".join(" (%s)" % a for a in dialogue.aliases))
    raise ConfigError("no installer dialogue named %r in %s" % (name, directory),
                      hint="known: %s" % (", ".join(known) or "none"))


# ---------------------------------------------------------------- answers


def render_answer(dialogue: Dialogue, step: Step, variables: Mapping[str, str],
                  groups: Mapping[str, str] | None = None) -> str:
    """``step.answer`` with ``{KEY}`` special keys, ``{group}`` named groups of
    the prompt's match and ``{variable}`` values filled in (``{{``/``}}`` for
    literal braces)."""
    groups = groups or {}

    def fill(found: re.Match) -> str:
        token = found.group(0)
        if token in ("{{", "}}"):
            return token[0]
        key = found.group(1)
        if key in SPECIAL_KEYS:
            return SPECIAL_KEYS[key]
        if key in groups and groups[key] is not None:
            return groups[key]
        if key in variables:
            return str(variables[key])
        raise ConfigError(
            "dialogue %s, step %s: the answer needs {%s}, which is neither a key, a named group of the prompt "
            "nor a variable" % (dialogue.name, step.name, key),
            hint="variables given: %s; keys: %s" % (", ".join(sorted(variables)) or "none", ", ".join(SPECIAL_KEYS)),
        )

    return _PLACEHOLDER.sub(fill, step.answer)


def missing_variables(dialogue: Dialogue, variables: Mapping[str, str]) -> list[str]:
    """Variables the dialogue's answers use that ``variables`` lacks."""
    missing = set()
    for step in dialogue.steps:
        group_names = set(step.prompt.groupindex)
        for found in _PLACEHOLDER.finditer(step.answer):
            key = found.group(1)
            if key and key not in SPECIAL_KEYS and key not in group_names and key not in variables:
                missing.add(key)
    return sorted(missing)


# ---------------------------------------------------------------- running


def clean_screen(text: str) -> str:
    """Console text as a reader sees it: no escapes, no carriage returns."""
    return _ESCAPE.sub("", _CURSOR_MOVE.sub("\n", text)).replace("\r", "")


class _ScreenReader:
    """Reads the console in chunks into a cleaned text buffer."""

    def __init__(self, console: DialogueConsole) -> None:
        self.console = console
        self.text = ""
        self._raw_tail = ""

    def read(self, timeout_name: str) -> bool:
        """Append what the console printed within ``timeout_name``; False if nothing."""
        try:
            self.console.expect([_ANY_OUTPUT], timeout_name)
        except Timeout:
            return False
        found = self.console.match
        chunk = found.group(0) if found is not None else ""
        raw = self._raw_tail + chunk
        partial = _PARTIAL_ESCAPE.search(raw)
        self._raw_tail = raw[partial.start():] if partial else ""
        self.text += clean_screen(raw[:partial.start()] if partial else raw)
        if len(self.text) > _SCREEN_LIMIT:
            self.text = self.text[-_SCREEN_LIMIT:]
        return bool(chunk)

    def consume(self, end: int) -> str:
        consumed, self.text = self.text[:end], self.text[end:]
        return consumed


class _StepLog:
    """The step log: one JSON object per line, appended as it happens (a
    crash of the harness keeps every step logged before it)."""

    def __init__(self, path: Path, started: float) -> None:
        self.path = path
        self.started = started
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, event: str, **data: Any) -> None:
        record = {"t": round(time.monotonic() - self.started, 3), "event": event, **data}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def _last_screen(console: DialogueConsole, reader: _ScreenReader) -> list[str]:
    tail = console.tail()
    if tail:
        return tail
    return [line for line in reader.text.splitlines() if line.strip()][-40:]


def _target(console: DialogueConsole) -> str | None:
    return getattr(console, "target", None)


class DialogueRunner:
    """One run of ``dialogue`` on ``console``."""

    def __init__(self, dialogue: Dialogue, console: DialogueConsole, variables: Mapping[str, str], *,
                 log: Path | None = None, timeouts: Timeouts | None = None) -> None:
        missing = missing_variables(dialogue, variables)
        if missing:
            raise ConfigError("dialogue %s needs variable(s) %s" % (dialogue.name, ", ".join(missing)),
                              hint="pass them in variables=")
        self.dialogue = dialogue
        self.console = console
        self.variables = dict(variables)
        self.timeouts = timeouts or console.timeouts
        self.log_path = log or console.transcript_path.with_name(
            "%s.%s.steps.log" % (console.transcript_path.stem, dialogue.name))
        self.reader = _ScreenReader(console)
        self.result = DialogueResult(dialogue.name, log=self.log_path)
        self.steplog = _StepLog(self.log_path, time.monotonic())

    def _candidates(self, index: int, repeats: Mapping[int, int]) -> list[int]:
        """Steps whose prompt may come next (len(steps) stands for done)."""
        steps = self.dialogue.steps
        out = []
        position = index
        while position < len(steps):
            out.append(position)
            step = steps[position]
            passable = step.optional or (step.repeat and repeats.get(position, 0) > 0)
            if not passable:
                return out
            position += 1
        out.append(len(steps))
        return out

    def _fail(self, exc_type: type, message: str, **extra: Any) -> NoReturn:
        raise exc_type(
            "%s dialogue: %s" % (self.dialogue.name, message),
            target=_target(self.console),
            transcript=self.console.transcript_path,
            console_tail=_last_screen(self.console, self.reader),
            **extra,
        )

    def run(self) -> DialogueResult:
        started = time.monotonic()
        limit_seconds = self.timeouts.seconds(self.dialogue.limit)
        steplog = self.steplog
        steplog.started = started
        steplog.write("start", dialogue=self.dialogue.name, file=str(self.dialogue.path),
                      transcript=str(self.console.transcript_path), limit=self.dialogue.limit)
        try:
            self._run(steplog, started, limit_seconds)
        except Exception as exc:
            steplog.write("failed", error=getattr(exc, "message", str(exc)), kind=type(exc).__name__)
            raise
        finally:
            self.result.seconds = round(time.monotonic() - started, 3)
        return self.result

    def _run(self, steplog: _StepLog, started: float, limit_seconds: float) -> None:
        steps = self.dialogue.steps
        index = 0
        repeats: dict[int, int] = {}
        while True:
            candidates = self._candidates(index, repeats)
            awaited = steps[candidates[0]] if candidates[0] < len(steps) else self.dialogue.done
            waited_since = time.monotonic()
            chosen, found = self._wait(candidates, awaited, started, limit_seconds)
            waited = round(time.monotonic() - waited_since, 3)
            if chosen == len(steps):
                for skipped in range(index, len(steps)):
                    self._skip(steplog, skipped, repeats)
                steplog.write("done", prompt=found.group(0)[-_LOGGED_PROMPT:], waited=waited)
                return
            for skipped in range(index, chosen):
                self._skip(steplog, skipped, repeats)
            step = steps[chosen]
            answer = render_answer(self.dialogue, step, self.variables,
                                   {k: v for k, v in found.groupdict().items() if v is not None})
            self.console.send(answer)
            shown = "<secret>" if step.secret else answer
            self.result.answered.append((step.name, shown))
            steplog.write("answer", step=step.name, prompt=found.group(0)[-_LOGGED_PROMPT:], sent=shown, waited=waited)
            repeats[chosen] = repeats.get(chosen, 0) + 1
            index = chosen if step.repeat else chosen + 1

    def _skip(self, steplog: _StepLog, position: int, repeats: Mapping[int, int]) -> None:
        step = self.dialogue.steps[position]
        if repeats.get(position, 0) == 0:
            self.result.skipped.append(step.name)
            steplog.write("skip", step=step.name, why="a later prompt showed first")

    def _search(self, candidates: Sequence[int]) -> tuple[int, re.Match] | None:
        """The earliest candidate prompt on the screen; raises on ddb or an error screen."""
        text = self.reader.text
        ddb = re.search(panic.DDB_PROMPT, text)
        if ddb:
            self._panic(text[:ddb.start()])
        for pattern in self.dialogue.errors:
            bad = pattern.regex.search(text)
            if bad:
                self._fail(GuestError, "the installer showed an error screen: %r (pattern %r, %s)"
                           % (self._whole_line(pattern.regex), pattern.regex.pattern, pattern.source))
        best: tuple[int, re.Match] | None = None
        for position in candidates:
            step = self.dialogue.steps[position] if position < len(self.dialogue.steps) else self.dialogue.done
            found = step.prompt.search(text)
            if found and (best is None or found.start() < best[1].start()):
                best = (position, found)
        return best

    def _whole_line(self, regex: re.Pattern) -> str:
        """The screen line ``regex`` matches on, reading on (briefly) until
        the installer has printed its end, so the error shows whole."""
        for _ in range(_LINE_READS):
            found = regex.search(self.reader.text)
            if found is None or "\n" in self.reader.text[found.end():] or not self.reader.read("dialogue_poll"):
                break
        text = self.reader.text
        found = regex.search(text)
        if found is None:
            return ""
        line_start = text.rfind("\n", 0, found.start()) + 1
        line_end = text.find("\n", found.end())
        return text[line_start:line_end if line_end >= 0 else len(text)].strip()

    def _wait(self, candidates: Sequence[int], awaited: Step, started: float,
              limit_seconds: float) -> tuple[int, re.Match]:
        stall_seconds = self.timeouts.seconds(awaited.timeout)
        stall_deadline = time.monotonic() + stall_seconds
        while True:
            best = self._search(candidates)
            if best is not None:
                position, found = best
                self.reader.consume(found.end())
                return position, found
            now = time.monotonic()
            if now - started > limit_seconds:
                self._stalled(candidates, "the dialogue's limit", self.dialogue.limit, now - started)
            if now > stall_deadline:
                self._stalled(candidates, "no console output", awaited.timeout, stall_seconds)
            try:
                progressed = self.reader.read("dialogue_poll")
            except GuestError as exc:
                self._closed(candidates, exc)
            if progressed:
                # Progress: the installer is alive, so its stall timer restarts.
                stall_deadline = time.monotonic() + stall_seconds

    def _closed(self, candidates: Sequence[int], exc: GuestError) -> NoReturn:
        """The console went away (QEMU exited: a reboot under -no-reboot, a
        crash); a kernel that panicked without ddb says so on its way out."""
        said = re.findall(r"\bpanic: ([^\n]+)", self.reader.text)
        why = "; the kernel printed: panic: %s" % said[-1].strip() if said else ""
        try:
            self._fail(GuestError, "the console closed while waiting for %s%s"
                       % (self._describe(candidates), why))
        except GuestError as error:
            raise error from exc

    def _describe(self, candidates: Sequence[int]) -> str:
        names = []
        for position in candidates:
            step = self.dialogue.steps[position] if position < len(self.dialogue.steps) else self.dialogue.done
            names.append("%s %r" % (step.name, step.prompt.pattern))
        return " or ".join(names)

    def _stalled(self, candidates: Sequence[int], why: str, timeout_name: str, waited: float) -> NoReturn:
        self._fail(DialogueStalled, "stalled (%s) waiting for %s" % (why, self._describe(candidates)),
                   waited=waited, timeout_name=timeout_name,
                   hint="the installer is not where %s expects: compare the last screen with the step's "
                        "prompt and its source" % self.dialogue.path.name)

    def _panic(self, screen_before: str) -> NoReturn:
        self.reader.consume(len(self.reader.text))
        report = panic.capture_panic(self.console, screen_before=screen_before)
        self.steplog.write("panic", message=report.message, frames=list(report.frames), outputs=report.outputs,
                           incomplete=report.incomplete)
        self._fail(GuestError, "kernel panic: %s" % report.summary(),
                   hint="the full ddb output (show panic, trace, show registers, ps) is in the transcript")


def run_dialogue(name: str | Dialogue, console: DialogueConsole, *, variables: Mapping[str, str],
                 log: Path | None = None, timeouts: Timeouts | None = None,
                 directory: Path = DIALOGUES_DIR) -> DialogueResult:
    """Run the dialogue ``name`` (file stem or alias under ``directory``, or a
    loaded :class:`Dialogue`) on ``console`` with ``variables`` for its
    answers; ``log`` is the step log (default: beside the transcript),
    ``timeouts`` overrides the console's."""
    dialogue = name if isinstance(name, Dialogue) else find_dialogue(name, directory)
    return DialogueRunner(dialogue, console, variables, log=log, timeouts=timeouts).run()


# ---------------------------------------------------------------- install.conf

# OpenBSD's installer answers a question from the response file when a line's
# key (left of '=') occurs in the question as whole words, case-insensitively
# (install.sub _autorespond(), $OpenBSD: install.sub,v 1.815 2015/03/08
# 13:15:00 deraadt Exp $).  Keys and the questions they answer, from the same
# file unless noted:
#   System hostname            ask_until "System hostname? (short form, e.g. 'foo')"
#   IPv4 address for           "IPv4 address for $_ifs? (or 'dhcp' or 'none')"
#   IPv6 address for           "IPv6 address for $_ifs? (or 'rtsol' or 'none')"
#   Password for root account  askpassword "Password for root account?"
#   Public ssh key for root account  ask "Public ssh key for root account?" none
#   Start sshd(8) by default   ask_yn "Start sshd(8) by default?" yes
#   Allow root ssh login       newer install.sub: ask "Allow root ssh login? (yes, no, prohibit-password)"
#   Start ntpd(8) by default   ask_yn "Start ntpd(8) by default?"
#   Do you expect to run the X Window System  ask_yn, asked only with a display
#   Change the default console to com0  ask_yn "Change the default console to $_d?" (CDEV com0 on amd64)
#   Which speed should com0 use  ask_which "speed" "should $_d use" "9600 ... 115200"
#   Setup a user               "Setup a user? (enter a lower-case loginname, or 'no')"
#   What timezone are you in   "What timezone are you in? ('?' for list)"
#   Which disk is the root disk  _ask "Which disk is the root disk? ('?' for details)"
#   Location of sets           ask "Location of sets? ($_locs or 'done')"
#   HTTP proxy URL             "HTTP proxy URL? (e.g. 'http://proxy:8080', or 'none')"
#   HTTP Server                "HTTP Server? (hostname, list#, 'done' or '?')"
#   Server directory           ask_until "Server directory?"
#   Set name(s)                ask "Set name(s)? (or 'abort' or 'done')" done
#   Continue without verification  ask_yn "$_issue. Continue without verification?"
# "no" to the last: a set that fails signify verification stops the install
# (nothing unverified is installed).
_SERIAL_CONSOLE_ARCHES = {"amd64"}  # arm64 and sparc64 already run the installer on their serial console
_SET_SUFFIXES = (".tgz",)
_KERNELS = ("bsd", "bsd.mp", "bsd.rd")


def install_sets(media: Sequence[str], install_media: str) -> list[str]:
    """The set names (file names) among ``media`` in the install media's directory."""
    directory = install_media.rpartition("/")[0]
    names = []
    for path in media:
        where, _, name = path.rpartition("/")
        if where == directory and (name in _KERNELS or name.endswith(_SET_SUFFIXES)):
            names.append(name)
    return names


def install_conf_lines(*, arch: str, sets: Sequence[str], variables: Mapping[str, str]) -> list[str]:
    """The response file's lines for an unattended OpenBSD install.

    ``variables``: ``hostname``, ``root_password``, ``http_server``
    (host:port as the guest reaches it), ``server_directory``; optional
    ``authorized_key`` (one OpenSSH public key line), ``root_disk`` and
    ``timezone`` (default UTC)."""
    required = ("hostname", "root_password", "http_server", "server_directory")
    missing = [k for k in required if not variables.get(k)]
    if missing:
        raise ConfigError("install.conf needs variable(s) %s" % ", ".join(missing))
    if not sets:
        raise ConfigError("install.conf needs at least one set to install",
                          hint="the catalog's media must list bsd and the base set beside the install media")
    for key, value in variables.items():
        if "\n" in str(value):
            raise ConfigError("install.conf variable %s contains a line break" % key)
    lines = [
        "System hostname = %s" % variables["hostname"],
        "IPv4 address for = dhcp",
        "IPv6 address for = none",
        "Password for root account = %s" % variables["root_password"],
        "Public ssh key for root account = %s" % (variables.get("authorized_key") or "none"),
        "Start sshd(8) by default = yes",
        "Allow root ssh login = prohibit-password",
        "Start ntpd(8) by default = no",
        "Do you expect to run the X Window System = no",
    ]
    if arch in _SERIAL_CONSOLE_ARCHES:
        lines += ["Change the default console to com0 = yes", "Which speed should com0 use = 115200"]
    lines += [
        "Setup a user = no",
        "What timezone are you in = %s" % variables.get("timezone", "UTC"),
    ]
    if variables.get("root_disk"):
        lines.append("Which disk is the root disk = %s" % variables["root_disk"])
    lines += [
        "Location of sets = http",
        "HTTP proxy URL = none",
        "HTTP Server = %s" % variables["http_server"],
        "Server directory = %s" % variables["server_directory"],
        "Set name(s) = -all %s done" % " ".join(sets),
        "Continue without verification = no",
    ]
    return lines


def render_install_conf(entry: Any, variables: Mapping[str, str]) -> str:
    """``install.conf`` for the OpenBSD catalog ``entry`` (its arch, media and
    install media) with the build's ``variables`` (see :func:`install_conf_lines`)."""
    sets = install_sets(entry["media"], entry["install_media"])
    return "\n".join(install_conf_lines(arch=entry.arch, sets=sets, variables=variables)) + "\n"
