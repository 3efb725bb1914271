//! Report writers. They only format findings; what to show was decided before.

mod human;
mod json;
mod sarif;

use std::io::{self, Write};

use crate::findings::{Finding, Summary};
use crate::rules::RuleSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Jsonl,
    Sarif,
}

pub struct ReportOptions {
    pub format: Format,
    pub show_secrets: bool,
    pub color: bool,
    /// Printed after the findings by the human format (e.g. how to allow a false positive).
    pub hint: Option<String>,
}

/// Writes the whole report for `findings` to `out`.
pub fn write(
    out: &mut dyn Write,
    opts: &ReportOptions,
    rules: &RuleSet,
    findings: &[Finding],
    summary: &Summary,
) -> io::Result<()> {
    match opts.format {
        Format::Human => human::write(out, opts, findings, summary),
        Format::Json => json::write_json(out, opts, findings, summary),
        Format::Jsonl => json::write_jsonl(out, opts, findings),
        Format::Sarif => sarif::write(out, opts, rules, findings),
    }
}

pub use json::finding_value;
