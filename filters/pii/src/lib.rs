//! PII redaction: detects personal data and secrets in every text a provider would see, replaces
//! them (reversible placeholders, masks, salted hashes) or blocks the request, restores the
//! originals in the answer — also when it streams — and masks PII the model invents.

pub mod config;
pub mod detect;
pub mod normalize;
pub mod redact;
pub mod request;
pub mod stream;
pub mod walk;

/// proxy-wasm adapter (wasm32 only).
#[cfg(target_arch = "wasm32")]
pub mod glue;
