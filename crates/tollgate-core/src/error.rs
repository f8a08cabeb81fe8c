//! OpenAI-style error bodies for locally generated replies.

use serde_json::json;

/// `{"error":{"message","type","param","code"}}` as OpenAI returns it.
pub fn openai_error_body(message: &str, kind: &str, code: &str) -> String {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}}).to_string()
}

/// Response header naming the Tollgate filter that answered locally (e.g. `ratelimit`), so that
/// other filters do not count the reply as a provider error.
pub const LOCAL_REPLY_HEADER: &str = "x-tollgate-rejected-by";
