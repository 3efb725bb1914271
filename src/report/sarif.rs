//! SARIF 2.1.0 as GitHub code scanning accepts it: the rules that fired in
//! `tool.driver.rules`, one result per finding with a region and a partial fingerprint.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::{json, Value};

use super::ReportOptions;
use crate::findings::Finding;
use crate::rules::{RuleSet, Severity};

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// GitHub maps `security-severity` scores to its critical/high/medium/low labels.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
    }
}

/// A relative path as a URI reference: `/`-separated, with characters that URIs reserve escaped.
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.replace('\\', "/").bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn write(
    out: &mut dyn Write,
    opts: &ReportOptions,
    rules: &RuleSet,
    findings: &[Finding],
) -> io::Result<()> {
    let mut used: BTreeMap<&str, usize> = BTreeMap::new();
    for f in findings {
        used.entry(f.rule_id.as_str()).or_insert(0);
    }
    let mut driver_rules = Vec::new();
    for (i, (id, slot)) in used.iter_mut().enumerate() {
        *slot = i;
        let rule = rules.index_of(id).map(|r| rules.get(r));
        let name = rule.map(|r| r.name.as_str()).unwrap_or(id);
        let severity = rule.map(|r| r.severity).unwrap_or(Severity::High);
        let mut tags = vec!["security".to_string(), "secret".to_string()];
        if let Some(r) = rule {
            tags.push(r.family.clone());
            tags.extend(r.tags.iter().cloned());
        }
        let mut entry = json!({
            "id": id,
            "name": pascal(id),
            "shortDescription": {"text": format!("{name} detected")},
            "fullDescription": {"text": format!("A {name} was found in the code. Revoke it, replace it with one kept outside the repository, and remove it from history.")},
            "defaultConfiguration": {"level": level(severity)},
            "properties": {"tags": tags, "security-severity": security_severity(severity), "precision": "high"},
        });
        if let Some(help) = rule.and_then(|r| r.references.first()) {
            entry["helpUri"] = json!(help);
        }
        driver_rules.push(entry);
    }
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let mut path = f.path.clone();
            if let Some(inner) = &f.inner_path {
                path = format!("{path}#{inner}");
            }
            let mut message = format!("{} found: {}", f.rule_name, f.secret_text(opts.show_secrets));
            if f.client_side {
                message.push_str(" (in client-side code, readable by anyone who loads the page)");
            }
            let mut result = json!({
                "ruleId": f.rule_id,
                "ruleIndex": used[f.rule_id.as_str()],
                "level": level(f.severity),
                "message": {"text": message},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri(&f.path), "uriBaseId": "%SRCROOT%"},
                        "region": {
                            "startLine": f.line,
                            "startColumn": f.column,
                            "endLine": f.end_line,
                            "endColumn": f.end_column,
                            "snippet": {"text": f.snippet_text(opts.show_secrets)},
                        }
                    }
                }],
                "partialFingerprints": {"keywarden/v1": f.fingerprint},
                "properties": {"severity": f.severity, "confidence": f.confidence, "clientSide": f.client_side, "sourcePath": path},
            });
            if let Some(c) = &f.commit {
                result["properties"]["commit"] = json!(c.commit);
                result["properties"]["author"] = json!(c.author);
                result["properties"]["date"] = json!(c.date);
                result["properties"]["occurrences"] = json!(f.occurrences.len().max(1));
            }
            if let Some(d) = &f.decoded {
                result["properties"]["decoded"] = json!(d);
            }
            result
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "keywarden",
                "informationUri": "https://github.com/keywarden/keywarden",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "version": env!("CARGO_PKG_VERSION"),
                "rules": driver_rules,
            }},
            "results": results,
            "columnKind": "unicodeCodePoints",
        }]
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

fn pascal(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}
