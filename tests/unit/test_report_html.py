"""report.html rendering (the browser test in tests/integration clicks it)
and the live view's plain lines."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from harness.report.html import render_html
from harness.report.model import RunResults, TargetRecord, TestRecord
from harness.report.progress import PlainView, progress_for


def sample() -> RunResults:
    run = RunResults(targets={"local": TargetRecord("local", os="linux", hello={"os": "linux", "python": "3.11"}),
                              "netbsd-10.1-amd64": TargetRecord("netbsd-10.1-amd64")})
    run.tests = [
        TestRecord("local", "suites/test_step.py::test_a", "failed", message="assert '</script><b>' == 'x'",
                   detail="assert '</script><b>' == 'x'"),
        TestRecord("local", "suites/test_attach.py::test_b", "passed"),
        TestRecord("netbsd-10.1-amd64", "suites/test_attach.py::test_b", "xfailed", message="known",
                   expected_deviation="EINVAL here", deviation_reference="PR kern/1"),
    ]
    return run


def test_matrix_rows_are_grouped_by_area_with_a_missing_cell() -> None:
    page = render_html(sample())
    areas = re.findall(r"<tr class='area' data-area='(\w+)'", page)
    assert areas == ["attach", "step"]
    assert "class='cell o-failed' data-outcome='failed'" in page
    assert re.search(r"class='cell o-missing' data-outcome='missing' data-target='netbsd-10.1-amd64' "
                     r"data-test='suites/test_step.py::test_a'", page)
    assert "<td>PR kern/1</td>" in page


def test_messages_cannot_break_out_of_the_page() -> None:
    page = render_html(sample())
    assert "</script><b>" not in page
    blob = re.search(r"<script type='application/json' id='trapline-data'>(.*?)</script>", page, re.S)
    assert blob is not None
    records = json.loads(blob.group(1))
    assert records[0]["message"] == "assert '</script><b>' == 'x'"


def test_page_is_self_contained() -> None:
    page = render_html(sample())
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page)


def test_plain_view_prints_state_changes_and_failures(tmp_path: Path) -> None:
    (tmp_path / "local").mkdir()
    progress = progress_for("local", tmp_path)
    out = io.StringIO()
    view = PlainView(out)
    progress.start()
    view.update([progress], {})
    lines = ['{"event": "collected", "count": 2}', '{"event": "phase", "phase": "booting"}']
    (tmp_path / "local" / "progress.jsonl").write_text("\n".join(lines) + "\n")
    view.update([progress], {"local": progress.poll()})
    with open(tmp_path / "local" / "progress.jsonl", "a") as f:
        f.write('{"event": "test", "nodeid": "t::a", "outcome": "passed"}\n')
        f.write('{"event": "test", "nodeid": "t::b", "outcome": "failed"}\n{"event": "te')  # half a line
    view.update([progress], {"local": progress.poll()})
    progress.finish(1)
    view.update([progress], {})
    text = out.getvalue().splitlines()
    assert text[:4] == ["local: collecting", "local: booting", "local: FAILED t::b", "local: running 2 tests"]
    assert text[4] == "local: done"
    assert text[5].startswith("local: 1 passed, 1 failed, 0 skipped in ")


def test_text_summary_says_a_shared_failure_once() -> None:
    from harness.report.text import text_summary

    run = RunResults(targets={"debian-12-amd64": TargetRecord("debian-12-amd64")})
    run.tests = [TestRecord("debian-12-amd64", "suites/test_step.py::test_%d" % i, "error",
                            message="GuestError: no SSH answer") for i in range(5)]
    run.tests.append(TestRecord("debian-12-amd64", "suites/test_step.py::test_x", "failed", message="assert 1 == 2"))
    text = text_summary(run)
    assert "  ERROR x5 [debian-12-amd64]: GuestError: no SSH answer (first: suites/test_step.py::test_0)" in text
    assert "  FAILED suites/test_step.py::test_x [debian-12-amd64]: assert 1 == 2" in text


def test_transcript_tail_drops_terminal_control(tmp_path: Path) -> None:
    from harness.report.collector import tail_of

    console = tmp_path / "console.log"
    console.write_bytes(b"\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS\r\n" + b"".join(b"line %d\r\n" % i for i in range(50)))
    tail = tail_of(console, 3)
    assert tail == ["line 47", "line 48", "line 49"]
    assert tail_of(console, 60)[:2] == ["SeaBIOS", "line 0"]
