//! Iceberg data-file metrics from the Parquet footer the writer produced:
//! column sizes, value/null counts and lower/upper bounds in Iceberg's
//! single-value binary serialization (the same numbers pyiceberg's
//! `data_file_statistics_from_parquet_metadata` derives, without re-reading
//! the file). String/binary bounds follow the default metrics mode
//! `truncate(16)`.

use std::collections::BTreeMap;

use parquet::file::metadata::ParquetMetaData;
use parquet::file::statistics::Statistics;

use crate::iceberg::{IcebergSchema, IcebergType};

/// Iceberg's default `write.metadata.metrics.default` is `truncate(16)`.
pub const DEFAULT_TRUNCATE_LENGTH: usize = 16;

/// Column metrics of one data file, keyed by Iceberg field id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileMetrics {
    pub record_count: i64,
    pub column_sizes: BTreeMap<i32, i64>,
    pub value_counts: BTreeMap<i32, i64>,
    pub null_value_counts: BTreeMap<i32, i64>,
    pub lower_bounds: BTreeMap<i32, Vec<u8>>,
    pub upper_bounds: BTreeMap<i32, Vec<u8>>,
    pub split_offsets: Vec<i64>,
}

/// A min or max value of one column chunk, comparable across row groups.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Bound {
    Bool(bool),
    Int(i128),
    Float(f64),
    Bytes(Vec<u8>),
}

/// Collect the metrics of a file whose leaf columns are `schema.fields` in order.
pub fn file_metrics(md: &ParquetMetaData, schema: &IcebergSchema) -> FileMetrics {
    let mut m = FileMetrics {
        record_count: md.file_metadata().num_rows(),
        ..Default::default()
    };
    let n = schema.fields.len();
    let mut mins: Vec<Option<Bound>> = vec![None; n];
    let mut maxs: Vec<Option<Bound>> = vec![None; n];
    let mut stats_missing = vec![false; n];
    for rg in md.row_groups() {
        let first = rg.column(0);
        let offset = match first.dictionary_page_offset() {
            Some(dict) if dict < first.data_page_offset() => dict,
            _ => first.data_page_offset(),
        };
        m.split_offsets.push(offset);
        for (i, field) in schema.fields.iter().enumerate() {
            let col = rg.column(i);
            *m.column_sizes.entry(field.id).or_default() += col.compressed_size();
            *m.value_counts.entry(field.id).or_default() += col.num_values();
            let Some(stats) = col.statistics() else {
                stats_missing[i] = true;
                continue;
            };
            match stats.null_count_opt() {
                Some(nulls) => *m.null_value_counts.entry(field.id).or_default() += nulls as i64,
                None => stats_missing[i] = true,
            }
            if let Some((lo, hi)) = chunk_bounds(stats, &field.ty) {
                merge(&mut mins[i], lo, true);
                merge(&mut maxs[i], hi, false);
            }
        }
    }
    m.split_offsets.sort_unstable();
    for (i, field) in schema.fields.iter().enumerate() {
        if stats_missing[i] {
            // like pyiceberg: a chunk without statistics invalidates the column's bounds
            m.null_value_counts.remove(&field.id);
            continue;
        }
        if let Some(lo) = &mins[i] {
            if let Some(bytes) = lower_bound_bytes(lo, &field.ty, DEFAULT_TRUNCATE_LENGTH) {
                m.lower_bounds.insert(field.id, bytes);
            }
        }
        if let Some(hi) = &maxs[i] {
            if let Some(bytes) = upper_bound_bytes(hi, &field.ty, DEFAULT_TRUNCATE_LENGTH) {
                m.upper_bounds.insert(field.id, bytes);
            }
        }
    }
    m
}

fn merge(slot: &mut Option<Bound>, value: Bound, is_min: bool) {
    match slot {
        None => *slot = Some(value),
        Some(cur) => {
            let replace = if is_min { value < *cur } else { value > *cur };
            if replace {
                *slot = Some(value);
            }
        }
    }
}

fn chunk_bounds(stats: &Statistics, ty: &IcebergType) -> Option<(Bound, Bound)> {
    Some(match stats {
        Statistics::Boolean(s) => (Bound::Bool(*s.min_opt()?), Bound::Bool(*s.max_opt()?)),
        Statistics::Int32(s) => (
            Bound::Int(*s.min_opt()? as i128),
            Bound::Int(*s.max_opt()? as i128),
        ),
        Statistics::Int64(s) => (
            Bound::Int(*s.min_opt()? as i128),
            Bound::Int(*s.max_opt()? as i128),
        ),
        Statistics::Float(s) => (
            Bound::Float(*s.min_opt()? as f64),
            Bound::Float(*s.max_opt()? as f64),
        ),
        Statistics::Double(s) => (Bound::Float(*s.min_opt()?), Bound::Float(*s.max_opt()?)),
        Statistics::ByteArray(s) => {
            if !s.max_is_exact() || !s.min_is_exact() {
                return None;
            }
            (
                Bound::Bytes(s.min_opt()?.data().to_vec()),
                Bound::Bytes(s.max_opt()?.data().to_vec()),
            )
        }
        Statistics::FixedLenByteArray(s) => {
            if !s.max_is_exact() || !s.min_is_exact() {
                return None;
            }
            let (lo, hi) = (s.min_opt()?.data(), s.max_opt()?.data());
            if matches!(ty, IcebergType::Decimal { .. }) {
                (Bound::Int(be_signed(lo)?), Bound::Int(be_signed(hi)?))
            } else {
                (Bound::Bytes(lo.to_vec()), Bound::Bytes(hi.to_vec()))
            }
        }
        Statistics::Int96(_) => return None,
    })
}

fn be_signed(bytes: &[u8]) -> Option<i128> {
    if bytes.is_empty() || bytes.len() > 16 {
        return None;
    }
    let fill = if bytes[0] & 0x80 != 0 { 0xFF } else { 0 };
    let mut buf = [fill; 16];
    buf[16 - bytes.len()..].copy_from_slice(bytes);
    Some(i128::from_be_bytes(buf))
}

/// Iceberg single-value serialization of a lower bound (truncated for strings/binary).
fn lower_bound_bytes(b: &Bound, ty: &IcebergType, trunc: usize) -> Option<Vec<u8>> {
    match (ty, b) {
        (IcebergType::String, Bound::Bytes(v)) => Some(truncate_utf8(v, trunc).to_vec()),
        (IcebergType::Binary, Bound::Bytes(v)) => Some(v[..v.len().min(trunc)].to_vec()),
        _ => serialize(b, ty),
    }
}

/// Iceberg single-value serialization of an upper bound; strings/binary are
/// truncated and their last unit incremented (None when no bound exists).
fn upper_bound_bytes(b: &Bound, ty: &IcebergType, trunc: usize) -> Option<Vec<u8>> {
    match (ty, b) {
        (IcebergType::String, Bound::Bytes(v)) => truncate_upper_utf8(v, trunc),
        (IcebergType::Binary, Bound::Bytes(v)) => truncate_upper_binary(v, trunc),
        _ => serialize(b, ty),
    }
}

fn serialize(b: &Bound, ty: &IcebergType) -> Option<Vec<u8>> {
    use IcebergType as T;
    Some(match (ty, b) {
        (T::Boolean, Bound::Bool(v)) => vec![*v as u8],
        (T::Int | T::Date, Bound::Int(v)) => (*v as i32).to_le_bytes().to_vec(),
        (
            T::Long | T::Time | T::Timestamp | T::Timestamptz | T::TimestampNs | T::TimestamptzNs,
            Bound::Int(v),
        ) => (*v as i64).to_le_bytes().to_vec(),
        (T::Float, Bound::Float(v)) => (*v as f32).to_le_bytes().to_vec(),
        (T::Double, Bound::Float(v)) => v.to_le_bytes().to_vec(),
        (T::Decimal { .. }, Bound::Int(v)) => decimal_bytes(*v),
        (T::String | T::Binary | T::Fixed(_), Bound::Bytes(v)) => v.clone(),
        _ => return None,
    })
}

/// Unscaled decimal as minimal big-endian two's complement (Iceberg / pyiceberg `decimal_to_bytes`).
pub fn decimal_bytes(unscaled: i128) -> Vec<u8> {
    let bits = if unscaled >= 0 {
        128 - unscaled.leading_zeros()
    } else {
        128 - (!unscaled).leading_zeros()
    };
    let len = ((bits as usize + 8) / 8).min(16);
    unscaled.to_be_bytes()[16 - len..].to_vec()
}

/// The first `n` code points of UTF-8 `v` (whole string when shorter).
pub fn truncate_utf8(v: &[u8], n: usize) -> &[u8] {
    let mut count = 0;
    for (i, &b) in v.iter().enumerate() {
        if b & 0xC0 != 0x80 {
            if count == n {
                return &v[..i];
            }
            count += 1;
        }
    }
    v
}

/// Upper bound of a string truncated to `n` code points: the truncated prefix
/// with its last incrementable code point incremented (surrogates skipped).
pub fn truncate_upper_utf8(v: &[u8], n: usize) -> Option<Vec<u8>> {
    let prefix = truncate_utf8(v, n);
    if prefix.len() == v.len() {
        return Some(v.to_vec());
    }
    let text = std::str::from_utf8(prefix).ok()?;
    let mut chars: Vec<char> = text.chars().collect();
    for i in (0..chars.len()).rev() {
        let next = match chars[i] as u32 {
            0x10FFFF => None,
            0xD7FF => char::from_u32(0xE000),
            c => char::from_u32(c + 1),
        };
        if let Some(c) = next {
            chars[i] = c;
            return Some(chars.into_iter().collect::<String>().into_bytes());
        }
    }
    None
}

/// Upper bound of bytes truncated to `n`: the prefix with its last byte below 0xFF incremented.
pub fn truncate_upper_binary(v: &[u8], n: usize) -> Option<Vec<u8>> {
    if v.len() <= n {
        return Some(v.to_vec());
    }
    let mut out = v[..n].to_vec();
    for i in (0..out.len()).rev() {
        if out[i] < 0xFF {
            out[i] += 1;
            return Some(out);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_bytes_are_minimal_twos_complement() {
        assert_eq!(decimal_bytes(0), vec![0]);
        assert_eq!(decimal_bytes(127), vec![0x7F]);
        assert_eq!(decimal_bytes(128), vec![0x00, 0x80]);
        assert_eq!(decimal_bytes(-128), vec![0x80]);
        assert_eq!(decimal_bytes(-129), vec![0xFF, 0x7F]);
        assert_eq!(decimal_bytes(12345), vec![0x30, 0x39]);
    }

    #[test]
    fn string_truncation_counts_code_points() {
        assert_eq!(truncate_utf8("héllo".as_bytes(), 2), "hé".as_bytes());
        assert_eq!(truncate_upper_utf8(b"abcdef", 3).unwrap(), b"abd");
        assert_eq!(truncate_upper_utf8(b"abc", 3).unwrap(), b"abc");
        assert_eq!(
            truncate_upper_utf8("a\u{10FFFF}x".as_bytes(), 2).unwrap(),
            "b\u{10FFFF}".as_bytes()
        );
        assert_eq!(
            truncate_upper_utf8("\u{10FFFF}\u{10FFFF}x".as_bytes(), 2),
            None
        );
        assert_eq!(
            truncate_upper_utf8("\u{D7FF}x".as_bytes(), 1).unwrap(),
            "\u{E000}".as_bytes()
        );
    }

    #[test]
    fn binary_truncation_increments_last_byte() {
        assert_eq!(truncate_upper_binary(&[1, 2, 3], 2).unwrap(), vec![1, 3]);
        assert_eq!(
            truncate_upper_binary(&[1, 0xFF, 3], 2).unwrap(),
            vec![2, 0xFF]
        );
        assert_eq!(truncate_upper_binary(&[0xFF, 0xFF, 3], 2), None);
        assert_eq!(truncate_upper_binary(&[1, 2], 2).unwrap(), vec![1, 2]);
    }

    #[test]
    fn bounds_serialize_little_endian() {
        assert_eq!(
            serialize(&Bound::Int(20_782), &IcebergType::Date).unwrap(),
            20_782i32.to_le_bytes()
        );
        assert_eq!(
            serialize(&Bound::Int(-5), &IcebergType::Timestamptz).unwrap(),
            (-5i64).to_le_bytes()
        );
        assert_eq!(
            serialize(&Bound::Float(1.5), &IcebergType::Float).unwrap(),
            1.5f32.to_le_bytes()
        );
        assert_eq!(
            serialize(&Bound::Float(1.5), &IcebergType::Double).unwrap(),
            1.5f64.to_le_bytes()
        );
        assert_eq!(
            serialize(&Bound::Bool(true), &IcebergType::Boolean).unwrap(),
            vec![1]
        );
        assert_eq!(be_signed(&[0xFF, 0x7F]), Some(-129));
    }
}
