//! The state database (SQLite, one writer): file offsets, per-key baselines, incidents and
//! alerts for the monitor; the action log for revocations. Schema changes are named migrations
//! applied in order, each once, so features can add tables without renumbering anyone else's.
//! No secret is ever stored in clear: keys are referred to by id or by SHA-256.

use std::path::Path;

use anyhow::{Context, Result};
use rusqlite::Connection;

/// `(name, sql)`, applied in this order. Append only: never edit or reorder a shipped entry.
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001-meta",
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    ),
    ("0100-monitor", crate::monitor::daemon::SCHEMA),
    ("0200-act-actions", crate::act::MIGRATION_ACTIONS),
];

/// An open state database.
pub struct State {
    conn: Connection,
}

impl State {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<State> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open state database {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        let mut state = State { conn };
        state
            .migrate()
            .with_context(|| format!("cannot migrate state database {}", path.display()))?;
        Ok(state)
    }

    fn migrate(&mut self) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL);")?;
        for (name, sql) in MIGRATIONS {
            let done: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM migrations WHERE name = ?1)",
                [name],
                |r| r.get(0),
            )?;
            if !done {
                tx.execute_batch(sql)
                    .with_context(|| format!("migration {name}"))?;
                tx.execute(
                    "INSERT INTO migrations (name, applied_at) VALUES (?1, strftime('%Y-%m-%dT%H:%M:%SZ','now'))",
                    [name],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_twice_and_migrates_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/state.db");
        drop(State::open(&p).unwrap());
        let s = State::open(&p).unwrap();
        let n: i64 = s
            .conn()
            .query_row("SELECT COUNT(*) FROM migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, MIGRATIONS.len() as i64);
    }
}
