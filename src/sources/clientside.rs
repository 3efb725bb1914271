//! Which files ship to browsers, where any key is readable by everyone who loads the page, and
//! the source-map format whose `sourcesContent` carries the original sources.

const SCRIPT_EXTS: &[&str] = &["js", "mjs", "cjs", "jsx", "ts", "tsx", "vue", "svelte"];
const PUBLIC_DIRS: &[&str] = &["public", "static", "dist", "build", "www", "assets"];
/// A script line longer than this is taken as minified.
const MINIFIED_LINE: usize = 1000;

fn extension(path: &str) -> Option<String> {
    let name = path.rsplit(['/', '\\']).next()?;
    let (_, ext) = name.rsplit_once('.')?;
    Some(ext.to_ascii_lowercase())
}

/// Whether a file at `path` with content `bytes` is served to browsers.
pub fn is_client_side(path: &str, bytes: &[u8]) -> bool {
    let Some(ext) = extension(path) else {
        return false;
    };
    match ext.as_str() {
        "html" | "htm" | "map" => return true,
        _ => {}
    }
    let script = SCRIPT_EXTS.contains(&ext.as_str());
    if !script && ext != "css" {
        return false;
    }
    let lower = path.to_ascii_lowercase();
    if lower.contains(".min.") {
        return true;
    }
    if script && lower.split(['/', '\\']).any(|c| PUBLIC_DIRS.contains(&c)) {
        return true;
    }
    is_minified(bytes)
}

/// A long first line, or no line break at all in a sizeable script, means minified output.
pub fn is_minified(bytes: &[u8]) -> bool {
    let probe = &bytes[..bytes.len().min(64 * 1024)];
    match memchr::memchr(b'\n', probe) {
        Some(i) => i > MINIFIED_LINE,
        None => probe.len() > MINIFIED_LINE,
    }
}

/// One embedded original source of a source map.
pub struct EmbeddedSource {
    pub name: String,
    pub content: String,
}

/// The `sourcesContent` of a source map, paired with `sources` names; `None` when `bytes` is
/// not a source map with embedded content.
pub fn source_map_contents(bytes: &[u8]) -> Option<Vec<EmbeddedSource>> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct SourceMapSpec {
        #[serde(default)]
        sources: Vec<Option<String>>,
        sources_content: Vec<Option<String>>,
    }
    let map: SourceMapSpec = serde_json::from_slice(bytes).ok()?;
    Some(
        map.sources_content
            .into_iter()
            .enumerate()
            .filter_map(|(i, content)| {
                let name = map
                    .sources
                    .get(i)
                    .cloned()
                    .flatten()
                    .unwrap_or_else(|| format!("sources[{i}]"));
                content.map(|content| EmbeddedSource { name, content })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_paths() {
        assert!(is_client_side("web/public/app.js", b"x\n"));
        assert!(is_client_side("dist/app.tsx", b"x\n"));
        assert!(is_client_side("site/index.html", b""));
        assert!(is_client_side("dist/app.js.map", b"{}"));
        assert!(is_client_side("lib/vendor.min.js", b"x\n"));
        assert!(!is_client_side("src/server.js", b"const a = 1;\n"));
        assert!(!is_client_side("src/config.py", &[b'a'; 5000]));
        assert!(is_client_side("src/bundle.js", &[b'a'; 5000]));
    }

    #[test]
    fn reads_sources_content() {
        let map = br#"{"version":3,"sources":["a.js","b.js"],"sourcesContent":["let k = 1;\n",null],"mappings":""}"#;
        let got = source_map_contents(map).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, "a.js");
        assert!(source_map_contents(b"not json").is_none());
    }
}
