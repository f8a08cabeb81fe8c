//! Turns the BPE rank files into compact lookup tables at build time, embedded with
//! `include_bytes!`: a VM needs no parsing at start-up and no heap for the vocabulary.
//!
//! * `{name}.bin`: an open-addressing hash table of 2^bits little-endian u64 slots (at most 80 %
//!   full; 2 MB for o200k_base, 1 MB for cl100k_base). A token whose [`hash::hash`] has top `bits`
//!   `home` lies in the first free slot at or after `home`, inserted in hash order, so each cluster
//!   is sorted by home slot ("ordered" linear probing: a lookup stops at the first entry with a
//!   later home, after about two probes, hit or miss). A slot holds `check << 23 | disp << 18 |
//!   rank`: the 41 hash bits below the home bits, the distance from the home slot (at most 20
//!   for these vocabularies; 31 fits) and the rank.
//!   One memory access per lookup, where the former sorted array behind a 65,537-bucket index
//!   needed two (index, then entries), and 8-byte slots instead of 12-byte entries.
//!   A lookup compares home + check = 59 (o200k) / 58 (cl100k) hash bits; the build fails if two
//!   tokens agree on them, and a string that is no token matches one with probability below
//!   2^-41 per lookup (it is compared with the tokens of its home slot: 0.76 on average).
//! * `{name}.pairs`: the ranks of all two-byte tokens as 65,536 u32 indexed by the two bytes
//!   (256 KB): every merge starts from the byte pairs of its piece, a third to half of all lookups,
//!   and this one is a single load with no hashing.
//! * `consts.rs`: the home-slot bits and the longest token of each encoding.
//!
//! The token bytes come from tiktoken-rs (a build dependency only), which ships the official files.

// A build script may fail loudly: nothing here runs on a request path.
#![allow(clippy::expect_used, clippy::panic)]

use std::io::Write;

#[path = "src/hash.rs"]
mod hash;

/// Bits of an entry that hold the rank.
const RANK_BITS: u32 = 18;
/// Bits of an entry that hold its displacement from its home slot.
const DISP_BITS: u32 = 5;
/// Bits of an entry that hold hash bits below the home-slot bits.
const CHECK_BITS: u32 = 64 - RANK_BITS - DISP_BITS;
/// Rank field of an empty slot (above every rank).
const EMPTY_RANK: u64 = (1 << RANK_BITS) - 1;

/// (table, home-slot bits, longest token in bytes)
fn table(bpe: &tiktoken_rs::CoreBPE, max_rank: u32) -> (Vec<u8>, u32, usize) {
    assert!(
        u64::from(max_rank) < EMPTY_RANK,
        "ranks do not fit in {RANK_BITS} bits"
    );
    let mut longest = 0;
    let mut hashes: Vec<(u64, u32)> = (0..max_rank)
        .filter_map(|rank| {
            let b = bpe.decode_bytes(&[rank]).ok()?;
            longest = longest.max(b.len());
            Some((hash::hash(&b), rank))
        })
        .collect();
    hashes.sort_unstable();
    // At most 80 % full: 2^bits slots.
    let bits = (hashes.len() * 5 / 4).next_power_of_two().trailing_zeros();
    let checked = |h: u64| h >> (64 - bits - CHECK_BITS);
    assert!(
        hashes
            .windows(2)
            .all(|w| checked(w[0].0) != checked(w[1].0)),
        "hash collision between two tokens; change the hash"
    );
    let empty = EMPTY_RANK;
    let mut slots: Vec<u64> = vec![empty; 1 << bits];
    let mut next = 0usize;
    for (h, rank) in hashes {
        let home = (h >> (64 - bits)) as usize;
        let at = home.max(next);
        let disp = (at - home) as u64;
        assert!(disp < 1 << DISP_BITS, "displacement {disp} too large");
        if at >= slots.len() {
            slots.push(empty);
        }
        let check = h >> (64 - bits - CHECK_BITS) & ((1 << CHECK_BITS) - 1);
        slots[at] = (check << (RANK_BITS + DISP_BITS)) | (disp << RANK_BITS) | u64::from(rank);
        next = at + 1;
    }
    let out = slots.iter().flat_map(|e| e.to_le_bytes()).collect();
    (out, bits, longest)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/hash.rs");
    let out = std::env::var("OUT_DIR").expect("OUT_DIR");
    let o200k = tiktoken_rs::o200k_base().expect("o200k_base");
    let cl100k = tiktoken_rs::cl100k_base().expect("cl100k_base");
    let mut consts = String::new();
    for (name, bpe, max) in [
        ("o200k_base", &o200k, 199_998u32),
        ("cl100k_base", &cl100k, 100_256u32),
    ] {
        let (bytes, bits, longest) = table(bpe, max);
        let mut f = std::fs::File::create(format!("{out}/{name}.bin")).expect("create table");
        f.write_all(&bytes).expect("write table");
        // Ranks of the two-byte tokens, directly indexed by the two bytes (u32::MAX: none).
        let mut pairs = vec![u32::MAX; 1 << 16];
        for rank in 0..max {
            if let Ok(&[a, b]) = bpe.decode_bytes(&[rank]).as_deref() {
                pairs[usize::from(a) << 8 | usize::from(b)] = rank;
            }
        }
        let pairs: Vec<u8> = pairs.iter().flat_map(|r| r.to_le_bytes()).collect();
        std::fs::write(format!("{out}/{name}.pairs"), pairs).expect("write pairs");
        let up = name.to_uppercase();
        consts.push_str(&format!(
            "/// Longest token of {name}, in bytes.\npub(crate) const {up}_LONGEST: usize = {longest};\n\
             /// Home-slot bits of the {name} table.\npub(crate) const {up}_BITS: u32 = {bits};\n",
        ));
    }
    std::fs::write(format!("{out}/consts.rs"), consts).expect("write consts");
}
