//! End-to-end: the usage emitter inside a real Envoy, in front of the fake provider.
//!
//! Every number is checked against what the fake provider itself reported for that request
//! (`reported_usage` in `/_tollgate/requests`), matched by `x-request-id`.

use serde_json::{json, Value};
use std::collections::HashMap;
use tollgate_e2e::envoy::{self, Envoy};
use tollgate_e2e::fake::{FakeProvider, Recorded};
use tollgate_e2e::http::Response;

const CLIENT: &str = "finance-forecasting-agent";
/// The shipped demo credential of [`CLIENT`] (envoy/clients.yaml).
const DEMO_BEARER: &str = "Bearer sk-tollgate-demo-finance-forecasting";
const REPLY: &str = "Héllo wörld 🎉 from the Tollgate fake — 你好";

fn setup() -> (FakeProvider, Envoy) {
    let fake = FakeProvider::start().unwrap_or_else(|e| panic!("fake provider: {e}"));
    let envoy = Envoy::start_shipped(fake.addr().port());
    (fake, envoy)
}

#[derive(Clone, Copy, Debug)]
enum Api {
    Chat,
    ChatWithUsage,
    Responses,
    Anthropic,
    Gemini,
    GeminiArray,
}

impl Api {
    const ALL: [Api; 6] = [
        Api::Chat,
        Api::ChatWithUsage,
        Api::Responses,
        Api::Anthropic,
        Api::Gemini,
        Api::GeminiArray,
    ];

    fn request(self, stream: bool) -> (String, Value) {
        let msgs = json!([
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Summarize the key trends in Q3 earnings."}
        ]);
        match self {
            Api::Chat | Api::ChatWithUsage => {
                let mut b = json!({"model": "echo", "messages": msgs, "stream": stream});
                if matches!(self, Api::ChatWithUsage) && stream {
                    b["stream_options"] = json!({"include_usage": true});
                }
                ("/v1/chat/completions".into(), b)
            }
            Api::Responses => (
                "/v1/responses".into(),
                json!({"model": "echo", "instructions": "You are a concise financial analyst.",
                       "input": "What are the top 3 risks?", "stream": stream}),
            ),
            Api::Anthropic => (
                "/v1/messages".into(),
                json!({"model": "claude-sonnet-4-5", "max_tokens": 256, "system": "Be brief.",
                       "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi there"}]}],
                       "stream": stream}),
            ),
            Api::Gemini | Api::GeminiArray => {
                let action = match (stream, self) {
                    (false, _) => ":generateContent",
                    (true, Api::Gemini) => ":streamGenerateContent?alt=sse",
                    (true, _) => ":streamGenerateContent",
                };
                (
                    format!("/v1beta/models/gemini-2.5-flash{action}"),
                    json!({"systemInstruction": {"parts": [{"text": "Be brief."}]},
                           "contents": [{"role": "user", "parts": [{"text": "Hello Gemini"}]}]}),
                )
            }
        }
    }
}

fn num(v: &Value, key: &str) -> u64 {
    match v.get(key) {
        Some(Value::String(s)) => s.parse().unwrap_or_else(|_| panic!("{key}={s} in {v}")),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        other => panic!("{key} missing ({other:?}) in {v}"),
    }
}

fn by_request_id(fake: &FakeProvider) -> HashMap<String, Recorded> {
    fake.requests()
        .into_iter()
        .filter_map(|r| Some((r.headers.get("x-request-id")?.clone(), r)))
        .collect()
}

/// Asserts that an access-log line carries exactly the usage the provider reported.
fn assert_usage_matches(line: &Value, rec: &Recorded, what: &str) {
    let rep = rec
        .reported_usage
        .clone()
        .unwrap_or_else(|| panic!("{what}: provider reported nothing"));
    for key in [
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "cached_prompt_tokens",
        "reasoning_tokens",
    ] {
        assert_eq!(
            num(line, key),
            rep[key].as_u64().unwrap_or(u64::MAX),
            "{what}: {key} in {line}"
        );
    }
    assert_eq!(line["served_model"], rep["model"], "{what}: served model");
    assert_eq!(line["usage_outcome"], "reported", "{what}");
}

/// Splits a complete SSE body into the data payloads of its events (independent of our parser).
fn sse_data(body: &str) -> Vec<String> {
    body.replace("\r\n", "\n")
        .split("\n\n")
        .filter_map(|ev| {
            let data: Vec<&str> = ev
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            (!data.is_empty()).then(|| data.join("\n"))
        })
        .collect()
}

fn post(envoy: &Envoy, api: Api, stream: bool, extra: &[(&str, &str)]) -> Response {
    let (path, body) = api.request(stream);
    let mut headers = vec![("authorization", DEMO_BEARER), ("x-fake-reply", REPLY)];
    headers.extend_from_slice(extra);
    envoy.post(&path, &headers, &body)
}

#[test]
fn json_usage_matches_provider_for_every_shape() {
    let (fake, envoy) = setup();
    let extra = [
        ("x-fake-cached-tokens", "3"),
        ("x-fake-reasoning-tokens", "2"),
    ];
    let mut responses = Vec::new();
    for api in Api::ALL {
        let r = post(&envoy, api, false, &extra);
        assert_eq!(r.status, 200, "{api:?}: {}", r.text());
        responses.push((api, r));
    }
    let log = envoy.wait_access_log(Api::ALL.len());
    let recorded = by_request_id(&fake);
    assert_eq!(recorded.len(), Api::ALL.len());
    let mut want_prompt = 0;
    for line in &log {
        let rid = line["request_id"].as_str().unwrap_or_default();
        let rec = &recorded[rid];
        assert_usage_matches(line, rec, rid);
        assert_eq!(line["client"], CLIENT);
        assert_eq!(line["group"], "Finance");
        assert_eq!(line["streamed"], "false");
        want_prompt += rec
            .reported_usage
            .as_ref()
            .map_or(0, |u| u["prompt_tokens"].as_u64().unwrap_or(0));
    }
    // Non-streaming responses carry the usage headers, equal to the provider's own numbers.
    for (api, r) in &responses {
        let total: u64 = r
            .header("x-tollgate-usage-total-tokens")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let line = log
            .iter()
            .find(|l| l["requested_model"].is_string() && num(l, "total_tokens") == total);
        assert!(
            line.is_some(),
            "{api:?}: usage header {total} not in the access log"
        );
    }
    // Price of `echo` in envoy.yaml: input 1.0, cached 0.5, output 2.0 per 1M tokens = µ$ per token.
    let chat = log
        .iter()
        .find(|l| l["api"] == "chat_completions" && l["path"] == "/v1/chat/completions");
    let chat = chat.unwrap_or_else(|| panic!("no chat line"));
    let (p, c, o) = (
        num(chat, "prompt_tokens"),
        num(chat, "cached_prompt_tokens"),
        num(chat, "completion_tokens"),
    );
    let cost = ((p - c) as f64 * 1.0 + c as f64 * 0.5 + o as f64 * 2.0).round() as u64;
    assert_eq!(num(chat, "cost_micro_usd"), cost);
    // The same totals in Prometheus, tagged by client and group.
    let labels = [("client", CLIENT), ("group", "Finance")];
    assert_eq!(
        envoy.wait_metric("tollgate_prompt_tokens_total", &labels, want_prompt as f64),
        want_prompt as f64
    );
    assert_eq!(
        envoy.metric("tollgate_requests_total", &labels),
        Api::ALL.len() as f64
    );
    assert_eq!(
        envoy.metric("tollgate_requests_total", &[("provider", "gemini")]),
        2.0
    );
    assert_eq!(
        envoy.metric("tollgate_requests_total", &[("provider", "anthropic")]),
        1.0
    );
}

#[test]
fn stream_usage_exact_at_every_chunk_split() {
    let (fake, envoy) = setup();
    let envoy = &envoy;
    let streaming = [
        Api::Chat,
        Api::ChatWithUsage,
        Api::Responses,
        Api::Anthropic,
        Api::Gemini,
        Api::GeminiArray,
    ];
    let mut sent = 0;
    std::thread::scope(|s| {
        let handles: Vec<_> = streaming
            .iter()
            .map(|&api| {
                s.spawn(move || {
                    for size in 1..=7 {
                        let size_s = size.to_string();
                        let r = post(
                            envoy,
                            api,
                            true,
                            &[
                                ("x-fake-chunk-size", &size_s),
                                ("x-fake-chunk-delay-ms", "1"),
                                ("x-fake-cached-tokens", "2"),
                            ],
                        );
                        assert_eq!(r.status, 200, "{api:?}/{size}: {}", r.text());
                        check_client_stream(api, &r.text(), size);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap_or_else(|_| panic!("stream worker failed"));
        }
    });
    sent += streaming.len() * 7;
    let log = envoy.wait_access_log(sent);
    assert_eq!(log.len(), sent);
    let recorded = by_request_id(&fake);
    let mut total = 0;
    for line in &log {
        let rid = line["request_id"].as_str().unwrap_or_default();
        let rec = &recorded[rid];
        assert_usage_matches(line, rec, &format!("{} {}", line["path"], rid));
        assert_eq!(line["streamed"], "true");
        assert!(line["ttft_ms"].is_string(), "ttft missing: {line}");
        total += num(line, "total_tokens");
        // The emitter asked for usage on every streamed chat request.
        if rec.path.ends_with("/chat/completions") {
            assert_eq!(
                rec.json()["stream_options"]["include_usage"],
                true,
                "injection did not reach the provider"
            );
        }
    }
    let labels = [("client", CLIENT)];
    assert_eq!(
        envoy.wait_metric("tollgate_total_tokens_total", &labels, total as f64),
        total as f64
    );
}

/// What the client receives: every provider event, minus the usage chunk it did not ask for.
fn check_client_stream(api: Api, body: &str, size: usize) {
    let events = sse_data(body);
    let what = format!("{api:?}/{size}");
    match api {
        Api::Chat | Api::ChatWithUsage => {
            assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{what}");
            let chunks: Vec<Value> = events
                .iter()
                .filter_map(|e| serde_json::from_str(e).ok())
                .collect();
            let text: String = chunks
                .iter()
                .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
                .collect();
            assert_eq!(text, REPLY, "{what}");
            let usage_chunks = chunks
                .iter()
                .filter(|c| c["choices"].as_array().is_some_and(Vec::is_empty))
                .count();
            let want = usize::from(matches!(api, Api::ChatWithUsage));
            assert_eq!(
                usage_chunks, want,
                "{what}: usage chunks seen by the client"
            );
            // role chunk + one per word + finish chunk (+ usage) + [DONE]
            assert_eq!(events.len(), chunks.len() + 1, "{what}");
        }
        Api::Responses => {
            let last: Value =
                serde_json::from_str(events.last().map_or("", String::as_str)).unwrap_or_default();
            assert_eq!(last["type"], "response.completed", "{what}");
        }
        Api::Anthropic => {
            let text: String = events
                .iter()
                .filter_map(|e| serde_json::from_str::<Value>(e).ok())
                .filter_map(|v| v["delta"]["text"].as_str().map(str::to_owned))
                .collect();
            assert_eq!(text, REPLY, "{what}");
        }
        Api::Gemini => assert!(
            body.contains("\r\n\r\n") && body.contains("usageMetadata"),
            "{what}: {body:?}"
        ),
        Api::GeminiArray => {
            let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(v.as_array().is_some_and(|a| !a.is_empty()), "{what}");
        }
    }
}

#[test]
fn malformed_bodies_pass_untouched_and_errors_are_counted() {
    let (fake, envoy) = setup();
    // Non-streaming malformed body: byte-for-byte what the provider sent.
    let r = post(&envoy, Api::Chat, false, &[("x-fake-malformed", "1")]);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        "{\"id\": \"broken\", \"object\": \"chat.completion\", \"choices\": [{\"message\": "
    );
    // A stream with one broken event still delivers every event and the usage.
    let r = post(
        &envoy,
        Api::ChatWithUsage,
        true,
        &[("x-fake-malformed", "1")],
    );
    assert!(
        r.text()
            .contains("data: {\"id\": \"broken\", \"choices\": [{\"delta\": \n\n"),
        "{}",
        r.text()
    );
    // Provider errors.
    let r = post(&envoy, Api::Chat, false, &[("x-fake-status", "503")]);
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"]["type"], "server_error");
    let r = post(&envoy, Api::Anthropic, false, &[("x-fake-status", "429")]);
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    let r = post(
        &envoy,
        Api::Chat,
        true,
        &[("x-fake-reset", "before-headers")],
    );
    assert_eq!(r.status, 503, "{}", r.text());

    let log = envoy.wait_access_log(5);
    assert_eq!(log.len(), 5);
    assert_eq!(
        log.iter()
            .filter(|l| l["usage_outcome"] == "unparseable")
            .count(),
        1
    );
    let streamed = log
        .iter()
        .find(|l| l["streamed"] == "true" && l["status"] == 200);
    let recorded = by_request_id(&fake);
    let streamed = streamed.unwrap_or_else(|| panic!("no streamed line"));
    assert_usage_matches(
        streamed,
        &recorded[streamed["request_id"].as_str().unwrap_or_default()],
        "malformed stream",
    );
    let model = [("model", "echo")];
    assert_eq!(
        envoy.wait_metric("tollgate_unparseable_responses_total", &model, 1.0),
        1.0
    );
    assert_eq!(
        envoy.metric("tollgate_upstream_errors_total", &[("code", "503")]),
        2.0
    );
    assert_eq!(
        envoy.metric("tollgate_upstream_errors_total", &[("code", "429")]),
        1.0
    );
}

#[test]
fn client_credentials_never_reach_the_provider() {
    let (fake, envoy) = setup();
    let r = post(
        &envoy,
        Api::Chat,
        false,
        &[
            // Besides the client's own `authorization` (the demo secret, added by `post`).
            ("x-api-key", "client-key"),
            ("accept-encoding", "gzip"),
        ],
    );
    assert_eq!(r.status, 200);
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    let h = &reqs[0].headers;
    // Envoy injects the provider key from its SDS secret; the client's credentials are gone.
    assert_eq!(
        h.get("authorization").map(String::as_str),
        Some("Bearer fake-provider-key")
    );
    assert!(!h.contains_key("x-api-key"));
    assert!(
        !h.contains_key("accept-encoding"),
        "providers must answer uncompressed"
    );
    assert_eq!(
        reqs[0].json()["messages"][1]["content"],
        "Summarize the key trends in Q3 earnings."
    );
}

#[test]
fn bad_config_is_refused_naming_the_field() {
    let fake = FakeProvider::start().unwrap_or_else(|e| panic!("{e}"));
    for (cfg, field) in [
        (r#"{"bogus_field": 1}"#, "bogus_field"),
        (r#"{"usage_headers": "yes"}"#, "usage_headers"),
        (r#"{"prices": {"gpt-4o": {"input": 1}}}"#, "prices.gpt-4o"),
    ] {
        envoy::assert_config_refused("tollgate.usage", cfg, field, fake.addr().port());
    }
}

#[test]
fn failure_mode_decides_what_happens_to_non_llm_bodies() {
    let fake = FakeProvider::start().unwrap_or_else(|e| panic!("{e}"));
    // The emitter alone (the PII filter in front would refuse a non-JSON body itself).
    let base = envoy::without_filter(&envoy::shipped_config(), "tollgate.pii");
    let deny = envoy::with_filter_config(&base, "tollgate.usage", r#"{"failure_mode": "deny"}"#);
    let envoy = Envoy::start(&deny, fake.addr().port(), 1);
    let auth = envoy::bearer("tester");
    let hdrs = [
        ("content-type", "application/json"),
        ("authorization", auth.as_str()),
    ];
    let r = tollgate_e2e::http::request(
        envoy.addr,
        "POST",
        "/v1/chat/completions",
        &hdrs,
        b"{not json",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    assert_eq!(r.json()["error"]["code"], "invalid_request_body");
    assert!(
        fake.requests().is_empty(),
        "a rejected body reached the provider"
    );
    drop(envoy);

    // `allow` (the shipped default): the body passes on untouched, uncounted; without a router in
    // front of the provider it then stops at the route table (nothing unrouted reaches a provider).
    let unrouted = envoy::without_filter(&base, "tollgate.router");
    let envoy = Envoy::start(&unrouted, fake.addr().port(), 1);
    let r = tollgate_e2e::http::request(
        envoy.addr,
        "POST",
        "/v1/chat/completions",
        &hdrs,
        b"{not json",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status, 503, "passed by the emitter, stopped unrouted");
    assert_eq!(r.json()["error"]["code"], "no_route");
    assert!(fake.requests().is_empty());
    assert_eq!(
        envoy.wait_metric("tollgate_unparseable_requests_total", &[], 1.0),
        1.0
    );
}

#[test]
fn time_to_first_token_is_measured() {
    let (_fake, envoy) = setup();
    let r = post(
        &envoy,
        Api::Chat,
        true,
        &[
            ("x-fake-latency-ms", "150"),
            ("x-fake-chunk-delay-ms", "20"),
        ],
    );
    assert_eq!(r.status, 200);
    let log = envoy.wait_access_log(1);
    let ttft = num(&log[0], "ttft_ms");
    let dur = num(&log[0], "duration_ms");
    assert!((150..2000).contains(&ttft), "ttft {ttft}");
    assert!(dur >= ttft + 20 * 5, "duration {dur} vs ttft {ttft}");
    assert_eq!(
        envoy.wait_metric("tollgate_ttft_ms_count", &[("model", "echo")], 1.0),
        1.0
    );
}

#[test]
fn shipped_envoy_configs_validate() {
    let root = envoy::repo_root();
    let mut configs = vec![root.join("envoy/envoy.yaml")];
    for dir in ["examples"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let nested = p.join("envoy.yaml");
            if nested.is_file() {
                configs.push(nested);
            } else if p.extension().is_some_and(|x| x == "yaml") && !configs.contains(&p) {
                configs.push(p);
            }
        }
    }
    // Secrets referenced by path must exist for validation.
    let _ = std::fs::create_dir_all(root.join(".run/secrets"));
    for name in ["fake_provider", "openai", "gemini", "anthropic"] {
        let p = root.join(format!(".run/secrets/{name}.yaml"));
        if !p.exists() {
            let _ = std::fs::write(&p, format!("resources:\n- \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n  name: {name}_key\n  generic_secret:\n    secret: {{ inline_string: \"unset\" }}\n"));
        }
    }
    for c in configs {
        if let Err(out) = envoy::validate(&c) {
            panic!("{} does not validate:\n{out}", c.display());
        }
    }
    // The provider files are loaded by CDS, which validation does not read: load each for real and
    // check that Envoy took every cluster (the real providers' DNS names need not resolve here).
    for file in ["envoy/clusters.yaml", "envoy/providers.yaml"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap_or_default();
        let names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("  name: "))
            .collect();
        assert!(names.len() >= 7, "{file}: {names:?}");
        let files = envoy::Files {
            clusters: Some(text.clone()),
            ..envoy::Files::default()
        };
        let e = Envoy::try_start_files(&envoy::shipped_config(), &[], 1, None, &files)
            .unwrap_or_else(|log| panic!("{file}: {log}"));
        let clusters = tollgate_e2e::http::get(e.admin, "/clusters")
            .map(|r| r.text())
            .unwrap_or_default();
        for n in names {
            assert!(
                clusters.contains(&format!("{n}::")),
                "{file}: cluster {n} not loaded"
            );
        }
        assert!(!e.log().contains("rejected"), "{file}: {}", e.log());
    }
}
