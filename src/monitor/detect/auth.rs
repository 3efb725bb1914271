//! auth_failures: a burst of 401/403 for one key, over a window of two adjacent 5-minute
//! buckets (so a burst across a bucket boundary is still one burst). The evidence names the
//! addresses the failures came from. One alert per incident: it stays open until the window
//! falls below half the threshold.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{make_alert, Bucket, KeyMeta, KeyState, Settings, BUCKET};
use crate::alert::{Alert, AlertKind};
use crate::monitor::ingest::Event;
use crate::rules::Severity;

const MAX_SOURCES: usize = 16;

#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Failures within the window that make a burst.
    pub threshold: u32,
}

impl Default for AuthSettings {
    fn default() -> AuthSettings {
        AuthSettings { threshold: 20 }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuthState {
    /// The previous closed bucket's failures.
    pub prev: Bucket,
    pub incident: Option<i64>,
}

pub fn count(bucket: &mut Bucket, ev: &Event<'_>) {
    if bucket.fail == 0 || ev.ts < bucket.fail_first {
        bucket.fail_first = ev.ts;
    }
    bucket.fail += 1;
    let full = bucket.fail_ips.len() >= MAX_SOURCES;
    match bucket.fail_ips.iter_mut().find(|(ip, _)| *ip == ev.ip) {
        Some((_, n)) => *n += 1,
        None if !full => bucket.fail_ips.push((ev.ip, 1)),
        None => {}
    }
}

pub fn close(
    st: &mut KeyState,
    meta: &KeyMeta,
    settings: &Settings,
    bucket: i64,
    cur: &Bucket,
    alerts: &mut Vec<Alert>,
) {
    let a = &mut st.auth;
    let window = a.prev.fail + cur.fail;
    let threshold = settings.auth.threshold.max(1);
    if cur.fail > 0 && window >= threshold {
        if a.incident.is_none() {
            let start = if a.prev.fail > 0 {
                a.prev.fail_first.min(cur.fail_first)
            } else {
                cur.fail_first
            };
            a.incident = Some(start);
            let mut sources: Vec<(Option<IpAddr>, u32)> = a.prev.fail_ips.clone();
            for (ip, n) in &cur.fail_ips {
                match sources.iter_mut().find(|(i, _)| i == ip) {
                    Some((_, m)) => *m += n,
                    None => sources.push((*ip, *n)),
                }
            }
            sources.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
            let top = sources
                .first()
                .and_then(|(ip, _)| *ip)
                .map(|ip| format!(", mostly from {ip}"))
                .unwrap_or_default();
            alerts.push(make_alert(
                AlertKind::AuthFailures,
                &meta.name,
                &meta.name,
                Severity::High,
                start,
                (bucket + 1) * BUCKET,
                format!("{window} failed authentications (401/403) within 10 minutes{top}"),
                json!({
                    "failures": window,
                    "window_seconds": 2 * BUCKET,
                    "threshold": threshold,
                    "sources": sources.iter().map(|(ip, n)| json!({
                        "address": ip.map(|i| i.to_string()),
                        "count": n,
                    })).collect::<Vec<_>>(),
                }),
            ));
        }
    } else if window * 2 < threshold {
        a.incident = None;
    }
    a.prev = cur.clone();
}
