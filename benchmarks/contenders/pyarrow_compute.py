"""pyarrow: Arrow columns and ``pyarrow.compute`` kernels, ``pyarrow.parquet``.

CSV is read by ``pyarrow.csv.read_csv`` (multi-threaded, every column as
text). NDJSON cannot be read by ``pyarrow.json.read_json`` here: it requires
each column to keep one JSON type, and this input mixes ISO text with epoch-ms
integers in ``event_timestamp`` (valid by contract) and carries wrongly typed
values in the invalid rows; it fails with "Column(/event_timestamp) changed
from string to number". So the NDJSON parse stage uses the stdlib ``json``
module and splits each field into Arrow columns by JSON type (and serialises
``properties`` objects to compact text, since pyarrow has no JSON writer);
validation, transform, dedup and write are pyarrow kernels for both formats.
"""

from __future__ import annotations

import json
from typing import Any

from benchmarks import contract
from benchmarks.contenders import Job, Outcome, StageFn, warm_pyarrow

NAME = "pyarrow"
LABEL = "pyarrow (compute kernels; NDJSON parsed with stdlib json)"
NOTES = [
    "pyarrow.json.read_json rejects a column whose JSON type changes between rows "
    "(ISO text and epoch-ms integers in event_timestamp), so NDJSON is parsed with the stdlib json module",
    "pyarrow.compute.strptime rolls impossible dates over (2026-02-30 -> 2026-03-02): the date part "
    "is checked by a strptime/strftime round trip",
    "strptime has no fractional seconds: the fraction is split off by regex and added as microseconds",
    "casting text to float64 raises on any bad value, so numbers are matched by regex first",
    "object check for CSV cells is 'text starts with {'; properties compacted by a regex replace",
]

_ISO_PARTS = (
    r"^(?P<base>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?P<frac>\.\d{1,9})?(?P<zone>Z|[+-]\d{2}:\d{2})$"
)
_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"


def prepare() -> None:
    import pyarrow  # noqa: F401
    import pyarrow.compute  # noqa: F401
    import pyarrow.csv  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    warm_pyarrow()


def versions() -> dict[str, str]:
    import pyarrow

    return {"pyarrow": pyarrow.__version__}


# -- parse -------------------------------------------------------------------------------
# Both parsers return a table with, per field: "<name>" (the value as Arrow, of the
# field's type, null when absent or of another JSON type) and "_wrong_<name>" (JSON
# text of a value of the wrong JSON type, else null). Timestamps get "<name>" (text)
# and "_epoch_<name>" (int64 epoch ms).
def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def parse_ndjson(data: bytes):
    import pyarrow as pa

    loads = json.loads
    records = []
    for line in data.split(b"\n"):
        if line.strip():
            try:
                rec = loads(line)
            except ValueError:
                rec = None
            records.append(rec if isinstance(rec, dict) else {"_parse_error": line.decode("utf-8", "replace")})
    columns: dict[str, Any] = {}
    for spec in contract.FIELDS:
        name, kind = spec["name"], spec["type"]
        values = [r.get(name) for r in records]
        if kind == "string":
            good = [v if type(v) is str else None for v in values]
            columns[name] = pa.array(good, pa.string())
        elif kind == "double":
            good = [v if (type(v) is float or type(v) is int) else None for v in values]
            columns[name] = pa.array(good, pa.float64())
        elif kind == "timestamp":
            columns[name] = pa.array([v if type(v) is str else None for v in values], pa.string())
            columns[f"_epoch_{name}"] = pa.array([v if type(v) is int else None for v in values], pa.int64())
            good = [v if (type(v) is str or type(v) is int) else None for v in values]
        else:  # object
            dumps = json.dumps
            good = [v if type(v) is dict else None for v in values]
            columns[name] = pa.array(
                [dumps(v, separators=(",", ":"), ensure_ascii=False) if v is not None else None for v in good],
                pa.string(),
            )
        columns[f"_wrong_{name}"] = pa.array(
            [_shown(v) if v is not None and g is None else None for v, g in zip(values, good)], pa.string()
        )
    return pa.table(columns)


def parse_csv(path):
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    table = pcsv.read_csv(
        path,
        convert_options=pcsv.ConvertOptions(
            column_types={n: pa.string() for n in contract.FIELD_NAMES},
            strings_can_be_null=True,
            include_columns=contract.FIELD_NAMES,
        ),
    )
    columns: dict[str, Any] = {}
    for spec in contract.FIELDS:
        name, kind = spec["name"], spec["type"]
        text = table.column(name)
        wrong = None
        if kind == "double":
            ok = pc.match_substring_regex(text, _NUMBER)
            columns[name] = pc.cast(pc.if_else(ok, text, pa.scalar(None, pa.string())), pa.float64())
            wrong = pc.if_else(pc.invert(ok), text, pa.scalar(None, pa.string()))
        elif kind == "timestamp":
            digits = pc.match_substring_regex(text, r"^\d+$")
            columns[name] = pc.if_else(digits, pa.scalar(None, pa.string()), text)
            columns[f"_epoch_{name}"] = pc.cast(pc.if_else(digits, text, pa.scalar(None, pa.string())), pa.int64())
        elif kind == "object":
            ok = pc.starts_with(text, "{")
            columns[name] = pc.if_else(ok, text, pa.scalar(None, pa.string()))
            wrong = pc.if_else(pc.invert(ok), text, pa.scalar(None, pa.string()))
        else:
            columns[name] = text
        columns[f"_wrong_{name}"] = wrong if wrong is not None else pa.nulls(table.num_rows, pa.string())
    return pa.table(columns)


# -- validate ----------------------------------------------------------------------------
def _iso_micros(text):
    """(UTC timestamp[us] or null, is-bad) for ISO-8601 text with a zone."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = pc.extract_regex(text, _ISO_PARTS)
    base, frac, zone = (pc.struct_field(parts, i) for i in range(3))
    whole = pc.strptime(pc.binary_join_element_wise(base, zone, ""), format="%Y-%m-%dT%H:%M:%S%z", unit="us", error_is_null=True)
    # strptime accepts 2026-02-30 and rolls it over: the date must survive a round trip
    day = pc.utf8_slice_codeunits(base, 0, 10)
    day_back = pc.strftime(pc.strptime(day, format="%Y-%m-%d", unit="s", error_is_null=True), format="%Y-%m-%d")
    real_day = pc.fill_null(pc.equal(day, day_back), False)
    micros_text = pc.utf8_slice_codeunits(pc.utf8_rpad(pc.utf8_slice_codeunits(frac, 1, 7), 6, "0"), 0, 6)
    micros = pc.cast(micros_text, pa.int64())
    ts = pc.cast(pc.add(pc.cast(whole, pa.int64()), micros), pa.timestamp("us", tz="UTC"))
    ts = pc.if_else(real_day, ts, pa.scalar(None, pa.timestamp("us", tz="UTC")))
    return ts


def validate(table):
    """(violation table, valid rows with a typed "_ts" column)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows
    index = pa.array(range(n), pa.int64())
    table = table.append_column("_index", index)
    checks: list[tuple[str, str, Any, Any]] = []  # (field, rule, mask, shown value)
    for spec in contract.FIELDS:
        name, kind = spec["name"], spec["type"]
        value, wrong = table.column(name), table.column(f"_wrong_{name}")
        present_ok = pc.is_valid(value)
        if kind == "timestamp":
            epoch = table.column(f"_epoch_{name}")
            present_ok = pc.or_(present_ok, pc.is_valid(epoch))
        present = pc.or_(present_ok, pc.is_valid(wrong))
        if spec["required"]:
            checks.append((name, "required", pc.invert(present), value))
        checks.append((name, "type", pc.is_valid(wrong), wrong))
        if kind == "string":
            if "max_length" in spec:
                checks.append((name, "max_length", pc.greater(pc.utf8_length(value), spec["max_length"]), value))
            if "allowed" in spec:
                allowed = pa.array(spec["allowed"], pa.string())
                checks.append((name, "allowed", pc.and_(present_ok, pc.invert(pc.is_in(value, value_set=allowed))), value))
        elif kind == "double":
            checks.append((name, "type", pc.and_(present_ok, pc.invert(pc.is_finite(value))), pc.cast(value, pa.string())))
            if "min" in spec:
                checks.append((name, "min", pc.less(value, spec["min"]), pc.cast(value, pa.string())))
            if "max" in spec:
                checks.append((name, "max", pc.greater(value, spec["max"]), pc.cast(value, pa.string())))
        elif kind == "timestamp":
            iso = _iso_micros(value)
            from_epoch = pc.cast(pc.multiply(epoch, 1000), pa.timestamp("us", tz="UTC"))
            ts = pc.coalesce(from_epoch, iso)
            table = table.append_column("_ts", ts)
            checks.append((name, "timestamp", pc.and_(pc.is_valid(value), pc.is_null(iso)), value))
    parts = []
    bad_any = pa.array([False] * n) if n else pa.array([], pa.bool_())
    for name, rule, mask, shown in checks:
        mask = pc.fill_null(mask, False)
        bad_any = pc.or_(bad_any, mask)
        hits = pc.indices_nonzero(mask)
        if len(hits):
            parts.append(
                pa.table(
                    {
                        "record_index": index.take(hits),
                        "field": pa.array([name] * len(hits), pa.string()),
                        "rule": pa.array([rule] * len(hits), pa.string()),
                        "value": pc.cast(pc.take(shown, hits), pa.string()),
                    }
                )
            )
    violations = pa.concat_tables(parts) if parts else contract.violation_schema().empty_table()
    valid = table.filter(pc.invert(bad_any))
    return violations, valid


# -- transform / dedup / write --------------------------------------------------------
def transform(valid):
    import pyarrow as pa
    import pyarrow.compute as pc

    ts = valid.column("_ts")
    columns = {}
    for spec in contract.FIELDS:
        name, kind = spec["name"], spec["type"]
        if kind == "timestamp":
            columns[name] = ts
        elif kind == "object":
            columns[name] = pc.replace_substring_regex(valid.column(name), contract.JSON_COMPACT_PATTERN, "\\1")
        else:
            columns[name] = valid.column(name)
    columns[contract.DATE_FIELD] = pc.cast(ts, pa.date32())
    columns[contract.HOUR_FIELD] = pc.cast(pc.hour(ts), pa.int32())
    columns["_index"] = valid.column("_index")
    return pa.table(columns)


def deduplicate(typed):
    import pyarrow as pa
    import pyarrow.compute as pc

    # index_in against the column itself gives each key's first position (the
    # set lookup keeps the first of equal values): a row is kept when that is
    # its own position. Faster here than group_by(...).aggregate(min) + is_in.
    keys = typed.column(contract.KEY)
    first = pc.index_in(keys, value_set=keys.combine_chunks())
    position = pa.array(range(typed.num_rows), pa.int32())
    return typed.filter(pc.equal(first, position))


def write(table, path) -> None:
    import pyarrow.parquet as pq

    table = table.select(contract.OUTPUT_COLUMNS).cast(contract.output_schema())
    pq.write_table(table, path, compression="zstd", compression_level=contract.ZSTD_LEVEL)


# The five timed stages spelled out in each contender, not in a shared skeleton: a reader compares the libraries here.
def staged(job: Job, stage: StageFn) -> Outcome:
    with stage("parse"):
        if job.fmt == "csv":
            raw = parse_csv(job.input_path)
        else:
            raw = parse_ndjson(job.input_path.read_bytes())
    with stage("validate"):
        violations, valid = validate(raw)
        records = raw.num_rows
        del raw
    with stage("transform"):
        typed = transform(valid)
    with stage("dedup"):
        kept = deduplicate(typed)
    with stage("write"):
        write(kept, job.output_path)
    return Outcome(
        records=records,
        invalid_records=records - valid.num_rows,
        duplicates=typed.num_rows - kept.num_rows,
        rows_written=kept.num_rows,
        violation_table=lambda: violations,
    )


WHOLE = None
