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

#[cfg(target_arch = "wasm32")]
mod glue;
