//! Whole-tree scans: a generated tree of source files scanned with 1 and 2 walker threads.
//! Set KEYWARDEN_BENCH_TREE_MB to change the tree size (default 64 MB).

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keywarden::matcher::{Matcher, SecretFilter};
use keywarden::rules::RuleSet;
use keywarden::scan;
use keywarden::sources::fs::WalkOptions;

#[path = "support/corpus.rs"]
mod corpus;

fn bench(c: &mut Criterion) {
    let mb: usize = std::env::var("KEYWARDEN_BENCH_TREE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let dir = tempfile::tempdir().unwrap();
    let text = corpus::source_text(1 << 20);
    let files = mb * 4;
    for i in 0..files {
        let sub = dir.path().join(format!("d{}", i % 32));
        std::fs::create_dir_all(&sub).unwrap();
        let start = (i * 4099) % (text.len() / 2);
        let mut body = text[start..].to_vec();
        body.extend_from_slice(&text[..start]);
        body.truncate(256 << 10);
        std::fs::write(sub.join(format!("f{i}.rs")), body).unwrap();
    }
    let rules = Arc::new(RuleSet::load(true, &[], &[]).unwrap());
    let matcher = Arc::new(Matcher::new(rules, SecretFilter::default()));
    let mut g = c.benchmark_group("tree");
    g.sample_size(10);
    g.throughput(Throughput::Bytes((files * (256 << 10)) as u64));
    for threads in [1, 2] {
        let opts = WalkOptions {
            roots: vec![dir.path().to_path_buf()],
            honour_ignore: true,
            threads,
            max_file_size: 64 << 20,
            exclude: None,
            default_exclusions: true,
        };
        g.bench_function(format!("{mb}MB/{threads}threads"), |b| {
            b.iter(|| scan::scan_tree(&matcher, &opts).summary.files_scanned)
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
