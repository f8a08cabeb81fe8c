//! OpenAI Responses API (`POST /v1/responses`) ⇄ OpenAI chat completions.
//!
//! Used when a client speaks Responses but the serving provider only has chat (or is reached
//! through chat → Anthropic/Gemini). Reference followed: OpenAI's published API reference for
//! "Create a model response", the response object and "Streaming events", and — for exact field
//! names and which fields are required — the type definitions of the official Python SDK
//! (`openai-python`, `src/openai/types/responses/*.py`: `Response`, `ResponseUsage`,
//! `ResponseOutputMessage`, `ResponseOutputText`, `ResponseFunctionToolCall`,
//! `ResponseReasoningItem`, the `Response*Event` classes, `ResponseCreateParams`), plus the SDK's
//! stream accumulator (`lib/streaming/responses`), which indexes its snapshot by `output_index`
//! and `content_index` — so items are numbered in the order they are added.
//!
//! # Request (Responses → chat)
//! * `instructions` → a leading `system` message; `developer` messages also become `system`:
//!   every chat provider knows `system`, `developer` is OpenAI-only (and OpenAI serves Responses
//!   natively, so never takes this path).
//! * `input` string → one user message. Items: `message` (also without `type`, the SDK's "easy"
//!   form) → a chat message; parts `input_text`/`output_text` → text parts, `refusal` → a text
//!   part (what the model said), `input_image` with `image_url` → an `image_url` part (user
//!   messages only). Consecutive `function_call` items join the assistant message before them
//!   (or a new one) as `tool_calls` (id = `call_id`); `function_call_output` → a `tool` message
//!   (text parts of an array output are concatenated). `reasoning` items are dropped: chat has no
//!   input for them (and their encrypted content is OpenAI's own).
//! * `tools` of type `function` → chat function tools; `tool_choice` `auto`/`none`/`required`/
//!   `{type:function,name}` → chat's form (sent only with tools, unless it demands a call, so
//!   the provider can reject that); `parallel_tool_calls` only with tools (OpenAI chat rejects it
//!   without). `max_output_tokens` → `max_tokens`, understood by every chat provider
//!   (`max_completion_tokens` is unknown to several OpenAI-compatible servers). `temperature`,
//!   `top_p`, `user` copied; `text.format` → `response_format`; `reasoning.effort` →
//!   `reasoning_effort`; `stream: true` → also `stream_options.include_usage`.
//! * Untranslatable (400, naming the field): anything needing state or execution on OpenAI's
//!   side — `previous_response_id`, `conversation`, `prompt` (stored templates), `background:
//!   true`, `store: true` (only when explicitly true: the SDK does not send `store`, and the
//!   default only matters to OpenAI's storage), a non-empty `include` (encrypted reasoning,
//!   hosted tool outputs, logprobs: nothing here can produce them), `context_management`
//!   (server-side compaction), `moderation`; hosted or non-function tools (`web_search`,
//!   `file_search`, `code_interpreter`, `computer_use_preview`, `image_generation`, `mcp`,
//!   `local_shell`, `custom`, ...) and `tool_choice` naming them or `allowed_tools`; input items
//!   other than the above (hosted tool calls, `item_reference`), `input_file` parts, images by
//!   `file_id` (stored files), images in tool outputs; any top-level field this module does not
//!   know (OpenAI itself rejects unknown parameters; silently ignoring one could change meaning).
//! * Dropped (documented, harmless): `metadata`, `service_tier`, `truncation` (`disabled` is
//!   chat's behaviour; `auto` only matters when the input overflows the context, where the
//!   client then sees the provider's context-length error instead of a silently shortened
//!   conversation), `max_tool_calls` (limits hosted tool calls, which are refused anyway),
//!   `top_logprobs` (logprobs are only returned through `include`, refused), `prompt_cache_key`,
//!   `prompt_cache_retention`, `prompt_cache_options`, `safety_identifier`, `stream_options`,
//!   `text.verbosity`, `reasoning.summary`; `store: false`, `background: false`, `include: []`.
//!   A field set to `null` counts as absent.
//!
//! # Answer (chat → Responses)
//! `id` `resp_` + the chat id without `chatcmpl-`; output in order: a `reasoning` item when the
//! chat message has `reasoning_content` (as `content: [{type: reasoning_text}]` with `summary:
//! []` — it is the raw reasoning, not a summary), a `message` item when there is text (a chat
//! `refusal` is rendered as text), one `function_call` item per tool call. `finish_reason`
//! `length` → `status: incomplete`, `incomplete_details.reason: max_output_tokens`
//! (`content_filter` likewise, with reason `content_filter`); the last item is then `incomplete`.
//! Request fields a Response echoes (`tools`, `tool_choice`, `temperature`, ...) come from the
//! request when it is known ([`answer_from_chat_for`], [`Sink::new`]), else defaults.
//!
//! # Stream
//! [`Sink`] renders the canonical chunks as Responses events (each with `type` and a
//! `sequence_number` counting from 0): `response.created` and `response.in_progress` first,
//! then one item at a time, as OpenAI does (a new item closes the open one): `output_item.added`,
//! `content_part.added`, `output_text.delta`s (or `reasoning_text.delta`s, or
//! `function_call_arguments.delta`s), then the closing `*.done` events; a `finish_reason` closes
//! the open item; [`Chunk::Done`] gives `response.completed` (or `response.incomplete`) with the
//! whole response and usage. An in-stream error gives an `error` event (the provider's code and
//! message) and `response.failed`. A stream that ends without [`Chunk::Done`] ends with no
//! terminal event, and open items are not closed: a cut stream must not look complete. Only
//! choice 0 is rendered (a Response has one output). Arguments of a tool call that arrive after
//! a later item opened (not OpenAI's order) reach only the final response.

use super::*;
use serde_json::{json, Map};

/// Most output items one stream renders; a hostile provider cannot grow the state further.
const MAX_ITEMS: usize = 256;

/// The suffix of every "not supported" message: where the request is going.
const VIA_CHAT: &str = "when this model is served through chat completions";

// ---------------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------------

/// Responses request → chat request.
pub fn request_to_chat(req: &Value) -> Result<Value, Untranslatable> {
    let Some(obj) = req.as_object() else {
        return Err(Untranslatable {
            message: "the request body must be a JSON object".to_owned(),
            param: None,
        });
    };
    check_fields(obj)?;
    let mut chat = Map::new();
    if let Some(model) = obj.get("model").filter(|m| !m.is_null()) {
        chat.insert("model".to_owned(), model.clone());
    }
    let mut messages = Vec::new();
    if let Some(instructions) = opt_str(obj, "instructions")? {
        messages.push(json!({"role": "system", "content": instructions}));
    }
    input_messages(obj.get("input"), &mut messages)?;
    if messages.is_empty() {
        return Err(Untranslatable::new("input", "`input` is required"));
    }
    chat.insert("messages".to_owned(), Value::Array(messages));
    let tools = chat_tools(obj.get("tools"))?;
    let has_tools = !tools.is_empty();
    if has_tools {
        chat.insert("tools".to_owned(), Value::Array(tools));
    }
    if let Some(choice) = chat_tool_choice(obj.get("tool_choice"))? {
        // Without tools "auto" and "none" mean the same as nothing, and OpenAI chat rejects a
        // tool_choice without tools; one that demands a call is passed on to be rejected.
        let harmless = matches!(choice.as_str(), Some("auto" | "none"));
        if has_tools || !harmless {
            chat.insert("tool_choice".to_owned(), choice);
        }
    }
    if let Some(parallel) = opt_bool(obj, "parallel_tool_calls")? {
        if has_tools {
            chat.insert("parallel_tool_calls".to_owned(), Value::Bool(parallel));
        }
    }
    if let Some(max) = opt_u64(obj, "max_output_tokens")? {
        chat.insert("max_tokens".to_owned(), Value::from(max));
    }
    for key in ["temperature", "top_p"] {
        if let Some(x) = opt_number(obj, key)? {
            chat.insert(key.to_owned(), x.clone());
        }
    }
    if let Some(user) = opt_str(obj, "user")? {
        chat.insert("user".to_owned(), Value::from(user));
    }
    if let Some(format) = response_format(obj.get("text"))? {
        chat.insert("response_format".to_owned(), format);
    }
    if let Some(effort) = reasoning_effort(obj.get("reasoning"))? {
        chat.insert("reasoning_effort".to_owned(), effort);
    }
    if opt_bool(obj, "stream")? == Some(true) {
        chat.insert("stream".to_owned(), Value::Bool(true));
        // The Responses stream ends with usage; chat only sends it when asked.
        chat.insert("stream_options".to_owned(), json!({"include_usage": true}));
    }
    Ok(Value::Object(chat))
}

/// Fields mapped by [`request_to_chat`].
const MAPPED: &[&str] = &[
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "max_output_tokens",
    "temperature",
    "top_p",
    "user",
    "text",
    "reasoning",
    "stream",
];

/// Fields dropped on purpose (see the module doc for why each is harmless).
const DROPPED: &[&str] = &[
    "metadata",
    "truncation",
    "service_tier",
    "max_tool_calls",
    "top_logprobs",
    "prompt_cache_key",
    "prompt_cache_retention",
    "prompt_cache_options",
    "safety_identifier",
    "stream_options",
];

/// Fields that need OpenAI's stored state or hosted execution, with the reason.
const HOSTED: &[(&str, &str)] = &[
    (
        "previous_response_id",
        "it continues a response stored by OpenAI; send the whole conversation in `input`",
    ),
    (
        "conversation",
        "conversations are stored by OpenAI; send the whole conversation in `input`",
    ),
    ("prompt", "prompt templates are stored by OpenAI"),
    (
        "context_management",
        "context compaction runs on OpenAI's servers",
    ),
    ("moderation", "moderation runs on OpenAI's servers"),
];

/// Rejects what cannot be translated among the top-level fields (`null` counts as absent).
fn check_fields(obj: &Map<String, Value>) -> Result<(), Untranslatable> {
    for (key, value) in obj {
        if value.is_null() || MAPPED.contains(&key.as_str()) || DROPPED.contains(&key.as_str()) {
            continue;
        }
        if let Some((_, why)) = HOSTED.iter().find(|(k, _)| k == key) {
            return Err(unsupported(key, &format!("`{key}`"), why));
        }
        let refused = match key.as_str() {
            "store" => (value == &Value::Bool(true))
                .then_some("responses are not stored; leave `store` unset or false"),
            "background" => (value == &Value::Bool(true))
                .then_some("background responses run and are stored on OpenAI's servers"),
            "include" => value
                .as_array()
                .is_none_or(|a| !a.is_empty())
                .then_some("the extra outputs it asks for are produced by OpenAI's servers"),
            _ => Some("it is an unknown parameter"),
        };
        if let Some(why) = refused {
            return Err(unsupported(key, &format!("`{key}`"), why));
        }
    }
    Ok(())
}

/// An [`Untranslatable`] for `param`: "`what` is not supported when ...: why".
fn unsupported(param: &str, what: &str, why: &str) -> Untranslatable {
    Untranslatable::new(param, format!("{what} is not supported {VIA_CHAT}: {why}"))
}

/// An [`Untranslatable`] for a field of the wrong type or missing.
fn invalid(param: &str, what: &str) -> Untranslatable {
    Untranslatable::invalid(param, what)
}

/// An optional string field (`null` = absent).
fn opt_str<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, Untranslatable> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(key, "must be a string")),
    }
}

/// An optional boolean field (`null` = absent).
fn opt_bool(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, Untranslatable> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(invalid(key, "must be a boolean")),
    }
}

/// An optional non-negative integer field (`null` = absent).
fn opt_u64(obj: &Map<String, Value>, key: &str) -> Result<Option<u64>, Untranslatable> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| invalid(key, "must be a non-negative integer")),
    }
}

/// An optional number field (`null` = absent).
fn opt_number<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Value>, Untranslatable> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Number(_)) => Ok(Some(v)),
        Some(_) => Err(invalid(key, "must be a number")),
    }
}

/// A required string field of an input item at `path`.
fn item_str<'a>(
    obj: &'a Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<&'a str, Untranslatable> {
    obj.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(&format!("{path}.{key}"), "is required (a string)"))
}

/// `input` (string or items) → chat messages appended to `out`.
fn input_messages(input: Option<&Value>, out: &mut Vec<Value>) -> Result<(), Untranslatable> {
    match input {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) => {
            out.push(json!({"role": "user", "content": s}));
            Ok(())
        }
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                input_item(&format!("input[{i}]"), item, out)?;
            }
            Ok(())
        }
        Some(_) => Err(invalid(
            "input",
            "must be a string or an array of input items",
        )),
    }
}

/// One input item at `path` → chat messages appended to `out`.
fn input_item(path: &str, item: &Value, out: &mut Vec<Value>) -> Result<(), Untranslatable> {
    let Some(obj) = item.as_object() else {
        return Err(invalid(path, "must be an object"));
    };
    // The SDK's "easy" message has no `type`; an item with only an `id` is a reference.
    let kind = match obj.get("type") {
        Some(Value::String(t)) => t.as_str(),
        None | Some(Value::Null) if obj.contains_key("role") => "message",
        None | Some(Value::Null) => "item_reference",
        Some(_) => return Err(invalid(&format!("{path}.type"), "must be a string")),
    };
    match kind {
        "message" => out.push(message(path, obj)?),
        "function_call" => push_function_call(path, obj, out)?,
        "function_call_output" => out.push(tool_message(path, obj)?),
        // Chat has no input for reasoning; the model reasons afresh.
        "reasoning" => {}
        "item_reference" => {
            return Err(unsupported(
                &format!("{path}.type"),
                "`item_reference` input items",
                "they refer to items stored by OpenAI",
            ))
        }
        other => {
            return Err(unsupported(
                &format!("{path}.type"),
                &format!("input items of type `{other}`"),
                "chat completions only has messages, function calls and their outputs",
            ))
        }
    }
    Ok(())
}

/// A `message` item → a chat message (`developer` becomes `system`, see the module doc).
fn message(path: &str, obj: &Map<String, Value>) -> Result<Value, Untranslatable> {
    let role = match obj.get("role").and_then(Value::as_str) {
        Some("user") => "user",
        Some("assistant") => "assistant",
        Some("system" | "developer") => "system",
        _ => {
            return Err(invalid(
                &format!("{path}.role"),
                "must be user, assistant, system or developer",
            ))
        }
    };
    let content = match obj.get("content") {
        Some(Value::String(s)) => Value::from(s.as_str()),
        Some(Value::Array(parts)) => content_parts(path, role, parts)?,
        _ => {
            return Err(invalid(
                &format!("{path}.content"),
                "must be a string or an array of content parts",
            ))
        }
    };
    Ok(json!({"role": role, "content": content}))
}

/// A message's content parts → chat content parts.
fn content_parts(path: &str, role: &str, parts: &[Value]) -> Result<Value, Untranslatable> {
    let mut out = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let at = format!("{path}.content[{j}]");
        let text_of = |key: &str| {
            part.get(key)
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(&format!("{at}.{key}"), "is required (a string)"))
        };
        match part.get("type").and_then(Value::as_str) {
            Some("input_text" | "output_text" | "text") => {
                out.push(json!({"type": "text", "text": text_of("text")?}));
            }
            // What the model said when it refused: kept as text, which every provider takes.
            Some("refusal") => out.push(json!({"type": "text", "text": text_of("refusal")?})),
            Some("input_image") if role == "user" => out.push(image_part(&at, part)?),
            Some("input_image") => {
                return Err(unsupported(
                    &format!("{at}.type"),
                    "images outside user messages",
                    "chat completions takes images in user messages only",
                ))
            }
            Some("input_file") => {
                return Err(unsupported(
                    &format!("{at}.type"),
                    "`input_file` content parts",
                    "chat providers take no files",
                ))
            }
            Some(other) => {
                return Err(unsupported(
                    &format!("{at}.type"),
                    &format!("content parts of type `{other}`"),
                    "only text and image parts translate",
                ))
            }
            None => return Err(invalid(&format!("{at}.type"), "is required (a string)")),
        }
    }
    Ok(Value::Array(out))
}

/// An `input_image` part → a chat `image_url` part.
fn image_part(at: &str, part: &Value) -> Result<Value, Untranslatable> {
    if part.get("file_id").is_some_and(|f| !f.is_null()) {
        return Err(unsupported(
            &format!("{at}.file_id"),
            "images by `file_id`",
            "they refer to files stored by OpenAI; send `image_url` (a URL or a data URL)",
        ));
    }
    let Some(url) = part.get("image_url").and_then(Value::as_str) else {
        return Err(invalid(
            &format!("{at}.image_url"),
            "is required (a string)",
        ));
    };
    let mut image = Map::new();
    image.insert("url".to_owned(), Value::from(url));
    // Chat knows these three; anything else (or none) leaves the provider's default.
    if let Some(detail @ ("auto" | "low" | "high")) = part.get("detail").and_then(Value::as_str) {
        image.insert("detail".to_owned(), Value::from(detail));
    }
    Ok(json!({"type": "image_url", "image_url": image}))
}

/// A `function_call` item → a tool call of the assistant message before it, or of a new one
/// (chat wants the calls of one turn in one message, with any text of that turn).
fn push_function_call(
    path: &str,
    obj: &Map<String, Value>,
    out: &mut Vec<Value>,
) -> Result<(), Untranslatable> {
    let call_id = item_str(obj, path, "call_id")?;
    let name = item_str(obj, path, "name")?;
    let arguments = match obj.get("arguments") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => {
            return Err(invalid(
                &format!("{path}.arguments"),
                "is required (a string)",
            ))
        }
        // Arguments sent as a JSON value instead of its text: the text is meant.
        Some(other) => other.to_string(),
    };
    let call = json!({
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    });
    let last_assistant = out
        .last_mut()
        .and_then(Value::as_object_mut)
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("assistant"));
    if let Some(last) = last_assistant {
        let slot = last
            .entry("tool_calls")
            .or_insert_with(|| Value::Array(Vec::new()));
        match slot {
            Value::Array(calls) => calls.push(call),
            other => *other = Value::Array(vec![call]),
        }
        return Ok(());
    }
    out.push(json!({"role": "assistant", "content": null, "tool_calls": [call]}));
    Ok(())
}

/// A `function_call_output` item → a chat `tool` message.
fn tool_message(path: &str, obj: &Map<String, Value>) -> Result<Value, Untranslatable> {
    let call_id = item_str(obj, path, "call_id")?;
    let content = match obj.get("output") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => output_text(path, parts)?,
        _ => {
            return Err(invalid(
                &format!("{path}.output"),
                "must be a string or an array of content parts",
            ))
        }
    };
    Ok(json!({"role": "tool", "tool_call_id": call_id, "content": content}))
}

/// The text parts of a function call's output, concatenated (chat tool results are text).
fn output_text(path: &str, parts: &[Value]) -> Result<String, Untranslatable> {
    let mut text = String::new();
    for (j, part) in parts.iter().enumerate() {
        let at = format!("{path}.output[{j}]");
        match part.get("type").and_then(Value::as_str) {
            Some("input_text" | "output_text" | "text") => match part.get("text") {
                Some(Value::String(s)) => text.push_str(s),
                _ => return Err(invalid(&format!("{at}.text"), "is required (a string)")),
            },
            Some(other) => {
                return Err(unsupported(
                    &format!("{at}.type"),
                    &format!("`{other}` parts in a function call output"),
                    "chat tool results are text",
                ))
            }
            None => return Err(invalid(&format!("{at}.type"), "is required (a string)")),
        }
    }
    Ok(text)
}

/// `tools` → chat tools (function tools only).
fn chat_tools(tools: Option<&Value>) -> Result<Vec<Value>, Untranslatable> {
    match tools {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, t)| chat_tool(&format!("tools[{i}]"), t))
            .collect(),
        Some(_) => Err(invalid("tools", "must be an array")),
    }
}

/// One flat Responses function tool → a chat tool (`{type, function:{...}}`).
fn chat_tool(path: &str, tool: &Value) -> Result<Value, Untranslatable> {
    match tool.get("type").and_then(Value::as_str) {
        Some("function") => {}
        Some(other) => {
            return Err(unsupported(
                &format!("{path}.type"),
                &format!("`{other}` tools"),
                "chat completions only has `function` tools (hosted tools run on OpenAI's servers)",
            ))
        }
        None => return Err(invalid(&format!("{path}.type"), "is required (a string)")),
    }
    let Some(name) = tool.get("name").and_then(Value::as_str) else {
        return Err(invalid(&format!("{path}.name"), "is required (a string)"));
    };
    let mut function = Map::new();
    function.insert("name".to_owned(), Value::from(name));
    for key in ["description", "parameters", "strict"] {
        if let Some(v) = tool.get(key).filter(|v| !v.is_null()) {
            function.insert(key.to_owned(), v.clone());
        }
    }
    Ok(json!({"type": "function", "function": function}))
}

/// `tool_choice` → chat's form.
fn chat_tool_choice(choice: Option<&Value>) -> Result<Option<Value>, Untranslatable> {
    match choice {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => match s.as_str() {
            "auto" | "none" | "required" => Ok(Some(Value::from(s.as_str()))),
            _ => Err(invalid(
                "tool_choice",
                "must be auto, none, required or an object",
            )),
        },
        Some(Value::Object(obj)) => match obj.get("type").and_then(Value::as_str) {
            Some("function") => {
                let name = item_str(obj, "tool_choice", "name")?;
                Ok(Some(
                    json!({"type": "function", "function": {"name": name}}),
                ))
            }
            Some(other) => Err(unsupported(
                "tool_choice.type",
                &format!("`tool_choice` of type `{other}`"),
                "only `auto`, `none`, `required` and a named function translate",
            )),
            None => Err(invalid("tool_choice.type", "is required (a string)")),
        },
        Some(_) => Err(invalid("tool_choice", "must be a string or an object")),
    }
}

/// `text.format` → chat `response_format` (none for plain text).
fn response_format(text: Option<&Value>) -> Result<Option<Value>, Untranslatable> {
    let Some(text) = text.filter(|t| !t.is_null()) else {
        return Ok(None);
    };
    if !text.is_object() {
        return Err(invalid("text", "must be an object"));
    }
    let Some(format) = text.get("format").filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let Some(name) = format.get("name").and_then(Value::as_str) else {
                return Err(invalid("text.format.name", "is required (a string)"));
            };
            let Some(schema) = format.get("schema").filter(|s| s.is_object()) else {
                return Err(invalid("text.format.schema", "is required (an object)"));
            };
            let mut spec = Map::new();
            spec.insert("name".to_owned(), Value::from(name));
            if let Some(d) = format.get("description").filter(|d| !d.is_null()) {
                spec.insert("description".to_owned(), d.clone());
            }
            spec.insert("schema".to_owned(), schema.clone());
            if let Some(s) = format.get("strict").filter(|s| !s.is_null()) {
                spec.insert("strict".to_owned(), s.clone());
            }
            Ok(Some(json!({"type": "json_schema", "json_schema": spec})))
        }
        Some(other) => Err(unsupported(
            "text.format.type",
            &format!("`text.format` of type `{other}`"),
            "only text, json_object and json_schema translate",
        )),
        None => Err(invalid("text.format.type", "is required (a string)")),
    }
}

/// `reasoning.effort` → chat `reasoning_effort` (the summary setting has no chat equivalent).
fn reasoning_effort(reasoning: Option<&Value>) -> Result<Option<Value>, Untranslatable> {
    match reasoning {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(obj)) => match obj.get("effort") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(e)) => Ok(Some(Value::from(e.as_str()))),
            Some(_) => Err(invalid("reasoning.effort", "must be a string")),
        },
        Some(_) => Err(invalid("reasoning", "must be an object")),
    }
}

// ---------------------------------------------------------------------------------------------
// Response object (shared by the answer and the stream)
// ---------------------------------------------------------------------------------------------

/// Request fields a Response object echoes (defaults when the request is unknown).
#[derive(Debug, Clone, PartialEq)]
struct Echo {
    model: Value,
    instructions: Value,
    max_output_tokens: Value,
    parallel_tool_calls: Value,
    temperature: Value,
    top_p: Value,
    tool_choice: Value,
    tools: Value,
    text: Value,
    reasoning: Value,
    truncation: Value,
    user: Value,
    metadata: Value,
}

impl Default for Echo {
    fn default() -> Self {
        Self {
            model: Value::from(""),
            instructions: Value::Null,
            max_output_tokens: Value::Null,
            parallel_tool_calls: Value::Bool(true),
            temperature: Value::Null,
            top_p: Value::Null,
            tool_choice: Value::from("auto"),
            tools: Value::Array(Vec::new()),
            text: json!({"format": {"type": "text"}}),
            reasoning: json!({"effort": null, "summary": null}),
            truncation: Value::from("disabled"),
            user: Value::Null,
            metadata: json!({}),
        }
    }
}

impl Echo {
    /// The echoed fields of `req`, each only when of the type the SDK expects.
    fn from_request(req: &Value) -> Self {
        let d = Self::default();
        let pick = |key: &str, ok: fn(&Value) -> bool, default: Value| {
            req.get(key).filter(|v| ok(v)).cloned().unwrap_or(default)
        };
        Self {
            model: pick("model", Value::is_string, d.model),
            instructions: pick("instructions", Value::is_string, d.instructions),
            max_output_tokens: pick("max_output_tokens", Value::is_u64, d.max_output_tokens),
            parallel_tool_calls: pick(
                "parallel_tool_calls",
                Value::is_boolean,
                d.parallel_tool_calls,
            ),
            temperature: pick("temperature", Value::is_number, d.temperature),
            top_p: pick("top_p", Value::is_number, d.top_p),
            tool_choice: pick(
                "tool_choice",
                |v| v.is_string() || v.is_object(),
                d.tool_choice,
            ),
            tools: echo_tools(req.get("tools")),
            text: pick("text", has_format, d.text),
            reasoning: pick("reasoning", Value::is_object, d.reasoning),
            truncation: pick("truncation", Value::is_string, d.truncation),
            user: pick("user", Value::is_string, d.user),
            metadata: pick("metadata", Value::is_object, d.metadata),
        }
    }
}

/// A `text` config worth echoing: an object with a `format` object.
fn has_format(text: &Value) -> bool {
    text.get("format").is_some_and(Value::is_object)
}

/// The function tools of the request in the Response's `FunctionTool` form.
fn echo_tools(tools: Option<&Value>) -> Value {
    let list = tools
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let field = |t: &Value, key: &str| t.get(key).cloned().unwrap_or(Value::Null);
    list.iter()
        .filter(|t| t.get("type").and_then(Value::as_str) == Some("function"))
        .map(|t| {
            json!({
                "type": "function",
                "name": field(t, "name"),
                "description": field(t, "description"),
                "parameters": field(t, "parameters"),
                "strict": field(t, "strict"),
            })
        })
        .collect()
}

/// Identity of the response, from the chat answer or the first chunk.
#[derive(Debug, Clone, PartialEq)]
struct Head {
    /// The chat id without `chatcmpl-`: the base of every id made here.
    base: String,
    model: Value,
    created_at: Value,
}

impl Head {
    fn from_chat(chat: &Value, echo: &Echo) -> Self {
        let created = chat.get("created").and_then(Value::as_u64).unwrap_or(0);
        let base = chat
            .get("id")
            .and_then(Value::as_str)
            .map(|id| id.strip_prefix("chatcmpl-").unwrap_or(id))
            // In every item id of every event: bounded (see `clip_id`).
            .map(clip_id)
            .filter(|b| !b.is_empty())
            .map_or_else(|| created.to_string(), str::to_owned);
        let model = chat
            .get("model")
            .filter(|m| m.is_string())
            .cloned()
            .unwrap_or_else(|| echo.model.clone());
        Self {
            base,
            model,
            created_at: Value::from(created),
        }
    }

    /// The id of the output item at `index`, of kind `kind`.
    fn item_id(&self, kind: &Kind, index: usize) -> String {
        let prefix = match kind {
            Kind::Reasoning => "rs",
            Kind::Message => "msg",
            Kind::Call { .. } => "fc",
        };
        format!("{prefix}_{}_{index}", self.base)
    }
}

/// How a response ended: its `status` and `incomplete_details`.
fn end_state(finish: Option<&str>) -> (&'static str, Value) {
    match finish {
        Some("length") => ("incomplete", json!({"reason": "max_output_tokens"})),
        Some("content_filter") => ("incomplete", json!({"reason": "content_filter"})),
        _ => ("completed", Value::Null),
    }
}

/// The parts of a Response object that vary.
struct Outcome<'a> {
    status: &'a str,
    output: Vec<Value>,
    usage: Value,
    incomplete_details: Value,
    error: Value,
}

/// A whole Response object, every field the SDK's `Response` requires included.
fn response_json(echo: &Echo, head: &Head, o: Outcome<'_>) -> Value {
    json!({
        "id": format!("resp_{}", head.base),
        "object": "response",
        "created_at": head.created_at,
        "status": o.status,
        "background": false,
        "error": o.error,
        "incomplete_details": o.incomplete_details,
        "instructions": echo.instructions,
        "max_output_tokens": echo.max_output_tokens,
        "model": head.model,
        "output": o.output,
        "parallel_tool_calls": echo.parallel_tool_calls,
        "previous_response_id": null,
        "reasoning": echo.reasoning,
        "store": false,
        "temperature": echo.temperature,
        "text": echo.text,
        "tool_choice": echo.tool_choice,
        "tools": echo.tools,
        "top_p": echo.top_p,
        "truncation": echo.truncation,
        "usage": o.usage,
        "user": echo.user,
        "metadata": echo.metadata,
    })
}

/// Chat usage → Responses usage (`null` when the provider gave none). The canonical usage has no
/// count of tokens written to a cache, so `cache_write_tokens` (required by the SDK) is 0.
fn responses_usage(usage: &Value) -> Value {
    if !usage.is_object() {
        return Value::Null;
    }
    let (prompt, completion, cached, reasoning) = usage_counts(usage);
    let total = usage
        .get("total_tokens")
        .and_then(Value::as_u64)
        .unwrap_or_else(|| prompt.saturating_add(completion));
    json!({
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": total,
    })
}

/// What an output item is.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Reasoning,
    Message,
    Call { call_id: String, name: String },
}

/// One output item: its text is the message text, the reasoning text or the call's arguments.
#[derive(Debug, Clone, PartialEq)]
struct Item {
    id: String,
    kind: Kind,
    text: String,
    status: &'static str,
}

/// An `output_text` content part.
fn text_part(text: &str) -> Value {
    json!({"type": "output_text", "annotations": [], "logprobs": [], "text": text})
}

/// A `reasoning_text` content part.
fn reasoning_part(text: &str) -> Value {
    json!({"type": "reasoning_text", "text": text})
}

/// An item as JSON; `with_content` false gives the empty form of `output_item.added` (its
/// content part is added by its own event, and the SDK appends it to the snapshot).
fn item_json(item: &Item, with_content: bool) -> Value {
    match &item.kind {
        Kind::Message => {
            let content = if with_content {
                vec![text_part(&item.text)]
            } else {
                Vec::new()
            };
            json!({
                "id": item.id,
                "type": "message",
                "status": item.status,
                "content": content,
                "role": "assistant",
            })
        }
        Kind::Reasoning => {
            let content = if with_content {
                vec![reasoning_part(&item.text)]
            } else {
                Vec::new()
            };
            json!({
                "id": item.id,
                "type": "reasoning",
                "summary": [],
                "content": content,
                "status": item.status,
            })
        }
        Kind::Call { call_id, name } => json!({
            "id": item.id,
            "type": "function_call",
            "status": item.status,
            "arguments": item.text,
            "call_id": call_id,
            "name": name,
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Answer
// ---------------------------------------------------------------------------------------------

/// Chat completion → Responses answer (request fields echoed with defaults; see
/// [`answer_from_chat_for`]).
pub fn answer_from_chat(chat: &Value) -> Value {
    answer_from_chat_for(chat, &Value::Null)
}

/// Chat completion → Responses answer, echoing the fields of the Responses request `req` (tools,
/// tool_choice, temperature, ...) as OpenAI does.
pub fn answer_from_chat_for(chat: &Value, req: &Value) -> Value {
    let echo = Echo::from_request(req);
    let head = Head::from_chat(chat, &echo);
    let Some(choice) = chat.get("choices").and_then(|c| c.get(0)) else {
        let error = json!({
            "code": "server_error",
            "message": "the provider's answer has no choices",
        });
        let outcome = Outcome {
            status: "failed",
            output: Vec::new(),
            usage: responses_usage(chat.get("usage").unwrap_or(&Value::Null)),
            incomplete_details: Value::Null,
            error,
        };
        return response_json(&echo, &head, outcome);
    };
    let (status, incomplete_details) =
        end_state(choice.get("finish_reason").and_then(Value::as_str));
    let mut items = answer_items(&head, choice.get("message").unwrap_or(&Value::Null));
    // The cut happened in the last item.
    if let Some(last) = items.last_mut() {
        last.status = status;
    }
    let outcome = Outcome {
        status,
        output: items.iter().map(|i| item_json(i, true)).collect(),
        usage: responses_usage(chat.get("usage").unwrap_or(&Value::Null)),
        incomplete_details,
        error: Value::Null,
    };
    response_json(&echo, &head, outcome)
}

/// The output items of a chat answer's message: reasoning, text, tool calls.
fn answer_items(head: &Head, message: &Value) -> Vec<Item> {
    let mut items = Vec::new();
    let mut push = |kind: Kind, text: String| {
        let id = head.item_id(&kind, items.len());
        items.push(Item {
            id,
            kind,
            text,
            status: "completed",
        });
    };
    if let Some(r) = message.get("reasoning_content").and_then(Value::as_str) {
        if !r.is_empty() {
            push(Kind::Reasoning, r.to_owned());
        }
    }
    let text = message_text(message);
    if !text.is_empty() {
        push(Kind::Message, text);
    }
    let calls = message.get("tool_calls").and_then(Value::as_array);
    for (k, call) in calls.map(Vec::as_slice).unwrap_or(&[]).iter().enumerate() {
        let foreign = call
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t != "function");
        // Only function tools were sent, so only function calls can come back.
        if !call.is_object() || foreign {
            continue;
        }
        let call_id = call
            .get("id")
            .and_then(Value::as_str)
            .map_or_else(|| format!("call_{}_{k}", head.base), str::to_owned);
        let name = call
            .pointer("/function/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let arguments = match call.pointer("/function/arguments") {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => String::new(),
            Some(other) => other.to_string(),
        };
        push(Kind::Call { call_id, name }, arguments);
    }
    items
}

/// A chat message's text: `content` (string or text parts) then any `refusal`.
fn message_text(message: &Value) -> String {
    let mut text = String::new();
    match message.get("content") {
        Some(Value::String(s)) => text.push_str(s),
        Some(Value::Array(parts)) => {
            for part in parts {
                if let Some(t) = part.get("text").and_then(Value::as_str) {
                    text.push_str(t);
                }
            }
        }
        _ => {}
    }
    if let Some(r) = message.get("refusal").and_then(Value::as_str) {
        text.push_str(r);
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Stream
// ---------------------------------------------------------------------------------------------

/// Canonical chunks → Responses stream (see the module doc for the event sequence).
#[derive(Debug, Default)]
pub struct Sink {
    echo: Echo,
    /// Set by the first chunk, with `response.created`.
    head: Option<Head>,
    /// The next `sequence_number`.
    seq: u64,
    items: Vec<Item>,
    /// The open item (at most one, as in OpenAI's streams).
    open: Option<usize>,
    /// Chat tool-call index → item index.
    calls: Vec<(u64, usize)>,
    finish: Option<String>,
    /// Responses usage, once the usage chunk came.
    usage: Value,
    /// A terminal event (`response.completed`/`incomplete`/`failed`) went out.
    ended: bool,
}

impl Sink {
    /// A sink whose Response objects echo the fields of the Responses request `req`.
    pub fn new(req: &Value) -> Self {
        Self {
            echo: Echo::from_request(req),
            ..Self::default()
        }
    }

    /// Appends one event: `type` and `sequence_number` first, then `fields`.
    fn emit(&mut self, out: &mut Vec<SseOut>, ty: &str, fields: Value) {
        let mut event = Map::new();
        event.insert("type".to_owned(), Value::from(ty));
        event.insert("sequence_number".to_owned(), Value::from(self.seq));
        if let Value::Object(fields) = fields {
            event.extend(fields);
        }
        self.seq = self.seq.saturating_add(1);
        out.push(SseOut {
            event: Some(ty.to_owned()),
            data: Value::Object(event).to_string(),
        });
    }

    /// The head, made from `chunk` (the first one) if there is none yet.
    fn head(&mut self, chunk: &Value) -> Head {
        match &self.head {
            Some(h) => h.clone(),
            None => {
                let h = Head::from_chat(chunk, &self.echo);
                self.head = Some(h.clone());
                h
            }
        }
    }

    /// `response.created` and `response.in_progress`, once, before anything else.
    fn start(&mut self, chunk: &Value, out: &mut Vec<SseOut>) {
        if self.head.is_some() {
            return;
        }
        self.head(chunk);
        let response = self.response("in_progress", Value::Null, Value::Null);
        self.emit(out, "response.created", json!({"response": response}));
        let response = self.response("in_progress", Value::Null, Value::Null);
        self.emit(out, "response.in_progress", json!({"response": response}));
    }

    /// The Response object as it stands.
    fn response(&self, status: &str, incomplete_details: Value, error: Value) -> Value {
        let head = self
            .head
            .clone()
            .unwrap_or_else(|| Head::from_chat(&Value::Null, &self.echo));
        let outcome = Outcome {
            status,
            output: self.items.iter().map(|i| item_json(i, true)).collect(),
            usage: self.usage.clone(),
            incomplete_details,
            error,
        };
        response_json(&self.echo, &head, outcome)
    }

    /// One `chat.completion.chunk` (or in-stream error).
    fn data(&mut self, chunk: &Value, out: &mut Vec<SseOut>) {
        self.start(chunk, out);
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            self.fail(error, out);
            return;
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = responses_usage(usage);
        }
        let Some(choice) = first_choice(chunk) else {
            return;
        };
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        let text = |key: &str| {
            delta
                .get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        if let Some(r) = text("reasoning_content") {
            self.text_delta(Kind::Reasoning, r, out);
        }
        if let Some(t) = text("content") {
            self.text_delta(Kind::Message, t, out);
        }
        // A refusal is what the model said: rendered as text, as in the answer.
        if let Some(t) = text("refusal") {
            self.text_delta(Kind::Message, t, out);
        }
        if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
            for (k, call) in calls.iter().enumerate() {
                self.tool_delta(k, call, out);
            }
        }
        if let Some(finish) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish = Some(finish.to_owned());
            self.close_open(out);
        }
    }

    /// Opens an item (closing the open one first); `None` past [`MAX_ITEMS`].
    fn open_item(&mut self, kind: Kind, out: &mut Vec<SseOut>) -> Option<usize> {
        self.close_open(out);
        if self.items.len() >= MAX_ITEMS {
            return None;
        }
        let index = self.items.len();
        let head = self.head(&Value::Null);
        let item = Item {
            id: head.item_id(&kind, index),
            kind,
            text: String::new(),
            status: "in_progress",
        };
        let added = item_json(&item, false);
        let part = match item.kind {
            Kind::Message => Some(text_part("")),
            Kind::Reasoning => Some(reasoning_part("")),
            Kind::Call { .. } => None,
        };
        let item_id = item.id.clone();
        self.items.push(item);
        self.open = Some(index);
        self.emit(
            out,
            "response.output_item.added",
            json!({"output_index": index, "item": added}),
        );
        if let Some(part) = part {
            self.emit(
                out,
                "response.content_part.added",
                json!({"item_id": item_id, "output_index": index, "content_index": 0, "part": part}),
            );
        }
        Some(index)
    }

    /// The open item if it is of the same kind as `kind` (message or reasoning).
    fn open_of(&self, kind: &Kind) -> Option<usize> {
        self.open
            .filter(|&i| self.items.get(i).is_some_and(|item| &item.kind == kind))
    }

    /// Text or reasoning text: into the open item of that kind, or a new one.
    fn text_delta(&mut self, kind: Kind, delta: &str, out: &mut Vec<SseOut>) {
        let ty = match kind {
            Kind::Reasoning => "response.reasoning_text.delta",
            _ => "response.output_text.delta",
        };
        let index = match self.open_of(&kind) {
            Some(i) => i,
            None => match self.open_item(kind.clone(), out) {
                Some(i) => i,
                None => return,
            },
        };
        let Some(item) = self.items.get_mut(index) else {
            return;
        };
        item.text.push_str(delta);
        let mut fields = json!({
            "item_id": item.id,
            "output_index": index,
            "content_index": 0,
            "delta": delta,
        });
        if kind == Kind::Message {
            if let Some(f) = fields.as_object_mut() {
                f.insert("logprobs".to_owned(), Value::Array(Vec::new()));
            }
        }
        self.emit(out, ty, fields);
    }

    /// One entry of `delta.tool_calls`: a call's start (opens an item) and/or arguments.
    fn tool_delta(&mut self, position: usize, call: &Value, out: &mut Vec<SseOut>) {
        let chat_index = call
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(position as u64);
        let known = self
            .calls
            .iter()
            .find(|(i, _)| *i == chat_index)
            .map(|(_, item)| *item);
        let name = call.pointer("/function/name").and_then(Value::as_str);
        let index = match known {
            Some(i) => i,
            None => {
                let base = self.head(&Value::Null).base;
                let call_id = call
                    .get("id")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("call_{base}_{chat_index}"), str::to_owned);
                let name = name.unwrap_or("").to_owned();
                let Some(i) = self.open_item(Kind::Call { call_id, name }, out) else {
                    return;
                };
                self.calls.push((chat_index, i));
                i
            }
        };
        let is_open = self.open == Some(index);
        let Some(item) = self.items.get_mut(index) else {
            return;
        };
        // A name sent after the start (not OpenAI's order) still reaches the done events.
        if let (Kind::Call { name: n, .. }, Some(late)) = (&mut item.kind, name) {
            if n.is_empty() {
                late.clone_into(n);
            }
        }
        let arguments = call
            .pointer("/function/arguments")
            .and_then(Value::as_str)
            .unwrap_or("");
        if arguments.is_empty() {
            return;
        }
        item.text.push_str(arguments);
        // Arguments of a call already closed reach only the final response (module doc).
        if is_open {
            let item_id = item.id.clone();
            self.emit(
                out,
                "response.function_call_arguments.delta",
                json!({"item_id": item_id, "output_index": index, "delta": arguments}),
            );
        }
    }

    /// Closes the open item: its `*.done` events, then `output_item.done`.
    fn close_open(&mut self, out: &mut Vec<SseOut>) {
        let Some(index) = self.open.take() else {
            return;
        };
        let (status, _) = end_state(self.finish.as_deref());
        let Some(item) = self.items.get_mut(index) else {
            return;
        };
        item.status = status;
        let item = item.clone();
        let at = |extra: Value| {
            let mut fields = json!({"item_id": item.id, "output_index": index});
            if let (Some(f), Value::Object(extra)) = (fields.as_object_mut(), extra) {
                f.extend(extra);
            }
            fields
        };
        match &item.kind {
            Kind::Message => {
                let done = at(json!({"content_index": 0, "text": item.text, "logprobs": []}));
                self.emit(out, "response.output_text.done", done);
                let part = at(json!({"content_index": 0, "part": text_part(&item.text)}));
                self.emit(out, "response.content_part.done", part);
            }
            Kind::Reasoning => {
                let done = at(json!({"content_index": 0, "text": item.text}));
                self.emit(out, "response.reasoning_text.done", done);
                let part = at(json!({"content_index": 0, "part": reasoning_part(&item.text)}));
                self.emit(out, "response.content_part.done", part);
            }
            Kind::Call { name, .. } => {
                let done = at(json!({"name": name, "arguments": item.text}));
                self.emit(out, "response.function_call_arguments.done", done);
            }
        }
        self.emit(
            out,
            "response.output_item.done",
            json!({"output_index": index, "item": item_json(&item, true)}),
        );
    }

    /// The stream completed: the open item closes, then `response.completed`/`incomplete`.
    fn complete(&mut self, out: &mut Vec<SseOut>) {
        self.start(&Value::Null, out);
        self.close_open(out);
        let (status, incomplete_details) = end_state(self.finish.as_deref());
        let ty = if status == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        let response = self.response(status, incomplete_details, Value::Null);
        self.emit(out, ty, json!({"response": response}));
        self.ended = true;
    }

    /// An in-stream error: an `error` event with the provider's code and message, then
    /// `response.failed`. The open item is not closed (it did not finish): it is listed as
    /// `incomplete` in the failed response.
    fn fail(&mut self, error: &Value, out: &mut Vec<SseOut>) {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .or_else(|| error.as_str())
            .unwrap_or("the provider failed while streaming")
            .to_owned();
        let code = error
            .get("code")
            .and_then(Value::as_str)
            .or_else(|| error.get("type").and_then(Value::as_str));
        self.emit(
            out,
            "error",
            json!({"code": code, "message": message, "param": null}),
        );
        if let Some(item) = self.open.take().and_then(|i| self.items.get_mut(i)) {
            item.status = "incomplete";
        }
        // `ResponseError.code` is a closed list; the provider's own code went in the event above.
        let failed_code = if code == Some("rate_limit_exceeded") {
            "rate_limit_exceeded"
        } else {
            "server_error"
        };
        let error = json!({"code": failed_code, "message": message});
        let response = self.response("failed", Value::Null, error);
        self.emit(out, "response.failed", json!({"response": response}));
        self.ended = true;
    }
}

/// Choice 0 of a chunk (a missing `index` counts as 0).
fn first_choice(chunk: &Value) -> Option<&Value> {
    chunk
        .get("choices")?
        .as_array()?
        .iter()
        .find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
}

impl ChunkSink for Sink {
    fn chunk(&mut self, c: &Chunk, out: &mut Vec<SseOut>) {
        if self.ended {
            return; // Nothing follows a terminal event.
        }
        match c {
            Chunk::Data(v) => self.data(v, out),
            Chunk::Done => self.complete(out),
        }
    }

    /// Nothing is owed: a completed stream already ended with its terminal event, and a cut one
    /// must not be made to look complete.
    fn end(&mut self, _out: &mut Vec<SseOut>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- request ----------------------------------------------------------------------------

    fn err(req: Value) -> Untranslatable {
        request_to_chat(&req).expect_err("should be untranslatable")
    }

    fn param(req: Value) -> String {
        err(req).param.unwrap_or_default()
    }

    #[test]
    fn string_input_and_scalars() {
        let req = json!({
            "model": "m", "instructions": "Be brief.", "input": "Hi",
            "max_output_tokens": 100, "temperature": 0.5, "top_p": 0.9, "user": "u1",
            "stream": true, "metadata": {"k": "v"}, "truncation": "auto", "service_tier": "auto",
            "store": false, "background": false, "include": [], "previous_response_id": null,
        });
        let chat = request_to_chat(&req).unwrap();
        assert_eq!(
            chat,
            json!({
                "model": "m",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Hi"},
                ],
                "max_tokens": 100, "temperature": 0.5, "top_p": 0.9, "user": "u1",
                "stream": true, "stream_options": {"include_usage": true},
            })
        );
    }

    #[test]
    fn message_items_and_parts() {
        let req = json!({"model": "m", "input": [
            {"role": "developer", "content": "dev"},
            {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "sys"}]},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "look"},
                {"type": "input_image", "image_url": "https://x/y.png", "detail": "high"},
                {"type": "input_image", "image_url": "data:image/png;base64,AA", "detail": "original"},
            ]},
            {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed", "content": [
                {"type": "output_text", "text": "seen", "annotations": []},
                {"type": "refusal", "refusal": "no"},
            ]},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"role": "user", "content": "next"},
        ]});
        let chat = request_to_chat(&req).unwrap();
        assert_eq!(
            chat["messages"],
            json!([
                {"role": "system", "content": "dev"},
                {"role": "system", "content": [{"type": "text", "text": "sys"}]},
                {"role": "user", "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "high"}},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
                ]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "seen"}, {"type": "text", "text": "no"},
                ]},
                {"role": "user", "content": "next"},
            ])
        );
    }

    #[test]
    fn function_calls_join_the_assistant_turn() {
        let req = json!({"model": "m", "input": [
            {"role": "user", "content": "weather?"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
            {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "w", "arguments": "{\"a\":1}"},
            {"type": "function_call", "call_id": "c2", "name": "w", "arguments": {"b": 2}},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            {"type": "function_call_output", "call_id": "c2", "output": [
                {"type": "input_text", "text": "rain"}, {"type": "input_text", "text": "y"},
            ]},
            {"type": "function_call", "call_id": "c3", "name": "v", "arguments": ""},
        ]});
        let chat = request_to_chat(&req).unwrap();
        assert_eq!(
            chat["messages"],
            json!([
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": [{"type": "text", "text": "Checking."}], "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{\"a\":1}"}},
                    {"id": "c2", "type": "function", "function": {"name": "w", "arguments": "{\"b\":2}"}},
                ]},
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
                {"role": "tool", "tool_call_id": "c2", "content": "rainy"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c3", "type": "function", "function": {"name": "v", "arguments": ""}},
                ]},
            ])
        );
    }

    #[test]
    fn tools_tool_choice_format_reasoning() {
        let req = json!({
            "model": "m", "input": "x",
            "tools": [{"type": "function", "name": "f", "description": "d",
                       "parameters": {"type": "object"}, "strict": true},
                      {"type": "function", "name": "g", "description": null, "parameters": null, "strict": null}],
            "tool_choice": {"type": "function", "name": "f"},
            "parallel_tool_calls": false,
            "text": {"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}, "strict": true},
                     "verbosity": "low"},
            "reasoning": {"effort": "low", "summary": "auto"},
        });
        let chat = request_to_chat(&req).unwrap();
        assert_eq!(
            chat["tools"],
            json!([
                {"type": "function", "function": {"name": "f", "description": "d",
                    "parameters": {"type": "object"}, "strict": true}},
                {"type": "function", "function": {"name": "g"}},
            ])
        );
        assert_eq!(
            chat["tool_choice"],
            json!({"type": "function", "function": {"name": "f"}})
        );
        assert_eq!(chat["parallel_tool_calls"], json!(false));
        assert_eq!(
            chat["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}, "strict": true}})
        );
        assert_eq!(chat["reasoning_effort"], json!("low"));
        assert!(chat.get("verbosity").is_none());

        for choice in ["auto", "none", "required"] {
            let req = json!({"input": "x", "tools": [{"type": "function", "name": "f"}], "tool_choice": choice});
            assert_eq!(request_to_chat(&req).unwrap()["tool_choice"], json!(choice));
        }
        // Without tools: harmless choices and parallel_tool_calls are not sent.
        let chat = request_to_chat(
            &json!({"input": "x", "tool_choice": "auto", "parallel_tool_calls": true}),
        )
        .unwrap();
        assert!(chat.get("tool_choice").is_none() && chat.get("parallel_tool_calls").is_none());
        let chat = request_to_chat(&json!({"input": "x", "tool_choice": "required"})).unwrap();
        assert_eq!(chat["tool_choice"], json!("required"));

        let chat =
            request_to_chat(&json!({"input": "x", "text": {"format": {"type": "json_object"}}}))
                .unwrap();
        assert_eq!(chat["response_format"], json!({"type": "json_object"}));
        let chat =
            request_to_chat(&json!({"input": "x", "text": {"format": {"type": "text"}}})).unwrap();
        assert!(chat.get("response_format").is_none());
    }

    #[test]
    fn hosted_tools_are_untranslatable() {
        for ty in [
            "web_search",
            "web_search_preview",
            "file_search",
            "code_interpreter",
            "computer_use_preview",
            "image_generation",
            "mcp",
            "local_shell",
            "custom",
            "shell",
        ] {
            let req =
                json!({"input": "x", "tools": [{"type": "function", "name": "f"}, {"type": ty}]});
            let e = err(req);
            assert_eq!(e.param.as_deref(), Some("tools[1].type"), "{ty}");
            assert!(
                e.message.contains(ty) && e.message.contains("not supported"),
                "{}",
                e.message
            );
        }
        assert_eq!(
            param(json!({"input": "x", "tools": [{"name": "f"}]})),
            "tools[0].type"
        );
        assert_eq!(
            param(json!({"input": "x", "tools": [{"type": "function"}]})),
            "tools[0].name"
        );
        assert_eq!(param(json!({"input": "x", "tools": {}})), "tools");
        for choice in [
            json!({"type": "web_search_preview"}),
            json!({"type": "allowed_tools", "mode": "auto", "tools": []}),
        ] {
            let req = json!({"input": "x", "tools": [{"type": "function", "name": "f"}], "tool_choice": choice});
            assert_eq!(param(req), "tool_choice.type");
        }
        assert_eq!(
            param(json!({"input": "x", "tool_choice": "sometimes"})),
            "tool_choice"
        );
        assert_eq!(
            param(json!({"input": "x", "tool_choice": {"type": "function"}})),
            "tool_choice.name"
        );
    }

    #[test]
    fn stateful_and_hosted_features_are_untranslatable() {
        let cases = [
            ("previous_response_id", json!("resp_1")),
            ("conversation", json!("conv_1")),
            ("conversation", json!({"id": "conv_1"})),
            ("prompt", json!({"id": "pmpt_1"})),
            ("background", json!(true)),
            ("store", json!(true)),
            ("include", json!(["reasoning.encrypted_content"])),
            ("include", json!("x")),
            ("context_management", json!([{"type": "compaction"}])),
            ("moderation", json!({"model": "omni"})),
            ("frobnicate", json!(1)),
        ];
        for (key, value) in cases {
            let mut req = json!({"model": "m", "input": "x"});
            req[key] = value;
            let e = err(req);
            assert_eq!(e.param.as_deref(), Some(key));
            assert!(e.message.contains(&format!("`{key}`")), "{}", e.message);
        }
        // Off or null: fine.
        let req = json!({"input": "x", "store": false, "background": false, "include": null,
                         "conversation": null, "prompt": null});
        assert!(request_to_chat(&req).is_ok());
    }

    #[test]
    fn untranslatable_items_and_parts() {
        let one = |item: Value| param(json!({"input": [item]}));
        assert_eq!(one(json!({"id": "msg_1"})), "input[0].type");
        assert_eq!(
            one(json!({"type": "item_reference", "id": "msg_1"})),
            "input[0].type"
        );
        for ty in [
            "web_search_call",
            "file_search_call",
            "computer_call",
            "computer_call_output",
            "image_generation_call",
            "code_interpreter_call",
            "local_shell_call",
            "mcp_call",
            "custom_tool_call",
            "custom_tool_call_output",
        ] {
            let e = err(json!({"input": [{"type": ty, "id": "x"}]}));
            assert_eq!(e.param.as_deref(), Some("input[0].type"));
            assert!(e.message.contains(ty));
        }
        let user = |part: Value| param(json!({"input": [{"role": "user", "content": [part]}]}));
        assert_eq!(
            user(json!({"type": "input_file", "file_id": "file_1"})),
            "input[0].content[0].type"
        );
        assert_eq!(
            user(json!({"type": "input_file", "file_data": "AA", "filename": "a.pdf"})),
            "input[0].content[0].type"
        );
        assert_eq!(
            user(json!({"type": "input_image", "file_id": "file_1", "detail": "auto"})),
            "input[0].content[0].file_id"
        );
        assert_eq!(
            user(json!({"type": "input_image", "detail": "auto"})),
            "input[0].content[0].image_url"
        );
        assert_eq!(
            user(json!({"type": "input_audio"})),
            "input[0].content[0].type"
        );
        assert_eq!(
            user(json!({"type": "input_text"})),
            "input[0].content[0].text"
        );
        assert_eq!(user(json!({"text": "t"})), "input[0].content[0].type");
        let system_image = json!({"input": [{"role": "system", "content": [{"type": "input_image", "image_url": "u"}]}]});
        assert_eq!(param(system_image), "input[0].content[0].type");
        assert_eq!(
            one(
                json!({"type": "function_call_output", "call_id": "c", "output": [{"type": "input_image", "image_url": "u"}]})
            ),
            "input[0].output[0].type"
        );
        assert_eq!(
            one(json!({"type": "function_call_output", "output": "x"})),
            "input[0].call_id"
        );
        assert_eq!(
            one(json!({"type": "function_call_output", "call_id": "c"})),
            "input[0].output"
        );
        assert_eq!(
            one(json!({"type": "function_call", "name": "f", "arguments": "{}"})),
            "input[0].call_id"
        );
        assert_eq!(
            one(json!({"type": "function_call", "call_id": "c", "arguments": "{}"})),
            "input[0].name"
        );
        assert_eq!(
            one(json!({"type": "function_call", "call_id": "c", "name": "f"})),
            "input[0].arguments"
        );
        assert_eq!(
            one(json!({"role": "tool", "content": "x"})),
            "input[0].role"
        );
        assert_eq!(
            one(json!({"role": "user", "content": 3})),
            "input[0].content"
        );
        assert_eq!(one(json!({"type": 3})), "input[0].type");
        assert_eq!(one(json!("text")), "input[0]");
    }

    #[test]
    fn wrong_types_are_untranslatable_never_a_panic() {
        assert_eq!(err(json!([1, 2])).param, None);
        assert_eq!(param(json!({"input": 3})), "input");
        assert_eq!(param(json!({"model": "m"})), "input");
        assert_eq!(param(json!({"input": []})), "input");
        assert_eq!(
            param(json!({"input": "x", "instructions": 1})),
            "instructions"
        );
        assert_eq!(
            param(json!({"input": "x", "max_output_tokens": -1})),
            "max_output_tokens"
        );
        assert_eq!(
            param(json!({"input": "x", "temperature": "hot"})),
            "temperature"
        );
        assert_eq!(param(json!({"input": "x", "stream": "yes"})), "stream");
        assert_eq!(param(json!({"input": "x", "user": 1})), "user");
        assert_eq!(param(json!({"input": "x", "text": "json"})), "text");
        assert_eq!(
            param(json!({"input": "x", "text": {"format": {"type": "grammar"}}})),
            "text.format.type"
        );
        assert_eq!(
            param(json!({"input": "x", "text": {"format": {"type": "json_schema", "schema": {}}}})),
            "text.format.name"
        );
        assert_eq!(
            param(json!({"input": "x", "text": {"format": {"type": "json_schema", "name": "n"}}})),
            "text.format.schema"
        );
        assert_eq!(
            param(json!({"input": "x", "reasoning": {"effort": 1}})),
            "reasoning.effort"
        );
        assert_eq!(
            param(json!({"input": "x", "reasoning": "high"})),
            "reasoning"
        );
        // Only instructions: a system message alone is passed on.
        assert!(request_to_chat(&json!({"instructions": "i", "input": []})).is_ok());
    }

    // ---- answer -----------------------------------------------------------------------------

    /// The fields the Python SDK's `Response` requires, and the types it expects.
    fn assert_response_shape(r: &Value) {
        assert!(r["id"].as_str().unwrap().starts_with("resp_"));
        assert_eq!(r["object"], json!("response"));
        assert!(r["created_at"].is_number());
        assert!(r["model"].is_string());
        assert!(r["parallel_tool_calls"].is_boolean());
        assert!(r["tool_choice"].is_string() || r["tool_choice"].is_object());
        assert!(r["tools"].is_array());
        for key in [
            "error",
            "incomplete_details",
            "instructions",
            "metadata",
            "temperature",
            "top_p",
            "usage",
        ] {
            assert!(r.get(key).is_some(), "{key}");
        }
        for item in r["output"].as_array().unwrap() {
            assert_item_shape(item);
        }
        if !r["usage"].is_null() {
            let u = &r["usage"];
            for ptr in [
                "/input_tokens",
                "/input_tokens_details/cached_tokens",
                "/input_tokens_details/cache_write_tokens",
                "/output_tokens",
                "/output_tokens_details/reasoning_tokens",
                "/total_tokens",
            ] {
                assert!(u.pointer(ptr).is_some_and(Value::is_u64), "{ptr}");
            }
        }
    }

    /// The fields the SDK's output item types require.
    fn assert_item_shape(item: &Value) {
        let required: &[&str] = match item["type"].as_str().unwrap() {
            "message" => &["id", "content", "role", "status"],
            "function_call" => &["arguments", "call_id", "name"],
            "reasoning" => &["id", "summary"],
            other => panic!("unexpected item {other}"),
        };
        for key in required {
            assert!(item.get(*key).is_some(), "{key} in {item}");
        }
        if item["type"] == "message" {
            assert_eq!(item["role"], json!("assistant"));
            for part in item["content"].as_array().unwrap() {
                assert_eq!(part["type"], json!("output_text"));
                assert!(part["text"].is_string() && part["annotations"].is_array());
            }
        }
    }

    fn chat_answer(message: Value, finish: &str) -> Value {
        json!({
            "id": "chatcmpl-abc", "object": "chat.completion", "created": 1700000000, "model": "m-1",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
                      "prompt_tokens_details": {"cached_tokens": 4},
                      "completion_tokens_details": {"reasoning_tokens": 2}},
        })
    }

    #[test]
    fn answer_text() {
        let r = answer_from_chat(&chat_answer(
            json!({"role": "assistant", "content": "Hello"}),
            "stop",
        ));
        assert_response_shape(&r);
        assert_eq!(r["id"], json!("resp_abc"));
        assert_eq!(r["created_at"], json!(1700000000));
        assert_eq!(r["status"], json!("completed"));
        assert_eq!(r["model"], json!("m-1"));
        assert_eq!(r["incomplete_details"], Value::Null);
        assert_eq!(r["error"], Value::Null);
        assert_eq!(r["tool_choice"], json!("auto"));
        assert_eq!(r["parallel_tool_calls"], json!(true));
        assert_eq!(r["metadata"], json!({}));
        assert_eq!(
            r["output"],
            json!([{"id": "msg_abc_0", "type": "message", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": "Hello"}]}])
        );
        assert_eq!(
            r["usage"],
            json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
                   "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 15})
        );
    }

    #[test]
    fn answer_reasoning_text_and_tool_calls() {
        let message = json!({
            "role": "assistant", "content": "Let me check.", "reasoning_content": "thinking",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "a", "arguments": "{\"x\":1}"}},
                {"id": "call_2", "type": "function", "function": {"name": "b", "arguments": "{}"}},
            ],
        });
        let r = answer_from_chat(&chat_answer(message, "tool_calls"));
        assert_response_shape(&r);
        assert_eq!(r["status"], json!("completed"));
        let out = r["output"].as_array().unwrap();
        assert_eq!(out.len(), 4);
        assert_eq!(
            out[0],
            json!({"id": "rs_abc_0", "type": "reasoning", "summary": [],
                   "content": [{"type": "reasoning_text", "text": "thinking"}], "status": "completed"})
        );
        assert_eq!(out[1]["type"], json!("message"));
        assert_eq!(
            out[2],
            json!({"id": "fc_abc_2", "type": "function_call", "status": "completed",
                   "arguments": "{\"x\":1}", "call_id": "call_1", "name": "a"})
        );
        assert_eq!(out[3]["call_id"], json!("call_2"));

        // Tool calls only: no message item.
        let message = json!({"role": "assistant", "content": null,
            "tool_calls": [{"id": "c", "type": "function", "function": {"name": "a", "arguments": "{}"}}]});
        let r = answer_from_chat(&chat_answer(message, "tool_calls"));
        assert_eq!(r["output"].as_array().unwrap().len(), 1);
        assert_eq!(r["output"][0]["type"], json!("function_call"));
    }

    #[test]
    fn answer_length_and_content_filter_are_incomplete() {
        let r = answer_from_chat(&chat_answer(
            json!({"role": "assistant", "content": "Hel"}),
            "length",
        ));
        assert_response_shape(&r);
        assert_eq!(r["status"], json!("incomplete"));
        assert_eq!(
            r["incomplete_details"],
            json!({"reason": "max_output_tokens"})
        );
        assert_eq!(r["output"][0]["status"], json!("incomplete"));
        let r = answer_from_chat(&chat_answer(json!({"content": ""}), "content_filter"));
        assert_eq!(r["status"], json!("incomplete"));
        assert_eq!(r["incomplete_details"], json!({"reason": "content_filter"}));
        assert_eq!(r["output"], json!([]));
    }

    #[test]
    fn answer_echoes_the_request_and_survives_garbage() {
        let req = json!({"model": "asked", "input": "x", "instructions": "i", "temperature": 0.2,
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
            "tool_choice": "required", "parallel_tool_calls": false, "max_output_tokens": 9,
            "metadata": {"a": "b"}});
        let chat = json!({"choices": [{"message": {"content": "x"}, "finish_reason": "stop"}]});
        let r = answer_from_chat_for(&chat, &req);
        assert_response_shape(&r);
        assert_eq!(r["model"], json!("asked"));
        assert_eq!(r["instructions"], json!("i"));
        assert_eq!(r["temperature"], json!(0.2));
        assert_eq!(r["tool_choice"], json!("required"));
        assert_eq!(r["parallel_tool_calls"], json!(false));
        assert_eq!(r["max_output_tokens"], json!(9));
        assert_eq!(r["metadata"], json!({"a": "b"}));
        assert_eq!(
            r["tools"],
            json!([{"type": "function", "name": "f", "description": null,
                    "parameters": {"type": "object"}, "strict": null}])
        );
        assert_eq!(r["usage"], Value::Null);

        for garbage in [
            json!(null),
            json!(3),
            json!({"choices": "x"}),
            json!({"choices": []}),
        ] {
            let r = answer_from_chat(&garbage);
            assert_response_shape(&r);
            assert_eq!(r["status"], json!("failed"));
            assert_eq!(r["error"]["code"], json!("server_error"));
        }
        let r = answer_from_chat(
            &json!({"choices": [{"message": {"content": 5, "tool_calls": [
            7, {"type": "function"}, {"type": "custom", "custom": {}}]}}]}),
        );
        assert_response_shape(&r);
        assert_eq!(r["output"].as_array().unwrap().len(), 1);
    }

    // ---- stream -----------------------------------------------------------------------------

    fn chunk(delta: Value, finish: Value) -> Chunk {
        Chunk::Data(json!({
            "id": "chatcmpl-s1", "object": "chat.completion.chunk", "created": 1700000001, "model": "m-2",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }))
    }

    fn usage_chunk() -> Chunk {
        Chunk::Data(json!({"id": "chatcmpl-s1", "choices": [], "usage": chat_usage(7, 3, 1, 0)}))
    }

    fn run(sink: &mut Sink, chunks: &[Chunk], end: bool) -> Vec<Value> {
        let mut out = Vec::new();
        for c in chunks {
            sink.chunk(c, &mut out);
        }
        if end {
            sink.end(&mut out);
        }
        out.iter()
            .map(|e| {
                let v: Value = serde_json::from_str(&e.data).unwrap();
                assert_eq!(e.event.as_deref(), v["type"].as_str(), "event name = type");
                v
            })
            .collect()
    }

    fn types(events: &[Value]) -> Vec<&str> {
        events.iter().map(|e| e["type"].as_str().unwrap()).collect()
    }

    /// Every event has the fields the SDK requires, sequence numbers count from 0, and the
    /// events are consistent as the SDK's accumulator reads them (by output/content index).
    fn check_events(events: &[Value]) {
        let mut items: Vec<Value> = Vec::new();
        for (n, e) in events.iter().enumerate() {
            assert_eq!(e["sequence_number"], json!(n));
            let ty = e["type"].as_str().unwrap();
            let required: &[&str] = match ty {
                "response.created"
                | "response.in_progress"
                | "response.completed"
                | "response.incomplete"
                | "response.failed" => &["response"],
                "response.output_item.added" | "response.output_item.done" => {
                    &["item", "output_index"]
                }
                "response.content_part.added" | "response.content_part.done" => {
                    &["item_id", "output_index", "content_index", "part"]
                }
                "response.output_text.delta" => &[
                    "item_id",
                    "output_index",
                    "content_index",
                    "delta",
                    "logprobs",
                ],
                "response.output_text.done" => &[
                    "item_id",
                    "output_index",
                    "content_index",
                    "text",
                    "logprobs",
                ],
                "response.reasoning_text.delta" => {
                    &["item_id", "output_index", "content_index", "delta"]
                }
                "response.reasoning_text.done" => {
                    &["item_id", "output_index", "content_index", "text"]
                }
                "response.function_call_arguments.delta" => &["item_id", "output_index", "delta"],
                "response.function_call_arguments.done" => {
                    &["item_id", "output_index", "name", "arguments"]
                }
                "error" => &["message"],
                other => panic!("unexpected event {other}"),
            };
            for key in required {
                assert!(e.get(*key).is_some(), "{key} in {e}");
            }
            if let Some(r) = e.get("response") {
                assert_response_shape(r);
            }
            if n == 0 {
                assert_eq!(ty, "response.created");
                assert_eq!(e["response"]["status"], json!("in_progress"));
                assert_eq!(e["response"]["output"], json!([]));
            }
            if ty == "response.output_item.added" {
                assert_eq!(e["output_index"], json!(items.len()));
                assert_item_shape(&e["item"]);
                items.push(e["item"].clone());
            }
            if let Some(i) = e.get("output_index").and_then(Value::as_u64) {
                let item = &items[i as usize];
                if let Some(id) = e.get("item_id") {
                    assert_eq!(id, &item["id"]);
                }
                if ty == "response.output_item.done" {
                    assert_eq!(e["item"]["id"], item["id"]);
                    assert_item_shape(&e["item"]);
                }
                if ty.starts_with("response.output_text") {
                    assert_eq!(item["type"], json!("message"));
                }
                if ty.starts_with("response.function_call_arguments") {
                    assert_eq!(item["type"], json!("function_call"));
                }
            }
        }
    }

    #[test]
    fn stream_text_then_tool_calls() {
        let mut sink = Sink::new(&json!({"model": "asked", "input": "x",
            "tools": [{"type": "function", "name": "w"}]}));
        let chunks = [
            chunk(json!({"role": "assistant", "content": ""}), Value::Null),
            chunk(json!({"content": "Hel"}), Value::Null),
            chunk(json!({"content": "lo"}), Value::Null),
            chunk(
                json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                "function": {"name": "w", "arguments": ""}}]}),
                Value::Null,
            ),
            chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"c\":"}}]}),
                Value::Null,
            ),
            chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
                Value::Null,
            ),
            chunk(json!({}), json!("tool_calls")),
            usage_chunk(),
            Chunk::Done,
        ];
        let events = run(&mut sink, &chunks, true);
        check_events(&events);
        assert_eq!(
            types(&events),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        assert_eq!(events[0]["response"]["id"], json!("resp_s1"));
        assert_eq!(events[0]["response"]["model"], json!("m-2"));
        assert_eq!(events[0]["response"]["tools"][0]["name"], json!("w"));
        assert_eq!(
            events[2]["item"],
            json!({"id": "msg_s1_0", "type": "message", "status": "in_progress", "content": [], "role": "assistant"})
        );
        assert_eq!(
            events[4],
            json!({"type": "response.output_text.delta", "sequence_number": 4, "item_id": "msg_s1_0",
                   "output_index": 0, "content_index": 0, "delta": "Hel", "logprobs": []})
        );
        assert_eq!(events[6]["text"], json!("Hello"));
        assert_eq!(events[8]["item"]["content"][0]["text"], json!("Hello"));
        assert_eq!(
            events[9]["item"],
            json!({"id": "fc_s1_1", "type": "function_call", "status": "in_progress",
                   "arguments": "", "call_id": "call_a", "name": "w"})
        );
        assert_eq!(events[12]["arguments"], json!("{\"c\":1}"));
        assert_eq!(events[12]["name"], json!("w"));
        assert_eq!(events[13]["item"]["status"], json!("completed"));
        let done = &events[14]["response"];
        assert_eq!(done["status"], json!("completed"));
        assert_eq!(done["output"][0]["content"][0]["text"], json!("Hello"));
        assert_eq!(done["output"][1]["arguments"], json!("{\"c\":1}"));
        assert_eq!(done["usage"]["input_tokens"], json!(7));
        assert_eq!(done["usage"]["output_tokens"], json!(3));
        assert_eq!(
            done["usage"]["input_tokens_details"]["cached_tokens"],
            json!(1)
        );
        assert_eq!(done["usage"]["total_tokens"], json!(10));
        // Nothing after the terminal event.
        let mut out = Vec::new();
        sink.chunk(&chunk(json!({"content": "late"}), Value::Null), &mut out);
        sink.chunk(&Chunk::Done, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn stream_several_tool_calls_in_one_chunk_and_after() {
        let mut sink = Sink::default();
        let chunks = [
            chunk(
                json!({"role": "assistant", "tool_calls": [
                    {"index": 0, "id": "c0", "type": "function", "function": {"name": "a", "arguments": "{}"}},
                    {"index": 1, "id": "c1", "type": "function", "function": {"name": "b", "arguments": ""}},
                ]}),
                Value::Null,
            ),
            chunk(
                json!({"tool_calls": [{"index": 1, "function": {"arguments": "{\"k\":2}"}}]}),
                Value::Null,
            ),
            chunk(
                json!({"tool_calls": [{"index": 2, "id": "c2", "function": {"name": "c", "arguments": "[]"}}]}),
                Value::Null,
            ),
            chunk(json!({}), json!("tool_calls")),
            Chunk::Done,
        ];
        let events = run(&mut sink, &chunks, true);
        check_events(&events);
        assert_eq!(
            types(&events),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        let done = &events[14]["response"];
        let calls: Vec<_> = done["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["call_id"].as_str().unwrap(),
                    i["name"].as_str().unwrap(),
                    i["arguments"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            calls,
            [
                ("c0", "a", "{}"),
                ("c1", "b", "{\"k\":2}"),
                ("c2", "c", "[]")
            ]
        );
        assert_eq!(done["usage"], Value::Null);
        assert_eq!(done["id"], json!("resp_s1"));
        assert_eq!(done["output"][2]["id"], json!("fc_s1_2"));
    }

    #[test]
    fn stream_reasoning_then_text() {
        let mut sink = Sink::default();
        let chunks = [
            chunk(
                json!({"role": "assistant", "reasoning_content": "hmm"}),
                Value::Null,
            ),
            chunk(json!({"reasoning_content": " ok"}), Value::Null),
            chunk(json!({"content": "Yes"}), Value::Null),
            chunk(json!({}), json!("stop")),
            Chunk::Done,
        ];
        let events = run(&mut sink, &chunks, true);
        check_events(&events);
        assert_eq!(
            types(&events),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.reasoning_text.delta",
                "response.reasoning_text.delta",
                "response.reasoning_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        assert_eq!(
            events[3]["part"],
            json!({"type": "reasoning_text", "text": ""})
        );
        assert_eq!(events[6]["text"], json!("hmm ok"));
        let out = &events[15]["response"]["output"];
        assert_eq!(out[0]["type"], json!("reasoning"));
        assert_eq!(out[0]["content"][0]["text"], json!("hmm ok"));
        assert_eq!(out[1]["content"][0]["text"], json!("Yes"));
    }

    #[test]
    fn stream_length_is_incomplete() {
        let mut sink = Sink::default();
        let chunks = [
            chunk(json!({"role": "assistant", "content": "Hel"}), Value::Null),
            chunk(json!({}), json!("length")),
            usage_chunk(),
            Chunk::Done,
        ];
        let events = run(&mut sink, &chunks, true);
        check_events(&events);
        let last = events.last().unwrap();
        assert_eq!(last["type"], json!("response.incomplete"));
        assert_eq!(last["response"]["status"], json!("incomplete"));
        assert_eq!(
            last["response"]["incomplete_details"],
            json!({"reason": "max_output_tokens"})
        );
        assert_eq!(last["response"]["output"][0]["status"], json!("incomplete"));
        assert_eq!(last["response"]["usage"]["output_tokens"], json!(3));
        let item_done = events
            .iter()
            .find(|e| e["type"] == "response.output_item.done")
            .unwrap();
        assert_eq!(item_done["item"]["status"], json!("incomplete"));
    }

    #[test]
    fn cut_stream_does_not_look_complete() {
        let mut sink = Sink::default();
        let chunks = [
            chunk(json!({"role": "assistant", "content": "Hel"}), Value::Null),
            chunk(
                json!({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": "{"}}]}),
                Value::Null,
            ),
        ];
        let events = run(&mut sink, &chunks, true);
        check_events(&events);
        let t = types(&events);
        assert!(!t
            .iter()
            .any(|t| matches!(*t, "response.completed" | "response.incomplete")));
        // The open call is not closed (the message closed when the call opened, as in OpenAI's order).
        assert!(!t.contains(&"response.function_call_arguments.done"));
        assert_eq!(t.last(), Some(&"response.function_call_arguments.delta"));
        // Even a finish_reason without [DONE] gives no terminal event.
        let mut sink = Sink::default();
        let events = run(
            &mut sink,
            &[chunk(json!({"content": "x"}), json!("stop")), usage_chunk()],
            true,
        );
        assert!(!types(&events).contains(&"response.completed"));
        // Nothing at all: nothing out.
        assert!(run(&mut Sink::default(), &[], true).is_empty());
    }

    #[test]
    fn stream_error_fails() {
        let mut sink = Sink::default();
        let chunks = [
            chunk(json!({"role": "assistant", "content": "Hel"}), Value::Null),
            Chunk::Data(
                json!({"error": {"message": "overloaded", "type": "server_error", "code": "overloaded_error"}}),
            ),
            chunk(json!({"content": "more"}), Value::Null),
            Chunk::Done,
        ];
        let events = run(&mut sink, &chunks, true);
        check_events(&events);
        assert_eq!(
            types(&events),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "error",
                "response.failed",
            ]
        );
        assert_eq!(
            events[5],
            json!({"type": "error", "sequence_number": 5, "code": "overloaded_error",
                   "message": "overloaded", "param": null})
        );
        let r = &events[6]["response"];
        assert_eq!(r["status"], json!("failed"));
        assert_eq!(
            r["error"],
            json!({"code": "server_error", "message": "overloaded"})
        );
        assert_eq!(r["output"][0]["status"], json!("incomplete"));
        assert_eq!(r["output"][0]["content"][0]["text"], json!("Hel"));

        // An error as the very first chunk still starts with response.created (the SDK's
        // stream helper requires it).
        let events = run(
            &mut Sink::default(),
            &[Chunk::Data(json!({"error": "boom"}))],
            true,
        );
        check_events(&events);
        assert_eq!(
            types(&events),
            [
                "response.created",
                "response.in_progress",
                "error",
                "response.failed"
            ]
        );
        assert_eq!(events[2]["message"], json!("boom"));
        assert_eq!(events[2]["code"], Value::Null);
    }

    #[test]
    fn stream_done_alone_and_hostile_chunks() {
        let events = run(&mut Sink::default(), &[Chunk::Done], true);
        check_events(&events);
        assert_eq!(
            types(&events),
            [
                "response.created",
                "response.in_progress",
                "response.completed"
            ]
        );
        assert_eq!(events[2]["response"]["output"], json!([]));

        let chunks = [
            Chunk::Data(json!(null)),
            Chunk::Data(json!({"choices": [{"index": 1, "delta": {"content": "other choice"}}]})),
            Chunk::Data(json!({"choices": "x", "usage": 5})),
            Chunk::Data(
                json!({"choices": [{"delta": {"content": 3, "tool_calls": [7, {"function": 1}]}}]}),
            ),
            Chunk::Data(
                json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"name": "late", "arguments": "{}"}}]}}]}),
            ),
            Chunk::Data(json!({"choices": [{"finish_reason": 9}]})),
            Chunk::Done,
        ];
        let events = run(&mut Sink::default(), &chunks, true);
        check_events(&events);
        let done = &events.last().unwrap()["response"];
        assert_eq!(done["status"], json!("completed"));
        // The nameless start got its name late; "other choice" (index 1) was not rendered.
        let out = done["output"].as_array().unwrap();
        assert!(out.iter().all(|i| i["type"] == "function_call"));
        assert_eq!(out[0]["name"], json!("late"));
        assert_eq!(out[0]["arguments"], json!("{}"));
        assert_eq!(done["id"], json!("resp_0"));
    }

    #[test]
    fn stream_items_are_bounded() {
        let mut sink = Sink::default();
        let calls: Vec<Value> = (0..(MAX_ITEMS as u64 + 10))
            .map(|i| json!({"index": i, "id": format!("c{i}"), "function": {"name": "f", "arguments": "{}"}}))
            .collect();
        let events = run(
            &mut sink,
            &[
                chunk(json!({"tool_calls": calls}), json!("tool_calls")),
                Chunk::Done,
            ],
            true,
        );
        assert_eq!(
            events.last().unwrap()["response"]["output"]
                .as_array()
                .unwrap()
                .len(),
            MAX_ITEMS
        );
    }

    #[test]
    fn sse_framing() {
        let mut out = Vec::new();
        Sink::default().chunk(&Chunk::Done, &mut out);
        let mut bytes = Vec::new();
        out[0].write(&mut bytes);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with(
            "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,"
        ));
        assert!(text.ends_with("}\n\n"));
    }
}
