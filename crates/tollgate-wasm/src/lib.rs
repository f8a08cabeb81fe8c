//! Host helpers for the filters' proxy-wasm glue. Everything here returns instead of panicking:
//! proxy-wasm's trait helpers unwrap host errors, and a panic kills the VM for every request.
#![cfg(target_arch = "wasm32")]

pub mod host;
pub mod pipeline;

pub use host::{
    buffer, get_property, get_string_property, req_header, req_header_bytes, resp_header,
    set_buffer, set_filter_state, set_req_header, set_resp_header,
};
pub use pipeline::{Answer, Head, Pipeline, Stage, Step};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, MetricType};
use std::collections::HashMap;
use std::rc::Rc;
use tollgate_core::stats::tagged_name;

/// Wall-clock time in nanoseconds (0 if the host cannot tell).
pub fn now_ns() -> u64 {
    host::now_ns()
}

/// Wall-clock time in milliseconds.
pub fn now_ms() -> u64 {
    now_ns() / 1_000_000
}

/// Answers locally on behalf of Tollgate filter `filter` (`pii`, `router`, `ratelimit`, `usage`): the
/// JSON `body` with `headers`, a `content-type` if none is given, and `x-tollgate-rejected-by`; also
/// records `tollgate.rejected_by` for the access log, since later filters never see the request.
/// Returns [`Action::Pause`] for the caller to return.
pub fn reject(filter: &str, status: u32, mut headers: Vec<(String, String)>, body: &str) -> Action {
    set_filter_state("tollgate.rejected_by", filter);
    if !headers.iter().any(|(k, _)| k == "content-type") {
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
    }
    headers.push((
        tollgate_core::error::LOCAL_REPLY_HEADER.to_owned(),
        filter.to_owned(),
    ));
    pipeline::answer(status, &headers, body);
    Action::Pause
}

/// Most distinct stat series one policy defines per VM. Tag values are bounded by configuration
/// already (unknown models and providers fold into `_other`); this is the backstop: past it, new
/// series are not created (logged once) and existing ones keep counting.
pub const MAX_SERIES: usize = 20_000;

/// Per-VM cache of metric ids, keyed by the full tagged stat name.
#[derive(Default)]
pub struct Metrics {
    ids: HashMap<String, u32>,
    full: bool,
}

impl Metrics {
    fn id(&mut self, kind: MetricType, name: String) -> Option<u32> {
        if let Some(id) = self.ids.get(&name) {
            return Some(*id);
        }
        if self.ids.len() >= MAX_SERIES {
            if !self.full {
                self.full = true;
                log::warn!("tollgate: {MAX_SERIES} stat series defined; new ones are dropped");
            }
            return None;
        }
        let id = host::define_metric(kind, &name)?;
        self.ids.insert(name, id);
        Some(id)
    }

    /// Adds `by` to a counter.
    pub fn incr(&mut self, name: &str, tags: &[(&str, &str)], by: u64) {
        if let Some(id) = self.id(MetricType::Counter, tagged_name(name, tags)) {
            host::increment_metric(id, by);
        }
    }

    /// Records a histogram sample.
    pub fn histogram(&mut self, name: &str, tags: &[(&str, &str)], value: u64) {
        if let Some(id) = self.id(MetricType::Histogram, tagged_name(name, tags)) {
            host::record_metric(id, value);
        }
    }
}

/// Makes this filter's stage for each new stream (see [`Filter::stage`]).
pub type StageFactory = Box<dyn Fn() -> Option<Box<dyn Stage>>>;

/// Declares a filter's entry points for a [`Filter`] type: `root()` and `stage_factory()`, used by
/// the combined module, and — with the calling crate's `standalone` feature — the module's own
/// proxy-wasm entry point.
#[macro_export]
macro_rules! filter_entry {
    ($root:ty) => {
        #[cfg(feature = "standalone")]
        proxy_wasm::main! {{
            $crate::host::init_logging();
            proxy_wasm::set_root_context(|_| root());
        }}

        /// A new root context of this filter.
        pub fn root() -> Box<dyn proxy_wasm::traits::RootContext> {
            Box::new($crate::FilterRoot::<$root>::default())
        }

        /// Compiles `config` once; the factory makes this filter's pipeline stage per stream.
        pub fn stage_factory(config: &[u8]) -> Result<$crate::StageFactory, String> {
            let shared = std::rc::Rc::new(<$root as $crate::Filter>::configure(config)?);
            if <$root as $crate::Filter>::stage(&shared).is_none() {
                return Err("this configuration is not a pipeline stage".into());
            }
            Ok(Box::new(move || <$root as $crate::Filter>::stage(&shared)))
        }
    };
}

/// A filter as the shared root sees it: configure once per plugin, then one stage per stream.
pub trait Filter: 'static {
    /// What every stream of the plugin shares (the compiled config, caches, stats).
    type Shared: 'static;
    /// Log prefix, e.g. `tollgate_usage`.
    const NAME: &'static str;
    /// Parses and compiles the plugin configuration; the error names the field.
    fn configure(config: &[u8]) -> Result<Self::Shared, String>;
    /// The filter's pipeline stage for one stream (`None`: it is not a stage, see [`Filter::http`]).
    fn stage(shared: &Rc<Self::Shared>) -> Option<Box<dyn Stage>>;
    /// The HTTP context of one stream: a pipeline of this filter's stage alone.
    fn http(shared: &Rc<Self::Shared>) -> Box<dyn HttpContext> {
        match Self::stage(shared) {
            Some(s) => Box::new(Pipeline::new(vec![s])),
            None => Box::new(Passthrough),
        }
    }
}

/// The root context every filter uses: keeps the compiled configuration, makes HTTP contexts.
pub struct FilterRoot<F: Filter> {
    shared: Option<Rc<F::Shared>>,
}

impl<F: Filter> Default for FilterRoot<F> {
    fn default() -> Self {
        Self { shared: None }
    }
}

impl<F: Filter> Context for FilterRoot<F> {}

/// The plugin configuration of the root being configured.
pub fn plugin_config(size: usize) -> Vec<u8> {
    let size = size.max(host::buffer_len(BufferType::PluginConfiguration));
    buffer(BufferType::PluginConfiguration, size)
}

impl<F: Filter> proxy_wasm::traits::RootContext for FilterRoot<F> {
    fn on_configure(&mut self, size: usize) -> bool {
        match F::configure(&plugin_config(size)) {
            Ok(s) => {
                self.shared = Some(Rc::new(s));
                true
            }
            Err(e) => {
                // Envoy refuses the plugin; the message names the field, never its value.
                log::error!("{}: {e}", F::NAME);
                false
            }
        }
    }

    fn create_http_context(&self, _id: u32) -> Option<Box<dyn HttpContext>> {
        // The SDK panics on `None`; an unconfigured root (Envoy never uses one) passes traffic.
        Some(match self.shared.as_ref() {
            Some(s) => F::http(s),
            None => Box::new(Passthrough),
        })
    }

    fn get_type(&self) -> Option<proxy_wasm::types::ContextType> {
        Some(proxy_wasm::types::ContextType::HttpContext)
    }
}

/// A context that does nothing.
pub struct Passthrough;
impl Context for Passthrough {}
impl HttpContext for Passthrough {}

/// The seed scenario's credential form names the client in `client_id` next to its `client_secret`.
pub const CLIENT_ID_HEADER: &str = "client_id";
/// Where Envoy's authentication filter forwards the authenticated client.
pub const AUTHENTICATED_CLIENT_HEADER: &str = "x-client-id";

/// `true` when the request names a `client_id` that is not the client Envoy authenticated (the
/// secret belongs to someone else). Byte comparison: no value is decoded.
pub fn client_id_mismatch() -> bool {
    match req_header_bytes(CLIENT_ID_HEADER) {
        None => false,
        Some(claimed) => {
            req_header_bytes(AUTHENTICATED_CLIENT_HEADER).as_deref() != Some(&claimed[..])
        }
    }
}
