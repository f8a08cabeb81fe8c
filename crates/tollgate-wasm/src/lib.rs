//! Host helpers for the filters' proxy-wasm glue. Everything here returns instead of panicking:
//! proxy-wasm's trait helpers unwrap host errors, and a panic kills the VM for every request.
#![cfg(target_arch = "wasm32")]

use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType, MetricType};
use std::collections::HashMap;
use std::time::UNIX_EPOCH;
use tollgate_core::stats::tagged_name;

/// Wall-clock time in nanoseconds (0 if the host cannot tell).
pub fn now_ns() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Wall-clock time in milliseconds.
pub fn now_ms() -> u64 {
    now_ns() / 1_000_000
}

/// A request header.
pub fn req_header(name: &str) -> Option<String> {
    hostcalls::get_map_value(MapType::HttpRequestHeaders, name)
        .ok()
        .flatten()
}

/// A response header.
pub fn resp_header(name: &str) -> Option<String> {
    hostcalls::get_map_value(MapType::HttpResponseHeaders, name)
        .ok()
        .flatten()
}

/// Sets (or with `None` removes) a request header, ignoring host errors.
pub fn set_req_header(name: &str, value: Option<&str>) {
    let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, value);
}

/// Sets (or with `None` removes) a response header, ignoring host errors.
pub fn set_resp_header(name: &str, value: Option<&str>) {
    let _ = hostcalls::set_map_value(MapType::HttpResponseHeaders, name, value);
}

/// Bytes `0..size` of a body or configuration buffer (empty on error).
pub fn buffer(kind: BufferType, size: usize) -> Vec<u8> {
    hostcalls::get_buffer(kind, 0, size)
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Sends a local reply; `false` if the host refused.
pub fn send_reply(status: u32, headers: &[(String, String)], body: &str) -> bool {
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    hostcalls::send_http_response(status, h, Some(body.as_bytes())).is_ok()
}

/// Answers locally on behalf of Tollgate filter `filter` (`pii`, `router`, `ratelimit`, `usage`): the
/// JSON `body` with `headers`, a `content-type` if none is given, and `x-tollgate-rejected-by`; also
/// records `tollgate.rejected_by` for the access log, since later filters never see the request.
/// Returns [`proxy_wasm::types::Action::Pause`] for the caller to return.
pub fn reject(
    filter: &str,
    status: u32,
    mut headers: Vec<(String, String)>,
    body: &str,
) -> proxy_wasm::types::Action {
    set_filter_state("tollgate.rejected_by", filter);
    if !headers.iter().any(|(k, _)| k == "content-type") {
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
    }
    headers.push((
        tollgate_core::error::LOCAL_REPLY_HEADER.to_owned(),
        filter.to_owned(),
    ));
    if !send_reply(status, &headers, body) {
        log::warn!("tollgate_{filter}: could not send local reply {status}");
    }
    proxy_wasm::types::Action::Pause
}

/// Method, path and API shape of the request when it is an LLM call (`None` otherwise).
pub fn llm_request() -> Option<(tollgate_core::api::ApiKind, String)> {
    let (method, path) = (req_header(":method")?, req_header(":path")?);
    tollgate_core::api::ApiKind::classify(&method, &path).map(|k| (k, path))
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_set_property(
        path: *const u8,
        path_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
}

/// Sets `wasm.<key>` filter state (readable as `%FILTER_STATE(wasm.<key>:PLAIN)%`).
/// Unlike `hostcalls::set_property` it never panics on an unexpected host status.
pub fn set_filter_state(key: &str, value: &str) {
    // SAFETY: both pointers are valid for the given lengths for the duration of the call.
    let status =
        unsafe { proxy_set_property(key.as_ptr(), key.len(), value.as_ptr(), value.len()) };
    if status != 0 {
        log::debug!("set_property {key} returned {status}");
    }
}

/// Per-VM cache of metric ids, keyed by the full tagged stat name.
#[derive(Default)]
pub struct Metrics {
    ids: HashMap<String, u32>,
}

impl Metrics {
    fn id(&mut self, kind: MetricType, name: String) -> Option<u32> {
        if let Some(id) = self.ids.get(&name) {
            return Some(*id);
        }
        let id = hostcalls::define_metric(kind, &name).ok()?;
        self.ids.insert(name, id);
        Some(id)
    }

    /// Adds `by` to a counter.
    pub fn incr(&mut self, name: &str, tags: &[(&str, &str)], by: u64) {
        if let Some(id) = self.id(MetricType::Counter, tagged_name(name, tags)) {
            let _ = hostcalls::increment_metric(id, i64::try_from(by).unwrap_or(i64::MAX));
        }
    }

    /// Records a histogram sample.
    pub fn histogram(&mut self, name: &str, tags: &[(&str, &str)], value: u64) {
        if let Some(id) = self.id(MetricType::Histogram, tagged_name(name, tags)) {
            let _ = hostcalls::record_metric(id, value);
        }
    }
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_property(
        path: *const u8,
        path_size: usize,
        value: *mut *mut u8,
        value_size: *mut usize,
    ) -> u32;
}

/// Reads a host property (e.g. `["xds", "upstream_host_metadata", ...]`); `None` on any failure.
/// Unlike proxy-wasm's helpers it never panics, whatever status the host returns.
pub fn get_property(path: &[&str]) -> Option<Vec<u8>> {
    // Serialised path: the elements separated by NUL.
    let mut serialized = Vec::new();
    for (i, p) in path.iter().enumerate() {
        if i > 0 {
            serialized.push(0);
        }
        serialized.extend_from_slice(p.as_bytes());
    }
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the host writes a pointer to memory it allocated through this module's allocator
    // (proxy_on_memory_allocate), which we take ownership of exactly once.
    unsafe {
        let status =
            proxy_get_property(serialized.as_ptr(), serialized.len(), &mut data, &mut size);
        if status != 0 || data.is_null() {
            return None;
        }
        Some(Vec::from_raw_parts(data, size, size))
    }
}

/// A string property.
pub fn get_string_property(path: &[&str]) -> Option<String> {
    get_property(path).and_then(|b| String::from_utf8(b).ok())
}

/// Declares a filter's entry points for a [`Filter`] type: `root()`, used by the combined module,
/// and — with the calling crate's `standalone` feature — the module's own proxy-wasm entry point.
#[macro_export]
macro_rules! filter_entry {
    ($root:ty) => {
        #[cfg(feature = "standalone")]
        proxy_wasm::main! {{
            proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Info);
            proxy_wasm::set_root_context(|_| root());
        }}

        /// A new root context of this filter.
        pub fn root() -> Box<dyn proxy_wasm::traits::RootContext> {
            Box::new($crate::FilterRoot::<$root>::default())
        }
    };
}

/// A filter as the shared root sees it: configure once per plugin, then one HTTP context per stream.
pub trait Filter: 'static {
    /// What every HTTP context of the plugin shares (the compiled config, caches, stats).
    type Shared: 'static;
    /// Log prefix, e.g. `tollgate_usage`.
    const NAME: &'static str;
    /// Parses and compiles the plugin configuration; the error names the field.
    fn configure(config: &[u8]) -> Result<Self::Shared, String>;
    /// A context for one HTTP stream.
    fn http(shared: &std::rc::Rc<Self::Shared>) -> Box<dyn proxy_wasm::traits::HttpContext>;
}

/// The root context every filter uses: keeps the compiled configuration, makes HTTP contexts.
pub struct FilterRoot<F: Filter> {
    shared: Option<std::rc::Rc<F::Shared>>,
}

impl<F: Filter> Default for FilterRoot<F> {
    fn default() -> Self {
        Self { shared: None }
    }
}

impl<F: Filter> proxy_wasm::traits::Context for FilterRoot<F> {}

impl<F: Filter> proxy_wasm::traits::RootContext for FilterRoot<F> {
    fn on_configure(&mut self, size: usize) -> bool {
        match F::configure(&buffer(BufferType::PluginConfiguration, size)) {
            Ok(s) => {
                self.shared = Some(std::rc::Rc::new(s));
                true
            }
            Err(e) => {
                // Envoy refuses the plugin; the message names the field, never its value.
                log::error!("{}: {e}", F::NAME);
                false
            }
        }
    }

    fn create_http_context(&self, _id: u32) -> Option<Box<dyn proxy_wasm::traits::HttpContext>> {
        Some(F::http(self.shared.as_ref()?))
    }

    fn get_type(&self) -> Option<proxy_wasm::types::ContextType> {
        Some(proxy_wasm::types::ContextType::HttpContext)
    }
}
