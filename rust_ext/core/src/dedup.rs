//! Deduplication by key: the first occurrence wins, and keys already seen in
//! earlier batches are dropped. Records without a key are always kept.
use arrow_array::{Array, BooleanArray, RecordBatch};
use arrow_schema::DataType;

use crate::error::{CoreError, Result};
use crate::json::{self, Kind};
use crate::parse::{ArrowTable, FORMAT_META, INDEX_COL, RAW_COL};

/// What the deduper says about a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    First,
    /// Already processed in an earlier batch.
    Seen,
    /// Held by the key index from another job (see `keyindex`).
    Stored,
    /// A repeat of the record with this index.
    DuplicateOf(i64),
}

/// Hashes keys the same way on every thread (fixed seeds), so hashes can be
/// computed in parallel and probed later.
pub fn key_hasher() -> ahash::RandomState {
    ahash::RandomState::with_seeds(
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    )
}

#[inline]
pub fn hash_key(h: &ahash::RandomState, key: &[u8]) -> u64 {
    h.hash_one(key)
}

/// A hasher for keys that are already hashes.
#[derive(Default, Clone, Copy)]
pub struct PassThrough(u64);

impl std::hash::Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type HashIndex = std::collections::HashMap<u64, u32, std::hash::BuildHasherDefault<PassThrough>>;

/// First occurrences by key, probed with precomputed hashes; equal hashes of
/// different keys are chained and told apart by their bytes.
pub struct Deduper<'k> {
    hasher: ahash::RandomState,
    heads: HashIndex,
    /// (key, first index or -1 for an earlier batch, next entry with the same hash)
    entries: Vec<(&'k [u8], i64, u32)>,
}

const NONE: u32 = u32::MAX;
const SEEN: i64 = -1;

impl<'k> Deduper<'k> {
    pub fn new(seen: &'k [String], expected: usize) -> Self {
        Self::for_shard(seen, expected, |_| true)
    }

    /// A deduper that only sees the keys whose hash `in_shard` accepts: keys
    /// split by hash can be deduplicated by independent dedupers in parallel,
    /// since every occurrence of a key lands in the same shard.
    pub fn for_shard(seen: &'k [String], expected: usize, in_shard: impl Fn(u64) -> bool) -> Self {
        let mut d = Deduper {
            hasher: key_hasher(),
            heads: HashIndex::with_capacity_and_hasher(expected + seen.len(), Default::default()),
            entries: Vec::with_capacity(expected + seen.len()),
        };
        for s in seen {
            let h = hash_key(&d.hasher, s.as_bytes());
            if in_shard(h) {
                d.check_hashed(s.as_bytes(), h, SEEN);
            }
        }
        d
    }

    #[inline]
    pub fn check(&mut self, key: &'k [u8], index: i64) -> Verdict {
        let h = hash_key(&self.hasher, key);
        self.check_hashed(key, h, index)
    }

    /// `hash` must be `hash_key(&key_hasher(), key)`.
    #[inline]
    pub fn check_hashed(&mut self, key: &'k [u8], hash: u64, index: i64) -> Verdict {
        let next_id = self.entries.len() as u32;
        match self.heads.entry(hash) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(next_id);
                self.entries.push((key, index, NONE));
                Verdict::First
            }
            std::collections::hash_map::Entry::Occupied(o) => {
                let mut at = *o.get();
                loop {
                    let (k, first, next) = self.entries[at as usize];
                    if k == key {
                        return if first == SEEN {
                            Verdict::Seen
                        } else {
                            Verdict::DuplicateOf(first)
                        };
                    }
                    if next == NONE {
                        self.entries[at as usize].2 = next_id;
                        self.entries.push((key, index, NONE));
                        return Verdict::First;
                    }
                    at = next;
                }
            }
        }
    }
}

/// The key of every row: raw batches hold JSON text (a JSON string key is
/// compared by its decoded text), other tables are read as text.
fn keys(batch: &RecordBatch, key: &str) -> Result<Vec<Option<Vec<u8>>>> {
    let col = batch
        .column_by_name(key)
        .ok_or_else(|| CoreError::input(format!("the batch has no key column {key:?}")))?;
    let s = batch.schema();
    let raw = s.metadata().contains_key(FORMAT_META) || s.column_with_name(RAW_COL).is_some();
    let text = arrow::compute::cast(col, &DataType::Utf8)
        .map_err(|e| CoreError::input(format!("cannot read key column {key:?} as text: {e}")))?;
    let text = text
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .ok_or_else(|| CoreError::internal("cast to utf8"))?;
    let is_text_col = matches!(
        col.data_type(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    Ok((0..text.len())
        .map(|i| {
            if text.is_null(i) {
                return None;
            }
            let v = text.value(i);
            if raw && is_text_col {
                match json::scan_single(v.as_bytes()) {
                    Ok(t) if t.kind == Kind::Null => None,
                    Ok(t) if t.kind == Kind::String => {
                        let mut out = Vec::new();
                        json::unescape_into(t.content(v.as_bytes()), &mut out);
                        Some(out)
                    }
                    _ => Some(v.as_bytes().to_vec()),
                }
            } else {
                Some(v.as_bytes().to_vec())
            }
        })
        .collect())
}

/// Keep the first occurrence of each key and drop keys in `seen`. Returns the
/// kept rows (batch by batch) and the `_index` values (row numbers when there
/// is no `_index`) of the dropped rows.
pub fn deduplicate_batches(
    schema: arrow_schema::SchemaRef,
    batches: &[RecordBatch],
    key: &str,
    seen: &[String],
) -> Result<(ArrowTable, Vec<i64>)> {
    if schema.column_with_name(key).is_none() {
        return Err(CoreError::input(format!(
            "the batch has no key column {key:?}"
        )));
    }
    let mut all_keys = Vec::with_capacity(batches.len());
    let mut all_index = Vec::with_capacity(batches.len());
    let mut first_row = 0i64;
    for b in batches {
        all_keys.push(keys(b, key)?);
        all_index.push(match b.column_by_name(INDEX_COL) {
            Some(a) => {
                let c = arrow::compute::cast(a, &DataType::Int64)
                    .map_err(|_| CoreError::input("_index must be integers"))?;
                let c = c
                    .as_any()
                    .downcast_ref::<arrow_array::Int64Array>()
                    .cloned()
                    .ok_or_else(|| CoreError::internal("cast"))?;
                (0..c.len())
                    .map(|i| {
                        if c.is_valid(i) {
                            c.value(i)
                        } else {
                            first_row + i as i64
                        }
                    })
                    .collect::<Vec<i64>>()
            }
            None => (first_row..first_row + b.num_rows() as i64).collect(),
        });
        first_row += b.num_rows() as i64;
    }
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    let mut dd = Deduper::new(seen, total);
    let mut dropped = Vec::new();
    let mut out = Vec::with_capacity(batches.len());
    for ((b, ks), index) in batches.iter().zip(&all_keys).zip(&all_index) {
        let mut keep = Vec::with_capacity(ks.len());
        let before = dropped.len();
        for (i, k) in ks.iter().enumerate() {
            let first = match k {
                None => true,
                Some(k) => dd.check(k, index[i]) == Verdict::First,
            };
            keep.push(first);
            if !first {
                dropped.push(index[i]);
            }
        }
        if dropped.len() == before {
            out.push(b.clone());
        } else {
            let mask = BooleanArray::from(keep);
            out.push(
                arrow_select::filter::filter_record_batch(b, &mask)
                    .map_err(crate::error::arrow_err)?,
            );
        }
    }
    if out.is_empty() {
        out.push(RecordBatch::new_empty(schema.clone()));
    }
    Ok((
        ArrowTable {
            schema,
            batches: out,
        },
        dropped,
    ))
}

/// Deduplicate one batch (see `deduplicate_batches`).
pub fn deduplicate(
    batch: &RecordBatch,
    key: &str,
    seen: &[String],
) -> Result<(RecordBatch, Vec<i64>)> {
    let (t, dropped) = deduplicate_batches(batch.schema(), std::slice::from_ref(batch), key, seen)?;
    Ok((t.concat()?, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;
    fn parse_json(d: &[u8], s: bool) -> Result<RecordBatch> {
        crate::parse::parse_json(d, s)?.concat()
    }

    #[test]
    fn first_wins_and_seen_drops() {
        let raw = parse_json(
            b"{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"\\u0061\"}\n{\"x\":1}\n{\"x\":2}\n{\"id\":\"c\"}\n",
            true,
        )
        .unwrap();
        let (kept, dropped) = deduplicate(&raw, "id", &["c".to_string()]).unwrap();
        assert_eq!(dropped, vec![2, 5]);
        assert_eq!(kept.num_rows(), 4);
        assert!(deduplicate(&raw, "nope", &[]).is_err());
    }

    #[test]
    fn deduper_verdicts() {
        let seen = vec!["s".to_string()];
        let mut d = Deduper::new(&seen, 4);
        assert_eq!(d.check(b"k", 0), Verdict::First);
        assert_eq!(d.check(b"k", 3), Verdict::DuplicateOf(0));
        assert_eq!(d.check(b"s", 4), Verdict::Seen);
        // different keys under one hash are told apart
        assert_eq!(d.check_hashed(b"x", 7, 5), Verdict::First);
        assert_eq!(d.check_hashed(b"y", 7, 6), Verdict::First);
        assert_eq!(d.check_hashed(b"y", 7, 8), Verdict::DuplicateOf(6));
        assert_eq!(d.check_hashed(b"x", 7, 9), Verdict::DuplicateOf(5));
    }
}
