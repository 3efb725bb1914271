//! The poll loop and its state. Each poll reads what is new in every input, runs the
//! detectors, and then commits, in ONE transaction: file offsets, the state of every key that
//! changed, and the new alerts (an outbox). Only then are alerts handed to sinks, each marked
//! delivered per sink once the sink returned Ok. So a kill -9 at any moment followed by a
//! restart neither loses an alert (it is in the outbox, or its input is re-read from the old
//! offsets with the old detector state) nor repeats one (ids are stable and the outbox keeps
//! one row per id; the file sink skips ids it already wrote).
//!
//! Test hooks (environment, for the crash tests): `KEYWARDEN_TEST_HOOKS=1` prints
//! `keywarden-test: poll N done` to stderr after each poll; `KEYWARDEN_TEST_PAUSE_AFTER_COMMIT=N`
//! stops (sleeps until killed) right after poll N's commit, before delivery;
//! `KEYWARDEN_TEST_PAUSE_BEFORE_COMMIT=N` stops after poll N read its input, before the commit;
//! `KEYWARDEN_TEST_PAUSE_AFTER_DELIVER=N` stops after the first alert of poll N reached the
//! sinks but before it is marked delivered.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension};

use super::config::MonitorConfig;
use super::detect::{Engine, KeyState};
use super::ingest::tail::{self, Tracked};
use super::ingest::IngestStats;
use super::output::AlertSink;
use crate::alert::Alert;
use crate::state::State;

pub const SCHEMA: &str = "
CREATE TABLE monitor_files (
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, path TEXT NOT NULL, offset INTEGER NOT NULL,
    line INTEGER NOT NULL, head_len INTEGER NOT NULL, head_hash TEXT NOT NULL,
    whole INTEGER NOT NULL, PRIMARY KEY (dev, ino));
CREATE TABLE monitor_keys (name TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE monitor_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE monitor_alerts (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, kind TEXT NOT NULL, key_id TEXT NOT NULL,
    start TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE monitor_deliveries (
    alert_id TEXT NOT NULL, sink TEXT NOT NULL, PRIMARY KEY (alert_id, sink));
";

/// How far (event time) other keys must have moved on before a quiet key's open buckets are
/// closed by the daemon.
pub const IDLE_GRACE: i64 = 3600;

/// What one poll did.
#[derive(Debug, Default)]
pub struct PollReport {
    pub stats: IngestStats,
    pub new_alerts: usize,
    pub delivered: usize,
    /// Events that arrived after their bucket had closed (beyond the allowed lateness).
    pub late: u64,
}

pub struct Daemon {
    cfg: MonitorConfig,
    state: State,
    engine: Engine,
    files: Vec<Tracked>,
    sinks: Vec<Box<dyn AlertSink>>,
    polls: u64,
}

fn test_hook(var: &str, poll: u64) -> bool {
    std::env::var(var).ok().and_then(|v| v.parse::<u64>().ok()) == Some(poll)
}

fn pause(what: &str, poll: u64) -> ! {
    eprintln!("keywarden-test: paused after {what} {poll}");
    let _ = std::io::stderr().flush();
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

impl Daemon {
    pub fn open(cfg: MonitorConfig) -> Result<Daemon> {
        let state = match &cfg.state {
            Some(p) => State::open(p)?,
            None => State::open(std::path::Path::new(":memory:"))?,
        };
        let mut engine = Engine::new(
            cfg.settings.clone(),
            cfg.inventory.clone(),
            cfg.exposed.clone(),
        );
        if let Some(m) = Engine::default_secret_matcher() {
            engine = engine.with_secret_matcher(m);
        }
        let conn = state.conn();
        {
            let mut q = conn.prepare("SELECT name, state FROM monitor_keys ORDER BY rowid")?;
            let rows = q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (name, text) = row?;
                let st: KeyState = serde_json::from_str(&text)
                    .with_context(|| format!("corrupt state for key {name}"))?;
                if !st.volume.is_valid() {
                    anyhow::bail!("corrupt state for key {name}: bad baseline shape");
                }
                engine.restore(name, st);
            }
        }
        engine.max_ts = conn
            .query_row(
                "SELECT value FROM monitor_meta WHERE key = 'max_ts'",
                [],
                |r| r.get::<_, String>(0),
            )
            .optional()?
            .and_then(|v| v.parse().ok());
        let files = {
            let mut q = conn.prepare(
                "SELECT dev, ino, path, offset, line, head_len, head_hash, whole FROM monitor_files",
            )?;
            let rows = q.query_map([], |r| {
                Ok(Tracked {
                    dev: r.get::<_, i64>(0)? as u64,
                    ino: r.get::<_, i64>(1)? as u64,
                    path: r.get(2)?,
                    offset: r.get::<_, i64>(3)? as u64,
                    line: r.get::<_, i64>(4)? as u64,
                    head_len: r.get::<_, i64>(5)? as u64,
                    head_hash: r.get(6)?,
                    whole: r.get::<_, i64>(7)? != 0,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        Ok(Daemon {
            cfg,
            state,
            engine,
            files,
            sinks: Vec::new(),
            polls: 0,
        })
    }

    /// Adds a sink; every undelivered outbox alert is handed to it after each poll.
    pub fn add_sink(&mut self, sink: Box<dyn AlertSink>) {
        self.sinks.push(sink);
    }

    /// One poll: read, detect, commit, deliver.
    pub fn poll(&mut self) -> Result<PollReport> {
        self.polls += 1;
        let mut report = PollReport::default();
        let complete = self.cfg.once;
        let late_before = self.engine.stats.late;
        super::ingest::time::refresh_horizon();
        let mut errors = Vec::new();
        let paths = tail::expand(&self.cfg.inputs, &mut errors);
        let mut seen: Vec<Tracked> = Vec::new();
        // A rotated file first: finish what is left of a known file that moved out of the
        // inputs' sight (`app.log` renamed to `app.log.1` beside an explicitly named input).
        for old in &self.files {
            if old.whole {
                continue;
            }
            let Some(moved) = find_moved(old) else {
                continue;
            };
            if paths.contains(&moved) {
                continue; // read below in path order
            }
            let mut t = old.clone();
            t.path = moved.display().to_string();
            if let Err(e) = tail::read_new(
                &mut t,
                &self.cfg.columns,
                &mut self.engine,
                &mut report.stats,
                complete,
            ) {
                errors.push(format!("{e:#}"));
            }
            seen.push(t);
        }
        for p in &paths {
            let r = tail::identify(p, &self.files).and_then(|mut t| {
                tail::read_new(
                    &mut t,
                    &self.cfg.columns,
                    &mut self.engine,
                    &mut report.stats,
                    complete,
                )?;
                Ok(t)
            });
            match r {
                Ok(t) => {
                    seen.retain(|s| !(s.dev == t.dev && s.ino == t.ino));
                    seen.push(t)
                }
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        // Keep the offsets of files that could not be read this time but still exist.
        for old in &self.files {
            if !seen.iter().any(|s| s.dev == old.dev && s.ino == old.ino)
                && find_moved(old).is_some()
            {
                seen.push(old.clone());
            }
        }
        report.stats.errors.extend(errors);
        if complete {
            self.engine.flush();
        } else {
            self.engine.close_idle(IDLE_GRACE);
        }
        // "Now" for the inventory: event time for `--once` (replays agree); a daemon also
        // lets the wall clock move it, or a quiet system would never find its unused keys.
        let now = self.cfg.now.unwrap_or_else(|| {
            let t = self.engine.now();
            if complete {
                t
            } else {
                t.max(chrono::Utc::now().timestamp())
            }
        });
        if self.engine.max_ts.is_some() || self.cfg.now.is_some() || !complete {
            self.engine.check_inventory(now);
        }
        report.late = self.engine.stats.late - late_before;
        if test_hook("KEYWARDEN_TEST_PAUSE_BEFORE_COMMIT", self.polls) {
            pause("reading", self.polls);
        }
        report.new_alerts = self.commit(&seen)?;
        self.files = seen;
        if test_hook("KEYWARDEN_TEST_PAUSE_AFTER_COMMIT", self.polls) {
            pause("commit", self.polls);
        }
        report.delivered = self.deliver()?;
        if std::env::var_os("KEYWARDEN_TEST_HOOKS").is_some() {
            eprintln!("keywarden-test: poll {} done", self.polls);
        }
        Ok(report)
    }

    /// Commits offsets, changed key state and new alerts together. Returns new alerts.
    fn commit(&mut self, files: &[Tracked]) -> Result<usize> {
        let engine = &mut self.engine;
        let tx = self.state.conn_mut().transaction()?;
        tx.execute("DELETE FROM monitor_files", [])?;
        for t in files {
            tx.execute(
                "INSERT OR REPLACE INTO monitor_files (dev, ino, path, offset, line, head_len, head_hash, whole)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    t.dev as i64,
                    t.ino as i64,
                    t.path,
                    t.offset as i64,
                    t.line as i64,
                    t.head_len as i64,
                    t.head_hash,
                    t.whole as i64
                ],
            )?;
        }
        for i in 0..engine.keys.len() {
            if engine.dirty[i] {
                tx.execute(
                    "INSERT OR REPLACE INTO monitor_keys (name, state) VALUES (?1, ?2)",
                    params![engine.meta[i].name, serde_json::to_string(&engine.keys[i])?],
                )?;
            }
        }
        if let Some(m) = engine.max_ts {
            tx.execute(
                "INSERT OR REPLACE INTO monitor_meta (key, value) VALUES ('max_ts', ?1)",
                [m.to_string()],
            )?;
        }
        let mut seq: i64 = tx.query_row(
            "SELECT COALESCE(MAX(seq), 0) FROM monitor_alerts",
            [],
            |r| r.get(0),
        )?;
        let mut new = 0;
        for a in &engine.alerts {
            let n = tx.execute(
                "INSERT OR IGNORE INTO monitor_alerts (id, seq, kind, key_id, start, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    a.id,
                    seq + 1,
                    a.kind.as_str(),
                    a.key_id,
                    a.start,
                    serde_json::to_string(a)?
                ],
            )?;
            if n == 1 {
                seq += 1;
                new += 1;
            }
        }
        tx.commit()?;
        engine.alerts.clear();
        engine.dirty.iter_mut().for_each(|d| *d = false);
        Ok(new)
    }

    /// Hands every undelivered alert to each sink, in outbox order.
    fn deliver(&mut self) -> Result<usize> {
        let mut delivered = 0;
        let mut first = true;
        for sink in self.sinks.iter_mut() {
            let pending: Vec<(String, String)> = {
                let mut q = self.state.conn().prepare(
                    "SELECT a.id, a.body FROM monitor_alerts a
                     WHERE NOT EXISTS (SELECT 1 FROM monitor_deliveries d
                                       WHERE d.alert_id = a.id AND d.sink = ?1)
                     ORDER BY a.seq",
                )?;
                let rows = q.query_map([sink.name()], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            for (id, body) in pending {
                let alert: Alert = serde_json::from_str(&body)?;
                sink.deliver(&alert)
                    .with_context(|| format!("cannot deliver alert {id} to {}", sink.name()))?;
                if first && test_hook("KEYWARDEN_TEST_PAUSE_AFTER_DELIVER", self.polls) {
                    pause("deliver", self.polls);
                }
                first = false;
                mark(self.state.conn(), &id, sink.name())?;
                delivered += 1;
            }
            sink.after_poll();
        }
        Ok(delivered)
    }

    /// Runs until `stop` is set (SIGINT/SIGTERM), polling every interval.
    pub fn run(&mut self, stop: Arc<AtomicBool>) -> Result<()> {
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            let r = self.poll()?;
            log_report(&r);
            while started.elapsed() < self.cfg.interval && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        tracing::info!("stopping");
        Ok(())
    }

    pub fn late_events(&self) -> u64 {
        self.engine.stats.late
    }
}

fn mark(conn: &Connection, id: &str, sink: &str) -> Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO monitor_deliveries (alert_id, sink) VALUES (?1, ?2)",
        params![id, sink],
    )?;
    Ok(())
}

/// A tracked file that is no longer at its path: look beside it for the same inode (the usual
/// `app.log` → `app.log.1` rotation).
fn find_moved(old: &Tracked) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let p = PathBuf::from(&old.path);
    if let Ok(md) = std::fs::metadata(&p) {
        if md.dev() == old.dev && md.ino() == old.ino {
            return Some(p);
        }
    }
    let dir = p.parent()?;
    let dir = if dir.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        dir
    };
    for ent in std::fs::read_dir(dir).ok()?.flatten() {
        if let Ok(md) = ent.metadata() {
            if md.is_file() && md.dev() == old.dev && md.ino() == old.ino {
                return Some(ent.path());
            }
        }
    }
    None
}

pub fn log_report(r: &PollReport) {
    let s = &r.stats;
    if s.garbled > 0 {
        tracing::warn!(
            "{} rows could not be parsed, e.g.:\n  {}",
            s.garbled,
            s.samples.join("\n  ")
        );
    }
    if r.late > 0 {
        tracing::warn!(
            "{} events arrived after their 5-minute bucket had closed (raise --lateness); \
             they count for address and exposure checks only",
            r.late
        );
    }
    for e in &s.errors {
        tracing::error!("{e}");
    }
    tracing::info!(
        "{} events, {} skipped, {} garbled, {} new alerts",
        s.events,
        s.skipped,
        s.garbled,
        r.new_alerts
    );
}
