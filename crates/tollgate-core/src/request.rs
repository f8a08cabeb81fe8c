//! What an LLM request asks for, read once from its body; and the one rewrite the emitter needs.

use crate::api::{gemini_model_from_path, ApiKind};
use serde_json::{Map, Value};

/// Facts about a request that accounting and policy need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFacts {
    /// Model the client asked for.
    pub model: Option<String>,
    /// The client asked for a streamed (SSE) answer.
    pub stream: bool,
    /// The client already asked for the usage chunk (`stream_options.include_usage`).
    pub include_usage: bool,
}

/// The request body is not a JSON object of the API's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAnLlmRequest;

/// A request body's facts; the body itself is only re-parsed if it must be rewritten.
#[derive(Debug)]
pub struct ParsedRequest {
    /// What the request asks for.
    pub facts: RequestFacts,
    kind: ApiKind,
}

impl ParsedRequest {
    /// Reads the facts of a request of `kind` sent to `path` (strict: see [`crate::body`]).
    pub fn parse(kind: ApiKind, path: &str, body: &[u8]) -> Result<Self, NotAnLlmRequest> {
        let doc = crate::body::parse_body(body).map_err(|_| NotAnLlmRequest)?;
        Self::from_doc(kind, path, &doc)
    }

    /// The facts of a parsed request body of `kind` sent to `path`.
    pub fn from_doc(kind: ApiKind, path: &str, doc: &Value) -> Result<Self, NotAnLlmRequest> {
        if !doc.is_object() {
            return Err(NotAnLlmRequest);
        }
        let model = match kind {
            ApiKind::GeminiGenerate | ApiKind::GeminiStreamGenerate | ApiKind::GeminiEmbed => {
                gemini_model_from_path(path).map(str::to_owned)
            }
            _ => doc.get("model").and_then(Value::as_str).map(str::to_owned),
        };
        let stream = match kind {
            ApiKind::GeminiStreamGenerate => true,
            ApiKind::GeminiGenerate | ApiKind::GeminiEmbed | ApiKind::Embeddings => false,
            _ => doc.get("stream").and_then(Value::as_bool).unwrap_or(false),
        };
        let include_usage = doc
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(Self {
            facts: RequestFacts {
                model,
                stream,
                include_usage,
            },
            kind,
        })
    }

    /// A streamed OpenAI chat/completions request that would not get a usage chunk.
    pub fn lacks_stream_usage(&self) -> bool {
        matches!(self.kind, ApiKind::ChatCompletions | ApiKind::Completions)
            && self.facts.stream
            && !self.facts.include_usage
    }
}

/// Sets `stream_options.include_usage = true` in a request object; `false` if it is not an object.
pub fn set_include_usage(doc: &mut Value) -> bool {
    let Value::Object(doc) = doc else {
        return false;
    };
    let opts = doc
        .entry("stream_options")
        .or_insert_with(|| Value::Object(Map::new()));
    if !opts.is_object() {
        *opts = Value::Object(Map::new());
    }
    if let Value::Object(o) = opts {
        o.insert("include_usage".into(), Value::Bool(true));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body with `include_usage` set, serialised (what the pipeline writes).
    fn with_include_usage(body: &[u8]) -> Option<Vec<u8>> {
        let mut doc = crate::body::parse_body(body).ok()?;
        set_include_usage(&mut doc).then_some(())?;
        serde_json::to_vec(&doc).ok()
    }

    #[test]
    fn reads_chat_request() {
        let body = br#"{"model":"gpt-4o","stream":true,"messages":[],"x_vendor":{"a":1}}"#;
        let p = ParsedRequest::parse(ApiKind::ChatCompletions, "/v1/chat/completions", body)
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(p.facts.model.as_deref(), Some("gpt-4o"));
        assert!(p.facts.stream && !p.facts.include_usage && p.lacks_stream_usage());
        let out =
            String::from_utf8(with_include_usage(body).unwrap_or_default()).unwrap_or_default();
        assert_eq!(
            out,
            r#"{"model":"gpt-4o","stream":true,"messages":[],"x_vendor":{"a":1},"stream_options":{"include_usage":true}}"#
        );
    }

    #[test]
    fn keeps_other_stream_options() {
        let body = br#"{"model":"m","stream":true,"stream_options":{"include_obfuscation":false}}"#;
        let out =
            String::from_utf8(with_include_usage(body).unwrap_or_default()).unwrap_or_default();
        assert!(out
            .ends_with(r#""stream_options":{"include_obfuscation":false,"include_usage":true}}"#));
    }

    #[test]
    fn gemini_model_comes_from_path() {
        let p = ParsedRequest::parse(
            ApiKind::GeminiStreamGenerate,
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            br#"{"contents":[]}"#,
        )
        .unwrap_or_else(|_| unreachable!());
        assert_eq!(p.facts.model.as_deref(), Some("gemini-2.5-flash"));
        assert!(p.facts.stream && !p.lacks_stream_usage());
    }

    #[test]
    fn rejects_non_objects() {
        for body in [&b"[1]"[..], b"not json", b"", b"\"s\""] {
            assert!(ParsedRequest::parse(ApiKind::ChatCompletions, "/", body).is_err());
        }
    }
}
