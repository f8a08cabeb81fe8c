//! A fake LLM provider that speaks the real wire formats of OpenAI (chat completions, responses,
//! embeddings, models), Anthropic Messages and Gemini generateContent, as JSON and as SSE.
//!
//! Every request it receives is recorded and served at `GET /_tollgate/requests`, so tests see
//! exactly what reached "the provider". Behaviour knobs come from request headers (or the
//! defaults given at start-up):
//!
//! | header                  | effect                                                            |
//! |-------------------------|-------------------------------------------------------------------|
//! | `x-fake-latency-ms`     | wait before answering                                             |
//! | `x-fake-chunk-delay-ms` | wait between body writes                                          |
//! | `x-fake-chunk-size`     | write the body in pieces of this many bytes (each flushed)        |
//! | `x-fake-status`         | answer with this error status (429/500/503/...), provider-style   |
//! | `x-fake-malformed`      | `1`: a truncated JSON body / a broken SSE event                   |
//! | `x-fake-reset`          | `before-headers` or `mid-body`: drop the connection; `bad-http`:  |
//! |                         | answer bytes that are not HTTP                                    |
//! | `x-fake-cached-tokens`  | report this many cached prompt tokens                             |
//! | `x-fake-reasoning-tokens` | report this many reasoning tokens                               |
//! | `x-fake-reply`          | reply with this text instead of echoing the last user message     |
//! | `x-fake-served-model`   | report this model instead of the requested one                    |
//! | `x-fake-hostile-headers`| `1`: add response headers whose values hold bytes 0x80–0xFF       |
//! | `x-fake-gzip`           | `1`: gzip the answer (`content-encoding: gzip`) though not asked  |
//! | `x-fake-tool-calls`     | chat: JSON `[{"name","arguments"}]`: answer with these tool calls, |
//! |                         | streamed as OpenAI does (name first, arguments in 5-byte pieces)   |
//!
//! Chat requests with `n` > 1 get that many choices (choice `i` > 0 says its number at the end),
//! streamed interleaved delta by delta, as OpenAI does.

use crate::tokens;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// One request as the provider received it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Recorded {
    /// HTTP method.
    pub method: String,
    /// Path with query.
    pub path: String,
    /// Headers, lower-case names (last value wins).
    pub headers: BTreeMap<String, String>,
    /// Body as text (lossy UTF-8).
    pub body: String,
    /// Usage the provider reported for this request, normalised to OpenAI chat names
    /// (`prompt_tokens` with cached included, `completion_tokens` with reasoning included).
    pub reported_usage: Option<Value>,
}

impl Recorded {
    /// The body parsed as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// Defaults for the knobs, used when a request does not set the header.
#[derive(Debug, Clone, Default)]
pub struct Knobs {
    /// Delay before the response, in ms.
    pub latency_ms: u64,
    /// Delay between body pieces, in ms.
    pub chunk_delay_ms: u64,
    /// Piece size for the body; 0 = one write per event (SSE) or whole body (JSON).
    pub chunk_size: usize,
    /// Answer every request with this error status.
    pub status: Option<u16>,
    /// Drop every connection: `before-headers` or `mid-body`.
    pub reset: Option<String>,
}

struct Shared {
    log: Mutex<Vec<Recorded>>,
    defaults: Mutex<Knobs>,
    stop: AtomicBool,
    ids: AtomicU64,
}

/// A running fake provider; stops (and joins its threads) when dropped.
pub struct FakeProvider {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FakeProvider {
    /// Starts on a free loopback port.
    pub fn start() -> io::Result<Self> {
        Self::start_on(TcpListener::bind("127.0.0.1:0")?, Knobs::default())
    }

    /// Starts on an already bound listener.
    pub fn start_on(listener: TcpListener, defaults: Knobs) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            log: Mutex::new(Vec::new()),
            defaults: Mutex::new(defaults),
            stop: AtomicBool::new(false),
            ids: AtomicU64::new(1),
        });
        let s = shared.clone();
        let accept = thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                thread::spawn(move || {
                    let _ = serve_connection(conn, &s);
                });
            }
        });
        Ok(Self {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// Address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests received so far (control requests under `/_tollgate/` excluded).
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared
            .log
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// Changes the default knobs (e.g. make this provider fail every request).
    pub fn set_defaults(&self, knobs: Knobs) {
        if let Ok(mut d) = self.shared.defaults.lock() {
            *d = knobs;
        }
    }

    /// Forgets recorded requests.
    pub fn clear(&self) {
        if let Ok(mut l) = self.shared.log.lock() {
            l.clear();
        }
    }

    /// Blocks until the accept loop has ended; used by the binary.
    pub fn join(mut self) {
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

struct Request {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
    fn knob<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.header(name).and_then(|v| v.trim().parse().ok())
    }
}

fn read_request(r: &mut BufReader<TcpStream>) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = BTreeMap::new();
    loop {
        // Header values may carry obs-text bytes (0x80-0xFF), which HTTP allows and real provider
        // edges accept: read bytes, not UTF-8 lines.
        let mut hb = Vec::new();
        if r.read_until(b'\n', &mut hb)? == 0 {
            return Ok(None);
        }
        let h = String::from_utf8_lossy(&hb);
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size_line = String::new();
            r.read_line(&mut size_line)?;
            let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                // trailers until blank line
                loop {
                    let mut t = String::new();
                    if r.read_line(&mut t)? == 0 || t.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let mut chunk = vec![0; size];
            r.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk);
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
        }
    } else if let Some(len) = headers
        .get("content-length")
        .and_then(|l| l.parse::<usize>().ok())
    {
        body.resize(len, 0);
        r.read_exact(&mut body)?;
    }
    Ok(Some(Request {
        method,
        path,
        headers,
        body,
    }))
}

fn serve_connection(conn: TcpStream, shared: &Shared) -> io::Result<()> {
    conn.set_nodelay(true)?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut w = conn;
    while let Some(req) = read_request(&mut reader)? {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let close = req
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"));
        let mut slot = None;
        if !req.path.starts_with("/_tollgate/") {
            if let Ok(mut log) = shared.log.lock() {
                slot = Some(log.len());
                log.push(Recorded {
                    method: req.method.clone(),
                    path: req.path.clone(),
                    headers: req.headers.clone(),
                    body: String::from_utf8_lossy(&req.body).into_owned(),
                    reported_usage: None,
                });
            }
        }
        let keep = handle(&req, slot, &mut w, shared)?;
        if close || !keep {
            let _ = w.shutdown(Shutdown::Both);
            break;
        }
    }
    Ok(())
}

/// A response body: either whole or as a sequence of pieces written with delays.
enum Body {
    Json(Value),
    Raw(Vec<u8>),
    Sse(Vec<Vec<u8>>),
}

struct Reply {
    status: u16,
    content_type: &'static str,
    body: Body,
}

fn json_reply(status: u16, v: Value) -> Reply {
    Reply {
        status,
        content_type: "application/json",
        body: Body::Json(v),
    }
}

/// Writes the reply honouring the knobs; returns false if the connection must not be reused.
fn handle(
    req: &Request,
    slot: Option<usize>,
    w: &mut TcpStream,
    shared: &Shared,
) -> io::Result<bool> {
    let d = shared
        .defaults
        .lock()
        .map(|d| d.clone())
        .unwrap_or_default();
    let latency = req.knob::<u64>("x-fake-latency-ms").unwrap_or(d.latency_ms);
    let delay = req
        .knob::<u64>("x-fake-chunk-delay-ms")
        .unwrap_or(d.chunk_delay_ms);
    let chunk_size = req
        .knob::<usize>("x-fake-chunk-size")
        .unwrap_or(d.chunk_size);
    let reset = req
        .header("x-fake-reset")
        .map(str::to_owned)
        .or(d.reset)
        .unwrap_or_default();
    if latency > 0 {
        thread::sleep(Duration::from_millis(latency));
    }
    if reset == "before-headers" {
        return Ok(false);
    }
    if reset == "bad-http" {
        // Not HTTP at all: the proxy in front sees a protocol error.
        w.write_all(b"HTTX/9.9 ??? broken\r\n\r\n")?;
        return Ok(false);
    }
    let reply = route(req, slot, shared);
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {}\r\n",
        reply.status,
        reason(reply.status),
        reply.content_type
    );
    if reply.status == 429 {
        head.push_str("retry-after: 1\r\n");
    }
    // Latin-1 bytes in headers Tollgate reads on the way back (a hostile or broken provider).
    let hostile: &[u8] = if req.header("x-fake-hostile-headers") == Some("1") {
        b"x-tollgate-provider: caf\xe9\r\nx-tollgate-model: \xff\xfe\r\ncontent-encoding: \xe9\r\nx-fake-latin1: \x80\xe9\xff\r\n"
    } else {
        b""
    };
    let mut pieces: Vec<Vec<u8>> = match reply.body {
        Body::Json(v) => vec![v.to_string().into_bytes()],
        Body::Raw(b) => vec![b],
        Body::Sse(events) => events,
    };
    // A provider that compresses although it was not asked to (valid gzip, stored blocks).
    let gzip = req.header("x-fake-gzip") == Some("1");
    if gzip {
        pieces = vec![gzip_stored(&pieces.concat())];
    }
    let hostile: &[u8] = if gzip {
        b"content-encoding: gzip\r\n"
    } else {
        hostile
    };
    let streamed =
        reply.content_type.starts_with("text/event-stream") || chunk_size > 0 || delay > 0;
    if !streamed && reset.is_empty() {
        let body: Vec<u8> = pieces.concat();
        w.write_all(head.as_bytes())?;
        w.write_all(hostile)?;
        w.write_all(format!("content-length: {}\r\n\r\n", body.len()).as_bytes())?;
        w.write_all(&body)?;
        w.flush()?;
        return Ok(true);
    }
    w.write_all(head.as_bytes())?;
    w.write_all(hostile)?;
    w.write_all(b"transfer-encoding: chunked\r\n\r\n")?;
    w.flush()?;
    let all: Vec<u8> = pieces.concat();
    let pieces: Vec<&[u8]> = if chunk_size > 0 {
        all.chunks(chunk_size).collect()
    } else {
        pieces.iter().map(Vec::as_slice).collect()
    };
    let half = pieces.len() / 2;
    for (i, p) in pieces.iter().enumerate() {
        if reset == "mid-body" && i == half.max(1) {
            return Ok(false);
        }
        if i > 0 && delay > 0 {
            thread::sleep(Duration::from_millis(delay));
        }
        write!(w, "{:x}\r\n", p.len())?;
        w.write_all(p)?;
        w.write_all(b"\r\n")?;
        w.flush()?;
    }
    w.write_all(b"0\r\n\r\n")?;
    w.flush()?;
    Ok(true)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Api {
    Chat,
    Responses,
    Anthropic,
    Gemini { stream: bool, sse: bool },
    Embeddings,
    GeminiEmbed,
}

fn route(req: &Request, slot: Option<usize>, shared: &Shared) -> Reply {
    let path = req.path.split('?').next().unwrap_or_default();
    if req.method == "GET" && path == "/_tollgate/requests" {
        let log = shared.log.lock().map(|l| l.clone()).unwrap_or_default();
        return json_reply(200, serde_json::to_value(log).unwrap_or(Value::Null));
    }
    if req.method == "DELETE" && path == "/_tollgate/requests" {
        if let Ok(mut l) = shared.log.lock() {
            l.clear();
        }
        return json_reply(200, json!({"cleared": true}));
    }
    if req.method == "GET" && (path == "/healthz" || path == "/_tollgate/health") {
        return json_reply(200, json!({"status": "ok"}));
    }
    if req.method == "GET" && path.ends_with("/models") {
        return json_reply(
            200,
            json!({"object": "list", "data": [{"id": "echo", "object": "model", "created": 0, "owned_by": "tollgate-fake"}]}),
        );
    }
    let api = if path.ends_with("/chat/completions") {
        Api::Chat
    } else if path.ends_with("/responses") {
        Api::Responses
    } else if path.ends_with("/messages") {
        Api::Anthropic
    } else if path.ends_with(":generateContent") {
        Api::Gemini {
            stream: false,
            sse: false,
        }
    } else if path.ends_with(":streamGenerateContent") {
        Api::Gemini {
            stream: true,
            sse: req.path.contains("alt=sse"),
        }
    } else if path.ends_with("/embeddings") {
        Api::Embeddings
    } else if path.ends_with(":embedContent") {
        Api::GeminiEmbed
    } else {
        return json_reply(
            404,
            json!({"error": {"message": format!("Unknown path {path}"), "type": "invalid_request_error", "param": null, "code": "not_found"}}),
        );
    };
    let default_status = shared.defaults.lock().ok().and_then(|d| d.status);
    if let Some(status) = req.knob::<u16>("x-fake-status").or(default_status) {
        return error_reply(api, status);
    }
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return error_reply(api, 400);
    };
    let id = shared.ids.fetch_add(1, Ordering::SeqCst);
    let malformed = req.header("x-fake-malformed") == Some("1");
    let ctx = Ctx::new(req, api, &body, id);
    if let (Some(i), Ok(mut log)) = (slot, shared.log.lock()) {
        if let Some(r) = log.get_mut(i) {
            r.reported_usage = Some(json!({
                "prompt_tokens": ctx.prompt_tokens, "completion_tokens": ctx.completion_tokens,
                "total_tokens": ctx.total(), "cached_prompt_tokens": ctx.cached,
                // Anthropic's wire format has no separate reasoning count.
                "reasoning_tokens": if api == Api::Anthropic { 0 } else { ctx.reasoning },
                "model": ctx.model,
            }));
        }
    }
    match api {
        Api::Chat => chat(&ctx, &body, malformed),
        Api::Responses => responses(&ctx, &body, malformed),
        Api::Anthropic => anthropic(&ctx, &body, malformed),
        Api::Gemini { stream, sse } => gemini(&ctx, stream, sse, malformed),
        Api::Embeddings => embeddings(&ctx, &body),
        Api::GeminiEmbed => json_reply(200, json!({"embedding": {"values": embed(&ctx.reply)}})),
    }
}

fn error_reply(api: Api, status: u16) -> Reply {
    let (oai_type, anth_type, gem_status) = match status {
        400 => (
            "invalid_request_error",
            "invalid_request_error",
            "INVALID_ARGUMENT",
        ),
        401 => (
            "invalid_request_error",
            "authentication_error",
            "UNAUTHENTICATED",
        ),
        429 => (
            "rate_limit_exceeded",
            "rate_limit_error",
            "RESOURCE_EXHAUSTED",
        ),
        503 => ("server_error", "overloaded_error", "UNAVAILABLE"),
        _ => ("server_error", "api_error", "INTERNAL"),
    };
    let msg = format!("fake provider error {status}");
    let v = match api {
        Api::Anthropic => json!({"type": "error", "error": {"type": anth_type, "message": msg}}),
        Api::Gemini { .. } | Api::GeminiEmbed => {
            json!({"error": {"code": status, "message": msg, "status": gem_status}})
        }
        _ => json!({"error": {"message": msg, "type": oai_type, "param": null, "code": oai_type}}),
    };
    json_reply(status, v)
}

/// What every answer needs: the reply text and its token counts.
struct Ctx {
    id: u64,
    model: String,
    reply: String,
    prompt_tokens: u64,
    completion_tokens: u64,
    cached: u64,
    reasoning: u64,
    stream: bool,
    /// Tool calls to answer with (name, arguments).
    tool_calls: Vec<(String, String)>,
    /// Choices asked for (`n`, chat only).
    n: u64,
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str).or_else(|| p.as_str()))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

impl Ctx {
    fn new(req: &Request, api: Api, body: &Value, id: u64) -> Self {
        // (role, text) of every message the provider would tokenize.
        let mut msgs: Vec<(String, String)> = Vec::new();
        let mut model = body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("echo")
            .to_owned();
        match api {
            Api::Chat => {
                for m in body
                    .get("messages")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let role = m
                        .get("role")
                        .and_then(Value::as_str)
                        .unwrap_or("user")
                        .to_owned();
                    msgs.push((role, text_of(m.get("content").unwrap_or(&Value::Null))));
                }
            }
            Api::Responses => {
                if let Some(i) = body.get("instructions").and_then(Value::as_str) {
                    msgs.push(("developer".into(), i.to_owned()));
                }
                match body.get("input") {
                    Some(Value::String(s)) => msgs.push(("user".into(), s.clone())),
                    Some(Value::Array(items)) => {
                        for m in items {
                            let role = m
                                .get("role")
                                .and_then(Value::as_str)
                                .unwrap_or("user")
                                .to_owned();
                            msgs.push((role, text_of(m.get("content").unwrap_or(&Value::Null))));
                        }
                    }
                    _ => {}
                }
            }
            Api::Anthropic => {
                if let Some(s) = body.get("system") {
                    msgs.push(("system".into(), text_of(s)));
                }
                for m in body
                    .get("messages")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let role = m
                        .get("role")
                        .and_then(Value::as_str)
                        .unwrap_or("user")
                        .to_owned();
                    msgs.push((role, text_of(m.get("content").unwrap_or(&Value::Null))));
                }
            }
            Api::Gemini { .. } => {
                model = crate_model_from_path(&req.path).unwrap_or_else(|| "gemini".into());
                if let Some(s) = body.get("systemInstruction").and_then(|s| s.get("parts")) {
                    msgs.push(("system".into(), text_of(s)));
                }
                for c in body
                    .get("contents")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let role = c
                        .get("role")
                        .and_then(Value::as_str)
                        .unwrap_or("user")
                        .to_owned();
                    msgs.push((role, text_of(c.get("parts").unwrap_or(&Value::Null))));
                }
            }
            Api::GeminiEmbed => msgs.push((
                "input".into(),
                text_of(
                    body.get("content")
                        .and_then(|c| c.get("parts"))
                        .unwrap_or(&Value::Null),
                ),
            )),
            Api::Embeddings => match body.get("input") {
                Some(Value::String(s)) => msgs.push(("input".into(), s.clone())),
                Some(Value::Array(a)) => {
                    for s in a.iter().filter_map(Value::as_str) {
                        msgs.push(("input".into(), s.to_owned()));
                    }
                }
                _ => {}
            },
        }
        let last_user = msgs
            .iter()
            .rev()
            .find(|(r, _)| r == "user" || r == "input")
            .map(|(_, t)| t.clone())
            .unwrap_or_default();
        let reply = req
            .header("x-fake-reply")
            .map(str::to_owned)
            .unwrap_or(last_user);
        let prompt_tokens = match api {
            Api::Chat => tokens::chat_prompt(&msgs),
            _ => msgs.iter().map(|(_, t)| tokens::count(t)).sum(),
        };
        let reasoning = req.knob::<u64>("x-fake-reasoning-tokens").unwrap_or(0);
        let cached = req
            .knob::<u64>("x-fake-cached-tokens")
            .unwrap_or(0)
            .min(prompt_tokens);
        if let Some(m) = req.header("x-fake-served-model") {
            model = m.to_owned();
        }
        let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
        let tool_calls: Vec<(String, String)> = req
            .header("x-fake-tool-calls")
            .and_then(|h| serde_json::from_str::<Vec<Value>>(h).ok())
            .unwrap_or_default()
            .iter()
            .map(|t| {
                let s = |k: &str| {
                    t.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                (s("name"), s("arguments"))
            })
            .collect();
        let n = match api {
            Api::Chat => body
                .get("n")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .clamp(1, 8),
            _ => 1,
        };
        let choice_tokens: u64 = (0..n)
            .map(|i| tokens::count(&choice_text(&reply, i)))
            .sum::<u64>()
            + tool_calls
                .iter()
                .map(|(n, a)| tokens::count(n) + tokens::count(a))
                .sum::<u64>();
        Ctx {
            id,
            model,
            completion_tokens: choice_tokens + reasoning,
            reply,
            prompt_tokens,
            cached,
            reasoning,
            stream,
            tool_calls,
            n,
        }
    }

    /// The reply cut into word-sized deltas (each keeps its leading space).
    fn deltas(&self) -> Vec<String> {
        words(&self.reply)
    }

    fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    fn openai_usage(&self) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total(),
            "prompt_tokens_details": {"cached_tokens": self.cached, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning, "audio_tokens": 0,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
        })
    }
}

/// `data` as a gzip member of stored (uncompressed) deflate blocks.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let blocks: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(65_535).collect()
    };
    for (i, b) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len()));
        let len = b.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(b);
    }
    let mut crc: u32 = !0;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    out.extend_from_slice(&(!crc).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// The text of choice `i` (choices after the first say which they are).
fn choice_text(reply: &str, i: u64) -> String {
    if i == 0 {
        reply.to_owned()
    } else {
        format!("{reply} (choice {i})")
    }
}

/// Word-sized deltas of `text`, each keeping its leading space.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c == ' ' && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `s` in pieces of about `n` bytes (never inside a character).
fn pieces(s: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        cur.push(c);
        if cur.len() >= n {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn crate_model_from_path(path: &str) -> Option<String> {
    let p = path.split('?').next()?;
    let start = p.find("/models/")? + 8;
    let rest = p.get(start..)?;
    Some(rest.get(..rest.find(':')?)?.to_owned())
}

fn sse_data(v: &Value) -> Vec<u8> {
    format!("data: {v}\n\n").into_bytes()
}

fn sse_event(name: &str, v: &Value) -> Vec<u8> {
    format!("event: {name}\ndata: {v}\n\n").into_bytes()
}

const BROKEN: &[u8] =
    b"{\"id\": \"broken\", \"object\": \"chat.completion\", \"choices\": [{\"message\": ";

fn chat(c: &Ctx, body: &Value, malformed: bool) -> Reply {
    let id = format!("chatcmpl-fake{}", c.id);
    let created = 1_700_000_000 + c.id;
    if !c.stream {
        if malformed {
            return Reply {
                status: 200,
                content_type: "application/json",
                body: Body::Raw(BROKEN.to_vec()),
            };
        }
        let tool_calls: Vec<Value> = c
            .tool_calls
            .iter()
            .enumerate()
            .map(|(k, (name, args))| {
                json!({"id": format!("call_{k}"), "type": "function",
                "function": {"name": name, "arguments": args}})
            })
            .collect();
        let finish = if tool_calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        };
        let choices: Vec<Value> = (0..c.n)
            .map(|i| {
                let mut message = json!({"role": "assistant", "content": choice_text(&c.reply, i),
                    "refusal": null, "annotations": []});
                if i == 0 && !tool_calls.is_empty() {
                    message["tool_calls"] = Value::Array(tool_calls.clone());
                }
                json!({"index": i, "message": message, "logprobs": null,
                       "finish_reason": if i == 0 { finish } else { "stop" }})
            })
            .collect();
        return json_reply(
            200,
            json!({
                "id": id, "object": "chat.completion", "created": created, "model": c.model,
                "choices": choices,
                "usage": c.openai_usage(), "service_tier": "default", "system_fingerprint": "fp_tollgate"
            }),
        );
    }
    let include_usage = body
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let chunk = |i: u64, delta: Value, finish: Value| {
        let mut v = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": c.model,
            "system_fingerprint": "fp_tollgate",
            "choices": [{"index": i, "delta": delta, "logprobs": null, "finish_reason": finish}]});
        if include_usage {
            v["usage"] = Value::Null;
        }
        sse_data(&v)
    };
    let mut events: Vec<Vec<u8>> = (0..c.n)
        .map(|i| {
            chunk(
                i,
                json!({"role": "assistant", "content": "", "refusal": null}),
                Value::Null,
            )
        })
        .collect();
    // Choices interleave delta by delta.
    let per_choice: Vec<Vec<String>> = (0..c.n).map(|i| words(&choice_text(&c.reply, i))).collect();
    let longest = per_choice.iter().map(Vec::len).max().unwrap_or(0);
    for j in 0..longest {
        if malformed && j == 1 {
            events.push(b"data: {\"id\": \"broken\", \"choices\": [{\"delta\": \n\n".to_vec());
        }
        for (i, ds) in per_choice.iter().enumerate() {
            if let Some(d) = ds.get(j) {
                events.push(chunk(i as u64, json!({"content": d}), Value::Null));
            }
        }
    }
    // Tool calls (choice 0), one after the other: id and name first, then the arguments in pieces.
    for (k, (name, args)) in c.tool_calls.iter().enumerate() {
        events.push(chunk(
            0,
            json!({"tool_calls": [{"index": k, "id": format!("call_{k}"), "type": "function",
                "function": {"name": name, "arguments": ""}}]}),
            Value::Null,
        ));
        for p in pieces(args, 5) {
            events.push(chunk(
                0,
                json!({"tool_calls": [{"index": k, "function": {"arguments": p}}]}),
                Value::Null,
            ));
        }
    }
    for i in 0..c.n {
        let finish = if i == 0 && !c.tool_calls.is_empty() {
            "tool_calls"
        } else {
            "stop"
        };
        events.push(chunk(i, json!({}), json!(finish)));
    }
    if include_usage {
        events.push(sse_data(&json!({"id": id, "object": "chat.completion.chunk", "created": created,
            "model": c.model, "system_fingerprint": "fp_tollgate", "choices": [], "usage": c.openai_usage()})));
    }
    events.push(b"data: [DONE]\n\n".to_vec());
    Reply {
        status: 200,
        content_type: "text/event-stream; charset=utf-8",
        body: Body::Sse(events),
    }
}

fn responses(c: &Ctx, _body: &Value, malformed: bool) -> Reply {
    let id = format!("resp_fake{}", c.id);
    let msg_id = format!("msg_fake{}", c.id);
    let usage = json!({
        "input_tokens": c.prompt_tokens, "input_tokens_details": {"cached_tokens": c.cached},
        "output_tokens": c.completion_tokens, "output_tokens_details": {"reasoning_tokens": c.reasoning},
        "total_tokens": c.total()
    });
    let part = json!({"type": "output_text", "text": c.reply, "annotations": []});
    let item = json!({"id": msg_id, "type": "message", "status": "completed", "role": "assistant", "content": [part]});
    let response = |status: &str, output: Value, usage: Value| {
        json!({"id": id, "object": "response", "created_at": 1_700_000_000 + c.id, "status": status,
               "error": null, "incomplete_details": null, "instructions": null, "model": c.model,
               "output": output, "parallel_tool_calls": true, "tool_choice": "auto", "tools": [],
               "temperature": 1.0, "top_p": 1.0, "text": {"format": {"type": "text"}},
               "usage": usage, "metadata": {}})
    };
    if !c.stream {
        if malformed {
            return Reply {
                status: 200,
                content_type: "application/json",
                body: Body::Raw(BROKEN.to_vec()),
            };
        }
        return json_reply(200, response("completed", json!([item]), usage));
    }
    let mut seq = 0u64;
    let mut ev = |name: &str, mut v: Value| {
        v["type"] = json!(name);
        v["sequence_number"] = json!(seq);
        seq += 1;
        sse_event(name, &v)
    };
    let mut events = vec![
        ev(
            "response.created",
            json!({"response": response("in_progress", json!([]), Value::Null)}),
        ),
        ev(
            "response.in_progress",
            json!({"response": response("in_progress", json!([]), Value::Null)}),
        ),
        ev(
            "response.output_item.added",
            json!({"output_index": 0,
            "item": {"id": msg_id, "type": "message", "status": "in_progress", "role": "assistant", "content": []}}),
        ),
        ev(
            "response.content_part.added",
            json!({"item_id": msg_id, "output_index": 0, "content_index": 0,
            "part": {"type": "output_text", "text": "", "annotations": []}}),
        ),
    ];
    for d in c.deltas() {
        events.push(ev("response.output_text.delta",
            json!({"item_id": msg_id, "output_index": 0, "content_index": 0, "delta": d, "logprobs": []})));
    }
    if malformed {
        events.push(b"event: response.output_text.delta\ndata: {\"broken\": \n\n".to_vec());
    }
    events.push(ev("response.output_text.done",
        json!({"item_id": msg_id, "output_index": 0, "content_index": 0, "text": c.reply, "logprobs": []})));
    events.push(ev(
        "response.content_part.done",
        json!({"item_id": msg_id, "output_index": 0, "content_index": 0, "part": part}),
    ));
    events.push(ev(
        "response.output_item.done",
        json!({"output_index": 0, "item": item}),
    ));
    events.push(ev(
        "response.completed",
        json!({"response": response("completed", json!([item]), usage)}),
    ));
    Reply {
        status: 200,
        content_type: "text/event-stream; charset=utf-8",
        body: Body::Sse(events),
    }
}

fn anthropic(c: &Ctx, _body: &Value, malformed: bool) -> Reply {
    let id = format!("msg_fake{}", c.id);
    // Anthropic's input_tokens excludes cache reads, which are reported separately.
    let input = c.prompt_tokens - c.cached;
    if !c.stream {
        if malformed {
            return Reply {
                status: 200,
                content_type: "application/json",
                body: Body::Raw(BROKEN.to_vec()),
            };
        }
        return json_reply(
            200,
            json!({"id": id, "type": "message", "role": "assistant", "model": c.model,
                   "content": [{"type": "text", "text": c.reply}], "stop_reason": "end_turn", "stop_sequence": null,
                   "usage": {"input_tokens": input, "cache_creation_input_tokens": 0,
                             "cache_read_input_tokens": c.cached, "output_tokens": c.completion_tokens}}),
        );
    }
    let mut events = vec![
        sse_event(
            "message_start",
            &json!({"type": "message_start", "message": {"id": id, "type": "message",
            "role": "assistant", "model": c.model, "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": input, "cache_creation_input_tokens": 0, "cache_read_input_tokens": c.cached,
                      "output_tokens": 1}}}),
        ),
        sse_event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}),
        ),
        sse_event("ping", &json!({"type": "ping"})),
    ];
    for d in c.deltas() {
        events.push(sse_event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": d}}),
        ));
    }
    if malformed {
        events.push(
            b"event: content_block_delta\ndata: {\"type\": \"content_block_delta\", \n\n".to_vec(),
        );
    }
    events.push(sse_event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push(sse_event("message_delta", &json!({"type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": c.completion_tokens}})));
    events.push(sse_event("message_stop", &json!({"type": "message_stop"})));
    Reply {
        status: 200,
        content_type: "text/event-stream; charset=utf-8",
        body: Body::Sse(events),
    }
}

fn gemini(c: &Ctx, stream: bool, sse: bool, malformed: bool) -> Reply {
    let usage = |final_chunk: bool| {
        let mut u = json!({"promptTokenCount": c.prompt_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": c.prompt_tokens}]});
        if final_chunk {
            u["candidatesTokenCount"] = json!(c.completion_tokens - c.reasoning);
            u["totalTokenCount"] = json!(c.total());
            if c.reasoning > 0 {
                u["thoughtsTokenCount"] = json!(c.reasoning);
            }
            if c.cached > 0 {
                u["cachedContentTokenCount"] = json!(c.cached);
            }
        } else {
            u["totalTokenCount"] = json!(c.prompt_tokens);
        }
        u
    };
    let response_id = format!("fake{}", c.id);
    let chunk = |text: &str, finish: bool| {
        let mut cand = json!({"content": {"parts": [{"text": text}], "role": "model"}, "index": 0});
        if finish {
            cand["finishReason"] = json!("STOP");
        }
        json!({"candidates": [cand], "usageMetadata": usage(finish), "modelVersion": c.model, "responseId": response_id})
    };
    if !stream {
        if malformed {
            return Reply {
                status: 200,
                content_type: "application/json",
                body: Body::Raw(BROKEN.to_vec()),
            };
        }
        return json_reply(200, chunk(&c.reply, true));
    }
    let deltas = c.deltas();
    let n = deltas.len();
    let chunks: Vec<Value> = if n == 0 {
        vec![chunk("", true)]
    } else {
        deltas
            .iter()
            .enumerate()
            .map(|(i, d)| chunk(d, i + 1 == n))
            .collect()
    };
    if sse {
        // Gemini terminates SSE events with CRLF CRLF.
        let mut events: Vec<Vec<u8>> = chunks
            .iter()
            .map(|v| format!("data: {v}\r\n\r\n").into_bytes())
            .collect();
        if malformed {
            events.insert(1, b"data: {\"candidates\": [\r\n\r\n".to_vec());
        }
        return Reply {
            status: 200,
            content_type: "text/event-stream",
            body: Body::Sse(events),
        };
    }
    // Without alt=sse Gemini streams one JSON array, element by element.
    let mut pieces = Vec::new();
    for (i, v) in chunks.iter().enumerate() {
        let sep = if i == 0 { "[" } else { ",\r\n" };
        pieces.push(format!("{sep}{v}").into_bytes());
    }
    pieces.push(b"]".to_vec());
    Reply {
        status: 200,
        content_type: "application/json; charset=UTF-8",
        body: Body::Sse(pieces),
    }
}

/// Deterministic embeddings: a normalised bag of hashed lower-case words in 64 dimensions.
pub fn embed(text: &str) -> Vec<f64> {
    let mut v = vec![0.0f64; 64];
    for w in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in w.to_lowercase().bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        if let Some(x) = v.get_mut((h % 64) as usize) {
            *x += 1.0;
        }
    }
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

fn embeddings(c: &Ctx, body: &Value) -> Reply {
    let inputs: Vec<String> = match body.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => vec![],
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": embed(t)}))
        .collect();
    json_reply(
        200,
        json!({"object": "list", "data": data, "model": c.model,
               "usage": {"prompt_tokens": c.prompt_tokens, "total_tokens": c.prompt_tokens}}),
    )
}
