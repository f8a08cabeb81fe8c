//! One attempt's translation: the client's request into the shape its provider speaks, and the
//! provider's answer back into the client's shape (JSON, SSE stream, or error). Pure: the upstream
//! adapter (glue.rs) feeds it bytes and applies what it returns.
//!
//! Shapes meet in OpenAI chat (`tollgate_core::translate`): an Anthropic client served by Gemini
//! goes Anthropic → chat → Gemini, and its answer Gemini → chat → Anthropic. A request whose shape
//! the provider speaks passes untranslated (only `model` is set).

use crate::provider::{openai_op, upstream_model, Auth, Provider, Wire};
use serde_json::{json, Value};
use tollgate_core::api::ApiKind;
use tollgate_core::sse::{SseEvent, SseParser};
use tollgate_core::translate::{
    anthropic, gemini, responses, unreadable_event, AnthropicOptions, Chunk, ChunkSink,
    ChunkSource, ErrorOut, SseOut, Untranslatable,
};

/// Why an attempt cannot be sent: answered 400 in OpenAI's error shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Message naming the feature or API.
    pub message: String,
    /// Field at fault.
    pub param: Option<String>,
    /// Error code.
    pub code: &'static str,
}

impl Refusal {
    /// The OpenAI-shaped error body.
    pub fn body(&self) -> String {
        json!({"error": {"message": self.message, "type": "invalid_request_error",
            "param": self.param, "code": self.code}})
        .to_string()
    }
}

impl From<Untranslatable> for Refusal {
    fn from(u: Untranslatable) -> Self {
        Refusal {
            message: u.message,
            param: u.param,
            code: "unsupported_feature",
        }
    }
}

/// What the answer of a translated attempt needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    /// The client's shape.
    pub client: Wire,
    /// The provider's shape.
    pub provider: Wire,
    /// The client asked for a stream.
    pub stream: bool,
    /// A chat client asked for the usage chunk (`stream_options.include_usage`).
    pub include_usage: bool,
    /// The model the provider was asked for.
    pub model: String,
    /// A Responses client's request (its answer echoes the request's settings).
    pub request: Option<Value>,
}

/// An attempt's request, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// `:path` at the provider.
    pub path: String,
    /// Credential style.
    pub auth: Auth,
    /// The body to send (`None`: unchanged).
    pub body: Option<Vec<u8>>,
    /// The upstream model.
    pub model: String,
    /// Set when the answer must be translated back.
    pub translation: Option<Translation>,
    /// The provider's shape.
    pub provider_wire: Wire,
}

/// Prepares one attempt of a request of `kind` (body `raw`, complete) for provider `p`.
pub fn prepare(
    p: &Provider,
    kind: ApiKind,
    endpoint_model: Option<&str>,
    raw: &[u8],
) -> Result<Prepared, Refusal> {
    let client = Wire::of_client(kind);
    let target = p.target(client).map_err(|message| Refusal {
        message,
        param: None,
        code: "unsupported_api_for_model",
    })?;
    let mut v: Value = serde_json::from_slice(raw).unwrap_or(Value::Null);
    if !v.is_object() {
        return Err(Refusal {
            message: "The request body must be a JSON object.".into(),
            param: None,
            code: "invalid_request_body",
        });
    }
    let requested = v
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let model = upstream_model(endpoint_model, &requested).to_owned();
    let stream = v.get("stream").and_then(Value::as_bool) == Some(true);
    let op = openai_op(kind);
    if target == client || target == Wire::Other {
        set_model(&mut v, &model);
        return Ok(Prepared {
            path: p.path(target, op, &model, stream),
            auth: p.auth_style(target),
            body: serde_json::to_vec(&v).ok(),
            model,
            translation: None,
            provider_wire: target,
        });
    }
    let mut request = None;
    let chat = match client {
        Wire::Chat => v,
        Wire::Responses => {
            let chat = responses::request_to_chat(&v)?;
            request = Some(v);
            chat
        }
        Wire::Anthropic => anthropic::request_to_chat(&v)?,
        Wire::Gemini | Wire::Other => {
            return Err(Refusal {
                message: "This API cannot be translated.".into(),
                param: None,
                code: "unsupported_api_for_model",
            })
        }
    };
    let include_usage = chat
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    let mut out = match target {
        Wire::Anthropic => anthropic::request_from_chat(
            &chat,
            &AnthropicOptions {
                default_max_tokens: p.default_max_tokens,
            },
        )?,
        Wire::Gemini => gemini::request_from_chat(&chat)?,
        _ => chat,
    };
    if target != Wire::Gemini {
        set_model(&mut out, &model);
    }
    Ok(Prepared {
        path: p.path(target, op, &model, stream),
        auth: p.auth_style(target),
        body: serde_json::to_vec(&out).ok(),
        model: model.clone(),
        translation: Some(Translation {
            client,
            provider: target,
            stream,
            include_usage,
            model,
            request,
        }),
        provider_wire: target,
    })
}

fn set_model(v: &mut Value, model: &str) {
    if let Some(o) = v.as_object_mut() {
        o.insert("model".into(), Value::String(model.to_owned()));
    }
}

/// How a translated answer is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// An SSE stream, translated event by event.
    Stream,
    /// A whole JSON answer.
    Whole,
    /// An error answer (whole).
    Error,
    /// Bytes Tollgate cannot read (an encoded answer): replaced by an error.
    Unreadable,
}

/// Header edits of a translated answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadEdits {
    /// New `:status`, if it changes.
    pub status: Option<u16>,
    /// `content-type` of the translated answer.
    pub content_type: &'static str,
}

/// Translates one attempt's answer back to the client's shape.
pub struct AnswerTranslator {
    t: Translation,
    /// Unix seconds for `created` where the provider's answer has no time (Anthropic, Gemini).
    created: u64,
    mode: Mode,
    status: u16,
    /// A success answer turned out not to be JSON.
    invalid: bool,
    parser: SseParser,
    source: Box<dyn ChunkSource>,
    sink: Box<dyn ChunkSink>,
}

impl AnswerTranslator {
    /// A translator for `t`; `created` (Unix seconds) dates answers that carry no time.
    pub fn new(t: Translation, created: u64) -> Self {
        let source: Box<dyn ChunkSource> = match t.provider {
            Wire::Anthropic => Box::new(anthropic::Source::new(created)),
            Wire::Gemini => Box::new(gemini::Source::new(&t.model)),
            _ => Box::new(ChatSource::default()),
        };
        let sink: Box<dyn ChunkSink> = match t.client {
            Wire::Anthropic => Box::new(anthropic::Sink::default()),
            Wire::Responses => Box::new(
                t.request
                    .as_ref()
                    .map_or_else(responses::Sink::default, responses::Sink::new),
            ),
            _ => Box::new(ChatSink {
                include_usage: t.include_usage,
            }),
        };
        Self {
            t,
            created,
            mode: Mode::Whole,
            status: 200,
            invalid: false,
            parser: SseParser::default(),
            source,
            sink,
        }
    }

    /// Decides how to read the answer from its status and headers.
    pub fn headers(
        &mut self,
        status: u16,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
    ) -> HeadEdits {
        self.status = status;
        let encoded = content_encoding
            .map(str::trim)
            .is_some_and(|e| !e.is_empty() && !e.eq_ignore_ascii_case("identity"));
        let sse = content_type.is_some_and(|c| {
            c.trim_start()
                .get(..17)
                .is_some_and(|p| p.eq_ignore_ascii_case("text/event-stream"))
        });
        self.mode = if encoded {
            Mode::Unreadable
        } else if !(200..300).contains(&status) {
            Mode::Error
        } else if sse {
            Mode::Stream
        } else {
            Mode::Whole
        };
        match self.mode {
            Mode::Stream => HeadEdits {
                status: None,
                content_type: "text/event-stream",
            },
            Mode::Whole => HeadEdits {
                status: None,
                content_type: "application/json",
            },
            Mode::Error => {
                let mapped = self.error(b"").status;
                HeadEdits {
                    status: (mapped != status).then_some(mapped),
                    content_type: "application/json",
                }
            }
            Mode::Unreadable => HeadEdits {
                status: Some(502),
                content_type: "application/json",
            },
        }
    }

    /// The mode chosen by [`AnswerTranslator::headers`].
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Translates the next piece of a stream (`end`: the provider's stream ended).
    pub fn stream(&mut self, piece: &[u8], end: bool) -> Vec<u8> {
        let mut chunks = Vec::new();
        let mut events = Vec::new();
        self.parser.feed(piece, &mut events);
        if end {
            events.extend(self.parser.finish());
        }
        self.source_events(&mut events, &mut chunks);
        if end {
            self.source.end(&mut chunks);
        }
        for c in chunks.iter_mut() {
            if let Chunk::Data(v) = c {
                self.date(v);
            }
        }
        let mut outs: Vec<SseOut> = Vec::new();
        for c in &chunks {
            self.sink.chunk(c, &mut outs);
        }
        if end {
            self.sink.end(&mut outs);
        }
        let mut bytes = Vec::new();
        for o in &outs {
            o.write(&mut bytes);
        }
        bytes
    }

    /// Feeds parsed events to the source (and drops them).
    fn source_events(&mut self, events: &mut Vec<SseEvent>, chunks: &mut Vec<Chunk>) {
        for ev in events.drain(..) {
            if let Some(d) = ev.data.as_deref() {
                self.source.event(ev.event.as_deref(), d, chunks);
            }
        }
    }

    /// Translates a whole answer (JSON or error).
    pub fn whole(&mut self, body: &[u8]) -> Vec<u8> {
        match self.mode {
            Mode::Error => self.error(body).body.to_string().into_bytes(),
            Mode::Unreadable => self.failure(
                "The provider sent an encoded answer that Tollgate cannot translate.",
                "provider_answer_unreadable",
            ),
            Mode::Stream | Mode::Whole => match serde_json::from_slice::<Value>(body) {
                Ok(v) if v.is_object() => self.answer(&v).to_string().into_bytes(),
                _ => {
                    self.invalid = true;
                    self.failure(
                        "The provider's answer is not valid JSON.",
                        "provider_answer_invalid",
                    )
                }
            },
        }
    }

    /// The status a whole answer must go out with, once [`AnswerTranslator::whole`] has read it:
    /// a success whose body could not be read is a 502 (the adapter holds the headers of whole
    /// answers until then).
    pub fn final_status(&self) -> Option<u16> {
        self.invalid.then_some(502)
    }

    /// An answer Tollgate cannot read, as a server error in the client's error shape.
    fn failure(&self, message: &str, code: &str) -> Vec<u8> {
        let openai = openai_error(message, "server_error", code);
        match self.t.client {
            Wire::Anthropic => anthropic::error_from_openai(502, &openai)
                .body
                .to_string()
                .into_bytes(),
            _ => openai,
        }
    }

    /// Sets `created` on a chat object that has none (0).
    fn date(&self, v: &mut Value) {
        if let Some(o) = v.as_object_mut() {
            if o.get("created").and_then(Value::as_u64) == Some(0) {
                o.insert("created".into(), Value::from(self.created));
            }
        }
    }

    fn answer(&self, v: &Value) -> Value {
        let mut chat = match self.t.provider {
            Wire::Anthropic => anthropic::answer_to_chat_at(v, self.created),
            Wire::Gemini => gemini::answer_to_chat(v, &self.t.model),
            _ => v.clone(),
        };
        self.date(&mut chat);
        match self.t.client {
            Wire::Anthropic => anthropic::answer_from_chat(&chat),
            Wire::Responses => match &self.t.request {
                Some(r) => responses::answer_from_chat_for(&chat, r),
                None => responses::answer_from_chat(&chat),
            },
            _ => chat,
        }
    }

    /// The provider's error in OpenAI's shape, then in the client's. A status that is not an
    /// error (1xx, 3xx: nothing a translated request can follow) is answered as 502.
    fn error(&self, body: &[u8]) -> ErrorOut {
        let status = if (400..=599).contains(&self.status) {
            self.status
        } else {
            502
        };
        let openai = match self.t.provider {
            Wire::Anthropic => anthropic::error_to_openai(status, body),
            Wire::Gemini => gemini::error_to_openai(status, body),
            _ => openai_error_out(status, body),
        };
        match self.t.client {
            Wire::Anthropic => {
                let b = openai.body.to_string();
                anthropic::error_from_openai(openai.status, b.as_bytes())
            }
            _ => openai,
        }
    }
}

/// An OpenAI-shaped provider's error, kept when it has the shape (a missing or non-string
/// `message` or `type` filled in, so clients always find both), wrapped otherwise (a bare string
/// `error`, as some OpenAI-compatible servers send, becomes the message).
fn openai_error_out(status: u16, body: &[u8]) -> ErrorOut {
    let mut v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let kind = if status >= 500 {
        "server_error"
    } else {
        "invalid_request_error"
    };
    let fallback = format!("The provider answered with status {status}.");
    if let Some(err) = v.get_mut("error").and_then(Value::as_object_mut) {
        if !err.get("message").is_some_and(Value::is_string) {
            err.insert("message".into(), Value::String(fallback));
        }
        if !err.get("type").is_some_and(Value::is_string) {
            err.insert("type".into(), Value::from(kind));
        }
        return ErrorOut { status, body: v };
    }
    let message = v
        .get("error")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .map_or(fallback, str::to_owned);
    ErrorOut {
        status,
        body: json!({"error": {"message": message, "type": kind, "param": null, "code": null}}),
    }
}

fn openai_error(message: &str, kind: &str, code: &str) -> Vec<u8> {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
        .to_string()
        .into_bytes()
}

/// An OpenAI chat stream as canonical chunks (the identity source).
#[derive(Default)]
struct ChatSource {
    /// An event was not JSON: the answer is incomplete and must not be completed.
    failed: bool,
}

impl ChunkSource for ChatSource {
    fn event(&mut self, _name: Option<&str>, data: &str, out: &mut Vec<Chunk>) {
        if self.failed {
            return;
        }
        if data.trim() == "[DONE]" {
            out.push(Chunk::Done);
        } else if let Ok(v) = serde_json::from_str::<Value>(data) {
            out.push(Chunk::Data(v));
        } else {
            out.push(Chunk::Data(unreadable_event()));
            self.failed = true;
        }
    }
    fn end(&mut self, _out: &mut Vec<Chunk>) {}
}

/// Canonical chunks as an OpenAI chat stream; the usage chunk only when the client asked.
struct ChatSink {
    include_usage: bool,
}

impl ChunkSink for ChatSink {
    fn chunk(&mut self, c: &Chunk, out: &mut Vec<SseOut>) {
        match c {
            Chunk::Done => out.push(SseOut {
                event: None,
                data: "[DONE]".into(),
            }),
            Chunk::Data(v) => {
                let usage_only = v.get("usage").is_some_and(|u| !u.is_null())
                    && v.get("choices")
                        .and_then(Value::as_array)
                        .is_some_and(Vec::is_empty);
                if usage_only && !self.include_usage {
                    return;
                }
                out.push(SseOut {
                    event: None,
                    data: v.to_string(),
                });
            }
        }
    }
    fn end(&mut self, _out: &mut Vec<SseOut>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(json: &str) -> Provider {
        match serde_json::from_str(json) {
            Ok(p) => p,
            Err(e) => unreachable!("{e}"),
        }
    }

    fn prepared(p: &Provider, kind: ApiKind, body: Value) -> Prepared {
        match prepare(p, kind, Some("claude-x"), body.to_string().as_bytes()) {
            Ok(p) => p,
            Err(r) => unreachable!("{r:?}"),
        }
    }

    #[test]
    fn chat_to_anthropic_and_back_streamed_in_any_split() {
        let p = provider(r#"{"family":"anthropic"}"#);
        let body = json!({"model": "anthropic/claude", "stream": true,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]});
        let prep = prepared(&p, ApiKind::ChatCompletions, body);
        assert_eq!(prep.path, "/v1/messages");
        assert_eq!(prep.auth, Auth::XApiKey);
        let sent: Value =
            serde_json::from_slice(&prep.body.unwrap_or_default()).unwrap_or_default();
        assert_eq!(sent["model"], "claude-x");
        assert_eq!(sent["system"], "Be brief.");
        let Some(t) = prep.translation else {
            unreachable!("translated")
        };
        let stream = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
        )
        .as_bytes();
        for size in [1, 7, stream.len()] {
            let mut a = AnswerTranslator::new(t.clone(), 1);
            let edits = a.headers(200, Some("text/event-stream"), None);
            assert_eq!(edits.status, None);
            let mut out = Vec::new();
            let pieces: Vec<&[u8]> = stream.chunks(size).collect();
            for (i, piece) in pieces.iter().enumerate() {
                out.extend(a.stream(piece, i + 1 == pieces.len()));
            }
            let text = String::from_utf8(out).unwrap_or_default();
            let datas: Vec<Value> = text
                .split("\n\n")
                .filter_map(|e| e.strip_prefix("data: "))
                .filter(|d| *d != "[DONE]")
                .filter_map(|d| serde_json::from_str(d).ok())
                .collect();
            let content: String = datas
                .iter()
                .filter_map(|d| {
                    d.pointer("/choices/0/delta/content")
                        .and_then(Value::as_str)
                })
                .collect();
            assert_eq!(content, "Hello", "{text}");
            assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
            let usage = datas
                .iter()
                .find_map(|d| d.get("usage").filter(|u| !u.is_null()));
            assert_eq!(usage.and_then(|u| u["prompt_tokens"].as_u64()), Some(5));
            assert_eq!(usage.and_then(|u| u["completion_tokens"].as_u64()), Some(2));
        }
    }

    #[test]
    fn usage_chunk_only_when_the_chat_client_asked() {
        let p = provider(r#"{"family":"anthropic"}"#);
        let body =
            json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
        let prep = prepared(&p, ApiKind::ChatCompletions, body);
        let Some(t) = prep.translation else {
            unreachable!("translated")
        };
        assert!(!t.include_usage);
        let mut a = AnswerTranslator::new(t, 1);
        a.headers(200, Some("text/event-stream"), None);
        let out = a.stream(
            b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"m\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
            true,
        );
        let text = String::from_utf8(out).unwrap_or_default();
        assert!(!text.contains("\"usage\""), "{text}");
        assert!(text.ends_with("data: [DONE]\n\n"));
    }

    #[test]
    fn errors_take_the_clients_shape_and_status() {
        let p = provider(r#"{"family":"anthropic"}"#);
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        let Some(t) = prepared(&p, ApiKind::ChatCompletions, body).translation else {
            unreachable!("translated")
        };
        let mut a = AnswerTranslator::new(t, 1);
        let e = a.headers(529, Some("application/json"), None);
        assert_eq!(e.status, Some(503));
        let out: Value = serde_json::from_slice(&a.whole(
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ))
        .unwrap_or_default();
        assert_eq!(out["error"]["message"], "Overloaded");

        // An Anthropic client served by OpenAI gets Anthropic's error shape.
        let oai = provider(r#"{}"#);
        let body =
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
        let Some(t) = prepared(&oai, ApiKind::AnthropicMessages, body).translation else {
            unreachable!("translated")
        };
        let mut a = AnswerTranslator::new(t, 1);
        a.headers(429, Some("application/json"), None);
        let out: Value = serde_json::from_slice(&a.whole(
            br#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#,
        ))
        .unwrap_or_default();
        assert_eq!(out["type"], "error");
        assert_eq!(out["error"]["type"], "rate_limit_error");

        // An encoded answer cannot be read: a clear 502, never garbage.
        let mut a = AnswerTranslator::new(
            Translation {
                client: Wire::Chat,
                provider: Wire::Gemini,
                stream: false,
                include_usage: false,
                model: "g".into(),
                request: None,
            },
            1,
        );
        assert_eq!(
            a.headers(200, Some("application/json"), Some("gzip"))
                .status,
            Some(502)
        );
        let out: Value = serde_json::from_slice(&a.whole(b"\x1f\x8b")).unwrap_or_default();
        assert_eq!(out["error"]["code"], "provider_answer_unreadable");
    }

    #[test]
    fn a_large_piece_of_many_events_translates_as_its_events_do() {
        // Found by the translate_stream fuzz target: one piece of ~20k small events made the
        // SSE parser hold gigabytes (each event's raw bytes kept the capacity of everything
        // pending). The piece is now parsed in slices; the output must not change.
        let t = Translation {
            client: Wire::Chat,
            provider: Wire::Gemini,
            stream: true,
            include_usage: false,
            model: "g".into(),
            request: None,
        };
        let event = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]}}]}\n\n";
        let piece = event.repeat(20_000);
        let mut a = AnswerTranslator::new(t.clone(), 1);
        a.headers(200, Some("text/event-stream"), None);
        let whole = a.stream(piece.as_bytes(), true);
        let mut b = AnswerTranslator::new(t, 1);
        b.headers(200, Some("text/event-stream"), None);
        let mut each = Vec::new();
        for _ in 0..20_000 {
            each.extend(b.stream(event.as_bytes(), false));
        }
        each.extend(b.stream(b"", true));
        assert_eq!(whole, each);
        assert_eq!(
            String::from_utf8_lossy(&whole)
                .matches("\"content\":\"x\"")
                .count(),
            20_000
        );
    }

    #[test]
    fn chat_provider_errors_always_have_message_and_type() {
        // Found by the translate_answer fuzz target: `{"error":{}}` from an OpenAI-compatible
        // provider reached the client without `message`.
        let mut a = AnswerTranslator::new(
            Translation {
                client: Wire::Responses,
                provider: Wire::Chat,
                stream: false,
                include_usage: false,
                model: "m".into(),
                request: None,
            },
            1,
        );
        a.headers(402, Some("application/json"), None);
        let out: Value =
            serde_json::from_slice(&a.whole(br#"{"error":{"code":7,"x":[]}}"#)).unwrap_or_default();
        assert_eq!(
            out["error"]["message"],
            "The provider answered with status 402."
        );
        assert_eq!(out["error"]["type"], "invalid_request_error");
        assert_eq!(out["error"]["code"], 7);
        let out: Value = serde_json::from_slice(&a.whole(br#"{"error":"model not loaded"}"#))
            .unwrap_or_default();
        assert_eq!(out["error"]["message"], "model not loaded");
        let kept = br#"{"error":{"message":"m","type":"t","param":null,"code":"c"}}"#;
        let out: Value = serde_json::from_slice(&a.whole(kept)).unwrap_or_default();
        assert_eq!(
            out,
            serde_json::from_slice::<Value>(kept).unwrap_or_default()
        );
    }

    #[test]
    fn non_error_statuses_outside_2xx_become_502() {
        // Found by the translate_answer fuzz target: a provider's 301 reached the client as a
        // 301 with an error body.
        for client in [Wire::Chat, Wire::Anthropic, Wire::Responses] {
            for status in [101, 301, 304] {
                let mut a = AnswerTranslator::new(
                    Translation {
                        client,
                        provider: Wire::Anthropic,
                        stream: false,
                        include_usage: false,
                        model: "m".into(),
                        request: None,
                    },
                    1,
                );
                assert_eq!(a.headers(status, Some("text/html"), None).status, Some(502));
                assert_eq!(a.mode(), Mode::Error);
                let out: Value =
                    serde_json::from_slice(&a.whole(b"<html>moved</html>")).unwrap_or_default();
                assert!(out["error"]["message"].is_string(), "{out}");
            }
        }
    }

    #[test]
    fn unreadable_answers_take_the_clients_error_shape() {
        // Found by the translate_answer fuzz target: an Anthropic client got OpenAI's shape.
        let t = |client| Translation {
            client,
            provider: Wire::Gemini,
            stream: false,
            include_usage: false,
            model: "g".into(),
            request: None,
        };
        let mut a = AnswerTranslator::new(t(Wire::Anthropic), 1);
        a.headers(200, Some("application/json"), None);
        let out: Value = serde_json::from_slice(&a.whole(b"not json")).unwrap_or_default();
        assert_eq!(out["type"], "error");
        assert_eq!(out["error"]["type"], "api_error");
        assert!(out["error"]["message"].is_string());
        let mut a = AnswerTranslator::new(t(Wire::Anthropic), 1);
        assert_eq!(a.headers(200, None, Some("br")).status, Some(502));
        let out: Value = serde_json::from_slice(&a.whole(b"\x1f")).unwrap_or_default();
        assert_eq!(out["error"]["type"], "api_error");
        let mut a = AnswerTranslator::new(t(Wire::Responses), 1);
        a.headers(200, Some("application/json"), None);
        let out: Value = serde_json::from_slice(&a.whole(b"[]")).unwrap_or_default();
        assert_eq!(out["error"]["code"], "provider_answer_invalid");
    }

    #[test]
    fn passthrough_sets_only_the_model_and_refusals_name_the_feature() {
        let oai = provider(r#"{}"#);
        let prep = prepared(
            &oai,
            ApiKind::Responses,
            json!({"model": "openai/gpt", "input": "hi"}),
        );
        assert!(prep.translation.is_none());
        assert_eq!(prep.path, "/v1/responses");
        let an = provider(r#"{"family":"anthropic"}"#);
        let r = prepare(
            &an,
            ApiKind::Embeddings,
            None,
            br#"{"model":"m","input":"x"}"#,
        );
        assert_eq!(r.err().map(|r| r.code), Some("unsupported_api_for_model"));
        let r = prepare(&an, ApiKind::ChatCompletions, None, b"[1]");
        assert_eq!(r.err().map(|r| r.code), Some("invalid_request_body"));
        let r = prepare(
            &an,
            ApiKind::ChatCompletions,
            None,
            br#"{"model":"m","n":3,"messages":[{"role":"user","content":"x"}]}"#,
        );
        let r = r.err();
        assert_eq!(r.as_ref().map(|r| r.code), Some("unsupported_feature"));
        assert_eq!(r.and_then(|r| r.param), Some("n".to_owned()));
    }
}

#[cfg(test)]
mod status_tests {
    use super::*;

    #[test]
    fn a_success_that_is_not_json_goes_out_as_502() {
        let t = Translation {
            client: Wire::Responses,
            provider: Wire::Gemini,
            stream: false,
            include_usage: false,
            model: "g".into(),
            request: None,
        };
        let mut a = AnswerTranslator::new(t.clone(), 1);
        assert_eq!(a.headers(200, Some("application/json"), None).status, None);
        let out: Value =
            serde_json::from_slice(&a.whole(b"{\"candidates\": [")).unwrap_or_default();
        assert_eq!(out["error"]["code"], "provider_answer_invalid");
        assert_eq!(a.final_status(), Some(502));
        let mut b = AnswerTranslator::new(t, 1);
        b.headers(200, Some("application/json"), None);
        let _ = b.whole(br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]},"finishReason":"STOP"}]}"#);
        assert_eq!(b.final_status(), None);
    }
}
