//! One strict reading of an LLM request body, and where its texts are.
//!
//! Coverage is inverted: every string value of a request is text — to scan, count and restore —
//! unless the allowlist below says it is not (identifiers, enums, roles, base64 media, opaque
//! signatures). A walker that lists the fields it scans misses the next field an API adds; this one
//! misses nothing a provider reads, and errs towards scanning.

use crate::api::ApiKind;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Why a request body is refused (400) before any policy reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The body is not UTF-8.
    NotUtf8,
    /// The body is not JSON (the parser's message).
    NotJson(String),
    /// The body is JSON but not an object.
    NotObject,
    /// A key appears twice in one object: the body would mean two things.
    DuplicateKey(String),
}

impl BodyError {
    /// A message for the client (no body content is echoed beyond the duplicated key's name).
    pub fn message(&self) -> String {
        match self {
            BodyError::NotUtf8 => "The request body is not valid UTF-8.".into(),
            BodyError::NotJson(e) => format!("The request body is not valid JSON ({e})."),
            BodyError::NotObject => "The request body must be a JSON object.".into(),
            BodyError::DuplicateKey(k) => {
                let k: String = k.chars().take(64).collect();
                format!("The request body has the key `{k}` twice in one object.")
            }
        }
    }

    /// The `code` of the OpenAI-style error.
    pub fn code(&self) -> &'static str {
        match self {
            BodyError::DuplicateKey(_) => "duplicate_key",
            _ => "invalid_request_body",
        }
    }
}

/// An LLM request as every policy sees it: the body is read once, parsed (strictly) at most once,
/// and written back at most once, only if a policy changed it.
#[derive(Debug)]
pub struct LlmRequest {
    /// The API shape.
    pub kind: ApiKind,
    /// `:path` as the client sent it.
    pub path: String,
    raw: Vec<u8>,
    doc: Option<Result<Value, BodyError>>,
    changed: bool,
}

impl LlmRequest {
    /// A request of `kind` to `path` whose complete body is `raw`.
    pub fn new(kind: ApiKind, path: String, raw: Vec<u8>) -> Self {
        Self {
            kind,
            path,
            raw,
            doc: None,
            changed: false,
        }
    }

    /// The body as received.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The parsed body (parsed on first use).
    pub fn doc(&mut self) -> Result<&Value, BodyError> {
        self.doc_mut().map(|v| &*v)
    }

    /// The parsed body, for a policy that may change it (call [`LlmRequest::mark_changed`] if it did).
    pub fn doc_mut(&mut self) -> Result<&mut Value, BodyError> {
        let raw = &self.raw;
        match self.doc.get_or_insert_with(|| parse_body(raw)) {
            Ok(v) => Ok(v),
            Err(e) => Err(e.clone()),
        }
    }

    /// A policy changed the document: the body is re-serialised once, at the end.
    pub fn mark_changed(&mut self) {
        self.changed = true;
    }

    /// The new body when a policy changed the document; `None` when the original stands.
    pub fn new_body(&self) -> Option<Result<Vec<u8>, String>> {
        if !self.changed {
            return None;
        }
        match &self.doc {
            Some(Ok(v)) => Some(serde_json::to_vec(v).map_err(|e| e.to_string())),
            _ => None,
        }
    }
}

const DUPLICATE: &str = "\u{0}duplicate key\u{0}";

/// Parses a request body strictly: UTF-8, JSON, an object at the top, no object with a key twice
/// (at any depth). serde_json's recursion limit bounds the depth.
pub fn parse_body(bytes: &[u8]) -> Result<Value, BodyError> {
    if std::str::from_utf8(bytes).is_err() {
        return Err(BodyError::NotUtf8);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = StrictValue.deserialize(&mut de).map_err(|e| {
        let msg = e.to_string();
        match msg.split_once(DUPLICATE) {
            Some((_, rest)) => {
                BodyError::DuplicateKey(rest.split(DUPLICATE).next().unwrap_or_default().to_owned())
            }
            None => BodyError::NotJson(msg),
        }
    })?;
    de.end().map_err(|e| BodyError::NotJson(e.to_string()))?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(BodyError::NotObject)
    }
}

/// Builds a [`Value`] like serde_json does, refusing duplicate keys.
struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictValue)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.contains_key(&k) {
                return Err(de::Error::custom(format!("{DUPLICATE}{k}{DUPLICATE}")));
            }
            let v = map.next_value_seed(StrictValue)?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

/// Keys whose string values are identifiers, enums or opaque tokens — never text a person wrote.
/// Everything else is text. (One list for every API shape: the names do not clash across them.)
const NOT_TEXT_KEYS: &[&str] = &[
    "model",
    "role",
    "type",
    "id",
    "object",
    "tool_call_id",
    "call_id",
    "tool_use_id",
    "previous_response_id",
    "status",
    "finish_reason",
    "stop_reason",
    "service_tier",
    "reasoning_effort",
    "effort",
    "detail",
    "format",
    "mime_type",
    "mimeType",
    "media_type",
    "encoding_format",
    "voice",
    "truncation",
    "signature",
    "encrypted_content",
    "thoughtSignature",
    "ttl",
];

/// Objects whose `data` is always a base64 payload (OpenAI `input_audio`, Gemini `inlineData`);
/// Anthropic's `source` is one only when its `type` is `base64` (a `text` source holds a document).
const MEDIA_PARENTS: &[&str] = &["input_audio", "inlineData", "inline_data"];

/// A string that is a base64 data URL (`data:image/png;base64,...`): media, not text.
fn is_data_url(s: &str) -> bool {
    s.starts_with("data:") && s.get(..256).unwrap_or(s).contains(";base64,")
}

/// Visits every text of a request body (see the module doc), in document order.
pub fn visit_texts(body: &mut Value, f: &mut dyn FnMut(&mut String)) {
    walk(body, None, false, f);
}

/// `media`: `v` is the `data` of a media object (base64).
fn walk(v: &mut Value, key: Option<&str>, media: bool, f: &mut dyn FnMut(&mut String)) {
    match v {
        Value::String(s) => {
            let not_text = media || key.is_some_and(|k| NOT_TEXT_KEYS.contains(&k));
            if !not_text && !is_data_url(s) {
                f(s);
            }
        }
        // Array items keep the key of the array (e.g. `modalities`, `stop`).
        Value::Array(items) => items.iter_mut().for_each(|x| walk(x, key, media, f)),
        Value::Object(o) => {
            let media_object = key.is_some_and(|k| MEDIA_PARENTS.contains(&k))
                || (key == Some("source")
                    && o.get("type").and_then(Value::as_str) == Some("base64"));
            for (k, x) in o.iter_mut() {
                walk(x, Some(k), media_object && k == "data", f);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strict_parse() {
        assert!(parse_body(br#"{"model":"m","messages":[]}"#).is_ok());
        assert_eq!(
            parse_body(br#"{"messages":[{"content":"a","content":"b"}]}"#),
            Err(BodyError::DuplicateKey("content".into()))
        );
        assert_eq!(
            parse_body(br#"{"model":"a","model":"b"}"#),
            Err(BodyError::DuplicateKey("model".into()))
        );
        assert_eq!(parse_body(b"[1,2]"), Err(BodyError::NotObject));
        assert_eq!(parse_body(b"\"x\""), Err(BodyError::NotObject));
        assert_eq!(parse_body(b"{\"a\":\"\xe9\"}"), Err(BodyError::NotUtf8));
        assert!(matches!(
            parse_body(b"{\"a\":1} x"),
            Err(BodyError::NotJson(_))
        ));
        assert!(matches!(parse_body(b"{"), Err(BodyError::NotJson(_))));
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(5000), "]".repeat(5000));
        assert!(matches!(
            parse_body(deep.as_bytes()),
            Err(BodyError::NotJson(_))
        ));
        // A key that looks like the marker is just a key.
        assert!(parse_body("{\"\\u0000duplicate key\\u0000\":1}".as_bytes()).is_ok());
    }

    fn texts(mut v: Value) -> Vec<String> {
        let mut out = Vec::new();
        visit_texts(&mut v, &mut |s| out.push(s.clone()));
        out
    }

    #[test]
    fn every_string_is_text_unless_allowlisted() {
        let v = json!({
            "model": "gpt-5.2", "user": "u@x.io", "metadata": {"k": "m@x.io"},
            "messages": [
                {"role": "user", "name": "n@x.io", "content": [
                    {"type": "text", "text": "t@x.io"},
                    {"type": "image_url", "image_url": {"url": "https://x/?e=i@x.io", "detail": "auto"}},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    {"type": "input_audio", "input_audio": {"data": "QUJD", "format": "wav"}},
                    {"type": "file", "file": {"filename": "f@x.io.pdf", "file_data": "data:application/pdf;base64,JVBE"}}
                ]},
                {"role": "assistant", "function_call": {"name": "f", "arguments": "{\"a\":\"fc@x.io\"}"},
                 "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "g", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "tool@x.io"}
            ],
            "tools": [{"type": "function", "function": {"name": "g", "description": "d@x.io",
                "parameters": {"type": "object", "properties": {"e": {"type": "string", "default": "def@x.io", "enum": ["en@x.io"]}}}}}],
            "prediction": {"type": "content", "content": "p@x.io"}
        });
        let t = texts(v);
        for want in [
            "u@x.io",
            "m@x.io",
            "n@x.io",
            "t@x.io",
            "https://x/?e=i@x.io",
            "f@x.io.pdf",
            "{\"a\":\"fc@x.io\"}",
            "tool@x.io",
            "d@x.io",
            "def@x.io",
            "en@x.io",
            "p@x.io",
        ] {
            assert!(t.iter().any(|s| s == want), "{want} not visited: {t:?}");
        }
        for not in [
            "gpt-5.2", "user", "text", "auto", "call_1", "QUJD", "wav", "object", "string",
        ] {
            assert!(!t.iter().any(|s| s == not), "{not} visited: {t:?}");
        }
        assert!(!t.iter().any(|s| s.starts_with("data:")));
    }

    #[test]
    fn native_shapes() {
        let gemini = json!({"contents": [{"role": "user", "parts": [
            {"text": "g@x.io"}, {"inlineData": {"mimeType": "image/png", "data": "iVBO"}},
            {"functionCall": {"name": "f", "args": {"q": "fa@x.io"}}},
            {"functionResponse": {"name": "f", "response": {"r": "fr@x.io"}}}]}],
            "systemInstruction": {"parts": [{"text": "s@x.io"}]}});
        let t = texts(gemini);
        for want in ["g@x.io", "fa@x.io", "fr@x.io", "s@x.io"] {
            assert!(t.iter().any(|s| s == want), "{want}: {t:?}");
        }
        assert!(!t.iter().any(|s| s == "iVBO" || s == "image/png"));
        let anthropic = json!({"model": "claude", "system": "sys@x.io", "messages": "as a string",
            "thinking": {"type": "enabled"},
            "x": [{"role": "assistant", "content": [
                {"type": "thinking", "thinking": "th@x.io", "signature": "sig"},
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc@x.io"}},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "b64"}}]}]});
        let t = texts(anthropic);
        for want in ["sys@x.io", "as a string", "th@x.io", "doc@x.io"] {
            assert!(t.iter().any(|s| s == want), "{want}: {t:?}");
        }
        assert!(!t.iter().any(|s| s == "sig" || s == "b64"));
    }
}
