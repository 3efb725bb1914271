//! Finds every occurrence of the rules' keywords (ASCII case-insensitive) in one pass.
//!
//! With hundreds of keywords an Aho-Corasick automaton no longer fits in the L1/L2 caches and
//! its per-byte table walk dominated the scan. Keywords are at least three bytes long, so a
//! bitmap of the hashed, lowercased first four bytes of every keyword (first three for
//! three-byte keywords; 16 KiB each, they stay in L1) screens each position with a few
//! arithmetic operations; only positions whose n-gram is in the bitmap compare the keywords that
//! begin with it. The cost per byte is flat in the number of keywords. Keyword sets with a
//! shorter literal fall back to an Aho-Corasick DFA.

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

/// A multi-keyword finder over lowercased literals.
pub struct KeywordIndex {
    patterns: Vec<Vec<u8>>,
    kind: Kind,
}

enum Kind {
    Grams(Box<Grams>),
    Automaton(AhoCorasick),
}

/// Keywords of four or more bytes are screened by their first four bytes, three-byte keywords
/// by all three: each is a bitmap of hashed n-grams plus, per hash, the keywords to compare.
struct Grams {
    four: Screen,
    three: Option<Screen>,
}

struct Screen {
    /// 2^BITS bits: is some keyword's leading n-gram hashed here?
    bits: Box<[u64; WORDS]>,
    /// CSR layout: the keywords whose n-gram hashes to `h` are `ids[starts[h]..starts[h + 1]]`.
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

/// The lowercased first `n` (3 or 4) bytes of `p`, big-endian.
fn gram(p: &[u8], n: usize) -> u32 {
    p[..n]
        .iter()
        .fold(0u32, |x, &b| (x << 8) | LOWER[b as usize] as u32)
}

impl KeywordIndex {
    /// `patterns` must be lowercase already (they are matched case-insensitively).
    pub fn new(patterns: &[String]) -> KeywordIndex {
        let pats: Vec<Vec<u8>> = patterns.iter().map(|p| p.as_bytes().to_vec()).collect();
        let kind = if pats.iter().all(|p| p.len() >= 3) {
            let mut four = Vec::new();
            let mut three = Vec::new();
            for (i, p) in pats.iter().enumerate() {
                if p.len() >= 4 {
                    four.push((gram(p, 4), i as u32));
                } else {
                    three.push((gram(p, 3), i as u32));
                }
            }
            Kind::Grams(Box::new(Grams {
                four: Screen::new(&four),
                three: (!three.is_empty()).then(|| Screen::new(&three)),
            }))
        } else {
            Kind::Automaton(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
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

    /// Whether every occurrence is reported, even one overlapping another keyword's. The
    /// automaton fallback reports non-overlapping occurrences only.
    pub fn reports_overlapping(&self) -> bool {
        matches!(self.kind, Kind::Grams(_))
    }

    /// Calls `f(pattern, start, end)` for every occurrence in `hay` (not necessarily in order).
    pub fn for_each(&self, hay: &[u8], mut f: impl FnMut(usize, usize, usize)) {
        match &self.kind {
            Kind::Automaton(ac) => {
                for m in ac.find_iter(hay) {
                    f(m.pattern().as_usize(), m.start(), m.end());
                }
            }
            Kind::Grams(g) => match &g.three {
                None => self.screen::<false>(g, hay, &mut f),
                Some(_) => self.screen::<true>(g, hay, &mut f),
            },
        }
    }

    /// Screens in chunks: a tight loop collects the end positions of n-grams in the bitmaps
    /// (no calls, no branches), then the few candidates are confirmed byte for byte.
    fn screen<const THREE: bool>(
        &self,
        g: &Grams,
        hay: &[u8],
        f: &mut impl FnMut(usize, usize, usize),
    ) {
        const CHUNK: usize = 1024;
        let mut c4 = [0u32; CHUNK];
        let mut c3 = [0u32; CHUNK];
        let mut x = 0u32;
        for (c, chunk) in hay.chunks(CHUNK).enumerate() {
            let base = c * CHUNK;
            let (mut n4, mut n3) = (0, 0);
            for (j, &b) in chunk.iter().enumerate() {
                x = (x << 8) | LOWER[b as usize] as u32;
                c4[n4] = j as u32;
                n4 += g.four.hit(x) as usize;
                if THREE {
                    if let Some(three) = &g.three {
                        c3[n3] = j as u32;
                        n3 += three.hit(x & 0xFF_FFFF) as usize;
                    }
                }
            }
            for (screen, cands, n) in [(Some(&g.four), &c4, 4), (g.three.as_ref(), &c3, 3)] {
                let Some(screen) = screen else { continue };
                let count = if n == 4 { n4 } else { n3 };
                for &j in &cands[..count] {
                    let end = base + j as usize + 1;
                    let Some(start) = end.checked_sub(n) else {
                        continue;
                    };
                    for &id in screen.candidates(gram(&hay[start..end], n)) {
                        let p = &self.patterns[id as usize];
                        if hay
                            .get(start..start + p.len())
                            .is_some_and(|w| w.eq_ignore_ascii_case(p))
                        {
                            f(id as usize, start, start + p.len());
                        }
                    }
                }
            }
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
        assert!(index.reports_overlapping());
        assert_eq!(
            hits(&index, b"x SK_LIVE_kz ghp ghp_ sk_"),
            [(0, 2, 10), (1, 2, 5), (2, 5, 11), (3, 17, 21), (1, 22, 25)]
        );
        assert_eq!(hits(&index, b"sk"), []);
        assert_eq!(hits(&index, b""), []);
    }

    #[test]
    fn short_keywords_fall_back_to_the_automaton() {
        let pats = ["ab", "xyz_"].map(String::from);
        let index = KeywordIndex::new(&pats);
        assert!(!index.reports_overlapping());
        assert_eq!(hits(&index, b"..AB..xyz_"), [(0, 2, 4), (1, 6, 10)]);
    }
}
