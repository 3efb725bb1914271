//! The default report for people: grouped by file, coloured on a terminal, secrets redacted.

use std::io::{self, Write};

use super::ReportOptions;
use crate::findings::{Finding, Summary};
use crate::rules::Severity;
use crate::terminal::{escape, Style};

fn severity_code(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "1;31",
        Severity::High => "31",
        Severity::Medium => "33",
        Severity::Low => "36",
    }
}

pub fn write(
    out: &mut dyn Write,
    opts: &ReportOptions,
    findings: &[Finding],
    summary: &Summary,
) -> io::Result<()> {
    let style = Style { color: opts.color };
    let mut current: Option<(&str, Option<&str>)> = None;
    for f in findings {
        let key = (f.path.as_str(), f.inner_path.as_deref());
        if current != Some(key) {
            if current.is_some() {
                writeln!(out)?;
            }
            let mut heading = escape(&f.path);
            if let Some(inner) = &f.inner_path {
                heading.push_str(&format!(" (source {})", escape(inner)));
            }
            writeln!(out, "{}", style.paint("1;35", &heading))?;
            current = Some(key);
        }
        let sev = style.paint(severity_code(f.severity), f.severity.as_str());
        let mut tags = Vec::new();
        if f.client_side {
            tags.push("client-side".to_string());
        }
        if let Some(v) = &f.validation {
            tags.push(v.clone());
        }
        if let Some(d) = &f.decoded {
            tags.push(format!("decoded: {d}"));
        }
        let tags = if tags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", tags.join(", "))
        };
        writeln!(
            out,
            "  {}:{}  {}  {} ({}, {} confidence){tags}",
            f.line,
            f.column,
            style.paint("1", &f.rule_id),
            escape(&f.rule_name),
            sev,
            f.confidence
        )?;
        writeln!(
            out,
            "    secret: {}  fingerprint: {}",
            escape(&f.secret_text(opts.show_secrets)),
            f.fingerprint
        )?;
        if let Some(k) = &f.key_id {
            writeln!(out, "    key id: {}", escape(k))?;
        }
        if let Some(c) = &f.commit {
            writeln!(
                out,
                "    commit: {} {} <{}> {}",
                &c.commit[..c.commit.len().min(12)],
                escape(&c.author),
                escape(&c.email),
                c.date
            )?;
            if f.occurrences.len() > 1 {
                writeln!(out, "    in {} commits", f.occurrences.len())?;
            }
        }
        writeln!(
            out,
            "    {}",
            style.paint("2", &escape(&f.snippet_text(opts.show_secrets)))
        )?;
    }
    if !findings.is_empty() {
        writeln!(out)?;
    }
    let mut line = format!(
        "{} finding{} in {} file{} ({} bytes)",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" },
        summary.files_scanned,
        if summary.files_scanned == 1 { "" } else { "s" },
        summary.bytes_scanned
    );
    if let Some(b) = summary.blobs_scanned {
        line.push_str(&format!(", {b} blobs"));
    }
    let skipped = [
        (summary.skipped_binary, "binary"),
        (summary.skipped_too_large, "too large"),
        (summary.skipped_excluded, "allowlisted"),
        (summary.suppressed, "suppressed by baseline/ignore"),
    ];
    for (n, what) in skipped {
        if n > 0 {
            line.push_str(&format!(", {n} {what}"));
        }
    }
    writeln!(out, "{line}")?;
    if let Some(g) = &summary.git {
        let mut git = format!(
            "git: {} commits, {} distinct blobs, {} scanned",
            g.commits, g.blobs_seen, g.blobs_scanned
        );
        let notes = [
            (g.corrupt_objects, "unreadable objects"),
            (g.submodules, "submodule entries skipped"),
            (g.non_utf8_paths, "non-UTF-8 paths"),
        ];
        for (n, what) in notes {
            if n > 0 {
                git.push_str(&format!(", {n} {what}"));
            }
        }
        if g.shallow {
            git.push_str(", shallow clone");
        }
        writeln!(out, "{git}")?;
    }
    for e in &summary.errors {
        writeln!(
            out,
            "{} {}: {}",
            style.paint("33", "error:"),
            escape(&e.path),
            escape(&e.message)
        )?;
    }
    if let (false, Some(hint)) = (findings.is_empty(), &opts.hint) {
        writeln!(out, "{hint}")?;
    }
    Ok(())
}
