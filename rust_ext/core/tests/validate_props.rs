//! Property tests of validation and transformation against the events
//! contract: every injected violation is found with its details, nothing else
//! is reported, and every transformation reaches every record.

use std::collections::BTreeSet;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use eventlake_core::parse;
use eventlake_core::process::process;
use eventlake_core::schema::{Rules, Schema};
use eventlake_core::transform::transform_batches;
use eventlake_core::validate::validate_batches;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

mod common;
use common::cases;

/// The events contract, generated from platform/contracts.py (a test there keeps it in step).
const EVENTS: &str = include_str!("../../../contracts/events.schema.json");
const RULES: &str = r#"{"derive_date_hour": {"source": "event_timestamp", "date": "event_date", "hour": "event_hour"},
    "defaults": {"product_id": "unknown"}}"#;

fn schema() -> Schema {
    Schema::from_json(EVENTS).unwrap()
}

/// A timestamp in one of the accepted forms, and its instant in UTC microseconds.
fn timestamp() -> impl Strategy<Value = (Value, i64)> {
    // 1990..2060, millisecond precision
    (
        631_152_000_000i64..2_871_763_200_000,
        0usize..4,
        -14i32..=14,
        prop::sample::select(vec![0, 30, 45]),
    )
        .prop_map(|(ms, form, off_h, off_m)| {
            let us = ms * 1000;
            let utc = chrono::DateTime::from_timestamp_millis(ms).unwrap();
            let v = match form {
                0 => json!(ms),
                1 => json!(utc.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
                2 => json!(utc.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
                _ => {
                    let secs = off_h * 3600 + off_h.signum() * off_m * 60;
                    let tz = chrono::FixedOffset::east_opt(secs).unwrap();
                    json!(utc
                        .with_timezone(&tz)
                        .format("%Y-%m-%dT%H:%M:%S%.6f%:z")
                        .to_string())
                }
            };
            let exact = if form == 2 {
                us - us.rem_euclid(1_000_000)
            } else {
                us
            };
            (v, exact)
        })
}

fn properties() -> impl Strategy<Value = Value> {
    prop::collection::vec(
        (
            "[a-z]{1,5}",
            prop_oneof![
                any::<i32>().prop_map(Value::from),
                "[a-zé ]{0,5}".prop_map(Value::from)
            ],
        ),
        0..4,
    )
    .prop_map(|kv| Value::Object(kv.into_iter().collect()))
}

#[derive(Debug, Clone)]
struct Event {
    rec: Map<String, Value>,
    us: i64,
}

fn event(i: usize) -> impl Strategy<Value = Event> {
    (
        "[a-z0-9]{1,12}",
        prop::sample::select(vec!["view", "click", "add_to_cart", "purchase"]),
        timestamp(),
        prop::option::of(0.0f64..1_000_000.0),
        prop::option::of("[a-z0-9_]{1,10}"),
        prop::option::of(properties()),
    )
        .prop_map(move |(user, ty, (ts, us), value, product, props)| {
            let mut rec = Map::new();
            rec.insert("event_id".into(), json!(format!("e{i}")));
            rec.insert("user_id".into(), json!(user));
            rec.insert("event_type".into(), json!(ty));
            rec.insert("event_timestamp".into(), ts);
            if let Some(v) = value {
                rec.insert("event_value".into(), json!(v));
            }
            if let Some(p) = product {
                rec.insert("product_id".into(), json!(p));
            }
            if let Some(p) = props {
                rec.insert("properties".into(), p);
            }
            Event { rec, us }
        })
}

/// (field, rule, mutation that breaks it)
type Injection = (&'static str, &'static str, fn(&mut Map<String, Value>));

/// One way to break each rule.
fn violation_catalog() -> Vec<Injection> {
    vec![
        ("event_id", "required", |r| {
            r.remove("event_id");
        }),
        ("user_id", "required", |r| {
            r.insert("user_id".into(), Value::Null);
        }),
        ("event_id", "type", |r| {
            r.insert("event_id".into(), json!(42));
        }),
        ("user_id", "max_length", |r| {
            r.insert("user_id".into(), json!("u".repeat(257)));
        }),
        ("event_type", "allowed", |r| {
            r.insert("event_type".into(), json!("teleport"));
        }),
        ("event_timestamp", "timestamp", |r| {
            r.insert("event_timestamp".into(), json!("2026-02-30T10:00:00Z"));
        }),
        ("event_timestamp", "timestamp", |r| {
            r.insert("event_timestamp".into(), json!("2026-03-14T09:26:53"));
        }),
        ("event_timestamp", "type", |r| {
            r.insert("event_timestamp".into(), json!(true));
        }),
        ("event_value", "min", |r| {
            r.insert("event_value".into(), json!(-0.5));
        }),
        ("event_value", "max", |r| {
            r.insert("event_value".into(), json!(1_000_000.5));
        }),
        ("event_value", "type", |r| {
            r.insert("event_value".into(), json!("lots"));
        }),
        ("product_id", "type", |r| {
            r.insert("product_id".into(), json!(["p"]));
        }),
        ("properties", "type", |r| {
            r.insert("properties".into(), json!([1, 2]));
        }),
    ]
}

fn ndjson(recs: &[Map<String, Value>]) -> String {
    recs.iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect()
}

proptest! {
    #![proptest_config(cases(128))]

    // Property 5: Schema validation detects all violations — for records with
    // known injected violations (several per record, on distinct fields), the
    // validator reports exactly the injected (record, field, rule) set.
    // Property 8: Invalid data returns error details — every violation names
    // its field and rule, carries a message mentioning the field, and the
    // offending value unless the value is missing.
    #[test]
    fn prop_validation_finds_every_injected_violation(
        base in prop::collection::vec(event(0), 1..12),
        picks in prop::collection::vec(prop::collection::vec(any::<prop::sample::Index>(), 0..4), 12),
    ) {
        let catalog = violation_catalog();
        let mut recs = Vec::new();
        let mut expected = BTreeSet::new();
        for (i, e) in base.iter().enumerate() {
            let mut r = e.rec.clone();
            r.insert("event_id".into(), json!(format!("e{i}")));
            let mut used = BTreeSet::new();
            for p in &picks[i] {
                let (field, rule, f) = catalog[p.index(catalog.len())];
                if used.insert(field) {
                    f(&mut r);
                    expected.insert((i as i64, field.to_string(), rule.to_string()));
                }
            }
            recs.push(r);
        }
        let doc = ndjson(&recs);
        let raw = parse::parse_json(doc.as_bytes(), true).unwrap();
        let report = validate_batches(&raw.batches, &schema()).unwrap();
        let found: BTreeSet<(i64, String, String)> =
            report.violations.iter().map(|(i, v)| (*i, v.field.clone(), v.rule.to_string())).collect();
        prop_assert_eq!(&found, &expected);
        prop_assert_eq!(report.violations.len(), expected.len());
        for (i, v) in &report.violations {
            prop_assert!(v.message.contains(&v.field), "{:?}", v);
            prop_assert_eq!(v.value.is_none(), v.rule.as_str() == "required", "{:?}", v);
            prop_assert!(!report.valid_mask[*i as usize]);
        }
        let bad: BTreeSet<i64> = expected.iter().map(|e| e.0).collect();
        for (i, ok) in report.valid_mask.iter().enumerate() {
            prop_assert_eq!(*ok, !bad.contains(&(i as i64)));
        }
        // the fused path rejects the same records with the same violations
        let s = schema();
        let out = process(doc.as_bytes(), "ndjson", &s, &Rules::from_json(RULES, &s).unwrap(), &[]).unwrap();
        let mut fused = BTreeSet::new();
        let rej = &out.rejected;
        for r in 0..rej.num_rows() {
            let idx = rej.column(0).as_primitive::<Int64Type>().value(r);
            let vs: Vec<Value> = serde_json::from_str(rej.column(2).as_string::<i32>().value(r)).unwrap();
            for v in vs {
                fused.insert((idx, v["field"].as_str().unwrap().to_string(), v["rule"].as_str().unwrap().to_string()));
            }
        }
        prop_assert_eq!(fused, expected);
        prop_assert_eq!(out.valid_count + out.invalid_count, recs.len());
    }

    // Property 6: Transformations applied to all events — every record of a
    // valid batch comes out with its timestamp in UTC microseconds (offsets
    // honoured, epoch ms scaled), event_date/event_hour derived from it,
    // properties as compact JSON and defaults filled, in input order.
    #[test]
    fn prop_transform_applies_to_every_record(mut events in prop::collection::vec(event(0), 1..40)) {
        for (i, e) in events.iter_mut().enumerate() {
            e.rec.insert("event_id".into(), json!(format!("e{i}")));
        }
        let recs: Vec<Map<String, Value>> = events.iter().map(|e| e.rec.clone()).collect();
        // pretty-printed properties: the transform must compact them
        let doc: String = recs.iter().map(|r| {
            let mut line = serde_json::to_string(r).unwrap();
            if let Some(p) = r.get("properties") {
                let compact = serde_json::to_string(p).unwrap();
                let pretty = serde_json::to_string_pretty(p).unwrap().replace('\n', " ");
                line = line.replacen(&compact, &pretty, 1);
            }
            line + "\n"
        }).collect();
        let s = schema();
        let rules = Rules::from_json(RULES, &s).unwrap();
        let raw = parse::parse_json(doc.as_bytes(), true).unwrap();
        let staged = transform_batches(&raw.batches, &s, &rules).unwrap().concat().unwrap();
        let fused = process(doc.as_bytes(), "ndjson", &s, &rules, &[]).unwrap().valid.concat().unwrap();
        for t in [&staged, &fused] {
            check_transformed(t, &events)?;
        }
    }
}

fn check_transformed(t: &RecordBatch, events: &[Event]) -> Result<(), TestCaseError> {
    prop_assert_eq!(t.num_rows(), events.len());
    let schema = t.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    prop_assert_eq!(
        names,
        vec![
            "event_id",
            "user_id",
            "event_type",
            "event_timestamp",
            "event_value",
            "product_id",
            "properties",
            "event_date",
            "event_hour",
            "_index"
        ]
    );
    let ts = t.column(3).as_primitive::<TimestampMicrosecondType>();
    let value = t.column(4).as_primitive::<Float64Type>();
    let product = t.column(5).as_string::<i32>();
    let props = t.column(6).as_string::<i32>();
    let date = t.column(7).as_primitive::<Date32Type>();
    let hour = t.column(8).as_primitive::<Int32Type>();
    let index = t.column(9).as_primitive::<Int64Type>();
    for (i, e) in events.iter().enumerate() {
        prop_assert_eq!(index.value(i), i as i64);
        prop_assert_eq!(ts.value(i), e.us);
        let utc = chrono::DateTime::from_timestamp_micros(e.us).unwrap();
        let days = utc
            .date_naive()
            .signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
            .num_days();
        prop_assert_eq!(date.value(i) as i64, days);
        prop_assert_eq!(hour.value(i) as u32, chrono::Timelike::hour(&utc));
        match e.rec.get("event_value") {
            Some(v) => prop_assert_eq!(value.value(i), v.as_f64().unwrap()),
            None => prop_assert!(value.is_null(i)),
        }
        match e.rec.get("product_id") {
            Some(v) => prop_assert_eq!(product.value(i), v.as_str().unwrap()),
            None => prop_assert_eq!(product.value(i), "unknown"),
        }
        match e.rec.get("properties") {
            Some(p) => prop_assert_eq!(props.value(i), serde_json::to_string(p).unwrap()),
            None => prop_assert!(props.is_null(i)),
        }
    }
    Ok(())
}

#[test]
fn dedup_keeps_first_valid_across_batches_and_seen() {
    // an invalid first occurrence never hides the valid one after it
    let s = schema();
    let rules = Rules::from_json(RULES, &s).unwrap();
    let ev = |id: &str, ty: &str| {
        format!("{{\"event_id\":\"{id}\",\"user_id\":\"u\",\"event_type\":\"{ty}\",\"event_timestamp\":0}}\n")
    };
    let doc = [
        ev("x", "nope"),
        ev("x", "view"),
        ev("x", "click"),
        ev("y", "view"),
        ev("z", "view"),
    ]
    .concat();
    let out = process(doc.as_bytes(), "ndjson", &s, &rules, &["y".to_string()]).unwrap();
    let idx: Vec<i64> = out
        .valid
        .concat()
        .unwrap()
        .column(9)
        .as_primitive::<Int64Type>()
        .values()
        .to_vec();
    assert_eq!(idx, vec![1, 4]);
    assert_eq!((out.invalid_count, out.duplicate_count), (1, 2));
}
