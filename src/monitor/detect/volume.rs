//! volume_spike: a key's authenticated requests per 5-minute bucket against its own seasonal
//! baseline. Two baselines, both robust:
//! - by hour of day × weekday/weekend (48 slots, the last 60 buckets of each): median and MAD,
//!   which absorbs day/night and weekend cycles, and (being recent and a median) a ramp of
//!   traffic over days; the larger of this hour's and the neighbouring hours' medians is used,
//!   so a schedule shifted by an hour (daylight saving time) is not a spike;
//! - by time of day at 5-minute resolution over the last 6 days: the median over days of the
//!   busiest neighbouring bucket, which absorbs a batch job that runs at the same time every
//!   day even when it fills only part of an hour.
//!
//! A bucket is a spike when it exceeds the larger baseline by k robust deviations, by a ratio
//! and by a minimum absolute excess, all three. The key must have `learning` of history first.
//! One alert per incident: the incident stays open until a bucket is normal again.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{make_alert, KeyMeta, KeyState, Settings, BUCKET, BUCKETS_PER_DAY};
use crate::alert::{Alert, AlertKind};
use crate::monitor::ingest::time;
use crate::rules::Severity;

const RING: usize = 60;
const SLOTS: usize = 48;
const DAYS: usize = 7;

#[derive(Debug, Clone)]
pub struct VolumeSettings {
    /// Robust deviations above the baseline.
    pub k: f64,
    /// At least this many times the baseline.
    pub ratio: f64,
    /// At least this many requests above the baseline per bucket.
    pub min_excess: u32,
}

impl Default for VolumeSettings {
    fn default() -> VolumeSettings {
        VolumeSettings {
            k: 6.0,
            ratio: 3.0,
            min_excess: 50,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VolumeState {
    /// Learning starts here (first event, or the end of a long silence).
    pub since: i64,
    /// `SLOTS` rings of `RING` counts.
    #[serde(with = "packed")]
    pub seasonal: Vec<u32>,
    pub seasonal_len: Vec<u8>,
    pub seasonal_pos: Vec<u8>,
    /// `BUCKETS_PER_DAY` × `DAYS` counts, by day index modulo `DAYS`.
    #[serde(with = "packed")]
    pub daily: Vec<u32>,
    /// Start of the open incident.
    pub incident: Option<i64>,
}

impl VolumeState {
    pub fn new(since: i64) -> VolumeState {
        VolumeState {
            since,
            seasonal: vec![0; SLOTS * RING],
            seasonal_len: vec![0; SLOTS],
            seasonal_pos: vec![0; SLOTS],
            daily: vec![0; BUCKETS_PER_DAY as usize * DAYS],
            incident: None,
        }
    }
}

impl VolumeState {
    /// Whether a state read back from the database has the shape this code indexes into.
    pub fn is_valid(&self) -> bool {
        self.seasonal.len() == SLOTS * RING
            && self.seasonal_len.len() == SLOTS
            && self.seasonal_pos.len() == SLOTS
            && self.seasonal_len.iter().all(|&l| l as usize <= RING)
            && self.seasonal_pos.iter().all(|&p| (p as usize) < RING)
            && self.daily.len() == BUCKETS_PER_DAY as usize * DAYS
    }
}

fn slot(bucket: i64) -> usize {
    let t = bucket * BUCKET;
    let hour = (t.rem_euclid(86400) / 3600) as usize;
    let weekend = time::weekday(t) >= 5;
    hour + if weekend { 24 } else { 0 }
}

fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    let mid = n / 2;
    v.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    let hi = v[mid];
    if n % 2 == 1 {
        hi
    } else {
        let lo = v[..mid].iter().copied().fold(f64::MIN, f64::max);
        (lo + hi) / 2.0
    }
}

/// `(expected, scale)` for `bucket`, or `None` while the baseline is too thin.
fn baseline(v: &VolumeState, bucket: i64) -> Option<(f64, f64, f64)> {
    let s = slot(bucket);
    let len = v.seasonal_len[s] as usize;
    if len < 12 {
        return None;
    }
    let mut xs: Vec<f64> = v.seasonal[s * RING..s * RING + len]
        .iter()
        .map(|&c| c as f64)
        .collect();
    let med = median(&mut xs);
    for x in xs.iter_mut() {
        *x = (*x - med).abs();
    }
    let mad = median(&mut xs);
    // The neighbouring hours' medians too: a schedule that shifts by an hour (daylight saving
    // time in the users' zone, a moved cron job) must not look like a spike for a week.
    let mut med_near = med;
    for off in [-12, 12] {
        let n = slot(bucket + off);
        let nlen = v.seasonal_len[n] as usize;
        if nlen >= 12 {
            let mut ys: Vec<f64> = v.seasonal[n * RING..n * RING + nlen]
                .iter()
                .map(|&c| c as f64)
                .collect();
            med_near = med_near.max(median(&mut ys));
        }
    }
    let scale = (1.4826 * mad).max(med.sqrt()).max(1.0);
    // Same time of day on earlier days.
    let day = bucket.div_euclid(BUCKETS_PER_DAY);
    let first_day = (v.since + BUCKET - 1).div_euclid(86400);
    let b_of_day = bucket.rem_euclid(BUCKETS_PER_DAY);
    let mut days = Vec::with_capacity(DAYS);
    for j in 1..DAYS as i64 {
        let d = day - j;
        if d < first_day {
            break;
        }
        let ring = d.rem_euclid(DAYS as i64) as usize;
        let mut m = 0u32;
        for off in -1..=1 {
            let bb = b_of_day + off;
            if (0..BUCKETS_PER_DAY).contains(&bb) {
                m = m.max(v.daily[bb as usize * DAYS + ring]);
            }
        }
        days.push(m as f64);
    }
    let recurring = if days.len() >= 3 {
        median(&mut days)
    } else {
        0.0
    };
    Some((med_near, recurring, scale))
}

fn record(v: &mut VolumeState, bucket: i64, count: u32) {
    let s = slot(bucket);
    let pos = v.seasonal_pos[s] as usize;
    v.seasonal[s * RING + pos] = count;
    v.seasonal_pos[s] = ((pos + 1) % RING) as u8;
    if (v.seasonal_len[s] as usize) < RING {
        v.seasonal_len[s] += 1;
    }
    let day = bucket.div_euclid(BUCKETS_PER_DAY).rem_euclid(DAYS as i64) as usize;
    let b = bucket.rem_euclid(BUCKETS_PER_DAY) as usize;
    v.daily[b * DAYS + day] = count;
}

/// Judges closed bucket `bucket` with `count` authenticated requests, then learns from it.
pub fn close(
    st: &mut KeyState,
    meta: &KeyMeta,
    settings: &Settings,
    bucket: i64,
    count: u32,
    alerts: &mut Vec<Alert>,
) {
    let v = &mut st.volume;
    let start = bucket * BUCKET;
    let learned = start - v.since >= settings.learning;
    if learned {
        if let Some((med, recurring, scale)) = baseline(v, bucket) {
            let vs = &settings.volume;
            let expected = med.max(recurring);
            let threshold = (expected + vs.k * scale)
                .max(expected * vs.ratio)
                .max(expected + vs.min_excess as f64);
            let c = count as f64;
            if c > threshold {
                if v.incident.is_none() {
                    v.incident = Some(start);
                    alerts.push(make_alert(
                        AlertKind::VolumeSpike,
                        &meta.name,
                        &meta.name,
                        Severity::High,
                        start,
                        start + BUCKET,
                        format!(
                            "{count} requests in 5 minutes, about {:.0}x the usual {:.0} for this time",
                            c / expected.max(1.0),
                            expected
                        ),
                        json!({
                            "requests": count,
                            "bucket_seconds": BUCKET,
                            "baseline_median": med,
                            "baseline_same_time_daily": recurring,
                            "baseline_scale": (scale * 100.0).round() / 100.0,
                            "threshold": threshold.ceil(),
                        }),
                    ));
                }
            } else {
                v.incident = None;
            }
        }
    }
    record(v, bucket, count);
}

/// Count arrays in the state database as base64 of LEB128 varints: most counts take one byte,
/// so a key's baseline is a few KB instead of tens of KB of JSON numbers, rewritten each poll.
mod packed {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u32], s: S) -> Result<S::Ok, S::Error> {
        let mut bytes = Vec::with_capacity(v.len());
        for &x in v {
            let mut x = x;
            loop {
                let b = (x & 0x7f) as u8;
                x >>= 7;
                if x == 0 {
                    bytes.push(b);
                    break;
                }
                bytes.push(b | 0x80);
            }
        }
        s.serialize_str(&base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u32>, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)?;
        let mut out = Vec::with_capacity(bytes.len());
        let (mut x, mut shift) = (0u32, 0u32);
        for b in bytes {
            if shift > 28 {
                return Err(serde::de::Error::custom("bad packed counts"));
            }
            x |= ((b & 0x7f) as u32) << shift;
            if b & 0x80 == 0 {
                out.push(x);
                x = 0;
                shift = 0;
            } else {
                shift += 7;
            }
        }
        Ok(out)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn round_trip() {
            #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
            struct W(#[serde(with = "super")] Vec<u32>);
            let w = W(vec![0, 1, 127, 128, 300, 65_536, u32::MAX]);
            let j = serde_json::to_string(&w).unwrap();
            assert_eq!(serde_json::from_str::<W>(&j).unwrap(), w);
        }
    }
}
