//! OpenAI's rules for counting the prompt tokens of a request, as in OpenAI's cookbook
//! ("How to count tokens with tiktoken"), extended to the parts the cookbook leaves open.
//!
//! * Each message costs 3 tokens of framing + its role + its content (+1 and the name if `name` is
//!   set); the reply is primed with 3 more tokens.
//! * Content parts: `text` / `input_text` / `output_text` are counted; each image
//!   (`image_url`, `input_image`) costs a fixed [`Rules::image_tokens`] (the provider's real figure
//!   depends on the image size and detail, which the gateway does not decode; 85 is OpenAI's
//!   low-detail cost, 765 a 1024×1024 high-detail image); audio and files are not counted.
//! * Tool calls in assistant messages cost their function name + arguments + 3.
//! * Tool definitions follow the cookbook's function-calling formula for gpt-4o-class models:
//!   7 per function + `name:description`, 3 for the parameters object, 3 + `key:type:description`
//!   per property, enum values 3 each (−3 per enum), 12 at the end.
//! * Responses API: `instructions` is a developer message; `input` is a user message (string) or a
//!   list of items (messages, `function_call`: name + arguments, `function_call_output`: output).

use crate::Bpe;
use serde_json::Value;

/// What the rules count one string with: the BPE itself, or [`ByteBound`].
pub trait Count {
    /// Tokens of `s` (or an upper bound of them).
    fn tokens(&self, s: &str) -> u64;
}

impl Count for Bpe {
    fn tokens(&self, s: &str) -> u64 {
        self.count(s) as u64
    }
}

/// An upper bound instead of a count: every BPE token is at least one byte, so a string's byte
/// length bounds its token count from above. The rules only add counts (or subtract constants), so
/// the same rules over this bound a whole prompt — without running the tokenizer.
#[derive(Debug, Clone, Copy, Default)]
pub struct ByteBound;

impl Count for ByteBound {
    fn tokens(&self, s: &str) -> u64 {
        s.len() as u64
    }
}

/// Counting choices the cookbook leaves to the caller.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Tokens charged per image part.
    pub image_tokens: u64,
}

impl Default for Rules {
    fn default() -> Self {
        Self { image_tokens: 765 }
    }
}

const PER_MESSAGE: u64 = 3;
const PER_NAME: u64 = 1;
const REPLY_PRIMING: u64 = 3;

fn text<C: Count + ?Sized>(bpe: &C, s: &str) -> u64 {
    bpe.tokens(s)
}

/// Tokens of a `content` value: a string or a list of parts.
fn content<C: Count + ?Sized>(bpe: &C, v: &Value, rules: &Rules) -> u64 {
    match v {
        Value::String(s) => text(bpe, s),
        Value::Array(parts) => parts.iter().map(|p| part(bpe, p, rules)).sum(),
        _ => 0,
    }
}

fn part<C: Count + ?Sized>(bpe: &C, p: &Value, rules: &Rules) -> u64 {
    match p.get("type").and_then(Value::as_str) {
        Some("text" | "input_text" | "output_text" | "refusal") => {
            let t = p
                .get("text")
                .or_else(|| p.get("refusal"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            text(bpe, t)
        }
        Some("image_url" | "input_image") => rules.image_tokens,
        _ => p.as_str().map_or(0, |s| text(bpe, s)),
    }
}

fn tool_calls<C: Count + ?Sized>(bpe: &C, calls: &Value) -> u64 {
    calls
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let f = c.get("function").unwrap_or(c);
            let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
            let args = f
                .get("arguments")
                .and_then(Value::as_str)
                .unwrap_or_default();
            text(bpe, name) + text(bpe, args) + 3
        })
        .sum()
}

/// Cookbook formula for function definitions (`tools` of chat or Responses requests).
fn tools<C: Count + ?Sized>(bpe: &C, tools: Option<&Value>) -> u64 {
    let Some(list) = tools.and_then(Value::as_array) else {
        return 0;
    };
    if list.is_empty() {
        return 0;
    }
    let mut n: i64 = 0;
    for t in list {
        // chat: {"type":"function","function":{...}}; responses: {"type":"function","name":...}
        let f = t.get("function").unwrap_or(t);
        let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
        let desc = f
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default();
        n += 7 + bpe.tokens(&format!("{name}:{}", desc.trim_end_matches('.'))) as i64;
        let props = f
            .get("parameters")
            .and_then(|p| p.get("properties"))
            .and_then(Value::as_object);
        if let Some(props) = props.filter(|p| !p.is_empty()) {
            n += 3;
            for (key, schema) in props {
                n += 3;
                let ty = schema
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let pdesc = schema
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if let Some(values) = schema.get("enum").and_then(Value::as_array) {
                    n -= 3;
                    for v in values {
                        n += 3 + bpe.tokens(v.to_string().trim_matches('"')) as i64;
                    }
                }
                n += bpe.tokens(&format!("{key}:{ty}:{}", pdesc.trim_end_matches('.'))) as i64;
            }
        }
        n += 12;
    }
    n.max(0) as u64
}

fn message<C: Count + ?Sized>(bpe: &C, m: &Value, rules: &Rules) -> u64 {
    let role = m.get("role").and_then(Value::as_str).unwrap_or("user");
    let mut n = PER_MESSAGE
        + text(bpe, role)
        + content(bpe, m.get("content").unwrap_or(&Value::Null), rules);
    if let Some(name) = m.get("name").and_then(Value::as_str) {
        n += PER_NAME + text(bpe, name);
    }
    if let Some(calls) = m.get("tool_calls") {
        n += tool_calls(bpe, calls);
    }
    n
}

/// Prompt tokens of a chat-completions request body.
pub fn chat<C: Count + ?Sized>(bpe: &C, body: &Value, rules: &Rules) -> u64 {
    let msgs: u64 = body
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|m| message(bpe, m, rules))
        .sum();
    msgs + REPLY_PRIMING + tools(bpe, body.get("tools"))
}

/// Prompt tokens of a Responses request body.
pub fn responses<C: Count + ?Sized>(bpe: &C, body: &Value, rules: &Rules) -> u64 {
    let mut n = REPLY_PRIMING;
    if let Some(i) = body.get("instructions").and_then(Value::as_str) {
        n += PER_MESSAGE + text(bpe, "developer") + text(bpe, i);
    }
    match body.get("input") {
        Some(Value::String(s)) => n += PER_MESSAGE + text(bpe, "user") + text(bpe, s),
        Some(Value::Array(items)) => {
            for it in items {
                n += match it.get("type").and_then(Value::as_str) {
                    Some("function_call") => tool_calls(bpe, &Value::Array(vec![it.clone()])),
                    Some("function_call_output") => {
                        PER_MESSAGE + it.get("output").map_or(0, |o| content(bpe, o, rules))
                    }
                    _ => message(bpe, it, rules),
                };
            }
        }
        _ => {}
    }
    n + tools(bpe, body.get("tools"))
}
