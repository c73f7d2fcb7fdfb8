//! Write Arrow batches as Iceberg data files: zstd Parquet whose field ids are
//! the Iceberg field ids, split by partition value and rolled at a target
//! size, with the metrics an Iceberg fast-append needs taken from the footer
//! just written (no re-read).
//!
//! Parallelism: partitions are written concurrently (rayon), and inside each
//! row group every column is encoded on its own task, so a single big file
//! still uses all cores. Output order is deterministic: partitions sorted by
//! value, files in the order they were rolled.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arrow::compute::{cast_with_options, take_record_batch, CastOptions};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type};
use arrow_array::{new_null_array, Array, ArrayRef, RecordBatch, UInt32Array};
use arrow_schema::{DataType, SchemaRef};
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowRowGroupWriterFactory, ArrowWriterOptions,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use rayon::prelude::*;
use serde_json::Value;

use crate::error::{Detail, Result};
use crate::iceberg::{
    detail, partition_column, partition_path, write_err, IcebergSchema, PartitionSpec,
    PartitionValue,
};
use crate::metrics::{file_metrics, FileMetrics};
use crate::validate::Rule;

/// Largest row group, in rows (the Parquet writers' usual default).
const MAX_ROW_GROUP_ROWS: usize = 1 << 20;
const WRITE_BUFFER_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Zstd(i32),
    Snappy,
}

#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Roll to a new file once a file reaches this many bytes.
    pub target_file_size: u64,
    pub codec: Codec,
    /// File names are `<prefix>-<uuid>.parquet`.
    pub file_prefix: String,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            target_file_size: 128 * 1024 * 1024,
            codec: Codec::Zstd(3),
            file_prefix: "data".into(),
        }
    }
}

impl WriteOptions {
    pub fn new(
        target_file_size: u64,
        compression: &str,
        level: i32,
        file_prefix: Option<&str>,
    ) -> Result<Self> {
        let codec = match compression.to_ascii_lowercase().as_str() {
            "zstd" => {
                ZstdLevel::try_new(level).map_err(|e| {
                    write_err(
                        format!("invalid zstd compression level {level}: {e}"),
                        vec![detail(&[("compression_level", level.into())])],
                    )
                })?;
                Codec::Zstd(level)
            }
            "snappy" => Codec::Snappy,
            other => {
                return Err(write_err(
                    format!("unsupported compression {other:?}: data files are always compressed (zstd or snappy)"),
                    vec![detail(&[("compression", other.into())])],
                ))
            }
        };
        if target_file_size == 0 {
            return Err(write_err("target_file_size must be positive", vec![]));
        }
        let file_prefix = file_prefix.unwrap_or("data");
        if file_prefix.is_empty() || file_prefix.contains(['/', '\\']) {
            return Err(write_err(
                format!(
                    "file_prefix {file_prefix:?} must be a non-empty name without path separators"
                ),
                vec![],
            ));
        }
        Ok(WriteOptions {
            target_file_size,
            codec,
            file_prefix: file_prefix.to_string(),
        })
    }

    fn compression(&self) -> Compression {
        match self.codec {
            Codec::Zstd(level) => Compression::ZSTD(ZstdLevel::try_new(level).unwrap_or_default()),
            Codec::Snappy => Compression::SNAPPY,
        }
    }
}

/// One written data file and everything an Iceberg fast-append needs.
#[derive(Debug, Clone, PartialEq)]
pub struct DataFileMeta {
    /// Path in the scheme of `location` (plain path or file:// URI).
    pub file_path: String,
    /// (partition field name, value in Iceberg's internal representation), in spec order.
    pub partition: Vec<(String, PartitionValue)>,
    pub file_size_in_bytes: i64,
    pub metrics: FileMetrics,
    /// NaN count per float/double field id.
    pub nan_value_counts: BTreeMap<i32, i64>,
}

/// Write `batches` under `location` (a local path or file:// URI) as Iceberg
/// data files of `schema`, partitioned by `spec`.
pub fn write_iceberg_parquet(
    batches: &[RecordBatch],
    location: &str,
    schema: &IcebergSchema,
    spec: &PartitionSpec,
    opts: &WriteOptions,
) -> Result<Vec<DataFileMeta>> {
    let root = LocalRoot::parse(location)?;
    let target = schema.arrow_schema();
    let conformed: Vec<RecordBatch> = batches
        .iter()
        .filter(|b| b.num_rows() > 0)
        .map(|b| conform_batch(b, schema, &target))
        .collect::<Result<_>>()?;
    if conformed.is_empty() {
        return Ok(Vec::new());
    }
    let groups = split_by_partition(&conformed, spec)?;
    let ctx = WriteContext {
        root: &root,
        schema,
        spec,
        target: &target,
        opts,
        props: writer_properties(opts),
        created: Mutex::new(Vec::new()),
    };
    let per_group: Result<Vec<Vec<DataFileMeta>>> =
        groups.into_par_iter().map(|g| ctx.write_group(g)).collect();
    match per_group {
        Ok(per_group) => Ok(per_group.into_iter().flatten().collect()),
        Err(e) => {
            // the caller never learns these paths: do not leave them behind
            for path in ctx.created.into_inner().unwrap_or_default() {
                let _ = std::fs::remove_file(path);
            }
            Err(e)
        }
    }
}

fn writer_properties(opts: &WriteOptions) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(opts.compression())
        // exact min/max: the Iceberg truncate(16) rule is applied afterwards
        .set_statistics_truncate_length(None)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_max_row_group_row_count(Some(MAX_ROW_GROUP_ROWS))
        .set_created_by(format!("eventlake-core {}", crate::VERSION))
        .build()
}

/// Rows sampled per column to decide whether dictionary encoding pays off.
const DICTIONARY_SAMPLE_ROWS: usize = 4096;

/// Columns whose sample is mostly distinct values (ids, timestamps): a
/// dictionary would only be built and thrown away, so encode them plainly.
fn high_cardinality_columns(sample: &RecordBatch) -> Vec<String> {
    let rows = sample.num_rows();
    if rows < 256 {
        return Vec::new();
    }
    let step = (rows / DICTIONARY_SAMPLE_ROWS).max(1);
    let picks: Vec<usize> = (0..rows)
        .step_by(step)
        .take(DICTIONARY_SAMPLE_ROWS)
        .collect();
    let schema = sample.schema();
    sample
        .columns()
        .iter()
        .zip(schema.fields())
        .filter(|(col, _)| {
            let distinct = match col.data_type() {
                DataType::Utf8 => {
                    let a = col.as_string::<i32>();
                    picks
                        .iter()
                        .filter(|&&i| a.is_valid(i))
                        .map(|&i| a.value(i).as_bytes())
                        .collect::<ahash::AHashSet<_>>()
                        .len()
                }
                DataType::Binary => {
                    let a = col.as_binary::<i32>();
                    picks
                        .iter()
                        .filter(|&&i| a.is_valid(i))
                        .map(|&i| a.value(i))
                        .collect::<ahash::AHashSet<_>>()
                        .len()
                }
                dt if matches!(dt.primitive_width(), Some(4 | 8)) => {
                    let data = col.to_data();
                    let width = dt.primitive_width().unwrap_or(8);
                    let bytes = &data.buffers()[0].as_slice()[data.offset() * width..];
                    picks
                        .iter()
                        .filter(|&&i| col.is_valid(i))
                        .map(|&i| &bytes[i * width..(i + 1) * width])
                        .collect::<ahash::AHashSet<_>>()
                        .len()
                }
                _ => return false,
            };
            distinct * 2 > picks.len()
        })
        .map(|(_, f)| f.name().clone())
        .collect()
}

/// Where files go on the local file system, and how their paths are reported.
struct LocalRoot {
    /// `location` without a trailing slash, as the caller wrote it.
    reported: String,
    fs: PathBuf,
}

impl LocalRoot {
    fn parse(location: &str) -> Result<LocalRoot> {
        let reported = location.trim_end_matches('/').to_string();
        // pyiceberg opens file:// paths literally (no percent-decoding); do the same
        let fs = if let Some(rest) = reported.strip_prefix("file://") {
            rest.to_string()
        } else if let Some(rest) = reported.strip_prefix("file:") {
            rest.to_string()
        } else if reported.contains("://") {
            return Err(write_err(
                format!(
                    "location {location:?} is not local: write to a local staging path and upload"
                ),
                vec![detail(&[("location", location.into())])],
            ));
        } else {
            reported.clone()
        };
        if fs.is_empty() {
            return Err(write_err("location is empty", vec![]));
        }
        Ok(LocalRoot {
            reported,
            fs: PathBuf::from(fs),
        })
    }
}

/// Pick, cast and check the columns of `batch` against the Iceberg schema.
fn conform_batch(
    batch: &RecordBatch,
    schema: &IcebergSchema,
    target: &SchemaRef,
) -> Result<RecordBatch> {
    let input = batch.schema();
    let rows = batch.num_rows();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields.len());
    let mut problems: Vec<Detail> = Vec::new();
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    for (field, out_field) in schema.fields.iter().zip(target.fields()) {
        let want = out_field.data_type();
        let Ok(idx) = input.index_of(&field.name) else {
            if field.required {
                problems.push(detail(&[
                    ("field", field.name.as_str().into()),
                    ("field_id", field.id.into()),
                    ("rule", Rule::Required.as_str().into()),
                    ("message", "required column is missing".into()),
                ]));
            } else {
                columns.push(new_null_array(want, rows));
            }
            continue;
        };
        let col = batch.column(idx);
        let col = if col.data_type() == want {
            Arc::clone(col)
        } else {
            match cast_with_options(col, want, &options) {
                Ok(c) => c,
                Err(e) => {
                    problems.push(detail(&[
                        ("field", field.name.as_str().into()),
                        ("field_id", field.id.into()),
                        ("rule", Rule::Type.as_str().into()),
                        ("from_type", col.data_type().to_string().into()),
                        ("to_type", field.ty.name().into()),
                        (
                            "message",
                            format!(
                                "cannot cast {} to {}: {e}",
                                col.data_type(),
                                field.ty.name()
                            )
                            .into(),
                        ),
                    ]));
                    continue;
                }
            }
        };
        if field.required && col.null_count() > 0 {
            let first = (0..col.len()).find(|&i| col.is_null(i)).unwrap_or(0);
            problems.push(detail(&[
                ("field", field.name.as_str().into()),
                ("field_id", field.id.into()),
                ("rule", Rule::Required.as_str().into()),
                ("null_count", (col.null_count() as u64).into()),
                ("first_null_row", (first as u64).into()),
                ("message", "required column has nulls".into()),
            ]));
            continue;
        }
        columns.push(col);
    }
    if !problems.is_empty() {
        let names: Vec<String> = problems
            .iter()
            .filter_map(|d| d.get("field").and_then(Value::as_str).map(str::to_string))
            .collect();
        return Err(write_err(
            format!(
                "batch does not match the Iceberg schema (fields: {})",
                names.join(", ")
            ),
            problems,
        ));
    }
    RecordBatch::try_new(Arc::clone(target), columns)
        .map_err(|e| write_err(format!("cannot assemble batch: {e}"), vec![]))
}

/// All rows of one partition value, as chunks in input order.
struct PartitionGroup {
    values: Vec<PartitionValue>,
    chunks: Vec<RecordBatch>,
}

fn split_by_partition(
    batches: &[RecordBatch],
    spec: &PartitionSpec,
) -> Result<Vec<PartitionGroup>> {
    if spec.fields.is_empty() {
        return Ok(vec![PartitionGroup {
            values: Vec::new(),
            chunks: batches.to_vec(),
        }]);
    }
    let mut index: HashMap<Vec<PartitionKey>, usize> = HashMap::new();
    let mut groups: Vec<PartitionGroup> = Vec::new();
    for batch in batches {
        let rows = batch.num_rows();
        let cols: Vec<_> = spec
            .fields
            .iter()
            .map(|f| partition_column(f, batch.column(f.source_index)))
            .collect::<Result<_>>()?;
        // combine the per-field codes into one code per row
        let (codes, tuples): (Vec<u32>, Vec<Vec<usize>>) = if cols.len() == 1 {
            let c = &cols[0];
            (
                c.codes.clone(),
                (0..c.values.len()).map(|v| vec![v]).collect(),
            )
        } else {
            let mut map: HashMap<Vec<u32>, u32> = HashMap::new();
            let mut tuples: Vec<Vec<usize>> = Vec::new();
            let mut codes = Vec::with_capacity(rows);
            for row in 0..rows {
                let key: Vec<u32> = cols.iter().map(|c| c.codes[row]).collect();
                let next = tuples.len() as u32;
                let code = *map.entry(key.clone()).or_insert_with(|| {
                    tuples.push(key.iter().map(|&k| k as usize).collect());
                    next
                });
                codes.push(code);
            }
            (codes, tuples)
        };
        if tuples.len() == 1 {
            let values: Vec<PartitionValue> = cols
                .iter()
                .map(|c| c.values[tuples[0][0]].clone())
                .collect();
            push_chunk(&mut index, &mut groups, values, batch.clone());
            continue;
        }
        let mut rows_of: Vec<Vec<u32>> = vec![Vec::new(); tuples.len()];
        for (row, &code) in codes.iter().enumerate() {
            rows_of[code as usize].push(row as u32);
        }
        let pieces: Vec<Vec<RecordBatch>> = rows_of
            .into_par_iter()
            .map(|rows| gather_rows(batch, rows))
            .collect::<Result<_>>()?;
        for (tuple, chunks) in tuples.iter().zip(pieces) {
            let values: Vec<PartitionValue> = cols
                .iter()
                .zip(tuple)
                .map(|(c, &v)| c.values[v].clone())
                .collect();
            for chunk in chunks {
                push_chunk(&mut index, &mut groups, values.clone(), chunk);
            }
        }
    }
    groups.sort_by(|a, b| {
        a.values
            .iter()
            .zip(&b.values)
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    Ok(groups)
}

/// Average run length from which a partition's rows are kept as zero-copy
/// slices of the input instead of being gathered into a new batch.
const MIN_AVERAGE_RUN: usize = 512;

/// The rows `rows` (ascending) of `batch`: slices when they form long runs
/// (time-ordered input is split without copying), one `take` otherwise.
fn gather_rows(batch: &RecordBatch, rows: Vec<u32>) -> Result<Vec<RecordBatch>> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &r in &rows {
        match runs.last_mut() {
            Some((start, len)) if *start + *len == r as usize => *len += 1,
            _ => runs.push((r as usize, 1)),
        }
    }
    if runs.len() * MIN_AVERAGE_RUN <= rows.len() {
        return Ok(runs
            .into_iter()
            .map(|(start, len)| batch.slice(start, len))
            .collect());
    }
    let taken = take_record_batch(batch, &UInt32Array::from(rows))
        .map_err(|e| write_err(format!("cannot split batch by partition: {e}"), vec![]))?;
    Ok(vec![taken])
}

/// Hashable form of a partition value (floats by bit pattern).
#[derive(Hash, PartialEq, Eq)]
enum PartitionKey {
    Null,
    Bool(bool),
    Int(i64),
    Float(u64),
    String(String),
    Binary(Vec<u8>),
}

fn push_chunk(
    index: &mut HashMap<Vec<PartitionKey>, usize>,
    groups: &mut Vec<PartitionGroup>,
    values: Vec<PartitionValue>,
    chunk: RecordBatch,
) {
    let key: Vec<PartitionKey> = values
        .iter()
        .map(|v| match v {
            PartitionValue::Null => PartitionKey::Null,
            PartitionValue::Bool(b) => PartitionKey::Bool(*b),
            PartitionValue::Int(i) => PartitionKey::Int(*i),
            PartitionValue::Float(f) => PartitionKey::Float(f.to_bits()),
            PartitionValue::String(s) => PartitionKey::String(s.clone()),
            PartitionValue::Binary(b) => PartitionKey::Binary(b.clone()),
        })
        .collect();
    let next = groups.len();
    let at = *index.entry(key).or_insert(next);
    if at == next {
        groups.push(PartitionGroup {
            values,
            chunks: Vec::new(),
        });
    }
    groups[at].chunks.push(chunk);
}

struct WriteContext<'a> {
    root: &'a LocalRoot,
    schema: &'a IcebergSchema,
    spec: &'a PartitionSpec,
    target: &'a SchemaRef,
    opts: &'a WriteOptions,
    props: WriterProperties,
    /// Every file this call created, removed again if the call fails.
    created: Mutex<Vec<PathBuf>>,
}

/// A data file being written.
struct OpenFile {
    reported: String,
    writer: parquet::file::writer::SerializedFileWriter<BufWriter<File>>,
    factory: ArrowRowGroupWriterFactory,
    row_groups: usize,
    nan_counts: Vec<i64>,
}

impl WriteContext<'_> {
    fn write_group(&self, group: PartitionGroup) -> Result<Vec<DataFileMeta>> {
        let rows: usize = group.chunks.iter().map(RecordBatch::num_rows).sum();
        let bytes: usize = group.chunks.iter().map(estimate_batch_bytes).sum();
        let per_row = (bytes / rows.max(1)).max(1);
        // a row group holds about target_file_size bytes of Arrow data; once
        // compressed, several fit in a file before it rolls
        let rg_rows =
            ((self.opts.target_file_size as usize) / per_row).clamp(1, MAX_ROW_GROUP_ROWS);
        let dir = if self.spec.fields.is_empty() {
            String::from("data")
        } else {
            format!("data/{}", partition_path(self.spec, &group.values))
        };
        std::fs::create_dir_all(self.root.fs.join(&dir))
            .map_err(|e| io_err(&self.root.fs.join(&dir), e))?;

        let mut props = self.props.clone().into_builder();
        for name in high_cardinality_columns(&group.chunks[0]) {
            props = props.set_column_dictionary_enabled(name.into(), false);
        }
        let props = props.build();
        let mut out = Vec::new();
        let mut open: Option<OpenFile> = None;
        let mut cursor = RowCursor {
            chunks: &group.chunks,
            chunk: 0,
            offset: 0,
        };
        while let Some(slices) = cursor.next_rows(rg_rows) {
            let file = match open.as_mut() {
                Some(f) => f,
                None => open.insert(self.open_file(&dir, &props)?),
            };
            self.write_row_group(file, &slices)?;
            if file.writer.bytes_written() as u64 >= self.opts.target_file_size {
                out.push(self.close_file(open.take().expect("open file"), &group.values)?);
            }
        }
        if let Some(file) = open.take() {
            out.push(self.close_file(file, &group.values)?);
        }
        Ok(out)
    }

    fn open_file(&self, dir: &str, props: &WriterProperties) -> Result<OpenFile> {
        let name = format!("{}-{}.parquet", self.opts.file_prefix, uuid::Uuid::new_v4());
        let fs_path = self.root.fs.join(dir).join(&name);
        let reported = format!("{}/{}/{}", self.root.reported, dir, name);
        let file = File::create(&fs_path).map_err(|e| io_err(&fs_path, e))?;
        self.created
            .lock()
            .map_err(|_| write_err("writer state poisoned", vec![]))?
            .push(fs_path.clone());
        let options = ArrowWriterOptions::new().with_properties(props.clone());
        let arrow_writer = ArrowWriter::try_new_with_options(
            BufWriter::with_capacity(WRITE_BUFFER_BYTES, file),
            Arc::clone(self.target),
            options,
        )
        .map_err(|e| write_err(format!("cannot start Parquet file {reported}: {e}"), vec![]))?;
        let (writer, factory) = arrow_writer
            .into_serialized_writer()
            .map_err(|e| write_err(format!("cannot start Parquet file {reported}: {e}"), vec![]))?;
        Ok(OpenFile {
            reported,
            writer,
            factory,
            row_groups: 0,
            nan_counts: vec![0; self.schema.fields.len()],
        })
    }

    /// Encode every column of one row group in parallel, then append them in order.
    fn write_row_group(&self, file: &mut OpenFile, slices: &[RecordBatch]) -> Result<()> {
        let writers = file
            .factory
            .create_column_writers(file.row_groups)
            .map_err(|e| write_err(format!("cannot create column writers: {e}"), vec![]))?;
        let fields = self.target.fields();
        let encoded: Vec<_> = writers
            .into_par_iter()
            .enumerate()
            .map(|(ci, mut w)| {
                let mut nans = 0i64;
                for slice in slices {
                    let col = slice.column(ci);
                    nans += count_nans(col);
                    for leaf in compute_leaves(&fields[ci], col)? {
                        w.write(&leaf)?;
                    }
                }
                Ok::<_, parquet::errors::ParquetError>((w.close()?, nans))
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| write_err(format!("cannot encode {}: {e}", file.reported), vec![]))?;
        let mut rg = file.writer.next_row_group().map_err(|e| {
            write_err(
                format!("cannot start row group in {}: {e}", file.reported),
                vec![],
            )
        })?;
        for (ci, (chunk, nans)) in encoded.into_iter().enumerate() {
            file.nan_counts[ci] += nans;
            chunk
                .append_to_row_group(&mut rg)
                .map_err(|e| write_err(format!("cannot write {}: {e}", file.reported), vec![]))?;
        }
        rg.close()
            .map_err(|e| write_err(format!("cannot write {}: {e}", file.reported), vec![]))?;
        file.row_groups += 1;
        Ok(())
    }

    fn close_file(&self, mut file: OpenFile, values: &[PartitionValue]) -> Result<DataFileMeta> {
        let md = file
            .writer
            .finish()
            .map_err(|e| write_err(format!("cannot finish {}: {e}", file.reported), vec![]))?;
        let size = file.writer.bytes_written() as i64;
        drop(file.writer);
        let metrics = file_metrics(&md, self.schema);
        let nan_value_counts = self
            .schema
            .fields
            .iter()
            .zip(&file.nan_counts)
            .filter(|(f, _)| f.ty.is_floating())
            .map(|(f, &n)| (f.id, n))
            .collect();
        Ok(DataFileMeta {
            file_path: file.reported,
            partition: self
                .spec
                .fields
                .iter()
                .map(|f| f.name.clone())
                .zip(values.iter().cloned())
                .collect(),
            file_size_in_bytes: size,
            metrics,
            nan_value_counts,
        })
    }
}

/// Walks rows across chunks, handing out row-group-sized lists of slices.
struct RowCursor<'a> {
    chunks: &'a [RecordBatch],
    chunk: usize,
    offset: usize,
}

impl RowCursor<'_> {
    fn next_rows(&mut self, mut want: usize) -> Option<Vec<RecordBatch>> {
        let mut out = Vec::new();
        while want > 0 && self.chunk < self.chunks.len() {
            let batch = &self.chunks[self.chunk];
            let left = batch.num_rows() - self.offset;
            let take = left.min(want);
            if take > 0 {
                out.push(if take == batch.num_rows() {
                    batch.clone()
                } else {
                    batch.slice(self.offset, take)
                });
            }
            want -= take;
            self.offset += take;
            if self.offset >= batch.num_rows() {
                self.chunk += 1;
                self.offset = 0;
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

fn count_nans(col: &ArrayRef) -> i64 {
    fn count<I: Iterator<Item = Option<bool>>>(it: I) -> i64 {
        it.filter(|v| *v == Some(true)).count() as i64
    }
    match col.data_type() {
        DataType::Float32 => count(
            col.as_primitive::<Float32Type>()
                .iter()
                .map(|v| v.map(f32::is_nan)),
        ),
        DataType::Float64 => {
            let a = col.as_primitive::<Float64Type>();
            if a.null_count() == 0 {
                a.values().iter().filter(|v| v.is_nan()).count() as i64
            } else {
                count(a.iter().map(|v| v.map(f64::is_nan)))
            }
        }
        _ => 0,
    }
}

/// Bytes of Arrow data the rows of `batch` hold (slices counted by their rows only).
fn estimate_batch_bytes(batch: &RecordBatch) -> usize {
    batch
        .columns()
        .iter()
        .map(|c| {
            let n = c.len();
            let validity = n / 8;
            validity
                + match c.data_type() {
                    DataType::Utf8 => {
                        let a = c.as_string::<i32>();
                        let o = a.value_offsets();
                        (o[n] - o[0]) as usize + 4 * n
                    }
                    DataType::Binary => {
                        let a = c.as_binary::<i32>();
                        let o = a.value_offsets();
                        (o[n] - o[0]) as usize + 4 * n
                    }
                    DataType::Boolean => n / 8 + 1,
                    dt => dt
                        .primitive_width()
                        .map_or_else(|| c.get_array_memory_size(), |w| w * n),
                }
        })
        .sum()
}

fn io_err(path: &std::path::Path, e: std::io::Error) -> crate::CoreError {
    write_err(
        format!("cannot write {}: {e}", path.display()),
        vec![detail(&[
            ("path", path.display().to_string().into()),
            ("message", e.to_string().into()),
        ])],
    )
}
