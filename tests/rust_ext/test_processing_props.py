"""Property tests across the Python/Rust boundary of data_processor_rs (Properties 9-12).

Each property drives the real extension with Hypothesis-generated data and
checks the answer against Python's own reading of the same data.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import data_processor_rs as dp
from eventlake.contracts import EVENT_TYPES, transform_rules_json, validation_schema_json

SCHEMA = validation_schema_json("events")
RULES = transform_rules_json("events")
PROPS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
records = st.dictionaries(
    # NUL cannot be in an Arrow field name: such keys are renamed (see test_processing_edges)
    st.text(min_size=1, max_size=8).filter(lambda k: k not in ("_index", "_raw", "_parse_error") and "\x00" not in k),
    json_values,
    max_size=6,
)


def _layout(recs: list[dict], layout: str) -> bytes:
    if layout == "ndjson":
        return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in recs)
    if layout == "array":
        return json.dumps(recs, ensure_ascii=False).encode()
    return b"\n".join(json.dumps(r, indent=2).encode() for r in recs)  # pretty stream


# Property 9: Python-Rust parsing interface works — for any records handed
# over as bytes (NDJSON, JSON array or pretty-printed objects), parse_json
# returns them to Python as an Arrow table whose cells are the records' values.
@PROPS
@given(recs=st.lists(records, min_size=1, max_size=8), layout=st.sampled_from(["ndjson", "array", "pretty"]))
def test_prop_parsing_interface(recs, layout):
    data = _layout(recs, layout)
    table = dp.parse_json(data)
    assert isinstance(table, dp.Table)
    assert table.num_rows == len(recs)
    t = pa.table(table)
    assert t.column_names == table.column_names
    assert t.column("_index").to_pylist() == list(range(len(recs)))
    rows = t.to_pylist()
    for original, row in zip(recs, rows):
        assert json.loads(row["_raw"]) == original
        back = {k: json.loads(v) for k, v in row.items() if k not in ("_index", "_raw") and v is not None}
        assert back == {k: v for k, v in original.items() if v is not None}


def _iso(moment: datetime, offset_minutes: int, millis: bool) -> str:
    tz = timezone(timedelta(minutes=offset_minutes))
    text = moment.astimezone(tz).isoformat(timespec="milliseconds" if millis else "seconds")
    return text.replace("+00:00", "Z") if offset_minutes == 0 else text


@st.composite
def events(draw, index: int):
    ms = draw(st.integers(946_684_800_000, 4_102_444_800_000))  # 2000..2100
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    form = draw(st.sampled_from(["epoch", "z", "offset"]))
    offset = draw(st.sampled_from([-480, -300, -210, 60, 330, 540, 840])) if form == "offset" else 0
    millis = draw(st.booleans())
    ts = ms if form == "epoch" else _iso(moment, offset, millis)
    micros = ms * 1000 if (form == "epoch" or millis) else (ms - ms % 1000) * 1000
    rec = {
        "event_id": f"e{index}",
        "user_id": draw(st.text(min_size=1, max_size=10)),
        "event_type": draw(st.sampled_from(EVENT_TYPES)),
        "event_timestamp": ts,
    }
    if draw(st.booleans()):
        rec["event_value"] = draw(st.floats(0, 1_000_000))
    if draw(st.booleans()):
        rec["product_id"] = draw(st.text(max_size=10))
    if draw(st.booleans()):
        rec["properties"] = draw(st.dictionaries(st.text(max_size=5), json_scalars, max_size=3))
    return rec, micros


# one way to break each rule: (field, rule, mutation)
CATALOG = [
    ("event_id", "required", lambda r: r.pop("event_id")),
    ("user_id", "required", lambda r: r.__setitem__("user_id", None)),
    ("user_id", "type", lambda r: r.__setitem__("user_id", 7)),
    ("user_id", "max_length", lambda r: r.__setitem__("user_id", "é" * 257)),
    ("event_type", "allowed", lambda r: r.__setitem__("event_type", "VIEW")),
    ("event_timestamp", "timestamp", lambda r: r.__setitem__("event_timestamp", "2026-02-30T10:00:00Z")),
    ("event_timestamp", "timestamp", lambda r: r.__setitem__("event_timestamp", "2026-03-14T09:26:53")),
    ("event_timestamp", "type", lambda r: r.__setitem__("event_timestamp", 1.5)),
    ("event_value", "min", lambda r: r.__setitem__("event_value", -1)),
    ("event_value", "max", lambda r: r.__setitem__("event_value", 1e7)),
    ("event_value", "type", lambda r: r.__setitem__("event_value", "12,5")),
    ("properties", "type", lambda r: r.__setitem__("properties", [1, 2])),
]


@st.composite
def batches_with_violations(draw):
    n = draw(st.integers(1, 10))
    recs, expected = [], set()
    for i in range(n):
        rec, _ = draw(events(i))
        taken: set[str] = set()
        for k in draw(st.lists(st.integers(0, len(CATALOG) - 1), max_size=3)):
            field, rule, mutate = CATALOG[k]
            if field in taken:
                continue
            taken.add(field)
            mutate(rec)
            expected.add((i, field, rule))
        recs.append(rec)
    return recs, expected


# Property 10: Python-Rust validation interface works — for any batch passed
# from Python, validate_schema returns a report listing exactly the injected
# violations (record, field, rule) and a valid_mask matching them.
@PROPS
@given(case=batches_with_violations(), as_csv=st.booleans())
def test_prop_validation_interface(case, as_csv):
    recs, expected = case
    if as_csv:
        # CSV can only carry text: skip the type cases that need JSON kinds
        assume(not any(rule == "type" for _, _, rule in expected))
        data = _csv(recs)
        raw = dp.parse_csv(data, json_columns=["properties"])
    else:
        raw = dp.parse_json(_layout(recs, "ndjson"))
    report = dp.validate_schema(raw, SCHEMA)
    assert isinstance(report, dp.ValidationReport)
    v = pa.table(report.violations)
    assert v.schema.names == ["record_index", "field", "rule", "value", "message"]
    found = set(zip(v.column("record_index").to_pylist(), v.column("field").to_pylist(), v.column("rule").to_pylist()))
    assert found == expected
    assert v.num_rows == len(expected)
    bad = {i for i, _, _ in expected}
    assert report.valid_mask.to_pylist() == [i not in bad for i in range(len(recs))]
    assert report.valid_count + report.invalid_count == len(recs)
    for row in v.to_pylist():
        assert row["field"] in row["message"]
        assert (row["value"] is None) == (row["rule"] == "required")


def _csv(recs: list[dict]) -> bytes:
    import csv
    import io

    names = ["event_id", "user_id", "event_type", "event_timestamp", "event_value", "product_id", "properties"]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(names)
    for r in recs:
        row = []
        for n in names:
            v = r.get(n)
            row.append("" if v is None else v if isinstance(v, str) else json.dumps(v))
        w.writerow(row)
    return out.getvalue().encode()


# Property 11: Python-Rust transformation interface works — for any valid
# events passed from Python, transform_batch (and the fused process) returns
# typed rows: UTC microseconds with offsets honoured, event_date/event_hour
# derived, properties as compact JSON, in input order.
@PROPS
@given(evs=st.lists(st.integers(), min_size=1, max_size=12).flatmap(lambda xs: st.tuples(*[events(i) for i in range(len(xs))])))
def test_prop_transformation_interface(evs):
    recs = [r for r, _ in evs]
    data = _layout(recs, "ndjson")
    staged = pa.table(dp.transform_batch(dp.parse_json(data), RULES, SCHEMA))
    fused = dp.process(data, "ndjson", SCHEMA, RULES)
    assert fused.valid_count == len(recs) and fused.invalid_count == 0 and fused.duplicate_count == 0
    fused_t = pa.table(fused.valid)
    assert fused_t.schema == staged.schema
    assert staged.schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
    assert staged.schema.field("event_date").type == pa.date32()
    assert staged.schema.field("event_hour").type == pa.int32()
    for t in (staged, fused_t):
        ts = t.column("event_timestamp").cast(pa.int64()).to_pylist()
        dates = t.column("event_date").to_pylist()
        hours = t.column("event_hour").to_pylist()
        props = t.column("properties").to_pylist()
        assert t.column("_index").to_pylist() == list(range(len(recs)))
        for i, (rec, micros) in enumerate(evs):
            assert ts[i] == micros
            moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
            assert dates[i] == moment.date()
            assert hours[i] == moment.hour
            if "properties" in rec:
                # the input had ", " and ": " separators: compacting leaves exactly json's compact form
                assert props[i] == json.dumps(rec["properties"], separators=(",", ":"), ensure_ascii=False)
            else:
                assert props[i] is None


# Property 12: Rust errors propagate to Python — for any bytes, parse_json
# either returns a table or raises ParseError (a DataProcessorError) carrying
# details: every malformed record with its line, byte offset and message.
@PROPS
@given(data=st.binary(max_size=200) | st.text(alphabet='{}[]":,\\ \nabc01eE.-tn', max_size=80).map(str.encode))
def test_prop_errors_propagate(data):
    try:
        table = dp.parse_json(data)
    except dp.ParseError as e:
        assert isinstance(e, dp.DataProcessorError) and isinstance(e, Exception)
        assert e.details and all(isinstance(d, dict) and "message" in d for d in e.details)
        assert isinstance(e.line, int) and isinstance(e.offset, int)
        assert 0 <= e.offset <= len(data)
        assert e.line == data[: e.offset].count(b"\n") + 1
        return
    # accepted: every record really is a JSON object that Python reads the same way
    t = pa.table(table)
    for raw in t.column("_raw").to_pylist():
        assert isinstance(json.loads(raw), dict)


# Property 12 and Property 39 (strict vs lenient): a document with known malformed lines
# raises ParseError listing exactly those lines, and lenient parsing keeps
# going, marking the same records.
@PROPS
@given(
    lines=st.lists(
        st.one_of(
            records.map(lambda r: (json.dumps(r), True)),
            st.sampled_from(['{"a": }', "[1, 2]", '"text"', "{'single': 1}", '{"a": 1', "NaN", '{"a":1}}']).map(lambda s: (s, False)),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_prop_malformed_records_are_listed(lines):
    # a first line starting with '[' would make the document one JSON array
    lines = [('{"first": true}', True), *lines]
    data = "\n".join(text for text, _ in lines).encode()
    bad_lines = [i + 1 for i, (_, ok) in enumerate(lines) if not ok]
    lenient = pa.table(dp.parse_json(data, strict=False))
    assert lenient.num_rows == len(lines)
    assert [e is not None for e in lenient.column("_parse_error").to_pylist()] == [not ok for _, ok in lines]
    if not bad_lines:
        assert dp.parse_json(data).num_rows == len(lines)
        return
    with pytest.raises(dp.ParseError) as info:
        dp.parse_json(data)
    assert [d["line"] for d in info.value.details] == bad_lines
    assert info.value.line == bad_lines[0]
    with pytest.raises(dp.ParseError) as split_info:
        dp.split_payload(data, "ndjson", 1 << 20)
    assert [d["line"] for d in split_info.value.details] == bad_lines


# Property 48 (and 12): unsupported formats raise UnsupportedFormatError naming the format.
@PROPS
@given(fmt=st.text(max_size=10))
def test_prop_unsupported_format_errors(fmt):
    assume(fmt.strip().lower() not in {"json", "ndjson", "csv", "parquet"})
    for call in (
        lambda: dp.parse(b"{}", fmt, json_columns=["properties"]),
        lambda: dp.split_payload(b"{}", fmt, 100),
        lambda: dp.process(b"{}", fmt, SCHEMA, RULES),
    ):
        with pytest.raises(dp.UnsupportedFormatError) as info:
            call()
        assert info.value.format == fmt
        assert info.value.details[0]["format"] == fmt
