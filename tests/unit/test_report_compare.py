"""Baseline vs current: regressions, fixes, changed messages, exit status."""

from __future__ import annotations

from harness.report.compare import compare, format_comparison
from harness.report.model import RunResults, TargetRecord, TestRecord


def results(*records: tuple[str, str, str, str], problems: dict[str, str] | None = None) -> RunResults:
    run = RunResults()
    for target, nodeid, outcome, message in records:
        run.targets.setdefault(target, TargetRecord(target))
        run.tests.append(TestRecord(target, nodeid, outcome, message=message))
    for target, problem in (problems or {}).items():
        run.targets.setdefault(target, TargetRecord(target)).problem = problem
    return run


BASE = results(
    ("local", "suites/test_step.py::test_a", "passed", ""),
    ("local", "suites/test_step.py::test_b", "failed", "assert 1 == 2"),
    ("netbsd-10.1-amd64", "suites/test_step.py::test_a", "xfailed", "known"),
    ("netbsd-10.1-amd64", "suites/test_step.py::test_b", "failed", "EINVAL != EPERM"),
    ("netbsd-10.1-amd64", "suites/test_step.py::test_c", "passed", ""),
)


def test_no_change_is_no_regression_unless_any_failure_is_asked() -> None:
    result = compare(BASE, BASE)
    assert result.regressions == [] and result.fixed == [] and result.changed_messages == []
    assert result.exit_status("regression") == 0
    assert result.exit_status("any-failure") == 1


def test_regression_fix_and_changed_message_per_target() -> None:
    current = results(
        ("local", "suites/test_step.py::test_a", "error", "RuntimeError: boom"),
        ("local", "suites/test_step.py::test_b", "passed", ""),
        ("netbsd-10.1-amd64", "suites/test_step.py::test_a", "xpassed", "stale"),
        ("netbsd-10.1-amd64", "suites/test_step.py::test_b", "failed", "EBUSY != EPERM"),
        ("netbsd-10.1-amd64", "suites/test_step.py::test_c", "skipped", "no FPU"),
    )
    result = compare(BASE, current)
    assert [(c.target, c.nodeid.split("::")[1], c.before, c.after) for c in result.regressions] == [
        ("local", "test_a", "passed", "error"), ("netbsd-10.1-amd64", "test_a", "xfailed", "xpassed")]
    assert [(c.target, c.nodeid.split("::")[1]) for c in result.fixed] == [("local", "test_b")]
    (changed,) = result.changed_messages
    assert (changed.message_before, changed.message_after) == ("EINVAL != EPERM", "EBUSY != EPERM")
    assert [c.nodeid.split("::")[1] for c in result.newly_skipped] == ["test_c"]
    assert result.exit_status("regression") == 1
    text = format_comparison(result, "regression")
    assert "REGRESSIONS (2):" in text
    assert "  [local]\n    suites/test_step.py::test_a: passed -> error\n      now: RuntimeError: boom" in text
    assert "was: EINVAL != EPERM" in text
    assert text.endswith("FAIL: 2 regression(s), 1 fixed, 3 failing now (--fail-on regression)")


def test_new_failing_test_is_a_regression_new_passing_one_is_not() -> None:
    current = results(*[(t.target, t.nodeid, t.outcome, t.message) for t in BASE.tests],
                      ("local", "suites/test_new.py::test_x", "failed", "boom"),
                      ("local", "suites/test_new.py::test_y", "passed", ""))
    result = compare(BASE, current)
    assert [c.nodeid for c in result.regressions] == ["suites/test_new.py::test_x"]
    assert [c.nodeid for c in result.added] == ["suites/test_new.py::test_y"]


def test_tests_lost_to_a_broken_target_are_regressions_a_dropped_target_is_not() -> None:
    broken = results(("local", "suites/test_step.py::test_a", "passed", ""),
                     ("local", "suites/test_step.py::test_b", "failed", "assert 1 == 2"),
                     problems={"netbsd-10.1-amd64": "pytest exited 3 without results"})
    result = compare(BASE, broken)
    assert sorted(c.nodeid.split("::")[1] for c in result.regressions) == ["test_a", "test_c"]
    dropped = results(("local", "suites/test_step.py::test_a", "passed", ""),
                      ("local", "suites/test_step.py::test_b", "failed", "assert 1 == 2"))
    result = compare(BASE, dropped)
    assert result.regressions == [] and result.missing_targets == ["netbsd-10.1-amd64"]
    assert result.missing == []
