//! The raw batch: per-chunk Arrow builders filled while scanning, assembled
//! into an [`ArrowTable`] by `parse_json` and `parse_csv`.

use std::ops::Range;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema as ArrowSchema, SchemaRef};
use rayon::prelude::*;

use super::{
    check_size, collect_faults, lines_of_sorted, refuse_empty, refuse_faults, run_csv, run_json,
    Body, CsvPlan, Fault, JsonPlan, Sink, FORMAT_META, INDEX_COL, PARSE_ERROR_COL, RAW_COL,
};
use crate::error::{CoreError, Result};
use crate::json;

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
pub(super) struct RawChunk {
    pub(super) n: usize,
    raw: ColBuild,
    pub(super) errors: Vec<(u32, usize, String)>, // (row, byte position, message)
    names: Vec<Vec<u8>>, // column names (unescaped keys), in first-seen order
    lookup: ahash::AHashMap<Vec<u8>, usize>,
    order: Vec<usize>, // column ids of the previous record's keys, by position
    cols: Vec<ColBuild>,
    scratch: Vec<u8>,
    /// CSV: whether each header column holds JSON text.
    csv_json: Vec<bool>,
}

impl RawChunk {
    pub(super) fn new() -> Self {
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
pub(super) fn assemble_raw(
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

/// Parse JSON (array, single object or NDJSON) into a raw batch.
pub fn parse_json(data: &[u8], strict: bool) -> Result<ArrowTable> {
    check_size(data)?;
    refuse_empty(data, "empty input: no JSON records")?;
    let plan = JsonPlan::build(data)?;
    let chunks = run_json(data, &plan, |_| RawChunk::new());
    if strict {
        refuse_faults(data, &chunks, "JSON")?;
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
        refuse_faults(data, &chunks, "CSV")?;
    }
    assemble_raw(data, chunks, "csv", Some(&header), !strict)
}
