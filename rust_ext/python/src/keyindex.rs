//! `KeyIndex`: the keys a table already holds, kept in Rust across `process()` calls.

use std::sync::Mutex;

use eventlake_core::keyindex::KeyIndex as CoreIndex;
use pyo3::prelude::*;
use pyo3_arrow::input::AnyRecordBatch;

use crate::errors::Result;
use crate::processing::{input_batches, run};

/// Keys already stored in a table within a window, with the job that stored
/// each and the day it was stored (see the core's `keyindex`). Pass it to
/// `process(..., index=, job_id=, day=)`: records whose key another job
/// stored are duplicates, and the keys kept are added as *pending* until
/// `commit_pending()` (the commit landed) or `rollback_pending()`.
#[pyclass(name = "KeyIndex", module = "data_processor_rs", frozen)]
pub struct KeyIndex {
    pub inner: Mutex<CoreIndex>,
}

impl KeyIndex {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, CoreIndex> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[pymethods]
impl KeyIndex {
    #[new]
    fn new() -> Self {
        KeyIndex {
            inner: Mutex::new(CoreIndex::new()),
        }
    }

    /// Add the keys of rows a table holds: columns `key` (text), `job`
    /// (text) and `stored_at` (timestamp); returns the number of rows read.
    fn add_table(
        &self,
        py: Python<'_>,
        table: AnyRecordBatch,
        key: &str,
        job: &str,
        stored_at: &str,
    ) -> Result<usize> {
        let (_, batches) = input_batches(table)?;
        let mut ix = self.lock();
        let ix = &mut *ix;
        run(py, || ix.add_batches(&batches, key, job, stored_at))
    }

    /// Promote the pending keys (the pass committed); returns how many.
    fn commit_pending(&self) -> usize {
        self.lock().commit_pending()
    }

    /// Forget the pending keys (the pass did not commit); returns how many.
    fn rollback_pending(&self) -> usize {
        self.lock().rollback_pending()
    }

    /// Drop keys stored before `day` (days since 1970-01-01); returns how many.
    fn evict_before(&self, py: Python<'_>, day: i32) -> Result<usize> {
        let mut ix = self.lock();
        let ix = &mut *ix;
        run(py, || Ok(ix.evict_before(day)))
    }

    /// Forget the committed keys (before loading them again); pending keys stay.
    fn clear_committed(&self) {
        self.lock().clear_committed()
    }

    /// Pending keys that the committed layer now holds from another job.
    fn pending_conflicts(&self) -> usize {
        self.lock().pending_conflicts()
    }

    /// Keys held as committed.
    fn __len__(&self) -> usize {
        self.lock().len()
    }

    #[getter]
    fn pending_count(&self) -> usize {
        self.lock().pending_len()
    }

    /// Bytes held by the index's tables.
    fn memory_bytes(&self) -> usize {
        self.lock().memory_bytes()
    }

    fn __repr__(&self) -> String {
        let ix = self.lock();
        format!(
            "KeyIndex(keys={}, pending={}, memory_bytes={})",
            ix.len(),
            ix.pending_len(),
            ix.memory_bytes()
        )
    }
}

