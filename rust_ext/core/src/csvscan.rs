//! CSV (RFC 4180) record scanning without copying.
//!
//! Record boundaries are decided lexically: a line break ends a record when an
//! even number of quote characters precede it (doubled quotes keep the
//! parity). That rule needs no parser state, so the input can be cut into
//! chunks that threads scan independently with exactly the records a single
//! pass would find, even for malformed input (an unterminated quote swallows
//! the rest of the input as one malformed record, as in any CSV reader).

use crate::json::ScanError;

/// One cell of a record: `start..end` is its content (inside the quotes for a
/// quoted cell; doubled quotes still doubled when `escaped`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    pub start: usize,
    pub end: usize,
    pub quoted: bool,
    pub escaped: bool,
}

impl Cell {
    /// The cell's text with doubled quotes resolved, borrowing when possible.
    pub fn text<'a>(&self, b: &'a [u8], scratch: &'a mut Vec<u8>) -> &'a [u8] {
        let raw = &b[self.start..self.end];
        if !self.escaped {
            return raw;
        }
        scratch.clear();
        self.unescape_into(b, scratch);
        scratch
    }

    /// Append the cell's text (doubled quotes resolved) to `out`.
    pub fn unescape_into(&self, b: &[u8], out: &mut Vec<u8>) {
        let raw = &b[self.start..self.end];
        if !self.escaped {
            out.extend_from_slice(raw);
            return;
        }
        let mut i = 0;
        while let Some(k) = memchr::memchr(b'"', &raw[i..]) {
            // copy through the first quote of the pair, skip the second
            out.extend_from_slice(&raw[i..i + k + 1]);
            i += k + 2;
            if i >= raw.len() {
                return;
            }
        }
        out.extend_from_slice(&raw[i..]);
    }

    /// An unquoted empty cell: CSV's only way to say "no value".
    pub fn is_null(&self) -> bool {
        !self.quoted && self.start == self.end
    }
}

/// The next record segment starting at `start`: returns `(end, next)` where
/// `start..end` is the record text (without its line break) and `next` is where
/// the following record starts. `end == next == b.len()` at the end of input.
#[inline]
pub fn next_segment(b: &[u8], start: usize) -> (usize, usize) {
    let mut i = start;
    let mut odd = false;
    // line by line: the quote count of a line is a vectorised count
    while let Some(k) = memchr::memchr(b'\n', &b[i..]) {
        let nl = i + k;
        odd ^= count_quotes(&b[i..nl]) % 2 == 1;
        if !odd {
            return (nl, nl + 1);
        }
        i = nl + 1;
    }
    (b.len(), b.len())
}

#[inline]
pub fn count_quotes(b: &[u8]) -> usize {
    count_byte(b, b'"')
}

/// Occurrences of `c` in `b`. Counts blocks of 255 bytes into a `u8` so the
/// compiler can compare and add 16 or 32 bytes per instruction; a plain
/// `filter().count()` widens every lane to `usize` and runs several times slower.
pub fn count_byte(b: &[u8], c: u8) -> usize {
    b.chunks(255)
        .map(|block| block.iter().fold(0u8, |n, &x| n + u8::from(x == c)) as usize)
        .sum()
}

/// Split a record segment into cells. The trailing '\r' of a CRLF line break
/// is not part of the record.
pub fn split_cells(
    b: &[u8],
    start: usize,
    mut end: usize,
    delim: u8,
    cells: &mut Vec<Cell>,
) -> Result<(), ScanError> {
    cells.clear();
    if end > start && b[end - 1] == b'\r' {
        end -= 1;
    }
    let mut p = start;
    loop {
        if p < end && b[p] == b'"' {
            let cs = p + 1;
            let mut q = cs;
            let mut escaped = false;
            let ce = loop {
                match memchr::memchr(b'"', &b[q..end]) {
                    None => {
                        return Err(ScanError {
                            pos: p,
                            msg: "unterminated quoted field".into(),
                        })
                    }
                    Some(k) => {
                        let at = q + k;
                        if at + 1 < end && b[at + 1] == b'"' {
                            escaped = true;
                            q = at + 2;
                        } else {
                            break at;
                        }
                    }
                }
            };
            cells.push(Cell {
                start: cs,
                end: ce,
                quoted: true,
                escaped,
            });
            p = ce + 1;
            if p == end {
                return Ok(());
            }
            if b[p] != delim {
                return Err(ScanError {
                    pos: p,
                    msg: format!(
                        "expected a delimiter or line break after a closing quote, found {}",
                        crate::json::describe_byte(b, p)
                    )
                    .into(),
                });
            }
            p += 1;
        } else {
            let k = memchr::memchr2(delim, b'"', &b[p..end]).map_or(end, |k| p + k);
            if k < end && b[k] == b'"' {
                return Err(ScanError {
                    pos: k,
                    msg: "quote character inside an unquoted field".into(),
                });
            }
            cells.push(Cell {
                start: p,
                end: k,
                quoted: false,
                escaped: false,
            });
            if k == end {
                return Ok(());
            }
            p = k + 1;
        }
        if p == end {
            // a delimiter right before the end: one more (empty) cell
            cells.push(Cell {
                start: p,
                end: p,
                quoted: false,
                escaped: false,
            });
            return Ok(());
        }
    }
}

/// Whether a segment is an empty line (skipped, not a record).
pub fn is_blank(b: &[u8], start: usize, end: usize) -> bool {
    end == start || (end == start + 1 && b[start] == b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(line: &str) -> Result<Vec<String>, ScanError> {
        let b = line.as_bytes();
        let mut v = Vec::new();
        split_cells(b, 0, b.len(), b',', &mut v)?;
        let mut scratch = Vec::new();
        Ok(v.iter()
            .map(|c| String::from_utf8(c.text(b, &mut scratch).to_vec()).unwrap())
            .collect())
    }

    #[test]
    fn count_byte_matches_a_plain_count() {
        // lengths around the 255-byte blocks, dense and sparse matches
        for len in [0usize, 1, 254, 255, 256, 510, 511, 4096, 70_000] {
            for every in [1usize, 2, 7, 300] {
                let b: Vec<u8> = (0..len)
                    .map(|i| if i % every == 0 { b'"' } else { b'a' })
                    .collect();
                let plain = b.iter().filter(|&&c| c == b'"').count();
                assert_eq!(count_byte(&b, b'"'), plain, "len {len} every {every}");
                assert_eq!(count_quotes(&b), plain);
            }
        }
    }

    #[test]
    fn splits_cells() {
        assert_eq!(cells("a,b,c").unwrap(), ["a", "b", "c"]);
        assert_eq!(cells("a,,c,").unwrap(), ["a", "", "c", ""]);
        assert_eq!(
            cells("\"a,b\",\"x\"\"y\",\"\"").unwrap(),
            ["a,b", "x\"y", ""]
        );
        assert_eq!(cells("\"multi\nline\",z\r").unwrap(), ["multi\nline", "z"]);
        assert_eq!(cells("").unwrap(), [""]);
        assert!(cells("\"abc").is_err());
        assert!(cells("\"a\"b,c").is_err());
        assert!(cells("a\"b,c").is_err());
    }

    #[test]
    fn segments_respect_quotes() {
        let b = b"a,b\n\"x\ny\",z\nlast";
        let (e, n) = next_segment(b, 0);
        assert_eq!(&b[0..e], b"a,b");
        let (e2, n2) = next_segment(b, n);
        assert_eq!(&b[n..e2], b"\"x\ny\",z");
        let (e3, n3) = next_segment(b, n2);
        assert_eq!(&b[n2..e3], b"last");
        assert_eq!(n3, b.len());
    }

    #[test]
    fn null_vs_empty() {
        let b = b"a,,\"\"";
        let mut v = Vec::new();
        split_cells(b, 0, b.len(), b',', &mut v).unwrap();
        assert!(!v[0].is_null() && v[1].is_null() && !v[2].is_null());
    }
}
