"""polars: read every field as text, check with expressions, write Parquet.

Staged: ``read_ndjson``/``read_csv`` with an all-String schema (mixed JSON
types in one column, such as ISO text and epoch-ms integers, only load as
text), one ``with_columns`` computing every rule as a boolean column, a
filter per rule for the violation table, expressions for the transform,
``unique(keep="first", maintain_order=True)`` and ``write_parquet``.
Whole job: ``scan_ndjson``/``scan_csv`` + checks collected once (the
violation table and the rows both need them), then transform, dedup and
write as one streaming query into ``sink_parquet``. (A single ``collect_all``
of the violation query and the sink scanned and parsed the input once per
output, which was slower.)
"""

from __future__ import annotations

from typing import Any

from benchmarks import contract
from benchmarks.contenders import Job, Outcome, StageFn, warm_pyarrow

NAME = "polars"
LABEL = "polars (all-String read + expressions)"
NOTES = [
    "read_ndjson serialises a nested object read into a String column with spaces "
    '(\'{"a": 1}\'), so properties are compacted with one regex replace that skips string literals',
    "read_ndjson turns every scalar into text, so JSON types are lost: a number where a string is "
    "expected (\"user_id\": 12345) or a numeric string where a number is expected would pass; "
    "the generated input has no such case, rust/duckdb/python would flag them",
    "str.to_datetime's %z does not accept 'Z': 'Z' is rewritten to '+00:00' first",
    "object check is 'text starts with {' (no JSON validation of CSV cells)",
]


def prepare() -> None:
    import polars  # noqa: F401
    import pyarrow  # noqa: F401  (to_arrow of the violation table, after timing)
    warm_pyarrow()


def versions() -> dict[str, str]:
    import polars as pl

    return {"polars": pl.__version__}


def _text_schema():
    import polars as pl

    return {name: pl.String for name in contract.FIELD_NAMES}


def _read(job: Job, lazy: bool):
    import polars as pl

    path = str(job.input_path)
    if job.fmt == "csv":
        frame = (pl.scan_csv if lazy else pl.read_csv)(path, schema=_text_schema())
    else:
        frame = (pl.scan_ndjson if lazy else pl.read_ndjson)(path, schema=_text_schema())
    return frame.with_row_index("_index")


def _typed_and_checks():
    """(helper columns, [(field, rule, flag column)]) for the contract's fields."""
    import polars as pl

    helpers: list[Any] = []
    checks: list[tuple[str, str, Any]] = []
    for spec in contract.FIELDS:
        name, kind = spec["name"], spec["type"]
        col = pl.col(name)
        present = col.is_not_null()
        if spec["required"]:
            checks.append((name, "required", col.is_null()))
        if kind == "string":
            if "max_length" in spec:
                checks.append((name, "max_length", present & (col.str.len_chars() > spec["max_length"])))
            if "allowed" in spec:
                checks.append((name, "allowed", present & ~col.is_in(spec["allowed"])))
        elif kind == "double":
            number = col.cast(pl.Float64, strict=False)
            helpers.append(number.alias(f"_{name}"))
            bad = present & (number.is_null() | ~number.is_finite())
            checks.append((name, "type", bad))
            ok_number = present & ~bad
            if "min" in spec:
                checks.append((name, "min", ok_number & (number < spec["min"])))
            if "max" in spec:
                checks.append((name, "max", ok_number & (number > spec["max"])))
        elif kind == "timestamp":
            epoch_ms = col.str.to_integer(strict=False)
            iso = col.str.replace(r"Z$", "+00:00").str.to_datetime(
                "%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us", time_zone="UTC"
            )
            micros = (
                pl.when(col.str.contains(r"^\d+$"))
                .then(pl.from_epoch(epoch_ms * 1000, time_unit="us").dt.replace_time_zone("UTC"))
                .otherwise(iso)
            )
            helpers.append(micros.alias(f"_{name}"))
            checks.append((name, "timestamp", present & micros.is_null()))
        elif kind == "object":
            checks.append((name, "type", present & ~col.str.starts_with("{")))
    return helpers, checks


def _checked(frame):
    import polars as pl

    helpers, checks = _typed_and_checks()
    flags = [flag.alias(f"_bad_{i}") for i, (_, _, flag) in enumerate(checks)]
    frame = frame.with_columns(*helpers, *flags)
    any_bad = pl.any_horizontal([pl.col(f"_bad_{i}") for i in range(len(checks))])
    return frame.with_columns(any_bad.alias("_invalid")), checks


def _violations(checked, checks):
    import polars as pl

    parts = [
        checked.filter(pl.col(f"_bad_{i}")).select(
            pl.col("_index").cast(pl.Int64).alias("record_index"),
            pl.lit(name).alias("field"),
            pl.lit(rule).alias("rule"),
            pl.col(name).alias("value"),
        )
        for i, (name, rule, _) in enumerate(checks)
    ]
    return pl.concat(parts)


def _transform(frame):
    import polars as pl

    ts = pl.col(f"_{contract.TIMESTAMP_FIELD}")
    columns = []
    for spec in contract.FIELDS:
        name, kind = spec["name"], spec["type"]
        if kind == "double":
            columns.append(pl.col(f"_{name}").alias(name))
        elif kind == "timestamp":
            columns.append(pl.col(f"_{name}").alias(name))
        elif kind == "object":
            columns.append(pl.col(name).str.replace_all(contract.JSON_COMPACT_PATTERN, "${1}").alias(name))
        else:
            columns.append(pl.col(name))
    columns.append(ts.dt.date().alias(contract.DATE_FIELD))
    columns.append(ts.dt.hour().cast(pl.Int32).alias(contract.HOUR_FIELD))
    return frame.select(columns)


def _dedup(frame):
    return frame.unique(subset=[contract.KEY], keep="first", maintain_order=True)


# The five timed stages spelled out in each contender, not in a shared skeleton: a reader compares the libraries here.
def staged(job: Job, stage: StageFn) -> Outcome:
    import polars as pl

    with stage("parse"):
        raw = _read(job, lazy=False)
    with stage("validate"):
        checked, checks = _checked(raw)
        violations = _violations(checked, checks)
        valid = checked.filter(~pl.col("_invalid"))
        del raw
    with stage("transform"):
        typed = _transform(valid)
    with stage("dedup"):
        kept = _dedup(typed)
    with stage("write"):
        kept.write_parquet(job.output_path, compression="zstd", compression_level=contract.ZSTD_LEVEL)
    return Outcome(
        records=checked.height,
        invalid_records=checked.height - valid.height,
        duplicates=typed.height - kept.height,
        rows_written=kept.height,
        violation_table=lambda: violations.to_arrow(),
    )


def whole(job: Job) -> Outcome:
    import polars as pl

    # Parse and check once (both outputs need it), then transform, dedup and
    # write as one streaming query into the Parquet sink.
    lazy_checked, checks = _checked(_read(job, lazy=True))
    checked = lazy_checked.collect()
    violations = _violations(checked, checks)
    valid = checked.lazy().filter(~pl.col("_invalid"))
    _dedup(_transform(valid)).sink_parquet(job.output_path, compression="zstd", compression_level=contract.ZSTD_LEVEL)
    records = checked.height
    invalid = int(checked.get_column("_invalid").sum())
    written = pl.scan_parquet(job.output_path).select(pl.len()).collect().item()
    return Outcome(
        records=records,
        invalid_records=invalid,
        duplicates=records - invalid - written,
        rows_written=written,
        violation_table=lambda: violations.to_arrow(),
    )


WHOLE = whole
WHOLE_HOW = "scan + checks collected once, then transform/dedup as one lazy query into sink_parquet"
