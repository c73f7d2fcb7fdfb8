//! Iceberg schemas and partition specs as pyiceberg serialises them
//! (`Schema.model_dump_json()`, `PartitionSpec.model_dump_json()`), their Arrow
//! mapping, and the partition transforms the writer supports
//! (identity, year, month, day, hour, void).
//!
//! Values follow Iceberg's internal representation: dates are days since
//! 1970-01-01, times/timestamps are microseconds (nanoseconds for the `_ns`
//! types), day/hour/month/year transforms give ordinals since the epoch.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Float32Type, Float64Type, Int32Type, Int64Type, Time64MicrosecondType,
    TimestampMicrosecondType, TimestampNanosecondType,
};
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{Datelike, NaiveDate};
use serde_json::Value;

use crate::error::{CoreError, Detail, Result};

/// Arrow field metadata key the Parquet writer turns into the Parquet field id.
pub const PARQUET_FIELD_ID_KEY: &str = "PARQUET:field_id";

const MICROS_PER_HOUR: i64 = 3_600_000_000;
const MICROS_PER_DAY: i64 = 86_400_000_000;
const NANOS_PER_MICRO: i64 = 1_000;

/// The primitive Iceberg types the writer handles (nested types are refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IcebergType {
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Decimal { precision: u8, scale: i8 },
    Date,
    Time,
    Timestamp,
    Timestamptz,
    TimestampNs,
    TimestamptzNs,
    String,
    Fixed(i32),
    Binary,
}

impl IcebergType {
    pub fn parse(text: &str) -> Option<IcebergType> {
        let t = text.trim();
        Some(match t {
            "boolean" => IcebergType::Boolean,
            "int" => IcebergType::Int,
            "long" => IcebergType::Long,
            "float" => IcebergType::Float,
            "double" => IcebergType::Double,
            "date" => IcebergType::Date,
            "time" => IcebergType::Time,
            "timestamp" => IcebergType::Timestamp,
            "timestamptz" => IcebergType::Timestamptz,
            "timestamp_ns" => IcebergType::TimestampNs,
            "timestamptz_ns" => IcebergType::TimestamptzNs,
            "string" => IcebergType::String,
            "binary" => IcebergType::Binary,
            _ => {
                if let Some(inner) = t.strip_prefix("fixed[").and_then(|r| r.strip_suffix(']')) {
                    IcebergType::Fixed(inner.trim().parse().ok()?)
                } else if let Some(inner) =
                    t.strip_prefix("decimal(").and_then(|r| r.strip_suffix(')'))
                {
                    let (p, s) = inner.split_once(',')?;
                    IcebergType::Decimal {
                        precision: p.trim().parse().ok()?,
                        scale: s.trim().parse().ok()?,
                    }
                } else {
                    return None;
                }
            }
        })
    }

    /// The Arrow type the writer stores this Iceberg type as (the same choice
    /// as pyiceberg's `schema_to_pyarrow`, so files read back identically).
    pub fn arrow_type(&self) -> DataType {
        match self {
            IcebergType::Boolean => DataType::Boolean,
            IcebergType::Int => DataType::Int32,
            IcebergType::Long => DataType::Int64,
            IcebergType::Float => DataType::Float32,
            IcebergType::Double => DataType::Float64,
            IcebergType::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale),
            IcebergType::Date => DataType::Date32,
            IcebergType::Time => DataType::Time64(TimeUnit::Microsecond),
            IcebergType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            IcebergType::Timestamptz => {
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
            }
            IcebergType::TimestampNs => DataType::Timestamp(TimeUnit::Nanosecond, None),
            IcebergType::TimestamptzNs => {
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
            }
            IcebergType::String => DataType::Utf8,
            IcebergType::Fixed(n) => DataType::FixedSizeBinary(*n),
            IcebergType::Binary => DataType::Binary,
        }
    }

    pub fn is_floating(&self) -> bool {
        matches!(self, IcebergType::Float | IcebergType::Double)
    }

    pub fn name(&self) -> String {
        match self {
            IcebergType::Boolean => "boolean".into(),
            IcebergType::Int => "int".into(),
            IcebergType::Long => "long".into(),
            IcebergType::Float => "float".into(),
            IcebergType::Double => "double".into(),
            IcebergType::Decimal { precision, scale } => format!("decimal({precision}, {scale})"),
            IcebergType::Date => "date".into(),
            IcebergType::Time => "time".into(),
            IcebergType::Timestamp => "timestamp".into(),
            IcebergType::Timestamptz => "timestamptz".into(),
            IcebergType::TimestampNs => "timestamp_ns".into(),
            IcebergType::TimestamptzNs => "timestamptz_ns".into(),
            IcebergType::String => "string".into(),
            IcebergType::Fixed(n) => format!("fixed[{n}]"),
            IcebergType::Binary => "binary".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct IcebergField {
    pub id: i32,
    pub name: String,
    pub ty: IcebergType,
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IcebergSchema {
    pub schema_id: i32,
    pub fields: Vec<IcebergField>,
}

impl IcebergSchema {
    /// Parse pyiceberg's `Schema.model_dump_json()` (Iceberg's JSON schema form).
    pub fn from_json(text: &str) -> Result<IcebergSchema> {
        let root: Value = serde_json::from_str(text)
            .map_err(|e| write_err(format!("iceberg schema is not valid JSON: {e}"), vec![]))?;
        let fields = root
            .get("fields")
            .and_then(Value::as_array)
            .ok_or_else(|| write_err("iceberg schema has no \"fields\" array", vec![]))?;
        let schema_id = root.get("schema-id").and_then(Value::as_i64).unwrap_or(0) as i32;
        let mut out = Vec::with_capacity(fields.len());
        for f in fields {
            let id = f.get("id").and_then(Value::as_i64);
            let name = f.get("name").and_then(Value::as_str);
            let (Some(id), Some(name)) = (id, name) else {
                return Err(write_err("iceberg schema field without id or name", vec![]));
            };
            let ty = match f.get("type") {
                Some(Value::String(s)) => IcebergType::parse(s).ok_or_else(|| {
                    write_err(
                        format!("unsupported iceberg type {s:?} for field {name:?}"),
                        vec![detail(&[
                            ("field", name.into()),
                            ("type", s.as_str().into()),
                        ])],
                    )
                })?,
                Some(other) => {
                    let kind = other
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("nested");
                    return Err(write_err(
                        format!("nested iceberg type {kind:?} for field {name:?} is not supported by the writer"),
                        vec![detail(&[("field", name.into()), ("type", kind.into())])],
                    ));
                }
                None => {
                    return Err(write_err(
                        format!("iceberg schema field {name:?} has no type"),
                        vec![],
                    ))
                }
            };
            let required = f.get("required").and_then(Value::as_bool).unwrap_or(false);
            out.push(IcebergField {
                id: id as i32,
                name: name.to_string(),
                ty,
                required,
            });
        }
        Ok(IcebergSchema {
            schema_id,
            fields: out,
        })
    }

    pub fn field_by_id(&self, id: i32) -> Option<(usize, &IcebergField)> {
        self.fields.iter().enumerate().find(|(_, f)| f.id == id)
    }

    /// The Arrow schema of the data files: Iceberg order, nullability from
    /// `required`, and the Iceberg field id as `PARQUET:field_id`.
    pub fn arrow_schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .fields
            .iter()
            .map(|f| {
                Field::new(&f.name, f.ty.arrow_type(), !f.required).with_metadata(HashMap::from([
                    (PARQUET_FIELD_ID_KEY.to_string(), f.id.to_string()),
                ]))
            })
            .collect();
        Arc::new(Schema::new(fields))
    }
}

/// Partition transforms the writer can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    Identity,
    Year,
    Month,
    Day,
    Hour,
    Void,
}

impl Transform {
    pub fn parse(text: &str) -> Option<Transform> {
        Some(match text.trim() {
            "identity" => Transform::Identity,
            "year" => Transform::Year,
            "month" => Transform::Month,
            "day" => Transform::Day,
            "hour" => Transform::Hour,
            "void" => Transform::Void,
            _ => return None,
        })
    }

    fn accepts(&self, ty: &IcebergType) -> bool {
        use IcebergType as T;
        let temporal_ts = matches!(
            ty,
            T::Timestamp | T::Timestamptz | T::TimestampNs | T::TimestamptzNs
        );
        match self {
            Transform::Identity => !matches!(ty, T::Decimal { .. }),
            Transform::Void => true,
            Transform::Year | Transform::Month | Transform::Day => temporal_ts || *ty == T::Date,
            Transform::Hour => temporal_ts,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartitionField {
    pub source_id: i32,
    pub field_id: i32,
    pub transform: Transform,
    pub name: String,
    /// Position of the source column in the schema (and in the written batch).
    pub source_index: usize,
    pub source_type: IcebergType,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartitionSpec {
    pub spec_id: i32,
    pub fields: Vec<PartitionField>,
}

impl PartitionSpec {
    /// Parse pyiceberg's `PartitionSpec.model_dump_json()` against `schema`.
    pub fn from_json(text: &str, schema: &IcebergSchema) -> Result<PartitionSpec> {
        let root: Value = serde_json::from_str(text)
            .map_err(|e| write_err(format!("partition spec is not valid JSON: {e}"), vec![]))?;
        let spec_id = root.get("spec-id").and_then(Value::as_i64).unwrap_or(0) as i32;
        let fields = match root.get("fields") {
            Some(Value::Array(a)) => a.clone(),
            None | Some(Value::Null) => Vec::new(),
            Some(_) => {
                return Err(write_err(
                    "partition spec \"fields\" is not an array",
                    vec![],
                ))
            }
        };
        let mut out = Vec::with_capacity(fields.len());
        for f in &fields {
            let source_id = f.get("source-id").and_then(Value::as_i64).map(|v| v as i32);
            let field_id = f.get("field-id").and_then(Value::as_i64).map(|v| v as i32);
            let transform_text = f.get("transform").and_then(Value::as_str).unwrap_or("");
            let name = f.get("name").and_then(Value::as_str);
            let (Some(source_id), Some(field_id), Some(name)) = (source_id, field_id, name) else {
                return Err(write_err(
                    "partition field needs source-id, field-id and name",
                    vec![],
                ));
            };
            let transform = Transform::parse(transform_text).ok_or_else(|| {
                write_err(
                    format!("partition transform {transform_text:?} of {name:?} is not supported by the writer (identity, year, month, day, hour, void)"),
                    vec![detail(&[("partition_field", name.into()), ("transform", transform_text.into())])],
                )
            })?;
            let (source_index, source) = schema.field_by_id(source_id).ok_or_else(|| {
                write_err(
                    format!(
                        "partition field {name:?} refers to unknown source field id {source_id}"
                    ),
                    vec![detail(&[
                        ("partition_field", name.into()),
                        ("source_id", source_id.into()),
                    ])],
                )
            })?;
            if !transform.accepts(&source.ty) {
                return Err(write_err(
                    format!(
                        "transform {transform_text} cannot be applied to {} field {:?}",
                        source.ty.name(),
                        source.name
                    ),
                    vec![detail(&[
                        ("partition_field", name.into()),
                        ("transform", transform_text.into()),
                        ("source_type", source.ty.name().into()),
                    ])],
                ));
            }
            out.push(PartitionField {
                source_id,
                field_id,
                transform,
                name: name.to_string(),
                source_index,
                source_type: source.ty.clone(),
            });
        }
        Ok(PartitionSpec {
            spec_id,
            fields: out,
        })
    }

    /// True when every row lands in the same (empty) partition.
    pub fn is_unpartitioned(&self) -> bool {
        self.fields.iter().all(|f| f.transform == Transform::Void)
    }
}

/// One partition value in Iceberg's internal representation.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub enum PartitionValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Binary(Vec<u8>),
}

impl PartitionValue {
    /// Total order used to sort partitions deterministically (nulls first).
    pub fn total_cmp(&self, other: &PartitionValue) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        use PartitionValue as P;
        fn rank(v: &PartitionValue) -> u8 {
            match v {
                P::Null => 0,
                P::Bool(_) => 1,
                P::Int(_) => 2,
                P::Float(_) => 3,
                P::String(_) => 4,
                P::Binary(_) => 5,
            }
        }
        match (self, other) {
            (P::Bool(a), P::Bool(b)) => a.cmp(b),
            (P::Int(a), P::Int(b)) => a.cmp(b),
            (P::Float(a), P::Float(b)) => a.total_cmp(b),
            (P::String(a), P::String(b)) => a.cmp(b),
            (P::Binary(a), P::Binary(b)) => a.cmp(b),
            _ => rank(self).cmp(&rank(other)).then(Ordering::Equal),
        }
    }

    /// The value as it appears in a partition path before URL-quoting, like
    /// pyiceberg's `Transform.to_human_string`.
    pub fn human_string(&self, field: &PartitionField) -> String {
        let PartitionValue::Int(v) = self else {
            return match self {
                PartitionValue::Null => "null".into(),
                PartitionValue::Bool(b) => b.to_string(),
                PartitionValue::Float(f) => python_float_repr(*f),
                PartitionValue::String(s) => s.clone(),
                PartitionValue::Binary(b) => base64(b),
                PartitionValue::Int(_) => unreachable!(),
            };
        };
        let v = *v;
        match field.transform {
            Transform::Year => format!("{:04}", 1970 + v),
            Transform::Month => {
                format!("{:04}-{:02}", 1970 + v.div_euclid(12), 1 + v.rem_euclid(12))
            }
            Transform::Day => human_date(v),
            Transform::Hour => format!("{}-{:02}", human_date(v.div_euclid(24)), v.rem_euclid(24)),
            Transform::Void => "null".into(),
            Transform::Identity => match field.source_type {
                IcebergType::Date => human_date(v),
                IcebergType::Time => human_time(v),
                IcebergType::Timestamp => human_timestamp(v, 1, ""),
                IcebergType::Timestamptz => human_timestamp(v, 1, "+00:00"),
                IcebergType::TimestampNs => human_timestamp(v, NANOS_PER_MICRO, ""),
                IcebergType::TimestamptzNs => human_timestamp(v, NANOS_PER_MICRO, "+00:00"),
                _ => v.to_string(),
            },
        }
    }
}

/// Per-row partition values of one partition field: `codes[row]` indexes `values`.
pub struct PartitionColumn {
    pub codes: Vec<u32>,
    pub values: Vec<PartitionValue>,
}

/// Apply `field`'s transform to `array` (already cast to the source field's
/// Arrow type) and dictionary-encode the result.
pub fn partition_column(field: &PartitionField, array: &ArrayRef) -> Result<PartitionColumn> {
    use IcebergType as T;
    let n = array.len();
    if field.transform == Transform::Void {
        return Ok(PartitionColumn {
            codes: vec![0; n],
            values: vec![PartitionValue::Null],
        });
    }
    // Integer-valued results: every temporal transform, and identity on
    // integer-like sources.
    let int_source: Option<Box<dyn Fn(usize) -> Option<i64> + '_>> =
        match (&field.source_type, field.transform) {
            (T::Date, t) => {
                let a = array.as_primitive::<Date32Type>();
                let f = move |i: usize| a.is_valid(i).then(|| date_transform(a.value(i) as i64, t));
                Some(Box::new(f))
            }
            (T::Timestamp | T::Timestamptz, t) => {
                let a = array.as_primitive::<TimestampMicrosecondType>();
                let f = move |i: usize| a.is_valid(i).then(|| micros_transform(a.value(i), t));
                Some(Box::new(f))
            }
            (T::TimestampNs | T::TimestamptzNs, t) => {
                let a = array.as_primitive::<TimestampNanosecondType>();
                let f = move |i: usize| {
                    a.is_valid(i).then(|| {
                        if t == Transform::Identity {
                            a.value(i)
                        } else {
                            micros_transform(a.value(i).div_euclid(NANOS_PER_MICRO), t)
                        }
                    })
                };
                Some(Box::new(f))
            }
            (T::Int, _) => {
                let a = array.as_primitive::<Int32Type>();
                Some(Box::new(move |i: usize| {
                    a.is_valid(i).then(|| a.value(i) as i64)
                }))
            }
            (T::Long, _) => {
                let a = array.as_primitive::<Int64Type>();
                Some(Box::new(move |i: usize| a.is_valid(i).then(|| a.value(i))))
            }
            (T::Time, _) => {
                let a = array.as_primitive::<Time64MicrosecondType>();
                Some(Box::new(move |i: usize| a.is_valid(i).then(|| a.value(i))))
            }
            _ => None,
        };
    if let Some(get) = int_source {
        return Ok(encode_rows(n, get, |v| {
            v.map_or(PartitionValue::Null, PartitionValue::Int)
        }));
    }
    Ok(match &field.source_type {
        T::Boolean => {
            let a = array.as_boolean();
            encode_rows(
                n,
                |i| a.is_valid(i).then(|| a.value(i)),
                |v| v.map_or(PartitionValue::Null, PartitionValue::Bool),
            )
        }
        T::Float => {
            let a = array.as_primitive::<Float32Type>();
            encode_rows(
                n,
                |i| a.is_valid(i).then(|| (a.value(i) as f64).to_bits()),
                |v| {
                    v.map_or(PartitionValue::Null, |b| {
                        PartitionValue::Float(f64::from_bits(b))
                    })
                },
            )
        }
        T::Double => {
            let a = array.as_primitive::<Float64Type>();
            encode_rows(
                n,
                |i| a.is_valid(i).then(|| a.value(i).to_bits()),
                |v| {
                    v.map_or(PartitionValue::Null, |b| {
                        PartitionValue::Float(f64::from_bits(b))
                    })
                },
            )
        }
        T::String => {
            let a = array.as_string::<i32>();
            encode_rows(
                n,
                |i| a.is_valid(i).then(|| a.value(i)),
                |v| {
                    v.map_or(PartitionValue::Null, |s| {
                        PartitionValue::String(s.to_string())
                    })
                },
            )
        }
        T::Binary => {
            let a = array.as_binary::<i32>();
            encode_rows(
                n,
                |i| a.is_valid(i).then(|| a.value(i)),
                |v| v.map_or(PartitionValue::Null, |b| PartitionValue::Binary(b.to_vec())),
            )
        }
        T::Fixed(_) => {
            let a = array.as_fixed_size_binary();
            encode_rows(
                n,
                |i| a.is_valid(i).then(|| a.value(i)),
                |v| v.map_or(PartitionValue::Null, |b| PartitionValue::Binary(b.to_vec())),
            )
        }
        other => {
            return Err(write_err(
                format!(
                    "cannot partition by {} field with {:?}",
                    other.name(),
                    field.transform
                ),
                vec![],
            ))
        }
    })
}

/// Dictionary-encode `n` rows of keys; consecutive equal keys skip the hash lookup.
fn encode_rows<K, G, C>(n: usize, get: G, convert: C) -> PartitionColumn
where
    K: std::hash::Hash + Eq + Copy,
    G: Fn(usize) -> K,
    C: Fn(K) -> PartitionValue,
{
    let mut map: HashMap<K, u32> = HashMap::new();
    let mut keys: Vec<K> = Vec::new();
    let mut codes = Vec::with_capacity(n);
    let mut last: Option<(K, u32)> = None;
    for i in 0..n {
        let k = get(i);
        let code = match last {
            Some((lk, lc)) if lk == k => lc,
            _ => {
                let next = keys.len() as u32;
                let c = *map.entry(k).or_insert_with(|| {
                    keys.push(k);
                    next
                });
                last = Some((k, c));
                c
            }
        };
        codes.push(code);
    }
    let values = keys.into_iter().map(convert).collect();
    PartitionColumn { codes, values }
}

fn micros_transform(micros: i64, t: Transform) -> i64 {
    match t {
        Transform::Identity => micros,
        Transform::Hour => micros.div_euclid(MICROS_PER_HOUR),
        Transform::Day => micros.div_euclid(MICROS_PER_DAY),
        Transform::Month | Transform::Year => date_transform(micros.div_euclid(MICROS_PER_DAY), t),
        Transform::Void => 0,
    }
}

fn date_transform(days: i64, t: Transform) -> i64 {
    match t {
        Transform::Identity | Transform::Day => days,
        Transform::Month | Transform::Year => {
            let d = epoch_date() + chrono::Duration::days(days);
            let years = d.year() as i64 - 1970;
            if t == Transform::Year {
                years
            } else {
                years * 12 + d.month0() as i64
            }
        }
        Transform::Hour => days * 24,
        Transform::Void => 0,
    }
}

fn epoch_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")
}

fn human_date(days: i64) -> String {
    (epoch_date() + chrono::Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

fn human_time(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let base = format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    if frac == 0 {
        base
    } else {
        format!("{base}.{frac:06}")
    }
}

fn human_timestamp(value: i64, per_micro: i64, zone: &str) -> String {
    let micros = value.div_euclid(per_micro);
    let days = micros.div_euclid(MICROS_PER_DAY);
    let rest = micros.rem_euclid(MICROS_PER_DAY);
    format!("{}T{}{}", human_date(days), human_time(rest), zone)
}

fn python_float_repr(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        f.to_string()
    }
}

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        for (k, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if k <= chunk.len() {
                out.push(TABLE[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// URL-quote like Python's `urllib.parse.quote_plus(s, safe="")`.
pub fn quote_plus(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The partition directory of a tuple of values, e.g. `event_timestamp_day=2026-11-25`.
pub fn partition_path(spec: &PartitionSpec, values: &[PartitionValue]) -> String {
    spec.fields
        .iter()
        .zip(values)
        .map(|(f, v)| format!("{}={}", quote_plus(&f.name), quote_plus(&v.human_string(f))))
        .collect::<Vec<_>>()
        .join("/")
}

pub(crate) fn write_err(message: impl Into<String>, details: Vec<Detail>) -> CoreError {
    CoreError::Write {
        message: message.into(),
        details,
    }
}

pub(crate) fn detail(pairs: &[(&str, Value)]) -> Detail {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Date32Array, TimestampMicrosecondArray};

    const EVENTS_SCHEMA: &str = r#"{"type":"struct","fields":[{"id":1,"name":"event_id","type":"string","required":true},{"id":4,"name":"event_timestamp","type":"timestamptz","required":true},{"id":5,"name":"event_value","type":"double","required":false},{"id":8,"name":"event_date","type":"date","required":true},{"id":12,"name":"amount","type":"decimal(10, 2)","required":false},{"id":13,"name":"h","type":"fixed[4]","required":false}],"schema-id":0,"identifier-field-ids":[]}"#;

    fn schema() -> IcebergSchema {
        IcebergSchema::from_json(EVENTS_SCHEMA).unwrap()
    }

    #[test]
    fn parses_pyiceberg_schema_json() {
        let s = schema();
        assert_eq!(s.fields.len(), 6);
        assert_eq!(s.fields[1].ty, IcebergType::Timestamptz);
        assert_eq!(
            s.fields[4].ty,
            IcebergType::Decimal {
                precision: 10,
                scale: 2
            }
        );
        assert_eq!(s.fields[5].ty, IcebergType::Fixed(4));
        assert!(s.fields[0].required && !s.fields[2].required);
        let arrow = s.arrow_schema();
        assert_eq!(arrow.field(1).metadata()[PARQUET_FIELD_ID_KEY], "4");
        assert!(!arrow.field(0).is_nullable());
    }

    #[test]
    fn refuses_nested_and_unknown_types() {
        let nested = r#"{"type":"struct","fields":[{"id":1,"name":"c","type":{"type":"list","element-id":2,"element":"string","element-required":true},"required":false}]}"#;
        let err = IcebergSchema::from_json(nested).unwrap_err();
        assert!(err.to_string().contains("nested"), "{err}");
        assert!(
            IcebergSchema::from_json(r#"{"fields":[{"id":1,"name":"x","type":"variant"}]}"#)
                .is_err()
        );
    }

    #[test]
    fn parses_partition_spec_and_checks_sources() {
        let s = schema();
        let spec = PartitionSpec::from_json(
            r#"{"spec-id":0,"fields":[{"source-id":4,"field-id":1000,"transform":"day","name":"event_timestamp_day"}]}"#,
            &s,
        )
        .unwrap();
        assert_eq!(spec.fields[0].source_index, 1);
        assert_eq!(spec.fields[0].transform, Transform::Day);
        assert!(PartitionSpec::from_json(r#"{"spec-id":0,"fields":[]}"#, &s)
            .unwrap()
            .is_unpartitioned());
        // hour of a date, an unknown source and bucket are refused
        for bad in [
            r#"{"fields":[{"source-id":8,"field-id":1000,"transform":"hour","name":"h"}]}"#,
            r#"{"fields":[{"source-id":99,"field-id":1000,"transform":"day","name":"d"}]}"#,
            r#"{"fields":[{"source-id":1,"field-id":1000,"transform":"bucket[4]","name":"b"}]}"#,
        ] {
            assert!(
                matches!(
                    PartitionSpec::from_json(bad, &s),
                    Err(CoreError::Write { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn temporal_transforms_match_iceberg() {
        // 2026-11-25T10:30:00Z and 1969-12-31T23:00:00Z (negative, floors)
        let micros = [1_795_602_600_000_000i64, -3_600_000_000];
        let arr: ArrayRef =
            Arc::new(TimestampMicrosecondArray::from(micros.to_vec()).with_timezone("UTC"));
        let s = schema();
        let mk = |t: &str| {
            PartitionSpec::from_json(
                &format!(r#"{{"fields":[{{"source-id":4,"field-id":1000,"transform":"{t}","name":"p"}}]}}"#),
                &s,
            )
            .unwrap()
            .fields[0]
                .clone()
        };
        let cases = [
            ("day", [20_782i64, -1], ["2026-11-25", "1969-12-31"]),
            ("hour", [498_778, -1], ["2026-11-25-10", "1969-12-31-23"]),
            ("month", [682, -1], ["2026-11", "1969-12"]),
            ("year", [56, -1], ["2026", "1969"]),
        ];
        for (t, expect, human) in cases {
            let f = mk(t);
            let col = partition_column(&f, &arr).unwrap();
            for row in 0..2 {
                let v = &col.values[col.codes[row] as usize];
                assert_eq!(v, &PartitionValue::Int(expect[row]), "{t} row {row}");
                assert_eq!(v.human_string(&f), human[row], "{t} row {row}");
            }
        }
        // identity on a date keeps days since epoch
        let dates: ArrayRef = Arc::new(Date32Array::from(vec![Some(20_782), None]));
        let f = PartitionSpec::from_json(
            r#"{"fields":[{"source-id":8,"field-id":1000,"transform":"identity","name":"event_date"}]}"#,
            &s,
        )
        .unwrap()
        .fields[0]
            .clone();
        let col = partition_column(&f, &dates).unwrap();
        assert_eq!(
            col.values,
            vec![PartitionValue::Int(20_782), PartitionValue::Null]
        );
        assert_eq!(
            partition_path(
                &PartitionSpec {
                    spec_id: 0,
                    fields: vec![f]
                },
                &col.values[..1]
            ),
            "event_date=2026-11-25"
        );
    }

    #[test]
    fn quotes_like_python() {
        assert_eq!(quote_plus("a b/c=d"), "a+b%2Fc%3Dd");
        assert_eq!(quote_plus("é"), "%C3%A9");
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert_eq!(
            human_timestamp(1_795_602_600_000_001, 1, "+00:00"),
            "2026-11-25T10:30:00.000001+00:00"
        );
    }
}
