"""Edge cases of data_processor_rs processing: calendars, zones, NaN, bad
bytes, hostile input, request splitting, deduplication, table interop."""

from __future__ import annotations

import json
from datetime import date

import pyarrow as pa
import pytest

import data_processor_rs as dp
from eventlake.contracts import transform_rules_json, validation_schema_json

SCHEMA = validation_schema_json("events")
RULES = transform_rules_json("events")
USERS_SCHEMA = validation_schema_json("users")
USERS_RULES = transform_rules_json("users")


def event(event_id="e1", ts="2026-01-01T00:00:00Z", **extra) -> dict:
    rec = {"event_id": event_id, "user_id": "u1", "event_type": "view", "event_timestamp": ts}
    rec.update(extra)
    return rec


def ndjson(*recs) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in recs)


def violations(data: bytes, fmt: str = "ndjson") -> list[tuple[int, str, str]]:
    raw = dp.parse_csv(data, json_columns=["properties"], strict=False) if fmt == "csv" else dp.parse_json(data, strict=False)
    v = pa.table(dp.validate_schema(raw, SCHEMA).violations)
    return list(zip(v["record_index"].to_pylist(), v["field"].to_pylist(), v["rule"].to_pylist()))


def rejected_rules(result) -> list[tuple[int, list[str]]]:
    t = pa.table(result.rejected)
    return [(i, [v["rule"] for v in json.loads(v)]) for i, v in zip(t["record_index"].to_pylist(), t["violations"].to_pylist())]


# -- timestamps ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "ts",
    ["2026-02-30T10:00:00Z", "2025-02-29T12:00:00.500Z", "2026-04-31T08:15:00+02:00", "2026-13-01T00:00:00Z", "2026-03-14T25:00:00Z"],
)
def test_impossible_calendar_dates_are_rejected(ts):
    assert violations(ndjson(event(ts=ts))) == [(0, "event_timestamp", "timestamp")]
    result = dp.process(ndjson(event(ts=ts)), "ndjson", SCHEMA, RULES)
    assert result.valid_count == 0 and rejected_rules(result) == [(0, ["timestamp"])]


def test_leap_day_of_a_leap_year_is_accepted():
    assert violations(ndjson(event(ts="2024-02-29T23:59:59.999999Z"))) == []


def test_offsets_are_honoured_and_derive_the_utc_date_and_hour():
    recs = [
        event("a", "2026-03-01T00:30:00+01:00"),  # 2026-02-28T23:30Z
        event("b", "2026-02-28T18:30:00-05:00"),  # 2026-02-28T23:30Z
        event("c", 1772321400000),  # epoch ms of 2026-02-28T23:30Z
        event("d", "2026-02-28T23:30:00.000Z"),
    ]
    t = pa.table(dp.process(ndjson(*recs), "ndjson", SCHEMA, RULES).valid)
    assert len(set(t["event_timestamp"].cast(pa.int64()).to_pylist())) == 1
    assert t["event_date"].to_pylist() == [date(2026, 2, 28)] * 4
    assert t["event_hour"].to_pylist() == [23] * 4


@pytest.mark.parametrize("ts", ["2026-03-14T09:26:53", "2026-01-20T23:05:00.250", "2026-01-20"])
def test_naive_timestamps_are_violations(ts):
    assert violations(ndjson(event(ts=ts))) == [(0, "event_timestamp", "timestamp")]


def test_numeric_timestamps_must_be_integer_milliseconds():
    assert violations(ndjson(event(ts=1.5), event("e2", ts=True), event("e3", ts=1772321400000))) == [
        (0, "event_timestamp", "type"),
        (1, "event_timestamp", "type"),
    ]


# -- NaN and infinity -----------------------------------------------------------------------
def test_nan_and_infinity_are_type_violations_in_csv():
    data = (
        b"event_id,user_id,event_type,event_timestamp,event_value\n"
        b"a,u,view,2026-01-01T00:00:00Z,NaN\n"
        b"b,u,view,2026-01-01T00:00:00Z,inf\n"
        b"c,u,view,2026-01-01T00:00:00Z,-Infinity\n"
        b"d,u,view,2026-01-01T00:00:00Z,2.5\n"
    )
    expected = [(i, "event_value", "type") for i in range(3)]
    assert violations(data, "csv") == expected
    result = dp.process(data, "csv", SCHEMA, RULES)
    assert result.valid_count == 1
    assert pa.table(result.valid)["event_value"].to_pylist() == [2.5]


def test_json_numbers_beyond_double_are_not_finite():
    assert violations(ndjson(b'{"event_id":"a","user_id":"u","event_type":"view","event_timestamp":0,"event_value":1e999}')) == [
        (0, "event_value", "type")
    ]


def test_nan_literal_is_not_json():
    data = ndjson(b'{"event_id":"a","user_id":"u","event_type":"view","event_timestamp":0,"event_value":NaN}', event("b"))
    with pytest.raises(dp.ParseError):
        dp.parse_json(data)
    result = dp.process(data, "ndjson", SCHEMA, RULES)
    assert rejected_rules(result) == [(0, ["parse_error"])]
    assert result.valid_count == 1


# -- bad bytes and hostile input ---------------------------------------------------------------
def test_non_utf8_is_a_parse_error_not_a_crash():
    data = b'{"event_id":"\xff\xfe","user_id":"u"}\n' + ndjson(event("b"))
    with pytest.raises(dp.ParseError) as info:
        dp.parse_json(data)
    assert info.value.details[0]["line"] == 1
    assert "UTF-8" in info.value.details[0]["message"]
    # lenient paths keep going (requirement 10.2)
    result = dp.process(data, "ndjson", SCHEMA, RULES)
    assert result.valid_count == 1 and rejected_rules(result) == [(0, ["parse_error"])]
    with pytest.raises(dp.ParseError):
        dp.parse_csv(b"a,b\n\xff,1\n", json_columns=["properties"])
    with pytest.raises(dp.ParseError):
        dp.split_payload(b"\xc3\x28", "json", 100)


def test_deep_nesting_is_refused_cleanly():
    deep = b'{"event_id":"a","properties":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(dp.ParseError) as info:
        dp.parse_json(deep)
    assert "nesting" in info.value.details[0]["message"]
    result = dp.process(deep + b"\n" + ndjson(event("b")), "ndjson", SCHEMA, RULES)
    assert result.valid_count == 1 and result.invalid_count == 1
    assert dp.parse_json(b'{"a":' + b"[" * 127 + b"]" * 127 + b"}").num_rows == 1


def test_nul_in_a_key_becomes_an_escape_in_the_column_name():
    t = pa.table(dp.parse_json(b'{"a\\u0000b": 1}'))
    assert t.column_names == ["_index", "_raw", "a\\u0000b"]


def test_large_values_pass_through():
    big = "x" * (8 << 20)
    t = pa.table(dp.parse_json(json.dumps({"a": big}).encode()))
    assert json.loads(t["a"][0].as_py()) == big


# -- split_payload -----------------------------------------------------------------------------
def test_split_payload_shapes_agree():
    recs = [event(f"e{i}") for i in range(5)]
    texts = [json.dumps(r) for r in recs]
    for body in (json.dumps(recs).encode(), "\n".join(texts).encode(), json.dumps(recs, indent=2).encode()):
        chunks = dp.split_payload(body, "json", 200)
        lines = [line for c, _ in chunks for line in c.decode().splitlines()]
        assert [json.loads(line) for line in lines] == recs
        assert sum(n for _, n in chunks) == 5
        assert all(len(c) <= 200 for c, _ in chunks)
    one = dp.split_payload(json.dumps(recs[0], indent=2).encode(), "json", 1000)
    assert one == [(json.dumps(recs[0], separators=(",", ":")).encode() + b"\n", 1)]


@pytest.mark.parametrize("n", [10, 2_000])  # under and over 64 KiB: split with the GIL held, and released
def test_split_payload_small_and_large_bodies_split_alike(n):
    recs = [event(f"e{i}") for i in range(n)]
    body = json.dumps(recs).encode()
    assert (len(body) < 64 * 1024) == (n == 10)
    chunks = dp.split_payload(body, "json", 4_096)
    assert [json.loads(line) for c, _ in chunks for line in c.decode().splitlines()] == recs
    assert sum(n for _, n in chunks) == len(recs) and all(len(c) <= 4_096 for c, _ in chunks)
    with pytest.raises(dp.ParseError):
        dp.split_payload(body[:-1], "json", 4_096)  # a broken body is an error on both paths


def test_split_payload_keeps_original_object_texts():
    body = b'[{"a": 1, "b": "x y"} , {"a":2}]'
    assert dp.split_payload(body, "json", 1 << 20) == [(b'{"a": 1, "b": "x y"}\n{"a":2}\n', 2)]


def test_split_payload_csv_repeats_the_header():
    body = b"event_id,user_id\r\na,\"multi\nline\"\r\nb,u\r\nc,u\r\n"
    chunks = dp.split_payload(body, "csv", 24)
    assert [n for _, n in chunks] == [1, 1, 1]
    assert all(c.startswith(b"event_id,user_id\n") for c, _ in chunks)
    assert chunks[0][0] == b'event_id,user_id\na,"multi\nline"\n'


@pytest.mark.parametrize("body", [b"", b"   \n ", b"[]", b"5", b'"text"', b"[1, 2]", b"null", b"event_id\n"])
def test_split_payload_refuses_empty_and_non_objects(body):
    fmt = "csv" if body == b"event_id\n" else "json"
    with pytest.raises(dp.ParseError) as info:
        dp.split_payload(body, fmt, 100)
    assert info.value.details and all({"line", "offset", "message"} <= d.keys() for d in info.value.details)


def test_split_payload_lists_every_malformed_record():
    body = b'{"a":1}\n{"a":\n{"a":3}\n[4]\n{"a" 5}\n'
    with pytest.raises(dp.ParseError) as info:
        dp.split_payload(body, "ndjson", 100)
    assert [(d["line"], d["record"]) for d in info.value.details] == [(2, 1), (4, 3), (5, 4)]
    # the error is reported where the incomplete record's line ends
    assert info.value.line == 2 and info.value.offset == body.index(b"\n{") + 6
    assert "incomplete record" in info.value.details[0]["message"]
    with pytest.raises(dp.ParseError) as info:
        dp.split_payload(b"a,b\n1,2\n1,2,3\n\"x,4\n", "csv", 100)
    assert [d["line"] for d in info.value.details] == [3, 4]


# -- dedup and process ---------------------------------------------------------------------------
def test_invalid_record_never_hides_a_later_valid_duplicate():
    data = ndjson(event("x", ts="2026-02-30T00:00:00Z"), event("x"), event("x", ts=0), event("y"), event("z"))
    result = dp.process(data, "ndjson", SCHEMA, RULES, seen=["y"])
    assert pa.table(result.valid)["_index"].to_pylist() == [1, 4]
    assert (result.record_count, result.valid_count, result.invalid_count, result.duplicate_count) == (5, 2, 1, 2)
    assert rejected_rules(result) == [(0, ["timestamp"]), (2, ["duplicate"]), (3, ["duplicate"])]
    dup = json.loads(pa.table(result.rejected)["violations"][1].as_py())[0]
    assert dup == {"field": "event_id", "rule": "duplicate", "value": "x", "message": "event_id: duplicate of record 1"}


def test_datasets_without_a_key_are_not_deduplicated():
    rec = {"user_id": "u1", "user_name": "ada", "updated_at": "2026-01-01T00:00:00Z"}
    result = dp.process(ndjson(rec, rec, rec), "json", USERS_SCHEMA, USERS_RULES)
    assert result.valid_count == 3 and result.duplicate_count == 0


def test_deduplicate_function_keeps_first_and_reports_dropped_indices():
    raw = dp.parse_json(ndjson(event("a"), event("b"), event("a"), event("c")))
    typed = dp.transform_batch(raw, RULES, SCHEMA)
    kept, dropped = dp.deduplicate(typed, "event_id", seen=["c"])
    assert dropped == [2, 3]
    assert pa.table(kept)["event_id"].to_pylist() == ["a", "b"]
    # raw batches dedupe by the decoded JSON string
    kept_raw, dropped_raw = dp.deduplicate(raw, "event_id")
    assert dropped_raw == [2] and kept_raw.num_rows == 3
    with pytest.raises(dp.DataProcessorError):
        dp.deduplicate(typed, "nope")


def test_valid_table_has_the_documented_columns_and_nullability():
    t = pa.table(dp.process(ndjson(event()), "ndjson", SCHEMA, RULES).valid)
    expected = pa.schema(
        [
            pa.field("event_id", pa.string(), nullable=False),
            pa.field("user_id", pa.string(), nullable=False),
            pa.field("event_type", pa.string(), nullable=False),
            pa.field("event_timestamp", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("event_value", pa.float64()),
            pa.field("product_id", pa.string()),
            pa.field("properties", pa.string()),
            pa.field("event_date", pa.date32(), nullable=False),
            pa.field("event_hour", pa.int32(), nullable=False),
            pa.field("_index", pa.int64(), nullable=False),
        ]
    )
    assert t.schema.remove_metadata() == expected
    rejected = pa.table(dp.process(ndjson(event()), "ndjson", SCHEMA, RULES).rejected)
    assert rejected.schema.names == ["record_index", "raw", "violations"]


def test_csv_cells_are_coerced_and_properties_compacted():
    data = (
        b"event_id,user_id,event_type,event_timestamp,event_value,product_id,properties\n"
        b'a,u,view,1772321400000,3,,"{ ""k"": [1, 2] }"\n'
        b"b,u,view,2026-01-01T00:00:00Z,,p,oops\n"
    )
    result = dp.process(data, "csv", SCHEMA, RULES)
    t = pa.table(result.valid)
    assert t["properties"].to_pylist() == ['{"k":[1,2]}']
    assert t["event_value"].to_pylist() == [3.0]
    assert t["product_id"].to_pylist() == [None]
    assert rejected_rules(result) == [(1, ["type"])]


def test_every_violation_of_a_record_is_reported():
    rec = {"user_id": "u" * 300, "event_type": "teleport", "event_timestamp": "2026-02-30T00:00:00Z", "event_value": -1, "properties": 5}
    found = violations(ndjson(rec))
    assert found == [
        (0, "event_id", "required"),
        (0, "user_id", "max_length"),
        (0, "event_type", "allowed"),
        (0, "event_timestamp", "timestamp"),
        (0, "event_value", "min"),
        (0, "properties", "type"),
    ]


def test_transform_refuses_invalid_records_with_details():
    raw = dp.parse_json(ndjson(event(), event("b", ts="nope")))
    with pytest.raises(dp.ValidationError) as info:
        dp.transform_batch(raw, RULES, SCHEMA)
    assert info.value.details[0]["record_index"] == 1
    assert info.value.details[0]["rule"] == "timestamp"


def test_bad_schema_and_rules_raise_validation_error():
    with pytest.raises(dp.ValidationError) as info:
        dp.process(b"{}", "json", '{"fields": [{"name": "a", "type": "uuid"}]}', "{}")
    assert "uuid" in info.value.details[0]["message"]
    with pytest.raises(dp.ValidationError):
        dp.process(b"{}", "json", SCHEMA, '{"derive_date_hour": {"source": "nope", "date": "d", "hour": "h"}}')


# -- tables across the boundary --------------------------------------------------------------------
def test_tables_work_with_pyarrow_polars_and_back():
    import polars as pl

    raw = dp.parse_json(ndjson(event("a"), event("b")))
    assert repr(raw).startswith("data_processor_rs.Table")
    assert len(raw) == raw.num_rows == 2
    frame = pl.DataFrame(raw)
    assert frame["_index"].to_list() == [0, 1]
    # any Arrow producer is accepted back: a pyarrow table, a record batch, a polars frame, our own table
    for source in (raw, pa.table(raw), pa.table(raw).to_batches()[0], frame):
        report = dp.validate_schema(source, SCHEMA)
        assert report.valid_mask.to_pylist() == [True, True]
    schema = pa.schema(raw)
    assert schema.metadata[b"eventlake.format"] == b"json"
    assert pa.table(raw).schema.field("_raw").type == pa.string()


def test_valid_mask_is_an_arrow_array_that_filters_the_batch():
    import polars as pl

    raw = dp.parse_json(ndjson(event("a"), b'{"event_id":"b","user_id":"u","event_type":"nope","event_timestamp":0}', event("c")))
    mask = dp.validate_schema(raw, SCHEMA).valid_mask
    assert len(mask) == 3 and "true=2" in repr(mask)
    arrow = pa.array(mask)
    assert arrow.type == pa.bool_() and arrow.to_pylist() == [True, False, True]
    assert mask.to_pyarrow().equals(arrow)
    assert pl.Series(mask).to_list() == [True, False, True]
    kept = pa.table(raw).filter(pa.array(mask))
    assert kept.column("_index").to_pylist() == [0, 2]


def test_plain_typed_tables_can_be_validated():
    t = pa.table(
        {
            "event_id": ["a", None],
            "user_id": ["u", "u"],
            "event_type": ["view", "view"],
            "event_timestamp": pa.array([0, 1], pa.timestamp("ms", tz="UTC")),
            "event_value": [1.0, float("nan")],
        }
    )
    report = dp.validate_schema(t, SCHEMA)
    v = pa.table(report.violations)
    assert list(zip(v["record_index"].to_pylist(), v["field"].to_pylist(), v["rule"].to_pylist())) == [
        (1, "event_id", "required"),
        (1, "event_value", "type"),
    ]


def test_large_input_is_parsed_in_parallel_chunks_in_order():
    recs = [event(f"e{i}", properties={"pad": "x" * 100}) for i in range(30_000)]
    data = ndjson(*recs)
    table = dp.parse_json(data)
    t = pa.table(table)
    assert t.num_rows == 30_000 and t["_index"].to_pylist() == list(range(30_000))
    assert t["event_id"].to_pylist() == [json.dumps(f"e{i}") for i in range(30_000)]
    result = dp.process(data, "ndjson", SCHEMA, RULES)
    assert pa.table(result.valid)["event_id"].to_pylist() == [f"e{i}" for i in range(30_000)]
