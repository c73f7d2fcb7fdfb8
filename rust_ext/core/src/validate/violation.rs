//! Violations: the rule a value broke ([`Rule`], the one place that names the
//! rules as written into reports), the field, the offending value and a message.

use crate::json;

/// Field name used for violations about a whole record.
pub const RECORD_FIELD: &str = "_record";
/// Longest value text kept in a violation.
const MAX_VALUE_TEXT: usize = 1024;

/// The rules a violation can name. [`Rule::as_str`] is the only place that
/// spells them: the text written into violations (stored data, the Python
/// API and its tests read it, so it never changes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// A required field is missing or null.
    Required,
    /// The value is not of the field's type (or not valid JSON text).
    Type,
    /// The value is not one of the field's allowed values.
    Allowed,
    /// Below the field's minimum.
    Min,
    /// Above the field's maximum.
    Max,
    /// Longer than the field's max_length (in characters).
    MaxLength,
    /// Shorter than the field's min_length (in characters).
    MinLength,
    /// Not an ISO-8601 timestamp with a zone, nor integer epoch milliseconds.
    Timestamp,
    /// Not a YYYY-MM-DD date.
    Date,
    /// The record could not be parsed at all.
    ParseError,
    /// The record repeats the key of an earlier one.
    Duplicate,
}

impl Rule {
    pub const fn as_str(self) -> &'static str {
        match self {
            Rule::Required => "required",
            Rule::Type => "type",
            Rule::Allowed => "allowed",
            Rule::Min => "min",
            Rule::Max => "max",
            Rule::MaxLength => "max_length",
            Rule::MinLength => "min_length",
            Rule::Timestamp => "timestamp",
            Rule::Date => "date",
            Rule::ParseError => "parse_error",
            Rule::Duplicate => "duplicate",
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    pub field: String,
    pub rule: Rule,
    pub value: Option<String>,
    pub message: String,
}

impl Violation {
    pub fn new(field: &str, rule: Rule, value: Option<String>, message: impl Into<String>) -> Self {
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
        json::write_json_string(out, self.rule.as_str());
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
