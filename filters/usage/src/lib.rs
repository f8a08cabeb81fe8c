//! Usage-metadata emitter: counts tokens, cost and latency of every LLM call passing through Envoy.
//!
//! `config` and `exchange` are pure and tested natively; `glue` adapts them to proxy-wasm.

pub mod config;
pub mod exchange;
pub mod record;

/// proxy-wasm adapter (wasm32 only).
#[cfg(target_arch = "wasm32")]
pub mod glue;
