//! Turns the BPE rank files into compact lookup tables at build time.
//!
//! Each table is a sorted array of 12-byte entries `(fnv1a64(token bytes) LE, rank u32 LE)`, embedded
//! with `include_bytes!`. A VM then needs no parsing at start-up and no heap for the vocabulary
//! (2.4 MB static data for o200k_base instead of tens of MB of hash maps per VM).
//! The token bytes come from tiktoken-rs (a build dependency only), which ships the official files.

// A build script may fail loudly: nothing here runs on a request path.
#![allow(clippy::expect_used, clippy::panic)]

use std::io::Write;

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Start offsets (in entries) of each of the 65536 buckets of the top 16 hash bits, plus the end.
fn index(entries: &[(u64, u32)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(65_537 * 4);
    let mut at = 0usize;
    for bucket in 0..=65_536u64 {
        while at < entries.len() && (entries[at].0 >> 48) < bucket {
            at += 1;
        }
        out.extend_from_slice(&(at as u32).to_le_bytes());
    }
    out
}

fn table(bpe: &tiktoken_rs::CoreBPE, max_rank: u32) -> (Vec<u8>, Vec<u8>) {
    let mut entries: Vec<(u64, u32)> = (0..max_rank)
        .filter_map(|rank| bpe.decode_bytes(&[rank]).ok().map(|b| (fnv1a64(&b), rank)))
        .collect();
    entries.sort_unstable();
    let dup = entries.windows(2).any(|w| w[0].0 == w[1].0);
    assert!(!dup, "hash collision between two tokens; change the hash");
    let idx = index(&entries);
    let mut out = Vec::with_capacity(entries.len() * 12);
    for (h, r) in entries {
        out.extend_from_slice(&h.to_le_bytes());
        out.extend_from_slice(&r.to_le_bytes());
    }
    (out, idx)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let out = std::env::var("OUT_DIR").expect("OUT_DIR");
    let o200k = tiktoken_rs::o200k_base().expect("o200k_base");
    let cl100k = tiktoken_rs::cl100k_base().expect("cl100k_base");
    for (name, bpe, max) in [
        ("o200k_base", &o200k, 199_998u32),
        ("cl100k_base", &cl100k, 100_256u32),
    ] {
        let (bytes, idx) = table(bpe, max);
        let mut f = std::fs::File::create(format!("{out}/{name}.bin")).expect("create table");
        f.write_all(&bytes).expect("write table");
        let mut f = std::fs::File::create(format!("{out}/{name}.idx")).expect("create index");
        f.write_all(&idx).expect("write index");
    }
}
