"""Do the contenders agree? And do they agree with what the generator injected?

Every contender's Parquet file and violation table are compared with a
reference contender's (pure Python when it ran, else the first one):

* rows: the same set of event_ids, no event_id twice, and the same values in
  every column after normalisation (timestamps as UTC microseconds whatever
  the zone name, dates as days, text types unified, ``properties`` compared
  as text and, where the text differs, as parsed JSON);
* ``properties`` is compact JSON (no whitespace outside string literals);
* the rows are in input order (the reference's order);
* violations: the same number, and the same set of (record_index, field, rule);
* the Parquet file is zstd-compressed;
* counts against the generator's manifest: records, invalid records,
  violations (also by rule), duplicates dropped, rows written.

Each problem is one line of text; an empty list means agreement.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import contract

SAMPLES = 3


@dataclass
class CheckReport:
    reference: str | None
    problems: dict[str, list[str]] = field(default_factory=dict)  # "<contender>/<mode>" -> problems

    @property
    def ok(self) -> bool:
        return all(not p for p in self.problems.values())

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "reference": self.reference, "problems": self.problems}


def _pa():
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    return pa, pc, pq


def normalised_rows(path: Path):
    """The written rows, sorted by event_id, with types unified for comparison."""
    pa, pc, pq = _pa()
    table = pq.read_table(path)
    missing = [c for c in contract.OUTPUT_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"{path.name}: missing columns {missing}")
    columns = {}
    for f in contract.output_schema():
        col = table.column(f.name)
        if pa.types.is_timestamp(f.type):
            col = col.cast(pa.timestamp("us")).cast(pa.int64()) if col.type.tz is None else pc.cast(
                col, pa.timestamp("us", tz="UTC")
            ).cast(pa.int64())
        elif pa.types.is_date(f.type):
            col = col.cast(pa.date32()).cast(pa.int32())
        else:
            col = col.cast(f.type)
        columns[f.name] = col.combine_chunks() if hasattr(col, "combine_chunks") else col
    out = pa.table(columns)
    return out.sort_by(contract.KEY)


def _not_same(pc, a, b):
    eq = pc.fill_null(pc.equal(a, b), False)
    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    return pc.invert(pc.or_(eq, both_null))


def _first_per_key(table):
    pa, pc, _ = _pa()
    table = table.append_column("_i", pa.array(range(table.num_rows), pa.int64()))
    first = table.group_by(contract.KEY, use_threads=False).aggregate([("_i", "min")])
    return table.take(first.column("_i_min")).drop_columns(["_i"])


def _json_equal(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    try:
        return json.loads(a) == json.loads(b)
    except ValueError:
        return False


def not_compact(column) -> int:
    """How many values hold whitespace outside JSON string literals."""
    _, pc, _ = _pa()
    stripped = pc.replace_substring_regex(column, contract.JSON_STRING_LITERAL, "")
    return int(pc.sum(pc.match_substring_regex(stripped, r"\s")).as_py() or 0)


def compare_rows(reference, other) -> list[str]:
    """Problems with ``other`` against ``reference`` (both from ``normalised_rows``)."""
    pa, pc, _ = _pa()
    problems: list[str] = []
    key = contract.KEY
    ids_ref, ids_other = reference.column(key), other.column(key)
    n_unique = len(pc.unique(ids_other))
    if n_unique != other.num_rows:
        problems.append(f"{other.num_rows - n_unique} duplicate {key}s in the output")
    only_ref = pc.invert(pc.is_in(ids_ref, value_set=ids_other))
    only_other = pc.invert(pc.is_in(ids_other, value_set=ids_ref))
    n_missing, n_extra = pc.sum(only_ref).as_py() or 0, pc.sum(only_other).as_py() or 0
    if n_missing:
        sample = ids_ref.filter(only_ref).slice(0, SAMPLES).to_pylist()
        problems.append(f"{n_missing} {key}s missing (e.g. {sample})")
    if n_extra:
        sample = ids_other.filter(only_other).slice(0, SAMPLES).to_pylist()
        problems.append(f"{n_extra} extra {key}s (e.g. {sample})")
    if n_missing or n_extra or n_unique != other.num_rows:
        reference = reference.filter(pc.invert(only_ref))
        other = other.filter(pc.invert(only_other))
        if n_unique != other.num_rows:
            other = _first_per_key(other)
        if other.num_rows != reference.num_rows:
            return problems
        other = other.sort_by(key)
    for name in contract.OUTPUT_COLUMNS[1:]:
        a, b = reference.column(name), other.column(name)
        diff = _not_same(pc, a, b)
        n_diff = pc.sum(diff).as_py() or 0
        if not n_diff:
            continue
        rows = pc.indices_nonzero(diff)
        if name in contract.OBJECT_FIELDS:  # same JSON written differently is not a difference
            a_l, b_l = a.take(rows).to_pylist(), b.take(rows).to_pylist()
            keep = [i for i, (x, y) in enumerate(zip(a_l, b_l)) if not _json_equal(x, y)]
            n_diff = len(keep)
            if not n_diff:
                continue
            rows = pa.array([rows[i].as_py() for i in keep], type=rows.type)
        ids = reference.column(key).take(rows.slice(0, SAMPLES)).to_pylist()
        ref_vals = a.take(rows.slice(0, SAMPLES)).to_pylist()
        oth_vals = b.take(rows.slice(0, SAMPLES)).to_pylist()
        examples = "; ".join(f"{i}: {r!r} != {o!r}" for i, r, o in zip(ids, ref_vals, oth_vals))
        problems.append(f"{name} differs in {n_diff} rows (e.g. {examples})")
    for name in contract.OBJECT_FIELDS:
        n = not_compact(other.column(name))
        if n:
            problems.append(f"{name} is not compact JSON in {n} rows")
    return problems


def written_ids(path: Path):
    """The event_ids in the order the file holds them."""
    pa, _, pq = _pa()
    return pq.read_table(path, columns=[contract.KEY]).column(contract.KEY).cast(pa.string()).combine_chunks()


def compare_order(reference_ids, other_ids) -> list[str]:
    """Rows must keep input order (the first valid occurrence's position)."""
    _, pc, _ = _pa()
    if len(reference_ids) != len(other_ids) or reference_ids.equals(other_ids):
        return []
    first = next(i for i, (a, b) in enumerate(zip(reference_ids.to_pylist(), other_ids.to_pylist())) if a != b)
    return [f"rows not in input order (first difference at row {first})"]


def read_violations(path: Path):
    _, _, pq = _pa()
    return pq.read_table(path)


def compare_violations(reference, other) -> list[str]:
    problems: list[str] = []
    if reference.num_rows != other.num_rows:
        problems.append(f"{other.num_rows} violations, reference has {reference.num_rows}")
    triples = lambda t: set(zip(*(t.column(c).to_pylist() for c in ("record_index", "field", "rule"))))  # noqa: E731
    ref, oth = triples(reference), triples(other)
    if ref - oth:
        problems.append(f"{len(ref - oth)} violations not reported (e.g. {sorted(ref - oth)[:SAMPLES]})")
    if oth - ref:
        problems.append(f"{len(oth - ref)} violations the reference does not report (e.g. {sorted(oth - ref)[:SAMPLES]})")
    return problems


def compare_with_manifest(result: dict[str, Any], violations, expected: dict[str, Any]) -> list[str]:
    problems = []
    got = {
        "records": result["records"],
        "invalid_records": result["invalid_records"],
        "violations": violations.num_rows,
        "duplicates_dropped": result["duplicates"],
        "rows_out": result["rows_written"],
    }
    for name, value in got.items():
        if value != expected[name]:
            problems.append(f"{name}: {value}, the generator injected {expected[name]}")
    by_rule = Counter(violations.column("rule").to_pylist())
    if dict(by_rule) != expected["violations_by_rule"]:
        problems.append(f"violations by rule {dict(sorted(by_rule.items()))}, injected {expected['violations_by_rule']}")
    return problems


def parquet_codecs(path: Path) -> set[str]:
    _, _, pq = _pa()
    meta = pq.ParquetFile(path).metadata
    return {
        meta.row_group(rg).column(c).compression
        for rg in range(meta.num_row_groups)
        for c in range(meta.num_columns)
    }


def check(results: list[dict[str, Any]], expected: dict[str, Any]) -> CheckReport:
    """Compare the results of one format (one per contender and mode)."""
    done = [r for r in results if r.get("status") == "ok"]
    report = CheckReport(reference=None)
    for r in results:
        if r.get("status") != "ok":
            report.problems[f"{r['contender']}/{r['mode']}"] = [f"run failed: {r.get('error', 'unknown error')}"]
    if not done:
        return report
    ref = next((r for r in done if r["contender"] == "python"), done[0])
    report.reference = f"{ref['contender']}/{ref['mode']}"
    ref_rows = normalised_rows(Path(ref["output_path"]))
    ref_viol = read_violations(Path(ref["violations_path"]))
    for r in done:
        name = f"{r['contender']}/{r['mode']}"
        problems: list[str] = []
        try:
            rows = normalised_rows(Path(r["output_path"]))
            # the reference against itself still checks duplicates and compactness
            problems += compare_rows(ref_rows if r is not ref else rows, rows)
            if r is not ref and not any("missing" in p or "extra" in p for p in problems):
                problems += compare_order(written_ids(Path(ref["output_path"])), written_ids(Path(r["output_path"])))
            viol = read_violations(Path(r["violations_path"]))
            if r is not ref:
                problems += compare_violations(ref_viol, viol)
            problems += compare_with_manifest(r, viol, expected)
            codecs = parquet_codecs(Path(r["output_path"]))
            if codecs != {"ZSTD"}:
                problems.append(f"Parquet compression {sorted(codecs)}, expected ZSTD")
        except Exception as exc:  # a broken output is a failed check, not a crash
            problems.append(f"could not check: {type(exc).__name__}: {exc}")
        report.problems[name] = problems
    return report
