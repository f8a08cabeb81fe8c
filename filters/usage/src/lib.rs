//! Usage-metadata emitter: counts tokens, cost and latency of every LLM call passing through Envoy.
//!
//! `config` and `exchange` are pure and tested natively; `glue` adapts them to proxy-wasm.

pub mod config;
pub mod exchange;
pub mod record;

#[cfg(target_arch = "wasm32")]
mod glue;
