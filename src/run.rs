//! Runs one subcommand from parsed flags and says how it went. This is the wiring layer: it
//! builds configurations (through `config`) and connects sources, matcher and reports.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::cli::{
    BaselineCommand, Command, FormatArg, GitArgs, HookCommand, RuleArgs, RulesCommand, ScanArgs,
};
use crate::config::{FileConfig, ScanConfig};
use crate::findings::Finding;
use crate::matcher::{Matcher, SecretFilter};
use crate::scan::{self, ScanOutput};
use crate::{report, terminal};

/// How a command ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing found (exit 0).
    Clean,
    /// Findings or alerts (exit 1).
    Found,
    /// Ran, but something could not be read (exit 2).
    Failed,
}

pub fn run(command: Command) -> Result<Outcome> {
    match command {
        Command::Scan(args) => scan(&args),
        Command::Rules(RulesCommand::List { rules, format }) => rules_list(&rules, format),
        Command::Rules(RulesCommand::Check { rules }) => rules_check(&rules),
        Command::Validate(args) => crate::act::validate_command(&args),
        Command::Revoke(args) => crate::act::revoke_command(&args),
        Command::Monitor(args) => crate::monitor::run(&args),
        Command::Hook(HookCommand::Install { force, repo }) => hook_install(force, repo),
        Command::Baseline(BaselineCommand::Create {
            file,
            git,
            path,
            rules,
        }) => crate::baseline::create(&file, git, path, &rules),
    }
}

/// Opens `--output` or stdout, buffered.
pub fn output(path: &Option<PathBuf>) -> Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    })
}

/// Drops suppressed findings, counting them in the summary.
pub fn suppress(cfg: &ScanConfig, out: &mut ScanOutput) {
    let before = out.findings.len();
    out.findings
        .retain(|f: &Finding| !cfg.suppressions.contains(&f.fingerprint));
    out.summary.suppressed += (before - out.findings.len()) as u64;
    out.summary.findings = out.findings.len();
}

pub fn outcome(out: &ScanOutput) -> Outcome {
    if !out.findings.is_empty() {
        Outcome::Found
    } else if !out.summary.errors.is_empty() {
        Outcome::Failed
    } else {
        Outcome::Clean
    }
}

fn scan(args: &ScanArgs) -> Result<Outcome> {
    let cfg = ScanConfig::from_cli(args)?;
    let mut out = if args.git.staged || args.git.history() {
        git_scan(&cfg, &args.git)?
    } else if cfg.stdin {
        scan::scan_reader(
            &cfg.matcher,
            "-",
            io::stdin().lock(),
            cfg.walk.max_file_size,
        )
    } else {
        scan::scan_tree(&cfg.matcher, &cfg.walk)
    };
    suppress(&cfg, &mut out);
    if args.validate {
        crate::act::validate_findings(
            &mut out.findings,
            &cfg.rules,
            &args.provider,
            args.concurrency,
        )?;
    }
    let mut w = output(&cfg.output)?;
    report::write(&mut w, &cfg.report, &cfg.rules, &out.findings, &out.summary)?;
    w.flush()?;
    if args.git.staged && !out.findings.is_empty() {
        eprintln!("{}", crate::sources::staged::BLOCKED_HINT);
    }
    Ok(outcome(&out))
}

/// History (`--git`, `--branch`, `--since`, `--range`) and staged scans.
pub fn git_scan(cfg: &ScanConfig, g: &GitArgs) -> Result<ScanOutput> {
    if cfg.stdin || cfg.walk.roots.len() > 1 {
        anyhow::bail!("a git scan takes one repository path");
    }
    let repo = cfg.walk.roots[0].clone();
    if g.staged {
        return crate::sources::staged::scan_staged(
            &cfg.matcher,
            &repo,
            cfg.walk.max_file_size,
            cfg.walk.exclude.as_ref(),
        );
    }
    let opts = crate::sources::git::HistoryOptions {
        repo,
        branch: g.branch.clone(),
        since: g.since.clone(),
        range: g.range.clone(),
        max_blob_size: cfg.walk.max_file_size,
        threads: cfg.walk.threads,
        exclude: cfg.walk.exclude.clone(),
        progress: crate::sources::git::progress_wanted(),
    };
    crate::sources::git::scan_history(&cfg.matcher, &opts)
}

fn hook_install(force: bool, repo: Option<PathBuf>) -> Result<Outcome> {
    let exe = std::env::current_exe().context("cannot find the keywarden binary's path")?;
    let repo = repo.unwrap_or_else(|| PathBuf::from("."));
    match crate::hook::install(&repo, &exe, force)? {
        crate::hook::Installed::Fresh(hook) => eprintln!("installed {}", hook.display()),
        crate::hook::Installed::Chained { hook, local } => eprintln!(
            "installed {}; the previous hook is now {} and runs first",
            hook.display(),
            local.display()
        ),
    }
    Ok(Outcome::Clean)
}

fn rule_config(args: &RuleArgs) -> Result<FileConfig> {
    FileConfig::discover(args, &PathBuf::from("."))
}

fn rules_list(args: &RuleArgs, format: FormatArg) -> Result<Outcome> {
    let file = rule_config(args)?;
    let rules = file.rule_set(args)?;
    let mut w = output(&None)?;
    match format {
        FormatArg::Json | FormatArg::Jsonl => {
            let list: Vec<serde_json::Value> = rules
                .rules()
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "id": r.id, "name": r.name, "family": r.family, "severity": r.severity,
                        "confidence": r.confidence, "keywords": r.keywords, "provider": r.provider,
                        "references": r.references, "origin": r.origin,
                    })
                })
                .collect();
            if format == FormatArg::Json {
                serde_json::to_writer_pretty(&mut w, &list)?;
                writeln!(w)?;
            } else {
                for r in list {
                    serde_json::to_writer(&mut w, &r)?;
                    writeln!(w)?;
                }
            }
        }
        _ => {
            for r in rules.rules() {
                writeln!(
                    w,
                    "{:<44} {:<9} {:<12} {}",
                    r.id,
                    r.severity.as_str(),
                    r.family,
                    terminal::escape(&r.name)
                )?;
            }
            writeln!(w, "{} rules", rules.len())?;
        }
    }
    w.flush()?;
    Ok(Outcome::Clean)
}

fn rules_check(args: &RuleArgs) -> Result<Outcome> {
    let file = rule_config(args)?;
    let rules = std::sync::Arc::new(file.rule_set(args)?);
    let matcher = Matcher::new(rules.clone(), SecretFilter::default());
    let failures = matcher.check_examples();
    let examples: usize = rules
        .rules()
        .iter()
        .map(|r| r.examples.len() + r.negative_examples.len())
        .sum();
    for f in &failures {
        eprintln!(
            "{}: rule {}: {}",
            f.origin,
            f.rule,
            terminal::escape(&f.problem)
        );
    }
    if failures.is_empty() {
        println!("{} rules, {examples} examples: all pass", rules.len());
        Ok(Outcome::Clean)
    } else {
        println!(
            "{} rules, {examples} examples: {} failures",
            rules.len(),
            failures.len()
        );
        Ok(Outcome::Failed)
    }
}
