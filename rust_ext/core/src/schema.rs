//! Validation schemas and transform rules, as produced by
//! `eventlake.contracts.validation_schema_json` / `transform_rules_json`.
//!
//! Unknown keys are refused rather than ignored: a misspelt rule must not
//! silently validate nothing.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema as ArrowSchema, TimeUnit};
use serde_json::{Map, Value};

use crate::error::{CoreError, Result};
use crate::parse::{INDEX_COL, PARSE_ERROR_COL, RAW_COL};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    String,
    Long,
    Double,
    Boolean,
    Timestamp,
    Date,
    Object,
}

impl FieldType {
    pub fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Long => "long",
            FieldType::Double => "double",
            FieldType::Boolean => "boolean",
            FieldType::Timestamp => "timestamp",
            FieldType::Date => "date",
            FieldType::Object => "object",
        }
    }

    fn from_name(s: &str) -> Option<FieldType> {
        Some(match s {
            "string" => FieldType::String,
            "long" => FieldType::Long,
            "double" => FieldType::Double,
            "boolean" => FieldType::Boolean,
            "timestamp" => FieldType::Timestamp,
            "date" => FieldType::Date,
            "object" => FieldType::Object,
            _ => return None,
        })
    }

    /// The Arrow type a field of this type is typed to.
    pub fn arrow_type(self) -> DataType {
        match self {
            FieldType::String | FieldType::Object => DataType::Utf8,
            FieldType::Long => DataType::Int64,
            FieldType::Double => DataType::Float64,
            FieldType::Boolean => DataType::Boolean,
            FieldType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            FieldType::Date => DataType::Date32,
        }
    }
}

/// Values of an `allowed` list, typed like the field.
#[derive(Clone, Debug, PartialEq)]
pub enum Allowed {
    Str(Vec<String>),
    Long(Vec<i64>),
    Double(Vec<f64>),
    Bool(Vec<bool>),
}

#[derive(Clone, Debug)]
pub struct FieldSpec {
    pub name: String,
    pub ty: FieldType,
    pub required: bool,
    pub allowed: Option<Allowed>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub max_length: Option<usize>,
    pub min_length: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct Schema {
    pub dataset: Option<String>,
    /// Deduplication key (a field name), or None for datasets that keep
    /// every record.
    pub key: Option<String>,
    pub fields: Vec<FieldSpec>,
}

/// A typed constant (a default value).
#[derive(Clone, Debug, PartialEq)]
pub enum Constant {
    Str(String),
    Long(i64),
    Double(f64),
    Bool(bool),
    /// microseconds since the epoch, UTC
    Timestamp(i64),
    /// days since the epoch
    Date(i32),
}

#[derive(Clone, Debug)]
pub struct DeriveDateHour {
    /// index of the source timestamp field
    pub source: usize,
    pub date: String,
    pub hour: String,
}

#[derive(Clone, Debug, Default)]
pub struct Rules {
    pub derive_date_hour: Vec<DeriveDateHour>,
    /// (field index, default)
    pub defaults: Vec<(usize, Constant)>,
}

fn bad(msg: impl Into<String>) -> CoreError {
    CoreError::validation(msg)
}

fn obj<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| bad(format!("{what} must be a JSON object")))
}

const RESERVED: [&str; 3] = [INDEX_COL, RAW_COL, PARSE_ERROR_COL];

impl Schema {
    pub fn from_json(text: &str) -> Result<Schema> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| bad(format!("schema is not valid JSON: {e}")))?;
        let o = obj(&v, "schema")?;
        for k in o.keys() {
            if !matches!(
                k.as_str(),
                "dataset" | "key" | "fields" | "description" | "doc"
            ) {
                return Err(bad(format!("unknown schema key {k:?}")));
            }
        }
        let dataset = match o.get("dataset") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(bad("schema \"dataset\" must be a string")),
        };
        let key = match o.get("key") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(bad("schema \"key\" must be a field name or null")),
        };
        let arr = o
            .get("fields")
            .and_then(|f| f.as_array())
            .ok_or_else(|| bad("schema needs a \"fields\" array"))?;
        if arr.is_empty() {
            return Err(bad("schema has no fields"));
        }
        let mut fields: Vec<FieldSpec> = Vec::with_capacity(arr.len());
        for f in arr {
            let spec = parse_field(f)?;
            if fields.iter().any(|x| x.name == spec.name) {
                return Err(bad(format!("field {:?} is defined twice", spec.name)));
            }
            fields.push(spec);
        }
        if let Some(k) = &key {
            match fields.iter().find(|f| &f.name == k) {
                None => return Err(bad(format!("key {k:?} is not a field of the schema"))),
                Some(f) if !matches!(f.ty, FieldType::String | FieldType::Long) => {
                    return Err(bad(format!("key {k:?} must be a string or long field")))
                }
                _ => {}
            }
        }
        Ok(Schema {
            dataset,
            key,
            fields,
        })
    }

    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    pub fn key_index(&self) -> Option<usize> {
        self.key.as_deref().and_then(|k| self.field_index(k))
    }

    /// The Arrow schema of typed output: the fields in order (nullable unless
    /// required), the derived columns, then `_index`.
    pub fn typed_arrow_schema(&self, rules: &Rules) -> Arc<ArrowSchema> {
        let mut fields: Vec<Field> = self
            .fields
            .iter()
            .map(|f| Field::new(&f.name, f.ty.arrow_type(), !f.required))
            .collect();
        for d in &rules.derive_date_hour {
            let nullable = !self.fields[d.source].required;
            fields.push(Field::new(&d.date, DataType::Date32, nullable));
            fields.push(Field::new(&d.hour, DataType::Int32, nullable));
        }
        fields.push(Field::new(INDEX_COL, DataType::Int64, false));
        let mut md = std::collections::HashMap::new();
        if let Some(d) = &self.dataset {
            md.insert("eventlake.dataset".to_string(), d.clone());
        }
        Arc::new(ArrowSchema::new(fields).with_metadata(md))
    }
}

fn num(v: &Value, what: &str) -> Result<f64> {
    v.as_f64()
        .ok_or_else(|| bad(format!("{what} must be a number")))
}

fn parse_field(f: &Value) -> Result<FieldSpec> {
    let o = obj(f, "a schema field")?;
    let name = o
        .get("name")
        .and_then(|n| n.as_str())
        .ok_or_else(|| bad("every schema field needs a string \"name\""))?
        .to_string();
    if name.is_empty() || RESERVED.contains(&name.as_str()) {
        return Err(bad(format!("invalid field name {name:?}")));
    }
    let ctx = |m: &str| bad(format!("field {name:?}: {m}"));
    for k in o.keys() {
        if !matches!(
            k.as_str(),
            "name"
                | "type"
                | "required"
                | "allowed"
                | "min"
                | "max"
                | "max_length"
                | "min_length"
                | "description"
                | "doc"
        ) {
            return Err(ctx(&format!("unknown rule {k:?}")));
        }
    }
    let tname = o
        .get("type")
        .and_then(|t| t.as_str())
        .ok_or_else(|| ctx("needs a string \"type\""))?;
    let ty = FieldType::from_name(tname).ok_or_else(|| {
        ctx(&format!("unknown type {tname:?} (expected string, long, double, boolean, timestamp, date or object)"))
    })?;
    let required = match o.get("required") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ctx("\"required\" must be true or false")),
    };
    let min = o
        .get("min")
        .filter(|v| !v.is_null())
        .map(|v| num(v, "min"))
        .transpose()
        .map_err(|e| ctx(&e.to_string()))?;
    let max = o
        .get("max")
        .filter(|v| !v.is_null())
        .map(|v| num(v, "max"))
        .transpose()
        .map_err(|e| ctx(&e.to_string()))?;
    if (min.is_some() || max.is_some()) && !matches!(ty, FieldType::Long | FieldType::Double) {
        return Err(ctx("min/max apply to long and double fields only"));
    }
    if let (Some(a), Some(b)) = (min, max) {
        if a > b {
            return Err(ctx("min is greater than max"));
        }
    }
    let len = |k: &str| -> Result<Option<usize>> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(|n| Some(n as usize))
                .ok_or_else(|| ctx(&format!("{k} must be a non-negative integer"))),
        }
    };
    let max_length = len("max_length")?;
    let min_length = len("min_length")?;
    if (max_length.is_some() || min_length.is_some()) && ty != FieldType::String {
        return Err(ctx("max_length/min_length apply to string fields only"));
    }

    /// Each of `a` read by `read`, or `err()` at the first that is not of its type.
    fn every<T>(
        a: &[Value],
        read: impl Fn(&Value) -> Option<T>,
        err: impl Fn() -> CoreError,
    ) -> Result<Vec<T>> {
        a.iter().map(|x| read(x).ok_or_else(&err)).collect()
    }

    let allowed = match o.get("allowed") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(match ty {
            FieldType::String => Allowed::Str(every(
                a,
                |x| x.as_str().map(str::to_string),
                || ctx("allowed values must be strings"),
            )?),
            FieldType::Long => Allowed::Long(every(a, Value::as_i64, || {
                ctx("allowed values must be integers")
            })?),
            FieldType::Double => Allowed::Double(every(a, Value::as_f64, || {
                ctx("allowed values must be numbers")
            })?),
            FieldType::Boolean => Allowed::Bool(every(a, Value::as_bool, || {
                ctx("allowed values must be booleans")
            })?),
            _ => {
                return Err(ctx(
                    "\"allowed\" applies to string, long, double and boolean fields",
                ))
            }
        }),
        Some(_) => return Err(ctx("\"allowed\" must be a list")),
    };
    Ok(FieldSpec {
        name,
        ty,
        required,
        allowed,
        min,
        max,
        max_length,
        min_length,
    })
}

impl Rules {
    pub fn from_json(text: &str, schema: &Schema) -> Result<Rules> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| bad(format!("rules are not valid JSON: {e}")))?;
        let o = obj(&v, "rules")?;
        let mut rules = Rules::default();
        let mut names: Vec<String> = schema.fields.iter().map(|f| f.name.clone()).collect();
        for (k, val) in o {
            match k.as_str() {
                "dataset" | "description" | "doc" => {}
                "derive_date_hour" => {
                    let items: Vec<&Value> = match val {
                        Value::Null => vec![],
                        Value::Array(a) => a.iter().collect(),
                        other => vec![other],
                    };
                    for it in items {
                        let d = obj(it, "derive_date_hour")?;
                        for dk in d.keys() {
                            if !matches!(dk.as_str(), "source" | "date" | "hour") {
                                return Err(bad(format!("derive_date_hour: unknown key {dk:?}")));
                            }
                        }
                        let get = |key: &str| -> Result<String> {
                            d.get(key)
                                .and_then(|x| x.as_str())
                                .map(str::to_string)
                                .ok_or_else(|| {
                                    bad(format!("derive_date_hour needs a string {key:?}"))
                                })
                        };
                        let source = get("source")?;
                        let si = schema.field_index(&source).ok_or_else(|| {
                            bad(format!(
                                "derive_date_hour: source {source:?} is not a field"
                            ))
                        })?;
                        if schema.fields[si].ty != FieldType::Timestamp {
                            return Err(bad(format!(
                                "derive_date_hour: source {source:?} is not a timestamp field"
                            )));
                        }
                        let (date, hour) = (get("date")?, get("hour")?);
                        for n in [&date, &hour] {
                            if names.contains(n) || RESERVED.contains(&n.as_str()) || n.is_empty() {
                                return Err(bad(format!(
                                    "derive_date_hour: column {n:?} already exists or is reserved"
                                )));
                            }
                            names.push(n.clone());
                        }
                        if date == hour {
                            return Err(bad("derive_date_hour: date and hour columns must differ"));
                        }
                        rules.derive_date_hour.push(DeriveDateHour {
                            source: si,
                            date,
                            hour,
                        });
                    }
                }
                "defaults" => {
                    let d = match val {
                        Value::Null => continue,
                        v => obj(v, "defaults")?,
                    };
                    for (fname, dv) in d {
                        let fi = schema
                            .field_index(fname)
                            .ok_or_else(|| bad(format!("defaults: {fname:?} is not a field")))?;
                        let spec = &schema.fields[fi];
                        if spec.required {
                            return Err(bad(format!("defaults: {fname:?} is required; defaults apply to optional fields")));
                        }
                        if dv.is_null() {
                            continue;
                        }
                        let c = crate::validate::constant_for(spec, dv)
                            .map_err(|m| bad(format!("defaults: {fname:?}: {m}")))?;
                        rules.defaults.push((fi, c));
                    }
                }
                other => return Err(bad(format!("unknown transform rule {other:?}"))),
            }
        }
        Ok(rules)
    }

    pub fn default_for(&self, field: usize) -> Option<&Constant> {
        self.defaults
            .iter()
            .find(|(i, _)| *i == field)
            .map(|(_, c)| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The events contract, generated from platform/contracts.py (a test there keeps it in step).
    pub const EVENTS: &str = include_str!("../../../contracts/events.schema.json");
    /// The events transform rules, generated from platform/contracts.py.
    pub const RULES: &str = include_str!("../../../contracts/events.rules.json");

    #[test]
    fn parses_the_events_contract() {
        let s = Schema::from_json(EVENTS).unwrap();
        assert_eq!(s.fields.len(), 7);
        assert_eq!(s.key_index(), Some(0));
        let r = Rules::from_json(RULES, &s).unwrap();
        let a = s.typed_arrow_schema(&r);
        let names: Vec<&str> = a.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names[7..], ["event_date", "event_hour", "_index"]);
        assert!(!a.field(0).is_nullable() && a.field(4).is_nullable());
    }

    #[test]
    fn refuses_bad_documents() {
        for bad in [
            "{",
            "[]",
            r#"{"fields": []}"#,
            r#"{"fields": [{"name": "a", "type": "strin"}]}"#,
            r#"{"fields": [{"name": "a", "type": "string", "maxlen": 3}]}"#,
            r#"{"fields": [{"name": "a", "type": "string"}, {"name": "a", "type": "long"}]}"#,
            r#"{"key": "b", "fields": [{"name": "a", "type": "string"}]}"#,
            r#"{"fields": [{"name": "a", "type": "long", "min": 5, "max": 1}]}"#,
            r#"{"fields": [{"name": "_raw", "type": "string"}]}"#,
        ] {
            assert!(
                matches!(Schema::from_json(bad), Err(CoreError::Validation { .. })),
                "{bad}"
            );
        }
        let s = Schema::from_json(EVENTS).unwrap();
        for bad in [
            r#"{"rename": {}}"#,
            r#"{"derive_date_hour": {"source": "event_id", "date": "d", "hour": "h"}}"#,
            r#"{"derive_date_hour": {"source": "event_timestamp", "date": "event_id", "hour": "h"}}"#,
            r#"{"defaults": {"event_id": "x"}}"#,
            r#"{"defaults": {"event_value": "abc"}}"#,
            r#"{"defaults": {"event_value": -5}}"#,
        ] {
            assert!(
                matches!(Rules::from_json(bad, &s), Err(CoreError::Validation { .. })),
                "{bad}"
            );
        }
        let r = Rules::from_json(
            r#"{"defaults": {"event_value": 1.5, "product_id": "none"}}"#,
            &s,
        )
        .unwrap();
        assert_eq!(r.default_for(4), Some(&Constant::Double(1.5)));
    }

    #[test]
    fn allowed_values_are_of_the_fields_type() {
        let field = |ty: &str, allowed: &str| {
            Schema::from_json(&format!(
                r#"{{"fields": [{{"name": "a", "type": "{ty}", "allowed": {allowed}}}]}}"#
            ))
        };
        let s = field("long", "[1, 2]").unwrap();
        assert!(matches!(&s.fields[0].allowed, Some(Allowed::Long(v)) if v == &[1, 2]));
        let s = field("string", r#"["x"]"#).unwrap();
        assert!(matches!(&s.fields[0].allowed, Some(Allowed::Str(v)) if v == &["x"]));
        for (ty, allowed, message) in [
            ("string", "[1]", "allowed values must be strings"),
            ("long", "[1, 1.5]", "allowed values must be integers"),
            ("double", r#"[1.5, "x"]"#, "allowed values must be numbers"),
            ("boolean", "[true, 1]", "allowed values must be booleans"),
        ] {
            match field(ty, allowed) {
                Err(CoreError::Validation {
                    message: m,
                    details,
                }) => {
                    assert_eq!(m, format!("field \"a\": {message}"));
                    assert_eq!(details[0]["message"], m.as_str());
                }
                other => panic!("{ty} {allowed}: {other:?}"),
            }
        }
    }
}
