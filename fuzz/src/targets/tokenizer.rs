//! The BPE counter on random Unicode: never panics, at most one token per byte, equal to
//! tiktoken-rs's `o200k_base` count; the prompt rules stay below their byte bound.

use crate::gen;
use crate::rng::Rng;
use crate::seeds::REQUESTS;
use crate::Target;
use std::sync::OnceLock;
use tollgate_tokenizer::prompt::{self, ByteBound, Rules};
use tollgate_tokenizer::{Bpe, Encoding};

pub const TARGET: Target = Target {
    name: "tokenizer",
    about: "Bpe::count on random Unicode: <= bytes, == tiktoken-rs o200k_base; prompt rules <= byte bound",
    generate,
    check,
};

struct Counters {
    o200k: Bpe,
    cl100k: Bpe,
    reference: tiktoken_rs::CoreBPE,
}

fn counters() -> &'static Counters {
    static C: OnceLock<Counters> = OnceLock::new();
    C.get_or_init(|| Counters {
        o200k: Bpe::new(Encoding::O200kBase).unwrap(),
        cl100k: Bpe::new(Encoding::Cl100kBase).unwrap(),
        reference: tiktoken_rs::o200k_base().unwrap(),
    })
}

/// Longest text compared with tiktoken-rs (its encoder is slow on long repetitive pieces).
const MAX_TEXT: usize = 6000;

fn generate(rng: &mut Rng) -> Vec<u8> {
    match rng.below(8) {
        0 => {
            let (_, _, body) = REQUESTS[rng.below(REQUESTS.len())];
            let others: Vec<&[u8]> = REQUESTS.iter().map(|(_, _, b)| b.as_bytes()).collect();
            gen::mutate_json(rng, body.as_bytes(), &others)
        }
        1 => {
            // Invalid UTF-8 inside: counted as its lossy text.
            let t = gen::text(rng, 20);
            gen::mutate_bytes(rng, t.as_bytes(), &[])
        }
        2 => {
            let t = gen::text(rng, 40);
            gen::mutate_text(rng, &t).into_bytes()
        }
        _ => gen::text(rng, 40).into_bytes(),
    }
}

fn check(input: &[u8]) -> Result<(), String> {
    let c = counters();
    let text = String::from_utf8_lossy(input);
    let text = if text.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        &text[..end]
    } else {
        &text[..]
    };
    let n = c.o200k.count(text);
    if n > text.len() {
        return Err(format!("bound: o200k count {n} > {} bytes", text.len()));
    }
    let m = c.cl100k.count(text);
    if m > text.len() {
        return Err(format!("bound: cl100k count {m} > {} bytes", text.len()));
    }
    let want = c.reference.encode_ordinary(text).len();
    if n != want {
        return Err(format!(
            "differential: o200k count {n} != tiktoken-rs {want}"
        ));
    }
    if let Ok(body) = serde_json::from_str::<serde_json::Value>(text) {
        let rules = Rules::default();
        for (name, counted, bound) in [
            (
                "chat",
                prompt::chat(&c.o200k, &body, &rules),
                prompt::chat(&ByteBound, &body, &rules),
            ),
            (
                "responses",
                prompt::responses(&c.o200k, &body, &rules),
                prompt::responses(&ByteBound, &body, &rules),
            ),
        ] {
            if counted > bound {
                return Err(format!(
                    "prompt bound: {name} counts {counted} > byte bound {bound}"
                ));
            }
        }
    }
    Ok(())
}
