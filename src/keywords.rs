//! Finds every occurrence of the rules' keywords (ASCII case-insensitive) in one pass.
//!
//! With hundreds of keywords an Aho-Corasick automaton no longer fits in the L1/L2 caches and
//! its per-byte table walk dominated the scan. Keywords are at least three bytes long, so each
//! is screened by its least common trigram (by a frequency list measured on ordinary code): a
//! 16 KiB bitmap of those hashed, lowercased trigrams stays in L1 and is tested once per byte;
//! only positions whose trigram is in it compare the keywords screened by that trigram. The cost
//! per byte is flat in the number of keywords. Keyword sets with a shorter literal fall back to
//! an Aho-Corasick DFA.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

const BITS: u32 = 17;
const WORDS: usize = (1 << BITS) / 64;

/// ASCII lowercase as a table: one load instead of a compare-and-set per byte.
const LOWER: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = (i as u8).to_ascii_lowercase();
        i += 1;
    }
    t
};

#[inline(always)]
fn fold(b: u8) -> u32 {
    LOWER[b as usize] as u32
}

/// A multi-keyword finder over lowercased literals.
pub struct KeywordIndex {
    patterns: Vec<Vec<u8>>,
    kind: Kind,
}

enum Kind {
    Trigrams(Trigrams),
    Automaton(AhoCorasick),
}

/// Every keyword is screened by one of its three-byte substrings, the least common one in
/// ordinary code (so "heroku" waits for "oku", not the common "her"), at a known offset.
struct Trigrams {
    screen: Screen,
    /// Per keyword: where its screening trigram starts.
    offsets: Vec<u8>,
}

struct Screen {
    /// 2^BITS bits: is some keyword's screening trigram hashed here?
    bits: Box<[u64; WORDS]>,
    /// CSR layout: the keywords whose trigram hashes to `h` are `ids[starts[h]..starts[h + 1]]`.
    starts: Vec<u32>,
    ids: Vec<u32>,
}

impl Screen {
    fn new(entries: &[(u32, u32)]) -> Screen {
        let size = 1usize << BITS;
        let mut bits = Box::new([0u64; WORDS]);
        let mut counts = vec![0u32; size + 1];
        for &(gram, _) in entries {
            let h = hash(gram);
            bits[h / 64] |= 1 << (h % 64);
            counts[h + 1] += 1;
        }
        for h in 0..size {
            counts[h + 1] += counts[h];
        }
        let starts = counts.clone();
        let mut fill = counts;
        let mut ids = vec![0u32; entries.len()];
        for &(gram, id) in entries {
            let h = hash(gram);
            ids[fill[h] as usize] = id;
            fill[h] += 1;
        }
        Screen { bits, starts, ids }
    }

    #[inline(always)]
    fn hit(&self, gram: u32) -> bool {
        let h = hash(gram);
        self.bits[(h >> 6) & (WORDS - 1)] >> (h & 63) & 1 != 0
    }

    fn candidates(&self, gram: u32) -> &[u32] {
        let h = hash(gram);
        &self.ids[self.starts[h] as usize..self.starts[h + 1] as usize]
    }
}

fn hash(x: u32) -> usize {
    (x.wrapping_mul(0x9E37_79B1) >> (32 - BITS)) as usize
}

/// The lowercased first three bytes of `p`, big-endian.
fn trigram(p: &[u8]) -> u32 {
    fold(p[0]) << 16 | fold(p[1]) << 8 | fold(p[2])
}

/// The most frequent trigrams of ordinary source code, most frequent first
/// (benches/support/gen-keyword-trigrams.py).
static COMMON_TRIGRAMS: &str = include_str!("keyword_trigrams.txt");

/// How common a lowercased trigram is: its distance from the end of the frequency list, 0 when
/// it is not in the list at all.
fn commonness() -> std::collections::HashMap<[u8; 3], u32> {
    let list: Vec<&[u8]> = COMMON_TRIGRAMS
        .lines()
        .filter(|l| !l.starts_with("# ") && l.len() == 3)
        .map(str::as_bytes)
        .collect();
    let n = list.len() as u32;
    list.iter()
        .enumerate()
        .map(|(i, t)| ([t[0], t[1], t[2]], n - i as u32))
        .collect()
}

/// The offset of `p`'s least common trigram (the first of equals).
fn rarest_trigram(p: &[u8], common: &std::collections::HashMap<[u8; 3], u32>) -> usize {
    (0..=p.len() - 3)
        .min_by_key(|&i| {
            let t = [p[i], p[i + 1], p[i + 2]].map(|b| LOWER[b as usize]);
            common.get(&t).copied().unwrap_or(0)
        })
        .unwrap_or(0)
}

impl KeywordIndex {
    /// `patterns` must be lowercase already (they are matched case-insensitively).
    pub fn new(patterns: &[String]) -> KeywordIndex {
        let pats: Vec<Vec<u8>> = patterns.iter().map(|p| p.as_bytes().to_vec()).collect();
        let kind = if pats.iter().all(|p| p.len() >= 3) {
            let common = commonness();
            let offsets: Vec<u8> = pats
                .iter()
                .map(|p| rarest_trigram(&p[..p.len().min(255)], &common) as u8)
                .collect();
            let entries: Vec<(u32, u32)> = pats
                .iter()
                .zip(&offsets)
                .enumerate()
                .map(|(i, (p, &o))| (trigram(&p[o as usize..]), i as u32))
                .collect();
            Kind::Trigrams(Trigrams {
                screen: Screen::new(&entries),
                offsets,
            })
        } else {
            Kind::Automaton(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    // Overlapping search needs the standard match semantics; the fallback is for
                    // rare sets with two-byte keywords, so its speed matters less than the
                    // guarantee that every occurrence is reported.
                    .match_kind(MatchKind::Standard)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(&pats)
                    .expect("keyword automaton over validated literals"),
            )
        };
        KeywordIndex {
            patterns: pats,
            kind,
        }
    }

    /// Calls `f(pattern, start, end)` for every occurrence in `hay`, overlapping ones included
    /// (not necessarily in order).
    pub fn for_each(&self, hay: &[u8], mut f: impl FnMut(usize, usize, usize)) {
        match &self.kind {
            Kind::Automaton(ac) => {
                for m in ac.find_overlapping_iter(hay) {
                    f(m.pattern().as_usize(), m.start(), m.end());
                }
            }
            Kind::Trigrams(t) => self.screen(t, hay, &mut f),
        }
    }

    /// Screens in chunks: a tight loop collects the positions where some keyword's screening
    /// trigram ends (one bitmap test a byte, no calls, no branches); each candidate is then
    /// confirmed byte for byte against the keywords screened by that trigram.
    fn screen(&self, t: &Trigrams, hay: &[u8], f: &mut impl FnMut(usize, usize, usize)) {
        const CHUNK: usize = 1024;
        let mut cands = [0u32; CHUNK];
        let mut x = 0u32;
        for (c, chunk) in hay.chunks(CHUNK).enumerate() {
            let base = c * CHUNK;
            let mut n = 0;
            for (j, &b) in chunk.iter().enumerate() {
                x = (x << 8) | fold(b);
                cands[n] = j as u32;
                n += t.screen.hit(x & 0xFF_FFFF) as usize;
            }
            for &j in &cands[..n] {
                let Some(at) = (base + j as usize + 1).checked_sub(3) else {
                    continue;
                };
                for &id in t.screen.candidates(trigram(&hay[at..])) {
                    let Some(start) = at.checked_sub(t.offsets[id as usize] as usize) else {
                        continue;
                    };
                    self.confirm(id, hay, start, f);
                }
            }
        }
    }

    fn confirm(&self, id: u32, hay: &[u8], start: usize, f: &mut impl FnMut(usize, usize, usize)) {
        let p = &self.patterns[id as usize];
        if hay
            .get(start..start + p.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(p))
        {
            f(id as usize, start, start + p.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(index: &KeywordIndex, hay: &[u8]) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        index.for_each(hay, |p, s, e| out.push((p, s, e)));
        out.sort_by_key(|&(p, s, _)| (s, p));
        out
    }

    #[test]
    fn finds_every_occurrence_case_insensitively_including_overlaps() {
        let pats = ["sk_live_", "sk_", "live_k", "ghp_"].map(String::from);
        let index = KeywordIndex::new(&pats);
        assert!(matches!(index.kind, Kind::Trigrams(_)));
        assert_eq!(
            hits(&index, b"x SK_LIVE_kz ghp ghp_ sk_"),
            [(0, 2, 10), (1, 2, 5), (2, 5, 11), (3, 17, 21), (1, 22, 25)]
        );
        assert_eq!(hits(&index, b"sk"), []);
        assert_eq!(hits(&index, b""), []);
    }

    #[test]
    fn short_keywords_fall_back_to_the_automaton_which_reports_overlaps_too() {
        let pats = ["ab", "xyz_", "bcd_"].map(String::from);
        let index = KeywordIndex::new(&pats);
        assert!(matches!(index.kind, Kind::Automaton(_)));
        assert_eq!(
            hits(&index, b"..AB..xyz_ abcd_"),
            [(0, 2, 4), (1, 6, 10), (0, 11, 13), (2, 12, 16)]
        );
    }
}
