//! Checking one value against a field's rules, and validating whole raw
//! batches. Every violation is reported, never just the first.
//!
//! Rules (the `rule` of a violation): `required`, `type`, `allowed`, `min`,
//! `max`, `max_length`, `min_length`, `timestamp` (ISO-8601 with a zone or
//! integer epoch milliseconds; impossible calendar dates and naive timestamps
//! are violations), `date` (YYYY-MM-DD), and `parse_error` for records that
//! could not be parsed at all.

use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder};
use arrow_array::{
    Array, ArrayRef, Int64Array, LargeStringArray, RecordBatch, StringArray, StringViewArray,
};
use arrow_schema::{DataType, Field, Schema as ArrowSchema};
use serde_json::Value;

use crate::error::{CoreError, Result};
use crate::json::{self, Kind, Tok};
use crate::parse::{FORMAT_META, INDEX_COL, PARSE_ERROR_COL, RAW_COL};
use crate::schema::{Allowed, Constant, FieldSpec, FieldType, Schema};

/// Field name used for violations about a whole record.
pub const RECORD_FIELD: &str = "_record";
/// Longest value text kept in a violation.
const MAX_VALUE_TEXT: usize = 1024;

// ---------------------------------------------------------------------------
// time
// ---------------------------------------------------------------------------

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

const US_PER_DAY: i64 = 86_400_000_000;
/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z in microseconds.
pub const MIN_US: i64 = -62_135_596_800_000_000;
pub const MAX_US: i64 = 253_402_300_799_999_999;

#[inline]
fn digits<const N: usize>(s: &[u8], i: usize) -> Option<u32> {
    let b = s.get(i..i + N)?;
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

/// Parse `YYYY-MM-DD` at the start of `s`: (days since epoch, bytes used).
fn parse_ymd(s: &[u8]) -> std::result::Result<(i64, usize), &'static str> {
    let bad = "invalid date: expected YYYY-MM-DD";
    let y = digits::<4>(s, 0).ok_or(bad)? as i64;
    if s.get(4) != Some(&b'-') || s.get(7) != Some(&b'-') {
        return Err(bad);
    }
    let m = digits::<2>(s, 5).ok_or(bad)?;
    let d = digits::<2>(s, 8).ok_or(bad)?;
    if y == 0 {
        return Err("invalid date: year 0000 does not exist");
    }
    if !(1..=12).contains(&m) {
        return Err("invalid date: month out of range");
    }
    if d == 0 || d > days_in_month(y, m) {
        return Err("invalid date: day out of range for the month (impossible calendar date)");
    }
    Ok((days_from_civil(y, m, d), 10))
}

/// Days since the epoch of an exact `YYYY-MM-DD` date.
pub fn parse_date(s: &[u8]) -> std::result::Result<i32, &'static str> {
    let (days, n) = parse_ymd(s)?;
    if n != s.len() {
        return Err("invalid date: expected exactly YYYY-MM-DD");
    }
    Ok(days as i32)
}

/// Parse an RFC 3339 timestamp (ISO-8601 with a zone) into UTC
/// microseconds: `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±hh:mm)`, the form the data
/// contract names (digits beyond microseconds are truncated). A timestamp
/// without a zone is refused: its instant is unknown. Calendar dates and
/// times of day must exist (no 2026-02-30, no 24:00, no leap second).
pub fn parse_timestamp(s: &[u8]) -> std::result::Result<i64, &'static str> {
    let (days, mut i) = parse_ymd(s)?;
    match s.get(i) {
        None => return Err("timestamp has no time of day and no timezone"),
        Some(b'T') => i += 1,
        Some(_) => return Err("invalid timestamp: expected 'T' between date and time"),
    }
    let bad_time = "invalid timestamp: expected HH:MM:SS after the 'T'";
    let h = digits::<2>(s, i).ok_or(bad_time)?;
    let mi = digits::<2>(s, i + 3).ok_or(bad_time)?;
    let sec = digits::<2>(s, i + 6).ok_or(bad_time)?;
    if s.get(i + 2) != Some(&b':') || s.get(i + 5) != Some(&b':') {
        return Err(bad_time);
    }
    i += 8;
    let mut micros = 0i64;
    if s.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while matches!(s.get(i), Some(b'0'..=b'9')) {
            if i - start < 6 {
                micros = micros * 10 + (s[i] - b'0') as i64;
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 9 {
            return Err("invalid timestamp: expected 1 to 9 digits after the decimal point");
        }
        for _ in n..6 {
            micros *= 10;
        }
    }
    if h > 23 || mi > 59 || sec > 59 {
        return Err("invalid timestamp: time of day out of range");
    }
    let offset_s: i64 =
        match s.get(i) {
            None => return Err(
                "timestamp has no timezone (naive timestamps are ambiguous; add Z or an offset)",
            ),
            Some(b'Z') => {
                i += 1;
                0
            }
            Some(&c @ (b'+' | b'-')) => {
                let bad_zone = "invalid timestamp: expected a zone Z or ±hh:mm";
                let oh = digits::<2>(s, i + 1).ok_or(bad_zone)?;
                let om = digits::<2>(s, i + 4).ok_or(bad_zone)?;
                if s.get(i + 3) != Some(&b':') {
                    return Err(bad_zone);
                }
                i += 6;
                if oh > 23 || om > 59 {
                    return Err("invalid timestamp: zone offset out of range");
                }
                let o = (oh * 3600 + om * 60) as i64;
                if c == b'-' {
                    -o
                } else {
                    o
                }
            }
            Some(_) => return Err("invalid timestamp: unexpected text after the time"),
        };
    if i != s.len() {
        return Err("invalid timestamp: unexpected text after the zone");
    }
    let secs = days * 86_400 + (h * 3600 + mi * 60 + sec) as i64 - offset_s;
    let us = secs * 1_000_000 + micros;
    // the zone offset can carry a valid local time outside years 0001-9999 in UTC,
    // which no Iceberg timestamp (nor Python datetime) can hold
    if !(MIN_US..=MAX_US).contains(&us) {
        return Err("timestamp out of range: its UTC instant is outside years 0001-9999");
    }
    Ok(us)
}

/// Epoch milliseconds to microseconds, within years 0001-9999.
pub fn epoch_ms_to_us(ms: i64) -> std::result::Result<i64, &'static str> {
    if !(MIN_US / 1000..=MAX_US / 1000).contains(&ms) {
        return Err("epoch milliseconds out of range (years 0001-9999)");
    }
    Ok(ms * 1000)
}

/// (date as days since the epoch, hour of day) of UTC microseconds.
#[inline]
pub fn date_hour(us: i64) -> (i32, i32) {
    (
        us.div_euclid(US_PER_DAY) as i32,
        (us.rem_euclid(US_PER_DAY) / 3_600_000_000) as i32,
    )
}

// ---------------------------------------------------------------------------
// values
// ---------------------------------------------------------------------------

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

#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    pub field: String,
    pub rule: &'static str,
    pub value: Option<String>,
    pub message: String,
}

impl Violation {
    pub fn new(
        field: &str,
        rule: &'static str,
        value: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        Violation {
            field: field.to_string(),
            rule,
            value,
            message: message.into(),
        }
    }

    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"field\":");
        json::write_json_string(out, &self.field);
        out.extend_from_slice(b",\"rule\":");
        json::write_json_string(out, self.rule);
        out.extend_from_slice(b",\"value\":");
        match &self.value {
            Some(v) => json::write_json_string(out, v),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"message\":");
        json::write_json_string(out, &self.message);
        out.push(b'}');
    }
}

/// A JSON array of violations: `[{"field", "rule", "value", "message"}, ...]`.
pub fn violations_json(vs: &[Violation]) -> String {
    let mut out = Vec::with_capacity(96 * vs.len() + 2);
    out.push(b'[');
    for (i, v) in vs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        v.write_json(&mut out);
    }
    out.push(b']');
    String::from_utf8(out).unwrap_or_default()
}

/// Cut a reported value to at most 1 KiB (on a character boundary).
pub fn truncate_value(mut s: String) -> String {
    if s.len() > MAX_VALUE_TEXT {
        let mut cut = MAX_VALUE_TEXT;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
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
                "required",
                None,
                format!("{} is required", spec.name),
            ));
        }
        return Typed::Null;
    };
    let type_err = |out: &mut Vec<Violation>, msg: String| {
        out.push(Violation::new(&spec.name, "type", Some(v.display()), msg));
        Typed::Null
    };
    let found = |v: &RawVal| match v {
        RawVal::Json(t, _) => t.kind.name(),
        RawVal::Text(_) => "text",
    };
    match spec.ty {
        FieldType::String => {
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
                other => {
                    return type_err(
                        out,
                        format!("{}: expected a string, found {}", spec.name, found(&other)),
                    )
                }
            };
            let before = out.len();
            if let Some(Allowed::Str(list)) = &spec.allowed {
                if !list.iter().any(|a| a.as_bytes() == bytes) {
                    out.push(Violation::new(
                        &spec.name,
                        "allowed",
                        Some(v.display()),
                        format!("{}: {} is not one of {:?}", spec.name, v.display(), list),
                    ));
                }
            }
            if let Some(max) = spec.max_length {
                if bytes.len() > max {
                    let n = char_count(bytes);
                    if n > max {
                        out.push(Violation::new(
                            &spec.name,
                            "max_length",
                            Some(v.display()),
                            format!("{}: length {n} exceeds max_length {max}", spec.name),
                        ));
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
                    out.push(Violation::new(
                        &spec.name,
                        "min_length",
                        Some(v.display()),
                        format!("{}: length {n} is below min_length {min}", spec.name),
                    ));
                }
            }
            if out.len() != before {
                return Typed::Null;
            }
            typed
        }
        FieldType::Long => {
            let parsed = match v {
                RawVal::Json(t, b) if t.kind == Kind::Number => {
                    parse_long(std::str::from_utf8(t.text(b)).unwrap_or(""))
                }
                RawVal::Text(s) => parse_long(s.trim()),
                other => {
                    return type_err(
                        out,
                        format!(
                            "{}: expected an integer, found {}",
                            spec.name,
                            found(&other)
                        ),
                    )
                }
            };
            match parsed {
                Ok(x) => {
                    if range_ok(spec, x as f64, &v, out)
                        & allowed_ok(spec, &Allowed::Long(vec![x]), &v, out)
                    {
                        Typed::I64(x)
                    } else {
                        Typed::Null
                    }
                }
                Err(m) => type_err(out, format!("{}: {m}", spec.name)),
            }
        }
        FieldType::Double => {
            let parsed = match v {
                RawVal::Json(t, b) if t.kind == Kind::Number => {
                    parse_double(std::str::from_utf8(t.text(b)).unwrap_or(""))
                }
                RawVal::Text(s) => parse_double(s.trim()),
                other => {
                    return type_err(
                        out,
                        format!("{}: expected a number, found {}", spec.name, found(&other)),
                    )
                }
            };
            match parsed {
                Ok(x) => {
                    if range_ok(spec, x, &v, out)
                        & allowed_ok(spec, &Allowed::Double(vec![x]), &v, out)
                    {
                        Typed::F64(x)
                    } else {
                        Typed::Null
                    }
                }
                Err(m) => type_err(out, format!("{}: {m}", spec.name)),
            }
        }
        FieldType::Boolean => {
            let parsed = match v {
                RawVal::Json(t, b) if t.kind == Kind::Bool => Some(b[t.start] == b't'),
                RawVal::Text(s) => parse_bool(s.trim()),
                _ => None,
            };
            match parsed {
                Some(x) => {
                    if allowed_ok(spec, &Allowed::Bool(vec![x]), &v, out) {
                        Typed::Bool(x)
                    } else {
                        Typed::Null
                    }
                }
                None => type_err(
                    out,
                    format!("{}: expected a boolean, found {}", spec.name, found(&v)),
                ),
            }
        }
        FieldType::Timestamp => {
            let mut buf = Vec::new();
            let parsed = match v {
                RawVal::Json(t, b) if t.kind == Kind::String => {
                    let s = if t.escaped {
                        json::unescape_into(t.content(b), &mut buf);
                        &buf[..]
                    } else {
                        t.content(b)
                    };
                    parse_timestamp(s)
                }
                RawVal::Json(t, b) if t.kind == Kind::Number => {
                    if t.int {
                        match std::str::from_utf8(t.text(b)).unwrap_or("").parse::<i64>() {
                            Ok(ms) => epoch_ms_to_us(ms),
                            Err(_) => Err("epoch milliseconds out of range (years 0001-9999)"),
                        }
                    } else {
                        return type_err(
                            out,
                            format!(
                                "{}: a numeric timestamp must be integer epoch milliseconds",
                                spec.name
                            ),
                        );
                    }
                }
                RawVal::Text(s) => {
                    let s = s.trim();
                    if is_epoch_text(s) {
                        s.parse::<i64>()
                            .map_err(|_| "epoch milliseconds out of range (years 0001-9999)")
                            .and_then(epoch_ms_to_us)
                    } else {
                        parse_timestamp(s.as_bytes())
                    }
                }
                other => {
                    return type_err(
                        out,
                        format!(
                            "{}: expected an ISO-8601 string or epoch milliseconds, found {}",
                            spec.name,
                            found(&other)
                        ),
                    )
                }
            };
            match parsed {
                Ok(us) => Typed::Ts(us),
                Err(m) => {
                    out.push(Violation::new(
                        &spec.name,
                        "timestamp",
                        Some(v.display()),
                        format!("{}: {m}", spec.name),
                    ));
                    Typed::Null
                }
            }
        }
        FieldType::Date => {
            let mut buf = Vec::new();
            let parsed = match v {
                RawVal::Json(t, b) if t.kind == Kind::String => {
                    let s = if t.escaped {
                        json::unescape_into(t.content(b), &mut buf);
                        &buf[..]
                    } else {
                        t.content(b)
                    };
                    parse_date(s)
                }
                RawVal::Text(s) => parse_date(s.trim().as_bytes()),
                other => {
                    return type_err(
                        out,
                        format!(
                            "{}: expected a YYYY-MM-DD string, found {}",
                            spec.name,
                            found(&other)
                        ),
                    )
                }
            };
            match parsed {
                Ok(d) => Typed::Date(d),
                Err(m) => {
                    out.push(Violation::new(
                        &spec.name,
                        "date",
                        Some(v.display()),
                        format!("{}: {m}", spec.name),
                    ));
                    Typed::Null
                }
            }
        }
        FieldType::Object => match v {
            RawVal::Json(t, b) if t.kind == Kind::Object => {
                if t.loose {
                    let st = side.len();
                    json::minify_into(t.text(b), side);
                    Typed::Side(st, side.len())
                } else {
                    Typed::Str(t.text(b))
                }
            }
            RawVal::Text(s) => match json::scan_single(s.as_bytes()) {
                Ok(t) if t.kind == Kind::Object => {
                    if t.loose {
                        let st = side.len();
                        json::minify_into(t.text(s.as_bytes()), side);
                        Typed::Side(st, side.len())
                    } else {
                        Typed::Str(t.text(s.as_bytes()))
                    }
                }
                Ok(t) => type_err(
                    out,
                    format!(
                        "{}: expected a JSON object, found {}",
                        spec.name,
                        t.kind.name()
                    ),
                ),
                Err(e) => type_err(
                    out,
                    format!(
                        "{}: expected a JSON object, found invalid JSON ({})",
                        spec.name, e.msg
                    ),
                ),
            },
            other => type_err(
                out,
                format!(
                    "{}: expected a JSON object, found {}",
                    spec.name,
                    found(&other)
                ),
            ),
        },
    }
}

fn range_ok(spec: &FieldSpec, x: f64, v: &RawVal, out: &mut Vec<Violation>) -> bool {
    let mut ok = true;
    if let Some(min) = spec.min {
        if x < min {
            out.push(Violation::new(
                &spec.name,
                "min",
                Some(v.display()),
                format!(
                    "{}: {} is below the minimum {}",
                    spec.name,
                    fmt_num(x),
                    fmt_num(min)
                ),
            ));
            ok = false;
        }
    }
    if let Some(max) = spec.max {
        if x > max {
            out.push(Violation::new(
                &spec.name,
                "max",
                Some(v.display()),
                format!(
                    "{}: {} is above the maximum {}",
                    spec.name,
                    fmt_num(x),
                    fmt_num(max)
                ),
            ));
            ok = false;
        }
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
        out.push(Violation::new(
            &spec.name,
            "allowed",
            Some(v.display()),
            format!("{}: {} is not an allowed value", spec.name, v.display()),
        ));
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

// ---------------------------------------------------------------------------
// raw batches
// ---------------------------------------------------------------------------

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
                                "type",
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
            rule.append_value(v.rule);
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
                            "parse_error",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> std::result::Result<i64, &'static str> {
        parse_timestamp(s.as_bytes())
    }

    #[test]
    fn timestamps() {
        assert_eq!(ts("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(ts("1970-01-01T01:00:00+01:00"), Ok(0));
        assert_eq!(ts("1969-12-31T19:00:00-05:00"), Ok(0));
        assert_eq!(ts("1970-01-01T00:00:00.123456789Z"), Ok(123_456));
        assert_eq!(ts("1970-01-01T00:00:01.5+00:00"), Ok(1_500_000));
        assert_eq!(ts("1970-01-01T14:00:00+14:00"), Ok(0));
        assert_eq!(ts("2024-02-29T12:00:00Z"), Ok(1_709_208_000_000_000));
        // the edges of years 0001-9999 in UTC, reached through an offset
        assert_eq!(ts("0001-01-01T14:00:00+14:00"), Ok(MIN_US));
        assert_eq!(ts("9999-12-31T09:59:59.999999-14:00"), Ok(MAX_US));
        assert_eq!(ts("2026-03-01T00:30:00+01:00"), ts("2026-02-28T23:30:00Z"));
        for bad in [
            "2026-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T23:60:00Z",
            "2026-01-01T23:59:60Z",
            "2026-01-01T00:00:00",
            "2026-01-01",
            "2026-01-01T00:00:00+24:00",
            "2026-01-01T00:00:00Zjunk",
            "26-01-01T00:00:00Z",
            "0000-01-01T00:00:00Z",
            // valid local times whose UTC instant leaves years 0001-9999
            "9999-12-31T23:59:59-14:00",
            "9999-12-31T23:00:00-01:00",
            "0001-01-01T00:00:00+14:00",
            "0001-01-01T00:00:00+00:01",
            "1970-01-01 00:00:01Z",
            "1970-01-01T00:00Z",
            "1970-01-01T00:00:00+0000",
            "1970-01-01T00:00:00+00",
            "1970-01-01t00:00:00z",
            "1970-01-01T00:00:00.1234567890Z",
            "1970-01-01T00:00:00.Z",
            "14/03/2026 09:26:53",
            "not-a-timestamp",
            "",
        ] {
            assert!(ts(bad).is_err(), "{bad}");
        }
        // Python's datetime agrees on the instant of every accepted form
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1, 1, 1) * US_PER_DAY, MIN_US);
        assert_eq!(date_hour(-1), (-1, 23));
        assert!(epoch_ms_to_us(i64::MAX).is_err());
    }

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
        (out.iter().map(|v| v.rule).collect(), format!("{t:?}"))
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
