//! End-to-end: the token rate limit inside a real Envoy (`--concurrency 2`, so two workers share
//! the counters), in front of the fake provider.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tollgate_e2e::envoy::{self, Envoy};
use tollgate_e2e::fake::FakeProvider;
use tollgate_e2e::http::{self, Response};

const WINDOW_SECONDS: u64 = 3;

fn start(limit_json: &str) -> (FakeProvider, Envoy) {
    let fake = FakeProvider::start().expect("fake provider");
    let yaml =
        envoy::with_filter_config(&envoy::shipped_config(), "tollgate.ratelimit", limit_json);
    let envoy = Envoy::start(&yaml, fake.addr().port(), 2);
    (fake, envoy)
}

fn chat(
    envoy: &Envoy,
    client: &str,
    text: &str,
    extra: &[(&str, &str)],
    body_extra: Value,
) -> Response {
    let mut body = json!({"model": "echo", "messages": [{"role": "user", "content": text}]});
    if let (Some(b), Some(e)) = (body.as_object_mut(), body_extra.as_object()) {
        b.extend(e.clone());
    }
    let auth = envoy::bearer(client);
    let mut headers = vec![("authorization", auth.as_str())];
    headers.extend_from_slice(extra);
    envoy.post("/v1/chat/completions", &headers, &body)
}

fn header_u64(r: &Response, name: &str) -> u64 {
    r.header(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing: {:?}", r.headers))
}

#[test]
fn concurrent_requests_are_admitted_up_to_the_budget_and_recover_after_the_window() {
    // Each request reserves its counted prompt plus max_tokens against a 200-token budget.
    let cfg = format!(
        r#"{{"limits":[{{"name":"per-client","key":["header:x-client-id"],"window_seconds":{WINDOW_SECONDS},
            "total_tokens":200,"reserve_output_tokens":true}}],"slots":30}}"#
    );
    let (fake, envoy) = start(&cfg);
    // "one two three four five six seven eight nine ten" — the fake echoes it back.
    let text = "one two three four five six seven eight nine ten";
    let probe = chat(&envoy, "probe", text, &[], json!({"max_tokens": 10}));
    assert_eq!(probe.status, 200);
    let reported = fake.requests()[0].reported_usage.clone().expect("usage");
    let prompt = reported["prompt_tokens"].as_u64().unwrap_or(0);
    let completion = reported["completion_tokens"].as_u64().unwrap_or(0);
    assert!(completion <= 10, "reply must fit max_tokens for this test");
    let per_request = prompt + 10;
    let expected_admitted = (200 / per_request) as usize;
    fake.clear();

    let envoy_ref = &envoy;
    let results: Vec<Response> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|_| {
                s.spawn(move || {
                    chat(
                        envoy_ref,
                        "alice",
                        text,
                        &[("x-fake-latency-ms", "400")],
                        json!({"max_tokens": 10}),
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("request thread"))
            .collect()
    });
    let ok: Vec<&Response> = results.iter().filter(|r| r.status == 200).collect();
    let limited: Vec<&Response> = results.iter().filter(|r| r.status == 429).collect();
    assert_eq!(ok.len() + limited.len(), 12, "only 200s and 429s expected");
    assert_eq!(
        ok.len(),
        expected_admitted,
        "admitted exactly what fits ({per_request} tokens each)"
    );
    assert_eq!(
        fake.requests().len(),
        expected_admitted,
        "a limited request reached the provider"
    );
    for r in &ok {
        assert_eq!(header_u64(r, "x-ratelimit-limit-tokens"), 200);
        assert!(header_u64(r, "x-ratelimit-remaining-tokens") < 200);
        assert!(r.header("x-ratelimit-reset-tokens").is_some());
    }
    for r in &limited {
        let e = r.json();
        assert_eq!(e["error"]["type"], "tokens", "{}", r.text());
        assert_eq!(e["error"]["code"], "rate_limit_exceeded");
        assert!(e["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Limit 200"));
        let retry = header_u64(r, "retry-after");
        assert!(
            (1..=WINDOW_SECONDS + 1).contains(&retry),
            "retry-after {retry}"
        );
        assert_eq!(header_u64(r, "x-ratelimit-limit-tokens"), 200);
        assert!(header_u64(r, "x-ratelimit-remaining-tokens") < per_request);
        assert_eq!(r.header("x-tollgate-rejected-by"), Some("ratelimit"));
    }
    // Another client has its own bucket.
    assert_eq!(
        chat(&envoy, "bob", text, &[], json!({"max_tokens": 10})).status,
        200
    );
    assert_eq!(
        chat(&envoy, "alice", text, &[], json!({"max_tokens": 10})).status,
        429
    );
    // The budget recovers once the window has passed (retry-after says when).
    let wait = limited
        .iter()
        .map(|r| header_u64(r, "retry-after"))
        .max()
        .unwrap_or(WINDOW_SECONDS);
    let deadline = Instant::now() + Duration::from_secs(wait + 2);
    std::thread::sleep(Duration::from_secs(wait));
    let mut local_429s = limited.len() + 1;
    loop {
        let r = chat(&envoy, "alice", text, &[], json!({"max_tokens": 10}));
        if r.status == 200 {
            break;
        }
        local_429s += 1;
        assert!(
            Instant::now() < deadline,
            "budget did not recover: {}",
            r.text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The usage emitter records the local 429s as such, not as provider errors.
    let n = local_429s as f64;
    let labels = [("by", "ratelimit"), ("code", "429")];
    assert_eq!(
        envoy.wait_metric("tollgate_local_replies_total", &labels, n),
        n
    );
    assert_eq!(envoy.metric("tollgate_upstream_errors_total", &[]), 0.0);
}

#[test]
fn a_prompt_larger_than_the_prompt_budget_never_reaches_the_provider() {
    let (fake, envoy) = start(
        r#"{"limits":[{"name":"per-client","key":["header:x-client-id"],"total_tokens":100000,"prompt_tokens":50}]}"#,
    );
    let big = "token ".repeat(200);
    let r = chat(&envoy, "alice", &big, &[], json!({}));
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "request_too_large");
    assert_eq!(header_u64(&r, "x-ratelimit-limit-prompt-tokens"), 50);
    assert!(
        fake.requests().is_empty(),
        "the oversized prompt reached the provider"
    );
    // A prompt that fits passes, and reports the prompt budget.
    let r = chat(&envoy, "alice", "short", &[], json!({}));
    assert_eq!(r.status, 200);
    assert_eq!(header_u64(&r, "x-ratelimit-limit-prompt-tokens"), 50);
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn budgets_are_charged_exactly_the_reported_usage_streamed_or_not() {
    let (fake, envoy) = start(
        r#"{"limits":[{"name":"per-client","key":["header:x-client-id"],"total_tokens":5000,"prompt_tokens":4000}]}"#,
    );
    let reply = [(
        "x-fake-reply",
        "A reply of several words that the fake provider streams back to us.",
    )];
    let a = chat(&envoy, "carol", "first, not streamed", &reply, json!({}));
    let b = chat(
        &envoy,
        "carol",
        "second, streamed without usage",
        &reply,
        json!({"stream": true}),
    );
    let c = chat(
        &envoy,
        "carol",
        "third, streamed with usage",
        &[("x-fake-chunk-size", "5"), reply[0]],
        json!({"stream": true, "stream_options": {"include_usage": true}}),
    );
    for r in [&a, &b, &c] {
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let d = chat(&envoy, "carol", "fourth", &[], json!({}));
    assert_eq!(d.status, 200);
    let reqs = fake.requests();
    let usage = |i: usize, k: &str| {
        reqs[i]
            .reported_usage
            .as_ref()
            .and_then(|u| u[k].as_u64())
            .unwrap_or(0)
    };
    let spent: u64 = (0..3).map(|i| usage(i, "total_tokens")).sum();
    let prompts: u64 = (0..3).map(|i| usage(i, "prompt_tokens")).sum();
    let log = envoy.wait_access_log(4);
    let reserved_d = log
        .iter()
        .find(|l| {
            l["request_id"].as_str() == reqs[3].headers.get("x-request-id").map(String::as_str)
        })
        .and_then(|l| l["ratelimit_prompt_estimate"].as_str())
        .and_then(|s| s.parse::<u64>().ok())
        .expect("fourth request's reservation in the access log");
    // Far from the limit the prompt is reserved at its byte-length bound (no tokenizing): at or
    // above what the provider counted.
    assert!(reserved_d >= usage(3, "prompt_tokens"));
    // At admission of the fourth request the earlier ones are settled at their real totals, and
    // the fourth holds its reservation.
    assert_eq!(
        header_u64(&d, "x-ratelimit-remaining-tokens"),
        5000 - spent - reserved_d
    );
    assert_eq!(
        header_u64(&d, "x-ratelimit-remaining-prompt-tokens"),
        4000 - prompts - reserved_d
    );
    for line in &log {
        let rid = line["request_id"].as_str().unwrap_or_default();
        let rec = reqs
            .iter()
            .find(|r| r.headers.get("x-request-id").map(String::as_str) == Some(rid))
            .expect("recorded");
        let u = rec.reported_usage.as_ref().expect("usage");
        assert_eq!(line["ratelimit_prompt_basis"].as_str(), Some("bound"));
        assert_eq!(
            line["ratelimit_charged_tokens"].as_str(),
            Some(u["total_tokens"].to_string().as_str()),
            "charge"
        );
    }
    // Once settled, the budget holds exactly the reported usage of all four.
    let total: u64 = (0..4).map(|i| usage(i, "total_tokens")).sum();
    let e = chat(&envoy, "carol", "fifth", &[], json!({}));
    assert_eq!(e.status, 200);
    let log = envoy.wait_access_log(5);
    let reserved_e = log[4]["ratelimit_prompt_estimate"]
        .as_str()
        .and_then(|s| s.parse::<u64>().ok())
        .expect("reservation");
    assert_eq!(
        header_u64(&e, "x-ratelimit-remaining-tokens"),
        5000 - total - reserved_e
    );
}

#[test]
fn near_the_limit_the_prompt_is_counted_exactly_and_charged_exactly_either_way() {
    // A prompt whose byte length is far above its token count.
    let text = "one two three four five six seven eight nine ten eleven twelve thirteen";
    let (fake, envoy) = start(
        r#"{"limits":[{"name":"per-client","key":["header:x-client-id"],"prompt_tokens":100000}]}"#,
    );
    assert_eq!(chat(&envoy, "probe", text, &[], json!({})).status, 200);
    let exact = fake.requests()[0].reported_usage.clone().expect("usage")["prompt_tokens"]
        .as_u64()
        .expect("prompt tokens");
    let log = envoy.wait_access_log(1);
    assert_eq!(
        log[0]["ratelimit_prompt_basis"], "bound",
        "far from the limit"
    );
    let bound: u64 = log[0]["ratelimit_prompt_estimate"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("bound");
    assert!(bound > exact + 10, "bound {bound} vs exact {exact}");
    drop(envoy);
    drop(fake);

    // A budget between the exact count and the bound: admitted, counted exactly.
    let cap = exact + 5;
    let (fake, envoy) = start(&format!(
        r#"{{"limits":[{{"name":"per-client","key":["header:x-client-id"],"prompt_tokens":{cap}}}]}}"#
    ));
    let r = chat(&envoy, "alice", text, &[], json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(header_u64(&r, "x-ratelimit-remaining-prompt-tokens"), 5);
    let log = envoy.wait_access_log(1);
    assert_eq!(log[0]["ratelimit_prompt_basis"], "exact", "near the limit");
    assert_eq!(
        log[0]["ratelimit_prompt_estimate"].as_str(),
        Some(exact.to_string().as_str())
    );
    // Settled at the reported usage: 5 left, so the same prompt no longer fits, counted exactly.
    let r = chat(&envoy, "alice", text, &[], json!({}));
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(header_u64(&r, "x-ratelimit-remaining-prompt-tokens"), 5);
    assert_eq!(
        fake.requests().len(),
        1,
        "the refused request reached the provider"
    );
    let log = envoy.wait_access_log(2);
    assert_eq!(log[1]["ratelimit_prompt_basis"], "exact");
    drop(fake);
}

#[test]
fn a_stream_cut_off_midway_is_charged_for_what_was_sent() {
    let (fake, envoy) = start(
        r#"{"limits":[{"name":"per-client","key":["header:x-client-id"],"total_tokens":5000}]}"#,
    );
    // Long enough that the PII filter's output-scan holdback (64 bytes) does not hide it all.
    let reply = &"alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma ".repeat(3);
    let r = chat(
        &envoy,
        "dave",
        "cut me off",
        &[
            ("x-fake-reply", reply),
            ("x-fake-reset", "mid-body"),
            ("x-fake-chunk-delay-ms", "5"),
        ],
        json!({"stream": true}),
    );
    let seen = http::sse_text(&r.text(), "/choices/0/delta/content");
    assert!(
        seen.starts_with("alpha beta"),
        "the client saw the first events: {seen:?}"
    );
    let u = fake.requests()[0].reported_usage.clone().expect("usage");
    let (prompt, full) = (
        u["prompt_tokens"].as_u64().unwrap_or(0),
        u["total_tokens"].as_u64().unwrap_or(0),
    );
    let log = envoy.wait_access_log(1);
    let charged: u64 = log[0]["ratelimit_charged_tokens"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("charged");
    assert!(
        charged > prompt && charged < full,
        "charged {charged}, prompt {prompt}, full {full}"
    );
    // The access log records the same figure, as an estimate.
    assert_eq!(log[0]["usage_outcome"], "estimated", "{}", log[0]);
    assert_eq!(
        log[0]["total_tokens"],
        charged.to_string().as_str(),
        "{}",
        log[0]
    );
    let logged_prompt: u64 = log[0]["prompt_tokens"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("prompt tokens logged");
    assert!(logged_prompt >= prompt, "{}", log[0]);
    assert!(
        log[0]["completion_tokens"]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|c| c > 0 && c == charged - logged_prompt),
        "{}",
        log[0]
    );
    assert_eq!(
        envoy.wait_metric("tollgate_ratelimit_usage_counted_total", &[], 1.0),
        1.0
    );
}

#[test]
fn bad_rate_limit_config_is_refused_naming_the_field() {
    let fake = FakeProvider::start().expect("fake");
    for (cfg, field) in [
        (
            r#"{"limits":[{"name":"a","key":["header:x-client-id"],"total_tokens":"lots"}]}"#,
            "limits[0].total_tokens",
        ),
        (
            r#"{"limits":[{"name":"a","key":["cookie"],"total_tokens":5}]}"#,
            "limits[0].key[0]",
        ),
        (
            r#"{"limits":[{"name":"a","key":["model"],"total_tokens":5}],"encodings":{"x":"p50k"}}"#,
            "encodings.x",
        ),
    ] {
        envoy::assert_config_refused("tollgate.ratelimit", cfg, field, fake.addr().port());
    }
}

#[test]
fn non_llm_bodies_and_missing_keys_follow_the_config() {
    let fake = FakeProvider::start().expect("fake");
    // The rate limit on its own (the PII filter in front would refuse a non-JSON body first).
    // Without PII and without authentication in front: the rate limit meets bodies and requests
    // without a client id itself.
    let base = envoy::without_filter(
        &envoy::without_filter(&envoy::shipped_config(), "tollgate.pii"),
        "tollgate.auth",
    );
    let strict = r#"{"limits":[{"name":"per-client","key":["header:x-client-id"],"total_tokens":1000}],
        "non_llm_body":"reject","missing_key":"reject"}"#;
    let envoy = Envoy::start(
        &envoy::with_filter_config(&base, "tollgate.ratelimit", strict),
        fake.addr().port(),
        1,
    );
    let auth = envoy::bearer("erin");
    let hdrs = [
        ("content-type", "application/json"),
        ("authorization", auth.as_str()),
    ];
    let r = http::request(
        envoy.addr,
        "POST",
        "/v1/chat/completions",
        &hdrs,
        b"{not json",
    )
    .expect("request");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "invalid_request_body");
    // No client id, and missing_key = reject: 401 in OpenAI's words.
    let body = json!({"model": "echo", "messages": [{"role": "user", "content": "hi"}]});
    let r = envoy.post("/v1/chat/completions", &[], &body);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], "missing_client_identity");
    assert!(
        fake.requests().is_empty(),
        "a refused request reached the provider"
    );
    drop(envoy);
    // The non-LLM body passes uncounted (default); with `missing_key: shared` a request without a key
    // shares one bucket.
    let lenient = r#"{"limits":[{"name":"per-client","key":["header:x-client-id"],"total_tokens":1000}],
        "missing_key":"shared"}"#;
    // Without the router too: what the rate limit lets through then stops at the route table, which
    // sends nothing unrouted to a provider.
    let unrouted = envoy::without_filter(&base, "tollgate.router");
    let envoy = Envoy::start(
        &envoy::with_filter_config(&unrouted, "tollgate.ratelimit", lenient),
        fake.addr().port(),
        1,
    );
    let r = http::request(
        envoy.addr,
        "POST",
        "/v1/chat/completions",
        &hdrs,
        b"{not json",
    )
    .expect("request");
    assert_eq!(r.status, 503, "passed by the rate limit, stopped unrouted");
    assert_eq!(r.json()["error"]["code"], "no_route");
    // No client id: admitted into the shared bucket (not a 401), then stopped unrouted too.
    let r = envoy.post("/v1/chat/completions", &[], &body);
    assert_eq!(r.status, 503);
    assert!(
        fake.requests().is_empty(),
        "nothing unrouted reaches a provider"
    );
    assert_eq!(
        envoy.wait_metric("tollgate_ratelimit_non_llm_bodies_total", &[], 1.0),
        1.0
    );
}
