//! End-to-end: the replies Envoy generates itself (body too large, provider unreachable or broken,
//! provider too slow) reach clients in the OpenAI error shape with their status, and the access log
//! still names the client.

use serde_json::json;
use tollgate_e2e::envoy::{self, Envoy};
use tollgate_e2e::fake::FakeProvider;
use tollgate_e2e::http::{self, Response};

fn assert_openai_error(r: &Response, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    let e = r.json();
    assert_eq!(e["error"]["code"], code, "{}", r.text());
    assert!(
        e["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        r.text()
    );
    let ty = if status >= 500 {
        "server_error"
    } else {
        "invalid_request_error"
    };
    assert_eq!(e["error"]["type"], ty, "{}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        r.headers
    );
}

fn chat(text: &str) -> serde_json::Value {
    json!({"model": "echo", "messages": [{"role": "user", "content": text}]})
}

#[test]
fn envoys_own_errors_are_openai_json_and_logged_with_the_client() {
    let fake = FakeProvider::start().expect("fake provider");
    // A short route timeout, so that a slow provider meets Envoy's 504 quickly.
    let yaml = envoy::shipped_config().replace("timeout: 300s", "timeout: 2s");
    assert!(yaml.contains("timeout: 2s"), "the route timeout moved");
    let envoy = Envoy::start(&yaml, fake.addr().port(), 2);

    // A body over the buffer limit (32 MiB): 413, nothing reaches the provider.
    let big = "x".repeat(40 << 20);
    let auth = envoy::bearer("alice");
    let body = serde_json::to_vec(&chat(&big)).expect("body");
    let r = http::request(
        envoy.addr,
        "POST",
        "/v1/chat/completions",
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ],
        &body,
    )
    .expect("answer to a 40 MiB body");
    assert_openai_error(&r, 413, "request_too_large");
    // 20 MB of text is more than the PII policy scans (max_text_bytes): its 413, in JSON.
    let r = envoy.post(
        "/v1/chat/completions",
        &[("authorization", auth.as_str())],
        &chat(&"y ".repeat(10 << 20)),
    );
    assert_openai_error(&r, 413, "request_too_large");
    assert_eq!(r.header("x-tollgate-rejected-by"), Some("pii"));
    // A 20 MB body that is mostly an image (base64 is not text to scan) is served.
    let image = format!(
        "data:image/png;base64,{}",
        "iVBORw0KGgoAAAANSUhEUgAA".repeat(20_000_000 / 24 + 1)
    );
    let vision = json!({"model": "echo", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is in this image?"},
        {"type": "image_url", "image_url": {"url": image}}]}]});
    let r = envoy.post(
        "/v1/chat/completions",
        &[("authorization", auth.as_str())],
        &vision,
    );
    assert_eq!(r.status, 200, "{}", &r.text()[..r.text().len().min(300)]);
    assert!(fake.requests().iter().any(|q| q.body.len() > 20_000_000));
    assert!(
        fake.requests().iter().all(|q| q.body.len() < 30 << 20),
        "the 40 MiB or 20 MB-text bodies reached the provider"
    );

    // The provider drops the connection (every attempt): 503.
    let r = envoy.post(
        "/v1/chat/completions",
        &[
            ("authorization", auth.as_str()),
            ("x-fake-reset", "before-headers"),
        ],
        &chat("hello"),
    );
    assert_openai_error(&r, 503, "provider_unavailable");
    // The provider answers bytes that are not HTTP: Envoy's protocol error, still JSON.
    let r = envoy.post(
        "/v1/chat/completions",
        &[
            ("authorization", auth.as_str()),
            ("x-fake-reset", "bad-http"),
        ],
        &chat("hello"),
    );
    assert!(matches!(r.status, 502 | 503), "{}", r.text());
    assert_openai_error(&r, r.status, "provider_unavailable");
    // A provider's own 502 passes as the provider sent it (its JSON error).
    let r = envoy.post(
        "/v1/chat/completions",
        &[("authorization", auth.as_str()), ("x-fake-status", "502")],
        &chat("hello"),
    );
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.json()["error"]["message"].is_string(), "{}", r.text());
    // The provider is too slow: 504.
    let r = envoy.post(
        "/v1/chat/completions",
        &[
            ("authorization", auth.as_str()),
            ("x-fake-latency-ms", "4000"),
        ],
        &chat("hello"),
    );
    assert_openai_error(&r, 504, "provider_timeout");
    // Tollgate's own replies and the route table's JSON keep their bodies.
    let r = envoy.post("/v1/nope", &[("authorization", auth.as_str())], &chat("x"));
    assert_openai_error(&r, 404, "unknown_url");
    let r = envoy.post(
        "/v1/chat/completions",
        &[("authorization", auth.as_str())],
        &json!({"messages": []}),
    );
    assert_openai_error(&r, 400, "missing_model");

    // No provider answered the 503 and the 502: their reservations were returned; the 504 (the
    // provider may still be working) is charged.
    let log = envoy.wait_access_log(11);
    // The provider's own 502 (an error answer: nothing produced) is not charged either.
    let no_answer = |l: &&serde_json::Value| {
        let f = l["response_flags"].as_str().unwrap_or_default();
        f.contains("UC") || f.contains("UPE") || (l["status"] == 502 && f == "URX")
    };
    assert_eq!(log.iter().filter(no_answer).count(), 3, "{log:?}");
    for l in log.iter().filter(no_answer) {
        assert_eq!(l["ratelimit_decision"], "admitted", "{l}");
        assert_eq!(l["ratelimit_charged_tokens"], "0", "{l}");
    }
    let timed_out = log.iter().find(|l| l["status"] == 504).expect("504 logged");
    assert_ne!(timed_out["ratelimit_charged_tokens"], "0", "{timed_out}");
    // Every one of them is in the access log with its client.
    let log = envoy.wait_access_log(11);
    for status in [413, 503, 504, 404] {
        let line = log
            .iter()
            .find(|l| l["status"] == status)
            .unwrap_or_else(|| panic!("no {status} in the access log: {log:?}"));
        assert_eq!(line["client"], "alice", "{line}");
    }
}
