//! Dates and timestamps: RFC 3339 / ISO-8601 parsing into UTC microseconds,
//! epoch milliseconds, and the (date, hour) of an instant. Used by validation
//! (typing values) and by the transform (deriving date and hour).

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
}
