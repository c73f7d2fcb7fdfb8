//! Writer benchmark, off by default: `cargo test --release -p eventlake-core --test writer_bench -- --ignored --nocapture`.
//! Prints the time per phase and per column so encoding choices can be compared.

use std::sync::Arc;
use std::time::Instant;

use arrow_array::{
    ArrayRef, Date32Array, Float64Array, Int32Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use eventlake_core::iceberg::{IcebergSchema, PartitionSpec};
use eventlake_core::writer::{write_iceberg_parquet, WriteOptions};

const EVENTS_SCHEMA: &str = r#"{"type":"struct","fields":[{"id":1,"name":"event_id","type":"string","required":true},{"id":2,"name":"user_id","type":"string","required":true},{"id":3,"name":"event_type","type":"string","required":true},{"id":4,"name":"event_timestamp","type":"timestamptz","required":true},{"id":5,"name":"event_value","type":"double","required":false},{"id":6,"name":"product_id","type":"string","required":false},{"id":7,"name":"properties","type":"string","required":false},{"id":8,"name":"event_date","type":"date","required":true},{"id":9,"name":"event_hour","type":"int","required":true},{"id":10,"name":"job_id","type":"string","required":true},{"id":11,"name":"ingested_at","type":"timestamptz","required":true}]}"#;
const DAY_SPEC: &str = r#"{"fields":[{"source-id":4,"field-id":1000,"transform":"day","name":"event_timestamp_day"}]}"#;

fn batch(n: usize, days: i64, sorted: bool) -> RecordBatch {
    let mut x: u64 = 0x9E3779B97F4A7C15;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let base = 1_795_478_400_000_000i64;
    let mut ts: Vec<i64> = (0..n)
        .map(|_| base + (rnd() % (days as u64 * 86_400_000_000)) as i64)
        .collect();
    if sorted {
        ts.sort_unstable();
    }
    let types = ["view", "click", "add_to_cart", "purchase"];
    let cols: Vec<(&str, ArrayRef)> = vec![
        (
            "event_id",
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| format!("0b7c{:028x}", i as u64 * 2654435761)),
            )),
        ),
        (
            "user_id",
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|_| format!("user-{:06}", rnd() % 100_000)),
            )),
        ),
        (
            "event_type",
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|_| types[(rnd() % 4) as usize]),
            )),
        ),
        (
            "event_timestamp",
            Arc::new(TimestampMicrosecondArray::from(ts.clone()).with_timezone("UTC")),
        ),
        (
            "event_value",
            Arc::new(Float64Array::from_iter(
                (0..n).map(|i| (i % 4 != 0).then(|| (rnd() % 100_000) as f64 / 100.0)),
            )),
        ),
        (
            "product_id",
            Arc::new(StringArray::from_iter(
                (0..n).map(|i| (i % 2 == 0).then(|| format!("p-{}", rnd() % 500))),
            )),
        ),
        (
            "properties",
            Arc::new(StringArray::from_iter((0..n).map(|i| {
                (i % 3 == 0).then_some(r#"{"page":"/home","ref":"ad"}"#)
            }))),
        ),
        (
            "event_date",
            Arc::new(Date32Array::from_iter_values(
                ts.iter().map(|t| t.div_euclid(86_400_000_000) as i32),
            )),
        ),
        (
            "event_hour",
            Arc::new(Int32Array::from_iter_values(
                ts.iter()
                    .map(|t| (t.rem_euclid(86_400_000_000) / 3_600_000_000) as i32),
            )),
        ),
        (
            "job_id",
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| format!("job-{}", i / 10_000)),
            )),
        ),
        (
            "ingested_at",
            Arc::new(TimestampMicrosecondArray::from(vec![base; n]).with_timezone("UTC")),
        ),
    ];
    RecordBatch::try_from_iter_with_nullable(cols.into_iter().map(|(name, a)| (name, a, true)))
        .unwrap()
}

#[test]
#[ignore]
fn bench_writer() {
    let n = 1_000_000;
    let schema = IcebergSchema::from_json(EVENTS_SCHEMA).unwrap();
    for (label, spec, days, sorted) in [
        ("unpartitioned", r#"{"fields":[]}"#, 3, false),
        ("day, 1 day", DAY_SPEC, 1, false),
        ("day, 3 days shuffled", DAY_SPEC, 3, false),
        ("day, 3 days in time order", DAY_SPEC, 3, true),
    ] {
        let b = batch(n, days, sorted);
        let spec = PartitionSpec::from_json(spec, &schema).unwrap();
        let mut best = f64::MAX;
        let mut bytes = 0;
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let t = Instant::now();
            let files = write_iceberg_parquet(
                std::slice::from_ref(&b),
                dir.path().to_str().unwrap(),
                &schema,
                &spec,
                &WriteOptions::default(),
            )
            .unwrap();
            best = best.min(t.elapsed().as_secs_f64());
            bytes = files.iter().map(|f| f.file_size_in_bytes).sum::<i64>();
        }
        println!(
            "{label:28} {n} rows: {best:.3} s, {:.1} MB",
            bytes as f64 / 1e6
        );
    }
    // per column, unpartitioned, one file each
    let b = batch(n, 3, false);
    for (i, f) in schema.fields.iter().enumerate() {
        let one = IcebergSchema {
            schema_id: 0,
            fields: vec![f.clone()],
        };
        let spec = PartitionSpec::from_json(r#"{"fields":[]}"#, &one).unwrap();
        let col = b.project(&[i]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let t = Instant::now();
        let files = write_iceberg_parquet(
            &[col],
            dir.path().to_str().unwrap(),
            &one,
            &spec,
            &WriteOptions::default(),
        )
        .unwrap();
        println!(
            "  {:16} {:.3} s, {:.1} MB",
            f.name,
            t.elapsed().as_secs_f64(),
            files[0].file_size_in_bytes as f64 / 1e6
        );
    }
}
