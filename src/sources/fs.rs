//! The working-tree source: a parallel directory walk (`ignore::WalkParallel`) honouring
//! .gitignore/.ignore, hidden files included, `.git` excluded. Each walker thread reads files
//! into its own reused buffer and hands them to the caller's per-thread visitor.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use ignore::{WalkBuilder, WalkState};

/// Paths excluded by the config's allowlist, as globs relative to the config's root.
#[derive(Debug, Clone)]
pub struct PathFilter {
    root: PathBuf,
    globs: GlobSet,
}

impl PathFilter {
    pub fn new(root: &Path, patterns: &[String]) -> Result<PathFilter, globset::Error> {
        let mut b = GlobSetBuilder::new();
        for p in patterns {
            let p = p.trim_end_matches('/');
            b.add(Glob::new(p)?);
            // `dir` and `dir/` mean everything under it too.
            if !p.contains('*') {
                b.add(Glob::new(&format!("{p}/**"))?);
            }
        }
        let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
        Ok(PathFilter {
            root,
            globs: b.build()?,
        })
    }

    /// Whether `rel` (a path relative to the filter's root, `/`-separated) is excluded.
    pub fn excludes_relative(&self, rel: &str) -> bool {
        self.globs.is_match(rel)
    }

    /// Whether the absolute path `abs` is excluded.
    pub fn excludes(&self, abs: &Path) -> bool {
        match abs.strip_prefix(&self.root) {
            Ok(rel) => self.globs.is_match(rel),
            Err(_) => false,
        }
    }
}

pub struct WalkOptions {
    pub roots: Vec<PathBuf>,
    pub honour_ignore: bool,
    pub threads: usize,
    pub max_file_size: u64,
    pub exclude: Option<PathFilter>,
    /// Skip lockfiles, vendored trees and binary assets below the roots (`exclusions`).
    pub default_exclusions: bool,
}

/// What the walk found at one path.
pub enum FileEvent<'a> {
    Content { path: &'a str, bytes: &'a [u8] },
    Binary { path: &'a str },
    TooLarge { path: &'a str, size: u64 },
    Excluded { path: &'a str },
    Error { path: String, message: String },
}

/// Display form of a walked path: `./a/b` becomes `a/b`.
pub fn display_path(p: &Path) -> String {
    let s = p.to_string_lossy();
    let s = s.strip_prefix("./").unwrap_or(&s);
    s.replace('\\', "/")
}

/// Walks `opts.roots` in parallel; `make_visitor` is called once per walker thread.
pub fn walk<F, V>(opts: &WalkOptions, make_visitor: F)
where
    F: Fn() -> V + Sync,
    V: FnMut(FileEvent<'_>) + Send,
{
    let Some((first, rest)) = opts.roots.split_first() else {
        return;
    };
    let mut builder = WalkBuilder::new(first);
    for r in rest {
        builder.add(r);
    }
    builder
        .hidden(false)
        .git_ignore(opts.honour_ignore)
        .git_global(opts.honour_ignore)
        .git_exclude(opts.honour_ignore)
        .ignore(opts.honour_ignore)
        .parents(opts.honour_ignore)
        .require_git(false)
        .follow_links(false)
        .threads(opts.threads.max(1))
        .filter_entry({
            let defaults = opts.default_exclusions;
            move |e| {
                e.file_name() != ".git"
                    && !(defaults
                        && e.depth() > 0
                        && e.file_type().is_some_and(|t| t.is_dir())
                        && super::exclusions::dir(&e.file_name().to_string_lossy()))
            }
        });
    let roots: Vec<(PathBuf, PathBuf)> = opts
        .roots
        .iter()
        .map(|r| {
            (
                r.clone(),
                std::path::absolute(r).unwrap_or_else(|_| r.clone()),
            )
        })
        .collect();
    builder.build_parallel().run(|| {
        let mut visit = make_visitor();
        let mut buf: Vec<u8> = Vec::new();
        let roots = &roots;
        Box::new(move |entry| {
            let entry = match entry {
                Ok(e) => e,
                Err(err) => {
                    let path = match &err {
                        ignore::Error::WithPath { path, .. } => display_path(path),
                        _ => String::new(),
                    };
                    visit(FileEvent::Error {
                        path,
                        message: err.to_string(),
                    });
                    return WalkState::Continue;
                }
            };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                return WalkState::Continue;
            }
            let path = entry.path();
            let shown = display_path(path);
            if let Some(filter) = &opts.exclude {
                if filter.excludes(&absolute_under(roots, path)) {
                    visit(FileEvent::Excluded { path: &shown });
                    return WalkState::Continue;
                }
            }
            if opts.default_exclusions && entry.depth() > 0 {
                match super::exclusions::file(&entry.file_name().to_string_lossy()) {
                    Some(super::exclusions::Exclusion::Lockfile) => {
                        visit(FileEvent::Excluded { path: &shown });
                        return WalkState::Continue;
                    }
                    Some(super::exclusions::Exclusion::BinaryAsset) => {
                        visit(FileEvent::Binary { path: &shown });
                        return WalkState::Continue;
                    }
                    None => {}
                }
            }
            match read_file(path, opts.max_file_size, &mut buf) {
                Ok(ReadResult::Text) => visit(FileEvent::Content {
                    path: &shown,
                    bytes: &buf,
                }),
                Ok(ReadResult::Binary) => visit(FileEvent::Binary { path: &shown }),
                Ok(ReadResult::TooLarge(size)) => visit(FileEvent::TooLarge { path: &shown, size }),
                Err(e) => visit(FileEvent::Error {
                    path: shown.clone(),
                    message: e.to_string(),
                }),
            }
            WalkState::Continue
        })
    });
}

fn absolute_under(roots: &[(PathBuf, PathBuf)], path: &Path) -> PathBuf {
    for (given, abs) in roots {
        if let Ok(rel) = path.strip_prefix(given) {
            return if rel.as_os_str().is_empty() {
                abs.clone()
            } else {
                abs.join(rel)
            };
        }
    }
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

enum ReadResult {
    Text,
    Binary,
    TooLarge(u64),
}

/// Reads a file into `buf`, stopping early for binary content or an oversized file.
fn read_file(path: &Path, max: u64, buf: &mut Vec<u8>) -> std::io::Result<ReadResult> {
    let mut f = File::open(path)?;
    let size = f.metadata()?.len();
    if size > max {
        return Ok(ReadResult::TooLarge(size));
    }
    buf.clear();
    buf.reserve(size as usize);
    (&mut f).take(8192).read_to_end(buf)?;
    if super::is_binary(buf) {
        return Ok(ReadResult::Binary);
    }
    // The file may have grown since `metadata`; never read past the limit.
    f.take(max + 1 - buf.len() as u64).read_to_end(buf)?;
    if buf.len() as u64 > max {
        return Ok(ReadResult::TooLarge(buf.len() as u64));
    }
    Ok(ReadResult::Text)
}
