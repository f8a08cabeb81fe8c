//! End-to-end: obfuscated, international and nested PII through a real Envoy (issue 13). The fake
//! provider must receive none of the values — neither the obfuscated form the client sent nor its
//! decoded form — and the client must get the exact original bytes back (the fake echoes the last
//! user message), in JSON and in a stream. Vendor secrets are blocked by the shipped config and
//! counted with their vendor in the access log.

use serde_json::json;
use tollgate_e2e::envoy::{self, Envoy};
use tollgate_e2e::fake::FakeProvider;
use tollgate_e2e::http::sse_text;

/// (label, value as the client writes it, decoded forms that must not reach the provider either).
const SAMPLES: &[(&str, &str, &[&str])] = &[
    (
        "EMAIL",
        "john [at] example [dot] com",
        &["john@example.com", "example [dot] com"],
    ),
    ("EMAIL", "ana%40corp.io", &["ana@corp.io", "corp.io"]),
    (
        "EMAIL",
        "ｍａｘ＠ｂｅｉｓｐｉｅｌ．ｄｅ",
        &["max@beispiel.de"],
    ),
    ("EMAIL", "иван@пример.рф", &[]),
    ("EMAIL", "zed\\u0040corp.io", &["zed@corp.io", "zed"]),
    (
        "CREDIT_CARD",
        "４１１１ １１１１ １１１１ １１１１",
        &["4111 1111 1111 1111"],
    ),
    (
        "CREDIT_CARD",
        "5555\u{200B}5555\u{200B}5555\u{200B}4444",
        &["5555555555554444", "4444"],
    ),
    (
        "CREDIT_CARD",
        "6200\u{00A0}0000\u{00A0}0000\u{00A0}0005",
        &["6200000000000005"],
    ),
    ("SSN", "١٢٣-٤٥-٦٧٨٩", &["123-45-6789"]),
    ("SSN", "078\u{2013}05\u{2013}1120", &["078-05-1120"]),
    ("US_ITIN", "912-78-1234", &[]),
    ("PHONE", "0151 2345 6789", &["01512345678"]),
    ("PHONE", "090-1234-5678", &[]),
    ("PHONE", "(11) 91234-5678", &[]),
    ("PHONE", "tel:+82-2-312-3456", &["312-3456"]),
    (
        "PHONE",
        "+４４ ２０ ７９４６ ０９５８",
        &["+44 20 7946 0958"],
    ),
    (
        "IBAN",
        "de89 3704 0044 0532 0130 00",
        &["DE89370400440532013000", "0532 0130"],
    ),
    ("IP_ADDRESS", "10.20.0.0/16", &["10.20.0.0"]),
    ("IP_ADDRESS", "::ffff:192.0.2.1", &["192.0.2.1"]),
    ("MAC_ADDRESS", "00:1A:2B:3C:4D:5E", &["2B:3C"]),
];

/// Must stay untouched (hard negatives).
const KEEP: &[&str] = &[
    "APP_VERSION=11.11.56.183",
    "SKU 4006381333931",
    "oid 1.3.6.1.4.1.311.21.8",
    "550e8400-e29b-41d4-a716-446655440000",
    "2024-01-15T10:30:00Z",
];

fn message() -> String {
    let mut s = String::from("Ticket — 客户 data:");
    for (label, v, _) in SAMPLES {
        s.push_str(&format!("\n{label}: {v};"));
    }
    for k in KEEP {
        s.push_str(&format!("\n{k}"));
    }
    s
}

fn sent_texts(fake: &FakeProvider) -> Vec<String> {
    let reqs = fake.requests();
    assert!(!reqs.is_empty(), "nothing reached the provider");
    reqs.iter()
        .map(|r| {
            let j = r.json();
            let mut all = r.body.clone();
            for m in j["messages"].as_array().cloned().unwrap_or_default() {
                all.push('\n');
                all.push_str(m["content"].as_str().unwrap_or_default());
            }
            all
        })
        .collect()
}

fn assert_nothing_reached(fake: &FakeProvider) {
    for text in sent_texts(fake) {
        for (label, v, decoded) in SAMPLES {
            assert!(
                !text.contains(v),
                "{label} {v:?} reached the provider: {text}"
            );
            for d in *decoded {
                assert!(
                    !text.contains(d),
                    "{label} decoded {d:?} reached the provider: {text}"
                );
            }
        }
        for k in KEEP {
            assert!(text.contains(k), "{k} was redacted: {text}");
        }
    }
}

#[test]
fn obfuscated_values_never_reach_the_provider_and_come_back_exactly() {
    let fake = FakeProvider::start().expect("fake provider");
    let envoy = Envoy::start_shipped(fake.addr().port());
    let msg = message();
    let body = json!({"model": "echo", "messages": [{"role": "user", "content": msg}]});
    let r = envoy.post("/v1/chat/completions", &[], &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["choices"][0]["message"]["content"],
        msg.as_str(),
        "exact restore in JSON"
    );
    let stream =
        json!({"model": "echo", "stream": true, "messages": [{"role": "user", "content": msg}]});
    let r = envoy.post("/v1/chat/completions", &[], &stream);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        sse_text(&r.text(), "/choices/0/delta/content"),
        msg,
        "exact restore in SSE"
    );
    assert_nothing_reached(&fake);
    // Every sample became a placeholder of its label.
    let sent = fake.requests()[0].json()["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for label in [
        "EMAIL",
        "CREDIT_CARD",
        "SSN",
        "US_ITIN",
        "PHONE",
        "IBAN",
        "IP_ADDRESS",
        "MAC_ADDRESS",
    ] {
        assert!(
            sent.contains(&format!("<{label}_1>")),
            "{label} missing in {sent}"
        );
    }
    let log = envoy.wait_access_log(2);
    let counts = log[0]["pii_request"].as_str().unwrap_or_default();
    assert_eq!(
        counts,
        "CREDIT_CARD:placeholder=3,EMAIL:placeholder=5,IBAN:placeholder=1,IP_ADDRESS:placeholder=2,MAC_ADDRESS:placeholder=1,PHONE:placeholder=5,SSN:placeholder=2,US_ITIN:placeholder=1"
    );
}

#[test]
fn json_inside_a_tool_argument_is_scanned_as_text() {
    let fake = FakeProvider::start().expect("fake provider");
    let envoy = Envoy::start_shipped(fake.addr().port());
    // A JSON document, itself JSON-encoded inside the message: escapes around and inside values.
    let inner = r#"{\"user\":{\"email\":\"kim\u0040corp.io\",\"tel\":\"\u002B49 30 901820\",\"note\":\"card\n4111111111111111\"}}"#;
    let msg = format!("Parse this: \"{inner}\"");
    let body =
        json!({"model": "echo", "stream": true, "messages": [{"role": "user", "content": msg}]});
    let r = envoy.post("/v1/chat/completions", &[], &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(sse_text(&r.text(), "/choices/0/delta/content"), msg);
    let sent = fake.requests()[0].json()["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for leaked in ["kim", "corp.io", "901820", "4111111111111111"] {
        assert!(
            !sent.contains(leaked),
            "{leaked} reached the provider: {sent}"
        );
    }
    assert!(
        sent.contains("<EMAIL_1>")
            && sent.contains("<PHONE_1>")
            && sent.contains("<CREDIT_CARD_1>"),
        "{sent}"
    );
}

#[test]
fn vendor_secrets_are_blocked_and_counted_by_vendor() {
    let fake = FakeProvider::start().expect("fake provider");
    let envoy = Envoy::start_shipped(fake.addr().port());
    let stripe = format!("sk_live_{}", "4eC39HqLyjWDarjtT1zdp7dc");
    let slack = format!(
        "xoxb-{}-{}-{}",
        "123456789012", "1234567890123", "AbCdEfGhIjKlMnOpQrStUvWx"
    );
    let google = format!("AIza{}", "SyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW");
    let aws = "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG\n/bPxRfiCYEXAMPLEKEY";
    let fullwidth_stripe = "ｓｋ＿ｌｉｖｅ＿４ｅＣ３９ＨｑＬｙｊＷＤａｒｊｔＴ１ｚｄｐ７ｄｃ";
    let cases = [
        (stripe.as_str(), "SECRET.stripe:block=1"),
        (slack.as_str(), "SECRET.slack:block=1"),
        (google.as_str(), "SECRET.google:block=1"),
        (aws, "SECRET.aws:block=1"),
        (fullwidth_stripe, "SECRET.stripe:block=1"),
    ];
    for (secret, _) in &cases {
        let body = json!({"model": "echo", "messages": [{"role": "user", "content": format!("config:\n{secret}\n")}]});
        let r = envoy.post("/v1/chat/completions", &[], &body);
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.json()["error"]["code"], "pii_blocked");
        assert!(!r.text().contains(*secret), "the value was echoed");
    }
    assert!(
        fake.requests().is_empty(),
        "a blocked request reached the provider"
    );
    let log = envoy.wait_access_log(cases.len());
    for (line, (_, want)) in log.iter().zip(cases.iter()) {
        assert_eq!(line["pii_request"], *want);
        assert!(
            !line.to_string().contains("4eC39Hq"),
            "value in the access log"
        );
    }
}

#[test]
fn secrets_with_placeholder_action_are_restored_exactly() {
    let fake = FakeProvider::start().expect("fake provider");
    let yaml = envoy::with_filter_config(
        &envoy::shipped_config(),
        "tollgate.pii",
        r#"{"actions":{"SECRET":"placeholder"}}"#,
    );
    let envoy = Envoy::start(&yaml, fake.addr().port(), 2);
    let aws = "wJalrXUtnFEMI/K7MDENG\n  /bPxRfiCYEXAMPLEKEY";
    let msg = format!(
        "aws_secret_access_key = {aws}\nstripe rk_live_51H8xYzAbCdEfGhIjKlMnOp\nmac 001a.2b3c.4d5e"
    );
    for stream in [false, true] {
        let body = json!({"model": "echo", "stream": stream, "messages": [{"role": "user", "content": msg}]});
        let r = envoy.post("/v1/chat/completions", &[], &body);
        assert_eq!(r.status, 200, "{}", r.text());
        let got = if stream {
            sse_text(&r.text(), "/choices/0/delta/content")
        } else {
            r.json()["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(got, msg);
    }
    for text in sent_texts(&fake) {
        for leaked in ["wJalrXUtnFEMI", "EXAMPLEKEY", "rk_live_51H8", "001a.2b3c"] {
            assert!(
                !text.contains(leaked),
                "{leaked} reached the provider: {text}"
            );
        }
    }
    let log = envoy.wait_access_log(2);
    assert_eq!(
        log[0]["pii_request"],
        "MAC_ADDRESS:placeholder=1,SECRET.aws:placeholder=1,SECRET.stripe:placeholder=1"
    );
}
