"""A deliberately wrong contender: pure Python that loses a row, changes a value
and forgets a violation. The benchmark must notice (tests/bench/test_*.py)."""

from __future__ import annotations

from benchmarks.contenders import Job, Outcome, StageFn, pure_python

NAME = "python_wrong"
LABEL = "pure Python, deliberately wrong"
NOTES = ["drops the last valid row, adds 1 to one event_value, forgets one violation"]
WHOLE = None
prepare = pure_python.prepare


def versions() -> dict[str, str]:
    return {}


def staged(job: Job, stage: StageFn) -> Outcome:
    is_csv = job.fmt == "csv"
    with stage("parse"):
        records = (pure_python.parse_csv if is_csv else pure_python.parse_ndjson)(job.input_path.read_bytes())
    with stage("validate"):
        violations, valid = pure_python.validate(records, is_csv)
        violations = violations[1:]  # forgets one
    with stage("transform"):
        rows = pure_python.transform(valid, is_csv)
    with stage("dedup"):
        rows, duplicates = pure_python.deduplicate(rows)
        rows = rows[:-1]  # loses a row
        i = next(i for i, r in enumerate(rows) if r[4] is not None)
        rows[i] = (*rows[i][:4], rows[i][4] + 1, *rows[i][5:])  # changes a value
    with stage("write"):
        pure_python.write(rows, job.output_path)
    return Outcome(
        records=len(records),
        invalid_records=len(records) - len(valid),
        duplicates=duplicates,
        rows_written=len(rows),
        violation_table=lambda: pure_python._violation_table(violations),
    )
