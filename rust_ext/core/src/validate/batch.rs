//! Validating whole raw batches: reading their cells ([`BatchView`]), checking
//! every record against the schema, and the violations table ([`Report`]).

use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder};
use arrow_array::{
    Array, ArrayRef, Int64Array, LargeStringArray, RecordBatch, StringArray, StringViewArray,
};
use arrow_schema::{DataType, Field, Schema as ArrowSchema};

use crate::error::{CoreError, Result};
use crate::json::{self, Kind};
use crate::parse::{FORMAT_META, INDEX_COL, PARSE_ERROR_COL, RAW_COL};
use crate::schema::Schema;

use super::value::{check_value, RawVal, Typed};
use super::violation::{truncate_value, Rule, Violation, RECORD_FIELD};

/// How a batch's cells are to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A raw batch of JSON input: cells are JSON text.
    Json,
    /// A raw batch of CSV input: cells are JSON text, JSON strings are coerced.
    CsvJson,
    /// Any other table: strings are plain text coerced to the field type,
    /// other Arrow types are read through their text form.
    Plain,
}

enum Text {
    Utf8(StringArray),
    Large(LargeStringArray),
    View(StringViewArray),
}

impl Text {
    fn from_array(a: &ArrayRef) -> Result<Text> {
        Ok(match a.data_type() {
            DataType::Utf8 => Text::Utf8(
                a.as_any()
                    .downcast_ref::<StringArray>()
                    .cloned()
                    .unwrap_or_else(|| StringArray::from(Vec::<String>::new())),
            ),
            DataType::LargeUtf8 => Text::Large(
                a.as_any()
                    .downcast_ref::<LargeStringArray>()
                    .cloned()
                    .ok_or_else(|| CoreError::input("bad large utf8 column"))?,
            ),
            DataType::Utf8View => Text::View(
                a.as_any()
                    .downcast_ref::<StringViewArray>()
                    .cloned()
                    .ok_or_else(|| CoreError::input("bad utf8 view column"))?,
            ),
            _ => {
                let c = arrow::compute::cast(a, &DataType::Utf8).map_err(|e| {
                    CoreError::input(format!(
                        "cannot read a column of type {} as text: {e}",
                        a.data_type()
                    ))
                })?;
                Text::from_array(&c)?
            }
        })
    }

    #[inline]
    fn get(&self, i: usize) -> Option<&str> {
        match self {
            Text::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            Text::Large(a) => a.is_valid(i).then(|| a.value(i)),
            Text::View(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

/// A batch seen through a schema: per schema field, where its cells are.
pub struct BatchView {
    pub mode: Mode,
    pub rows: usize,
    cols: Vec<Option<(Text, bool)>>, // (cells, cells are JSON text)
    parse_error: Option<Text>,
    raw: Option<Text>,
    pub index: Vec<i64>,
}

impl BatchView {
    /// `first_row`: the record index of the batch's first row when it has no
    /// `_index` column.
    pub fn new(batch: &RecordBatch, schema: &Schema, first_row: usize) -> Result<BatchView> {
        let s = batch.schema();
        let mode = match s.metadata().get(FORMAT_META).map(String::as_str) {
            Some("csv") => Mode::CsvJson,
            Some("json") => Mode::Json,
            _ if s.column_with_name(RAW_COL).is_some() => Mode::Json,
            _ => Mode::Plain,
        };
        let mut cols = Vec::with_capacity(schema.fields.len());
        for f in &schema.fields {
            cols.push(match batch.column_by_name(&f.name) {
                None => None,
                Some(a) => {
                    let is_text = matches!(
                        a.data_type(),
                        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                    );
                    Some((Text::from_array(a)?, is_text && mode != Mode::Plain))
                }
            });
        }
        let parse_error = batch
            .column_by_name(PARSE_ERROR_COL)
            .map(Text::from_array)
            .transpose()?;
        let raw = batch
            .column_by_name(RAW_COL)
            .map(Text::from_array)
            .transpose()?;
        let index = match batch.column_by_name(INDEX_COL) {
            Some(a) => match arrow::compute::cast(a, &DataType::Int64) {
                Ok(c) => {
                    let c = c
                        .as_any()
                        .downcast_ref::<Int64Array>()
                        .cloned()
                        .ok_or_else(|| CoreError::input("_index must be integers"))?;
                    (0..c.len())
                        .map(|i| if c.is_valid(i) { c.value(i) } else { i as i64 })
                        .collect()
                }
                Err(_) => return Err(CoreError::input("_index must be integers")),
            },
            None => (first_row as i64..(first_row + batch.num_rows()) as i64).collect(),
        };
        Ok(BatchView {
            mode,
            rows: batch.num_rows(),
            cols,
            parse_error,
            raw,
            index,
        })
    }

    pub fn raw(&self, row: usize) -> Option<&str> {
        self.raw.as_ref().and_then(|p| p.get(row))
    }

    pub fn parse_error(&self, row: usize) -> Option<&str> {
        self.parse_error.as_ref().and_then(|p| p.get(row))
    }

    /// Check every field of `row`; typed values go to `typed` (one per field).
    pub fn check_row<'s>(
        &'s self,
        schema: &Schema,
        row: usize,
        side: &mut Vec<u8>,
        scratch: &'s mut [Vec<u8>],
        typed: &mut Vec<Typed<'s>>,
        out: &mut Vec<Violation>,
    ) {
        typed.clear();
        // first pass: unescape CSV strings into per-field scratch buffers
        for (fi, col) in self.cols.iter().enumerate() {
            scratch[fi].clear();
            if let Some((text, true)) = col {
                if self.mode == Mode::CsvJson {
                    if let Some(cell) = text.get(row) {
                        if let Ok(t) = json::scan_single(cell.as_bytes()) {
                            if t.kind == Kind::String {
                                json::unescape_into(t.content(cell.as_bytes()), &mut scratch[fi]);
                            }
                        }
                    }
                }
            }
        }
        let scratch: &'s [Vec<u8>] = scratch;
        for (fi, (spec, col)) in schema.fields.iter().zip(&self.cols).enumerate() {
            let raw: Option<RawVal<'s>> = match col {
                None => None,
                Some((text, is_json)) => match text.get(row) {
                    None => None,
                    Some(cell) if !*is_json => Some(RawVal::Text(cell)),
                    Some(cell) => match json::scan_single(cell.as_bytes()) {
                        Err(e) => {
                            out.push(Violation::new(
                                &spec.name,
                                Rule::Type,
                                Some(RawVal::Text(cell).display()),
                                format!(
                                    "{}: the cell is not valid JSON text ({})",
                                    spec.name, e.msg
                                ),
                            ));
                            typed.push(Typed::Null);
                            continue;
                        }
                        Ok(t) if t.kind == Kind::String && self.mode == Mode::CsvJson => {
                            // SAFETY-free: unescaped validated JSON string content is UTF-8
                            Some(RawVal::Text(
                                std::str::from_utf8(&scratch[fi]).unwrap_or(""),
                            ))
                        }
                        Ok(t) => Some(RawVal::Json(t, cell.as_bytes())),
                    },
                },
            };
            let t = check_value(spec, raw, side, out);
            typed.push(t);
        }
    }
}

/// The result of validating a batch.
pub struct Report {
    /// (record index, violation), in record order then field order.
    pub violations: Vec<(i64, Violation)>,
    pub valid_mask: Vec<bool>,
}

impl Report {
    pub fn valid_count(&self) -> usize {
        self.valid_mask.iter().filter(|v| **v).count()
    }
    pub fn invalid_count(&self) -> usize {
        self.valid_mask.len() - self.valid_count()
    }

    /// record_index int64, field utf8, rule utf8, value utf8 (nullable), message utf8.
    pub fn violations_batch(&self) -> Result<RecordBatch> {
        let text: usize = self
            .violations
            .iter()
            .map(|(_, v)| v.message.len() + v.value.as_ref().map_or(0, |x| x.len()))
            .sum();
        if text > i32::MAX as usize {
            return Err(CoreError::validation(
                "too many violations to report in one table (over 2 GiB of text)",
            ));
        }
        let mut idx = Int64Builder::with_capacity(self.violations.len());
        let mut field = StringBuilder::new();
        let mut rule = StringBuilder::new();
        let mut value = StringBuilder::new();
        let mut message = StringBuilder::new();
        for (i, v) in &self.violations {
            idx.append_value(*i);
            field.append_value(&v.field);
            rule.append_value(v.rule.as_str());
            value.append_option(v.value.as_deref());
            message.append_value(&v.message);
        }
        violations_table(vec![
            Arc::new(idx.finish()),
            Arc::new(field.finish()),
            Arc::new(rule.finish()),
            Arc::new(value.finish()),
            Arc::new(message.finish()),
        ])
    }
}

pub fn violations_schema() -> Arc<ArrowSchema> {
    Arc::new(ArrowSchema::new(vec![
        Field::new("record_index", DataType::Int64, false),
        Field::new("field", DataType::Utf8, false),
        Field::new("rule", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, true),
        Field::new("message", DataType::Utf8, false),
    ]))
}

fn violations_table(cols: Vec<ArrayRef>) -> Result<RecordBatch> {
    RecordBatch::try_new(violations_schema(), cols).map_err(crate::error::arrow_err)
}

/// Views of every batch of a table, and the (batch, rows) parts to work on
/// in parallel, in order.
/// (batch number, rows of that batch)
pub(crate) type Part = (usize, std::ops::Range<usize>);
/// One part's violations and valid flags.
type PartReport = (Vec<(i64, Violation)>, Vec<bool>);

pub(crate) fn views_and_parts(
    batches: &[RecordBatch],
    schema: &Schema,
) -> Result<(Vec<BatchView>, Vec<Part>)> {
    let step = 16_384usize;
    let mut views = Vec::with_capacity(batches.len());
    let mut parts = Vec::new();
    let mut first = 0;
    for (bi, b) in batches.iter().enumerate() {
        views.push(BatchView::new(b, schema, first)?);
        first += b.num_rows();
        let n = b.num_rows();
        for p in 0..n.div_ceil(step) {
            parts.push((bi, p * step..((p + 1) * step).min(n)));
        }
    }
    Ok((views, parts))
}

/// Validate every record of a table (raw, or any table) against `schema`.
pub fn validate_batches(batches: &[RecordBatch], schema: &Schema) -> Result<Report> {
    use rayon::prelude::*;
    let (views, parts) = views_and_parts(batches, schema)?;
    let results: Vec<PartReport> = parts
        .into_par_iter()
        .map(|(bi, rows)| {
            let view = &views[bi];
            let mut viol = Vec::new();
            let mut mask = Vec::with_capacity(rows.len());
            let mut side = Vec::new();
            let mut scratch = vec![Vec::new(); schema.fields.len()];
            let mut out = Vec::new();
            for row in rows {
                out.clear();
                side.clear();
                let idx = view.index[row];
                if let Some(msg) = view.parse_error(row) {
                    viol.push((
                        idx,
                        Violation::new(
                            RECORD_FIELD,
                            Rule::ParseError,
                            view.raw(row).map(|r| truncate_value(r.to_string())),
                            msg,
                        ),
                    ));
                    mask.push(false);
                    continue;
                }
                let mut typed = Vec::with_capacity(schema.fields.len());
                view.check_row(schema, row, &mut side, &mut scratch, &mut typed, &mut out);
                drop(typed);
                mask.push(out.is_empty());
                viol.extend(out.drain(..).map(|v| (idx, v)));
            }
            (viol, mask)
        })
        .collect();
    let mut violations = Vec::new();
    let mut valid_mask = Vec::with_capacity(batches.iter().map(|b| b.num_rows()).sum());
    for (v, m) in results {
        violations.extend(v);
        valid_mask.extend(m);
    }
    Ok(Report {
        violations,
        valid_mask,
    })
}
