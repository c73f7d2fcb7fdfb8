"""DuckDB: read_json/read_csv, SQL for checks and transform, COPY TO Parquet.

NDJSON fields are read as DuckDB ``JSON`` values, so ``json_type`` sees the
real JSON type of each value (a number where a string belongs is caught) and
``properties`` comes back minified. CSV is read ``all_varchar``. Timestamps:
a regex for the shape (zone required) plus ``TRY_CAST(... AS TIMESTAMPTZ)``,
which rejects impossible dates and honours offsets; epoch ms via ``epoch_ms``.
Dedup is ``QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY idx) = 1``,
the write ``COPY ... (FORMAT parquet, COMPRESSION zstd)``.

Staged: each stage materialises a table. Whole job: the raw and checked
tables (both outputs need them), then the violation table and a single
``COPY (transform + dedup) TO`` pipeline. (Numbering rows with ``WITH
ORDINALITY`` on the scan instead of a table's rowid was slower.)
"""

from __future__ import annotations

from benchmarks import contract
from benchmarks.contenders import Job, Outcome, StageFn, warm_pyarrow

NAME = "duckdb"
LABEL = "DuckDB (SQL, JSON-typed read)"
NOTES = [
    "try_strptime with a list of formats rolled 2025-04-31 over to 2025-05-01 in a probe; "
    "TRY_CAST(text AS TIMESTAMPTZ) rejects impossible dates but accepts text without a zone, "
    "so a regex requires the zone",
    "%z in strptime does not accept 'Z'",
]

_JSON_NUMBER = "('BIGINT', 'UBIGINT', 'DOUBLE', 'HUGEINT')"


def prepare() -> None:
    import duckdb  # noqa: F401
    import pyarrow  # noqa: F401
    warm_pyarrow()


def versions() -> dict[str, str]:
    import duckdb

    return {"duckdb": duckdb.__version__}


def _connect():
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _source(job: Job) -> str:
    path = _quote(str(job.input_path))
    if job.fmt == "csv":
        return f"read_csv({path}, header = true, all_varchar = true, delim = ',', quote = '\"', escape = '\"')"
    columns = ", ".join(f"{_quote(n)}: 'JSON'" for n in contract.FIELD_NAMES)
    return f"read_json({path}, format = 'newline_delimited', columns = {{{columns}}})"


def _checks(fmt: str) -> tuple[list[str], list[str], list[tuple[str, str, str]]]:
    """(prelude, typed helper expressions, [(field, rule, flag expression)]) over the raw columns.

    The prelude computes what several expressions share (each value's JSON
    type, whether a CSV timestamp is all digits) once per row.
    """
    csv = fmt == "csv"
    prelude: list[str] = []
    helpers: list[str] = []
    checks: list[tuple[str, str, str]] = []
    iso = _quote(contract.ISO_WITH_ZONE)
    for spec in contract.FIELDS:
        name, kind = spec["name"], spec["type"]
        c = f'"{name}"'
        jt = f'"_jt_{name}"'
        if not csv:
            prelude.append(f"json_type({c}) AS {jt}")
        present = f"({c} IS NOT NULL)" if csv else f"({c} IS NOT NULL AND {jt} <> 'NULL')"
        if spec["required"]:
            checks.append((name, "required", f"NOT {present}"))
        if kind == "string":
            text = c if csv else f"CASE WHEN {jt} = 'VARCHAR' THEN {c} ->> '$' END"
            helpers.append(f'{text} AS "_{name}"')
            t = f'"_{name}"'
            if not csv:
                checks.append((name, "type", f"{present} AND {jt} <> 'VARCHAR'"))
            if "max_length" in spec:
                checks.append((name, "max_length", f"length({t}) > {spec['max_length']}"))
            if "allowed" in spec:
                allowed = ", ".join(_quote(v) for v in spec["allowed"])
                checks.append((name, "allowed", f"{t} NOT IN ({allowed})"))
        elif kind == "double":
            number = f"TRY_CAST({c} AS DOUBLE)" if csv else f"CASE WHEN {jt} IN {_JSON_NUMBER} THEN {c}::DOUBLE END"
            helpers.append(f'{number} AS "_{name}"')
            t = f'"_{name}"'
            checks.append((name, "type", f"{present} AND ({t} IS NULL OR NOT isfinite({t}))"))
            if "min" in spec:
                checks.append((name, "min", f"{t} < {spec['min']}"))
            if "max" in spec:
                checks.append((name, "max", f"{t} > {spec['max']}"))
        elif kind == "timestamp":
            if csv:
                prelude.append(f"regexp_full_match({c}, '\\d+') AS \"_digits_{name}\"")
                text, is_int, is_text = c, f'"_digits_{name}"', f'NOT "_digits_{name}"'
                epoch = f"TRY_CAST({c} AS BIGINT)"
            else:
                text, is_int, is_text = f"({c} ->> '$')", f"{jt} IN ('BIGINT', 'UBIGINT')", f"{jt} = 'VARCHAR'"
                epoch = f"{c}::BIGINT"
                checks.append((name, "type", f"{present} AND NOT ({is_int} OR {is_text})"))
            micros = (
                f"CASE WHEN {is_int} THEN epoch_ms({epoch})::TIMESTAMPTZ "
                f"WHEN {is_text} AND regexp_full_match({text}, {iso}) THEN TRY_CAST({text} AS TIMESTAMPTZ) END"
            )
            helpers.append(f'{micros} AS "_{name}"')
            checks.append((name, "timestamp", f'{present} AND {is_text} AND "_{name}" IS NULL'))
        elif kind == "object":
            if csv:
                obj = f"CASE WHEN json_valid({c}) AND json_type({c}::JSON) = 'OBJECT' THEN json({c}) END"
            else:
                obj = f"CASE WHEN {jt} = 'OBJECT' THEN {c}::VARCHAR END"
            helpers.append(f'{obj} AS "_{name}"')
            checks.append((name, "type", f'{present} AND "_{name}" IS NULL'))
    return prelude, helpers, checks


def _checked_sql(job: Job, raw: str) -> tuple[str, list[tuple[str, str, str]]]:
    """idx, the typed helper columns, one flag per rule and ``_invalid``, over table ``raw``.

    The raw JSON columns are not carried along (copying them was the costliest
    part); the violation table joins them back for its few rows.
    """
    prelude, helpers, checks = _checks(job.fmt)
    prelude_sql = "".join(f", {p}" for p in prelude)
    helper_names = ", ".join(f'"_{f["name"]}"' for f in contract.FIELDS)
    flags = ", ".join(f"coalesce({expr}, false) AS _bad_{i}" for i, (_, _, expr) in enumerate(checks))
    any_bad = " OR ".join(f"_bad_{i}" for i in range(len(checks)))
    sql = (
        f"SELECT *, ({any_bad}) AS _invalid FROM ("
        f"SELECT idx, {helper_names}, {flags} FROM (SELECT *, {', '.join(helpers)} FROM "
        f"(SELECT rowid AS idx, *{prelude_sql} FROM {raw})))"
    )
    return sql, checks


def _violations_sql(checks: list[tuple[str, str, str]], checked: str, raw: str) -> str:
    hits = " UNION ALL ".join(
        f"SELECT idx, {_quote(name)} AS field, {_quote(rule)} AS rule FROM {checked} WHERE _bad_{i}"
        for i, (name, rule, _) in enumerate(checks)
    )
    value = "CASE v.field " + " ".join(f"WHEN {_quote(n)} THEN r.\"{n}\"::VARCHAR" for n in contract.FIELD_NAMES) + " END"
    return (
        f"SELECT v.idx AS record_index, v.field, v.rule, {value} AS value "
        f"FROM ({hits}) v JOIN {raw} r ON r.rowid = v.idx"
    )


def _typed_columns() -> str:
    """The row index and the typed helper columns: all the transform needs."""
    return ", ".join(["idx", *(f'"_{f["name"]}"' for f in contract.FIELDS)])


def _transform_select() -> str:
    ts = f'"_{contract.TIMESTAMP_FIELD}"'
    cols = ["idx"]
    for spec in contract.FIELDS:
        cols.append(f'"_{spec["name"]}" AS "{spec["name"]}"')
    cols.append(f"{ts}::DATE AS {contract.DATE_FIELD}")
    cols.append(f"hour({ts})::INTEGER AS {contract.HOUR_FIELD}")
    return ", ".join(cols)


def _dedup_sql(table: str) -> str:
    return f"SELECT * FROM {table} QUALIFY row_number() OVER (PARTITION BY {contract.KEY} ORDER BY idx) = 1 ORDER BY idx"


def _copy_sql(select: str, path) -> str:
    columns = ", ".join(f'"{c}"' for c in contract.OUTPUT_COLUMNS)
    return (
        f"COPY (SELECT {columns} FROM ({select})) TO {_quote(str(path))} "
        f"(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL {contract.ZSTD_LEVEL})"
    )


def _violation_reader(con, table: str):
    return lambda: con.sql(f"SELECT * FROM {table}").to_arrow_table()


def staged(job: Job, stage: StageFn) -> Outcome:
    con = _connect()
    with stage("parse"):
        con.execute(f"CREATE TABLE raw AS SELECT * FROM {_source(job)}")
    with stage("validate"):
        checked_sql, checks = _checked_sql(job, "raw")
        con.execute(f"CREATE TABLE checked AS {checked_sql}")
        con.execute(f"CREATE TABLE violations AS {_violations_sql(checks, 'checked', 'raw')}")
        con.execute(f"CREATE TABLE valid AS SELECT {_typed_columns()} FROM checked WHERE NOT _invalid")
    with stage("transform"):
        con.execute(f"CREATE TABLE typed AS SELECT {_transform_select()} FROM valid")
    with stage("dedup"):
        con.execute(f"CREATE TABLE deduped AS {_dedup_sql('typed')}")
    with stage("write"):
        con.execute(_copy_sql("SELECT * FROM deduped", job.output_path))
    records, invalid = con.execute("SELECT count(*), count(*) FILTER (_invalid) FROM checked").fetchall()[0]
    typed = con.execute("SELECT count(*) FROM typed").fetchall()[0][0]
    written = con.execute("SELECT count(*) FROM deduped").fetchall()[0][0]
    return Outcome(
        records=records,
        invalid_records=invalid,
        duplicates=typed - written,
        rows_written=written,
        violation_table=_violation_reader(con, "violations"),
    )


def whole(job: Job) -> Outcome:
    con = _connect()
    con.execute(f"CREATE TEMP TABLE raw AS SELECT * FROM {_source(job)}")
    checked_sql, checks = _checked_sql(job, "raw")
    con.execute(f"CREATE TEMP TABLE checked AS {checked_sql}")
    con.execute(f"CREATE TEMP TABLE violations AS {_violations_sql(checks, 'checked', 'raw')}")
    typed = f"SELECT {_transform_select()} FROM checked WHERE NOT _invalid"
    written = con.execute(_copy_sql(_dedup_sql(f"({typed})"), job.output_path)).fetchall()[0][0]
    records, invalid = con.execute("SELECT count(*), count(*) FILTER (_invalid) FROM checked").fetchall()[0]
    return Outcome(
        records=records,
        invalid_records=invalid,
        duplicates=records - invalid - written,
        rows_written=written,
        violation_table=_violation_reader(con, "violations"),
    )


WHOLE = whole
WHOLE_HOW = "raw + checked tables, then one COPY (transform + dedup) TO parquet"
