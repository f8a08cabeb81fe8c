//! Token rate limit: counts the prompt before forwarding, admits against sliding-window budgets
//! shared by all Envoy workers, and charges the real usage when the answer is complete.
//!
//! Pure modules (`config`, `window`, `ledger`, `limiter`, `estimate`, `response`) are tested
//! natively; `glue` adapts them to proxy-wasm.

pub mod config;
pub mod estimate;
pub mod ledger;
pub mod limiter;
pub mod response;
pub mod window;

/// proxy-wasm adapter (wasm32 only).
#[cfg(target_arch = "wasm32")]
pub mod glue;
