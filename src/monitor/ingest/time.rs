//! Timestamps from usage logs, parsed by hand (RFC 3339 / ISO 8601 with `T` or space, optional
//! fraction and offset, or Unix seconds / milliseconds) because this runs once per event and a
//! general date library costs more than the rest of the pipeline. Everything is UTC seconds.

use std::sync::atomic::{AtomicI64, Ordering};

static HORIZON: AtomicI64 = AtomicI64::new(i64::MAX);

/// Records later than this (wall clock + 1 day, refreshed every poll) are garbled: a log
/// cannot hold events from the future, and one such timestamp would otherwise close a key's
/// buckets for years ahead.
pub fn horizon() -> i64 {
    HORIZON.load(Ordering::Relaxed)
}

pub fn refresh_horizon() {
    HORIZON.store(chrono::Utc::now().timestamp() + 86400, Ordering::Relaxed);
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// `(year, month, day)` of days since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() {
        return None;
    }
    let mut n = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (c - b'0') as u32;
    }
    Some(n)
}

/// Parses a timestamp into Unix seconds (UTC); `None` when it is not one.
pub fn parse(s: &[u8]) -> Option<i64> {
    let s = s.trim_ascii();
    if s.len() >= 19 && s[4] == b'-' && s[7] == b'-' {
        let y = digits(&s[0..4])? as i64;
        let mo = digits(&s[5..7])?;
        let d = digits(&s[8..10])?;
        if !(s[10] == b'T' || s[10] == b't' || s[10] == b' ') || s[13] != b':' || s[16] != b':' {
            return None;
        }
        let h = digits(&s[11..13])?;
        let mi = digits(&s[14..16])?;
        let se = digits(&s[17..19])?;
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
            return None;
        }
        let mut rest = &s[19..];
        if let Some(r) = rest.strip_prefix(b".").or_else(|| rest.strip_prefix(b",")) {
            let n = r.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            rest = &r[n..];
        }
        let offset = match rest {
            b"" | b"Z" | b"z" | b" UTC" | b"UTC" => 0,
            [sign @ (b'+' | b'-'), tz @ ..] => {
                let (oh, om) = match tz.len() {
                    5 if tz[2] == b':' => (digits(&tz[0..2])?, digits(&tz[3..5])?),
                    4 => (digits(&tz[0..2])?, digits(&tz[2..4])?),
                    2 => (digits(tz)?, 0),
                    _ => return None,
                };
                let o = (oh * 3600 + om * 60) as i64;
                if *sign == b'+' {
                    o
                } else {
                    -o
                }
            }
            _ => return None,
        };
        let days = days_from_civil(y, mo, d);
        return Some(days * 86400 + (h * 3600 + mi * 60 + se) as i64 - offset);
    }
    // Unix epoch: seconds (up to 10 digits), milliseconds (13), optional fraction.
    let int_len = s.iter().take_while(|c| c.is_ascii_digit()).count();
    if int_len == 0 || int_len > 13 {
        return None;
    }
    let tail = &s[int_len..];
    if !(tail.is_empty() || (tail[0] == b'.' && tail[1..].iter().all(u8::is_ascii_digit))) {
        return None;
    }
    let n: i64 = std::str::from_utf8(&s[..int_len]).ok()?.parse().ok()?;
    Some(if int_len >= 12 { n / 1000 } else { n })
}

/// RFC 3339 UTC text of Unix seconds.
pub fn format(t: i64) -> String {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Parses `90d`, `14d`, `12h`, `5m`, `30s`, `1w` or plain seconds into seconds.
pub fn parse_duration(s: &str) -> anyhow::Result<i64> {
    let t = s.trim();
    let (num, mult) = match t.chars().last() {
        Some('s') => (&t[..t.len() - 1], 1),
        Some('m') => (&t[..t.len() - 1], 60),
        Some('h') => (&t[..t.len() - 1], 3600),
        Some('d') => (&t[..t.len() - 1], 86400),
        Some('w') => (&t[..t.len() - 1], 7 * 86400),
        _ => (t, 1),
    };
    let n: i64 = num
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("not a duration: {s:?} (use e.g. 30s, 5m, 12h, 14d)"))?;
    if n < 0 {
        anyhow::bail!("negative duration: {s:?}");
    }
    Ok(n * mult)
}

/// Day of week of Unix seconds, 0 = Monday.
pub fn weekday(t: i64) -> u32 {
    // 1970-01-01 was a Thursday.
    ((t.div_euclid(86400) + 3).rem_euclid(7)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let t = parse(b"2026-03-01T12:34:56Z").unwrap();
        assert_eq!(format(t), "2026-03-01T12:34:56Z");
        assert_eq!(parse(b"2026-03-01 12:34:56"), Some(t));
        assert_eq!(parse(b"2026-03-01T12:34:56.123456Z"), Some(t));
        assert_eq!(parse(b"2026-03-01T14:34:56+02:00"), Some(t));
        assert_eq!(parse(b"2026-03-01T07:34:56-0500"), Some(t));
        assert_eq!(parse(t.to_string().as_bytes()), Some(t));
        assert_eq!(parse(format!("{}123", t).as_bytes()), Some(t));
        assert_eq!(parse(b"yesterday"), None);
        assert_eq!(parse(b"2026-13-01T00:00:00Z"), None);
        assert_eq!(parse(b""), None);
        assert_eq!(format(0), "1970-01-01T00:00:00Z");
        assert_eq!(weekday(0), 3);
        assert_eq!(parse_duration("14d").unwrap(), 14 * 86400);
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn civil_round_trip() {
        for z in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }
}
