//! Findings: a rule match turned into something a person or a pipeline can act on, with a
//! location, a redactable secret, and a fingerprint that depends on the rule and the secret's
//! content only, so ignores and baselines survive rebases and line shifts but never hide a
//! different secret that later lands on the same line.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::matcher::RawMatch;
use crate::rules::{Confidence, RuleSet, Severity};
use crate::sources::{clientside, CommitInfo, Provenance};

/// Longest snippet, in characters.
pub const SNIPPET_CHARS: usize = 200;

/// A secret value. Its `Debug` and `Display` never show it; `expose` does, on purpose.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Secret {
        Secret(s)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A short prefix (never more than a quarter of the value) and a fixed mask.
    pub fn redacted(&self) -> String {
        redact(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.redacted())
    }
}

pub fn redact(s: &str) -> String {
    let n = s.chars().count();
    let shown: String = s.chars().take((n / 4).min(4)).collect();
    format!("{shown}*****")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The finding identity: rule id and secret content, nothing else.
pub fn fingerprint(rule_id: &str, secret: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"keywarden:v1\0");
    h.update(rule_id.as_bytes());
    h.update(b"\0");
    h.update(secret);
    hex(&h.finalize()[..16])
}

/// Another place where a grouped finding's secret occurs (history scans).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Occurrence {
    pub commit: String,
    pub path: String,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub rule_id: String,
    pub rule_name: String,
    pub path: String,
    /// For findings inside a source map's embedded sources: which source.
    pub inner_path: Option<String>,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub secret: Secret,
    pub secret_sha256: String,
    pub key_id: Option<String>,
    /// The line around the match, secret in clear; `snippet_secret` is where it sits.
    pub snippet: String,
    pub snippet_secret: std::ops::Range<usize>,
    pub severity: Severity,
    pub confidence: Confidence,
    pub entropy: f64,
    pub client_side: bool,
    pub fingerprint: String,
    pub commit: Option<CommitInfo>,
    /// Every commit and path carrying this secret (history scans), the first one included.
    pub occurrences: Vec<Occurrence>,
    /// `verified_active`, `inactive` or `unknown` once validated.
    pub validation: Option<String>,
    /// How the secret was encoded where it was found (`base64`, `percent`, `escape`, or a
    /// chain like `base64+percent`); the location is then the encoded text's.
    pub decoded: Option<String>,
}

impl Finding {
    /// The snippet with the secret masked, or in clear with `show_secrets`.
    pub fn snippet_text(&self, show_secrets: bool) -> String {
        if show_secrets {
            return self.snippet.clone();
        }
        let r = &self.snippet_secret;
        format!(
            "{}{}{}",
            &self.snippet[..r.start],
            self.secret.redacted(),
            &self.snippet[r.end..]
        )
    }

    pub fn secret_text(&self, show_secrets: bool) -> String {
        if show_secrets {
            self.secret.expose().to_string()
        } else {
            self.secret.redacted()
        }
    }
}

/// Paths whose findings are real but probably not production credentials.
pub fn is_test_path(path: &str) -> bool {
    path.split(['/', '\\']).any(|c| {
        matches!(
            c,
            "test"
                | "tests"
                | "__tests__"
                | "spec"
                | "specs"
                | "fixtures"
                | "testdata"
                | "__fixtures__"
        )
    })
}

/// Converts raw matches in `hay` (sorted by position) into findings.
pub fn from_matches(
    rules: &RuleSet,
    hay: &[u8],
    prov: &Provenance,
    matches: &[RawMatch],
    out: &mut Vec<Finding>,
) {
    if matches.is_empty() {
        return;
    }
    let client_side = clientside::is_client_side(&prov.path, hay);
    build(rules, hay, prov, matches, client_side, out);
}

/// Converts raw matches found in `layer.text` (decoded from `hay[layer.span]`) into findings
/// located at the encoded text of each secret in `hay`, marked with the layer's encoding.
pub fn from_decoded(
    rules: &RuleSet,
    hay: &[u8],
    prov: &Provenance,
    layer: &crate::decode::Layer,
    matches: &[RawMatch],
    out: &mut Vec<Finding>,
) {
    if matches.is_empty() {
        return;
    }
    let first = out.len();
    let client_side = clientside::is_client_side(&prov.path, hay);
    build(rules, &layer.text, prov, matches, client_side, out);
    for (f, m) in out[first..].iter_mut().zip(matches) {
        let at = layer.original(m.secret.clone());
        let pos = positions(hay, &[at.start, at.end]);
        (f.line, f.column) = pos[0];
        (f.end_line, f.end_column) = pos[1];
        (f.snippet, f.snippet_secret) = snippet(hay, at);
        f.decoded = Some(layer.encoding.clone());
    }
}

fn build(
    rules: &RuleSet,
    hay: &[u8],
    prov: &Provenance,
    matches: &[RawMatch],
    client_side: bool,
    out: &mut Vec<Finding>,
) {
    let test_path = is_test_path(&prov.path);
    let mut offsets: Vec<usize> = matches
        .iter()
        .flat_map(|m| [m.secret.start, m.secret.end])
        .collect();
    offsets.sort_unstable();
    offsets.dedup();
    let positions = positions(hay, &offsets);
    let at = |o: usize| positions[offsets.binary_search(&o).expect("offset was indexed")];
    for m in matches {
        let rule = rules.get(m.rule);
        let secret_bytes = &hay[m.secret.clone()];
        let (line, column) = at(m.secret.start);
        let (end_line, end_column) = at(m.secret.end);
        let (snippet, snippet_secret) = snippet(hay, m.secret.clone());
        let mut severity = rule.severity;
        if client_side {
            severity = severity.raised();
        }
        if test_path {
            severity = severity.lowered();
        }
        let mut confidence = rule.confidence;
        if m.checksum_ok == Some(false) {
            confidence = Confidence::Low;
        }
        out.push(Finding {
            rule_id: rule.id.clone(),
            rule_name: rule.name.clone(),
            path: prov.path.clone(),
            inner_path: prov.inner_path.clone(),
            line,
            column,
            end_line,
            end_column,
            secret: Secret::new(String::from_utf8_lossy(secret_bytes).into_owned()),
            secret_sha256: sha256_hex(secret_bytes),
            key_id: m
                .key_id
                .clone()
                .map(|r| String::from_utf8_lossy(&hay[r]).into_owned()),
            snippet,
            snippet_secret,
            severity,
            confidence,
            entropy: (m.entropy * 1000.0).round() / 1000.0,
            client_side,
            fingerprint: fingerprint(&rule.id, secret_bytes),
            commit: prov.commit.clone(),
            occurrences: Vec::new(),
            validation: None,
            decoded: None,
        });
    }
}

/// 1-based (line, column in characters) for each of the sorted `offsets`, in one pass.
fn positions(hay: &[u8], offsets: &[usize]) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(offsets.len());
    let (mut line, mut line_start, mut pos) = (1usize, 0usize, 0usize);
    let (mut col_pos, mut col) = (0usize, 1usize);
    for &o in offsets {
        let chunk = &hay[pos..o];
        let newlines = memchr::memchr_iter(b'\n', chunk).count();
        if newlines > 0 {
            line += newlines;
            line_start = pos + memchr::memrchr(b'\n', chunk).expect("counted") + 1;
            col_pos = line_start;
            col = 1;
        }
        // Count characters, not bytes: UTF-8 continuation bytes do not start a character.
        col += hay[col_pos..o]
            .iter()
            .filter(|&&b| (b & 0xC0) != 0x80)
            .count();
        col_pos = o;
        pos = o;
        out.push((line, col));
    }
    let _ = line_start;
    out
}

/// The line holding `secret`, cut to at most `SNIPPET_CHARS` characters around it, with the
/// secret's byte range inside the returned string.
fn snippet(hay: &[u8], secret: std::ops::Range<usize>) -> (String, std::ops::Range<usize>) {
    const PROBE: usize = 2048;
    let lo = secret.start.saturating_sub(PROBE);
    let start = memchr::memrchr(b'\n', &hay[lo..secret.start])
        .map(|i| lo + i + 1)
        .unwrap_or(lo);
    let hi = (secret.end + PROBE).min(hay.len());
    let end = memchr::memchr(b'\n', &hay[secret.end..hi])
        .map(|i| secret.end + i)
        .unwrap_or(hi);
    let before = String::from_utf8_lossy(&hay[start..secret.start]);
    let value = String::from_utf8_lossy(&hay[secret.clone()]);
    let after = String::from_utf8_lossy(&hay[secret.end..end]);
    let before = before.trim_start();
    let after = after.trim_end_matches(['\r', ' ', '\t']);
    let budget = SNIPPET_CHARS.saturating_sub(value.chars().count());
    let n_before = before.chars().count();
    let n_after = after.chars().count();
    // Share the budget, giving what one side does not need to the other.
    let keep_before = n_before.min(budget.saturating_sub(n_after.min(budget / 2)));
    let keep_after = n_after.min(budget - keep_before);
    let before: String = before.chars().skip(n_before - keep_before).collect();
    let after: String = after.chars().take(keep_after).collect();
    let s = before.len();
    (format!("{before}{value}{after}"), s..s + value.len())
}

/// Fingerprints to hide: a baseline or a `.keywardenignore` file.
#[derive(Debug, Default, Clone)]
pub struct Suppressions {
    fingerprints: HashSet<String>,
}

impl Suppressions {
    pub fn insert(&mut self, fingerprint: &str) {
        self.fingerprints.insert(fingerprint.to_string());
    }

    pub fn contains(&self, fingerprint: &str) -> bool {
        self.fingerprints.contains(fingerprint)
    }

    pub fn len(&self) -> usize {
        self.fingerprints.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fingerprints.is_empty()
    }

    /// Reads a `.keywardenignore`: one fingerprint a line, `#` starts a comment.
    pub fn read_ignore_file(&mut self, path: &Path) -> anyhow::Result<()> {
        use anyhow::Context;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        for (i, line) in text.lines().enumerate() {
            let fp = line.split('#').next().unwrap_or("").trim();
            if fp.is_empty() {
                continue;
            }
            if fp.len() != 32 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
                anyhow::bail!("{}:{}: not a fingerprint: {fp:?}", path.display(), i + 1);
            }
            self.insert(&fp.to_ascii_lowercase());
        }
        Ok(())
    }
}

/// Sorts findings so thread count never changes output: path, line, column, rule.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (&a.path, &a.inner_path, a.line, a.column, &a.rule_id).cmp(&(
            &b.path,
            &b.inner_path,
            b.line,
            b.column,
            &b.rule_id,
        ))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let hay = "ab\ncé d\r\nxyz".as_bytes();
        let offs = [0, 1, 3, 6, 10, 12];
        assert_eq!(
            positions(hay, &offs),
            vec![(1, 1), (1, 2), (2, 1), (2, 3), (3, 1), (3, 3)]
        );
    }

    #[test]
    fn snippet_is_cut_around_the_secret() {
        let mut hay = "x".repeat(5000).into_bytes();
        hay.extend_from_slice(b"SECRETVALUE");
        hay.extend(std::iter::repeat_n(b'y', 5000));
        let (s, r) = snippet(&hay, 5000..5011);
        assert_eq!(s.chars().count(), SNIPPET_CHARS);
        assert_eq!(&s[r], "SECRETVALUE");
    }

    #[test]
    fn redaction_hides_most_of_the_value() {
        assert_eq!(redact("AKIAIOSFODNN7EXAMPLE"), "AKIA*****");
        assert_eq!(redact("hunter2"), "h*****");
        assert_eq!(
            format!("{:?}", Secret::new("ghp_abcdefgh".into())),
            "Secret(ghp*****)"
        );
    }

    #[test]
    fn fingerprint_depends_on_rule_and_secret_only() {
        assert_eq!(fingerprint("a", b"s"), fingerprint("a", b"s"));
        assert_ne!(fingerprint("a", b"s"), fingerprint("b", b"s"));
        assert_ne!(fingerprint("a", b"s"), fingerprint("a", b"t"));
        assert_eq!(fingerprint("a", b"s").len(), 32);
    }
}

/// A path that could not be scanned, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanError {
    pub path: String,
    pub message: String,
}

/// What a scan looked at, what it passed over, and what went wrong.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub findings: usize,
    pub files_scanned: u64,
    pub bytes_scanned: u64,
    /// Distinct git blobs scanned (history scans).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blobs_scanned: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commits: Option<u64>,
    pub skipped_binary: u64,
    pub skipped_too_large: u64,
    pub skipped_excluded: u64,
    /// Findings hidden by a baseline or `.keywardenignore`.
    pub suppressed: u64,
    pub rules: usize,
    pub errors: Vec<ScanError>,
    /// History and staged scans: commits walked, blobs seen and skipped, damaged objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git: Option<crate::sources::git::GitStats>,
}
