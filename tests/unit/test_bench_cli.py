"""``harness bench``: its JSON has the documented keys, its table the
documented rows, whatever the speed."""

from __future__ import annotations

import argparse
import io
import json

import pytest
from rich.console import Console

from harness.bench import report
from harness.bench.measure import Measurement, RoundTrips, Unavailable
from harness.bench.runner import TargetBench
from harness.cli import bench as bench_cli
from harness.errors import ConfigError

PATHS = {"c_reference", "in_process", "rpc_server_loop", "rpc_per_call"}
FIGURE_KEYS = {"count", "seconds", "per_second", "us_per_op"}


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="harness")
    bench_cli.register(parser.add_subparsers())
    args = parser.parse_args(["bench", *argv])
    return args.func(args)


def test_json_output_has_the_documented_keys(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # the C reference builds here, not in ~/.cache
    assert _run_cli(["--json", "--count", "5", "--rounds", "1"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == 1
    [run] = document["runs"]
    assert set(run) == {"target", "count", "rounds", "platform", "host", "results", "ratios", "goal",
                        "rpc_round_trip_us", "timings_s"}
    assert (run["target"], run["count"], run["rounds"]) == ("local", 5, 1)
    assert set(run["results"]) == PATHS
    for path in PATHS:
        for what in ("steps", "breakpoints"):
            figure = run["results"][path][what]
            assert set(figure) == FIGURE_KEYS, (path, what)
            assert figure["count"] == 5
            assert figure["seconds"] > 0
    steps = run["results"]
    assert run["ratios"]["in_process_vs_c_steps"] == pytest.approx(
        steps["in_process"]["steps"]["per_second"] / steps["c_reference"]["steps"]["per_second"])
    assert run["goal"]["in_process_vs_c_steps_at_least"] == 0.5
    assert run["goal"]["met"] is (run["ratios"]["in_process_vs_c_steps"] >= 0.5)
    assert set(run["rpc_round_trip_us"]) == {"calls", "median", "p95", "min", "max"}
    assert run["rpc_round_trip_us"]["calls"] == 5
    assert set(run["timings_s"]) == {"bench_start", "bench_start_core"}
    assert set(run["host"]) == {"cpus", "load_average_1m"}
    [built] = (tmp_path / "trapline" / "bench").iterdir()
    assert built.name.startswith("reference-")


@pytest.mark.parametrize("argv", [["--count", "0"], ["--rounds", "-1"], ["--count", "many"]])
def test_bad_counts_are_refused_by_the_parser(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        _run_cli(argv)
    assert caught.value.code == 2


def test_a_target_named_twice_is_a_config_error():
    with pytest.raises(ConfigError, match="names local more than once"):
        _run_cli(["--target", "local", "--target", "local"])


def _guest_run() -> TargetBench:
    no_bp = Unavailable("n/a on sparc64")
    in_guest = Unavailable("the core runs in the guest: see the server loop")
    return TargetBench(
        target="debian-12-sparc64", count=100, rounds=1,
        platform={"os": "linux", "machine": "x86_64", "release": "6.1.0", "python": "3.11.2"},
        figures={
            "c_reference": {"steps": Measurement(100, 0.01), "breakpoints": no_bp},
            "in_process": {"steps": in_guest, "breakpoints": in_guest},
            "rpc_server_loop": {"steps": Measurement(100, 0.05), "breakpoints": Measurement(100, 0.2)},
            "rpc_per_call": {"steps": Measurement(100, 0.4), "breakpoints": Measurement(100, 0.8)},
        },
        round_trips=RoundTrips.from_samples([900.0, 1000.0, 1100.0]),
        timings={"restore_to_ssh": 2.5, "push": 0.25, "vendor_phase": 1.0, "bench_start": 3.0},
    )


def test_a_guest_table_shows_rates_reasons_and_start_up_phases():
    out = io.StringIO()
    report.render(_guest_run(), Console(file=out, width=120, no_color=True))
    text = out.getvalue()
    row = next(line for line in text.splitlines() if "core RPC, server loop" in line and "|" in line)
    assert [cell.strip() for cell in row.strip("|").split("|")] == [
        "core RPC, server loop", "2000", "500.0", "0.20x", "500", "2000.0", "n/a"]
    assert "n/a in C reference: n/a on sparc64" in text
    assert "median 1000.0 us, p95 1100.0 us" in text
    assert "Goal:" not in text  # no in-process figure on a guest, so no ratio to judge
    phase_table = text.split("debian-12-sparc64: start-up phases", 1)[1]
    phase_names = [line.strip("|").split("|")[0].strip() for line in phase_table.splitlines()
                   if line.startswith("|") and line.rstrip("|").split("|")[-1].strip()[:1].isdigit()]
    assert phase_names == ["restore ready state to SSH", "push core (last push)", "vendor_phase",
                           "target start() (bench wall clock)"]
