//! Differential test: our counts equal tiktoken-rs's for seeded random Unicode text that stresses
//! the tokenizer — long pre-token pieces, long runs of one character, mixed scripts, ZWJ emoji,
//! whitespace runs, contractions, digits. `make test` runs a fixed-seed batch; `make tokenizer-diff`
//! runs a longer one (TOLLGATE_DIFF_CASES, TOLLGATE_DIFF_SEED).
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use tollgate_tokenizer::{Bpe, Encoding};

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &'a [&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

#[rustfmt::skip]
const SCRIPTS: &[&str] = &[
    "hello", "World", "données", "Straße", "naïve", "привет", "Москва", "مرحبا", "שלום", "नमस्ते",
    "こんにちは", "ラーメン", "漢字テスト", "中文字符", "한국어", "ภาษาไทย", "Ελληνικά", "ქართული",
    "e\u{301}", "a\u{308}\u{323}", "ǅungla", "ﬁne", "İstanbul", "ß", "ÆØÅ",
];
#[rustfmt::skip]
const EMOJI: &[&str] = &[
    "🙂", "👩‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "👍🏽", "🇩🇪", "❤️", "🧑🏿‍🚀", "☕", "\u{1F600}\u{FE0F}",
];
#[rustfmt::skip]
const PUNCT: &[&str] = &[
    ".", ",", "!", "?", "'s", "'t", "'re", "'VE", "'ll", "'D", "'M", "(", ")", "{}", "[]", "::", "->",
    "=>", "\"", "«", "»", "—", "…", "$", "€", "%", "#", "@", "/", "\\", "`", "~", "¿", "¡",
];
#[rustfmt::skip]
const SPACES: &[&str] = &[
    " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\u{a0}", "\u{3000}", "\u{2009}", "\t\t ",
    " \r\n\r\n ",
];

fn long_run(rng: &mut Rng) -> String {
    let unit = rng.pick(&[
        "a", "Z", "9", "!", " ", "\n", "é", "字", "🙂", "ab", "xyz", "-", "0",
    ]);
    unit.repeat(100 + rng.below(1400))
}

fn long_piece(rng: &mut Rng) -> String {
    // One pre-token piece longer than 512 bytes: a long word, number run or symbol run.
    let mut s = String::new();
    let kind = rng.below(3);
    while s.len() < 520 + rng.below(1500) {
        match kind {
            0 => s.push_str(rng.pick(&["abc", "qwe", "rty", "zx", "lm", "op", "ing", "tion"])),
            1 => s.push_str(rng.pick(&["Ünï", "cödé", "ßtr", "ñé", "жз", "ψω"])),
            _ => s.push_str(rng.pick(&["!?", "**", "==", "--", "##", "%%", "~~", "^^"])),
        }
    }
    s
}

fn text(rng: &mut Rng) -> String {
    let mut s = String::new();
    let parts = 1 + rng.below(40);
    for _ in 0..parts {
        match rng.below(12) {
            0 => s.push_str(&long_run(rng)),
            1 => s.push_str(&long_piece(rng)),
            2 | 3 => s.push_str(rng.pick(EMOJI)),
            4 => s.push_str(&rng.next().to_string()[..1 + rng.below(12)]),
            5 | 6 => s.push_str(rng.pick(PUNCT)),
            7 | 8 => s.push_str(rng.pick(SPACES)),
            _ => s.push_str(rng.pick(SCRIPTS)),
        }
        if rng.below(3) == 0 {
            s.push(' ');
        }
    }
    s
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn counts_equal_tiktoken_on_random_unicode() {
    let cases = env_u64("TOLLGATE_DIFF_CASES", 300);
    let seed = env_u64("TOLLGATE_DIFF_SEED", 0x7011_6a7e);
    let refs = [
        (Encoding::O200kBase, tiktoken_rs::o200k_base().unwrap()),
        (Encoding::Cl100kBase, tiktoken_rs::cl100k_base().unwrap()),
    ];
    for (enc, reference) in &refs {
        let bpe = Bpe::new(*enc).unwrap();
        let mut rng = Rng(seed | 1);
        for i in 0..cases {
            let t = text(&mut rng);
            let want = reference.encode_ordinary(&t).len();
            let got = bpe.count(&t);
            assert_eq!(
                got,
                want,
                "{} case {i} (seed {seed}): {} bytes, starts {:?}",
                enc.name(),
                t.len(),
                t.chars().take(60).collect::<String>()
            );
        }
    }
}

#[test]
fn long_pieces_are_counted_exactly() {
    let reference = tiktoken_rs::o200k_base().unwrap();
    let bpe = Bpe::new(Encoding::O200kBase).unwrap();
    for t in [
        "a".repeat(10_000),
        "ab".repeat(3_000),
        "9".repeat(5_000),
        "!".repeat(4_000),
        "xyzzy".repeat(800),
        format!(" {}", "Ünïcödé".repeat(300)),
    ] {
        assert_eq!(
            bpe.count(&t),
            reference.encode_ordinary(&t).len(),
            "{} bytes",
            t.len()
        );
    }
}
