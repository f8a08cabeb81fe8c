//! End-to-end: model and semantic routing with Envoy-native fallback, with one fake provider per
//! provider (default/embeddings on the 18080 slot, "openai" on 18081, "gemini" on 18082).

use serde_json::json;
use tollgate_e2e::envoy::{self, Envoy};
use tollgate_e2e::fake::{FakeProvider, Knobs};
use tollgate_e2e::http::{self, Response};

struct Rig {
    default: FakeProvider,
    openai: FakeProvider,
    gemini: FakeProvider,
    anthropic: FakeProvider,
    azure: FakeProvider,
    selfhosted: FakeProvider,
    envoy: Envoy,
}

fn rig_with(default_port: Option<u16>) -> Rig {
    let default = FakeProvider::start().expect("fake");
    let openai = FakeProvider::start().expect("fake");
    let gemini = FakeProvider::start().expect("fake");
    let anthropic = FakeProvider::start().expect("fake");
    let azure = FakeProvider::start().expect("fake");
    let selfhosted = FakeProvider::start().expect("fake");
    // A hanging provider must be abandoned quickly in tests.
    let yaml = envoy::shipped_config().replace("per_try_timeout: 60s", "per_try_timeout: 2s");
    let ports = [
        (18080, default_port.unwrap_or(default.addr().port())),
        (18081, openai.addr().port()),
        (18082, gemini.addr().port()),
        (18083, anthropic.addr().port()),
        (18084, azure.addr().port()),
        (18085, selfhosted.addr().port()),
    ];
    let envoy = Envoy::start_ports(&yaml, &ports, 2);
    Rig {
        default,
        openai,
        gemini,
        anthropic,
        azure,
        selfhosted,
        envoy,
    }
}

fn rig() -> Rig {
    rig_with(None)
}

fn chat(r: &Rig, model: &str, text: &str, stream: bool) -> Response {
    let body =
        json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]});
    r.envoy.post(
        "/v1/chat/completions",
        &[("authorization", &envoy::bearer("app"))],
        &body,
    )
}

fn only(p: &FakeProvider) -> tollgate_e2e::fake::Recorded {
    let reqs = p.requests();
    assert_eq!(reqs.len(), 1, "expected exactly one request, got {reqs:?}");
    reqs.into_iter().next().expect("one")
}

#[test]
fn each_provider_gets_its_path_host_auth_and_model() {
    let r = rig();
    let res = chat(&r, "gemini/gemini-2.5-flash", "hello gemini", false);
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("x-tollgate-provider"), Some("gemini"));
    assert_eq!(res.header("x-tollgate-model"), Some("gemini-2.5-flash"));
    // Gemini natively: the model in the path, its own key header, the chat turned into contents.
    let g = only(&r.gemini);
    assert_eq!(g.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(
        g.headers.get("host").map(String::as_str),
        Some("generativelanguage.googleapis.com")
    );
    assert_eq!(
        g.headers.get("x-goog-api-key").map(String::as_str),
        Some("test-gemini-key")
    );
    assert!(!g.headers.contains_key("authorization"));
    assert_eq!(g.json()["contents"][0]["parts"][0]["text"], "hello gemini");
    assert!(
        !g.body.contains("test-secret-app")
            && !g.headers.values().any(|v| v.contains("test-secret-app"))
            && !g.headers.contains_key("x-tollgate-route")
    );

    let res = chat(&r, "openai/gpt-5.2", "hello openai", false);
    assert_eq!(res.header("x-tollgate-model"), Some("gpt-5.2"));
    let o = only(&r.openai);
    assert_eq!(o.path, "/v1/chat/completions");
    assert_eq!(
        o.headers.get("host").map(String::as_str),
        Some("api.openai.com")
    );
    assert_eq!(
        o.headers.get("authorization").map(String::as_str),
        Some("Bearer test-openai-key")
    );
    assert_eq!(o.json()["model"], "gpt-5.2");
    r.openai.clear();

    // A glob route passes the client's model through, without the provider prefix.
    let res = chat(&r, "openai/gpt-4o-mini", "pass through", false);
    assert_eq!(res.status, 200);
    assert_eq!(only(&r.openai).json()["model"], "gpt-4o-mini");
    r.openai.clear();

    // Responses API through an alias.
    let res = r.envoy.post(
        "/v1/responses",
        &[],
        &json!({"model": "fast", "input": "hi"}),
    );
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["output"][0]["content"][0]["text"], "hi");
    let g = r.gemini.requests().pop().expect("gemini got it");
    assert_eq!(g.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(g.json()["contents"][0]["parts"][0]["text"], "hi");

    // Anthropic natively (Messages), with its own key and version headers.
    let res = chat(&r, "anthropic/claude-sonnet-4-5", "hello claude", true);
    assert_eq!(res.header("x-tollgate-provider"), Some("anthropic"));
    assert_eq!(
        http::sse_text(&res.text(), "/choices/0/delta/content"),
        "hello claude"
    );
    let a = only(&r.anthropic);
    assert_eq!(a.path, "/v1/messages");
    assert_eq!(
        a.headers.get("anthropic-version").map(String::as_str),
        Some("2023-06-01")
    );
    assert_eq!(
        a.headers.get("host").map(String::as_str),
        Some("api.anthropic.com")
    );
    assert_eq!(
        a.headers.get("x-api-key").map(String::as_str),
        Some("test-anthropic-key")
    );
    assert!(
        !a.headers.contains_key("authorization"),
        "the client's bearer token leaked"
    );
    assert_eq!(a.json()["model"], "claude-sonnet-4-5");
    // Azure OpenAI: deployment path, api-version, api-key.
    let res = chat(&r, "azure/gpt-4o", "hello azure", false);
    assert_eq!(res.status, 200, "{}", res.text());
    let z = only(&r.azure);
    assert_eq!(
        z.path,
        "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(
        z.headers.get("api-key").map(String::as_str),
        Some("test-azure-key")
    );
    assert!(!z.headers.contains_key("authorization"));
    // A self-hosted OpenAI-compatible server: no credentials at all, the client's model passed through.
    let res = chat(&r, "local/llama-3.1-8b", "hello vllm", false);
    assert_eq!(res.status, 200);
    let v = only(&r.selfhosted);
    assert_eq!(v.json()["model"], "llama-3.1-8b");
    assert!(!v.headers.contains_key("authorization") && !v.headers.contains_key("api-key"));

    // Unknown model: a 404 in OpenAI's words, and nobody upstream hears of it.
    let res = chat(&r, "llama-3-70b", "hi", false);
    assert_eq!(res.status, 404);
    assert_eq!(res.json()["error"]["code"], "model_not_found");
    assert!(r.default.requests().is_empty() && r.openai.requests().is_empty());

    // The models the config exposes.
    let auth = envoy::bearer("app");
    let m = http::request(
        r.envoy.addr,
        "GET",
        "/v1/models",
        &[("authorization", &auth)],
        b"",
    )
    .expect("models")
    .json();
    let ids: Vec<&str> = m["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["id"].as_str())
        .collect();
    for want in [
        "gemini/gemini-2.5-flash",
        "openai/gpt-5.2",
        "fast",
        "smart",
        "auto",
    ] {
        assert!(ids.contains(&want), "{want} not in {ids:?}");
    }
}

#[test]
fn a_failing_primary_falls_back_to_the_next_provider() {
    let r = rig();
    let modes: [(&str, Knobs); 4] = [
        (
            "503",
            Knobs {
                status: Some(503),
                ..Knobs::default()
            },
        ),
        (
            "429",
            Knobs {
                status: Some(429),
                ..Knobs::default()
            },
        ),
        (
            "reset",
            Knobs {
                reset: Some("before-headers".into()),
                ..Knobs::default()
            },
        ),
        (
            "hang",
            Knobs {
                latency_ms: 5000,
                ..Knobs::default()
            },
        ),
    ];
    let mut served = 0;
    for (what, knobs) in modes {
        r.openai.set_defaults(knobs);
        for stream in [false, true] {
            let res = chat(&r, "openai/gpt-5.2", "fall back please", stream);
            assert_eq!(res.status, 200, "{what}/{stream}: {}", res.text());
            assert_eq!(
                res.header("x-tollgate-provider"),
                Some("gemini"),
                "{what}/{stream}"
            );
            assert_eq!(
                res.header("x-tollgate-model"),
                Some("gemini-3-pro"),
                "{what}/{stream}"
            );
            let text = if stream {
                http::sse_text(&res.text(), "/choices/0/delta/content")
            } else {
                res.json()["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            };
            assert_eq!(text, "fall back please", "{what}/{stream}");
            served += 1;
        }
    }
    // The fallback got a request re-made for it: its path, its key, its model.
    let fallback = r.gemini.requests();
    assert_eq!(fallback.len(), served);
    for g in &fallback {
        assert!(
            g.path.starts_with("/v1beta/models/gemini-3-pro:"),
            "{}",
            g.path
        );
        assert_eq!(g.status, 200);
        assert_eq!(
            g.headers.get("x-goog-api-key").map(String::as_str),
            Some("test-gemini-key")
        );
    }
    // The usage record names the model and provider that served.
    let log = r.envoy.wait_access_log(served);
    for line in &log {
        assert_eq!(line["served_model"], "gemini-3-pro", "{line}");
        assert_eq!(line["provider"], "gemini", "{line}");
        assert_eq!(line["route"], "b");
    }
}

#[test]
fn auto_routes_by_prompt_with_both_classifiers() {
    let code = "Please fix the bug in this Rust function, it does not compile";
    let faq = "What are your opening hours and what is the refund policy?";
    // Embeddings service up (the default fake serves /v1/embeddings).
    let r = rig();
    assert_eq!(
        chat(&r, "auto", code, false).header("x-tollgate-model"),
        Some("gpt-5.2")
    );
    assert_eq!(
        chat(&r, "auto", faq, false).header("x-tollgate-model"),
        Some("gemini-2.5-flash")
    );
    let emb = r.default.requests();
    assert!(
        !emb.is_empty() && emb.iter().all(|q| q.path == "/v1/embeddings"),
        "{emb:?}"
    );
    let log = r.envoy.wait_access_log(2);
    assert_eq!(log[0]["route_method"], "embeddings");
    assert_eq!(log[0]["route_class"], "code");
    assert_eq!(log[1]["route_class"], "faq");
    drop(r);

    // Embeddings service down: keywords decide, and the fallback is counted.
    let closed = envoy::free_port();
    let r = rig_with(Some(closed));
    assert_eq!(
        chat(&r, "auto", code, false).header("x-tollgate-model"),
        Some("gpt-5.2")
    );
    assert_eq!(
        chat(&r, "auto", faq, true).header("x-tollgate-model"),
        Some("gemini-2.5-flash")
    );
    let log = r.envoy.wait_access_log(2);
    assert_eq!(log[0]["route_method"], "keywords");
    assert_eq!(log[0]["route_class"], "code");
    assert_eq!(
        r.envoy
            .wait_metric("tollgate_router_embeddings_fallback_total", &[], 2.0),
        2.0
    );
}

#[test]
fn openai_sdk_works_with_provider_prefixed_models() {
    let r = rig();
    let v = envoy::run_python_json(
        "examples/openai-sdk/client.py",
        &[
            format!("http://{}/v1", r.envoy.addr),
            "gemini/gemini-2.5-flash".into(),
        ],
    );
    assert_eq!(v["stream"]["content"], "Stream without usage, please.");
    assert_eq!(v["stream"]["usage_chunks"], 0);
    assert_eq!(
        v["responses"]["content"],
        "What are the top 3 risks in the current market?"
    );
    let reqs = r.gemini.requests();
    assert_eq!(reqs.len(), 5);
    assert!(reqs
        .iter()
        .all(|q| q.path.starts_with("/v1beta/models/gemini-2.5-flash:") && q.status == 200));
}
