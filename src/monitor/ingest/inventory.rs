//! The key inventory (`--keys`, CSV: api_key_id, name, created_at, optional last_rotated_at,
//! allowed_ips) and the leaked-key list (`--findings`, keywarden scan JSON or JSON lines).

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::csv_fields;
use super::time;

/// An address range; a bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub net: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net: IpAddr = addr
            .parse()
            .with_context(|| format!("not an address or CIDR: {s:?}"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .with_context(|| format!("bad prefix length in {s:?}"))?,
            None => max,
        };
        Ok(Cidr { net, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        fn bits(ip: IpAddr) -> (u128, bool) {
            match ip {
                IpAddr::V4(a) => (u32::from(a) as u128, true),
                IpAddr::V6(a) => match a.to_ipv4_mapped() {
                    Some(v4) => (u32::from(v4) as u128, true),
                    None => (u128::from(a), false),
                },
            }
        }
        let (n, n4) = bits(self.net);
        let (a, a4) = bits(ip);
        if n4 != a4 {
            return false;
        }
        let width = if n4 { 32 } else { 128 };
        if self.prefix == 0 {
            return true;
        }
        let shift = width - self.prefix as u32;
        (n >> shift) == (a >> shift)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// Parses a list of CIDRs separated by spaces, `;` or `,`.
pub fn parse_cidrs(s: &str) -> Result<Vec<Cidr>> {
    s.split([' ', ';', ',', '|'])
        .filter(|p| !p.trim().is_empty())
        .map(Cidr::parse)
        .collect()
}

/// One inventory row.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRecord {
    pub key_id: String,
    pub name: String,
    pub created_at: i64,
    pub last_rotated_at: Option<i64>,
    pub allowed_ips: Vec<Cidr>,
}

/// Reads the inventory CSV. Unlike usage logs, a bad row here is a configuration error.
pub fn read_keys(path: &Path) -> Result<Vec<KeyRecord>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let cols: Vec<String> = csv_fields(header.trim_start_matches('\u{feff}'))
        .with_context(|| format!("{}:1: bad header", path.display()))?
        .into_iter()
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    let idx = |names: &[&str]| names.iter().find_map(|n| cols.iter().position(|c| c == n));
    let Some(k) = idx(&["api_key_id", "key_id", "access_key_id", "id", "key"]) else {
        bail!("{}:1: no api_key_id column", path.display());
    };
    let name = idx(&["name", "description"]);
    let Some(created) = idx(&["created_at", "created", "create_date"]) else {
        bail!("{}:1: no created_at column", path.display());
    };
    let rotated = idx(&["last_rotated_at", "rotated_at", "last_rotated"]);
    let allowed = idx(&["allowed_ips", "allowed_cidrs", "ip_allowlist"]);
    let mut out = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{}", path.display(), i + 1);
        let f = csv_fields(line).with_context(|| format!("{}: bad row", at()))?;
        let get = |j: Option<usize>| j.and_then(|j| f.get(j)).map(|s| s.trim()).unwrap_or("");
        let key_id = get(Some(k)).to_string();
        if key_id.is_empty() {
            bail!("{}: empty api_key_id", at());
        }
        let created_at = time::parse(get(Some(created)).as_bytes())
            .with_context(|| format!("{}: bad created_at", at()))?;
        let last_rotated_at = match get(rotated) {
            "" => None,
            s => Some(
                time::parse(s.as_bytes())
                    .with_context(|| format!("{}: bad last_rotated_at", at()))?,
            ),
        };
        let allowed_ips =
            parse_cidrs(get(allowed)).with_context(|| format!("{}: bad allowed_ips", at()))?;
        out.push(KeyRecord {
            key_id,
            name: get(name).to_string(),
            created_at,
            last_rotated_at,
            allowed_ips,
        });
    }
    Ok(out)
}

/// Keys a scan reported as leaked: by key id and by SHA-256 of the secret.
#[derive(Debug, Default, Clone)]
pub struct Exposed {
    pub key_ids: HashSet<String>,
    pub hashes: HashSet<String>,
}

impl Exposed {
    pub fn is_empty(&self) -> bool {
        self.key_ids.is_empty() && self.hashes.is_empty()
    }
}

/// Reads `keywarden scan --format json` (or jsonl) output.
pub fn read_findings(path: &Path) -> Result<Exposed> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Exposed::default();
    let mut add = |f: &serde_json::Value| {
        if let Some(k) = f.get("key_id").and_then(|v| v.as_str()) {
            out.key_ids.insert(k.to_string());
        }
        if let Some(h) = f.get("secret_sha256").and_then(|v| v.as_str()) {
            out.hashes.insert(h.to_ascii_lowercase());
        }
    };
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(doc) => {
            let list = doc
                .get("findings")
                .and_then(|v| v.as_array())
                .with_context(|| format!("{}: no \"findings\" array", path.display()))?;
            list.iter().for_each(&mut add);
        }
        Err(_) => {
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let v: serde_json::Value = serde_json::from_str(line).with_context(|| {
                    format!("{}:{}: not keywarden findings JSON", path.display(), i + 1)
                })?;
                add(&v);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(Cidr::parse("203.0.113.7")
            .unwrap()
            .contains("203.0.113.7".parse().unwrap()));
        assert!(Cidr::parse("2001:db8::/32")
            .unwrap()
            .contains("2001:db8:1::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert_eq!(parse_cidrs("10.0.0.0/8; 192.168.1.1").unwrap().len(), 2);
    }
}
