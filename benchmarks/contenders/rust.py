"""data_processor_rs: eventlake's Rust processor (see rust_ext/data_processor_rs.pyi).

Staged: ``parse_json``/``parse_csv`` (lenient) -> ``validate_schema`` -> drop
the invalid rows (a pyarrow filter over the raw batch with the report's Arrow
``valid_mask``) -> ``transform_batch`` -> ``deduplicate`` ->
``write_iceberg_parquet`` (unpartitioned spec, one file).
Whole job: the fused ``process(...)`` (parse, validate, drop, transform,
dedup in one call on all cores) + ``write_iceberg_parquet``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from benchmarks import contract
from benchmarks.contenders import Job, Outcome, StageFn, warm_pyarrow

NAME = "rust"
LABEL = "data_processor_rs (Rust)"
NOTES = [
    "written with write_iceberg_parquet (unpartitioned spec, Iceberg field ids, zstd level 3)",
]

#: what the staged and whole jobs call; a missing one makes the run fail with its name
REQUIRED = ("parse_json", "parse_csv", "validate_schema", "transform_batch", "deduplicate", "process", "write_iceberg_parquet")
_ONE_FILE = 1 << 62  # target_file_size: never split the output


def _dp():
    import data_processor_rs

    return data_processor_rs


def missing_functions() -> list[str]:
    try:
        dp = _dp()
    except ImportError:
        return list(REQUIRED)
    return [name for name in REQUIRED if not hasattr(dp, name)]


def prepare() -> None:
    _dp()
    warm_pyarrow()


def versions() -> dict[str, str]:
    try:
        dp = _dp()
    except ImportError as exc:  # reported, not fatal: the run of this contender fails
        return {"data_processor_rs": f"not importable ({exc})"}
    missing = missing_functions()
    version = getattr(dp, "__version__", "?")
    return {"data_processor_rs": version + (f" (missing: {', '.join(missing)})" if missing else "")}


def _need(name: str):
    dp = _dp()
    fn = getattr(dp, name, None)
    if fn is None:
        raise RuntimeError(f"data_processor_rs has no {name}() yet (available: {[n for n in dir(dp) if not n.startswith('_')]})")
    return fn


def _parse(data: bytes, fmt: str):
    if fmt == "csv":
        return _need("parse_csv")(data, json_columns=contract.OBJECT_FIELDS, strict=False)
    return _need("parse_json")(data, strict=False)


def _write(batch, job: Job) -> None:
    import pyarrow as pa

    table = pa.table(batch)
    extra = [c for c in table.column_names if c not in contract.OUTPUT_COLUMNS]
    if extra:
        table = table.drop_columns(extra)
    location = job.work_dir / "rust-parquet"
    if location.exists():
        shutil.rmtree(location)
    location.mkdir(parents=True)
    files = _need("write_iceberg_parquet")(
        table,
        str(location),
        contract.iceberg_schema_json(),
        contract.unpartitioned_spec_json(),
        target_file_size=_ONE_FILE,
        compression="zstd",
        compression_level=contract.ZSTD_LEVEL,
    )
    if len(files) != 1:
        raise RuntimeError(f"write_iceberg_parquet wrote {len(files)} files, expected 1")
    path = str(files[0]["file_path"])
    Path(path.removeprefix("file://")).replace(job.output_path)


def _report_violations(violations_batch):
    import pyarrow as pa

    table = pa.table(violations_batch)
    return table.select(["record_index", "field", "rule", "value"])


def staged(job: Job, stage: StageFn) -> Outcome:
    import pyarrow as pa

    with stage("parse"):
        data = job.input_path.read_bytes()
        raw = _parse(data, job.fmt)
        del data
    with stage("validate"):
        report = _need("validate_schema")(raw, contract.SCHEMA_JSON)
        violations = pa.table(report.violations)
        # Drop the invalid rows with the report's Arrow mask, and drop the raw
        # text column the transform does not read (filtering it copies the input).
        table = pa.table(raw)
        valid_raw = table.drop_columns([c for c in ("_raw",) if c in table.column_names]).filter(pa.array(report.valid_mask))
        records = table.num_rows
        del raw, table
    with stage("transform"):
        typed = _need("transform_batch")(valid_raw, contract.RULES_JSON, contract.SCHEMA_JSON)
        n_valid = valid_raw.num_rows
        del valid_raw
    with stage("dedup"):
        kept, dropped = _need("deduplicate")(typed, contract.KEY)
    with stage("write"):
        _write(kept, job)
    return Outcome(
        records=records,
        invalid_records=records - n_valid,
        duplicates=len(dropped),
        rows_written=kept.num_rows,
        violation_table=lambda: _report_violations(violations),
    )


def _rejected_violations(rejected) -> Any:
    """record_index/field/rule/value rows from ``ProcessResult.rejected`` (duplicates left out)."""
    import pyarrow as pa

    table = pa.table(rejected)
    rows: dict[str, list[Any]] = {"record_index": [], "field": [], "rule": [], "value": []}
    for index, text in zip(table.column("record_index").to_pylist(), table.column("violations").to_pylist()):
        for v in json.loads(text):
            if v.get("rule") == "duplicate":
                continue
            value = v.get("value")
            rows["record_index"].append(index)
            rows["field"].append(v.get("field"))
            rows["rule"].append(v.get("rule"))
            rows["value"].append(value if value is None or isinstance(value, str) else json.dumps(value))
    return pa.table(rows, schema=contract.violation_schema())


def whole(job: Job) -> Outcome:
    data = job.input_path.read_bytes()
    result = _need("process")(data, job.fmt, contract.SCHEMA_JSON, contract.RULES_JSON)
    del data
    valid = result.valid
    _write(valid, job)
    return Outcome(
        records=int(result.record_count),
        invalid_records=int(result.invalid_count),
        duplicates=int(result.duplicate_count),
        rows_written=int(valid.num_rows),
        violation_table=lambda: _rejected_violations(result.rejected),
    )


WHOLE = whole
WHOLE_HOW = "process() (fused: parse, validate, drop, transform, dedup) + write_iceberg_parquet"
