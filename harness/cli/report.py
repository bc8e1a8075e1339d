"""``harness report merge|compare|html|markdown``: reports from the
``results.json`` a run wrote (a run directory works wherever a results file
is asked for)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..report.compare import compare, format_comparison
from ..report.html import write_html
from ..report.markdown import markdown_summary
from ..report.merge import merge_files
from ..report.model import RESULTS_NAME, load_results, resolve_results_path, save_results, write_atomic
from ..report.text import text_summary


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="merge, compare and render run results (results.json)")
    rsub = p.add_subparsers(dest="report_command", metavar="ACTION")
    rsub.required = True

    m = rsub.add_parser("merge", help="join shards' results into one run directory")
    m.add_argument("inputs", nargs="+", type=Path, metavar="RESULTS", help="results.json files or run directories")
    m.add_argument("-o", "--output", type=Path, required=True,
                   help="directory for the merged results.json, report.html and summary.md")
    m.set_defaults(func=merge_command)

    c = rsub.add_parser("compare", help="regressions, fixes and changed messages between two runs")
    c.add_argument("baseline", type=Path, help="the reference results.json (or run directory)")
    c.add_argument("current", type=Path, help="the results.json (or run directory) under test")
    c.add_argument("--fail-on", choices=("regression", "any-failure"), default="regression",
                   help="exit 1 on a regression (default) or on any failure in CURRENT")
    c.set_defaults(func=compare_command)

    h = rsub.add_parser("html", help="write the self-contained HTML report")
    h.add_argument("results", type=Path, help="results.json or run directory")
    h.add_argument("-o", "--output", type=Path, default=None, help="default: report.html beside the results")
    h.set_defaults(func=html_command)

    md = rsub.add_parser("markdown", help="print (or write) the markdown summary for CI logs and PRs")
    md.add_argument("results", type=Path, help="results.json or run directory")
    md.add_argument("-o", "--output", type=Path, default=None, help="default: standard output")
    md.set_defaults(func=markdown_command)


def merge_command(args: argparse.Namespace) -> int:
    args.output.mkdir(parents=True, exist_ok=True)
    merged = merge_files(args.inputs, args.output)
    save_results(merged, args.output / RESULTS_NAME)
    write_html(merged, args.output / "report.html")
    write_atomic(args.output / "summary.md", markdown_summary(merged))
    print(text_summary(merged))
    print("\nmerged %d result file(s): %d results on %d target(s) -> %s" % (
        len(args.inputs), len(merged.tests), len(merged.targets), args.output / RESULTS_NAME))
    return 0


def compare_command(args: argparse.Namespace) -> int:
    result = compare(load_results(args.baseline), load_results(args.current))
    print(format_comparison(result, args.fail_on))
    return result.exit_status(args.fail_on)


def html_command(args: argparse.Namespace) -> int:
    source = resolve_results_path(args.results)
    output = args.output or source.parent / "report.html"
    write_html(load_results(source), output)
    print(output)
    return 0


def markdown_command(args: argparse.Namespace) -> int:
    text = markdown_summary(load_results(args.results))
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_atomic(args.output, text)
        print(args.output)
    return 0
