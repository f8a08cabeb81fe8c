//! Test harness for Tollgate: a fake provider, a tiny HTTP client and an Envoy runner.

pub mod envoy;
pub mod fake;
pub mod http;
pub mod tokens;
