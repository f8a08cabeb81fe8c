//! Which route serves a requested model.

use crate::config::Router;
use serde_json::json;

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A route name.
    Route(String),
    /// A virtual model: classify the prompt first.
    Virtual(String),
    /// No route serves this model.
    Unknown,
}

/// Resolves a requested model.
pub fn resolve(r: &Router, model: &str) -> Target {
    if r.virtual_models.contains_key(model) {
        return Target::Virtual(model.to_owned());
    }
    match r.models.lookup(model) {
        Some(route) => Target::Route(route.clone()),
        None => Target::Unknown,
    }
}

/// The model a parsed request body names: `Ok(None)` when it names none, `Err` (a message for
/// the client) when `model` is not a non-empty string. (Duplicate keys never get this far: the
/// strict parse refuses them.)
pub fn doc_model(doc: &serde_json::Value) -> Result<Option<String>, String> {
    match doc.get("model") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(m)) if !m.is_empty() => Ok(Some(m.clone())),
        Some(_) => Err("`model` must be a non-empty string.".into()),
    }
}

/// `GET /v1/models` body.
pub fn models_body(r: &Router) -> String {
    let data: Vec<_> = r
        .listed
        .iter()
        .map(|m| json!({"id": m, "object": "model", "created": 0, "owned_by": "tollgate"}))
        .collect();
    json!({"object": "list", "data": data}).to_string()
}

/// The latest user text of a request body, for classification.
pub fn latest_user_text(body: &serde_json::Value) -> String {
    use serde_json::Value;
    let text = |c: &Value| -> String {
        match c {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        }
    };
    if let Some(msgs) = body.get("messages").and_then(Value::as_array) {
        if let Some(m) = msgs
            .iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        {
            return text(m.get("content").unwrap_or(&Value::Null));
        }
    }
    match body.get("input") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .rev()
            .find(|i| i.get("role").and_then(Value::as_str).unwrap_or("user") == "user")
            .map(|i| text(i.get("content").unwrap_or(&Value::Null)))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod doc_model_tests {
    use super::doc_model;
    use serde_json::json;

    #[test]
    fn model_of_a_body() {
        assert_eq!(
            doc_model(&json!({"model": "m", "x": 1})),
            Ok(Some("m".into()))
        );
        assert_eq!(doc_model(&json!({"messages": []})), Ok(None));
        assert!(doc_model(&json!({"model": 7})).is_err());
        assert!(doc_model(&json!({"model": ""})).is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn resolution() {
        let Ok(Config::Router(r)) = Config::from_json(
            br#"{"role":"router","models":{"gemini/gemini-2.5-flash":"a","fast":"a","gpt-*":"b"},
                 "virtual_models":{"auto":{"default_route":"a","classes":[{"name":"code","route":"b","keywords":{"python":2}}]}}}"#,
        ) else {
            unreachable!()
        };
        assert_eq!(resolve(&r, "fast"), Target::Route("a".into()));
        assert_eq!(resolve(&r, "gpt-5.2"), Target::Route("b".into()));
        assert_eq!(resolve(&r, "auto"), Target::Virtual("auto".into()));
        assert_eq!(resolve(&r, "llama"), Target::Unknown);
        assert!(models_body(&r).contains("\"gemini/gemini-2.5-flash\""));
        let body = serde_json::json!({"messages": [{"role": "user", "content": "first"}, {"role": "assistant", "content": "x"}, {"role": "user", "content": [{"type": "text", "text": "latest"}]}]});
        assert_eq!(latest_user_text(&body), "latest");
    }
}
