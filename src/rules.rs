//! Rule specs: what a credential looks like, where the rules come from, and proof that each rule
//! matches its own examples.
//!
//! Rules are data (TOML, one file per provider family under `rules/`), embedded at build time
//! and extendable with `--rules DIR` or the config. Loading validates everything it can without
//! compiling regexes (syntax, the `secret` capture, keywords) so that start-up stays cheap; the
//! matcher compiles a rule's regex the first time one of its keywords occurs.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_rules.rs"));
}

/// The rule files compiled into the binary: `(relative path, contents)`.
pub fn embedded_files() -> &'static [(&'static str, &'static str)] {
    embedded::EMBEDDED
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// One step up, for secrets that ship to browsers.
    pub fn raised(self) -> Severity {
        match self {
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            Severity::High | Severity::Critical => Severity::Critical,
        }
    }

    /// One step down, for findings under test and fixture paths.
    pub fn lowered(self) -> Severity {
        match self {
            Severity::Critical => Severity::High,
            Severity::High => Severity::Medium,
            Severity::Medium | Severity::Low => Severity::Low,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

impl fmt::Display for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn default_severity() -> Severity {
    Severity::High
}

fn default_confidence() -> Confidence {
    Confidence::Medium
}

/// Per-rule exceptions: secrets that match these are known non-secrets for this rule.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleAllowlistSpec {
    /// Regexes tested against the captured secret.
    #[serde(default)]
    pub regexes: Vec<String>,
    /// Case-insensitive substrings of the secret that mark it as a non-secret.
    #[serde(default)]
    pub stopwords: Vec<String>,
}

/// One rule as written in a rule file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: Spanned<String>,
    pub name: String,
    /// A regex with a named capture `secret` (and optionally `key_id`).
    pub regex: Spanned<String>,
    /// Literals of which at least one occurs in every match (matched case-insensitively).
    pub keywords: Vec<String>,
    #[serde(default)]
    pub min_entropy: Option<f64>,
    /// Opt-in gate for values without a provider format: the least `randomness::score`
    /// (0..=1) a secret must reach.
    #[serde(default)]
    pub min_randomness: Option<f64>,
    #[serde(default = "default_severity")]
    pub severity: Severity,
    #[serde(default = "default_confidence")]
    pub confidence: Confidence,
    #[serde(default)]
    pub references: Vec<String>,
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(default)]
    pub negative_examples: Vec<String>,
    /// A provider definition under `rules/providers/` that knows how to validate or revoke it.
    #[serde(default)]
    pub provider: Option<String>,
    /// An offline checksum the secret carries (see `checksum`).
    #[serde(default)]
    pub checksum: Option<String>,
    #[serde(default)]
    pub allowlist: Option<RuleAllowlistSpec>,
    /// Extra tags (shown in SARIF).
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFileSpec {
    #[serde(default)]
    rules: Vec<RuleSpec>,
}

/// A validated rule, with where it came from.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub regex: String,
    pub keywords: Vec<String>,
    pub min_entropy: Option<f64>,
    pub min_randomness: Option<f64>,
    pub severity: Severity,
    pub confidence: Confidence,
    pub references: Vec<String>,
    pub examples: Vec<String>,
    pub negative_examples: Vec<String>,
    pub provider: Option<String>,
    pub checksum: Option<String>,
    pub allowlist: RuleAllowlistSpec,
    pub tags: Vec<String>,
    /// The rule file's stem, e.g. `aws` for `rules/aws.toml`.
    pub family: String,
    /// Where the rule was defined: `embedded:aws.toml:12` or a real path and line.
    pub origin: String,
    /// Whether the regex captures a `key_id` besides the secret.
    pub has_key_id: bool,
}

/// What is wrong with a rule file. Always names the file and, where known, the line and rule.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {}{message}", rule.as_ref().map(|r| format!("rule {r}: ")).unwrap_or_default())]
pub struct RuleError {
    pub file: String,
    pub line: usize,
    pub rule: Option<String>,
    pub message: String,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

const KNOWN_CHECKSUMS: &[&str] = crate::checksum::KINDS;

/// Parses one rule file. `file` is the name used in errors; `family` defaults to its stem.
pub fn parse_rule_file(file: &str, text: &str) -> Result<Vec<Rule>, RuleError> {
    let spec: RuleFileSpec = toml::from_str(text).map_err(|e| RuleError {
        file: file.to_string(),
        line: e.span().map(|s| line_of(text, s.start)).unwrap_or(1),
        rule: None,
        message: e.message().trim_end().to_string(),
    })?;
    let family = Path::new(file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut rules = Vec::with_capacity(spec.rules.len());
    for r in spec.rules {
        let line = line_of(text, r.id.span().start);
        let id = r.id.get_ref().clone();
        let err = |line: usize, message: String| RuleError {
            file: file.to_string(),
            line,
            rule: Some(id.clone()),
            message,
        };
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(err(
                line,
                "id must be lowercase letters, digits and '-'".into(),
            ));
        }
        let regex_line = line_of(text, r.regex.span().start);
        let pattern = r.regex.get_ref().clone();
        let hir = regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .build()
            .parse(&pattern)
            .map_err(|e| {
                err(
                    regex_line,
                    format!("bad regex: {}", first_line(&e.to_string())),
                )
            })?;
        let names = capture_names(&hir);
        if !names.iter().any(|n| n == "secret") {
            return Err(err(
                regex_line,
                "regex has no named capture `secret`".into(),
            ));
        }
        if r.keywords.is_empty() || r.keywords.iter().any(|k| k.trim().len() < 2) {
            return Err(err(
                line,
                "keywords must list at least one literal of 2+ characters".into(),
            ));
        }
        if let Some(e) = r.min_entropy {
            if !(0.0..=8.0).contains(&e) {
                return Err(err(
                    line,
                    format!("min_entropy {e} is outside 0..=8 bits per byte"),
                ));
            }
        }
        if let Some(m) = r.min_randomness {
            if !(0.0..=1.0).contains(&m) {
                return Err(err(line, format!("min_randomness {m} is outside 0..=1")));
            }
        }
        if let Some(c) = &r.checksum {
            if !KNOWN_CHECKSUMS.contains(&c.as_str()) {
                return Err(err(
                    line,
                    format!(
                        "unknown checksum {c:?} (known: {})",
                        KNOWN_CHECKSUMS.join(", ")
                    ),
                ));
            }
        }
        let allowlist = r.allowlist.unwrap_or_default();
        for re in &allowlist.regexes {
            // Syntax only: compiling happens when the rule first matches.
            if let Err(e) = regex_syntax::ParserBuilder::new()
                .utf8(false)
                .build()
                .parse(re)
            {
                return Err(err(
                    line,
                    format!("bad allowlist regex: {}", first_line(&e.to_string())),
                ));
            }
        }
        rules.push(Rule {
            id,
            name: r.name,
            regex: pattern,
            keywords: r.keywords,
            min_entropy: r.min_entropy,
            min_randomness: r.min_randomness,
            severity: r.severity,
            confidence: r.confidence,
            references: r.references,
            examples: r.examples,
            negative_examples: r.negative_examples,
            provider: r.provider,
            checksum: r.checksum,
            allowlist,
            tags: r.tags,
            family: family.clone(),
            origin: format!("{file}:{line}"),
            has_key_id: names.iter().any(|n| n == "key_id"),
        });
    }
    Ok(rules)
}

fn first_line(s: &str) -> String {
    // regex-syntax errors are multi-line with a caret diagram; the last line says what is wrong.
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_string()
}

fn capture_names(hir: &regex_syntax::hir::Hir) -> Vec<String> {
    use regex_syntax::hir::HirKind;
    let mut out = Vec::new();
    let mut stack = vec![hir];
    while let Some(h) = stack.pop() {
        match h.kind() {
            HirKind::Capture(c) => {
                if let Some(n) = &c.name {
                    out.push(n.to_string());
                }
                stack.push(&c.sub);
            }
            HirKind::Concat(v) | HirKind::Alternation(v) => stack.extend(v.iter()),
            HirKind::Repetition(r) => stack.push(&r.sub),
            _ => {}
        }
    }
    out
}

/// The loaded rules, in a stable order (by id).
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    pub fn new(mut rules: Vec<Rule>) -> RuleSet {
        rules.sort_by(|a, b| a.id.cmp(&b.id));
        RuleSet { rules }
    }

    /// Embedded rules, then each extra directory's `*.toml` files; a later rule with the same id
    /// replaces an earlier one (that is how users override a shipped rule), and `disabled` ids
    /// are dropped. Two rules with one id in the same source are an error.
    pub fn load(
        embedded: bool,
        extra_dirs: &[PathBuf],
        disabled: &[String],
    ) -> Result<RuleSet, RuleError> {
        let mut by_id: HashMap<String, Rule> = HashMap::new();
        if embedded {
            // Parsing and validating ~100 files is most of start-up: do it on all cores; the
            // results are merged in file order, so the outcome does not depend on threads.
            use rayon::prelude::*;
            let parsed: Vec<Vec<Rule>> = embedded_files()
                .par_iter()
                .filter(|(name, _)| !name.contains('/')) // provider definitions live below
                .map(|(name, text)| parse_rule_file(&format!("embedded:rules/{name}"), text))
                .collect::<Result<_, _>>()?;
            for rules in parsed {
                merge(&mut by_id, rules, false)?;
            }
        }
        for dir in extra_dirs {
            for path in rule_files(dir)? {
                let text = fs::read_to_string(&path).map_err(|e| RuleError {
                    file: path.display().to_string(),
                    line: 0,
                    rule: None,
                    message: format!("cannot read: {e}"),
                })?;
                merge(
                    &mut by_id,
                    parse_rule_file(&path.display().to_string(), &text)?,
                    true,
                )?;
            }
        }
        let rules = by_id
            .into_values()
            .filter(|r| !disabled.iter().any(|d| d == &r.id))
            .collect();
        Ok(RuleSet::new(rules))
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn get(&self, idx: usize) -> &Rule {
        &self.rules[idx]
    }

    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.rules.binary_search_by(|r| r.id.as_str().cmp(id)).ok()
    }
}

fn merge(
    by_id: &mut HashMap<String, Rule>,
    rules: Vec<Rule>,
    overriding: bool,
) -> Result<(), RuleError> {
    let mut seen_here: HashMap<String, String> = HashMap::new();
    for r in rules {
        if let Some(prev) = seen_here.insert(r.id.clone(), r.origin.clone()) {
            let (file, line) = split_origin(&r.origin);
            return Err(RuleError {
                file,
                line,
                rule: Some(r.id.clone()),
                message: format!("duplicate id (first defined at {prev})"),
            });
        }
        if !overriding {
            if let Some(prev) = by_id.get(&r.id) {
                let (file, line) = split_origin(&r.origin);
                return Err(RuleError {
                    file,
                    line,
                    rule: Some(r.id.clone()),
                    message: format!("duplicate id (first defined at {})", prev.origin),
                });
            }
        }
        by_id.insert(r.id.clone(), r);
    }
    Ok(())
}

fn split_origin(origin: &str) -> (String, usize) {
    match origin.rsplit_once(':') {
        Some((f, l)) => (f.to_string(), l.parse().unwrap_or(0)),
        None => (origin.to_string(), 0),
    }
}

/// The `*.toml` files directly inside `dir` (or `dir` itself if it is a file), sorted.
fn rule_files(dir: &Path) -> Result<Vec<PathBuf>, RuleError> {
    if dir.is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let entries = fs::read_dir(dir).map_err(|e| RuleError {
        file: dir.display().to_string(),
        line: 0,
        rule: None,
        message: format!("cannot read rules directory: {e}"),
    })?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_rules_load() {
        let set = RuleSet::load(true, &[], &[]).unwrap();
        assert!(set.len() >= 60, "only {} rules", set.len());
    }

    #[test]
    fn missing_secret_capture_names_file_line_and_rule() {
        let text =
            "[[rules]]\nid = \"x-y\"\nname = \"X\"\nkeywords = [\"xy\"]\nregex = 'xy[0-9]+'\n";
        let e = parse_rule_file("r.toml", text).unwrap_err();
        assert_eq!(
            e.to_string(),
            "r.toml:5: rule x-y: regex has no named capture `secret`"
        );
    }

    #[test]
    fn bad_regex_is_an_error_not_a_panic() {
        let text =
            "[[rules]]\nid = \"x\"\nname = \"X\"\nkeywords = [\"xy\"]\nregex = '(?P<secret>[a-'\n";
        let e = parse_rule_file("r.toml", text).unwrap_err();
        assert!(
            e.to_string().starts_with("r.toml:5: rule x: bad regex:"),
            "{e}"
        );
    }

    #[test]
    fn bad_allowlist_regex_is_an_error_naming_the_rule() {
        let text = "[[rules]]\nid = \"x\"\nname = \"X\"\nkeywords = [\"xy\"]\nregex = '(?P<secret>xy[0-9]+)'\n[rules.allowlist]\nregexes = ['(unclosed']\n";
        let e = parse_rule_file("r.toml", text).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("r.toml:2: rule x: bad allowlist regex:"),
            "{e}"
        );
    }

    #[test]
    fn unknown_field_is_rejected_with_line() {
        let text = "[[rules]]\nid = \"x\"\nname = \"X\"\nkeywords = [\"xy\"]\nregex = '(?P<secret>xy)'\nkeyword = []\n";
        let e = parse_rule_file("r.toml", text).unwrap_err();
        assert_eq!(e.line, 6, "{e}");
        assert!(e.message.contains("unknown field `keyword`"), "{e}");
    }

    #[test]
    fn duplicate_ids_in_one_file_are_an_error() {
        let one =
            "[[rules]]\nid = \"x\"\nname = \"X\"\nkeywords = [\"xy\"]\nregex = '(?P<secret>xy)'\n";
        let text = format!("{one}{one}");
        let mut map = HashMap::new();
        let e = merge(&mut map, parse_rule_file("r.toml", &text).unwrap(), true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "r.toml:7: rule x: duplicate id (first defined at r.toml:2)"
        );
    }
}
