//! The 64-bit hash of a byte string that keys the static rank tables. `build.rs` includes this
//! file too (`#[path]`), so the tables and the lookups cannot disagree.
//!
//! It replaces byte-at-a-time FNV-1a: strings of up to 8 bytes (nearly every lookup of a merge)
//! are read with at most two loads and mixed once; longer ones take one multiply per 8 bytes.
//! Only 64-bit multiplies are used (no `u128`), which wasm32 has natively.
//!
//! Distinct strings of one length up to 8 bytes never collide: their packed value is injective
//! and every later step is a bijection of the 64-bit state. Across lengths and for longer strings
//! a collision needs a pseudo-random 64-bit coincidence (the length enters through a multiplier).

const K_LEN: u64 = 0x9e37_79b9_7f4a_7c15;
const K_SEED: u64 = 0x243f_6a88_85a3_08d3;
const K_CHUNK: u64 = 0xd6e8_feb8_6659_fd93;

/// A bijection whose top bits depend on every input bit: one multiply (splitmix64's finaliser
/// has two; a lookup uses only the top 59 bits, the ones a multiply mixes best).
#[inline(always)]
fn finish(z: u64) -> u64 {
    (z ^ (z >> 32)).wrapping_mul(0xbf58_476d_1ce4_e5b9)
}

#[inline(always)]
fn le64(c: &[u8; 8]) -> u64 {
    u64::from_le_bytes(*c)
}

/// Hash of `b` (see the module documentation).
#[inline(always)]
pub fn hash(b: &[u8]) -> u64 {
    let len = b.len() as u64;
    // An odd multiplier per length: a bijection for each length, different across lengths.
    let m = K_LEN.wrapping_mul(len.wrapping_mul(2).wrapping_add(1));
    let v = if let (Some(f), Some(l)) = (b.first_chunk::<4>(), b.last_chunk::<4>()) {
        if let (Some(f8), Some(l8)) = (b.first_chunk::<8>(), b.last_chunk::<8>()) {
            if b.len() == 8 {
                le64(f8)
            } else {
                // Longer than 8: every 8-byte chunk but the last, then the (overlapping) last 8.
                let mut acc = K_SEED;
                let mut rest = b;
                while rest.len() > 8 {
                    let Some((c, r)) = rest.split_first_chunk::<8>() else {
                        break;
                    };
                    acc = (acc ^ le64(c)).wrapping_mul(K_CHUNK).rotate_left(29);
                    rest = r;
                }
                (acc ^ le64(l8)).wrapping_mul(K_CHUNK)
            }
        } else {
            // 4..=7 bytes: the first and last four (overlapping) determine the string.
            u64::from(u32::from_le_bytes(*f)) | (u64::from(u32::from_le_bytes(*l)) << 32)
        }
    } else {
        // 0..=3 bytes: first, middle and last byte determine the string.
        let at = |i: usize| b.get(i).map_or(0, |&c| u64::from(c));
        at(0) | (at(b.len() / 2) << 8) | (at(b.len().wrapping_sub(1)) << 16)
    };
    finish((v ^ K_SEED).wrapping_mul(m))
}
