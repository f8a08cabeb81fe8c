//! OpenAI chat completions → Gemini native `generateContent`, and Gemini's answers back.
//!
//! Reference followed: Google's Gemini API reference, **v1beta** (`generativelanguage`, as
//! published on ai.google.dev through 2025 and early 2026): `models.generateContent`,
//! `models.streamGenerateContent` with `alt=sse`, `Content`, `Part` (`thought`,
//! `thoughtSignature`), `FunctionCall.id` / `FunctionResponse.id`, `FunctionDeclaration`
//! (`parametersJsonSchema`), `FunctionCallingConfig`, `GenerationConfig` (`responseJsonSchema`,
//! `responseLogprobs`, `thinkingConfig`), `UsageMetadata`, `FinishReason`, the error format
//! `{"error":{"code","message","status"}}`, and the "Thought signatures" guide.
//!
//! # Request ([`request_from_chat`])
//! The body has neither `model` nor `stream`: the adapter puts both in the path.
//! * `system`/`developer` messages (wherever they are) → `systemInstruction.parts` in order;
//!   `user` → role `user`, `assistant` → role `model`, `tool` → a `user` content with a
//!   `functionResponse`; consecutive contents of one role are merged (Gemini wants turns to
//!   alternate; tool results followed by a user message share one `user` turn).
//! * Images: `data:` URLs → `inlineData`; `http(s)` URLs → `fileData` with a MIME type guessed
//!   from the path's extension (`image/jpeg` when unknown: it is the most common and Gemini
//!   sniffs the bytes anyway). `detail` is dropped (Gemini sets resolution per request only).
//!   `input_audio` → `inlineData` (`audio/<format>`); `file` with `file_data` (a data URL) →
//!   `inlineData`.
//! * Assistant `tool_calls` → `functionCall {id, name, args}` parts (arguments must be a JSON
//!   object; `""` counts as `{}`). A thought signature the client echoed back in
//!   `tool_calls[].extra_content.google.thought_signature` (the place Google's own OpenAI layer
//!   uses, and where [`answer_to_chat`] puts it) becomes the part's `thoughtSignature`; when an
//!   assistant message carries calls but no signature at all, its first call gets Google's
//!   documented bypass value [`SKIP_THOUGHT_SIGNATURE`], because Gemini 3 rejects (400) a
//!   history whose function calls lack signatures, and most OpenAI clients do not keep unknown
//!   fields.
//! * Tool results: the function name is found among the earlier assistant tool calls (the most
//!   recent with that id); content that is a JSON object is sent as that object, anything else
//!   as `{"result": "<text>"}` (Gemini's `response` must be an object).
//! * `tools` → one `functionDeclarations` tool; `parameters` are sent as `parametersJsonSchema`
//!   (full JSON Schema, so no conversion to Gemini's OpenAPI subset is needed); `strict` is
//!   dropped. `tool_choice` → `functionCallingConfig`: `auto`→AUTO, `none`→NONE,
//!   `required`→ANY, a named function → ANY + `allowedFunctionNames`, `allowed_tools` →
//!   ANY + names (`required`) or only those functions declared (`auto`).
//! * `generationConfig`: `temperature`, `top_p`→`topP`, `top_k`→`topK`,
//!   `max_completion_tokens`/`max_tokens`→`maxOutputTokens`, `stop`→`stopSequences`,
//!   `n`→`candidateCount`, `seed`, `presence_penalty`, `frequency_penalty`,
//!   `response_format` (`json_object` → `responseMimeType: application/json`; `json_schema` →
//!   the same plus `responseJsonSchema`), `logprobs`→`responseLogprobs`,
//!   `top_logprobs`→`logprobs`, `reasoning_effort` → `thinkingConfig.thinkingBudget`
//!   (`none` 0, `minimal` 512, `low` 1024, `medium` 8192, `high`/`xhigh` 24576: low/medium/
//!   high are the budgets Google's OpenAI layer uses for 2.5 models, `minimal` is ours; budgets
//!   work on every thinking model, Gemini 3 included). `includeThoughts` is not asked for: the
//!   client did not ask for reasoning text. `top_logprobs` without `logprobs: true` is ignored
//!   (as OpenAI requires both). `toolConfig` is sent only when functions are declared.
//!
//! Field policy. Dropped, as they change nothing the client gets: `model`, `stream`,
//! `stream_options`, `user`, `store`, `metadata`, `service_tier`, `parallel_tool_calls`,
//! `safety_identifier`, `prompt_cache_key`, `prompt_cache_retention`, message `name`, assistant
//! `reasoning_content`, an empty `logit_bias`, `modalities: ["text"]`, and any field that is
//! `null`. [`Untranslatable`] (400) for everything else Gemini cannot honour: a non-empty
//! `logit_bias`, `audio`, non-text `modalities`, `prediction`, `web_search_options`, the legacy
//! `functions`/`function_call` and `function` role, non-function tools, OpenAI `file_id`s,
//! unknown content parts, roles and top-level fields (never dropped silently).
//!
//! # Answers ([`answer_to_chat`], [`Source`])
//! One choice per candidate; text parts joined into `content`, `thought: true` parts into
//! `reasoning_content`; `functionCall` parts → `tool_calls` (id: Gemini's if any, else
//! `call_<responseId>_<n>` / `call_<n>`, `n` counting per candidate from 0); `logprobsResult`
//! → `logprobs.content`. Finish reasons: STOP → `stop` (`tool_calls` when the candidate
//! called functions), MAX_TOKENS → `length`, SAFETY, RECITATION, BLOCKLIST,
//! PROHIBITED_CONTENT, SPII and the IMAGE_* blocks → `content_filter`, anything else → `stop`
//! (`tool_calls` with calls). A prompt blocked before any candidate (`promptFeedback.
//! blockReason`) gives one choice with null content and `content_filter`. Usage: prompt =
//! `promptTokenCount + toolUsePromptTokenCount`, completion = `candidatesTokenCount +
//! thoughtsTokenCount`, cached = `cachedContentTokenCount`, reasoning = `thoughtsTokenCount`.
//! `id` is `chatcmpl-<responseId>`; `created` is 0 (this module is pure: it has no clock).
//!
//! The stream follows the canonical contract of [`super`]: role chunk first per candidate,
//! each whole `functionCall` as a start chunk (id, name, `arguments: ""`) then one arguments
//! chunk, a finish chunk per candidate, and at [`ChunkSource::end`] the last `usageMetadata`
//! seen (Gemini repeats it) as the usage chunk, then [`Chunk::Done`] — both only when every
//! candidate that started has a `finishReason` and no error arrived. A cut stream gets
//! neither: its usage would be partial and must not look final.
use super::*;
use serde_json::{json, Map};

/// Value Google documents for thought signatures a client cannot supply (history not produced
/// by Gemini, or a client that dropped them): validation is skipped instead of failing with 400.
pub const SKIP_THOUGHT_SIGNATURE: &str = "skip_thought_signature_validator";

/// Longest function name of an assistant tool call that is translated. Gemini documents at
/// most 64 characters for a function name, so nothing Gemini accepts is refused; the bound
/// matters because the name is copied into every tool result answering that call (Gemini's
/// `functionResponse` needs it), which made a request's size grow with names × results.
const MAX_CALL_NAME_BYTES: usize = 128;

/// Candidates tracked in a stream; Gemini allows at most 8, a hostile stream gets no more.
const MAX_STREAM_CANDIDATES: usize = 64;

/// Top-level chat fields that are translated (below) or harmlessly dropped.
const HANDLED_FIELDS: &[&str] = &[
    "model",
    "messages",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "n",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
    "reasoning_effort",
    "tools",
    "tool_choice",
    "logprobs",
    "top_logprobs",
    // Dropped: they do not change what the client gets.
    "stream_options",
    "user",
    "store",
    "metadata",
    "service_tier",
    "parallel_tool_calls",
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
];

fn unsupported(param: &str) -> Untranslatable {
    Untranslatable::unsupported_at(param, "gemini")
}

fn invalid(param: &str, what: &str) -> Untranslatable {
    Untranslatable::invalid(param, what)
}

/// `v[key]` unless missing or `null` (clients often send explicit nulls for "unset").
fn present<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

// ---------------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------------

/// Chat request → Gemini generateContent request body (the model and streaming go in the path).
pub fn request_from_chat(chat: &Value) -> Result<Value, Untranslatable> {
    let obj = chat.as_object().ok_or_else(|| Untranslatable {
        message: "The request body must be a JSON object.".into(),
        param: None,
    })?;
    check_fields(obj)?;
    let messages = present(chat, "messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("messages", "must be an array of messages"))?;
    let conv = Conversation::build(messages)?;

    let mut out = Map::new();
    out.insert("contents".into(), Value::Array(conv.contents));
    if !conv.system.is_empty() {
        out.insert("systemInstruction".into(), json!({ "parts": conv.system }));
    }
    let choice = tool_choice(chat)?;
    let declarations = function_declarations(chat, choice.as_ref())?;
    let has_tools = !declarations.is_empty();
    if has_tools {
        out.insert(
            "tools".into(),
            json!([{ "functionDeclarations": declarations }]),
        );
    }
    // A choice among no tools changes nothing (and OpenAI refuses `required` without tools).
    if let Some(c) = choice.filter(|_| has_tools) {
        let mut cfg = Map::new();
        cfg.insert("mode".into(), Value::String(c.mode.into()));
        if !c.allowed.is_empty() {
            cfg.insert("allowedFunctionNames".into(), json!(c.allowed));
        }
        out.insert(
            "toolConfig".into(),
            json!({ "functionCallingConfig": Value::Object(cfg) }),
        );
    }
    let gc = generation_config(chat)?;
    if !gc.is_empty() {
        out.insert("generationConfig".into(), Value::Object(gc));
    }
    Ok(Value::Object(out))
}

/// Refuses fields Gemini cannot honour; see the module doc for the policy.
fn check_fields(obj: &Map<String, Value>) -> Result<(), Untranslatable> {
    for (key, value) in obj {
        if value.is_null() || HANDLED_FIELDS.contains(&key.as_str()) {
            continue;
        }
        let harmless = match key.as_str() {
            // An empty bias biases nothing.
            "logit_bias" => value.as_object().is_some_and(Map::is_empty),
            // Text output is all Gemini gives here; asking for audio is not.
            "modalities" => value
                .as_array()
                .is_some_and(|m| m.iter().all(|x| x.as_str() == Some("text"))),
            _ => false,
        };
        if !harmless {
            return Err(unsupported(key));
        }
    }
    Ok(())
}

/// The Gemini side of a conversation being built.
#[derive(Default)]
struct Conversation {
    contents: Vec<Value>,
    system: Vec<Value>,
    /// (id, name) of the assistant tool calls seen so far, to name tool results.
    calls: Vec<(String, String)>,
}

impl Conversation {
    fn build(messages: &[Value]) -> Result<Self, Untranslatable> {
        let mut c = Self::default();
        for (i, m) in messages.iter().enumerate() {
            c.message(m, i)?;
        }
        Ok(c)
    }

    fn message(&mut self, m: &Value, i: usize) -> Result<(), Untranslatable> {
        let at = format!("messages[{i}]");
        let role = str_of(m, "role").ok_or_else(|| invalid(&format!("{at}.role"), "is missing"))?;
        match role {
            "system" | "developer" => {
                let parts =
                    content_parts(present(m, "content"), &format!("{at}.content"), Who::System)?;
                self.system.extend(parts);
            }
            "user" => {
                let parts =
                    content_parts(present(m, "content"), &format!("{at}.content"), Who::User)?;
                self.push("user", parts);
            }
            "assistant" => {
                for legacy in ["audio", "function_call"] {
                    if present(m, legacy).is_some() {
                        return Err(unsupported(&format!("{at}.{legacy}")));
                    }
                }
                let mut parts = content_parts(
                    present(m, "content"),
                    &format!("{at}.content"),
                    Who::Assistant,
                )?;
                if let Some(r) = str_of(m, "refusal").filter(|r| !r.is_empty()) {
                    if parts.is_empty() {
                        parts.push(json!({ "text": r }));
                    }
                }
                if let Some(calls) = present(m, "tool_calls") {
                    let calls = calls
                        .as_array()
                        .ok_or_else(|| invalid(&format!("{at}.tool_calls"), "must be an array"))?;
                    parts.extend(self.call_parts(calls, &at)?);
                }
                self.push("model", parts);
            }
            "tool" => {
                let part = self.tool_result(m, &at)?;
                self.push("user", vec![part]);
            }
            _ => return Err(unsupported(&format!("{at}.role"))),
        }
        Ok(())
    }

    /// Appends parts to the last content when it has the same role (Gemini alternates turns).
    fn push(&mut self, role: &str, parts: Vec<Value>) {
        if parts.is_empty() {
            return;
        }
        if let Some(last) = self.contents.last_mut() {
            if str_of(last, "role") == Some(role) {
                if let Some(existing) = last.get_mut("parts").and_then(Value::as_array_mut) {
                    existing.extend(parts);
                    return;
                }
            }
        }
        self.contents.push(json!({ "role": role, "parts": parts }));
    }

    /// Assistant tool calls → `functionCall` parts (with thought signatures, see module doc).
    fn call_parts(&mut self, calls: &[Value], at: &str) -> Result<Vec<Value>, Untranslatable> {
        let mut parts = Vec::with_capacity(calls.len());
        let mut signed = false;
        for (k, call) in calls.iter().enumerate() {
            let here = format!("{at}.tool_calls[{k}]");
            if let Some(t) = present(call, "type") {
                if t.as_str() != Some("function") {
                    return Err(unsupported(&format!("{here}.type")));
                }
            }
            let f = present(call, "function")
                .ok_or_else(|| invalid(&format!("{here}.function"), "is missing"))?;
            let name = str_of(f, "name")
                .filter(|n| !n.is_empty())
                .ok_or_else(|| invalid(&format!("{here}.function.name"), "is missing"))?;
            if name.len() > MAX_CALL_NAME_BYTES {
                return Err(invalid(
                    &format!("{here}.function.name"),
                    "is longer than Gemini allows for a function name",
                ));
            }
            let args = call_arguments(
                present(f, "arguments"),
                &format!("{here}.function.arguments"),
            )?;
            let mut fc = Map::new();
            let id = str_of(call, "id").filter(|s| !s.is_empty());
            if let Some(id) = id {
                fc.insert("id".into(), Value::String(id.into()));
                self.calls.push((id.into(), name.into()));
            }
            fc.insert("name".into(), Value::String(name.into()));
            fc.insert("args".into(), args);
            let mut part = Map::new();
            part.insert("functionCall".into(), Value::Object(fc));
            let sig = call
                .pointer("/extra_content/google/thought_signature")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            if let Some(sig) = sig {
                signed = true;
                part.insert("thoughtSignature".into(), Value::String(sig.into()));
            }
            parts.push(Value::Object(part));
        }
        if !signed {
            if let Some(Value::Object(first)) = parts.first_mut() {
                first.insert(
                    "thoughtSignature".into(),
                    Value::String(SKIP_THOUGHT_SIGNATURE.into()),
                );
            }
        }
        Ok(parts)
    }

    /// A `tool` message → a `functionResponse` part.
    fn tool_result(&self, m: &Value, at: &str) -> Result<Value, Untranslatable> {
        let param = format!("{at}.tool_call_id");
        let id = str_of(m, "tool_call_id")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid(&param, "is missing"))?;
        let name = self
            .calls
            .iter()
            .rev()
            .find(|(cid, _)| cid == id)
            .map(|(_, name)| name.clone())
            .ok_or_else(|| {
                invalid(
                    &param,
                    "names no earlier assistant tool call (Gemini needs the function's name)",
                )
            })?;
        let text = plain_text(present(m, "content"), &format!("{at}.content"))?;
        let response = match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(o)) => Value::Object(o),
            _ => json!({ "result": text }),
        };
        Ok(json!({ "functionResponse": { "id": id, "name": name, "response": response } }))
    }
}

/// Arguments of a tool call → the JSON object Gemini wants as `args`.
fn call_arguments(args: Option<&Value>, param: &str) -> Result<Value, Untranslatable> {
    let parsed = match args {
        None => return Ok(json!({})),
        Some(Value::Object(o)) => return Ok(Value::Object(o.clone())),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(json!({})),
        Some(Value::String(s)) => serde_json::from_str::<Value>(s).ok(),
        Some(_) => None,
    };
    match parsed {
        Some(v @ Value::Object(_)) => Ok(v),
        _ => Err(invalid(param, "must be a JSON object (as text) for gemini")),
    }
}

/// Text of a tool message's content (a string or text parts, joined).
fn plain_text(content: Option<&Value>, at: &str) -> Result<String, Untranslatable> {
    match content {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut out = String::new();
            for (j, p) in parts.iter().enumerate() {
                match (str_of(p, "type"), str_of(p, "text")) {
                    (Some("text"), Some(t)) => out.push_str(t),
                    _ => return Err(unsupported(&format!("{at}[{j}].type"))),
                }
            }
            Ok(out)
        }
        Some(_) => Err(invalid(at, "must be a string or an array of parts")),
    }
}

/// Whose content is converted: parts allowed differ.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Who {
    System,
    User,
    Assistant,
}

/// Message content (string or parts) → Gemini parts. Empty texts are skipped: Gemini rejects
/// empty text parts.
fn content_parts(
    content: Option<&Value>,
    at: &str,
    who: Who,
) -> Result<Vec<Value>, Untranslatable> {
    let parts = match content {
        None => return Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => return Ok(Vec::new()),
        Some(Value::String(s)) => return Ok(vec![json!({ "text": s })]),
        Some(Value::Array(parts)) => parts,
        Some(_) => return Err(invalid(at, "must be a string or an array of parts")),
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        let here = format!("{at}[{j}]");
        let kind = str_of(p, "type").unwrap_or_default();
        let part = match (kind, who) {
            ("text", _) => match str_of(p, "text") {
                Some("") => None,
                Some(t) => Some(json!({ "text": t })),
                None => return Err(invalid(&format!("{here}.text"), "must be a string")),
            },
            ("refusal", Who::Assistant) => str_of(p, "refusal")
                .filter(|t| !t.is_empty())
                .map(|t| json!({ "text": t })),
            ("image_url", Who::User) => Some(image_part(p, &here)?),
            ("input_audio", Who::User) => Some(audio_part(p, &here)?),
            ("file", Who::User) => Some(file_part(p, &here)?),
            _ => return Err(unsupported(&format!("{here}.type"))),
        };
        out.extend(part);
    }
    Ok(out)
}

fn image_part(p: &Value, at: &str) -> Result<Value, Untranslatable> {
    // `image_url` is `{url, detail}`; some clients send the URL as a bare string.
    let url = match present(p, "image_url") {
        Some(Value::String(s)) => s.as_str(),
        Some(o) => str_of(o, "url").unwrap_or_default(),
        None => "",
    };
    let param = format!("{at}.image_url.url");
    if strip_prefix_ci(url, "data:").is_some() {
        // Gemini's `inlineData.data` is base64; a data URL without a type is opaque bytes.
        let (mime, data) = data_url(url)
            .map(|(m, d)| {
                (
                    if m.is_empty() {
                        "application/octet-stream"
                    } else {
                        m
                    },
                    d,
                )
            })
            .ok_or_else(|| invalid(&param, "must be a base64 data URL or an http(s) URL"))?;
        return Ok(json!({ "inlineData": { "mimeType": mime, "data": data } }));
    }
    if is_http_url(url) {
        return Ok(json!({ "fileData": { "mimeType": guess_image_mime(url), "fileUri": url } }));
    }
    Err(invalid(
        &param,
        "must be a base64 data URL or an http(s) URL",
    ))
}

fn audio_part(p: &Value, at: &str) -> Result<Value, Untranslatable> {
    let a = present(p, "input_audio").unwrap_or(&Value::Null);
    let data = str_of(a, "data")
        .filter(|d| !d.is_empty())
        .ok_or_else(|| invalid(&format!("{at}.input_audio.data"), "is missing"))?;
    let format = str_of(a, "format")
        .filter(|f| !f.is_empty())
        .ok_or_else(|| invalid(&format!("{at}.input_audio.format"), "is missing"))?;
    Ok(json!({ "inlineData": { "mimeType": format!("audio/{format}"), "data": data } }))
}

fn file_part(p: &Value, at: &str) -> Result<Value, Untranslatable> {
    let f = present(p, "file").unwrap_or(&Value::Null);
    if present(f, "file_id").is_some() {
        // An OpenAI file id means nothing to Google.
        return Err(unsupported(&format!("{at}.file.file_id")));
    }
    let param = format!("{at}.file.file_data");
    let (mime, data) = str_of(f, "file_data")
        .and_then(data_url)
        .ok_or_else(|| invalid(&param, "must be a base64 data URL"))?;
    Ok(json!({ "inlineData": { "mimeType": mime, "data": data } }))
}

/// MIME type of an image URL from its path's extension; `image/jpeg` when unknown.
fn guess_image_mime(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let file = path.rsplit('/').next().unwrap_or_default();
    let ext = file.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
    match ext.to_ascii_lowercase().as_str() {
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        _ => "image/jpeg",
    }
}

/// A translated `tool_choice`.
struct ToolChoice {
    mode: &'static str,
    /// `allowedFunctionNames` (only with ANY, as Gemini requires).
    allowed: Vec<String>,
    /// Functions to declare when only some may be called in AUTO mode.
    declare_only: Option<Vec<String>>,
}

fn tool_choice(chat: &Value) -> Result<Option<ToolChoice>, Untranslatable> {
    let Some(tc) = present(chat, "tool_choice") else {
        return Ok(None);
    };
    let simple = |mode| ToolChoice {
        mode,
        allowed: Vec::new(),
        declare_only: None,
    };
    if let Some(s) = tc.as_str() {
        return match s {
            "auto" => Ok(Some(simple("AUTO"))),
            "none" => Ok(Some(simple("NONE"))),
            "required" => Ok(Some(simple("ANY"))),
            _ => Err(unsupported("tool_choice")),
        };
    }
    match str_of(tc, "type") {
        Some("function") => {
            let name = tc
                .pointer("/function/name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| invalid("tool_choice.function.name", "is missing"))?;
            Ok(Some(ToolChoice {
                mode: "ANY",
                allowed: vec![name.to_owned()],
                declare_only: None,
            }))
        }
        Some("allowed_tools") => {
            let a = present(tc, "allowed_tools").unwrap_or(&Value::Null);
            let mut names = Vec::new();
            for (k, t) in a
                .get("tools")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let name = t
                    .pointer("/function/name")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| unsupported(&format!("tool_choice.allowed_tools.tools[{k}]")))?;
                names.push(name.to_owned());
            }
            match str_of(a, "mode") {
                Some("required") => Ok(Some(ToolChoice {
                    mode: "ANY",
                    allowed: names,
                    declare_only: None,
                })),
                // Gemini restricts names only in ANY mode: in AUTO, declare only these.
                Some("auto") | None => Ok(Some(ToolChoice {
                    mode: "AUTO",
                    allowed: Vec::new(),
                    declare_only: Some(names),
                })),
                Some(_) => Err(unsupported("tool_choice.allowed_tools.mode")),
            }
        }
        _ => Err(unsupported("tool_choice")),
    }
}

/// `tools` → `functionDeclarations` (restricted to `allowed_tools` in AUTO mode).
fn function_declarations(
    chat: &Value,
    choice: Option<&ToolChoice>,
) -> Result<Vec<Value>, Untranslatable> {
    let Some(tools) = present(chat, "tools") else {
        return Ok(Vec::new());
    };
    let tools = tools
        .as_array()
        .ok_or_else(|| invalid("tools", "must be an array"))?;
    let only = choice.and_then(|c| c.declare_only.as_deref());
    let mut out = Vec::with_capacity(tools.len());
    for (i, t) in tools.iter().enumerate() {
        if str_of(t, "type") != Some("function") {
            return Err(unsupported(&format!("tools[{i}].type")));
        }
        let f = present(t, "function")
            .ok_or_else(|| invalid(&format!("tools[{i}].function"), "is missing"))?;
        let name = str_of(f, "name")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| invalid(&format!("tools[{i}].function.name"), "is missing"))?;
        if only.is_some_and(|names| !names.iter().any(|n| n == name)) {
            continue;
        }
        let mut d = Map::new();
        d.insert("name".into(), Value::String(name.into()));
        if let Some(desc) = str_of(f, "description") {
            d.insert("description".into(), Value::String(desc.into()));
        }
        if let Some(p) = present(f, "parameters") {
            if !p.is_object() {
                return Err(invalid(
                    &format!("tools[{i}].function.parameters"),
                    "must be a JSON Schema object",
                ));
            }
            d.insert("parametersJsonSchema".into(), p.clone());
        }
        out.push(Value::Object(d));
    }
    Ok(out)
}

fn number(chat: &Value, key: &str) -> Result<Option<Value>, Untranslatable> {
    match present(chat, key) {
        None => Ok(None),
        Some(v @ Value::Number(_)) => Ok(Some(v.clone())),
        Some(_) => Err(invalid(key, "must be a number")),
    }
}

fn count(chat: &Value, key: &str) -> Result<Option<u64>, Untranslatable> {
    match present(chat, key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| invalid(key, "must be a non-negative integer")),
    }
}

fn generation_config(chat: &Value) -> Result<Map<String, Value>, Untranslatable> {
    let mut gc = Map::new();
    for (from, to) in [
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ] {
        if let Some(v) = number(chat, from)? {
            gc.insert(to.into(), v);
        }
    }
    // `max_completion_tokens` supersedes `max_tokens` in OpenAI's API.
    let max = match count(chat, "max_completion_tokens")? {
        Some(m) => Some(m),
        None => count(chat, "max_tokens")?,
    };
    if let Some(m) = max {
        gc.insert("maxOutputTokens".into(), json!(m));
    }
    if let Some(stop) = stop_sequences(chat)? {
        gc.insert("stopSequences".into(), json!(stop));
    }
    if let Some(n) = count(chat, "n")? {
        gc.insert("candidateCount".into(), json!(n));
    }
    if let Some(seed) = present(chat, "seed") {
        let s = seed
            .as_i64()
            .ok_or_else(|| invalid("seed", "must be an integer"))?;
        gc.insert("seed".into(), json!(s));
    }
    response_format(chat, &mut gc)?;
    if let Some(budget) = thinking_budget(chat)? {
        gc.insert("thinkingConfig".into(), json!({ "thinkingBudget": budget }));
    }
    match present(chat, "logprobs") {
        None | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => {
            gc.insert("responseLogprobs".into(), Value::Bool(true));
            if let Some(k) = count(chat, "top_logprobs")? {
                gc.insert("logprobs".into(), json!(k));
            }
        }
        Some(_) => return Err(invalid("logprobs", "must be a boolean")),
    }
    Ok(gc)
}

fn stop_sequences(chat: &Value) -> Result<Option<Vec<String>>, Untranslatable> {
    match present(chat, "stop") {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Array(a)) => {
            let mut out = Vec::with_capacity(a.len());
            for s in a {
                let s = s
                    .as_str()
                    .ok_or_else(|| invalid("stop", "must be a string or an array of strings"))?;
                out.push(s.to_owned());
            }
            Ok((!out.is_empty()).then_some(out))
        }
        Some(_) => Err(invalid("stop", "must be a string or an array of strings")),
    }
}

fn response_format(chat: &Value, gc: &mut Map<String, Value>) -> Result<(), Untranslatable> {
    let Some(rf) = present(chat, "response_format") else {
        return Ok(());
    };
    match str_of(rf, "type") {
        Some("text") => {}
        Some("json_object") => {
            gc.insert("responseMimeType".into(), json!("application/json"));
        }
        Some("json_schema") => {
            gc.insert("responseMimeType".into(), json!("application/json"));
            if let Some(schema) = rf.pointer("/json_schema/schema").filter(|s| !s.is_null()) {
                gc.insert("responseJsonSchema".into(), schema.clone());
            }
        }
        _ => return Err(unsupported("response_format.type")),
    }
    Ok(())
}

/// `reasoning_effort` → a thinking budget in tokens (see the module doc for the table).
fn thinking_budget(chat: &Value) -> Result<Option<u64>, Untranslatable> {
    let Some(effort) = present(chat, "reasoning_effort") else {
        return Ok(None);
    };
    let budget = match effort.as_str() {
        Some("none") => 0,
        Some("minimal") => 512,
        Some("low") => 1024,
        Some("medium") => 8192,
        Some("high" | "xhigh") => 24576,
        _ => return Err(unsupported("reasoning_effort")),
    };
    Ok(Some(budget))
}

// ---------------------------------------------------------------------------------------------
// Whole answers
// ---------------------------------------------------------------------------------------------

/// Gemini JSON answer → chat completion (`model` from the attempt).
pub fn answer_to_chat(ans: &Value, model: &str) -> Value {
    // Copied into every generated call id: bounded (see `clip_id`).
    let resp_id = str_of(ans, "responseId")
        .filter(|s| !s.is_empty())
        .map(clip_id);
    let candidates = ans
        .get("candidates")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut choices: Vec<Value> = candidates
        .iter()
        .enumerate()
        .map(|(pos, c)| choice(c, pos, resp_id))
        .collect();
    if choices.is_empty() {
        // No candidate: the prompt was blocked (or the answer is empty).
        let finish = if prompt_blocked(ans) {
            "content_filter"
        } else {
            "stop"
        };
        choices.push(json!({
            "index": 0,
            "message": { "role": "assistant", "content": null },
            "logprobs": null,
            "finish_reason": finish,
        }));
    }
    let mut out = Map::new();
    out.insert("id".into(), json!(completion_id(resp_id)));
    out.insert("object".into(), json!("chat.completion"));
    out.insert("created".into(), json!(0));
    out.insert("model".into(), json!(model_name(model, ans)));
    out.insert("choices".into(), Value::Array(choices));
    if let Some(u) = ans.get("usageMetadata").filter(|u| u.is_object()) {
        out.insert("usage".into(), usage(u));
    }
    Value::Object(out)
}

fn completion_id(resp_id: Option<&str>) -> String {
    format!("chatcmpl-{}", resp_id.unwrap_or("gemini"))
}

/// The attempt's model, else the version Gemini reports.
fn model_name<'a>(model: &'a str, ans: &'a Value) -> &'a str {
    if model.is_empty() {
        str_of(ans, "modelVersion").unwrap_or_default()
    } else {
        model
    }
}

fn prompt_blocked(ans: &Value) -> bool {
    ans.pointer("/promptFeedback/blockReason")
        .is_some_and(|r| !r.is_null())
}

/// Usage in OpenAI's form from `usageMetadata` (see module doc).
fn usage(u: &Value) -> Value {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let thoughts = n("thoughtsTokenCount");
    chat_usage(
        n("promptTokenCount").saturating_add(n("toolUsePromptTokenCount")),
        n("candidatesTokenCount").saturating_add(thoughts),
        n("cachedContentTokenCount"),
        thoughts,
    )
}

/// Index of a candidate: its `index` field (omitted by Gemini when 0), else its position.
fn candidate_index(c: &Value, pos: usize) -> u64 {
    c.get("index")
        .and_then(Value::as_u64)
        .unwrap_or(u64::try_from(pos).unwrap_or(u64::MAX))
}

/// What a candidate's parts say, in OpenAI's terms.
#[derive(Default)]
struct Parts {
    text: Option<String>,
    reasoning: Option<String>,
    calls: Vec<Value>,
}

fn append(slot: &mut Option<String>, s: &str) {
    slot.get_or_insert_with(String::new).push_str(s);
}

fn parts_of(c: &Value) -> &[Value] {
    c.pointer("/content/parts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn choice(c: &Value, pos: usize, resp_id: Option<&str>) -> Value {
    let mut p = Parts::default();
    for part in parts_of(c) {
        if let Some(t) = str_of(part, "text") {
            if is_thought(part) {
                append(&mut p.reasoning, t);
            } else {
                append(&mut p.text, t);
            }
        } else if let Some(fc) = present(part, "functionCall") {
            let n = u64::try_from(p.calls.len()).unwrap_or(u64::MAX);
            p.calls.push(tool_call(part, fc, n, resp_id));
        }
        // Other parts (inline images, executable code) come only with features this
        // translation never requests.
    }
    let mut msg = Map::new();
    msg.insert("role".into(), json!("assistant"));
    msg.insert("content".into(), json!(p.text));
    if let Some(r) = p.reasoning {
        msg.insert("reasoning_content".into(), json!(r));
    }
    let has_calls = !p.calls.is_empty();
    if has_calls {
        msg.insert("tool_calls".into(), Value::Array(p.calls));
    }
    let logprobs = c.get("logprobsResult").and_then(logprobs);
    json!({
        "index": candidate_index(c, pos),
        "message": Value::Object(msg),
        "logprobs": logprobs,
        "finish_reason": finish_reason(str_of(c, "finishReason"), has_calls),
    })
}

fn is_thought(part: &Value) -> bool {
    part.get("thought").and_then(Value::as_bool) == Some(true)
}

/// Gemini's finish reason → OpenAI's; calls turn a plain stop into `tool_calls`.
fn finish_reason(reason: Option<&str>, has_calls: bool) -> &'static str {
    match reason {
        Some("MAX_TOKENS") => "length",
        Some(
            "SAFETY"
            | "RECITATION"
            | "BLOCKLIST"
            | "PROHIBITED_CONTENT"
            | "SPII"
            | "IMAGE_SAFETY"
            | "IMAGE_PROHIBITED_CONTENT"
            | "IMAGE_RECITATION",
        ) => "content_filter",
        _ if has_calls => "tool_calls",
        _ => "stop",
    }
}

/// Tool call id: Gemini's when it gave one, else a deterministic one unique in the answer.
fn call_id(fc: &Value, n: u64, resp_id: Option<&str>) -> String {
    match str_of(fc, "id").filter(|s| !s.is_empty()) {
        Some(id) => id.to_owned(),
        None => match resp_id {
            Some(r) => format!("call_{r}_{n}"),
            None => format!("call_{n}"),
        },
    }
}

fn call_args_text(fc: &Value) -> String {
    match present(fc, "args") {
        Some(a) => a.to_string(),
        None => "{}".into(),
    }
}

/// A whole `functionCall` part → an OpenAI tool call (with its thought signature, if any).
fn tool_call(part: &Value, fc: &Value, n: u64, resp_id: Option<&str>) -> Value {
    let mut call = Map::new();
    call.insert("id".into(), json!(call_id(fc, n, resp_id)));
    call.insert("type".into(), json!("function"));
    call.insert(
        "function".into(),
        json!({ "name": str_of(fc, "name").unwrap_or_default(), "arguments": call_args_text(fc) }),
    );
    if let Some(sig) = signature(part) {
        call.insert("extra_content".into(), signature_extra(sig));
    }
    Value::Object(call)
}

fn signature(part: &Value) -> Option<&str> {
    str_of(part, "thoughtSignature").filter(|s| !s.is_empty())
}

/// Where Google's own OpenAI layer puts a tool call's thought signature.
fn signature_extra(sig: &str) -> Value {
    json!({ "google": { "thought_signature": sig } })
}

/// `logprobsResult` → OpenAI's `logprobs` (`content` with `top_logprobs`).
fn logprobs(lr: &Value) -> Option<Value> {
    let chosen = lr.get("chosenCandidates").and_then(Value::as_array)?;
    let top = lr.get("topCandidates").and_then(Value::as_array);
    let content: Vec<Value> = chosen
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let tops: Vec<Value> = top
                .and_then(|t| t.get(i))
                .and_then(|t| t.get("candidates"))
                .and_then(Value::as_array)
                .map(|cs| cs.iter().map(token_logprob).collect())
                .unwrap_or_default();
            let mut e = token_logprob(c);
            if let Some(o) = e.as_object_mut() {
                o.insert("top_logprobs".into(), Value::Array(tops));
            }
            e
        })
        .collect();
    Some(json!({ "content": content }))
}

fn token_logprob(c: &Value) -> Value {
    let token = str_of(c, "token").unwrap_or_default();
    let lp = c
        .get("logProbability")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    json!({ "token": token, "logprob": lp, "bytes": token.as_bytes() })
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Gemini error answer → OpenAI error. The HTTP status is kept (the adapter decides headers
/// from it before the body arrives).
pub fn error_to_openai(status: u16, body: &[u8]) -> ErrorOut {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    // Gemini sometimes wraps the error in an array (`[{"error":{...}}]`).
    let err = parsed.as_ref().and_then(|v| match v {
        Value::Array(items) => items.iter().find_map(|i| i.get("error")),
        other => other.get("error"),
    });
    let body = match err.filter(|e| e.is_object()) {
        Some(e) => {
            let mut o = openai_error_fields(e, status);
            o.insert("param".into(), Value::Null);
            // Keep OpenAI's key order: message, type, param, code.
            let code = o.remove("code").unwrap_or(Value::Null);
            o.insert("code".into(), code);
            json!({ "error": Value::Object(o) })
        }
        None => json!({ "error": {
            "message": format!("gemini answered with status {status} and a body that is not a Gemini error"),
            "type": kind_for_http(status),
            "param": null,
            "code": null,
        }}),
    };
    ErrorOut { status, body }
}

/// `message`, `type`, `code` of an OpenAI error from a Gemini error object.
fn openai_error_fields(e: &Value, status: u16) -> Map<String, Value> {
    let grpc = str_of(e, "status").filter(|s| !s.is_empty());
    let message = match str_of(e, "message").filter(|m| !m.is_empty()) {
        Some(m) => m.to_owned(),
        None => format!("gemini answered with status {status}"),
    };
    let mut o = Map::new();
    o.insert("message".into(), json!(message));
    o.insert("type".into(), json!(error_kind(grpc, status)));
    o.insert(
        "code".into(),
        grpc.map_or(Value::Null, |g| json!(g.to_ascii_lowercase())),
    );
    o
}

/// OpenAI error `type` from Gemini's status string, else from the HTTP status.
fn error_kind(grpc: Option<&str>, http: u16) -> &'static str {
    match grpc {
        Some("INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE") => {
            "invalid_request_error"
        }
        Some("UNAUTHENTICATED") => "authentication_error",
        Some("PERMISSION_DENIED") => "permission_error",
        Some("NOT_FOUND") => "not_found_error",
        Some("RESOURCE_EXHAUSTED") => "rate_limit_error",
        Some("INTERNAL" | "UNAVAILABLE" | "DEADLINE_EXCEEDED" | "UNKNOWN" | "DATA_LOSS") => {
            "server_error"
        }
        _ => kind_for_http(http),
    }
}

fn kind_for_http(http: u16) -> &'static str {
    match http {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

// ---------------------------------------------------------------------------------------------
// Stream
// ---------------------------------------------------------------------------------------------

/// Where a candidate of the stream stands.
#[derive(Debug, Default)]
struct Candidate {
    index: u64,
    finished: bool,
    /// Tool calls made so far (the next call's `index`).
    calls: u64,
}

/// Gemini SSE stream (`alt=sse`) → canonical chunks.
#[derive(Debug, Default)]
pub struct Source {
    model: String,
    response_id: Option<String>,
    candidates: Vec<Candidate>,
    /// The last `usageMetadata` seen (Gemini repeats it, growing, in several events).
    usage: Option<Value>,
    /// An error (in-stream or unreadable event) was seen: the stream cannot end as complete.
    failed: bool,
    ended: bool,
}

impl Source {
    /// A source for an answer of `model`.
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            ..Self::default()
        }
    }

    fn chunk(
        &self,
        index: u64,
        delta: Value,
        finish: Option<&str>,
        logprobs: Option<Value>,
    ) -> Chunk {
        Chunk::Data(json!({
            "id": completion_id(self.response_id.as_deref()),
            "object": "chat.completion.chunk",
            "created": 0,
            "model": self.model,
            "choices": [{ "index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish }],
        }))
    }

    fn error_chunk(&mut self, e: &Value, out: &mut Vec<Chunk>) {
        self.failed = true;
        let status = e
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(500);
        out.push(Chunk::Data(
            json!({ "error": Value::Object(openai_error_fields(e, status)) }),
        ));
    }

    /// The state of candidate `index`, started (role chunk) on first sight; `None` past the
    /// bound of tracked candidates.
    fn start(&mut self, index: u64, out: &mut Vec<Chunk>) -> Option<usize> {
        if let Some(pos) = self.candidates.iter().position(|c| c.index == index) {
            return Some(pos);
        }
        if self.candidates.len() >= MAX_STREAM_CANDIDATES {
            return None;
        }
        self.candidates.push(Candidate {
            index,
            ..Candidate::default()
        });
        out.push(self.chunk(
            index,
            json!({ "role": "assistant", "content": "" }),
            None,
            None,
        ));
        Some(self.candidates.len().saturating_sub(1))
    }

    fn response(&mut self, v: &Value, out: &mut Vec<Chunk>) {
        if let Some(e) = present(v, "error") {
            self.error_chunk(e, out);
            return;
        }
        if self.response_id.is_none() {
            // Copied into every chunk: bounded (see `clip_id`).
            self.response_id = str_of(v, "responseId")
                .filter(|s| !s.is_empty())
                .map(|s| clip_id(s).to_owned());
        }
        if self.model.is_empty() {
            if let Some(m) = str_of(v, "modelVersion") {
                self.model = clip_id(m).to_owned();
            }
        }
        if let Some(u) = v.get("usageMetadata").filter(|u| u.is_object()) {
            self.usage = Some(u.clone());
        }
        let candidates = v
            .get("candidates")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if candidates.is_empty() && prompt_blocked(v) {
            // The prompt was refused before any candidate: one filtered choice.
            if let Some(pos) = self.start(0, out) {
                self.finish(pos, "content_filter", out);
            }
            return;
        }
        for (i, c) in candidates.iter().enumerate() {
            self.candidate(c, candidate_index(c, i), out);
        }
    }

    fn candidate(&mut self, c: &Value, index: u64, out: &mut Vec<Chunk>) {
        let Some(pos) = self.start(index, out) else {
            return;
        };
        if self.candidates.get(pos).is_none_or(|s| s.finished) {
            // Nothing may follow a finish chunk.
            return;
        }
        let mut logprobs = c.get("logprobsResult").and_then(logprobs);
        for part in parts_of(c) {
            if let Some(t) = str_of(part, "text").filter(|t| !t.is_empty()) {
                if is_thought(part) {
                    out.push(self.chunk(index, json!({ "reasoning_content": t }), None, None));
                } else {
                    // The event's logprobs go with its first text.
                    out.push(self.chunk(index, json!({ "content": t }), None, logprobs.take()));
                }
            } else if let Some(fc) = present(part, "functionCall") {
                self.call(pos, index, part, fc, out);
            }
        }
        if let Some(lp) = logprobs {
            out.push(self.chunk(index, json!({}), None, Some(lp)));
        }
        if let Some(reason) = str_of(c, "finishReason").filter(|r| !r.is_empty()) {
            let has_calls = self.candidates.get(pos).is_some_and(|s| s.calls > 0);
            self.finish(pos, finish_reason(Some(reason), has_calls), out);
        }
    }

    /// A whole `functionCall` → start chunk (id, name, `""`) then its arguments.
    fn call(&mut self, pos: usize, index: u64, part: &Value, fc: &Value, out: &mut Vec<Chunk>) {
        let Some(state) = self.candidates.get_mut(pos) else {
            return;
        };
        let n = state.calls;
        state.calls = n.saturating_add(1);
        let mut start = Map::new();
        start.insert("index".into(), json!(n));
        start.insert(
            "id".into(),
            json!(call_id(fc, n, self.response_id.as_deref())),
        );
        start.insert("type".into(), json!("function"));
        start.insert(
            "function".into(),
            json!({ "name": str_of(fc, "name").unwrap_or_default(), "arguments": "" }),
        );
        if let Some(sig) = signature(part) {
            start.insert("extra_content".into(), signature_extra(sig));
        }
        out.push(self.chunk(
            index,
            json!({ "tool_calls": [Value::Object(start)] }),
            None,
            None,
        ));
        let args = json!({ "tool_calls": [{ "index": n, "function": { "arguments": call_args_text(fc) } }] });
        out.push(self.chunk(index, args, None, None));
    }

    fn finish(&mut self, pos: usize, reason: &str, out: &mut Vec<Chunk>) {
        let Some(state) = self.candidates.get_mut(pos) else {
            return;
        };
        if state.finished {
            return;
        }
        state.finished = true;
        let index = state.index;
        out.push(self.chunk(index, json!({}), Some(reason), None));
    }
}

impl ChunkSource for Source {
    fn event(&mut self, _name: Option<&str>, data: &str, out: &mut Vec<Chunk>) {
        let data = data.trim();
        if data.is_empty() || self.ended {
            return;
        }
        match serde_json::from_str::<Value>(data) {
            Ok(Value::Array(items)) => {
                for item in &items {
                    self.response(item, out);
                }
            }
            Ok(v @ Value::Object(_)) => self.response(&v, out),
            _ => {
                let e = json!({
                    "message": "gemini sent a stream event that is not JSON",
                    "status": "INTERNAL",
                });
                self.error_chunk(&e, out);
            }
        }
    }

    fn end(&mut self, out: &mut Vec<Chunk>) {
        if self.ended {
            return;
        }
        self.ended = true;
        let complete = !self.failed
            && !self.candidates.is_empty()
            && self.candidates.iter().all(|c| c.finished);
        if !complete {
            return;
        }
        if let Some(u) = &self.usage {
            out.push(Chunk::Data(json!({
                "id": completion_id(self.response_id.as_deref()),
                "object": "chat.completion.chunk",
                "created": 0,
                "model": self.model,
                "choices": [],
                "usage": usage(u),
            })));
        }
        out.push(Chunk::Done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(chat: Value) -> Value {
        request_from_chat(&chat).unwrap()
    }

    fn refused(chat: Value) -> Untranslatable {
        request_from_chat(&chat).unwrap_err()
    }

    fn user(text: &str) -> Value {
        json!({"role": "user", "content": text})
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

    fn run(events: &[&str]) -> Vec<Chunk> {
        let mut s = Source::new("gemini-2.5-flash");
        let mut out = Vec::new();
        for e in events {
            s.event(None, e, &mut out);
        }
        s.end(&mut out);
        out
    }

    fn deltas(chunks: &[Chunk]) -> Vec<Value> {
        data(chunks)
            .iter()
            .filter_map(|c| c.pointer("/choices/0").cloned())
            .collect()
    }

    // ---- request ----

    #[test]
    fn basic_roles_and_system() {
        let out = req(json!({
            "model": "gpt-x", "stream": true,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "No emoji."}]},
                user("Hi"),
                {"role": "assistant", "content": "Hello"},
                user("How are you?"),
            ]
        }));
        assert_eq!(
            out,
            json!({
                "contents": [
                    {"role": "user", "parts": [{"text": "Hi"}]},
                    {"role": "model", "parts": [{"text": "Hello"}]},
                    {"role": "user", "parts": [{"text": "How are you?"}]},
                ],
                "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "No emoji."}]},
            })
        );
        assert!(out.get("model").is_none() && out.get("stream").is_none());
    }

    #[test]
    fn consecutive_same_role_merged_and_empty_text_skipped() {
        let out = req(json!({"messages": [
            user("a"), user(""), user("b"),
            {"role": "assistant", "content": null, "refusal": "I can't"},
            {"role": "assistant", "content": [{"type": "text", "text": "x"}, {"type": "refusal", "refusal": "y"}]},
        ]}));
        assert_eq!(
            out["contents"],
            json!([
                {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
                {"role": "model", "parts": [{"text": "I can't"}, {"text": "x"}, {"text": "y"}]},
            ])
        );
    }

    #[test]
    fn images_audio_and_files() {
        let out = req(json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "high"}},
            {"type": "image_url", "image_url": {"url": "https://x.test/cat.WEBP?sig=1"}},
            {"type": "image_url", "image_url": {"url": "http://x.test/pic"}},
            {"type": "image_url", "image_url": "https://x.test/a.gif"},
            {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}},
        ]}]}));
        assert_eq!(
            out["contents"][0]["parts"],
            json!([
                {"text": "look"},
                {"inlineData": {"mimeType": "image/png", "data": "AAAA"}},
                {"fileData": {"mimeType": "image/webp", "fileUri": "https://x.test/cat.WEBP?sig=1"}},
                {"fileData": {"mimeType": "image/jpeg", "fileUri": "http://x.test/pic"}},
                {"fileData": {"mimeType": "image/gif", "fileUri": "https://x.test/a.gif"}},
                {"inlineData": {"mimeType": "audio/wav", "data": "UklG"}},
                {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}},
            ])
        );
    }

    #[test]
    fn bad_images_and_files_refused() {
        let e = refused(json!({"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png,notbase64"}}]}]}));
        assert_eq!(
            e.param.as_deref(),
            Some("messages[0].content[0].image_url.url")
        );
        let e = refused(json!({"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "ftp://x/a.png"}}]}]}));
        assert_eq!(
            e.param.as_deref(),
            Some("messages[0].content[0].image_url.url")
        );
        let e = refused(json!({"messages": [user("a"), {"role": "user", "content": [
            {"type": "file", "file": {"file_id": "file-1"}}]}]}));
        assert_eq!(
            e.param.as_deref(),
            Some("messages[1].content[0].file.file_id")
        );
        let e = refused(json!({"messages": [{"role": "user", "content": [{"type": "video"}]}]}));
        assert_eq!(e.param.as_deref(), Some("messages[0].content[0].type"));
        // Images are user content only.
        let e = refused(json!({"messages": [{"role": "system", "content": [
            {"type": "image_url", "image_url": {"url": "https://x/a.png"}}]}]}));
        assert_eq!(e.param.as_deref(), Some("messages[0].content[0].type"));
    }

    #[test]
    fn tool_calls_and_results() {
        let out = req(json!({"messages": [
            user("weather?"),
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "c2", "type": "function", "function": {"name": "get_time", "arguments": ""}},
            ]},
            {"role": "tool", "tool_call_id": "c1", "content": "{\"temp\":21}"},
            {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "noon"}]},
            user("thanks"),
        ]}));
        assert_eq!(
            out["contents"],
            json!([
                {"role": "user", "parts": [{"text": "weather?"}]},
                {"role": "model", "parts": [
                    {"functionCall": {"id": "c1", "name": "get_weather", "args": {"city": "Paris"}},
                     "thoughtSignature": SKIP_THOUGHT_SIGNATURE},
                    {"functionCall": {"id": "c2", "name": "get_time", "args": {}}},
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"id": "c1", "name": "get_weather", "response": {"temp": 21}}},
                    {"functionResponse": {"id": "c2", "name": "get_time", "response": {"result": "noon"}}},
                    {"text": "thanks"},
                ]},
            ])
        );
    }

    #[test]
    fn thought_signature_echoed_back() {
        let out = req(json!({"messages": [
            user("q"),
            {"role": "assistant", "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"},
                 "extra_content": {"google": {"thought_signature": "SIG"}}},
                {"id": "b", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            ]},
        ]}));
        let parts = &out["contents"][1]["parts"];
        assert_eq!(parts[0]["thoughtSignature"], "SIG");
        assert!(parts[1].get("thoughtSignature").is_none());
    }

    #[test]
    fn tool_result_names_most_recent_call_with_that_id() {
        let out = req(json!({"messages": [
            user("q"),
            {"role": "assistant", "tool_calls": [{"id": "call_0", "function": {"name": "old", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_0", "content": "1"},
            {"role": "assistant", "tool_calls": [{"id": "call_0", "function": {"name": "new", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_0", "content": "[1,2]"},
        ]}));
        assert_eq!(
            out["contents"][2]["parts"][0]["functionResponse"]["name"],
            "old"
        );
        assert_eq!(
            out["contents"][4]["parts"][0]["functionResponse"],
            json!({"id": "call_0", "name": "new", "response": {"result": "[1,2]"}})
        );
    }

    #[test]
    fn overlong_call_names_are_refused_not_copied_into_every_result() {
        // Found by the translate_request fuzz target: a long name × many tool results made
        // the translated request grow quadratically with the client's.
        let name = "f".repeat(MAX_CALL_NAME_BYTES + 1);
        let mut messages = vec![
            user("q"),
            json!({"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": name, "arguments": "{}"}}]}),
        ];
        messages.extend((0..100).map(|_| json!({"role": "tool", "tool_call_id": "c"})));
        let e = refused(json!({ "messages": messages }));
        assert_eq!(
            e.param.as_deref(),
            Some("messages[1].tool_calls[0].function.name")
        );
        let ok = "f".repeat(MAX_CALL_NAME_BYTES);
        let out = req(json!({"messages": [user("q"),
            {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": ok, "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "x"}]}));
        assert_eq!(
            out["contents"][2]["parts"][0]["functionResponse"]["name"],
            ok
        );
    }

    #[test]
    fn bad_tool_calls_refused() {
        let call = |args: Value| {
            json!({"messages": [user("q"), {"role": "assistant", "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": args}}]}]})
        };
        let e = refused(call(json!("{not json")));
        assert_eq!(
            e.param.as_deref(),
            Some("messages[1].tool_calls[0].function.arguments")
        );
        let e = refused(call(json!("[1]")));
        assert_eq!(
            e.param.as_deref(),
            Some("messages[1].tool_calls[0].function.arguments")
        );
        let e = refused(
            json!({"messages": [user("q"), {"role": "tool", "tool_call_id": "nope", "content": "x"}]}),
        );
        assert_eq!(e.param.as_deref(), Some("messages[1].tool_call_id"));
        let e = refused(
            json!({"messages": [user("q"), {"role": "assistant", "tool_calls": [
            {"id": "c", "type": "custom", "custom": {"name": "f", "input": "x"}}]}]}),
        );
        assert_eq!(e.param.as_deref(), Some("messages[1].tool_calls[0].type"));
        let e = refused(json!({"messages": [{"role": "function", "name": "f", "content": "x"}]}));
        assert_eq!(e.param.as_deref(), Some("messages[0].role"));
        let e =
            refused(json!({"messages": [{"role": "assistant", "function_call": {"name": "f"}}]}));
        assert_eq!(e.param.as_deref(), Some("messages[0].function_call"));
    }

    #[test]
    fn tools_and_tool_choice() {
        let tools = json!([
            {"type": "function", "function": {"name": "a", "description": "A", "strict": true,
             "parameters": {"type": "object", "properties": {"x": {"type": "string"}}, "additionalProperties": false}}},
            {"type": "function", "function": {"name": "b"}},
        ]);
        let out = req(json!({"messages": [user("q")], "tools": tools, "tool_choice": "required"}));
        assert_eq!(
            out["tools"],
            json!([{"functionDeclarations": [
                {"name": "a", "description": "A", "parametersJsonSchema":
                    {"type": "object", "properties": {"x": {"type": "string"}}, "additionalProperties": false}},
                {"name": "b"},
            ]}])
        );
        assert_eq!(
            out["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY"}})
        );
        for (choice, mode) in [("auto", "AUTO"), ("none", "NONE")] {
            let out = req(json!({"messages": [user("q")], "tools": tools, "tool_choice": choice}));
            assert_eq!(
                out["toolConfig"]["functionCallingConfig"],
                json!({"mode": mode})
            );
        }
        let out = req(json!({"messages": [user("q")], "tools": tools,
            "tool_choice": {"type": "function", "function": {"name": "b"}}}));
        assert_eq!(
            out["toolConfig"]["functionCallingConfig"],
            json!({"mode": "ANY", "allowedFunctionNames": ["b"]})
        );
        let allowed = |mode: &str| {
            req(
                json!({"messages": [user("q")], "tools": tools, "tool_choice": {"type": "allowed_tools",
                "allowed_tools": {"mode": mode, "tools": [{"type": "function", "function": {"name": "a"}}]}}}),
            )
        };
        let out = allowed("required");
        assert_eq!(
            out["toolConfig"]["functionCallingConfig"],
            json!({"mode": "ANY", "allowedFunctionNames": ["a"]})
        );
        assert_eq!(
            out["tools"][0]["functionDeclarations"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let out = allowed("auto");
        assert_eq!(
            out["toolConfig"]["functionCallingConfig"],
            json!({"mode": "AUTO"})
        );
        assert_eq!(
            out["tools"][0]["functionDeclarations"],
            json!([{"name": "a", "description": "A",
            "parametersJsonSchema": tools[0]["function"]["parameters"]}])
        );
        // No tools: nothing declared, no tool config.
        let out = req(json!({"messages": [user("q")], "tools": [], "tool_choice": "none"}));
        assert!(out.get("tools").is_none() && out.get("toolConfig").is_none());
    }

    #[test]
    fn bad_tools_refused() {
        let e = refused(
            json!({"messages": [user("q")], "tools": [{"type": "function", "function": {"name": "a"}},
            {"type": "web_search"}]}),
        );
        assert_eq!(e.param.as_deref(), Some("tools[1].type"));
        let e = refused(
            json!({"messages": [user("q")], "tools": [{"type": "function", "function": {}}]}),
        );
        assert_eq!(e.param.as_deref(), Some("tools[0].function.name"));
        let e = refused(json!({"messages": [user("q")], "tool_choice": "sometimes"}));
        assert_eq!(e.param.as_deref(), Some("tool_choice"));
    }

    #[test]
    fn generation_config_mapping() {
        let out = req(json!({"messages": [user("q")],
            "temperature": 0.5, "top_p": 0.9, "top_k": 40, "max_tokens": 10, "max_completion_tokens": 20,
            "stop": "END", "n": 2, "seed": -3, "presence_penalty": 0.1, "frequency_penalty": 0.2,
            "logprobs": true, "top_logprobs": 3, "reasoning_effort": "low",
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "strict": true,
                "schema": {"type": "object"}}},
        }));
        assert_eq!(
            out["generationConfig"],
            json!({
                "temperature": 0.5, "topP": 0.9, "topK": 40,
                "presencePenalty": 0.1, "frequencyPenalty": 0.2,
                "maxOutputTokens": 20, "stopSequences": ["END"], "candidateCount": 2, "seed": -3,
                "responseMimeType": "application/json", "responseJsonSchema": {"type": "object"},
                "thinkingConfig": {"thinkingBudget": 1024},
                "responseLogprobs": true, "logprobs": 3,
            })
        );
        let out = req(
            json!({"messages": [user("q")], "max_tokens": 7, "stop": ["a", "b"],
            "response_format": {"type": "json_object"}, "reasoning_effort": "none", "logprobs": false}),
        );
        assert_eq!(
            out["generationConfig"],
            json!({"maxOutputTokens": 7, "stopSequences": ["a", "b"],
                "responseMimeType": "application/json", "thinkingConfig": {"thinkingBudget": 0}})
        );
        let out = req(json!({"messages": [user("q")], "response_format": {"type": "text"}}));
        assert!(out.get("generationConfig").is_none());
        for (effort, budget) in [("minimal", 512), ("medium", 8192), ("high", 24576)] {
            let out = req(json!({"messages": [user("q")], "reasoning_effort": effort}));
            assert_eq!(
                out["generationConfig"]["thinkingConfig"]["thinkingBudget"],
                budget
            );
        }
    }

    #[test]
    fn wrong_types_refused_not_panicking() {
        for (field, value) in [
            ("temperature", json!("hot")),
            ("max_tokens", json!(-1)),
            ("stop", json!(5)),
            ("seed", json!(1.5)),
            ("n", json!("two")),
            ("logprobs", json!("yes")),
            ("reasoning_effort", json!("extreme")),
            ("tools", json!({})),
        ] {
            let mut chat = json!({"messages": [user("q")]});
            chat.as_object_mut().unwrap().insert(field.into(), value);
            assert_eq!(refused(chat).param.as_deref(), Some(field), "{field}");
        }
        assert_eq!(
            refused(json!({"messages": "hi"})).param.as_deref(),
            Some("messages")
        );
        assert_eq!(refused(json!([1])).param, None);
        assert_eq!(
            refused(json!({"messages": [{"content": "x"}]}))
                .param
                .as_deref(),
            Some("messages[0].role")
        );
    }

    #[test]
    fn field_policy() {
        // Harmless fields are dropped.
        let out = req(
            json!({"messages": [user("q")], "stream_options": {"include_usage": true},
            "user": "u", "store": false, "metadata": {"a": "b"}, "service_tier": "auto",
            "parallel_tool_calls": false, "logit_bias": {}, "modalities": ["text"], "audio": null,
            "prediction": null}),
        );
        assert_eq!(
            out,
            json!({"contents": [{"role": "user", "parts": [{"text": "q"}]}]})
        );
        // Fields that would change the answer are refused, naming the field.
        for (field, value) in [
            ("logit_bias", json!({"50256": -100})),
            ("audio", json!({"voice": "alloy", "format": "wav"})),
            ("modalities", json!(["text", "audio"])),
            ("prediction", json!({"type": "content", "content": "x"})),
            ("web_search_options", json!({})),
            ("functions", json!([{"name": "f"}])),
            ("function_call", json!("auto")),
            ("some_future_field", json!(1)),
        ] {
            let mut chat = json!({"messages": [user("q")]});
            chat.as_object_mut().unwrap().insert(field.into(), value);
            let e = refused(chat);
            assert_eq!(e.param.as_deref(), Some(field));
            assert!(e.message.contains("gemini"), "{}", e.message);
        }
    }

    // ---- whole answers ----

    #[test]
    fn answer_text_thoughts_usage() {
        let ans = json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "thinking...", "thought": true},
                {"text": "Hello "}, {"text": "world"}]},
                "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 10, "toolUsePromptTokenCount": 2,
                "candidatesTokenCount": 5, "thoughtsTokenCount": 7, "cachedContentTokenCount": 4,
                "totalTokenCount": 24},
            "modelVersion": "gemini-2.5-flash-001", "responseId": "abc",
        });
        let out = answer_to_chat(&ans, "gemini-2.5-flash");
        assert_eq!(
            out,
            json!({
                "id": "chatcmpl-abc", "object": "chat.completion", "created": 0,
                "model": "gemini-2.5-flash",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello world",
                    "reasoning_content": "thinking..."}, "logprobs": null, "finish_reason": "stop"}],
                "usage": chat_usage(12, 12, 4, 7),
            })
        );
        assert_eq!(answer_to_chat(&ans, "")["model"], "gemini-2.5-flash-001");
    }

    #[test]
    fn answer_tool_calls() {
        let ans = json!({"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "a", "args": {"x": 1}}, "thoughtSignature": "SIG"},
            {"functionCall": {"id": "g-1", "name": "b"}},
        ]}, "finishReason": "STOP"}], "responseId": "r"});
        let out = answer_to_chat(&ans, "m");
        assert_eq!(
            out["choices"][0],
            json!({"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_r_0", "type": "function", "function": {"name": "a", "arguments": "{\"x\":1}"},
                 "extra_content": {"google": {"thought_signature": "SIG"}}},
                {"id": "g-1", "type": "function", "function": {"name": "b", "arguments": "{}"}},
            ]}, "logprobs": null, "finish_reason": "tool_calls"})
        );
        assert!(out.get("usage").is_none());
        // Without a response id the ids are still deterministic.
        let ans =
            json!({"candidates": [{"content": {"parts": [{"functionCall": {"name": "a"}}]}}]});
        assert_eq!(
            answer_to_chat(&ans, "m")["choices"][0]["message"]["tool_calls"][0]["id"],
            "call_0"
        );
        assert_eq!(answer_to_chat(&ans, "m")["id"], "chatcmpl-gemini");
    }

    #[test]
    fn round_trip_tool_call_through_request() {
        // What answer_to_chat gives, sent back as history, reaches Gemini with its signature.
        let ans = json!({"candidates": [{"content": {"parts": [
            {"functionCall": {"name": "a", "args": {"x": 1}}, "thoughtSignature": "SIG"}]},
            "finishReason": "STOP"}], "responseId": "r"});
        let msg = answer_to_chat(&ans, "m")["choices"][0]["message"].clone();
        let out = req(json!({"messages": [user("q"), msg,
            {"role": "tool", "tool_call_id": "call_r_0", "content": "ok"}]}));
        assert_eq!(
            out["contents"][1]["parts"][0],
            json!({"functionCall": {"id": "call_r_0", "name": "a", "args": {"x": 1}}, "thoughtSignature": "SIG"})
        );
        assert_eq!(
            out["contents"][2]["parts"][0]["functionResponse"]["name"],
            "a"
        );
    }

    #[test]
    fn answer_multiple_candidates_and_finish_reasons() {
        let ans = json!({"candidates": [
            {"content": {"parts": [{"text": "a"}]}, "finishReason": "MAX_TOKENS"},
            {"content": {"parts": [{"text": "b"}]}, "finishReason": "SAFETY", "index": 1},
            {"finishReason": "RECITATION", "index": 2},
            {"content": {"parts": [{"text": "d"}]}, "finishReason": "OTHER", "index": 3},
        ]});
        let out = answer_to_chat(&ans, "m");
        let got: Vec<(u64, Value, String)> = out["choices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["index"].as_u64().unwrap(),
                    c["message"]["content"].clone(),
                    c["finish_reason"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (0, json!("a"), "length".into()),
                (1, json!("b"), "content_filter".into()),
                (2, Value::Null, "content_filter".into()),
                (3, json!("d"), "stop".into()),
            ]
        );
        for r in ["BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"] {
            assert_eq!(finish_reason(Some(r), true), "content_filter");
        }
        assert_eq!(
            finish_reason(Some("MALFORMED_FUNCTION_CALL"), false),
            "stop"
        );
        assert_eq!(finish_reason(None, false), "stop");
    }

    #[test]
    fn answer_prompt_blocked() {
        let ans = json!({"promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3}});
        let out = answer_to_chat(&ans, "m");
        assert_eq!(
            out["choices"],
            json!([{"index": 0, "message": {"role": "assistant", "content": null},
                "logprobs": null, "finish_reason": "content_filter"}])
        );
        assert_eq!(out["usage"], chat_usage(3, 0, 0, 0));
    }

    #[test]
    fn answer_logprobs() {
        let ans = json!({"candidates": [{"content": {"parts": [{"text": "Hi"}]}, "finishReason": "STOP",
            "logprobsResult": {
                "chosenCandidates": [{"token": "Hi", "logProbability": -0.5}],
                "topCandidates": [{"candidates": [{"token": "Hi", "logProbability": -0.5},
                    {"token": "Yo", "logProbability": -1.5}]}]}}]});
        assert_eq!(
            answer_to_chat(&ans, "m")["choices"][0]["logprobs"],
            json!({"content": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105], "top_logprobs": [
                {"token": "Hi", "logprob": -0.5, "bytes": [72, 105]},
                {"token": "Yo", "logprob": -1.5, "bytes": [89, 111]}]}]})
        );
    }

    #[test]
    fn hostile_answers_do_not_panic() {
        for ans in [
            json!(null),
            json!([]),
            json!({"candidates": "x"}),
            json!({"candidates": [1, null, "s"]}),
            json!({"candidates": [{"content": {"parts": [{"functionCall": 3}, {"text": 5}]}}]}),
            json!({"usageMetadata": {"promptTokenCount": u64::MAX, "toolUsePromptTokenCount": 9}}),
            json!({"candidates": [{"index": -1, "logprobsResult": {"chosenCandidates": [1]}}]}),
        ] {
            let out = answer_to_chat(&ans, "m");
            assert_eq!(out["object"], "chat.completion");
        }
    }

    // ---- errors ----

    #[test]
    fn errors_mapped() {
        let cases = [
            (400, "INVALID_ARGUMENT", "invalid_request_error"),
            (400, "FAILED_PRECONDITION", "invalid_request_error"),
            (401, "UNAUTHENTICATED", "authentication_error"),
            (403, "PERMISSION_DENIED", "permission_error"),
            (404, "NOT_FOUND", "not_found_error"),
            (429, "RESOURCE_EXHAUSTED", "rate_limit_error"),
            (500, "INTERNAL", "server_error"),
            (503, "UNAVAILABLE", "server_error"),
            (504, "DEADLINE_EXCEEDED", "server_error"),
        ];
        for (status, grpc, kind) in cases {
            let body = json!({"error": {"code": status, "message": "boom", "status": grpc}});
            let out = error_to_openai(status, body.to_string().as_bytes());
            assert_eq!(out.status, status);
            assert_eq!(
                out.body,
                json!({"error": {"message": "boom", "type": kind, "param": null,
                    "code": grpc.to_ascii_lowercase()}})
            );
            // Key order is OpenAI's.
            assert!(out.body.to_string().starts_with("{\"error\":{\"message\""));
        }
    }

    #[test]
    fn errors_array_missing_and_non_json() {
        let body =
            br#"[{"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}]"#;
        let out = error_to_openai(429, body);
        assert_eq!(out.body["error"]["type"], "rate_limit_error");
        assert_eq!(out.body["error"]["message"], "quota");
        let out = error_to_openai(502, b"<html>bad gateway</html>");
        assert_eq!(out.status, 502);
        assert_eq!(out.body["error"]["type"], "server_error");
        assert!(out.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("502"));
        let out = error_to_openai(404, b"");
        assert_eq!(out.body["error"]["type"], "not_found_error");
        let out = error_to_openai(400, br#"{"error": {"code": 400}}"#);
        assert_eq!(out.body["error"]["type"], "invalid_request_error");
        assert_eq!(out.body["error"]["code"], Value::Null);
        assert!(out.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("400"));
        let out = error_to_openai(403, br#"{"error": "nope"}"#);
        assert_eq!(out.body["error"]["type"], "permission_error");
    }

    // ---- stream ----

    #[test]
    fn stream_text_usage_done() {
        let out = run(&[
            r#"{"candidates":[{"content":{"parts":[{"text":"Hola"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":8,"totalTokenCount":8},"modelVersion":"gemini-2.5-flash","responseId":"r1"}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":" mundo ñ"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":5,"totalTokenCount":20,"cachedContentTokenCount":2,"thoughtsTokenCount":7},"modelVersion":"gemini-2.5-flash","responseId":"r1"}"#,
        ]);
        assert_eq!(out.last(), Some(&Chunk::Done));
        let d = data(&out);
        assert_eq!(d.len(), 5);
        assert_eq!(d[0]["id"], "chatcmpl-r1");
        assert_eq!(d[0]["object"], "chat.completion.chunk");
        assert_eq!(d[0]["model"], "gemini-2.5-flash");
        assert_eq!(
            d[0]["choices"][0]["delta"],
            json!({"role": "assistant", "content": ""})
        );
        assert_eq!(d[1]["choices"][0]["delta"], json!({"content": "Hola"}));
        assert_eq!(d[2]["choices"][0]["delta"], json!({"content": " mundo ñ"}));
        assert_eq!(d[3]["choices"][0]["delta"], json!({}));
        assert_eq!(d[3]["choices"][0]["finish_reason"], "stop");
        assert_eq!(d[1]["choices"][0]["finish_reason"], Value::Null);
        assert_eq!(d[4]["choices"], json!([]));
        assert_eq!(d[4]["usage"], chat_usage(8, 12, 2, 7));
    }

    #[test]
    fn stream_thoughts_and_tool_calls() {
        let out = run(&[
            r#"{"candidates":[{"content":{"parts":[{"text":"plan","thought":true}],"role":"model"}}],"responseId":"r"}"#,
            r#"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"a","args":{"x":1}},"thoughtSignature":"S"},{"functionCall":{"id":"g2","name":"b","args":{}}}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":2}}"#,
        ]);
        assert_eq!(out.last(), Some(&Chunk::Done));
        let ch = deltas(&out);
        let ds: Vec<Value> = ch.iter().map(|c| c["delta"].clone()).collect();
        assert_eq!(
            ds[..6],
            [
                json!({"role": "assistant", "content": ""}),
                json!({"reasoning_content": "plan"}),
                json!({"tool_calls": [{"index": 0, "id": "call_r_0", "type": "function",
                    "function": {"name": "a", "arguments": ""},
                    "extra_content": {"google": {"thought_signature": "S"}}}]}),
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"x\":1}"}}]}),
                json!({"tool_calls": [{"index": 1, "id": "g2", "type": "function",
                    "function": {"name": "b", "arguments": ""}}]}),
                json!({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}),
            ]
        );
        assert_eq!(ch[6]["finish_reason"], "tool_calls");
        assert_eq!(data(&out).last().unwrap()["usage"], chat_usage(1, 2, 0, 0));
    }

    #[test]
    fn stream_multiple_candidates() {
        let out = run(&[
            r#"{"candidates":[{"content":{"parts":[{"text":"a"}]}},{"content":{"parts":[{"text":"b"}]},"index":1}]}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"c"}]},"index":1,"finishReason":"MAX_TOKENS"}]}"#,
            r#"{"candidates":[{"content":{"parts":[]},"index":0,"finishReason":"STOP"}]}"#,
        ]);
        assert_eq!(out.last(), Some(&Chunk::Done));
        let got: Vec<(u64, Value, Value)> = deltas(&out)
            .iter()
            .map(|c| {
                (
                    c["index"].as_u64().unwrap(),
                    c["delta"].clone(),
                    c["finish_reason"].clone(),
                )
            })
            .collect();
        let role = json!({"role": "assistant", "content": ""});
        assert_eq!(
            got,
            vec![
                (0, role.clone(), Value::Null),
                (0, json!({"content": "a"}), Value::Null),
                (1, role, Value::Null),
                (1, json!({"content": "b"}), Value::Null),
                (1, json!({"content": "c"}), Value::Null),
                (1, json!({}), json!("length")),
                (0, json!({}), json!("stop")),
            ]
        );
        // No usageMetadata: no usage chunk, but Done.
        assert!(data(&out).iter().all(|c| c.get("usage").is_none()));
    }

    #[test]
    fn stream_cut_gives_neither_usage_nor_done() {
        let out = run(&[
            r#"{"candidates":[{"content":{"parts":[{"text":"a"}]}}],"usageMetadata":{"promptTokenCount":3}}"#,
        ]);
        assert!(!out.contains(&Chunk::Done));
        assert!(data(&out).iter().all(|c| c.get("usage").is_none()));
        // One candidate finished, the other not.
        let out = run(&[
            r#"{"candidates":[{"content":{"parts":[{"text":"a"}]},"finishReason":"STOP"},{"index":1,"content":{"parts":[{"text":"b"}]}}]}"#,
        ]);
        assert!(!out.contains(&Chunk::Done));
        // Nothing at all.
        assert!(run(&[]).is_empty());
    }

    #[test]
    fn stream_error_event() {
        let out = run(&[
            r#"{"candidates":[{"content":{"parts":[{"text":"a"}]}}]}"#,
            r#"{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}"#,
        ]);
        assert!(!out.contains(&Chunk::Done));
        let d = data(&out);
        assert_eq!(
            d.last().unwrap(),
            &json!({"error": {"message": "overloaded", "type": "server_error", "code": "unavailable"}})
        );
        let out = run(&["not json"]);
        assert_eq!(data(&out)[0]["error"]["type"], "server_error");
        assert!(!out.contains(&Chunk::Done));
    }

    #[test]
    fn stream_prompt_blocked() {
        let out = run(&[
            r#"{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":4}}"#,
        ]);
        let ch = deltas(&out);
        assert_eq!(ch[0]["delta"]["role"], "assistant");
        assert_eq!(ch[1]["finish_reason"], "content_filter");
        assert_eq!(data(&out).last().unwrap()["usage"], chat_usage(4, 0, 0, 0));
        assert_eq!(out.last(), Some(&Chunk::Done));
    }

    #[test]
    fn stream_safety_finish_and_nothing_after_finish() {
        let out = run(&[
            r#"{"candidates":[{"content":{"parts":[{"text":"a"}]},"finishReason":"SAFETY"}]}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"late"}]},"finishReason":"STOP"}]}"#,
        ]);
        let ch = deltas(&out);
        assert_eq!(ch.len(), 3);
        assert_eq!(ch[2]["finish_reason"], "content_filter");
        assert_eq!(out.last(), Some(&Chunk::Done));
    }

    #[test]
    fn stream_logprobs_and_empty_events() {
        let out = run(&[
            "",
            r#"{"candidates":[{"content":{"parts":[{"text":"Hi"}]},"logprobsResult":{"chosenCandidates":[{"token":"Hi","logProbability":-0.1}]}}]}"#,
            r#"{"candidates":[{"logprobsResult":{"chosenCandidates":[{"token":"!","logProbability":-0.2}]},"finishReason":"STOP"}]}"#,
        ]);
        let ch = deltas(&out);
        assert_eq!(ch[1]["logprobs"]["content"][0]["token"], "Hi");
        assert_eq!(ch[2]["delta"], json!({}));
        assert_eq!(ch[2]["logprobs"]["content"][0]["token"], "!");
        assert_eq!(ch[3]["finish_reason"], "stop");
    }

    #[test]
    fn stream_end_is_idempotent_and_bounded() {
        let mut s = Source::new("m");
        let mut out = Vec::new();
        s.event(
            None,
            r#"{"candidates":[{"finishReason":"STOP"}]}"#,
            &mut out,
        );
        s.end(&mut out);
        s.end(&mut out);
        s.event(None, r#"{"candidates":[{"index":1}]}"#, &mut out);
        assert_eq!(out.iter().filter(|c| **c == Chunk::Done).count(), 1);
        // A hostile stream with many candidate indices tracks a bounded number.
        let mut s = Source::new("m");
        let mut out = Vec::new();
        let many: Vec<Value> = (0..200).map(|i| json!({"index": i})).collect();
        s.event(None, &json!({"candidates": many}).to_string(), &mut out);
        assert_eq!(out.len(), MAX_STREAM_CANDIDATES);
        for ev in [
            r#"{"candidates":[{"index":"x","content":{"parts":[{"functionCall":null},{"text":1}]}}]}"#,
            r#"[{"candidates":[]}]"#,
            "[1, 2]",
            "42",
            r#"{"error": 7}"#,
        ] {
            s.event(None, ev, &mut out);
        }
        s.end(&mut out);
    }

    #[test]
    fn recorded_stream_split_anywhere() {
        // Gemini's SSE (CRLF framing) through the SSE parser, split at every byte.
        let bytes = include_bytes!("../../tests/fixtures/gemini.sse");
        let translate = |pieces: &[&[u8]]| {
            let mut parser = crate::sse::SseParser::default();
            let mut events = Vec::new();
            for p in pieces {
                parser.feed(p, &mut events);
            }
            events.extend(parser.finish());
            let mut s = Source::new("gemini-2.5-flash");
            let mut out = Vec::new();
            for e in &events {
                if let Some(d) = e.data.as_deref() {
                    s.event(e.event.as_deref(), d, &mut out);
                }
            }
            s.end(&mut out);
            out
        };
        let whole = translate(&[bytes]);
        assert_eq!(whole.last(), Some(&Chunk::Done));
        let text: String = deltas(&whole)
            .iter()
            .filter_map(|c| {
                c.pointer("/delta/content")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(text, "Hola mundo ñ");
        for i in 0..=bytes.len() {
            let (a, b) = bytes.split_at(i);
            assert_eq!(translate(&[a, b]), whole, "split at {i}");
        }
        // Cut before the final event: no Done.
        let cut = bytes.len().saturating_sub(200);
        assert!(!translate(&[&bytes[..cut]]).contains(&Chunk::Done));
    }
}
