//! Fuzzing the parsers with proptest: arbitrary bytes, and valid input with
//! random damage, through every entry point. Nothing may panic; every outcome
//! is a value or a typed error, and strict and lenient parsing agree.

use eventlake_core::parse::{self, PARSE_ERROR_COL};
use eventlake_core::process::process;
use eventlake_core::schema::{Rules, Schema};
use eventlake_core::transform::transform_batches;
use eventlake_core::validate::validate_batches;
use eventlake_core::CoreError;
use proptest::prelude::*;

mod common;
use common::cases;

/// Not the events contract (contracts/events.schema.json): a fixture with
/// every field type, so the fuzzers reach every coercion.
const EVENTS: &str = r#"{"dataset": "events", "key": "event_id", "fields": [
    {"name": "event_id", "type": "string", "required": true, "max_length": 256},
    {"name": "user_id", "type": "string", "required": true},
    {"name": "event_type", "type": "string", "required": true, "allowed": ["view", "click"]},
    {"name": "event_timestamp", "type": "timestamp", "required": true},
    {"name": "event_value", "type": "double", "min": 0, "max": 1000000},
    {"name": "count", "type": "long"},
    {"name": "flag", "type": "boolean"},
    {"name": "day", "type": "date"},
    {"name": "properties", "type": "object"}]}"#;
const RULES: &str = r#"{"derive_date_hour": {"source": "event_timestamp", "date": "d", "hour": "h"}, "defaults": {"count": 1}}"#;

const SEED_NDJSON: &str = concat!(
    "{\"event_id\":\"a\",\"user_id\":\"u\",\"event_type\":\"view\",\"event_timestamp\":\"2026-01-01T00:00:00Z\",\"properties\":{\"k\":[1,{\"x\":null}]}}\n",
    "{\"event_id\":\"b\",\"user_id\":\"\\u00e9\",\"event_type\":\"click\",\"event_timestamp\":1767225600000,\"event_value\":1.5e2,\"count\":3,\"flag\":true,\"day\":\"2026-02-28\"}\n",
    "[{\"event_id\":\"c\"}, 1, \"s\", null]\n",
);
const SEED_CSV: &str = "event_id,user_id,event_type,event_timestamp,event_value,properties\n\
a,u,view,2026-01-01T00:00:00Z,1.5,\"{\"\"k\"\": 1}\"\n\
b,\"x,y\",click,1767225600000,NaN,\n\
\"c\",\"multi\nline\",view,2026-02-30T00:00:00Z,,[1]\n";

/// Run every entry point on `data`; panics are the only failure.
fn exercise(data: &[u8]) {
    let schema = Schema::from_json(EVENTS).unwrap();
    let rules = Rules::from_json(RULES, &schema).unwrap();
    let strict = parse::parse_json(data, true);
    let lenient = parse::parse_json(data, false);
    match (&strict, &lenient) {
        (Ok(s), Ok(l)) => {
            // strict success means no record failed
            assert_eq!(s.num_rows(), l.num_rows());
            let b = l.concat().unwrap();
            assert_eq!(
                b.column_by_name(PARSE_ERROR_COL).unwrap().null_count(),
                b.num_rows()
            );
        }
        (Err(CoreError::Parse { details, .. }), Ok(l)) => {
            // every record listed as malformed is marked in the lenient batch
            let b = l.concat().unwrap();
            let marked = b.num_rows() - b.column_by_name(PARSE_ERROR_COL).unwrap().null_count();
            if !details.is_empty() && details[0].contains_key("record") {
                assert_eq!(marked, details.len());
            }
        }
        (Err(CoreError::Parse { .. }), Err(CoreError::Parse { .. })) => {}
        other => panic!("unexpected outcome {other:?}"),
    }
    if let Ok(l) = &lenient {
        let report = validate_batches(&l.batches, &schema).unwrap();
        assert_eq!(report.valid_mask.len(), l.num_rows());
        let _ = transform_batches(&l.batches, &schema, &rules);
    }
    for fmt in ["json", "csv"] {
        match parse::split_payload(data, fmt, 64) {
            Ok(chunks) => {
                for (c, _) in &chunks {
                    // what split_payload accepted re-parses strictly
                    let again = if fmt == "csv" {
                        parse::parse_csv(c, b',', &[], true).map(|_| ())
                    } else {
                        parse::parse_json(c, true).map(|_| ())
                    };
                    assert!(again.is_ok(), "{again:?}");
                }
            }
            Err(CoreError::Parse { .. }) => {}
            Err(e) => panic!("split_payload {fmt}: {e:?}"),
        }
        match process(data, fmt, &schema, &rules, &["a".to_string()]) {
            Ok(out) => {
                assert_eq!(
                    out.record_count,
                    out.valid_count + out.invalid_count + out.duplicate_count
                );
                assert_eq!(
                    out.rejected.num_rows(),
                    out.invalid_count + out.duplicate_count
                );
            }
            Err(CoreError::Parse { .. }) => {}
            Err(e) => panic!("process {fmt}: {e:?}"),
        }
    }
    for strict in [true, false] {
        let csv = parse::parse_csv(data, b',', &["properties".to_string()], strict);
        if let Ok(t) = &csv {
            let _ = validate_batches(&t.batches, &schema).unwrap();
        }
        if let Err(e) = &csv {
            assert!(matches!(e, CoreError::Parse { .. }), "{e:?}");
        }
    }
}

/// Damage `seed`: overwrite, insert and delete bytes at random places.
fn damaged(seed: &'static str) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 0..8).prop_map(
        move |edits| {
            let mut v = seed.as_bytes().to_vec();
            for (at, byte, op) in edits {
                if v.is_empty() {
                    v.push(byte);
                    continue;
                }
                let i = at.index(v.len());
                match op {
                    0 => v[i] = byte,
                    1 => v.insert(i, byte),
                    _ => {
                        v.remove(i);
                    }
                }
            }
            v
        },
    )
}

proptest! {
    #![proptest_config(cases(300))]

    // Fuzz: arbitrary bytes never panic any parser or the fused pipeline.
    #[test]
    fn fuzz_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..256)) {
        exercise(&data);
    }

    // Fuzz: JSON-ish and CSV-ish byte soup (more likely to get deep into the parsers).
    #[test]
    fn fuzz_structured_soup(data in "[\\[\\]{}:,\"\\\\ \\na-z0-9.eE+\\-]{0,200}") {
        exercise(data.as_bytes());
    }

    // Fuzz: valid NDJSON and CSV with random damage.
    #[test]
    fn fuzz_damaged_valid_input(nd in damaged(SEED_NDJSON), csv in damaged(SEED_CSV)) {
        exercise(&nd);
        exercise(&csv);
    }
}

#[test]
fn hostile_inputs_are_refused_cleanly() {
    // very deep nesting, in a record and as a bare value
    let deep = format!(
        "{{\"a\":{}1{}}}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    exercise(deep.as_bytes());
    let deep_obj = "{\"a\":".repeat(50_000);
    exercise(deep_obj.as_bytes());
    assert!(matches!(
        parse::parse_json(deep.as_bytes(), true),
        Err(CoreError::Parse { .. })
    ));
    // a very long string and a very long key
    let long = format!(
        "{{\"{}\":\"{}\"}}",
        "k".repeat(1 << 20),
        "v".repeat(4 << 20)
    );
    assert_eq!(
        parse::parse_json(long.as_bytes(), true).unwrap().num_rows(),
        1
    );
    // non-UTF-8 everywhere
    exercise(b"\xff\xfe\x00{\"a\":1}\n\xc3\x28,\xe2\x82\n");
    // lone surrogates and NUL bytes
    exercise(b"{\"a\":\"\\ud800\"}\n{\"a\":\"\x00\"}\n{\"\\udc00\":1}");
    // numbers beyond f64 and i64
    exercise(b"{\"event_value\":1e999,\"count\":123456789012345678901234567890,\"event_timestamp\":-99999999999999999999}");
    // an unterminated quote swallowing the rest of a CSV
    exercise(b"a,b\n\"x,1\n2,3\n4,5\n");
}
