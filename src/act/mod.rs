//! Acting on exposed and abused keys: validate them with their provider, revoke or regenerate
//! them (dry run unless confirmed, each action in the state database's log), and tell the
//! people who must update their integrations. Providers are data (`rules/providers/*.toml`),
//! not code. This module holds the command entry points; the parts live in submodules.

pub mod flow;
pub mod http;
pub mod notify;
pub mod policy;
pub mod provider;
pub mod revoke;
pub mod validate;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cli::{NotifyArgs, ProviderArgs, RevokeArgs, ValidateArgs};
use crate::config::FileConfig;
use crate::findings::{sha256_hex, Finding, Secret};
use crate::rules::RuleSet;
use crate::run::Outcome;
use crate::state::State;
use http::{Http, HttpOptions};
use notify::{Notice, Notifier, NotifyOptions};
use provider::Providers;
use revoke::{ActionKind, ActionOutcome, Target};
use validate::{Candidate, Validation};

pub fn http_options(a: &ProviderArgs) -> Result<HttpOptions> {
    if !(a.timeout.is_finite() && a.timeout > 0.0) {
        bail!("--timeout must be a positive number of seconds");
    }
    Ok(HttpOptions {
        timeout: Duration::from_secs_f64(a.timeout),
        attempts: a.attempts.max(1),
        backoff: Duration::from_millis(a.retry_delay_ms),
        allow_internal: a.allow_internal,
    })
}

pub fn notify_options(a: &NotifyArgs, timeout: Duration) -> NotifyOptions {
    NotifyOptions {
        desktop: a.notify_desktop,
        webhook: a.webhook.clone(),
        jsonl: a.notify_jsonl.clone(),
        timeout: Some(timeout),
    }
}

/// `$XDG_DATA_HOME/keywarden/state.db` (or `~/.local/share/...`).
pub fn default_state_path() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("keywarden").join("state.db")
}

/// A finding read back from a JSON report.
#[derive(Debug, Clone)]
struct ReportedFinding {
    rule_id: String,
    fingerprint: String,
    key_id: Option<String>,
    /// Only when the report carried it in clear (its hash checks out).
    secret: Option<Secret>,
    secret_sha256: String,
}

fn read_report(path: &Path) -> Result<serde_json::Value> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read findings from stdin")?;
    } else {
        text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read findings {}", path.display()))?;
    }
    let doc: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a keywarden JSON report", path.display()))?;
    if !doc["findings"].is_array() {
        bail!(
            "{}: no \"findings\" array (use scan --format json)",
            path.display()
        );
    }
    Ok(doc)
}

fn reported(f: &serde_json::Value) -> Option<ReportedFinding> {
    let s = |k: &str| f[k].as_str().map(str::to_string);
    let sha = s("secret_sha256")?;
    let secret = s("secret").filter(|v| sha256_hex(v.as_bytes()) == sha);
    Some(ReportedFinding {
        rule_id: s("rule_id")?,
        fingerprint: s("fingerprint").unwrap_or_default(),
        key_id: s("key_id"),
        secret: secret.map(Secret::new),
        secret_sha256: sha,
    })
}

fn load_rules(args: &crate::cli::RuleArgs) -> Result<RuleSet> {
    let file = FileConfig::discover(args, &PathBuf::from("."))?;
    file.rule_set(args)
}

fn rule_provider(rules: &RuleSet, rule_id: &str) -> Option<String> {
    rules
        .index_of(rule_id)
        .and_then(|i| rules.get(i).provider.clone())
}

/// `keywarden validate`: reads a report, adds `validation` to each finding, prints the report.
pub fn validate_command(args: &ValidateArgs) -> Result<Outcome> {
    let mut doc = read_report(&args.findings)?;
    let rules = load_rules(&args.rules)?;
    let providers = Providers::load(&args.provider.providers)?;
    let http = Http::new(http_options(&args.provider)?);
    let mut candidates = Vec::new();
    let mut redacted = 0usize;
    for f in doc["findings"].as_array().into_iter().flatten() {
        let Some(r) = reported(f) else { continue };
        match r.secret {
            Some(secret) => candidates.push(Candidate {
                rule_provider: rule_provider(&rules, &r.rule_id),
                rule_id: r.rule_id,
                secret,
                secret_sha256: r.secret_sha256,
            }),
            None => redacted += 1,
        }
    }
    if redacted > 0 {
        tracing::warn!(
            "{redacted} findings have redacted secrets and stay unknown (scan with --show-secrets to validate them)"
        );
    }
    let results = validate::validate_all(&providers, &http, &candidates, args.concurrency);
    let mut active = 0;
    for f in doc["findings"].as_array_mut().into_iter().flatten() {
        let sha = f["secret_sha256"].as_str().unwrap_or_default().to_string();
        let v = results.get(&sha).copied().unwrap_or(Validation::Unknown);
        if v == Validation::VerifiedActive {
            active += 1;
        }
        // Whatever came in, the secret does not go back out in clear.
        if let Some(s) = f["secret"].as_str().map(crate::findings::redact) {
            f["secret"] = serde_json::Value::String(s);
        }
        if let Some(obj) = f.as_object_mut() {
            obj.remove("snippet");
            obj.insert("validation".into(), v.as_str().into());
        }
    }
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &doc)?;
    writeln!(out)?;
    out.flush()?;
    Ok(if active > 0 {
        Outcome::Found
    } else {
        Outcome::Clean
    })
}

/// `scan --validate`: sets `validation` on each finding.
pub fn validate_findings(
    findings: &mut [Finding],
    rules: &RuleSet,
    provider_args: &ProviderArgs,
    concurrency: usize,
) -> Result<()> {
    let providers = Providers::load(&provider_args.providers)?;
    let http = Http::new(http_options(provider_args)?);
    let candidates: Vec<Candidate> = findings
        .iter()
        .map(|f| Candidate {
            rule_id: f.rule_id.clone(),
            rule_provider: rule_provider(rules, &f.rule_id),
            secret: f.secret.clone(),
            secret_sha256: f.secret_sha256.clone(),
        })
        .collect();
    let results = validate::validate_all(&providers, &http, &candidates, concurrency);
    for f in findings {
        let v = results
            .get(&f.secret_sha256)
            .copied()
            .unwrap_or(Validation::Unknown);
        f.validation = Some(v.as_str().to_string());
    }
    Ok(())
}

/// `keywarden revoke`.
pub fn revoke_command(args: &RevokeArgs) -> Result<Outcome> {
    let providers = Providers::load(&args.provider.providers)?;
    let opts = http_options(&args.provider)?;
    let timeout = opts.timeout;
    let http = Http::new(opts);
    let kind = if args.regenerate {
        ActionKind::Regenerate
    } else {
        ActionKind::Revoke
    };
    let dry_run = !args.yes;
    let state = if !dry_run || args.state.is_some() {
        let p = args.state.clone().unwrap_or_else(default_state_path);
        Some(State::open(&p)?)
    } else {
        None
    };
    let notifier = Notifier::new(notify_options(&args.notify, timeout));

    let mut targets: Vec<(Target, String)> = Vec::new();
    let mut unmatched = Vec::new();
    if let Some(path) = &args.findings {
        let doc = read_report(path)?;
        let rules = load_rules(&args.rules)?;
        let mut seen = HashSet::new();
        for f in doc["findings"].as_array().into_iter().flatten() {
            let Some(r) = reported(f) else { continue };
            if !args.fingerprint.is_empty() && !args.fingerprint.contains(&r.fingerprint) {
                continue;
            }
            if !args.rule.is_empty() && !args.rule.contains(&r.rule_id) {
                continue;
            }
            let rp = rule_provider(&rules, &r.rule_id);
            let Some(p) = providers.for_rule(&r.rule_id, rp.as_deref()) else {
                unmatched.push(r.rule_id.clone());
                continue;
            };
            let t = Target {
                provider: p.id().to_string(),
                key_id: r.key_id.clone(),
                secret: r.secret.clone(),
                rule_id: Some(r.rule_id.clone()),
                fingerprint: Some(r.fingerprint.clone()),
            };
            if seen.insert((t.provider.clone(), t.reference())) {
                let why = format!("{} found by rule {}", args.reason, r.rule_id);
                targets.push((t, why));
            }
        }
    } else if let Some(pid) = &args.provider_id {
        if providers.get(pid).is_none() {
            bail!("unknown provider {pid:?}");
        }
        let secret = match &args.secret_env {
            Some(var) => Some(Secret::new(
                std::env::var(var)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .with_context(|| format!("environment variable {var} is not set"))?,
            )),
            None => None,
        };
        if args.key_id.is_none() && secret.is_none() {
            bail!("--provider needs --key-id or --secret-env");
        }
        targets.push((
            Target {
                provider: pid.clone(),
                key_id: args.key_id.clone(),
                secret,
                rule_id: None,
                fingerprint: None,
            },
            args.reason.clone(),
        ));
    } else if !args.retry_pending {
        bail!(
            "nothing to act on: give --findings FILE, --provider P --key-id ID, or --retry-pending"
        );
    }
    if args.retry_pending {
        if let Some(st) = &state {
            for row in revoke::ActionLog::new(st).unfinished()? {
                let k = if row.action == "regenerate" {
                    ActionKind::Regenerate
                } else {
                    ActionKind::Revoke
                };
                if k != kind
                    || targets
                        .iter()
                        .any(|(t, _)| t.provider == row.provider && t.reference() == row.target)
                {
                    continue;
                }
                targets.push((
                    Target {
                        provider: row.provider.clone(),
                        key_id: row.key_id.clone(),
                        secret: None,
                        rule_id: None,
                        fingerprint: None,
                    },
                    row.reason.clone(),
                ));
            }
        }
    }

    let mut out = std::io::stdout().lock();
    let mut failed = 0usize;
    for rule in &unmatched {
        writeln!(
            out,
            "no provider definition knows rule {rule}: revoke it by hand"
        )?;
        failed += 1;
    }
    for (t, why) in &targets {
        let p = providers
            .get(&t.provider)
            .with_context(|| format!("unknown provider {}", t.provider))?;
        let outcome = revoke::perform(state.as_ref(), p, &http, kind, t, why, dry_run)?;
        let verb = kind.as_str();
        writeln!(
            out,
            "{verb} {} key {}: {}",
            p.id(),
            t.label(),
            outcome.status()
        )?;
        for line in outcome.detail().lines() {
            writeln!(out, "  {line}")?;
        }
        if let ActionOutcome::Done {
            new_secret: Some(s),
            ..
        } = &outcome
        {
            writeln!(
                out,
                "  new secret (shown once, store it now): {}",
                s.expose()
            )?;
        }
        if outcome.is_failure() {
            failed += 1;
        }
        if !dry_run {
            let done = match &outcome {
                ActionOutcome::Done { .. } => format!("{} at {}", kind.past(), p.spec.name),
                ActionOutcome::AlreadyDone(d) | ActionOutcome::Recorded(d) => {
                    format!("nothing to do: {d}")
                }
                ActionOutcome::Pending(d) => format!("{verb} pending, will be retried: {d}"),
                ActionOutcome::Failed(d) => format!("{verb} failed: {d}"),
                ActionOutcome::Manual(_) => "no API: follow the runbook keywarden printed".into(),
                ActionOutcome::Planned(_) => continue,
            };
            if matches!(outcome, ActionOutcome::Recorded(_)) {
                continue;
            }
            notifier.send(&Notice::new(
                "exposed_secret",
                &t.label(),
                p.id(),
                why,
                &done,
                &p.next_steps(),
            ));
        }
    }
    if dry_run && !targets.is_empty() {
        writeln!(
            out,
            "dry run: nothing was sent; run again with --yes to do it"
        )?;
    }
    out.flush()?;
    Ok(if failed > 0 {
        Outcome::Failed
    } else {
        Outcome::Clean
    })
}

/// The action log and the alerts the monitor's actor has handled. Secrets never: key ids and
/// SHA-256 hashes only.
pub const MIGRATION_ACTIONS: &str = "
CREATE TABLE act_actions (
    id INTEGER PRIMARY KEY,
    action TEXT NOT NULL,
    provider TEXT NOT NULL,
    target TEXT NOT NULL,
    key_id TEXT,
    secret_sha256 TEXT,
    rule_id TEXT,
    fingerprint TEXT,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (action, provider, target)
);
CREATE TABLE act_alerts (
    alert_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    key_id TEXT NOT NULL,
    policy TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT,
    handled_at TEXT NOT NULL
);
";
