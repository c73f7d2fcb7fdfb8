//! Typing raw batches by a schema and applying the transform rules: every
//! timestamp becomes UTC microseconds, every object compact JSON text,
//! `derive_date_hour` adds date/hour columns, `defaults` fill missing optional
//! values.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, RecordBatch,
    TimestampMicrosecondArray,
};
use arrow_buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};
use rayon::prelude::*;
use serde_json::Value;

use crate::error::{CoreError, Detail, Result};
use crate::parse::ArrowTable;
use crate::schema::{Constant, FieldType, Rules, Schema};
use crate::time::date_hour;
use crate::validate::{Rule, Typed, Violation};

/// At most this many failing records are listed in an error's details.
const MAX_DETAILS: usize = 1000;

pub(crate) fn nulls_from(valid: &[bool]) -> Option<NullBuffer> {
    if valid.iter().all(|v| *v) {
        None
    } else {
        Some(NullBuffer::from(valid.to_vec()))
    }
}

/// One typed output column being built.
#[derive(Default)]
pub(crate) struct ColBuf {
    pub offsets: Vec<i32>,
    pub values: Vec<u8>,
    pub i64s: Vec<i64>,
    pub f64s: Vec<f64>,
    pub bools: Vec<bool>,
    pub i32s: Vec<i32>,
    pub valid: Vec<bool>,
}

impl ColBuf {
    pub fn new(ty: FieldType, cap: usize) -> Self {
        let mut c = ColBuf {
            valid: Vec::with_capacity(cap),
            ..Default::default()
        };
        match ty {
            FieldType::String | FieldType::Object => {
                c.offsets.reserve(cap + 1);
                c.offsets.push(0);
            }
            FieldType::Long | FieldType::Timestamp => c.i64s.reserve(cap),
            FieldType::Double => c.f64s.reserve(cap),
            FieldType::Boolean => c.bools.reserve(cap),
            FieldType::Date => c.i32s.reserve(cap),
        }
        c
    }

    /// Append a string value (or null).
    #[inline]
    pub fn push_str(&mut self, s: Option<&[u8]>) {
        if let Some(s) = s {
            self.values.extend_from_slice(s);
        }
        self.valid.push(s.is_some());
        self.offsets.push(self.values.len() as i32);
    }

    /// Append a typed value; `Null` uses `default` when there is one.
    pub fn push(&mut self, ty: FieldType, t: Typed<'_>, side: &[u8], default: Option<&Constant>) {
        let t = match (t, default) {
            (Typed::Null, Some(c)) => return self.push_const(ty, c),
            (t, _) => t,
        };
        match ty {
            FieldType::String | FieldType::Object => match t {
                Typed::Str(b) => self.push_str(Some(b)),
                Typed::Side(a, b) => self.push_str(Some(&side[a..b])),
                _ => self.push_str(None),
            },
            FieldType::Long | FieldType::Timestamp => {
                let (v, ok) = match t {
                    Typed::I64(x) | Typed::Ts(x) => (x, true),
                    _ => (0, false),
                };
                self.i64s.push(v);
                self.valid.push(ok);
            }
            FieldType::Double => {
                let (v, ok) = match t {
                    Typed::F64(x) => (x, true),
                    _ => (0.0, false),
                };
                self.f64s.push(v);
                self.valid.push(ok);
            }
            FieldType::Boolean => {
                let (v, ok) = match t {
                    Typed::Bool(x) => (x, true),
                    _ => (false, false),
                };
                self.bools.push(v);
                self.valid.push(ok);
            }
            FieldType::Date => {
                let (v, ok) = match t {
                    Typed::Date(x) => (x, true),
                    _ => (0, false),
                };
                self.i32s.push(v);
                self.valid.push(ok);
            }
        }
    }

    pub fn push_const(&mut self, ty: FieldType, c: &Constant) {
        match (ty, c) {
            (FieldType::String | FieldType::Object, Constant::Str(s)) => {
                self.push_str(Some(s.as_bytes()))
            }
            (_, Constant::Long(x) | Constant::Timestamp(x)) => {
                self.i64s.push(*x);
                self.valid.push(true);
            }
            (_, Constant::Double(x)) => {
                self.f64s.push(*x);
                self.valid.push(true);
            }
            (_, Constant::Bool(x)) => {
                self.bools.push(*x);
                self.valid.push(true);
            }
            (_, Constant::Date(x)) => {
                self.i32s.push(*x);
                self.valid.push(true);
            }
            (_, Constant::Str(s)) => self.push_str(Some(s.as_bytes())),
        }
    }

    pub fn finish(self, ty: FieldType) -> Result<ArrayRef> {
        let nulls = nulls_from(&self.valid);
        Ok(match ty {
            FieldType::String | FieldType::Object => {
                if self.values.len() > i32::MAX as usize {
                    return Err(CoreError::input("a column holds more than 2 GiB of text"));
                }
                Arc::new(crate::parse::string_array(
                    self.offsets,
                    self.values,
                    nulls,
                )?)
            }
            FieldType::Long => Arc::new(Int64Array::new(ScalarBuffer::from(self.i64s), nulls)),
            FieldType::Timestamp => Arc::new(
                TimestampMicrosecondArray::new(ScalarBuffer::from(self.i64s), nulls)
                    .with_timezone("UTC"),
            ),
            FieldType::Double => Arc::new(Float64Array::new(ScalarBuffer::from(self.f64s), nulls)),
            FieldType::Boolean => Arc::new(BooleanArray::new(
                BooleanBuffer::from_iter(self.bools),
                nulls,
            )),
            FieldType::Date => Arc::new(Date32Array::new(ScalarBuffer::from(self.i32s), nulls)),
        })
    }
}

/// The derived date and hour columns of a timestamp column.
pub(crate) fn derive_columns(us: &[i64], valid: &[bool]) -> (ArrayRef, ArrayRef) {
    let (dates, hours): (Vec<i32>, Vec<i32>) = us.iter().map(|&u| date_hour(u)).unzip();
    let nulls = nulls_from(valid);
    (
        Arc::new(Date32Array::new(ScalarBuffer::from(dates), nulls.clone())),
        Arc::new(Int32Array::new(ScalarBuffer::from(hours), nulls)),
    )
}

/// Assemble the typed batch from finished field columns, the timestamp
/// columns needed by `derive_date_hour`, and the record indices.
pub(crate) fn assemble_typed(
    schema: &Schema,
    rules: &Rules,
    mut fields: Vec<ArrayRef>,
    index: Vec<i64>,
) -> Result<RecordBatch> {
    let arrow_schema = schema.typed_arrow_schema(rules);
    for d in &rules.derive_date_hour {
        let ts = fields[d.source]
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .ok_or_else(|| {
                CoreError::internal("derive_date_hour source is not a timestamp column")
            })?;
        let valid: Vec<bool> = (0..ts.len())
            .map(|i| arrow_array::Array::is_valid(ts, i))
            .collect();
        let (date, hour) = derive_columns(ts.values(), &valid);
        fields.push(date);
        fields.push(hour);
    }
    fields.push(Arc::new(Int64Array::from(index)));
    RecordBatch::try_new(arrow_schema, fields).map_err(crate::error::arrow_err)
}

pub(crate) fn violation_detail(index: i64, v: &Violation) -> Detail {
    let mut d = Detail::new();
    d.insert("record_index".into(), Value::from(index));
    d.insert("field".into(), Value::from(v.field.clone()));
    d.insert("rule".into(), Value::from(v.rule.as_str()));
    d.insert(
        "value".into(),
        v.value.clone().map_or(Value::Null, Value::from),
    );
    d.insert("message".into(), Value::from(v.message.clone()));
    d
}

/// Type a table of valid records by `schema` and apply `rules`; one output
/// batch per slice of the input. A record that does not pass validation makes
/// this a ValidationError listing every violation (filter with
/// `validate_batches` first).
pub fn transform_batches(
    batches: &[RecordBatch],
    schema: &Schema,
    rules: &Rules,
) -> Result<ArrowTable> {
    let (views, parts) = crate::validate::views_and_parts(batches, schema)?;
    let results: Vec<Result<RecordBatch, Vec<(i64, Violation)>>> = parts
        .into_par_iter()
        .map(|(bi, rows)| {
            let view = &views[bi];
            let mut cols: Vec<ColBuf> = schema
                .fields
                .iter()
                .map(|f| ColBuf::new(f.ty, rows.len()))
                .collect();
            let mut index = Vec::with_capacity(rows.len());
            let mut bad: Vec<(i64, Violation)> = Vec::new();
            let mut side = Vec::new();
            let mut scratch = vec![Vec::new(); schema.fields.len()];
            let mut out = Vec::new();
            for row in rows {
                let idx = view.index[row];
                if let Some(msg) = view.parse_error(row) {
                    bad.push((
                        idx,
                        Violation::new(crate::validate::RECORD_FIELD, Rule::ParseError, None, msg),
                    ));
                    continue;
                }
                side.clear();
                out.clear();
                let mut typed = Vec::with_capacity(schema.fields.len());
                view.check_row(schema, row, &mut side, &mut scratch, &mut typed, &mut out);
                if !out.is_empty() {
                    bad.extend(out.drain(..).map(|v| (idx, v)));
                    continue;
                }
                if !bad.is_empty() {
                    continue;
                }
                for (fi, (spec, t)) in schema.fields.iter().zip(typed).enumerate() {
                    cols[fi].push(spec.ty, t, &side, rules.default_for(fi));
                }
                index.push(idx);
            }
            if !bad.is_empty() {
                return Err(bad);
            }
            let built = schema
                .fields
                .iter()
                .zip(cols)
                .map(|(f, c)| c.finish(f.ty))
                .collect::<Result<Vec<_>>>()
                .and_then(|arrays| assemble_typed(schema, rules, arrays, index));
            built.map_err(|e| vec![(0, Violation::new("_batch", Rule::Type, None, e.to_string()))])
        })
        .collect();
    let mut bad: Vec<(i64, Violation)> = Vec::new();
    let mut out = Vec::new();
    for p in results {
        match p {
            Ok(b) => out.push(b),
            Err(b) => bad.extend(b),
        }
    }
    if !bad.is_empty() {
        let records: std::collections::BTreeSet<i64> = bad.iter().map(|b| b.0).collect();
        let message = format!(
            "{} record(s) do not match the schema (first: record {}: {}); validate and filter before transforming",
            records.len(),
            bad[0].0,
            bad[0].1.message
        );
        let details = bad
            .iter()
            .take(MAX_DETAILS)
            .map(|(i, v)| violation_detail(*i, v))
            .collect();
        return Err(CoreError::Validation { message, details });
    }
    let schema_ref = schema.typed_arrow_schema(rules);
    if out.is_empty() {
        out.push(RecordBatch::new_empty(schema_ref.clone()));
    }
    Ok(ArrowTable {
        schema: schema_ref,
        batches: out,
    })
}

/// Type one batch (see `transform_batches`).
pub fn transform_batch(batch: &RecordBatch, schema: &Schema, rules: &Rules) -> Result<RecordBatch> {
    transform_batches(std::slice::from_ref(batch), schema, rules)?.concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    fn parse_json(d: &[u8], s: bool) -> Result<RecordBatch> {
        crate::parse::parse_json(d, s)?.concat()
    }
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, Int32Type, TimestampMicrosecondType};
    use arrow_array::Array;

    // a reduced fixture, not the events contract (contracts/events.schema.json):
    // few fields, so the derived columns sit at known positions
    const SCHEMA: &str = r#"{"dataset": "events", "key": "event_id", "fields": [
        {"name": "event_id", "type": "string", "required": true},
        {"name": "event_timestamp", "type": "timestamp", "required": true},
        {"name": "event_value", "type": "double"},
        {"name": "properties", "type": "object"}]}"#;
    const RULES: &str = r#"{"derive_date_hour": {"source": "event_timestamp", "date": "event_date", "hour": "event_hour"},
        "defaults": {"event_value": 0.5}}"#;

    #[test]
    fn types_and_derives() {
        let s = Schema::from_json(SCHEMA).unwrap();
        let r = Rules::from_json(RULES, &s).unwrap();
        let raw = parse_json(
            b"{\"event_id\":\"a\\u0041\",\"event_timestamp\":\"2026-03-01T00:30:00+01:00\",\"properties\":{ \"k\" : [1, 2] }}\n\
              {\"event_id\":\"b\",\"event_timestamp\":86400000,\"event_value\":2}\n",
            true,
        )
        .unwrap();
        let t = transform_batch(&raw, &s, &r).unwrap();
        assert_eq!(t.num_columns(), 7);
        assert_eq!(t.column(0).as_string::<i32>().value(0), "aA");
        let ts = t.column(1).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(ts.value(1), 86_400_000_000);
        assert_eq!(
            t.column(2)
                .as_primitive::<arrow_array::types::Float64Type>()
                .value(0),
            0.5
        );
        assert_eq!(t.column(3).as_string::<i32>().value(0), "{\"k\":[1,2]}");
        assert!(t.column(3).is_null(1));
        let d = t.column(4).as_primitive::<Date32Type>();
        let h = t.column(5).as_primitive::<Int32Type>();
        // 2026-02-28T23:30Z
        assert_eq!(
            d.value(0),
            crate::time::days_from_civil(2026, 2, 28) as i32
        );
        assert_eq!(h.value(0), 23);
        assert_eq!((d.value(1), h.value(1)), (1, 0));
    }

    #[test]
    fn refuses_invalid_records_with_details() {
        let s = Schema::from_json(SCHEMA).unwrap();
        let r = Rules::default();
        let raw = parse_json(
            b"{\"event_id\":1,\"event_timestamp\":\"2026-02-30T00:00:00Z\"}",
            true,
        )
        .unwrap();
        match transform_batch(&raw, &s, &r) {
            Err(CoreError::Validation { details, .. }) => {
                let rules: Vec<&str> = details
                    .iter()
                    .map(|d| d["rule"].as_str().unwrap())
                    .collect();
                assert_eq!(rules, vec!["type", "timestamp"]);
            }
            other => panic!("{other:?}"),
        }
    }
}
