//! `split_payload`: cutting a request body into self-contained NDJSON or CSV
//! chunks of bounded size.

use std::ops::Range;

use super::{
    check_size, collect_faults, empty_input, run_csv, run_json, strict_error, Body, CsvPlan, Fault,
    Format, JsonPlan, Sink,
};
use crate::error::{CoreError, Result};
use crate::json;

/// Per-chunk collector for split_payload: record spans (minified when they
/// span lines), and faults.
#[derive(Default)]
pub(super) struct SpanChunk {
    pub(super) n: usize,
    spans: Vec<Range<usize>>,
    owned: Vec<(usize, Vec<u8>)>, // (position in spans, minified text)
    pub(super) errors: Vec<(u32, usize, String)>,
}

impl Sink for SpanChunk {
    fn record(
        &mut self,
        data: &[u8],
        raw: Range<usize>,
        body: std::result::Result<Body<'_>, Fault>,
    ) {
        let row = self.n as u32;
        self.n += 1;
        match body {
            Err(f) => self.errors.push((row, f.pos, f.message.into_owned())),
            Ok(_) => {
                let text = &data[raw.clone()];
                if memchr::memchr2(b'\n', b'\r', text).is_some() && data[raw.start] == b'{' {
                    let mut m = Vec::with_capacity(text.len());
                    json::minify_into(text, &mut m);
                    self.owned.push((self.spans.len(), m));
                }
                self.spans.push(raw);
            }
        }
    }
}

/// Validate `data` and cut it into self-contained chunks of at most
/// `max_chunk_bytes` (unless one record is larger): NDJSON for JSON input, CSV
/// with the header repeated for CSV. Returns (chunk, record count) pairs.
pub fn split_payload(
    data: &[u8],
    format: &str,
    max_chunk_bytes: usize,
) -> Result<Vec<(Vec<u8>, usize)>> {
    let fmt = Format::from_name(format)?;
    if fmt == Format::Parquet {
        return Err(CoreError::UnsupportedFormat {
            format: format.to_string(),
        });
    }
    if max_chunk_bytes == 0 {
        return Err(CoreError::input("max_chunk_bytes must be positive"));
    }
    check_size(data)?;
    let mut out: Vec<(Vec<u8>, usize)> = Vec::new();
    match fmt {
        Format::Json | Format::Ndjson => {
            if empty_input(data) {
                return Err(CoreError::parse_at(
                    "empty request body: no JSON records",
                    Some(1),
                    Some(0),
                ));
            }
            let plan = JsonPlan::build(data)?;
            let chunks = run_json(data, &plan, |_| SpanChunk::default());
            let faults = collect_faults(&chunks);
            if !faults.is_empty() {
                return Err(strict_error(data, faults, "JSON"));
            }
            if chunks.iter().map(|c| c.n).sum::<usize>() == 0 {
                return Err(CoreError::parse_at(
                    "the request holds no records (empty JSON array)",
                    Some(1),
                    Some(0),
                ));
            }
            let mut cur: Vec<u8> = Vec::new();
            let mut count = 0;
            for c in &chunks {
                let mut owned = c.owned.iter().peekable();
                for (i, s) in c.spans.iter().enumerate() {
                    let text: &[u8] = match owned.peek() {
                        Some((k, m)) if *k == i => {
                            owned.next();
                            m
                        }
                        _ => &data[s.clone()],
                    };
                    if count > 0 && cur.len() + text.len() + 1 > max_chunk_bytes {
                        out.push((std::mem::take(&mut cur), count));
                        count = 0;
                    }
                    cur.extend_from_slice(text);
                    cur.push(b'\n');
                    count += 1;
                }
            }
            if count > 0 {
                out.push((cur, count));
            }
        }
        Format::Csv => {
            let plan = CsvPlan::build(data, b',')?;
            let chunks = run_csv(data, &plan, |_| SpanChunk::default());
            let faults = collect_faults(&chunks);
            if !faults.is_empty() {
                return Err(strict_error(data, faults, "CSV"));
            }
            let total: usize = chunks.iter().map(|c| c.n).sum();
            if total == 0 {
                return Err(CoreError::parse_at(
                    "the request holds no records (CSV header only)",
                    Some(1),
                    Some(0),
                ));
            }
            let mut header = data[plan.header_span.clone()].to_vec();
            if header.last() == Some(&b'\r') {
                header.pop();
            }
            header.push(b'\n');
            let mut cur = header.clone();
            let mut count = 0;
            for c in &chunks {
                for s in &c.spans {
                    let text = &data[s.clone()];
                    if count > 0 && cur.len() + text.len() + 1 > max_chunk_bytes {
                        out.push((std::mem::replace(&mut cur, header.clone()), count));
                        count = 0;
                    }
                    cur.extend_from_slice(text);
                    cur.push(b'\n');
                    count += 1;
                }
            }
            if count > 0 {
                out.push((cur, count));
            }
        }
        Format::Parquet => unreachable!(),
    }
    Ok(out)
}
