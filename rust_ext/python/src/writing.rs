//! Python bindings of the Iceberg Parquet writer and the Parquet reader:
//! convert arguments, release the GIL around the work, map errors.

use std::path::PathBuf;

use eventlake_core::iceberg::{IcebergSchema, PartitionSpec, PartitionValue};
use eventlake_core::writer::{write_iceberg_parquet as core_write, DataFileMeta, WriteOptions};
use eventlake_core::CoreError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use pyo3_arrow::input::AnyRecordBatch;

use crate::errors::Result;
use crate::processing::Table;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(write_iceberg_parquet, m)?)?;
    m.add_function(wrap_pyfunction!(parse_parquet, m)?)?;
    Ok(())
}

/// Write zstd Parquet data files for an Iceberg table; returns one metadata dict per file.
#[pyfunction]
#[pyo3(signature = (
    batch, location, iceberg_schema, partition_spec, *,
    target_file_size = 134_217_728, compression = "zstd", compression_level = 3, file_prefix = None
))]
#[allow(clippy::too_many_arguments)]
fn write_iceberg_parquet<'py>(
    py: Python<'py>,
    batch: AnyRecordBatch,
    location: &str,
    iceberg_schema: &str,
    partition_spec: &str,
    target_file_size: u64,
    compression: &str,
    compression_level: i32,
    file_prefix: Option<&str>,
) -> Result<Bound<'py, PyList>> {
    let schema = IcebergSchema::from_json(iceberg_schema)?;
    let spec = PartitionSpec::from_json(partition_spec, &schema)?;
    let opts = WriteOptions::new(
        target_file_size,
        compression,
        compression_level,
        file_prefix,
    )
    ?;
    // importing the stream is zero-copy; the producer may need the GIL for it
    let reader = batch.into_reader()?;
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| CoreError::write(format!("cannot read the input batch: {e}")))?;
    let location = location.to_string();
    let files = py
        .detach(move || core_write(&batches, &location, &schema, &spec, &opts))
        ?;
    let out = PyList::empty(py);
    for f in &files {
        out.append(file_to_dict(py, f)?)?;
    }
    Ok(out)
}

fn file_to_dict<'py>(py: Python<'py>, f: &DataFileMeta) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let m = &f.metrics;
    d.set_item("file_path", &f.file_path)?;
    let partition = PyDict::new(py);
    for (name, value) in &f.partition {
        partition.set_item(name, partition_value(py, value)?)?;
    }
    d.set_item("partition", partition)?;
    d.set_item("record_count", m.record_count)?;
    d.set_item("file_size_in_bytes", f.file_size_in_bytes)?;
    d.set_item("column_sizes", m.column_sizes.clone())?;
    d.set_item("value_counts", m.value_counts.clone())?;
    d.set_item("null_value_counts", m.null_value_counts.clone())?;
    d.set_item("nan_value_counts", f.nan_value_counts.clone())?;
    let bounds = |map: &std::collections::BTreeMap<i32, Vec<u8>>| -> PyResult<Bound<'py, PyDict>> {
        let b = PyDict::new(py);
        for (id, bytes) in map {
            b.set_item(id, PyBytes::new(py, bytes))?;
        }
        Ok(b)
    };
    d.set_item("lower_bounds", bounds(&m.lower_bounds)?)?;
    d.set_item("upper_bounds", bounds(&m.upper_bounds)?)?;
    d.set_item("split_offsets", m.split_offsets.clone())?;
    Ok(d)
}

fn partition_value<'py>(py: Python<'py>, v: &PartitionValue) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        PartitionValue::Null => py.None().into_bound(py),
        PartitionValue::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        PartitionValue::Int(i) => i.into_pyobject(py)?.into_any(),
        PartitionValue::Float(x) => x.into_pyobject(py)?.into_any(),
        PartitionValue::String(s) => s.into_pyobject(py)?.into_any(),
        PartitionValue::Binary(b) => PyBytes::new(py, b).into_any(),
    })
}

/// Read a Parquet file (path or bytes) back as a typed Arrow table.
#[pyfunction]
fn parse_parquet(py: Python<'_>, path_or_bytes: &Bound<'_, PyAny>) -> Result<Table> {
    let result = if let Ok(bytes) = path_or_bytes.cast::<PyBytes>() {
        let data = bytes.as_bytes().to_vec();
        py.detach(move || eventlake_core::reader::read_parquet_bytes(data))
    } else {
        let mut path: PathBuf = path_or_bytes.extract()?;
        // Iceberg file paths under a local warehouse are file:// URIs
        if let Some(rest) = path.to_str().and_then(|p| p.strip_prefix("file://")) {
            path = PathBuf::from(rest);
        }
        py.detach(move || eventlake_core::reader::read_parquet_file(&path))
    };
    let (schema, batches) = result?;
    Ok(Table::from_batches(schema, batches))
}
