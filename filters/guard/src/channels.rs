//! Where each text of a request comes from. The channel is read from the structure (roles, item
//! and block types); the texts themselves come from `tollgate_core::body::visit_texts`, so every
//! string under a message is scanned unless the shared allowlist says it is not text.
//!
//! Only what is new since the last assistant turn is scanned (earlier turns were scanned when
//! they were new), plus everything outside the conversation (system prompt, tool definitions).

use crate::rules::Channel;
use serde_json::Value;
use tollgate_core::api::ApiKind;
use tollgate_core::body::visit_texts;

/// One text to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Where it comes from.
    pub channel: Channel,
    /// Index of its message / item / content in the conversation (`None`: outside it).
    pub index: Option<usize>,
    /// The text as sent.
    pub text: String,
}

/// What a conversation item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Channel(Channel),
    /// The model's own turn: a boundary, not scanned.
    Assistant,
}

/// The key holding the conversation, per API shape.
fn conversation_key(kind: ApiKind) -> &'static str {
    match kind {
        ApiKind::ChatCompletions | ApiKind::AnthropicMessages => "messages",
        ApiKind::Completions => "prompt",
        ApiKind::Embeddings | ApiKind::Responses => "input",
        ApiKind::GeminiGenerate | ApiKind::GeminiStreamGenerate => "contents",
        ApiKind::GeminiEmbed => "content",
    }
}

fn item_kind(item: &Value) -> Kind {
    let role = item.get("role").and_then(Value::as_str).unwrap_or("");
    let ty = item.get("type").and_then(Value::as_str).unwrap_or("");
    match role {
        "system" | "developer" => return Kind::Channel(Channel::System),
        "assistant" | "model" => return Kind::Assistant,
        "tool" | "function" | "ipython" => return Kind::Channel(Channel::Tool),
        _ => {}
    }
    // Responses items without a role.
    if ty.ends_with("_output") || ty == "tool_result" || ty == "mcp_approval_response" {
        return Kind::Channel(Channel::Tool);
    }
    if ty.ends_with("_call")
        || ty == "reasoning"
        || ty == "mcp_list_tools"
        || ty == "item_reference"
    {
        return Kind::Assistant;
    }
    Kind::Channel(Channel::User)
}

/// Content parts that carry tool output although the message's role is `user` (Anthropic
/// `tool_result`, Gemini `functionResponse`).
fn part_is_tool(part: &Value) -> bool {
    part.get("type").and_then(Value::as_str) == Some("tool_result")
        || part.get("functionResponse").is_some()
        || part.get("function_response").is_some()
}

fn texts_of(v: &mut Value, channel: Channel, index: Option<usize>, out: &mut Vec<Segment>) {
    visit_texts(v, &mut |s| {
        if !s.is_empty() {
            out.push(Segment {
                channel,
                index,
                text: s.clone(),
            });
        }
    });
}

/// One conversation item: parts that are tool output go to the tool channel, the rest to the
/// item's channel.
fn item(v: &mut Value, channel: Channel, index: usize, out: &mut Vec<Segment>) {
    let key = ["content", "parts"]
        .into_iter()
        .find(|k| v.get(*k).is_some_and(Value::is_array));
    let Some(key) = key else {
        texts_of(v, channel, Some(index), out);
        return;
    };
    let mut parts = v.get_mut(key).map(Value::take).unwrap_or(Value::Null);
    texts_of(v, channel, Some(index), out);
    if let Value::Array(a) = &mut parts {
        for p in a.iter_mut() {
            let ch = if part_is_tool(p) {
                Channel::Tool
            } else {
                channel
            };
            // A bare string part is text; wrap nothing: visit_texts treats a top-level string as text.
            texts_of(p, ch, Some(index), out);
        }
    }
    if let Some(slot) = v.get_mut(key) {
        *slot = parts;
    }
}

/// The segments of a request body to scan. `all_history`: scan every turn, not only those after
/// the last assistant turn. The document is left as it was (parts are moved out and back).
pub fn segments(kind: ApiKind, doc: &mut Value, all_history: bool) -> Vec<Segment> {
    let mut out = Vec::new();
    let key = conversation_key(kind);
    let mut conv = doc.get_mut(key).map(Value::take).unwrap_or(Value::Null);
    // Everything outside the conversation: system prompt, instructions, tool definitions.
    texts_of(doc, Channel::System, None, &mut out);
    match &mut conv {
        Value::Array(items) => {
            let last_assistant = if all_history {
                None
            } else {
                items
                    .iter()
                    .rposition(|i| i.is_object() && item_kind(i) == Kind::Assistant)
            };
            for (i, it) in items.iter_mut().enumerate() {
                if last_assistant.is_some_and(|a| i <= a) {
                    continue;
                }
                if !it.is_object() {
                    // Completions prompts and embedding inputs: strings (or token arrays).
                    texts_of(it, Channel::User, Some(i), &mut out);
                    continue;
                }
                match item_kind(it) {
                    Kind::Assistant => {}
                    Kind::Channel(ch) => item(it, ch, i, &mut out),
                }
            }
        }
        Value::Null => {}
        other => {
            if kind == ApiKind::GeminiEmbed {
                item(other, Channel::User, 0, &mut out);
            } else {
                texts_of(other, Channel::User, Some(0), &mut out);
            }
        }
    }
    if let Some(slot) = doc.get_mut(key) {
        *slot = conv;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn segs(kind: ApiKind, v: Value) -> Vec<(Channel, Option<usize>, String)> {
        let mut v = v;
        let before = v.clone();
        let s = segments(kind, &mut v, false);
        assert_eq!(v, before, "the document is left as it was");
        s.into_iter()
            .map(|s| (s.channel, s.index, s.text))
            .collect()
    }

    #[test]
    fn chat_roles_and_new_turns_only() {
        let s = segs(
            ApiKind::ChatCompletions,
            json!({"model":"m","messages":[
                {"role":"system","content":"sys"},
                {"role":"user","content":"old"},
                {"role":"assistant","content":"a","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},
                {"role":"tool","tool_call_id":"c","content":"result"},
                {"role":"user","content":[{"type":"text","text":"new"}]}],
              "tools":[{"type":"function","function":{"name":"f","description":"desc"}}]}),
        );
        assert_eq!(
            s,
            vec![
                (Channel::System, None, "f".into()),
                (Channel::System, None, "desc".into()),
                (Channel::Tool, Some(3), "result".into()),
                (Channel::User, Some(4), "new".into()),
            ]
        );
    }

    #[test]
    fn anthropic_tool_results() {
        let s = segs(
            ApiKind::AnthropicMessages,
            json!({"model":"m","system":"sys","messages":[
                {"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"page"}]},{"type":"text","text":"q"}]}]}),
        );
        assert_eq!(
            s,
            vec![
                (Channel::System, None, "sys".into()),
                (Channel::Tool, Some(0), "page".into()),
                (Channel::User, Some(0), "q".into()),
            ]
        );
    }

    #[test]
    fn responses_items_and_gemini() {
        let s = segs(
            ApiKind::Responses,
            json!({"model":"m","instructions":"be nice","input":[
                {"type":"function_call","call_id":"c","name":"f","arguments":"{}"},
                {"type":"function_call_output","call_id":"c","output":"out"}]}),
        );
        assert_eq!(
            s,
            vec![
                (Channel::System, None, "be nice".into()),
                (Channel::Tool, Some(1), "out".into())
            ]
        );
        let s = segs(ApiKind::Responses, json!({"model":"m","input":"hello"}));
        assert_eq!(s, vec![(Channel::User, Some(0), "hello".into())]);
        let s = segs(
            ApiKind::GeminiGenerate,
            json!({"systemInstruction":{"parts":[{"text":"sys"}]},"contents":[
                {"role":"model","parts":[{"functionCall":{"name":"f","args":{}}}]},
                {"role":"user","parts":[{"functionResponse":{"name":"f","response":{"r":"data"}}},{"text":"q"}]}]}),
        );
        assert_eq!(
            s,
            vec![
                (Channel::System, None, "sys".into()),
                (Channel::Tool, Some(1), "f".into()),
                (Channel::Tool, Some(1), "data".into()),
                (Channel::User, Some(1), "q".into()),
            ]
        );
    }
}
