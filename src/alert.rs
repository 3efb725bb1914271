//! The alert contract shared by the monitor (which raises alerts) and the act layer (which
//! notifies and revokes). Times are event time, RFC 3339 UTC.

use serde::{Deserialize, Serialize};

use crate::rules::Severity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    VolumeSpike,
    AuthFailures,
    NewSourceIp,
    UnusedKey,
    RotationDue,
    ExposedKeyInUse,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::VolumeSpike => "volume_spike",
            AlertKind::AuthFailures => "auth_failures",
            AlertKind::NewSourceIp => "new_source_ip",
            AlertKind::UnusedKey => "unused_key",
            AlertKind::RotationDue => "rotation_due",
            AlertKind::ExposedKeyInUse => "exposed_key_in_use",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable: the same incident in a replay gets the same id.
    pub id: String,
    pub key_id: String,
    pub kind: AlertKind,
    pub severity: Severity,
    /// When the anomaly began (event time).
    pub start: String,
    /// When the detector had enough data to know (event time).
    pub detected_at: String,
    pub summary: String,
    pub evidence: serde_json::Value,
}
