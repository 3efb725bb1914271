//! Detection quality benchmark: precision and recall by rule family on a labelled corpus that
//! is generated from the rules themselves, plus false positives per 10,000 files of a real,
//! clean codebase.
//!
//! Corpus: every rule's `examples` are planted (plain) into many file types and languages
//! (.py .js .ts .go .java .rb .yaml .json .env .tf .xml .properties .ipynb .html, minified JS),
//! and single-line examples again base64-encoded (a Kubernetes Secret), percent-encoded (a URL
//! query) and `\x`-escaped (a JS string). Every rule's `negative_examples` and a set of
//! generated non-secret look-alikes (identifiers, paths, UUIDs, hashes, versions, lockfile
//! lines, placeholders, base64 of words) are planted as negatives. A planted secret counts as
//! found when a finding's location overlaps it (any rule; the report also says when the rule
//! that found it is of another family); every finding that overlaps no planted secret is a
//! false positive.
//!
//! Run: `cargo bench --bench quality` (writes target/quality/report.md and prints it).
//! Options after `--`: `--real DIR` also scans DIR as a clean codebase (e.g.
//! `~/.cargo/registry/src`), `--rules DIR` adds a rule directory, `--out FILE`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use keywarden::findings::Finding;
use keywarden::matcher::{Matcher, Scratch, SecretFilter};
use keywarden::rules::RuleSet;
use keywarden::scan::{self, Worker};
use keywarden::sources::fs::WalkOptions;
use keywarden::sources::Provenance;

/// A generated file and what is planted in it.
struct Doc {
    path: String,
    text: String,
    /// Planted secrets: byte range of the secret in `text`, byte range of the whole planted
    /// example (findings inside it are not false positives), and the planted rule's index.
    positives: Vec<(Range<usize>, Range<usize>, usize)>,
    /// For a planted negative example: its rule (only that rule's findings are false
    /// positives there; other rules may rightly find a secret in another rule's negative).
    negative_of: Option<usize>,
}

#[derive(Default, Clone)]
struct Tally {
    rules: usize,
    planted: usize,
    found: usize,
    found_by_other_family: usize,
    findings: usize,
    false_positives: usize,
}

/// Deterministic pseudo-random numbers (xorshift), so the corpus is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn word(&mut self) -> &'static str {
        WORDS[(self.next() % WORDS.len() as u64) as usize]
    }
}

const WORDS: &[&str] = &[
    "user", "account", "service", "config", "handler", "request", "response", "token", "session",
    "cache", "client", "server", "message", "payload", "router", "metrics", "worker", "queue",
    "retry", "timeout", "buffer", "parser", "render", "widget", "profile", "billing", "invoice",
    "order", "product", "search", "index", "schema", "field", "value", "secret", "password",
    "manager", "provider", "factory", "builder", "context", "logger", "event", "stream",
];

const EXTS: &[&str] = &[
    "py",
    "js",
    "ts",
    "go",
    "java",
    "rb",
    "yaml",
    "json",
    "env",
    "tf",
    "xml",
    "properties",
    "ipynb",
    "html",
    "min.js",
];

fn json_escape(s: &str) -> String {
    serde_json::to_string(s).expect("string")
}

/// Embeds `line` (an example, possibly multi-line) in a file of type `ext`. Returns the text
/// and the byte offset where `line`'s (possibly escaped) form starts, with the escaped form.
fn embed(ext: &str, line: &str, rng: &mut Rng) -> Option<(String, usize, String)> {
    let multi = line.contains('\n');
    let w1 = rng.word();
    let w2 = rng.word();
    let (before, body, after): (String, String, String) = match ext {
        "py" if multi => (
            format!("import os\n\n{w1}_{w2} = \"\"\"\n"),
            line.into(),
            "\n\"\"\"\n".into(),
        ),
        "py" => (
            format!("import os\n\ndef load_{w1}():\n    # {w2}\n    "),
            line.into(),
            "\n    return None\n".into(),
        ),
        "js" | "ts" if multi => (format!("const {w1} = `\n"), line.into(), "\n`;\n".into()),
        "js" => (
            format!("'use strict';\nconst {w1} = require('{w2}');\n// "),
            line.into(),
            "\nmodule.exports = {w1};\n".replace("{w1}", w1),
        ),
        "ts" => (
            format!("export function {w1}{w2}(): void {{\n  // "),
            line.into(),
            "\n}\n".into(),
        ),
        "go" if multi => (
            "package main\n\nconst key = `\n".into(),
            line.into(),
            "\n`\n".into(),
        ),
        "go" => (
            format!("package main\n\nfunc {w1}() {{\n\t// "),
            line.into(),
            "\n}\n".into(),
        ),
        "java" if multi => return None,
        "java" => (
            format!("public class {w1}Config {{\n    // "),
            line.into(),
            "\n}\n".into(),
        ),
        "rb" if multi => ("KEY = <<~PEM\n".into(), line.into(), "\nPEM\n".into()),
        "rb" => (format!("class {w1}\n  # "), line.into(), "\nend\n".into()),
        "yaml" if multi => return None,
        "yaml" => (
            format!("# {w1} settings\n{w2}:\n  enabled: true\n"),
            line.into(),
            "\n".into(),
        ),
        "json" if multi => return None,
        "json" => {
            let esc = json_escape(line);
            (
                format!("{{\n  \"{w1}\": 1,\n  \"note\": "),
                esc,
                "\n}\n".into(),
            )
        }
        "ipynb" => {
            // As notebooks store cells: one JSON string per source line, each but the last
            // ending in an escaped newline.
            let n = line.split('\n').count();
            let esc = line
                .split('\n')
                .enumerate()
                .map(|(i, l)| {
                    json_escape(&if i + 1 < n {
                        format!("{l}\n")
                    } else {
                        l.to_string()
                    })
                })
                .collect::<Vec<_>>()
                .join(",\n    ");
            (
                "{\"cells\": [{\"cell_type\": \"code\", \"source\": [\"import requests\\n\", "
                    .into(),
                esc,
                "]}], \"nbformat\": 4}\n".into(),
            )
        }
        "env" if multi => return None,
        "env" => (
            format!("{}_ENABLED=true\n", w1.to_uppercase()),
            line.into(),
            "\nLOG_LEVEL=info\n".into(),
        ),
        "tf" if multi => (
            "locals {\n  key = <<EOF\n".into(),
            line.into(),
            "\nEOF\n}\n".into(),
        ),
        "tf" => (
            format!("resource \"null_resource\" \"{w1}\" {{\n  # "),
            line.into(),
            "\n}\n".into(),
        ),
        "xml" if multi || line.contains("--") => return None,
        "xml" => (
            format!("<?xml version=\"1.0\"?>\n<{w1}>\n  <!-- "),
            line.into(),
            " -->\n</".to_string() + w1 + ">\n",
        ),
        "properties" if multi => return None,
        "properties" => (
            format!("{w1}.{w2}.enabled=true\n"),
            line.into(),
            "\n".into(),
        ),
        "html" if multi => return None,
        "html" => (
            "<!doctype html>\n<html><body>\n<script>\n// ".into(),
            line.into(),
            "\n</script>\n</body></html>\n".into(),
        ),
        "min.js" if multi => return None,
        "min.js" => {
            let mut pre = String::from("!function(e){");
            for i in 0..60 {
                write!(pre, "var a{i}=e.{}({i});", rng.word()).unwrap();
            }
            pre.push_str("/*");
            (pre, line.into(), "*/}(window);".into())
        }
        _ => return None,
    };
    let at = before.len();
    Some((format!("{before}{body}{after}"), at, body))
}

fn percent_encode(s: &str) -> String {
    // Every byte but letters and digits; a value of only letters and digits gets its first
    // four bytes encoded, as obfuscated strings do.
    let all_alnum = s.bytes().all(|c| c.is_ascii_alphanumeric());
    let mut out = String::new();
    for (i, b) in s.bytes().enumerate() {
        if b.is_ascii_alphanumeric() && !(all_alnum && i < 4) {
            out.push(b as char);
        } else {
            write!(out, "%{b:02X}").unwrap();
        }
    }
    out
}

/// The planted variants of one example: (path suffix, text, secret range) for each.
type Variant = (String, String, Range<usize>, Range<usize>);

fn variants(example: &str, secret: Range<usize>, rng: &mut Rng) -> Vec<Variant> {
    let mut out = Vec::new();
    let secret_text = &example[secret.clone()];
    for ext in EXTS {
        let Some((text, at, body)) = embed(ext, example, rng) else {
            continue;
        };
        let region = at..at + body.len();
        let range = if body == example {
            at + secret.start..at + secret.end
        } else {
            // Escaped (JSON string): find the escaped secret inside the escaped example.
            let esc = json_escape(secret_text);
            let esc = &esc[1..esc.len() - 1];
            match body.find(esc) {
                Some(i) => at + i..at + i + esc.len(),
                // A multi-line secret split over several JSON strings: expect a finding
                // anywhere in the planted example.
                None => region.clone(),
            }
        };
        out.push((ext.to_string(), text, range, region));
    }
    // Encoded variants: the whole example encoded, the finding expected on the encoded span.
    let b64 = base64::engine::general_purpose::STANDARD.encode(example);
    let pre =
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\ntype: Opaque\ndata:\n  config: ";
    out.push((
        "b64.yaml".into(),
        format!("{pre}{b64}\n"),
        pre.len()..pre.len() + b64.len(),
        pre.len()..pre.len() + b64.len(),
    ));
    if !example.contains('\n') {
        let pct = percent_encode(example);
        let pre = "callback = \"https://hooks.internal/cb?state=";
        out.push((
            "pct.py".into(),
            format!("{pre}{pct}\"\n"),
            pre.len()..pre.len() + pct.len(),
            pre.len()..pre.len() + pct.len(),
        ));
        let esc: String = example.bytes().map(|b| format!("\\x{b:02x}")).collect();
        let pre = "const blob = \"";
        out.push((
            "esc.js".into(),
            format!("{pre}{esc}\";\n"),
            pre.len()..pre.len() + esc.len(),
            pre.len()..pre.len() + esc.len(),
        ));
    }
    out
}

/// Generated non-secret text that looks like secrets to a naive scanner.
fn lookalikes(rng: &mut Rng, n: usize) -> Vec<Doc> {
    let hex = |rng: &mut Rng, len: usize| -> String {
        (0..len)
            .map(|_| b"0123456789abcdef"[(rng.next() % 16) as usize] as char)
            .collect()
    };
    let mut docs = Vec::new();
    for i in 0..n {
        let (a, b, c) = (rng.word(), rng.word(), rng.word());
        let uuid = format!(
            "{}-{}-4{}-a{}-{}",
            hex(rng, 8),
            hex(rng, 4),
            hex(rng, 3),
            hex(rng, 3),
            hex(rng, 12)
        );
        let sha = hex(rng, 40);
        let sha256 = hex(rng, 64);
        let b64words =
            base64::engine::general_purpose::STANDARD.encode(format!("{a}-{b}-{c}-password"));
        let camel = format!("{a}{}{}", capital(b), capital(c));
        let text = match i % 8 {
            0 => format!(
                "import os\n\n{a}_{b}_token = os.environ[\"{}_TOKEN\"]\npassword = \"changeme\"\nsecret_name = \"{a}-{b}-secret\"\nrequest_id = \"{uuid}\"\ncommit = \"{sha}\"\nVERSION = \"v2.{i}.0-rc.1\"\n",
                a.to_uppercase()
            ),
            1 => format!(
                "const {camel} = require('./{a}/{b}');\nconst tokenType = 'bearer';\nconst secretKeyPath = '/etc/{a}/{b}.key';\nmodule.exports = {{ {camel}, accessToken: process.env.ACCESS_TOKEN }};\n"
            ),
            2 => format!(
                "{{\n  \"name\": \"{a}-{b}\",\n  \"version\": \"1.{i}.3\",\n  \"integrity\": \"sha512-{}\",\n  \"id\": \"{uuid}\",\n  \"token\": \"{{{{ token }}}}\"\n}}\n",
                base64::engine::general_purpose::STANDARD.encode(hex(rng, 64))
            ),
            3 => format!(
                "{a}:\n  password: ${{{}_PASSWORD}}\n  secretName: {a}-{b}-credentials\n  checksum: sha256:{sha256}\n  image: registry.internal/{a}/{b}:1.{i}.0\n  token: {b64words}\n",
                b.to_uppercase()
            ),
            4 => format!(
                "package {a}\n\nfunc {camel}(ctx context.Context) error {{\n\ttoken := ctx.Value(\"{b}\")\n\tpassword := cfg.Password\n\treturn nil\n}}\n"
            ),
            5 => format!(
                "[[package]]\nname = \"{a}-{b}\"\nversion = \"0.{i}.1\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"{sha256}\"\n"
            ),
            6 => format!(
                "# {a} {b} {c}\nAPI_KEY=your_api_key_here\nSECRET_KEY=<insert-secret>\nDB_PASSWORD=\nAUTH_TOKEN=${{AUTH_TOKEN}}\nGIT_SHA={sha}\n"
            ),
            _ => format!(
                "<configuration>\n  <appSettings>\n    <add key=\"{camel}\" value=\"{a}.{b}.{c}\" />\n    <add key=\"TokenEndpoint\" value=\"https://login.internal/{a}/oauth2/token\" />\n  </appSettings>\n</configuration>\n"
            ),
        };
        let ext = ["py", "js", "json", "yaml", "go", "toml", "env", "xml"][i % 8];
        docs.push(Doc {
            path: format!("lookalike/{i}.{ext}"),
            text,
            positives: Vec::new(),
            negative_of: None,
        });
    }
    docs
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// (line, column) of byte offsets, 1-based, columns in characters (as findings report them).
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, text[line_start..offset].chars().count() + 1)
}

fn overlaps(f: &Finding, a: (usize, usize), b: (usize, usize)) -> bool {
    let fa = (f.line, f.column);
    let fb = (f.end_line, f.end_column);
    fa < b && a < fb
}

struct Args {
    real: Option<PathBuf>,
    rules: Vec<PathBuf>,
    out: PathBuf,
}

fn args() -> Args {
    let mut a = Args {
        real: None,
        rules: Vec::new(),
        out: PathBuf::from("target/quality/report.md"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--real" => a.real = it.next().map(PathBuf::from),
            "--rules" => a.rules.extend(it.next().map(PathBuf::from)),
            "--out" => a.out = it.next().map(PathBuf::from).unwrap_or(a.out),
            _ => {} // `cargo bench` passes `--bench`
        }
    }
    a
}

fn main() {
    let args = args();
    let rules = Arc::new(RuleSet::load(true, &args.rules, &[]).expect("rules load"));
    let matcher = Matcher::new(rules.clone(), SecretFilter::default());
    let mut rng = Rng(0x9E3779B97F4A7C15);
    let mut docs: Vec<Doc> = Vec::new();
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut unprovable = Vec::new();
    let mut scratch = Scratch::default();
    let mut raw = Vec::new();
    for (i, rule) in rules.rules().iter().enumerate() {
        tallies.entry(rule.family.clone()).or_default().rules += 1;
        for (k, ex) in rule.examples.iter().enumerate() {
            raw.clear();
            matcher.scan_rule(ex.as_bytes(), i, &mut scratch, &mut raw);
            let Some(m) = raw.first() else {
                unprovable.push(format!("{}: {ex:?}", rule.id));
                continue;
            };
            for (suffix, text, range, region) in variants(ex, m.secret.clone(), &mut rng) {
                docs.push(Doc {
                    path: format!("corpus/{}/{}-{k}.{suffix}", rule.family, rule.id),
                    text,
                    positives: vec![(range, region, i)],
                    negative_of: None,
                });
            }
        }
        for (k, ex) in rule.negative_examples.iter().enumerate() {
            for ext in ["py", "yaml", "json"] {
                if let Some((text, _, _)) = embed(ext, ex, &mut rng) {
                    docs.push(Doc {
                        path: format!("negatives/{}/{}-{k}.{ext}", rule.family, rule.id),
                        text,
                        positives: Vec::new(),
                        negative_of: Some(i),
                    });
                }
            }
        }
    }
    docs.extend(lookalikes(&mut rng, 400));

    let mut worker = Worker::default();
    let mut findings = Vec::new();
    let (mut misses, mut fps, mut other_family) = (Vec::new(), Vec::new(), Vec::new());
    let mut on_other_negatives = Vec::new();
    let mut bytes = 0usize;
    let started = std::time::Instant::now();
    for doc in &docs {
        findings.clear();
        bytes += doc.text.len();
        worker.scan_blob(
            &matcher,
            &Provenance::file(doc.path.clone()),
            doc.text.as_bytes(),
            &mut findings,
        );
        let lc = |r: &Range<usize>| (line_col(&doc.text, r.start), line_col(&doc.text, r.end));
        let planted: Vec<_> = doc
            .positives
            .iter()
            .map(|(secret, region, i)| (lc(secret), lc(region), *i))
            .collect();
        for &((a, b), _, i) in &planted {
            let family = &rules.get(i).family;
            let t = tallies.get_mut(family).expect("family");
            t.planted += 1;
            match findings.iter().find(|f| overlaps(f, a, b)) {
                Some(f) => {
                    t.found += 1;
                    let fam = &rules.get(rules.index_of(&f.rule_id).expect("rule")).family;
                    if fam != family {
                        t.found_by_other_family += 1;
                        other_family.push(format!(
                            "{} planted, {} found: {}",
                            rules.get(i).id,
                            f.rule_id,
                            doc.path
                        ));
                    }
                }
                None => misses.push(format!("{} ({})", doc.path, rules.get(i).id)),
            }
        }
        for f in &findings {
            let idx = rules.index_of(&f.rule_id).expect("rule");
            let expected = planted.iter().any(|&(_, (a, b), _)| overlaps(f, a, b));
            let line = format!("{} in {}:{}: {}", f.rule_id, doc.path, f.line, f.snippet);
            if doc.negative_of.is_some_and(|n| n != idx) {
                // Another rule's negative example: not labelled for this rule.
                on_other_negatives.push(line);
                continue;
            }
            let t = tallies.entry(rules.get(idx).family.clone()).or_default();
            t.findings += 1;
            if !expected {
                t.false_positives += 1;
                fps.push(line);
            }
        }
    }
    let elapsed = started.elapsed();

    let mut md = String::new();
    let total = tallies.values().fold(Tally::default(), |mut acc, t| {
        acc.rules += t.rules;
        acc.planted += t.planted;
        acc.found += t.found;
        acc.found_by_other_family += t.found_by_other_family;
        acc.findings += t.findings;
        acc.false_positives += t.false_positives;
        acc
    });
    writeln!(md, "# keywarden detection quality\n").unwrap();
    writeln!(
        md,
        "{} rules, {} generated files ({} KiB), {} planted secrets, {} negative and look-alike files; scanned in {:.2?}.\n",
        rules.len(),
        docs.len(),
        bytes / 1024,
        total.planted,
        docs.iter().filter(|d| d.positives.is_empty()).count(),
        elapsed
    )
    .unwrap();
    writeln!(md, "| family | rules | planted | found | recall | found by other family | findings | false positives | precision |").unwrap();
    writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|").unwrap();
    let ratio = |a: usize, b: usize| {
        if b == 0 {
            "-".to_string()
        } else {
            format!("{:.3}", a as f64 / b as f64)
        }
    };
    let mut row = |name: &str, t: &Tally| {
        writeln!(
            md,
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |",
            t.rules,
            t.planted,
            t.found,
            ratio(t.found, t.planted),
            t.found_by_other_family,
            t.findings,
            t.false_positives,
            ratio(t.findings - t.false_positives, t.findings)
        )
        .unwrap();
    };
    for (family, t) in &tallies {
        row(family, t);
    }
    row("**all**", &total);
    let list = |md: &mut String, title: &str, items: &[String]| {
        if !items.is_empty() {
            writeln!(md, "\n## {title} ({})\n", items.len()).unwrap();
            for x in items.iter().take(40) {
                writeln!(md, "- `{}`", x.replace('`', "'")).unwrap();
            }
        }
    };
    list(&mut md, "Missed planted secrets", &misses);
    list(&mut md, "False positives", &fps);
    list(&mut md, "Found by a rule of another family", &other_family);
    if !on_other_negatives.is_empty() {
        let mut by_rule: BTreeMap<&str, usize> = BTreeMap::new();
        for x in &on_other_negatives {
            *by_rule
                .entry(x.split(' ').next().unwrap_or(""))
                .or_default() += 1;
        }
        let strict = total.findings - total.false_positives;
        writeln!(
            md,
            "\nStrict precision, counting findings on other rules' negative examples as false: {}/{} = {}. By rule: {}.",
            strict,
            total.findings + on_other_negatives.len(),
            ratio(strict, total.findings + on_other_negatives.len()),
            by_rule
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
        .unwrap();
    }
    list(
        &mut md,
        "Findings on other rules' negative examples (not counted)",
        &on_other_negatives,
    );
    list(
        &mut md,
        "Examples no rule proves (run `rules check`)",
        &unprovable,
    );

    if let Some(dir) = &args.real {
        writeln!(md, "\n## Real codebase: {}\n", dir.display()).unwrap();
        let opts = WalkOptions {
            roots: vec![dir.clone()],
            honour_ignore: true,
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            max_file_size: 64 << 20,
            exclude: None,
            default_exclusions: true,
        };
        let started = std::time::Instant::now();
        let out = scan::scan_tree(
            &Arc::new(Matcher::new(rules.clone(), SecretFilter::default())),
            &opts,
        );
        let files = out.summary.files_scanned.max(1);
        writeln!(
            md,
            "{} files ({} MiB) in {:.1?}; {} findings = **{:.1} per 10,000 files** (every finding in a clean tree counts as a false positive).\n",
            out.summary.files_scanned,
            out.summary.bytes_scanned >> 20,
            started.elapsed(),
            out.findings.len(),
            out.findings.len() as f64 * 10_000.0 / files as f64
        )
        .unwrap();
        let mut by_rule: BTreeMap<&str, usize> = BTreeMap::new();
        for f in &out.findings {
            *by_rule.entry(&f.rule_id).or_default() += 1;
        }
        for (r, n) in &by_rule {
            writeln!(md, "- {r}: {n}").unwrap();
        }
        let items: Vec<String> = out
            .findings
            .iter()
            .map(|f| {
                format!(
                    "{} in {}:{}: {}",
                    f.rule_id,
                    f.path,
                    f.line,
                    f.snippet_text(false)
                )
            })
            .collect();
        list(&mut md, "Findings", &items);
    }

    print!("{md}");
    if let Some(parent) = args.out.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    match std::fs::write(&args.out, &md) {
        Ok(()) => eprintln!("report written to {}", args.out.display()),
        Err(e) => eprintln!("cannot write {}: {e}", args.out.display()),
    }
}
