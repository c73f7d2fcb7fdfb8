//! The key index: the keys a table already holds within a window, so that a
//! record whose key an earlier job stored is a duplicate whatever the timing
//! of the batches.
//!
//! A key is kept as a 128-bit fingerprint (two independent 64-bit hashes of
//! its bytes: a false match needs both to collide, about n^2 / 2^129) with
//! the job that stored it (a 48-bit hash of the job id) and the day it was
//! stored (days since the epoch, for the window). 24 bytes of payload a key.
//!
//! Two layers: `committed` holds what the table holds; `pending` what the
//! current pass has processed but not committed yet. The caller promotes
//! pending keys after its commit landed, or drops them when it did not.
//!
//! A key is a duplicate for a record of job `j` when the pending layer holds
//! it (an earlier record of this pass), or the committed layer holds it from
//! another job. Keys the committed layer holds *from job `j` itself* are
//! ignored: a job is committed whole by one pass, so those are the job's own
//! records being replayed after a crash, and the pass decides again exactly
//! as the first time.
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use arrow::compute::cast;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};

use crate::dedup::{hash_key, key_hasher, PassThrough};
use crate::error::{CoreError, Result};

const US_PER_DAY: i64 = 86_400_000_000;

/// Two independent 64-bit hashes of a key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Fingerprint(pub u64, pub u64);

impl Hash for Fingerprint {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
    }
}

fn second_hasher() -> ahash::RandomState {
    ahash::RandomState::with_seeds(
        0xbe54_66cf_34e9_0c6c,
        0xc0ac_29b7_c97c_50dd,
        0x3f84_d5b5_b547_0917,
        0x9216_d5d9_8979_fb1b,
    )
}

/// Fingerprints keys and job ids with fixed seeds (the same in every process).
#[derive(Clone)]
pub struct Hashers {
    first: ahash::RandomState,
    second: ahash::RandomState,
}

impl Default for Hashers {
    fn default() -> Self {
        Hashers {
            first: key_hasher(),
            second: second_hasher(),
        }
    }
}

impl Hashers {
    /// `first` must be `hash_key(&key_hasher(), key)` (the deduper's hash).
    #[inline]
    pub fn fingerprint_with(&self, key: &[u8], first: u64) -> Fingerprint {
        Fingerprint(first, self.second.hash_one(key))
    }
    #[inline]
    pub fn fingerprint(&self, key: &[u8]) -> Fingerprint {
        self.fingerprint_with(key, hash_key(&self.first, key))
    }
    /// 48 bits identifying a job.
    #[inline]
    pub fn origin(&self, job_id: &[u8]) -> u64 {
        self.second.hash_one(job_id) >> 16
    }
}

type Map = HashMap<Fingerprint, u64, BuildHasherDefault<PassThrough>>;

#[inline]
fn pack(origin: u64, day: i32) -> u64 {
    (origin << 16) | (day.clamp(0, u16::MAX as i32) as u64)
}

#[inline]
fn unpack_origin(v: u64) -> u64 {
    v >> 16
}

#[inline]
fn unpack_day(v: u64) -> i32 {
    (v & 0xffff) as i32
}

#[derive(Default)]
pub struct KeyIndex {
    pub hashers: Hashers,
    committed: Map,
    pending: Map,
}

impl KeyIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a record of job `origin` with this key repeats a key stored before it.
    #[inline]
    pub fn is_duplicate(&self, fp: &Fingerprint, origin: u64) -> bool {
        if self.pending.contains_key(fp) {
            return true;
        }
        match self.committed.get(fp) {
            Some(v) => unpack_origin(*v) != origin,
            None => false,
        }
    }

    /// Remember a key this pass stored (not committed yet).
    #[inline]
    pub fn add_pending(&mut self, fp: Fingerprint, origin: u64, day: i32) {
        self.pending.entry(fp).or_insert(pack(origin, day));
    }

    /// Record a key the table holds (loading the index, or catching up).
    /// The first job to store a key stays its origin.
    #[inline]
    pub fn add_committed(&mut self, fp: Fingerprint, origin: u64, day: i32) {
        self.committed.entry(fp).or_insert(pack(origin, day));
    }

    /// The pass committed: its keys are now the table's.
    pub fn commit_pending(&mut self) -> usize {
        let n = self.pending.len();
        self.committed.reserve(n);
        for (fp, v) in self.pending.drain() {
            self.committed.entry(fp).or_insert(v);
        }
        n
    }

    /// The pass did not commit: forget its keys.
    pub fn rollback_pending(&mut self) -> usize {
        let n = self.pending.len();
        self.pending.clear();
        n
    }

    /// Drop committed keys stored before `day`; returns how many.
    pub fn evict_before(&mut self, day: i32) -> usize {
        let before = self.committed.len();
        self.committed.retain(|_, v| unpack_day(*v) >= day);
        before - self.committed.len()
    }

    pub fn len(&self) -> usize {
        self.committed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.committed.is_empty()
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Bytes held by both layers' tables (entries and control bytes).
    pub fn memory_bytes(&self) -> usize {
        let entry = std::mem::size_of::<(Fingerprint, u64)>() + 1;
        (self.committed.capacity() + self.pending.capacity()) * entry
    }

    /// Add the keys of rows a table holds: columns `key` (text), `job`
    /// (text) and `stored_at` (timestamp); returns the number of keys read.
    pub fn add_batches(
        &mut self,
        batches: &[RecordBatch],
        key: &str,
        job: &str,
        stored_at: &str,
    ) -> Result<usize> {
        let mut n = 0;
        for b in batches {
            let col = |name: &str, ty: &DataType| {
                let c = b
                    .column_by_name(name)
                    .ok_or_else(|| CoreError::input(format!("the table has no column {name:?}")))?;
                cast(c, ty).map_err(|e| CoreError::input(format!("column {name:?}: {e}")))
            };
            let keys = col(key, &DataType::Utf8)?;
            let jobs = col(job, &DataType::Utf8)?;
            let at = col(stored_at, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
            let (keys, jobs) = (keys.as_string::<i32>(), jobs.as_string::<i32>());
            let at = at.as_primitive::<TimestampMicrosecondType>();
            self.committed.reserve(b.num_rows());
            for i in 0..b.num_rows() {
                if keys.is_null(i) {
                    continue;
                }
                let fp = self.hashers.fingerprint(keys.value(i).as_bytes());
                let origin = self
                    .hashers
                    .origin(if jobs.is_null(i) { b"" } else { jobs.value(i).as_bytes() });
                let day = if at.is_null(i) {
                    0
                } else {
                    at.value(i).div_euclid(US_PER_DAY) as i32
                };
                self.add_committed(fp, origin, day);
                n += 1;
            }
        }
        Ok(n)
    }

    /// Forget the committed layer (to load it again); the pending keys stay.
    pub fn clear_committed(&mut self) {
        self.committed = Map::default();
    }

    /// Pending keys that the committed layer now holds from another job: a
    /// concurrent writer stored them after this pass checked its records.
    pub fn pending_conflicts(&self) -> usize {
        self.pending
            .iter()
            .filter(|(fp, v)| {
                self.committed
                    .get(fp)
                    .is_some_and(|c| unpack_origin(*c) != unpack_origin(**v))
            })
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_jobs_key_is_a_duplicate_the_same_jobs_is_not() {
        let mut ix = KeyIndex::new();
        let h = ix.hashers.clone();
        let (a, b) = (h.origin(b"job-a"), h.origin(b"job-b"));
        let k = h.fingerprint(b"e1");
        ix.add_committed(k, a, 20_000);
        assert!(ix.is_duplicate(&k, b));
        assert!(!ix.is_duplicate(&k, a), "a replay of job a decides again");
        assert!(!ix.is_duplicate(&h.fingerprint(b"e2"), b));
    }

    #[test]
    fn pending_keys_are_duplicates_until_rolled_back_and_kept_once_committed() {
        let mut ix = KeyIndex::new();
        let h = ix.hashers.clone();
        let a = h.origin(b"a");
        let k = h.fingerprint(b"k");
        ix.add_pending(k, a, 1);
        assert!(ix.is_duplicate(&k, a), "an earlier chunk of the same pass stored it");
        assert_eq!(ix.rollback_pending(), 1);
        assert!(!ix.is_duplicate(&k, h.origin(b"b")));
        ix.add_pending(k, a, 1);
        assert_eq!(ix.commit_pending(), 1);
        assert_eq!((ix.len(), ix.pending_len()), (1, 0));
        assert!(ix.is_duplicate(&k, h.origin(b"b")));
    }

    #[test]
    fn a_pending_key_another_job_committed_meanwhile_is_a_conflict() {
        let mut ix = KeyIndex::new();
        let h = ix.hashers.clone();
        ix.add_pending(h.fingerprint(b"k"), h.origin(b"a"), 1);
        ix.add_pending(h.fingerprint(b"m"), h.origin(b"a"), 1);
        assert_eq!(ix.pending_conflicts(), 0);
        ix.add_committed(h.fingerprint(b"m"), h.origin(b"a"), 1); // a replay of our own job
        assert_eq!(ix.pending_conflicts(), 0);
        ix.add_committed(h.fingerprint(b"k"), h.origin(b"b"), 1);
        assert_eq!(ix.pending_conflicts(), 1);
        ix.clear_committed();
        assert_eq!((ix.len(), ix.pending_len()), (0, 2));
    }

    #[test]
    fn eviction_drops_keys_older_than_the_window() {
        let mut ix = KeyIndex::new();
        let h = ix.hashers.clone();
        ix.add_committed(h.fingerprint(b"old"), 1, 100);
        ix.add_committed(h.fingerprint(b"new"), 1, 107);
        assert_eq!(ix.evict_before(101), 1);
        assert!(ix.is_duplicate(&h.fingerprint(b"new"), 2));
        assert!(!ix.is_duplicate(&h.fingerprint(b"old"), 2));
    }

    #[test]
    fn fingerprints_are_stable_and_distinct() {
        let h = Hashers::default();
        assert_eq!(h.fingerprint(b"x"), Hashers::default().fingerprint(b"x"));
        let all: std::collections::HashSet<(u64, u64)> = (0..100_000)
            .map(|i| {
                let f = h.fingerprint(format!("k{i}").as_bytes());
                (f.0, f.1)
            })
            .collect();
        assert_eq!(all.len(), 100_000);
    }
}
