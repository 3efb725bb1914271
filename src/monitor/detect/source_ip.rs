//! new_source_ip: a key used successfully from an address outside its allowed CIDRs (inventory
//! `allowed_ips` and config), or, for keys without such a list, from an address never seen in
//! its learning window. Each address alerts once per key. At most `max_ips` addresses are
//! remembered per key; past that the detector stays quiet for that key rather than grow.

use std::net::IpAddr;

use serde_json::json;

use super::{make_alert, KeyMeta, KeyState, Settings};
use crate::alert::{Alert, AlertKind};
use crate::monitor::ingest::Event;
use crate::rules::Severity;

pub fn observe(
    st: &mut KeyState,
    meta: &KeyMeta,
    settings: &Settings,
    ev: &Event<'_>,
    ip: IpAddr,
    alerts: &mut Vec<Alert>,
) {
    if !meta.allowed.is_empty() {
        if meta.allowed.iter().any(|c| c.contains(ip)) || st.ips.contains(&ip) {
            return;
        }
        if st.ips.len() >= settings.max_ips {
            return;
        }
        st.ips.insert(ip);
        alerts.push(make_alert(
            AlertKind::NewSourceIp,
            &meta.name,
            &format!("{}|{ip}", meta.name),
            Severity::High,
            ev.ts,
            ev.ts,
            format!("used from {ip}, outside its allowed addresses"),
            json!({
                "address": ip.to_string(),
                "allowed_ips": meta.allowed.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                "status": ev.status,
            }),
        ));
        return;
    }
    if st.ips.contains(&ip) || st.ips.len() >= settings.max_ips {
        return;
    }
    st.ips.insert(ip);
    if ev.ts - st.first_ts < settings.learning {
        return;
    }
    alerts.push(make_alert(
        AlertKind::NewSourceIp,
        &meta.name,
        &format!("{}|{ip}", meta.name),
        Severity::Medium,
        ev.ts,
        ev.ts,
        format!("used from {ip}, an address not seen before"),
        json!({
            "address": ip.to_string(),
            "known_addresses": st.ips.len() - 1,
            "learning_since": crate::monitor::ingest::time::format(st.first_ts),
            "status": ev.status,
        }),
    ));
}
