//! Test harness: a temp dir per test and a `keywarden` command with a clean environment
//! (no user config, tokens or colour settings leak in).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct TestDir {
    pub dir: tempfile::TempDir,
    /// A second directory for files that must not be inside the scanned tree (rules, configs).
    pub aux: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> TestDir {
        TestDir {
            dir: tempfile::tempdir().expect("temp dir"),
            aux: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Writes `contents` at `rel` in the auxiliary directory and returns its absolute path.
    pub fn write_aux(&self, rel: &str, contents: impl AsRef<[u8]>) -> String {
        let p = self.aux.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, contents).unwrap();
        p.display().to_string()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes `contents` at `rel`, creating parent directories.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// `keywarden` run with this directory as its working directory.
    pub fn cmd(&self) -> Command {
        keywarden_in(self.path())
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_keywarden")
}

/// A hermetic `keywarden` command: only PATH, HOME (a fresh dir is better) and the variables
/// a test sets itself are passed on.
pub fn keywarden_in(dir: &Path) -> Command {
    let mut c = Command::new(bin());
    c.current_dir(dir).env_clear().stdin(Stdio::null());
    if let Some(path) = std::env::var_os("PATH") {
        c.env("PATH", path);
    }
    c.env("HOME", dir);
    c
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run keywarden")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Parses a `--format json` report.
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", stdout(o), stderr(o)))
}

/// `(rule_id, path, line)` of every finding in a JSON report, in report order.
pub fn finding_keys(report: &serde_json::Value) -> Vec<(String, String, u64)> {
    report["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap().to_string(),
                f["path"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Fake secrets assembled at run time so that this repository's own scan stays clean.
pub mod fake {
    /// A GitHub classic PAT with a valid CRC32 tail, from a 30-character body.
    pub fn github_pat(body30: &str) -> String {
        assert_eq!(body30.len(), 30);
        format!(
            "{}{body30}{}",
            ["gh", "p_"].concat(),
            keywarden::checksum::base62(crc32fast::hash(body30.as_bytes()), 6)
        )
    }

    pub fn aws_key_id(tail16: &str) -> String {
        assert_eq!(tail16.len(), 16);
        format!("{}{tail16}", ["AK", "IA"].concat())
    }
}
