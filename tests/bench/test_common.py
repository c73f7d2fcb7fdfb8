"""What the load generators share: result files with and without matplotlib (the `charts` extra), and a CLI
that imports the bench package only for a bench command."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from eventlake import cli
from eventlake.bench import common

STARTED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _chart(summary, path):
    path.write_bytes(b"png of " + summary["name"].encode())


def test_write_outputs_draws_the_chart_with_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "charts_available", lambda: True)
    results, chart = common.write_outputs({"name": "x"}, tmp_path, STARTED, "ingest", _chart)
    assert results == tmp_path / "ingest-20260102T030405Z.json"
    assert chart == tmp_path / "ingest-20260102T030405Z.png"
    assert json.loads((tmp_path / "ingest-latest.json").read_text()) == {"name": "x"}
    assert (tmp_path / "ingest-latest.png").read_bytes() == b"png of x"


def test_without_matplotlib_the_json_is_written_and_the_chart_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "charts_available", lambda: False)

    def must_not_run(summary, path):
        raise AssertionError("chart drawn without matplotlib")

    results, chart = common.write_outputs({"name": "x"}, tmp_path, STARTED, "pipeline", must_not_run)
    assert json.loads(results.read_text()) == {"name": "x"}
    assert json.loads((tmp_path / "pipeline-latest.json").read_text()) == {"name": "x"}
    assert "pip install 'eventlake[charts]'" in str(chart)
    assert not list(tmp_path.glob("*.png"))


def test_argument_types():
    assert common._count("100k") == 100_000 and common._count("1.5M") == 1_500_000 and common._count("1,000") == 1000
    assert common._csv_list(" a, b,,c ") == ["a", "b", "c"]
    assert common._count_list("1,2,4") == [1, 2, 4] and common._count_list("1M, 3M") == [1_000_000, 3_000_000]
    assert common._seconds("90") == 90 and common._seconds("90s") == 90 and common._seconds("5m") == 300


def test_only_keeps_run_order_and_refuses_unknown_parts():
    assert common.selected(["c", "a"], ("a", "b", "c"), "phase") == ["a", "c"]
    with pytest.raises(SystemExit, match=r"unknown phase\(s\): x \(known: a, b\)"):
        common.selected(["a", "x"], ("a", "b"), "phase")


def test_goal_status_by_direction_and_not_measured():
    assert common.goal_status(5, 4, higher_is_better=True) == "PASS"
    assert common.goal_status(3, 4, higher_is_better=True) == "MISS"
    assert common.goal_status(3, 4, higher_is_better=False) == "PASS"
    assert common.goal_status(4, 4, higher_is_better=False) == "PASS"
    assert common.goal_status(5, 4, higher_is_better=False) == "MISS"
    assert common.goal_status(None, 4, higher_is_better=True) == "N/A"
    assert common.median([3.0, 1.0, 2.0]) == 2.0 and common.median([]) is None


def test_summary_head_names_the_run_its_config_and_machine(tmp_path):
    cfg = {"out": tmp_path / "out", "seed": 1}
    head = common.start_summary("eventlake bench x", STARTED, cfg, tmp_path / "work", {"cores": 2})
    assert head["benchmark"] == "eventlake bench x" and head["started_at"] == STARTED.isoformat()
    assert head["config"] == {"out": str(tmp_path / "out"), "seed": 1, "work": str(tmp_path / "work")}
    assert head["machine"] == {"cores": 2} and "pyarrow" in head["versions"]


def test_cli_imports_the_bench_package_only_for_bench_commands():
    # `eventlake settings` and `eventlake bench --help` (which lists every load generator) import no bench module
    code = """
import contextlib, io, sys
from eventlake import cli
cli.build_parser().parse_args(["settings"])
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    cli.main(["bench", "--help"])
print(sorted(m for m in sys.modules
             if m.startswith("eventlake.bench") or m.split(".")[0] in ("benchmarks", "polars", "matplotlib")))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"
    args = cli.build_parser().parse_args(["bench", "ingest", "--only", "post"])
    assert args.func is cli.cmd_bench and args.bench_module == "eventlake.bench.ingest"


def test_bench_processor_points_to_make_bench(capsys):
    for argv in (["bench", "processor"], ["bench", "processor", "--quick"], ["bench", "processor", "--help"]):
        assert cli.main(argv) == 2
        assert "make bench" in capsys.readouterr().err


def test_bench_help_explains_every_subcommand():
    done = subprocess.run([sys.executable, "-m", "eventlake.cli", "bench", "--help"], capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    for word in ("ingest", "pipeline", "processor", "make bench", "eventlake[charts]"):
        assert word in done.stdout
