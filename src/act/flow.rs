//! Runs a provider's request steps in order (a multi-step flow: look up an id, then delete it;
//! or regenerate and read the new secret) and turns the answers into one outcome.

use anyhow::Result;

use super::http::{Http, HttpError};
use super::provider::{render, Provider, StepSpec, Vars};
use crate::findings::{redact, Secret};

/// Why a provider action did not complete. Callers match on the variant: transient ones stay
/// pending and are retried, the others are reported.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{provider} answered {status}: the admin credentials were refused (check the ${{...}} variables this provider uses)")]
    Unauthorized { provider: String, status: u16 },
    #[error("{provider} kept rate-limiting (429) after every retry")]
    RateLimited { provider: String },
    #[error("{provider} is unavailable: {detail}")]
    Unavailable { provider: String, detail: String },
    #[error("{provider} answered {status}{detail}")]
    Rejected {
        provider: String,
        status: u16,
        detail: String,
    },
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Config(String),
}

impl ProviderError {
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ProviderError::RateLimited { .. } | ProviderError::Unavailable { .. }
        )
    }
}

/// How a flow ended.
#[derive(Debug)]
pub enum FlowResult {
    Done {
        /// The new secret of a regenerate flow.
        new_secret: Option<Secret>,
        detail: String,
    },
    /// The provider said there was nothing to do (already revoked, unknown key).
    AlreadyDone { detail: String },
}

/// The variables a flow starts with.
pub fn vars_for(
    provider: &Provider,
    secret: Option<&Secret>,
    key_id: Option<&str>,
) -> Result<Vars, ProviderError> {
    let mut vars = Vars {
        secret: secret.map(|s| s.expose().to_string()),
        ..Vars::default()
    };
    if provider.spec.kind == super::provider::ProviderKind::Api {
        let base = provider
            .base_url()
            .map_err(|e| ProviderError::Config(format!("{e:#}")))?;
        vars.values.insert("base_url".into(), base);
    }
    if let Some(k) = key_id {
        vars.values.insert("key_id".into(), k.to_string());
    }
    Ok(vars)
}

/// Renders every step for display (dry run). Steps that need values from earlier answers show
/// the placeholder.
pub fn preview(steps: &[StepSpec], vars: &Vars) -> Result<Vec<String>, ProviderError> {
    let mut out = Vec::new();
    let mut vars = vars.clone();
    for step in steps {
        for name in step.extract.keys() {
            vars.values
                .entry(name.clone())
                .or_insert_with(|| format!("${{{name}}}"));
        }
    }
    for step in steps {
        let r = render(step, &vars).map_err(|e| ProviderError::Config(format!("{e:#}")))?;
        out.push(r.display);
    }
    Ok(out)
}

/// Removes the secret from text that came back from a provider.
fn scrub(text: &str, vars: &Vars) -> String {
    let mut t: String = text.chars().take(200).collect();
    if let Some(s) = vars.secret.as_deref().filter(|s| !s.is_empty()) {
        t = t.replace(s, &redact(s));
    }
    t
}

fn short_error(body: &str, vars: &Vars) -> String {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(body) else {
        return String::new();
    };
    for key in [
        "/message",
        "/error",
        "/error_description",
        "/errors/0/message",
    ] {
        if let Some(serde_json::Value::String(s)) = doc.pointer(key) {
            return format!(": {}", crate::terminal::escape(&scrub(s, vars)));
        }
    }
    String::new()
}

/// Runs `steps`, each answer deciding whether to go on.
pub fn run(
    provider: &Provider,
    http: &Http,
    steps: &[StepSpec],
    mut vars: Vars,
) -> Result<FlowResult, ProviderError> {
    let pid = provider.id().to_string();
    let mut new_secret = None;
    let mut detail = String::new();
    for step in steps {
        let req = render(step, &vars).map_err(|e| ProviderError::Config(format!("{e:#}")))?;
        tracing::info!("{pid}: {}", req.display_line());
        let resp = http.send(&req).map_err(|e| match e {
            HttpError::Internal(_) | HttpError::BadUrl(_) => ProviderError::Refused(e.to_string()),
            other => ProviderError::Unavailable {
                provider: pid.clone(),
                detail: other.to_string(),
            },
        })?;
        if let Some(m) = &step.already_done {
            if m.matches(resp.status, &resp.body) {
                return Ok(FlowResult::AlreadyDone {
                    detail: format!("{pid} answered {}: nothing left to do", resp.status),
                });
            }
        }
        let ok = match &step.success {
            Some(m) => m.matches(resp.status, &resp.body),
            None => (200..300).contains(&resp.status),
        };
        if !ok {
            return Err(match resp.status {
                401 | 403 => ProviderError::Unauthorized {
                    provider: pid,
                    status: resp.status,
                },
                429 => ProviderError::RateLimited { provider: pid },
                s if s >= 500 => ProviderError::Unavailable {
                    provider: pid,
                    detail: format!("status {s} after every retry"),
                },
                s => ProviderError::Rejected {
                    provider: pid,
                    status: s,
                    detail: short_error(&resp.body, &vars),
                },
            });
        }
        if !step.extract.is_empty() {
            let doc: serde_json::Value =
                serde_json::from_str(&resp.body).map_err(|_| ProviderError::Rejected {
                    provider: pid.clone(),
                    status: resp.status,
                    detail: ": answer is not JSON".into(),
                })?;
            for (name, pointer) in &step.extract {
                let v = match doc.pointer(pointer) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(serde_json::Value::Number(n)) => n.to_string(),
                    _ => {
                        return Err(ProviderError::Rejected {
                            provider: pid,
                            status: resp.status,
                            detail: format!(": answer has no {pointer}"),
                        })
                    }
                };
                if name == "new_secret" {
                    new_secret = Some(Secret::new(v));
                } else {
                    vars.values.insert(name.clone(), v);
                }
            }
        }
        detail = format!("{pid} answered {}", resp.status);
    }
    Ok(FlowResult::Done { new_secret, detail })
}
