"""A markdown summary for CI logs and pull requests: per-target counts,
every failure with its message, known deviations with reason and
reference, and stale expectations."""

from __future__ import annotations

from collections import defaultdict

from .model import BAD_OUTCOMES, RunResults

MAX_FAILURES = 60


def _cell(text: str) -> str:
    """Table-safe: one line, no pipes breaking the columns."""
    return text.replace("\r", " ").replace("\n", " ").replace("|", "\\|").strip()


def markdown_summary(results: RunResults, title: str = "trapline conformance run") -> str:
    bad = [t for t in results.tests if t.outcome in BAD_OUTCOMES]
    problems = {n: tr for n, tr in results.targets.items() if tr.problem}
    verdict = "FAILED" if results.failed else "passed"
    lines = ["## %s: %s" % (title, verdict), ""]
    meta = ["harness %s" % results.harness_version]
    if results.created:
        meta.append(results.created)
    if results.shard:
        meta.append("shard %s" % results.shard)
    lines += ["_%s_" % ", ".join(meta), ""]
    lines += ["| target | platform | passed | failed | error | skipped | known deviation | stale | time "
              "| ABI self-check |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, tr in results.targets.items():
        c = results.counts(name)
        hello = tr.hello
        platform = " ".join(str(x) for x in (hello.get("os", tr.os), hello.get("release", tr.release),
                                             hello.get("arch", tr.arch)) if x)
        lines.append("| %s | %s | %d | %d | %d | %d | %d | %d | %.1f s | %s |" % (
            _cell(name), _cell(platform), c["passed"], c["failed"], c["error"], c["skipped"], c["xfailed"],
            c["xpassed"], tr.duration, _cell(tr.selfcheck_summary())[:300]))
    lines.append("")
    untrusted = {n: tr for n, tr in results.targets.items() if tr.untrustworthy}
    if untrusted:
        lines += ["### Untrustworthy results: the ABI self-check did not prove the tables", ""]
        for name, tr in untrusted.items():
            lines.append("- **%s**: %s" % (name, _cell("; ".join(tr.untrustworthy_reasons()[:10]))))
        lines.append("")
    if problems:
        lines += ["### Targets that did not finish", ""]
        for name, tr in problems.items():
            lines.append("- **%s**: %s" % (name, _cell(tr.problem or "")))
            if tr.problem_tail:
                lines += ["", "  ```", *("  " + line for line in tr.problem_tail[-10:]), "  ```"]
        lines.append("")
    if bad:
        lines += ["### Failures (%d)" % len(bad), "", "| target | test | outcome | message |", "|---|---|---|---|"]
        for t in sorted(bad, key=lambda r: (r.target, r.nodeid))[:MAX_FAILURES]:
            outcome = "stale expectation" if t.stale_expectation else t.outcome
            lines.append("| %s | `%s` | %s | %s |" % (_cell(t.target), _cell(t.nodeid), outcome,
                                                      _cell(t.message)[:300]))
        if len(bad) > MAX_FAILURES:
            lines.append("")
            lines.append("... and %d more: see report.html" % (len(bad) - MAX_FAILURES))
        lines.append("")
    deviations: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for t in results.tests:
        if t.expected_deviation is not None:
            deviations[(t.nodeid, t.expected_deviation, t.deviation_reference or "")].append(
                t.target + (" (stale: passed)" if t.stale_expectation else ""))
    if deviations:
        lines += ["### Known deviations (%d)" % len(deviations), "",
                  "| test | targets | reason | reference |", "|---|---|---|---|"]
        for (nodeid, reason, reference), targets in sorted(deviations.items()):
            lines.append("| `%s` | %s | %s | %s |" % (_cell(nodeid), _cell(", ".join(targets)), _cell(reason),
                                                      _cell(reference)))
        lines.append("")
    stale = [t for t in results.tests if t.stale_expectation]
    if stale:
        lines += ["### Stale expectations (%d)" % len(stale), "",
                  "These expected deviations did not happen: remove or narrow their entries in "
                  "suites/expectations.toml.", ""]
        lines += ["- `%s` on %s: %s" % (t.nodeid, t.target, _cell(t.expected_deviation or "")) for t in stale]
        lines.append("")
    return "\n".join(lines)
