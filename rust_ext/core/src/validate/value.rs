//! One value against one field's rules: typing it ([`Typed`]) and reporting
//! every rule it breaks.

use serde_json::Value;

use crate::json::{self, Kind, Tok};
use crate::schema::{Allowed, Constant, FieldSpec, FieldType};
use crate::time::{epoch_ms_to_us, parse_date, parse_timestamp};

use super::violation::{truncate_value, Rule, Violation};

/// A value as it arrived.
#[derive(Clone, Copy, Debug)]
pub enum RawVal<'a> {
    /// A JSON token inside `buf`.
    Json(Tok, &'a [u8]),
    /// Text to be coerced to the field's type (a CSV cell, a plain string).
    Text(&'a str),
}

impl RawVal<'_> {
    /// The value for violation reports: a string's text, anything else as
    /// compact JSON (at most 1 KiB).
    pub fn display(&self) -> String {
        let s = match self {
            RawVal::Json(t, b) => match t.kind {
                Kind::String => {
                    let mut out = Vec::new();
                    json::unescape_into(t.content(b), &mut out);
                    String::from_utf8_lossy(&out).into_owned()
                }
                Kind::Object | Kind::Array if t.loose => {
                    let mut out = Vec::new();
                    json::minify_into(t.text(b), &mut out);
                    String::from_utf8_lossy(&out).into_owned()
                }
                _ => String::from_utf8_lossy(t.text(b)).into_owned(),
            },
            RawVal::Text(s) => s.to_string(),
        };
        truncate_value(s)
    }
}

/// A typed value. Strings and objects borrow from the raw value or sit in
/// `side[start..end]` (unescaped / minified).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Typed<'a> {
    Null,
    Str(&'a [u8]),
    Side(usize, usize),
    I64(i64),
    F64(f64),
    Bool(bool),
    /// UTC microseconds
    Ts(i64),
    /// days since the epoch
    Date(i32),
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

#[inline]
fn char_count(s: &[u8]) -> usize {
    s.iter().filter(|&&b| (b as i8) >= -0x40).count()
}

fn parse_long(text: &str) -> std::result::Result<i64, &'static str> {
    if let Ok(v) = text.parse::<i64>() {
        return Ok(v);
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() && f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 => {
            Ok(f as i64)
        }
        Ok(f) if f.is_finite() && f.fract() == 0.0 => Err("integer out of range for a long"),
        Ok(_) => Err("expected an integer"),
        Err(_)
            if text
                .bytes()
                .all(|c| c.is_ascii_digit() || c == b'-' || c == b'+')
                && !text.is_empty() =>
        {
            Err("integer out of range for a long")
        }
        Err(_) => Err("expected an integer"),
    }
}

fn parse_double(text: &str) -> std::result::Result<f64, &'static str> {
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(f),
        Ok(_) => Err("number is not finite (NaN and infinity are not allowed)"),
        Err(_) => Err("expected a number"),
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") || text == "1" {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") || text == "0" {
        Some(false)
    } else {
        None
    }
}

/// Text of digits only: epoch milliseconds (CSV cells, plain text).
fn is_epoch_text(t: &str) -> bool {
    !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit())
}

/// Check `v` against `spec`, pushing every violation to `out`; returns the
/// typed value (meaningful only when nothing was pushed).
pub fn check_value<'a>(
    spec: &FieldSpec,
    v: Option<RawVal<'a>>,
    side: &mut Vec<u8>,
    out: &mut Vec<Violation>,
) -> Typed<'a> {
    let v = match v {
        Some(RawVal::Json(t, _)) if t.kind == Kind::Null => None,
        other => other,
    };
    let Some(v) = v else {
        if spec.required {
            out.push(Violation::new(
                &spec.name,
                Rule::Required,
                None,
                format!("{} is required", spec.name),
            ));
        }
        return Typed::Null;
    };
    match spec.ty {
        FieldType::String => check_string(spec, v, side, out),
        FieldType::Long => check_long(spec, v, out),
        FieldType::Double => check_double(spec, v, out),
        FieldType::Boolean => check_boolean(spec, v, out),
        FieldType::Timestamp => check_timestamp(spec, v, out),
        FieldType::Date => check_date(spec, v, out),
        FieldType::Object => check_object(spec, v, side, out),
    }
}

/// Push a violation of `rule` about `v`; the typed value is then null.
fn violation<'a>(
    spec: &FieldSpec,
    v: &RawVal,
    out: &mut Vec<Violation>,
    rule: Rule,
    message: String,
) -> Typed<'a> {
    out.push(Violation::new(&spec.name, rule, Some(v.display()), message));
    Typed::Null
}

/// Push the `type` violation "expected `what`, found `found`".
fn wrong_type<'a>(
    spec: &FieldSpec,
    v: &RawVal,
    out: &mut Vec<Violation>,
    what: &str,
    found: &str,
) -> Typed<'a> {
    let message = format!("{}: expected {what}, found {found}", spec.name);
    violation(spec, v, out, Rule::Type, message)
}

/// What kind of value `v` is, for messages.
fn kind_name(v: &RawVal) -> &'static str {
    match v {
        RawVal::Json(t, _) => t.kind.name(),
        RawVal::Text(_) => "text",
    }
}

/// The text of a number: a JSON number token, or trimmed text.
fn number_text<'a>(v: &RawVal<'a>) -> Option<&'a str> {
    match *v {
        RawVal::Json(t, b) if t.kind == Kind::Number => {
            Some(std::str::from_utf8(t.text(b)).unwrap_or(""))
        }
        RawVal::Text(s) => Some(s.trim()),
        RawVal::Json(..) => None,
    }
}

/// The content of a JSON string token, unescaped into `buf` when needed.
fn string_content<'b>(t: &Tok, b: &'b [u8], buf: &'b mut Vec<u8>) -> &'b [u8] {
    if t.escaped {
        json::unescape_into(t.content(b), buf);
        &buf[..]
    } else {
        t.content(b)
    }
}

fn check_string<'a>(
    spec: &FieldSpec,
    v: RawVal<'a>,
    side: &mut Vec<u8>,
    out: &mut Vec<Violation>,
) -> Typed<'a> {
    let (typed, bytes): (Typed<'a>, &[u8]) = match v {
        RawVal::Json(t, b) if t.kind == Kind::String => {
            if t.escaped {
                let st = side.len();
                json::unescape_into(t.content(b), side);
                (Typed::Side(st, side.len()), &side[st..])
            } else {
                (Typed::Str(t.content(b)), t.content(b))
            }
        }
        RawVal::Text(s) => (Typed::Str(s.as_bytes()), s.as_bytes()),
        other => return wrong_type(spec, &other, out, "a string", kind_name(&other)),
    };
    let before = out.len();
    if let Some(Allowed::Str(list)) = &spec.allowed {
        if !list.iter().any(|a| a.as_bytes() == bytes) {
            let message = format!("{}: {} is not one of {:?}", spec.name, v.display(), list);
            violation(spec, &v, out, Rule::Allowed, message);
        }
    }
    if let Some(max) = spec.max_length {
        if bytes.len() > max {
            let n = char_count(bytes);
            if n > max {
                let message = format!("{}: length {n} exceeds max_length {max}", spec.name);
                violation(spec, &v, out, Rule::MaxLength, message);
            }
        }
    }
    if let Some(min) = spec.min_length {
        let n = if bytes.len() < min {
            bytes.len()
        } else {
            char_count(bytes)
        };
        if n < min {
            let message = format!("{}: length {n} is below min_length {min}", spec.name);
            violation(spec, &v, out, Rule::MinLength, message);
        }
    }
    if out.len() != before {
        return Typed::Null;
    }
    typed
}

fn check_long<'a>(spec: &FieldSpec, v: RawVal<'a>, out: &mut Vec<Violation>) -> Typed<'a> {
    let Some(text) = number_text(&v) else {
        return wrong_type(spec, &v, out, "an integer", kind_name(&v));
    };
    match parse_long(text) {
        Ok(x) => {
            // `&`, not `&&`: both rules are reported
            if range_ok(spec, x as f64, &v, out)
                & allowed_ok(spec, &Allowed::Long(vec![x]), &v, out)
            {
                Typed::I64(x)
            } else {
                Typed::Null
            }
        }
        Err(m) => violation(spec, &v, out, Rule::Type, format!("{}: {m}", spec.name)),
    }
}

fn check_double<'a>(spec: &FieldSpec, v: RawVal<'a>, out: &mut Vec<Violation>) -> Typed<'a> {
    let Some(text) = number_text(&v) else {
        return wrong_type(spec, &v, out, "a number", kind_name(&v));
    };
    match parse_double(text) {
        Ok(x) => {
            if range_ok(spec, x, &v, out) & allowed_ok(spec, &Allowed::Double(vec![x]), &v, out) {
                Typed::F64(x)
            } else {
                Typed::Null
            }
        }
        Err(m) => violation(spec, &v, out, Rule::Type, format!("{}: {m}", spec.name)),
    }
}

fn check_boolean<'a>(spec: &FieldSpec, v: RawVal<'a>, out: &mut Vec<Violation>) -> Typed<'a> {
    let parsed = match v {
        RawVal::Json(t, b) if t.kind == Kind::Bool => Some(b[t.start] == b't'),
        RawVal::Text(s) => parse_bool(s.trim()),
        RawVal::Json(..) => None,
    };
    match parsed {
        Some(x) => {
            if allowed_ok(spec, &Allowed::Bool(vec![x]), &v, out) {
                Typed::Bool(x)
            } else {
                Typed::Null
            }
        }
        None => wrong_type(spec, &v, out, "a boolean", kind_name(&v)),
    }
}

fn check_timestamp<'a>(spec: &FieldSpec, v: RawVal<'a>, out: &mut Vec<Violation>) -> Typed<'a> {
    const OUT_OF_RANGE: &str = "epoch milliseconds out of range (years 0001-9999)";
    let mut buf = Vec::new();
    let parsed = match v {
        RawVal::Json(t, b) if t.kind == Kind::String => {
            parse_timestamp(string_content(&t, b, &mut buf))
        }
        RawVal::Json(t, b) if t.kind == Kind::Number => {
            if !t.int {
                let message = format!(
                    "{}: a numeric timestamp must be integer epoch milliseconds",
                    spec.name
                );
                return violation(spec, &v, out, Rule::Type, message);
            }
            match std::str::from_utf8(t.text(b)).unwrap_or("").parse::<i64>() {
                Ok(ms) => epoch_ms_to_us(ms),
                Err(_) => Err(OUT_OF_RANGE),
            }
        }
        RawVal::Text(s) => {
            let s = s.trim();
            if is_epoch_text(s) {
                s.parse::<i64>()
                    .map_err(|_| OUT_OF_RANGE)
                    .and_then(epoch_ms_to_us)
            } else {
                parse_timestamp(s.as_bytes())
            }
        }
        other => {
            let what = "an ISO-8601 string or epoch milliseconds";
            return wrong_type(spec, &other, out, what, kind_name(&other));
        }
    };
    match parsed {
        Ok(us) => Typed::Ts(us),
        Err(m) => violation(
            spec,
            &v,
            out,
            Rule::Timestamp,
            format!("{}: {m}", spec.name),
        ),
    }
}

fn check_date<'a>(spec: &FieldSpec, v: RawVal<'a>, out: &mut Vec<Violation>) -> Typed<'a> {
    let mut buf = Vec::new();
    let parsed = match v {
        RawVal::Json(t, b) if t.kind == Kind::String => parse_date(string_content(&t, b, &mut buf)),
        RawVal::Text(s) => parse_date(s.trim().as_bytes()),
        other => return wrong_type(spec, &other, out, "a YYYY-MM-DD string", kind_name(&other)),
    };
    match parsed {
        Ok(d) => Typed::Date(d),
        Err(m) => violation(spec, &v, out, Rule::Date, format!("{}: {m}", spec.name)),
    }
}

fn check_object<'a>(
    spec: &FieldSpec,
    v: RawVal<'a>,
    side: &mut Vec<u8>,
    out: &mut Vec<Violation>,
) -> Typed<'a> {
    match v {
        RawVal::Json(t, b) if t.kind == Kind::Object => compact_object(t, b, side),
        RawVal::Text(s) => match json::scan_single(s.as_bytes()) {
            Ok(t) if t.kind == Kind::Object => compact_object(t, s.as_bytes(), side),
            Ok(t) => wrong_type(spec, &v, out, "a JSON object", t.kind.name()),
            Err(e) => {
                let message = format!(
                    "{}: expected a JSON object, found invalid JSON ({})",
                    spec.name, e.msg
                );
                violation(spec, &v, out, Rule::Type, message)
            }
        },
        other => wrong_type(spec, &other, out, "a JSON object", kind_name(&other)),
    }
}

/// An object's compact text: borrowed when it has no whitespace outside
/// strings, else minified into `side`.
fn compact_object<'a>(t: Tok, b: &'a [u8], side: &mut Vec<u8>) -> Typed<'a> {
    if t.loose {
        let st = side.len();
        json::minify_into(t.text(b), side);
        Typed::Side(st, side.len())
    } else {
        Typed::Str(t.text(b))
    }
}

fn range_ok(spec: &FieldSpec, x: f64, v: &RawVal, out: &mut Vec<Violation>) -> bool {
    let below = (spec.min.filter(|min| x < *min)).map(|min| (Rule::Min, "below the minimum", min));
    let above = (spec.max.filter(|max| x > *max)).map(|max| (Rule::Max, "above the maximum", max));
    let mut ok = true;
    for (rule, what, bound) in below.into_iter().chain(above) {
        let message = format!("{}: {} is {what} {}", spec.name, fmt_num(x), fmt_num(bound));
        violation(spec, v, out, rule, message);
        ok = false;
    }
    ok
}

fn allowed_ok(spec: &FieldSpec, x: &Allowed, v: &RawVal, out: &mut Vec<Violation>) -> bool {
    let ok = match (&spec.allowed, x) {
        (None, _) => true,
        (Some(Allowed::Long(l)), Allowed::Long(x)) => l.contains(&x[0]),
        (Some(Allowed::Double(l)), Allowed::Double(x)) => l.contains(&x[0]),
        (Some(Allowed::Bool(l)), Allowed::Bool(x)) => l.contains(&x[0]),
        _ => true,
    };
    if !ok {
        let message = format!("{}: {} is not an allowed value", spec.name, v.display());
        violation(spec, v, out, Rule::Allowed, message);
    }
    ok
}

/// Type a JSON constant (e.g. a default) by a field's rules.
pub fn constant_for(spec: &FieldSpec, v: &Value) -> std::result::Result<Constant, String> {
    let text = serde_json::to_string(v).map_err(|e| e.to_string())?;
    let tok = json::scan_single(text.as_bytes()).map_err(|e| e.msg.to_string())?;
    let mut side = Vec::new();
    let mut out = Vec::new();
    let typed = check_value(
        spec,
        Some(RawVal::Json(tok, text.as_bytes())),
        &mut side,
        &mut out,
    );
    if !out.is_empty() {
        return Err(out
            .iter()
            .map(|v| v.message.clone())
            .collect::<Vec<_>>()
            .join("; "));
    }
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Ok(match typed {
        Typed::Null => return Err("a default cannot be null".into()),
        Typed::Str(b) => Constant::Str(s(b)),
        Typed::Side(a, b) => Constant::Str(s(&side[a..b])),
        Typed::I64(x) => Constant::Long(x),
        Typed::F64(x) => Constant::Double(x),
        Typed::Bool(x) => Constant::Bool(x),
        Typed::Ts(x) => Constant::Timestamp(x),
        Typed::Date(x) => Constant::Date(x),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schema;

    fn spec(json: &str) -> FieldSpec {
        let s = Schema::from_json(&format!("{{\"fields\": [{json}]}}")).unwrap();
        s.fields[0].clone()
    }

    fn check_json(spec: &FieldSpec, text: &str) -> (Vec<&'static str>, String) {
        let tok = json::scan_single(text.as_bytes()).unwrap();
        let mut side = Vec::new();
        let mut out = Vec::new();
        let t = check_value(
            spec,
            Some(RawVal::Json(tok, text.as_bytes())),
            &mut side,
            &mut out,
        );
        (
            out.iter().map(|v| v.rule.as_str()).collect(),
            format!("{t:?}"),
        )
    }

    #[test]
    fn value_rules() {
        let s = spec(
            r#"{"name": "s", "type": "string", "required": true, "allowed": ["a", "ü"], "max_length": 1}"#,
        );
        assert_eq!(check_json(&s, "\"a\"").0, Vec::<&str>::new());
        assert_eq!(check_json(&s, "\"\\u00fc\"").0, Vec::<&str>::new());
        assert_eq!(check_json(&s, "\"bb\"").0, vec!["allowed", "max_length"]);
        assert_eq!(check_json(&s, "1").0, vec!["type"]);
        assert_eq!(check_json(&s, "null").0, vec!["required"]);
        let d = spec(r#"{"name": "d", "type": "double", "min": 0, "max": 10}"#);
        assert_eq!(check_json(&d, "1e999").0, vec!["type"]);
        assert_eq!(check_json(&d, "-1").0, vec!["min"]);
        assert_eq!(check_json(&d, "10.5").0, vec!["max"]);
        assert_eq!(check_json(&d, "\"5\"").0, vec!["type"]);
        assert_eq!(check_json(&d, "null").0, Vec::<&str>::new());
        let l = spec(r#"{"name": "l", "type": "long"}"#);
        assert_eq!(check_json(&l, "3.0").1, "I64(3)");
        assert_eq!(check_json(&l, "3.5").0, vec!["type"]);
        assert_eq!(check_json(&l, "99999999999999999999").0, vec!["type"]);
        let t = spec(r#"{"name": "t", "type": "timestamp"}"#);
        assert_eq!(check_json(&t, "1000").1, "Ts(1000000)");
        assert_eq!(
            check_json(&t, "\"2026-02-30T00:00:00Z\"").0,
            vec!["timestamp"]
        );
        assert_eq!(check_json(&t, "1.5").0, vec!["type"]);
        assert_eq!(check_json(&t, "99999999999999999").0, vec!["timestamp"]);
        assert_eq!(check_json(&t, "true").0, vec!["type"]);
        let o = spec(r#"{"name": "o", "type": "object"}"#);
        assert_eq!(check_json(&o, "[1]").0, vec!["type"]);
        let b = spec(r#"{"name": "b", "type": "boolean"}"#);
        assert_eq!(check_json(&b, "false").1, "Bool(false)");
    }

    #[test]
    fn text_coercion() {
        let d = spec(r#"{"name": "d", "type": "double"}"#);
        for (txt, ok) in [
            ("1.5", true),
            ("NaN", false),
            ("inf", false),
            ("-Infinity", false),
            ("x", false),
        ] {
            let mut out = Vec::new();
            check_value(&d, Some(RawVal::Text(txt)), &mut Vec::new(), &mut out);
            assert_eq!(out.is_empty(), ok, "{txt}");
        }
        let t = spec(r#"{"name": "t", "type": "timestamp"}"#);
        let mut out = Vec::new();
        assert_eq!(
            check_value(
                &t,
                Some(RawVal::Text("86400000")),
                &mut Vec::new(),
                &mut out
            ),
            Typed::Ts(86_400_000_000)
        );
        let o = spec(r#"{"name": "o", "type": "object"}"#);
        let mut side = Vec::new();
        let typed = check_value(&o, Some(RawVal::Text("{ \"a\" : 1 }")), &mut side, &mut out);
        assert!(out.is_empty());
        if let Typed::Side(a, b) = typed {
            assert_eq!(&side[a..b], b"{\"a\":1}");
        } else {
            panic!("{typed:?}");
        }
    }
}
