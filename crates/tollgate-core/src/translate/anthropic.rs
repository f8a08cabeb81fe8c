//! OpenAI chat ⇄ Anthropic Messages.
//!
//! Written against Anthropic's published Messages API reference for `anthropic-version:
//! 2023-06-01` (pages "Messages" — `POST /v1/messages`, "Streaming messages", "Errors", "Tool
//! use" and "Vision" of docs.anthropic.com / platform.claude.com, read in 2025). Beta features that
//! need an `anthropic-beta` header (structured outputs, MCP servers, containers, context
//! management) are not produced: a pure body translation cannot set that header.
//!
//! # Chat request → Anthropic (`request_from_chat`)
//!
//! Every top-level field is in exactly one of three groups; anything else is **Untranslatable**
//! (OpenAI itself answers 400 to an unrecognised argument, and a field we do not know may change
//! the answer — e.g. a future sampling or output-format option — so forwarding a request without
//! it would silently answer a different question than the one asked).
//!
//! * mapped: `model`, `messages`, `max_completion_tokens` / `max_tokens` (the former wins; neither
//!   → [`AnthropicOptions::default_max_tokens`]), `stop` → `stop_sequences`, `temperature`
//!   (OpenAI's 0..2 clamped to Anthropic's 0..1), `top_p` (1, which keeps every token, is
//!   omitted), `stream`, `user` / `safety_identifier` → `metadata.user_id`, `tools` (`strict`
//!   dropped), `tool_choice`, `parallel_tool_calls: false` →
//!   `tool_choice.disable_parallel_tool_use`.
//! * accepted only in their neutral form, else Untranslatable: `n` (1), `logprobs` (false),
//!   `top_logprobs` (0), `response_format` (`text`; `json_object`/`json_schema` need Anthropic's
//!   beta structured outputs), `logit_bias` (empty), `modalities` (`["text"]`), `audio`,
//!   `web_search_options`, `functions`, `function_call` (null; the legacy function API is not
//!   translated — use `tools`).
//! * dropped (hints or OpenAI-side features that do not change what the answer says):
//!   `stream_options` (an Anthropic stream always reports usage), `seed`, `presence_penalty`,
//!   `frequency_penalty`, `service_tier`, `store`, `metadata` (OpenAI's stored-completion tags,
//!   not Anthropic's), `prompt_cache_key`, `prediction`, `verbosity`, `reasoning_effort` (mapping
//!   it to `thinking` would fail on models without extended thinking and forbids `temperature`).
//!
//! Messages: `system` and `developer` → top-level `system` (a string, or text blocks if several;
//! a system message in mid-conversation moves to the top, the only place Anthropic has);
//! `user`/`assistant` content as text and image blocks (`data:` URLs → base64 source, http(s) →
//! url source; `input_audio`, `file` parts → Untranslatable); assistant `tool_calls` → `tool_use`
//! (arguments must parse to a JSON object); `tool` → a user turn of `tool_result` blocks;
//! consecutive turns of one role are merged (Anthropic requires alternation); empty text is
//! skipped (Anthropic rejects empty text blocks). Per-message `name` and assistant
//! `reasoning_content` are dropped (no equivalent; prior thinking cannot be replayed without its
//! signature). `function` messages → Untranslatable.
//!
//! # Anthropic request → chat (`request_to_chat`)
//!
//! Mapped: `model`, `messages`, `system` (→ first system message), `max_tokens`,
//! `stop_sequences` → `stop`, `temperature`, `top_p`, `metadata.user_id` → `user`, `tools`
//! (custom tools only; server tools such as `web_search_*` → Untranslatable), `tool_choice`
//! (`disable_parallel_tool_use` → `parallel_tool_calls: false`), `stream: true` → `stream` plus
//! `stream_options.include_usage` (an Anthropic client needs usage in `message_delta`). Dropped:
//! `top_k` (no chat equivalent; a sampling hint), `service_tier`, `thinking` (a request to reason
//! first — chat has no portable switch: `reasoning_effort` is rejected by non-reasoning models),
//! `cache_control` marks, `tool_result.is_error`, assistant `thinking`/`redacted_thinking` blocks.
//! Other fields and block types (`document`, `search_result`, `server_tool_use`, file image
//! sources, ...) → Untranslatable naming them.
//!
//! # Answers
//!
//! `answer_to_chat`: text blocks joined → `content` (null if none), `tool_use` → `tool_calls`,
//! `thinking` → `reasoning_content`; stop reasons `end_turn`/`stop_sequence`/`pause_turn` →
//! `stop`, `max_tokens`/`model_context_window_exceeded` → `length`, `tool_use` → `tool_calls`,
//! `refusal` → `content_filter`; prompt tokens = input + cache read + cache creation.
//! `answer_from_chat` is the reverse; `reasoning_content` is not emitted (a thinking block needs a
//! signature we cannot make), tool arguments that are not JSON are kept as a JSON string.
//! Ids: `msg_x` ⇄ `chatcmpl-msg_x`, so a round trip keeps the id.
//!
//! # Errors
//!
//! Anthropic `{"type":"error","error":{"type","message"}}` ⇄ OpenAI
//! `{"error":{"message","type","param","code"}}`, see [`openai_kind`]. The status is kept, except
//! Anthropic's non-standard 529 (overloaded) which becomes 503: OpenAI clients, HTTP tooling and
//! retry policies know 503 as "temporarily unavailable, retry", while 529 is unregistered.
//!
//! # Streams
//!
//! [`Source`] follows the canonical contract of the parent module. A stream cut before
//! `message_stop` (or ended by an `error` event) yields no usage chunk and no [`Chunk::Done`]:
//! nothing may claim completion, and partial usage is better read from the raw stream by the
//! usage filter. [`Sink`] writes Anthropic events; `reasoning_content` is dropped (thinking blocks
//! need a signature), and a stream that never saw [`Chunk::Done`] gets no `message_stop` and its
//! open block stays open.

use super::*;
use serde_json::{json, Map};
use std::collections::{BTreeMap, BTreeSet};

/// Prefix of chat completion ids.
const CHAT_ID_PREFIX: &str = "chatcmpl-";
/// Prefix of Anthropic message ids.
const MSG_ID_PREFIX: &str = "msg_";

// ---------------------------------------------------------------------------------------------
// Small readers (hostile input: wrong types read as absent)
// ---------------------------------------------------------------------------------------------

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn u64_of(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

fn array_of<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Absent and `null` mean the same in both APIs.
fn is_absent(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null))
}

fn not_supported(param: &str) -> Untranslatable {
    Untranslatable::unsupported_at(param, "anthropic")
}

fn invalid(param: &str, what: &str) -> Untranslatable {
    Untranslatable::invalid(param, what)
}

/// `chatcmpl-<anthropic id>`.
fn chat_id(anthropic_id: &str) -> String {
    format!("{CHAT_ID_PREFIX}{anthropic_id}")
}

/// `msg_…` from a chat id; the inverse of [`chat_id`] for ids that came from Anthropic.
fn anthropic_id(chat_id: &str) -> String {
    let rest = chat_id.strip_prefix(CHAT_ID_PREFIX).unwrap_or(chat_id);
    if rest.starts_with(MSG_ID_PREFIX) {
        rest.to_owned()
    } else {
        format!("{MSG_ID_PREFIX}{rest}")
    }
}

// ---------------------------------------------------------------------------------------------
// Stop reasons
// ---------------------------------------------------------------------------------------------

/// Anthropic `stop_reason` → OpenAI `finish_reason`.
fn finish_from_stop(stop: Option<&str>) -> &'static str {
    match stop {
        Some("max_tokens") | Some("model_context_window_exceeded") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        // end_turn, stop_sequence, pause_turn (the turn ended; the client may continue it).
        _ => "stop",
    }
}

/// OpenAI `finish_reason` → Anthropic `stop_reason`.
fn stop_from_finish(finish: Option<&str>) -> &'static str {
    match finish {
        Some("length") => "max_tokens",
        Some("tool_calls") | Some("function_call") => "tool_use",
        Some("content_filter") => "refusal",
        // OpenAI does not say which stop sequence matched, so `stop_sequence` cannot be claimed.
        _ => "end_turn",
    }
}

// ---------------------------------------------------------------------------------------------
// Usage
// ---------------------------------------------------------------------------------------------

/// Anthropic usage → chat usage: prompt tokens include cache reads and cache writes.
fn chat_usage_from_anthropic(u: &Value) -> Value {
    let n = |k: &str| u64_of(u, k).unwrap_or(0);
    let cache_read = n("cache_read_input_tokens");
    let prompt = n("input_tokens")
        .saturating_add(cache_read)
        .saturating_add(n("cache_creation_input_tokens"));
    chat_usage(prompt, n("output_tokens"), cache_read, 0)
}

/// Chat usage → Anthropic usage: `input_tokens` excludes the cached part.
fn anthropic_usage_from_chat(u: &Value) -> Value {
    let (prompt, completion, cached, _) = usage_counts(u);
    json!({
        "input_tokens": prompt.saturating_sub(cached),
        "output_tokens": completion,
        "cache_read_input_tokens": cached,
    })
}

// ---------------------------------------------------------------------------------------------
// Chat request → Anthropic request
// ---------------------------------------------------------------------------------------------

/// Chat fields translated by [`request_from_chat`].
const CHAT_MAPPED: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "temperature",
    "top_p",
    "stream",
    "user",
    "safety_identifier",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
];

/// Chat fields dropped: they do not change what the answer says (see the module doc).
const CHAT_DROPPED: &[&str] = &[
    "stream_options",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "service_tier",
    "store",
    "metadata",
    "prompt_cache_key",
    "prediction",
    "verbosity",
    "reasoning_effort",
];

/// Chat request → Anthropic Messages request.
pub fn request_from_chat(chat: &Value, opts: &AnthropicOptions) -> Result<Value, Untranslatable> {
    let obj = chat.as_object().ok_or_else(|| Untranslatable {
        message: "the request body must be a JSON object".to_owned(),
        param: None,
    })?;
    for (key, value) in obj {
        check_chat_field(key, value)?;
    }
    let mut out = Map::new();
    let model = str_of(chat, "model").ok_or_else(|| invalid("model", "must be a string"))?;
    out.insert("model".into(), json!(model));
    let (system, messages) = chat_messages(chat.get("messages"))?;
    if let Some(system) = system {
        out.insert("system".into(), system);
    }
    out.insert("messages".into(), messages);
    out.insert("max_tokens".into(), json!(chat_max_tokens(chat, opts)?));
    if let Some(stop) = chat_stop(chat.get("stop"))? {
        out.insert("stop_sequences".into(), stop);
    }
    if let Some(t) = number_param(chat, "temperature")? {
        // Anthropic's range is 0..1; OpenAI's 0..2. Above 1 means "more random": the most
        // random Anthropic allows.
        out.insert("temperature".into(), json!(t.clamp(0.0, 1.0)));
    }
    // top_p 1 keeps every token: the same as not sending it, and recent Claude models refuse
    // `temperature` and `top_p` together, which OpenAI clients often send.
    if let Some(p) = number_param(chat, "top_p")?.filter(|p| *p < 1.0) {
        out.insert("top_p".into(), json!(p));
    }
    if bool_param(chat, "stream")? == Some(true) {
        out.insert("stream".into(), json!(true));
    }
    if let Some(user) = chat_user(chat)? {
        out.insert("metadata".into(), json!({ "user_id": user }));
    }
    let tools = chat_tools(chat.get("tools"))?;
    let parallel = bool_param(chat, "parallel_tool_calls")?;
    let choice = chat_tool_choice(chat.get("tool_choice"), !tools.is_empty(), parallel)?;
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = choice {
        out.insert("tool_choice".into(), choice);
    }
    Ok(Value::Object(out))
}

/// One top-level chat field against the policy of the module doc.
fn check_chat_field(key: &str, value: &Value) -> Result<(), Untranslatable> {
    if CHAT_MAPPED.contains(&key) || CHAT_DROPPED.contains(&key) {
        return Ok(());
    }
    let neutral = match key {
        "n" => matches!(value, Value::Null) || value.as_u64() == Some(1),
        "logprobs" => matches!(value, Value::Null | Value::Bool(false)),
        "top_logprobs" => matches!(value, Value::Null) || value.as_u64() == Some(0),
        "response_format" => matches!(value, Value::Null) || str_of(value, "type") == Some("text"),
        "logit_bias" => match value {
            Value::Null => true,
            Value::Object(m) => m.is_empty(),
            _ => false,
        },
        "modalities" => match value {
            Value::Null => true,
            Value::Array(a) => a.iter().all(|m| m.as_str() == Some("text")),
            _ => false,
        },
        "audio" | "web_search_options" | "functions" | "function_call" => {
            matches!(value, Value::Null)
        }
        _ => {
            return Err(Untranslatable::new(
                key,
                format!(
                    "unknown request field `{key}`: not forwarded to anthropic, since it may \
                     change the answer"
                ),
            ))
        }
    };
    if neutral {
        Ok(())
    } else {
        Err(not_supported(key))
    }
}

fn number_param(v: &Value, key: &str) -> Result<Option<f64>, Untranslatable> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(n) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| invalid(key, "must be a number")),
    }
}

fn bool_param(v: &Value, key: &str) -> Result<Option<bool>, Untranslatable> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(b) => b
            .as_bool()
            .map(Some)
            .ok_or_else(|| invalid(key, "must be a boolean")),
    }
}

/// `max_completion_tokens` (the current name) wins over `max_tokens` (the deprecated one).
fn chat_max_tokens(chat: &Value, opts: &AnthropicOptions) -> Result<u64, Untranslatable> {
    for key in ["max_completion_tokens", "max_tokens"] {
        match chat.get(key) {
            None | Some(Value::Null) => {}
            Some(v) => {
                return v
                    .as_u64()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| invalid(key, "must be a positive integer"))
            }
        }
    }
    Ok(opts.default_max_tokens)
}

fn chat_stop(stop: Option<&Value>) -> Result<Option<Value>, Untranslatable> {
    let list: Vec<Value> = match stop {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => vec![json!(s)],
        Some(Value::Array(a)) => {
            let mut list = Vec::with_capacity(a.len());
            for s in a {
                let s = s
                    .as_str()
                    .ok_or_else(|| invalid("stop", "must be a string or an array of strings"))?;
                list.push(json!(s));
            }
            list
        }
        Some(_) => return Err(invalid("stop", "must be a string or an array of strings")),
    };
    // Empty sequences never match in OpenAI; Anthropic rejects them.
    let list: Vec<Value> = list
        .into_iter()
        .filter(|s| s.as_str().is_some_and(|s| !s.is_empty()))
        .collect();
    Ok(if list.is_empty() {
        None
    } else {
        Some(Value::Array(list))
    })
}

/// `safety_identifier` is OpenAI's newer name for `user`; either identifies the end user.
fn chat_user(chat: &Value) -> Result<Option<String>, Untranslatable> {
    for key in ["safety_identifier", "user"] {
        match chat.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::String(s)) => return Ok(Some(s.clone())),
            Some(_) => return Err(invalid(key, "must be a string")),
        }
    }
    Ok(None)
}

/// A turn being built: Anthropic requires user and assistant turns to alternate.
struct Turn {
    role: &'static str,
    blocks: Vec<Value>,
}

/// Appends blocks to the conversation, merging them into the previous turn of the same role.
fn push_turn(turns: &mut Vec<Turn>, role: &'static str, blocks: Vec<Value>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some(last) if last.role == role => last.blocks.extend(blocks),
        _ => turns.push(Turn { role, blocks }),
    }
}

/// Chat messages → (Anthropic `system`, Anthropic `messages`).
fn chat_messages(messages: Option<&Value>) -> Result<(Option<Value>, Value), Untranslatable> {
    let list = messages
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("messages", "must be an array"))?;
    let mut system: Vec<Value> = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    for (i, m) in list.iter().enumerate() {
        let p = format!("messages[{i}]");
        let role = str_of(m, "role").ok_or_else(|| invalid(&format!("{p}.role"), "is missing"))?;
        match role {
            "system" | "developer" => system.extend(content_blocks(m.get("content"), &p, false)?),
            "user" => push_turn(
                &mut turns,
                "user",
                content_blocks(m.get("content"), &p, true)?,
            ),
            "assistant" => push_turn(&mut turns, "assistant", assistant_blocks(m, &p)?),
            "tool" => push_turn(&mut turns, "user", vec![tool_result_block(m, &p)?]),
            _ => return Err(not_supported(&format!("{p}.role"))),
        }
    }
    let system = match system.as_slice() {
        [] => None,
        [only] => only.get("text").cloned(),
        _ => Some(Value::Array(system)),
    };
    let messages = turns
        .into_iter()
        .map(|t| json!({"role": t.role, "content": t.blocks}))
        .collect();
    Ok((system, Value::Array(messages)))
}

fn text_block(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

/// A message's `content` (string or parts) → Anthropic text/image blocks; empty text skipped.
fn content_blocks(
    content: Option<&Value>,
    p: &str,
    images: bool,
) -> Result<Vec<Value>, Untranslatable> {
    let parts = match content {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => return Ok(Vec::new()),
        Some(Value::String(s)) => return Ok(vec![text_block(s)]),
        Some(Value::Array(parts)) => parts,
        Some(_) => {
            return Err(invalid(
                &format!("{p}.content"),
                "must be a string or an array",
            ))
        }
    };
    let mut blocks = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let pp = format!("{p}.content[{j}]");
        match str_of(part, "type") {
            Some("text") => {
                let text = str_of(part, "text")
                    .ok_or_else(|| invalid(&format!("{pp}.text"), "must be a string"))?;
                if !text.is_empty() {
                    blocks.push(text_block(text));
                }
            }
            // An assistant's refusal, replayed as what it said.
            Some("refusal") => {
                if let Some(text) = str_of(part, "refusal").filter(|t| !t.is_empty()) {
                    blocks.push(text_block(text));
                }
            }
            Some("image_url") if images => {
                let url = part
                    .get("image_url")
                    .and_then(|u| u.as_str().or_else(|| str_of(u, "url")))
                    .ok_or_else(|| invalid(&format!("{pp}.image_url.url"), "is missing"))?;
                blocks.push(image_block(url, &format!("{pp}.image_url.url"))?);
            }
            _ => return Err(not_supported(&format!("{pp}.type"))),
        }
    }
    Ok(blocks)
}

/// An image URL → an Anthropic image block (`detail` has no equivalent and is dropped).
fn image_block(url: &str, param: &str) -> Result<Value, Untranslatable> {
    if strip_prefix_ci(url, "data:").is_some() {
        let (media_type, data) = data_url(url)
            .filter(|(m, _)| !m.is_empty())
            .ok_or_else(|| invalid(param, "must be a base64 data: URL with a media type"))?;
        return Ok(json!({
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }));
    }
    if is_http_url(url) {
        return Ok(json!({"type": "image", "source": {"type": "url", "url": url}}));
    }
    Err(invalid(param, "must be a data: or http(s) URL"))
}

/// An assistant message → text and `tool_use` blocks.
fn assistant_blocks(m: &Value, p: &str) -> Result<Vec<Value>, Untranslatable> {
    if !is_absent(m.get("function_call")) {
        return Err(not_supported(&format!("{p}.function_call")));
    }
    let mut blocks = content_blocks(m.get("content"), p, false)?;
    if blocks.is_empty() {
        if let Some(refusal) = str_of(m, "refusal").filter(|r| !r.is_empty()) {
            blocks.push(text_block(refusal));
        }
    }
    match m.get("tool_calls") {
        None | Some(Value::Null) => {}
        Some(Value::Array(calls)) => {
            for (j, call) in calls.iter().enumerate() {
                blocks.push(tool_use_block(call, &format!("{p}.tool_calls[{j}]"))?);
            }
        }
        Some(_) => return Err(invalid(&format!("{p}.tool_calls"), "must be an array")),
    }
    Ok(blocks)
}

fn tool_use_block(call: &Value, p: &str) -> Result<Value, Untranslatable> {
    if let Some(kind) = call.get("type").filter(|t| !t.is_null()) {
        if kind.as_str() != Some("function") {
            return Err(not_supported(&format!("{p}.type")));
        }
    }
    let id = str_of(call, "id").ok_or_else(|| invalid(&format!("{p}.id"), "is missing"))?;
    let function = call.get("function").unwrap_or(&Value::Null);
    let name = str_of(function, "name")
        .ok_or_else(|| invalid(&format!("{p}.function.name"), "is missing"))?;
    let input = tool_input(
        function.get("arguments"),
        &format!("{p}.function.arguments"),
    )?;
    Ok(json!({"type": "tool_use", "id": id, "name": name, "input": input}))
}

/// Tool-call `arguments` (JSON text) → Anthropic `input` (a JSON object).
fn tool_input(args: Option<&Value>, param: &str) -> Result<Value, Untranslatable> {
    match args {
        None | Some(Value::Null) => Ok(json!({})),
        // Models and clients send "" for a call without arguments.
        Some(Value::String(s)) if s.trim().is_empty() => Ok(json!({})),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => Ok(v),
            _ => Err(Untranslatable::new(
                param,
                format!("`{param}` is not a JSON object; anthropic needs tool input as an object"),
            )),
        },
        // Lenient: some clients send the object itself.
        Some(v @ Value::Object(_)) => Ok(v.clone()),
        Some(_) => Err(invalid(param, "must be a string of JSON")),
    }
}

/// A `tool` message → a `tool_result` block.
fn tool_result_block(m: &Value, p: &str) -> Result<Value, Untranslatable> {
    let id = str_of(m, "tool_call_id")
        .ok_or_else(|| invalid(&format!("{p}.tool_call_id"), "is missing"))?;
    let mut block = json!({"type": "tool_result", "tool_use_id": id});
    let content = match m.get("content") {
        Some(Value::String(s)) if !s.is_empty() => Some(json!(s)),
        other => {
            let blocks = content_blocks(other, p, true)?;
            (!blocks.is_empty()).then_some(Value::Array(blocks))
        }
    };
    if let (Some(content), Some(obj)) = (content, block.as_object_mut()) {
        obj.insert("content".into(), content);
    }
    Ok(block)
}

/// Chat `tools` → Anthropic custom tools.
fn chat_tools(tools: Option<&Value>) -> Result<Vec<Value>, Untranslatable> {
    let list = match tools {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(invalid("tools", "must be an array")),
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, tool) in list.iter().enumerate() {
        let p = format!("tools[{i}]");
        if str_of(tool, "type") != Some("function") {
            return Err(not_supported(&format!("{p}.type")));
        }
        let function = tool.get("function").unwrap_or(&Value::Null);
        let name = str_of(function, "name")
            .ok_or_else(|| invalid(&format!("{p}.function.name"), "is missing"))?;
        let mut t = Map::new();
        t.insert("name".into(), json!(name));
        if let Some(d) = str_of(function, "description") {
            t.insert("description".into(), json!(d));
        }
        // `strict` has no equivalent without Anthropic's beta structured outputs; dropped.
        let schema = match function.get("parameters") {
            Some(s @ Value::Object(_)) => s.clone(),
            // OpenAI allows a function without parameters; Anthropic needs a schema.
            None | Some(Value::Null) => json!({"type": "object", "properties": {}}),
            Some(_) => {
                return Err(invalid(
                    &format!("{p}.function.parameters"),
                    "must be an object",
                ))
            }
        };
        t.insert("input_schema".into(), schema);
        out.push(Value::Object(t));
    }
    Ok(out)
}

/// Chat `tool_choice` and `parallel_tool_calls` → Anthropic `tool_choice`.
fn chat_tool_choice(
    choice: Option<&Value>,
    has_tools: bool,
    parallel: Option<bool>,
) -> Result<Option<Value>, Untranslatable> {
    let mut out = match choice {
        None | Some(Value::Null) => json!({"type": "auto"}),
        Some(Value::String(s)) => match s.as_str() {
            "auto" => json!({"type": "auto"}),
            "required" => json!({"type": "any"}),
            "none" => json!({"type": "none"}),
            _ => return Err(not_supported("tool_choice")),
        },
        Some(c) => {
            let name = (str_of(c, "type") == Some("function"))
                .then(|| c.get("function").and_then(|f| str_of(f, "name")))
                .flatten()
                .ok_or_else(|| not_supported("tool_choice"))?;
            json!({"type": "tool", "name": name})
        }
    };
    let kind = str_of(&out, "type").unwrap_or("auto").to_owned();
    if !has_tools {
        // Without tools, "auto" and "none" both mean "answer in text", which is what happens;
        // forcing a tool that does not exist is an error (OpenAI rejects it too).
        return if kind == "auto" || kind == "none" {
            Ok(None)
        } else {
            Err(invalid("tool_choice", "needs `tools`"))
        };
    }
    let explicit = !is_absent(choice);
    if parallel == Some(false) && kind != "none" {
        if let Some(obj) = out.as_object_mut() {
            obj.insert("disable_parallel_tool_use".into(), json!(true));
        }
        return Ok(Some(out));
    }
    Ok(explicit.then_some(out))
}

// ---------------------------------------------------------------------------------------------
// Anthropic request → chat request
// ---------------------------------------------------------------------------------------------

/// Anthropic fields translated (or deliberately dropped) by [`request_to_chat`].
const ANTHROPIC_KNOWN: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "system",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "metadata",
    "tools",
    "tool_choice",
    "thinking",
    "service_tier",
];

/// Anthropic Messages request → chat request.
pub fn request_to_chat(msg: &Value) -> Result<Value, Untranslatable> {
    let obj = msg.as_object().ok_or_else(|| Untranslatable {
        message: "the request body must be a JSON object".to_owned(),
        param: None,
    })?;
    if let Some(key) = obj.keys().find(|k| !ANTHROPIC_KNOWN.contains(&k.as_str())) {
        return Err(Untranslatable::new(
            key,
            format!("`{key}` is not supported when this model is served through OpenAI chat"),
        ));
    }
    let mut out = Map::new();
    let model = str_of(msg, "model").ok_or_else(|| invalid("model", "must be a string"))?;
    out.insert("model".into(), json!(model));
    let mut messages = Vec::new();
    if let Some(system) = system_message(msg.get("system"))? {
        messages.push(system);
    }
    let list = msg
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("messages", "must be an array"))?;
    for (i, m) in list.iter().enumerate() {
        anthropic_message(m, &format!("messages[{i}]"), &mut messages)?;
    }
    out.insert("messages".into(), Value::Array(messages));
    if let Some(n) = msg.get("max_tokens").filter(|v| !v.is_null()) {
        let n = n
            .as_u64()
            .ok_or_else(|| invalid("max_tokens", "must be a positive integer"))?;
        out.insert("max_tokens".into(), json!(n));
    }
    if let Some(stop) = msg.get("stop_sequences").filter(|v| !v.is_null()) {
        let ok = stop
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string));
        if !ok {
            return Err(invalid("stop_sequences", "must be an array of strings"));
        }
        if stop.as_array().is_some_and(|a| !a.is_empty()) {
            out.insert("stop".into(), stop.clone());
        }
    }
    for key in ["temperature", "top_p"] {
        if let Some(n) = number_param(msg, key)? {
            out.insert(key.into(), json!(n));
        }
    }
    if bool_param(msg, "stream")? == Some(true) {
        out.insert("stream".into(), json!(true));
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if let Some(user) = msg
        .get("metadata")
        .and_then(|m| str_of(m, "user_id"))
        .filter(|u| !u.is_empty())
    {
        out.insert("user".into(), json!(user));
    }
    let tools = anthropic_tools(msg.get("tools"))?;
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
        anthropic_tool_choice(msg.get("tool_choice"), &mut out)?;
    }
    Ok(Value::Object(out))
}

/// Anthropic `system` (string or text blocks) → one chat system message.
fn system_message(system: Option<&Value>) -> Result<Option<Value>, Untranslatable> {
    let content = match system {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.is_empty() => return Ok(None),
        Some(Value::String(s)) => json!(s),
        Some(Value::Array(blocks)) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (i, b) in blocks.iter().enumerate() {
                let text = (str_of(b, "type") == Some("text"))
                    .then(|| str_of(b, "text"))
                    .flatten()
                    .ok_or_else(|| not_supported(&format!("system[{i}].type")))?;
                parts.push(json!({"type": "text", "text": text}));
            }
            match collapse_parts(parts) {
                Some(c) => c,
                None => return Ok(None),
            }
        }
        Some(_) => return Err(invalid("system", "must be a string or an array")),
    };
    Ok(Some(json!({"role": "system", "content": content})))
}

/// Chat content from parts: one text part → a string, none → `None`.
fn collapse_parts(parts: Vec<Value>) -> Option<Value> {
    match parts.as_slice() {
        [] => None,
        [only] if str_of(only, "type") == Some("text") => only.get("text").cloned(),
        _ => Some(Value::Array(parts)),
    }
}

/// One Anthropic message → one or more chat messages.
fn anthropic_message(m: &Value, p: &str, out: &mut Vec<Value>) -> Result<(), Untranslatable> {
    let role = str_of(m, "role").ok_or_else(|| invalid(&format!("{p}.role"), "is missing"))?;
    if role != "user" && role != "assistant" {
        return Err(not_supported(&format!("{p}.role")));
    }
    let blocks = match m.get("content") {
        Some(Value::String(s)) => {
            out.push(json!({"role": role, "content": s}));
            return Ok(());
        }
        Some(Value::Array(blocks)) => blocks,
        _ => {
            return Err(invalid(
                &format!("{p}.content"),
                "must be a string or an array",
            ))
        }
    };
    if role == "user" {
        user_message(blocks, p, out)
    } else {
        out.push(assistant_message(blocks, p)?);
        Ok(())
    }
}

/// A user turn: its `tool_result` blocks become tool messages (first, as OpenAI wants them right
/// after the assistant's calls), the rest one user message.
fn user_message(blocks: &[Value], p: &str, out: &mut Vec<Value>) -> Result<(), Untranslatable> {
    let mut parts = Vec::new();
    for (j, b) in blocks.iter().enumerate() {
        let pp = format!("{p}.content[{j}]");
        match str_of(b, "type") {
            Some("text") => {
                let text = str_of(b, "text")
                    .ok_or_else(|| invalid(&format!("{pp}.text"), "must be a string"))?;
                parts.push(json!({"type": "text", "text": text}));
            }
            Some("image") => parts.push(image_part(b, &pp)?),
            Some("tool_result") => out.push(tool_message(b, &pp)?),
            _ => return Err(not_supported(&format!("{pp}.type"))),
        }
    }
    if let Some(content) = collapse_parts(parts) {
        out.push(json!({"role": "user", "content": content}));
    }
    Ok(())
}

/// An Anthropic image block → a chat `image_url` part.
fn image_part(b: &Value, p: &str) -> Result<Value, Untranslatable> {
    let source = b.get("source").unwrap_or(&Value::Null);
    let url = match str_of(source, "type") {
        Some("base64") => {
            let media = str_of(source, "media_type")
                .ok_or_else(|| invalid(&format!("{p}.source.media_type"), "is missing"))?;
            let data = str_of(source, "data")
                .ok_or_else(|| invalid(&format!("{p}.source.data"), "is missing"))?;
            format!("data:{media};base64,{data}")
        }
        Some("url") => str_of(source, "url")
            .ok_or_else(|| invalid(&format!("{p}.source.url"), "is missing"))?
            .to_owned(),
        _ => return Err(not_supported(&format!("{p}.source.type"))),
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

/// A `tool_result` block → a chat tool message (text only: chat tool messages hold text).
fn tool_message(b: &Value, p: &str) -> Result<Value, Untranslatable> {
    let id = str_of(b, "tool_use_id")
        .ok_or_else(|| invalid(&format!("{p}.tool_use_id"), "is missing"))?;
    let content = match b.get("content") {
        None | Some(Value::Null) => json!(""),
        Some(Value::String(s)) => json!(s),
        Some(Value::Array(inner)) => {
            let mut parts = Vec::with_capacity(inner.len());
            for (k, c) in inner.iter().enumerate() {
                let text = (str_of(c, "type") == Some("text"))
                    .then(|| str_of(c, "text"))
                    .flatten()
                    .ok_or_else(|| not_supported(&format!("{p}.content[{k}].type")))?;
                parts.push(json!({"type": "text", "text": text}));
            }
            collapse_parts(parts).unwrap_or_else(|| json!(""))
        }
        Some(_) => {
            return Err(invalid(
                &format!("{p}.content"),
                "must be a string or an array",
            ))
        }
    };
    Ok(json!({"role": "tool", "tool_call_id": id, "content": content}))
}

/// An assistant turn → one chat assistant message (text joined, `tool_use` → `tool_calls`).
fn assistant_message(blocks: &[Value], p: &str) -> Result<Value, Untranslatable> {
    let mut text = String::new();
    let mut calls = Vec::new();
    for (j, b) in blocks.iter().enumerate() {
        let pp = format!("{p}.content[{j}]");
        match str_of(b, "type") {
            Some("text") => text.push_str(str_of(b, "text").unwrap_or("")),
            Some("tool_use") => {
                let id =
                    str_of(b, "id").ok_or_else(|| invalid(&format!("{pp}.id"), "is missing"))?;
                let name = str_of(b, "name")
                    .ok_or_else(|| invalid(&format!("{pp}.name"), "is missing"))?;
                let args = b
                    .get("input")
                    .map_or_else(|| "{}".to_owned(), Value::to_string);
                calls.push(json!({
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": args},
                }));
            }
            // Prior reasoning: chat has no input slot for it.
            Some("thinking") | Some("redacted_thinking") => {}
            _ => return Err(not_supported(&format!("{pp}.type"))),
        }
    }
    let mut m = json!({"role": "assistant", "content": text});
    if !calls.is_empty() {
        if let Some(obj) = m.as_object_mut() {
            if text.is_empty() {
                obj.insert("content".into(), Value::Null);
            }
            obj.insert("tool_calls".into(), Value::Array(calls));
        }
    }
    Ok(m)
}

/// Anthropic tools → chat function tools (server tools have no chat equivalent).
fn anthropic_tools(tools: Option<&Value>) -> Result<Vec<Value>, Untranslatable> {
    let list = match tools {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(invalid("tools", "must be an array")),
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        let p = format!("tools[{i}]");
        match t.get("type") {
            None | Some(Value::Null) => {}
            Some(kind) if kind.as_str() == Some("custom") => {}
            Some(_) => return Err(not_supported(&format!("{p}.type"))),
        }
        let name = str_of(t, "name").ok_or_else(|| invalid(&format!("{p}.name"), "is missing"))?;
        let mut f = Map::new();
        f.insert("name".into(), json!(name));
        if let Some(d) = str_of(t, "description") {
            f.insert("description".into(), json!(d));
        }
        let schema = t
            .get("input_schema")
            .filter(|s| s.is_object())
            .cloned()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        f.insert("parameters".into(), schema);
        out.push(json!({"type": "function", "function": Value::Object(f)}));
    }
    Ok(out)
}

/// Anthropic `tool_choice` → chat `tool_choice` and `parallel_tool_calls`.
fn anthropic_tool_choice(
    choice: Option<&Value>,
    out: &mut Map<String, Value>,
) -> Result<(), Untranslatable> {
    let Some(choice) = choice.filter(|c| !c.is_null()) else {
        return Ok(());
    };
    let mapped = match str_of(choice, "type") {
        Some("auto") => json!("auto"),
        Some("any") => json!("required"),
        Some("none") => json!("none"),
        Some("tool") => {
            let name =
                str_of(choice, "name").ok_or_else(|| invalid("tool_choice.name", "is missing"))?;
            json!({"type": "function", "function": {"name": name}})
        }
        _ => return Err(not_supported("tool_choice.type")),
    };
    out.insert("tool_choice".into(), mapped);
    if choice
        .get("disable_parallel_tool_use")
        .and_then(Value::as_bool)
        == Some(true)
    {
        out.insert("parallel_tool_calls".into(), json!(false));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

/// Anthropic JSON answer → chat completion (`created` 0: deterministic; see [`answer_to_chat_at`]).
pub fn answer_to_chat(ans: &Value) -> Value {
    answer_to_chat_at(ans, 0)
}

/// Anthropic JSON answer → chat completion with `created` set to `created` (Unix seconds).
pub fn answer_to_chat_at(ans: &Value, created: u64) -> Value {
    let mut text = String::new();
    let mut has_text = false;
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for block in array_of(ans, "content") {
        match str_of(block, "type") {
            Some("text") => {
                text.push_str(str_of(block, "text").unwrap_or(""));
                has_text = true;
            }
            Some("thinking") => reasoning.push_str(str_of(block, "thinking").unwrap_or("")),
            Some("tool_use") => calls.push(json!({
                "id": str_of(block, "id").unwrap_or(""),
                "type": "function",
                "function": {
                    "name": str_of(block, "name").unwrap_or(""),
                    "arguments": block.get("input").map_or_else(|| "{}".to_owned(), Value::to_string),
                },
            })),
            // redacted_thinking, server tool blocks: nothing a chat client can use.
            _ => {}
        }
    }
    let mut message = Map::new();
    message.insert("role".into(), json!("assistant"));
    message.insert(
        "content".into(),
        if has_text { json!(text) } else { Value::Null },
    );
    if !reasoning.is_empty() {
        message.insert("reasoning_content".into(), json!(reasoning));
    }
    if !calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(calls));
    }
    message.insert("refusal".into(), Value::Null);
    json!({
        "id": chat_id(str_of(ans, "id").unwrap_or("")),
        "object": "chat.completion",
        "created": created,
        "model": str_of(ans, "model").unwrap_or(""),
        "choices": [{
            "index": 0,
            "message": Value::Object(message),
            "logprobs": null,
            "finish_reason": finish_from_stop(str_of(ans, "stop_reason")),
        }],
        "usage": chat_usage_from_anthropic(ans.get("usage").unwrap_or(&Value::Null)),
    })
}

/// Chat completion → Anthropic JSON answer (first choice; chat's other choices cannot be said).
pub fn answer_from_chat(chat: &Value) -> Value {
    let choice = array_of(chat, "choices").first().unwrap_or(&Value::Null);
    let message = choice.get("message").unwrap_or(&Value::Null);
    let mut content = Vec::new();
    match message.get("content") {
        Some(Value::String(s)) if !s.is_empty() => content.push(text_block(s)),
        Some(Value::Array(parts)) => {
            for part in parts {
                let text = str_of(part, "text").or_else(|| str_of(part, "refusal"));
                if let Some(t) = text.filter(|t| !t.is_empty()) {
                    content.push(text_block(t));
                }
            }
        }
        _ => {}
    }
    if content.is_empty() {
        if let Some(r) = str_of(message, "refusal").filter(|r| !r.is_empty()) {
            content.push(text_block(r));
        }
    }
    for call in array_of(message, "tool_calls") {
        let function = call.get("function").unwrap_or(&Value::Null);
        content.push(json!({
            "type": "tool_use",
            "id": str_of(call, "id").unwrap_or(""),
            "name": str_of(function, "name").unwrap_or(""),
            "input": answer_tool_input(function.get("arguments")),
        }));
    }
    json!({
        "id": anthropic_id(str_of(chat, "id").unwrap_or("")),
        "type": "message",
        "role": "assistant",
        "model": str_of(chat, "model").unwrap_or(""),
        "content": content,
        "stop_reason": stop_from_finish(str_of(choice, "finish_reason")),
        "stop_sequence": null,
        "usage": anthropic_usage_from_chat(chat.get("usage").unwrap_or(&Value::Null)),
    })
}

/// A provider's tool arguments → `input`; text that is not JSON is kept as a JSON string rather
/// than lost (the answer cannot fail).
fn answer_tool_input(args: Option<&Value>) -> Value {
    match args {
        Some(Value::String(s)) if s.trim().is_empty() => json!({}),
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or_else(|_| json!(s)),
        Some(v @ Value::Object(_)) => v.clone(),
        _ => json!({}),
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Anthropic's error type for an HTTP status (its documented table, plus 503 as overload).
fn anthropic_type_for_status(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        504 => "timeout_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

/// Anthropic error type → OpenAI (`type`, `code`), using the types and codes OpenAI documents
/// where one fits (`invalid_api_key`, `insufficient_quota`, `rate_limit_exceeded`,
/// `context_length_exceeded`, `server_error`).
///
/// | Anthropic | OpenAI type | code |
/// |---|---|---|
/// | invalid_request_error | invalid_request_error | null; `context_length_exceeded` (1) |
/// | authentication_error | invalid_request_error | invalid_api_key |
/// | permission_error | invalid_request_error | permission_denied |
/// | not_found_error | invalid_request_error | not_found |
/// | request_too_large | invalid_request_error | request_too_large |
/// | rate_limit_error | rate_limit_error | rate_limit_exceeded |
/// | billing_error | insufficient_quota | insufficient_quota |
/// | api_error | server_error | null |
/// | overloaded_error | server_error | overloaded |
/// | timeout_error | server_error | timeout |
/// | other | by status (server_error ≥ 500, else invalid_request_error) | the Anthropic type |
///
/// (1) when the message says "prompt is too long", so clients that trim their history on
/// OpenAI's code do so here too.
pub fn openai_kind(anthropic_type: &str, message: &str, status: u16) -> (&'static str, Value) {
    let code = |c: &str| Value::String(c.to_owned());
    match anthropic_type {
        "invalid_request_error" if message.contains("prompt is too long") => {
            ("invalid_request_error", code("context_length_exceeded"))
        }
        "invalid_request_error" => ("invalid_request_error", Value::Null),
        "authentication_error" => ("invalid_request_error", code("invalid_api_key")),
        "permission_error" => ("invalid_request_error", code("permission_denied")),
        "not_found_error" => ("invalid_request_error", code("not_found")),
        "request_too_large" => ("invalid_request_error", code("request_too_large")),
        "rate_limit_error" => ("rate_limit_error", code("rate_limit_exceeded")),
        "billing_error" => ("insufficient_quota", code("insufficient_quota")),
        "api_error" => ("server_error", Value::Null),
        "overloaded_error" => ("server_error", code("overloaded")),
        "timeout_error" => ("server_error", code("timeout")),
        other if status >= 500 => ("server_error", code(other)),
        other => ("invalid_request_error", code(other)),
    }
}

/// An OpenAI error object (no status: in-stream) → the Anthropic error type.
fn anthropic_type_for_openai(err: &Value) -> &'static str {
    let kind = str_of(err, "type").unwrap_or("");
    let code = str_of(err, "code").unwrap_or("");
    match (kind, code) {
        (_, "invalid_api_key") => "authentication_error",
        (_, "insufficient_quota") | ("insufficient_quota", _) => "billing_error",
        (_, "rate_limit_exceeded") | ("rate_limit_error" | "requests" | "tokens", _) => {
            "rate_limit_error"
        }
        (_, "overloaded") => "overloaded_error",
        (_, "timeout") => "timeout_error",
        (_, "permission_denied") => "permission_error",
        (_, "not_found" | "model_not_found") => "not_found_error",
        (_, "request_too_large") => "request_too_large",
        ("invalid_request_error", _) => "invalid_request_error",
        _ => "api_error",
    }
}

/// Anthropic error answer → OpenAI error.
pub fn error_to_openai(status: u16, body: &[u8]) -> ErrorOut {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let err = parsed.as_ref().and_then(|v| v.get("error"));
    let kind = err
        .and_then(|e| str_of(e, "type"))
        .unwrap_or_else(|| anthropic_type_for_status(status));
    let message = err
        .and_then(|e| str_of(e, "message"))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("anthropic answered HTTP {status}"));
    // 529 is Anthropic's own; OpenAI clients and retry policies know overload as 503.
    let status = if status == 529 { 503 } else { status };
    let (openai_type, code) = openai_kind(kind, &message, status);
    ErrorOut {
        status,
        body: json!({"error": {"message": message, "type": openai_type, "param": null, "code": code}}),
    }
}

/// OpenAI error answer → Anthropic error (for Anthropic-speaking clients); the status is kept.
pub fn error_from_openai(status: u16, body: &[u8]) -> ErrorOut {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let err = parsed.as_ref().and_then(|v| v.get("error"));
    let message = err
        .and_then(|e| str_of(e, "message"))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("the provider answered HTTP {status}"));
    // OpenAI answers an exhausted quota with 429; Anthropic has a type of its own for it.
    let quota = err.and_then(|e| str_of(e, "code")) == Some("insufficient_quota");
    let kind = if quota {
        "billing_error"
    } else {
        anthropic_type_for_status(status)
    };
    ErrorOut {
        status,
        body: json!({"type": "error", "error": {"type": kind, "message": message}}),
    }
}

// ---------------------------------------------------------------------------------------------
// Anthropic stream → canonical chunks
// ---------------------------------------------------------------------------------------------

/// What an open Anthropic content block carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    /// A `tool_use` block and its chat tool-call index.
    Tool(u64),
    Thinking,
    /// Server tool blocks, redacted thinking: nothing a chat client can use.
    Other,
}

/// Anthropic stream → canonical chunks.
#[derive(Debug, Default)]
pub struct Source {
    created: u64,
    id: String,
    model: String,
    /// The role chunk was emitted.
    started: bool,
    /// Open blocks by Anthropic index.
    blocks: BTreeMap<u64, Block>,
    /// Tool-use blocks seen: the next chat tool-call index.
    tools: u64,
    input: u64,
    cache_read: u64,
    cache_creation: u64,
    output: u64,
    /// The finish chunk was emitted.
    finished: bool,
    /// `message_stop` seen: usage and Done emitted.
    complete: bool,
    /// An `error` event ended the stream.
    failed: bool,
}

impl Source {
    /// A source whose chunks carry `created` (Unix seconds; [`Default`] gives 0).
    pub fn new(created: u64) -> Self {
        Self {
            created,
            ..Self::default()
        }
    }

    fn data(&self, choices: Value) -> Chunk {
        Chunk::Data(json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }))
    }

    fn delta(&self, delta: Value, finish: Option<&str>) -> Chunk {
        self.data(json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]))
    }

    /// The role chunk, once, before anything else of the choice.
    fn start(&mut self, out: &mut Vec<Chunk>) {
        if !self.started {
            self.started = true;
            out.push(self.delta(json!({"role": "assistant"}), None));
        }
    }

    /// One delta of the choice, after the role chunk; nothing follows the finish chunk.
    fn emit(&mut self, delta: Value, finish: Option<&str>, out: &mut Vec<Chunk>) {
        if self.finished {
            return;
        }
        self.start(out);
        self.finished = finish.is_some();
        out.push(self.delta(delta, finish));
    }

    /// Anthropic usage is cumulative: a present field replaces what was known.
    fn take_usage(&mut self, u: &Value) {
        let slots = [
            ("input_tokens", &mut self.input),
            ("cache_read_input_tokens", &mut self.cache_read),
            ("cache_creation_input_tokens", &mut self.cache_creation),
            ("output_tokens", &mut self.output),
        ];
        for (key, slot) in slots {
            if let Some(n) = u64_of(u, key) {
                *slot = n;
            }
        }
    }

    fn message_start(&mut self, v: &Value, out: &mut Vec<Chunk>) {
        let message = v.get("message").unwrap_or(&Value::Null);
        // Copied into every chunk: bounded (see `clip_id`).
        if let Some(id) = str_of(message, "id") {
            self.id = chat_id(clip_id(id));
        }
        if let Some(model) = str_of(message, "model") {
            self.model = clip_id(model).to_owned();
        }
        self.take_usage(message.get("usage").unwrap_or(&Value::Null));
        self.start(out);
    }

    fn block_start(&mut self, v: &Value, out: &mut Vec<Chunk>) {
        let Some(index) = u64_of(v, "index") else {
            return;
        };
        let block = v.get("content_block").unwrap_or(&Value::Null);
        let kind = match str_of(block, "type") {
            Some("text") => {
                self.text(str_of(block, "text").unwrap_or(""), out);
                Block::Text
            }
            Some("thinking") => {
                self.reasoning(str_of(block, "thinking").unwrap_or(""), out);
                Block::Thinking
            }
            Some("tool_use") => {
                let call = self.tools;
                self.tools = self.tools.saturating_add(1);
                let start = json!({"tool_calls": [{
                    "index": call,
                    "id": str_of(block, "id").unwrap_or(""),
                    "type": "function",
                    "function": {"name": str_of(block, "name").unwrap_or(""), "arguments": ""},
                }]});
                self.emit(start, None, out);
                Block::Tool(call)
            }
            _ => Block::Other,
        };
        self.blocks.insert(index, kind);
    }

    fn text(&mut self, text: &str, out: &mut Vec<Chunk>) {
        if !text.is_empty() {
            self.emit(json!({"content": text}), None, out);
        }
    }

    fn reasoning(&mut self, text: &str, out: &mut Vec<Chunk>) {
        if !text.is_empty() {
            self.emit(json!({"reasoning_content": text}), None, out);
        }
    }

    fn block_delta(&mut self, v: &Value, out: &mut Vec<Chunk>) {
        let delta = v.get("delta").unwrap_or(&Value::Null);
        let block = u64_of(v, "index").and_then(|i| self.blocks.get(&i).copied());
        match (str_of(delta, "type"), block) {
            (Some("text_delta"), _) => self.text(str_of(delta, "text").unwrap_or(""), out),
            (Some("thinking_delta"), _) => {
                self.reasoning(str_of(delta, "thinking").unwrap_or(""), out)
            }
            (Some("input_json_delta"), Some(Block::Tool(call))) => {
                let piece = str_of(delta, "partial_json").unwrap_or("");
                if !piece.is_empty() {
                    let d =
                        json!({"tool_calls": [{"index": call, "function": {"arguments": piece}}]});
                    self.emit(d, None, out);
                }
            }
            // signature_delta (thinking's proof, meaningless to chat), citations_delta, and
            // pieces of blocks we never saw start.
            _ => {}
        }
    }

    fn message_delta(&mut self, v: &Value, out: &mut Vec<Chunk>) {
        self.take_usage(v.get("usage").unwrap_or(&Value::Null));
        let stop = v.get("delta").and_then(|d| str_of(d, "stop_reason"));
        if let Some(stop) = stop {
            self.finish(Some(stop), out);
        }
    }

    fn finish(&mut self, stop: Option<&str>, out: &mut Vec<Chunk>) {
        self.emit(json!({}), Some(finish_from_stop(stop)), out);
    }

    fn message_stop(&mut self, out: &mut Vec<Chunk>) {
        // A stream that stops without a stop_reason still ended its turn normally.
        self.finish(None, out);
        let prompt = self
            .input
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_creation);
        let usage = chat_usage(prompt, self.output, self.cache_read, 0);
        if let Chunk::Data(mut v) = self.data(json!([])) {
            if let Some(obj) = v.as_object_mut() {
                obj.insert("usage".into(), usage);
            }
            out.push(Chunk::Data(v));
        }
        out.push(Chunk::Done);
        self.complete = true;
    }

    fn error(&mut self, v: &Value, out: &mut Vec<Chunk>) {
        let err = v.get("error").unwrap_or(&Value::Null);
        let kind = str_of(err, "type").unwrap_or("api_error");
        let message = str_of(err, "message").unwrap_or("anthropic stream error");
        // In-stream errors are server-side; 500 picks the server mapping for unknown types.
        let (openai_type, code) = openai_kind(kind, message, 500);
        out.push(Chunk::Data(json!({
            "error": {"message": message, "type": openai_type, "code": code},
        })));
        self.failed = true;
    }
}

impl ChunkSource for Source {
    fn event(&mut self, name: Option<&str>, data: &str, out: &mut Vec<Chunk>) {
        if self.complete || self.failed {
            return;
        }
        // Not JSON: part of the answer is lost, so the stream must not look complete — it ends
        // with an error, as an in-stream error event would.
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            out.push(Chunk::Data(unreadable_event()));
            self.failed = true;
            return;
        };
        // The data's own `type` is authoritative; the event name is its copy.
        let kind = str_of(&v, "type").or(name).unwrap_or("");
        match kind {
            "message_start" => self.message_start(&v, out),
            "content_block_start" => self.block_start(&v, out),
            "content_block_delta" => self.block_delta(&v, out),
            "content_block_stop" => {
                if let Some(i) = u64_of(&v, "index") {
                    self.blocks.remove(&i);
                }
            }
            "message_delta" => self.message_delta(&v, out),
            "message_stop" => self.message_stop(out),
            "error" => self.error(&v, out),
            // ping and future event types.
            _ => {}
        }
    }

    /// Everything owed was emitted at `message_stop`; a cut stream gets nothing more.
    fn end(&mut self, _out: &mut Vec<Chunk>) {}
}

// ---------------------------------------------------------------------------------------------
// Canonical chunks → Anthropic stream
// ---------------------------------------------------------------------------------------------

/// The Anthropic block being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text(u64),
    /// Anthropic block index and chat tool-call index.
    Tool {
        block: u64,
        call: u64,
    },
}

/// Canonical chunks → Anthropic stream.
///
/// Anthropic writes one block at a time, so a new block closes the open one; argument pieces of
/// a tool call whose block was already closed (chat providers stream calls one after the other,
/// so only a malformed stream does this) are dropped.
#[derive(Debug, Default)]
pub struct Sink {
    /// `message_start` was written.
    started: bool,
    next_block: u64,
    open: Option<Open>,
    /// Chat tool-call indexes that got a block.
    calls: BTreeSet<u64>,
    stop_reason: Option<&'static str>,
    /// (input excluding cached, output, cached).
    usage: Option<(u64, u64, u64)>,
    /// `message_delta` was written.
    delta_sent: bool,
    done: bool,
    failed: bool,
}

fn sse(event: &str, data: Value) -> SseOut {
    SseOut {
        event: Some(event.to_owned()),
        data: data.to_string(),
    }
}

impl Sink {
    fn start(&mut self, chunk: &Value, out: &mut Vec<SseOut>) {
        if self.started {
            return;
        }
        self.started = true;
        out.push(sse(
            "message_start",
            json!({"type": "message_start", "message": {
                "id": anthropic_id(str_of(chunk, "id").unwrap_or("")),
                "type": "message",
                "role": "assistant",
                "model": str_of(chunk, "model").unwrap_or(""),
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                // The real counts come with message_delta, whose usage Anthropic documents as
                // cumulative.
                "usage": {"input_tokens": 0, "output_tokens": 0},
            }}),
        ));
    }

    fn open_block(&mut self, block: Value, out: &mut Vec<SseOut>) -> u64 {
        self.close(out);
        let index = self.next_block;
        self.next_block = self.next_block.saturating_add(1);
        out.push(sse(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": block}),
        ));
        index
    }

    fn close(&mut self, out: &mut Vec<SseOut>) {
        if let Some(open) = self.open.take() {
            let index = match open {
                Open::Text(i) | Open::Tool { block: i, .. } => i,
            };
            out.push(sse(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            ));
        }
    }

    fn block_delta(index: u64, delta: Value, out: &mut Vec<SseOut>) {
        out.push(sse(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": delta}),
        ));
    }

    fn text(&mut self, text: &str, out: &mut Vec<SseOut>) {
        if text.is_empty() {
            return;
        }
        let index = match self.open {
            Some(Open::Text(i)) => i,
            _ => {
                let i = self.open_block(json!({"type": "text", "text": ""}), out);
                self.open = Some(Open::Text(i));
                i
            }
        };
        Self::block_delta(index, json!({"type": "text_delta", "text": text}), out);
    }

    fn tool_call(&mut self, call: &Value, out: &mut Vec<SseOut>) {
        let index = u64_of(call, "index").unwrap_or(0);
        let function = call.get("function").unwrap_or(&Value::Null);
        let block = match self.open {
            Some(Open::Tool { block, call: c }) if c == index => block,
            _ if self.calls.contains(&index) => return,
            _ => {
                let id = str_of(call, "id")
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("toolu_{index}"));
                let name = str_of(function, "name").unwrap_or("");
                let block = self.open_block(
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                    out,
                );
                self.calls.insert(index);
                self.open = Some(Open::Tool { block, call: index });
                block
            }
        };
        let args = str_of(function, "arguments").unwrap_or("");
        if !args.is_empty() {
            Self::block_delta(
                block,
                json!({"type": "input_json_delta", "partial_json": args}),
                out,
            );
        }
    }

    fn choice(&mut self, choice: &Value, out: &mut Vec<SseOut>) {
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        self.text(str_of(delta, "content").unwrap_or(""), out);
        self.text(str_of(delta, "refusal").unwrap_or(""), out);
        // reasoning_content: dropped, a thinking block needs a signature we cannot produce.
        for call in array_of(delta, "tool_calls") {
            self.tool_call(call, out);
        }
        if let Some(finish) = str_of(choice, "finish_reason") {
            self.close(out);
            self.stop_reason = Some(stop_from_finish(Some(finish)));
        }
    }

    fn message_delta(&mut self, out: &mut Vec<SseOut>) {
        if self.delta_sent {
            return;
        }
        self.delta_sent = true;
        let (input, output, cached) = self.usage.unwrap_or((0, 0, 0));
        out.push(sse(
            "message_delta",
            json!({
                "type": "message_delta",
                "delta": {"stop_reason": self.stop_reason.unwrap_or("end_turn"), "stop_sequence": null},
                "usage": {"input_tokens": input, "output_tokens": output, "cache_read_input_tokens": cached},
            }),
        ));
    }

    fn data(&mut self, v: &Value, out: &mut Vec<SseOut>) {
        if let Some(err) = v.get("error") {
            let message = str_of(err, "message").unwrap_or("the provider's stream failed");
            out.push(sse(
                "error",
                json!({"type": "error", "error": {"type": anthropic_type_for_openai(err), "message": message}}),
            ));
            self.failed = true;
            return;
        }
        self.start(v, out);
        for choice in array_of(v, "choices") {
            // Anthropic has one answer per message; other choices cannot be said.
            if u64_of(choice, "index").unwrap_or(0) == 0 {
                self.choice(choice, out);
            }
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            let (prompt, completion, cached, _) = usage_counts(u);
            self.usage = Some((prompt.saturating_sub(cached), completion, cached));
            // The canonical usage chunk comes last, after the finish: the message is said.
            if array_of(v, "choices").is_empty() && self.stop_reason.is_some() {
                self.message_delta(out);
            }
        }
    }

    fn done(&mut self, out: &mut Vec<SseOut>) {
        self.start(&Value::Null, out);
        self.close(out);
        self.message_delta(out);
        out.push(sse("message_stop", json!({"type": "message_stop"})));
        self.done = true;
    }
}

impl ChunkSink for Sink {
    fn chunk(&mut self, c: &Chunk, out: &mut Vec<SseOut>) {
        if self.done || self.failed {
            return;
        }
        match c {
            Chunk::Data(v) => self.data(v, out),
            Chunk::Done => self.done(out),
        }
    }

    /// A completed stream was finished at [`Chunk::Done`]; a cut one must not look complete, so
    /// nothing is closed or added.
    fn end(&mut self, _out: &mut Vec<SseOut>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> AnthropicOptions {
        AnthropicOptions::default()
    }

    fn from_chat(chat: Value) -> Value {
        request_from_chat(&chat, &opts()).unwrap()
    }

    fn from_chat_err(chat: Value) -> Untranslatable {
        request_from_chat(&chat, &opts()).unwrap_err()
    }

    fn user(text: &str) -> Value {
        json!({"role": "user", "content": text})
    }

    // ---- chat request → Anthropic ----

    #[test]
    fn basic_request_fields() {
        let out = from_chat(json!({
            "model": "claude-sonnet-4-5",
            "messages": [{"role": "system", "content": "Be brief."}, user("Hi")],
            "temperature": 1.5,
            "top_p": 0.9,
            "stop": "END",
            "stream": true,
            "stream_options": {"include_usage": true},
            "user": "u-42",
            "seed": 7,
            "presence_penalty": 0.1,
            "frequency_penalty": 0.2,
            "service_tier": "auto",
            "store": false,
            "metadata": {"k": "v"},
            "n": 1,
            "logprobs": false,
            "response_format": {"type": "text"},
        }));
        assert_eq!(
            out,
            json!({
                "model": "claude-sonnet-4-5",
                "system": "Be brief.",
                "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
                "max_tokens": 4096,
                "stop_sequences": ["END"],
                "temperature": 1.0,
                "top_p": 0.9,
                "stream": true,
                "metadata": {"user_id": "u-42"},
            })
        );
    }

    #[test]
    fn several_system_and_developer_messages_become_blocks() {
        let out = from_chat(json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "One."},
                {"role": "developer", "content": [{"type": "text", "text": "Two."}]},
                user("Hi"),
            ],
        }));
        assert_eq!(
            out["system"],
            json!([{"type": "text", "text": "One."}, {"type": "text", "text": "Two."}])
        );
    }

    #[test]
    fn max_tokens_sources() {
        let base = |extra: Value| {
            let mut c = json!({"model": "m", "messages": [user("x")]});
            for (k, v) in extra.as_object().unwrap() {
                c[k] = v.clone();
            }
            c
        };
        assert_eq!(from_chat(base(json!({})))["max_tokens"], 4096);
        let custom = AnthropicOptions {
            default_max_tokens: 77,
        };
        assert_eq!(
            request_from_chat(&base(json!({})), &custom).unwrap()["max_tokens"],
            77
        );
        assert_eq!(from_chat(base(json!({"max_tokens": 10})))["max_tokens"], 10);
        assert_eq!(
            from_chat(base(json!({"max_tokens": 10, "max_completion_tokens": 20})))["max_tokens"],
            20
        );
        for bad in [json!(0), json!(-1), json!(1.5), json!("10")] {
            let e = from_chat_err(base(json!({ "max_tokens": bad })));
            assert_eq!(e.param.as_deref(), Some("max_tokens"));
        }
    }

    #[test]
    fn stop_array_and_temperature_clamp() {
        let out = from_chat(json!({
            "model": "m", "messages": [user("x")], "stop": ["a", "", "b"], "temperature": -0.5,
        }));
        assert_eq!(out["stop_sequences"], json!(["a", "b"]));
        assert_eq!(out["temperature"], json!(0.0));
        let out = from_chat(
            json!({"model": "m", "messages": [user("x")], "temperature": 0.3, "top_p": 1}),
        );
        assert_eq!(out["temperature"], json!(0.3));
        assert!(out.get("top_p").is_none());
        let e = from_chat_err(json!({"model": "m", "messages": [user("x")], "stop": [1]}));
        assert_eq!(e.param.as_deref(), Some("stop"));
        let e = from_chat_err(json!({"model": "m", "messages": [user("x")], "temperature": "hot"}));
        assert_eq!(e.param.as_deref(), Some("temperature"));
    }

    #[test]
    fn images_in_user_content() {
        let out = from_chat(json!({
            "model": "m",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K", "detail": "high"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            ]}],
        }));
        assert_eq!(
            out["messages"][0]["content"],
            json!([
                {"type": "text", "text": "What is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            ])
        );
    }

    #[test]
    fn bad_parts_are_untranslatable_with_their_param() {
        let cases = [
            (
                json!({"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}),
                "messages[0].content[0].image_url.url",
            ),
            (
                json!({"type": "image_url", "image_url": {"url": "data:image/png,abc"}}),
                "messages[0].content[0].image_url.url",
            ),
            (
                json!({"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}),
                "messages[0].content[0].type",
            ),
            (
                json!({"type": "file", "file": {"file_id": "f"}}),
                "messages[0].content[0].type",
            ),
        ];
        for (part, param) in cases {
            let e = from_chat_err(
                json!({"model": "m", "messages": [{"role": "user", "content": [part]}]}),
            );
            assert_eq!(e.param.as_deref(), Some(param));
        }
        // No images in a system prompt.
        let e = from_chat_err(
            json!({"model": "m", "messages": [{"role": "system", "content": [
            {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}),
        );
        assert_eq!(e.param.as_deref(), Some("messages[0].content[0].type"));
    }

    #[test]
    fn tool_calls_and_results_with_merging() {
        let out = from_chat(json!({
            "model": "m",
            "messages": [
                user("Weather in Paris and Rome?"),
                user("Quickly."),
                {"role": "assistant", "content": "Checking.", "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}},
                    {"id": "call_3", "type": "function", "function": {"name": "now", "arguments": ""}},
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
                {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "21C"}]},
                {"role": "tool", "tool_call_id": "call_3", "content": ""},
                user("Thanks"),
            ],
        }));
        assert_eq!(
            out["messages"],
            json!([
                {"role": "user", "content": [
                    {"type": "text", "text": "Weather in Paris and Rome?"},
                    {"type": "text", "text": "Quickly."},
                ]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "call_2", "name": "weather", "input": {"city": "Rome"}},
                    {"type": "tool_use", "id": "call_3", "name": "now", "input": {}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "21C"}]},
                    {"type": "tool_result", "tool_use_id": "call_3"},
                    {"type": "text", "text": "Thanks"},
                ]},
            ])
        );
    }

    #[test]
    fn assistant_without_content_and_dropped_message_fields() {
        let out = from_chat(json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "Hi", "name": "bob"},
                {"role": "assistant", "content": null, "reasoning_content": "hmm", "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "assistant", "content": ""},
            ],
        }));
        assert_eq!(
            out["messages"][1],
            json!({"role": "assistant", "content": [{"type": "tool_use", "id": "c", "name": "f", "input": {}}]})
        );
        assert_eq!(out["messages"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn unparsable_arguments_name_the_param() {
        for args in [json!("{not json"), json!("[1,2]"), json!("3"), json!(5)] {
            let e = from_chat_err(json!({
                "model": "m",
                "messages": [user("x"), {"role": "assistant", "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": args}}]}],
            }));
            assert_eq!(
                e.param.as_deref(),
                Some("messages[1].tool_calls[0].function.arguments")
            );
        }
        let e = from_chat_err(json!({"model": "m", "messages": [
            {"role": "tool", "content": "x"}]}));
        assert_eq!(e.param.as_deref(), Some("messages[0].tool_call_id"));
        let e = from_chat_err(json!({"model": "m", "messages": [
            {"role": "function", "name": "f", "content": "x"}]}));
        assert_eq!(e.param.as_deref(), Some("messages[0].role"));
    }

    #[test]
    fn tools_and_tool_choice() {
        let tools = json!([
            {"type": "function", "function": {"name": "weather", "description": "Weather now",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true}},
            {"type": "function", "function": {"name": "now"}},
        ]);
        let req = |choice: Value, parallel: Value| {
            from_chat(
                json!({"model": "m", "messages": [user("x")], "tools": tools,
                "tool_choice": choice, "parallel_tool_calls": parallel}),
            )
        };
        let out = req(Value::Null, Value::Null);
        assert_eq!(
            out["tools"],
            json!([
                {"name": "weather", "description": "Weather now",
                    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
                {"name": "now", "input_schema": {"type": "object", "properties": {}}},
            ])
        );
        assert!(out.get("tool_choice").is_none());
        assert_eq!(
            req(json!("auto"), Value::Null)["tool_choice"],
            json!({"type": "auto"})
        );
        assert_eq!(
            req(json!("required"), Value::Null)["tool_choice"],
            json!({"type": "any"})
        );
        assert_eq!(
            req(json!("none"), Value::Null)["tool_choice"],
            json!({"type": "none"})
        );
        assert_eq!(
            req(
                json!({"type": "function", "function": {"name": "now"}}),
                Value::Null
            )["tool_choice"],
            json!({"type": "tool", "name": "now"})
        );
        assert_eq!(
            req(Value::Null, json!(false))["tool_choice"],
            json!({"type": "auto", "disable_parallel_tool_use": true})
        );
        assert_eq!(
            req(json!("required"), json!(false))["tool_choice"],
            json!({"type": "any", "disable_parallel_tool_use": true})
        );
        assert_eq!(
            req(json!("none"), json!(false))["tool_choice"],
            json!({"type": "none"})
        );
        assert!(req(Value::Null, json!(true)).get("tool_choice").is_none());
    }

    #[test]
    fn tool_errors() {
        let e = from_chat_err(json!({"model": "m", "messages": [user("x")],
            "tools": [{"type": "custom", "custom": {"name": "x"}}]}));
        assert_eq!(e.param.as_deref(), Some("tools[0].type"));
        let e = from_chat_err(
            json!({"model": "m", "messages": [user("x")], "tool_choice": "required"}),
        );
        assert_eq!(e.param.as_deref(), Some("tool_choice"));
        let e = from_chat_err(json!({"model": "m", "messages": [user("x")],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": {"type": "allowed_tools"}}));
        assert_eq!(e.param.as_deref(), Some("tool_choice"));
        // "none"/"auto" without tools answer in text, as asked.
        let out = from_chat(
            json!({"model": "m", "messages": [user("x")], "tool_choice": "none",
            "parallel_tool_calls": false}),
        );
        assert!(out.get("tool_choice").is_none() && out.get("tools").is_none());
    }

    #[test]
    fn untranslatable_and_unknown_fields() {
        let cases = [
            ("n", json!(2)),
            ("logprobs", json!(true)),
            ("top_logprobs", json!(3)),
            ("response_format", json!({"type": "json_object"})),
            (
                "response_format",
                json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}),
            ),
            ("logit_bias", json!({"50256": -100})),
            ("modalities", json!(["text", "audio"])),
            ("audio", json!({"voice": "alloy", "format": "wav"})),
            ("web_search_options", json!({})),
            ("functions", json!([{"name": "f"}])),
            ("function_call", json!("auto")),
            ("top_k", json!(5)),
            ("brand_new_option", json!(true)),
        ];
        for (key, value) in cases {
            let mut chat = json!({"model": "m", "messages": [user("x")]});
            chat[key] = value;
            let e = from_chat_err(chat);
            assert_eq!(e.param.as_deref(), Some(key), "{key}");
            assert!(e.message.contains(key));
        }
        // Neutral values and dropped hints pass.
        let out = from_chat(json!({"model": "m", "messages": [user("x")], "n": null,
            "top_logprobs": 0, "logit_bias": {}, "modalities": ["text"], "audio": null,
            "prediction": {"type": "content", "content": "x"}, "reasoning_effort": "high",
            "verbosity": "low", "prompt_cache_key": "k", "safety_identifier": "s-1"}));
        assert_eq!(out["metadata"], json!({"user_id": "s-1"}));
    }

    #[test]
    fn hostile_request_shapes() {
        let e = request_from_chat(&json!([1, 2]), &opts()).unwrap_err();
        assert_eq!(e.param, None);
        assert_eq!(
            from_chat_err(json!({"messages": []})).param.as_deref(),
            Some("model")
        );
        assert_eq!(
            from_chat_err(json!({"model": "m"})).param.as_deref(),
            Some("messages")
        );
        assert_eq!(
            from_chat_err(json!({"model": "m", "messages": [{"content": "x"}]}))
                .param
                .as_deref(),
            Some("messages[0].role")
        );
        assert_eq!(
            from_chat_err(json!({"model": "m", "messages": [{"role": "user", "content": 5}]}))
                .param
                .as_deref(),
            Some("messages[0].content")
        );
        assert_eq!(
            from_chat_err(json!({"model": "m", "messages": [user("x")], "stream": "yes"}))
                .param
                .as_deref(),
            Some("stream")
        );
    }

    // ---- Anthropic request → chat ----

    #[test]
    fn anthropic_request_to_chat() {
        let chat = request_to_chat(&json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 1024,
            "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4A"}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
                ]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "Let me look.", "signature": "sig"},
                    {"type": "text", "text": "A cat. "},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "cat"}},
                ]},
                {"role": "user", "content": [
                    {"type": "text", "text": "Go on"},
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "felis"}], "is_error": false},
                ]},
                {"role": "user", "content": "plain"},
            ],
            "stop_sequences": ["###"],
            "temperature": 0.5,
            "top_p": 0.8,
            "top_k": 40,
            "stream": true,
            "metadata": {"user_id": "u-1"},
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "tools": [{"name": "lookup", "description": "Look up", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
        }))
        .unwrap();
        assert_eq!(
            chat,
            json!({
                "model": "claude-sonnet-4-5",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4A"}},
                        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                    ]},
                    {"role": "assistant", "content": "A cat. Checking.", "tool_calls": [
                        {"id": "toolu_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"cat\"}"}},
                    ]},
                    {"role": "tool", "tool_call_id": "toolu_1", "content": "felis"},
                    {"role": "user", "content": "Go on"},
                    {"role": "user", "content": "plain"},
                ],
                "max_tokens": 1024,
                "stop": ["###"],
                "temperature": 0.5,
                "top_p": 0.8,
                "stream": true,
                "stream_options": {"include_usage": true},
                "user": "u-1",
                "tools": [{"type": "function", "function": {"name": "lookup", "description": "Look up",
                    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}],
                "tool_choice": "required",
                "parallel_tool_calls": false,
            })
        );
    }

    #[test]
    fn anthropic_tool_choice_and_system_variants() {
        let base = |choice: Value| {
            request_to_chat(&json!({"model": "m", "max_tokens": 5, "system": "S",
                "messages": [{"role": "user", "content": "x"}],
                "tools": [{"name": "f", "input_schema": {"type": "object"}}], "tool_choice": choice}))
            .unwrap()
        };
        assert_eq!(base(json!({"type": "auto"}))["tool_choice"], "auto");
        assert_eq!(base(json!({"type": "none"}))["tool_choice"], "none");
        assert_eq!(
            base(json!({"type": "tool", "name": "f"}))["tool_choice"],
            json!({"type": "function", "function": {"name": "f"}})
        );
        assert_eq!(
            base(json!({"type": "auto"}))["messages"][0],
            json!({"role": "system", "content": "S"})
        );
        assert!(base(Value::Null).get("tool_choice").is_none());
        let two = request_to_chat(&json!({"model": "m", "max_tokens": 5,
            "system": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}],
            "messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]}]}))
        .unwrap();
        assert_eq!(
            two["messages"],
            json!([
                {"role": "system", "content": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "t", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            ])
        );
    }

    #[test]
    fn anthropic_untranslatable() {
        let with_block = |block: Value| {
            request_to_chat(&json!({"model": "m", "max_tokens": 5, "messages": [
                {"role": "user", "content": [{"type": "text", "text": "x"}, block]}]}))
            .unwrap_err()
        };
        let e = with_block(
            json!({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}}),
        );
        assert_eq!(e.param.as_deref(), Some("messages[0].content[1].type"));
        let e = with_block(
            json!({"type": "search_result", "source": "s", "title": "t", "content": []}),
        );
        assert_eq!(e.param.as_deref(), Some("messages[0].content[1].type"));
        let e = with_block(json!({"type": "image", "source": {"type": "file", "file_id": "f"}}));
        assert_eq!(
            e.param.as_deref(),
            Some("messages[0].content[1].source.type")
        );
        let e = with_block(
            json!({"type": "tool_result", "tool_use_id": "t", "content": [
            {"type": "image", "source": {"type": "url", "url": "https://x"}}]}),
        );
        assert_eq!(
            e.param.as_deref(),
            Some("messages[0].content[1].content[0].type")
        );
        let e = request_to_chat(&json!({"model": "m", "max_tokens": 5, "messages": [],
            "tools": [{"type": "web_search_20250305", "name": "web_search"}]}))
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("tools[0].type"));
        let e = request_to_chat(&json!({"model": "m", "max_tokens": 5, "messages": [],
            "mcp_servers": []}))
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("mcp_servers"));
        let e = request_to_chat(
            &json!({"model": "m", "messages": [{"role": "system", "content": "x"}]}),
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages[0].role"));
        assert_eq!(request_to_chat(&json!("x")).unwrap_err().param, None);
    }

    #[test]
    fn request_round_trip_keeps_the_conversation() {
        let chat = json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "S"},
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{\"c\":\"P\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            ],
            "max_tokens": 100,
            "stop": ["x"],
            "tools": [{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}],
            "tool_choice": "required",
        });
        let back = request_to_chat(&from_chat(chat.clone())).unwrap();
        assert_eq!(back, chat);
    }

    // ---- answers ----

    fn anthropic_answer() -> Value {
        json!({
            "id": "msg_01ABC",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [
                {"type": "thinking", "thinking": "User wants weather.", "signature": "sig"},
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
            ],
            "stop_reason": "tool_use",
            "stop_sequence": null,
            "usage": {"input_tokens": 100, "output_tokens": 30, "cache_read_input_tokens": 900, "cache_creation_input_tokens": 50},
        })
    }

    #[test]
    fn anthropic_answer_to_chat() {
        assert_eq!(
            answer_to_chat(&anthropic_answer()),
            json!({
                "id": "chatcmpl-msg_01ABC",
                "object": "chat.completion",
                "created": 0,
                "model": "claude-sonnet-4-5",
                "choices": [{
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "Let me check.",
                        "reasoning_content": "User wants weather.",
                        "tool_calls": [{"id": "toolu_1", "type": "function",
                            "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}],
                        "refusal": null,
                    },
                    "logprobs": null,
                    "finish_reason": "tool_calls",
                }],
                "usage": chat_usage(1050, 30, 900, 0),
            })
        );
        assert_eq!(
            answer_to_chat_at(&anthropic_answer(), 1_700_000_000)["created"],
            1_700_000_000
        );
    }

    #[test]
    fn stop_reasons_both_ways() {
        for (stop, finish) in [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("pause_turn", "stop"),
            ("max_tokens", "length"),
            ("model_context_window_exceeded", "length"),
            ("tool_use", "tool_calls"),
            ("refusal", "content_filter"),
            ("something_new", "stop"),
        ] {
            let ans = json!({"id": "msg_1", "content": [], "stop_reason": stop});
            assert_eq!(
                answer_to_chat(&ans)["choices"][0]["finish_reason"],
                finish,
                "{stop}"
            );
        }
        for (finish, stop) in [
            ("stop", "end_turn"),
            ("length", "max_tokens"),
            ("tool_calls", "tool_use"),
            ("function_call", "tool_use"),
            ("content_filter", "refusal"),
        ] {
            let chat = json!({"id": "c", "choices": [{"message": {"content": "x"}, "finish_reason": finish}]});
            assert_eq!(answer_from_chat(&chat)["stop_reason"], stop, "{finish}");
        }
    }

    #[test]
    fn chat_answer_to_anthropic() {
        let chat = json!({
            "id": "chatcmpl-xyz",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o",
            "choices": [{"index": 0, "message": {
                "role": "assistant", "content": "On it.", "reasoning_content": "hidden",
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "oops"}},
                    {"id": "call_3", "type": "function", "function": {"name": "h", "arguments": ""}},
                ]}, "finish_reason": "tool_calls"}],
            "usage": chat_usage(1000, 20, 800, 0),
        });
        assert_eq!(
            answer_from_chat(&chat),
            json!({
                "id": "msg_xyz",
                "type": "message",
                "role": "assistant",
                "model": "gpt-4o",
                "content": [
                    {"type": "text", "text": "On it."},
                    {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}},
                    {"type": "tool_use", "id": "call_2", "name": "g", "input": "oops"},
                    {"type": "tool_use", "id": "call_3", "name": "h", "input": {}},
                ],
                "stop_reason": "tool_use",
                "stop_sequence": null,
                "usage": {"input_tokens": 200, "output_tokens": 20, "cache_read_input_tokens": 800},
            })
        );
        // A refusal is what the model said.
        let refused = json!({"id": "c", "choices": [{"message": {"content": null, "refusal": "No."},
            "finish_reason": "content_filter"}]});
        assert_eq!(
            answer_from_chat(&refused)["content"],
            json!([{"type": "text", "text": "No."}])
        );
    }

    #[test]
    fn answers_round_trip() {
        // Anthropic → chat → Anthropic keeps everything but the thinking (no signature).
        let ans = anthropic_answer();
        let back = answer_from_chat(&answer_to_chat(&ans));
        assert_eq!(back["id"], ans["id"]);
        assert_eq!(back["model"], ans["model"]);
        assert_eq!(
            back["content"],
            json!([ans["content"][1], ans["content"][2]])
        );
        assert_eq!(back["stop_reason"], "tool_use");
        // Cache writes are folded into input_tokens: chat has no field for them.
        assert_eq!(
            back["usage"],
            json!({"input_tokens": 150, "output_tokens": 30, "cache_read_input_tokens": 900})
        );
        // chat → Anthropic → chat keeps the message.
        let chat = answer_to_chat(&ans);
        let again = answer_to_chat(&answer_from_chat(&chat));
        assert_eq!(
            again["choices"][0]["message"]["content"],
            chat["choices"][0]["message"]["content"]
        );
        assert_eq!(
            again["choices"][0]["message"]["tool_calls"],
            chat["choices"][0]["message"]["tool_calls"]
        );
        assert_eq!(again["usage"], chat["usage"]);
        assert_eq!(again["id"], chat["id"]);
    }

    #[test]
    fn hostile_answers_do_not_panic() {
        for v in [
            json!(null),
            json!(42),
            json!("x"),
            json!([1]),
            json!({"content": "x", "usage": 5}),
            json!({"choices": [null], "usage": "x"}),
            json!({"choices": [{"message": {"content": 5, "tool_calls": [1, {"function": 2}]}}]}),
        ] {
            let chat = answer_to_chat(&v);
            assert_eq!(chat["choices"][0]["message"]["content"], Value::Null);
            let ans = answer_from_chat(&v);
            assert_eq!(ans["type"], "message");
        }
    }

    // ---- errors ----

    fn anthropic_error(kind: &str, message: &str) -> Vec<u8> {
        json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn anthropic_errors_to_openai() {
        let cases = [
            (
                400,
                "invalid_request_error",
                "bad",
                400,
                "invalid_request_error",
                Value::Null,
            ),
            (
                400,
                "invalid_request_error",
                "prompt is too long: 210000 tokens > 200000 maximum",
                400,
                "invalid_request_error",
                json!("context_length_exceeded"),
            ),
            (
                401,
                "authentication_error",
                "bad key",
                401,
                "invalid_request_error",
                json!("invalid_api_key"),
            ),
            (
                402,
                "billing_error",
                "pay",
                402,
                "insufficient_quota",
                json!("insufficient_quota"),
            ),
            (
                403,
                "permission_error",
                "no",
                403,
                "invalid_request_error",
                json!("permission_denied"),
            ),
            (
                404,
                "not_found_error",
                "model: x",
                404,
                "invalid_request_error",
                json!("not_found"),
            ),
            (
                413,
                "request_too_large",
                "big",
                413,
                "invalid_request_error",
                json!("request_too_large"),
            ),
            (
                429,
                "rate_limit_error",
                "slow",
                429,
                "rate_limit_error",
                json!("rate_limit_exceeded"),
            ),
            (500, "api_error", "oops", 500, "server_error", Value::Null),
            (
                529,
                "overloaded_error",
                "Overloaded",
                503,
                "server_error",
                json!("overloaded"),
            ),
            (
                504,
                "timeout_error",
                "slow",
                504,
                "server_error",
                json!("timeout"),
            ),
            (
                502,
                "new_error",
                "?",
                502,
                "server_error",
                json!("new_error"),
            ),
            (
                409,
                "conflict_error",
                "?",
                409,
                "invalid_request_error",
                json!("conflict_error"),
            ),
        ];
        for (status, kind, message, out_status, out_type, code) in cases {
            let e = error_to_openai(status, &anthropic_error(kind, message));
            assert_eq!(e.status, out_status, "{kind}");
            assert_eq!(
                e.body,
                json!({"error": {"message": message, "type": out_type, "param": null, "code": code}}),
                "{kind}"
            );
        }
    }

    #[test]
    fn non_json_errors() {
        let e = error_to_openai(413, b"<html>Request Entity Too Large</html>");
        assert_eq!(e.status, 413);
        assert_eq!(e.body["error"]["message"], "anthropic answered HTTP 413");
        assert_eq!(e.body["error"]["code"], "request_too_large");
        let e = error_to_openai(529, b"");
        assert_eq!(
            (e.status, e.body["error"]["type"].clone()),
            (503, json!("server_error"))
        );
        let e = error_from_openai(502, b"bad gateway");
        assert_eq!(
            e,
            ErrorOut {
                status: 502,
                body: json!({"type": "error", "error": {"type": "api_error", "message": "the provider answered HTTP 502"}}),
            }
        );
    }

    #[test]
    fn openai_errors_to_anthropic() {
        let body = |kind: &str, code: Value| {
            json!({"error": {"message": "m", "type": kind, "param": null, "code": code}})
                .to_string()
                .into_bytes()
        };
        let cases = [
            (
                400,
                body("invalid_request_error", Value::Null),
                "invalid_request_error",
            ),
            (
                401,
                body("invalid_request_error", json!("invalid_api_key")),
                "authentication_error",
            ),
            (
                403,
                body("invalid_request_error", Value::Null),
                "permission_error",
            ),
            (
                404,
                body("invalid_request_error", json!("model_not_found")),
                "not_found_error",
            ),
            (
                429,
                body("requests", json!("rate_limit_exceeded")),
                "rate_limit_error",
            ),
            (
                429,
                body("insufficient_quota", json!("insufficient_quota")),
                "billing_error",
            ),
            (500, body("server_error", Value::Null), "api_error"),
            (503, body("server_error", Value::Null), "overloaded_error"),
            (504, body("server_error", Value::Null), "timeout_error"),
        ];
        for (status, b, kind) in cases {
            let e = error_from_openai(status, &b);
            assert_eq!(e.status, status);
            assert_eq!(
                e.body,
                json!({"type": "error", "error": {"type": kind, "message": "m"}}),
                "{status}"
            );
        }
    }

    // ---- streams: Anthropic → canonical ----

    fn feed(src: &mut Source, events: &[Value]) -> Vec<Chunk> {
        let mut out = Vec::new();
        for e in events {
            let name = e["type"].as_str().map(str::to_owned);
            src.event(name.as_deref(), &e.to_string(), &mut out);
        }
        out
    }

    fn data(chunks: &[Chunk]) -> Vec<Value> {
        chunks
            .iter()
            .filter_map(|c| match c {
                Chunk::Data(v) => Some(v.clone()),
                Chunk::Done => None,
            })
            .collect()
    }

    /// Anthropic's events for: thinking, text, two tool calls with split JSON, cached usage.
    fn anthropic_stream() -> Vec<Value> {
        vec![
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                "model": "claude-sonnet-4-5", "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5, "output_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
            json!({"type": "ping"}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Two cities."}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQB"}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Checking"}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": " both."}}),
            json!({"type": "content_block_stop", "index": 1}),
            json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_A", "name": "weather", "input": {}}}),
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": ""}}),
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": "}}),
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "\"Paris\"}"}}),
            json!({"type": "content_block_stop", "index": 2}),
            json!({"type": "content_block_start", "index": 3, "content_block": {"type": "tool_use", "id": "toolu_B", "name": "weather", "input": {}}}),
            json!({"type": "content_block_delta", "index": 3, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": \"Rome\"}"}}),
            json!({"type": "content_block_stop", "index": 3}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
                "usage": {"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5, "output_tokens": 42}}),
            json!({"type": "message_stop"}),
        ]
    }

    #[test]
    fn source_full_stream() {
        let mut src = Source::new(1234);
        let mut chunks = feed(&mut src, &anthropic_stream());
        src.end(&mut chunks);
        assert_eq!(chunks.last(), Some(&Chunk::Done));
        assert_eq!(chunks.iter().filter(|c| **c == Chunk::Done).count(), 1);
        let all = data(&chunks);
        for c in &all {
            assert_eq!(c["id"], "chatcmpl-msg_1");
            assert_eq!(c["object"], "chat.completion.chunk");
            assert_eq!(c["created"], 1234);
            assert_eq!(c["model"], "claude-sonnet-4-5");
        }
        let deltas: Vec<Value> = all
            .iter()
            .map(|c| c["choices"][0]["delta"].clone())
            .collect();
        assert_eq!(
            deltas,
            vec![
                json!({"role": "assistant"}),
                json!({"reasoning_content": "Two cities."}),
                json!({"content": "Checking"}),
                json!({"content": " both."}),
                json!({"tool_calls": [{"index": 0, "id": "toolu_A", "type": "function", "function": {"name": "weather", "arguments": ""}}]}),
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\": "}}]}),
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}),
                json!({"tool_calls": [{"index": 1, "id": "toolu_B", "type": "function", "function": {"name": "weather", "arguments": ""}}]}),
                json!({"tool_calls": [{"index": 1, "function": {"arguments": "{\"city\": \"Rome\"}"}}]}),
                json!({}),
                Value::Null,
            ]
        );
        let finish = &all[all.len() - 2];
        assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
        let usage = &all[all.len() - 1];
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"], chat_usage(115, 42, 100, 0));
    }

    #[test]
    fn source_cut_stream_claims_nothing() {
        let events = anthropic_stream();
        // Cut after the first tool call, and cut after message_delta.
        for cut in [15, 19] {
            let mut src = Source::default();
            let mut chunks = feed(&mut src, &events[..cut]);
            src.end(&mut chunks);
            assert!(!chunks.contains(&Chunk::Done));
            assert!(data(&chunks).iter().all(|c| c.get("usage").is_none()));
        }
    }

    #[test]
    fn source_error_event() {
        let mut src = Source::default();
        let mut events = anthropic_stream();
        events.truncate(9);
        events.push(json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}));
        events.push(json!({"type": "message_stop"}));
        let mut chunks = feed(&mut src, &events);
        src.end(&mut chunks);
        assert!(!chunks.contains(&Chunk::Done));
        assert_eq!(
            data(&chunks).last().unwrap(),
            &json!({"error": {"message": "Overloaded", "type": "server_error", "code": "overloaded"}})
        );
    }

    /// An event that is not JSON lost part of the answer: the stream ends with an error and never
    /// completes, though the provider's own `message_stop` follows.
    #[test]
    fn a_non_json_event_fails_the_stream() {
        let mut src = Source::default();
        let mut out = Vec::new();
        src.event(None, "not json", &mut out);
        src.event(
            Some("message_stop"),
            "{\"type\":\"message_stop\"}",
            &mut out,
        );
        src.end(&mut out);
        assert!(!out.contains(&Chunk::Done));
        assert_eq!(data(&out), vec![unreadable_event()]);
    }

    #[test]
    fn source_tolerates_odd_input() {
        let mut src = Source::default();
        let mut out = Vec::new();
        src.event(Some("ping"), "{\"type\":\"ping\"}", &mut out);
        src.event(Some("content_block_delta"), "[]", &mut out);
        src.event(None, "{\"type\":\"content_block_start\"}", &mut out);
        assert!(out.is_empty());
        // The event name stands in for a missing `type`; a delta for an unseen tool block is
        // dropped; text before message_start still gets a role chunk first.
        src.event(
            Some("content_block_delta"),
            "{\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}",
            &mut out,
        );
        src.event(
            None,
            "{\"type\":\"content_block_delta\",\"index\":5,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\"}}",
            &mut out,
        );
        // message_stop without message_delta: a finish "stop", usage, Done.
        src.event(
            Some("message_stop"),
            "{\"type\":\"message_stop\"}",
            &mut out,
        );
        let deltas: Vec<Value> = data(&out).iter().map(|c| c["choices"][0].clone()).collect();
        assert_eq!(deltas[0]["delta"], json!({"role": "assistant"}));
        assert_eq!(deltas[1]["delta"], json!({"content": "hi"}));
        assert_eq!(deltas[2]["finish_reason"], "stop");
        assert_eq!(out.len(), 5);
        assert_eq!(out.last(), Some(&Chunk::Done));
        // Nothing after the end.
        let mut more = Vec::new();
        src.event(
            Some("message_stop"),
            "{\"type\":\"message_stop\"}",
            &mut more,
        );
        assert!(more.is_empty());
    }

    // ---- streams: canonical → Anthropic ----

    fn chunk(delta: Value, finish: Value) -> Chunk {
        Chunk::Data(
            json!({"id": "chatcmpl-abc", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]}),
        )
    }

    fn usage_chunk(prompt: u64, completion: u64, cached: u64) -> Chunk {
        Chunk::Data(
            json!({"id": "chatcmpl-abc", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
            "choices": [], "usage": chat_usage(prompt, completion, cached, 0)}),
        )
    }

    fn render(sink: &mut Sink, chunks: &[Chunk]) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for c in chunks {
            sink.chunk(c, &mut out);
        }
        sink.end(&mut out);
        out.iter()
            .map(|e| {
                let v: Value = serde_json::from_str(&e.data).unwrap();
                assert_eq!(Some(v["type"].as_str().unwrap()), e.event.as_deref());
                (e.event.clone().unwrap(), v)
            })
            .collect()
    }

    fn names(events: &[(String, Value)]) -> Vec<&str> {
        events.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn sink_text_and_tool_calls() {
        let chunks = vec![
            chunk(json!({"role": "assistant", "content": ""}), Value::Null),
            chunk(json!({"reasoning_content": "thinking..."}), Value::Null),
            chunk(json!({"content": "Checking"}), Value::Null),
            chunk(json!({"content": " both."}), Value::Null),
            chunk(
                json!({"tool_calls": [{"index": 0, "id": "call_A", "type": "function", "function": {"name": "weather", "arguments": ""}}]}),
                Value::Null,
            ),
            chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}),
                Value::Null,
            ),
            chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}),
                Value::Null,
            ),
            chunk(
                json!({"tool_calls": [{"index": 1, "id": "call_B", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}}]}),
                Value::Null,
            ),
            chunk(json!({}), json!("tool_calls")),
            usage_chunk(1000, 50, 800),
            Chunk::Done,
        ];
        let events = render(&mut Sink::default(), &chunks);
        assert_eq!(
            names(&events),
            vec![
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
            ]
        );
        let v: Vec<&Value> = events.iter().map(|(_, v)| v).collect();
        assert_eq!(
            v[0],
            &json!({"type": "message_start", "message": {"id": "msg_abc", "type": "message", "role": "assistant",
                "model": "gpt-4o", "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0}}})
        );
        assert_eq!(
            v[1],
            &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
        );
        assert_eq!(
            v[2],
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Checking"}})
        );
        assert_eq!(v[4], &json!({"type": "content_block_stop", "index": 0}));
        assert_eq!(
            v[5],
            &json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "call_A", "name": "weather", "input": {}}})
        );
        assert_eq!(
            v[6],
            &json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\":"}})
        );
        assert_eq!(v[7]["delta"]["partial_json"], "\"Paris\"}");
        assert_eq!(v[9]["content_block"]["id"], "call_B");
        assert_eq!(v[9]["index"], 2);
        assert_eq!(v[10]["delta"]["partial_json"], "{\"city\":\"Rome\"}");
        assert_eq!(
            v[12],
            &json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
                "usage": {"input_tokens": 200, "output_tokens": 50, "cache_read_input_tokens": 800}})
        );
        assert_eq!(v[13], &json!({"type": "message_stop"}));
    }

    #[test]
    fn sink_content_with_finish_and_no_usage() {
        let chunks = vec![
            chunk(json!({"role": "assistant", "content": "All"}), Value::Null),
            chunk(json!({"content": " done."}), json!("length")),
            Chunk::Done,
        ];
        let events = render(&mut Sink::default(), &chunks);
        assert_eq!(
            names(&events),
            vec![
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(
            events[4].1,
            json!({"type": "content_block_stop", "index": 0})
        );
        assert_eq!(
            events[5].1,
            json!({"type": "message_delta", "delta": {"stop_reason": "max_tokens", "stop_sequence": null},
                "usage": {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0}})
        );
    }

    #[test]
    fn sink_text_after_tool_and_late_pieces() {
        let chunks = vec![
            chunk(
                json!({"tool_calls": [{"index": 0, "id": "c0", "function": {"name": "f", "arguments": "{}"}}]}),
                Value::Null,
            ),
            chunk(json!({"content": "between"}), Value::Null),
            // A late piece of a closed call cannot be said: dropped.
            chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "x"}}]}),
                Value::Null,
            ),
            chunk(
                json!({"tool_calls": [{"index": 1, "function": {"name": "g", "arguments": ""}}]}),
                Value::Null,
            ),
            chunk(json!({}), json!("tool_calls")),
            Chunk::Done,
        ];
        let events = render(&mut Sink::default(), &chunks);
        assert_eq!(
            names(&events),
            vec![
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(events[4].1["content_block"]["type"], "text");
        // A call that arrives without an id still gets one.
        assert_eq!(events[7].1["content_block"]["id"], "toolu_1");
    }

    #[test]
    fn sink_cut_stream_looks_cut() {
        let chunks = vec![
            chunk(json!({"role": "assistant", "content": "Half"}), Value::Null),
            chunk(
                json!({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": "{\"a\""}}]}),
                Value::Null,
            ),
        ];
        let events = render(&mut Sink::default(), &chunks);
        let n = names(&events);
        assert!(!n.contains(&"message_stop") && !n.contains(&"message_delta"));
        assert_eq!(n.last(), Some(&"content_block_delta"));
        // Even after a finish and usage, no message_stop without Done.
        let chunks = vec![
            chunk(json!({"content": "x"}), json!("stop")),
            usage_chunk(5, 1, 0),
        ];
        let events = render(&mut Sink::default(), &chunks);
        assert_eq!(names(&events).last(), Some(&"message_delta"));
    }

    #[test]
    fn sink_error_chunk() {
        let chunks = vec![
            chunk(json!({"content": "x"}), Value::Null),
            Chunk::Data(
                json!({"error": {"message": "Too many", "type": "rate_limit_error", "code": "rate_limit_exceeded"}}),
            ),
            chunk(json!({"content": "ignored"}), Value::Null),
            Chunk::Done,
        ];
        let events = render(&mut Sink::default(), &chunks);
        assert_eq!(names(&events).last(), Some(&"error"));
        assert_eq!(
            events.last().unwrap().1,
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": "Too many"}})
        );
        // An error before anything: just the error.
        let events = render(
            &mut Sink::default(),
            &[Chunk::Data(
                json!({"error": {"message": "boom", "type": "server_error", "code": null}}),
            )],
        );
        assert_eq!(names(&events), vec!["error"]);
        assert_eq!(events[0].1["error"]["type"], "api_error");
    }

    #[test]
    fn sink_empty_completed_stream() {
        let events = render(&mut Sink::default(), &[Chunk::Done]);
        assert_eq!(
            names(&events),
            vec!["message_start", "message_delta", "message_stop"]
        );
        assert_eq!(events[1].1["delta"]["stop_reason"], "end_turn");
    }

    #[test]
    fn anthropic_stream_through_canonical_and_back() {
        let mut src = Source::default();
        let mut chunks = feed(&mut src, &anthropic_stream());
        src.end(&mut chunks);
        let events = render(&mut Sink::default(), &chunks);
        // Thinking is dropped; text and both tool calls come back in Anthropic's order.
        assert_eq!(
            names(&events),
            vec![
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(events[0].1["message"]["id"], "msg_1");
        assert_eq!(events[0].1["message"]["model"], "claude-sonnet-4-5");
        let json_of = |range: std::ops::Range<usize>| -> String {
            events[range]
                .iter()
                .filter_map(|(_, v)| v["delta"]["partial_json"].as_str())
                .collect()
        };
        assert_eq!(json_of(5..9), "{\"city\": \"Paris\"}");
        assert_eq!(json_of(9..12), "{\"city\": \"Rome\"}");
        assert_eq!(
            events[12].1,
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
                "usage": {"input_tokens": 15, "output_tokens": 42, "cache_read_input_tokens": 100}})
        );
    }

    #[test]
    fn sse_framing() {
        let mut out = Vec::new();
        let mut sink = Sink::default();
        let mut events = Vec::new();
        sink.chunk(&Chunk::Done, &mut events);
        events[2].write(&mut out);
        assert_eq!(
            out,
            b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
        );
    }
}
