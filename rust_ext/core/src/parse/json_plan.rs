//! JSON plan: cutting a JSON input (array or stream of values) into chunks at
//! record boundaries, and the driver that scans one chunk into a [`Sink`].

use std::ops::Range;

use rayon::prelude::*;

use super::{check_size, chunk_count, skip_bom, skip_ws, Body, Fault, Sink};
use crate::error::Result;
use crate::json::{self, RecordFault, Scanner};

/// How a JSON input is cut into work.
pub enum JsonPlan {
    /// A stream of top-level values (one object, NDJSON, concatenated values):
    /// chunk ranges where records *start*. Cuts are at line breaks with '}'
    /// as the last non-blank byte before and '{' as the first after: valid
    /// JSON can only have that between two top-level values, and a malformed
    /// record never extends past the end of its first line, so a cut is a
    /// record boundary in every case.
    Stream { chunks: Vec<Range<usize>> },
    /// A top-level array: element spans (found by a structural skim that
    /// tracks strings and depth), grouped into chunks, plus an optional final
    /// malformed record when the array's structure is broken.
    Array {
        elems: Vec<Range<usize>>,
        chunks: Vec<Range<usize>>,
        tail: Option<(Range<usize>, Fault)>,
    },
}

impl JsonPlan {
    pub fn build(data: &[u8]) -> Result<JsonPlan> {
        check_size(data)?;
        let start = skip_ws(data, skip_bom(data));
        if data.get(start) == Some(&b'[') {
            let (elems, tail) = skim_array(data, start);
            let n = chunk_count(data.len());
            let per = elems.len().div_ceil(n).max(1);
            let chunks = (0..elems.len())
                .step_by(per)
                .map(|s| s..(s + per).min(elems.len()))
                .collect();
            Ok(JsonPlan::Array {
                elems,
                chunks,
                tail,
            })
        } else {
            Ok(JsonPlan::Stream {
                chunks: stream_chunks(data, start),
            })
        }
    }
}

fn is_cut(data: &[u8], nl: usize) -> Option<usize> {
    // previous non-blank byte must be '}' and next non-blank '{'
    let mut j = nl;
    while j > 0 && matches!(data[j - 1], b' ' | b'\t' | b'\r' | b'\n') {
        j -= 1;
    }
    if j == 0 || data[j - 1] != b'}' {
        return None;
    }
    let k = skip_ws(data, nl + 1);
    (data.get(k) == Some(&b'{')).then_some(k)
}

fn stream_chunks(data: &[u8], start: usize) -> Vec<Range<usize>> {
    let n = chunk_count(data.len() - start);
    let mut cuts = vec![start];
    let step = (data.len() - start) / n.max(1);
    for t in 1..n {
        let mut p = (start + t * step).max(*cuts.last().unwrap());
        let mut found = None;
        while let Some(k) = memchr::memchr(b'\n', &data[p..]) {
            let nl = p + k;
            if let Some(next) = is_cut(data, nl) {
                found = Some(next);
                break;
            }
            p = nl + 1;
        }
        match found {
            Some(c) if c > *cuts.last().unwrap() => cuts.push(c),
            Some(_) => {}
            None => break,
        }
    }
    cuts.push(data.len());
    cuts.windows(2)
        .map(|w| w[0]..w[1])
        .filter(|r| !r.is_empty())
        .collect()
}

/// Element spans, and a final malformed record when the structure is broken.
type Skim = (Vec<Range<usize>>, Option<(Range<usize>, Fault)>);

/// Find the element spans of the array opening at `data[open] == '['`.
fn skim_array(data: &[u8], open: usize) -> Skim {
    let mut elems = Vec::new();
    let mut depth = 0usize;
    let mut i = open + 1;
    let mut elem_start: Option<usize> = None; // first non-blank byte of the current element
    let mut last_end = i; // one past the last non-blank byte of the current element
    let fault = |elems: Vec<Range<usize>>, from: usize, pos: usize, msg: &'static str| {
        (
            elems,
            Some((
                from..data.len(),
                Fault {
                    pos,
                    message: msg.into(),
                },
            )),
        )
    };
    loop {
        let Some(&c) = data.get(i) else {
            let from = elem_start.unwrap_or(open);
            return fault(elems, from, data.len(), "unterminated JSON array");
        };
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'"' => {
                elem_start.get_or_insert(i);
                let s = i;
                i += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', &data[i..]) {
                        None => {
                            let from = elem_start.unwrap_or(s);
                            return fault(elems, from, s, "unterminated string");
                        }
                        Some(k) => {
                            if data[i + k] == b'\\' {
                                i += k + 2;
                                if i > data.len() {
                                    return fault(
                                        elems,
                                        elem_start.unwrap_or(s),
                                        s,
                                        "unterminated string",
                                    );
                                }
                            } else {
                                i += k + 1;
                                break;
                            }
                        }
                    }
                }
                last_end = i;
                continue;
            }
            b'{' | b'[' => {
                elem_start.get_or_insert(i);
                depth += 1;
            }
            b'}' | b']' => {
                if depth == 0 {
                    // closes the array itself
                    if c == b'}' {
                        return fault(
                            elems,
                            elem_start.unwrap_or(i),
                            i,
                            "mismatched '}' closing the JSON array",
                        );
                    }
                    match elem_start {
                        Some(s) => elems.push(s..last_end),
                        None if !elems.is_empty() => {
                            return fault(elems, i, i, "trailing comma in the JSON array");
                        }
                        None => {}
                    }
                    let after = skip_ws(data, i + 1);
                    if after < data.len() {
                        return (
                            elems,
                            Some((
                                after..data.len(),
                                Fault {
                                    pos: after,
                                    message: "unexpected data after the JSON array".into(),
                                },
                            )),
                        );
                    }
                    return (elems, None);
                }
                depth -= 1;
            }
            b',' if depth == 0 => {
                match elem_start.take() {
                    Some(s) => elems.push(s..last_end),
                    None => return fault(elems, i, i, "missing value in the JSON array"),
                }
                i += 1;
                continue;
            }
            _ => {
                elem_start.get_or_insert(i);
            }
        }
        i += 1;
        last_end = i;
    }
}

/// Scan the records of one chunk of a JSON plan into `sink`.
pub fn drive_json_chunk<S: Sink>(data: &[u8], plan: &JsonPlan, chunk: usize, sink: &mut S) {
    let mut members = Vec::with_capacity(16);
    match plan {
        JsonPlan::Stream { chunks } => {
            let range = chunks[chunk].clone();
            let mut sc = Scanner::new(data, range.start);
            sc.skip_ws();
            while sc.i < range.end {
                let start = sc.i;
                match json::scan_record(&mut sc, &mut members) {
                    Ok(_) if sc.i >= data.len() || json::is_ws(data[sc.i]) => {
                        sink.record(data, start..sc.i, Ok(Body::Json(&members)));
                    }
                    outcome => {
                        let (pos, message) = match outcome {
                            Ok(_) => (sc.i, "expected a line break after the record".into()),
                            Err(f) => (f.pos(), f.message()),
                        };
                        // the malformed record is the rest of its first line
                        // (NDJSON's rule), whatever a multi-line reading found
                        let eol =
                            memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |k| start + k);
                        let end = if eol > start && data[eol - 1] == b'\r' {
                            eol - 1
                        } else {
                            eol
                        };
                        let fault = if pos <= eol {
                            Fault { pos, message }
                        } else {
                            let below = data[eol..pos].iter().filter(|&&c| c == b'\n').count();
                            Fault {
                                pos: end,
                                message: format!(
                                    "incomplete record at the end of the line (read on across lines: {message} at offset {pos}, {below} line(s) below)"
                                )
                                .into(),
                            }
                        };
                        sink.record(data, start..end, Err(fault));
                        sc.i = eol;
                    }
                }
                sc.skip_ws();
            }
        }
        JsonPlan::Array {
            elems,
            chunks,
            tail,
        } => {
            let range = chunks.get(chunk).cloned().unwrap_or(0..0);
            for e in &elems[range] {
                let view = &data[..e.end];
                let mut sc = Scanner::new(view, e.start);
                match json::scan_record(&mut sc, &mut members) {
                    Ok(_) if sc.i == e.end => {
                        sink.record(data, e.clone(), Ok(Body::Json(&members)))
                    }
                    Ok(_) => sink.record(
                        data,
                        e.clone(),
                        Err(Fault {
                            pos: sc.i,
                            message: "expected ',' or ']' after an array element".into(),
                        }),
                    ),
                    Err(RecordFault::Syntax(se)) if se.pos >= e.end => sink.record(
                        data,
                        e.clone(),
                        Err(Fault {
                            pos: se.pos,
                            message: format!("{} (element ends early)", se.msg).into(),
                        }),
                    ),
                    Err(f) => sink.record(
                        data,
                        e.clone(),
                        Err(Fault {
                            pos: f.pos(),
                            message: f.message(),
                        }),
                    ),
                }
            }
            let last = chunks.len().saturating_sub(1);
            if chunk == last {
                if let Some((r, f)) = tail {
                    sink.record(data, r.clone(), Err(f.clone()));
                }
            }
        }
    }
}

impl JsonPlan {
    pub fn n_chunks(&self) -> usize {
        match self {
            JsonPlan::Stream { chunks } => chunks.len(),
            JsonPlan::Array { chunks, tail, .. } => chunks.len().max(usize::from(tail.is_some())),
        }
    }
}

/// Run `make(i)` sinks over all chunks of a JSON plan in parallel; results in
/// input order.
pub fn run_json<S, F>(data: &[u8], plan: &JsonPlan, make: F) -> Vec<S>
where
    S: Sink + Send,
    F: Fn(usize) -> S + Sync,
{
    let n = plan.n_chunks();
    let run = |i: usize| {
        let mut s = make(i);
        drive_json_chunk(data, plan, i, &mut s);
        s
    };
    if n <= 1 {
        (0..n).map(run).collect()
    } else {
        (0..n).into_par_iter().map(run).collect()
    }
}
