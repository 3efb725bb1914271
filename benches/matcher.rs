//! Matcher throughput on realistic source text and on a minified bundle line (one long line,
//! keywords everywhere), for two rule packs: the first pack (the families issue 2 asked for) and
//! the full embedded pack. Prefiltering must keep the cost flat as rules grow: the two should be
//! within 20% of each other.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keywarden::matcher::{Matcher, Scratch, SecretFilter};
use keywarden::rules::RuleSet;

#[path = "support/corpus.rs"]
mod corpus;

/// Rule families of the first pack (issue 2's list).
const FIRST_PACK: &[&str] = &[
    "aws",
    "github",
    "gitlab",
    "slack",
    "stripe",
    "gcp",
    "openai",
    "anthropic",
    "sendgrid",
    "twilio",
    "npm",
    "pypi",
    "privatekeys",
    "jwt",
    "databases",
    "urls",
    "keypair",
];

fn bench(c: &mut Criterion) {
    let full = RuleSet::load(true, &[], &[]).expect("embedded rules");
    let first: Vec<_> = full
        .rules()
        .iter()
        .filter(|r| FIRST_PACK.contains(&r.family.as_str()))
        .cloned()
        .collect();
    let packs = [
        ("first", Arc::new(RuleSet::new(first))),
        ("full", Arc::new(full)),
    ];
    let text = corpus::source_text(16 << 20);
    let mut bundle = Vec::with_capacity(16 << 20);
    while bundle.len() < 16 << 20 {
        bundle.extend_from_slice(b"var t=this.token||e.key;function n(r){return r.apiKey?fetch(r.url,{headers:{Authorization:r.secret}}):null};");
    }
    let mut g = c.benchmark_group("matcher");
    g.sample_size(10);
    for (pack, rules) in &packs {
        let matcher = Matcher::new(rules.clone(), SecretFilter::default());
        assert!(matcher.compile_all().is_empty());
        for (name, hay) in [("source", &text), ("minified", &bundle)] {
            g.throughput(Throughput::Bytes(hay.len() as u64));
            g.bench_function(format!("{name}/{pack}-{}rules", rules.len()), |b| {
                let mut scratch = Scratch::default();
                let mut out = Vec::new();
                b.iter(|| {
                    out.clear();
                    matcher.scan(hay, &mut scratch, &mut out);
                    out.len()
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
