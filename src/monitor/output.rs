//! Alert sinks. The daemon commits alerts to an outbox table in the same transaction as the
//! offsets and detector state; sinks drain the outbox afterwards and an alert is marked
//! delivered to a sink only after that sink returned `Ok`. A crash between the two means the
//! sink sees the alert again after restart (at-least-once); the file sink makes that
//! exactly-once by skipping ids it already holds.
//!
//! Other layers (notifications, revocation) plug in by implementing `AlertSink` and passing it
//! to `daemon::Daemon::add_sink`.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::alert::Alert;
use crate::terminal;

/// Somewhere alerts go. `name` must be stable across restarts: delivery is recorded per name.
pub trait AlertSink {
    fn name(&self) -> &str;
    fn deliver(&mut self, alert: &Alert) -> Result<()>;
    /// Called once after every poll's deliveries (the act layer retries pending actions).
    fn after_poll(&mut self) {}
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertFormat {
    Human,
    Jsonl,
}

pub fn render(alert: &Alert, format: AlertFormat) -> String {
    match format {
        AlertFormat::Jsonl => serde_json::to_string(alert).unwrap_or_default(),
        AlertFormat::Human => format!(
            "{:<8} {:<18} {} {} {} [id {}]",
            alert.severity.as_str(),
            alert.kind.as_str(),
            terminal::escape(&alert.key_id),
            alert.start,
            terminal::escape(&alert.summary),
            alert.id
        ),
    }
}

/// Standard output (at-least-once across crashes).
pub struct StdoutSink {
    pub format: AlertFormat,
}

impl AlertSink for StdoutSink {
    fn name(&self) -> &str {
        "stdout"
    }
    fn deliver(&mut self, alert: &Alert) -> Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", render(alert, self.format))?;
        out.flush()?;
        Ok(())
    }
}

/// Appends to a file, each alert once: ids already in the file are skipped, and every write
/// is flushed to disk before it counts as delivered.
pub struct FileSink {
    path: PathBuf,
    name: String,
    format: AlertFormat,
    file: File,
    seen: HashSet<String>,
}

impl FileSink {
    pub fn open(path: &Path, format: AlertFormat) -> Result<FileSink> {
        let mut seen = HashSet::new();
        if let Ok(f) = File::open(path) {
            for line in BufReader::new(f).lines() {
                let line = line.with_context(|| format!("cannot read {}", path.display()))?;
                if let Some(id) = id_in_line(&line) {
                    seen.insert(id);
                }
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(FileSink {
            path: path.to_path_buf(),
            name: format!("file:{}", path.display()),
            format,
            file,
            seen,
        })
    }
}

/// The alert id in a line this sink wrote (either format).
fn id_in_line(line: &str) -> Option<String> {
    if line.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        return v.get("id")?.as_str().map(str::to_string);
    }
    let at = line.rfind("[id ")?;
    line[at + 4..].strip_suffix(']').map(str::to_string)
}

impl AlertSink for FileSink {
    fn name(&self) -> &str {
        &self.name
    }
    fn deliver(&mut self, alert: &Alert) -> Result<()> {
        if self.seen.contains(&alert.id) {
            return Ok(());
        }
        let mut line = render(alert, self.format);
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.sync_data())
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        self.seen.insert(alert.id.clone());
        Ok(())
    }
}
