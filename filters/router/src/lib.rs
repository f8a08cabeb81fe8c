//! Model and semantic router. One module, two roles (chosen by the config's `role`):
//!
//! * `router` (an HTTP filter before Envoy's router): maps the requested model — `provider/model`,
//!   an alias, a glob, or a virtual model such as `auto` classified by the prompt — to a route name,
//!   sets the route header that `envoy.yaml`'s route table matches, and answers `GET /v1/models`.
//! * `upstream` (an upstream HTTP filter of the route's aggregate cluster): runs once per attempt,
//!   reads the selected endpoint's metadata (provider, model, host) and adapts that attempt — path,
//!   host, credentials, `model` in the body — so Envoy's retries fail over across providers.

pub mod config;
pub mod exchange;
pub mod provider;
pub mod resolve;
pub mod semantic;

/// proxy-wasm adapter (wasm32 only).
#[cfg(target_arch = "wasm32")]
pub mod glue;
