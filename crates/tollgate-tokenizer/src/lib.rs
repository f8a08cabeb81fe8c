//! Token counting for prompt budgets: a compact byte-pair-encoding counter for OpenAI's
//! `o200k_base` and `cl100k_base` encodings, and OpenAI's rules for counting chat and Responses
//! prompts (see [`prompt`]).
//!
//! Counts are exact for ordinary text (checked against an independent implementation in the
//! tests). Special-token strings such as `<|endoftext|>` are counted as ordinary text.

pub mod bpe;
mod hash;
pub mod prompt;

pub use bpe::{Bpe, Encoding};
