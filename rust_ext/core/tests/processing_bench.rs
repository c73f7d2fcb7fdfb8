//! Throughput of the parsers and the fused pipeline on generated events. Off
//! by default (the end-to-end comparison against Python, polars, DuckDB and
//! pyarrow is `python -m eventlake.bench.processor`):
//!
//!     cargo test --release -p eventlake-core --test processing_bench -- --ignored --nocapture
//!
//! `BENCH_EVENTS` sets the number of events (default 200000).

use std::time::Instant;

use eventlake_core::parse;
use eventlake_core::process::process;
use eventlake_core::schema::{Rules, Schema};

/// The events contract, generated from platform/contracts.py (a test there keeps it in step).
const EVENTS: &str = include_str!("../../../contracts/events.schema.json");
/// The events transform rules, generated from platform/contracts.py.
const RULES: &str = include_str!("../../../contracts/events.rules.json");

/// NDJSON and CSV of `n` events: 2% repeated ids, 1% invalid.
fn generate(n: usize) -> (Vec<u8>, Vec<u8>) {
    let mut nd = Vec::with_capacity(n * 280);
    let mut csv =
        b"event_id,user_id,event_type,event_timestamp,event_value,product_id,properties\n".to_vec();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let types = ["view", "click", "add_to_cart", "purchase"];
    for i in 0..n {
        let r = rnd();
        let id = if r % 50 == 0 && i > 0 {
            format!("{:016x}-{:08x}", (r >> 8) as usize % i, 0)
        } else {
            format!("{i:016x}-{:08x}", 0)
        };
        let ty = if r % 100 == 1 {
            "teleport"
        } else {
            types[(r >> 16) as usize % 4]
        };
        let ms = 1_767_225_600_000u64 + (r >> 20) % 7_776_000_000;
        let ts = match r % 3 {
            0 => ms.to_string(),
            1 => format!(
                "\"2026-0{}-{:02}T{:02}:{:02}:{:02}.{:03}Z\"",
                1 + (r >> 5) % 3,
                1 + (r >> 9) % 28,
                (r >> 14) % 24,
                (r >> 19) % 60,
                (r >> 25) % 60,
                ms % 1000
            ),
            _ => format!(
                "\"2026-0{}-{:02}T{:02}:{:02}:{:02}+05:30\"",
                1 + (r >> 5) % 3,
                1 + (r >> 9) % 28,
                (r >> 14) % 24,
                (r >> 19) % 60,
                (r >> 25) % 60
            ),
        };
        let value = (r >> 30) % 200_000;
        let props = format!(
            "{{\"page\":\"/products/{}\",\"referrer\":\"newsletter\",\"session_id\":\"s_{:08x}\",\"device\":{{\"os\":\"web\",\"app_version\":\"3.{}.{}\"}}}}",
            r % 10_000,
            r >> 32,
            r % 10,
            (r >> 4) % 10
        );
        nd.extend_from_slice(
            format!(
                "{{\"event_id\":\"{id}\",\"user_id\":\"user_{:07}\",\"event_type\":\"{ty}\",\"event_timestamp\":{ts},\"event_value\":{}.{:02},\"product_id\":\"prod_{:05}\",\"properties\":{props}}}\n",
                r % 50_000,
                value / 100,
                value % 100,
                r % 20_000
            )
            .as_bytes(),
        );
        csv.extend_from_slice(
            format!(
                "{id},user_{:07},{ty},{},{}.{:02},prod_{:05},\"{}\"\n",
                r % 50_000,
                ts.trim_matches('"'),
                value / 100,
                value % 100,
                r % 20_000,
                props.replace('"', "\"\"")
            )
            .as_bytes(),
        );
    }
    (nd, csv)
}

fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::MAX;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(r);
    }
    (best, out.unwrap())
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn processing_throughput() {
    let n: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let (nd, csv) = generate(n);
    let schema = Schema::from_json(EVENTS).unwrap();
    let rules = Rules::from_json(RULES, &schema).unwrap();
    println!("{n} events, {} threads", rayon::current_num_threads());
    for (name, data) in [("ndjson", &nd), ("csv", &csv)] {
        let mb = data.len() as f64 / 1e6;
        let (tp, raw) = best(5, || {
            if name == "csv" {
                parse::parse_csv(data, b',', &["properties".to_string()], false).unwrap()
            } else {
                parse::parse_json(data, false).unwrap()
            }
        });
        let (tw, out) = best(5, || process(data, name, &schema, &rules, &[]).unwrap());
        assert_eq!(raw.num_rows(), n);
        assert_eq!(out.record_count, n);
        println!(
            "{name:>6}: {mb:.1} MB | parse {:.0} ms = {:.2} M events/s ({:.0} MB/s) | process {:.0} ms = {:.2} M events/s ({:.0} MB/s); valid {}, invalid {}, duplicates {}",
            tp * 1e3,
            n as f64 / tp / 1e6,
            mb / tp,
            tw * 1e3,
            n as f64 / tw / 1e6,
            mb / tw,
            out.valid_count,
            out.invalid_count,
            out.duplicate_count
        );
    }
}
