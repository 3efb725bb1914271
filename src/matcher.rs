//! Finds rule matches in a byte buffer: one pass (see `keywords`) finds every rule's keywords,
//! then only the rules whose keywords occurred run their regex, only in windows around the hits.
//!
//! The matcher is shared by all worker threads (`Arc<Matcher>`); each thread owns a `Scratch`
//! so the hot path takes no lock. Regexes compile on first use through a `OnceLock`, so a run
//! that never sees a rule's keyword never pays for compiling it.
//!
//! Windows around keyword hits are merged per rule before the regex runs, so each rule reads
//! each byte at most once per blob: a 100 MB single-line bundle costs linear time no matter how
//! often a keyword repeats in it.

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use regex::bytes::{CaptureLocations, Regex, RegexBuilder};

use crate::entropy;
use crate::keywords::KeywordIndex;
use crate::rules::{Rule, RuleSet};

/// Bytes before a keyword hit that a match may start at.
const WINDOW_BACK: usize = 256;
/// Bytes after a keyword hit that a match may extend to.
const WINDOW_FORWARD: usize = 1024;
/// How far to look for a line's ends when checking inline allow markers.
const LINE_PROBE: usize = 4096;

/// Inline comments that suppress a finding on their line.
pub const ALLOW_MARKERS: &[&str] = &[
    "keywarden:allow",
    "gitleaks:allow",
    "pragma: allowlist secret",
];

/// A rule match before it becomes a finding: byte offsets into the scanned buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct RawMatch {
    pub rule: usize,
    /// The whole regex match.
    pub span: Range<usize>,
    pub secret: Range<usize>,
    pub key_id: Option<Range<usize>>,
    pub entropy: f64,
    /// `Some(false)` when the rule's format carries a checksum and this value fails it.
    pub checksum_ok: Option<bool>,
}

/// Secret-level exceptions that apply to every rule (from the config).
#[derive(Debug, Default)]
pub struct SecretFilter {
    /// Lowercase substrings: a secret containing one is not reported.
    pub stopwords: Vec<String>,
    /// A secret matching one of these is not reported.
    pub regexes: Vec<Regex>,
}

impl SecretFilter {
    pub fn new(stopwords: &[String], regexes: &[String]) -> Result<SecretFilter, regex::Error> {
        Ok(SecretFilter {
            stopwords: stopwords.iter().map(|s| s.to_ascii_lowercase()).collect(),
            regexes: regexes
                .iter()
                .map(|r| Regex::new(r))
                .collect::<Result<_, _>>()?,
        })
    }
}

struct CompiledRule {
    regex: OnceLock<Option<Regex>>,
    allow_regexes: OnceLock<Vec<Regex>>,
    stopwords: Vec<String>,
}

/// Every rule's keywords (one index) and lazily compiled regexes.
pub struct Matcher {
    rules: Arc<RuleSet>,
    filter: SecretFilter,
    keywords: KeywordIndex,
    /// For each keyword pattern, the rules that listed it.
    keyword_rules: Vec<Vec<u32>>,
    compiled: Vec<CompiledRule>,
}

/// Per-thread working memory, reused across blobs.
#[derive(Default)]
pub struct Scratch {
    windows: Vec<Vec<Range<usize>>>,
    touched: Vec<u32>,
    locs: Option<Vec<Option<CaptureLocations>>>,
}

impl Matcher {
    pub fn new(rules: Arc<RuleSet>, filter: SecretFilter) -> Matcher {
        let mut patterns: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<u32>> = Vec::new();
        let mut index = std::collections::HashMap::new();
        for (i, rule) in rules.rules().iter().enumerate() {
            for kw in &rule.keywords {
                let kw = kw.to_ascii_lowercase();
                let slot = *index.entry(kw.clone()).or_insert_with(|| {
                    patterns.push(kw);
                    keyword_rules.push(Vec::new());
                    patterns.len() - 1
                });
                if keyword_rules[slot].last() != Some(&(i as u32)) {
                    keyword_rules[slot].push(i as u32);
                }
            }
        }
        let keywords = KeywordIndex::new(&patterns);
        let compiled = rules
            .rules()
            .iter()
            .map(|r| CompiledRule {
                regex: OnceLock::new(),
                allow_regexes: OnceLock::new(),
                stopwords: r
                    .allowlist
                    .stopwords
                    .iter()
                    .map(|s| s.to_ascii_lowercase())
                    .collect(),
            })
            .collect();
        Matcher {
            rules,
            filter,
            keywords,
            keyword_rules,
            compiled,
        }
    }

    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    fn regex(&self, idx: usize) -> Option<&Regex> {
        self.compiled[idx]
            .regex
            .get_or_init(|| {
                let rule = self.rules.get(idx);
                match compile(&rule.regex) {
                    Ok(re) => Some(re),
                    Err(e) => {
                        tracing::warn!("rule {} cannot be compiled and is skipped: {e}", rule.id);
                        None
                    }
                }
            })
            .as_ref()
    }

    fn allow_regexes(&self, idx: usize) -> &[Regex] {
        self.compiled[idx].allow_regexes.get_or_init(|| {
            // Validated at load time.
            self.rules
                .get(idx)
                .allowlist
                .regexes
                .iter()
                .filter_map(|r| Regex::new(r).ok())
                .collect()
        })
    }

    /// Compiles every rule now (for `rules check` and benchmarks); returns the failures.
    pub fn compile_all(&self) -> Vec<(String, String)> {
        let mut failures = Vec::new();
        for (i, rule) in self.rules.rules().iter().enumerate() {
            if self.regex(i).is_none() {
                failures.push((
                    rule.id.clone(),
                    compile(&rule.regex)
                        .err()
                        .map(|e| e.to_string())
                        .unwrap_or_default(),
                ));
            }
        }
        failures
    }

    /// Appends every accepted match in `hay` to `out`, sorted by position.
    pub fn scan(&self, hay: &[u8], scratch: &mut Scratch, out: &mut Vec<RawMatch>) {
        self.scan_rules(hay, scratch, out, None)
    }

    /// Like `scan`, but only for one rule (used to prove a rule against its examples).
    pub fn scan_rule(
        &self,
        hay: &[u8],
        rule: usize,
        scratch: &mut Scratch,
        out: &mut Vec<RawMatch>,
    ) {
        self.scan_rules(hay, scratch, out, Some(rule))
    }

    fn scan_rules(
        &self,
        hay: &[u8],
        scratch: &mut Scratch,
        out: &mut Vec<RawMatch>,
        only: Option<usize>,
    ) {
        let n = self.rules.len();
        if scratch.windows.len() != n {
            scratch.windows = vec![Vec::new(); n];
            scratch.locs = None;
        }
        scratch.touched.clear();
        let keyword_rules = &self.keyword_rules;
        let windows = &mut scratch.windows;
        let touched = &mut scratch.touched;
        self.keywords.for_each(hay, |pattern, hit_start, hit_end| {
            let start = hit_start.saturating_sub(WINDOW_BACK);
            let end = (hit_end + WINDOW_FORWARD).min(hay.len());
            for &r in &keyword_rules[pattern] {
                if only.is_some_and(|o| o != r as usize) {
                    continue;
                }
                let w = &mut windows[r as usize];
                if w.is_empty() {
                    touched.push(r);
                }
                match w.last_mut() {
                    Some(last) if start <= last.end && start >= last.start => {
                        last.end = last.end.max(end)
                    }
                    _ => w.push(start..end),
                }
            }
        });
        let first = out.len();
        let locs = scratch.locs.get_or_insert_with(|| vec![None; n]);
        for &r in &scratch.touched {
            let r = r as usize;
            let windows = &mut scratch.windows[r];
            merge_windows(windows);
            if let Some(re) = self.regex(r) {
                let locs = locs[r].get_or_insert_with(|| re.capture_locations());
                for w in windows.iter() {
                    self.run_window(r, re, hay, w.clone(), locs, out);
                }
            }
            windows.clear();
        }
        out[first..].sort_by_key(|m| (m.span.start, m.rule));
        out.dedup_by(|a, b| a.rule == b.rule && a.secret == b.secret);
    }

    fn run_window(
        &self,
        rule: usize,
        re: &Regex,
        hay: &[u8],
        w: Range<usize>,
        locs: &mut CaptureLocations,
        out: &mut Vec<RawMatch>,
    ) {
        let window = &hay[..w.end];
        let mut at = w.start;
        let secret_idx = self.secret_group(re);
        let key_idx = re.capture_names().position(|n| n == Some("key_id"));
        while at <= window.len() {
            let Some(m) = re.captures_read_at(locs, window, at) else {
                break;
            };
            at = if m.end() > m.start() {
                m.end()
            } else {
                m.end() + 1
            };
            let Some((ss, se)) = locs.get(secret_idx) else {
                continue;
            };
            if se <= ss {
                continue;
            }
            let key_id = key_idx
                .and_then(|k| locs.get(k))
                .filter(|(s, e)| e > s)
                .map(|(s, e)| s..e);
            if let Some(raw) = self.accept(rule, hay, m.start()..m.end(), ss..se, key_id) {
                out.push(raw);
            }
        }
    }

    fn secret_group(&self, re: &Regex) -> usize {
        re.capture_names()
            .position(|n| n == Some("secret"))
            .unwrap_or(0)
    }

    /// The gates every match passes before it is reported.
    fn accept(
        &self,
        rule_idx: usize,
        hay: &[u8],
        span: Range<usize>,
        secret: Range<usize>,
        key_id: Option<Range<usize>>,
    ) -> Option<RawMatch> {
        let rule = self.rules.get(rule_idx);
        let value = &hay[secret.clone()];
        let entropy = entropy::shannon(value);
        if rule.min_entropy.is_some_and(|min| entropy < min) {
            return None;
        }
        if is_placeholder(value) || is_env_reference(value) {
            return None;
        }
        if crate::stoplist::is_known_example(value) {
            return None;
        }
        if rule
            .min_randomness
            .is_some_and(|min| crate::randomness::score(value) < min)
        {
            return None;
        }
        if !self.passes_allowlists(rule_idx, rule, value) {
            return None;
        }
        let checksum_ok = rule
            .checksum
            .as_deref()
            .map(|c| crate::checksum::verify(c, value));
        if line_has_allow_marker(hay, span.start, span.end) {
            return None;
        }
        Some(RawMatch {
            rule: rule_idx,
            span,
            secret,
            key_id,
            entropy,
            checksum_ok,
        })
    }

    fn passes_allowlists(&self, idx: usize, _rule: &Rule, value: &[u8]) -> bool {
        let lower = value.to_ascii_lowercase();
        let contains = |words: &[String]| {
            words
                .iter()
                .any(|w| memchr::memmem::find(&lower, w.as_bytes()).is_some())
        };
        if contains(&self.filter.stopwords) || contains(&self.compiled[idx].stopwords) {
            return false;
        }
        if self.filter.regexes.iter().any(|r| r.is_match(value)) {
            return false;
        }
        !self.allow_regexes(idx).iter().any(|r| r.is_match(value))
    }
}

/// A rule that failed its own examples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExampleFailure {
    pub rule: String,
    pub origin: String,
    pub problem: String,
}

impl Matcher {
    /// Proves every rule against its examples (each must match that rule) and negative
    /// examples (none may), in parallel. Rules without examples fail too.
    pub fn check_examples(&self) -> Vec<ExampleFailure> {
        use rayon::prelude::*;
        let mut failures: Vec<ExampleFailure> = (0..self.rules.len())
            .into_par_iter()
            .flat_map_iter(|i| {
                let rule = self.rules.get(i);
                let mut scratch = Scratch::default();
                let mut out = Vec::new();
                let mut problems = Vec::new();
                if self.regex(i).is_none() {
                    problems.push("regex does not compile".to_string());
                }
                if rule.examples.is_empty() {
                    problems.push("has no examples".to_string());
                }
                for ex in &rule.examples {
                    out.clear();
                    self.scan_rule(ex.as_bytes(), i, &mut scratch, &mut out);
                    if out.is_empty() {
                        problems.push(format!("example does not match: {ex:?}"));
                    }
                }
                for ex in &rule.negative_examples {
                    out.clear();
                    self.scan_rule(ex.as_bytes(), i, &mut scratch, &mut out);
                    if let Some(m) = out.first() {
                        let got =
                            String::from_utf8_lossy(&ex.as_bytes()[m.secret.clone()]).into_owned();
                        problems.push(format!("negative example matches ({got:?}): {ex:?}"));
                    }
                }
                problems
                    .into_iter()
                    .map(|problem| ExampleFailure {
                        rule: rule.id.clone(),
                        origin: rule.origin.clone(),
                        problem,
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        failures.sort_by(|a, b| a.rule.cmp(&b.rule));
        failures
    }
}

fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(16 << 20)
        .dfa_size_limit(8 << 20)
        .build()
}

fn merge_windows(w: &mut Vec<Range<usize>>) {
    if w.len() < 2 {
        return;
    }
    w.sort_by_key(|r| r.start);
    let mut out = 0;
    for i in 1..w.len() {
        if w[i].start <= w[out].end {
            w[out].end = w[out].end.max(w[i].end);
        } else {
            out += 1;
            w[out] = w[i].clone();
        }
    }
    w.truncate(out + 1);
}

/// Documentation and template values that are not real secrets.
pub fn is_placeholder(value: &[u8]) -> bool {
    const WORDS: &[&str] = &[
        "example",
        "placeholder",
        "changeme",
        "change_me",
        "change-me",
        "your_",
        "your-",
        "yourkey",
        "yourtoken",
        "_here",
        "-here",
        "redacted",
        "replace_me",
        "replaceme",
        "insert_",
        "dummy",
        "<",
        ">",
        "${",
        "{{",
        "}}",
        "xxxx",
        "****",
        "....",
        "0000000",
        "1234567890",
        "abcdefghij",
    ];
    let lower = value.to_ascii_lowercase();
    if WORDS
        .iter()
        .any(|w| memchr::memmem::find(&lower, w.as_bytes()).is_some())
    {
        return true;
    }
    // A single repeated character (`aaaaaaaa`, `--------`).
    lower.len() >= 8 && lower.iter().all(|&b| b == lower[0])
}

/// Values that name a secret held elsewhere rather than holding it.
pub fn is_env_reference(value: &[u8]) -> bool {
    let lower = value.to_ascii_lowercase();
    const MARKERS: &[&str] = &[
        "process.env",
        "os.environ",
        "getenv",
        "env[",
        "env.",
        "secrets.",
        "vault:",
    ];
    if MARKERS
        .iter()
        .any(|m| memchr::memmem::find(&lower, m.as_bytes()).is_some())
    {
        return true;
    }
    match value {
        [b'$', rest @ ..] => rest
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'{' || b == b'}'),
        [b'%', .., b'%'] => true,
        _ => false,
    }
}

/// Whether the line(s) holding `start..end` carry an inline allow marker.
pub fn line_has_allow_marker(hay: &[u8], start: usize, end: usize) -> bool {
    let lo = start.saturating_sub(LINE_PROBE);
    let line_start = memchr::memrchr(b'\n', &hay[lo..start])
        .map(|i| lo + i + 1)
        .unwrap_or(lo);
    let hi = (end + LINE_PROBE).min(hay.len());
    let line_end = memchr::memchr(b'\n', &hay[end..hi])
        .map(|i| end + i)
        .unwrap_or(hi);
    let line = &hay[line_start..line_end];
    ALLOW_MARKERS
        .iter()
        .any(|m| memchr::memmem::find(line, m.as_bytes()).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::parse_rule_file;

    fn matcher(toml: &str) -> Matcher {
        let rules = parse_rule_file("t.toml", toml).unwrap();
        Matcher::new(Arc::new(RuleSet::new(rules)), SecretFilter::default())
    }

    const TOKEN_RULE: &str = "[[rules]]\nid = \"tok\"\nname = \"Token\"\nkeywords = [\"tok_\"]\nregex = '''\\b(?P<secret>tok_[A-Za-z0-9]{20})\\b'''\nmin_entropy = 3.0\n";

    fn secrets(m: &Matcher, hay: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        m.scan(hay, &mut Scratch::default(), &mut out);
        out.iter()
            .map(|r| String::from_utf8_lossy(&hay[r.secret.clone()]).into_owned())
            .collect()
    }

    #[test]
    fn finds_each_occurrence_once_in_order() {
        let m = matcher(TOKEN_RULE);
        let hay = b"a = tok_Ab3De5Gh7Jk9Mn1Pq2Rs\nb = TOK_nothing\nc = tok_Zy8Xw7Vu6Ts5Rq4Po3Nm";
        assert_eq!(
            secrets(&m, hay),
            ["tok_Ab3De5Gh7Jk9Mn1Pq2Rs", "tok_Zy8Xw7Vu6Ts5Rq4Po3Nm"]
        );
    }

    #[test]
    fn gates_reject_low_entropy_placeholders_and_allow_markers() {
        let m = matcher(TOKEN_RULE);
        assert!(secrets(&m, b"tok_aaaaaaaaaaaaaaaaaaaa").is_empty());
        assert!(secrets(&m, b"tok_EXAMPLEab3De5Gh7Jk9M").is_empty());
        assert!(secrets(&m, b"x = 'tok_Ab3De5Gh7Jk9Mn1Pq2Rs' # keywarden:allow").is_empty());
        assert!(secrets(&m, b"x = 'tok_Ab3De5Gh7Jk9Mn1Pq2Rs' // gitleaks:allow").is_empty());
    }

    #[test]
    fn keyword_far_from_every_match_runs_no_regex_over_the_rest() {
        let m = matcher(TOKEN_RULE);
        let mut hay = vec![b'a'; 1 << 20];
        hay.extend_from_slice(b" tok_Ab3De5Gh7Jk9Mn1Pq2Rs ");
        hay.extend(std::iter::repeat_n(b'b', 1 << 20));
        assert_eq!(secrets(&m, &hay), ["tok_Ab3De5Gh7Jk9Mn1Pq2Rs"]);
    }

    #[test]
    fn many_repeated_keywords_merge_into_one_window() {
        let m = matcher(TOKEN_RULE);
        let mut hay = b"tok_ ".repeat(200_000);
        hay.extend_from_slice(b"tok_Ab3De5Gh7Jk9Mn1Pq2Rs");
        assert_eq!(secrets(&m, &hay), ["tok_Ab3De5Gh7Jk9Mn1Pq2Rs"]);
    }

    #[test]
    fn env_references_are_not_secrets() {
        assert!(is_env_reference(b"process.env.STRIPE_KEY"));
        assert!(is_env_reference(b"${API_TOKEN}"));
        assert!(is_env_reference(b"$API_TOKEN"));
        assert!(is_env_reference(b"%API_TOKEN%"));
        let key = format!("sk_{}_4eC39HqLyjWDarjtT1zdp7dc", "live");
        assert!(!is_env_reference(key.as_bytes()));
    }

    #[test]
    fn a_keyword_overlapping_a_reported_one_still_wakes_its_rule() {
        // In "xyz_abc_" the keywords "xyz_a" and "abc_" overlap; both rules must run.
        let m = matcher(concat!(
            "[[rules]]\nid = \"one\"\nname = \"One\"\nkeywords = [\"xyz_a\"]\n",
            "regex = '''(?P<secret>xyz_a[0-9]{6})'''\n",
            "[[rules]]\nid = \"two\"\nname = \"Two\"\nkeywords = [\"abc_\"]\n",
            "regex = '''(?P<secret>abc_[A-Za-z0-9]{16})'''\n",
        ));
        assert_eq!(
            secrets(&m, b"id = xyz_abc_Q7w2Ld9Xk4Rt8Mz3"),
            ["abc_Q7w2Ld9Xk4Rt8Mz3"]
        );
    }

    #[test]
    fn window_merging() {
        let mut w = vec![10..20, 0..5, 4..8, 19..30, 40..41];
        merge_windows(&mut w);
        assert_eq!(w, vec![0..8, 10..30, 40..41]);
    }
}
