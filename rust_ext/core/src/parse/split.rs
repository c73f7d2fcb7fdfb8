//! `split_payload`: cutting a request body into self-contained NDJSON or CSV
//! chunks of bounded size.

use std::ops::Range;

use super::{
    check_size, refuse_empty, refuse_faults, run_csv, run_json, Body, CsvPlan, Fault, Format,
    JsonPlan, Sink,
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
    match fmt {
        Format::Json | Format::Ndjson => {
            refuse_empty(data, "empty request body: no JSON records")?;
            let plan = JsonPlan::build(data)?;
            let chunks = run_json(data, &plan, |_| SpanChunk::default());
            refuse_faults(data, &chunks, "JSON")?;
            if chunks.iter().map(|c| c.n).sum::<usize>() == 0 {
                return Err(CoreError::parse_at(
                    "the request holds no records (empty JSON array)",
                    Some(1),
                    Some(0),
                ));
            }
            let mut packer = Packer::new(Vec::new(), max_chunk_bytes);
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
                    packer.push(text);
                }
            }
            Ok(packer.finish())
        }
        Format::Csv => {
            let plan = CsvPlan::build(data, b',')?;
            let chunks = run_csv(data, &plan, |_| SpanChunk::default());
            refuse_faults(data, &chunks, "CSV")?;
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
            let mut packer = Packer::new(header, max_chunk_bytes);
            for c in &chunks {
                for s in &c.spans {
                    packer.push(&data[s.clone()]);
                }
            }
            Ok(packer.finish())
        }
        Format::Parquet => unreachable!(),
    }
}

/// Packs records, one a line, into chunks that start with `head` (the CSV
/// header, or nothing) and hold at most `max` bytes unless one record is larger.
struct Packer {
    head: Vec<u8>,
    max: usize,
    cur: Vec<u8>,
    count: usize,
    out: Vec<(Vec<u8>, usize)>,
}

impl Packer {
    fn new(head: Vec<u8>, max: usize) -> Packer {
        Packer {
            cur: head.clone(),
            head,
            max,
            count: 0,
            out: Vec::new(),
        }
    }

    fn push(&mut self, text: &[u8]) {
        if self.count > 0 && self.cur.len() + text.len() + 1 > self.max {
            let full = std::mem::replace(&mut self.cur, self.head.clone());
            self.out.push((full, self.count));
            self.count = 0;
        }
        self.cur.extend_from_slice(text);
        self.cur.push(b'\n');
        self.count += 1;
    }

    /// The chunks as (bytes, record count) pairs, in input order.
    fn finish(mut self) -> Vec<(Vec<u8>, usize)> {
        if self.count > 0 {
            self.out.push((self.cur, self.count));
        }
        self.out
    }
}
