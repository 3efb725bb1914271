//! CSV with a header row, parsed by hand: RFC 4180 quoting (`"a,b"`, `""` escapes) on a slow
//! path, and a memchr split on the fast path for rows without quotes (the usual case). Only the
//! columns the detectors use are looked at. Quoted fields spanning lines are not supported: such
//! a row is counted as garbled.

use std::ops::Range;

use anyhow::{bail, Result};
use memchr::{memchr, memchr_iter};

use super::{parse_ip, parse_status, time, ColumnNames, Event, EventSink, Role};

#[derive(Debug)]
pub struct CsvParser {
    ts: usize,
    key: usize,
    key_is_secret: bool,
    status: Option<usize>,
    ip: Option<usize>,
    /// Highest column index needed + 1.
    width: usize,
    ranges: Vec<Range<usize>>,
    scratch: Vec<u8>,
}

impl CsvParser {
    pub fn new(header: &[u8], names: &ColumnNames) -> Result<CsvParser> {
        let mut scratch = Vec::new();
        let mut ranges = Vec::new();
        let header = header.strip_suffix(b"\r").unwrap_or(header);
        let header = header.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(header);
        let src = split(header, usize::MAX, &mut ranges, &mut scratch)
            .map_err(|e| anyhow::anyhow!("bad CSV header: {e}"))?;
        let cols: Vec<String> = ranges
            .iter()
            .map(|r| {
                String::from_utf8_lossy(&src.pick(header, &scratch)[r.clone()])
                    .trim()
                    .to_ascii_lowercase()
            })
            .collect();
        let find = |role: Role| -> Option<usize> {
            names
                .names(role)
                .iter()
                .find_map(|n| cols.iter().position(|c| c == n))
        };
        let Some(ts) = find(Role::Timestamp) else {
            bail!(
                "no timestamp column in header ({}); name it with --columns timestamp=NAME",
                cols.join(",")
            );
        };
        let (key, key_is_secret) = match (find(Role::Secret), find(Role::KeyId)) {
            (_, Some(k)) => (k, false),
            (Some(s), None) => (s, true),
            (None, None) => bail!(
                "no key column in header ({}); name it with --columns key_id=NAME",
                cols.join(",")
            ),
        };
        let status = find(Role::Status);
        let ip = find(Role::SourceIp);
        let width = [Some(ts), Some(key), status, ip]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(0)
            + 1;
        Ok(CsvParser {
            ts,
            key,
            key_is_secret,
            status,
            ip,
            width,
            ranges: Vec::with_capacity(16),
            scratch: Vec::new(),
        })
    }

    /// `Ok(true)` an event went to `sink`; `Ok(false)` a row without a key; `Err` garbled.
    pub fn parse(&mut self, line: &[u8], sink: &mut dyn EventSink) -> Result<bool, &'static str> {
        let src = split(line, self.width, &mut self.ranges, &mut self.scratch)?;
        if self.ranges.len() < self.width {
            return Err("too few columns");
        }
        let buf = src.pick(line, &self.scratch);
        let field = |i: usize| &buf[self.ranges[i].clone()];
        let ts = time::parse(field(self.ts)).ok_or("bad timestamp")?;
        if ts > time::horizon() {
            return Err("timestamp in the future");
        }
        let key = field(self.key).trim_ascii();
        if key.is_empty() {
            return Ok(false);
        }
        let status = match self.status {
            Some(i) => parse_status(field(i)).ok_or("bad status")?,
            None => 0,
        };
        let ip = self.ip.and_then(|i| parse_ip(field(i)));
        sink.event(&Event {
            ts,
            key,
            key_is_secret: self.key_is_secret,
            status,
            ip,
        });
        Ok(true)
    }
}

/// Which buffer the field ranges point into.
#[derive(Debug, Clone, Copy)]
enum Source {
    Line,
    Scratch,
}

impl Source {
    fn pick<'a>(self, line: &'a [u8], scratch: &'a [u8]) -> &'a [u8] {
        match self {
            Source::Line => line,
            Source::Scratch => scratch,
        }
    }
}

/// Splits up to `want` fields of `line` into `out`.
fn split(
    line: &[u8],
    want: usize,
    out: &mut Vec<Range<usize>>,
    scratch: &mut Vec<u8>,
) -> Result<Source, &'static str> {
    out.clear();
    if memchr(b'"', line).is_none() {
        let mut start = 0;
        for comma in memchr_iter(b',', line) {
            out.push(start..comma);
            start = comma + 1;
            if out.len() >= want {
                return Ok(Source::Line);
            }
        }
        out.push(start..line.len());
        return Ok(Source::Line);
    }
    // Slow path: unescape every field into `scratch`.
    scratch.clear();
    let mut i = 0;
    loop {
        let start = scratch.len();
        if line.get(i) == Some(&b'"') {
            i += 1;
            loop {
                match line.get(i) {
                    None => return Err("unterminated quoted field"),
                    Some(b'"') if line.get(i + 1) == Some(&b'"') => {
                        scratch.push(b'"');
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        scratch.push(c);
                        i += 1;
                    }
                }
            }
            // Anything between the closing quote and the comma is tolerated as text.
            while let Some(&c) = line.get(i) {
                if c == b',' {
                    break;
                }
                scratch.push(c);
                i += 1;
            }
        } else {
            while let Some(&c) = line.get(i) {
                if c == b',' {
                    break;
                }
                scratch.push(c);
                i += 1;
            }
        }
        out.push(start..scratch.len());
        if i >= line.len() || out.len() >= want {
            return Ok(Source::Scratch);
        }
        i += 1; // the comma
        if i == line.len() {
            out.push(scratch.len()..scratch.len());
            return Ok(Source::Scratch);
        }
    }
}

/// Every field of one line, owned.
pub fn fields_owned(line: &[u8]) -> Result<Vec<String>, &'static str> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut r = Vec::new();
    let mut s = Vec::new();
    let src = split(line, usize::MAX, &mut r, &mut s)?;
    let b = src.pick(line, &s);
    Ok(r.iter()
        .map(|x| String::from_utf8_lossy(&b[x.clone()]).into_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Vec<String> {
        let mut r = Vec::new();
        let mut s = Vec::new();
        let src = split(line.as_bytes(), usize::MAX, &mut r, &mut s).unwrap();
        let b = src.pick(line.as_bytes(), &s);
        r.iter()
            .map(|x| String::from_utf8(b[x.clone()].to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn splits() {
        assert_eq!(fields("a,b,,c"), ["a", "b", "", "c"]);
        assert_eq!(fields("a,\"b,c\",d"), ["a", "b,c", "d"]);
        assert_eq!(fields("\"say \"\"hi\"\"\",x,"), ["say \"hi\"", "x", ""]);
        assert_eq!(fields(""), [""]);
        let mut r = Vec::new();
        assert!(split(b"a,\"b", 9, &mut r, &mut Vec::new()).is_err());
    }
}
