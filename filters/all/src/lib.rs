//! Every Tollgate policy in one module. The root `tollgate` is the pipeline: one configuration with a
//! section per policy, one HTTP context per request that runs them in order (pii, router, usage,
//! ratelimit) over one read and one parse of the body — the guard runs right after pii. The roots
//! `tollgate_pii`, `tollgate_guard`, `tollgate_router`,
//! `tollgate_usage`, `tollgate_ratelimit` are the same policies one per plugin, and
//! `tollgate_upstream` is the per-attempt upstream adapter. Envoy shares a VM between plugins with
//! the same `vm_id`, code and VM configuration; each plugin's `root_id` picks its root.
#![cfg(target_arch = "wasm32")]

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;
use tollgate_wasm::{Pipeline, StageFactory};

proxy_wasm::main! {{
    tollgate_wasm::host::init_logging();
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Dispatch { inner: None }) });
}}

/// Becomes the root named by the plugin's `root_id` when configured.
struct Dispatch {
    inner: Option<Box<dyn RootContext>>,
}

impl Context for Dispatch {}

impl RootContext for Dispatch {
    fn on_configure(&mut self, size: usize) -> bool {
        let root_id = tollgate_wasm::get_string_property(&["plugin_root_id"]).unwrap_or_default();
        let mut inner = match root_id.as_str() {
            "tollgate" => Box::new(PipelineRoot::default()) as Box<dyn RootContext>,
            "tollgate_pii" => tollgate_pii::glue::root(),
            "tollgate_guard" => tollgate_guard::glue::root(),
            "tollgate_router" | "tollgate_upstream" => tollgate_router::glue::root(),
            "tollgate_usage" => tollgate_usage::glue::root(),
            "tollgate_ratelimit" => tollgate_ratelimit::glue::root(),
            other => {
                log::error!(
                    "tollgate: unknown root_id `{other}` (use tollgate, tollgate_pii, tollgate_guard, tollgate_router, tollgate_upstream, tollgate_usage or tollgate_ratelimit)"
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

/// The pipeline root: each section compiled once by its policy.
#[derive(Default)]
struct PipelineRoot {
    stages: Vec<StageFactory>,
}

impl Context for PipelineRoot {}

/// The sections in pipeline order, with the policy that compiles each.
type Compile = fn(&[u8]) -> Result<StageFactory, String>;
// The guard right after PII: it judges what the provider would receive, and a request it blocks
// never reaches the router's callouts nor the rate limit's budget.
const SECTIONS: [(&str, Compile); 5] = [
    ("pii", tollgate_pii::glue::stage_factory),
    ("guard", tollgate_guard::glue::stage_factory),
    ("router", tollgate_router::glue::stage_factory),
    ("usage", tollgate_usage::glue::stage_factory),
    ("ratelimit", tollgate_ratelimit::glue::stage_factory),
];

fn compile(config: &[u8]) -> Result<Vec<StageFactory>, String> {
    let serde_json::Value::Object(mut sections) =
        serde_json::from_slice(config).map_err(|e| format!("not a JSON object ({e})"))?
    else {
        return Err("the configuration must be a JSON object of sections".into());
    };
    let mut stages = Vec::new();
    for (name, compile) in SECTIONS {
        if let Some(section) = sections.remove(name) {
            let bytes = serde_json::to_vec(&section).map_err(|e| format!("{name}: {e}"))?;
            stages.push(compile(&bytes).map_err(|e| format!("{name}: {e}"))?);
        }
    }
    if let Some(unknown) = sections.keys().next() {
        return Err(format!(
            "unknown field `{unknown}`, expected one of `pii`, `guard`, `router`, `usage`, `ratelimit`"
        ));
    }
    if stages.is_empty() {
        // Allowed (it is the floor of a wasm filter in Envoy, measured by `make bench`), but said.
        log::warn!("tollgate: no policy configured: the pipeline passes every request untouched");
    }
    Ok(stages)
}

impl RootContext for PipelineRoot {
    fn on_configure(&mut self, size: usize) -> bool {
        match compile(&tollgate_wasm::plugin_config(size)) {
            Ok(stages) => {
                self.stages = stages;
                true
            }
            Err(e) => {
                // Envoy refuses the plugin; the message names the section and field, never a value.
                log::error!("tollgate: {e}");
                false
            }
        }
    }

    fn create_http_context(&self, _id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Pipeline::new(
            self.stages.iter().filter_map(|f| f()).collect(),
        )))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
