//! CSV plan: reading the header, cutting the body into chunks at record
//! boundaries, and the driver that scans one chunk into a [`Sink`].

use std::ops::Range;

use rayon::prelude::*;

use super::{check_size, chunk_count, line_of, skip_bom, Body, Fault, Sink};
use crate::csvscan::{self, count_byte};
use crate::error::{CoreError, Result};
use crate::json;

pub struct CsvPlan {
    pub delimiter: u8,
    pub header: Vec<String>,
    /// Span of the header line.
    pub header_span: Range<usize>,
    /// Chunk ranges where records start (after the header).
    pub chunks: Vec<Range<usize>>,
}

impl CsvPlan {
    pub fn build(data: &[u8], delimiter: u8) -> Result<CsvPlan> {
        check_size(data)?;
        if matches!(delimiter, b'"' | b'\n' | b'\r') || !delimiter.is_ascii() {
            return Err(CoreError::input(format!(
                "invalid CSV delimiter {:?}: must be one ASCII character other than a quote or line break",
                delimiter as char
            )));
        }
        let mut start = skip_bom(data);
        // blank lines before the header are skipped
        loop {
            let (e, n) = csvscan::next_segment(data, start);
            if start >= data.len() {
                return Err(CoreError::parse_at(
                    "empty input: no CSV header",
                    Some(1),
                    Some(0),
                ));
            }
            if csvscan::is_blank(data, start, e) || data[start..e].iter().all(|c| json::is_ws(*c)) {
                start = n;
                continue;
            }
            break;
        }
        let (hend, body) = csvscan::next_segment(data, start);
        let mut cells = Vec::new();
        let hline = line_of(data, start);
        if let Err(e) = std::str::from_utf8(&data[start..hend]) {
            let pos = start + e.valid_up_to();
            return Err(CoreError::parse_at(
                "invalid UTF-8 in the CSV header",
                Some(hline),
                Some(pos as u64),
            ));
        }
        csvscan::split_cells(data, start, hend, delimiter, &mut cells).map_err(|e| {
            CoreError::parse_at(
                format!("malformed CSV header: {}", e.msg),
                Some(hline),
                Some(e.pos as u64),
            )
        })?;
        let mut header = Vec::with_capacity(cells.len());
        let mut scratch = Vec::new();
        for c in &cells {
            let name = String::from_utf8_lossy(c.text(data, &mut scratch)).into_owned();
            if name.is_empty() {
                return Err(CoreError::parse_at(
                    "empty column name in the CSV header",
                    Some(hline),
                    Some(c.start as u64),
                ));
            }
            if header.contains(&name) {
                return Err(CoreError::parse_at(
                    format!("duplicate column {name:?} in the CSV header"),
                    Some(hline),
                    Some(c.start as u64),
                ));
            }
            header.push(name);
        }
        let chunks = csv_chunks(data, body);
        Ok(CsvPlan {
            delimiter,
            header,
            header_span: start..hend,
            chunks,
        })
    }
}

fn csv_chunks(data: &[u8], body: usize) -> Vec<Range<usize>> {
    let len = data.len() - body;
    let n = chunk_count(len);
    if n <= 1 {
        #[allow(clippy::single_range_in_vec_init)] // one chunk: the whole body
        return vec![body..data.len()];
    }
    let step = len / n;
    let bounds: Vec<usize> = (0..n)
        .map(|t| body + t * step)
        .chain([data.len()])
        .collect();
    // quote parity before each tentative bound
    let parities: Vec<bool> = bounds
        .windows(2)
        .collect::<Vec<_>>()
        .par_iter()
        .map(|w| count_byte(&data[w[0]..w[1]], b'"') % 2 == 1)
        .collect();
    let mut cuts = vec![body];
    let mut odd = false;
    for t in 1..n {
        odd ^= parities[t - 1];
        // first line break at or after bounds[t] with an even quote count before it
        let mut p = bounds[t];
        let mut q = odd;
        let mut cut = None;
        while let Some(k) = memchr::memchr2(b'"', b'\n', &data[p..]) {
            let at = p + k;
            if data[at] == b'"' {
                q = !q;
            } else if !q {
                cut = Some(at + 1);
                break;
            }
            p = at + 1;
        }
        match cut {
            Some(c) if c > *cuts.last().unwrap() && c < data.len() => cuts.push(c),
            _ => {}
        }
    }
    cuts.push(data.len());
    cuts.dedup();
    cuts.windows(2).map(|w| w[0]..w[1]).collect()
}

pub fn drive_csv_chunk<S: Sink>(data: &[u8], plan: &CsvPlan, chunk: usize, sink: &mut S) {
    let range = plan.chunks[chunk].clone();
    let mut cells = Vec::with_capacity(plan.header.len());
    let mut p = range.start;
    while p < range.end {
        let (e, next) = csvscan::next_segment(data, p);
        if csvscan::is_blank(data, p, e) {
            p = next;
            continue;
        }
        let end = if e > p && data[e - 1] == b'\r' {
            e - 1
        } else {
            e
        };
        let res = match std::str::from_utf8(&data[p..end]) {
            Err(err) => Err(Fault {
                pos: p + err.valid_up_to(),
                message: "invalid UTF-8".into(),
            }),
            Ok(_) => match csvscan::split_cells(data, p, e, plan.delimiter, &mut cells) {
                Err(se) => Err(Fault {
                    pos: se.pos,
                    message: se.msg,
                }),
                Ok(()) if cells.len() != plan.header.len() => Err(Fault {
                    pos: p,
                    message: format!(
                        "expected {} fields (as in the header), found {}",
                        plan.header.len(),
                        cells.len()
                    )
                    .into(),
                }),
                Ok(()) => Ok(Body::Csv(&cells)),
            },
        };
        sink.record(data, p..end, res);
        p = next;
    }
}

pub fn run_csv<S, F>(data: &[u8], plan: &CsvPlan, make: F) -> Vec<S>
where
    S: Sink + Send,
    F: Fn(usize) -> S + Sync,
{
    let run = |i: usize| {
        let mut s = make(i);
        drive_csv_chunk(data, plan, i, &mut s);
        s
    };
    if plan.chunks.len() <= 1 {
        (0..plan.chunks.len()).map(run).collect()
    } else {
        (0..plan.chunks.len()).into_par_iter().map(run).collect()
    }
}
