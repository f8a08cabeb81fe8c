//! The fake provider is as strict as the real APIs: each flavor serves only its provider's paths,
//! requires its auth and fields, and refuses the rest with the provider's status and error body.
//! Direct HTTP to the fake, no Envoy.

use serde_json::{json, Value};
use std::net::{SocketAddr, TcpListener};
use tollgate_e2e::fake::{FakeProvider, Flavor, Knobs};
use tollgate_e2e::http::{self, Response};

fn fake(flavor: Flavor) -> FakeProvider {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    FakeProvider::start_on(
        listener,
        Knobs {
            flavor: Some(flavor),
            ..Knobs::default()
        },
    )
    .unwrap()
}

fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &Value) -> Response {
    http::post_json(addr, path, headers, body).unwrap()
}

fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Response {
    http::request(addr, "GET", path, headers, b"").unwrap()
}

/// SSE event names, in order.
fn event_names(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .map(str::to_owned)
        .collect()
}

/// The JSON data of every SSE event.
fn sse_data(body: &str) -> Vec<Value> {
    body.replace("\r\n", "\n")
        .split("\n\n")
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect()
}

fn last_status(p: &FakeProvider) -> u16 {
    p.requests().last().map(|r| r.status).unwrap_or_default()
}

const BEARER: (&str, &str) = ("authorization", "Bearer sk-test");

fn chat_body() -> Value {
    json!({"model": "gpt-5.2", "messages": [{"role": "user", "content": "hello there"}]})
}

// ---------------------------------------------------------------- OpenAI

#[test]
fn openai_valid_chat_json_and_stream() {
    let p = fake(Flavor::OpenAi);
    let r = post(p.addr(), "/v1/chat/completions", &[BEARER], &chat_body());
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"], "hello there");
    let mut body = chat_body();
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let r = post(p.addr(), "/v1/chat/completions", &[BEARER], &body);
    assert_eq!(r.status, 200);
    assert!(r.text().ends_with("data: [DONE]\n\n"));
    assert_eq!(
        http::sse_text(&r.text(), "/choices/0/delta/content"),
        "hello there"
    );
    let recs = p.requests();
    assert_eq!(recs.len(), 2);
    assert!(recs.iter().all(|r| r.status == 200 && r.flavor == "openai"));
}

#[test]
fn openai_requires_a_bearer_key() {
    let p = fake(Flavor::OpenAi);
    let r = post(
        p.addr(),
        "/v1/chat/completions",
        &[("x-api-key", "sk-test")],
        &chat_body(),
    );
    assert_eq!(r.status, 401);
    let e = &r.json()["error"];
    assert!(e["message"]
        .as_str()
        .unwrap()
        .starts_with("You didn't provide an API key."));
    assert_eq!(e["type"], "invalid_request_error");
    assert!(e["param"].is_null() && e["code"].is_null());
    // Refused requests are recorded too, with the status the fake answered.
    assert_eq!(p.requests().len(), 1);
    assert_eq!(last_status(&p), 401);
}

#[test]
fn openai_unknown_paths_are_invalid_urls() {
    let p = fake(Flavor::OpenAi);
    let r = post(p.addr(), "/v1/xyz", &[BEARER], &chat_body());
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        json!({"error": {"message": "Invalid URL (POST /v1/xyz)", "type": "invalid_request_error", "param": null, "code": null}})
    );
    for path in [
        "/v1/messages",
        "/chat/completions",
        "/v1beta/models/x:generateContent",
    ] {
        assert_eq!(
            post(p.addr(), path, &[BEARER], &chat_body()).status,
            404,
            "{path}"
        );
    }
    let r = get(p.addr(), "/v1/models", &[BEARER]);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["object"], "list");
}

#[test]
fn openai_refuses_unknown_fields_and_bad_messages() {
    let p = fake(Flavor::OpenAi);
    let mut body = chat_body();
    body["foo"] = json!(1);
    let r = post(p.addr(), "/v1/chat/completions", &[BEARER], &body);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"]["message"],
        "Unrecognized request argument supplied: foo"
    );

    let r = post(
        p.addr(),
        "/v1/chat/completions",
        &[BEARER],
        &json!({"messages": [{"role": "user", "content": "x"}]}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"]["message"],
        "you must provide a model parameter"
    );

    let r = post(
        p.addr(),
        "/v1/chat/completions",
        &[BEARER],
        &json!({"model": "m", "messages": []}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "empty_array");

    let r = post(
        p.addr(),
        "/v1/chat/completions",
        &[BEARER],
        &json!({"model": "m", "messages": [{"role": "human", "content": "x"}]}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["param"], "messages[0].role");
    assert_eq!(r.json()["error"]["code"], "invalid_value");

    let r = post(
        p.addr(),
        "/v1/chat/completions",
        &[BEARER],
        &json!({"model": "m", "messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "42"}]}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"]["message"],
        "Missing required parameter: 'messages[1].tool_call_id'."
    );

    let mut body = chat_body();
    body["stream_options"] = json!({"include_usage": true});
    let r = post(p.addr(), "/v1/chat/completions", &[BEARER], &body);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["param"], "stream_options");

    // Real fields of the reference are accepted.
    let mut body = chat_body();
    for (k, v) in [
        ("max_completion_tokens", json!(10)),
        ("reasoning_effort", json!("low")),
        ("n", json!(2)),
        ("tools", json!([])),
        ("parallel_tool_calls", json!(true)),
        ("response_format", json!({"type": "text"})),
        ("seed", json!(1)),
        ("user", json!("u")),
        ("metadata", json!({})),
        ("store", json!(false)),
        ("verbosity", json!("low")),
        ("prompt_cache_key", json!("k")),
        ("safety_identifier", json!("s")),
    ] {
        body[k] = v;
    }
    body["messages"] =
        json!([{"role": "developer", "content": "be brief"}, {"role": "user", "content": "hi"}]);
    let r = post(p.addr(), "/v1/chat/completions", &[BEARER], &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["choices"].as_array().unwrap().len(), 2);
    let statuses: Vec<u16> = p.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [400, 400, 400, 400, 400, 400, 200]);
}

#[test]
fn openai_responses_embeddings_and_completions() {
    let p = fake(Flavor::OpenAi);
    let r = post(
        p.addr(),
        "/v1/responses",
        &[BEARER],
        &json!({"model": "gpt-5.2", "input": "say hi", "instructions": "brief", "max_output_tokens": 50,
                "reasoning": {"effort": "low"}, "text": {"format": {"type": "text"}}, "store": false}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["output"][0]["content"][0]["text"], "say hi");

    let r = post(
        p.addr(),
        "/v1/responses",
        &[BEARER],
        &json!({"model": "gpt-5.2", "input": "x", "messages": []}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"]["message"],
        "Unknown parameter: 'messages'."
    );
    assert_eq!(r.json()["error"]["code"], "unknown_parameter");
    let r = post(p.addr(), "/v1/responses", &[BEARER], &json!({"input": "x"}));
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"]["message"],
        "Missing required parameter: 'model'."
    );

    // Streamed function calls: the item, then the arguments in pieces.
    let r = post(
        p.addr(),
        "/v1/responses",
        &[
            BEARER,
            (
                "x-fake-tool-calls",
                r#"[{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}]"#,
            ),
        ],
        &json!({"model": "gpt-5.2", "input": "weather?", "stream": true}),
    );
    assert_eq!(r.status, 200);
    let text = r.text();
    let names = event_names(&text);
    assert!(names.contains(&"response.function_call_arguments.delta".to_owned()));
    assert_eq!(names.last().unwrap(), "response.completed");
    let args: String = sse_data(&text)
        .iter()
        .filter(|v| v["type"] == "response.function_call_arguments.delta")
        .map(|v| v["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(args, r#"{"city":"Paris"}"#);
    let done = sse_data(&text)
        .into_iter()
        .find(|v| v["type"] == "response.completed")
        .unwrap();
    assert_eq!(done["response"]["output"][1]["type"], "function_call");
    assert_eq!(done["response"]["output"][1]["name"], "get_weather");

    let r = post(
        p.addr(),
        "/v1/embeddings",
        &[BEARER],
        &json!({"model": "text-embedding-3-small", "input": ["a b", "c"], "dimensions": 64}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 2);
    let r = post(
        p.addr(),
        "/v1/embeddings",
        &[BEARER],
        &json!({"model": "text-embedding-3-small"}),
    );
    assert_eq!(r.status, 400);

    let r = post(
        p.addr(),
        "/v1/completions",
        &[BEARER],
        &json!({"model": "gpt-3.5-turbo-instruct", "prompt": "once upon", "max_tokens": 5}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["object"], "text_completion");
    assert_eq!(r.json()["choices"][0]["text"], "once upon");
    let r = post(
        p.addr(),
        "/v1/completions",
        &[BEARER],
        &json!({"model": "m", "prompt": "x", "messages": []}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"]["message"],
        "Unrecognized request argument supplied: messages"
    );
}

// ---------------------------------------------------------------- Azure

const AZ_KEY: (&str, &str) = ("api-key", "azure-key");

#[test]
fn azure_deployment_paths_need_an_api_version() {
    let p = fake(Flavor::Azure);
    let path = "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21";
    let body = json!({"messages": [{"role": "user", "content": "hi azure"}]});
    let r = post(p.addr(), path, &[AZ_KEY], &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["model"], "gpt4o-prod");
    assert_eq!(r.json()["choices"][0]["message"]["content"], "hi azure");
    let mut stream = body.clone();
    stream["stream"] = json!(true);
    let r = post(
        p.addr(),
        path,
        &[("authorization", "Bearer entra-token")],
        &stream,
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        http::sse_text(&r.text(), "/choices/0/delta/content"),
        "hi azure"
    );

    let r = post(
        p.addr(),
        "/openai/deployments/gpt4o-prod/chat/completions",
        &[AZ_KEY],
        &body,
    );
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        json!({"error": {"code": "404", "message": "Resource not found"}})
    );
    for bad in [
        "/v1/chat/completions",
        "/openai/deployments/gpt4o-prod/responses?api-version=2024-10-21",
        "/openai/v1/messages",
    ] {
        assert_eq!(post(p.addr(), bad, &[AZ_KEY], &body).status, 404, "{bad}");
    }

    let r = post(p.addr(), path, &[], &body);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], "401");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Access denied due to invalid subscription key or wrong API endpoint."));

    let mut extra = body.clone();
    extra["foo"] = json!(true);
    let r = post(p.addr(), path, &[AZ_KEY], &extra);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"]["message"],
        "Unrecognized request argument supplied: foo"
    );
    let statuses: Vec<u16> = p.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 404, 404, 404, 404, 401, 400]);
}

#[test]
fn azure_v1_api_needs_no_api_version() {
    let p = fake(Flavor::Azure);
    let r = post(
        p.addr(),
        "/openai/v1/responses",
        &[AZ_KEY],
        &json!({"model": "gpt4o-prod", "input": "v1 hi", "stream": true}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(http::sse_text(&r.text(), "/delta"), "v1 hi");
    let r = post(
        p.addr(),
        "/openai/v1/chat/completions",
        &[AZ_KEY],
        &json!({"model": "gpt4o-prod", "messages": [{"role": "user", "content": "x"}]}),
    );
    assert_eq!(r.status, 200);
    // On the v1 API the body names the deployment.
    let r = post(
        p.addr(),
        "/openai/v1/chat/completions",
        &[AZ_KEY],
        &json!({"messages": [{"role": "user", "content": "x"}]}),
    );
    assert_eq!(r.status, 400);
    let r = post(
        p.addr(),
        "/openai/v1/embeddings",
        &[AZ_KEY],
        &json!({"model": "emb", "input": "x"}),
    );
    assert_eq!(r.status, 200);
}

// ---------------------------------------------------------------- Anthropic

const ANTH: [(&str, &str); 2] = [
    ("x-api-key", "sk-ant-test"),
    ("anthropic-version", "2023-06-01"),
];

fn messages_body() -> Value {
    json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "system": "be brief",
           "messages": [{"role": "user", "content": [{"type": "text", "text": "hello claude"}]}]})
}

#[test]
fn anthropic_valid_messages_json_and_stream() {
    let p = fake(Flavor::Anthropic);
    let r = post(p.addr(), "/v1/messages", &ANTH, &messages_body());
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["type"], "message");
    assert_eq!(v["content"][0]["text"], "hello claude");
    assert_eq!(v["stop_reason"], "end_turn");

    let mut body = messages_body();
    body["stream"] = json!(true);
    let r = post(p.addr(), "/v1/messages", &ANTH, &body);
    assert_eq!(r.status, 200);
    let text = r.text();
    let names = event_names(&text);
    let deltas = names.iter().filter(|n| *n == "content_block_delta").count();
    let mut expected = vec!["message_start", "content_block_start", "ping"];
    expected.extend(std::iter::repeat_n("content_block_delta", deltas));
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names, expected);
    let data = sse_data(&text);
    assert_eq!(data[0]["message"]["usage"]["output_tokens"], 1);
    assert!(
        data[0]["message"]["usage"]["input_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
    let delta = data.iter().find(|v| v["type"] == "message_delta").unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert!(delta["usage"]["output_tokens"].as_u64().unwrap() > 0);
    assert_eq!(http::sse_text(&text, "/delta/text"), "hello claude");

    let r = post(
        p.addr(),
        "/v1/messages/count_tokens",
        &ANTH,
        &json!({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "count me"}]}),
    );
    assert_eq!(r.status, 200);
    assert!(r.json()["input_tokens"].as_u64().unwrap() > 0);
}

#[test]
fn anthropic_requires_key_and_version() {
    let p = fake(Flavor::Anthropic);
    let r = post(
        p.addr(),
        "/v1/messages",
        &[("anthropic-version", "2023-06-01")],
        &messages_body(),
    );
    assert_eq!(r.status, 401);
    let v = r.json();
    assert_eq!(v["type"], "error");
    assert_eq!(
        v["error"],
        json!({"type": "authentication_error", "message": "x-api-key header is required"})
    );
    assert!(v["request_id"].as_str().unwrap().starts_with("req_"));
    // A bearer key is not Anthropic's auth on the native API.
    let r = post(
        p.addr(),
        "/v1/messages",
        &[BEARER, ("anthropic-version", "2023-06-01")],
        &messages_body(),
    );
    assert_eq!(r.status, 401);

    let r = post(
        p.addr(),
        "/v1/messages",
        &[("x-api-key", "sk-ant-test")],
        &messages_body(),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"],
        json!({"type": "invalid_request_error", "message": "anthropic-version: header is required"})
    );
    assert_eq!(last_status(&p), 400);
}

#[test]
fn anthropic_refuses_bad_bodies() {
    let p = fake(Flavor::Anthropic);
    let err = |body: &Value| {
        let r = post(p.addr(), "/v1/messages", &ANTH, body);
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.json()["error"]["type"], "invalid_request_error");
        r.json()["error"]["message"].as_str().unwrap().to_owned()
    };
    let mut b = messages_body();
    b.as_object_mut().unwrap().remove("max_tokens");
    assert_eq!(err(&b), "max_tokens: Field required");
    let mut b = messages_body();
    b["foo"] = json!(1);
    assert_eq!(err(&b), "foo: Extra inputs are not permitted");
    let mut b = messages_body();
    b["stream_options"] = json!({"include_usage": true});
    assert_eq!(err(&b), "stream_options: Extra inputs are not permitted");
    let mut b = messages_body();
    b["messages"] =
        json!([{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]);
    assert!(err(&b).starts_with("messages: Unexpected role \"system\""));
    let mut b = messages_body();
    b["messages"] = json!([{"role": "tool", "content": "x"}]);
    assert_eq!(
        err(&b),
        "messages.0.role: Input should be 'user' or 'assistant'"
    );
    let mut b = messages_body();
    b["messages"] =
        json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]);
    assert!(err(&b).starts_with("messages.0.content.0: Input tag 'image_url' found using 'type'"));
    // Tool use round trips are valid.
    let mut b = messages_body();
    b["tools"] = json!([{"name": "f", "input_schema": {"type": "object"}}]);
    b["messages"] = json!([
        {"role": "user", "content": "call f"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "s"}, {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"}]}]);
    let r = post(p.addr(), "/v1/messages", &ANTH, &b);
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn anthropic_unknown_paths_and_openai_compat_layer() {
    let p = fake(Flavor::Anthropic);
    for path in [
        "/v1/responses",
        "/v1/embeddings",
        "/v1/complete/x",
        "/openai/v1/chat/completions",
    ] {
        let r = post(p.addr(), path, &ANTH, &messages_body());
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(
            r.json()["error"],
            json!({"type": "not_found_error", "message": "Not Found"})
        );
    }
    // The OpenAI SDK compatibility layer: OpenAI shapes, bearer or x-api-key.
    let body = json!({"model": "claude-sonnet-4-5", "messages": [{"role": "system", "content": "brief"}, {"role": "user", "content": "compat hi"}], "stream": true});
    let r = post(p.addr(), "/v1/chat/completions", &[BEARER], &body);
    assert_eq!(r.status, 200);
    assert_eq!(
        http::sse_text(&r.text(), "/choices/0/delta/content"),
        "compat hi"
    );
    let r = post(p.addr(), "/v1/chat/completions", &[], &body);
    assert_eq!(r.status, 401);
    let mut two = body.clone();
    two["n"] = json!(2);
    let r = post(p.addr(), "/v1/chat/completions", &[BEARER], &two);
    assert_eq!(r.status, 400);
}

#[test]
fn anthropic_tool_use_blocks() {
    let p = fake(Flavor::Anthropic);
    let tools = (
        "x-fake-tool-calls",
        r#"[{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"unit\":\"C\"}"}]"#,
    );
    let headers = [ANTH[0], ANTH[1], tools];
    let r = post(p.addr(), "/v1/messages", &headers, &messages_body());
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["stop_reason"], "tool_use");
    assert_eq!(v["content"][1]["type"], "tool_use");
    assert_eq!(
        v["content"][1]["input"],
        json!({"city": "Paris", "unit": "C"})
    );
    let mut body = messages_body();
    body["stream"] = json!(true);
    let text = post(p.addr(), "/v1/messages", &headers, &body).text();
    let data = sse_data(&text);
    let start = data
        .iter()
        .find(|v| v["type"] == "content_block_start" && v["index"] == 1)
        .unwrap();
    assert_eq!(start["content_block"]["type"], "tool_use");
    assert_eq!(start["content_block"]["name"], "get_weather");
    let json_text: String = data
        .iter()
        .filter(|v| v["delta"]["type"] == "input_json_delta")
        .map(|v| v["delta"]["partial_json"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&json_text).unwrap(),
        json!({"city": "Paris", "unit": "C"})
    );
    let delta = data.iter().find(|v| v["type"] == "message_delta").unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(event_names(&text).last().unwrap(), "message_stop");
}

// ---------------------------------------------------------------- Gemini

const GKEY: (&str, &str) = ("x-goog-api-key", "AIza-test");

fn gemini_body() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "hello gemini"}]}]})
}

#[test]
fn gemini_valid_generate_json_sse_and_array() {
    let p = fake(Flavor::Gemini);
    let r = post(
        p.addr(),
        "/v1beta/models/gemini-2.5-flash:generateContent",
        &[GKEY],
        &gemini_body(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["candidates"][0]["content"]["parts"][0]["text"],
        "hello gemini"
    );
    assert_eq!(r.json()["modelVersion"], "gemini-2.5-flash");
    let r = post(
        p.addr(),
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        &[GKEY],
        &gemini_body(),
    );
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    assert_eq!(
        http::sse_text(&r.text(), "/candidates/0/content/parts/0/text"),
        "hello gemini"
    );
    let r = post(
        p.addr(),
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        &[GKEY],
        &gemini_body(),
    );
    assert_eq!(r.status, 200);
    let arr: Vec<Value> = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(arr.last().unwrap()["candidates"][0]["finishReason"], "STOP");
    // The key may come as ?key=.
    let r = post(
        p.addr(),
        "/v1beta/models/gemini-2.5-flash:generateContent?key=AIza-test",
        &[],
        &gemini_body(),
    );
    assert_eq!(r.status, 200);
    // Every accepted top-level field, in both JSON spellings.
    let full = json!({
        "contents": [{"role": "user", "parts": [{"text": "a"}, {"inlineData": {"mimeType": "image/png", "data": "AA=="}}]},
                     {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "sig"}]},
                     {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"x": 1}}}]}],
        "systemInstruction": {"parts": [{"text": "brief"}]},
        "generationConfig": {"temperature": 0.2, "maxOutputTokens": 20, "thinkingConfig": {"thinkingBudget": 0}, "stop_sequences": ["x"]},
        "tools": [{"functionDeclarations": [{"name": "f"}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        "safety_settings": [],
        "cachedContent": "cachedContents/abc"
    });
    let r = post(
        p.addr(),
        "/v1beta/models/gemini-2.5-flash:generateContent",
        &[GKEY],
        &full,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = post(
        p.addr(),
        "/v1beta/models/gemini-2.5-flash:countTokens",
        &[GKEY],
        &gemini_body(),
    );
    assert_eq!(r.status, 200);
    assert!(r.json()["totalTokens"].as_u64().unwrap() > 0);
    let r = post(
        p.addr(),
        "/v1beta/models/text-embedding-004:embedContent",
        &[GKEY],
        &json!({"content": {"parts": [{"text": "embed me"}]}, "taskType": "RETRIEVAL_QUERY"}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["embedding"]["values"].as_array().unwrap().len(),
        64
    );
}

#[test]
fn gemini_requires_an_api_key() {
    let p = fake(Flavor::Gemini);
    let r = post(
        p.addr(),
        "/v1beta/models/gemini-2.5-flash:generateContent",
        &[],
        &gemini_body(),
    );
    assert_eq!(r.status, 403);
    let e = &r.json()["error"];
    assert_eq!(e["code"], 403);
    assert_eq!(e["status"], "PERMISSION_DENIED");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .starts_with("Method doesn't allow unregistered callers"));
    // On the native API a bearer token is taken for OAuth.
    let r = post(
        p.addr(),
        "/v1beta/models/gemini-2.5-flash:generateContent",
        &[BEARER],
        &gemini_body(),
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["status"], "UNAUTHENTICATED");
    assert_eq!(last_status(&p), 401);
}

#[test]
fn gemini_refuses_unknown_fields_and_roles() {
    let p = fake(Flavor::Gemini);
    let url = "/v1beta/models/gemini-2.5-flash:generateContent";
    let mut b = gemini_body();
    b["foo"] = json!(1);
    let r = post(p.addr(), url, &[GKEY], &b);
    assert_eq!(r.status, 400);
    let e = &r.json()["error"];
    assert_eq!(e["status"], "INVALID_ARGUMENT");
    assert_eq!(
        e["message"],
        "Invalid JSON payload received. Unknown name \"foo\": Cannot find field."
    );
    assert_eq!(
        e["details"][0]["@type"],
        "type.googleapis.com/google.rpc.BadRequest"
    );

    let b = json!({"contents": [{"role": "user", "parts": [{"text": "x", "cache_control": {}}]}],
                   "generationConfig": {"max_tokens": 5}});
    let r = post(p.addr(), url, &[GKEY], &b);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"]["message"],
        "Invalid JSON payload received. Unknown name \"cache_control\" at 'contents[0].parts[0]': Cannot find field.\n\
         Invalid JSON payload received. Unknown name \"max_tokens\" at 'generation_config': Cannot find field."
    );

    let r = post(
        p.addr(),
        url,
        &[GKEY],
        &json!({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"]["message"],
        "Please use a valid role: user, model."
    );
    let r = post(
        p.addr(),
        url,
        &[GKEY],
        &json!({"systemInstruction": {"parts": [{"text": "x"}]}}),
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("contents is not specified"));
    // An OpenAI body on the native path.
    let r = post(p.addr(), url, &[GKEY], &chat_body());
    assert_eq!(r.status, 400);
}

#[test]
fn gemini_openai_compat_layer_and_unknown_paths() {
    let p = fake(Flavor::Gemini);
    let body = json!({"model": "gemini-2.5-flash", "messages": [{"role": "system", "content": "brief"}, {"role": "user", "content": "compat"}], "reasoning_effort": "low"});
    let r = post(
        p.addr(),
        "/v1beta/openai/chat/completions",
        &[BEARER],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["choices"][0]["message"]["content"], "compat");
    let r = post(p.addr(), "/v1beta/openai/chat/completions", &[], &body);
    assert_eq!(r.status, 403);
    let mut extra = body.clone();
    extra["foo"] = json!(1);
    let r = post(
        p.addr(),
        "/v1beta/openai/chat/completions",
        &[BEARER],
        &extra,
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["status"], "INVALID_ARGUMENT");
    let r = post(
        p.addr(),
        "/v1beta/openai/embeddings",
        &[BEARER],
        &json!({"model": "text-embedding-004", "input": "x"}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        get(p.addr(), "/v1beta/openai/models", &[BEARER]).status,
        200
    );
    for path in [
        "/v1beta/openai/responses",
        "/v1/chat/completions",
        "/v1/messages",
        "/v1beta/models/gemini-2.5-flash:chat",
    ] {
        let r = post(p.addr(), path, &[BEARER, GKEY], &body);
        assert_eq!(r.status, 404, "{path}");
    }
}

#[test]
fn gemini_function_calls() {
    let p = fake(Flavor::Gemini);
    let tools = (
        "x-fake-tool-calls",
        r#"[{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}]"#,
    );
    let r = post(
        p.addr(),
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        &[GKEY, tools],
        &gemini_body(),
    );
    assert_eq!(r.status, 200);
    let data = sse_data(&r.text());
    let last = data.last().unwrap();
    assert_eq!(
        last["candidates"][0]["content"]["parts"][1]["functionCall"],
        json!({"name": "get_weather", "args": {"city": "Paris"}})
    );
}

// ---------------------------------------------------------------- self-hosted, local

#[test]
fn selfhosted_is_an_open_vllm_server() {
    let p = fake(Flavor::SelfHosted);
    let mut body = chat_body();
    body["top_k"] = json!(5); // vLLM's extra sampling params are fine
    body["stream"] = json!(true);
    let r = post(p.addr(), "/v1/chat/completions", &[], &body);
    assert_eq!(r.status, 200);
    assert_eq!(
        http::sse_text(&r.text(), "/choices/0/delta/content"),
        "hello there"
    );
    let r = post(
        p.addr(),
        "/v1/responses",
        &[],
        &json!({"model": "m", "input": "x"}),
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), json!({"detail": "Not Found"}));
    let r = post(
        p.addr(),
        "/v1/chat/completions",
        &[],
        &json!({"model": "m"}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["type"], "BadRequestError");
    assert_eq!(get(p.addr(), "/v1/models", &[]).status, 200);
    assert_eq!(get(p.addr(), "/v1/chat/completions", &[]).status, 405);
}

#[test]
fn local_keeps_the_openai_surface_only() {
    let p = FakeProvider::start().unwrap(); // Host: localhost → local
    let r = post(
        p.addr(),
        "/v1/chat/completions",
        &[],
        &json!({"model": "echo", "messages": [{"role": "user", "content": "hi"}], "anything": 1}),
    );
    assert_eq!(r.status, 200);
    let r = post(
        p.addr(),
        "/v1/responses",
        &[],
        &json!({"model": "echo", "input": "hi"}),
    );
    assert_eq!(r.status, 200);
    let r = post(
        p.addr(),
        "/v1/embeddings",
        &[],
        &json!({"model": "embed", "input": "hi"}),
    );
    assert_eq!(r.status, 200);
    let r = post(p.addr(), "/v1/messages", &ANTH, &messages_body());
    assert_eq!(r.status, 404);
    let r = post(
        p.addr(),
        "/v1beta/models/gemini-2.5-flash:generateContent",
        &[GKEY],
        &gemini_body(),
    );
    assert_eq!(r.status, 404);
    assert!(p.requests().iter().all(|r| r.flavor == "local"));
}

// ---------------------------------------------------------------- flavor by Host, knobs

#[test]
fn flavor_follows_the_host_header() {
    assert_eq!(Flavor::from_host("api.openai.com"), Flavor::OpenAi);
    assert_eq!(Flavor::from_host("api.openai.com:443"), Flavor::OpenAi);
    assert_eq!(
        Flavor::from_host("generativelanguage.googleapis.com"),
        Flavor::Gemini
    );
    assert_eq!(Flavor::from_host("api.anthropic.com"), Flavor::Anthropic);
    assert_eq!(
        Flavor::from_host("your-resource.openai.azure.com"),
        Flavor::Azure
    );
    assert_eq!(Flavor::from_host("localhost:8000"), Flavor::SelfHosted);
    assert_eq!(Flavor::from_host("localhost"), Flavor::Local);
    assert_eq!(Flavor::from_host("127.0.0.1:18080"), Flavor::Local);
    assert_eq!("gemini".parse::<Flavor>(), Ok(Flavor::Gemini));
    assert!("bogus".parse::<Flavor>().is_err());

    let p = FakeProvider::start().unwrap();
    let host = |h: &'static str| ("host", h);
    // The same request, four providers.
    let r = post(
        p.addr(),
        "/v1/chat/completions",
        &[host("api.anthropic.com")],
        &chat_body(),
    );
    assert_eq!(r.status, 401);
    let r = post(
        p.addr(),
        "/v1/messages",
        &[host("api.anthropic.com"), ANTH[0], ANTH[1]],
        &messages_body(),
    );
    assert_eq!(r.status, 200);
    let r = post(
        p.addr(),
        "/v1/chat/completions",
        &[host("localhost:8000")],
        &chat_body(),
    );
    assert_eq!(r.status, 200);
    let r = post(
        p.addr(),
        "/v1/chat/completions",
        &[host("your-resource.openai.azure.com"), AZ_KEY],
        &chat_body(),
    );
    assert_eq!(r.status, 404);
    let r = post(
        p.addr(),
        "/v1beta/models/gemini-2.5-flash:generateContent",
        &[host("generativelanguage.googleapis.com"), GKEY],
        &gemini_body(),
    );
    assert_eq!(r.status, 200);
    let flavors: Vec<String> = p.requests().iter().map(|r| r.flavor.clone()).collect();
    assert_eq!(
        flavors,
        ["anthropic", "anthropic", "selfhosted", "azure", "gemini"]
    );
}

#[test]
fn status_knob_answers_in_each_providers_shape() {
    let a = fake(Flavor::Anthropic);
    let r = post(
        a.addr(),
        "/v1/messages",
        &[ANTH[0], ANTH[1], ("x-fake-status", "529")],
        &messages_body(),
    );
    assert_eq!(r.status, 529);
    assert_eq!(r.json()["error"]["type"], "overloaded_error");
    let g = fake(Flavor::Gemini);
    let r = post(
        g.addr(),
        "/v1beta/models/m:generateContent",
        &[GKEY, ("x-fake-status", "429")],
        &gemini_body(),
    );
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["status"], "RESOURCE_EXHAUSTED");
    let z = fake(Flavor::Azure);
    let r = post(
        z.addr(),
        "/openai/v1/chat/completions",
        &[AZ_KEY, ("x-fake-status", "429")],
        &chat_body(),
    );
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["code"], "429");
    // Path and auth come first, as at the real edge.
    let o = fake(Flavor::OpenAi);
    let r = post(
        o.addr(),
        "/v1/chat/completions",
        &[("x-fake-status", "503")],
        &chat_body(),
    );
    assert_eq!(r.status, 401);
    o.set_defaults(Knobs {
        flavor: Some(Flavor::OpenAi),
        status: Some(503),
        ..Knobs::default()
    });
    let r = post(o.addr(), "/v1/chat/completions", &[BEARER], &chat_body());
    assert_eq!(r.status, 503);
    assert_eq!(last_status(&o), 503);
}

#[test]
fn knobs_still_work_on_strict_flavors() {
    let p = fake(Flavor::OpenAi);
    let mut body = chat_body();
    body["stream"] = json!(true);
    let r = post(
        p.addr(),
        "/v1/chat/completions",
        &[
            BEARER,
            ("x-fake-reply", "custom words here"),
            ("x-fake-chunk-size", "7"),
        ],
        &body,
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        http::sse_text(&r.text(), "/choices/0/delta/content"),
        "custom words here"
    );
    let r = post(
        p.addr(),
        "/v1/chat/completions",
        &[
            BEARER,
            ("x-fake-served-model", "gpt-5.2-2025"),
            ("x-fake-cached-tokens", "3"),
        ],
        &chat_body(),
    );
    assert_eq!(r.json()["model"], "gpt-5.2-2025");
    assert_eq!(
        r.json()["usage"]["prompt_tokens_details"]["cached_tokens"],
        3
    );
    let usage = p.requests().last().unwrap().reported_usage.clone().unwrap();
    assert_eq!(usage["cached_prompt_tokens"], 3);
    assert_eq!(usage["model"], "gpt-5.2-2025");
    let r = post(
        p.addr(),
        "/v1/chat/completions",
        &[BEARER, ("x-fake-malformed", "1")],
        &chat_body(),
    );
    assert_eq!(r.status, 200);
    assert!(r.json().is_null());
}
