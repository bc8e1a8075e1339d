"""Baseline against current, per target: what newly fails, what got
fixed, which failures changed their message, what went missing.

A regression is a test x target that was fine in the baseline (passed, a
known deviation, skipped) and is bad now (failed, error, stale expectation),
or a new test that is bad, or a test lost because its target broke down
mid-run; a release gate fails on those.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import RunResults, TestRecord

MISSING_SHOWN = 15


@dataclass
class Change:
    target: str
    nodeid: str
    before: str | None
    after: str | None
    message_before: str = ""
    message_after: str = ""


@dataclass
class Comparison:
    regressions: list[Change] = field(default_factory=list)
    fixed: list[Change] = field(default_factory=list)
    changed_messages: list[Change] = field(default_factory=list)
    newly_skipped: list[Change] = field(default_factory=list)
    missing: list[Change] = field(default_factory=list)
    added: list[Change] = field(default_factory=list)
    missing_targets: list[str] = field(default_factory=list)
    new_targets: list[str] = field(default_factory=list)
    current_failures: list[TestRecord] = field(default_factory=list)

    def exit_status(self, fail_on: str) -> int:
        if fail_on == "any-failure":
            return 1 if self.current_failures or self.regressions else 0
        return 1 if self.regressions else 0


def _change(before: TestRecord | None, after: TestRecord | None) -> Change:
    some = after or before
    assert some is not None
    return Change(some.target, some.nodeid, before.outcome if before else None, after.outcome if after else None,
                  before.message if before else "", after.message if after else "")


def compare(baseline: RunResults, current: RunResults) -> Comparison:
    result = Comparison()
    old, new = baseline.by_key(), current.by_key()
    result.missing_targets = [t for t in baseline.targets if t not in current.targets]
    result.new_targets = [t for t in current.targets if t not in baseline.targets]
    result.current_failures = [r for r in current.tests if r.is_bad]
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if after is None:
            # A whole missing target is reported once, not per test; a target
            # that broke down (its record names a problem) lost these tests.
            broken = key[0] in current.targets and current.targets[key[0]].problem
            if broken and before is not None and not before.is_bad:
                result.regressions.append(_change(before, None))
            elif key[0] not in result.missing_targets:
                result.missing.append(_change(before, None))
            continue
        if before is None:
            (result.regressions if after.is_bad else result.added).append(_change(None, after))
            continue
        if after.is_bad and not before.is_bad:
            result.regressions.append(_change(before, after))
        elif before.is_bad and not after.is_bad:
            result.fixed.append(_change(before, after))
        elif before.is_bad and after.is_bad and (before.message != after.message or before.outcome != after.outcome):
            result.changed_messages.append(_change(before, after))
        elif after.outcome == "skipped" and before.outcome != "skipped":
            result.newly_skipped.append(_change(before, after))
    return result


def _lines(title: str, changes: list[Change], show_messages: bool = True, limit: int | None = None) -> list[str]:
    if not changes:
        return []
    out = ["%s (%d):" % (title, len(changes))]
    by_target: dict[str, list[Change]] = {}
    for c in changes:
        by_target.setdefault(c.target, []).append(c)
    for target, items in by_target.items():
        out.append("  [%s]" % target)
        shown = items
        if limit is not None and len(items) > limit:
            out.append("    ... %d more not shown" % (len(items) - limit))
            shown = items[:limit]
        for c in shown:
            out.append("    %s: %s -> %s" % (c.nodeid, c.before or "(not run)", c.after or "(not run)"))
            if show_messages and c.message_before and c.message_before != c.message_after:
                out.append("      was: %s" % c.message_before)
            if show_messages and c.message_after:
                out.append("      now: %s" % c.message_after)
    return out


def format_comparison(result: Comparison, fail_on: str) -> str:
    lines: list[str] = []
    lines += _lines("REGRESSIONS", result.regressions)
    lines += _lines("fixed", result.fixed)
    lines += _lines("changed failure messages", result.changed_messages)
    lines += _lines("newly skipped", result.newly_skipped)
    # Whole suites appear or vanish when a run is narrowed: keep those lists short.
    lines += _lines("missing from current", result.missing, show_messages=False, limit=MISSING_SHOWN)
    lines += _lines("new tests", result.added, show_messages=False, limit=MISSING_SHOWN)
    if result.missing_targets:
        lines.append("targets missing from current: %s" % ", ".join(result.missing_targets))
    if result.new_targets:
        lines.append("targets new in current: %s" % ", ".join(result.new_targets))
    status = result.exit_status(fail_on)
    lines.append("%s: %d regression(s), %d fixed, %d failing now (--fail-on %s)" % (
        "FAIL" if status else "ok", len(result.regressions), len(result.fixed), len(result.current_failures),
        fail_on))
    return "\n".join(lines)
