//! The only place that calls the host. Every import is declared here with a plain `u32` status (an
//! unknown status from the host is then a number to handle, never an invalid enum), every status is
//! handled, and every value is read as bytes: proxy-wasm 0.2.5's helpers `panic!` on unexpected
//! statuses and unwrap `String::from_utf8` on header values, and a panic kills the worker's VM.
//!
//! The one SDK hostcall that stays is `dispatch_http_call` (in [`http_call`]): the SDK must register
//! the callout token to route its answer, and its panic arm is unreachable with Envoy, whose
//! `httpCall` returns only `Ok`, `BadArgument` or `InternalFailure` for valid memory.

use proxy_wasm::types::{BufferType, MapType, MetricType};
use std::time::Duration;

const OK: u32 = 0;

// Stream types of `proxy_continue_stream`.
const STREAM_HTTP_REQUEST: u32 = 0;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, message: *const u8, size: usize) -> u32;
    fn proxy_get_current_time_nanoseconds(out: *mut u64) -> u32;
    fn proxy_get_header_map_value(
        map: u32,
        key: *const u8,
        key_size: usize,
        value: *mut *mut u8,
        value_size: *mut usize,
    ) -> u32;
    fn proxy_replace_header_map_value(
        map: u32,
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_remove_header_map_value(map: u32, key: *const u8, key_size: usize) -> u32;
    fn proxy_get_buffer_status(buffer: u32, length: *mut usize, flags: *mut u32) -> u32;
    fn proxy_get_buffer_bytes(
        buffer: u32,
        start: usize,
        max_size: usize,
        data: *mut *mut u8,
        size: *mut usize,
    ) -> u32;
    fn proxy_set_buffer_bytes(
        buffer: u32,
        start: usize,
        size: usize,
        data: *const u8,
        data_size: usize,
    ) -> u32;
    fn proxy_send_local_response(
        status: u32,
        details: *const u8,
        details_size: usize,
        body: *const u8,
        body_size: usize,
        headers: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_continue_stream(stream: u32) -> u32;
    fn proxy_get_property(
        path: *const u8,
        path_size: usize,
        value: *mut *mut u8,
        value_size: *mut usize,
    ) -> u32;
    fn proxy_set_property(
        path: *const u8,
        path_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_define_metric(kind: u32, name: *const u8, name_size: usize, id: *mut u32) -> u32;
    fn proxy_increment_metric(id: u32, offset: i64) -> u32;
    fn proxy_record_metric(id: u32, value: u64) -> u32;
    fn proxy_get_shared_data(
        key: *const u8,
        key_size: usize,
        value: *mut *mut u8,
        value_size: *mut usize,
        cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
    fn proxy_call_foreign_function(
        name: *const u8,
        name_size: usize,
        args: *const u8,
        args_size: usize,
        result: *mut *mut u8,
        result_size: *mut usize,
    ) -> u32;
}

/// Takes ownership of a host-returned allocation (made through this module's
/// `proxy_on_memory_allocate`, so it is a `Vec<u8>` of exactly `size` bytes).
///
/// # Safety
/// `data` must be null or come from the host for `size` bytes, and be taken exactly once.
unsafe fn take(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() {
        Vec::new()
    } else {
        Vec::from_raw_parts(data, size, size)
    }
}

/// Writes a log line at proxy-wasm `level` (0 trace … 5 critical); host errors are ignored.
pub fn log(level: u32, message: &str) {
    // SAFETY: the pointer is valid for `len` bytes during the call.
    unsafe {
        proxy_log(level, message.as_ptr(), message.len());
    }
}

/// Wall-clock time in nanoseconds (0 if the host cannot tell).
pub fn now_ns() -> u64 {
    let mut t = 0u64;
    // SAFETY: `t` outlives the call.
    let status = unsafe { proxy_get_current_time_nanoseconds(&mut t) };
    if status == OK {
        t
    } else {
        0
    }
}

fn header(map: MapType, name: &str) -> Option<Vec<u8>> {
    let (mut data, mut size) = (std::ptr::null_mut(), 0usize);
    // SAFETY: pointers are valid during the call; the result is taken once.
    unsafe {
        let status =
            proxy_get_header_map_value(map as u32, name.as_ptr(), name.len(), &mut data, &mut size);
        let value = take(data, size);
        (status == OK && !data.is_null()).then_some(value)
    }
}

fn set_header(map: MapType, name: &str, value: Option<&[u8]>) {
    // SAFETY: pointers are valid during the call.
    let status = unsafe {
        match value {
            Some(v) => proxy_replace_header_map_value(
                map as u32,
                name.as_ptr(),
                name.len(),
                v.as_ptr(),
                v.len(),
            ),
            None => proxy_remove_header_map_value(map as u32, name.as_ptr(), name.len()),
        }
    };
    if status != OK {
        log::debug!("header {name} not written (status {status})");
    }
}

/// A request header's raw value (any bytes); `None` when absent or unreadable.
pub fn req_header_bytes(name: &str) -> Option<Vec<u8>> {
    header(MapType::HttpRequestHeaders, name)
}

/// A request header as text. A value that is not UTF-8 is treated as absent (documented in README):
/// identity, path and route never come from such a value, so absence fails closed downstream.
pub fn req_header(name: &str) -> Option<String> {
    req_header_bytes(name).and_then(|b| String::from_utf8(b).ok())
}

/// A response header as text (non-UTF-8 values are treated as absent).
pub fn resp_header(name: &str) -> Option<String> {
    header(MapType::HttpResponseHeaders, name).and_then(|b| String::from_utf8(b).ok())
}

/// A header of the answer to an HTTP callout, as text.
pub fn call_resp_header(name: &str) -> Option<String> {
    header(MapType::HttpCallResponseHeaders, name).and_then(|b| String::from_utf8(b).ok())
}

/// Sets (or with `None` removes) a request header.
pub fn set_req_header(name: &str, value: Option<&str>) {
    set_header(MapType::HttpRequestHeaders, name, value.map(str::as_bytes));
}

/// Sets (or with `None` removes) a response header.
pub fn set_resp_header(name: &str, value: Option<&str>) {
    set_header(MapType::HttpResponseHeaders, name, value.map(str::as_bytes));
}

/// Length of a body or configuration buffer as the host has it now (0 when there is none).
pub fn buffer_len(kind: BufferType) -> usize {
    let (mut len, mut flags) = (0usize, 0u32);
    // SAFETY: pointers are valid during the call.
    let status = unsafe { proxy_get_buffer_status(kind as u32, &mut len, &mut flags) };
    if status == OK {
        len
    } else {
        0
    }
}

/// Bytes `0..size` of a body or configuration buffer (empty when absent or on error).
pub fn buffer(kind: BufferType, size: usize) -> Vec<u8> {
    if size == 0 {
        return Vec::new();
    }
    let (mut data, mut len) = (std::ptr::null_mut(), 0usize);
    // SAFETY: pointers are valid during the call; the result is taken once.
    unsafe {
        let status = proxy_get_buffer_bytes(kind as u32, 0, size, &mut data, &mut len);
        let bytes = take(data, len);
        if status == OK {
            bytes
        } else {
            Vec::new()
        }
    }
}

/// Replaces bytes `0..size` of a body buffer with `data`; `false` if the host refused.
pub fn set_buffer(kind: BufferType, size: usize, data: &[u8]) -> bool {
    // SAFETY: the pointer is valid for `len` bytes during the call.
    let status = unsafe { proxy_set_buffer_bytes(kind as u32, 0, size, data.as_ptr(), data.len()) };
    status == OK
}

/// The proxy-wasm map serialisation: count, (key, value) lengths, then NUL-terminated bytes.
fn serialize_map(pairs: &[(&str, &[u8])]) -> Vec<u8> {
    let len32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    let mut out = Vec::new();
    out.extend_from_slice(&len32(pairs.len()));
    for (k, v) in pairs {
        out.extend_from_slice(&len32(k.len()));
        out.extend_from_slice(&len32(v.len()));
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
    out
}

/// Sends a local reply; `false` if the host refused.
pub fn send_reply(status: u32, headers: &[(String, String)], body: &str) -> bool {
    let pairs: Vec<(&str, &[u8])> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()))
        .collect();
    let map = serialize_map(&pairs);
    // SAFETY: pointers are valid for their lengths during the call.
    let s = unsafe {
        proxy_send_local_response(
            status,
            std::ptr::null(),
            0,
            body.as_ptr(),
            body.len(),
            map.as_ptr(),
            map.len(),
            -1,
        )
    };
    s == OK
}

/// Resumes a request paused by this filter.
pub fn resume_request() {
    // SAFETY: no pointers.
    let status = unsafe { proxy_continue_stream(STREAM_HTTP_REQUEST) };
    if status != OK {
        log::warn!("could not resume the request (status {status})");
    }
}

fn serialize_path(path: &[&str]) -> Vec<u8> {
    path.join("\0").into_bytes()
}

/// Reads a host property (e.g. `["xds", "upstream_host_metadata", ...]`); `None` on any failure.
pub fn get_property(path: &[&str]) -> Option<Vec<u8>> {
    let p = serialize_path(path);
    let (mut data, mut size) = (std::ptr::null_mut(), 0usize);
    // SAFETY: pointers are valid during the call; the result is taken once.
    unsafe {
        let status = proxy_get_property(p.as_ptr(), p.len(), &mut data, &mut size);
        let value = take(data, size);
        (status == OK && !data.is_null()).then_some(value)
    }
}

/// A string property (`None` when absent or not UTF-8).
pub fn get_string_property(path: &[&str]) -> Option<String> {
    get_property(path).and_then(|b| String::from_utf8(b).ok())
}

/// Sets `wasm.<key>` filter state (readable as `%FILTER_STATE(wasm.<key>:PLAIN)%`).
pub fn set_filter_state(key: &str, value: &str) {
    // SAFETY: both pointers are valid for the given lengths for the duration of the call.
    let status =
        unsafe { proxy_set_property(key.as_ptr(), key.len(), value.as_ptr(), value.len()) };
    if status != OK {
        log::debug!("set_property {key} returned {status}");
    }
}

/// Defines a metric; `None` if the host refused.
pub fn define_metric(kind: MetricType, name: &str) -> Option<u32> {
    let mut id = 0u32;
    // SAFETY: pointers are valid during the call.
    let status = unsafe { proxy_define_metric(kind as u32, name.as_ptr(), name.len(), &mut id) };
    (status == OK).then_some(id)
}

/// Adds to a counter (host errors ignored).
pub fn increment_metric(id: u32, by: u64) {
    // SAFETY: no pointers.
    unsafe {
        proxy_increment_metric(id, i64::try_from(by).unwrap_or(i64::MAX));
    }
}

/// Records a histogram sample (host errors ignored).
pub fn record_metric(id: u32, value: u64) {
    // SAFETY: no pointers.
    unsafe {
        proxy_record_metric(id, value);
    }
}

/// Why a shared-data call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedError {
    /// Someone else wrote the key since it was read.
    CasMismatch,
    /// Any other host status.
    Failed,
}

/// A shared-data value and its CAS token (`(None, None)` when the key does not exist).
pub fn get_shared_data(key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), SharedError> {
    const NOT_FOUND: u32 = 1;
    let (mut data, mut size, mut cas) = (std::ptr::null_mut(), 0usize, 0u32);
    // SAFETY: pointers are valid during the call; the result is taken once.
    unsafe {
        let status = proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas);
        let value = take(data, size);
        match status {
            OK => Ok((
                (!data.is_null()).then_some(value),
                (cas != 0).then_some(cas),
            )),
            NOT_FOUND => Ok((None, None)),
            _ => Err(SharedError::Failed),
        }
    }
}

/// Writes a shared-data value, guarded by `cas` when given.
pub fn set_shared_data(key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SharedError> {
    const CAS_MISMATCH: u32 = 8;
    // SAFETY: pointers are valid during the call.
    let status = unsafe {
        proxy_set_shared_data(
            key.as_ptr(),
            key.len(),
            value.as_ptr(),
            value.len(),
            cas.unwrap_or(0),
        )
    };
    match status {
        OK => Ok(()),
        CAS_MISMATCH => Err(SharedError::CasMismatch),
        _ => Err(SharedError::Failed),
    }
}

/// Calls an Envoy foreign function (e.g. `clear_route_cache`); `false` if it failed.
pub fn call_foreign_function(name: &str, args: &[u8]) -> bool {
    let (mut data, mut size) = (std::ptr::null_mut(), 0usize);
    // SAFETY: pointers are valid during the call; the result is taken once.
    unsafe {
        let status = proxy_call_foreign_function(
            name.as_ptr(),
            name.len(),
            args.as_ptr(),
            args.len(),
            &mut data,
            &mut size,
        );
        drop(take(data, size));
        status == OK
    }
}

/// Starts an HTTP callout to `cluster`; the answer arrives in `on_http_call_response`.
pub fn http_call(
    cluster: &str,
    headers: Vec<(&str, &str)>,
    body: &[u8],
    timeout: Duration,
) -> Option<u32> {
    proxy_wasm::hostcalls::dispatch_http_call(cluster, headers, Some(body), vec![], timeout).ok()
}

/// Our `log` backend and panic hook, installed once per VM instead of proxy-wasm's (whose logger and
/// hook unwrap host statuses).
pub fn init_logging() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.swap(true, Ordering::Relaxed) {
        return;
    }
    struct HostLog;
    impl log::Log for HostLog {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= log::max_level()
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                let level = match r.level() {
                    log::Level::Trace => 0,
                    log::Level::Debug => 1,
                    log::Level::Info => 2,
                    log::Level::Warn => 3,
                    log::Level::Error => 4,
                };
                log(level, &r.args().to_string());
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: HostLog = HostLog;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    // A panic aborts the VM (panic = "abort"); say why, once, before it goes.
    static PANICKED: AtomicBool = AtomicBool::new(false);
    std::panic::set_hook(Box::new(|info| {
        if !PANICKED.swap(true, Ordering::Relaxed) {
            log(5, &format!("tollgate: panic: {info}"));
        }
    }));
}
