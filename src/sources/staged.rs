//! The staged source, for pre-commit hooks: the index compared with HEAD (or with nothing when
//! the branch has no commit yet). Each staged file is scanned whole, so rules that need context
//! still work, but only findings on added or changed lines are reported: a secret that was
//! already committed (and is presumably baselined or being dealt with) does not block every
//! later commit touching its file. Renames are detected, so moving a file adds no lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use git2::{Delta, DiffFindOptions, DiffOptions, FileMode, Oid};

use crate::findings::{self, Finding, Summary};
use crate::matcher::Matcher;
use crate::scan::{ScanOutput, Worker};
use crate::sources::fs::PathFilter;
use crate::sources::git::{self, BlobOutcome, GitStats};
use crate::sources::Provenance;

/// Shown on stderr when a staged scan finds something, so the person committing knows their
/// options.
pub const BLOCKED_HINT: &str = "keywarden: commit blocked: staged changes add the secrets above.
  - a real secret: remove it from the staged files (and revoke it if it was ever pushed)
  - a false positive: add a `keywarden:allow` comment on its line, or record it in a baseline
    (`keywarden baseline create .keywarden-baseline.json`, then scan with
    `--baseline .keywarden-baseline.json`), or add its fingerprint to .keywardenignore";

/// Scans what is staged in the repository holding `repo_path`.
pub fn scan_staged(
    matcher: &Arc<Matcher>,
    repo_path: &Path,
    max_blob_size: u64,
    exclude: Option<&PathFilter>,
) -> Result<ScanOutput> {
    let repo = git::open(repo_path)?;
    let mut stats = GitStats {
        bare: repo.is_bare(),
        shallow: repo.is_shallow(),
        ..GitStats::default()
    };
    let mut summary = Summary {
        rules: matcher.rules().len(),
        ..Summary::default()
    };
    if stats.bare {
        tracing::warn!("bare repository: there is no index, nothing is staged");
        summary.git = Some(stats);
        return Ok(ScanOutput {
            findings: Vec::new(),
            summary,
        });
    }
    // Git points hooks at the index being committed (`git commit -a` or `git commit PATH` use a
    // temporary one) through GIT_INDEX_FILE.
    let index = match std::env::var_os("GIT_INDEX_FILE") {
        Some(p) if !p.is_empty() => git2::Index::open(Path::new(&p))
            .with_context(|| format!("cannot read the index {}", Path::new(&p).display()))?,
        _ => repo.index().context("cannot read the index")?,
    };
    // An unborn branch (no commit yet) compares the index with the empty tree.
    let head_tree = match repo.head() {
        Ok(h) => Some(h.peel_to_tree().context("cannot read HEAD's tree")?),
        Err(e)
            if e.code() == git2::ErrorCode::UnbornBranch
                || e.code() == git2::ErrorCode::NotFound =>
        {
            None
        }
        Err(e) => return Err(e).context("cannot read HEAD"),
    };
    let mut dopts = DiffOptions::new();
    dopts.context_lines(0).include_typechange(true);
    let mut diff = repo
        .diff_tree_to_index(head_tree.as_ref(), Some(&index), Some(&mut dopts))
        .context("cannot compare the index with HEAD")?;
    let mut fopts = DiffFindOptions::new();
    fopts.renames(true).copies(false);
    if let Err(e) = diff.find_similar(Some(&mut fopts)) {
        tracing::debug!("rename detection failed: {}", e.message());
    }

    // Added lines per staged blob (new side), from a zero-context diff.
    let mut added: BTreeMap<(String, Oid), BTreeSet<usize>> = BTreeMap::new();
    let mut files: Vec<(String, Oid)> = Vec::new();
    for delta in diff.deltas() {
        if !matches!(
            delta.status(),
            Delta::Added | Delta::Modified | Delta::Typechange | Delta::Renamed | Delta::Copied
        ) {
            continue;
        }
        let file = delta.new_file();
        match file.mode() {
            FileMode::Blob | FileMode::BlobExecutable => {}
            FileMode::Commit => {
                stats.submodules += 1;
                continue;
            }
            _ => continue,
        }
        if file.id().is_zero() {
            continue;
        }
        let Some(raw) = file.path_bytes() else {
            continue;
        };
        let path = String::from_utf8_lossy(raw).into_owned();
        if std::str::from_utf8(raw).is_err() {
            tracing::warn!("path is not UTF-8, shown as {path:?}");
            stats.non_utf8_paths += 1;
        }
        if exclude.is_some_and(|f| f.excludes_relative(&path)) {
            summary.skipped_excluded += 1;
            continue;
        }
        files.push((path, file.id()));
    }
    let wanted: BTreeSet<(String, Oid)> = files.iter().cloned().collect();
    let mut line_cb = |delta: git2::DiffDelta<'_>,
                       _hunk: Option<git2::DiffHunk<'_>>,
                       line: git2::DiffLine<'_>| {
        if line.origin() == '+' {
            if let (Some(raw), Some(n)) = (delta.new_file().path_bytes(), line.new_lineno()) {
                let key = (
                    String::from_utf8_lossy(raw).into_owned(),
                    delta.new_file().id(),
                );
                if wanted.contains(&key) {
                    added.entry(key).or_default().insert(n as usize);
                }
            }
        }
        true
    };
    if let Err(e) = diff.foreach(&mut |_, _| true, None, None, Some(&mut line_cb)) {
        tracing::warn!("cannot diff staged files: {}", e.message());
        stats.corrupt_objects += 1;
    }

    let mut worker = Worker::default();
    let mut findings: Vec<Finding> = Vec::new();
    let mut local: Vec<Finding> = Vec::new();
    for (path, oid) in &files {
        let lines = added.get(&(path.clone(), *oid));
        let outcome = git::scan_blob(&repo, *oid, max_blob_size, |bytes| {
            if lines.is_some() {
                worker.scan_blob(matcher, &Provenance::file(path.clone()), bytes, &mut local);
            }
        });
        match outcome {
            BlobOutcome::Scanned(n) => {
                if lines.is_some() {
                    stats.blobs_scanned += 1;
                    summary.files_scanned += 1;
                    summary.bytes_scanned += n;
                }
            }
            BlobOutcome::Binary => {
                stats.blobs_binary += 1;
                summary.skipped_binary += 1;
            }
            BlobOutcome::TooLarge(size) => {
                tracing::warn!("skipping {path}: {size} bytes is over the size limit");
                stats.blobs_too_large += 1;
                summary.skipped_too_large += 1;
            }
            BlobOutcome::Unreadable(e) => {
                tracing::warn!("cannot read staged {path}: {e}");
                stats.corrupt_objects += 1;
            }
        }
        if let Some(lines) = lines {
            findings.extend(local.drain(..).filter(|f| {
                // Lines inside a source map's embedded sources are not file lines.
                f.inner_path.is_some()
                    || lines
                        .range(f.line..=f.end_line.max(f.line))
                        .next()
                        .is_some()
            }));
        }
        local.clear();
    }
    findings::sort(&mut findings);
    stats.blobs_seen = files.len() as u64;
    summary.findings = findings.len();
    summary.blobs_scanned = Some(stats.blobs_scanned);
    summary.git = Some(stats);
    Ok(ScanOutput { findings, summary })
}
