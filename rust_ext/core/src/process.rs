//! The fused hot path: parse (lenient) -> validate -> drop invalid -> type and
//! transform -> deduplicate, in one pass over the input.
//!
//! Threads scan chunks of the input (see `parse`), checking each record as it
//! is found and keeping only *where* its typed values are (string values stay
//! in the input; unescaped or minified text goes to a per-chunk side buffer).
//! A sequential pass then deduplicates the valid records in input order, and
//! the output columns are built in parallel, one column per task, copying each
//! kept value once.

use std::ops::Range;
use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema as ArrowSchema};
use rayon::prelude::*;

use crate::dedup::{hash_key, key_hasher, Deduper, Verdict};
use crate::keyindex::{Fingerprint, KeyIndex};
use crate::error::{CoreError, Result};
use crate::json::{self, Tok};
use crate::parse::{self, ArrowTable, Body, CsvPlan, Fault, Format, JsonPlan, Loc, Sink};
use crate::schema::{FieldType, Rules, Schema};
use crate::transform::{assemble_typed, ColBuf};
use crate::validate::{
    check_value, violations_json, RawVal, Rule, Typed, Violation, RECORD_FIELD,
};

/// Below this many valid rows deduplication runs on one thread.
const DEDUP_SHARD_MIN_ROWS: usize = 1 << 16;

pub struct ProcessOutput {
    /// Typed, transformed, deduplicated rows (as `transform_batch`), one
    /// batch per chunk of the input.
    pub valid: ArrowTable,
    /// record_index int64, raw utf8, violations utf8 (JSON array).
    pub rejected: RecordBatch,
    pub record_count: usize,
    pub valid_count: usize,
    pub invalid_count: usize,
    pub duplicate_count: usize,
}

/// A checked value, without borrows (strings are located, not copied).
#[derive(Clone, Copy)]
enum Stored {
    Null,
    Loc(Loc),
    I64(i64),
    F64(f64),
    Bool(bool),
    I32(i32),
}

/// One chunk's valid rows, column by column.
#[derive(Default)]
struct Store {
    locs: Vec<Loc>,
    i64s: Vec<i64>,
    f64s: Vec<f64>,
    bools: Vec<bool>,
    i32s: Vec<i32>,
    valid: Vec<bool>,
}

impl Store {
    #[inline]
    fn push(&mut self, ty: FieldType, v: Stored) {
        match ty {
            FieldType::String | FieldType::Object => self.locs.push(match v {
                Stored::Loc(l) => l,
                _ => Loc::NULL,
            }),
            FieldType::Long | FieldType::Timestamp => {
                self.i64s.push(if let Stored::I64(x) = v { x } else { 0 });
                self.valid.push(matches!(v, Stored::I64(_)));
            }
            FieldType::Double => {
                self.f64s.push(if let Stored::F64(x) = v { x } else { 0.0 });
                self.valid.push(matches!(v, Stored::F64(_)));
            }
            FieldType::Boolean => {
                self.bools
                    .push(if let Stored::Bool(x) = v { x } else { false });
                self.valid.push(matches!(v, Stored::Bool(_)));
            }
            FieldType::Date => {
                self.i32s.push(if let Stored::I32(x) = v { x } else { 0 });
                self.valid.push(matches!(v, Stored::I32(_)));
            }
        }
    }
}

struct Rejected {
    local: u32,
    raw: Loc,
    violations: String,
}

struct ProcChunk<'s> {
    schema: &'s Schema,
    n: usize,
    rows: Vec<u32>,
    raw: Vec<Loc>,
    /// string key field, and the hash of each valid row's key (hashed here,
    /// in parallel, so the sequential dedup pass only probes)
    string_key: Option<usize>,
    hasher: ahash::RandomState,
    key_hashes: Vec<u64>,
    stores: Vec<Store>,
    side: Vec<u8>,
    rejected: Vec<Rejected>,
    faults: Vec<(u32, Loc, usize, String)>,
    // per-record scratch
    toks: Vec<Option<Tok>>,
    stored: Vec<Stored>,
    viol: Vec<Violation>,
    key_buf: Vec<u8>,
    order: Vec<Option<usize>>,
    order_keys: Vec<Vec<u8>>,
    csv_map: Vec<Option<usize>>,
    cell_scratch: Vec<Vec<u8>>,
}

impl<'s> ProcChunk<'s> {
    fn new(schema: &'s Schema, csv_map: Vec<Option<usize>>) -> Self {
        let nf = schema.fields.len();
        let string_key = schema
            .key_index()
            .filter(|&k| schema.fields[k].ty != FieldType::Long);
        ProcChunk {
            schema,
            n: 0,
            rows: Vec::new(),
            raw: Vec::new(),
            string_key,
            hasher: key_hasher(),
            key_hashes: Vec::new(),
            stores: (0..nf).map(|_| Store::default()).collect(),
            side: Vec::new(),
            rejected: Vec::new(),
            faults: Vec::new(),
            toks: vec![None; nf],
            stored: Vec::with_capacity(nf),
            viol: Vec::new(),
            key_buf: Vec::new(),
            order: Vec::new(),
            order_keys: Vec::new(),
            cell_scratch: vec![Vec::new(); csv_map.len()],
            csv_map,
        }
    }

    fn raw_loc(&mut self, data: &[u8], raw: &Range<usize>) -> Loc {
        if std::str::from_utf8(&data[raw.clone()]).is_ok() {
            Loc::input(raw.start, raw.end)
        } else {
            let s = String::from_utf8_lossy(&data[raw.clone()]).into_owned();
            let st = self.side.len();
            self.side.extend_from_slice(s.as_bytes());
            Loc::side(st, self.side.len())
        }
    }

    #[inline]
    fn field_of(&mut self, pos: usize, key: &[u8]) -> Option<usize> {
        if pos < self.order.len() && self.order_keys[pos] == key {
            return self.order[pos];
        }
        let f = self
            .schema
            .fields
            .iter()
            .position(|f| f.name.as_bytes() == key);
        if pos < self.order.len() {
            self.order[pos] = f;
            self.order_keys[pos].clear();
            self.order_keys[pos].extend_from_slice(key);
        } else if pos == self.order.len() {
            self.order.push(f);
            self.order_keys.push(key.to_vec());
        }
        f
    }

    /// Free what the output no longer needs once the chunk's columns are built.
    fn release(&mut self) {
        self.stores = Vec::new();
        self.side = Vec::new();
        self.raw = Vec::new();
        self.key_hashes = Vec::new();
    }

    /// Store the record's typed values (already in `self.stored`) or reject it.
    fn finish_record(&mut self, local: u32, data: &[u8], raw: &Range<usize>, side_mark: usize) {
        if self.viol.is_empty() {
            for (fi, spec) in self.schema.fields.iter().enumerate() {
                self.stores[fi].push(spec.ty, self.stored[fi]);
            }
            self.rows.push(local);
            // valid records are UTF-8 throughout
            self.raw.push(Loc::input(raw.start, raw.end));
            if let Some(k) = self.string_key {
                let h = match self.stored[k] {
                    Stored::Loc(l) if !l.is_null() => {
                        hash_key(&self.hasher, l.bytes(data, &self.side))
                    }
                    _ => 0,
                };
                self.key_hashes.push(h);
            }
        } else {
            self.side.truncate(side_mark);
            let violations = violations_json(&self.viol);
            let raw = self.raw_loc(data, raw);
            self.rejected.push(Rejected {
                local,
                raw,
                violations,
            });
        }
    }
}

#[inline]
fn store_typed(t: Typed<'_>, data: &[u8], side: &mut Vec<u8>) -> Stored {
    match t {
        Typed::Null => Stored::Null,
        Typed::Str(b) => Stored::Loc(Loc::of(b, data, side)),
        Typed::Side(a, b) => Stored::Loc(Loc::side(a, b)),
        Typed::I64(x) | Typed::Ts(x) => Stored::I64(x),
        Typed::F64(x) => Stored::F64(x),
        Typed::Bool(x) => Stored::Bool(x),
        Typed::Date(x) => Stored::I32(x),
    }
}

impl Sink for ProcChunk<'_> {
    fn record(
        &mut self,
        data: &[u8],
        raw: Range<usize>,
        body: std::result::Result<Body<'_>, Fault>,
    ) {
        let local = self.n as u32;
        self.n += 1;
        let side_mark = self.side.len();
        self.viol.clear();
        self.stored.clear();
        match body {
            Err(f) => {
                let raw_loc = self.raw_loc(data, &raw);
                self.faults
                    .push((local, raw_loc, f.pos, f.message.into_owned()));
            }
            Ok(Body::Json(members)) => {
                self.toks.iter_mut().for_each(|t| *t = None);
                for (k, (key, val)) in members.iter().enumerate() {
                    let fi = if key.escaped {
                        let mut kb = std::mem::take(&mut self.key_buf);
                        kb.clear();
                        json::unescape_into(key.content(data), &mut kb);
                        let f = self.field_of(k, &kb);
                        self.key_buf = kb;
                        f
                    } else {
                        self.field_of(k, key.content(data))
                    };
                    if let Some(fi) = fi {
                        self.toks[fi] = Some(*val);
                    }
                }
                for (fi, spec) in self.schema.fields.iter().enumerate() {
                    let rv = self.toks[fi].map(|t| RawVal::Json(t, data));
                    let t = check_value(spec, rv, &mut self.side, &mut self.viol);
                    let s = store_typed(t, data, &mut self.side);
                    self.stored.push(s);
                }
                self.finish_record(local, data, &raw, side_mark);
            }
            Ok(Body::Csv(cells)) => {
                let nf = self.schema.fields.len();
                let mut cell_of: [Option<usize>; 64] = [None; 64];
                let mut big: Vec<Option<usize>> = Vec::new();
                if nf > 64 {
                    big = vec![None; nf];
                }
                for (h, cell) in cells.iter().enumerate() {
                    if let Some(fi) = self.csv_map[h] {
                        if !cell.is_null() {
                            if nf > 64 {
                                big[fi] = Some(h);
                            } else {
                                cell_of[fi] = Some(h);
                            }
                            if cell.escaped {
                                let s = &mut self.cell_scratch[h];
                                s.clear();
                                cell.unescape_into(data, s);
                            }
                        }
                    }
                }
                let scratch = std::mem::take(&mut self.cell_scratch);
                for (fi, spec) in self.schema.fields.iter().enumerate() {
                    let h = if nf > 64 { big[fi] } else { cell_of[fi] };
                    let rv = h.map(|h| {
                        let c = cells[h];
                        let bytes: &[u8] = if c.escaped {
                            &scratch[h]
                        } else {
                            &data[c.start..c.end]
                        };
                        // SAFETY: the driver validated the record as UTF-8 and
                        // cells start and end at ASCII bytes (delimiters, quotes,
                        // line ends); removing doubled ASCII quotes keeps it valid.
                        RawVal::Text(unsafe { std::str::from_utf8_unchecked(bytes) })
                    });
                    let t = check_value(spec, rv, &mut self.side, &mut self.viol);
                    let s = store_typed(t, data, &mut self.side);
                    self.stored.push(s);
                }
                self.cell_scratch = scratch;
                self.finish_record(local, data, &raw, side_mark);
            }
        }
    }
}

/// Run the fused pipeline over `data`.
pub fn process(
    data: &[u8],
    format: &str,
    schema: &Schema,
    rules: &Rules,
    seen: &[String],
) -> Result<ProcessOutput> {
    process_indexed(data, format, schema, rules, seen, None)
}

/// Where `process_indexed` checks and records keys: the index, the jobs the
/// records belong to, and the day they are stored (for the index's window).
pub struct IndexUse<'a> {
    pub index: &'a mut KeyIndex,
    /// (index of the first record, job id), ascending by record: a record
    /// belongs to the last entry at or before it. One entry for a one-job input.
    pub jobs: Vec<(i64, &'a [u8])>,
    pub day: i32,
}

impl IndexUse<'_> {
    fn origins(&self) -> Vec<(i64, u64)> {
        self.jobs
            .iter()
            .map(|(first, job)| (*first, self.index.hashers.origin(job)))
            .collect()
    }
}

/// The origin of record `at` in `origins` (sorted by first record).
#[inline]
fn origin_at(origins: &[(i64, u64)], at: i64) -> u64 {
    let i = origins.partition_point(|(first, _)| *first <= at);
    origins[i.saturating_sub(1)].1
}

/// `process`, also dropping keys that `index` holds from another job (or
/// from earlier in the pass), and adding the keys it keeps to the index's
/// pending layer.
pub fn process_indexed(
    data: &[u8],
    format: &str,
    schema: &Schema,
    rules: &Rules,
    seen: &[String],
    mut index: Option<IndexUse<'_>>,
) -> Result<ProcessOutput> {
    let fmt = Format::from_name(format)?;
    parse::check_size(data)?;
    let chunks: Vec<ProcChunk> = match fmt {
        Format::Json | Format::Ndjson => {
            if data.iter().all(|c| json::is_ws(*c)) {
                Vec::new()
            } else {
                let plan = JsonPlan::build(data)?;
                parse::run_json(data, &plan, |_| ProcChunk::new(schema, Vec::new()))
            }
        }
        Format::Csv => {
            if data.iter().all(|c| json::is_ws(*c)) {
                Vec::new()
            } else {
                let plan = CsvPlan::build(data, b',')?;
                let map: Vec<Option<usize>> =
                    plan.header.iter().map(|h| schema.field_index(h)).collect();
                parse::run_csv(data, &plan, |_| ProcChunk::new(schema, map.clone()))
            }
        }
        Format::Parquet => {
            return Err(CoreError::UnsupportedFormat {
                format: format.to_string(),
            });
        }
    };
    for c in &chunks {
        if c.side.len() >= (1usize << 31) {
            return Err(CoreError::parse_at(
                "input too large once decoded (more than 2 GiB of values)",
                None,
                None,
            ));
        }
    }

    // global record index of each chunk's first record
    let mut base = Vec::with_capacity(chunks.len());
    let mut total = 0usize;
    for c in &chunks {
        base.push(total as i64);
        total += c.n;
    }

    // deduplicate valid rows in input order, in parallel: keys are split into
    // shards by hash (every occurrence of a key falls in one shard), and each
    // shard walks the rows in input order, so the first occurrence still wins
    let key_field = schema.key_index();
    let mut keep: Vec<Vec<bool>> = chunks.iter().map(|c| vec![true; c.rows.len()]).collect();
    let mut dups: Vec<(i64, Loc, usize, String)> = Vec::new(); // (index, raw, chunk, violations)
    // keys kept, added to the index only once the whole output is built (an error adds none)
    let mut pending: Vec<(Fingerprint, u64)> = Vec::new();
    if let Some(kf) = key_field {
        let ty = schema.fields[kf].ty;
        let hasher = key_hasher();
        // text and hash of the key of each valid row (None: no key, always kept)
        let long_keys: Vec<Vec<Option<(String, u64)>>> = if ty == FieldType::Long {
            chunks
                .par_iter()
                .map(|c| {
                    let s = &c.stores[kf];
                    s.i64s
                        .iter()
                        .zip(&s.valid)
                        .map(|(v, ok)| {
                            ok.then(|| {
                                let t = v.to_string();
                                let h = hash_key(&hasher, t.as_bytes());
                                (t, h)
                            })
                        })
                        .collect()
                })
                .collect()
        } else {
            Vec::new()
        };
        let key_of = |ci: usize, r: usize| -> Option<(&[u8], u64)> {
            let c = &chunks[ci];
            match ty {
                FieldType::Long => long_keys[ci][r].as_ref().map(|(t, h)| (t.as_bytes(), *h)),
                _ => {
                    let l = c.stores[kf].locs[r];
                    (!l.is_null()).then(|| (l.bytes(data, &c.side), c.key_hashes[r]))
                }
            }
        };
        let expected: usize = chunks.iter().map(|c| c.rows.len()).sum();
        let shards = if expected < DEDUP_SHARD_MIN_ROWS {
            1
        } else {
            rayon::current_num_threads().clamp(1, 64) as u64
        };
        let origins: Vec<(i64, u64)> = index.as_ref().map(|u| u.origins()).unwrap_or_default();
        let indexed = index.as_ref().map(|u| &*u.index).filter(|_| !origins.is_empty());
        // (chunk, row, verdict) of every repeat, and the fingerprints (with
        // their job) of the keys kept, for the index, shard by shard
        let per_shard: Vec<(Vec<(usize, usize, Verdict)>, Vec<(Fingerprint, u64)>)> = (0..shards)
            .into_par_iter()
            .map(|shard| {
                let in_shard = |h: u64| (h >> 32) % shards == shard;
                let mut dd = Deduper::for_shard(seen, expected / shards as usize, in_shard);
                let mut out = Vec::new();
                let mut kept = Vec::new();
                for (ci, c) in chunks.iter().enumerate() {
                    for r in 0..c.rows.len() {
                        let Some((key, h)) = key_of(ci, r) else {
                            continue;
                        };
                        if !in_shard(h) {
                            continue;
                        }
                        let at = base[ci] + c.rows[r] as i64;
                        let verdict = dd.check_hashed(key, h, at);
                        if verdict != Verdict::First {
                            out.push((ci, r, verdict));
                        } else if let Some(ix) = indexed {
                            let origin = origin_at(&origins, at);
                            let fp = ix.hashers.fingerprint_with(key, h);
                            if ix.is_duplicate(&fp, origin) {
                                out.push((ci, r, Verdict::Stored));
                            } else {
                                kept.push((fp, origin));
                            }
                        }
                    }
                }
                (out, kept)
            })
            .collect();
        let mut repeats: Vec<(usize, usize, Verdict)> = Vec::new();
        let mut kept: Vec<(Fingerprint, u64)> = Vec::new();
        for (out, k) in per_shard {
            repeats.extend(out);
            kept.extend(k);
        }
        pending = kept;
        repeats.sort_unstable_by_key(|&(ci, r, _)| (ci, r));
        let kname = &schema.fields[kf].name;
        for (ci, r, verdict) in repeats {
            keep[ci][r] = false;
            let c = &chunks[ci];
            let key = key_of(ci, r).map_or(&[][..], |(k, _)| k);
            let shown = String::from_utf8_lossy(key).into_owned();
            let at = base[ci] + c.rows[r] as i64;
            let message = match verdict {
                // several jobs in one input: name the job's own record, or say it was another job's
                Verdict::DuplicateOf(first) if origins.len() > 1 => {
                    let job_start = |i: i64| origins[origins.partition_point(|(f, _)| *f <= i).saturating_sub(1)];
                    let (mine, theirs) = (job_start(at), job_start(first));
                    if mine.1 == theirs.1 {
                        format!("{kname}: duplicate of record {}", first - mine.0)
                    } else {
                        format!("{kname}: duplicate of a record of an earlier job in the same batch")
                    }
                }
                Verdict::DuplicateOf(first) => format!("{kname}: duplicate of record {first}"),
                Verdict::Stored => {
                    format!("{kname}: already stored by an earlier job (within the dedup window)")
                }
                _ => format!("{kname}: already processed in an earlier batch"),
            };
            let v = Violation::new(kname, Rule::Duplicate, Some(shown), message);
            let idx = base[ci] + c.rows[r] as i64;
            dups.push((idx, c.raw[r], ci, violations_json(std::slice::from_ref(&v))));
        }
    }
    let duplicate_count = dups.len();

    // rejected: parse faults, violations and duplicates, in record order
    // (first: their raw text may live in the side buffers freed below)
    let mut fault_positions: Vec<usize> = Vec::new();
    for c in &chunks {
        fault_positions.extend(c.faults.iter().map(|f| f.2));
    }
    let fault_lines = parse::lines_of_sorted(data, &fault_positions);
    let mut rows: Vec<(i64, Loc, usize, String)> = Vec::new();
    let mut fl = fault_lines.iter();
    let mut invalid_count = 0;
    for (ci, c) in chunks.iter().enumerate() {
        for f in &c.faults {
            let line = fl.next().copied().unwrap_or(0);
            let raw_text = crate::validate::truncate_value(
                String::from_utf8_lossy(f.1.bytes(data, &c.side)).into_owned(),
            );
            let v = Violation::new(
                RECORD_FIELD,
                Rule::ParseError,
                Some(raw_text),
                format!("{} (line {line}, offset {})", f.3, f.2),
            );
            rows.push((
                base[ci] + f.0 as i64,
                f.1,
                ci,
                violations_json(std::slice::from_ref(&v)),
            ));
        }
        for r in &c.rejected {
            rows.push((base[ci] + r.local as i64, r.raw, ci, r.violations.clone()));
        }
        invalid_count += c.faults.len() + c.rejected.len();
    }
    rows.extend(dups);
    rows.sort_by_key(|r| r.0);
    let (raw_bytes, viol_bytes) = rows
        .iter()
        .fold((0usize, 0usize), |(a, b), r| (a + r.1.len(), b + r.3.len()));
    if raw_bytes.max(viol_bytes) > i32::MAX as usize {
        return Err(CoreError::parse_at(
            "too many rejected records to report in one batch (over 2 GiB)",
            None,
            None,
        ));
    }
    let mut idx = Int64Builder::with_capacity(rows.len());
    let mut raw = StringBuilder::new();
    let mut viol = StringBuilder::new();
    for (i, loc, ci, v) in &rows {
        idx.append_value(*i);
        raw.append_value(String::from_utf8_lossy(loc.bytes(data, &chunks[*ci].side)));
        viol.append_value(v);
    }
    let rejected = RecordBatch::try_new(
        rejected_schema(),
        vec![
            Arc::new(idx.finish()),
            Arc::new(raw.finish()),
            Arc::new(viol.finish()),
        ],
    )
    .map_err(crate::error::arrow_err)?;

    // typed columns, a wave of chunks at a time: one task per (chunk, column),
    // one output batch per chunk. Once a chunk's columns are built its value
    // positions and side buffer are freed, so the output grows while the
    // parse state shrinks instead of both being held whole.
    let nf = schema.fields.len();
    let wave = rayon::current_num_threads().max(1);
    let mut batches = Vec::with_capacity(chunks.len());
    let mut valid_count = 0;
    let mut chunks = chunks;
    for first in (0..chunks.len()).step_by(wave) {
        let last = (first + wave).min(chunks.len());
        let tasks: Vec<(usize, usize)> = (first..last)
            .flat_map(|ci| (0..nf).map(move |fi| (ci, fi)))
            .collect();
        let built: Vec<Result<ArrayRef>> = tasks
            .into_par_iter()
            .map(|(ci, fi)| build_column(&chunks[ci], &keep[ci], schema, rules, fi, data))
            .collect();
        let mut built = built.into_iter();
        for ci in first..last {
            let arrays = built.by_ref().take(nf).collect::<Result<Vec<_>>>()?;
            let c = &mut chunks[ci];
            let index: Vec<i64> = c
                .rows
                .iter()
                .zip(&keep[ci])
                .filter(|(_, k)| **k)
                .map(|(r, _)| base[ci] + *r as i64)
                .collect();
            c.release();
            if index.is_empty() {
                continue;
            }
            valid_count += index.len();
            batches.push(assemble_typed(schema, rules, arrays, index)?);
        }
    }
    let valid_schema = schema.typed_arrow_schema(rules);
    if batches.is_empty() {
        batches.push(RecordBatch::new_empty(valid_schema.clone()));
    }
    let valid = ArrowTable {
        schema: valid_schema,
        batches,
    };

    if let Some(u) = index.as_mut() {
        for (fp, origin) in pending {
            u.index.add_pending(fp, origin, u.day);
        }
    }
    Ok(ProcessOutput {
        record_count: total,
        valid_count,
        invalid_count,
        duplicate_count,
        valid,
        rejected,
    })
}

/// One typed output column of one chunk: the kept rows' values, copied once.
fn build_column(
    c: &ProcChunk<'_>,
    k: &[bool],
    schema: &Schema,
    rules: &Rules,
    fi: usize,
    data: &[u8],
) -> Result<ArrayRef> {
    let spec = &schema.fields[fi];
    let default = rules.default_for(fi);
    let kept = k.iter().filter(|x| **x).count();
    let mut col = ColBuf::new(spec.ty, kept);
    let st = &c.stores[fi];
    match spec.ty {
        FieldType::String | FieldType::Object => {
            let bytes: usize = st
                .locs
                .iter()
                .zip(k)
                .filter(|(_, k)| **k)
                .map(|(l, _)| l.len())
                .sum();
            col.values.reserve(bytes);
            for (l, _) in st.locs.iter().zip(k).filter(|(_, k)| **k) {
                if l.is_null() {
                    match default {
                        Some(d) => col.push_const(spec.ty, d),
                        None => col.push_str(None),
                    }
                } else {
                    col.push_str(Some(l.bytes(data, &c.side)));
                }
            }
        }
        _ => {
            for r in (0..k.len()).filter(|r| k[*r]) {
                let t = if !st.valid[r] {
                    Typed::Null
                } else {
                    match spec.ty {
                        FieldType::Long => Typed::I64(st.i64s[r]),
                        FieldType::Timestamp => Typed::Ts(st.i64s[r]),
                        FieldType::Double => Typed::F64(st.f64s[r]),
                        FieldType::Boolean => Typed::Bool(st.bools[r]),
                        FieldType::Date => Typed::Date(st.i32s[r]),
                        _ => Typed::Null,
                    }
                };
                col.push(spec.ty, t, &[], default);
            }
        }
    }
    col.finish(spec.ty)
}

pub fn rejected_schema() -> Arc<ArrowSchema> {
    Arc::new(ArrowSchema::new(vec![
        Field::new("record_index", DataType::Int64, false),
        Field::new("raw", DataType::Utf8, false),
        Field::new("violations", DataType::Utf8, false),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::Array;

    /// The events contract, generated from platform/contracts.py (a test there keeps it in step).
    pub const EVENTS: &str = include_str!("../../../contracts/events.schema.json");
    /// The events transform rules, generated from platform/contracts.py.
    pub const RULES: &str = include_str!("../../../contracts/events.rules.json");

    fn run(data: &[u8], format: &str, seen: &[String]) -> ProcessOutput {
        let s = Schema::from_json(EVENTS).unwrap();
        let r = Rules::from_json(RULES, &s).unwrap();
        process(data, format, &s, &r, seen).unwrap()
    }

    fn ev(id: &str, ty: &str, ts: &str) -> String {
        format!("{{\"event_id\":\"{id}\",\"user_id\":\"u\",\"event_type\":\"{ty}\",\"event_timestamp\":{ts}}}\n")
    }

    /// Enough rows for the sharded (parallel) dedup: every repeat names the
    /// first valid occurrence, invalid rows hide nothing, seen keys drop.
    #[test]
    fn sharded_dedup_keeps_the_first_valid_occurrence() {
        let n = DEDUP_SHARD_MIN_ROWS * 2;
        let distinct = n / 2 + 7;
        let mut d = String::new();
        for i in 0..n {
            let id = format!("k{}", i % distinct);
            // the first occurrence of every 10th key is invalid
            let ty = if i < distinct && i % 10 == 0 {
                "bogus"
            } else {
                "view"
            };
            d += &ev(&id, ty, "0");
        }
        let seen: Vec<String> = (0..50).map(|i| format!("k{}", i * 3 + 1)).collect();
        let out = run(d.as_bytes(), "ndjson", &seen);
        // reference: one sequential pass
        let seen_set: std::collections::HashSet<String> = seen.iter().cloned().collect();
        let mut first: std::collections::HashMap<usize, usize> = Default::default();
        let (mut expected, mut invalid, mut repeats) = (Vec::new(), 0, 0);
        for i in 0..n {
            let k = i % distinct;
            if i < distinct && i % 10 == 0 {
                invalid += 1;
            } else if seen_set.contains(&format!("k{k}")) || first.contains_key(&k) {
                repeats += 1;
            } else {
                first.insert(k, i);
                expected.push(i as i64);
            }
        }
        assert_eq!(out.invalid_count, invalid);
        assert_eq!(out.valid_count, expected.len());
        assert_eq!(out.duplicate_count, repeats);
        let valid = out.valid.concat().unwrap();
        let idx = valid
            .column_by_name("_index")
            .unwrap()
            .as_primitive::<arrow_array::types::Int64Type>()
            .values()
            .to_vec();
        assert_eq!(idx, expected);
        // a repeat names its first occurrence; a seen key says so
        let rej = &out.rejected;
        let ri = rej
            .column(0)
            .as_primitive::<arrow_array::types::Int64Type>();
        let vj = rej.column(2).as_string::<i32>();
        let at = |row: usize| vj.value((0..ri.len()).find(|&j| ri.value(j) == row as i64).unwrap());
        assert!(
            at(2 + distinct).contains("duplicate of record 2"),
            "{}",
            at(2 + distinct)
        );
        assert!(at(1).contains("already processed"), "{}", at(1));
        let sorted: Vec<i64> = ri.values().to_vec();
        assert!(sorted.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn invalid_never_hides_a_later_valid_duplicate() {
        let mut d = String::new();
        d += &ev("a", "bogus", "\"2026-01-01T00:00:00Z\""); // 0 invalid
        d += &ev("a", "view", "\"2026-01-01T00:00:00Z\""); // 1 valid, first
        d += &ev("a", "click", "1767225600000"); // 2 duplicate of 1
        d += "{\"event_id\": \"b\", oops}\n"; // 3 parse error
        d += &ev("b", "view", "\"2026-02-30T00:00:00Z\""); // 4 impossible date
        d += &ev("b", "view", "\"2026-01-01T00:00:00\""); // 5 naive
        d += &ev("c", "view", "\"2026-01-01T01:00:00+01:00\""); // 6 valid
        d += &ev("s", "view", "0"); // 7 seen before
        let out = run(d.as_bytes(), "ndjson", &["s".to_string()]);
        assert_eq!(out.record_count, 8);
        assert_eq!(out.valid_count, 2);
        assert_eq!(out.invalid_count, 4);
        assert_eq!(out.duplicate_count, 2);
        let valid = out.valid.concat().unwrap();
        let idx: Vec<i64> = valid
            .column_by_name("_index")
            .unwrap()
            .as_primitive::<arrow_array::types::Int64Type>()
            .values()
            .to_vec();
        assert_eq!(idx, vec![1, 6]);
        let rej = &out.rejected;
        let ri: Vec<i64> = rej
            .column(0)
            .as_primitive::<arrow_array::types::Int64Type>()
            .values()
            .to_vec();
        assert_eq!(ri, vec![0, 2, 3, 4, 5, 7]);
        let v = rej.column(2).as_string::<i32>();
        let rules: Vec<String> = (0..v.len())
            .map(|i| {
                let x: serde_json::Value = serde_json::from_str(v.value(i)).unwrap();
                x[0]["rule"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(
            rules,
            [
                "allowed",
                "duplicate",
                "parse_error",
                "timestamp",
                "timestamp",
                "duplicate"
            ]
        );
        assert_eq!(
            rej.column(1).as_string::<i32>().value(2),
            "{\"event_id\": \"b\", oops}"
        );
        // both timestamps of valid rows are the same instant
        let ts = valid
            .column(3)
            .as_primitive::<arrow_array::types::TimestampMicrosecondType>();
        assert_eq!(ts.value(1), 1_767_225_600_000_000);
    }

    #[test]
    fn csv_matches_json() {
        let csv = b"event_id,user_id,event_type,event_timestamp,event_value,properties\n\
                    a,u,view,2026-01-01T00:00:00Z,1.5,\"{\"\"k\"\": 1}\"\n\
                    b,u,view,2026-01-01T00:00:00Z,NaN,\n\
                    c,u,view,1767225600000,,\n";
        let out = run(csv, "csv", &[]);
        assert_eq!(out.valid_count, 2);
        assert_eq!(out.invalid_count, 1);
        let valid = out.valid.concat().unwrap();
        let props = valid
            .column_by_name("properties")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(props.value(0), "{\"k\":1}");
        assert!(props.is_null(1));
    }

    #[test]
    fn empty_and_unsupported() {
        let out = run(b"", "ndjson", &[]);
        assert_eq!(out.record_count, 0);
        assert_eq!(out.valid.schema.fields().len(), 10);
        let s = Schema::from_json(EVENTS).unwrap();
        assert!(matches!(
            process(b"{}", "xml", &s, &Rules::default(), &[]),
            Err(CoreError::UnsupportedFormat { .. })
        ));
        assert!(matches!(
            process(b"{}", "parquet", &s, &Rules::default(), &[]),
            Err(CoreError::UnsupportedFormat { .. })
        ));
    }
}
