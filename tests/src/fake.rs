//! A fake LLM provider that speaks the real wire formats — and enforces the real request rules — of
//! OpenAI, Azure OpenAI, Anthropic, Gemini, a self-hosted OpenAI-compatible server (vLLM style) and
//! the project's own local `echo` model server, as JSON and as SSE.
//!
//! # Flavors
//!
//! A fake is started with a fixed [`Flavor`] ([`Knobs::flavor`], `--flavor` of the binary) or, when
//! none is fixed, takes it per request from the `Host` header (Envoy's `:authority`, which the
//! upstream adapter sets to the endpoint's `host` metadata): `api.openai.com` → OpenAI,
//! `generativelanguage.googleapis.com` → Gemini, `api.anthropic.com` → Anthropic,
//! `*.openai.azure.com` → Azure, `localhost:8000` → self-hosted, anything else → local.
//!
//! Each flavor serves only its provider's real methods and paths, requires its real auth header and
//! body fields, and refuses anything else with the provider's status and error body. The rules
//! follow these published references:
//!
//! | flavor      | reference followed (version / date)                                                    |
//! |-------------|-----------------------------------------------------------------------------------------|
//! | OpenAi      | platform.openai.com API reference: Chat Completions, Completions (legacy), Embeddings,  |
//! |             | Responses, Models; error codes guide (2025-2026 API, no version header)                 |
//! | Azure       | learn.microsoft.com Azure OpenAI REST reference: data-plane inference                   |
//! |             | `/openai/deployments/{id}/…?api-version=2024-10-21` (GA) and the v1 API                 |
//! |             | `/openai/v1/…` (GA since August 2025, no `api-version`), "API version lifecycle" page   |
//! | Anthropic   | docs.claude.com / docs.anthropic.com: Messages API and Count Tokens                    |
//! |             | (`anthropic-version: 2023-06-01`), "Streaming Messages", "Errors" (error shapes with   |
//! |             | `request_id`), "OpenAI SDK compatibility" (`/v1/chat/completions`, `n` must be 1)      |
//! | Gemini      | ai.google.dev/api: `models.generateContent`, `streamGenerateContent` (`alt=sse`),      |
//! |             | `embedContent`, `countTokens` (v1beta), API keys (`x-goog-api-key` / `key=`), Google   |
//! |             | API error model (`google.rpc.Status`, `BadRequest` field violations); "OpenAI          |
//! |             | compatibility" (`/v1beta/openai/`: chat completions, embeddings, models)               |
//! | SelfHosted  | vLLM OpenAI-compatible server docs (v0.10+): `/v1/chat/completions`, `/v1/completions`, |
//! |             | `/v1/embeddings`, `/v1/models`; FastAPI 404 `{"detail":"Not Found"}`; extra fields     |
//! |             | ignored; no auth unless `--api-key`                                                    |
//! | Local       | the project's own `echo` model server and embeddings service: the OpenAI surface of     |
//! |             | before (any path ending in `/chat/completions`, `/completions`, `/responses`,          |
//! |             | `/embeddings`, `/models`), lenient, no auth; no Anthropic or Gemini paths               |
//!
//! What each flavor serves (anything else is refused as that provider does):
//!
//! * OpenAi: `POST /v1/chat/completions|completions|embeddings|responses`, `GET /v1/models`;
//!   `authorization: Bearer <key>`; unknown paths 404 `Invalid URL (POST /v1/x)`; unknown body
//!   fields 400 `Unrecognized request argument supplied: x` (Responses: `Unknown parameter: 'x'.`).
//! * Azure: `POST /openai/deployments/{d}/chat/completions|completions|embeddings?api-version=…`
//!   (`model` optional), `POST /openai/v1/chat/completions|responses|embeddings`, `GET
//!   /openai/v1/models`; `api-key` (or `authorization: Bearer`); 404 `Resource not found` otherwise.
//! * Anthropic: `POST /v1/messages`, `POST /v1/messages/count_tokens` (`x-api-key`,
//!   `anthropic-version`), `GET /v1/models`, and the OpenAI SDK compatibility layer `POST
//!   /v1/chat/completions` (`authorization: Bearer` or `x-api-key`).
//! * Gemini: `POST /v1beta/models/{m}:generateContent|streamGenerateContent|embedContent|countTokens`
//!   (also under `/v1/`), `GET /v1beta/models` (`x-goog-api-key` or `?key=`), and `POST
//!   /v1beta/openai/chat/completions|embeddings`, `GET /v1beta/openai/models` (Bearer key).
//! * SelfHosted: `POST /v1/chat/completions|completions|embeddings`, `GET /v1/models`, no auth.
//!
//! Every request it receives is recorded — refused ones too, with the status the fake answered
//! ([`Recorded::status`]) — and served at `GET /_tollgate/requests`, so tests see exactly what reached
//! "the provider". Behaviour knobs come from request headers (or the defaults given at start-up);
//! they are not part of the strictness:
//!
//! | header                  | effect                                                            |
//! |-------------------------|-------------------------------------------------------------------|
//! | `x-fake-latency-ms`     | wait before answering                                             |
//! | `x-fake-chunk-delay-ms` | wait between body writes                                          |
//! | `x-fake-chunk-size`     | write the body in pieces of this many bytes (each flushed)        |
//! | `x-fake-status`         | answer with this error status (429/500/503/...), provider-style   |
//! |                         | (after the path and auth checks, before the body checks)          |
//! | `x-fake-malformed`      | `1`: a truncated JSON body / a broken SSE event                   |
//! | `x-fake-reset`          | `before-headers` or `mid-body`: drop the connection; `bad-http`:  |
//! |                         | answer bytes that are not HTTP                                    |
//! | `x-fake-cached-tokens`  | report this many cached prompt tokens                             |
//! | `x-fake-reasoning-tokens` | report this many reasoning tokens                               |
//! | `x-fake-reply`          | reply with this text instead of echoing the last user message     |
//! | `x-fake-served-model`   | report this model instead of the requested one                    |
//! | `x-fake-hostile-headers`| `1`: add response headers whose values hold bytes 0x80–0xFF       |
//! | `x-fake-gzip`           | `1`: gzip the answer (`content-encoding: gzip`) though not asked  |
//! | `x-fake-tool-calls`     | JSON `[{"name","arguments"}]`: answer with these tool calls, in   |
//! |                         | each API's form and streamed as each provider streams them:       |
//! |                         | OpenAI chat `tool_calls` (name first, arguments in 5-byte pieces),|
//! |                         | Responses `function_call` items (`function_call_arguments.delta`),|
//! |                         | Anthropic `tool_use` blocks (`input_json_delta`), Gemini          |
//! |                         | `functionCall` parts (whole, in the last chunk)                   |
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

/// Which provider's API a fake speaks (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// api.openai.com
    OpenAi,
    /// `{resource}.openai.azure.com`
    Azure,
    /// api.anthropic.com
    Anthropic,
    /// generativelanguage.googleapis.com
    Gemini,
    /// A vLLM / llama.cpp style OpenAI-compatible server (`localhost:8000`).
    SelfHosted,
    /// The project's own `echo` model server and embeddings service.
    Local,
}

impl Flavor {
    /// The flavor a request for `host` (a `Host` / `:authority` value) reaches.
    pub fn from_host(host: &str) -> Flavor {
        let host = host.trim().to_ascii_lowercase();
        if host == "localhost:8000" {
            return Flavor::SelfHosted;
        }
        let name = match host.rsplit_once(':') {
            Some((n, port)) if port.chars().all(|c| c.is_ascii_digit()) => n,
            _ => host.as_str(),
        };
        match name {
            "api.openai.com" => Flavor::OpenAi,
            "generativelanguage.googleapis.com" => Flavor::Gemini,
            "api.anthropic.com" => Flavor::Anthropic,
            n if n.ends_with(".openai.azure.com") => Flavor::Azure,
            _ => Flavor::Local,
        }
    }

    /// The name `--flavor` takes.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::OpenAi => "openai",
            Flavor::Azure => "azure",
            Flavor::Anthropic => "anthropic",
            Flavor::Gemini => "gemini",
            Flavor::SelfHosted => "selfhosted",
            Flavor::Local => "local",
        }
    }
}

impl std::str::FromStr for Flavor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "openai" => Ok(Flavor::OpenAi),
            "azure" => Ok(Flavor::Azure),
            "anthropic" => Ok(Flavor::Anthropic),
            "gemini" => Ok(Flavor::Gemini),
            "selfhosted" | "self-hosted" | "vllm" => Ok(Flavor::SelfHosted),
            "local" => Ok(Flavor::Local),
            other => Err(format!(
                "unknown flavor {other} (openai|azure|anthropic|gemini|selfhosted|local)"
            )),
        }
    }
}

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
    /// Status the fake answered (0 if it dropped the connection before answering).
    pub status: u16,
    /// Flavor that answered (`openai`, `azure`, ...; empty for control requests).
    pub flavor: String,
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
    /// Speak this provider's API whatever the `Host`; `None`: pick it per request from `Host`.
    pub flavor: Option<Flavor>,
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
                    status: 0,
                    flavor: String::new(),
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
    if let (Some(i), Ok(mut log)) = (slot, shared.log.lock()) {
        if let Some(r) = log.get_mut(i) {
            r.status = reply.status;
        }
    }
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
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Api {
    Chat,
    Completions,
    Responses,
    Embeddings,
    Models,
    Anthropic,
    AnthropicCount,
    AnthropicModels,
    Gemini { stream: bool, sse: bool },
    GeminiEmbed,
    GeminiCount,
    GeminiModels,
}

/// How a provider words its errors.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Style {
    /// `{"error":{"message","type","param","code"}}`
    OpenAi,
    /// `{"error":{"code":"401","message"}}` at Azure's edge, OpenAI's shape for body errors.
    Azure,
    /// `{"type":"error","error":{"type","message"},"request_id"}`
    Anthropic,
    /// `{"error":{"code":400,"message","status":"INVALID_ARGUMENT"}}`
    Google,
    /// vLLM: `{"error":{"message","type":"BadRequestError","param","code":400}}`
    Vllm,
}

/// The rules a request body must follow.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Rules {
    /// The local server: anything goes (as before).
    Lenient,
    /// OpenAI (and Azure): known fields only; `model` required unless the path names the deployment.
    OpenAi { model_optional: bool, azure: bool },
    /// vLLM: required fields only, extra fields ignored.
    Vllm,
    /// Anthropic's OpenAI SDK compatibility layer: extra fields ignored, `n` must be 1.
    AnthropicCompat,
    /// Gemini's OpenAI compatibility layer: a proto behind it, unknown fields refused.
    GeminiCompat,
    /// Anthropic's Messages API.
    Anthropic,
    /// Gemini's native API.
    Gemini,
}

/// A request matched to one of its flavor's endpoints.
struct Endpoint {
    api: Api,
    style: Style,
    rules: Rules,
    /// The model the path names (Gemini model, Azure deployment).
    path_model: Option<String>,
}

/// The local prompt-injection classifier (the guard's gray-zone callout): a Hugging Face Text
/// Embeddings Inference `/predict` for a text-classification model (Prompt Guard style labels).
/// `{"inputs": "<text>"}` → `[{"label","score"}…]`, best first; anything else is TEI's 422. Its
/// "model": a text that says "from now on" is an injection (0.97), any other is benign (0.97).
/// The `status` knob answers every call with that status (TEI's error shape).
fn classify(req: &Request, knobs: &Knobs) -> Reply {
    if req.method != "POST" {
        return json_reply(
            405,
            json!({"error": "Method Not Allowed", "error_type": "Validation"}),
        );
    }
    if let Some(status) = knobs.status {
        return json_reply(
            status,
            json!({"error": "Model is overloaded", "error_type": "overloaded"}),
        );
    }
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => {
            return json_reply(
                422,
                json!({"error": format!("Failed to parse the request body as JSON: {e}"), "error_type": "Validation"}),
            )
        }
    };
    let Some(text) = body.get("inputs").and_then(Value::as_str) else {
        return json_reply(
            422,
            json!({"error": "Failed to deserialize the JSON body into the target type: missing or invalid field `inputs`", "error_type": "Validation"}),
        );
    };
    let p: f64 = if text.to_lowercase().contains("from now on") {
        0.97
    } else {
        0.03
    };
    let mut labels = vec![("INJECTION", p), ("BENIGN", 1.0 - p)];
    labels.sort_by(|a, b| b.1.total_cmp(&a.1));
    json_reply(
        200,
        Value::Array(
            labels
                .into_iter()
                .map(|(l, s)| json!({"label": l, "score": s}))
                .collect(),
        ),
    )
}

fn endpoint(api: Api, style: Style, rules: Rules) -> Endpoint {
    Endpoint {
        api,
        style,
        rules,
        path_model: None,
    }
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
    let defaults = shared
        .defaults
        .lock()
        .map(|d| d.clone())
        .unwrap_or_default();
    let flavor = defaults
        .flavor
        .unwrap_or_else(|| Flavor::from_host(req.header("host").unwrap_or_default()));
    if let (Some(i), Ok(mut log)) = (slot, shared.log.lock()) {
        if let Some(r) = log.get_mut(i) {
            r.flavor = flavor.name().to_owned();
        }
    }
    if flavor == Flavor::Local && path == "/predict" {
        return classify(req, &defaults);
    }
    let ep = match resolve(flavor, req) {
        Ok(ep) => ep,
        Err(reply) => return reply,
    };
    if let Err(reply) = authorize(flavor, &ep, req) {
        return reply;
    }
    if let Some(status) = req.knob::<u16>("x-fake-status").or(defaults.status) {
        return status_error(ep.style, status);
    }
    let body = if req.body.iter().all(u8::is_ascii_whitespace) && req.method == "GET" {
        json!({})
    } else {
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(v @ Value::Object(_)) => v,
            _ => return invalid_json(ep.style),
        }
    };
    if let Err(reply) = validate(&ep, &body) {
        return reply;
    }
    let id = shared.ids.fetch_add(1, Ordering::SeqCst);
    let malformed = req.header("x-fake-malformed") == Some("1");
    let ctx = Ctx::new(req, ep.api, &body, id, ep.path_model.as_deref());
    let reports_usage = !matches!(
        ep.api,
        Api::Models
            | Api::AnthropicModels
            | Api::GeminiModels
            | Api::AnthropicCount
            | Api::GeminiCount
    );
    if let (true, Some(i), Ok(mut log)) = (reports_usage, slot, shared.log.lock()) {
        if let Some(r) = log.get_mut(i) {
            r.reported_usage = Some(json!({
                "prompt_tokens": ctx.prompt_tokens, "completion_tokens": ctx.completion_tokens,
                "total_tokens": ctx.total(), "cached_prompt_tokens": ctx.cached,
                // Anthropic's wire format has no separate reasoning count.
                "reasoning_tokens": if ep.api == Api::Anthropic { 0 } else { ctx.reasoning },
                "model": ctx.model,
            }));
        }
    }
    match ep.api {
        Api::Chat => chat(&ctx, &body, malformed),
        Api::Completions => completions(&ctx, &body, malformed),
        Api::Responses => responses(&ctx, &body, malformed),
        Api::Anthropic => anthropic(&ctx, &body, malformed),
        Api::Gemini { stream, sse } => gemini(&ctx, stream, sse, malformed),
        Api::Embeddings => embeddings(&ctx, &body),
        Api::GeminiEmbed => json_reply(200, json!({"embedding": {"values": embed(&ctx.reply)}})),
        Api::Models => json_reply(
            200,
            json!({"object": "list", "data": [{"id": ctx.model, "object": "model", "created": 0, "owned_by": "tollgate-fake"}]}),
        ),
        Api::AnthropicCount => json_reply(200, json!({"input_tokens": ctx.prompt_tokens})),
        Api::AnthropicModels => json_reply(
            200,
            json!({"data": [{"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5",
                   "created_at": "2025-09-29T00:00:00Z"}],
                   "has_more": false, "first_id": "claude-sonnet-4-5", "last_id": "claude-sonnet-4-5"}),
        ),
        Api::GeminiCount => json_reply(
            200,
            json!({"totalTokens": ctx.prompt_tokens,
                   "promptTokensDetails": [{"modality": "TEXT", "tokenCount": ctx.prompt_tokens}]}),
        ),
        Api::GeminiModels => json_reply(
            200,
            json!({"models": [{"name": "models/gemini-2.5-flash", "version": "001", "displayName": "Gemini 2.5 Flash",
                   "inputTokenLimit": 1_048_576, "outputTokenLimit": 65_536,
                   "supportedGenerationMethods": ["generateContent", "countTokens"]}]}),
        ),
    }
}

/// `(name, value)` pairs of the query string.
fn query(req: &Request) -> Vec<(&str, &str)> {
    req.path
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect()
}

fn query_value<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    query(req)
        .into_iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The endpoint of `flavor` that the method and path name, or the provider's "not found".
fn resolve(flavor: Flavor, req: &Request) -> Result<Endpoint, Reply> {
    let path = req.path.split('?').next().unwrap_or_default();
    let post = req.method == "POST";
    let get = req.method == "GET";
    let oai = Rules::OpenAi {
        model_optional: false,
        azure: false,
    };
    match flavor {
        Flavor::Local => {
            let api = if get && path.ends_with("/models") {
                Api::Models
            } else if path.ends_with("/chat/completions") {
                Api::Chat
            } else if path.ends_with("/responses") {
                Api::Responses
            } else if path.ends_with("/embeddings") {
                Api::Embeddings
            } else if path.ends_with("/completions") {
                Api::Completions
            } else {
                return Err(invalid_url(req));
            };
            Ok(endpoint(api, Style::OpenAi, Rules::Lenient))
        }
        Flavor::OpenAi => {
            let api = match (req.method.as_str(), path) {
                ("POST", "/v1/chat/completions") => Api::Chat,
                ("POST", "/v1/completions") => Api::Completions,
                ("POST", "/v1/embeddings") => Api::Embeddings,
                ("POST", "/v1/responses") => Api::Responses,
                ("GET", "/v1/models") => Api::Models,
                _ => return Err(invalid_url(req)),
            };
            Ok(endpoint(api, Style::OpenAi, oai))
        }
        Flavor::Azure => {
            let not_found = || azure_error(404, "Resource not found");
            if let Some(rest) = path.strip_prefix("/openai/deployments/") {
                let (deployment, op) = rest.split_once('/').ok_or_else(not_found)?;
                let api = match op {
                    "chat/completions" => Api::Chat,
                    "completions" => Api::Completions,
                    "embeddings" => Api::Embeddings,
                    _ => return Err(not_found()),
                };
                let versioned = query_value(req, "api-version").is_some_and(|v| !v.is_empty());
                if !post || deployment.is_empty() || !versioned {
                    return Err(not_found());
                }
                return Ok(Endpoint {
                    api,
                    style: Style::Azure,
                    rules: Rules::OpenAi {
                        model_optional: true,
                        azure: true,
                    },
                    path_model: Some(deployment.to_owned()),
                });
            }
            let api = match (req.method.as_str(), path) {
                ("POST", "/openai/v1/chat/completions") => Api::Chat,
                ("POST", "/openai/v1/responses") => Api::Responses,
                ("POST", "/openai/v1/embeddings") => Api::Embeddings,
                ("GET", "/openai/v1/models") => Api::Models,
                // The preview Responses API before v1: versioned, model in the body.
                ("POST", "/openai/responses") if query_value(req, "api-version").is_some() => {
                    Api::Responses
                }
                _ => return Err(not_found()),
            };
            Ok(endpoint(
                api,
                Style::Azure,
                Rules::OpenAi {
                    model_optional: false,
                    azure: true,
                },
            ))
        }
        Flavor::Anthropic => match (req.method.as_str(), path) {
            ("POST", "/v1/messages") => {
                Ok(endpoint(Api::Anthropic, Style::Anthropic, Rules::Anthropic))
            }
            ("POST", "/v1/messages/count_tokens") => Ok(endpoint(
                Api::AnthropicCount,
                Style::Anthropic,
                Rules::Anthropic,
            )),
            ("GET", "/v1/models") => Ok(endpoint(
                Api::AnthropicModels,
                Style::Anthropic,
                Rules::Lenient,
            )),
            ("POST", "/v1/chat/completions") => {
                Ok(endpoint(Api::Chat, Style::OpenAi, Rules::AnthropicCompat))
            }
            _ => Err(anthropic_error(404, "not_found_error", "Not Found")),
        },
        Flavor::Gemini => {
            for version in ["/v1beta/", "/v1/"] {
                let Some(rest) = path.strip_prefix(version) else {
                    continue;
                };
                if get && rest == "models" {
                    return Ok(endpoint(Api::GeminiModels, Style::Google, Rules::Lenient));
                }
                let Some((model, method)) =
                    rest.strip_prefix("models/").and_then(|m| m.split_once(':'))
                else {
                    continue;
                };
                let api = match method {
                    "generateContent" => Api::Gemini {
                        stream: false,
                        sse: false,
                    },
                    "streamGenerateContent" => Api::Gemini {
                        stream: true,
                        sse: query_value(req, "alt") == Some("sse"),
                    },
                    "embedContent" => Api::GeminiEmbed,
                    "countTokens" => Api::GeminiCount,
                    _ => break,
                };
                if !post || model.is_empty() || model.contains('/') {
                    break;
                }
                return Ok(Endpoint {
                    api,
                    style: Style::Google,
                    rules: Rules::Gemini,
                    path_model: Some(model.to_owned()),
                });
            }
            let api = match (req.method.as_str(), path) {
                ("POST", "/v1beta/openai/chat/completions") => Api::Chat,
                ("POST", "/v1beta/openai/embeddings") => Api::Embeddings,
                ("GET", "/v1beta/openai/models") => Api::Models,
                _ => return Err(google_not_found(path)),
            };
            Ok(endpoint(api, Style::Google, Rules::GeminiCompat))
        }
        Flavor::SelfHosted => {
            let api = match path {
                "/v1/chat/completions" if post => Api::Chat,
                "/v1/completions" if post => Api::Completions,
                "/v1/embeddings" if post => Api::Embeddings,
                "/v1/models" if get => Api::Models,
                "/v1/chat/completions" | "/v1/completions" | "/v1/embeddings" | "/v1/models" => {
                    return Err(json_reply(405, json!({"detail": "Method Not Allowed"})))
                }
                _ => return Err(json_reply(404, json!({"detail": "Not Found"}))),
            };
            Ok(endpoint(api, Style::Vllm, Rules::Vllm))
        }
    }
}

/// `authorization: Bearer <token>` with a non-empty token.
fn bearer(req: &Request) -> Option<&str> {
    let v = req.header("authorization")?;
    let (scheme, token) = v.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then_some(token.trim())
}

fn non_empty<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.header(name).filter(|v| !v.trim().is_empty())
}

/// The provider's auth check (and Anthropic's version header).
fn authorize(flavor: Flavor, ep: &Endpoint, req: &Request) -> Result<(), Reply> {
    match flavor {
        Flavor::Local | Flavor::SelfHosted => Ok(()),
        Flavor::OpenAi => match bearer(req) {
            Some(_) => Ok(()),
            None => Err(oai_error(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                Value::Null,
                Value::Null,
            )),
        },
        Flavor::Azure => match (non_empty(req, "api-key"), bearer(req)) {
            (None, None) => Err(azure_error(
                401,
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
            )),
            _ => Ok(()),
        },
        Flavor::Anthropic if ep.rules == Rules::AnthropicCompat => {
            match (non_empty(req, "x-api-key"), bearer(req)) {
                (None, None) => Err(oai_error(
                    401,
                    "x-api-key header is required",
                    "authentication_error",
                    Value::Null,
                    Value::Null,
                )),
                _ => Ok(()),
            }
        }
        Flavor::Anthropic => {
            if non_empty(req, "x-api-key").is_none() {
                return Err(anthropic_error(
                    401,
                    "authentication_error",
                    "x-api-key header is required",
                ));
            }
            if non_empty(req, "anthropic-version").is_none() {
                return Err(anthropic_error(
                    400,
                    "invalid_request_error",
                    "anthropic-version: header is required",
                ));
            }
            Ok(())
        }
        Flavor::Gemini => {
            let key = non_empty(req, "x-goog-api-key").is_some()
                || query_value(req, "key").is_some_and(|k| !k.is_empty());
            let compat = ep.rules == Rules::GeminiCompat;
            if key || (compat && bearer(req).is_some()) {
                return Ok(());
            }
            if bearer(req).is_some() {
                // On the native API a bearer token is an OAuth access token, not an API key.
                return Err(google_error(
                    401,
                    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
                    Vec::new(),
                ));
            }
            Err(google_error(
                403,
                "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
                Vec::new(),
            ))
        }
    }
}

static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

fn oai_error(status: u16, message: &str, kind: &str, param: Value, code: Value) -> Reply {
    json_reply(
        status,
        json!({"error": {"message": message, "type": kind, "param": param, "code": code}}),
    )
}

/// OpenAI's 400 for a request it cannot accept.
fn oai_invalid(message: &str, param: Option<&str>, code: Option<&str>) -> Reply {
    oai_error(
        400,
        message,
        "invalid_request_error",
        param.map_or(Value::Null, |p| json!(p)),
        code.map_or(Value::Null, |c| json!(c)),
    )
}

fn invalid_url(req: &Request) -> Reply {
    let path = req.path.split('?').next().unwrap_or_default();
    oai_error(
        404,
        &format!("Invalid URL ({} {path})", req.method),
        "invalid_request_error",
        Value::Null,
        Value::Null,
    )
}

fn azure_error(status: u16, message: &str) -> Reply {
    json_reply(
        status,
        json!({"error": {"code": status.to_string(), "message": message}}),
    )
}

fn anthropic_error(status: u16, kind: &str, message: &str) -> Reply {
    let n = REQUEST_IDS.fetch_add(1, Ordering::SeqCst);
    json_reply(
        status,
        json!({"type": "error", "error": {"type": kind, "message": message},
               "request_id": format!("req_011CFake{n:012}")}),
    )
}

fn google_status(code: u16) -> &'static str {
    match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    }
}

fn google_error(status: u16, message: &str, details: Vec<Value>) -> Reply {
    let mut error = json!({"code": status, "message": message, "status": google_status(status)});
    if !details.is_empty() {
        error["details"] = Value::Array(details);
    }
    Reply {
        status,
        content_type: "application/json; charset=UTF-8",
        body: Body::Json(json!({ "error": error })),
    }
}

/// Google's front end answers an unknown URL with its HTML 404 page.
fn google_not_found(path: &str) -> Reply {
    let page = format!(
        "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 404 (Not Found)!!1</title>\n  \
         <p><b>404.</b> <ins>That\u{2019}s an error.</ins>\n  <p>The requested URL <code>{path}</code> was not found on this server.  \
         <ins>That\u{2019}s all we know.</ins>\n"
    );
    Reply {
        status: 404,
        content_type: "text/html; charset=UTF-8",
        body: Body::Raw(page.into_bytes()),
    }
}

fn vllm_error(status: u16, message: &str) -> Reply {
    let kind = match status {
        400 => "BadRequestError",
        404 => "NotFoundError",
        _ => "InternalServerError",
    };
    json_reply(
        status,
        json!({"error": {"message": message, "type": kind, "param": null, "code": status}}),
    )
}

/// A 400 about the body, worded as the endpoint's provider words it.
fn body_error(style: Style, message: &str, param: Option<&str>, code: Option<&str>) -> Reply {
    match style {
        Style::OpenAi | Style::Azure => oai_invalid(message, param, code),
        Style::Anthropic => anthropic_error(400, "invalid_request_error", message),
        Style::Google => google_error(400, message, Vec::new()),
        Style::Vllm => vllm_error(400, message),
    }
}

fn invalid_json(style: Style) -> Reply {
    match style {
        Style::OpenAi | Style::Azure => oai_invalid(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
            None,
            None,
        ),
        Style::Anthropic => anthropic_error(
            400,
            "invalid_request_error",
            "There was an issue with the format or content of your request body: expected a JSON object",
        ),
        Style::Google => google_error(
            400,
            "Invalid JSON payload received. Unexpected token.",
            Vec::new(),
        ),
        Style::Vllm => vllm_error(400, "JSON decode error"),
    }
}

/// The answer to `x-fake-status` (or the default status), provider-style.
fn status_error(style: Style, status: u16) -> Reply {
    let (oai_type, anth_type) = match status {
        400 => ("invalid_request_error", "invalid_request_error"),
        401 => ("invalid_request_error", "authentication_error"),
        403 => ("invalid_request_error", "permission_error"),
        404 => ("invalid_request_error", "not_found_error"),
        429 => ("rate_limit_exceeded", "rate_limit_error"),
        503 | 529 => ("server_error", "overloaded_error"),
        _ => ("server_error", "api_error"),
    };
    let msg = format!("fake provider error {status}");
    match style {
        Style::Anthropic => anthropic_error(status, anth_type, &msg),
        Style::Google => google_error(status, &msg, Vec::new()),
        Style::Azure if matches!(status, 401 | 404 | 429) => azure_error(status, &msg),
        Style::Vllm => vllm_error(status, &msg),
        _ => oai_error(status, &msg, oai_type, Value::Null, json!(oai_type)),
    }
}

/// Top-level fields of OpenAI's chat completions request (API reference, 2025-2026).
const OAI_CHAT_FIELDS: &[&str] = &[
    "messages",
    "model",
    "audio",
    "frequency_penalty",
    "function_call",
    "functions",
    "logit_bias",
    "logprobs",
    "max_completion_tokens",
    "max_tokens",
    "metadata",
    "modalities",
    "n",
    "parallel_tool_calls",
    "prediction",
    "presence_penalty",
    "prompt_cache_key",
    "prompt_cache_retention",
    "reasoning_effort",
    "response_format",
    "safety_identifier",
    "seed",
    "service_tier",
    "stop",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "user",
    "verbosity",
    "web_search_options",
];
/// Chat fields only Azure OpenAI accepts (On Your Data, Defender for Cloud user context).
const AZURE_CHAT_FIELDS: &[&str] = &["data_sources", "user_security_context"];
/// Legacy completions.
const OAI_COMPLETION_FIELDS: &[&str] = &[
    "model",
    "prompt",
    "best_of",
    "echo",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "max_tokens",
    "n",
    "presence_penalty",
    "seed",
    "stop",
    "stream",
    "stream_options",
    "suffix",
    "temperature",
    "top_p",
    "user",
];
const OAI_EMBEDDING_FIELDS: &[&str] = &["input", "model", "encoding_format", "dimensions", "user"];
/// Responses API (create a model response).
const OAI_RESPONSES_FIELDS: &[&str] = &[
    "background",
    "conversation",
    "include",
    "input",
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "metadata",
    "model",
    "parallel_tool_calls",
    "previous_response_id",
    "prompt",
    "prompt_cache_key",
    "prompt_cache_retention",
    "reasoning",
    "safety_identifier",
    "service_tier",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "truncation",
    "user",
];
const OAI_ROLES: &[&str] = &[
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];
/// Anthropic Messages API (create a message).
const ANTHROPIC_MESSAGE_FIELDS: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "container",
    "context_management",
    "mcp_servers",
    "metadata",
    "service_tier",
    "stop_sequences",
    "stream",
    "system",
    "temperature",
    "thinking",
    "tool_choice",
    "tools",
    "top_k",
    "top_p",
];
/// Anthropic count tokens.
const ANTHROPIC_COUNT_FIELDS: &[&str] = &[
    "model",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "thinking",
    "mcp_servers",
    "context_management",
];
/// Content block types an input message may hold.
const ANTHROPIC_BLOCKS: &[&str] = &[
    "text",
    "image",
    "document",
    "search_result",
    "thinking",
    "redacted_thinking",
    "tool_use",
    "tool_result",
    "server_tool_use",
    "web_search_tool_result",
    "web_fetch_tool_result",
    "code_execution_tool_result",
    "bash_code_execution_tool_result",
    "text_editor_code_execution_tool_result",
    "mcp_tool_use",
    "mcp_tool_result",
    "container_upload",
];
/// Gemini `GenerateContentRequest` (proto names; JSON also takes lowerCamelCase).
const GEMINI_GENERATE_FIELDS: &[&str] = &[
    "model",
    "contents",
    "tools",
    "tool_config",
    "safety_settings",
    "system_instruction",
    "generation_config",
    "cached_content",
];
const GEMINI_CONTENT_FIELDS: &[&str] = &["role", "parts"];
const GEMINI_PART_FIELDS: &[&str] = &[
    "text",
    "inline_data",
    "file_data",
    "function_call",
    "function_response",
    "executable_code",
    "code_execution_result",
    "thought",
    "thought_signature",
    "video_metadata",
    "part_metadata",
    "media_resolution",
];
const GEMINI_GENERATION_CONFIG_FIELDS: &[&str] = &[
    "stop_sequences",
    "response_mime_type",
    "response_schema",
    "response_json_schema",
    "response_modalities",
    "candidate_count",
    "max_output_tokens",
    "temperature",
    "top_p",
    "top_k",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "response_logprobs",
    "logprobs",
    "enable_enhanced_civic_answers",
    "speech_config",
    "thinking_config",
    "image_config",
    "media_resolution",
];
const GEMINI_EMBED_FIELDS: &[&str] = &[
    "model",
    "content",
    "task_type",
    "title",
    "output_dimensionality",
];
const GEMINI_COUNT_FIELDS: &[&str] = &["contents", "generate_content_request"];
/// Fields of Gemini's OpenAI-compatible chat request (its `ChatCompletionsRequest`).
const GEMINI_COMPAT_CHAT_FIELDS: &[&str] = &[
    "model",
    "messages",
    "stream",
    "stream_options",
    "tools",
    "tool_choice",
    "reasoning_effort",
    "temperature",
    "top_p",
    "n",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "response_format",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
    "user",
    "parallel_tool_calls",
    "modalities",
    "audio",
    "extra_body",
];
const GEMINI_COMPAT_EMBEDDING_FIELDS: &[&str] =
    &["input", "model", "encoding_format", "dimensions", "user"];

/// `fooBar` → `foo_bar` (proto JSON accepts both spellings of a field).
fn snake(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn obj(v: &Value) -> impl Iterator<Item = (&String, &Value)> {
    v.as_object().into_iter().flatten()
}

/// The first field of `body` not in `allowed`.
fn unknown_field<'a>(body: &'a Value, allowed: &[&str]) -> Option<&'a str> {
    obj(body)
        .map(|(k, _)| k.as_str())
        .find(|k| !allowed.contains(k))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks the body against the endpoint's rules.
fn validate(ep: &Endpoint, body: &Value) -> Result<(), Reply> {
    match ep.rules {
        Rules::Lenient => Ok(()),
        Rules::OpenAi {
            model_optional,
            azure,
        } => validate_openai(ep.api, ep.style, body, model_optional, azure),
        Rules::Vllm => validate_vllm(ep.api, body),
        Rules::AnthropicCompat => validate_anthropic_compat(body),
        Rules::GeminiCompat => validate_gemini_compat(ep.api, body),
        Rules::Anthropic => validate_anthropic(ep.api, body),
        Rules::Gemini => validate_gemini(ep.api, body),
    }
}

fn missing(style: Style, param: &str) -> Reply {
    body_error(
        style,
        &format!("Missing required parameter: '{param}'."),
        Some(param),
        Some("missing_required_parameter"),
    )
}

fn validate_openai(
    api: Api,
    style: Style,
    body: &Value,
    model_optional: bool,
    azure: bool,
) -> Result<(), Reply> {
    let no_model = || body_error(style, "you must provide a model parameter", None, None);
    let has_model = body
        .get("model")
        .is_some_and(|m| m.as_str().is_some_and(|s| !s.is_empty()));
    match api {
        Api::Chat => {
            let extra = unknown_field(body, OAI_CHAT_FIELDS)
                .filter(|f| !(azure && AZURE_CHAT_FIELDS.contains(f)));
            if let Some(f) = extra {
                return Err(body_error(
                    style,
                    &format!("Unrecognized request argument supplied: {f}"),
                    None,
                    None,
                ));
            }
            if !has_model && !model_optional {
                return Err(no_model());
            }
            check_openai_messages(style, body)?;
            if body.get("stream_options").is_some_and(|o| !o.is_null())
                && body.get("stream").and_then(Value::as_bool) != Some(true)
            {
                return Err(body_error(
                    style,
                    "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                    Some("stream_options"),
                    None,
                ));
            }
            Ok(())
        }
        Api::Completions | Api::Embeddings => {
            let (fields, required) = if api == Api::Completions {
                (OAI_COMPLETION_FIELDS, "prompt")
            } else {
                (OAI_EMBEDDING_FIELDS, "input")
            };
            if let Some(f) = unknown_field(body, fields) {
                return Err(body_error(
                    style,
                    &format!("Unrecognized request argument supplied: {f}"),
                    None,
                    None,
                ));
            }
            if !has_model && !model_optional {
                return Err(no_model());
            }
            if body.get(required).is_none_or(Value::is_null) {
                return Err(missing(style, required));
            }
            Ok(())
        }
        Api::Responses => {
            if let Some(f) = unknown_field(body, OAI_RESPONSES_FIELDS) {
                return Err(body_error(
                    style,
                    &format!("Unknown parameter: '{f}'."),
                    Some(f),
                    Some("unknown_parameter"),
                ));
            }
            if !has_model && !model_optional {
                return Err(missing(style, "model"));
            }
            if let Some(items) = body.get("input").and_then(Value::as_array) {
                for (i, item) in items.iter().enumerate() {
                    let kind = item
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("message");
                    if kind != "message" {
                        continue;
                    }
                    match item.get("role").and_then(Value::as_str) {
                        None => return Err(missing(style, &format!("input[{i}].role"))),
                        Some("user" | "assistant" | "system" | "developer") => {}
                        Some(r) => {
                            return Err(body_error(
                                style,
                                &format!("Invalid value: '{r}'. Supported values are: 'assistant', 'system', 'developer', and 'user'."),
                                Some(&format!("input[{i}].role")),
                                Some("invalid_value"),
                            ))
                        }
                    }
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// OpenAI's checks of `messages` (chat).
fn check_openai_messages(style: Style, body: &Value) -> Result<(), Reply> {
    let messages = match body.get("messages") {
        None | Some(Value::Null) => return Err(missing(style, "messages")),
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(body_error(
                style,
                &format!(
                "Invalid type for 'messages': expected an array of objects, but got {} instead.",
                type_name(other)
            ),
                Some("messages"),
                Some("invalid_type"),
            ))
        }
    };
    if messages.is_empty() {
        return Err(body_error(
            style,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            Some("messages"),
            Some("empty_array"),
        ));
    }
    for (i, m) in messages.iter().enumerate() {
        let role = match m.get("role") {
            None | Some(Value::Null) => return Err(missing(style, &format!("messages[{i}].role"))),
            Some(r) => r.as_str().unwrap_or_default(),
        };
        if !OAI_ROLES.contains(&role) {
            return Err(body_error(
                style,
                &format!("Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'."),
                Some(&format!("messages[{i}].role")),
                Some("invalid_value"),
            ));
        }
        let has_content = m.get("content").is_some_and(|c| !c.is_null());
        let needs_content = matches!(role, "system" | "developer" | "user" | "tool");
        if needs_content && !has_content {
            return Err(missing(style, &format!("messages[{i}].content")));
        }
        if role == "tool" && m.get("tool_call_id").and_then(Value::as_str).is_none() {
            return Err(missing(style, &format!("messages[{i}].tool_call_id")));
        }
    }
    Ok(())
}

/// vLLM: pydantic checks of the required fields, extra fields ignored.
fn validate_vllm(api: Api, body: &Value) -> Result<(), Reply> {
    let required = match api {
        Api::Chat => "messages",
        Api::Completions => "prompt",
        Api::Embeddings => "input",
        _ => return Ok(()),
    };
    if body.get(required).is_none_or(Value::is_null) {
        return Err(vllm_error(
            400,
            &format!(
                "[{{'type': 'missing', 'loc': ('body', '{required}'), 'msg': 'Field required'}}]"
            ),
        ));
    }
    if api == Api::Chat {
        let roles_ok = body
            .get("messages")
            .and_then(Value::as_array)
            .is_some_and(|ms| {
                ms.iter()
                    .all(|m| m.get("role").and_then(Value::as_str).is_some())
            });
        if !roles_ok {
            return Err(vllm_error(
                400,
                "[{'type': 'missing', 'loc': ('body', 'messages', 'role'), 'msg': 'Field required'}]",
            ));
        }
    }
    Ok(())
}

/// Anthropic's OpenAI SDK compatibility layer.
fn validate_anthropic_compat(body: &Value) -> Result<(), Reply> {
    if body.get("model").and_then(Value::as_str).is_none() {
        return Err(oai_invalid("model: Field required", Some("model"), None));
    }
    check_openai_messages(Style::OpenAi, body)?;
    if body
        .get("n")
        .and_then(Value::as_u64)
        .is_some_and(|n| n != 1)
    {
        return Err(oai_invalid("n: only n=1 is supported", Some("n"), None));
    }
    Ok(())
}

/// Gemini's OpenAI compatibility layer: a proto request, so unknown fields are refused.
fn validate_gemini_compat(api: Api, body: &Value) -> Result<(), Reply> {
    let fields = match api {
        Api::Chat => GEMINI_COMPAT_CHAT_FIELDS,
        Api::Embeddings => GEMINI_COMPAT_EMBEDDING_FIELDS,
        _ => return Ok(()),
    };
    let unknown: Vec<&str> = obj(body)
        .map(|(k, _)| k.as_str())
        .filter(|k| !fields.contains(&snake(k).as_str()))
        .collect();
    if !unknown.is_empty() {
        return Err(google_unknown(
            &unknown
                .iter()
                .map(|k| (*k, String::new()))
                .collect::<Vec<_>>(),
        ));
    }
    if body.get("model").and_then(Value::as_str).is_none() {
        return Err(google_error(400, "model is not specified", Vec::new()));
    }
    if api == Api::Chat {
        match body.get("messages").and_then(Value::as_array) {
            Some(ms) if !ms.is_empty() => {
                for m in ms {
                    let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
                    if !OAI_ROLES.contains(&role) {
                        return Err(google_error(
                            400,
                            &format!("Invalid role: {role:?}"),
                            Vec::new(),
                        ));
                    }
                }
            }
            _ => return Err(google_error(400, "messages is not specified", Vec::new())),
        }
    } else if body.get("input").is_none_or(Value::is_null) {
        return Err(google_error(400, "input is not specified", Vec::new()));
    }
    Ok(())
}

/// Google's 400 for unknown JSON fields: `(name, location)` of each.
fn google_unknown(fields: &[(&str, String)]) -> Reply {
    let texts: Vec<String> = fields
        .iter()
        .map(|(name, at)| {
            if at.is_empty() {
                format!("Invalid JSON payload received. Unknown name \"{name}\": Cannot find field.")
            } else {
                format!("Invalid JSON payload received. Unknown name \"{name}\" at '{at}': Cannot find field.")
            }
        })
        .collect();
    let violations: Vec<Value> = fields
        .iter()
        .zip(&texts)
        .map(|((_, at), text)| json!({"field": at, "description": text}))
        .collect();
    google_error(
        400,
        &texts.join("\n"),
        vec![
            json!({"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": violations}),
        ],
    )
}

/// Unknown fields of `v` (proto names `allowed`) reported at `at`.
fn unknown_at<'a>(v: &'a Value, allowed: &[&str], at: &str, out: &mut Vec<(&'a str, String)>) {
    for (k, _) in obj(v) {
        if !allowed.contains(&snake(k).as_str()) {
            out.push((k.as_str(), at.to_owned()));
        }
    }
}

/// A field of `v` under either JSON spelling (`systemInstruction` / `system_instruction`).
fn either<'a>(v: &'a Value, camel: &str) -> Option<&'a Value> {
    v.get(camel).or_else(|| v.get(snake(camel).as_str()))
}

fn validate_gemini(api: Api, body: &Value) -> Result<(), Reply> {
    let mut unknown = Vec::new();
    match api {
        Api::Gemini { .. } => {
            unknown_at(body, GEMINI_GENERATE_FIELDS, "", &mut unknown);
            for (i, c) in either(body, "contents")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                unknown_at(
                    c,
                    GEMINI_CONTENT_FIELDS,
                    &format!("contents[{i}]"),
                    &mut unknown,
                );
                for (j, p) in c
                    .get("parts")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    unknown_at(
                        p,
                        GEMINI_PART_FIELDS,
                        &format!("contents[{i}].parts[{j}]"),
                        &mut unknown,
                    );
                }
            }
            if let Some(s) = either(body, "systemInstruction") {
                unknown_at(s, GEMINI_CONTENT_FIELDS, "system_instruction", &mut unknown);
                for (j, p) in s
                    .get("parts")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    unknown_at(
                        p,
                        GEMINI_PART_FIELDS,
                        &format!("system_instruction.parts[{j}]"),
                        &mut unknown,
                    );
                }
            }
            if let Some(g) = either(body, "generationConfig") {
                unknown_at(
                    g,
                    GEMINI_GENERATION_CONFIG_FIELDS,
                    "generation_config",
                    &mut unknown,
                );
            }
        }
        Api::GeminiEmbed => unknown_at(body, GEMINI_EMBED_FIELDS, "", &mut unknown),
        Api::GeminiCount => unknown_at(body, GEMINI_COUNT_FIELDS, "", &mut unknown),
        _ => {}
    }
    if !unknown.is_empty() {
        return Err(google_unknown(&unknown));
    }
    match api {
        Api::Gemini { .. } => {
            let contents = either(body, "contents").and_then(Value::as_array);
            let Some(contents) = contents.filter(|c| !c.is_empty()) else {
                return Err(google_error(
                    400,
                    "* GenerateContentRequest.contents: contents is not specified\n",
                    Vec::new(),
                ));
            };
            for (i, c) in contents.iter().enumerate() {
                let role = c.get("role").and_then(Value::as_str).unwrap_or_default();
                if !matches!(role, "" | "user" | "model") {
                    return Err(google_error(
                        400,
                        "Please use a valid role: user, model.",
                        Vec::new(),
                    ));
                }
                if c.get("parts")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty)
                {
                    return Err(google_error(
                        400,
                        &format!("* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.\n"),
                        Vec::new(),
                    ));
                }
            }
            Ok(())
        }
        Api::GeminiEmbed if body.get("content").is_none_or(Value::is_null) => Err(google_error(
            400,
            "* EmbedContentRequest.content: content is not specified\n",
            Vec::new(),
        )),
        _ => Ok(()),
    }
}

fn validate_anthropic(api: Api, body: &Value) -> Result<(), Reply> {
    let bad = |m: &str| anthropic_error(400, "invalid_request_error", m);
    let (fields, required): (&[&str], &[&str]) = if api == Api::Anthropic {
        (
            ANTHROPIC_MESSAGE_FIELDS,
            &["max_tokens", "messages", "model"],
        )
    } else {
        (ANTHROPIC_COUNT_FIELDS, &["messages", "model"])
    };
    if let Some(f) = required.iter().find(|f| body.get(**f).is_none()) {
        return Err(bad(&format!("{f}: Field required")));
    }
    if let Some(f) = unknown_field(body, fields) {
        return Err(bad(&format!("{f}: Extra inputs are not permitted")));
    }
    if body.get("model").and_then(Value::as_str).is_none() {
        return Err(bad("model: Input should be a valid string"));
    }
    if api == Api::Anthropic && body.get("max_tokens").and_then(Value::as_u64).is_none() {
        return Err(bad("max_tokens: Input should be a valid integer"));
    }
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return Err(bad("messages: Input should be a valid list"));
    };
    for (i, m) in messages.iter().enumerate() {
        match m.get("role").and_then(Value::as_str) {
            Some("user" | "assistant") => {}
            Some("system") => {
                return Err(bad("messages: Unexpected role \"system\". The Messages API accepts a top-level `system` parameter, not \"system\" as an input message role."))
            }
            Some(_) => return Err(bad(&format!("messages.{i}.role: Input should be 'user' or 'assistant'"))),
            None => return Err(bad(&format!("messages.{i}.role: Field required"))),
        }
        match m.get("content") {
            None => return Err(bad(&format!("messages.{i}.content: Field required"))),
            Some(Value::String(_)) => {}
            Some(Value::Array(blocks)) => {
                for (j, b) in blocks.iter().enumerate() {
                    match b.get("type").and_then(Value::as_str) {
                        Some(t) if ANTHROPIC_BLOCKS.contains(&t) => {}
                        Some(t) => {
                            let expected: Vec<String> =
                                ANTHROPIC_BLOCKS.iter().map(|b| format!("'{b}'")).collect();
                            return Err(bad(&format!(
                                "messages.{i}.content.{j}: Input tag '{t}' found using 'type' does not match any of the expected tags: {}",
                                expected.join(", ")
                            )));
                        }
                        None => {
                            return Err(bad(&format!(
                                "messages.{i}.content.{j}: Unable to extract tag using discriminator 'type'"
                            )))
                        }
                    }
                }
            }
            Some(_) => {
                return Err(bad(&format!(
                    "messages.{i}.content: Input should be a valid string"
                )))
            }
        }
    }
    Ok(())
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
    fn new(req: &Request, api: Api, body: &Value, id: u64, path_model: Option<&str>) -> Self {
        // (role, text) of every message the provider would tokenize.
        let mut msgs: Vec<(String, String)> = Vec::new();
        let mut model = body
            .get("model")
            .and_then(Value::as_str)
            .or(path_model)
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
            Api::Completions => match body.get("prompt") {
                Some(Value::String(s)) => msgs.push(("user".into(), s.clone())),
                Some(Value::Array(a)) => {
                    for s in a.iter().filter_map(Value::as_str) {
                        msgs.push(("user".into(), s.to_owned()));
                    }
                }
                _ => {}
            },
            Api::Models | Api::AnthropicModels | Api::GeminiModels => {}
            Api::Anthropic | Api::AnthropicCount => {
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
            Api::Gemini { .. } | Api::GeminiCount => {
                model = path_model
                    .map(str::to_owned)
                    .or_else(|| crate_model_from_path(&req.path))
                    .unwrap_or_else(|| "gemini".into());
                // countTokens may wrap a whole generateContent request.
                let body = either(body, "generateContentRequest").unwrap_or(body);
                if let Some(s) = either(body, "systemInstruction").and_then(|s| s.get("parts")) {
                    msgs.push(("system".into(), text_of(s)));
                }
                for c in either(body, "contents")
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

fn completions(c: &Ctx, body: &Value, malformed: bool) -> Reply {
    let id = format!("cmpl-fake{}", c.id);
    let created = 1_700_000_000 + c.id;
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
            json!({"id": id, "object": "text_completion", "created": created, "model": c.model,
                   "choices": [{"text": c.reply, "index": 0, "logprobs": null, "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
                             "total_tokens": c.total()}}),
        );
    }
    let include_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let chunk = |text: &str, finish: Value| {
        sse_data(
            &json!({"id": id, "object": "text_completion", "created": created, "model": c.model,
            "choices": [{"text": text, "index": 0, "logprobs": null, "finish_reason": finish}]}),
        )
    };
    let mut events: Vec<Vec<u8>> = Vec::new();
    for (j, d) in c.deltas().iter().enumerate() {
        if malformed && j == 1 {
            events.push(b"data: {\"id\": \"broken\", \"choices\": [{\"text\": \n\n".to_vec());
        }
        events.push(chunk(d, Value::Null));
    }
    events.push(chunk("", json!("stop")));
    if include_usage {
        events.push(sse_data(
            &json!({"id": id, "object": "text_completion", "created": created,
            "model": c.model, "choices": [],
            "usage": {"prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
                      "total_tokens": c.total()}}),
        ));
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
    let call_item = |k: usize, name: &str, args: &str, status: &str| {
        json!({"id": format!("fc_fake{}_{k}", c.id), "type": "function_call", "status": status,
               "arguments": args, "call_id": format!("call_{k}"), "name": name})
    };
    let mut output = vec![item.clone()];
    for (k, (name, args)) in c.tool_calls.iter().enumerate() {
        output.push(call_item(k, name, args, "completed"));
    }
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
        return json_reply(200, response("completed", Value::Array(output), usage));
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
    // Function calls: the item first (empty arguments), then the arguments in pieces.
    for (k, (name, args)) in c.tool_calls.iter().enumerate() {
        let index = k + 1;
        let item_id = format!("fc_fake{}_{k}", c.id);
        events.push(ev(
            "response.output_item.added",
            json!({"output_index": index, "item": call_item(k, name, "", "in_progress")}),
        ));
        for p in pieces(args, 5) {
            events.push(ev(
                "response.function_call_arguments.delta",
                json!({"item_id": item_id, "output_index": index, "delta": p}),
            ));
        }
        events.push(ev(
            "response.function_call_arguments.done",
            json!({"item_id": item_id, "output_index": index, "arguments": args}),
        ));
        events.push(ev(
            "response.output_item.done",
            json!({"output_index": index, "item": call_item(k, name, args, "completed")}),
        ));
    }
    events.push(ev(
        "response.completed",
        json!({"response": response("completed", Value::Array(output), usage)}),
    ));
    Reply {
        status: 200,
        content_type: "text/event-stream; charset=utf-8",
        body: Body::Sse(events),
    }
}

/// Tool arguments as a JSON object (Anthropic `input`, Gemini `args`); `{}` if they are not one.
fn args_object(args: &str) -> Value {
    match serde_json::from_str::<Value>(args) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({}),
    }
}

fn anthropic(c: &Ctx, _body: &Value, malformed: bool) -> Reply {
    let id = format!("msg_fake{}", c.id);
    // Anthropic's input_tokens excludes cache reads, which are reported separately.
    let input = c.prompt_tokens - c.cached;
    let stop_reason = if c.tool_calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    };
    let tool_id = |k: usize| format!("toolu_fake{}_{k}", c.id);
    let usage = json!({"input_tokens": input, "cache_creation_input_tokens": 0,
                       "cache_read_input_tokens": c.cached, "output_tokens": c.completion_tokens});
    if !c.stream {
        if malformed {
            return Reply {
                status: 200,
                content_type: "application/json",
                body: Body::Raw(BROKEN.to_vec()),
            };
        }
        let mut content = vec![json!({"type": "text", "text": c.reply})];
        for (k, (name, args)) in c.tool_calls.iter().enumerate() {
            content.push(json!({"type": "tool_use", "id": tool_id(k), "name": name, "input": args_object(args)}));
        }
        return json_reply(
            200,
            json!({"id": id, "type": "message", "role": "assistant", "model": c.model,
                   "content": content, "stop_reason": stop_reason, "stop_sequence": null,
                   "usage": usage}),
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
    // Tool use blocks: the block with an empty input, then the input JSON in pieces.
    for (k, (name, args)) in c.tool_calls.iter().enumerate() {
        let index = k + 1;
        events.push(sse_event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index,
                "content_block": {"type": "tool_use", "id": tool_id(k), "name": name, "input": {}}}),
        ));
        let json_args = args_object(args).to_string();
        let json_args = if json_args == "{}" {
            String::new()
        } else {
            json_args
        };
        for p in pieces(&json_args, 5) {
            events.push(sse_event(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": p}}),
            ));
        }
        events.push(sse_event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        ));
    }
    // message_delta's usage is cumulative and, as the API does today, repeats the input counts.
    events.push(sse_event(
        "message_delta",
        &json!({"type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": usage}),
    ));
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
    // Function calls come whole, in the last chunk, after the text.
    let calls: Vec<Value> = c
        .tool_calls
        .iter()
        .map(|(name, args)| json!({"functionCall": {"name": name, "args": args_object(args)}}))
        .collect();
    let chunk = |text: &str, finish: bool| {
        let mut parts = vec![json!({"text": text})];
        if finish {
            parts.extend(calls.iter().cloned());
        }
        let mut cand = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
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
