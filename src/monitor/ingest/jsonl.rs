//! JSON lines: one object a line, fields found by the same names as CSV columns (case
//! insensitive). A line holding a CloudTrail record (eventTime + userIdentity) is read as one.

use serde_json::{Map, Value};

use super::{cloudtrail, parse_ip, parse_status, time, ColumnNames, Event, EventSink, Role};

#[derive(Debug)]
pub struct JsonlParser {
    ts: Vec<String>,
    key: Vec<String>,
    secret: Vec<String>,
    status: Vec<String>,
    ip: Vec<String>,
}

fn field<'a>(obj: &'a Map<String, Value>, names: &[String]) -> Option<&'a Value> {
    for n in names {
        if let Some(v) = obj.get(n.as_str()) {
            return Some(v);
        }
    }
    // Case-insensitive fallback.
    obj.iter()
        .find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
        .map(|(_, v)| v)
}

fn text(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match v {
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s.as_str())),
        Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        _ => None,
    }
}

impl JsonlParser {
    pub fn new(names: &ColumnNames) -> JsonlParser {
        JsonlParser {
            ts: names.names(Role::Timestamp),
            key: names.names(Role::KeyId),
            secret: names.names(Role::Secret),
            status: names.names(Role::Status),
            ip: names.names(Role::SourceIp),
        }
    }

    pub fn parse(&mut self, line: &[u8], sink: &mut dyn EventSink) -> Result<bool, &'static str> {
        let obj: Map<String, Value> =
            serde_json::from_slice(line).map_err(|_| "not a JSON object")?;
        if obj.contains_key("eventTime") && obj.contains_key("userIdentity") {
            let rec: cloudtrail::Record =
                serde_json::from_value(Value::Object(obj)).map_err(|_| "bad CloudTrail record")?;
            return cloudtrail::record(&rec, sink);
        }
        let ts = field(&obj, &self.ts)
            .and_then(text)
            .and_then(|t| time::parse(t.as_bytes()))
            .ok_or("bad or missing timestamp")?;
        if ts > time::horizon() {
            return Err("timestamp in the future");
        }
        let (key, key_is_secret) = match field(&obj, &self.key).and_then(text) {
            Some(k) => (k, false),
            None => match field(&obj, &self.secret).and_then(text) {
                Some(s) => (s, true),
                None => return Ok(false),
            },
        };
        let key = key.trim();
        if key.is_empty() {
            return Ok(false);
        }
        let status = match field(&obj, &self.status).and_then(text) {
            Some(s) => parse_status(s.as_bytes()).ok_or("bad status")?,
            None => 0,
        };
        let ip = field(&obj, &self.ip)
            .and_then(text)
            .and_then(|s| parse_ip(s.as_bytes()));
        sink.event(&Event {
            ts,
            key: key.as_bytes(),
            key_is_secret,
            status,
            ip,
        });
        Ok(true)
    }
}
