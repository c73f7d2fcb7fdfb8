"""The agreement check must fail when a contender's result is wrong."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from benchmarks import checks


def _variant(result: dict, tmp_path, name: str, rows=None, violations=None, compression: str = "zstd") -> dict:
    """A copy of ``result`` as contender ``name``, with its rows/violations passed through the given edits."""
    table = pq.read_table(result["output_path"])
    viol = pq.read_table(result["violations_path"])
    if rows is not None:
        table = rows(table)
    if violations is not None:
        viol = violations(viol)
    out = tmp_path / f"{name}.parquet"
    vout = tmp_path / f"{name}.violations.parquet"
    pq.write_table(table, out, compression=compression)
    pq.write_table(viol, vout)
    return {
        **result,
        "contender": name,
        "output_path": str(out),
        "violations_path": str(vout),
        "rows_written": table.num_rows,
    }


def _problems(report: checks.CheckReport, name: str) -> str:
    return "\n".join(report.problems[f"{name}/staged"])


def test_identical_results_agree(python_result, small_dataset, tmp_path):
    copy = _variant(python_result, tmp_path, "copy")
    report = checks.check([python_result, copy], small_dataset.manifest["expected"])
    assert report.ok, report.problems
    assert report.reference == "python/staged"


def test_reference_matches_the_generators_ground_truth(python_result, small_dataset):
    # Property 5: Schema validation detects all violations
    # (the reference finds exactly the violations the generator injected, by rule)
    report = checks.check([python_result], small_dataset.manifest["expected"])
    assert report.ok, report.problems


def test_changed_value_is_a_mismatch(python_result, small_dataset, tmp_path):
    def bump(table):
        values = table.column("event_value").to_pylist()
        i = next(i for i, v in enumerate(values) if v is not None)
        values[i] += 1
        return table.set_column(table.schema.get_field_index("event_value"), "event_value", pa.array(values, pa.float64()))

    wrong = _variant(python_result, tmp_path, "bumped", rows=bump)
    report = checks.check([python_result, wrong], small_dataset.manifest["expected"])
    assert not report.ok
    assert "event_value differs in 1 rows" in _problems(report, "bumped")
    assert report.problems["python/staged"] == []


def test_shifted_timestamp_is_a_mismatch(python_result, small_dataset, tmp_path):
    def shift(table):
        ts = pc.add(table.column("event_timestamp").cast(pa.int64()), 3_600_000_000).cast(pa.timestamp("us", tz="UTC"))
        return table.set_column(table.schema.get_field_index("event_timestamp"), "event_timestamp", ts)

    report = checks.check([python_result, _variant(python_result, tmp_path, "shifted", rows=shift)], small_dataset.manifest["expected"])
    assert f"event_timestamp differs in {python_result['rows_written']} rows" in _problems(report, "shifted")


def test_missing_and_duplicated_rows_are_mismatches(python_result, small_dataset, tmp_path):
    lost = _variant(python_result, tmp_path, "lost", rows=lambda t: t.slice(1))
    doubled = _variant(python_result, tmp_path, "doubled", rows=lambda t: pa.concat_tables([t, t.slice(0, 2)]))
    report = checks.check([python_result, lost, doubled], small_dataset.manifest["expected"])
    lost_problems = _problems(report, "lost")
    assert "1 event_ids missing" in lost_problems
    assert "rows_out" in lost_problems  # also disagrees with the generator
    assert "2 duplicate event_ids in the output" in _problems(report, "doubled")


def test_violation_differences_are_mismatches(python_result, small_dataset, tmp_path):
    def relabel(v):
        rules = v.column("rule").to_pylist()
        rules[0] = "something_else"
        return v.set_column(v.schema.get_field_index("rule"), "rule", pa.array(rules))

    forgot = _variant(python_result, tmp_path, "forgot", violations=lambda v: v.slice(1))
    relabelled = _variant(python_result, tmp_path, "relabelled", violations=relabel)
    report = checks.check([python_result, forgot, relabelled], small_dataset.manifest["expected"])
    forgot_problems = _problems(report, "forgot")
    total = small_dataset.manifest["expected"]["violations"]
    assert f"{total - 1} violations, reference has {total}" in forgot_problems
    assert "1 violations not reported" in forgot_problems
    relabelled_problems = _problems(report, "relabelled")
    assert "violations the reference does not report" in relabelled_problems
    assert "violations by rule" in relabelled_problems


def test_properties_must_be_compact_json_but_may_be_written_differently(python_result, small_dataset, tmp_path):
    def loose(table):
        props = [None if p is None else json.dumps(json.loads(p)) for p in table.column("properties").to_pylist()]
        return table.set_column(table.schema.get_field_index("properties"), "properties", pa.array(props, pa.string()))

    def reordered(table):
        props = [
            None if p is None else json.dumps(dict(reversed(json.loads(p).items())), separators=(",", ":"), ensure_ascii=False)
            for p in table.column("properties").to_pylist()
        ]
        return table.set_column(table.schema.get_field_index("properties"), "properties", pa.array(props, pa.string()))

    report = checks.check(
        [python_result, _variant(python_result, tmp_path, "loose", rows=loose), _variant(python_result, tmp_path, "reordered", rows=reordered)],
        small_dataset.manifest["expected"],
    )
    assert "properties is not compact JSON" in _problems(report, "loose")
    assert "properties differs" not in _problems(report, "loose")  # same JSON values
    assert report.problems["reordered/staged"] == []


def test_rows_out_of_input_order_are_a_mismatch(python_result, small_dataset, tmp_path):
    shuffled = _variant(python_result, tmp_path, "shuffled", rows=lambda t: t.take(pa.array(range(t.num_rows - 1, -1, -1))))
    report = checks.check([python_result, shuffled], small_dataset.manifest["expected"])
    assert "not in input order" in _problems(report, "shuffled")


def test_output_must_be_zstd(python_result, small_dataset, tmp_path):
    # Property 47: Iceberg Parquet files use compression
    snappy = _variant(python_result, tmp_path, "snappy", compression="snappy")
    report = checks.check([python_result, snappy], small_dataset.manifest["expected"])
    assert "expected ZSTD" in _problems(report, "snappy")


def test_failed_runs_fail_the_check(python_result, small_dataset):
    failed = {"contender": "rust", "mode": "whole", "format": "ndjson", "status": "failed", "error": "boom"}
    report = checks.check([python_result, failed], small_dataset.manifest["expected"])
    assert not report.ok
    assert report.problems["rust/whole"] == ["run failed: boom"]


def test_a_broken_output_file_is_a_failed_check_not_a_crash(python_result, small_dataset, tmp_path):
    broken = {**python_result, "contender": "broken", "output_path": str(tmp_path / "nothing.parquet")}
    report = checks.check([python_result, broken], small_dataset.manifest["expected"])
    assert "could not check" in _problems(report, "broken")


@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
def test_columnar_contenders_agree_with_pure_python(small_dataset, tmp_path, fmt):
    # Property 6: Transformations applied to all events
    # (every contender's typed rows equal the reference's, row for row)
    from tests.benchmarks.conftest import run_in_process

    results = [run_in_process(name, fmt, small_dataset.path(fmt), tmp_path) for name in ("python", "polars", "duckdb", "pyarrow")]
    report = checks.check(results, small_dataset.manifest["expected"])
    assert report.ok, report.problems
