//! Where the generated texts are in a response body or stream event, for each API shape. (Request
//! texts: every string of the body unless allowlisted, see `tollgate_core::body`.)

use serde_json::Value;
use tollgate_core::api::ApiKind;

type Visit<'a> = &'a mut dyn FnMut(&mut String);

fn string(v: Option<&mut Value>, f: Visit<'_>) {
    if let Some(Value::String(s)) = v {
        f(s);
    }
}

/// A `content` value: a string, or parts with `text` (any part type that carries text).
fn content(v: Option<&mut Value>, f: Visit<'_>) {
    match v {
        Some(Value::String(s)) => f(s),
        Some(Value::Array(parts)) => {
            for p in parts {
                match p {
                    Value::String(s) => f(s),
                    Value::Object(_) => {
                        string(p.get_mut("text"), f);
                        // Anthropic tool results nest content; tool_use input is JSON.
                        content(p.get_mut("content"), f);
                        all_strings(p.get_mut("input"), f);
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// Every string inside a JSON value (tool arguments given as objects).
fn all_strings(v: Option<&mut Value>, f: Visit<'_>) {
    match v {
        Some(Value::String(s)) => f(s),
        Some(Value::Array(a)) => a.iter_mut().for_each(|x| all_strings(Some(x), f)),
        Some(Value::Object(o)) => o.values_mut().for_each(|x| all_strings(Some(x), f)),
        _ => {}
    }
}

fn each(v: Option<&mut Value>, mut g: impl FnMut(&mut Value)) {
    if let Some(Value::Array(a)) = v {
        a.iter_mut().for_each(&mut g);
    }
}

/// Visits the generated text of a response body, or of a stream event, of `kind`.
///
/// For streams these are the deltas (and the full texts repeated by "done" events).
pub fn output_texts(kind: ApiKind, v: &mut Value, f: Visit<'_>) {
    match kind {
        ApiKind::ChatCompletions | ApiKind::Completions => each(v.get_mut("choices"), |c| {
            for key in ["message", "delta"] {
                if let Some(m) = c.get_mut(key) {
                    string(m.get_mut("content"), f);
                    each(m.get_mut("tool_calls"), |t| {
                        string(
                            t.get_mut("function").and_then(|x| x.get_mut("arguments")),
                            f,
                        )
                    });
                }
            }
            string(c.get_mut("text"), f);
        }),
        ApiKind::Embeddings | ApiKind::GeminiEmbed => {}
        ApiKind::Responses => {
            string(v.get_mut("delta"), f);
            string(v.get_mut("text"), f);
            if let Some(p) = v.get_mut("part") {
                string(p.get_mut("text"), f);
            }
            let mut items = |x: &mut Value| {
                content(x.get_mut("content"), f);
                string(x.get_mut("arguments"), f);
            };
            if let Some(i) = v.get_mut("item") {
                items(i);
            }
            each(v.get_mut("output"), &mut items);
            if let Some(r) = v.get_mut("response") {
                each(r.get_mut("output"), &mut items);
            }
        }
        ApiKind::AnthropicMessages => {
            if let Some(d) = v.get_mut("delta") {
                string(d.get_mut("text"), f);
                string(d.get_mut("partial_json"), f);
            }
            content(v.get_mut("content"), f);
        }
        ApiKind::GeminiGenerate | ApiKind::GeminiStreamGenerate => {
            let mut candidates = |x: &mut Value| {
                each(x.get_mut("candidates"), |c| {
                    content(c.get_mut("content").and_then(|c| c.get_mut("parts")), f)
                })
            };
            match v {
                Value::Array(a) => a.iter_mut().for_each(&mut candidates),
                other => candidates(other),
            }
        }
    }
}
