//! Byte-pair-encoding token counter over static, sorted rank tables (built by `build.rs`).

use regex::Regex;

/// A supported BPE encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Encoding {
    /// GPT-4o, GPT-4.1, GPT-5 and the o-series.
    O200kBase,
    /// GPT-4 and GPT-3.5.
    Cl100kBase,
}

impl Encoding {
    /// Parses `o200k_base` / `cl100k_base`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "o200k_base" => Some(Encoding::O200kBase),
            "cl100k_base" => Some(Encoding::Cl100kBase),
            _ => None,
        }
    }

    /// The encoding's name.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::O200kBase => "o200k_base",
            Encoding::Cl100kBase => "cl100k_base",
        }
    }

    fn table(self) -> &'static [u8] {
        match self {
            Encoding::O200kBase => include_bytes!(concat!(env!("OUT_DIR"), "/o200k_base.bin")),
            Encoding::Cl100kBase => include_bytes!(concat!(env!("OUT_DIR"), "/cl100k_base.bin")),
        }
    }

    /// 65537 little-endian u32 entry offsets: where each top-16-bit hash bucket starts.
    fn index(self) -> &'static [u8] {
        match self {
            Encoding::O200kBase => include_bytes!(concat!(env!("OUT_DIR"), "/o200k_base.idx")),
            Encoding::Cl100kBase => include_bytes!(concat!(env!("OUT_DIR"), "/cl100k_base.idx")),
        }
    }

    // Pre-tokenisation patterns published with OpenAI's tiktoken, with their final
    // `\s+(?!\S)|\s+` written as `\s+`: the look-ahead is applied by `Bpe::count` instead, so the
    // linear-time `regex` engine can run them.
    fn pattern(self) -> &'static str {
        match self {
            Encoding::O200kBase => concat!(
                r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
                r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
                r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+"
            ),
            Encoding::Cl100kBase => concat!(
                r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}",
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+"
            ),
        }
    }
}

/// Pieces up to this many bytes are merged by scanning; longer ones through a heap (O(n log n)).
const SMALL_PIECE: usize = 96;

/// A token counter for one encoding. Build once per VM; counting allocates only per piece.
pub struct Bpe {
    table: &'static [u8],
    index: &'static [u8],
    regex: Regex,
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Bpe {
    /// Compiles the pre-tokeniser for `enc`; the rank table is static.
    pub fn new(enc: Encoding) -> Result<Self, String> {
        let regex = Regex::new(enc.pattern()).map_err(|e| format!("{}: {e}", enc.name()))?;
        Ok(Self {
            table: enc.table(),
            index: enc.index(),
            regex,
        })
    }

    /// Rank of a byte sequence, if it is a token.
    fn rank(&self, bytes: &[u8]) -> Option<u32> {
        let h = fnv1a64(bytes);
        // The bucket of the top 16 bits narrows the search to a handful of entries (about three on
        // average), scanned in order: cheaper than a binary search at that size.
        let bucket = (h >> 48) as usize;
        let bounds = self.index.get(bucket * 4..bucket * 4 + 8)?;
        let (lo, hi) = bounds.split_at(4);
        let lo = u32::from_le_bytes(lo.try_into().ok()?) as usize;
        let hi = u32::from_le_bytes(hi.try_into().ok()?) as usize;
        let want = h.to_le_bytes();
        self.table
            .get(lo * 12..hi * 12)?
            .chunks_exact(12)
            .find(|e| e.get(..8) == Some(&want[..]))
            .and_then(|e| Some(u32::from_le_bytes(e.get(8..12)?.try_into().ok()?)))
    }

    /// Number of pre-tokenised pieces (benchmarking aid: the regex's share of [`Bpe::count`]).
    pub fn pieces(&self, text: &str) -> usize {
        self.regex.find_iter(text).count()
    }

    /// Number of tokens in `text`.
    pub fn count(&self, text: &str) -> usize {
        let mut n = 0;
        let mut pos = 0;
        while let Some(m) = self.regex.find_at(text, pos) {
            let mut end = m.end();
            let piece = m.as_str();
            // `\s+(?!\S)`: a whitespace run followed by a non-space keeps its last character for
            // the next piece (so " word" stays one piece), unless the run is a single character.
            // Runs with a line break came from the earlier `\s*[\r\n]+` branch and are kept whole.
            if piece.chars().all(char::is_whitespace) && !piece.contains(['\r', '\n']) {
                let next_is_text = text
                    .get(end..)
                    .and_then(|r| r.chars().next())
                    .is_some_and(|c| !c.is_whitespace());
                let mut chars = piece.char_indices();
                if next_is_text && chars.nth(1).is_some() {
                    if let Some((last, _)) = piece.char_indices().next_back() {
                        end = m.start() + last;
                    }
                }
            }
            n += self.count_piece(text.as_bytes().get(m.start()..end).unwrap_or_default());
            if end <= pos {
                break;
            }
            pos = end;
        }
        n
    }

    fn count_piece(&self, piece: &[u8]) -> usize {
        if piece.len() <= 1 || self.rank(piece).is_some() {
            return usize::from(!piece.is_empty());
        }
        self.merge(piece)
    }

    /// Standard BPE — repeatedly merge the adjacent pair with the lowest rank, the leftmost of equal
    /// ranks, exactly as tiktoken does — in O(n log n): the candidate pairs wait in a heap ordered by
    /// (rank, position) and a popped pair that no longer exists is skipped. Returns the part count.
    fn merge(&self, piece: &[u8]) -> usize {
        if piece.len() <= SMALL_PIECE {
            return self.merge_small(piece);
        }
        self.merge_large(piece)
    }

    /// The same merge by scanning for the minimum: quadratic, but faster than a heap on the short
    /// pieces that make up nearly all text (identical results: same rule, same tie-break).
    fn merge_small(&self, piece: &[u8]) -> usize {
        const NONE: u32 = u32::MAX;
        // (start offset, rank of merging this part with the next); the last entry is the end.
        let mut parts: Vec<(usize, u32)> = Vec::with_capacity(piece.len() + 1);
        for i in 0..piece.len() {
            let r = piece
                .get(i..i + 2)
                .and_then(|p| self.rank(p))
                .unwrap_or(NONE);
            parts.push((i, r));
        }
        parts.push((piece.len(), NONE));
        let pair_rank = |parts: &[(usize, u32)], i: usize| -> u32 {
            match (parts.get(i), parts.get(i + 2)) {
                (Some(&(a, _)), Some(&(b, _))) => {
                    piece.get(a..b).and_then(|p| self.rank(p)).unwrap_or(NONE)
                }
                _ => NONE,
            }
        };
        loop {
            let mut best = (NONE, 0usize);
            for (i, p) in parts.iter().enumerate().take(parts.len().saturating_sub(1)) {
                if p.1 < best.0 {
                    best = (p.1, i);
                }
            }
            let (r, i) = best;
            if r == NONE {
                break;
            }
            parts.remove(i + 1);
            let new_r = pair_rank(&parts, i);
            if let Some(p) = parts.get_mut(i) {
                p.1 = new_r;
            }
            if i > 0 {
                let prev = pair_rank(&parts, i - 1);
                if let Some(p) = parts.get_mut(i - 1) {
                    p.1 = prev;
                }
            }
        }
        parts.len() - 1
    }

    fn merge_large(&self, piece: &[u8]) -> usize {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let n = piece.len();
        // Parts are identified by their start offset: end[s] is where the part starting at s ends
        // (for a live part), prev[s] the start of the part before it.
        let mut end: Vec<usize> = (1..=n).collect();
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        let mut alive = vec![true; n];
        // (rank, left start, pair length): ranks are unique per token, so a pair whose left part
        // still starts there and whose length is unchanged is the same pair.
        let mut heap: BinaryHeap<Reverse<(u32, usize, usize)>> = BinaryHeap::with_capacity(n);
        let push = |heap: &mut BinaryHeap<Reverse<(u32, usize, usize)>>, a: usize, b: usize| {
            if let Some(r) = piece.get(a..b).and_then(|p| self.rank(p)) {
                heap.push(Reverse((r, a, b - a)));
            }
        };
        for i in 0..n.saturating_sub(1) {
            push(&mut heap, i, i + 2);
        }
        let mut parts = n;
        while let Some(Reverse((_, s, len))) = heap.pop() {
            if !alive.get(s).copied().unwrap_or(false) {
                continue;
            }
            let mid = end.get(s).copied().unwrap_or(n);
            if mid >= n {
                continue;
            }
            let right_end = end.get(mid).copied().unwrap_or(n);
            if right_end - s != len {
                continue; // stale: one of the two parts has grown since
            }
            // Merge the part at `mid` into the part at `s`.
            if let Some(a) = alive.get_mut(mid) {
                *a = false;
            }
            if let Some(e) = end.get_mut(s) {
                *e = right_end;
            }
            parts -= 1;
            if right_end < n {
                if let Some(p) = prev.get_mut(right_end) {
                    *p = s;
                }
                let next_end = end.get(right_end).copied().unwrap_or(n);
                push(&mut heap, s, next_end);
            }
            if s > 0 {
                let p = prev.get(s).copied().unwrap_or(0);
                push(&mut heap, p, right_end);
            }
        }
        parts
    }
}
