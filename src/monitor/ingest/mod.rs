//! Ingest: usage-log exports (CSV, JSON lines, CloudTrail JSON, any of them gzip-compressed)
//! into `Event`s, streamed line by line. Parsers borrow from the line buffer so the hot path
//! allocates nothing; rows that do not parse are counted with `file:line` samples and skipped,
//! never fatal. `tail` tracks files across polls (offsets, rotation, truncation).

pub mod cloudtrail;
pub mod csv;
pub mod inventory;
pub mod jsonl;
pub mod tail;
pub mod time;

use std::io::{BufRead, Read};
use std::net::IpAddr;

use anyhow::{bail, Result};

/// One request from a usage log. Borrowed from the line being parsed.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// Unix seconds, event time.
    pub ts: i64,
    /// The key column as written: a key id, a SHA-256 of the secret, or (when `key_is_secret`)
    /// the raw secret itself, which the detectors hash before keeping anything.
    pub key: &'a [u8],
    pub key_is_secret: bool,
    /// HTTP status; 0 when the log does not say.
    pub status: u16,
    pub ip: Option<IpAddr>,
}

impl Event<'_> {
    /// 401/403: the request was refused for its credentials.
    pub fn auth_failed(&self) -> bool {
        self.status == 401 || self.status == 403
    }
}

/// Where events go (the detector engine; counters in benches and tests).
pub trait EventSink {
    fn event(&mut self, ev: &Event<'_>);
}

/// Counters for one run or poll, with a few samples of what went wrong.
#[derive(Debug, Default, Clone)]
pub struct IngestStats {
    pub events: u64,
    pub garbled: u64,
    /// Records without a key (e.g. CloudTrail records made by a role, not an access key).
    pub skipped: u64,
    pub samples: Vec<String>,
    /// Files that could not be read at all.
    pub errors: Vec<String>,
}

pub const MAX_SAMPLES: usize = 10;

impl IngestStats {
    pub fn garbled(&mut self, path: &str, line: u64, why: &str) {
        self.garbled += 1;
        if self.samples.len() < MAX_SAMPLES {
            self.samples.push(format!("{path}:{line}: {why}"));
        }
    }

    pub fn merge(&mut self, other: IngestStats) {
        self.events += other.events;
        self.garbled += other.garbled;
        self.skipped += other.skipped;
        for s in other.samples {
            if self.samples.len() < MAX_SAMPLES {
                self.samples.push(s);
            }
        }
        self.errors.extend(other.errors);
    }
}

/// Which column (CSV) or field (JSON) holds what. `Columns::overrides` come from `--columns`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnNames {
    pub overrides: Vec<(Role, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Timestamp,
    KeyId,
    Secret,
    Status,
    SourceIp,
    Endpoint,
    Method,
    UserAgent,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "timestamp" | "time" => Role::Timestamp,
            "key_id" | "key" => Role::KeyId,
            "secret" => Role::Secret,
            "status" => Role::Status,
            "source_ip" | "ip" => Role::SourceIp,
            "endpoint" => Role::Endpoint,
            "method" => Role::Method,
            "user_agent" => Role::UserAgent,
            _ => return None,
        })
    }

    /// Common header names, lowercase, in order of preference.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Role::Timestamp => &[
                "timestamp",
                "time",
                "date",
                "datetime",
                "event_time",
                "eventtime",
                "@timestamp",
                "ts",
            ],
            Role::KeyId => &[
                "api_key_id",
                "key_id",
                "access_key_id",
                "accesskeyid",
                "apikeyid",
                "api_key",
                "key",
            ],
            Role::Secret => &[],
            Role::Status => &["status", "status_code", "http_status", "statuscode", "code"],
            Role::SourceIp => &[
                "source_ip",
                "ip",
                "client_ip",
                "remote_addr",
                "sourceipaddress",
                "ip_address",
            ],
            Role::Endpoint => &["endpoint", "path", "url", "uri"],
            Role::Method => &["method", "http_method"],
            Role::UserAgent => &["user_agent", "useragent", "ua"],
        }
    }
}

impl ColumnNames {
    /// Parses `timestamp=ts,key_id=token_id,...`.
    pub fn parse(spec: &str) -> Result<ColumnNames> {
        let mut overrides = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((role, name)) = part.split_once('=') else {
                bail!("bad --columns entry {part:?}: use ROLE=NAME");
            };
            let Some(r) = Role::parse(role) else {
                bail!("unknown column role {role:?} (timestamp, key_id, secret, status, source_ip, endpoint, method, user_agent)");
            };
            overrides.push((r, name.trim().to_string()));
        }
        Ok(ColumnNames { overrides })
    }

    /// Does field `name` play `role`? Overrides replace the aliases for their role.
    pub fn names(&self, role: Role) -> Vec<String> {
        let own: Vec<String> = self
            .overrides
            .iter()
            .filter(|(r, _)| *r == role)
            .map(|(_, n)| n.to_ascii_lowercase())
            .collect();
        if !own.is_empty() {
            return own;
        }
        role.aliases().iter().map(|s| s.to_string()).collect()
    }
}

/// Parses an HTTP status field: leading digits (`"401"`, `"401 Unauthorized"`); 0 if none.
pub fn parse_status(b: &[u8]) -> Option<u16> {
    let b = b.trim_ascii();
    if b.is_empty() {
        return Some(0);
    }
    let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || n > 3 {
        return None;
    }
    let mut v = 0u16;
    for &c in &b[..n] {
        v = v * 10 + (c - b'0') as u16;
    }
    Some(v)
}

/// Parses an address field; `Ok(None)` when empty or a name (CloudTrail writes service names).
pub fn parse_ip(b: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(b.trim_ascii()).ok()?;
    if s.is_empty() {
        return None;
    }
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
}

/// The shape of an export, found from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
    CloudTrail,
}

pub fn sniff(head: &[u8]) -> Format {
    let t = head.trim_ascii_start();
    if t.first() == Some(&b'{') {
        let inner = t[1..].trim_ascii_start();
        if inner.starts_with(b"\"Records\"") {
            return Format::CloudTrail;
        }
        return Format::Jsonl;
    }
    Format::Csv
}

pub fn is_gzip(path: &std::path::Path, head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b]) || path.extension().is_some_and(|e| e == "gz")
}

/// A line-at-a-time parser for one file (CSV needs its header; JSONL needs nothing).
pub enum LineParser {
    Csv(csv::CsvParser),
    Jsonl(jsonl::JsonlParser),
}

impl LineParser {
    /// `header` is the file's first line for CSV.
    pub fn new(format: Format, header: &[u8], names: &ColumnNames) -> Result<LineParser> {
        Ok(match format {
            Format::Csv => LineParser::Csv(csv::CsvParser::new(header, names)?),
            Format::Jsonl => LineParser::Jsonl(jsonl::JsonlParser::new(names)),
            Format::CloudTrail => bail!("CloudTrail files are parsed whole"),
        })
    }

    /// Parses one line (without its newline) numbered `lineno` (1-based).
    pub fn line(
        &mut self,
        path: &str,
        lineno: u64,
        line: &[u8],
        sink: &mut dyn EventSink,
        stats: &mut IngestStats,
    ) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.trim_ascii().is_empty() {
            return;
        }
        let r = match self {
            LineParser::Csv(p) => {
                if lineno == 1 {
                    return; // the header
                }
                p.parse(line, sink)
            }
            LineParser::Jsonl(p) => p.parse(line, sink),
        };
        match r {
            Ok(true) => stats.events += 1,
            Ok(false) => stats.skipped += 1,
            Err(why) => stats.garbled(path, lineno, why),
        }
    }
}

/// Reads a whole (possibly gzip-compressed) export from `reader` and feeds every event to
/// `sink`. `--once` and first reads of compressed or CloudTrail files use this; the daemon
/// tails plain files with `tail`.
pub fn read_all(
    path: &str,
    mut reader: Box<dyn BufRead + '_>,
    names: &ColumnNames,
    sink: &mut dyn EventSink,
    stats: &mut IngestStats,
) -> Result<()> {
    let head = reader.fill_buf()?.to_vec();
    match sniff(&head) {
        Format::CloudTrail => {
            let mut text = Vec::new();
            reader.read_to_end(&mut text)?;
            cloudtrail::parse(path, &text, sink, stats);
        }
        f => {
            let mut buf = Vec::with_capacity(256);
            let mut lineno = 0u64;
            let mut parser: Option<LineParser> = None;
            loop {
                buf.clear();
                let n = reader.read_until(b'\n', &mut buf)?;
                if n == 0 {
                    break;
                }
                lineno += 1;
                let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
                if parser.is_none() {
                    parser = Some(LineParser::new(f, line, names)?);
                }
                if let Some(p) = parser.as_mut() {
                    p.line(path, lineno, line, sink, stats);
                }
            }
        }
    }
    Ok(())
}

/// Opens a file as a buffered reader, decompressing gzip.
pub fn open(path: &std::path::Path) -> Result<Box<dyn BufRead>> {
    use anyhow::Context;
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic)?;
    use std::io::Seek;
    f.seek(std::io::SeekFrom::Start(0))?;
    Ok(if is_gzip(path, &magic[..n]) {
        Box::new(std::io::BufReader::with_capacity(
            1 << 16,
            flate2::read::MultiGzDecoder::new(f),
        ))
    } else {
        Box::new(std::io::BufReader::with_capacity(1 << 16, f))
    })
}

/// Splits one CSV line into owned fields (for small files such as the inventory).
pub fn csv_fields(line: &str) -> Result<Vec<String>> {
    csv::fields_owned(line.as_bytes()).map_err(|e| anyhow::anyhow!("{e}"))
}
