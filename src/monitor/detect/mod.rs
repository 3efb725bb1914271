//! Detectors, per key, in event time. The `Engine` receives events (it is the ingest
//! `EventSink`), keeps one `KeyState` per key and collects alerts. Volume and failed-auth counts
//! go into 5-minute buckets that close only when the key's own event time has moved past the
//! bucket's end plus the allowed lateness, so records that arrive late and out of order (as
//! CloudTrail delivers them) are still counted, and a replay of the same exports gives the same
//! alerts with the same ids. Memory is per key (bounded baselines and address sets), never per
//! event.
//!
//! Keys are named by their id as written in the log. A key column that holds a raw secret
//! (declared with `--columns secret=...`, or recognised by the scanner's rules) is replaced by
//! `sha256:<hex>` before anything is kept; the raw value is only a lookup key in memory.

pub mod auth;
pub mod inventory;
pub mod source_ip;
pub mod volume;

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::ingest::inventory::{Cidr, Exposed, KeyRecord};
use super::ingest::{time, Event, EventSink};
use crate::alert::{Alert, AlertKind};
use crate::findings::sha256_hex;
use crate::matcher::{Matcher, Scratch, SecretFilter};
use crate::rules::Severity;

pub const BUCKET: i64 = 300;
pub const BUCKETS_PER_DAY: i64 = 86400 / BUCKET;

/// A small, fast hasher for key and address lookups on the hot path (FxHash's mixing step).
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.write_u64(u64::from_le_bytes(c.try_into().unwrap()));
        }
        for &b in chunks.remainder() {
            self.write_u64(b as u64);
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(i as u64)
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(i as u64)
    }
    fn write_u128(&mut self, i: u128) {
        self.write_u64(i as u64);
        self.write_u64((i >> 64) as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64)
    }
}

pub type FxBuild = BuildHasherDefault<FxHasher>;

/// Tunables, with the defaults the issue asks for.
#[derive(Debug, Clone)]
pub struct Settings {
    pub lateness: i64,
    pub learning: i64,
    pub unused_after: i64,
    pub rotate_after: i64,
    pub volume: volume::VolumeSettings,
    pub auth: auth::AuthSettings,
    pub allowed_ips: Vec<Cidr>,
    /// Most addresses remembered per key.
    pub max_ips: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            lateness: 15 * 60,
            learning: 7 * 86400,
            unused_after: 14 * 86400,
            rotate_after: 90 * 86400,
            volume: volume::VolumeSettings::default(),
            auth: auth::AuthSettings::default(),
            allowed_ips: Vec::new(),
            max_ips: 4096,
        }
    }
}

/// One closed-or-open 5-minute bucket.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Bucket {
    /// Authenticated requests (anything but 401/403).
    pub ok: u32,
    /// 401/403 responses.
    pub fail: u32,
    pub fail_first: i64,
    /// Failures by source address (a few).
    pub fail_ips: Vec<(Option<IpAddr>, u32)>,
}

/// Everything kept per key between events and polls.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyState {
    pub first_ts: i64,
    pub last_ts: i64,
    /// Index of the last closed bucket.
    pub closed: i64,
    /// Buckets `closed + 1 ..`.
    pub open: VecDeque<Bucket>,
    pub volume: volume::VolumeState,
    pub auth: auth::AuthState,
    pub ips: HashSet<IpAddr, FxBuild>,
    pub exposed_alerted: bool,
}

impl KeyState {
    fn new(ts: i64, lateness: i64) -> KeyState {
        KeyState {
            first_ts: ts,
            last_ts: ts,
            closed: (ts - lateness).div_euclid(BUCKET) - 1,
            open: VecDeque::new(),
            volume: volume::VolumeState::new(ts),
            auth: auth::AuthState::default(),
            ips: HashSet::default(),
            exposed_alerted: false,
        }
    }
}

/// What is known about a key that is not state: its name, hash and configuration.
#[derive(Debug, Clone)]
pub struct KeyMeta {
    pub name: String,
    pub exposed: bool,
    pub allowed: Vec<Cidr>,
}

/// Counters the engine keeps for the run summary.
#[derive(Debug, Default, Clone)]
pub struct EngineStats {
    /// Events older than their key's closed buckets (beyond the allowed lateness).
    pub late: u64,
}

pub struct Engine {
    pub settings: Settings,
    raw: HashMap<Box<[u8]>, u32, FxBuild>,
    by_name: HashMap<String, u32>,
    pub keys: Vec<KeyState>,
    pub meta: Vec<KeyMeta>,
    pub dirty: Vec<bool>,
    inventory: HashMap<String, KeyRecord>,
    exposed: Exposed,
    /// Latest event time seen, any key.
    pub max_ts: Option<i64>,
    pub alerts: Vec<Alert>,
    pub stats: EngineStats,
    secret_matcher: Option<(Arc<Matcher>, Scratch)>,
}

/// The stable alert id: kind, key (and subject) and start, hashed.
pub fn alert_id(kind: AlertKind, subject: &str, start: i64) -> String {
    sha256_hex(format!("{}\0{subject}\0{start}", kind.as_str()).as_bytes())[..32].to_string()
}

#[allow(clippy::too_many_arguments)]
pub fn make_alert(
    kind: AlertKind,
    key: &str,
    subject: &str,
    severity: Severity,
    start: i64,
    detected_at: i64,
    summary: String,
    evidence: serde_json::Value,
) -> Alert {
    Alert {
        id: alert_id(kind, subject, start),
        key_id: key.to_string(),
        kind,
        severity,
        start: time::format(start),
        detected_at: time::format(detected_at),
        summary,
        evidence,
    }
}

impl Engine {
    pub fn new(settings: Settings, inventory: Vec<KeyRecord>, exposed: Exposed) -> Engine {
        Engine {
            settings,
            raw: HashMap::default(),
            by_name: HashMap::new(),
            keys: Vec::new(),
            meta: Vec::new(),
            dirty: Vec::new(),
            inventory: inventory
                .into_iter()
                .map(|k| (k.key_id.clone(), k))
                .collect(),
            exposed,
            max_ts: None,
            alerts: Vec::new(),
            stats: EngineStats::default(),
            secret_matcher: None,
        }
    }

    /// Lets the engine recognise raw secrets in key columns with the scanner's rules.
    pub fn with_secret_matcher(mut self, m: Arc<Matcher>) -> Engine {
        self.secret_matcher = Some((m, Scratch::default()));
        self
    }

    /// The scanner's matcher over the shipped rules, for `with_secret_matcher`.
    pub fn default_secret_matcher() -> Option<Arc<Matcher>> {
        let rules = crate::rules::RuleSet::load(true, &[], &[]).ok()?;
        Some(Arc::new(Matcher::new(
            Arc::new(rules),
            SecretFilter::default(),
        )))
    }

    fn meta_for(&self, name: String) -> KeyMeta {
        let inv = self.inventory.get(&name);
        let mut allowed: Vec<Cidr> = inv.map(|k| k.allowed_ips.clone()).unwrap_or_default();
        if !allowed.is_empty() || inv.is_some() {
            allowed.extend(self.settings.allowed_ips.iter().copied());
        } else {
            allowed = self.settings.allowed_ips.clone();
        }
        let hash = name.strip_prefix("sha256:").unwrap_or(&name);
        let exposed = self.exposed.key_ids.contains(&name)
            || (hash.len() == 64 && self.exposed.hashes.contains(&hash.to_ascii_lowercase()));
        KeyMeta {
            name,
            exposed,
            allowed,
        }
    }

    /// Adds a key restored from the state database.
    pub fn restore(&mut self, name: String, state: KeyState) {
        let idx = self.keys.len() as u32;
        let meta = self.meta_for(name.clone());
        self.by_name.insert(name, idx);
        self.keys.push(state);
        self.meta.push(meta);
        self.dirty.push(false);
    }

    /// The name a key column value is kept under: never a raw secret.
    fn key_name(&mut self, raw: &[u8], is_secret: bool) -> String {
        let looks_secret = is_secret
            || match &mut self.secret_matcher {
                Some((m, scratch)) => {
                    let mut out = Vec::new();
                    m.scan(raw, scratch, &mut out);
                    out.iter().any(|r| {
                        let id = &m.rules().get(r.rule).id;
                        r.secret == (0..raw.len()) && !id.ends_with("-id")
                    })
                }
                None => false,
            };
        if looks_secret {
            return format!("sha256:{}", sha256_hex(raw));
        }
        String::from_utf8_lossy(raw).into_owned()
    }

    fn key_index(&mut self, ev: &Event<'_>) -> usize {
        if let Some(&i) = self.raw.get(ev.key) {
            return i as usize;
        }
        let name = self.key_name(ev.key, ev.key_is_secret);
        let idx = match self.by_name.get(&name) {
            Some(&i) => i,
            None => {
                let i = self.keys.len() as u32;
                let meta = self.meta_for(name.clone());
                self.by_name.insert(name, i);
                self.keys.push(KeyState::new(ev.ts, self.settings.lateness));
                self.meta.push(meta);
                self.dirty.push(true);
                i
            }
        };
        self.raw.insert(ev.key.into(), idx);
        idx as usize
    }

    /// Closes buckets of key `i` up to `watermark` (event time), judging each.
    fn close_until(&mut self, i: usize, watermark: i64) {
        let last = watermark.div_euclid(BUCKET) - 1; // last bucket whose end <= watermark
        let st = &mut self.keys[i];
        if last <= st.closed {
            return;
        }
        let meta = &self.meta[i];
        let mut b = st.closed + 1;
        while b <= last {
            if st.open.is_empty() && last - b > 8 * BUCKETS_PER_DAY {
                // Over a week of silence: skip it and learn the key's volume afresh.
                st.volume = volume::VolumeState::new((last + 1) * BUCKET);
                st.auth = auth::AuthState::default();
                st.closed = last;
                break;
            }
            let bucket = st.open.pop_front().unwrap_or_default();
            volume::close(st, meta, &self.settings, b, bucket.ok, &mut self.alerts);
            auth::close(st, meta, &self.settings, b, &bucket, &mut self.alerts);
            st.closed = b;
            b += 1;
        }
    }

    /// Closes every open bucket: the input is complete (end of `--once`).
    pub fn flush(&mut self) {
        for i in 0..self.keys.len() {
            let end = (self.keys[i].closed + 1 + self.keys[i].open.len() as i64) * BUCKET;
            if !self.keys[i].open.is_empty() {
                self.close_until(i, end);
                self.dirty[i] = true;
            }
        }
    }

    /// Closes buckets of keys that went quiet: their own event time no longer moves, so the
    /// latest event time of any key (minus lateness and `grace`) stands in. Without this, a
    /// burst of failures on a key that is never used again would never be judged. The daemon
    /// calls it after each poll; `--once` flushes instead.
    pub fn close_idle(&mut self, grace: i64) {
        let Some(m) = self.max_ts else {
            return;
        };
        let wm = m - self.settings.lateness - grace;
        for i in 0..self.keys.len() {
            // Only keys with open buckets: zeros for quiet keys are filled in lazily when they
            // are next used (same result), so a quiet key's state is not rewritten every poll.
            let st = &self.keys[i];
            if !st.open.is_empty() && st.last_ts < wm && st.closed < wm.div_euclid(BUCKET) - 1 {
                self.close_until(i, wm);
                self.dirty[i] = true;
            }
        }
    }

    /// Inventory checks (unused keys, rotation) at event time `now`.
    pub fn check_inventory(&mut self, now: i64) {
        inventory::check(self, now);
    }

    pub fn now(&self) -> i64 {
        self.max_ts
            .unwrap_or_else(|| chrono::Utc::now().timestamp())
    }

    pub fn last_use(&self, name: &str) -> Option<i64> {
        self.by_name
            .get(name)
            .map(|&i| self.keys[i as usize].last_ts)
    }

    pub fn inventory(&self) -> impl Iterator<Item = &KeyRecord> {
        self.inventory.values()
    }
}

impl EventSink for Engine {
    fn event(&mut self, ev: &Event<'_>) {
        let i = self.key_index(ev);
        self.dirty[i] = true;
        if self.max_ts.map_or(true, |m| ev.ts > m) {
            self.max_ts = Some(ev.ts);
        }
        if ev.ts > self.keys[i].last_ts {
            self.keys[i].last_ts = ev.ts;
            self.close_until(i, ev.ts - self.settings.lateness);
        }
        let st = &mut self.keys[i];
        let meta = &self.meta[i];
        if ev.ts < st.first_ts {
            st.first_ts = ev.ts;
        }
        if meta.exposed && !st.exposed_alerted {
            st.exposed_alerted = true;
            self.alerts.push(inventory::exposed_alert(meta, ev));
        }
        let b = ev.ts.div_euclid(BUCKET);
        if b <= st.closed {
            self.stats.late += 1;
        } else {
            let at = (b - st.closed - 1) as usize;
            if at >= st.open.len() {
                st.open.resize_with(at + 1, Bucket::default);
            }
            let bucket = &mut st.open[at];
            if ev.auth_failed() {
                auth::count(bucket, ev);
            } else {
                bucket.ok += 1;
            }
        }
        if !ev.auth_failed() {
            if let Some(ip) = ev.ip {
                source_ip::observe(st, meta, &self.settings, ev, ip, &mut self.alerts);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_704_067_200; // Monday

    fn feed(e: &mut Engine, ts: i64, key: &str, status: u16) {
        e.event(&Event {
            ts,
            key: key.as_bytes(),
            key_is_secret: false,
            status,
            ip: Some("10.0.0.1".parse().unwrap()),
        });
    }

    fn kinds(e: &Engine) -> Vec<(AlertKind, String)> {
        e.alerts.iter().map(|a| (a.kind, a.start.clone())).collect()
    }

    #[test]
    fn one_alert_per_incident_and_a_new_one_after_recovery() {
        let mut e = Engine::new(Settings::default(), Vec::new(), Exposed::default());
        let end = T0 + 8 * 86400 + 18 * 3600;
        let spikes = [
            T0 + 8 * 86400 + 10 * 3600, // 10:00-10:30
            T0 + 8 * 86400 + 15 * 3600, // 15:00-15:30
        ];
        let mut t = T0;
        while t < end {
            feed(&mut e, t, "k", 200);
            for s in spikes {
                if (s..s + 1800).contains(&t) {
                    // Ten more a step, delivered up to 9 minutes late (within the lateness).
                    for j in 0..10 {
                        feed(&mut e, (t - (j * 54) % 540).max(s), "k", 200);
                    }
                }
            }
            t += 15;
        }
        e.flush();
        assert_eq!(
            kinds(&e),
            vec![
                (AlertKind::VolumeSpike, time::format(spikes[0])),
                (AlertKind::VolumeSpike, time::format(spikes[1])),
            ]
        );
        assert_eq!(e.stats.late, 0);
        // Ids are stable and distinct.
        assert_ne!(e.alerts[0].id, e.alerts[1].id);
        assert_eq!(
            e.alerts[0].id,
            alert_id(AlertKind::VolumeSpike, "k", spikes[0])
        );
    }

    #[test]
    fn learning_period_suppresses_early_spikes_and_late_records_are_counted() {
        let mut e = Engine::new(Settings::default(), Vec::new(), Exposed::default());
        // A spike on day 2 is inside the learning period.
        for i in 0..(3 * 86400 / 15) {
            let t = T0 + i * 15;
            feed(&mut e, t, "k", 200);
            if (T0 + 2 * 86400..T0 + 2 * 86400 + 1800).contains(&t) {
                for _ in 0..20 {
                    feed(&mut e, t, "k", 200);
                }
            }
        }
        // A record from an hour ago: beyond the 15-minute lateness.
        feed(&mut e, T0 + 3 * 86400 - 3600, "k", 200);
        e.flush();
        assert!(e.alerts.is_empty(), "{:?}", kinds(&e));
        assert_eq!(e.stats.late, 1);
    }

    #[test]
    fn a_schedule_moved_by_an_hour_is_not_a_spike() {
        let mut e = Engine::new(Settings::default(), Vec::new(), Exposed::default());
        for b in 0..(12 * 288) {
            let start = T0 + b * 300;
            let day = b / 288;
            let hour = (b % 288) / 12;
            // Business hours 08-18 UTC, from day 9 on 07-17 (daylight saving time began).
            let open = if day < 9 { 8..18 } else { 7..17 };
            let n = if open.contains(&hour) { 150 } else { 3 };
            for j in 0..n {
                feed(&mut e, start + j * 300 / n, "k", 200);
            }
        }
        e.flush();
        assert!(e.alerts.is_empty(), "{:?}", kinds(&e));
    }
}
