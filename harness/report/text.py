"""The plain-text summary ``harness run`` prints: one line per test with a
column per target, then per-target counts and every problem spelled out."""

from __future__ import annotations

from .model import BAD_OUTCOMES, RunResults

COLLAPSE_AFTER = 3
MARKS = {"passed": "ok", "failed": "FAIL", "error": "ERROR", "skipped": "skip", "xfailed": "xfail",
         "xpassed": "XPASS"}


def text_summary(results: RunResults) -> str:
    targets = results.target_names()
    by_key = results.by_key()
    tests = results.nodeids()
    width = max([len(t) for t in tests] + [10])
    col = max([len(t) for t in targets] + [6])
    lines = ["%-*s  %s" % (width, "test", "  ".join("%-*s" % (col, t) for t in targets))]
    for nodeid in tests:
        cells = []
        for t in targets:
            r = by_key.get((t, nodeid))
            cells.append("%-*s" % (col, MARKS[r.outcome] if r else "-"))
        lines.append("%-*s  %s" % (width, nodeid, "  ".join(cells)))
    lines.append("")
    for t in targets:
        counts = results.counts(t)
        tr = results.targets[t]
        summary = ", ".join("%d %s" % (n, k) for k, n in sorted(counts.items())) or "no results"
        lines.append("%s: %s (%.1f s)" % (t, summary, tr.duration))
        lines.append("  ABI self-check: %s" % tr.selfcheck_summary())
        if tr.abi_disagreements:
            lines.append("  UNTRUSTWORTHY: the ABI self-check found %d disagreement(s) with the target's headers:"
                         % len(tr.abi_disagreements))
            lines.extend("    | " + line for line in tr.abi_disagreements[:10])
        elif tr.untrustworthy:
            lines.append("  UNTRUSTWORTHY: the ABI self-check %s, so the core's table is unproven:"
                         % tr.abi_selfcheck)
            lines.append("    | " + (tr.abi_selfcheck_message or "no message"))
        if tr.problem:
            lines.append("  PROBLEM: %s" % tr.problem)
            lines.extend("    | " + line for line in tr.problem_tail[-10:])
    # A target that breaks down fails every test with one message: say it once.
    groups: dict[tuple[str, str, str], list[str]] = {}
    for r in results.tests:
        if r.outcome in BAD_OUTCOMES:
            label = "STALE EXPECTATION" if r.stale_expectation else r.outcome.upper()
            groups.setdefault((r.target, label, r.message), []).append(r.nodeid)
    for (target, label, message), nodeids in groups.items():
        if len(nodeids) > COLLAPSE_AFTER:
            lines.append("  %s x%d [%s]: %s (first: %s)" % (label, len(nodeids), target, message, nodeids[0]))
        else:
            lines.extend("  %s %s [%s]: %s" % (label, nodeid, target, message) for nodeid in nodeids)
    return "\n".join(lines)
