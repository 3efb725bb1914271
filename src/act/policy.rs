//! What the monitor does about an alert: per alert kind `notify`, `revoke` or `regenerate`
//! (default: notify only). The `Actor` applies the policy, records what it did in the state
//! database (each alert handled once, each action once) and notifies. The daemon calls
//! `Actor::handle` for each alert and `Actor::retry_pending` from time to time.
//!
//! Config (a section of the monitor's config file):
//!
//! ```toml
//! [act]
//! provider = "generic"          # which provider holds the monitored keys
//! [act.policy]
//! default = "notify"
//! exposed_key_in_use = "revoke"
//! [act.notify]
//! desktop = true
//! webhook = "https://hooks.slack.com/services/..."
//! jsonl = "/var/log/keywarden/notices.jsonl"
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rusqlite::{params, OptionalExtension};
use serde::Deserialize;

use super::http::{Http, HttpOptions};
use super::notify::{Notice, Notifier, NotifyOptions};
use super::provider::Providers;
use super::revoke::{self, ActionKind, ActionOutcome, Target};
use crate::alert::{Alert, AlertKind};
use crate::findings::Secret;
use crate::state::State;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyAction {
    Notify,
    Revoke,
    Regenerate,
}

impl PolicyAction {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyAction::Notify => "notify",
            PolicyAction::Revoke => "revoke",
            PolicyAction::Regenerate => "regenerate",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySpec {
    #[serde(default)]
    pub desktop: bool,
    #[serde(default)]
    pub webhook: Option<String>,
    #[serde(default)]
    pub jsonl: Option<PathBuf>,
}

/// The `[act]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActSpec {
    /// Alert kind (or `default`) → action.
    #[serde(default)]
    pub policy: BTreeMap<String, PolicyAction>,
    /// The provider that holds the monitored keys (for revoke/regenerate).
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub notify: NotifySpec,
    /// Where regenerated secrets are written (mode 0600), one file per key; default: a
    /// `new-secrets` directory next to the state database. They go nowhere else.
    #[serde(default)]
    pub secrets_dir: Option<PathBuf>,
    /// Extra provider definitions (directories or files).
    #[serde(default)]
    pub providers: Vec<PathBuf>,
    /// Allow provider requests to private, loopback and link-local addresses.
    #[serde(default)]
    pub allow_internal: bool,
    /// Seconds per request (default 10).
    #[serde(default)]
    pub timeout: Option<f64>,
    /// Attempts per request (default 4).
    #[serde(default)]
    pub attempts: Option<u32>,
    /// First retry delay in milliseconds (default 500).
    #[serde(default)]
    pub retry_delay_ms: Option<u64>,
    /// How often the daemon retries pending actions, in seconds (default 60).
    #[serde(default)]
    pub retry_pending_every: Option<u64>,
}

impl ActSpec {
    pub fn http_options(&self) -> Result<HttpOptions> {
        let d = HttpOptions::default();
        let timeout = match self.timeout {
            Some(t) if t.is_finite() && t > 0.0 => std::time::Duration::from_secs_f64(t),
            Some(_) => bail!("[act] timeout must be a positive number of seconds"),
            None => d.timeout,
        };
        Ok(HttpOptions {
            timeout,
            attempts: self.attempts.unwrap_or(d.attempts).max(1),
            backoff: self
                .retry_delay_ms
                .map(std::time::Duration::from_millis)
                .unwrap_or(d.backoff),
            allow_internal: self.allow_internal,
        })
    }

    /// Resolves relative paths against the config file's directory.
    pub fn resolve(&mut self, root: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() && !root.as_os_str().is_empty() && p.as_os_str() != "-" {
                *p = root.join(&*p);
            }
        };
        self.providers.iter_mut().for_each(fix);
        self.notify.jsonl.as_mut().map(fix);
        self.secrets_dir.as_mut().map(fix);
    }
}

const KINDS: &[AlertKind] = &[
    AlertKind::VolumeSpike,
    AlertKind::AuthFailures,
    AlertKind::NewSourceIp,
    AlertKind::UnusedKey,
    AlertKind::RotationDue,
    AlertKind::ExposedKeyInUse,
];

#[derive(Debug, Clone)]
pub struct Policy {
    default: PolicyAction,
    per_kind: HashMap<AlertKind, PolicyAction>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            default: PolicyAction::Notify,
            per_kind: HashMap::new(),
        }
    }
}

impl Policy {
    pub fn from_spec(spec: &ActSpec) -> Result<Policy> {
        let mut p = Policy::default();
        for (name, action) in &spec.policy {
            if name == "default" {
                p.default = *action;
                continue;
            }
            let Some(kind) = KINDS.iter().find(|k| k.as_str() == name) else {
                bail!(
                    "[act.policy]: unknown alert kind {name:?} (known: default, {})",
                    KINDS
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            };
            p.per_kind.insert(*kind, *action);
        }
        Ok(p)
    }

    pub fn action_for(&self, kind: AlertKind) -> PolicyAction {
        self.per_kind.get(&kind).copied().unwrap_or(self.default)
    }
}

/// What `handle` did.
#[derive(Debug)]
pub struct Handled {
    pub alert_id: String,
    pub policy: PolicyAction,
    /// `None` when the alert had been handled before (nothing done again).
    pub outcome: Option<ActionOutcome>,
}

/// Applies the policy to alerts. Owns its connection to the state database.
pub struct Actor {
    policy: Policy,
    provider: Option<String>,
    providers: Providers,
    http: Http,
    state: State,
    notifier: Notifier,
    secrets_dir: PathBuf,
    retry_every: std::time::Duration,
    last_retry: Option<std::time::Instant>,
}

impl Actor {
    pub fn new(
        spec: &ActSpec,
        state_path: &Path,
        http: HttpOptions,
        provider_dirs: &[PathBuf],
    ) -> Result<Actor> {
        let providers = Providers::load(provider_dirs)?;
        if let Some(p) = &spec.provider {
            if providers.get(p).is_none() {
                bail!("[act] provider {p:?} is not defined");
            }
        }
        let notifier = Notifier::new(NotifyOptions {
            desktop: spec.notify.desktop,
            webhook: spec.notify.webhook.clone(),
            jsonl: spec.notify.jsonl.clone(),
            timeout: Some(http.timeout),
        });
        Ok(Actor {
            policy: Policy::from_spec(spec)?,
            provider: spec.provider.clone(),
            providers,
            http: Http::new(http),
            state: State::open(state_path)?,
            notifier,
            secrets_dir: spec.secrets_dir.clone().unwrap_or_else(|| {
                state_path
                    .parent()
                    .unwrap_or(Path::new("."))
                    .join("new-secrets")
            }),
            retry_every: std::time::Duration::from_secs(spec.retry_pending_every.unwrap_or(60)),
            last_retry: None,
        })
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Handles one alert once: acts by policy, records, notifies. An alert seen before (same
    /// id) is not acted on again.
    pub fn handle(&mut self, alert: &Alert) -> Result<Handled> {
        let policy = self.policy.action_for(alert.kind);
        let done: Option<String> = self
            .state
            .conn()
            .query_row(
                "SELECT status FROM act_alerts WHERE alert_id = ?1",
                [&alert.id],
                |r| r.get(0),
            )
            .optional()?;
        if done.as_deref() == Some("done") {
            return Ok(Handled {
                alert_id: alert.id.clone(),
                policy,
                outcome: None,
            });
        }
        self.state.conn().execute(
            "INSERT OR IGNORE INTO act_alerts (alert_id, kind, key_id, policy, status, handled_at) VALUES (?1, ?2, ?3, ?4, 'handling', ?5)",
            params![alert.id, alert.kind.as_str(), alert.key_id, policy.as_str(), now()],
        )?;
        let kind = match policy {
            PolicyAction::Notify => None,
            PolicyAction::Revoke => Some(ActionKind::Revoke),
            PolicyAction::Regenerate => Some(ActionKind::Regenerate),
        };
        let by_hash = alert.key_id.starts_with("sha256:");
        if kind.is_some() && by_hash {
            tracing::warn!(
                "alert {}: the key is known only by its hash; revoke it with `keywarden revoke --findings`",
                alert.id
            );
        }
        let kind = kind.filter(|_| !by_hash);
        let (outcome, provider_name, next) = match (kind, &self.provider) {
            (Some(k), Some(pid)) => {
                let p = self
                    .providers
                    .get(pid)
                    .with_context(|| format!("unknown provider {pid}"))?;
                let t = Target {
                    provider: pid.clone(),
                    key_id: Some(alert.key_id.clone()),
                    secret: None,
                    rule_id: None,
                    fingerprint: None,
                };
                let reason = format!("alert {} ({})", alert.id, alert.kind.as_str());
                let o = revoke::perform(Some(&self.state), p, &self.http, k, &t, &reason, false)?;
                (Some(o), p.id().to_string(), p.next_steps())
            }
            (Some(_), None) => {
                tracing::warn!(
                    "policy says {} for {} but no [act] provider is configured: notifying only",
                    policy.as_str(),
                    alert.kind.as_str()
                );
                (None, String::new(), String::new())
            }
            (None, _) => (
                None,
                self.provider.clone().unwrap_or_default(),
                String::new(),
            ),
        };
        let done_text = match &outcome {
            None => "nothing yet: notify-only policy".to_string(),
            Some(ActionOutcome::Done {
                new_secret: Some(secret),
                ..
            }) => match self.save_secret(&provider_name, &alert.key_id, secret) {
                Ok(path) => format!(
                    "secret regenerated automatically; the new secret is in {} (readable by this user only; delete it once every integration uses it)",
                    path.display()
                ),
                Err(e) => format!("secret regenerated automatically, but the new secret could not be saved: {e:#}"),
            },
            Some(ActionOutcome::Done { .. }) => format!(
                "key {} automatically",
                kind.map(|k| k.past()).unwrap_or("handled")
            ),
            Some(ActionOutcome::AlreadyDone(d)) | Some(ActionOutcome::Recorded(d)) => {
                format!("nothing to do: {d}")
            }
            Some(ActionOutcome::Pending(d)) => {
                format!("{} pending, will be retried: {d}", policy.as_str())
            }
            Some(o) => format!("{} {}: {}", policy.as_str(), o.status(), o.detail()),
        };
        let next = match (&outcome, next.is_empty()) {
            (None, _) | (_, true) => {
                "Check whether this use is yours; if not, revoke the key, issue a new one and update every integration with the new secret before the old one stops working.".to_string()
            }
            (Some(_), false) => next,
        };
        let happened = format!("{} ({})", alert.summary, alert.kind.as_str());
        self.notifier.send(&Notice::new(
            alert.kind.as_str(),
            &alert.key_id,
            &provider_name,
            &happened,
            &done_text,
            &next,
        ));
        self.state.conn().execute(
            "UPDATE act_alerts SET status = 'done', result = ?2, handled_at = ?3 WHERE alert_id = ?1",
            params![alert.id, outcome.as_ref().map(|o| o.status()).unwrap_or("notified"), now()],
        )?;
        Ok(Handled {
            alert_id: alert.id.clone(),
            policy,
            outcome,
        })
    }

    fn save_secret(&self, provider: &str, key_id: &str, secret: &Secret) -> Result<PathBuf> {
        std::fs::create_dir_all(&self.secrets_dir)
            .with_context(|| format!("cannot create {}", self.secrets_dir.display()))?;
        let name: String = format!("{provider}-{key_id}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = self.secrets_dir.join(format!("{name}.secret"));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        std::io::Write::write_all(&mut f, format!("{}\n", secret.expose()).as_bytes())?;
        Ok(path)
    }

    /// Retries every pending (or interrupted) action that needs no secret in clear.
    pub fn retry_pending(&mut self) -> Result<Vec<(String, ActionOutcome)>> {
        let rows = revoke::ActionLog::new(&self.state).unfinished()?;
        let mut out = Vec::new();
        for row in rows {
            let Some(p) = self.providers.get(&row.provider) else {
                continue;
            };
            let kind = if row.action == "regenerate" {
                ActionKind::Regenerate
            } else {
                ActionKind::Revoke
            };
            let t = Target {
                provider: row.provider.clone(),
                key_id: row.key_id.clone(),
                secret: None,
                rule_id: None,
                fingerprint: None,
            };
            let o = revoke::perform(
                Some(&self.state),
                p,
                &self.http,
                kind,
                &t,
                &row.reason,
                false,
            )?;
            out.push((row.target.clone(), o));
        }
        Ok(out)
    }
}

impl crate::monitor::output::AlertSink for Actor {
    fn name(&self) -> &str {
        "act"
    }

    fn deliver(&mut self, alert: &Alert) -> Result<()> {
        let h = self.handle(alert)?;
        if let Some(o) = &h.outcome {
            tracing::info!("alert {}: {} {}", h.alert_id, h.policy.as_str(), o.status());
        }
        Ok(())
    }

    fn after_poll(&mut self) {
        if self
            .last_retry
            .is_some_and(|t| t.elapsed() < self.retry_every)
        {
            return;
        }
        self.last_retry = Some(std::time::Instant::now());
        match self.retry_pending() {
            Ok(done) => {
                for (target, o) in done {
                    tracing::info!("retried {target}: {}", o.status());
                }
            }
            Err(e) => tracing::warn!("cannot retry pending actions: {e:#}"),
        }
    }
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_defaults_to_notify() {
        let spec: ActSpec = toml::from_str("[policy]\nexposed_key_in_use = \"revoke\"").unwrap();
        let p = Policy::from_spec(&spec).unwrap();
        assert_eq!(
            p.action_for(AlertKind::ExposedKeyInUse),
            PolicyAction::Revoke
        );
        assert_eq!(p.action_for(AlertKind::VolumeSpike), PolicyAction::Notify);
        let bad: ActSpec = toml::from_str("[policy]\nvolume = \"revoke\"").unwrap();
        assert!(Policy::from_spec(&bad).is_err());
    }
}
