//! Realistic source text for benchmarks: real code from the local cargo registry (present on
//! any machine that built this crate), topped up with generated code if there is too little.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

fn registry_src() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let dir = home.join("registry/src");
    let first = std::fs::read_dir(&dir).ok()?.flatten().next()?;
    Some(first.path())
}

fn collect(dir: &Path, out: &mut Vec<u8>, limit: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if out.len() >= limit {
            return;
        }
        if p.is_dir() {
            collect(&p, out, limit);
        } else if p.extension().is_some_and(|e| {
            ["rs", "js", "py", "toml", "md", "c", "h", "json"]
                .iter()
                .any(|x| e == *x)
        }) {
            if let Ok(b) = std::fs::read(&p) {
                if !b.contains(&0) {
                    out.extend_from_slice(&b);
                }
            }
        }
    }
}

/// About `size` bytes of source code.
pub fn source_text(size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size);
    if let Some(dir) = registry_src() {
        collect(&dir, &mut out, size);
    }
    let mut i = 0u64;
    while out.len() < size {
        i += 1;
        out.extend_from_slice(
            format!(
                "fn handler_{i}(req: &Request) -> Result<Response> {{\n    let token = req.header(\"authorization\")?;\n    \
                 let user = db.lookup(token, {i}).await?;\n    Ok(Response::json(&user))\n}}\n"
            )
            .as_bytes(),
        );
    }
    out.truncate(size);
    out
}
