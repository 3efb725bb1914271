//! Baselines: the fingerprints of findings accepted at one point in time, so that CI fails only
//! on new leaks. The file is JSON and holds no secret, only fingerprints and where each was.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::cli::{Cli, Command, RuleArgs};
use crate::findings::{Finding, Suppressions};
use crate::run::Outcome;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineEntrySpec {
    pub fingerprint: String,
    pub rule_id: String,
    pub path: String,
    pub line: usize,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineSpec {
    pub version: u32,
    pub findings: Vec<BaselineEntrySpec>,
}

/// Adds the fingerprints recorded in the baseline at `path` to `into`.
pub fn read(path: &Path, into: &mut Suppressions) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read baseline {}", path.display()))?;
    let spec: BaselineSpec = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a keywarden baseline", path.display()))?;
    if spec.version != 1 {
        anyhow::bail!(
            "{}: unsupported baseline version {}",
            path.display(),
            spec.version
        );
    }
    for e in spec.findings {
        into.insert(&e.fingerprint);
    }
    Ok(())
}

/// Writes a baseline of `findings` to `path` (one entry per fingerprint, sorted).
pub fn write(path: &Path, findings: &[Finding]) -> Result<usize> {
    let mut entries: Vec<BaselineEntrySpec> = findings
        .iter()
        .map(|f| BaselineEntrySpec {
            fingerprint: f.fingerprint.clone(),
            rule_id: f.rule_id.clone(),
            path: f.path.clone(),
            line: f.line,
        })
        .collect();
    entries.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
    entries.dedup_by(|a, b| a.fingerprint == b.fingerprint);
    let n = entries.len();
    let text = serde_json::to_string_pretty(&BaselineSpec {
        version: 1,
        findings: entries,
    })?;
    std::fs::write(path, text + "\n")
        .with_context(|| format!("cannot write baseline {}", path.display()))?;
    Ok(n)
}

/// `keywarden baseline create [--git] FILE`: scans like `keywarden scan` (the working tree, or
/// the history with `--git`) and records every finding's fingerprint.
pub fn create(
    file: &Path,
    git: bool,
    path: Option<std::path::PathBuf>,
    rules: &RuleArgs,
) -> Result<Outcome> {
    // Built through the parser so that every scan flag keeps its default.
    let mut argv: Vec<std::ffi::OsString> = vec!["keywarden".into(), "scan".into()];
    if git {
        argv.push("--git".into());
    }
    if let Some(c) = &rules.config {
        argv.push("--config".into());
        argv.push(c.into());
    }
    if rules.no_config {
        argv.push("--no-config".into());
    }
    for r in &rules.rules {
        argv.push("--rules".into());
        argv.push(r.into());
    }
    argv.push("--".into());
    argv.push(path.unwrap_or_else(|| ".".into()).into());
    let cli = <Cli as clap::Parser>::try_parse_from(argv).context("bad baseline arguments")?;
    let Command::Scan(args) = cli.command else {
        unreachable!("parsed a scan command");
    };
    let cfg = crate::config::ScanConfig::from_cli(&args)?;
    let out = if args.git.history() {
        crate::run::git_scan(&cfg, &args.git)?
    } else {
        crate::scan::scan_tree(&cfg.matcher, &cfg.walk)
    };
    if !out.summary.errors.is_empty() {
        for e in &out.summary.errors {
            tracing::warn!("cannot scan {}: {}", e.path, e.message);
        }
    }
    let n = write(file, &out.findings)?;
    eprintln!(
        "wrote {n} fingerprint{} to {}",
        if n == 1 { "" } else { "s" },
        file.display()
    );
    Ok(Outcome::Clean)
}
