//! Redacting a request body: all of it or none of it.

use crate::config::Config;
use crate::redact::{redact, Audit, Vault};
use serde_json::Value;
use tollgate_core::body::{visit_texts, BodyError, LlmRequest};

/// What to do with the request.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Forward; `true` when texts were replaced (the request is marked changed, written once by the
    /// pipeline).
    Forward(bool),
    /// Refuse (400): these labels have action `block`.
    Block(Vec<String>),
    /// The body is not JSON.
    NotJson,
    /// The body is JSON that cannot be judged (duplicate keys, not an object, not UTF-8): always 400.
    Invalid(BodyError),
    /// The body exceeds `max_body_bytes`, or its text `max_text_bytes`.
    TooLarge,
}

/// Detects and rewrites every text of the request in place; placeholders go to `vault`.
pub fn redact_request(
    cfg: &Config,
    req: &mut LlmRequest,
    vault: &mut Vault,
    audit: &mut Audit,
) -> Outcome {
    if req.raw().len() > cfg.max_body_bytes {
        return Outcome::TooLarge;
    }
    let doc = match req.doc_mut() {
        Ok(v) => v,
        Err(BodyError::NotJson(_)) => return Outcome::NotJson,
        Err(e) => return Outcome::Invalid(e),
    };
    // Linear and cheap next to the scan it guards; placeholder-shaped strings the client typed are
    // noted first so that none is issued (and later restored) under the same name.
    let mut text_bytes = 0usize;
    visit_texts(doc, &mut |s| {
        text_bytes = text_bytes.saturating_add(s.len());
        vault.reserve_typed(s);
    });
    if text_bytes > cfg.max_text_bytes {
        return Outcome::TooLarge;
    }
    match redact_doc(cfg, doc, vault, audit) {
        Ok(changed) => {
            if changed {
                req.mark_changed();
            }
            Outcome::Forward(changed)
        }
        Err(blocked) => Outcome::Block(blocked),
    }
}

/// Redacts every text of a parsed request in place: `Ok(changed)`, or `Err(labels)` when a label
/// with action `block` was found (then the document must not be forwarded).
fn redact_doc(
    cfg: &Config,
    doc: &mut Value,
    vault: &mut Vault,
    audit: &mut Audit,
) -> Result<bool, Vec<String>> {
    let mut blocked = Vec::new();
    let mut changed = false;
    // Every string is text unless the allowlist says otherwise (tollgate_core::body).
    visit_texts(doc, &mut |s| {
        let r = redact(&cfg.detector, &cfg.policy, s, vault, audit);
        blocked.extend(r.blocked);
        if r.text != *s {
            *s = r.text;
            changed = true;
        }
    });
    if blocked.is_empty() {
        Ok(changed)
    } else {
        blocked.sort();
        blocked.dedup();
        Err(blocked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::Action;

    fn cfg(j: &str) -> Config {
        Config::from_json(j.as_bytes()).unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn req(body: &[u8]) -> LlmRequest {
        LlmRequest::new(
            tollgate_core::api::ApiKind::ChatCompletions,
            "/v1/chat/completions".into(),
            body.to_vec(),
        )
    }

    fn redact_bytes(c: &Config, body: &[u8]) -> Outcome {
        redact_request(c, &mut req(body), &mut Vault::default(), &mut Audit::new())
    }

    #[test]
    fn placeholders_the_client_typed_are_never_issued_nor_restored() {
        let c = cfg("{}");
        let body = br#"{"model":"m","messages":[{"role":"user","content":"Reply with <EMAIL_1> and <EMAIL_2> literally, then mail jo@x.io"}]}"#;
        let mut r = req(body);
        let mut vault = Vault::default();
        let out = redact_request(&c, &mut r, &mut vault, &mut Audit::new());
        assert_eq!(out, Outcome::Forward(true));
        let sent = String::from_utf8(r.new_body().and_then(Result::ok).unwrap_or_default())
            .unwrap_or_default();
        assert!(sent.contains("mail <EMAIL_3>"), "{sent}");
        assert_eq!(vault.original("<EMAIL_1>"), None);
        assert_eq!(
            vault.restore("<EMAIL_1>, <EMAIL_2>, <EMAIL_3>"),
            "<EMAIL_1>, <EMAIL_2>, jo@x.io"
        );
    }

    #[test]
    fn every_provider_visible_text_is_redacted() {
        let body = serde_json::json!({"model": "m", "messages": [
            {"role": "system", "content": "Admin is root@corp.io"},
            {"role": "developer", "content": "ip 10.1.2.3"},
            {"role": "user", "content": [{"type": "text", "text": "card 4111111111111111"}, {"type": "image_url", "image_url": {"url": "https://x"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "1", "type": "function", "function": {"name": "lookup", "arguments": "{\"email\":\"root@corp.io\"}"}}]},
            {"role": "tool", "tool_call_id": "1", "content": "phone +44 20 7946 0958"}
        ]});
        let (mut v, mut a) = (Vault::default(), Audit::new());
        let mut r = req(body.to_string().as_bytes());
        assert_eq!(
            redact_request(&cfg("{}"), &mut r, &mut v, &mut a),
            Outcome::Forward(true)
        );
        let Some(Ok(out)) = r.new_body() else {
            unreachable!()
        };
        let s = String::from_utf8(out).unwrap_or_default();
        for leaked in ["root@corp.io", "10.1.2.3", "4111111111111111", "7946"] {
            assert!(!s.contains(leaked), "{leaked} leaked: {s}");
        }
        assert!(
            s.contains("<EMAIL_1>") && s.contains("\\\"email\\\":\\\"<EMAIL_1>\\\""),
            "{s}"
        );
        assert_eq!(a.get(&("EMAIL".into(), Action::Placeholder)), Some(&2));
    }

    #[test]
    fn block_names_labels_not_values() {
        let c = cfg(r#"{"actions":{"SSN":"block"}}"#);
        let body = br#"{"input":"my ssn is 123-45-6789","instructions":"be nice"}"#;
        assert_eq!(redact_bytes(&c, body), Outcome::Block(vec!["SSN".into()]));
        assert_eq!(redact_bytes(&c, b"{no"), Outcome::NotJson);
        assert_eq!(
            redact_bytes(&c, br#"{"input":"nothing personal"}"#),
            Outcome::Forward(false)
        );
        // Duplicate keys, arrays, non-UTF-8: refused whatever the config says about non-JSON.
        for bad in [
            &br#"{"input":"a","input":"b"}"#[..],
            b"[1]",
            b"{\"input\":\"\xe9\"}",
        ] {
            assert!(matches!(redact_bytes(&c, bad), Outcome::Invalid(_)));
        }
        let small = cfg(r#"{"max_body_bytes":10}"#);
        assert_eq!(redact_bytes(&small, body), Outcome::TooLarge);
        // Text, not bytes: a base64 image does not count against max_text_bytes.
        let little_text = cfg(r#"{"max_text_bytes":20}"#);
        let image = format!(
            r#"{{"model":"m","messages":[{{"role":"user","content":[{{"type":"text","text":"what is it?"}},{{"type":"image_url","image_url":{{"url":"data:image/png;base64,{}"}}}}]}}]}}"#,
            "iVBORw0KGgo".repeat(1000)
        );
        assert!(matches!(
            redact_bytes(&little_text, image.as_bytes()),
            Outcome::Forward(_)
        ));
        let long =
            r#"{"model":"m","messages":[{"role":"user","content":"twenty-one bytes long"}]}"#;
        assert_eq!(
            redact_bytes(&little_text, long.as_bytes()),
            Outcome::TooLarge
        );
    }
}
