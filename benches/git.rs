//! Git scans on a repository generated at bench time (`git fast-import`): 5,000 commits, each
//! changing one of 200 files with about 8 KB of source text.
//!
//! - history: `scan --git` through the library, 1 and 2 threads; throughput is unique blob bytes.
//! - staged: the `keywarden` binary running `scan --staged` on a 10-file staged change (wall).
//! - since: the binary running `scan --since HEAD~1` (a one-commit range) in the same repository.
//!
//! KEYWARDEN_BENCH_GIT_COMMITS changes the commit count.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keywarden::matcher::{Matcher, SecretFilter};
use keywarden::rules::RuleSet;
use keywarden::sources::git::{scan_history, HistoryOptions};

#[path = "support/corpus.rs"]
mod corpus;

const FILES: usize = 200;
const BLOB: usize = 8 << 10;

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .status()
        .expect("git")
        .success();
    assert!(ok, "git {args:?}");
}

/// Writes a fast-import stream: every commit rewrites one file with a new slice of `text`.
fn generate(dir: &Path, commits: usize, text: &[u8]) {
    git(dir, &["init", "-q", "-b", "main"]);
    let mut child = Command::new("git")
        .current_dir(dir)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("git fast-import");
    let mut w = std::io::BufWriter::new(child.stdin.take().unwrap());
    for c in 0..commits {
        let msg = format!("commit {c}\n");
        writeln!(w, "commit refs/heads/main\nmark :{}", c + 1).unwrap();
        writeln!(
            w,
            "committer Bench <bench@example.com> {} +0000",
            1_600_000_000 + c * 60
        )
        .unwrap();
        write!(w, "data {}\n{msg}", msg.len()).unwrap();
        if c > 0 {
            writeln!(w, "from :{c}").unwrap();
        }
        let files: Vec<usize> = if c == 0 {
            (0..FILES).collect()
        } else {
            vec![(c * 7) % FILES]
        };
        for f in files {
            let start = (c * 4099 + f * 131) % (text.len() - BLOB);
            let mut body = format!("// revision {c} of file {f}\n").into_bytes();
            body.extend_from_slice(&text[start..start + BLOB]);
            writeln!(w, "M 100644 inline src/d{}/f{f}.rs", f % 10).unwrap();
            writeln!(w, "data {}", body.len()).unwrap();
            w.write_all(&body).unwrap();
            writeln!(w).unwrap();
        }
    }
    w.flush().unwrap();
    drop(w);
    assert!(child.wait().unwrap().success());
    git(dir, &["reset", "-q", "--hard", "main"]);
}

fn bench(c: &mut Criterion) {
    let commits: usize = std::env::var("KEYWARDEN_BENCH_GIT_COMMITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let dir = tempfile::tempdir().unwrap();
    let text = corpus::source_text(4 << 20);
    generate(dir.path(), commits, &text);

    let rules = Arc::new(RuleSet::load(true, &[], &[]).unwrap());
    let matcher = Arc::new(Matcher::new(rules, SecretFilter::default()));
    let opts = |threads| HistoryOptions {
        repo: dir.path().to_path_buf(),
        max_blob_size: 64 << 20,
        threads,
        ..HistoryOptions::default()
    };
    let first = scan_history(&matcher, &opts(2)).unwrap();
    let bytes = first.summary.bytes_scanned;
    eprintln!(
        "generated {commits} commits, {} unique blobs, {:.1} MB",
        first.summary.blobs_scanned.unwrap_or(0),
        bytes as f64 / 1e6
    );

    let mut g = c.benchmark_group("git");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(bytes));
    for threads in [1, 2] {
        g.bench_function(format!("history/{commits}commits/{threads}threads"), |b| {
            b.iter(|| {
                scan_history(&matcher, &opts(threads))
                    .unwrap()
                    .summary
                    .blobs_scanned
            })
        });
    }
    g.finish();

    let exe = env!("CARGO_BIN_EXE_keywarden");
    let mut g = c.benchmark_group("git-cli");
    g.sample_size(20);
    g.bench_function(format!("since-one-commit/{commits}commits"), |b| {
        b.iter(|| {
            let o = Command::new(exe)
                .current_dir(dir.path())
                .args(["scan", "--since", "HEAD~1", "--format", "json"])
                .output()
                .unwrap();
            assert!(matches!(o.status.code(), Some(0 | 1)), "{o:?}");
        })
    });
    for i in 0..10 {
        let p = dir.path().join(format!("src/d{i}/f{i}.rs"));
        let mut body = std::fs::read(&p).unwrap();
        body.extend_from_slice(format!("\nfn added_{i}() -> u32 {{ {i} }}\n").as_bytes());
        std::fs::write(&p, body).unwrap();
    }
    git(dir.path(), &["add", "-A"]);
    g.bench_function("staged-10-files", |b| {
        b.iter(|| {
            let o = Command::new(exe)
                .current_dir(dir.path())
                .args(["scan", "--staged", "--format", "json"])
                .output()
                .unwrap();
            assert!(matches!(o.status.code(), Some(0 | 1)), "{o:?}");
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
