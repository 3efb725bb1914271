//! The git history source: every blob reachable from the selected refs, each distinct blob
//! scanned once, each finding tied to the commit and path that first introduced its blob.
//!
//! Three phases. (1) A revwalk lists the commits, parents before children. (2) Each commit's
//! tree is diffed against its first parent in parallel (one `git2::Repository` per worker,
//! handles are never shared); a merge is diffed against every parent and only what differs from
//! all of them counts as introduced there. (3) The distinct blobs are scanned in parallel, again
//! one repository handle per worker, and their findings get the first introduction as
//! provenance and every introduction as an occurrence.
//!
//! "Introduced" means added or changed by a commit, so a file that lives unchanged through 10,000
//! commits costs one scan and one occurrence; a secret that survives edits of its file gets one
//! occurrence per edit. Damaged input (missing objects, submodules, odd paths, huge blobs) is
//! warned about and counted; only a repository that cannot be opened is an error.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use git2::{ObjectType, Oid, Repository, Sort};
use rayon::prelude::*;
use serde::Serialize;

use crate::findings::{self, Finding, Occurrence, Summary};
use crate::matcher::Matcher;
use crate::scan::{ScanOutput, Worker};
use crate::sources::fs::PathFilter;
use crate::sources::{is_binary, CommitInfo, Provenance};

/// Which commits a history scan covers.
#[derive(Debug, Clone, Default)]
pub struct HistoryOptions {
    /// A path inside the repository (work tree or bare `.git` directory).
    pub repo: PathBuf,
    /// Only this ref (branch, tag, any revision); default: every ref, HEAD and the stashes.
    pub branch: Option<String>,
    /// Only commits after this revision (reachable from the scanned refs but not from it).
    pub since: Option<String>,
    /// `A..B`: commits reachable from B but not from A.
    pub range: Option<String>,
    pub max_blob_size: u64,
    pub threads: usize,
    /// Paths (relative to the repository root) whose blobs are not scanned.
    pub exclude: Option<PathFilter>,
    /// Draw a progress bar on stderr when it is a terminal and not in CI.
    pub progress: bool,
}

/// What a history scan walked, scanned and passed over; `summary.git` in reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GitStats {
    pub commits: u64,
    /// Distinct blobs introduced by the walked commits.
    pub blobs_seen: u64,
    /// Distinct blobs actually scanned (text, under the size limit, not excluded).
    pub blobs_scanned: u64,
    pub blobs_binary: u64,
    pub blobs_too_large: u64,
    pub blobs_excluded: u64,
    /// Objects that could not be read (missing or corrupt commits, trees or blobs).
    pub corrupt_objects: u64,
    /// Submodule entries (gitlinks): their content lives in another repository.
    pub submodules: u64,
    /// Paths that are not UTF-8 (shown lossily).
    pub non_utf8_paths: u64,
    pub shallow: bool,
    pub bare: bool,
}

/// Opens the repository holding `path`; the one failure that makes a scan exit 2.
pub fn open(path: &Path) -> Result<Repository> {
    // Re-hashing every object read cost a fifth of a history scan; a damaged object still fails
    // to inflate, and a scanner has no use for the proof that bytes match their id.
    git2::opts::strict_hash_verification(false);
    Repository::discover(path)
        .with_context(|| format!("cannot open git repository at {}", path.display()))
}

/// One change a commit brings: a blob at a path.
struct Change {
    path: String,
    oid: Oid,
}

/// A commit's changes, or why they could not be listed.
struct CommitChanges {
    changes: Vec<Change>,
    submodules: u64,
    non_utf8: u64,
    corrupt: Vec<String>,
}

/// Everything known about one distinct blob before it is scanned.
struct BlobEntry {
    oid: Oid,
    /// (commit index, path) of every introduction, the first one first.
    intros: Vec<(usize, String)>,
}

/// Scans the history selected by `opts`. Errors only when the repository cannot be opened or
/// a revision the user named does not resolve.
pub fn scan_history(matcher: &Arc<Matcher>, opts: &HistoryOptions) -> Result<ScanOutput> {
    let repo = open(&opts.repo)?;
    let repo_path = repo.path().to_path_buf();
    let mut stats = GitStats {
        shallow: repo.is_shallow(),
        bare: repo.is_bare(),
        ..GitStats::default()
    };
    if stats.shallow {
        tracing::warn!("shallow clone: history before the shallow boundary is not scanned");
    }
    let (commits, extra_blobs) = walk_commits(&repo, opts, &mut stats)?;
    stats.commits = commits.len() as u64;

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.max(1))
        .build()
        .context("cannot start worker threads")?;

    // Phase 2: what each commit introduces, in parallel, results kept in commit order.
    let per_commit: Vec<CommitChanges> = pool.install(|| {
        commits
            .par_iter()
            .map_init(
                || Repository::open(&repo_path).ok(),
                |repo, &oid| match repo {
                    Some(r) => commit_changes(r, oid),
                    None => CommitChanges {
                        changes: Vec::new(),
                        submodules: 0,
                        non_utf8: 0,
                        corrupt: vec![format!("commit {oid}: cannot open repository")],
                    },
                },
            )
            .collect()
    });

    // Merge in commit order: the first introduction of a blob is its provenance.
    let mut index: HashMap<Oid, usize> = HashMap::new();
    let mut blobs: Vec<BlobEntry> = Vec::new();
    let mut excluded_only: std::collections::HashSet<Oid> = Default::default();
    for (i, cc) in per_commit.into_iter().enumerate() {
        stats.submodules += cc.submodules;
        stats.non_utf8_paths += cc.non_utf8;
        for c in &cc.corrupt {
            tracing::warn!("{c}");
        }
        stats.corrupt_objects += cc.corrupt.len() as u64;
        for ch in cc.changes {
            if let Some(filter) = &opts.exclude {
                if filter.excludes_relative(&ch.path) {
                    excluded_only.insert(ch.oid);
                    continue;
                }
            }
            match index.entry(ch.oid) {
                std::collections::hash_map::Entry::Occupied(e) => {
                    blobs[*e.get()].intros.push((i, ch.path));
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(blobs.len());
                    blobs.push(BlobEntry {
                        oid: ch.oid,
                        intros: vec![(i, ch.path)],
                    });
                }
            }
        }
    }
    // Blobs that only a tag (or a tagged tree) points at, with no commit.
    let mut ref_blobs: Vec<(String, Oid)> = Vec::new();
    for (path, oid) in extra_blobs {
        if !index.contains_key(&oid) {
            ref_blobs.push((path, oid));
        }
    }
    let excluded = excluded_only
        .iter()
        .filter(|o| !index.contains_key(o))
        .count() as u64;
    stats.blobs_excluded = excluded;

    // Phase 3: scan each distinct blob once.
    let mut jobs: Vec<(Oid, String, Option<usize>)> = blobs
        .iter()
        .map(|b| (b.oid, b.intros[0].1.clone(), Some(b.intros[0].0)))
        .collect();
    jobs.extend(ref_blobs.into_iter().map(|(p, o)| (o, p, None)));
    stats.blobs_seen = jobs.len() as u64 + excluded;

    let progress = Progress::new(opts.progress, jobs.len() as u64);
    let counters = Counters::default();
    let found: Mutex<Vec<(usize, Finding)>> = Mutex::new(Vec::new());
    let corrupt: Mutex<Vec<String>> = Mutex::new(Vec::new());
    pool.install(|| {
        jobs.par_iter().enumerate().for_each_init(
            || {
                (
                    Repository::open(&repo_path).ok(),
                    Worker::default(),
                    Vec::new(),
                )
            },
            |(repo, worker, local), (job, (oid, path, _))| {
                let Some(repo) = repo else {
                    corrupt
                        .lock()
                        .expect("corrupt")
                        .push(format!("blob {oid}: cannot open repository"));
                    return;
                };
                let outcome = scan_blob(repo, *oid, opts.max_blob_size, |bytes| {
                    worker.scan_blob(matcher, &Provenance::file(path.clone()), bytes, local);
                });
                match outcome {
                    BlobOutcome::Scanned(n) => {
                        counters.scanned.fetch_add(1, Ordering::Relaxed);
                        counters.bytes.fetch_add(n, Ordering::Relaxed);
                        progress.inc(n);
                    }
                    BlobOutcome::Binary => {
                        counters.binary.fetch_add(1, Ordering::Relaxed);
                        progress.inc(0);
                    }
                    BlobOutcome::TooLarge(size) => {
                        tracing::warn!(
                            "skipping blob {oid} ({path}): {size} bytes is over the size limit"
                        );
                        counters.large.fetch_add(1, Ordering::Relaxed);
                        progress.inc(0);
                    }
                    BlobOutcome::Unreadable(e) => {
                        corrupt
                            .lock()
                            .expect("corrupt")
                            .push(format!("blob {oid} ({path}): {e}"));
                        progress.inc(0);
                    }
                }
                if !local.is_empty() {
                    let mut f = found.lock().expect("collector");
                    f.extend(local.drain(..).map(|x| (job, x)));
                }
            },
        );
    });
    progress.finish();
    let mut corrupt = corrupt.into_inner().expect("corrupt");
    corrupt.sort();
    for c in &corrupt {
        tracing::warn!("cannot read {c}");
    }
    stats.corrupt_objects += corrupt.len() as u64;
    stats.blobs_scanned = counters.scanned.into_inner();
    stats.blobs_binary = counters.binary.into_inner();
    stats.blobs_too_large = counters.large.into_inner();

    // Provenance and occurrences, then one finding per rule and secret.
    let mut infos: HashMap<usize, Option<CommitInfo>> = HashMap::new();
    // Ordered by first introduction, then position, so grouping keeps the earliest.
    type Key = (usize, String, usize, usize, String);
    let mut keyed: Vec<(Key, Finding)> = Vec::new();
    for (job, mut f) in found.into_inner().expect("collector") {
        let (_, _, first) = &jobs[job];
        let order = first.unwrap_or(usize::MAX);
        if job < blobs.len() {
            f.occurrences = blobs[job]
                .intros
                .iter()
                .map(|(c, p)| Occurrence {
                    commit: commits[*c].to_string(),
                    path: p.clone(),
                    line: f.line,
                })
                .collect();
        }
        if let Some(c) = first {
            f.commit = infos
                .entry(*c)
                .or_insert_with(|| commit_info(&repo, commits[*c]))
                .clone();
        }
        let key = (order, f.path.clone(), f.line, f.column, f.rule_id.clone());
        keyed.push((key, f));
    }
    keyed.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| a.1.fingerprint.cmp(&b.1.fingerprint))
    });
    let mut findings = crate::group::by_secret(keyed.into_iter().map(|(_, f)| f).collect());
    findings::sort(&mut findings);

    let summary = Summary {
        findings: findings.len(),
        files_scanned: stats.blobs_scanned,
        bytes_scanned: counters.bytes.into_inner(),
        blobs_scanned: Some(stats.blobs_scanned),
        commits: Some(stats.commits),
        skipped_binary: stats.blobs_binary,
        skipped_too_large: stats.blobs_too_large,
        skipped_excluded: stats.blobs_excluded,
        rules: matcher.rules().len(),
        git: Some(stats),
        ..Summary::default()
    };
    Ok(ScanOutput { findings, summary })
}

#[derive(Default)]
struct Counters {
    scanned: AtomicU64,
    bytes: AtomicU64,
    binary: AtomicU64,
    large: AtomicU64,
}

/// Resolves a revision to a commit, with a message naming what the user typed.
fn resolve(repo: &Repository, rev: &str) -> Result<Oid> {
    let obj = repo
        .revparse_single(rev)
        .with_context(|| format!("unknown revision {rev:?}"))?;
    let commit = obj
        .peel_to_commit()
        .with_context(|| format!("revision {rev:?} is not a commit"))?;
    Ok(commit.id())
}

/// Blobs that refs point at directly (no commit), named after the ref.
type RefBlobs = Vec<(String, Oid)>;

/// The commits to look at, parents first, and blobs that refs point at without a commit.
fn walk_commits(
    repo: &Repository,
    opts: &HistoryOptions,
    stats: &mut GitStats,
) -> Result<(Vec<Oid>, RefBlobs)> {
    let mut walk = repo.revwalk().context("cannot walk history")?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)?;
    let mut extra: Vec<(String, Oid)> = Vec::new();
    if let Some(range) = &opts.range {
        let Some((a, b)) = range.split_once("..") else {
            bail!("--range wants A..B, got {range:?}");
        };
        if b.starts_with('.') {
            bail!("--range wants A..B (two dots), got {range:?}");
        }
        let b = if b.is_empty() { "HEAD" } else { b };
        walk.push(resolve(repo, b)?)?;
        if !a.is_empty() {
            walk.hide(resolve(repo, a)?)?;
        }
    } else if let Some(branch) = &opts.branch {
        walk.push(resolve(repo, branch)?)?;
    } else if opts.since.is_some() {
        walk.push(resolve(repo, "HEAD")?)?;
    } else {
        push_all_refs(repo, &mut walk, &mut extra, stats);
    }
    if let Some(since) = &opts.since {
        walk.hide(resolve(repo, since)?)?;
    }
    let mut commits = Vec::new();
    for oid in walk {
        match oid {
            Ok(o) => commits.push(o),
            Err(e) => {
                tracing::warn!("cannot walk a commit: {}", e.message());
                stats.corrupt_objects += 1;
            }
        }
    }
    Ok((commits, extra))
}

/// Pushes every ref (branches, tags, remotes, notes, the stash and its reflog) and HEAD.
fn push_all_refs(
    repo: &Repository,
    walk: &mut git2::Revwalk<'_>,
    extra: &mut Vec<(String, Oid)>,
    stats: &mut GitStats,
) {
    fn push(walk: &mut git2::Revwalk<'_>, name: &str, oid: Oid, stats: &mut GitStats) {
        if let Err(e) = walk.push(oid) {
            tracing::warn!("cannot walk {name}: {}", e.message());
            stats.corrupt_objects += 1;
        }
    }
    if let Ok(head) = repo.head() {
        if let Ok(c) = head.peel_to_commit() {
            push(walk, "HEAD", c.id(), stats);
        }
    }
    let refs = match repo.references() {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("cannot list refs: {}", e.message());
            stats.corrupt_objects += 1;
            return;
        }
    };
    for r in refs {
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("cannot read a ref: {}", e.message());
                stats.corrupt_objects += 1;
                continue;
            }
        };
        let name = String::from_utf8_lossy(r.name_bytes()).into_owned();
        match r.peel(ObjectType::Any) {
            Ok(obj) => match obj.kind() {
                Some(ObjectType::Commit) => push(walk, &name, obj.id(), stats),
                Some(ObjectType::Blob) => extra.push((name, obj.id())),
                Some(ObjectType::Tree) => {
                    if let Some(tree) = obj.as_tree() {
                        tree_blobs(tree, &name, extra, stats);
                    }
                }
                _ => {}
            },
            Err(e) => {
                tracing::warn!("cannot resolve {name}: {}", e.message());
                stats.corrupt_objects += 1;
            }
        }
    }
    // Older stashes live only in the stash reflog.
    if let Ok(log) = repo.reflog("refs/stash") {
        for entry in log.iter() {
            let id = entry.id_new();
            if repo.find_commit(id).is_ok() {
                push(walk, "refs/stash", id, stats);
            }
        }
    }
}

/// Every blob in a tree a ref points at directly, named `ref:path`.
fn tree_blobs(
    tree: &git2::Tree<'_>,
    name: &str,
    out: &mut Vec<(String, Oid)>,
    stats: &mut GitStats,
) {
    let _ = tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(ObjectType::Blob) {
            let (file, bad) = lossy(entry.name_bytes());
            if bad {
                stats.non_utf8_paths += 1;
            }
            out.push((format!("{name}:{dir}{file}"), entry.id()));
        }
        git2::TreeWalkResult::Ok
    });
}

fn lossy(bytes: &[u8]) -> (String, bool) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), false),
        Err(_) => (String::from_utf8_lossy(bytes).into_owned(), true),
    }
}

/// The blobs one commit introduces: changed against the first parent (a root commit against
/// the empty tree); for a merge, only what differs from every parent.
fn commit_changes(repo: &Repository, oid: Oid) -> CommitChanges {
    let mut out = CommitChanges {
        changes: Vec::new(),
        submodules: 0,
        non_utf8: 0,
        corrupt: Vec::new(),
    };
    let commit = match repo.find_commit(oid) {
        Ok(c) => c,
        Err(e) => {
            out.corrupt.push(format!("commit {oid}: {}", e.message()));
            return out;
        }
    };
    let tree = match commit.tree() {
        Ok(t) => t,
        Err(e) => {
            out.corrupt
                .push(format!("tree of commit {oid}: {}", e.message()));
            return out;
        }
    };
    // A parent that is missing (a shallow boundary, a damaged repository) counts as empty:
    // everything in this commit is then introduced here.
    let parents: Vec<Option<git2::Tree<'_>>> = commit
        .parent_ids()
        .map(|p| repo.find_commit(p).and_then(|c| c.tree()).ok())
        .collect();
    let first = parents.first().and_then(|p| p.as_ref());
    let mut changes = match diff_changes(repo, first, &tree, &mut out) {
        Some(c) => c,
        None => return out,
    };
    for other in parents.iter().skip(1) {
        if changes.is_empty() {
            break;
        }
        let mut scratch = CommitChanges {
            changes: Vec::new(),
            submodules: 0,
            non_utf8: 0,
            corrupt: Vec::new(),
        };
        let Some(vs_other) = diff_changes(repo, other.as_ref(), &tree, &mut scratch) else {
            out.corrupt.extend(scratch.corrupt);
            continue;
        };
        let keep: std::collections::HashSet<(&str, Oid)> =
            vs_other.iter().map(|c| (c.path.as_str(), c.oid)).collect();
        changes.retain(|c| keep.contains(&(c.path.as_str(), c.oid)));
    }
    out.changes = changes;
    out
}

/// The blobs in `new` that are not at the same path (with the same mode) in `old`. A direct
/// tree comparison: subtrees with equal ids are skipped whole, and unlike `git_diff` it reads
/// no configuration per call (that was a third of a history scan's time).
fn diff_changes(
    repo: &Repository,
    old: Option<&git2::Tree<'_>>,
    new: &git2::Tree<'_>,
    out: &mut CommitChanges,
) -> Option<Vec<Change>> {
    let mut changes = Vec::new();
    let mut prefix = Vec::new();
    compare_trees(repo, old, new, &mut prefix, &mut changes, out);
    Some(changes)
}

const MODE_TYPE: i32 = 0o170000;
const MODE_TREE: i32 = 0o040000;
const MODE_BLOB: i32 = 0o100000;
const MODE_GITLINK: i32 = 0o160000;

fn compare_trees(
    repo: &Repository,
    old: Option<&git2::Tree<'_>>,
    new: &git2::Tree<'_>,
    prefix: &mut Vec<u8>,
    changes: &mut Vec<Change>,
    out: &mut CommitChanges,
) {
    for entry in new.iter() {
        let name = entry.name_bytes();
        let (id, mode) = (entry.id(), entry.filemode());
        // A binary search in the sorted parent tree.
        let previous = old
            .and_then(|t| t.get_name_bytes(name))
            .map(|e| (e.id(), e.filemode()));
        if previous == Some((id, mode)) {
            continue;
        }
        let len = prefix.len();
        prefix.extend_from_slice(name);
        match mode & MODE_TYPE {
            MODE_TREE => {
                let old_sub = previous
                    .filter(|(_, m)| m & MODE_TYPE == MODE_TREE)
                    .and_then(|(o, _)| match repo.find_tree(o) {
                        Ok(t) => Some(t),
                        Err(e) => {
                            out.corrupt.push(format!("tree {o}: {}", e.message()));
                            None
                        }
                    });
                match repo.find_tree(id) {
                    Ok(sub) => {
                        prefix.push(b'/');
                        compare_trees(repo, old_sub.as_ref(), &sub, prefix, changes, out);
                    }
                    Err(e) => out.corrupt.push(format!("tree {id}: {}", e.message())),
                }
            }
            MODE_BLOB => {
                let (path, bad) = lossy(prefix);
                if bad {
                    tracing::warn!("path is not UTF-8, shown as {path:?}");
                    out.non_utf8 += 1;
                }
                changes.push(Change { path, oid: id });
            }
            MODE_GITLINK => out.submodules += 1,
            _ => {}
        }
        prefix.truncate(len);
    }
}

pub(crate) enum BlobOutcome {
    Scanned(u64),
    Binary,
    TooLarge(u64),
    Unreadable(String),
}

/// Reads one blob and hands its bytes to `scan` unless it is binary or too large.
pub(crate) fn scan_blob(
    repo: &Repository,
    oid: Oid,
    max: u64,
    scan: impl FnOnce(&[u8]),
) -> BlobOutcome {
    let odb = match repo.odb() {
        Ok(o) => o,
        Err(e) => return BlobOutcome::Unreadable(e.message().to_string()),
    };
    match odb.read_header(oid) {
        Ok((size, _)) if size as u64 > max => return BlobOutcome::TooLarge(size as u64),
        Ok(_) => {}
        Err(e) => return BlobOutcome::Unreadable(e.message().to_string()),
    }
    let obj = match odb.read(oid) {
        Ok(o) => o,
        Err(e) => return BlobOutcome::Unreadable(e.message().to_string()),
    };
    let bytes = obj.data();
    if is_binary(bytes) {
        return BlobOutcome::Binary;
    }
    scan(bytes);
    BlobOutcome::Scanned(bytes.len() as u64)
}

/// Author, email, author date (RFC 3339, UTC) and summary line of a commit.
pub fn commit_info(repo: &Repository, oid: Oid) -> Option<CommitInfo> {
    let c = repo.find_commit(oid).ok()?;
    let author = c.author();
    let date = chrono::DateTime::from_timestamp(author.when().seconds(), 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    let message = c
        .summary_bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    Some(CommitInfo {
        commit: oid.to_string(),
        author: String::from_utf8_lossy(author.name_bytes()).into_owned(),
        email: String::from_utf8_lossy(author.email_bytes()).into_owned(),
        date,
        message,
    })
}

/// Whether a progress bar may be drawn: stderr is a terminal, this is not a CI run, and `-q`
/// did not silence warnings.
pub fn progress_wanted() -> bool {
    std::io::stderr().is_terminal()
        && std::env::var_os("CI").is_none()
        && tracing::enabled!(tracing::Level::WARN)
}

/// A progress bar of blobs and bytes, or nothing.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    bytes: AtomicU64,
}

impl Progress {
    fn new(enabled: bool, blobs: u64) -> Progress {
        let bar = enabled.then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(blobs),
                indicatif::ProgressDrawTarget::stderr(),
            );
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} history [{bar:24}] {pos}/{len} blobs, {msg} {elapsed}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Progress {
            bar,
            bytes: AtomicU64::new(0),
        }
    }

    fn inc(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            let total = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
            bar.inc(1);
            if bar.position() % 64 == 0 {
                bar.set_message(indicatif::HumanBytes(total).to_string());
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
