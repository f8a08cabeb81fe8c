//! Translation between LLM API shapes, hub and spoke around OpenAI chat completions.
//!
//! Every shape converts to and from OpenAI chat — requests, whole JSON answers, stream chunks,
//! errors — so any client shape reaches any provider shape through at most two steps
//! (Anthropic client → chat → Gemini provider, and back). Pure: JSON in, JSON out; the upstream
//! adapter (filters/router) does the host calls and picks the steps per attempt.
//!
//! The canonical stream is a sequence of [`Chunk`]s: OpenAI `chat.completion.chunk` objects, in
//! OpenAI's order and form —
//! * the first chunk of a choice has `delta.role = "assistant"`;
//! * text in `delta.content`; reasoning/thinking text in `delta.reasoning_content` (the de-facto
//!   extension of vLLM/DeepSeek; sinks that have no place for it drop it);
//! * a tool call starts with `delta.tool_calls[{index, id, type:"function", function:{name,
//!   arguments:""}}]`, its arguments follow as `delta.tool_calls[{index, function:{arguments}}]`;
//! * the chunk that ends a choice carries `finish_reason` (`stop`, `length`, `tool_calls`,
//!   `content_filter`) and an empty delta;
//! * a source that knows usage emits it once, last, as `{"choices":[], "usage":{prompt_tokens,
//!   completion_tokens, total_tokens, prompt_tokens_details:{cached_tokens},
//!   completion_tokens_details:{reasoning_tokens}}}` (prompt tokens include cached ones);
//! * a provider's in-stream error becomes `{"error":{"message","type","code"}}`;
//! * [`Chunk::Done`] only when the provider's stream really completed (never on a cut stream).

pub mod anthropic;
pub mod gemini;
pub mod responses;

use serde_json::Value;

/// A request feature that has no equivalent at the target: answered 400 in OpenAI's error shape
/// (`invalid_request_error`, code `unsupported_feature`), never dropped silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untranslatable {
    /// Human-readable message naming the feature (e.g. "`previous_response_id` is not supported
    /// when this model is served by anthropic").
    pub message: String,
    /// The request field at fault (`previous_response_id`, `tools[2].type`, ...).
    pub param: Option<String>,
}

impl Untranslatable {
    /// An error for `param` with `message`.
    pub fn new(param: &str, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            param: Some(param.to_owned()),
        }
    }

    /// `param` has no equivalent at `provider`.
    pub fn unsupported_at(param: &str, provider: &str) -> Self {
        Self::new(
            param,
            format!("`{param}` is not supported when this model is served by {provider}"),
        )
    }

    /// `param` is malformed: "`param` <what>".
    pub fn invalid(param: &str, what: &str) -> Self {
        Self::new(param, format!("`{param}` {what}"))
    }
}

/// The in-stream error chunk for a provider event that is not JSON: part of the answer is lost,
/// so sources end the stream with this instead of completing it.
pub fn unreadable_event() -> Value {
    serde_json::json!({"error": {
        "message": "The provider sent a stream event that is not JSON; the answer is incomplete.",
        "type": "server_error", "code": "provider_answer_invalid"}})
}

/// `data:<mime>[;params];base64,<data>` → (mime, data); the scheme's case is ignored and only
/// base64 data is accepted (both Anthropic and Gemini take base64). The mime may be empty.
pub fn data_url(url: &str) -> Option<(&str, &str)> {
    let rest = strip_prefix_ci(url, "data:")?;
    let (meta, data) = rest.split_once(',')?;
    let meta = meta.strip_suffix(";base64")?;
    let mime = meta.split(';').next().unwrap_or_default().trim();
    (!data.is_empty()).then_some((mime, data))
}

/// True for an `http://` or `https://` URL (scheme case ignored).
pub fn is_http_url(url: &str) -> bool {
    strip_prefix_ci(url, "https://").is_some() || strip_prefix_ci(url, "http://").is_some()
}

/// `prefix` at the start of `s`, ASCII case ignored (URL schemes).
pub fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// A provider's error answer, translated: status and body in the target shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorOut {
    /// HTTP status to answer with.
    pub status: u16,
    /// Error body (`{"error":{"message","type","param","code"}}` for OpenAI).
    pub body: Value,
}

/// Settings of a translation to Anthropic Messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnthropicOptions {
    /// `max_tokens` when the client sent neither `max_tokens` nor `max_completion_tokens`
    /// (Anthropic requires it).
    pub default_max_tokens: u64,
}

impl Default for AnthropicOptions {
    fn default() -> Self {
        Self {
            default_max_tokens: 4096,
        }
    }
}

/// One step of the canonical stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Chunk {
    /// A `chat.completion.chunk` object (or an in-stream `{"error":...}`).
    Data(Value),
    /// The stream completed (OpenAI's `data: [DONE]`).
    Done,
}

/// Turns a provider's SSE stream into canonical chunks (one per provider shape).
pub trait ChunkSource {
    /// One SSE event from the provider: its `event:` name and its `data:` text.
    fn event(&mut self, name: Option<&str>, data: &str, out: &mut Vec<Chunk>);
    /// The provider's stream ended (completed or cut); emit what is still owed (e.g. the usage
    /// chunk and [`Chunk::Done`] of a stream that completed).
    fn end(&mut self, out: &mut Vec<Chunk>);
}

/// One SSE event to write to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseOut {
    /// `event:` line, if the shape uses one (Anthropic, Responses).
    pub event: Option<String>,
    /// `data:` payload (JSON text, or `[DONE]`).
    pub data: String,
}

impl SseOut {
    /// Appends this event in SSE framing (`event: x\ndata: y\n\n`).
    pub fn write(&self, out: &mut Vec<u8>) {
        if let Some(e) = &self.event {
            out.extend_from_slice(b"event: ");
            out.extend_from_slice(e.as_bytes());
            out.push(b'\n');
        }
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(self.data.as_bytes());
        out.extend_from_slice(b"\n\n");
    }
}

/// Renders canonical chunks as a client shape's stream (one per client shape).
pub trait ChunkSink {
    /// One canonical chunk.
    fn chunk(&mut self, c: &Chunk, out: &mut Vec<SseOut>);
    /// The stream ended: a completed stream has been seen ([`Chunk::Done`]) or not (cut); a cut
    /// stream must not be made to look complete.
    fn end(&mut self, out: &mut Vec<SseOut>);
}

/// Longest id or model name taken from a provider's answer into the chunks and events of a
/// translation; longer ones are cut at a character boundary. Real ones are far shorter (under
/// 100 bytes). Sources copy the message's id and model into every chunk (and the Responses sink
/// the id into every item id): unbounded, one long id times many small events made the output
/// grow with their product.
pub const MAX_COPIED_ID_BYTES: usize = 128;

/// `s` cut to at most [`MAX_COPIED_ID_BYTES`] (at a character boundary).
pub fn clip_id(s: &str) -> &str {
    let mut end = s.len().min(MAX_COPIED_ID_BYTES);
    while !s.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    s.get(..end).unwrap_or_default()
}

/// Usage in OpenAI chat's form from the four counts every provider reports in some form.
pub fn chat_usage(prompt: u64, completion: u64, cached: u64, reasoning: u64) -> Value {
    serde_json::json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt.saturating_add(completion),
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    })
}

/// The four counts of an OpenAI chat `usage` object (missing fields are 0):
/// (prompt, completion, cached, reasoning).
pub fn usage_counts(usage: &Value) -> (u64, u64, u64, u64) {
    let n = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
    (
        n(usage.get("prompt_tokens")),
        n(usage.get("completion_tokens")),
        n(usage.pointer("/prompt_tokens_details/cached_tokens")),
        n(usage.pointer("/completion_tokens_details/reasoning_tokens")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_and_http_urls() {
        assert_eq!(
            data_url("DATA:image/png;base64,AAAA"),
            Some(("image/png", "AAAA"))
        );
        assert_eq!(
            data_url("data:image/png;name=x.png;base64,AA"),
            Some(("image/png", "AA"))
        );
        assert_eq!(data_url("data:;base64,AA"), Some(("", "AA")));
        assert_eq!(data_url("data:image/png,rawtext"), None);
        assert_eq!(data_url("data:image/png;base64,"), None);
        assert!(is_http_url("HTTPS://x/y.png") && is_http_url("http://x"));
        assert!(!is_http_url("ftp://x") && !is_http_url("htt"));
        assert_eq!(
            Untranslatable::unsupported_at("n", "anthropic").message,
            "`n` is not supported when this model is served by anthropic"
        );
    }
}
