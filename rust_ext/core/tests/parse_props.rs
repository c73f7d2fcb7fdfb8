//! Property tests of the parsers: JSON and CSV round trips, agreement with
//! serde_json on what is valid JSON, unsupported formats.

use arrow_array::{Array, RecordBatch, StringArray};
use eventlake_core::json;
use eventlake_core::parse::{self, PARSE_ERROR_COL, RAW_COL};
use eventlake_core::schema::{Rules, Schema};
use eventlake_core::{process, CoreError};
use proptest::prelude::*;
use serde_json::{Map, Value};

mod common;
use common::cases;

fn strings(b: &RecordBatch, name: &str) -> StringArray {
    b.column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
        .clone()
}

/// JSON values of bounded size: every scalar kind, unicode and escapes in
/// strings, nested objects and arrays.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
        "[\"\\\\\\n\\t\\u{0}-\\u{1f}é😀]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z\"\\\\é]{0,6}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

fn record() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec(("[a-zA-Z_][a-zA-Z0-9_ é\"]{0,8}", json_value()), 0..6).prop_map(|kv| {
        kv.into_iter()
            .filter(|(k, _)| !matches!(k.as_str(), "_index" | "_raw" | "_parse_error"))
            .collect()
    })
}

#[derive(Debug, Clone, Copy)]
enum Layout {
    Ndjson,
    Array,
    PrettyArray,
    PrettyStream,
}

fn layout() -> impl Strategy<Value = Layout> {
    prop_oneof![
        Just(Layout::Ndjson),
        Just(Layout::Array),
        Just(Layout::PrettyArray),
        Just(Layout::PrettyStream)
    ]
}

fn serialize(records: &[Map<String, Value>], layout: Layout) -> (String, Vec<String>) {
    let texts: Vec<String> = records
        .iter()
        .map(|r| match layout {
            Layout::Ndjson | Layout::Array => serde_json::to_string(r).unwrap(),
            Layout::PrettyArray | Layout::PrettyStream => serde_json::to_string_pretty(r).unwrap(),
        })
        .collect();
    let doc = match layout {
        Layout::Ndjson => texts.iter().map(|t| format!("{t}\n")).collect(),
        Layout::PrettyStream => texts.iter().map(|t| format!("{t}\n\n")).collect(),
        Layout::Array => format!("[{}]", texts.join(",")),
        Layout::PrettyArray => format!("[\n  {}\n]\n", texts.join(",\n  ")),
    };
    (doc, texts)
}

proptest! {
    #![proptest_config(cases(160))]

    // Property 44: JSON parsing round-trip — parsing JSON and serializing the
    // parsed cells back to JSON gives the same records, for every layout.
    #[test]
    fn prop_json_roundtrip(records in prop::collection::vec(record(), 1..8), layout in layout()) {
        let (doc, texts) = serialize(&records, layout);
        let table = parse::parse_json(doc.as_bytes(), true).unwrap();
        let b = table.concat().unwrap();
        prop_assert_eq!(b.num_rows(), records.len());
        let raw = strings(&b, RAW_COL);
        let schema = b.schema();
        for (i, original) in records.iter().enumerate() {
            // _raw is the record's source text
            prop_assert_eq!(raw.value(i), texts[i].as_str());
            let mut back = Map::new();
            for f in schema.fields().iter().skip(2) {
                let col = strings(&b, f.name());
                if col.is_valid(i) {
                    let text = col.value(i);
                    // cells are compact JSON text
                    let mut compact = Vec::new();
                    json::minify_into(text.as_bytes(), &mut compact);
                    prop_assert_eq!(compact.as_slice(), text.as_bytes());
                    back.insert(f.name().clone(), serde_json::from_str(text).unwrap());
                }
            }
            // compared with serde_json's own reading of the text (its float
            // parsing is not exact without the float_roundtrip feature)
            let _ = original;
            let reread: Map<String, Value> = serde_json::from_str(&texts[i]).unwrap();
            let expected: Map<String, Value> = reread.into_iter().filter(|(_, v)| !v.is_null()).collect();
            prop_assert_eq!(Value::Object(back), Value::Object(expected));
        }
    }

    // Property 44 (split_payload): JSON of any layout comes out as NDJSON
    // chunks holding the same records, each chunk within the size bound.
    #[test]
    fn prop_split_payload_preserves_records(records in prop::collection::vec(record(), 1..10), layout in layout(), max in 1usize..400) {
        let (doc, _) = serialize(&records, layout);
        let chunks = parse::split_payload(doc.as_bytes(), "json", max).unwrap();
        let mut back = Vec::new();
        for (chunk, n) in &chunks {
            prop_assert!(chunk.len() <= max || *n == 1);
            let lines: Vec<&[u8]> = chunk.split(|c| *c == b'\n').filter(|l| !l.is_empty()).collect();
            prop_assert_eq!(lines.len(), *n);
            for l in lines {
                back.push(serde_json::from_slice::<Map<String, Value>>(l).unwrap());
            }
        }
        let reread: Vec<Map<String, Value>> =
            records.iter().map(|r| serde_json::from_str(&serde_json::to_string(r).unwrap()).unwrap()).collect();
        prop_assert_eq!(back, reread);
    }

    // The scanner accepts exactly what serde_json accepts (serde_json refuses
    // numbers beyond f64, which are valid JSON: those cases are skipped).
    #[test]
    fn prop_scanner_agrees_with_serde(s in "[\\[\\]{}:,\"\\\\ a-z0-9.eE+\\-ntrufls\\n]{0,24}") {
        let ours = json::scan_single(s.as_bytes()).is_ok();
        match serde_json::from_str::<Value>(&s) {
            Ok(_) => prop_assert!(ours, "we refuse valid JSON {:?}", s),
            Err(e) if e.to_string().contains("number out of range") => {}
            Err(e) => prop_assert!(!ours, "we accept invalid JSON {:?} ({})", s, e),
        }
    }

    #[test]
    fn prop_scanner_agrees_on_generated_values(v in json_value(), pretty in any::<bool>()) {
        let s = if pretty { serde_json::to_string_pretty(&v).unwrap() } else { serde_json::to_string(&v).unwrap() };
        let t = json::scan_single(s.as_bytes()).unwrap();
        prop_assert_eq!((t.start, t.end), (0, s.len()));
        let mut m = Vec::new();
        json::minify_into(s.as_bytes(), &mut m);
        prop_assert_eq!(String::from_utf8(m).unwrap(), serde_json::to_string(&v).unwrap());
    }
}

// ---------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------

fn csv_cell(out: &mut String, cell: &Option<String>) {
    match cell {
        None => {}
        Some(s) if s.is_empty() || s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') => {
            out.push('"');
            out.push_str(&s.replace('"', "\"\""));
            out.push('"');
        }
        Some(s) => out.push_str(s),
    }
}

/// One CSV record of `row`'s cells, comma-separated (no line break).
fn csv_record(row: &[Option<String>]) -> String {
    let mut line = String::new();
    for (i, c) in row.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        csv_cell(&mut line, c);
    }
    line
}

fn csv_doc() -> impl Strategy<Value = (Vec<String>, Vec<Vec<Option<String>>>, bool)> {
    (2usize..5).prop_flat_map(|ncols| {
        (
            prop::collection::hash_set("[a-z][a-z0-9_]{0,6}", ncols..=ncols)
                .prop_map(|s| s.into_iter().collect::<Vec<_>>()),
            prop::collection::vec(
                prop::collection::vec(
                    prop::option::of("[a-z ,\"\\n\\r'é😀{}:0-9]{0,8}"),
                    ncols..=ncols,
                ),
                1..8,
            ),
            any::<bool>(),
        )
    })
}

proptest! {
    #![proptest_config(cases(160))]

    // Property 45: CSV parsing round-trip — parsing CSV and serializing the
    // parsed cells back to CSV gives the same cells (quotes, delimiters and
    // line breaks inside cells; CRLF or LF; empty cell = null, "" = empty).
    #[test]
    fn prop_csv_roundtrip((header, rows, crlf) in csv_doc()) {
        let nl = if crlf { "\r\n" } else { "\n" };
        let mut doc = header.join(",") + nl;
        let mut lines = Vec::new();
        for row in &rows {
            let line = csv_record(row);
            doc.push_str(&line);
            doc.push_str(nl);
            lines.push(line);
        }
        let b = parse::parse_csv(doc.as_bytes(), b',', &[], true).unwrap().concat().unwrap();
        prop_assert_eq!(b.num_rows(), rows.len());
        let raw = strings(&b, RAW_COL);
        let mut back_doc = header.join(",") + nl;
        for (r, row) in rows.iter().enumerate() {
            prop_assert_eq!(raw.value(r), lines[r].as_str());
            let mut line = String::new();
            for (c, name) in header.iter().enumerate() {
                let col = strings(&b, name);
                let cell = if col.is_valid(r) { Some(serde_json::from_str::<String>(col.value(r)).unwrap()) } else { None };
                prop_assert_eq!(&cell, &row[c]);
                if c > 0 { line.push(','); }
                csv_cell(&mut line, &cell);
            }
            back_doc.push_str(&line);
            back_doc.push_str(nl);
        }
        prop_assert_eq!(back_doc, doc);
    }

    // Property 45 (split_payload): CSV chunks repeat the header and hold every record once.
    #[test]
    fn prop_csv_split_payload((header, rows, _) in csv_doc(), max in 1usize..200) {
        let mut doc = header.join(",") + "\n";
        for row in &rows {
            let line = csv_record(row);
            doc.push_str(&line);
            doc.push('\n');
        }
        let chunks = parse::split_payload(doc.as_bytes(), "csv", max).unwrap();
        let mut total = 0;
        let mut cells = Vec::new();
        for (chunk, n) in &chunks {
            prop_assert!(chunk.starts_with((header.join(",") + "\n").as_bytes()));
            let b = parse::parse_csv(chunk, b',', &[], true).unwrap().concat().unwrap();
            prop_assert_eq!(b.num_rows(), *n);
            total += n;
            for r in 0..b.num_rows() {
                let row: Vec<Option<String>> = header.iter().map(|h| {
                    let c = strings(&b, h);
                    c.is_valid(r).then(|| serde_json::from_str::<String>(c.value(r)).unwrap())
                }).collect();
                cells.push(row);
            }
        }
        prop_assert_eq!(total, rows.len());
        prop_assert_eq!(cells, rows);
    }

    // Property 48: Unsupported formats return errors naming the format.
    #[test]
    fn prop_unsupported_formats(fmt in "\\PC{0,12}", data in prop::collection::vec(any::<u8>(), 0..64)) {
        prop_assume!(!matches!(fmt.trim().to_ascii_lowercase().as_str(), "json" | "ndjson" | "csv" | "parquet"));
        let schema = Schema::from_json(r#"{"fields": [{"name": "a", "type": "string"}]}"#).unwrap();
        for res in [
            parse::parse(&data, &fmt, &[]).map(|_| ()),
            parse::split_payload(&data, &fmt, 100).map(|_| ()),
            process::process(&data, &fmt, &schema, &Rules::default(), &[]).map(|_| ()),
        ] {
            match res {
                Err(CoreError::UnsupportedFormat { format }) => prop_assert_eq!(&format, &fmt),
                other => prop_assert!(false, "expected UnsupportedFormat, got {:?}", other.err()),
            }
        }
    }
}

#[test]
fn lenient_parse_marks_only_bad_records() {
    let doc = b"{\"a\":1}\n{\"a\":\n[1,2]\n{\"a\":\"\xff\"}\n\"s\"\n{\"a\":2}\n";
    let b = parse::parse_json(doc, false).unwrap().concat().unwrap();
    assert_eq!(b.num_rows(), 6);
    let pe = strings(&b, PARSE_ERROR_COL);
    let bad: Vec<bool> = (0..6).map(|i| pe.is_valid(i)).collect();
    assert_eq!(bad, vec![false, true, true, true, true, false]);
    assert!(pe.value(3).contains("UTF-8"));
}
