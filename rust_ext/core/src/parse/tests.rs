use super::raw_batch::{assemble_raw, RawChunk};
use super::*;
use arrow_array::{Array, RecordBatch, StringArray};

// the downcast of tests/parse_props.rs's strings() again: a unit test module cannot use an integration test's helper
fn col(b: &RecordBatch, name: &str) -> StringArray {
    b.column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
        .clone()
}

fn parse_json(data: &[u8], strict: bool) -> Result<RecordBatch> {
    super::parse_json(data, strict).and_then(|t| t.concat())
}

fn parse_csv(data: &[u8], d: u8, j: &[String], strict: bool) -> Result<RecordBatch> {
    super::parse_csv(data, d, j, strict).and_then(|t| t.concat())
}

#[test]
fn ndjson_array_and_object_agree() {
    let nd = b"{\"a\":1,\"b\":\"x\"}\n{\"a\":2}\n";
    let arr = b"[{\"a\":1,\"b\":\"x\"},\n {\"a\":2}]";
    let one = b"{\n  \"a\": 1,\n  \"b\": \"x\"\n}\n";
    let b1 = parse_json(nd, true).unwrap();
    let b2 = parse_json(arr, true).unwrap();
    assert_eq!(b1.num_rows(), 2);
    assert_eq!(b2.num_rows(), 2);
    assert_eq!(col(&b1, "a").value(1), "2");
    assert_eq!(col(&b2, "b").value(0), "\"x\"");
    assert!(col(&b2, "b").is_null(1));
    let b3 = parse_json(one, true).unwrap();
    assert_eq!(b3.num_rows(), 1);
    assert_eq!(col(&b3, "b").value(0), "\"x\"");
}

#[test]
fn strict_lists_every_bad_record() {
    let nd = b"{\"a\":1}\n{\"a\":}\n[1]\n{\"a\":3}\n{\"a\" 4}\n";
    match parse_json(nd, true) {
        Err(CoreError::Parse { line, details, .. }) => {
            assert_eq!(line, Some(2));
            let lines: Vec<u64> = details
                .iter()
                .map(|d| d["line"].as_u64().unwrap())
                .collect();
            assert_eq!(lines, vec![2, 3, 5]);
        }
        other => panic!("{other:?}"),
    }
    let lenient = parse_json(nd, false).unwrap();
    assert_eq!(lenient.num_rows(), 5);
    let pe = col(&lenient, PARSE_ERROR_COL);
    assert!(pe.is_null(0) && !pe.is_null(1) && !pe.is_null(2) && pe.is_null(3) && !pe.is_null(4));
    assert_eq!(col(&lenient, "a").value(3), "3");
    assert_eq!(col(&lenient, RAW_COL).value(1), "{\"a\":}");
}

#[test]
fn array_recovers_per_element() {
    let arr = b"[{\"a\":1}, {\"a\": tru}, {\"b\":2}]";
    let b = parse_json(arr, false).unwrap();
    assert_eq!(b.num_rows(), 3);
    let pe = col(&b, PARSE_ERROR_COL);
    assert!(pe.is_null(0) && !pe.is_null(1) && pe.is_null(2));
    // a table of inputs, alike in shape only to json.rs's rejects_malformed (whole arrays, not single values)
    for bad in [
        &b"[{\"a\":1},]"[..],
        b"[{\"a\":1}",
        b"[{\"a\":1}] x",
        b"[,]",
        b"[1]",
        b"[{\"a\":\"}]",
    ] {
        assert!(
            parse_json(bad, true).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    assert_eq!(parse_json(b"[]", true).unwrap().num_rows(), 0);
}

#[test]
fn non_utf8_and_empty() {
    assert!(matches!(
        parse_json(b"{\"a\":\"\xff\"}", true),
        Err(CoreError::Parse { .. })
    ));
    assert!(matches!(
        parse_json(b"\xff\xfe", true),
        Err(CoreError::Parse { .. })
    ));
    assert!(matches!(
        parse_json(b"  \n", true),
        Err(CoreError::Parse { .. })
    ));
    let b = parse_json(b"{\"a\":\"\xff\"}\n{\"a\":1}", false).unwrap();
    assert_eq!(b.num_rows(), 2);
    assert!(col(&b, RAW_COL).value(0).contains('\u{FFFD}'));
}

#[test]
fn minifies_nested_and_keeps_last_duplicate_key() {
    let b = parse_json(b"{\"p\": { \"x\" : [1, 2] }, \"a\":1, \"a\":2}", true).unwrap();
    assert_eq!(col(&b, "p").value(0), "{\"x\":[1,2]}");
    assert_eq!(col(&b, "a").value(0), "2");
}

#[test]
fn csv_basic() {
    let data = b"id,name,properties\r\n1,\"a,b\",\"{\"\"k\"\": 1}\"\r\n2,,\"\"\r\n\r\n3,\"multi\nline\",\n";
    let b = parse_csv(data, b',', &["properties".into()], true).unwrap();
    assert_eq!(b.num_rows(), 3);
    assert_eq!(col(&b, "name").value(0), "\"a,b\"");
    assert_eq!(col(&b, "properties").value(0), "{\"k\":1}");
    assert!(col(&b, "name").is_null(1));
    assert_eq!(col(&b, "properties").value(1), "\"\"");
    assert_eq!(col(&b, "name").value(2), "\"multi\\nline\"");
    assert_eq!(col(&b, RAW_COL).value(2), "3,\"multi\nline\",");
    assert_eq!(b.schema().metadata()[FORMAT_META], "csv");
    assert!(parse_csv(b"a,b\n1,2,3\n", b',', &[], true).is_err());
    assert!(parse_csv(b"a,a\n1,2\n", b',', &[], true).is_err());
    assert!(parse_csv(b"", b',', &[], true).is_err());
    let lenient = parse_csv(b"a,b\n1,2,3\n4,5\n", b',', &[], false).unwrap();
    assert_eq!(lenient.num_rows(), 2);
}

#[test]
fn split_payload_shapes() {
    let chunks = split_payload(b"[{\"a\":1},{\"a\":2},{\n\"a\":3}]", "json", 16).unwrap();
    let all: Vec<u8> = chunks.iter().flat_map(|c| c.0.clone()).collect();
    assert_eq!(all, b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
    assert_eq!(chunks.iter().map(|c| c.1).sum::<usize>(), 3);
    assert!(chunks.iter().all(|c| c.0.len() <= 16));
    let csv = split_payload(b"a,b\n1,2\n3,4\n5,6\n", "csv", 12).unwrap();
    for (c, n) in &csv {
        assert!(c.starts_with(b"a,b\n"));
        assert_eq!(c.iter().filter(|&&x| x == b'\n').count(), n + 1);
    }
    for empty_or_not_records in [&b""[..], b"[]", b"5"] {
        assert!(matches!(
            split_payload(empty_or_not_records, "json", 10),
            Err(CoreError::Parse { .. })
        ));
    }
    assert!(matches!(
        split_payload(b"{}", "xml", 10),
        Err(CoreError::UnsupportedFormat { .. })
    ));
}

#[test]
fn parallel_chunking_matches_sequential() {
    // large enough to be cut into several chunks, with bad records and a
    // pretty-printed record in between
    let mut s = String::new();
    for i in 0..60_000 {
        match i % 997 {
            5 => s.push_str("{\"id\": 1, \"bad\": }\n"),
            6 => s.push_str("{\n  \"id\": 2\n}\n"),
            7 => s.push_str("  \n"),
            _ => s.push_str(&format!(
                "{{\"id\": {i}, \"pad\": \"{}\"}}\n",
                "x".repeat(40)
            )),
        }
    }
    let data = s.as_bytes();
    let plan = JsonPlan::build(data).unwrap();
    assert!(plan.n_chunks() > 1);
    let par = run_json(data, &plan, |_| RawChunk::new());
    #[allow(clippy::single_range_in_vec_init)]
    let seq_plan = JsonPlan::Stream {
        chunks: vec![0..data.len()],
    };
    let seq = run_json(data, &seq_plan, |_| RawChunk::new());
    assert_eq!(collect_faults(&par), collect_faults(&seq));
    let a = assemble_raw(data, par, "json", None, true).unwrap();
    let b = assemble_raw(data, seq, "json", None, true).unwrap();
    assert!(a.batches.len() > 1);
    assert_eq!(a.concat().unwrap(), b.concat().unwrap());
}
