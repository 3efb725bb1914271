//! Matcher throughput with the full embedded rule pack on realistic source text, and on a
//! minified bundle line (one long line, keywords everywhere).

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keywarden::matcher::{Matcher, Scratch, SecretFilter};
use keywarden::rules::RuleSet;

#[path = "support/corpus.rs"]
mod corpus;

fn bench(c: &mut Criterion) {
    let rules = Arc::new(RuleSet::load(true, &[], &[]).expect("embedded rules"));
    let matcher = Matcher::new(rules.clone(), SecretFilter::default());
    assert!(matcher.compile_all().is_empty());
    let text = corpus::source_text(16 << 20);
    let mut bundle = Vec::with_capacity(16 << 20);
    while bundle.len() < 16 << 20 {
        bundle.extend_from_slice(b"var t=this.token||e.key;function n(r){return r.apiKey?fetch(r.url,{headers:{Authorization:r.secret}}):null};");
    }
    let mut g = c.benchmark_group("matcher");
    g.sample_size(10);
    for (name, hay) in [("source", &text), ("minified", &bundle)] {
        g.throughput(Throughput::Bytes(hay.len() as u64));
        g.bench_function(format!("{name}/{}rules", rules.len()), |b| {
            let mut scratch = Scratch::default();
            let mut out = Vec::new();
            b.iter(|| {
                out.clear();
                matcher.scan(hay, &mut scratch, &mut out);
                out.len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
