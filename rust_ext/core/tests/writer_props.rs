//! Properties and unit tests of the Iceberg Parquet writer.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::compute::{concat_batches, sort_to_indices, take_record_batch};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, TimestampMicrosecondType};
use arrow_array::{
    Array, ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema};
use eventlake_core::error::Detail;
use eventlake_core::iceberg::{IcebergSchema, PartitionSpec, PartitionValue};
use eventlake_core::reader::read_parquet_file;
use eventlake_core::writer::{write_iceberg_parquet, DataFileMeta, WriteOptions};
use eventlake_core::CoreError;
use parquet::basic::Compression;
use parquet::file::reader::{FileReader, SerializedFileReader};
use proptest::prelude::*;

/// The contracts' raw.events schema and day partitioning (pyiceberg JSON).
const EVENTS_SCHEMA: &str = r#"{"type":"struct","fields":[{"id":1,"name":"event_id","type":"string","required":true},{"id":2,"name":"user_id","type":"string","required":true},{"id":3,"name":"event_type","type":"string","required":true},{"id":4,"name":"event_timestamp","type":"timestamptz","required":true},{"id":5,"name":"event_value","type":"double","required":false},{"id":6,"name":"product_id","type":"string","required":false},{"id":7,"name":"properties","type":"string","required":false,"doc":"compact JSON object"},{"id":8,"name":"event_date","type":"date","required":true},{"id":9,"name":"event_hour","type":"int","required":true},{"id":10,"name":"job_id","type":"string","required":true},{"id":11,"name":"ingested_at","type":"timestamptz","required":true}],"schema-id":0,"identifier-field-ids":[]}"#;
const DAY_SPEC: &str = r#"{"spec-id":0,"fields":[{"source-id":4,"field-id":1000,"transform":"day","name":"event_timestamp_day"}]}"#;
const UNPARTITIONED: &str = r#"{"spec-id":0,"fields":[]}"#;

const DAY_MICROS: i64 = 86_400_000_000;

#[derive(Debug, Clone)]
struct Event {
    id: String,
    user: String,
    kind: String,
    ts: i64,
    value: Option<f64>,
    product: Option<String>,
}

fn event_strategy() -> impl Strategy<Value = Event> {
    (
        "[a-z0-9]{1,12}",
        // unicode, sometimes longer than the 16-code-point bound truncation
        "\\PC{1,24}",
        prop::sample::select(vec!["view", "click", "add_to_cart", "purchase"]),
        // around 1969-12-25 .. 1970-01-05 and 2026: negative and positive days
        prop_oneof![
            -7 * DAY_MICROS..5 * DAY_MICROS,
            1_795_000_000_000_000i64..1_795_600_000_000_000
        ],
        prop::option::of(prop_oneof![0.0f64..1e6, Just(f64::NAN), Just(0.0)]),
        prop::option::of("\\PC{0,20}"),
    )
        .prop_map(|(id, user, kind, ts, value, product)| Event {
            id,
            user,
            kind: kind.to_string(),
            ts,
            value,
            product,
        })
}

/// Events as the processor hands them over: typed columns, plus `_index`.
fn events_batch(events: &[Event]) -> RecordBatch {
    let n = events.len();
    let ts: Vec<i64> = events.iter().map(|e| e.ts).collect();
    let cols: Vec<(&str, ArrayRef)> = vec![
        (
            "_index",
            Arc::new(Int64Array::from_iter_values(0..n as i64)),
        ),
        (
            "event_id",
            Arc::new(StringArray::from_iter_values(
                events
                    .iter()
                    .enumerate()
                    .map(|(i, e)| format!("{i:06}-{}", e.id)),
            )),
        ),
        (
            "user_id",
            Arc::new(StringArray::from_iter_values(
                events.iter().map(|e| e.user.clone()),
            )),
        ),
        (
            "event_type",
            Arc::new(StringArray::from_iter_values(
                events.iter().map(|e| e.kind.clone()),
            )),
        ),
        (
            "event_timestamp",
            Arc::new(TimestampMicrosecondArray::from(ts.clone()).with_timezone("UTC")),
        ),
        (
            "event_value",
            Arc::new(Float64Array::from(
                events.iter().map(|e| e.value).collect::<Vec<_>>(),
            )),
        ),
        (
            "product_id",
            Arc::new(StringArray::from(
                events.iter().map(|e| e.product.clone()).collect::<Vec<_>>(),
            )),
        ),
        (
            "event_date",
            Arc::new(Date32Array::from_iter_values(
                ts.iter().map(|t| t.div_euclid(DAY_MICROS) as i32),
            )),
        ),
        // int64 on purpose: the writer casts to the Iceberg int
        (
            "event_hour",
            Arc::new(Int64Array::from_iter_values(
                ts.iter().map(|t| t.rem_euclid(DAY_MICROS) / 3_600_000_000),
            )),
        ),
        (
            "job_id",
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                "job-1", n,
            ))),
        ),
        (
            "ingested_at",
            Arc::new(
                TimestampMicrosecondArray::from(vec![1_795_602_600_000_000; n])
                    .with_timezone("UTC"),
            ),
        ),
    ];
    RecordBatch::try_from_iter_with_nullable(cols.into_iter().map(|(name, a)| (name, a, true)))
        .unwrap()
}

fn schema() -> IcebergSchema {
    IcebergSchema::from_json(EVENTS_SCHEMA).unwrap()
}

fn spec(json: &str) -> PartitionSpec {
    PartitionSpec::from_json(json, &schema()).unwrap()
}

fn local(file_path: &str) -> &Path {
    Path::new(file_path.strip_prefix("file://").unwrap_or(file_path))
}

/// Read every data file back, concatenated and sorted by event_id.
fn read_back(files: &[DataFileMeta]) -> RecordBatch {
    let target = schema().arrow_schema();
    let mut batches = Vec::new();
    for f in files {
        let (_, bs) = read_parquet_file(local(&f.file_path)).unwrap();
        batches.extend(bs);
    }
    let all = concat_batches(&target, &batches).unwrap();
    sort_by_id(&all)
}

fn sort_by_id(batch: &RecordBatch) -> RecordBatch {
    let idx = sort_to_indices(batch.column_by_name("event_id").unwrap(), None, None).unwrap();
    take_record_batch(batch, &idx).unwrap()
}

/// The input as the table should hold it: Iceberg columns only, Iceberg types.
fn expected(batch: &RecordBatch) -> RecordBatch {
    let target = schema().arrow_schema();
    let cols: Vec<ArrayRef> = target
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) => arrow::compute::cast(c, f.data_type()).unwrap(),
            None => arrow_array::new_null_array(f.data_type(), batch.num_rows()),
        })
        .collect();
    sort_by_id(&RecordBatch::try_new(target, cols).unwrap())
}

/// Equality that treats NaN == NaN (Arrow's `==` on arrays does not).
fn assert_same_rows(a: &RecordBatch, b: &RecordBatch) {
    assert_eq!(a.num_rows(), b.num_rows());
    for (i, field) in a.schema().fields().iter().enumerate() {
        let (x, y) = (a.column(i), b.column(i));
        if field.data_type() == &DataType::Float64 {
            let (x, y) = (
                x.as_primitive::<Float64Type>(),
                y.as_primitive::<Float64Type>(),
            );
            for r in 0..x.len() {
                assert_eq!(x.is_null(r), y.is_null(r), "{} row {r}", field.name());
                if x.is_valid(r) {
                    assert_eq!(
                        x.value(r).to_bits(),
                        y.value(r).to_bits(),
                        "{} row {r}",
                        field.name()
                    );
                }
            }
        } else {
            assert_eq!(x.to_data(), y.to_data(), "column {}", field.name());
        }
    }
}

/// `write_iceberg_parquet` of `batches` under `dir`: the events schema, `spec_json`'s partitioning,
/// the default options.
fn write(
    dir: &Path,
    batches: &[RecordBatch],
    spec_json: &str,
) -> eventlake_core::Result<Vec<DataFileMeta>> {
    write_iceberg_parquet(
        batches,
        dir.to_str().unwrap(),
        &schema(),
        &spec(spec_json),
        &WriteOptions::default(),
    )
}

/// The details of a write error (any other outcome fails the test).
fn write_error_details(result: eventlake_core::Result<Vec<DataFileMeta>>) -> Vec<Detail> {
    match result {
        Err(CoreError::Write { details, .. }) => details,
        other => panic!("{other:?}"),
    }
}

fn read_i64(b: &[u8]) -> i64 {
    i64::from_le_bytes(b.try_into().unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    // Property 7: Iceberg Parquet round-trip preserves data
    #[test]
    fn prop_iceberg_parquet_roundtrip(events in prop::collection::vec(event_strategy(), 1..300), small in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let batch = events_batch(&events);
        // a tiny target size forces rolling into several files per partition
        let opts = WriteOptions { target_file_size: if small { 1024 } else { 128 << 20 }, ..Default::default() };
        let location = format!("file://{}", dir.path().display());
        // split the input in two batches to exercise multi-chunk partitions
        let cut = events.len() / 2;
        let files = write_iceberg_parquet(&[batch.slice(0, cut), batch.slice(cut, events.len() - cut)], &location, &schema(), &spec(DAY_SPEC), &opts).unwrap();

        assert_same_rows(&read_back(&files), &expected(&batch));
        prop_assert_eq!(files.iter().map(|f| f.metrics.record_count).sum::<i64>(), events.len() as i64);

        for f in &files {
            prop_assert!(f.file_path.starts_with(&location));
            let (_, bs) = read_parquet_file(local(&f.file_path)).unwrap();
            let data = concat_batches(&schema().arrow_schema(), &bs).unwrap();
            // every row sits in the file of its day
            let PartitionValue::Int(day) = f.partition[0].1 else { panic!("day partition is an int") };
            prop_assert!(f.file_path.contains("/data/event_timestamp_day="));
            let ts = data.column(3).as_primitive::<TimestampMicrosecondType>();
            prop_assert!(ts.values().iter().all(|t| t.div_euclid(DAY_MICROS) == day));
            // metrics describe the file's contents
            prop_assert_eq!(f.metrics.record_count, data.num_rows() as i64);
            prop_assert_eq!(f.file_size_in_bytes as u64, std::fs::metadata(local(&f.file_path)).unwrap().len());
            prop_assert_eq!(f.metrics.value_counts[&5], data.num_rows() as i64);
            prop_assert_eq!(f.metrics.null_value_counts[&5], data.column(4).null_count() as i64);
            let values = data.column(4).as_primitive::<Float64Type>();
            let nans = values.iter().flatten().filter(|v| v.is_nan()).count() as i64;
            prop_assert_eq!(f.nan_value_counts[&5], nans);
            prop_assert_eq!(read_i64(&f.metrics.lower_bounds[&4]), *ts.values().iter().min().unwrap());
            prop_assert_eq!(read_i64(&f.metrics.upper_bounds[&4]), *ts.values().iter().max().unwrap());
            // truncated string bounds still bound every value
            let users = data.column(1).as_string::<i32>();
            let (lo, hi) = (&f.metrics.lower_bounds[&2], f.metrics.upper_bounds.get(&2));
            for u in users.iter().flatten() {
                prop_assert!(lo.as_slice() <= u.as_bytes());
                if let Some(hi) = hi { prop_assert!(u.as_bytes() <= hi.as_slice() || u.as_bytes().starts_with(hi)); }
            }
            prop_assert!(lo.len() <= 16 * 4);
            prop_assert_eq!(f.metrics.split_offsets.len(), SerializedFileReader::new(File::open(local(&f.file_path)).unwrap()).unwrap().metadata().num_row_groups());
        }
        // one partition value per distinct day
        let days: BTreeSet<i64> = events.iter().map(|e| e.ts.div_euclid(DAY_MICROS)).collect();
        let file_days: BTreeSet<i64> = files.iter().map(|f| match f.partition[0].1 { PartitionValue::Int(d) => d, _ => unreachable!() }).collect();
        prop_assert_eq!(days, file_days);
        // files roll only once they reach the target: all but the last of a partition are at least that big
        let mut by_part: BTreeMap<String, Vec<&DataFileMeta>> = BTreeMap::new();
        for f in &files { by_part.entry(format!("{:?}", f.partition)).or_default().push(f); }
        for fs in by_part.values() {
            for f in &fs[..fs.len() - 1] { prop_assert!(f.file_size_in_bytes as u64 >= opts.target_file_size); }
        }
    }

    // Property 46: Iceberg table reading round-trip
    #[test]
    fn prop_table_read_write_back_roundtrip(events in prop::collection::vec(event_strategy(), 1..200)) {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("table_a");
        let second = dir.path().join("table_b");
        let opts = WriteOptions::default();
        let batch = events_batch(&events);
        let files_a = write_iceberg_parquet(&[batch], first.to_str().unwrap(), &schema(), &spec(DAY_SPEC), &opts).unwrap();
        // read table A's files and write them to table B
        let mut read_a = Vec::new();
        for f in &files_a {
            read_a.extend(read_parquet_file(local(&f.file_path)).unwrap().1);
        }
        let files_b = write_iceberg_parquet(&read_a, second.to_str().unwrap(), &schema(), &spec(DAY_SPEC), &opts).unwrap();
        assert_same_rows(&read_back(&files_a), &read_back(&files_b));
        let parts = |fs: &[DataFileMeta]| fs.iter().map(|f| format!("{:?}", f.partition)).collect::<BTreeSet<_>>();
        prop_assert_eq!(parts(&files_a), parts(&files_b));
        // metrics that do not depend on encoding choices agree too
        let counts = |fs: &[DataFileMeta]| fs.iter().map(|f| (format!("{:?}", f.partition), f.metrics.null_value_counts.clone(), f.metrics.lower_bounds.clone(), f.metrics.upper_bounds.clone())).collect::<BTreeSet<_>>();
        prop_assert_eq!(counts(&files_a), counts(&files_b));
    }

    // Property 47: Iceberg Parquet files use compression
    #[test]
    fn prop_every_column_chunk_is_compressed(events in prop::collection::vec(event_strategy(), 1..150), snappy in any::<bool>(), level in 1i32..10) {
        let dir = tempfile::tempdir().unwrap();
        let opts = if snappy {
            WriteOptions::new(2048, "snappy", 0, Some("c")).unwrap()
        } else {
            WriteOptions::new(2048, "zstd", level, Some("c")).unwrap()
        };
        let files = write_iceberg_parquet(&[events_batch(&events)], dir.path().to_str().unwrap(), &schema(), &spec(UNPARTITIONED), &opts).unwrap();
        prop_assert!(!files.is_empty());
        for f in &files {
            let reader = SerializedFileReader::new(File::open(&f.file_path).unwrap()).unwrap();
            for rg in reader.metadata().row_groups() {
                for col in rg.columns() {
                    let ok = if snappy { col.compression() == Compression::SNAPPY } else { matches!(col.compression(), Compression::ZSTD(_)) };
                    prop_assert!(ok, "{:?} in {}", col.compression(), f.file_path);
                }
            }
        }
    }
}

#[test]
fn files_roll_at_the_target_size() {
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<Event> = (0..5000)
        .map(|i| Event {
            id: format!("{i}"),
            user: format!("user-{}", i * 7919 % 1000),
            ..one_event(i)
        })
        .collect();
    let target = 16 * 1024;
    let opts = WriteOptions {
        target_file_size: target,
        ..Default::default()
    };
    let files = write_iceberg_parquet(
        &[events_batch(&events)],
        dir.path().to_str().unwrap(),
        &schema(),
        &spec(DAY_SPEC),
        &opts,
    )
    .unwrap();
    assert!(files.len() > 2, "{} files", files.len());
    assert!(files[..files.len() - 1]
        .iter()
        .all(|f| f.file_size_in_bytes as u64 >= target));
    assert_eq!(
        files.iter().map(|f| f.metrics.record_count).sum::<i64>(),
        5000
    );
    assert_same_rows(&read_back(&files), &expected(&events_batch(&events)));
}

fn one_event(ts: i64) -> Event {
    Event {
        id: "a".into(),
        user: "u".into(),
        kind: "view".into(),
        ts,
        value: Some(1.0),
        product: None,
    }
}

#[test]
fn parquet_field_ids_are_iceberg_field_ids() {
    let dir = tempfile::tempdir().unwrap();
    let files = write(dir.path(), &[events_batch(&[one_event(0)])], DAY_SPEC).unwrap();
    let reader = SerializedFileReader::new(File::open(&files[0].file_path).unwrap()).unwrap();
    let descr = reader.metadata().file_metadata().schema_descr();
    let ids: BTreeMap<String, i32> = descr
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), c.self_type().get_basic_info().id()))
        .collect();
    for f in &schema().fields {
        assert_eq!(ids[&f.name], f.id, "{}", f.name);
    }
    // the extra `_index` column is not written; `event_hour` is stored as int32
    assert!(!ids.contains_key("_index"));
    let (_, batches) = read_parquet_file(Path::new(&files[0].file_path)).unwrap();
    assert_eq!(
        batches[0].column_by_name("event_hour").unwrap().data_type(),
        &DataType::Int32
    );
    assert_eq!(
        batches[0]
            .column_by_name("event_hour")
            .unwrap()
            .as_primitive::<Int32Type>()
            .value(0),
        0
    );
    // plain paths are reported as plain paths, partitions Iceberg-style
    assert!(files[0].file_path.starts_with(dir.path().to_str().unwrap()));
    assert!(files[0]
        .file_path
        .contains("/data/event_timestamp_day=1970-01-01/data-"));
}

#[test]
fn string_bounds_follow_truncate_16() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = one_event(0);
    a.user = "abcdefghijklmnopqrstuvwxyz".into();
    let mut b = one_event(1);
    b.user = "abcdefghijklmnopZZZ".into();
    b.id = "b".into();
    let files = write(dir.path(), &[events_batch(&[a, b])], UNPARTITIONED).unwrap();
    let m = &files[0].metrics;
    assert_eq!(m.lower_bounds[&2], b"abcdefghijklmnop");
    assert_eq!(m.upper_bounds[&2], b"abcdefghijklmnoq");
    assert_eq!(m.lower_bounds[&8], 0i32.to_le_bytes());
    assert_eq!(m.lower_bounds[&5], 1.0f64.to_le_bytes());
    assert_eq!(m.upper_bounds[&4], 1i64.to_le_bytes());
    assert_eq!(files[0].partition, vec![]);
}

#[test]
fn missing_required_column_is_a_write_error_with_details() {
    let dir = tempfile::tempdir().unwrap();
    let full = events_batch(&[one_event(0)]);
    let keep: Vec<usize> = (0..full.num_columns())
        .filter(|&i| {
            !["job_id", "ingested_at", "product_id"]
                .contains(&full.schema().field(i).name().as_str())
        })
        .collect();
    let partial = full.project(&keep).unwrap();
    let details = write_error_details(write(dir.path(), std::slice::from_ref(&partial), DAY_SPEC));
    let fields: Vec<&str> = details
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["job_id", "ingested_at"]);
    assert!(details.iter().all(|d| d["rule"] == "required"));

    // nulls in a required column are refused too; a missing optional column is filled with nulls
    let mut with_null: Vec<ArrayRef> = full.columns().to_vec();
    let idx = full.schema().index_of("user_id").unwrap();
    with_null[idx] = Arc::new(StringArray::from(vec![None::<&str>]));
    let nulls = RecordBatch::try_new(full.schema(), with_null).unwrap();
    let details = write_error_details(write(dir.path(), &[nulls], DAY_SPEC));
    assert_eq!(details[0]["field"], "user_id");
    assert_eq!(details[0]["null_count"], 1);

    let keep: Vec<usize> = (0..full.num_columns())
        .filter(|&i| full.schema().field(i).name() != "product_id")
        .collect();
    let files = write(dir.path(), &[full.project(&keep).unwrap()], DAY_SPEC).unwrap();
    assert_eq!(files[0].metrics.null_value_counts[&6], 1);
}

#[test]
fn bad_options_and_casts_are_write_errors() {
    assert!(matches!(
        WriteOptions::new(1, "gzip", 3, None),
        Err(CoreError::Write { .. })
    ));
    assert!(matches!(
        WriteOptions::new(1, "zstd", 99, None),
        Err(CoreError::Write { .. })
    ));
    assert!(matches!(
        WriteOptions::new(1, "zstd", 3, Some("a/b")),
        Err(CoreError::Write { .. })
    ));
    let dir = tempfile::tempdir().unwrap();
    let full = events_batch(&[one_event(0)]);
    let mut cols = full.columns().to_vec();
    let idx = full.schema().index_of("event_hour").unwrap();
    cols[idx] = Arc::new(StringArray::from(vec!["not a number"]));
    let mut fields: Vec<Field> = full
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[idx] = Field::new("event_hour", DataType::Utf8, true);
    let bad = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
    let details = write_error_details(write(dir.path(), &[bad], DAY_SPEC));
    assert_eq!(details[0]["field"], "event_hour");
    assert_eq!(details[0]["rule"], "type");
    // non-local locations are refused (the Python layer stages and uploads)
    assert!(write_iceberg_parquet(
        std::slice::from_ref(&full),
        "s3://bucket/t",
        &schema(),
        &spec(DAY_SPEC),
        &WriteOptions::default()
    )
    .is_err());
    // empty input writes nothing
    assert!(write(dir.path(), &[full.slice(0, 0)], DAY_SPEC)
        .unwrap()
        .is_empty());
}

#[test]
fn output_order_is_deterministic_and_sorted_by_partition() {
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<Event> = (0..50)
        .map(|i| one_event(((i * 7) % 5) as i64 * DAY_MICROS - 3 * DAY_MICROS))
        .collect();
    let files = write(dir.path(), &[events_batch(&events)], DAY_SPEC).unwrap();
    let days: Vec<PartitionValue> = files.iter().map(|f| f.partition[0].1.clone()).collect();
    assert_eq!(days, (-3..2).map(PartitionValue::Int).collect::<Vec<_>>());
    assert!(files[0]
        .file_path
        .contains("event_timestamp_day=1969-12-29"));
}

#[test]
fn time_ordered_input_is_split_into_the_right_partitions() {
    // long runs per day take the zero-copy slicing path; interleaved days take the gather path
    let dir = tempfile::tempdir().unwrap();
    let ordered: Vec<Event> = (0..6000)
        .map(|i| Event {
            id: format!("o{i}"),
            ..one_event(i as i64 * (3 * DAY_MICROS / 6000))
        })
        .collect();
    let interleaved: Vec<Event> = (0..600)
        .map(|i| Event {
            id: format!("x{i}"),
            ..one_event((i % 3) as i64 * DAY_MICROS)
        })
        .collect();
    let input = [events_batch(&ordered), events_batch(&interleaved)];
    let files = write(dir.path(), &input, DAY_SPEC).unwrap();
    assert_eq!(files.len(), 3);
    for f in &files {
        let PartitionValue::Int(day) = f.partition[0].1 else {
            panic!()
        };
        let (_, bs) = read_parquet_file(Path::new(&f.file_path)).unwrap();
        for b in &bs {
            let ts = b.column(3).as_primitive::<TimestampMicrosecondType>();
            assert!(ts.values().iter().all(|t| t.div_euclid(DAY_MICROS) == day));
        }
    }
    let all = concat_batches(&input[0].schema(), &input).unwrap();
    assert_same_rows(&read_back(&files), &expected(&all));
}

#[test]
fn unique_columns_skip_the_dictionary() {
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<Event> = (0..5000)
        .map(|i| Event {
            id: format!("{i}"),
            ..one_event(i)
        })
        .collect();
    let files = write(dir.path(), &[events_batch(&events)], UNPARTITIONED).unwrap();
    let reader = SerializedFileReader::new(File::open(&files[0].file_path).unwrap()).unwrap();
    let rg = reader.metadata().row_group(0);
    let has_dict = |name: &str| {
        let i = (0..rg.num_columns())
            .find(|&i| rg.column(i).column_path().string() == name)
            .unwrap();
        rg.column(i).dictionary_page_offset().is_some()
    };
    assert!(!has_dict("event_id") && !has_dict("event_timestamp"));
    assert!(has_dict("event_type") && has_dict("job_id"));
}

#[test]
fn a_failed_write_leaves_no_files_behind() {
    let dir = tempfile::tempdir().unwrap();
    // one partition's directory cannot be created: a file is in the way
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(
        dir.path().join("data/event_timestamp_day=1970-01-02"),
        b"in the way",
    )
    .unwrap();
    let events: Vec<Event> = (0..300)
        .map(|i| Event {
            id: format!("{i}"),
            ..one_event((i % 3) as i64 * DAY_MICROS)
        })
        .collect();
    let err = write(dir.path(), &[events_batch(&events)], DAY_SPEC).unwrap_err();
    assert!(matches!(err, CoreError::Write { .. }), "{err:?}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .flat_map(|d| {
            let p = d.unwrap().path();
            if p.is_dir() {
                std::fs::read_dir(p)
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .collect()
            } else {
                vec![]
            }
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
