//! A validating JSON scanner that records *where* values are instead of
//! building them.
//!
//! The scanner checks the full RFC 8259 grammar (strings with valid escapes and
//! UTF-8, no raw control characters, no lone surrogates, the exact number
//! syntax, the three literals) and refuses nesting deeper than [`MAX_DEPTH`].
//! It never allocates: a record's top-level members come back as byte spans
//! ([`Tok`]) into the input, and only the few values that need it are later
//! unescaped ([`unescape_into`]) or minified ([`minify_into`]).

use std::borrow::Cow;

/// Deepest nesting accepted (objects and arrays); deeper input is refused.
pub const MAX_DEPTH: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    String,
    Number,
    Bool,
    Null,
    Object,
    Array,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Number => "number",
            Kind::Bool => "boolean",
            Kind::Null => "null",
            Kind::Object => "object",
            Kind::Array => "array",
        }
    }
}

/// One JSON value: its kind and its byte span `start..end` in the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tok {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
    /// String: contains a backslash escape (its content must be unescaped).
    pub escaped: bool,
    /// Object/array: contains whitespace outside strings (must be minified
    /// to become compact JSON text).
    pub loose: bool,
    /// Number: plain integer syntax (no fraction, no exponent).
    pub int: bool,
}

impl Tok {
    fn new(kind: Kind, start: usize, end: usize) -> Self {
        Tok {
            kind,
            start,
            end,
            escaped: false,
            loose: false,
            int: false,
        }
    }

    #[inline]
    pub fn text<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.start..self.end]
    }

    /// The bytes between the quotes of a string token.
    #[inline]
    pub fn content<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        debug_assert_eq!(self.kind, Kind::String);
        &buf[self.start + 1..self.end - 1]
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanError {
    /// Byte offset of the problem in the scanned buffer.
    pub pos: usize,
    pub msg: Cow<'static, str>,
}

impl ScanError {
    fn new(pos: usize, msg: impl Into<Cow<'static, str>>) -> Self {
        ScanError {
            pos,
            msg: msg.into(),
        }
    }
}

pub type ScanResult<T> = Result<T, ScanError>;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Bytes of `w` that need attention inside a string: '"', '\\', control
/// characters, and non-ASCII. The lowest flagged byte is always exact (the
/// borrow of the subtraction only produces false positives above a true one).
#[inline(always)]
fn string_specials(w: u64) -> u64 {
    let quote = w ^ (ONES * b'"' as u64);
    let bslash = w ^ (ONES * b'\\' as u64);
    let has_quote = quote.wrapping_sub(ONES) & !quote;
    let has_bslash = bslash.wrapping_sub(ONES) & !bslash;
    let has_ctl = w.wrapping_sub(ONES * 0x20) & !w;
    (has_quote | has_bslash | has_ctl | w) & HIGH
}

#[inline(always)]
pub fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\t' | b'\r')
}

/// Human-readable name of the byte found where something else was expected.
pub fn describe_byte(b: &[u8], pos: usize) -> String {
    match b.get(pos) {
        None => "end of input".to_string(),
        Some(&c) if c.is_ascii_graphic() => format!("'{}'", c as char),
        Some(b' ') => "' '".to_string(),
        Some(b'\n') => "a line break".to_string(),
        Some(&c) => format!("byte 0x{c:02x}"),
    }
}

/// Length of the valid UTF-8 sequence starting at `b[i]` (a non-ASCII lead
/// byte), following Table 3-7 of the Unicode standard.
#[inline]
pub fn utf8_seq_len(b: &[u8], i: usize) -> Option<usize> {
    #[inline(always)]
    fn cont(b: &[u8], i: usize, lo: u8, hi: u8) -> bool {
        matches!(b.get(i), Some(&c) if c >= lo && c <= hi)
    }
    let c0 = b[i];
    let ok = match c0 {
        0xC2..=0xDF => cont(b, i + 1, 0x80, 0xBF),
        0xE0 => cont(b, i + 1, 0xA0, 0xBF) && cont(b, i + 2, 0x80, 0xBF),
        0xE1..=0xEC | 0xEE..=0xEF => cont(b, i + 1, 0x80, 0xBF) && cont(b, i + 2, 0x80, 0xBF),
        0xED => cont(b, i + 1, 0x80, 0x9F) && cont(b, i + 2, 0x80, 0xBF),
        0xF0 => {
            cont(b, i + 1, 0x90, 0xBF) && cont(b, i + 2, 0x80, 0xBF) && cont(b, i + 3, 0x80, 0xBF)
        }
        0xF1..=0xF3 => {
            cont(b, i + 1, 0x80, 0xBF) && cont(b, i + 2, 0x80, 0xBF) && cont(b, i + 3, 0x80, 0xBF)
        }
        0xF4 => {
            cont(b, i + 1, 0x80, 0x8F) && cont(b, i + 2, 0x80, 0xBF) && cont(b, i + 3, 0x80, 0xBF)
        }
        _ => false,
    };
    if !ok {
        return None;
    }
    Some(match c0 {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    })
}

#[inline]
fn hex4(b: &[u8], i: usize) -> Option<u32> {
    let s = b.get(i..i + 4)?;
    let mut v = 0u32;
    for &c in s {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        v = v * 16 + d as u32;
    }
    Some(v)
}

/// A cursor over a buffer. Spans it reports are absolute offsets into `b`.
pub struct Scanner<'a> {
    pub b: &'a [u8],
    pub i: usize,
    /// Bumped whenever whitespace is skipped; tells containers whether they
    /// hold whitespace (and so need minifying).
    ws_events: usize,
}

impl<'a> Scanner<'a> {
    pub fn new(b: &'a [u8], i: usize) -> Self {
        Scanner { b, i, ws_events: 0 }
    }

    #[inline(always)]
    pub fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline(always)]
    pub fn skip_ws(&mut self) {
        let start = self.i;
        while let Some(&c) = self.b.get(self.i) {
            if is_ws(c) {
                self.i += 1;
            } else {
                break;
            }
        }
        if self.i != start {
            self.ws_events += 1;
        }
    }

    fn unexpected(&self, expected: &str) -> ScanError {
        ScanError::new(
            self.i,
            format!(
                "expected {expected}, found {}",
                describe_byte(self.b, self.i)
            ),
        )
    }

    /// Scan one value at the cursor (no leading whitespace skipped).
    pub fn value(&mut self, depth: usize) -> ScanResult<Tok> {
        let start = self.i;
        match self.peek() {
            Some(b'"') => {
                let escaped = self.string()?;
                let mut t = Tok::new(Kind::String, start, self.i);
                t.escaped = escaped;
                Ok(t)
            }
            Some(b'{') => self.object(depth + 1, None),
            Some(b'[') => self.array(depth + 1),
            Some(b't') => self.literal(b"true", Kind::Bool),
            Some(b'f') => self.literal(b"false", Kind::Bool),
            Some(b'n') => self.literal(b"null", Kind::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.unexpected("a JSON value")),
        }
    }

    fn literal(&mut self, word: &'static [u8], kind: Kind) -> ScanResult<Tok> {
        let start = self.i;
        if self.b.get(start..start + word.len()) == Some(word) {
            self.i += word.len();
            Ok(Tok::new(kind, start, self.i))
        } else {
            Err(ScanError::new(
                start,
                "invalid literal (expected true, false or null)",
            ))
        }
    }

    fn number(&mut self) -> ScanResult<Tok> {
        let b = self.b;
        let start = self.i;
        let mut i = start;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                i += 1;
                while matches!(b.get(i), Some(b'0'..=b'9')) {
                    i += 1;
                }
            }
            _ => return Err(ScanError::new(i, "invalid number: expected a digit")),
        }
        let mut int = true;
        if b.get(i) == Some(&b'.') {
            i = digits(b, i + 1, "invalid number: expected a digit after '.'")?;
            int = false;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            i = digits(b, i, "invalid number: expected a digit in the exponent")?;
            int = false;
        }
        self.i = i;
        let mut t = Tok::new(Kind::Number, start, i);
        t.int = int;
        Ok(t)
    }

    /// Scan a string at the cursor (on its opening quote); returns whether it
    /// holds escapes. Validates escapes, surrogate pairs and UTF-8.
    pub fn string(&mut self) -> ScanResult<bool> {
        let b = self.b;
        let open = self.i;
        let mut i = open + 1;
        let mut escaped = false;
        loop {
            while i + 8 <= b.len() {
                let w = u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
                let m = string_specials(w);
                if m == 0 {
                    i += 8;
                } else {
                    i += (m.trailing_zeros() / 8) as usize;
                    break;
                }
            }
            let Some(&c) = b.get(i) else {
                return Err(ScanError::new(open, "unterminated string"));
            };
            match c {
                b'"' => {
                    self.i = i + 1;
                    return Ok(escaped);
                }
                b'\\' => {
                    escaped = true;
                    i = self.escape(i)?;
                }
                0..=0x1f => {
                    return Err(ScanError::new(
                        i,
                        if c == b'\n' {
                            "unterminated string (line break inside a string)"
                        } else {
                            "control character inside a string must be escaped"
                        },
                    ))
                }
                0x80..=0xff => match utf8_seq_len(b, i) {
                    Some(n) => i += n,
                    None => return Err(ScanError::new(i, "invalid UTF-8")),
                },
                _ => i += 1,
            }
        }
    }

    /// Validate the escape at `b[i] == '\\'`; return the index after it.
    fn escape(&self, i: usize) -> ScanResult<usize> {
        let b = self.b;
        match b.get(i + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(i + 2),
            Some(b'u') => {
                let u = hex4(b, i + 2).ok_or_else(|| {
                    ScanError::new(i, "invalid \\u escape (expected 4 hex digits)")
                })?;
                match u {
                    0xD800..=0xDBFF => {
                        if b.get(i + 6) == Some(&b'\\') && b.get(i + 7) == Some(&b'u') {
                            if let Some(lo @ 0xDC00..=0xDFFF) = hex4(b, i + 8) {
                                let _ = lo;
                                return Ok(i + 12);
                            }
                        }
                        Err(ScanError::new(i, "lone surrogate in \\u escape"))
                    }
                    0xDC00..=0xDFFF => Err(ScanError::new(i, "lone surrogate in \\u escape")),
                    _ => Ok(i + 6),
                }
            }
            None => Err(ScanError::new(i, "unterminated string")),
            _ => Err(ScanError::new(i, "invalid escape sequence")),
        }
    }

    /// Scan an object at the cursor. With `members`, the object's own
    /// (key, value) tokens are pushed there.
    pub fn object(
        &mut self,
        depth: usize,
        mut members: Option<&mut Vec<(Tok, Tok)>>,
    ) -> ScanResult<Tok> {
        let (start, ws0) = self.open(depth)?;
        if !self.close(b'}') {
            loop {
                if self.peek() != Some(b'"') {
                    return Err(self.unexpected("a string key"));
                }
                let kstart = self.i;
                let escaped = self.string()?;
                let mut key = Tok::new(Kind::String, kstart, self.i);
                key.escaped = escaped;
                self.skip_ws();
                if self.peek() != Some(b':') {
                    return Err(self.unexpected("':' after an object key"));
                }
                self.i += 1;
                self.skip_ws();
                let v = self.value(depth)?;
                if let Some(m) = members.as_deref_mut() {
                    m.push((key, v));
                }
                if self.next_or_close(b'}', "',' or '}' after an object member")? {
                    break;
                }
            }
        }
        Ok(self.container(Kind::Object, start, ws0))
    }

    fn array(&mut self, depth: usize) -> ScanResult<Tok> {
        let (start, ws0) = self.open(depth)?;
        if !self.close(b']') {
            loop {
                self.value(depth)?;
                if self.next_or_close(b']', "',' or ']' after an array element")? {
                    break;
                }
            }
        }
        Ok(self.container(Kind::Array, start, ws0))
    }

    /// Step into the object or array at the cursor (refused beyond
    /// MAX_DEPTH) and over the white space after its bracket: its start, and
    /// the white-space count before it, for `container`.
    #[inline]
    fn open(&mut self, depth: usize) -> ScanResult<(usize, usize)> {
        let start = self.i;
        if depth > MAX_DEPTH {
            return Err(ScanError::new(
                start,
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        let ws0 = self.ws_events;
        self.i += 1;
        self.skip_ws();
        Ok((start, ws0))
    }

    /// Step over `bracket` when it is at the cursor.
    #[inline]
    fn close(&mut self, bracket: u8) -> bool {
        let found = self.peek() == Some(bracket);
        if found {
            self.i += 1;
        }
        found
    }

    /// After a member or an element: step over a ',' and the white space
    /// after it (false: another follows) or over the closing `bracket` (true).
    #[inline]
    fn next_or_close(&mut self, bracket: u8, expected: &str) -> ScanResult<bool> {
        self.skip_ws();
        if self.close(bracket) {
            return Ok(true);
        }
        if self.peek() != Some(b',') {
            return Err(self.unexpected(expected));
        }
        self.i += 1;
        self.skip_ws();
        Ok(false)
    }

    /// The token of the object or array that started at `start`: loose when
    /// white space occurred inside it (the count moved past `ws0`).
    #[inline]
    fn container(&self, kind: Kind, start: usize, ws0: usize) -> Tok {
        let mut t = Tok::new(kind, start, self.i);
        t.loose = self.ws_events != ws0;
        t
    }
}

/// The end of the run of digits at `i`, which must hold one at least
/// (`missing` is the error otherwise).
#[inline]
fn digits(b: &[u8], mut i: usize, missing: &'static str) -> ScanResult<usize> {
    if !matches!(b.get(i), Some(b'0'..=b'9')) {
        return Err(ScanError::new(i, missing));
    }
    while matches!(b.get(i), Some(b'0'..=b'9')) {
        i += 1;
    }
    Ok(i)
}

/// Why a record could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordFault {
    Syntax(ScanError),
    /// Well-formed JSON that is not an object (the kind found).
    NotObject(Kind, usize),
}

impl RecordFault {
    pub fn pos(&self) -> usize {
        match self {
            RecordFault::Syntax(e) => e.pos,
            RecordFault::NotObject(_, p) => *p,
        }
    }
    pub fn message(&self) -> Cow<'static, str> {
        match self {
            RecordFault::Syntax(e) => e.msg.clone(),
            RecordFault::NotObject(k, _) => {
                format!("record is a JSON {}, not an object", k.name()).into()
            }
        }
    }
}

/// Scan one record (a top-level value) at the cursor. The record must be an
/// object; its members are pushed into `members` (cleared first). On success
/// the cursor is just past the record.
pub fn scan_record(
    sc: &mut Scanner<'_>,
    members: &mut Vec<(Tok, Tok)>,
) -> Result<Tok, RecordFault> {
    members.clear();
    if sc.peek() == Some(b'{') {
        sc.object(1, Some(members)).map_err(RecordFault::Syntax)
    } else {
        let start = sc.i;
        match sc.value(0) {
            Ok(t) => Err(RecordFault::NotObject(t.kind, start)),
            Err(e) => Err(RecordFault::Syntax(e)),
        }
    }
}

/// Parse a whole buffer as exactly one JSON value (surrounding whitespace
/// allowed). Used for JSON text held in Arrow cells and CSV JSON columns.
pub fn scan_single(b: &[u8]) -> ScanResult<Tok> {
    let mut sc = Scanner::new(b, 0);
    sc.skip_ws();
    let t = sc.value(0)?;
    sc.skip_ws();
    if sc.i != b.len() {
        return Err(sc.unexpected("end of the value"));
    }
    Ok(t)
}

/// Append `text` (valid JSON) without whitespace outside strings.
pub fn minify_into(text: &[u8], out: &mut Vec<u8>) {
    out.reserve(text.len());
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c == b'"' {
            // copy the whole string verbatim
            let s = i;
            i += 1;
            while i < text.len() {
                match text[i] {
                    b'\\' => i += 2,
                    b'"' => {
                        i += 1;
                        break;
                    }
                    _ => i += 1,
                }
            }
            let e = i.min(text.len());
            out.extend_from_slice(&text[s..e]);
        } else {
            if !is_ws(c) {
                out.push(c);
            }
            i += 1;
        }
    }
}

fn push_utf8(out: &mut Vec<u8>, cp: u32) {
    let mut buf = [0u8; 4];
    let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
}

/// Append the decoded content of a validated string (the bytes between the
/// quotes) to `out`.
pub fn unescape_into(content: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < content.len() {
        match memchr::memchr(b'\\', &content[i..]) {
            None => {
                out.extend_from_slice(&content[i..]);
                return;
            }
            Some(k) => {
                out.extend_from_slice(&content[i..i + k]);
                i += k;
            }
        }
        // content[i] == '\\'
        let e = content.get(i + 1).copied().unwrap_or(b'\\');
        match e {
            b'"' => out.push(b'"'),
            b'\\' => out.push(b'\\'),
            b'/' => out.push(b'/'),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'u' => {
                let hi = hex4(content, i + 2).unwrap_or(0xFFFD);
                if (0xD800..=0xDBFF).contains(&hi) {
                    let lo = hex4(content, i + 8).unwrap_or(0xDC00);
                    push_utf8(
                        out,
                        0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF),
                    );
                    i += 12;
                } else {
                    push_utf8(out, hi);
                    i += 6;
                }
                continue;
            }
            _ => out.push(e),
        }
        i += 2;
    }
}

/// Append `s` as a JSON string literal (with quotes).
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    // fast path (vectorised check): nothing to escape
    if !bytes.iter().fold(false, |acc, &c| {
        acc | (c < 0x20) | (c == b'"') | (c == b'\\')
    }) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut last = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => {
                out.extend_from_slice(&bytes[last..i]);
                out.extend_from_slice(format!("\\u{:04x}", c).as_bytes());
                last = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[last..i]);
        out.extend_from_slice(esc);
        last = i + 1;
    }
    out.extend_from_slice(&bytes[last..]);
    out.push(b'"');
}

#[cfg(test)]
fn json_string(s: &str) -> String {
    let mut v = Vec::with_capacity(s.len() + 2);
    write_json_string(&mut v, s);
    // SAFETY-free: escaping only inserts ASCII around valid UTF-8
    String::from_utf8(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Tok {
        scan_single(s.as_bytes()).unwrap_or_else(|e| panic!("{s:?}: {e:?}"))
    }
    fn bad(s: &[u8]) -> ScanError {
        scan_single(s).expect_err(&format!("{:?} should fail", String::from_utf8_lossy(s)))
    }

    #[test]
    fn accepts_the_grammar() {
        for s in [
            "0",
            "-0",
            "1.5",
            "-1.5e10",
            "1E+2",
            "1e-2",
            "123456789012345678901234567890",
            "true",
            "false",
            "null",
            "\"\"",
            "\"a\\\"b\\\\c\\/\\b\\f\\n\\r\\t\"",
            "\"\\u00e9\\ud83d\\ude00\"",
            "\"é😀\"",
            "[]",
            "{}",
            " [ 1 , {\"a\" : [null]} ] ",
            "{\"a\":{\"b\":{\"c\":[1,2,3]}}}",
            "1e999",
        ] {
            ok(s);
        }
        assert!(ok("1").int && !ok("1.0").int && !ok("1e2").int);
        assert!(ok("\"a\\n\"").escaped && !ok("\"an\"").escaped);
        assert!(ok("{ \"a\":1}").loose && !ok("{\"a\":1}").loose);
        assert!(ok("{\"a\":[1, 2]}").loose);
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            &b""[..],
            b"01",
            b"1.",
            b".5",
            b"-",
            b"+1",
            b"1e",
            b"tru",
            b"nul",
            b"NaN",
            b"Infinity",
            b"\"abc",
            b"\"a\nb\"",
            b"\"\\x\"",
            b"\"\\u12\"",
            b"\"\\ud800\"",
            b"\"\\udc00\"",
            b"\"\\ud800\\u0041\"",
            b"[1,]",
            b"[1 2]",
            b"{\"a\" 1}",
            b"{\"a\":1,}",
            b"{a:1}",
            b"{\"a\":1",
            b"[",
            b"{}}",
            b"\"\xff\"",
            b"\"\xc3\"",
            b"\"\xed\xa0\x80\"",
            b"\"\xc0\x80\"",
            b"'a'",
            b"\"\t\"",
        ] {
            bad(s);
        }
    }

    #[test]
    fn number_errors_say_where_a_digit_is_missing() {
        for (s, pos, msg) in [
            (&b"-x"[..], 1, "invalid number: expected a digit"),
            (b"1.e5", 2, "invalid number: expected a digit after '.'"),
            (
                b"1.5e+",
                5,
                "invalid number: expected a digit in the exponent",
            ),
            (b"2E", 2, "invalid number: expected a digit in the exponent"),
        ] {
            let e = bad(s);
            assert_eq!((e.pos, e.msg.as_ref()), (pos, msg), "{s:?}");
        }
        assert!(!ok("-0.25E-12").int && ok("-12").int);
    }

    #[test]
    fn depth_limit() {
        let ok_depth = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        ok(&ok_depth);
        let too_deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(bad(too_deep.as_bytes()).msg.contains("nesting"));
        // a very deep input is refused without exhausting the stack
        let huge = "[".repeat(1_000_000);
        assert!(bad(huge.as_bytes()).msg.contains("nesting"));
    }

    #[test]
    fn error_positions() {
        assert_eq!(bad(b"{\"a\":1 x}").pos, 7);
        assert_eq!(bad(b"[1,2,\"abc").pos, 5);
    }

    #[test]
    fn unescape_and_minify() {
        let mut out = Vec::new();
        unescape_into(br#"a\"b\\c\/\n\u00e9\ud83d\ude00z"#, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "a\"b\\c/\né😀z");
        let mut m = Vec::new();
        minify_into(b"{ \"a b\" : [ 1 , \"x \\\" y\" ] }", &mut m);
        assert_eq!(m, b"{\"a b\":[1,\"x \\\" y\"]}");
    }

    #[test]
    fn json_string_roundtrip() {
        for s in ["", "plain", "q\"b\\s", "ctl\u{1}\u{1f}\n\t", "é😀"] {
            let enc = json_string(s);
            let v: String = serde_json::from_str(&enc).unwrap();
            assert_eq!(v, s);
        }
    }

    #[test]
    fn record_must_be_object() {
        let mut m = Vec::new();
        let b = b"[1]";
        let mut sc = Scanner::new(b, 0);
        assert!(matches!(
            scan_record(&mut sc, &mut m),
            Err(RecordFault::NotObject(Kind::Array, 0))
        ));
        let b = b"{\"a\":1,\"b\":{\"c\":2}}";
        let mut sc = Scanner::new(b, 0);
        scan_record(&mut sc, &mut m).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].1.text(b), b"{\"c\":2}");
    }
}
