//! JSON and JSON-lines reports: the contract other tools parse (see DESIGN.md).

use std::io::{self, Write};

use serde_json::{json, Map, Value};

use super::ReportOptions;
use crate::findings::{Finding, Summary};

/// One finding as a JSON object, secret redacted unless `show_secrets`.
pub fn finding_value(f: &Finding, show_secrets: bool) -> Value {
    let mut m = Map::new();
    m.insert("rule_id".into(), json!(f.rule_id));
    m.insert("rule_name".into(), json!(f.rule_name));
    m.insert("path".into(), json!(f.path));
    if let Some(inner) = &f.inner_path {
        m.insert("inner_path".into(), json!(inner));
    }
    m.insert("line".into(), json!(f.line));
    m.insert("column".into(), json!(f.column));
    m.insert("end_line".into(), json!(f.end_line));
    m.insert("end_column".into(), json!(f.end_column));
    m.insert("secret".into(), json!(f.secret_text(show_secrets)));
    m.insert("secret_sha256".into(), json!(f.secret_sha256));
    if let Some(k) = &f.key_id {
        m.insert("key_id".into(), json!(k));
    }
    m.insert("snippet".into(), json!(f.snippet_text(show_secrets)));
    m.insert("severity".into(), json!(f.severity));
    m.insert("confidence".into(), json!(f.confidence));
    m.insert("entropy".into(), json!(f.entropy));
    m.insert("client_side".into(), json!(f.client_side));
    m.insert("fingerprint".into(), json!(f.fingerprint));
    if let Some(d) = &f.decoded {
        m.insert("decoded".into(), json!(d));
    }
    if let Some(c) = &f.commit {
        m.insert("commit".into(), json!(c.commit));
        m.insert("author".into(), json!(c.author));
        m.insert("email".into(), json!(c.email));
        m.insert("date".into(), json!(c.date));
        m.insert("message".into(), json!(c.message));
    }
    if !f.occurrences.is_empty() {
        m.insert("occurrences".into(), json!(f.occurrences));
    }
    if let Some(v) = &f.validation {
        m.insert("validation".into(), json!(v));
    }
    Value::Object(m)
}

pub fn write_json(
    out: &mut dyn Write,
    opts: &ReportOptions,
    findings: &[Finding],
    summary: &Summary,
) -> io::Result<()> {
    let doc = json!({
        "version": 1,
        "findings": findings.iter().map(|f| finding_value(f, opts.show_secrets)).collect::<Vec<_>>(),
        "summary": summary,
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

pub fn write_jsonl(
    out: &mut dyn Write,
    opts: &ReportOptions,
    findings: &[Finding],
) -> io::Result<()> {
    for f in findings {
        serde_json::to_writer(&mut *out, &finding_value(f, opts.show_secrets))?;
        writeln!(out)?;
    }
    Ok(())
}
