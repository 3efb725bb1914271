//! AWS CloudTrail log files: `{"Records": [...]}` with eventTime, userIdentity.accessKeyId,
//! sourceIPAddress, errorCode, eventName. A delivery file is small (minutes of events) and is
//! parsed whole; records are numbered from 1 in garbled-row samples.

use serde::Deserialize;

use super::{parse_ip, time, Event, EventSink, IngestStats};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub access_key_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub event_time: Option<String>,
    pub user_identity: Option<Identity>,
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: Option<String>,
    pub error_code: Option<String>,
    pub event_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Trail {
    #[serde(rename = "Records")]
    records: Vec<serde_json::Value>,
}

/// Error codes that mean the credentials were refused (401/403 in HTTP terms).
fn status_of(error_code: Option<&str>) -> u16 {
    match error_code {
        None | Some("") => 200,
        Some(c) => {
            let c = c.strip_prefix("Client.").unwrap_or(c);
            match c {
                "InvalidClientTokenId"
                | "SignatureDoesNotMatch"
                | "AuthFailure"
                | "IncompleteSignature"
                | "MissingAuthenticationToken"
                | "ExpiredToken"
                | "InvalidAccessKeyId"
                | "UnrecognizedClientException" => 401,
                "AccessDenied"
                | "AccessDeniedException"
                | "UnauthorizedOperation"
                | "UnauthorizedAccess" => 403,
                c if c.contains("Throttl") => 429,
                _ => 400,
            }
        }
    }
}

pub fn record(rec: &Record, sink: &mut dyn EventSink) -> Result<bool, &'static str> {
    let ts = rec
        .event_time
        .as_deref()
        .and_then(|t| time::parse(t.as_bytes()))
        .ok_or("bad or missing eventTime")?;
    if ts > time::horizon() {
        return Err("eventTime in the future");
    }
    let Some(key) = rec
        .user_identity
        .as_ref()
        .and_then(|u| u.access_key_id.as_deref())
        .filter(|k| !k.is_empty())
    else {
        return Ok(false);
    };
    sink.event(&Event {
        ts,
        key: key.as_bytes(),
        key_is_secret: false,
        status: status_of(rec.error_code.as_deref()),
        ip: rec
            .source_ip_address
            .as_deref()
            .and_then(|s| parse_ip(s.as_bytes())),
    });
    Ok(true)
}

/// Parses a whole CloudTrail file. A file that is not CloudTrail JSON at all counts as one
/// garbled row at line 1.
pub fn parse(path: &str, text: &[u8], sink: &mut dyn EventSink, stats: &mut IngestStats) {
    let trail: Trail = match serde_json::from_slice(text) {
        Ok(t) => t,
        Err(e) => {
            stats.garbled(path, e.line() as u64, "not a CloudTrail JSON document");
            return;
        }
    };
    for (i, v) in trail.records.into_iter().enumerate() {
        let n = i as u64 + 1;
        match serde_json::from_value::<Record>(v) {
            Ok(rec) => match record(&rec, sink) {
                Ok(true) => stats.events += 1,
                Ok(false) => stats.skipped += 1,
                Err(why) => stats.garbled(path, n, &format!("record {n}: {why}")),
            },
            Err(_) => stats.garbled(path, n, &format!("record {n}: not a CloudTrail record")),
        }
    }
}
