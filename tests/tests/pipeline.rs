//! The shipped gateway runs every policy in ONE wasm filter (root_id `tollgate`, a pipeline over one
//! parse of the request). The same policies also run as four separate filters, one plugin each, for
//! users who want single policies: this test keeps that configuration working end to end.

use serde_json::json;
use tollgate_e2e::envoy::{self, Envoy};
use tollgate_e2e::fake::FakeProvider;

fn scenario(envoy: &Envoy, fake: &FakeProvider) {
    let body = json!({"model": "echo", "stream": false,
        "messages": [{"role": "user", "content": "Mail jane.doe@example.com please"}]});
    let r = envoy.post("/v1/chat/completions", &[], &body);
    assert_eq!(r.status, 200, "{}", r.text());
    // PII: redacted before the provider, restored for the client.
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    assert!(
        !reqs[0].body.contains("jane.doe@example.com"),
        "{}",
        reqs[0].body
    );
    assert!(r.text().contains("jane.doe@example.com"), "{}", r.text());
    // Rate limit and usage answered in headers; the router chose the route.
    assert!(
        r.header("x-ratelimit-remaining-tokens").is_some(),
        "{:?}",
        r.headers
    );
    assert!(
        r.header("x-tollgate-usage-total-tokens").is_some(),
        "{:?}",
        r.headers
    );
    let log = envoy.wait_access_log(1);
    assert_eq!(log[0]["route"], "local");
    assert_eq!(log[0]["client"], "tester");
    assert_eq!(log[0]["ratelimit_decision"], "admitted");
    assert!(log[0]["pii_request"]
        .as_str()
        .is_some_and(|s| s.contains("EMAIL")));
    assert_eq!(log[0]["usage_outcome"], "reported");
    // A streamed request gets its usage chunk asked for (the usage policy rewrote the body) and
    // the PII redaction in the same single write.
    let stream = json!({"model": "echo", "stream": true,
        "messages": [{"role": "user", "content": "Call +44 20 7946 0958"}]});
    let r = envoy.post("/v1/chat/completions", &[], &stream);
    assert_eq!(r.status, 200);
    assert!(r.text().contains("+44 20 7946 0958"), "{}", r.text());
    let reqs = fake.requests();
    let sent = reqs[1].json();
    assert_eq!(sent["stream_options"]["include_usage"], true);
    assert!(!reqs[1].body.contains("7946 0958"), "{}", reqs[1].body);
}

#[test]
fn the_shipped_pipeline_runs_every_policy() {
    let shipped = envoy::shipped_config();
    assert!(
        shipped.contains("root_id: tollgate\n"),
        "the shipped config uses the pipeline"
    );
    assert!(!shipped.contains("root_id: tollgate_pii"));
    let fake = FakeProvider::start().expect("fake");
    let envoy = Envoy::start_shipped(fake.addr().port());
    scenario(&envoy, &fake);
}

#[test]
fn the_policies_also_run_as_separate_filters() {
    let yaml = envoy::separate_filters(&envoy::shipped_config());
    for root in [
        "tollgate_pii",
        "tollgate_router",
        "tollgate_usage",
        "tollgate_ratelimit",
    ] {
        assert!(
            yaml.contains(&format!("root_id: {root}\n")),
            "{root} missing"
        );
    }
    let fake = FakeProvider::start().expect("fake");
    let envoy = Envoy::start(&yaml, fake.addr().port(), 2);
    scenario(&envoy, &fake);
}

#[test]
fn a_bad_section_is_refused_naming_section_and_field() {
    let fake = FakeProvider::start().expect("fake");
    let yaml = envoy::shipped_config();
    let lines: Vec<&str> = yaml.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim() == "\"pii\": {")
        .or_else(|| {
            lines
                .iter()
                .position(|l| l.trim_start().starts_with("\"pii\":"))
        })
        .expect("pii section");
    let mut bad: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    bad.insert(at, format!("{}\"pricing\": {{}},", " ".repeat(22)));
    match Envoy::try_start(&(bad.join("\n") + "\n"), fake.addr().port(), 1) {
        Ok(_) => panic!("envoy accepted an unknown section"),
        Err(log) => assert!(log.contains("unknown field `pricing`"), "{log}"),
    }
    envoy::assert_config_refused(
        "tollgate.usage",
        r#"{"prices": {"m": {"input": "x"}}}"#,
        "prices.m.input",
        fake.addr().port(),
    );
}
