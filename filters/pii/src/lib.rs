//! PII redaction: detects personal data and secrets in every text a provider would see, replaces
//! them (reversible placeholders, masks, salted hashes) or blocks the request, restores the
//! originals in the answer — also when it streams — and masks PII the model invents.

pub mod detect;
