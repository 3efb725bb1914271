//! Revoke and regenerate, recorded in the state database's action log so an action is never
//! repeated and never dropped.
//!
//! The log row is written as `pending` before anything is sent and moved to `in_flight` (and
//! committed) just before the request. After a crash, an `in_flight` row means "the request may
//! have gone out": if the provider can validate, the key is checked first and the revocation is
//! only sent again when the key still works, so a kill -9 between the request and its record
//! neither repeats a revocation nor loses it. Transient failures (timeouts, 429, 5xx after
//! every retry) leave the row `pending` for the daemon or the next run. The log holds key ids
//! and secret hashes, never secrets or admin credentials.

use anyhow::{Context, Result};
use rusqlite::{params, OptionalExtension};

use super::flow::{self, FlowResult, ProviderError};
use super::http::Http;
use super::provider::{runbook, Provider, ProviderKind, StepSpec};
use super::validate::{self, Validation};
use crate::findings::{sha256_hex, Secret};
use crate::state::State;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    Revoke,
    Regenerate,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Revoke => "revoke",
            ActionKind::Regenerate => "regenerate",
        }
    }

    pub fn past(self) -> &'static str {
        match self {
            ActionKind::Revoke => "revoked",
            ActionKind::Regenerate => "regenerated",
        }
    }
}

/// The key an action is about.
#[derive(Debug, Clone)]
pub struct Target {
    pub provider: String,
    pub key_id: Option<String>,
    pub secret: Option<Secret>,
    pub rule_id: Option<String>,
    pub fingerprint: Option<String>,
}

impl Target {
    pub fn secret_sha256(&self) -> Option<String> {
        self.secret
            .as_ref()
            .map(|s| sha256_hex(s.expose().as_bytes()))
    }

    /// The identity the action log is keyed on: the key id when there is one, else the
    /// secret's hash.
    pub fn reference(&self) -> String {
        match (&self.key_id, self.secret_sha256()) {
            (Some(k), _) => format!("key:{k}"),
            (None, Some(h)) => format!("sha256:{h}"),
            (None, None) => "unknown".into(),
        }
    }

    /// How people see the key: its id, or a redacted secret with the finding's fingerprint.
    pub fn label(&self) -> String {
        match (&self.key_id, &self.secret, &self.fingerprint) {
            (Some(k), _, _) => k.clone(),
            (None, Some(s), Some(fp)) => format!("{} (fingerprint {fp})", s.redacted()),
            (None, Some(s), None) => s.redacted(),
            (None, None, Some(fp)) => format!("(fingerprint {fp})"),
            (None, None, None) => "(unknown key)".into(),
        }
    }
}

/// What happened to one action.
#[derive(Debug)]
pub enum ActionOutcome {
    /// Dry run: the requests that `--yes` would send, secrets redacted.
    Planned(Vec<String>),
    Done {
        detail: String,
        new_secret: Option<Secret>,
    },
    AlreadyDone(String),
    /// Recorded earlier as done: nothing sent.
    Recorded(String),
    /// Kept for a later retry.
    Pending(String),
    Failed(String),
    /// No API: the runbook to follow.
    Manual(String),
}

impl ActionOutcome {
    pub fn status(&self) -> &'static str {
        match self {
            ActionOutcome::Planned(_) => "planned",
            ActionOutcome::Done { .. } => "done",
            ActionOutcome::AlreadyDone(_) => "already_done",
            ActionOutcome::Recorded(_) => "recorded",
            ActionOutcome::Pending(_) => "pending",
            ActionOutcome::Failed(_) => "failed",
            ActionOutcome::Manual(_) => "manual",
        }
    }

    pub fn is_failure(&self) -> bool {
        matches!(self, ActionOutcome::Pending(_) | ActionOutcome::Failed(_))
    }

    pub fn detail(&self) -> String {
        match self {
            ActionOutcome::Planned(r) => r.join("\n"),
            ActionOutcome::Done { detail, .. } => detail.clone(),
            ActionOutcome::AlreadyDone(d)
            | ActionOutcome::Recorded(d)
            | ActionOutcome::Pending(d)
            | ActionOutcome::Failed(d)
            | ActionOutcome::Manual(d) => d.clone(),
        }
    }
}

/// One row of the action log.
#[derive(Debug, Clone)]
pub struct LoggedAction {
    pub id: i64,
    pub action: String,
    pub provider: String,
    pub target: String,
    pub key_id: Option<String>,
    pub secret_sha256: Option<String>,
    pub status: String,
    pub attempts: i64,
    pub reason: String,
    pub result: Option<String>,
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The action log in the state database.
pub struct ActionLog<'a> {
    state: &'a State,
}

impl<'a> ActionLog<'a> {
    pub fn new(state: &'a State) -> ActionLog<'a> {
        ActionLog { state }
    }

    pub fn find(
        &self,
        kind: ActionKind,
        provider: &str,
        target: &str,
    ) -> Result<Option<LoggedAction>> {
        Ok(self
            .state
            .conn()
            .query_row(
                "SELECT id, action, provider, target, key_id, secret_sha256, status, attempts, reason, result
                 FROM act_actions WHERE action = ?1 AND provider = ?2 AND target = ?3",
                params![kind.as_str(), provider, target],
                row_to_action,
            )
            .optional()?)
    }

    /// Rows that still need doing (`pending`, or `in_flight` after a crash).
    pub fn unfinished(&self) -> Result<Vec<LoggedAction>> {
        let mut st = self.state.conn().prepare(
            "SELECT id, action, provider, target, key_id, secret_sha256, status, attempts, reason, result
             FROM act_actions WHERE status IN ('pending', 'in_flight') ORDER BY id",
        )?;
        let rows = st.query_map([], row_to_action)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub fn all(&self) -> Result<Vec<LoggedAction>> {
        let mut st = self.state.conn().prepare(
            "SELECT id, action, provider, target, key_id, secret_sha256, status, attempts, reason, result
             FROM act_actions ORDER BY id",
        )?;
        let rows = st.query_map([], row_to_action)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn insert(&self, kind: ActionKind, t: &Target, reason: &str) -> Result<i64> {
        let ts = now();
        self.state.conn().execute(
            "INSERT INTO act_actions (action, provider, target, key_id, secret_sha256, rule_id, fingerprint, reason, status, attempts, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', 0, ?9, ?9)",
            params![kind.as_str(), t.provider, t.reference(), t.key_id, t.secret_sha256(), t.rule_id, t.fingerprint, reason, ts],
        )?;
        Ok(self.state.conn().last_insert_rowid())
    }

    fn set(&self, id: i64, status: &str, result: Option<&str>, bump: bool) -> Result<()> {
        self.state.conn().execute(
            "UPDATE act_actions SET status = ?2, result = COALESCE(?3, result), attempts = attempts + ?4, updated_at = ?5 WHERE id = ?1",
            params![id, status, result, bump as i64, now()],
        )?;
        Ok(())
    }
}

fn row_to_action(r: &rusqlite::Row<'_>) -> rusqlite::Result<LoggedAction> {
    Ok(LoggedAction {
        id: r.get(0)?,
        action: r.get(1)?,
        provider: r.get(2)?,
        target: r.get(3)?,
        key_id: r.get(4)?,
        secret_sha256: r.get(5)?,
        status: r.get(6)?,
        attempts: r.get(7)?,
        reason: r.get(8)?,
        result: r.get(9)?,
    })
}

/// Plans (dry run) or performs one action, recording it.
pub fn perform(
    state: Option<&State>,
    provider: &Provider,
    http: &Http,
    kind: ActionKind,
    target: &Target,
    reason: &str,
    dry_run: bool,
) -> Result<ActionOutcome> {
    let vars = match flow::vars_for(provider, target.secret.as_ref(), target.key_id.as_deref()) {
        Ok(v) => v,
        Err(e) => return Ok(ActionOutcome::Failed(e.to_string())),
    };
    if provider.spec.kind == ProviderKind::Manual {
        return Ok(ActionOutcome::Manual(runbook(provider, &vars)));
    }
    let steps = match kind {
        ActionKind::Revoke => &provider.spec.revoke,
        ActionKind::Regenerate => &provider.spec.regenerate,
    };
    if steps.is_empty() && provider.spec.manual.is_some() {
        return Ok(ActionOutcome::Manual(runbook(provider, &vars)));
    }
    if steps.is_empty() {
        return Ok(ActionOutcome::Failed(format!(
            "provider {} has no {} flow",
            provider.id(),
            kind.as_str()
        )));
    }
    if dry_run {
        if let Some(st) = state {
            if let Some(row) = ActionLog::new(st).find(kind, provider.id(), &target.reference())? {
                if row.status == "done" {
                    return Ok(ActionOutcome::Recorded(format!(
                        "already {} (action #{})",
                        kind.past(),
                        row.id
                    )));
                }
            }
        }
        return Ok(match flow::preview(steps, &vars) {
            Ok(p) => ActionOutcome::Planned(p),
            Err(e) => ActionOutcome::Failed(e.to_string()),
        });
    }
    let state = state.context("performing an action needs a state database (--state)")?;
    let log = ActionLog::new(state);
    let existing = log.find(kind, provider.id(), &target.reference())?;
    let missing_secret = steps_need_secret(provider, kind) && target.secret.is_none();
    let missing_msg = format!(
        "provider {} needs the secret itself to {}; run again with a findings file made with --show-secrets",
        provider.id(),
        kind.as_str()
    );
    let id = match &existing {
        Some(row) if row.status == "done" => {
            return Ok(ActionOutcome::Recorded(format!(
                "recorded as done (action #{}): not sent again",
                row.id
            )))
        }
        Some(row) => row.id,
        None if missing_secret => return Ok(ActionOutcome::Failed(missing_msg)),
        None => log.insert(kind, target, reason)?,
    };
    // A crash after the request and before its record: check before sending again.
    if existing.as_ref().is_some_and(|r| r.status == "in_flight") {
        let can_check = provider
            .spec
            .validate
            .as_ref()
            .is_some_and(|v| target.secret.is_some() || !uses_secret(&v.step()));
        if can_check {
            let state_now = validate::check_key(
                provider,
                http,
                target.secret.as_ref(),
                target.key_id.as_deref(),
            );
            if state_now == Validation::Inactive {
                let msg = format!(
                    "{} no longer accepts the key: the interrupted {} went through",
                    provider.spec.name,
                    kind.as_str()
                );
                log.set(id, "done", Some(&msg), false)?;
                return Ok(ActionOutcome::AlreadyDone(msg));
            }
        }
    }
    if missing_secret {
        // Keep the row as it is (pending, or in flight after a crash) for a run with the secret.
        return Ok(ActionOutcome::Pending(missing_msg));
    }
    log.set(id, "in_flight", None, true)?;
    let outcome = match flow::run(provider, http, steps, vars) {
        Ok(FlowResult::Done { new_secret, detail }) => {
            log.set(id, "done", Some(&detail), false)?;
            ActionOutcome::Done { detail, new_secret }
        }
        Ok(FlowResult::AlreadyDone { detail }) => {
            log.set(id, "done", Some(&detail), false)?;
            ActionOutcome::AlreadyDone(detail)
        }
        Err(e) if e.is_transient() => {
            let msg = format!("{e}; kept pending for a later retry");
            log.set(id, "pending", Some(&msg), false)?;
            ActionOutcome::Pending(msg)
        }
        Err(e) => {
            let msg = e.to_string();
            log.set(id, "failed", Some(&msg), false)?;
            ActionOutcome::Failed(msg)
        }
    };
    Ok(outcome)
}

fn steps_need_secret(provider: &Provider, kind: ActionKind) -> bool {
    let steps = match kind {
        ActionKind::Revoke => &provider.spec.revoke,
        ActionKind::Regenerate => &provider.spec.regenerate,
    };
    steps.iter().any(uses_secret)
}

fn uses_secret(s: &StepSpec) -> bool {
    const P: &str = "${secret}";
    s.url.contains(P)
        || s.headers.values().any(|v| v.contains(P))
        || s.body.as_deref().is_some_and(|b| b.contains(P))
        || s.json.as_ref().is_some_and(|j| j.to_string().contains(P))
}

/// Is this error one the caller should see as bad admin credentials?
pub fn is_auth_error(e: &ProviderError) -> bool {
    matches!(e, ProviderError::Unauthorized { .. })
}
