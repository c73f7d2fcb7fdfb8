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
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema as ArrowSchema, SchemaRef};
use rayon::prelude::*;
use serde_json::Value;

use crate::csvscan::{self, Cell};
use crate::error::{CoreError, Detail, Result};
use crate::json::{self, RecordFault, Scanner, Tok};

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
// JSON plan
// ---------------------------------------------------------------------------

/// How a JSON input is cut into work.
pub enum JsonPlan {
    /// A stream of top-level values (one object, NDJSON, concatenated values):
    /// chunk ranges where records *start*. Cuts are at line breaks with '}'
    /// as the last non-blank byte before and '{' as the first after: valid
    /// JSON can only have that between two top-level values, and a malformed
    /// record never extends past the end of its first line, so a cut is a
    /// record boundary in every case.
    Stream { chunks: Vec<Range<usize>> },
    /// A top-level array: element spans (found by a structural skim that
    /// tracks strings and depth), grouped into chunks, plus an optional final
    /// malformed record when the array's structure is broken.
    Array {
        elems: Vec<Range<usize>>,
        chunks: Vec<Range<usize>>,
        tail: Option<(Range<usize>, Fault)>,
    },
}

impl JsonPlan {
    pub fn build(data: &[u8]) -> Result<JsonPlan> {
        check_size(data)?;
        let start = skip_ws(data, skip_bom(data));
        if data.get(start) == Some(&b'[') {
            let (elems, tail) = skim_array(data, start);
            let n = chunk_count(data.len());
            let per = elems.len().div_ceil(n).max(1);
            let chunks = (0..elems.len())
                .step_by(per)
                .map(|s| s..(s + per).min(elems.len()))
                .collect();
            Ok(JsonPlan::Array {
                elems,
                chunks,
                tail,
            })
        } else {
            Ok(JsonPlan::Stream {
                chunks: stream_chunks(data, start),
            })
        }
    }
}

fn is_cut(data: &[u8], nl: usize) -> Option<usize> {
    // previous non-blank byte must be '}' and next non-blank '{'
    let mut j = nl;
    while j > 0 && matches!(data[j - 1], b' ' | b'\t' | b'\r' | b'\n') {
        j -= 1;
    }
    if j == 0 || data[j - 1] != b'}' {
        return None;
    }
    let k = skip_ws(data, nl + 1);
    (data.get(k) == Some(&b'{')).then_some(k)
}

fn stream_chunks(data: &[u8], start: usize) -> Vec<Range<usize>> {
    let n = chunk_count(data.len() - start);
    let mut cuts = vec![start];
    let step = (data.len() - start) / n.max(1);
    for t in 1..n {
        let mut p = (start + t * step).max(*cuts.last().unwrap());
        let mut found = None;
        while let Some(k) = memchr::memchr(b'\n', &data[p..]) {
            let nl = p + k;
            if let Some(next) = is_cut(data, nl) {
                found = Some(next);
                break;
            }
            p = nl + 1;
        }
        match found {
            Some(c) if c > *cuts.last().unwrap() => cuts.push(c),
            Some(_) => {}
            None => break,
        }
    }
    cuts.push(data.len());
    cuts.windows(2)
        .map(|w| w[0]..w[1])
        .filter(|r| !r.is_empty())
        .collect()
}

/// Element spans, and a final malformed record when the structure is broken.
type Skim = (Vec<Range<usize>>, Option<(Range<usize>, Fault)>);

/// Find the element spans of the array opening at `data[open] == '['`.
fn skim_array(data: &[u8], open: usize) -> Skim {
    let mut elems = Vec::new();
    let mut depth = 0usize;
    let mut i = open + 1;
    let mut elem_start: Option<usize> = None; // first non-blank byte of the current element
    let mut last_end = i; // one past the last non-blank byte of the current element
    let fault = |elems: Vec<Range<usize>>, from: usize, pos: usize, msg: &'static str| {
        (
            elems,
            Some((
                from..data.len(),
                Fault {
                    pos,
                    message: msg.into(),
                },
            )),
        )
    };
    loop {
        let Some(&c) = data.get(i) else {
            let from = elem_start.unwrap_or(open);
            return fault(elems, from, data.len(), "unterminated JSON array");
        };
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'"' => {
                elem_start.get_or_insert(i);
                let s = i;
                i += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', &data[i..]) {
                        None => {
                            let from = elem_start.unwrap_or(s);
                            return fault(elems, from, s, "unterminated string");
                        }
                        Some(k) => {
                            if data[i + k] == b'\\' {
                                i += k + 2;
                                if i > data.len() {
                                    return fault(
                                        elems,
                                        elem_start.unwrap_or(s),
                                        s,
                                        "unterminated string",
                                    );
                                }
                            } else {
                                i += k + 1;
                                break;
                            }
                        }
                    }
                }
                last_end = i;
                continue;
            }
            b'{' | b'[' => {
                elem_start.get_or_insert(i);
                depth += 1;
            }
            b'}' | b']' => {
                if depth == 0 {
                    // closes the array itself
                    if c == b'}' {
                        return fault(
                            elems,
                            elem_start.unwrap_or(i),
                            i,
                            "mismatched '}' closing the JSON array",
                        );
                    }
                    match elem_start {
                        Some(s) => elems.push(s..last_end),
                        None if !elems.is_empty() => {
                            return fault(elems, i, i, "trailing comma in the JSON array");
                        }
                        None => {}
                    }
                    let after = skip_ws(data, i + 1);
                    if after < data.len() {
                        return (
                            elems,
                            Some((
                                after..data.len(),
                                Fault {
                                    pos: after,
                                    message: "unexpected data after the JSON array".into(),
                                },
                            )),
                        );
                    }
                    return (elems, None);
                }
                depth -= 1;
            }
            b',' if depth == 0 => {
                match elem_start.take() {
                    Some(s) => elems.push(s..last_end),
                    None => return fault(elems, i, i, "missing value in the JSON array"),
                }
                i += 1;
                continue;
            }
            _ => {
                elem_start.get_or_insert(i);
            }
        }
        i += 1;
        last_end = i;
    }
}

/// Scan the records of one chunk of a JSON plan into `sink`.
pub fn drive_json_chunk<S: Sink>(data: &[u8], plan: &JsonPlan, chunk: usize, sink: &mut S) {
    let mut members = Vec::with_capacity(16);
    match plan {
        JsonPlan::Stream { chunks } => {
            let range = chunks[chunk].clone();
            let mut sc = Scanner::new(data, range.start);
            sc.skip_ws();
            while sc.i < range.end {
                let start = sc.i;
                match json::scan_record(&mut sc, &mut members) {
                    Ok(_) if sc.i >= data.len() || json::is_ws(data[sc.i]) => {
                        sink.record(data, start..sc.i, Ok(Body::Json(&members)));
                    }
                    outcome => {
                        let (pos, message) = match outcome {
                            Ok(_) => (sc.i, "expected a line break after the record".into()),
                            Err(f) => (f.pos(), f.message()),
                        };
                        // the malformed record is the rest of its first line
                        // (NDJSON's rule), whatever a multi-line reading found
                        let eol =
                            memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |k| start + k);
                        let end = if eol > start && data[eol - 1] == b'\r' {
                            eol - 1
                        } else {
                            eol
                        };
                        let fault = if pos <= eol {
                            Fault { pos, message }
                        } else {
                            let below = data[eol..pos].iter().filter(|&&c| c == b'\n').count();
                            Fault {
                                pos: end,
                                message: format!(
                                    "incomplete record at the end of the line (read on across lines: {message} at offset {pos}, {below} line(s) below)"
                                )
                                .into(),
                            }
                        };
                        sink.record(data, start..end, Err(fault));
                        sc.i = eol;
                    }
                }
                sc.skip_ws();
            }
        }
        JsonPlan::Array {
            elems,
            chunks,
            tail,
        } => {
            let range = chunks.get(chunk).cloned().unwrap_or(0..0);
            for e in &elems[range] {
                let view = &data[..e.end];
                let mut sc = Scanner::new(view, e.start);
                match json::scan_record(&mut sc, &mut members) {
                    Ok(_) if sc.i == e.end => {
                        sink.record(data, e.clone(), Ok(Body::Json(&members)))
                    }
                    Ok(_) => sink.record(
                        data,
                        e.clone(),
                        Err(Fault {
                            pos: sc.i,
                            message: "expected ',' or ']' after an array element".into(),
                        }),
                    ),
                    Err(RecordFault::Syntax(se)) if se.pos >= e.end => sink.record(
                        data,
                        e.clone(),
                        Err(Fault {
                            pos: se.pos,
                            message: format!("{} (element ends early)", se.msg).into(),
                        }),
                    ),
                    Err(f) => sink.record(
                        data,
                        e.clone(),
                        Err(Fault {
                            pos: f.pos(),
                            message: f.message(),
                        }),
                    ),
                }
            }
            let last = chunks.len().saturating_sub(1);
            if chunk == last {
                if let Some((r, f)) = tail {
                    sink.record(data, r.clone(), Err(f.clone()));
                }
            }
        }
    }
}

impl JsonPlan {
    pub fn n_chunks(&self) -> usize {
        match self {
            JsonPlan::Stream { chunks } => chunks.len(),
            JsonPlan::Array { chunks, tail, .. } => chunks.len().max(usize::from(tail.is_some())),
        }
    }
}

/// Run `make(i)` sinks over all chunks of a JSON plan in parallel; results in
/// input order.
pub fn run_json<S, F>(data: &[u8], plan: &JsonPlan, make: F) -> Vec<S>
where
    S: Sink + Send,
    F: Fn(usize) -> S + Sync,
{
    let n = plan.n_chunks();
    let run = |i: usize| {
        let mut s = make(i);
        drive_json_chunk(data, plan, i, &mut s);
        s
    };
    if n <= 1 {
        (0..n).map(run).collect()
    } else {
        (0..n).into_par_iter().map(run).collect()
    }
}

// ---------------------------------------------------------------------------
// CSV plan
// ---------------------------------------------------------------------------

pub struct CsvPlan {
    pub delimiter: u8,
    pub header: Vec<String>,
    /// Span of the header line.
    pub header_span: Range<usize>,
    /// Chunk ranges where records start (after the header).
    pub chunks: Vec<Range<usize>>,
}

impl CsvPlan {
    pub fn build(data: &[u8], delimiter: u8) -> Result<CsvPlan> {
        check_size(data)?;
        if matches!(delimiter, b'"' | b'\n' | b'\r') || !delimiter.is_ascii() {
            return Err(CoreError::input(format!(
                "invalid CSV delimiter {:?}: must be one ASCII character other than a quote or line break",
                delimiter as char
            )));
        }
        let mut start = skip_bom(data);
        // blank lines before the header are skipped
        loop {
            let (e, n) = csvscan::next_segment(data, start);
            if start >= data.len() {
                return Err(CoreError::parse_at(
                    "empty input: no CSV header",
                    Some(1),
                    Some(0),
                ));
            }
            if csvscan::is_blank(data, start, e) || data[start..e].iter().all(|c| json::is_ws(*c)) {
                start = n;
                continue;
            }
            break;
        }
        let (hend, body) = csvscan::next_segment(data, start);
        let mut cells = Vec::new();
        let hline = line_of(data, start);
        if let Err(e) = std::str::from_utf8(&data[start..hend]) {
            let pos = start + e.valid_up_to();
            return Err(CoreError::parse_at(
                "invalid UTF-8 in the CSV header",
                Some(hline),
                Some(pos as u64),
            ));
        }
        csvscan::split_cells(data, start, hend, delimiter, &mut cells).map_err(|e| {
            CoreError::parse_at(
                format!("malformed CSV header: {}", e.msg),
                Some(hline),
                Some(e.pos as u64),
            )
        })?;
        let mut header = Vec::with_capacity(cells.len());
        let mut scratch = Vec::new();
        for c in &cells {
            let name = String::from_utf8_lossy(c.text(data, &mut scratch)).into_owned();
            if name.is_empty() {
                return Err(CoreError::parse_at(
                    "empty column name in the CSV header",
                    Some(hline),
                    Some(c.start as u64),
                ));
            }
            if header.contains(&name) {
                return Err(CoreError::parse_at(
                    format!("duplicate column {name:?} in the CSV header"),
                    Some(hline),
                    Some(c.start as u64),
                ));
            }
            header.push(name);
        }
        let chunks = csv_chunks(data, body);
        Ok(CsvPlan {
            delimiter,
            header,
            header_span: start..hend,
            chunks,
        })
    }
}

use crate::csvscan::count_byte;

fn csv_chunks(data: &[u8], body: usize) -> Vec<Range<usize>> {
    let len = data.len() - body;
    let n = chunk_count(len);
    if n <= 1 {
        #[allow(clippy::single_range_in_vec_init)] // one chunk: the whole body
        return vec![body..data.len()];
    }
    let step = len / n;
    let bounds: Vec<usize> = (0..n)
        .map(|t| body + t * step)
        .chain([data.len()])
        .collect();
    // quote parity before each tentative bound
    let parities: Vec<bool> = bounds
        .windows(2)
        .collect::<Vec<_>>()
        .par_iter()
        .map(|w| count_byte(&data[w[0]..w[1]], b'"') % 2 == 1)
        .collect();
    let mut cuts = vec![body];
    let mut odd = false;
    for t in 1..n {
        odd ^= parities[t - 1];
        // first line break at or after bounds[t] with an even quote count before it
        let mut p = bounds[t];
        let mut q = odd;
        let mut cut = None;
        while let Some(k) = memchr::memchr2(b'"', b'\n', &data[p..]) {
            let at = p + k;
            if data[at] == b'"' {
                q = !q;
            } else if !q {
                cut = Some(at + 1);
                break;
            }
            p = at + 1;
        }
        match cut {
            Some(c) if c > *cuts.last().unwrap() && c < data.len() => cuts.push(c),
            _ => {}
        }
    }
    cuts.push(data.len());
    cuts.dedup();
    cuts.windows(2).map(|w| w[0]..w[1]).collect()
}

pub fn drive_csv_chunk<S: Sink>(data: &[u8], plan: &CsvPlan, chunk: usize, sink: &mut S) {
    let range = plan.chunks[chunk].clone();
    let mut cells = Vec::with_capacity(plan.header.len());
    let mut p = range.start;
    while p < range.end {
        let (e, next) = csvscan::next_segment(data, p);
        if csvscan::is_blank(data, p, e) {
            p = next;
            continue;
        }
        let end = if e > p && data[e - 1] == b'\r' {
            e - 1
        } else {
            e
        };
        let res = match std::str::from_utf8(&data[p..end]) {
            Err(err) => Err(Fault {
                pos: p + err.valid_up_to(),
                message: "invalid UTF-8".into(),
            }),
            Ok(_) => match csvscan::split_cells(data, p, e, plan.delimiter, &mut cells) {
                Err(se) => Err(Fault {
                    pos: se.pos,
                    message: se.msg,
                }),
                Ok(()) if cells.len() != plan.header.len() => Err(Fault {
                    pos: p,
                    message: format!(
                        "expected {} fields (as in the header), found {}",
                        plan.header.len(),
                        cells.len()
                    )
                    .into(),
                }),
                Ok(()) => Ok(Body::Csv(&cells)),
            },
        };
        sink.record(data, p..end, res);
        p = next;
    }
}

pub fn run_csv<S, F>(data: &[u8], plan: &CsvPlan, make: F) -> Vec<S>
where
    S: Sink + Send,
    F: Fn(usize) -> S + Sync,
{
    let run = |i: usize| {
        let mut s = make(i);
        drive_csv_chunk(data, plan, i, &mut s);
        s
    };
    if plan.chunks.len() <= 1 {
        (0..plan.chunks.len()).map(run).collect()
    } else {
        (0..plan.chunks.len()).into_par_iter().map(run).collect()
    }
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
// the raw batch
// ---------------------------------------------------------------------------

/// Where a value's bytes are: in the input, or in the chunk's side buffer.
#[derive(Clone, Copy, Debug)]
pub struct Loc {
    off: u32,
    len: u32,
}

const SIDE: u32 = 1 << 31;

impl Loc {
    pub const NULL: Loc = Loc {
        off: 0,
        len: u32::MAX,
    };
    #[inline]
    pub fn input(start: usize, end: usize) -> Loc {
        debug_assert!(start < SIDE as usize);
        Loc {
            off: start as u32,
            len: (end - start) as u32,
        }
    }
    #[inline]
    pub fn side(start: usize, end: usize) -> Loc {
        Loc {
            off: start as u32 | SIDE,
            len: (end - start) as u32,
        }
    }
    #[inline]
    pub fn is_null(self) -> bool {
        self.len == u32::MAX
    }
    #[inline]
    pub fn bytes<'a>(self, input: &'a [u8], side: &'a [u8]) -> &'a [u8] {
        let o = (self.off & !SIDE) as usize;
        let src = if self.off & SIDE != 0 { side } else { input };
        &src[o..o + self.len as usize]
    }
    #[inline]
    pub fn len(self) -> usize {
        if self.is_null() {
            0
        } else {
            self.len as usize
        }
    }
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
    /// Locate `s` (which must lie in `input` or be copied) without copying
    /// when it is a slice of `input`.
    #[inline]
    pub fn of(s: &[u8], input: &[u8], side: &mut Vec<u8>) -> Loc {
        let base = input.as_ptr() as usize;
        let p = s.as_ptr() as usize;
        if p >= base && p + s.len() <= base + input.len() && !s.is_empty() {
            Loc::input(p - base, p - base + s.len())
        } else {
            let st = side.len();
            side.extend_from_slice(s);
            Loc::side(st, side.len())
        }
    }
}

/// A table as a list of batches sharing one schema (one batch per chunk of
/// the input: built in parallel, never concatenated).
#[derive(Clone, Debug)]
pub struct ArrowTable {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl ArrowTable {
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }

    /// One batch holding every row (copies when there are several).
    pub fn concat(&self) -> Result<RecordBatch> {
        match self.batches.len() {
            0 => Ok(RecordBatch::new_empty(self.schema.clone())),
            1 => Ok(self.batches[0].clone()),
            _ => arrow_select::concat::concat_batches(&self.schema, &self.batches)
                .map_err(crate::error::arrow_err),
        }
    }
}

/// A utf8 column built row by row (rows may be skipped: they are null).
struct ColBuild {
    values: Vec<u8>,
    offsets: Vec<i32>,
    valid: Vec<bool>,
}

impl ColBuild {
    fn new() -> Self {
        ColBuild {
            values: Vec::new(),
            offsets: vec![0],
            valid: Vec::new(),
        }
    }

    #[inline]
    fn rows(&self) -> usize {
        self.offsets.len() - 1
    }

    #[inline]
    fn pad_to(&mut self, n: usize) {
        while self.rows() < n {
            self.offsets.push(self.values.len() as i32);
            self.valid.push(false);
        }
    }

    /// Start writing the value of `row`; a value already written for the same
    /// row is replaced (a repeated key: the last occurrence wins, as in
    /// Python's json).
    #[inline]
    fn begin(&mut self, row: usize) -> &mut Vec<u8> {
        if self.rows() == row + 1 {
            let st = self.offsets[row] as usize;
            self.values.truncate(st);
            self.offsets.pop();
            self.valid.pop();
        }
        self.pad_to(row);
        &mut self.values
    }

    #[inline]
    fn end(&mut self) {
        self.offsets.push(self.values.len() as i32);
        self.valid.push(true);
    }

    fn finish(mut self, n: usize) -> Result<StringArray> {
        self.pad_to(n);
        if self.values.len() > i32::MAX as usize {
            return Err(CoreError::parse_at(
                "a column holds more than 2 GiB of text",
                None,
                None,
            ));
        }
        let nulls = if self.valid.iter().all(|v| *v) {
            None
        } else {
            Some(NullBuffer::from(self.valid))
        };
        string_array(self.offsets, self.values, nulls)
    }
}

/// Per-chunk builder of the raw batch: Arrow buffers filled while scanning
/// (each value copied once, while it is still in cache).
struct RawChunk {
    n: usize,
    raw: ColBuild,
    errors: Vec<(u32, usize, String)>, // (row, byte position, message)
    names: Vec<Vec<u8>>,               // column names (unescaped keys), in first-seen order
    lookup: ahash::AHashMap<Vec<u8>, usize>,
    order: Vec<usize>, // column ids of the previous record's keys, by position
    cols: Vec<ColBuild>,
    scratch: Vec<u8>,
    /// CSV: whether each header column holds JSON text.
    csv_json: Vec<bool>,
}

impl RawChunk {
    fn new() -> Self {
        RawChunk {
            n: 0,
            raw: ColBuild::new(),
            errors: Vec::new(),
            names: Vec::new(),
            lookup: Default::default(),
            order: Vec::new(),
            cols: Vec::new(),
            scratch: Vec::new(),
            csv_json: Vec::new(),
        }
    }

    fn column(&mut self, name: &[u8]) -> usize {
        if let Some(&c) = self.lookup.get(name) {
            return c;
        }
        let c = self.names.len();
        self.names.push(name.to_vec());
        self.lookup.insert(name.to_vec(), c);
        self.cols.push(ColBuild::new());
        c
    }
}

impl Sink for RawChunk {
    fn record(
        &mut self,
        data: &[u8],
        raw: Range<usize>,
        body: std::result::Result<Body<'_>, Fault>,
    ) {
        let row = self.n;
        self.n += 1;
        let text = &data[raw];
        let out = self.raw.begin(row);
        match body {
            // a record that parsed is valid UTF-8 throughout
            Ok(_) => out.extend_from_slice(text),
            Err(_) => out.extend_from_slice(String::from_utf8_lossy(text).as_bytes()),
        }
        self.raw.end();
        match body {
            Err(f) => self
                .errors
                .push((row as u32, f.pos, f.message.into_owned())),
            Ok(Body::Json(members)) => {
                for (k, (key, val)) in members.iter().enumerate() {
                    if val.kind == json::Kind::Null {
                        continue;
                    }
                    let kb: &[u8] = if key.escaped {
                        self.scratch.clear();
                        json::unescape_into(key.content(data), &mut self.scratch);
                        &self.scratch
                    } else {
                        key.content(data)
                    };
                    // records usually repeat the previous record's key order
                    let col = match self.order.get(k) {
                        Some(&c) if self.names[c] == kb => c,
                        _ => {
                            let kb = kb.to_vec();
                            let c = self.column(&kb);
                            if k < self.order.len() {
                                self.order[k] = c;
                            } else {
                                self.order.push(c);
                            }
                            c
                        }
                    };
                    let col = &mut self.cols[col];
                    let out = col.begin(row);
                    match val.kind {
                        json::Kind::Object | json::Kind::Array if val.loose => {
                            json::minify_into(val.text(data), out)
                        }
                        _ => out.extend_from_slice(val.text(data)),
                    }
                    col.end();
                }
            }
            Ok(Body::Csv(cells)) => {
                for (h, cell) in cells.iter().enumerate() {
                    if cell.is_null() {
                        continue;
                    }
                    let text = cell.text(data, &mut self.scratch);
                    let col = &mut self.cols[h];
                    let out = col.begin(row);
                    let mut as_json = false;
                    if self.csv_json[h] {
                        if let Ok(t) = json::scan_single(text) {
                            if t.loose {
                                json::minify_into(&text[t.start..t.end], out);
                            } else {
                                out.extend_from_slice(&text[t.start..t.end]);
                            }
                            as_json = true;
                        }
                    }
                    if !as_json {
                        // a CSV cell is text: store it as a JSON string
                        // SAFETY: the driver validated the record as UTF-8, and a
                        // cell is cut at ASCII bytes (delimiters, quotes, line ends).
                        json::write_json_string(out, unsafe {
                            std::str::from_utf8_unchecked(text)
                        });
                    }
                    col.end();
                }
            }
        }
    }
}

/// Build the raw table (see the module docs of the Python API): one batch
/// per chunk, all with the same columns.
fn assemble_raw(
    data: &[u8],
    chunks: Vec<RawChunk>,
    format: &str,
    fixed_names: Option<&[String]>,
    lenient: bool,
) -> Result<ArrowTable> {
    // global column order: first appearance in input order
    let mut names: Vec<Vec<u8>> = match fixed_names {
        Some(n) => n.iter().map(|s| s.as_bytes().to_vec()).collect(),
        None => Vec::new(),
    };
    let mut index: ahash::AHashMap<Vec<u8>, usize> = names
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, n)| (n, i))
        .collect();
    let maps: Vec<Vec<usize>> = chunks
        .iter()
        .map(|c| {
            c.names
                .iter()
                .map(|n| {
                    *index.entry(n.clone()).or_insert_with(|| {
                        names.push(n.clone());
                        names.len() - 1
                    })
                })
                .collect()
        })
        .collect();

    let mut fields = vec![
        Field::new(INDEX_COL, DataType::Int64, false),
        Field::new(RAW_COL, DataType::Utf8, false),
    ];
    if lenient {
        fields.push(Field::new(PARSE_ERROR_COL, DataType::Utf8, true));
    }
    let reserved = [INDEX_COL, RAW_COL, PARSE_ERROR_COL];
    for name in &names {
        // NUL cannot cross the Arrow C data interface in a name: write it as JSON does
        let mut name = String::from_utf8_lossy(name).replace('\0', "\\u0000");
        while reserved.contains(&name.as_str()) || fields.iter().any(|f| f.name() == &name) {
            // a record field named like a layout column keeps its data under another name
            name.push_str("_field");
        }
        fields.push(Field::new(name, DataType::Utf8, true));
    }
    let mut md = std::collections::HashMap::new();
    md.insert(FORMAT_META.to_string(), format.to_string());
    let schema = Arc::new(ArrowSchema::new(fields).with_metadata(md));

    // parse error messages carry their line, counted once over the input
    let fault_lines = if lenient {
        let faults = collect_faults(&chunks);
        lines_of_sorted(data, &faults.iter().map(|f| f.1).collect::<Vec<_>>())
    } else {
        Vec::new()
    };
    let mut bases = Vec::with_capacity(chunks.len());
    let mut fault_base = Vec::with_capacity(chunks.len());
    let (mut total, mut nf) = (0usize, 0usize);
    for c in &chunks {
        bases.push(total);
        fault_base.push(nf);
        total += c.n;
        nf += c.errors.len();
    }
    let n_names = names.len();
    let batches: Vec<Result<RecordBatch>> = chunks
        .into_par_iter()
        .zip(maps)
        .enumerate()
        .map(|(ci, (c, map))| {
            let n = c.n;
            let mut arrays: Vec<ArrayRef> = Vec::with_capacity(3 + n_names);
            let base = bases[ci] as i64;
            arrays.push(Arc::new(Int64Array::from_iter_values(
                base..base + n as i64,
            )));
            arrays.push(Arc::new(c.raw.finish(n)?));
            if lenient {
                let text: usize = c.errors.iter().map(|e| e.2.len() + 48).sum();
                if text > i32::MAX as usize {
                    return Err(CoreError::parse_at(
                        "too many malformed records to report (over 2 GiB of messages)",
                        None,
                        None,
                    ));
                }
                let mut b = StringBuilder::new();
                let mut it = c.errors.iter().enumerate().peekable();
                for r in 0..n as u32 {
                    match it.peek() {
                        Some((k, (row, pos, msg))) if *row == r => {
                            let line = fault_lines.get(fault_base[ci] + k).copied().unwrap_or(0);
                            b.append_value(format!("{msg} (line {line}, offset {pos})"));
                            it.next();
                        }
                        _ => b.append_null(),
                    }
                }
                arrays.push(Arc::new(b.finish()));
            }
            let mut local_of: Vec<Option<usize>> = vec![None; n_names];
            for (local, g) in map.iter().enumerate() {
                local_of[*g] = Some(local);
            }
            let mut cols: Vec<Option<ColBuild>> = c.cols.into_iter().map(Some).collect();
            for local in local_of {
                match local.and_then(|l| cols[l].take()) {
                    Some(col) => arrays.push(Arc::new(col.finish(n)?)),
                    None => arrays.push(arrow_array::new_null_array(&DataType::Utf8, n)),
                }
            }
            RecordBatch::try_new(schema.clone(), arrays).map_err(crate::error::arrow_err)
        })
        .collect();
    let mut out = batches.into_iter().collect::<Result<Vec<_>>>()?;
    if out.is_empty() {
        out.push(RecordBatch::new_empty(schema.clone()));
    }
    Ok(ArrowTable {
        schema,
        batches: out,
    })
}

/// Make a StringArray from parts we built ourselves.
pub fn string_array(
    offsets: Vec<i32>,
    values: Vec<u8>,
    nulls: Option<NullBuffer>,
) -> Result<StringArray> {
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    debug_assert!(std::str::from_utf8(&values).is_ok());
    // SAFETY: offsets are monotonic and within `values` by construction, and
    // every appended piece is valid UTF-8 (validated input slices, unescaped
    // or minified validated JSON, or our own encodings), so each value is too.
    Ok(unsafe { StringArray::new_unchecked(offsets, Buffer::from_vec(values), nulls) })
}

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

impl Faults for RawChunk {
    fn records(&self) -> usize {
        self.n
    }
    fn faults(&self) -> &[(u32, usize, String)] {
        &self.errors
    }
}

impl Faults for SpanChunk {
    fn records(&self) -> usize {
        self.n
    }
    fn faults(&self) -> &[(u32, usize, String)] {
        &self.errors
    }
}

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

fn empty_input(data: &[u8]) -> bool {
    data[skip_bom(data)..].iter().all(|c| json::is_ws(*c))
}

/// Parse JSON (array, single object or NDJSON) into a raw batch.
pub fn parse_json(data: &[u8], strict: bool) -> Result<ArrowTable> {
    check_size(data)?;
    if empty_input(data) {
        return Err(CoreError::parse_at(
            "empty input: no JSON records",
            Some(1),
            Some(0),
        ));
    }
    let plan = JsonPlan::build(data)?;
    let chunks = run_json(data, &plan, |_| RawChunk::new());
    if strict {
        let faults = collect_faults(&chunks);
        if !faults.is_empty() {
            return Err(strict_error(data, faults, "JSON"));
        }
    }
    assemble_raw(data, chunks, "json", None, !strict)
}

/// Parse CSV with a header row into a raw batch. Cells become JSON strings,
/// except in `json_columns` where valid JSON text is kept as JSON.
pub fn parse_csv(
    data: &[u8],
    delimiter: u8,
    json_columns: &[String],
    strict: bool,
) -> Result<ArrowTable> {
    let plan = CsvPlan::build(data, delimiter)?;
    let header = plan.header.clone();
    let csv_json: Vec<bool> = header.iter().map(|h| json_columns.contains(h)).collect();
    let chunks = run_csv(data, &plan, |_| {
        let mut c = RawChunk::new();
        for h in &header {
            c.column(h.as_bytes());
        }
        c.csv_json = csv_json.clone();
        c
    });
    if strict {
        let faults = collect_faults(&chunks);
        if !faults.is_empty() {
            return Err(strict_error(data, faults, "CSV"));
        }
    }
    assemble_raw(data, chunks, "csv", Some(&header), !strict)
}

// ---------------------------------------------------------------------------
// split_payload
// ---------------------------------------------------------------------------

/// Per-chunk collector for split_payload: record spans (minified when they
/// span lines), and faults.
#[derive(Default)]
struct SpanChunk {
    n: usize,
    spans: Vec<Range<usize>>,
    owned: Vec<(usize, Vec<u8>)>, // (position in spans, minified text)
    errors: Vec<(u32, usize, String)>,
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

/// Dispatch on format for the text formats (parquet is read elsewhere).
pub fn parse(data: &[u8], format: &str) -> Result<ArrowTable> {
    match Format::from_name(format)? {
        Format::Json | Format::Ndjson => parse_json(data, true),
        Format::Csv => parse_csv(data, b',', &["properties".to_string()], true),
        Format::Parquet => Err(CoreError::input("parquet input is read by parse_parquet")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;

    fn col(b: &RecordBatch, name: &str) -> StringArray {
        b.column_by_name(name)
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .clone()
    }

    fn parse_json(data: &[u8], strict: bool) -> Result<RecordBatch> {
        super::parse_json(data, strict).and_then(|t| t.concat())
    }

    fn parse_csv(data: &[u8], d: u8, j: &[String], strict: bool) -> Result<RecordBatch> {
        super::parse_csv(data, d, j, strict).and_then(|t| t.concat())
    }

    #[test]
    fn ndjson_array_and_object_agree() {
        let nd = b"{\"a\":1,\"b\":\"x\"}\n{\"a\":2}\n";
        let arr = b"[{\"a\":1,\"b\":\"x\"},\n {\"a\":2}]";
        let one = b"{\n  \"a\": 1,\n  \"b\": \"x\"\n}\n";
        let b1 = parse_json(nd, true).unwrap();
        let b2 = parse_json(arr, true).unwrap();
        assert_eq!(b1.num_rows(), 2);
        assert_eq!(b2.num_rows(), 2);
        assert_eq!(col(&b1, "a").value(1), "2");
        assert_eq!(col(&b2, "b").value(0), "\"x\"");
        assert!(col(&b2, "b").is_null(1));
        let b3 = parse_json(one, true).unwrap();
        assert_eq!(b3.num_rows(), 1);
        assert_eq!(col(&b3, "b").value(0), "\"x\"");
    }

    #[test]
    fn strict_lists_every_bad_record() {
        let nd = b"{\"a\":1}\n{\"a\":}\n[1]\n{\"a\":3}\n{\"a\" 4}\n";
        match parse_json(nd, true) {
            Err(CoreError::Parse { line, details, .. }) => {
                assert_eq!(line, Some(2));
                let lines: Vec<u64> = details
                    .iter()
                    .map(|d| d["line"].as_u64().unwrap())
                    .collect();
                assert_eq!(lines, vec![2, 3, 5]);
            }
            other => panic!("{other:?}"),
        }
        let lenient = parse_json(nd, false).unwrap();
        assert_eq!(lenient.num_rows(), 5);
        let pe = col(&lenient, PARSE_ERROR_COL);
        assert!(
            pe.is_null(0) && !pe.is_null(1) && !pe.is_null(2) && pe.is_null(3) && !pe.is_null(4)
        );
        assert_eq!(col(&lenient, "a").value(3), "3");
        assert_eq!(col(&lenient, RAW_COL).value(1), "{\"a\":}");
    }

    #[test]
    fn array_recovers_per_element() {
        let arr = b"[{\"a\":1}, {\"a\": tru}, {\"b\":2}]";
        let b = parse_json(arr, false).unwrap();
        assert_eq!(b.num_rows(), 3);
        let pe = col(&b, PARSE_ERROR_COL);
        assert!(pe.is_null(0) && !pe.is_null(1) && pe.is_null(2));
        for bad in [
            &b"[{\"a\":1},]"[..],
            b"[{\"a\":1}",
            b"[{\"a\":1}] x",
            b"[,]",
            b"[1]",
            b"[{\"a\":\"}]",
        ] {
            assert!(
                parse_json(bad, true).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(parse_json(b"[]", true).unwrap().num_rows(), 0);
    }

    #[test]
    fn non_utf8_and_empty() {
        assert!(matches!(
            parse_json(b"{\"a\":\"\xff\"}", true),
            Err(CoreError::Parse { .. })
        ));
        assert!(matches!(
            parse_json(b"\xff\xfe", true),
            Err(CoreError::Parse { .. })
        ));
        assert!(matches!(
            parse_json(b"  \n", true),
            Err(CoreError::Parse { .. })
        ));
        let b = parse_json(b"{\"a\":\"\xff\"}\n{\"a\":1}", false).unwrap();
        assert_eq!(b.num_rows(), 2);
        assert!(col(&b, RAW_COL).value(0).contains('\u{FFFD}'));
    }

    #[test]
    fn minifies_nested_and_keeps_last_duplicate_key() {
        let b = parse_json(b"{\"p\": { \"x\" : [1, 2] }, \"a\":1, \"a\":2}", true).unwrap();
        assert_eq!(col(&b, "p").value(0), "{\"x\":[1,2]}");
        assert_eq!(col(&b, "a").value(0), "2");
    }

    #[test]
    fn csv_basic() {
        let data = b"id,name,properties\r\n1,\"a,b\",\"{\"\"k\"\": 1}\"\r\n2,,\"\"\r\n\r\n3,\"multi\nline\",\n";
        let b = parse_csv(data, b',', &["properties".into()], true).unwrap();
        assert_eq!(b.num_rows(), 3);
        assert_eq!(col(&b, "name").value(0), "\"a,b\"");
        assert_eq!(col(&b, "properties").value(0), "{\"k\":1}");
        assert!(col(&b, "name").is_null(1));
        assert_eq!(col(&b, "properties").value(1), "\"\"");
        assert_eq!(col(&b, "name").value(2), "\"multi\\nline\"");
        assert_eq!(col(&b, RAW_COL).value(2), "3,\"multi\nline\",");
        assert_eq!(b.schema().metadata()[FORMAT_META], "csv");
        assert!(parse_csv(b"a,b\n1,2,3\n", b',', &[], true).is_err());
        assert!(parse_csv(b"a,a\n1,2\n", b',', &[], true).is_err());
        assert!(parse_csv(b"", b',', &[], true).is_err());
        let lenient = parse_csv(b"a,b\n1,2,3\n4,5\n", b',', &[], false).unwrap();
        assert_eq!(lenient.num_rows(), 2);
    }

    #[test]
    fn split_payload_shapes() {
        let chunks = split_payload(b"[{\"a\":1},{\"a\":2},{\n\"a\":3}]", "json", 16).unwrap();
        let all: Vec<u8> = chunks.iter().flat_map(|c| c.0.clone()).collect();
        assert_eq!(all, b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
        assert_eq!(chunks.iter().map(|c| c.1).sum::<usize>(), 3);
        assert!(chunks.iter().all(|c| c.0.len() <= 16));
        let csv = split_payload(b"a,b\n1,2\n3,4\n5,6\n", "csv", 12).unwrap();
        for (c, n) in &csv {
            assert!(c.starts_with(b"a,b\n"));
            assert_eq!(c.iter().filter(|&&x| x == b'\n').count(), n + 1);
        }
        assert!(matches!(
            split_payload(b"", "json", 10),
            Err(CoreError::Parse { .. })
        ));
        assert!(matches!(
            split_payload(b"[]", "json", 10),
            Err(CoreError::Parse { .. })
        ));
        assert!(matches!(
            split_payload(b"5", "json", 10),
            Err(CoreError::Parse { .. })
        ));
        assert!(matches!(
            split_payload(b"{}", "xml", 10),
            Err(CoreError::UnsupportedFormat { .. })
        ));
    }

    #[test]
    fn parallel_chunking_matches_sequential() {
        // large enough to be cut into several chunks, with bad records and a
        // pretty-printed record in between
        let mut s = String::new();
        for i in 0..60_000 {
            match i % 997 {
                5 => s.push_str("{\"id\": 1, \"bad\": }\n"),
                6 => s.push_str("{\n  \"id\": 2\n}\n"),
                7 => s.push_str("  \n"),
                _ => s.push_str(&format!(
                    "{{\"id\": {i}, \"pad\": \"{}\"}}\n",
                    "x".repeat(40)
                )),
            }
        }
        let data = s.as_bytes();
        let plan = JsonPlan::build(data).unwrap();
        assert!(plan.n_chunks() > 1);
        let par = run_json(data, &plan, |_| RawChunk::new());
        #[allow(clippy::single_range_in_vec_init)]
        let seq_plan = JsonPlan::Stream {
            chunks: vec![0..data.len()],
        };
        let seq = run_json(data, &seq_plan, |_| RawChunk::new());
        assert_eq!(collect_faults(&par), collect_faults(&seq));
        let a = assemble_raw(data, par, "json", None, true).unwrap();
        let b = assemble_raw(data, seq, "json", None, true).unwrap();
        assert!(a.batches.len() > 1);
        assert_eq!(a.concat().unwrap(), b.concat().unwrap());
    }
}
