//! Validation: asks a provider's harmless "who am I" endpoint whether a found secret still
//! works. One request per distinct secret, a bounded number in flight, each with the client's
//! timeout. Off unless asked for: sending a secret anywhere is the user's choice.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::http::Http;
use super::provider::{render, Provider, Providers};
use crate::findings::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    VerifiedActive,
    Inactive,
    Unknown,
}

impl Validation {
    pub fn as_str(self) -> &'static str {
        match self {
            Validation::VerifiedActive => "verified_active",
            Validation::Inactive => "inactive",
            Validation::Unknown => "unknown",
        }
    }
}

/// One secret to check.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub rule_id: String,
    /// The rule's own `provider` field.
    pub rule_provider: Option<String>,
    pub secret: Secret,
    pub secret_sha256: String,
}

/// Checks one secret. Anything but a clear active/inactive answer is `Unknown`.
pub fn check(provider: &Provider, http: &Http, secret: &Secret) -> Validation {
    check_key(provider, http, Some(secret), None)
}

/// Checks a key by its secret or, where the provider's validation request uses `${key_id}`,
/// by its id.
pub fn check_key(
    provider: &Provider,
    http: &Http,
    secret: Option<&Secret>,
    key_id: Option<&str>,
) -> Validation {
    let Some(v) = &provider.spec.validate else {
        return Validation::Unknown;
    };
    let vars = match super::flow::vars_for(provider, secret, key_id) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!("validate: {e}");
            return Validation::Unknown;
        }
    };
    let req = match render(&v.step(), &vars) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("validate: {}: {e:#}", provider.id());
            return Validation::Unknown;
        }
    };
    match http.send(&req) {
        Ok(resp) if v.active.matches(resp.status, &resp.body) => Validation::VerifiedActive,
        Ok(resp) if v.inactive.matches(resp.status, &resp.body) => Validation::Inactive,
        Ok(resp) => {
            tracing::info!("validate: {} answered {}", provider.id(), resp.status);
            Validation::Unknown
        }
        Err(e) => {
            tracing::warn!("validate: {}: {e}", provider.id());
            Validation::Unknown
        }
    }
}

/// Validates every distinct secret, `concurrency` at a time. Returns secret hash → result.
pub fn validate_all(
    providers: &Providers,
    http: &Http,
    candidates: &[Candidate],
    concurrency: usize,
) -> HashMap<String, Validation> {
    let mut distinct: Vec<&Candidate> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for c in candidates {
        if seen.insert(c.secret_sha256.as_str()) {
            distinct.push(c);
        }
    }
    let results = Mutex::new(HashMap::new());
    let next = AtomicUsize::new(0);
    let workers = concurrency.clamp(1, 64).min(distinct.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(c) = distinct.get(i) else { break };
                let v = match providers.for_validation(&c.rule_id, c.rule_provider.as_deref()) {
                    Some(p) => check(p, http, &c.secret),
                    None => Validation::Unknown,
                };
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(c.secret_sha256.clone(), v);
            });
        }
    });
    results.into_inner().unwrap_or_else(|e| e.into_inner())
}
