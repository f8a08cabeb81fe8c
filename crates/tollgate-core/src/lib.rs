//! Pure, host-independent logic shared by every Tollgate filter.
//!
//! Nothing here depends on proxy-wasm: filters are thin adapters that feed bytes, headers and the
//! current time into these types, so all behaviour is unit-tested natively.

pub mod answer;
pub mod api;
pub mod body;
pub mod config;
pub mod cost;
pub mod error;
pub mod patterns;
pub mod request;
pub mod sse;
pub mod stats;
pub mod translate;
pub mod usage;
