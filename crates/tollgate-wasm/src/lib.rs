//! Host helpers for the filters' proxy-wasm glue. Everything here returns instead of panicking:
//! proxy-wasm's trait helpers unwrap host errors, and a panic kills the VM for every request.
#![cfg(target_arch = "wasm32")]

pub mod host;

pub use host::{
    buffer, get_property, get_string_property, req_header, req_header_bytes, resp_header,
    send_reply, set_buffer, set_filter_state, set_req_header, set_resp_header,
};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, MetricType};
use std::collections::HashMap;
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
    if !send_reply(status, &headers, body) {
        log::warn!("tollgate_{filter}: could not send local reply {status}");
    }
    Action::Pause
}

/// Method, path and API shape of the request when it is an LLM call (`None` otherwise).
pub fn llm_request() -> Option<(tollgate_core::api::ApiKind, String)> {
    let (method, path) = (req_header(":method")?, req_header(":path")?);
    tollgate_core::api::ApiKind::classify(&method, &path).map(|k| (k, path))
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

/// Declares a filter's entry points for a [`Filter`] type: `root()`, used by the combined module,
/// and — with the calling crate's `standalone` feature — the module's own proxy-wasm entry point.
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
    fn http(shared: &std::rc::Rc<Self::Shared>) -> Box<dyn HttpContext>;
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

impl<F: Filter> Context for FilterRoot<F> {}

impl<F: Filter> proxy_wasm::traits::RootContext for FilterRoot<F> {
    fn on_configure(&mut self, size: usize) -> bool {
        let size = size.max(host::buffer_len(BufferType::PluginConfiguration));
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

    fn create_http_context(&self, _id: u32) -> Option<Box<dyn HttpContext>> {
        // The SDK panics on `None`; an unconfigured root (Envoy never uses one) passes traffic.
        Some(match self.shared.as_ref() {
            Some(s) => Box::new(Guard::new(F::http(s))),
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

/// Wraps every filter's HTTP context with what all of them owe the trust boundary:
/// * a request whose `client_id` does not match the authenticated client is refused (401);
/// * request trailers end the body: the filter's end-of-body logic runs on the body buffered so far
///   (HTTP/2 and chunked HTTP/1.1 requests can end with trailers instead of a final data frame);
/// * response trailers end a buffered answer the same way.
pub struct Guard {
    inner: Box<dyn HttpContext>,
    /// The filter asked Envoy to buffer the request body (its last body callback paused).
    request_buffered: bool,
    /// The request body ended (end of stream seen by the filter).
    request_done: bool,
    response_buffered: bool,
    response_done: bool,
}

impl Guard {
    fn new(inner: Box<dyn HttpContext>) -> Self {
        Self {
            inner,
            request_buffered: false,
            request_done: false,
            response_buffered: false,
            response_done: false,
        }
    }
}

impl Context for Guard {
    fn on_http_call_response(&mut self, token: u32, headers: usize, body: usize, trailers: usize) {
        self.inner
            .on_http_call_response(token, headers, body, trailers);
    }

    fn on_done(&mut self) -> bool {
        self.inner.on_done()
    }
}

impl HttpContext for Guard {
    fn on_http_request_headers(&mut self, n: usize, end_of_stream: bool) -> Action {
        if client_id_mismatch() {
            self.request_done = true;
            return reject(
                "auth",
                401,
                Vec::new(),
                &tollgate_core::error::openai_error_body(
                    "The client_id does not belong to the client secret provided.",
                    "invalid_request_error",
                    "invalid_api_key",
                ),
            );
        }
        self.request_done = end_of_stream;
        self.inner.on_http_request_headers(n, end_of_stream)
    }

    fn on_http_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        self.request_done = end_of_stream;
        let action = self.inner.on_http_request_body(size, end_of_stream);
        self.request_buffered = !end_of_stream && action == Action::Pause;
        action
    }

    fn on_http_request_trailers(&mut self, n: usize) -> Action {
        if !self.request_done {
            self.request_done = true;
            // The buffered body (none when the filter did not hold it) ends here.
            let size = if self.request_buffered {
                host::buffer_len(BufferType::HttpRequestBody)
            } else {
                0
            };
            if self.inner.on_http_request_body(size, true) == Action::Pause {
                return Action::Pause;
            }
        }
        self.inner.on_http_request_trailers(n)
    }

    fn on_http_response_headers(&mut self, n: usize, end_of_stream: bool) -> Action {
        self.response_done = end_of_stream;
        self.inner.on_http_response_headers(n, end_of_stream)
    }

    fn on_http_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        self.response_done = end_of_stream;
        let action = self.inner.on_http_response_body(size, end_of_stream);
        self.response_buffered = !end_of_stream && action == Action::Pause;
        action
    }

    fn on_http_response_trailers(&mut self, n: usize) -> Action {
        if !self.response_done && self.response_buffered {
            self.response_done = true;
            let size = host::buffer_len(BufferType::HttpResponseBody);
            if self.inner.on_http_response_body(size, true) == Action::Pause {
                return Action::Pause;
            }
        }
        self.inner.on_http_response_trailers(n)
    }

    fn on_log(&mut self) {
        self.inner.on_log();
    }
}
