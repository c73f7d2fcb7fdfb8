//! Python bindings of parsing, validation, transformation, deduplication and
//! the fused `process`: convert arguments, release the GIL, map errors.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, RecordBatch, RecordBatchReader, StructArray};
use arrow_schema::{DataType, Field, SchemaRef};
use eventlake_core::schema::{Rules, Schema};
use eventlake_core::{
    dedup as core_dedup, parse as core_parse, process as core_process, transform as core_transform,
};
use eventlake_core::{validate as core_validate, CoreError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyCapsule, PyList, PyTuple};
use pyo3_arrow::ffi::{
    to_array_pycapsules, to_schema_pycapsule, to_stream_pycapsule, ArrayIterator,
};
use pyo3_arrow::input::AnyRecordBatch;

use crate::errors::Result;
use crate::keyindex::KeyIndex;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Table>()?;
    m.add_function(wrap_pyfunction!(parse_json, m)?)?;
    m.add_function(wrap_pyfunction!(parse_csv, m)?)?;
    m.add_function(wrap_pyfunction!(parse, m)?)?;
    m.add_function(wrap_pyfunction!(split_payload, m)?)?;
    m.add_class::<ValidationReport>()?;
    m.add_class::<Mask>()?;
    m.add_class::<ProcessResult>()?;
    m.add_function(wrap_pyfunction!(validate_schema, m)?)?;
    m.add_function(wrap_pyfunction!(transform_batch, m)?)?;
    m.add_function(wrap_pyfunction!(deduplicate, m)?)?;
    m.add_function(wrap_pyfunction!(process, m)?)?;
    Ok(())
}

/// Bodies smaller than this are split with the GIL held (see `split_payload`).
const KEEP_GIL_BELOW_BYTES: usize = 64 * 1024;

/// Run core work without the GIL; a panic becomes a DataProcessorError
/// instead of taking the interpreter down (a last resort: the core is written
/// not to panic).
pub fn run<T, F>(py: Python<'_>, f: F) -> Result<T>
where
    T: Send,
    F: FnOnce() -> eventlake_core::Result<T> + Send,
{
    py.detach(|| guarded(f))
}

/// Run core work where it is (the GIL stays as it is), a panic becoming a DataProcessorError.
fn guarded<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> eventlake_core::Result<T>,
{
    let out = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_string());
            Err(CoreError::internal(msg))
        }
    };
    Ok(out?)
}

/// Read any Arrow input (C stream or C array) as its schema and batches
/// (zero-copy).
pub fn input_batches(input: AnyRecordBatch) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let reader = input.into_reader()?;
    let schema = reader.schema();
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| CoreError::input(format!("cannot read the input batch: {e}")))?;
    Ok((schema, batches))
}

/// An Arrow table owned by Rust; hand it to pyarrow/polars without copying
/// (it implements the Arrow PyCapsule stream interface).
#[pyclass(name = "Table", module = "data_processor_rs", frozen)]
pub struct Table {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

impl Table {
    pub fn new(batch: RecordBatch) -> Self {
        Table {
            schema: batch.schema(),
            batches: vec![batch],
        }
    }
    pub fn from_batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        Table { schema, batches }
    }
    pub fn batches(&self) -> &[RecordBatch] {
        &self.batches
    }
}

#[pymethods]
impl Table {
    #[getter]
    fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }

    #[getter]
    fn column_names(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    fn __len__(&self) -> usize {
        self.num_rows()
    }

    fn __repr__(&self) -> String {
        let cols: Vec<String> = self
            .schema
            .fields()
            .iter()
            .map(|f| format!("{}: {}", f.name(), f.data_type()))
            .collect();
        format!(
            "data_processor_rs.Table(num_rows={}, columns=[{}])",
            self.num_rows(),
            cols.join(", ")
        )
    }

    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        Ok(to_schema_pycapsule(py, self.schema.as_ref())?)
    }

    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyCapsule>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let field = Field::new_struct("", self.schema.fields().clone(), false)
            .with_metadata(self.schema.metadata.clone());
        let arrays: Vec<RecordBatch> = self.batches.clone();
        let iter = arrays
            .into_iter()
            .map(|b| Ok(Arc::new(StructArray::from(b)) as ArrayRef));
        let reader = Box::new(ArrayIterator::new(iter, Arc::new(field)));
        Ok(to_stream_pycapsule(py, reader, requested_schema)?)
    }

    /// Convert to a pyarrow.Table (zero-copy).
    fn to_pyarrow<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let pa = slf.py().import("pyarrow")?;
        pa.getattr("table")?.call1((slf,))
    }
}

fn table(batch: RecordBatch) -> Table {
    Table::new(batch)
}

fn table_of(t: core_parse::ArrowTable) -> Table {
    Table::from_batches(t.schema, t.batches)
}

fn one_byte(name: &str, s: &str) -> Result<u8> {
    match s.as_bytes() {
        [c] if c.is_ascii() => Ok(*c),
        _ => Err(CoreError::input(format!(
            "{name} must be a single ASCII character, got {s:?}"
        ))
        .into()),
    }
}

/// Parse a JSON array, a single object or NDJSON into a raw batch.
#[pyfunction]
#[pyo3(signature = (data, *, strict = true))]
fn parse_json(py: Python<'_>, data: PyBackedBytes, strict: bool) -> Result<Table> {
    run(py, || core_parse::parse_json(&data, strict)).map(table_of)
}

/// Parse CSV with a header row into a raw batch.
#[pyfunction]
#[pyo3(signature = (data, *, json_columns, delimiter = ",", strict = true))]
fn parse_csv(
    py: Python<'_>,
    data: PyBackedBytes,
    json_columns: Vec<String>,
    delimiter: &str,
    strict: bool,
) -> Result<Table> {
    let d = one_byte("delimiter", delimiter)?;
    run(py, || {
        core_parse::parse_csv(&data, d, &json_columns, strict)
    })
    .map(table_of)
}

/// Dispatch on format: json/ndjson/csv here, parquet via parse_parquet.
#[pyfunction]
#[pyo3(signature = (data, format, *, json_columns))]
fn parse<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    format: &str,
    json_columns: Vec<String>,
) -> Result<Bound<'py, PyAny>> {
    let fmt = core_parse::Format::from_name(format)?;
    if fmt == core_parse::Format::Parquet {
        let module = py.import("data_processor_rs")?;
        return Ok(module.getattr("parse_parquet")?.call1((data,))?);
    }
    let bytes: PyBackedBytes = data.extract().map_err(PyErr::from)?;
    let batch = run(py, || match fmt {
        core_parse::Format::Csv => core_parse::parse_csv(&bytes, b',', &json_columns, true),
        _ => core_parse::parse_json(&bytes, true),
    })?;
    Ok(Bound::new(py, table_of(batch))?.into_any())
}

/// Validate a request body and cut it into self-contained chunks.
#[pyfunction]
fn split_payload<'py>(
    py: Python<'py>,
    data: PyBackedBytes,
    format: &str,
    max_chunk_bytes: i64,
) -> Result<Bound<'py, PyList>> {
    if max_chunk_bytes <= 0 {
        return Err(CoreError::input("max_chunk_bytes must be positive").into());
    }
    let split = || core_parse::split_payload(&data, format, max_chunk_bytes as usize);
    // Releasing and re-taking the GIL costs more than splitting a small body: the
    // API calls this for every request, most of them one event.
    let chunks = if data.len() < KEEP_GIL_BELOW_BYTES {
        guarded(split)?
    } else {
        run(py, split)?
    };
    let out = PyList::empty(py);
    for (bytes, n) in chunks {
        out.append(PyTuple::new(
            py,
            [
                PyBytes::new(py, &bytes).into_any(),
                n.into_pyobject(py).map_err(PyErr::from)?.into_any(),
            ],
        )?)?;
    }
    Ok(out)
}

fn schema_of(schema: &str) -> Result<Schema> {
    Ok(Schema::from_json(schema)?)
}

/// A boolean Arrow array owned by Rust, handed over without copying through
/// the Arrow PyCapsule array interface: `pyarrow.array(mask)`,
/// `polars.Series(mask)`.
#[pyclass(name = "Mask", module = "data_processor_rs", frozen)]
pub struct Mask {
    array: BooleanArray,
}

#[pymethods]
impl Mask {
    fn __len__(&self) -> usize {
        self.array.len()
    }

    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        Ok(to_schema_pycapsule(py, &mask_field())?)
    }

    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyCapsule>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        Ok(to_array_pycapsules(
            py,
            Arc::new(mask_field()),
            &self.array,
            requested_schema,
        )?)
    }

    /// The mask as a Python list of bools (copies; for small batches and tests).
    fn to_pylist(&self) -> Vec<bool> {
        self.array.values().iter().collect()
    }

    /// Convert to a pyarrow.BooleanArray (zero-copy).
    fn to_pyarrow<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let pa = slf.py().import("pyarrow")?;
        pa.getattr("array")?.call1((slf,))
    }

    fn __repr__(&self) -> String {
        let set = self.array.true_count();
        format!(
            "data_processor_rs.Mask(len={}, true={set}, false={})",
            self.array.len(),
            self.array.len() - set
        )
    }
}

fn mask_field() -> Field {
    Field::new("valid", DataType::Boolean, false)
}

/// The result of validate_schema.
#[pyclass(name = "ValidationReport", module = "data_processor_rs", frozen)]
pub struct ValidationReport {
    violations: RecordBatch,
    valid_mask: BooleanArray,
    valid_count: usize,
}

#[pymethods]
impl ValidationReport {
    /// record_index int64, field utf8, rule utf8, value utf8 (nullable), message utf8.
    #[getter]
    fn violations(&self) -> Table {
        table(self.violations.clone())
    }
    /// One bool per record, true when it has no violation (an Arrow array).
    #[getter]
    fn valid_mask(&self) -> Mask {
        Mask {
            array: self.valid_mask.clone(),
        }
    }
    #[getter]
    fn valid_count(&self) -> usize {
        self.valid_count
    }
    #[getter]
    fn invalid_count(&self) -> usize {
        self.valid_mask.len() - self.valid_count
    }
    fn __repr__(&self) -> String {
        format!(
            "ValidationReport(valid_count={}, invalid_count={}, violations={})",
            self.valid_count,
            self.valid_mask.len() - self.valid_count,
            self.violations.num_rows()
        )
    }
}

/// Return every violation of every record.
#[pyfunction]
fn validate_schema(
    py: Python<'_>,
    batch: AnyRecordBatch,
    schema: &str,
) -> Result<ValidationReport> {
    let (_, batches) = input_batches(batch)?;
    let schema = schema_of(schema)?;
    run(py, || {
        let report = core_validate::validate_batches(&batches, &schema)?;
        let violations = report.violations_batch()?;
        let valid_count = report.valid_count();
        Ok(ValidationReport {
            violations,
            valid_mask: BooleanArray::from(report.valid_mask),
            valid_count,
        })
    })
}

/// Type a raw batch of valid records by `schema` and apply `rules`.
#[pyfunction]
fn transform_batch(
    py: Python<'_>,
    batch: AnyRecordBatch,
    rules: &str,
    schema: &str,
) -> Result<Table> {
    let (_, batches) = input_batches(batch)?;
    let schema = schema_of(schema)?;
    let rules = Rules::from_json(rules, &schema)?;
    run(py, || {
        core_transform::transform_batches(&batches, &schema, &rules)
    })
    .map(table_of)
}

/// Keep the first occurrence of each key (and drop keys in `seen`).
#[pyfunction]
#[pyo3(signature = (batch, key, seen = None))]
fn deduplicate(
    py: Python<'_>,
    batch: AnyRecordBatch,
    key: &str,
    seen: Option<Vec<String>>,
) -> Result<(Table, Vec<i64>)> {
    let (schema, batches) = input_batches(batch)?;
    let seen = seen.unwrap_or_default();
    let (kept, dropped) = run(py, || {
        core_dedup::deduplicate_batches(schema, &batches, key, &seen)
    })?;
    Ok((table_of(kept), dropped))
}

/// The result of process.
#[pyclass(name = "ProcessResult", module = "data_processor_rs", frozen)]
pub struct ProcessResult {
    out: core_process::ProcessOutput,
}

#[pymethods]
impl ProcessResult {
    /// Typed, transformed, deduplicated rows (as transform_batch).
    #[getter]
    fn valid(&self) -> Table {
        table_of(self.out.valid.clone())
    }
    /// record_index int64, raw utf8, violations utf8 (JSON array of {field, rule, value, message}).
    #[getter]
    fn rejected(&self) -> Table {
        table(self.out.rejected.clone())
    }
    #[getter]
    fn record_count(&self) -> usize {
        self.out.record_count
    }
    #[getter]
    fn valid_count(&self) -> usize {
        self.out.valid_count
    }
    #[getter]
    fn invalid_count(&self) -> usize {
        self.out.invalid_count
    }
    #[getter]
    fn duplicate_count(&self) -> usize {
        self.out.duplicate_count
    }
    fn __repr__(&self) -> String {
        format!(
            "ProcessResult(record_count={}, valid_count={}, invalid_count={}, duplicate_count={})",
            self.out.record_count,
            self.out.valid_count,
            self.out.invalid_count,
            self.out.duplicate_count
        )
    }
}

/// parse (lenient) -> validate -> drop invalid -> transform -> deduplicate.
///
/// With `index` (a `KeyIndex`), the job the records belong to (`job_id`, or
/// `jobs`: `[(first record index, job id), ...]` for an input that joins the
/// chunks of several jobs) and `day` (days since 1970-01-01), keys the index
/// holds from another job, or from earlier in the pass, are duplicates too,
/// and the keys kept are added to the index as pending.
#[pyfunction]
#[pyo3(signature = (data, format, schema, rules, *, seen = None, index = None, job_id = None, jobs = None, day = 0))]
#[allow(clippy::too_many_arguments)]
fn process(
    py: Python<'_>,
    data: PyBackedBytes,
    format: &str,
    schema: &str,
    rules: &str,
    seen: Option<Vec<String>>,
    index: Option<PyRef<'_, KeyIndex>>,
    job_id: Option<String>,
    jobs: Option<Vec<(i64, String)>>,
    day: i32,
) -> Result<ProcessResult> {
    let schema = schema_of(schema)?;
    let rules = Rules::from_json(rules, &schema)?;
    let seen = seen.unwrap_or_default();
    let format = format.to_string();
    let mut jobs = match (jobs, job_id) {
        (Some(j), None) if !j.is_empty() => j,
        (None, Some(id)) => vec![(0, id)],
        (None, None) if index.is_none() => Vec::new(),
        _ => {
            return Err(CoreError::input(
                "process(index=...) needs either job_id or a non-empty jobs list (not both)",
            )
            .into())
        }
    };
    jobs.sort_by_key(|(first, _)| *first);
    let mut guard = index.as_ref().map(|ix| ix.lock());
    let use_index = guard.as_mut().map(|g| core_process::IndexUse {
        index: &mut **g,
        jobs: jobs.iter().map(|(first, id)| (*first, id.as_bytes())).collect(),
        day,
    });
    run(py, || {
        core_process::process_indexed(&data, &format, &schema, &rules, &seen, use_index)
    })
    .map(|out| ProcessResult { out })
}
