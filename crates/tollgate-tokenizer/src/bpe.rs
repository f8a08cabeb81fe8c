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

    /// Ranks of the two-byte tokens: 65,536 little-endian u32, indexed by the two bytes.
    fn pairs(self) -> &'static [u8] {
        match self {
            Encoding::O200kBase => include_bytes!(concat!(env!("OUT_DIR"), "/o200k_base.pairs")),
            Encoding::Cl100kBase => include_bytes!(concat!(env!("OUT_DIR"), "/cl100k_base.pairs")),
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

use crate::hash::hash;

include!(concat!(env!("OUT_DIR"), "/consts.rs"));

/// Bits of a table entry that hold the rank (see `build.rs`).
const RANK_BITS: u32 = 18;
/// Bits of a table entry that hold its displacement from its home slot.
const DISP_BITS: u32 = 5;
/// Bits of a table entry that hold hash bits below the home-slot bits.
const CHECK_BITS: u32 = 64 - RANK_BITS - DISP_BITS;
/// Rank field of an empty slot.
const EMPTY_RANK: u32 = (1 << RANK_BITS) - 1;
/// "Not a token" / "no pair to merge": larger than every rank.
const NONE: u32 = u32::MAX;

/// Pieces shorter than 16, [`SMALL`] or [`MEDIUM`] bytes are merged by [`Bpe::merge_small`] with
/// stack arrays of that size (three sizes: the arrays are reset for every piece, and most pieces are
/// short); longer ones by [`Bpe::merge_large`], whose O(log n) tree updates win once a rescan of all
/// the keys per merge gets long (tiktoken switches at 100 bytes; ordinary text rarely gets there).
const SMALL: usize = 48;
/// See [`SMALL`].
const MEDIUM: usize = 128;

/// A token counter for one encoding. Build once per VM; counting allocates only for pieces longer
/// than [`MEDIUM`] bytes.
pub struct Bpe {
    /// Open-addressing table of `check << 23 | displacement << 18 | rank` slots (see `build.rs`).
    table: &'static [[u8; 8]],
    /// Ranks of two-byte strings (NONE: not a token).
    pairs: &'static [[u8; 4]],
    /// The top `bits` of a hash are its home slot.
    bits: u32,
    /// No longer byte string is a token: its lookup is skipped.
    longest: usize,
    regex: Regex,
}

impl Bpe {
    /// Compiles the pre-tokeniser for `enc`; the rank table is static.
    pub fn new(enc: Encoding) -> Result<Self, String> {
        let regex = Regex::new(&format!("^(?:{})", enc.pattern()))
            .map_err(|e| format!("{}: {e}", enc.name()))?;
        let (longest, bits) = match enc {
            Encoding::O200kBase => (O200K_BASE_LONGEST, O200K_BASE_BITS),
            Encoding::Cl100kBase => (CL100K_BASE_LONGEST, CL100K_BASE_BITS),
        };
        Ok(Self {
            table: enc.table().as_chunks::<8>().0,
            pairs: enc.pairs().as_chunks::<4>().0,
            bits,
            longest,
            regex,
        })
    }

    /// Rank of a byte sequence, or [`NONE`] if it is not a token.
    #[inline]
    fn rank(&self, bytes: &[u8]) -> u32 {
        if bytes.len() > self.longest {
            return NONE;
        }
        let h = hash(bytes);
        let home = (h >> (64 - self.bits)) as usize;
        let check = (h >> (64 - self.bits - CHECK_BITS)) << (RANK_BITS + DISP_BITS);
        let slots = self.table.get(home..).unwrap_or_default();
        // Entries sit in order of their home slot: probing from ours, an entry displaced by d from
        // its home matches when its check bits are ours and d is the distance probed; one displaced
        // by less than the distance (or an empty slot, displacement 0) has a later home: stop.
        for (d, e) in slots.iter().take(1 << DISP_BITS).enumerate() {
            let e = u64::from_le_bytes(*e);
            let want = check | ((d as u64) << RANK_BITS);
            let x = e ^ want;
            if x < 1 << RANK_BITS {
                let r = x as u32;
                return if r == EMPTY_RANK { NONE } else { r };
            }
            if ((e >> RANK_BITS) & ((1 << DISP_BITS) - 1)) < d as u64 {
                break;
            }
        }
        NONE
    }

    /// Rank of `piece[i..i + 2]`, from the direct table of two-byte tokens.
    #[inline(always)]
    fn rank2(&self, piece: &[u8], i: usize) -> u32 {
        match piece.get(i..i + 2) {
            Some(&[a, b]) => self
                .pairs
                .get(usize::from(a) << 8 | usize::from(b))
                .map_or(NONE, |r| u32::from_le_bytes(*r)),
            _ => NONE,
        }
    }

    /// Rank of `piece[a..b]`, [`NONE`] if not a token or out of range.
    #[inline]
    fn rank_of(&self, piece: &[u8], a: u32, b: u32) -> u32 {
        piece
            .get(a as usize..b as usize)
            .map_or(NONE, |p| self.rank(p))
    }

    /// Number of pre-tokenised pieces (benchmarking aid: the regex's share of [`Bpe::count`]).
    pub fn pieces(&self, text: &str) -> usize {
        let mut n = 0;
        self.for_each_piece(text, |_| n += 1);
        n
    }

    /// Number of tokens in `text`.
    pub fn count(&self, text: &str) -> usize {
        let mut n = 0;
        self.for_each_piece(text, |piece| n += self.count_piece(piece));
        n
    }

    /// Calls `f` with each pre-tokenised piece of `text`, in order.
    fn for_each_piece(&self, text: &str, mut f: impl FnMut(&[u8])) {
        let mut pos = 0;
        while let Some(rest) = text.get(pos..).filter(|r| !r.is_empty()) {
            // The regex is anchored (`^`), which spares it the reverse scan for the match's start
            // (half the regex's time): every piece starts where the last one ended, because the
            // patterns match at every character. Were there none at `pos`, an unanchored search
            // would go on from the next character: so do we.
            let Some(m) = self.regex.find(rest) else {
                pos += rest.chars().next().map_or(1, char::len_utf8);
                continue;
            };
            let piece = m.as_str();
            let mut end = m.end();
            // `\s+(?!\S)`: a whitespace run followed by a non-space keeps its last character for
            // the next piece (so " word" stays one piece), unless the run is a single character.
            // Runs with a line break came from the earlier `\s*[\r\n]+` branch and are kept whole.
            if piece.starts_with(char::is_whitespace)
                && piece.chars().all(char::is_whitespace)
                && !piece.contains(['\r', '\n'])
            {
                let next_is_text = rest
                    .get(end..)
                    .and_then(|r| r.chars().next())
                    .is_some_and(|c| !c.is_whitespace());
                let mut chars = piece.char_indices();
                if next_is_text && chars.nth(1).is_some() {
                    if let Some((last, _)) = piece.char_indices().next_back() {
                        end = last;
                    }
                }
            }
            f(rest.as_bytes().get(..end).unwrap_or_default());
            if end == 0 {
                break;
            }
            pos += end;
        }
    }

    fn count_piece(&self, piece: &[u8]) -> usize {
        let n = piece.len();
        if n <= 1 || self.rank(piece) != NONE {
            return usize::from(n != 0);
        }
        match n {
            // Not a token, so no merge can join everything: two parts.
            2 => 2,
            // Not a token: at most one of the two pairs merges, and then nothing more can.
            3 => 3 - usize::from(self.rank2(piece, 0) != NONE || self.rank2(piece, 1) != NONE),
            _ if n < 16 => self.merge_small::<16>(piece),
            _ if n < SMALL => self.merge_small::<SMALL>(piece),
            _ if n < MEDIUM => self.merge_small::<MEDIUM>(piece),
            _ => self.merge_large(piece),
        }
    }

    /// Standard BPE — repeatedly merge the adjacent pair with the lowest rank, the leftmost of equal
    /// ranks, exactly as tiktoken does — by scanning for the minimum (as tiktoken does below 100
    /// bytes): quadratic, but on the short pieces that make up nearly all text a scan of a few
    /// contiguous ranks beats any priority queue. `N` > `piece.len()` sizes the stack arrays, so
    /// nothing is allocated. Returns the part count.
    fn merge_small<const N: usize>(&self, piece: &[u8]) -> usize {
        let n = piece.len().min(N - 1);
        // Parts are named by their start offset. keys[s]: rank << 32 | s for merging the part at
        // s with the next one, u64::MAX for no pair and for offsets inside a part. So nothing moves
        // when parts merge, and the lowest key is the lowest rank, leftmost on ties, found in one
        // branch-free pass. next[s] / prev[s]: where the part at s ends / the previous one starts.
        let mut keys = [u64::MAX; N];
        let mut next = [0u32; N];
        let mut prev = [0u32; N];
        for (i, k) in keys.iter_mut().enumerate().take(n.saturating_sub(1)) {
            *k = key(self.rank2(piece, i), i as u32);
        }
        for (i, (nx, pv)) in next.iter_mut().zip(prev.iter_mut()).enumerate().take(n) {
            *nx = i as u32 + 1;
            *pv = (i as u32).wrapping_sub(1);
        }
        let n32 = n as u32;
        // Whole groups of four (N is a multiple of four; the keys past n - 2 stay u64::MAX).
        let scan = ((n + 2) & !3).min(N);
        let mut parts = n;
        loop {
            let best = min_key(keys.get(..scan).unwrap_or_default());
            if best >> 32 >= u64::from(NONE) {
                break;
            }
            let at = best as u32;
            // The part at `mid` joins the part at `at`.
            let mid = next.get(at as usize).copied().unwrap_or(n32);
            let end = next.get(mid as usize).copied().unwrap_or(n32);
            parts -= 1;
            if let Some(k) = keys.get_mut(mid as usize) {
                *k = u64::MAX;
            }
            if let Some(x) = next.get_mut(at as usize) {
                *x = end;
            }
            // The merged part's pairs with its neighbours are new.
            let right = match next.get(end as usize) {
                Some(&after) if end < n32 => {
                    if let Some(p) = prev.get_mut(end as usize) {
                        *p = at;
                    }
                    self.rank_of(piece, at, after)
                }
                _ => NONE,
            };
            if let Some(k) = keys.get_mut(at as usize) {
                *k = key(right, at);
            }
            if at > 0 {
                let p = prev.get(at as usize).copied().unwrap_or(0);
                let left = self.rank_of(piece, p, end);
                if let Some(k) = keys.get_mut(p as usize) {
                    *k = key(left, p);
                }
            }
        }
        parts
    }

    /// The same merge in O(n log n) for long pieces: a tournament tree over the parts' pair ranks
    /// finds the lowest (leftmost on ties: the key is rank << 32 | start) at its root, and each
    /// merge updates three leaves. Unlike a heap there are no stale entries to pop.
    fn merge_large(&self, piece: &[u8]) -> usize {
        let n = piece.len();
        let leaves = n.next_power_of_two();
        // Parts are identified by their start offset: end[s] is where the part at s ends and
        // prev[s] where the part before it starts (both only for live parts).
        let mut end: Vec<u32> = (1..=n as u32).collect();
        let mut prev: Vec<u32> = (0..n as u32).map(|i| i.wrapping_sub(1)).collect();
        let mut tree = vec![u64::MAX; 2 * leaves];
        for i in 0..n.saturating_sub(1) {
            let r = self.rank2(piece, i);
            if let Some(t) = tree.get_mut(leaves + i) {
                *t = key(r, i as u32);
            }
        }
        for j in (1..leaves).rev() {
            let m = min2(&tree, j);
            if let Some(t) = tree.get_mut(j) {
                *t = m;
            }
        }
        let set = |tree: &mut [u64], i: u32, k: u64| {
            let mut j = leaves + i as usize;
            if let Some(t) = tree.get_mut(j) {
                *t = k;
            }
            while j > 1 {
                j /= 2;
                let m = min2(tree, j);
                match tree.get_mut(j) {
                    Some(t) if *t != m => *t = m,
                    // Unchanged: so are all the nodes above.
                    _ => break,
                }
            }
        };
        let n32 = n as u32;
        let mut parts = n;
        loop {
            let top = tree.get(1).copied().unwrap_or(u64::MAX);
            if (top >> 32) as u32 == NONE {
                break;
            }
            let s = top as u32;
            let mid = end.get(s as usize).copied().unwrap_or(n32);
            let right_end = end.get(mid as usize).copied().unwrap_or(n32);
            // Merge the part at `mid` into the part at `s`.
            parts -= 1;
            if let Some(e) = end.get_mut(s as usize) {
                *e = right_end;
            }
            set(&mut tree, mid, u64::MAX);
            let right = if right_end < n32 {
                if let Some(p) = prev.get_mut(right_end as usize) {
                    *p = s;
                }
                let next_end = end.get(right_end as usize).copied().unwrap_or(n32);
                self.rank_of(piece, s, next_end)
            } else {
                NONE
            };
            set(&mut tree, s, key(right, s));
            if s > 0 {
                let p = prev.get(s as usize).copied().unwrap_or(0);
                set(&mut tree, p, key(self.rank_of(piece, p, right_end), p));
            }
        }
        parts
    }
}

/// Priority of merging the part at `start` with the next one: lowest rank first, then leftmost.
#[inline(always)]
fn key(rank: u32, start: u32) -> u64 {
    (u64::from(rank) << 32) | u64::from(start)
}

/// The lowest of `keys`: four independent running minima (a single one is a chain of dependent
/// compare-and-moves, twice as slow), so `keys.len()` should be a multiple of four.
#[inline(always)]
fn min_key(keys: &[u64]) -> u64 {
    let (groups, rest) = keys.as_chunks::<4>();
    let (mut a, mut b, mut c, mut d) = (u64::MAX, u64::MAX, u64::MAX, u64::MAX);
    for &[w, x, y, z] in groups {
        a = a.min(w);
        b = b.min(x);
        c = c.min(y);
        d = d.min(z);
    }
    rest.iter().fold(a.min(b).min(c.min(d)), |m, &k| m.min(k))
}

/// The smaller of node `j`'s two children.
#[inline(always)]
fn min2(tree: &[u64], j: usize) -> u64 {
    let a = tree.get(2 * j).copied().unwrap_or(u64::MAX);
    let b = tree.get(2 * j + 1).copied().unwrap_or(u64::MAX);
    a.min(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vocab(enc: Encoding) -> HashMap<Vec<u8>, u32> {
        let (reference, max) = match enc {
            Encoding::O200kBase => (tiktoken_rs::o200k_base().unwrap(), 199_998),
            Encoding::Cl100kBase => (tiktoken_rs::cl100k_base().unwrap(), 100_256),
        };
        (0..max)
            .filter_map(|r| Some((reference.decode_bytes(&[r]).ok()?, r)))
            .collect()
    }

    #[test]
    fn every_token_is_found_with_its_rank() {
        for enc in [Encoding::O200kBase, Encoding::Cl100kBase] {
            let bpe = Bpe::new(enc).unwrap();
            let vocab = vocab(enc);
            assert!(vocab.len() > 100_000);
            for (bytes, &rank) in &vocab {
                assert_eq!(bpe.rank(bytes), rank, "{bytes:?}");
                if bytes.len() == 2 {
                    assert_eq!(bpe.rank2(bytes, 0), rank, "{bytes:?}");
                }
            }
        }
    }

    /// The queries a merge makes are concatenations of two tokens; near misses (a token with one
    /// byte changed, added or dropped) probe the hash's mixing. None may be taken for a token.
    #[test]
    fn non_tokens_are_not_found() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            seed ^= seed >> 12;
            seed ^= seed << 25;
            seed ^= seed >> 27;
            seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        for enc in [Encoding::O200kBase, Encoding::Cl100kBase] {
            let bpe = Bpe::new(enc).unwrap();
            let vocab = vocab(enc);
            let tokens: Vec<&Vec<u8>> = vocab.keys().collect();
            let pick = |r: u64| tokens[(r % tokens.len() as u64) as usize].clone();
            let mut checked = 0;
            for i in 0..600_000u64 {
                let mut s = pick(rnd());
                let r = rnd();
                match i % 4 {
                    0 => s.extend_from_slice(&pick(r)),
                    1 => s.push(r as u8),
                    2 => {
                        s.pop();
                    }
                    _ => {
                        let at = (r >> 8) as usize % s.len();
                        s[at] ^= 1 << (r % 8);
                    }
                }
                let want = vocab.get(&s).copied().unwrap_or(NONE);
                checked += usize::from(want == NONE);
                assert_eq!(bpe.rank(&s), want, "{s:?}");
            }
            assert!(checked > 400_000);
        }
    }
}
