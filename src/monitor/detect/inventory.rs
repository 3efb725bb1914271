//! Inventory kinds (unused_key, rotation_due), judged at event time "now" (the latest event
//! seen, or `--now`), and exposed_key_in_use (a key a scan reported as leaked shows up in a log).
//! Inventory alerts carry the moment the condition began as their start, so re-checking every
//! poll produces the same id and the outbox keeps one.

use serde_json::json;

use super::{make_alert, Engine, KeyMeta};
use crate::alert::{Alert, AlertKind};
use crate::monitor::ingest::{time, Event};
use crate::rules::Severity;

pub fn exposed_alert(meta: &KeyMeta, ev: &Event<'_>) -> Alert {
    make_alert(
        AlertKind::ExposedKeyInUse,
        &meta.name,
        &meta.name,
        Severity::Critical,
        ev.ts,
        ev.ts,
        "a key reported as leaked by a scan is being used: revoke it".to_string(),
        json!({
            "status": ev.status,
            "address": ev.ip.map(|i| i.to_string()),
        }),
    )
}

pub fn check(engine: &mut Engine, now: i64) {
    let s = engine.settings.clone();
    let mut out = Vec::new();
    let mut keys: Vec<_> = engine.inventory().cloned().collect();
    keys.sort_by(|a, b| a.key_id.cmp(&b.key_id));
    for k in keys {
        let last = engine.last_use(&k.key_id);
        let idle_since = last.unwrap_or(k.created_at).max(k.created_at);
        if now - idle_since >= s.unused_after {
            let days = (now - idle_since) / 86400;
            out.push(make_alert(
                AlertKind::UnusedKey,
                &k.key_id,
                &k.key_id,
                Severity::Low,
                idle_since,
                now,
                match last {
                    Some(_) => format!("not used for {days} days: consider deleting it"),
                    None => {
                        format!("never used in {days} days since creation: consider deleting it")
                    }
                },
                json!({
                    "name": k.name,
                    "last_used": last.map(time::format),
                    "created_at": time::format(k.created_at),
                    "idle_days": days,
                }),
            ));
        }
        let rotated = k.last_rotated_at.unwrap_or(k.created_at);
        let due = rotated + s.rotate_after;
        if now >= due {
            out.push(make_alert(
                AlertKind::RotationDue,
                &k.key_id,
                &k.key_id,
                Severity::Low,
                due,
                now,
                format!(
                    "last rotated {} days ago (policy: every {} days)",
                    (now - rotated) / 86400,
                    s.rotate_after / 86400
                ),
                json!({
                    "name": k.name,
                    "last_rotated_at": time::format(rotated),
                    "age_days": (now - rotated) / 86400,
                }),
            ));
        }
    }
    engine.alerts.extend(out);
}
