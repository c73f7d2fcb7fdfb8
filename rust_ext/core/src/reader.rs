//! Read Parquet (e.g. an Iceberg data file) back as typed Arrow batches.
//! Field metadata such as `PARQUET:field_id` is kept on the Arrow fields.

use std::fs::File;
use std::path::Path;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::ChunkReader;

use crate::error::{CoreError, Detail, Result};

/// Read a whole Parquet file held in memory.
pub fn read_parquet_bytes(data: Vec<u8>) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    read(bytes::Bytes::from(data), "<bytes>")
}

/// Read a whole Parquet file from the local file system.
pub fn read_parquet_file(path: &Path) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let file =
        File::open(path).map_err(|e| parse_err(format!("cannot open {}: {e}", path.display())))?;
    read(file, &path.display().to_string())
}

fn read<R: ChunkReader + 'static>(input: R, what: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(input)
        .map_err(|e| parse_err(format!("not a readable Parquet file ({what}): {e}")))?;
    let schema = builder.schema().clone();
    let reader = builder
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| parse_err(format!("cannot read Parquet ({what}): {e}")))?;
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| parse_err(format!("cannot decode Parquet ({what}): {e}")))?;
    Ok((schema, batches))
}

fn parse_err(message: String) -> CoreError {
    let mut d = Detail::new();
    d.insert("message".into(), message.clone().into());
    CoreError::Parse {
        message,
        line: None,
        offset: None,
        details: vec![d],
    }
}
