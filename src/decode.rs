//! Finds encoded text inside a blob and decodes it, so that a secret wrapped in base64 (a
//! Kubernetes Secret's `data:`, an `Authorization: Basic` header, a docker config `auth`),
//! percent-encoding or `\uXXXX` / `\xNN` string escapes is scanned like plain text.
//!
//! Each decoded layer remembers the span of the ENCODED text in the original blob: findings in
//! it are reported there, marked with how it was decoded (`base64`, `percent`, `escape`, or a
//! chain such as `base64+percent`). Decoding is bounded: at most `Limits::depth` layers deep,
//! encoded spans of at most `Limits::max_span` bytes, and `Limits::max_total` decoded bytes per
//! blob, so a hostile file cannot make the scan quadratic or unbounded.
//!
//! Only decodings that yield text (valid UTF-8, no control characters) are kept: base64 of an
//! image or of random bytes is dropped at once, and an identifier that happens to be in the
//! base64 alphabet decodes to noise and is dropped too.

use std::ops::Range;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use crate::randomness::is_text;

/// How text was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Base64,
    Percent,
    Escape,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Base64 => "base64",
            Encoding::Percent => "percent",
            Encoding::Escape => "escape",
        }
    }
}

/// Bounds on decoding work per blob.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Layers of decoding (base64 inside base64 is depth 2).
    pub depth: u8,
    /// Shortest base64 run considered (characters).
    pub min_base64: usize,
    /// Longest encoded span decoded (bytes).
    pub max_span: usize,
    /// Decoded bytes per blob, all layers together.
    pub max_total: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            depth: 2,
            min_base64: 16,
            max_span: 64 << 10,
            max_total: 4 << 20,
        }
    }
}

/// Decoded text and where its encoded form sits in the original blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The encoded span in the original blob (for nested layers: the outermost span).
    pub span: Range<usize>,
    /// `base64`, `percent`, `escape`, or a chain like `base64+escape` (outermost first).
    pub encoding: String,
    pub text: Vec<u8>,
    /// For each byte of `text` (and one past the end), the offset in the original blob of the
    /// encoded unit it came from; base64 is exact to within one character.
    pub map: Vec<usize>,
}

impl Layer {
    /// The span of the original blob that `text[range]` was decoded from.
    pub fn original(&self, range: Range<usize>) -> Range<usize> {
        let start = self.map[range.start.min(self.text.len())];
        let end = self.map[range.end.min(self.text.len())].max(start + 1);
        start..end.min(self.span.end.max(start + 1))
    }
}

/// Decoded text with, for each byte and one past the end, its offset in the encoded input.
struct Decoded {
    text: Vec<u8>,
    map: Vec<usize>,
}

/// Every decodable span of `hay`, decoded, and the spans inside those, up to `limits.depth`.
pub fn layers(hay: &[u8], limits: &Limits) -> Vec<Layer> {
    let mut out = Vec::new();
    let mut budget = limits.max_total;
    let mut frontier: Vec<Layer> = Vec::new();
    for (span, enc, d) in decode_once(hay, limits, &mut budget) {
        frontier.push(Layer {
            map: d.map.iter().map(|o| span.start + o).collect(),
            span,
            encoding: enc.as_str().to_string(),
            text: d.text,
        });
    }
    for _ in 1..limits.depth {
        let mut next = Vec::new();
        for layer in &frontier {
            for (span, enc, d) in decode_once(&layer.text, limits, &mut budget) {
                next.push(Layer {
                    span: layer.span.clone(),
                    encoding: format!("{}+{}", layer.encoding, enc.as_str()),
                    map: d.map.iter().map(|o| layer.map[span.start + o]).collect(),
                    text: d.text,
                });
            }
        }
        out.append(&mut frontier);
        frontier = next;
    }
    out.append(&mut frontier);
    out
}

/// One layer of decoding over `hay`, charging decoded bytes to `budget`.
fn decode_once(
    hay: &[u8],
    limits: &Limits,
    budget: &mut usize,
) -> Vec<(Range<usize>, Encoding, Decoded)> {
    let mut out = Vec::new();
    let mut push = |span: Range<usize>, enc: Encoding, d: Decoded| {
        if *budget >= d.text.len() {
            *budget -= d.text.len();
            out.push((span, enc, d));
        }
    };
    for span in base64_runs(hay, limits) {
        if let Some(d) = decode_base64(&hay[span.clone()]) {
            push(span, Encoding::Base64, d);
        }
    }
    for span in percent_runs(hay, limits) {
        if let Some(d) = decode_percent(&hay[span.clone()]) {
            push(span, Encoding::Percent, d);
        }
    }
    for span in escape_spans(hay, limits) {
        if let Some(d) = decode_escapes(&hay[span.clone()]) {
            push(span, Encoding::Escape, d);
        }
    }
    out
}

const B64: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_');
        i += 1;
    }
    t
};

fn is_b64(b: u8) -> bool {
    B64[b as usize]
}

/// Maximal runs of base64 characters (with trailing `=` padding) of a plausible length.
fn base64_runs(hay: &[u8], limits: &Limits) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let m = limits.min_base64.max(1);
    let mut i = 0;
    while i < hay.len() {
        // Skip ahead: a run of at least `m` starting at or after `i` covers `i + m - 1`
        // unless it starts later, so a non-base64 byte there rules out every start up to it.
        // Most bytes of source code are skipped without being looked at.
        if let Some(&b) = hay.get(i + m - 1) {
            if !is_b64(b) {
                i += m;
                continue;
            }
        }
        if !is_b64(hay[i]) {
            i += 1;
            continue;
        }
        // `i` starts a maximal run: every way here leaves a non-base64 byte (or `=`) before it.
        let start = i;
        while i < hay.len() && is_b64(hay[i]) {
            i += 1;
        }
        let body_end = i;
        while i < hay.len() && hay[i] == b'=' && i - body_end < 2 {
            i += 1;
        }
        let body = &hay[start..body_end];
        if body.len() < limits.min_base64 || i - start > limits.max_span {
            continue;
        }
        // A run glued to more word characters (`=` inside a longer token) is not base64.
        if i < hay.len() && (hay[i] == b'=' || hay[i].is_ascii_alphanumeric()) {
            continue;
        }
        // Text in the base64 alphabet that is obviously not base64: no digits and no capitals
        // at all (a lowercase identifier or path) never decodes to text anyway, skip it cheaply.
        if !body
            .iter()
            .any(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
            || !could_be_text(body)
        {
            continue;
        }
        out.push(start..i);
    }
    out
}

/// Cheap test before decoding: in base64 of ASCII text the first character of every 4-character
/// group encodes a byte's top six bits, which for 0x09..=0x7F lie in `C`, `D` (tab, LF, CR) or
/// `I`..=`f`. Identifiers that happen to be base64-alphabet runs fail this within a few groups.
fn could_be_text(body: &[u8]) -> bool {
    body.iter()
        .step_by(4)
        .take(16)
        .all(|&c| matches!(c, b'C' | b'D' | b'I'..=b'Z' | b'a'..=b'f'))
}

fn decode_base64(run: &[u8]) -> Option<Decoded> {
    let url = run.iter().any(|b| *b == b'-' || *b == b'_');
    let std = run.iter().any(|b| *b == b'+' || *b == b'/');
    if url && std {
        return None;
    }
    let cfg = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    let alphabet = if url {
        &base64::alphabet::URL_SAFE
    } else {
        &base64::alphabet::STANDARD
    };
    let body = run.iter().position(|&b| b == b'=').unwrap_or(run.len());
    let text = GeneralPurpose::new(alphabet, cfg).decode(run).ok()?;
    if text.len() < 8 || !is_text(&text) {
        return None;
    }
    // Byte i of the output comes from characters (i/3)*4 + i%3 and the next one.
    let mut map: Vec<usize> = (0..text.len())
        .map(|i| ((i / 3) * 4 + i % 3).min(body))
        .collect();
    map.push(run.len());
    Some(Decoded { text, map })
}

/// Characters that end a percent-encoded run: whitespace, quotes and markup.
fn ends_run(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'`' | b'<' | b'>' | b'(' | b')')
}

/// Runs of non-delimiter bytes holding at least one `%XX` escape.
fn percent_runs(hay: &[u8], limits: &Limits) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    for p in memchr::memchr_iter(b'%', hay) {
        if out.last().is_some_and(|r| p < r.end) {
            continue;
        }
        if !(p + 2 < hay.len() && hay[p + 1].is_ascii_hexdigit() && hay[p + 2].is_ascii_hexdigit())
        {
            continue;
        }
        let mut start = p;
        while start > 0 && !ends_run(hay[start - 1]) && p - start < limits.max_span {
            start -= 1;
        }
        let mut end = p;
        while end < hay.len() && !ends_run(hay[end]) && end - start < limits.max_span {
            end += 1;
        }
        out.push(start..end);
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn decode_percent(run: &[u8]) -> Option<Decoded> {
    let mut out = Vec::with_capacity(run.len());
    let mut map = Vec::with_capacity(run.len() + 1);
    let mut i = 0;
    while i < run.len() {
        map.push(i);
        if run[i] == b'%' && i + 2 < run.len() {
            if let (Some(h), Some(l)) = (hex_val(run[i + 1]), hex_val(run[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(run[i]);
        i += 1;
    }
    map.push(run.len());
    (out != run && is_text(&out)).then_some(Decoded { text: out, map })
}

/// Spans around backslash escapes that change text (`\uXXXX`, `\xNN`, `\"`, `\/`): the
/// escape's line, cut to a window of `max_span` bytes, overlapping windows merged.
fn escape_spans(hay: &[u8], limits: &Limits) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    let half = limits.max_span / 2;
    for p in memchr::memchr_iter(b'\\', hay) {
        let Some(&next) = hay.get(p + 1) else {
            continue;
        };
        let counts = match next {
            b'u' => hay
                .get(p + 2..p + 6)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)),
            b'x' => hay
                .get(p + 2..p + 4)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)),
            b'"' | b'/' => true,
            _ => false,
        };
        // `\n` alone is everywhere in code; three on one line is a multi-line value (a
        // private key in a JSON string).
        let weak = next == b'n' && {
            let line_end = memchr::memchr(b'\n', &hay[p..]).map_or(hay.len(), |i| p + i);
            memchr::memmem::find_iter(&hay[p..line_end.min(p + half)], b"\\n")
                .take(3)
                .count()
                >= 3
        };
        let joined = next == b'n' && string_continues(hay, p).is_some();
        if !(counts || weak || joined) || out.last().is_some_and(|r| p < r.end) {
            continue;
        }
        let lo = p.saturating_sub(half);
        let start = memchr::memrchr(b'\n', &hay[lo..p]).map_or(lo, |i| lo + i + 1);
        let hi = (p + half).min(hay.len());
        let mut end = memchr::memchr(b'\n', &hay[p..hi]).map_or(hi, |i| p + i);
        // A notebook cell or JSON string array: one string per source line. Take the
        // following strings of the array too, so a multi-line value is decoded whole.
        while end - start < limits.max_span {
            let Some(tail) = last_escape_before(hay, start, end) else {
                break;
            };
            let Some(next_string) = string_continues(hay, tail) else {
                break;
            };
            if next_string < end {
                break;
            }
            let hi = (next_string + half).min(hay.len());
            end = memchr::memchr(b'\n', &hay[next_string..hi]).map_or(hi, |i| next_string + i);
        }
        match out.last_mut() {
            Some(last) if start <= last.end => last.end = end,
            _ => out.push(start..end),
        }
    }
    out
}

/// If `hay[p..]` is `\n",` then whitespace then `"` (the end of one JSON string in an array
/// and the start of the next), the offset of that next opening quote.
fn string_continues(hay: &[u8], p: usize) -> Option<usize> {
    let rest = hay.get(p..)?;
    if !rest.starts_with(b"\\n\",") {
        return None;
    }
    let mut i = p + 4;
    while i < hay.len() && hay[i].is_ascii_whitespace() && i - p < 64 {
        i += 1;
    }
    (hay.get(i) == Some(&b'"')).then_some(i)
}

/// The last `\n",` in `hay[start..end]`, if the line ends with one.
fn last_escape_before(hay: &[u8], start: usize, end: usize) -> Option<usize> {
    let p = memchr::memmem::rfind(&hay[start..end], b"\\n\",")? + start;
    let after = &hay[p + 4..end];
    after.iter().all(|b| b.is_ascii_whitespace()).then_some(p)
}

fn decode_escapes(s: &[u8]) -> Option<Decoded> {
    let mut out = Vec::with_capacity(s.len());
    let mut map = Vec::with_capacity(s.len() + 1);
    let mut i = 0;
    while i < s.len() {
        let at = i;
        let before = out.len();
        i = decode_one_escape(s, i, &mut out);
        map.resize(map.len() + (out.len() - before), at);
    }
    map.push(s.len());
    (out != s && is_text(&out)).then_some(Decoded { text: out, map })
}

/// Decodes the escape (or plain byte) at `s[i]` into `out`; returns the next index.
fn decode_one_escape(s: &[u8], i: usize, out: &mut Vec<u8>) -> usize {
    if s[i] != b'\\' || i + 1 >= s.len() {
        out.push(s[i]);
        return i + 1;
    }
    let hex = |r: Range<usize>| -> Option<u32> {
        let h = s.get(r)?;
        if !h.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
    };
    match s[i + 1] {
        b'x' => {
            if let Some(v) = hex(i + 2..i + 4) {
                push_char(out, v);
                return i + 4;
            }
        }
        b'u' => {
            if let Some(hi) = hex(i + 2..i + 6) {
                // A surrogate pair: \uD83D\uDE00.
                if (0xD800..0xDC00).contains(&hi) && s.get(i + 6..i + 8) == Some(b"\\u") {
                    if let Some(lo) = hex(i + 8..i + 12).filter(|l| (0xDC00..0xE000).contains(l)) {
                        push_char(out, 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00));
                        return i + 12;
                    }
                }
                push_char(out, hi);
                return i + 6;
            }
        }
        c @ (b'"' | b'\'' | b'/' | b'\\') => {
            out.push(c);
            return i + 2;
        }
        b'n' => {
            out.push(b'\n');
            // Between two strings of a JSON array, drop the `",` + whitespace + `"`.
            return string_continues(s, i).map_or(i + 2, |q| q + 1);
        }
        b't' => {
            out.push(b'\t');
            return i + 2;
        }
        b'r' => {
            out.push(b'\r');
            return i + 2;
        }
        _ => {}
    }
    out.push(s[i]);
    i + 1
}

fn push_char(out: &mut Vec<u8>, code: u32) {
    let c = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(hay: &[u8]) -> Vec<(Range<usize>, String, String)> {
        layers(hay, &Limits::default())
            .into_iter()
            .map(|l| (l.span, l.encoding, String::from_utf8(l.text).unwrap()))
            .collect()
    }

    #[test]
    fn base64_values_decode_with_their_encoded_span() {
        let hay = b"data:\n  token: Z2hwX3NlY3JldHZhbHVlMTIz\n";
        assert_eq!(
            texts(hay),
            vec![(15..39, "base64".into(), "ghp_secretvalue123".into())]
        );
    }

    #[test]
    fn basic_auth_header_decodes() {
        // Built from pieces so the repository's own scan stays clean.
        let hay = ["Authorization: Basic ", "YWRtaW46WGs5I21QMiR2TDdx\r\n"].concat();
        assert_eq!(texts(hay.as_bytes())[0].2, "admin:Xk9#mP2$vL7q");
    }

    #[test]
    fn binary_base64_and_identifiers_are_dropped() {
        // A PNG header and an identifier in the base64 alphabet decode to non-text.
        assert!(texts(b"img = iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB\n").is_empty());
        assert!(texts(b"fn getUserAccountSettingsFromStore2() {}").is_empty());
        assert!(texts(b"path = /usr/local/lib/python3/site").is_empty());
    }

    #[test]
    fn percent_runs_decode() {
        let hay = ["url = \"postgres", "://app:s3cr%3At%40Xy9@db:5432/app\""].concat();
        let hay = hay.as_bytes();
        assert_eq!(
            texts(hay),
            vec![(
                7..48,
                "percent".into(),
                "postgres://app:s3cr:t@Xy9@db:5432/app".into()
            )]
        );
        assert!(texts(b"printf(\"%02x %s\")").is_empty());
    }

    #[test]
    fn escapes_decode_per_line() {
        let hay = b"a = 1\nk = \"\\x67\\x68\\x70\\x5f\\u0041bc\"\nb = 2\n";
        assert_eq!(
            texts(hay),
            vec![(6..36, "escape".into(), "k = \"ghp_Abc\"".into())]
        );
        let json = br#"  "source": ["  \"api_key\": \"k\",\n"]"#;
        assert_eq!(
            texts(json)[0].2,
            "  \"source\": [\"  \"api_key\": \"k\",\n\"]"
        );
        assert_eq!(
            decode_escapes(br"\uD83D\uDE00ok").unwrap().text,
            "\u{1F600}ok".as_bytes()
        );
    }

    #[test]
    fn nested_layers_keep_the_outer_span_and_chain_names() {
        // base64 of `auth: "dXNlcjpzM2NyM3RQYXNzMQ=="` (which is base64 of user:s3cr3tPass1).
        let inner = "dXNlcjpzM2NyM3RQYXNzMQ==";
        let outer = base64::engine::general_purpose::STANDARD.encode(format!("auth: \"{inner}\""));
        let hay = format!("x: {outer}\n");
        let got = texts(hay.as_bytes());
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[1].1, "base64+base64");
        assert_eq!(got[1].0, 3..3 + outer.len());
        assert_eq!(got[1].2, "user:s3cr3tPass1");
    }

    #[test]
    fn decoded_ranges_map_back_to_the_encoded_text() {
        let hay = b"k = \"\\x67\\x68\\x70_AB\" and p%40ss%21";
        let ls = layers(hay, &Limits::default());
        let esc = ls.iter().find(|l| l.encoding == "escape").unwrap();
        // "ghp_AB" starts at the first escape and `_AB` maps byte for byte.
        let g = esc.text.iter().position(|&b| b == b'g').unwrap();
        assert_eq!(esc.original(g..g + 6), 5..20);
        let pct = ls.iter().find(|l| l.encoding == "percent").unwrap();
        assert_eq!(pct.text, b"p@ss!");
        assert_eq!(pct.original(1..4), 27..32);
        let b = format!(
            "t: {}",
            base64::engine::general_purpose::STANDARD.encode("0123456789ab")
        );
        let ls = layers(b.as_bytes(), &Limits::default());
        assert_eq!(ls[0].original(0..12), 3..19);
        assert_eq!(ls[0].original(3..6), 7..11);
    }

    #[test]
    fn notebook_source_lines_are_joined() {
        let hay = b"{\"source\": [\n    \"k = `-----BEGIN KEY-----\\n\",\n    \"QUJD\\n\",\n    \"-----END KEY-----`\"\n  ]}\n";
        let ls = layers(hay, &Limits::default());
        let esc = ls.iter().find(|l| l.encoding == "escape").unwrap();
        assert_eq!(
            String::from_utf8_lossy(&esc.text),
            "    \"k = `-----BEGIN KEY-----\nQUJD\n-----END KEY-----`\""
        );
    }

    #[test]
    fn depth_and_budget_are_bounded() {
        let one = base64::engine::general_purpose::STANDARD.encode("ghp_secretvalue123456");
        let two = base64::engine::general_purpose::STANDARD.encode(&one);
        let three = base64::engine::general_purpose::STANDARD.encode(&two);
        assert_eq!(
            texts(three.as_bytes()).len(),
            2,
            "depth 2 stops before the third layer"
        );
        let many = format!("{one}\n").repeat(1000);
        let small = Limits {
            max_total: 100,
            ..Limits::default()
        };
        assert_eq!(layers(many.as_bytes(), &small).len(), 4);
    }
}
