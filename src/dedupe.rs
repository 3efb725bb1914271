//! Cross-rule dedupe: when several rules report the same secret span in one blob (a provider
//! rule and the generic assignment rule, a database URL rule and the basic-auth URL rule, a
//! plain match and the same text decoded), only the most specific finding is kept.
//!
//! Specificity, most important first: a provider rule beats a generic one (families `generic`,
//! `jwt`, `urls`, `keypair`, or any rule tagged `generic`); then higher confidence (after the
//! checksum check); then, for one rule seen plain and decoded, the decoded finding when
//! decoding changed the value (it is the real secret) and the plain one otherwise (its location
//! is exact); then the rule id, so the choice never depends on thread timing.

use std::cmp::Ordering;

use crate::findings::Finding;
use crate::rules::RuleSet;

/// Rule families whose rules match shapes rather than a provider's format.
pub const GENERIC_FAMILIES: &[&str] = &["generic", "jwt", "urls", "keypair"];

/// Whether the rule `id` is a shape rule rather than a provider rule.
pub fn is_generic(rules: &RuleSet, id: &str) -> bool {
    rules.index_of(id).is_some_and(|i| {
        let r = rules.get(i);
        GENERIC_FAMILIES.contains(&r.family.as_str()) || r.tags.iter().any(|t| t == "generic")
    })
}

type Pos = (usize, usize);

fn span(f: &Finding) -> (Pos, Pos) {
    ((f.line, f.column), (f.end_line, f.end_column))
}

fn overlaps(a: &Finding, b: &Finding) -> bool {
    let ((a0, a1), (b0, b1)) = (span(a), span(b));
    a.inner_path == b.inner_path && a0 < b1 && b0 < a1
}

/// `Less` when `a` is the better finding to keep.
fn better(rules: &RuleSet, a: &Finding, b: &Finding) -> Ordering {
    let specific = |f: &Finding| !is_generic(rules, &f.rule_id);
    specific(b)
        .cmp(&specific(a))
        .then(b.confidence.cmp(&a.confidence))
        .then_with(|| {
            if a.rule_id != b.rule_id || a.decoded.is_some() == b.decoded.is_some() {
                return Ordering::Equal;
            }
            let (plain, coded) = if a.decoded.is_none() { (a, b) } else { (b, a) };
            let prefer_decoded = plain.secret != coded.secret;
            let a_is_decoded = a.decoded.is_some();
            if a_is_decoded == prefer_decoded {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        })
        .then_with(|| a.rule_id.cmp(&b.rule_id))
        .then_with(|| span(a).cmp(&span(b)))
}

/// Keeps, among the findings of ONE blob from `out[first..]`, only the best of each group of
/// findings whose locations overlap. The kept findings stay in their original order.
pub fn resolve(rules: &RuleSet, out: &mut Vec<Finding>, first: usize) {
    let n = out.len() - first;
    if n < 2 {
        return;
    }
    let blob = &out[first..];
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| span(&blob[i]).0);
    let mut keep = vec![true; n];
    // Clusters of transitively overlapping findings, in one sweep by start position.
    let mut i = 0;
    while i < n {
        let mut end = span(&blob[order[i]]).1;
        let mut j = i + 1;
        while j < n && span(&blob[order[j]]).0 < end {
            end = end.max(span(&blob[order[j]]).1);
            j += 1;
        }
        if j - i > 1 {
            let mut cluster: Vec<usize> = order[i..j].to_vec();
            cluster.sort_by(|&x, &y| better(rules, &blob[x], &blob[y]));
            let mut kept: Vec<usize> = Vec::new();
            for &c in &cluster {
                if kept.iter().any(|&k| overlaps(&blob[k], &blob[c])) {
                    keep[c] = false;
                } else {
                    kept.push(c);
                }
            }
        }
        i = j;
    }
    let mut idx = 0;
    out.retain(|_| {
        let k = idx < first || keep[idx - first];
        idx += 1;
        k
    });
}
