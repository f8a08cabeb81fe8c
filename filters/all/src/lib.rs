//! Every Tollgate filter in one module. Envoy shares a VM between plugins with the same `vm_id`,
//! code and VM configuration, so configuring all filters with this module and one `vm_id` gives one
//! VM per worker instead of one per filter; each plugin's `root_id` picks its filter:
//! `tollgate_pii`, `tollgate_router`, `tollgate_upstream`, `tollgate_usage`, `tollgate_ratelimit`.
#![cfg(target_arch = "wasm32")]

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;

proxy_wasm::main! {{
    tollgate_wasm::host::init_logging();
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Dispatch { inner: None }) });
}}

/// Becomes the filter named by the plugin's `root_id` when configured.
struct Dispatch {
    inner: Option<Box<dyn RootContext>>,
}

impl Context for Dispatch {}

impl RootContext for Dispatch {
    fn on_configure(&mut self, size: usize) -> bool {
        let root_id = tollgate_wasm::get_string_property(&["plugin_root_id"]).unwrap_or_default();
        let mut inner = match root_id.as_str() {
            "tollgate_pii" => tollgate_pii::glue::root(),
            "tollgate_router" | "tollgate_upstream" => tollgate_router::glue::root(),
            "tollgate_usage" => tollgate_usage::glue::root(),
            "tollgate_ratelimit" => tollgate_ratelimit::glue::root(),
            other => {
                log::error!(
                    "tollgate: unknown root_id `{other}` (use tollgate_pii, tollgate_router, tollgate_upstream, tollgate_usage or tollgate_ratelimit)"
                );
                return false;
            }
        };
        let ok = inner.on_configure(size);
        self.inner = Some(inner);
        ok
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        // Never `None`: the SDK panics on it.
        Some(
            self.inner
                .as_ref()
                .and_then(|r| r.create_http_context(context_id))
                .unwrap_or_else(|| Box::new(tollgate_wasm::Passthrough)),
        )
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
