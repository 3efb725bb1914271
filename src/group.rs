//! Grouping for history scans: the same secret under the same rule is one finding, wherever
//! and however often it occurs. The finding that comes first is kept (callers order findings
//! by when their blob was introduced) and the others' occurrences are folded into it.

use std::collections::HashMap;

use crate::findings::Finding;

/// One finding per (rule, fingerprint), in first-seen order, occurrences merged without
/// repeating a (commit, path, line).
pub fn by_secret(findings: Vec<Finding>) -> Vec<Finding> {
    let mut slot: HashMap<(String, String), usize> = HashMap::new();
    let mut out: Vec<Finding> = Vec::new();
    for f in findings {
        let key = (f.rule_id.clone(), f.fingerprint.clone());
        match slot.get(&key) {
            Some(&i) => {
                let kept = &mut out[i];
                for o in f.occurrences {
                    if !kept.occurrences.contains(&o) {
                        kept.occurrences.push(o);
                    }
                }
            }
            None => {
                slot.insert(key, out.len());
                out.push(f);
            }
        }
    }
    out
}
