//! The unmodified OpenAI Python SDK (examples/openai-sdk/client.py) through a real Envoy.

use tollgate_e2e::envoy::{run_python_json, Envoy};
use tollgate_e2e::fake::FakeProvider;

#[test]
fn openai_python_sdk_works_unchanged() {
    let fake = FakeProvider::start().expect("fake provider");
    let envoy = Envoy::start_shipped(fake.addr().port());
    let v = run_python_json(
        "examples/openai-sdk/client.py",
        &[format!("http://{}/v1", envoy.addr)],
    );

    assert_eq!(
        v["chat"]["content"],
        "What are the key benefits of API governance?"
    );
    assert_eq!(v["stream"]["content"], "Stream without usage, please.");
    assert_eq!(
        v["stream"]["usage_chunks"], 0,
        "the injected usage chunk leaked to the client"
    );
    assert_eq!(v["stream_usage"]["content"], "Stream with usage, please.");
    assert_eq!(
        v["responses"]["content"],
        "What are the top 3 risks in the current market?"
    );
    assert_eq!(
        v["responses_stream"]["content"],
        "Stream a response, please."
    );

    // What the SDK was told matches what the provider reported and the gateway recorded.
    let reported: Vec<u64> = fake
        .requests()
        .iter()
        .map(|r| {
            r.reported_usage
                .as_ref()
                .and_then(|u| u["total_tokens"].as_u64())
                .unwrap_or(0)
        })
        .collect();
    assert_eq!(reported.len(), 5);
    assert_eq!(v["chat"]["total_tokens"].as_u64(), Some(reported[0]));
    assert_eq!(
        v["stream_usage"]["total_tokens"].as_u64(),
        Some(reported[2])
    );
    assert_eq!(v["responses"]["total_tokens"].as_u64(), Some(reported[3]));
    assert_eq!(
        v["responses_stream"]["total_tokens"].as_u64(),
        Some(reported[4])
    );
    let log = envoy.wait_access_log(5);
    let logged: u64 = log
        .iter()
        .map(|l| {
            l["total_tokens"]
                .as_str()
                .unwrap_or("0")
                .parse::<u64>()
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(
        logged,
        reported.iter().sum::<u64>(),
        "streamed usage without include_usage was not counted"
    );
    // The SDK sends its api_key as a bearer token; the provider must never see it.
    assert!(fake
        .requests()
        .iter()
        .all(|r| r.headers.get("authorization").map(String::as_str)
            == Some("Bearer fake-provider-key")));
}

/// The unmodified Anthropic Python SDK (examples/anthropic-sdk/client.py): native Messages, routed by
/// model to the Anthropic provider, authenticated with the client's secret as `x-api-key`.
#[test]
fn anthropic_python_sdk_works_unchanged() {
    let fake = FakeProvider::start().expect("fake provider");
    let envoy = Envoy::start_shipped(fake.addr().port());
    let v = run_python_json(
        "examples/anthropic-sdk/client.py",
        &[format!("http://{}", envoy.addr)],
    );
    assert_eq!(
        v["message"]["content"],
        "What are the key benefits of API governance?"
    );
    assert_eq!(v["stream"]["content"], "Stream this back, please.");
    assert!(v["stream"]["output_tokens"].as_u64().unwrap_or(0) > 0);
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    for q in &reqs {
        assert_eq!(q.path, "/v1/messages");
        // The provider's key replaces the client's secret, which never reaches the provider.
        assert_eq!(
            q.headers.get("x-api-key").map(String::as_str),
            Some("test-anthropic-key")
        );
        assert!(
            !q.body.contains("sk-tollgate-demo")
                && !q.headers.values().any(|h| h.contains("sk-tollgate-demo"))
        );
    }
    let log = envoy.wait_access_log(2);
    assert!(log
        .iter()
        .all(|l| l["client"] == "finance-forecasting-agent" && l["route"] == "anthropic"));
}
