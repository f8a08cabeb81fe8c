//! End-to-end: every client API (OpenAI chat, Responses, Anthropic Messages — through the
//! unmodified SDKs) against every provider route of the shipped config, each route served by a
//! fake as strict as its real API (tests/src/fake.rs). Each test asserts what the client got and
//! the exact requests the provider received.

use serde_json::{json, Value};
use tollgate_e2e::envoy::{self, run_python_json, Envoy};
use tollgate_e2e::fake::{FakeProvider, Flavor, Knobs, Recorded};

struct Rig {
    openai: FakeProvider,
    gemini: FakeProvider,
    anthropic: FakeProvider,
    azure: FakeProvider,
    selfhosted: FakeProvider,
    _local: FakeProvider,
    envoy: Envoy,
}

fn fake(flavor: Flavor) -> FakeProvider {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    FakeProvider::start_on(
        l,
        Knobs {
            flavor: Some(flavor),
            ..Knobs::default()
        },
    )
    .expect("fake")
}

fn rig() -> Rig {
    let r = (
        fake(Flavor::Local),
        fake(Flavor::OpenAi),
        fake(Flavor::Gemini),
        fake(Flavor::Anthropic),
        fake(Flavor::Azure),
        fake(Flavor::SelfHosted),
    );
    let ports = [
        (18080, r.0.addr().port()),
        (18081, r.1.addr().port()),
        (18082, r.2.addr().port()),
        (18083, r.3.addr().port()),
        (18084, r.4.addr().port()),
        (18085, r.5.addr().port()),
    ];
    let yaml = envoy::shipped_config().replace("per_try_timeout: 60s", "per_try_timeout: 5s");
    let envoy = Envoy::start_ports(&yaml, &ports, 2);
    Rig {
        _local: r.0,
        openai: r.1,
        gemini: r.2,
        anthropic: r.3,
        azure: r.4,
        selfhosted: r.5,
        envoy,
    }
}

fn matrix(r: &Rig, model: &str) -> Value {
    run_python_json(
        "examples/sdk-matrix/matrix.py",
        &[format!("http://{}", r.envoy.addr), model.to_owned()],
    )
}

/// Every call of the SDK matrix succeeded with what the (echoing) provider answered.
fn assert_matrix(v: &Value, model: &str) {
    let ctx = |k: &str| format!("{model} {k}: {}", v[k]);
    assert_eq!(v["chat"]["content"], "Say hello, chat", "{}", ctx("chat"));
    assert_eq!(v["chat"]["finish_reason"], "stop", "{}", ctx("chat"));
    assert!(
        v["chat"]["prompt_tokens"].as_u64() > Some(0),
        "{}",
        ctx("chat")
    );
    assert_eq!(
        v["chat_stream"]["content"],
        "Stream hello, chat",
        "{}",
        ctx("chat_stream")
    );
    assert_eq!(
        v["chat_stream"]["finish_reason"],
        "stop",
        "{}",
        ctx("chat_stream")
    );
    assert!(
        v["chat_stream"]["usage"]["completion_tokens"].as_u64() > Some(0),
        "{}",
        ctx("chat_stream")
    );
    let call = json!([{"name": "get_weather", "arguments": {"city": "Paris"}}]);
    for k in ["chat_tools", "chat_tools_stream"] {
        assert_eq!(v[k]["calls"], call, "{}", ctx(k));
        assert_eq!(v[k]["finish_reason"], "tool_calls", "{}", ctx(k));
    }
    assert_eq!(
        v["chat_tool_result"]["content"],
        "Thanks, summarise",
        "{}",
        ctx("chat_tool_result")
    );
    assert_eq!(
        v["responses"]["text"],
        "Say hello, responses",
        "{}",
        ctx("responses")
    );
    assert_eq!(
        v["responses"]["status"],
        "completed",
        "{}",
        ctx("responses")
    );
    assert!(
        v["responses"]["output_tokens"].as_u64() > Some(0),
        "{}",
        ctx("responses")
    );
    assert_eq!(
        v["responses_stream"]["text"],
        "Stream hello, responses",
        "{}",
        ctx("responses_stream")
    );
    assert_eq!(v["responses_stream"]["first"], json!(["response.created"]));
    assert_eq!(v["responses_stream"]["last"], json!(["response.completed"]));
    for k in ["responses_tools", "responses_tools_stream"] {
        assert_eq!(v[k]["calls"], call, "{}", ctx(k));
    }
    assert_eq!(
        v["anthropic"]["text"],
        "Say hello, claude",
        "{}",
        ctx("anthropic")
    );
    assert_eq!(
        v["anthropic"]["stop_reason"],
        "end_turn",
        "{}",
        ctx("anthropic")
    );
    assert!(
        v["anthropic"]["input_tokens"].as_u64() > Some(0),
        "{}",
        ctx("anthropic")
    );
    assert_eq!(
        v["anthropic_stream"]["text"],
        "Stream hello, claude",
        "{}",
        ctx("anthropic_stream")
    );
    assert!(v["anthropic_stream"]["output_tokens"].as_u64() > Some(0));
    for k in ["anthropic_tools", "anthropic_tools_stream"] {
        assert_eq!(v[k]["calls"], call, "{}", ctx(k));
        assert_eq!(v[k]["stop_reason"], "tool_use", "{}", ctx(k));
    }
}

/// What every request a provider received has in common: its own key (never the client's secret),
/// accepted by the strict fake.
fn assert_clean(reqs: &[Recorded], key: Option<(&str, &str)>) {
    assert!(!reqs.is_empty());
    for q in reqs {
        assert_eq!(
            q.status, 200,
            "the provider refused {} {}: {}",
            q.path, q.body, q.status
        );
        if let Some((h, v)) = key {
            assert_eq!(q.headers.get(h).map(String::as_str), Some(v), "{}", q.path);
        }
        assert!(
            !q.body.contains("sk-tollgate-demo")
                && !q.headers.values().any(|h| h.contains("sk-tollgate-demo")),
            "client secret leaked: {q:?}"
        );
        assert!(
            !q.headers.keys().any(|k| k.starts_with("x-tollgate-")),
            "a Tollgate header reached the provider: {:?}",
            q.headers
        );
    }
}

fn paths(reqs: &[Recorded]) -> Vec<String> {
    let mut p: Vec<String> = reqs.iter().map(|q| q.path.clone()).collect();
    p.sort();
    p.dedup();
    p
}

/// The request a call with `needle` in its prompt produced.
fn with_text<'a>(reqs: &'a [Recorded], needle: &str) -> &'a Recorded {
    reqs.iter()
        .find(|q| q.body.contains(needle))
        .unwrap_or_else(|| panic!("no request with {needle:?}"))
}

#[test]
fn anthropic_native_route_serves_every_client_api() {
    let r = rig();
    let v = matrix(&r, "anthropic/claude-sonnet-4-5");
    assert_matrix(&v, "anthropic");
    let reqs = r.anthropic.requests();
    assert_clean(&reqs, Some(("x-api-key", "test-anthropic-key")));
    assert_eq!(paths(&reqs), vec!["/v1/messages"]);
    for q in &reqs {
        assert!(q.headers.contains_key("anthropic-version"));
        let b = q.json();
        assert_eq!(b["model"], "claude-sonnet-4-5");
        assert!(b["max_tokens"].as_u64() > Some(0));
    }
    // chat → Messages: the system message becomes `system`, the default max_tokens applies.
    let c = with_text(&reqs, "Say hello, chat").json();
    assert_eq!(c["system"], "Be brief.");
    assert_eq!(c["max_tokens"], 4096);
    assert_eq!(c["messages"][0]["role"], "user");
    assert_eq!(c["messages"][0]["content"][0]["text"], "Say hello, chat");
    assert_eq!(c["messages"].as_array().map(Vec::len), Some(1));
    // Tool results go back as tool_result blocks of a user turn.
    let t = with_text(&reqs, "Thanks, summarise").json();
    let turns = t["messages"].as_array().expect("messages");
    assert!(turns.iter().any(|m| m["role"] == "assistant"
        && m["content"].as_array().is_some_and(|b| b
            .iter()
            .any(|b| b["type"] == "tool_use" && b["id"] == "call_1"))));
    assert!(turns.iter().any(|m| m["role"] == "user"
        && m["content"].as_array().is_some_and(|b| b
            .iter()
            .any(|b| b["type"] == "tool_result" && b["tool_use_id"] == "call_1"))));
    // Responses → Messages: instructions become `system`.
    assert_eq!(
        with_text(&reqs, "Say hello, responses").json()["system"],
        "Be brief."
    );
    // A native Anthropic client passes through as it was sent.
    let n = with_text(&reqs, "Say hello, claude").json();
    assert_eq!(n["max_tokens"], 100);
    assert_eq!(n["system"], "Be brief.");
    let log = r.envoy.wait_access_log(13);
    assert!(
        log.iter()
            .all(|l| l["provider_api"] == "anthropic_messages"),
        "{log:?}"
    );
    let apis: Vec<&str> = log.iter().filter_map(|l| l["api"].as_str()).collect();
    for api in ["chat_completions", "responses", "anthropic_messages"] {
        assert!(apis.contains(&api), "{apis:?}");
    }
}

#[test]
fn gemini_native_route_serves_every_client_api() {
    let r = rig();
    let v = matrix(&r, "gemini/gemini-2.5-flash");
    assert_matrix(&v, "gemini");
    let reqs = r.gemini.requests();
    assert_clean(&reqs, Some(("x-goog-api-key", "test-gemini-key")));
    assert_eq!(
        paths(&reqs),
        vec![
            "/v1beta/models/gemini-2.5-flash:generateContent",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        ]
    );
    let c = with_text(&reqs, "Say hello, chat").json();
    assert_eq!(c["systemInstruction"]["parts"][0]["text"], "Be brief.");
    assert_eq!(
        c["contents"],
        json!([{"role": "user", "parts": [{"text": "Say hello, chat"}]}])
    );
    assert!(c.get("model").is_none() && c.get("stream").is_none());
    let t = with_text(&reqs, "Thanks, summarise").json();
    let parts: Vec<&Value> = t["contents"]
        .as_array()
        .expect("contents")
        .iter()
        .flat_map(|c| c["parts"].as_array().into_iter().flatten())
        .collect();
    assert!(parts
        .iter()
        .any(|p| p["functionCall"]["name"] == "get_weather"));
    assert!(parts
        .iter()
        .any(|p| p["functionResponse"]["name"] == "get_weather"));
    let log = r.envoy.wait_access_log(13);
    assert!(
        log.iter().all(|l| l["provider_api"] == "gemini_generate"),
        "{log:?}"
    );
}

#[test]
fn openai_azure_and_selfhosted_routes_serve_every_client_api() {
    let r = rig();
    // OpenAI serves Responses itself; Anthropic clients are translated to chat.
    assert_matrix(&matrix(&r, "openai/gpt-4o"), "openai");
    let reqs = r.openai.requests();
    assert_clean(&reqs, Some(("authorization", "Bearer test-openai-key")));
    assert_eq!(paths(&reqs), vec!["/v1/chat/completions", "/v1/responses"]);
    assert_eq!(
        with_text(&reqs, "Say hello, responses").path,
        "/v1/responses",
        "Responses is passed through to OpenAI"
    );
    let a = with_text(&reqs, "Say hello, claude").json();
    assert_eq!(
        a["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(a["max_tokens"], 100);

    // Azure: chat on the deployment path, Responses on its v1 API with the deployment as model.
    assert_matrix(&matrix(&r, "azure/gpt-4o"), "azure");
    let reqs = r.azure.requests();
    assert_clean(&reqs, Some(("api-key", "test-azure-key")));
    assert_eq!(
        paths(&reqs),
        vec![
            "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21",
            "/openai/v1/responses"
        ]
    );
    assert_eq!(
        with_text(&reqs, "Say hello, responses").json()["model"],
        "gpt4o-prod"
    );

    // A self-hosted OpenAI-compatible server without Responses: translated to chat.
    assert_matrix(&matrix(&r, "local/llama-3.1-8b"), "selfhosted");
    let reqs = r.selfhosted.requests();
    assert_clean(&reqs, None);
    assert_eq!(paths(&reqs), vec!["/v1/chat/completions"]);
    assert!(reqs
        .iter()
        .all(|q| !q.headers.contains_key("authorization")));
    assert_eq!(
        with_text(&reqs, "Say hello, responses").json()["model"],
        "llama-3.1-8b"
    );
}

#[test]
fn failover_translates_again_for_the_next_provider() {
    let r = rig();
    // OpenAI → Gemini native (route `b`), and Anthropic → OpenAI (route `anthropic`).
    r.openai.set_defaults(Knobs {
        flavor: Some(Flavor::OpenAi),
        status: Some(503),
        ..Knobs::default()
    });
    assert_matrix(&matrix(&r, "openai/gpt-5.2"), "openai→gemini");
    let g = r.gemini.requests();
    assert_clean(&g, Some(("x-goog-api-key", "test-gemini-key")));
    assert!(g
        .iter()
        .all(|q| q.path.starts_with("/v1beta/models/gemini-3-pro:")));
    assert_eq!(
        r.openai.requests().len(),
        13,
        "every call was tried at OpenAI first"
    );

    r.openai.set_defaults(Knobs {
        flavor: Some(Flavor::OpenAi),
        ..Knobs::default()
    });
    r.openai.clear();
    r.anthropic.set_defaults(Knobs {
        flavor: Some(Flavor::Anthropic),
        status: Some(529),
        ..Knobs::default()
    });
    assert_matrix(
        &matrix(&r, "anthropic/claude-sonnet-4-5"),
        "anthropic→openai",
    );
    let o = r.openai.requests();
    assert_clean(&o, Some(("authorization", "Bearer test-openai-key")));
    assert!(o.iter().all(|q| q.json()["model"] == "gpt-5.2"));
    // No Anthropic header follows the request to OpenAI.
    assert!(o
        .iter()
        .all(|q| !q.headers.contains_key("anthropic-version")));
}

#[test]
fn provider_errors_arrive_in_the_clients_shape() {
    let r = rig();
    r.anthropic.set_defaults(Knobs {
        flavor: Some(Flavor::Anthropic),
        status: Some(400),
        ..Knobs::default()
    });
    let body = json!({"model": "anthropic/claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]});
    let res = r.envoy.post(
        "/v1/chat/completions",
        &[("authorization", &envoy::bearer("app"))],
        &body,
    );
    assert_eq!(res.status, 400);
    let e = res.json();
    assert!(
        e["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{e}"
    );
    assert_eq!(e["error"]["type"], "invalid_request_error", "{e}");

    // An Anthropic client served by OpenAI gets Anthropic's error shape.
    r.openai.set_defaults(Knobs {
        flavor: Some(Flavor::OpenAi),
        status: Some(400),
        ..Knobs::default()
    });
    let body = json!({"model": "openai/gpt-4o", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let res = r.envoy.post(
        "/v1/messages",
        &[
            ("x-api-key", &envoy::client_secret("app")),
            ("anthropic-version", "2023-06-01"),
        ],
        &body,
    );
    assert_eq!(res.status, 400);
    let e = res.json();
    assert_eq!(e["type"], "error", "{e}");
    assert_eq!(e["error"]["type"], "invalid_request_error", "{e}");
}

#[test]
fn untranslatable_features_are_refused_by_name() {
    let r = rig();
    let h = [("authorization", envoy::bearer("app"))];
    let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for (model, body, param) in [
        (
            "anthropic/claude-sonnet-4-5",
            json!({"input": "hi", "previous_response_id": "resp_1"}),
            "previous_response_id",
        ),
        (
            "gemini/gemini-2.5-flash",
            json!({"input": "hi", "tools": [{"type": "web_search"}]}),
            "tools[0].type",
        ),
    ] {
        let mut b = body.clone();
        b["model"] = json!(model);
        let res = r.envoy.post("/v1/responses", &h, &b);
        assert_eq!(res.status, 400, "{model}: {}", res.text());
        let e = res.json();
        assert_eq!(e["error"]["param"], param, "{e}");
        assert!(
            e["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(param.split('[').next().unwrap_or(param))),
            "{e}"
        );
    }
    assert!(r.anthropic.requests().is_empty() && r.gemini.requests().is_empty());
}

/// PII, usage and the access log on translated paths, JSON and streamed: the provider never sees
/// the address, the client gets it back in its own API's shape, and usage is the provider's count.
#[test]
fn policies_hold_on_every_translated_path() {
    let r = rig();
    let email = "jane.doe@example.com";
    let text = format!("Please write to {email} today");
    let bearer = envoy::bearer("app");
    let secret = envoy::client_secret("app");
    let chat_h: Vec<(&str, &str)> = vec![("authorization", &bearer)];
    let anth_h: Vec<(&str, &str)> =
        vec![("x-api-key", &secret), ("anthropic-version", "2023-06-01")];
    struct Case<'a> {
        path: &'a str,
        model: &'a str,
        body: Value,
        headers: &'a [(&'a str, &'a str)],
        /// Where the text is: in each streamed event, or in the JSON answer.
        pointer: &'a str,
        fake: &'a FakeProvider,
        api: &'a str,
        provider_api: &'a str,
    }
    let cases = [
        Case {
            path: "/v1/chat/completions",
            model: "anthropic/claude-sonnet-4-5",
            body: json!({"stream": true, "messages": [{"role": "user", "content": text}]}),
            headers: &chat_h,
            pointer: "/choices/0/delta/content",
            fake: &r.anthropic,
            api: "chat_completions",
            provider_api: "anthropic_messages",
        },
        Case {
            path: "/v1/chat/completions",
            model: "gemini/gemini-2.5-flash",
            body: json!({"messages": [{"role": "user", "content": text}]}),
            headers: &chat_h,
            pointer: "/choices/0/message/content",
            fake: &r.gemini,
            api: "chat_completions",
            provider_api: "gemini_generate",
        },
        Case {
            path: "/v1/messages",
            model: "gemini/gemini-2.5-flash",
            body: json!({"max_tokens": 50, "messages": [{"role": "user", "content": text}]}),
            headers: &anth_h,
            pointer: "/content/0/text",
            fake: &r.gemini,
            api: "anthropic_messages",
            provider_api: "gemini_generate",
        },
        Case {
            path: "/v1/messages",
            model: "openai/gpt-4o",
            body: json!({"max_tokens": 50, "stream": true, "messages": [{"role": "user", "content": text}]}),
            headers: &anth_h,
            pointer: "/delta/text",
            fake: &r.openai,
            api: "anthropic_messages",
            provider_api: "chat_completions",
        },
        Case {
            path: "/v1/responses",
            model: "anthropic/claude-sonnet-4-5",
            body: json!({"stream": true, "input": text}),
            headers: &chat_h,
            pointer: "/delta",
            fake: &r.anthropic,
            api: "responses",
            provider_api: "anthropic_messages",
        },
        Case {
            path: "/v1/responses",
            model: "gemini/gemini-2.5-flash",
            body: json!({"input": text}),
            headers: &chat_h,
            pointer: "/output/0/content/0/text",
            fake: &r.gemini,
            api: "responses",
            provider_api: "gemini_generate",
        },
    ];
    for (i, c) in cases.into_iter().enumerate() {
        let Case {
            path,
            model,
            mut body,
            headers,
            pointer,
            fake,
            api,
            provider_api,
        } = c;
        fake.clear();
        body["model"] = json!(model);
        let res = r.envoy.post(path, headers, &body);
        assert_eq!(res.status, 200, "{path} {model}: {}", res.text());
        let got = if body["stream"] == true {
            tollgate_e2e::http::sse_text(&res.text(), pointer)
        } else {
            res.json()
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(
            got, text,
            "{path} {model}: the client gets its own text back"
        );
        let reqs = fake.requests();
        assert_eq!(reqs.len(), 1, "{path} {model}");
        let q = &reqs[0];
        assert_eq!(q.status, 200, "{path} {model}: {}", q.body);
        assert!(
            !q.body.contains(email) && !q.body.contains("jane.doe"),
            "{path} {model} leaked: {}",
            q.body
        );
        let reported = q.reported_usage.clone().expect("usage");
        let log = r.envoy.wait_access_log(i + 1);
        let line = &log[i];
        assert_eq!(line["api"], api, "{line}");
        assert_eq!(line["provider_api"], provider_api, "{line}");
        assert_eq!(
            line["pii_request"].as_str().map(|s| s.contains("EMAIL")),
            Some(true),
            "{line}"
        );
        assert_eq!(
            line["prompt_tokens"],
            reported["prompt_tokens"].to_string(),
            "{path} {model}: {line}"
        );
        assert_eq!(
            line["completion_tokens"],
            reported["completion_tokens"].to_string(),
            "{path} {model}: {line}"
        );
    }
}

/// Hostile provider answers on translated paths: a stream cut mid-body never looks complete to the
/// client in its own shape, and a malformed JSON answer is a clear 502, never half-translated JSON.
#[test]
fn broken_provider_answers_stay_broken_in_the_clients_shape() {
    let r = rig();
    let bearer = envoy::bearer("app");
    let secret = envoy::client_secret("app");
    // A chat client, streamed from Anthropic, cut in the middle: no `[DONE]`.
    let res = r.envoy.post(
        "/v1/chat/completions",
        &[("authorization", &bearer), ("x-fake-reset", "mid-body"), ("x-fake-chunk-size", "40")],
        &json!({"model": "anthropic/claude-sonnet-4-5", "stream": true,
                "messages": [{"role": "user", "content": "a reply long enough to be cut in the middle of it"}]}),
    );
    assert!(!res.text().contains("[DONE]"), "{}", res.text());
    // An Anthropic client, streamed from Gemini, cut: no `message_stop`.
    let res = r.envoy.post(
        "/v1/messages",
        &[("x-api-key", &secret), ("anthropic-version", "2023-06-01"),
          ("x-fake-reset", "mid-body"), ("x-fake-chunk-size", "40")],
        &json!({"model": "gemini/gemini-2.5-flash", "max_tokens": 50, "stream": true,
                "messages": [{"role": "user", "content": "a reply long enough to be cut in the middle of it"}]}),
    );
    assert!(!res.text().contains("message_stop"), "{}", res.text());
    // A Responses client, served by Gemini with a truncated JSON answer: 502 in OpenAI's shape.
    let res = r.envoy.post(
        "/v1/responses",
        &[("authorization", &bearer), ("x-fake-malformed", "1")],
        &json!({"model": "gemini/gemini-2.5-flash", "input": "hi"}),
    );
    assert_eq!(res.status, 502, "{}", res.text());
    assert_eq!(
        res.json()["error"]["code"],
        "provider_answer_invalid",
        "{}",
        res.text()
    );
    // A Responses client streamed from Anthropic with a broken event: no `response.completed`.
    let res = r.envoy.post(
        "/v1/responses",
        &[("authorization", &bearer), ("x-fake-malformed", "1")],
        &json!({"model": "anthropic/claude-sonnet-4-5", "stream": true, "input": "hi there"}),
    );
    assert!(!res.text().contains("response.completed"), "{}", res.text());
}
