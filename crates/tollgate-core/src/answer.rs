//! The answer side of the exchange model: one SSE parse and one JSON decode per stream event, shared
//! by every policy, and — per API shape — where the generated text of an event is, on which
//! *channel* (choice and field) it continues.
//!
//! A channel is what a delta extends: choice 1's content, choice 0's second tool call's arguments,
//! Anthropic content block 2, a Responses output item's content part. Text held back on one channel
//! (a placeholder still arriving, a finding still growing) must come out on that channel again and
//! before the event that ends it — never in another channel's delta.

use crate::api::ApiKind;
use crate::sse::SseEvent;
use serde_json::{Map, Value};

/// What part of a choice (or block, or output item) a delta text extends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// Message content (chat `content`, Responses `output_text`, Anthropic `text`, Gemini `text`).
    Content,
    /// Chat `refusal`.
    Refusal,
    /// Legacy completions `text`.
    Text,
    /// Arguments of the tool call with this index (chat), or of a Responses function call item.
    ToolArguments(u64),
    /// Anthropic `input_json_delta.partial_json`.
    ToolInput,
}

/// One stream of delta text inside an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Channel {
    /// Choice index (chat, completions), candidate index (Gemini), content block index
    /// (Anthropic), output index (Responses).
    pub group: u64,
    /// Second-level position: Responses `content_index`; 0 elsewhere.
    pub part: u64,
    /// Which text of the group.
    pub field: Field,
}

/// How an answer's body is framed, decided once from its headers for the pipeline and every policy
/// (so that none of them can read the same answer as SSE while another reads it as JSON).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnswerFormat {
    /// `content-type: text/event-stream` (any case, parameters allowed).
    pub sse: bool,
    /// A `content-encoding` other than `identity`: the body cannot be read.
    pub encoded: bool,
}

impl AnswerFormat {
    /// The format of an answer with these `content-type` and `content-encoding` values.
    pub fn of(content_type: Option<&str>, content_encoding: Option<&str>) -> Self {
        Self {
            sse: content_type.is_some_and(|c| {
                c.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("text/event-stream")
            }),
            encoded: content_encoding.is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity")),
        }
    }
}

/// One event of an SSE answer, decoded at most once for every policy.
#[derive(Debug, Clone)]
pub struct AnswerEvent {
    /// `event:` name.
    pub name: Option<String>,
    /// Exact bytes as received (forwarded unchanged unless the JSON was changed).
    pub raw: Vec<u8>,
    /// `data:` payload.
    pub data: Option<String>,
    /// The decoded JSON of `data`: `None` until asked; `Some(None)` when it is not JSON.
    json: Option<Option<Value>>,
    changed: bool,
}

impl AnswerEvent {
    /// An event as the SSE parser produced it.
    pub fn from_sse(ev: SseEvent) -> Self {
        Self {
            name: ev.event,
            raw: ev.raw,
            data: ev.data,
            json: None,
            changed: false,
        }
    }

    /// A new event (an extra delta a policy inserts), framed like `like` (same line endings).
    pub fn synthetic(name: Option<String>, v: Value, like: &[u8]) -> Self {
        // `raw` only tells `write` which line endings to use: the event is always serialised.
        let eol: &[u8] = if like.contains(&b'\r') {
            b"\r\n"
        } else {
            b"\n"
        };
        Self {
            name,
            raw: eol.to_vec(),
            data: None,
            json: Some(Some(v)),
            changed: true,
        }
    }

    /// True for OpenAI's end-of-stream sentinel `data: [DONE]`.
    pub fn is_done(&self) -> bool {
        self.data.as_deref().map(str::trim) == Some("[DONE]")
    }

    /// True when the data is present but not JSON (decoding it on first use).
    pub fn is_unparseable(&mut self) -> bool {
        self.data.is_some() && !self.is_done() && self.json().is_none()
    }

    /// The decoded JSON (decoded on first use; `None` for comments, `[DONE]` and non-JSON data).
    pub fn json(&mut self) -> Option<&Value> {
        if self.json.is_none() {
            let decoded = match self.data.as_deref() {
                Some(d) if d.trim() != "[DONE]" => serde_json::from_str(d).ok(),
                _ => None,
            };
            self.json = Some(decoded);
        }
        self.json.as_ref().and_then(Option::as_ref)
    }

    /// The JSON if some policy already decoded it (a cheap look that never parses).
    pub fn decoded(&self) -> Option<&Value> {
        self.json.as_ref().and_then(Option::as_ref)
    }

    /// The JSON for changing: the event is re-serialised when it is written out.
    pub fn json_mut(&mut self) -> Option<&mut Value> {
        self.changed = true;
        self.json_to_edit()
    }

    /// The JSON for a change that may not happen: call [`AnswerEvent::mark_changed`] if it did,
    /// so that an untouched event keeps its exact bytes.
    pub fn json_to_edit(&mut self) -> Option<&mut Value> {
        self.json();
        self.json.as_mut().and_then(Option::as_mut)
    }

    /// Records that the JSON was changed through [`AnswerEvent::json_to_edit`].
    pub fn mark_changed(&mut self) {
        self.changed = true;
    }

    /// True when a policy changed (or created) the event.
    pub fn is_changed(&self) -> bool {
        self.changed
    }

    /// Appends the event's bytes: the original ones if nobody changed it.
    pub fn write(&self, out: &mut Vec<u8>) {
        let v = match (&self.json, self.changed) {
            (Some(Some(v)), true) => v,
            _ => {
                out.extend_from_slice(&self.raw);
                return;
            }
        };
        // The line endings of the event it replaces (Gemini uses CRLF).
        let eol: &[u8] = if self.raw.contains(&b'\r') {
            b"\r\n"
        } else {
            b"\n"
        };
        if let Some(n) = &self.name {
            out.extend_from_slice(b"event: ");
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(eol);
        }
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(v.to_string().as_bytes());
        out.extend_from_slice(eol);
        out.extend_from_slice(eol);
    }
}

/// Writes events out in order. A stream cut inside its last event leaves that event unterminated:
/// it is ended before an event a policy added after it, or the two would run together.
pub fn write_events(events: &[AnswerEvent], out: &mut Vec<u8>) {
    let last = events.len().saturating_sub(1);
    for (i, e) in events.iter().enumerate() {
        e.write(out);
        if i < last && !(out.ends_with(b"\n\n") || out.ends_with(b"\r\n\r\n")) {
            out.extend_from_slice(b"\n\n");
        }
    }
}

fn index(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

type Visit<'a> = &'a mut dyn FnMut(Channel, &mut String);

fn text_at(v: Option<&mut Value>, ch: Channel, f: Visit<'_>) {
    if let Some(Value::String(s)) = v {
        f(ch, s);
    }
}

/// The delta texts of one stream event of `kind`, each with its channel. Events that repeat a
/// full text (`*.done`, `content_block_start`) are not deltas: see [`is_delta_event`].
pub fn delta_texts(kind: ApiKind, v: &mut Value, f: Visit<'_>) {
    match kind {
        ApiKind::ChatCompletions | ApiKind::Completions => {
            let Some(Value::Array(choices)) = v.get_mut("choices") else {
                return;
            };
            for c in choices {
                let group = index(c, "index");
                let ch = |field| Channel {
                    group,
                    part: 0,
                    field,
                };
                text_at(c.get_mut("text"), ch(Field::Text), f);
                let Some(d) = c.get_mut("delta") else {
                    continue;
                };
                text_at(d.get_mut("content"), ch(Field::Content), f);
                text_at(d.get_mut("refusal"), ch(Field::Refusal), f);
                if let Some(Value::Array(calls)) = d.get_mut("tool_calls") {
                    for t in calls {
                        let i = index(t, "index");
                        text_at(
                            t.get_mut("function").and_then(|x| x.get_mut("arguments")),
                            ch(Field::ToolArguments(i)),
                            f,
                        );
                    }
                }
            }
        }
        ApiKind::Responses => {
            let ch = Channel {
                group: index(v, "output_index"),
                part: index(v, "content_index"),
                field: match v.get("type").and_then(Value::as_str) {
                    Some("response.function_call_arguments.delta") => Field::ToolArguments(0),
                    _ => Field::Content,
                },
            };
            if is_delta_event(kind, v) {
                text_at(v.get_mut("delta"), ch, f);
            }
        }
        ApiKind::AnthropicMessages => {
            let group = index(v, "index");
            if let Some(d) = v.get_mut("delta") {
                let ch = |field| Channel {
                    group,
                    part: 0,
                    field,
                };
                text_at(d.get_mut("text"), ch(Field::Content), f);
                text_at(d.get_mut("partial_json"), ch(Field::ToolInput), f);
            }
        }
        ApiKind::GeminiGenerate | ApiKind::GeminiStreamGenerate => {
            let Some(Value::Array(cands)) = v.get_mut("candidates") else {
                return;
            };
            for c in cands {
                let ch = Channel {
                    group: index(c, "index"),
                    part: 0,
                    field: Field::Content,
                };
                if let Some(Value::Array(parts)) =
                    c.get_mut("content").and_then(|x| x.get_mut("parts"))
                {
                    for p in parts {
                        text_at(p.get_mut("text"), ch, f);
                    }
                }
            }
        }
        ApiKind::Embeddings | ApiKind::GeminiEmbed => {}
    }
}

/// True for events whose texts are deltas of a longer text (held back per channel); false for
/// events that repeat or close a full text.
pub fn is_delta_event(kind: ApiKind, v: &Value) -> bool {
    let ty = || v.get("type").and_then(Value::as_str);
    match kind {
        ApiKind::Responses => matches!(
            ty(),
            Some("response.output_text.delta" | "response.function_call_arguments.delta")
        ),
        ApiKind::AnthropicMessages => ty() == Some("content_block_delta"),
        ApiKind::ChatCompletions | ApiKind::Completions => v
            .get("choices")
            .and_then(Value::as_array)
            .is_some_and(|c| !c.is_empty()),
        ApiKind::GeminiGenerate | ApiKind::GeminiStreamGenerate => v.get("candidates").is_some(),
        ApiKind::Embeddings | ApiKind::GeminiEmbed => false,
    }
}

/// Which channels a non-delta event closes (their held text must go out before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closes {
    /// None: a keep-alive, an annotation, a block start — held text stays held.
    Nothing,
    /// Every channel of this group (a content block, an output item).
    Group(u64),
    /// The channels of this group and part (a Responses content part).
    Part(u64, u64),
    /// Every channel (the message or the response ends, an error, a usage chunk).
    All,
}

impl Closes {
    /// True if `ch` is closed.
    pub fn covers(self, ch: &Channel) -> bool {
        match self {
            Closes::Nothing => false,
            Closes::Group(g) => ch.group == g,
            Closes::Part(g, p) => ch.group == g && ch.part == p,
            Closes::All => true,
        }
    }
}

/// What a non-delta event of `kind` closes. Unknown event types close nothing (the end of the
/// stream releases everything anyway).
pub fn closes(kind: ApiKind, v: &Value) -> Closes {
    let ty = v.get("type").and_then(Value::as_str).unwrap_or_default();
    match kind {
        ApiKind::Responses => match ty {
            "response.output_text.done" | "response.content_part.done" => {
                Closes::Part(index(v, "output_index"), index(v, "content_index"))
            }
            "response.function_call_arguments.done" | "response.output_item.done" => {
                Closes::Group(index(v, "output_index"))
            }
            "response.completed" | "response.failed" | "response.incomplete" | "error" => {
                Closes::All
            }
            _ => Closes::Nothing,
        },
        ApiKind::AnthropicMessages => match ty {
            "content_block_stop" => Closes::Group(index(v, "index")),
            "message_delta" | "message_stop" | "error" => Closes::All,
            _ => Closes::Nothing,
        },
        // Chat (a usage-only chunk, an error), Gemini (a chunk without candidates).
        _ => Closes::All,
    }
}

/// The groups (choices, candidates) this event finishes: `finish_reason` / `finishReason` set.
pub fn finished_groups(kind: ApiKind, v: &Value) -> Vec<u64> {
    let (list, key) = match kind {
        ApiKind::ChatCompletions | ApiKind::Completions => ("choices", "finish_reason"),
        ApiKind::GeminiGenerate | ApiKind::GeminiStreamGenerate => ("candidates", "finishReason"),
        _ => return Vec::new(),
    };
    v.get(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get(key).is_some_and(|r| !r.is_null()))
        .map(|c| index(c, "index"))
        .collect()
}

/// A delta event that carries `text` on `ch` and nothing else, modelled on `template` (a delta
/// event of the same stream: its id, model and other envelope fields are kept; usage, finish
/// reasons, tool-call ids and names are not repeated).
pub fn delta_event(kind: ApiKind, template: &Value, ch: Channel, text: &str) -> Value {
    let mut env: Map<String, Value> = template.as_object().cloned().unwrap_or_default();
    for k in ["usage", "usageMetadata", "choices", "candidates"] {
        env.remove(k);
    }
    let s = || Value::String(text.to_owned());
    match kind {
        ApiKind::ChatCompletions | ApiKind::Completions => {
            let mut choice = Map::new();
            choice.insert("index".into(), ch.group.into());
            let delta = match ch.field {
                Field::Text => {
                    choice.insert("text".into(), s());
                    None
                }
                Field::Refusal => Some(serde_json::json!({ "refusal": text })),
                Field::ToolArguments(i) => Some(serde_json::json!({
                    "tool_calls": [{ "index": i, "function": { "arguments": text } }]
                })),
                Field::Content | Field::ToolInput => Some(serde_json::json!({ "content": text })),
            };
            if let Some(d) = delta {
                choice.insert("delta".into(), d);
            }
            choice.insert("finish_reason".into(), Value::Null);
            env.insert("choices".into(), Value::Array(vec![Value::Object(choice)]));
        }
        ApiKind::Responses => {
            env.insert("delta".into(), s());
        }
        ApiKind::AnthropicMessages => {
            let delta = match ch.field {
                Field::ToolInput => {
                    serde_json::json!({ "type": "input_json_delta", "partial_json": text })
                }
                _ => serde_json::json!({ "type": "text_delta", "text": text }),
            };
            env.insert("index".into(), ch.group.into());
            env.insert("delta".into(), delta);
        }
        ApiKind::GeminiGenerate | ApiKind::GeminiStreamGenerate => {
            let cand = serde_json::json!({
                "index": ch.group,
                "content": { "role": "model", "parts": [{ "text": text }] }
            });
            env.insert("candidates".into(), Value::Array(vec![cand]));
        }
        ApiKind::Embeddings | ApiKind::GeminiEmbed => {}
    }
    Value::Object(env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_reading_of_the_answer_format() {
        let f = AnswerFormat::of(Some(" Text/Event-Stream; charset=utf-8"), Some("Identity"));
        assert_eq!((f.sse, f.encoded), (true, false));
        let f = AnswerFormat::of(Some("application/json"), Some("gzip"));
        assert_eq!((f.sse, f.encoded), (false, true));
        assert_eq!(AnswerFormat::of(None, None), AnswerFormat::default());
    }

    #[test]
    fn chat_texts_carry_choice_and_tool_call() {
        let mut v = json!({"choices":[
            {"index":1,"delta":{"content":"a","tool_calls":[{"index":2,"function":{"arguments":"{"}}]}},
            {"index":0,"delta":{"refusal":"no"},"finish_reason":"stop"}]});
        let mut seen = Vec::new();
        delta_texts(ApiKind::ChatCompletions, &mut v, &mut |c, s| {
            seen.push((c.group, c.field, s.clone()))
        });
        assert_eq!(
            seen,
            vec![
                (1, Field::Content, "a".into()),
                (1, Field::ToolArguments(2), "{".into()),
                (0, Field::Refusal, "no".into())
            ]
        );
        assert_eq!(finished_groups(ApiKind::ChatCompletions, &v), vec![0]);
    }

    #[test]
    fn synthetic_deltas_repeat_no_ids_or_usage() {
        let t = json!({"id":"x","model":"m","usage":{"total_tokens":1},
            "choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"f","arguments":""}}]}}]});
        let ch = Channel {
            group: 0,
            part: 0,
            field: Field::ToolArguments(0),
        };
        let e = delta_event(ApiKind::ChatCompletions, &t, ch, "x\"}");
        assert_eq!(
            e,
            json!({"id":"x","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"x\"}"}}]},"finish_reason":null}]})
        );
    }

    #[test]
    fn events_decode_once_and_keep_their_bytes() {
        let raw = b"data: {\"a\":1}\r\n\r\n".to_vec();
        let mut e = AnswerEvent::from_sse(SseEvent {
            raw: raw.clone(),
            event: None,
            data: Some("{\"a\":1}".into()),
        });
        assert!(e.decoded().is_none());
        assert_eq!(e.json(), Some(&json!({"a":1})));
        let mut out = Vec::new();
        e.write(&mut out);
        assert_eq!(out, raw);
        if let Some(v) = e.json_mut() {
            v["a"] = json!(2);
        }
        out.clear();
        e.write(&mut out);
        assert_eq!(out, b"data: {\"a\":2}\r\n\r\n");
    }
}
