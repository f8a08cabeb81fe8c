//! The fuzz targets, one module per area.

mod answer;
mod api;
mod config;
mod guard;
mod pii;
mod request;
mod sse;
mod tokenizer;
mod translate;
mod usage;

use crate::Target;

/// Every target.
pub fn all() -> Vec<Target> {
    vec![
        sse::TARGET,
        request::TARGET,
        api::TARGET,
        usage::TARGET,
        answer::TARGET,
        pii::REDACT,
        pii::STREAM,
        tokenizer::TARGET,
        config::TARGET,
        guard::TARGET,
        translate::REQUEST,
        translate::STREAM,
        translate::ANSWER,
    ]
}

/// Splits `data` into chunks at points drawn from `seed` (empty chunks included).
pub(crate) fn split_points(data: &[u8], seed: u64) -> Vec<&[u8]> {
    let mut rng = crate::rng::Rng::new(seed ^ (data.len() as u64).rotate_left(17));
    let mut out = Vec::new();
    let mut i = 0;
    let style = rng.below(4);
    while i < data.len() {
        let n = match style {
            0 => rng.range(0, 3),
            1 => rng.range(0, 16),
            2 => rng.range(1, 256),
            _ => {
                if rng.one_in(2) {
                    0
                } else {
                    rng.range(1, 64)
                }
            }
        };
        let end = (i + n).min(data.len());
        out.push(&data[i..end]);
        i = end;
    }
    if rng.one_in(3) {
        out.push(&[]);
    }
    out
}

/// A leading selector byte and the rest (`0` and empty when the input is empty).
pub(crate) fn head(input: &[u8]) -> (u8, &[u8]) {
    match input.split_first() {
        Some((b, rest)) => (*b, rest),
        None => (0, &[]),
    }
}
