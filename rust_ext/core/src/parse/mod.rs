//! Parsing JSON (array, single object, NDJSON) and CSV into records, in
//! parallel, and building the raw batch or request chunks from them.
//!
//! Records are found in two steps. A *plan* cuts the input into chunks at
//! points that are record boundaries whatever the content (see
//! [`JsonPlan`] and [`CsvPlan`]); then every chunk is scanned on its own thread
//! by a *driver* that hands each record to a [`Sink`]. The chunk cuts never
//! change which records are found, so the output is the same for any number of
//! threads, and results are concatenated in input order.
//!
//! Malformed records never stop the scan: a malformed JSON record ends at the
//! end of the line it starts on (exactly NDJSON's rule) and scanning resumes
//! on the next line; a malformed CSV record is one lexical record.

use std::borrow::Cow;
use std::ops::Range;

use serde_json::Value;

use crate::csvscan::{count_byte, Cell};
use crate::error::{CoreError, Detail, Result};
use crate::json::{self, Tok};

mod csv_plan;
mod json_plan;
mod raw_batch;
mod split;

pub use csv_plan::{drive_csv_chunk, run_csv, CsvPlan};
pub use json_plan::{drive_json_chunk, run_json, JsonPlan};
pub use raw_batch::{parse_csv, parse_json, string_array, ArrowTable, Loc};
pub use split::split_payload;

/// Largest input accepted (Arrow utf8 offsets are 32-bit).
pub const MAX_INPUT_BYTES: usize = i32::MAX as usize;
/// Column names of the raw batch layout.
pub const INDEX_COL: &str = "_index";
pub const RAW_COL: &str = "_raw";
pub const PARSE_ERROR_COL: &str = "_parse_error";
/// Schema metadata key telling validation how to read the raw cells.
pub const FORMAT_META: &str = "eventlake.format";

/// Input formats known to the processor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Ndjson,
    Csv,
    Parquet,
}

impl Format {
    /// Parse a format name (case-insensitive); anything else is an
    /// UnsupportedFormat error.
    pub fn from_name(name: &str) -> Result<Format> {
        match name.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "ndjson" => Ok(Format::Ndjson),
            "csv" => Ok(Format::Csv),
            "parquet" => Ok(Format::Parquet),
            _ => Err(CoreError::UnsupportedFormat {
                format: name.to_string(),
            }),
        }
    }
}

// ---------------------------------------------------------------------------
// records and sinks
// ---------------------------------------------------------------------------

/// What a driver hands to a sink for each record.
pub enum Body<'r> {
    /// A JSON object's own members, as (key, value) tokens.
    Json(&'r [(Tok, Tok)]),
    /// A CSV record's cells (as many as there are header columns).
    Csv(&'r [Cell]),
}

/// A record that could not be parsed: where and why.
#[derive(Clone, Debug)]
pub struct Fault {
    pub pos: usize,
    pub message: Cow<'static, str>,
}

pub trait Sink {
    /// `raw` is the record's text span in the input.
    fn record(
        &mut self,
        data: &[u8],
        raw: Range<usize>,
        body: std::result::Result<Body<'_>, Fault>,
    );
}

fn skip_bom(data: &[u8]) -> usize {
    if data.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    }
}

fn skip_ws(data: &[u8], mut i: usize) -> usize {
    while i < data.len() && json::is_ws(data[i]) {
        i += 1;
    }
    i
}

/// Number of chunks to cut `len` bytes into.
fn chunk_count(len: usize) -> usize {
    const MIN_CHUNK: usize = 1 << 20;
    if len < 2 * MIN_CHUNK {
        return 1;
    }
    let threads = rayon::current_num_threads().max(1);
    (len / MIN_CHUNK).clamp(1, threads * 8)
}

pub fn check_size(data: &[u8]) -> Result<()> {
    if data.len() > MAX_INPUT_BYTES {
        return Err(CoreError::parse_at(
            format!(
                "input of {} bytes is larger than the {} byte limit",
                data.len(),
                MAX_INPUT_BYTES
            ),
            None,
            None,
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// line numbers
// ---------------------------------------------------------------------------

/// 1-based line of byte `pos`.
pub fn line_of(data: &[u8], pos: usize) -> u64 {
    count_byte(&data[..pos.min(data.len())], b'\n') as u64 + 1
}

/// 1-based lines of sorted positions, in one pass.
pub fn lines_of_sorted(data: &[u8], positions: &[usize]) -> Vec<u64> {
    let mut out = Vec::with_capacity(positions.len());
    let mut at = 0usize;
    let mut line = 1u64;
    for &p in positions {
        let p = p.min(data.len());
        if p >= at {
            line += count_byte(&data[at..p], b'\n') as u64;
            at = p;
        } else {
            line = line_of(data, p);
            at = p;
        }
        out.push(line);
    }
    out
}

/// The text of a record for display: lossy when it is not UTF-8.
pub fn raw_text(data: &[u8], r: Range<usize>) -> Cow<'_, str> {
    String::from_utf8_lossy(&data[r])
}

// ---------------------------------------------------------------------------
// malformed records
// ---------------------------------------------------------------------------

fn strict_error(data: &[u8], faults: Vec<(usize, usize, String)>, what: &str) -> CoreError {
    // faults: (record index, byte position, message)
    let positions: Vec<usize> = faults.iter().map(|f| f.1).collect();
    let lines = lines_of_sorted(data, &positions);
    let details: Vec<Detail> = faults
        .iter()
        .zip(&lines)
        .map(|((rec, pos, msg), line)| {
            let mut d = Detail::new();
            d.insert("line".into(), Value::from(*line));
            d.insert("offset".into(), Value::from(*pos as u64));
            d.insert("record".into(), Value::from(*rec as u64));
            d.insert("message".into(), Value::from(msg.clone()));
            d
        })
        .collect();
    let first = &faults[0];
    let n = faults.len();
    let message = format!(
        "malformed {what}: {} at line {}, offset {}{}",
        first.2,
        lines[0],
        first.1,
        if n > 1 {
            format!(" (and {} more malformed records)", n - 1)
        } else {
            String::new()
        }
    );
    CoreError::Parse {
        message,
        line: Some(lines[0]),
        offset: Some(first.1 as u64),
        details,
    }
}

/// A chunk's record count and its faults as (row in chunk, byte position, message).
trait Faults {
    fn records(&self) -> usize;
    fn faults(&self) -> &[(u32, usize, String)];
}

macro_rules! impl_faults {
    ($($chunk:ty),*) => {$(
        impl Faults for $chunk {
            fn records(&self) -> usize {
                self.n
            }
            fn faults(&self) -> &[(u32, usize, String)] {
                &self.errors
            }
        }
    )*};
}
impl_faults!(raw_batch::RawChunk, split::SpanChunk);

/// Every chunk's faults, with rows numbered across chunks.
fn collect_faults<C: Faults>(chunks: &[C]) -> Vec<(usize, usize, String)> {
    let mut base = 0;
    let mut out = Vec::new();
    for c in chunks {
        for (row, pos, msg) in c.faults() {
            out.push((base + *row as usize, *pos, msg.clone()));
        }
        base += c.records();
    }
    out
}

/// A ParseError (line 1, offset 0) when `data` holds nothing but a BOM and
/// white space.
fn refuse_empty(data: &[u8], message: &'static str) -> Result<()> {
    if data[skip_bom(data)..].iter().all(|c| json::is_ws(*c)) {
        return Err(CoreError::parse_at(message, Some(1), Some(0)));
    }
    Ok(())
}

/// The strict error listing every malformed record, when a chunk holds one.
fn refuse_faults<C: Faults>(data: &[u8], chunks: &[C], what: &str) -> Result<()> {
    let faults = collect_faults(chunks);
    if faults.is_empty() {
        Ok(())
    } else {
        Err(strict_error(data, faults, what))
    }
}

/// Dispatch on format for the text formats (parquet is read elsewhere);
/// `json_columns` are the CSV columns holding JSON text.
pub fn parse(data: &[u8], format: &str, json_columns: &[String]) -> Result<ArrowTable> {
    match Format::from_name(format)? {
        Format::Json | Format::Ndjson => parse_json(data, true),
        Format::Csv => parse_csv(data, b',', json_columns, true),
        Format::Parquet => Err(CoreError::input("parquet input is read by parse_parquet")),
    }
}

#[cfg(test)]
mod tests;
