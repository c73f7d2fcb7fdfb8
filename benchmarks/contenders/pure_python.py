"""Pure Python: the seeds' "equivalent Python code".

The stdlib ``json`` / ``csv`` modules, loops over dicts and ``datetime``.
Only the write stage uses pyarrow, because the standard library cannot write
Parquet: the rows are handed to ``pyarrow.table`` + ``pyarrow.parquet`` at the
end, and that conversion is timed as part of the write stage.
"""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks import contract
from benchmarks.contenders import Job, Outcome, StageFn, warm_pyarrow

NAME = "python"
LABEL = "pure Python (json, csv, datetime; pyarrow only to write)"
NOTES = ["write stage: the standard library has no Parquet writer, so the rows go through pyarrow"]
WHOLE = None

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_US_PER_DAY = 86_400_000_000
_US_PER_HOUR = 3_600_000_000


def prepare() -> None:
    """Import what the timed stages use (imports are not part of the job)."""
    import pyarrow  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    warm_pyarrow()


def versions() -> dict[str, str]:
    import platform as _platform

    import pyarrow

    return {"python": _platform.python_version(), "pyarrow (write only)": pyarrow.__version__}


class _Unparsed:
    """A value the parser could not read (a broken record, a CSV JSON cell that is not JSON)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


# -- parse ---------------------------------------------------------------------------
def parse_ndjson(data: bytes) -> list[Any]:
    records: list[Any] = []
    loads = json.loads
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            rec = loads(line)
        except ValueError:
            rec = _Unparsed(line.decode("utf-8", "replace"))
        records.append(rec if isinstance(rec, dict) or isinstance(rec, _Unparsed) else _Unparsed(line.decode()))
    return records


def parse_csv(data: bytes) -> list[Any]:
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    header = next(reader)
    objects = [i for i, name in enumerate(header) if name in contract.OBJECT_FIELDS]
    records: list[Any] = []
    for row in reader:
        if not row:
            continue
        values: list[Any] = [cell if cell != "" else None for cell in row]
        for i in objects:
            if values[i] is not None:
                try:
                    values[i] = json.loads(values[i])
                except ValueError:
                    values[i] = _Unparsed(values[i])
        records.append(dict(zip(header, values)))
    return records


# -- validate ------------------------------------------------------------------------
def _shown(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, _Unparsed):
        return value.text
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _iso_error(text: str) -> bool:
    """True when ``text`` is not ISO-8601 with a zone naming a real instant."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return True
    return parsed.tzinfo is None


def validate(records: list[Any], is_csv: bool) -> tuple[list[tuple[int, str, str, str | None]], list[dict[str, Any]]]:
    """Every violation of every record, and the valid records in input order."""
    violations: list[tuple[int, str, str, str | None]] = []
    valid: list[dict[str, Any]] = []
    fields = contract.FIELDS
    for idx, rec in enumerate(records):
        if isinstance(rec, _Unparsed):
            violations.append((idx, "_record", "parse_error", rec.text))
            continue
        before = len(violations)
        for spec in fields:
            name = spec["name"]
            value = rec.get(name)
            if value is None:
                if spec["required"]:
                    violations.append((idx, name, "required", None))
                continue
            kind = spec["type"]
            if kind == "string":
                if not isinstance(value, str):
                    violations.append((idx, name, "type", _shown(value)))
                    continue
                if "max_length" in spec and len(value) > spec["max_length"]:
                    violations.append((idx, name, "max_length", value))
                if "allowed" in spec and value not in spec["allowed"]:
                    violations.append((idx, name, "allowed", value))
            elif kind == "double":
                if is_csv:
                    try:
                        number = float(value)
                    except ValueError:
                        number = math.nan
                elif isinstance(value, bool) or not isinstance(value, int | float):
                    number = math.nan
                else:
                    number = float(value)
                if not math.isfinite(number):
                    violations.append((idx, name, "type", _shown(value)))
                    continue
                if "min" in spec and number < spec["min"]:
                    violations.append((idx, name, "min", _shown(value)))
                if "max" in spec and number > spec["max"]:
                    violations.append((idx, name, "max", _shown(value)))
            elif kind == "timestamp":
                if isinstance(value, bool) or not isinstance(value, int | str):
                    violations.append((idx, name, "type", _shown(value)))
                elif isinstance(value, str) and not (is_csv and value.isdigit()) and _iso_error(value):
                    violations.append((idx, name, "timestamp", value))
            elif kind == "object":
                if not isinstance(value, dict):
                    violations.append((idx, name, "type", _shown(value)))
        if len(violations) == before:
            valid.append(rec)
    return violations, valid


# -- transform -----------------------------------------------------------------------
def _utc_micros(value: int | str) -> int:
    if isinstance(value, int):
        return value * 1000
    if value.isdigit():  # CSV epoch milliseconds
        return int(value) * 1000
    return (datetime.fromisoformat(value) - _EPOCH) // _US


def transform(valid: list[dict[str, Any]], is_csv: bool) -> list[tuple[Any, ...]]:
    ts_field = contract.TIMESTAMP_FIELD
    rows: list[tuple[Any, ...]] = []
    append = rows.append
    dumps = json.dumps
    for rec in valid:
        micros = _utc_micros(rec[ts_field])
        value = rec.get("event_value")
        props = rec.get("properties")
        append(
            (
                rec["event_id"],
                rec["user_id"],
                rec["event_type"],
                micros,
                float(value) if value is not None else None,
                rec.get("product_id"),
                dumps(props, separators=(",", ":"), ensure_ascii=False) if props is not None else None,
                micros // _US_PER_DAY,
                (micros // _US_PER_HOUR) % 24,
            )
        )
    return rows


# -- dedup ---------------------------------------------------------------------------
def deduplicate(rows: list[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]], int]:
    seen: set[str] = set()
    kept: list[tuple[Any, ...]] = []
    for row in rows:
        key = row[0]
        if key in seen:
            continue
        seen.add(key)
        kept.append(row)
    return kept, len(rows) - len(kept)


# -- write ---------------------------------------------------------------------------
def write(rows: list[tuple[Any, ...]], path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = contract.output_schema()
    columns = list(zip(*rows)) if rows else [[] for _ in schema]
    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, schema)]
    table = pa.Table.from_arrays(arrays, schema=schema)
    pq.write_table(table, path, compression="zstd", compression_level=contract.ZSTD_LEVEL)


def _violation_table(violations: list[tuple[int, str, str, str | None]]):
    import pyarrow as pa

    cols = list(zip(*violations)) if violations else [[], [], [], []]
    return pa.Table.from_arrays([pa.array(c) for c in cols], schema=contract.violation_schema())


def staged(job: Job, stage: StageFn) -> Outcome:
    is_csv = job.fmt == "csv"
    with stage("parse"):
        data = job.input_path.read_bytes()
        records = parse_csv(data) if is_csv else parse_ndjson(data)
        del data
    with stage("validate"):
        violations, valid = validate(records, is_csv)
        n_records = len(records)
        del records
    with stage("transform"):
        rows = transform(valid, is_csv)
        n_valid = len(valid)
        del valid
    with stage("dedup"):
        rows, duplicates = deduplicate(rows)
    with stage("write"):
        write(rows, job.output_path)
    return Outcome(
        records=n_records,
        invalid_records=n_records - n_valid,
        duplicates=duplicates,
        rows_written=len(rows),
        violation_table=lambda: _violation_table(violations),
    )
