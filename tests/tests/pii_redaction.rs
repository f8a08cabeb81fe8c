//! End-to-end: the PII filter inside a real Envoy. What the fake provider recorded must hold no
//! original value; what the client gets back must hold the originals again (restore), also when the
//! answer streams in pieces of 1..16 bytes; PII the model invents is masked.

use serde_json::json;
use tollgate_e2e::envoy::{self, Envoy};
use tollgate_e2e::fake::FakeProvider;
use tollgate_e2e::http::sse_text;

/// One sample per detector (the secret is blocked by the shipped config; tested separately).
const SAMPLES: &[(&str, &str)] = &[
    ("EMAIL", "jane.doe@example.com"),
    ("PHONE", "+44 20 7946 0958"),
    ("PHONE", "(415) 555-2671"),
    ("CREDIT_CARD", "4111 1111 1111 1111"),
    ("CREDIT_CARD", "378282246310005"),
    ("SSN", "123-45-6789"),
    ("IBAN", "DE89 3704 0044 0532 0130 00"),
    ("IP_ADDRESS", "192.168.10.20"),
    ("IP_ADDRESS", "2001:db8:85a3::8a2e:370:7334"),
];

fn message() -> String {
    let mut s = String::from("Customer record — 客户");
    for (label, v) in SAMPLES {
        s.push_str(&format!(" {label}: {v};"));
    }
    s.push_str(" Order 123456789 placed 2024-01-15T10:30:00Z, id 550e8400-e29b-41d4-a716-446655440000, v1.2.3.");
    s
}

fn start(pii_config: Option<&str>) -> (FakeProvider, Envoy) {
    let fake = FakeProvider::start().expect("fake provider");
    let mut yaml = envoy::shipped_config();
    if let Some(c) = pii_config {
        yaml = envoy::with_filter_config(&yaml, "tollgate.pii", c);
    }
    let envoy = Envoy::start(&yaml, fake.addr().port(), 2);
    (fake, envoy)
}

fn assert_no_original_reached(fake: &FakeProvider) {
    let reqs = fake.requests();
    assert!(!reqs.is_empty(), "nothing reached the provider");
    for r in &reqs {
        for (label, v) in SAMPLES {
            assert!(
                !r.body.contains(v),
                "{label} value {v} reached the provider: {}",
                r.body
            );
        }
        // Hard negatives stay untouched.
        for keep in [
            "Order 123456789",
            "2024-01-15T10:30:00Z",
            "550e8400-e29b-41d4-a716-446655440000",
            "v1.2.3",
        ] {
            assert!(r.body.contains(keep), "{keep} was redacted: {}", r.body);
        }
    }
}

#[test]
fn no_original_reaches_the_provider_and_answers_are_restored() {
    let (fake, envoy) = start(None);
    let msg = message();
    // Chat, JSON.
    let body = json!({"model": "echo", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": msg}]});
    let r = envoy.post("/v1/chat/completions", &[], &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["choices"][0]["message"]["content"],
        msg.as_str(),
        "restore in JSON"
    );
    // The provider saw placeholders, the same value the same placeholder.
    let sent = fake.requests()[0].json()["messages"][1]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for p in [
        "<EMAIL_1>",
        "<PHONE_1>",
        "<PHONE_2>",
        "<CREDIT_CARD_1>",
        "<SSN_1>",
        "<IBAN_1>",
        "<IP_ADDRESS_2>",
    ] {
        assert!(sent.contains(p), "{p} missing in {sent}");
    }
    // Chat, streamed; Responses, JSON and streamed; Anthropic, streamed.
    let stream =
        json!({"model": "echo", "stream": true, "messages": [{"role": "user", "content": msg}]});
    let r = envoy.post("/v1/chat/completions", &[], &stream);
    assert_eq!(
        sse_text(&r.text(), "/choices/0/delta/content"),
        msg,
        "restore in chat SSE"
    );
    let resp = json!({"model": "echo", "input": msg});
    let r = envoy.post("/v1/responses", &[], &resp);
    assert_eq!(
        r.json()["output"][0]["content"][0]["text"],
        msg.as_str(),
        "restore in responses JSON"
    );
    let resp = json!({"model": "echo", "input": msg, "stream": true});
    let r = envoy.post("/v1/responses", &[], &resp);
    assert_eq!(
        sse_text(&r.text(), "/delta"),
        msg,
        "restore in responses SSE deltas"
    );
    assert!(
        r.text()
            .contains(&serde_json::to_string(&msg).unwrap_or_default()),
        "restore in the completed response"
    );
    let anth = json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "stream": true, "messages": [{"role": "user", "content": msg}]});
    let r = envoy.post("/v1/messages", &[], &anth);
    assert_eq!(
        sse_text(&r.text(), "/delta/text"),
        msg,
        "restore in Anthropic SSE"
    );
    assert_no_original_reached(&fake);
    // Audit: counts per label and action, never values.
    let log = envoy.wait_access_log(5);
    assert_eq!(log.len(), 5);
    let first = log[0]["pii_request"].as_str().unwrap_or_default();
    assert_eq!(
        first,
        "CREDIT_CARD:placeholder=2,EMAIL:placeholder=1,IBAN:placeholder=1,IP_ADDRESS:placeholder=2,PHONE:placeholder=2,SSN:placeholder=1"
    );
    for line in &log {
        let text = line.to_string();
        assert!(
            !SAMPLES.iter().any(|(_, v)| text.contains(v)),
            "a value reached the access log: {text}"
        );
    }
    let labels = [
        ("label", "EMAIL"),
        ("action", "placeholder"),
        ("direction", "request"),
    ];
    assert_eq!(
        envoy.wait_metric("tollgate_pii_findings_total", &labels, 5.0),
        5.0
    );
}

#[test]
fn restore_survives_every_chunk_split_from_1_to_16_bytes() {
    let (fake, envoy) = start(None);
    let msg = "Mail jane.doe@example.com or call (415) 555-2671; card 4111 1111 1111 1111.";
    let envoy = &envoy;
    std::thread::scope(|s| {
        for size in 1..=16 {
            s.spawn(move || {
                let size_s = size.to_string();
                let hdrs = [("x-fake-chunk-size", size_s.as_str()), ("x-fake-chunk-delay-ms", "1")];
                let chat = json!({"model": "echo", "stream": true, "messages": [{"role": "user", "content": msg}]});
                let r = envoy.post("/v1/chat/completions", &hdrs, &chat);
                assert_eq!(sse_text(&r.text(), "/choices/0/delta/content"), msg, "chat split {size}");
                assert!(r.text().ends_with("data: [DONE]\n\n"), "split {size}");
                let chat = json!({"model": "echo", "messages": [{"role": "user", "content": msg}]});
                let r = envoy.post("/v1/chat/completions", &hdrs, &chat);
                assert_eq!(r.json()["choices"][0]["message"]["content"], msg, "json split {size}");
                let gem = json!({"contents": [{"role": "user", "parts": [{"text": msg}]}]});
                let r = envoy.post("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", &hdrs, &gem);
                assert_eq!(sse_text(&r.text(), "/candidates/0/content/parts/0/text"), msg, "gemini split {size}");
            });
        }
    });
    for r in fake.requests() {
        for v in ["jane.doe@example.com", "555-2671", "4111 1111"] {
            assert!(!r.body.contains(v), "{v} reached the provider");
        }
    }
}

#[test]
fn block_answers_400_naming_labels_and_the_provider_gets_nothing() {
    let (fake, envoy) = start(None);
    let secret = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789";
    let body = json!({"model": "echo", "messages": [{"role": "user", "content": format!("my key is {secret}")}]});
    let r = envoy.post("/v1/chat/completions", &[], &body);
    assert_eq!(r.status, 400);
    let e = r.json();
    assert_eq!(e["error"]["code"], "pii_blocked");
    assert_eq!(e["error"]["type"], "invalid_request_error");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("SECRET"));
    assert!(
        !r.text().contains(secret),
        "the value was echoed in the error"
    );
    // A body that is not JSON cannot be inspected: refused too (non_json_body: block).
    let r = tollgate_e2e::http::request(
        envoy.addr,
        "POST",
        "/v1/chat/completions",
        &[
            ("content-type", "application/json"),
            ("authorization", &envoy::bearer("tester")),
        ],
        b"not json",
    )
    .expect("request");
    assert_eq!(r.status, 400);
    assert!(
        fake.requests().is_empty(),
        "a blocked request reached the provider"
    );
    let log = envoy.wait_access_log(2);
    assert_eq!(log[0]["pii_request"], "SECRET:block=1");
    assert_eq!(log[0]["rejected_by"], "pii");
}

#[test]
fn pii_the_model_invents_is_masked() {
    let (_fake, envoy) = start(None);
    let invented = "Sure! Reach Bob at bob.smith@evil-corp.com or 415-555-0199, SSN 078-05-1120.";
    let hdrs = [("x-fake-reply", invented)];
    let body = json!({"model": "echo", "messages": [{"role": "user", "content": "who?"}]});
    let r = envoy.post("/v1/chat/completions", &hdrs, &body);
    let text = r.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        text,
        "Sure! Reach Bob at ***.*****@****-****.com or ***-***-0199, SSN ***-**-1120."
    );
    let stream =
        json!({"model": "echo", "stream": true, "messages": [{"role": "user", "content": "who?"}]});
    for size in ["3", "11"] {
        let r = envoy.post(
            "/v1/chat/completions",
            &[
                hdrs[0],
                ("x-fake-chunk-size", size),
                ("x-fake-chunk-delay-ms", "1"),
            ],
            &stream,
        );
        assert_eq!(
            sse_text(&r.text(), "/choices/0/delta/content"),
            text,
            "stream split {size}"
        );
    }
    let log = envoy.wait_access_log(3);
    assert_eq!(
        log[0]["pii_response"],
        "EMAIL:mask=1,PHONE:mask=1,SSN:mask=1"
    );
}

#[test]
fn actions_mask_hash_log_only_and_custom_detectors() {
    let cfg = r#"{
        "actions": {"CREDIT_CARD": "mask", "EMAIL": "hash", "PHONE": "log_only"},
        "hash_salt": "0123456789abcdef-test-salt",
        "custom": [{"label": "EMPLOYEE_ID", "regex": "EMP-[0-9]{6}"}],
        "dictionaries": [{"label": "PROJECT", "terms": ["Project Falcon"]}],
        "scan_output": false
    }"#;
    let (fake, envoy) = start(Some(cfg));
    let msg = "EMP-123456 on project falcon paid with 4111 1111 1111 1111, mail a@b.io, call 415-555-2671";
    let body = json!({"model": "echo", "messages": [{"role": "user", "content": msg}]});
    let r = envoy.post("/v1/chat/completions", &[], &body);
    assert_eq!(r.status, 200);
    let sent = fake.requests()[0].json()["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        sent.starts_with(
            "<EMPLOYEE_ID_1> on <PROJECT_1> paid with **** **** **** 1111, mail <EMAIL:"
        ),
        "{sent}"
    );
    assert!(
        sent.ends_with("call 415-555-2671"),
        "log_only must not change the text: {sent}"
    );
    // Placeholders come back, masks and hashes do not.
    let answer = r.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        answer.starts_with("EMP-123456 on project falcon paid with **** **** **** 1111"),
        "{answer}"
    );
}

#[test]
fn bad_pii_config_is_refused_naming_the_field() {
    let fake = FakeProvider::start().expect("fake");
    for (cfg, field) in [
        (r#"{"detectors": ["email", "passport"]}"#, "detectors[1]"),
        (
            r#"{"custom": [{"label": "X", "regex": "(unclosed"}]}"#,
            "custom[0].regex",
        ),
        (r#"{"actions": {"EMAIL": "hash"}}"#, "hash_salt"),
    ] {
        envoy::assert_config_refused("tollgate.pii", cfg, field, fake.addr().port());
    }
}

/// Every field a provider reads is scanned, including those no walker used to list; the answer gets
/// the originals back.
#[test]
fn pii_in_any_field_is_redacted_and_restored() {
    let (fake, envoy) = start(None);
    let e = |tag: &str| format!("{tag}.leak@example.com");
    let chat = json!({
        "model": "echo", "user": e("user"), "metadata": {"ticket": e("metadata")},
        "prediction": {"type": "content", "content": e("prediction")},
        "tools": [{"type": "function", "function": {"name": "lookup", "description": e("description"),
            "parameters": {"type": "object", "properties": {"who": {"type": "string",
                "default": e("default"), "enum": [e("enum")]}}}}}],
        "messages": [
            {"role": "system", "name": e("name"), "content": "You help."},
            {"role": "assistant", "content": null,
             "function_call": {"name": "lookup", "arguments": format!("{{\"who\":\"{}\"}}", e("function-call"))}},
            {"role": "function", "name": "lookup", "content": "ok"},
            {"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": format!("https://img.example/?u={}", e("image-url"))}},
                {"type": "file", "file": {"filename": format!("{}.pdf", e("filename")), "file_data": "data:application/pdf;base64,JVBERi0="}},
                {"type": "text", "text": format!("Reply to {}", e("echo"))}]}
        ]
    });
    let r = envoy.post("/v1/chat/completions", &[], &chat);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains(&e("echo")), "not restored: {}", r.text());
    let responses = json!({"model": "echo", "input": [{"role": "user", "content": [
        {"type": "input_image", "image_url": format!("https://img.example/{}", e("input-image"))},
        {"type": "input_text", "text": "hi"}]}]});
    assert_eq!(envoy.post("/v1/responses", &[], &responses).status, 200);
    let gemini = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"who": e("function-args")}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"r": e("function-response")}}}]}]});
    envoy.post(
        "/v1beta/models/gemini-2.5-flash:generateContent",
        &[],
        &gemini,
    );
    let anthropic = json!({"model": "claude-sonnet-4-5", "max_tokens": 20, "messages": [
        {"role": "user", "content": [{"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": e("document")}}]},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": e("thinking"), "signature": "sig"}]},
        {"role": "user", "content": "hi"}]});
    envoy.post(
        "/v1/messages",
        &[("anthropic-version", "2023-06-01")],
        &anthropic,
    );
    // `messages` as a string: not the API's shape, but scanned all the same (the provider judges it).
    let stringly = json!({"model": "echo", "messages": format!("hello {}", e("string-messages"))});
    envoy.post("/v1/chat/completions", &[], &stringly);

    let reqs = fake.requests();
    assert!(
        reqs.len() >= 4,
        "{} requests reached the provider",
        reqs.len()
    );
    let all: String = reqs.iter().map(|q| q.body.clone()).collect();
    for tag in [
        "user",
        "metadata",
        "prediction",
        "description",
        "default",
        "enum",
        "name",
        "function-call",
        "image-url",
        "filename",
        "echo",
        "input-image",
        "function-args",
        "function-response",
        "document",
        "thinking",
        "string-messages",
    ] {
        assert!(!all.contains(&e(tag)), "{tag} reached the provider");
    }
    // Media stays untouched; so does what is not text.
    assert!(all.contains("data:application/pdf;base64,JVBERi0="));
    assert!(all.contains("\"signature\":\"sig\""));
}

/// Bodies that cannot be judged are refused before any provider hears of them.
#[test]
fn duplicate_keys_arrays_scalars_and_non_utf8_bodies_are_refused() {
    let (fake, envoy) = start(None);
    let auth = envoy::bearer("tester");
    for (body, code) in [
        (&br#"{"model":"echo","messages":[{"role":"user","content":"a@example.com"}],"messages":[{"role":"user","content":"clean"}]}"#[..], "duplicate_key"),
        (br#"{"model":"echo","messages":[{"role":"user","content":"a@example.com","content":"clean"}]}"#, "duplicate_key"),
        (br#"[{"model":"echo","messages":[{"role":"user","content":"hi"}]}]"#, "invalid_request_body"),
        (br#""hello""#, "invalid_request_body"),
        (b"{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"caf\xe9\"}]}", "invalid_request_body"),
    ] {
        let r = tollgate_e2e::http::request(
            envoy.addr,
            "POST",
            "/v1/chat/completions",
            &[("content-type", "application/json"), ("authorization", &auth)],
            body,
        )
        .expect("request");
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(body));
        assert_eq!(r.json()["error"]["code"], code, "{}", r.text());
        assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    }
    assert!(
        fake.requests().is_empty(),
        "a refused body reached the provider"
    );
}

/// Per (choice, field) texts a client accumulates from a chat stream, the order of finish events,
/// and whether any text came for a choice after its `finish_reason`.
fn accumulate_chat_stream(body: &str) -> (std::collections::BTreeMap<(u64, String), String>, bool) {
    let mut acc = std::collections::BTreeMap::new();
    let mut finished: Vec<u64> = Vec::new();
    let mut late = false;
    for e in body.split("\n\n") {
        let Some(v) = e
            .strip_prefix("data: ")
            .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        else {
            continue;
        };
        for c in v["choices"].as_array().into_iter().flatten() {
            let i = c["index"].as_u64().expect("choice index");
            let d = &c["delta"];
            let mut add = |k: String, t: &str| {
                late |= !t.is_empty() && finished.contains(&i);
                acc.entry((i, k)).or_insert_with(String::new).push_str(t);
            };
            if let Some(t) = d["content"].as_str() {
                add("content".into(), t);
            }
            for tc in d["tool_calls"].as_array().into_iter().flatten() {
                let k = tc["index"].as_u64().expect("tool call index");
                if let Some(id) = tc["id"].as_str() {
                    add(format!("id{k}"), id);
                }
                if let Some(n) = tc["function"]["name"].as_str() {
                    add(format!("name{k}"), n);
                }
                if let Some(t) = tc["function"]["arguments"].as_str() {
                    add(format!("args{k}"), t);
                }
            }
            if !c["finish_reason"].is_null() {
                finished.push(i);
            }
        }
    }
    (acc, late)
}

#[test]
fn streamed_tool_calls_and_choices_arrive_intact_with_output_scanning_on() {
    // The shipped config scans output (hold-back per channel) and restores placeholders.
    let (fake, envoy) = start(None);
    let email = "jane.doe@example.com";
    let prompt = format!("Mail {email} the weekly report, then check the weather in Paris please.");
    // The provider sees <EMAIL_1>; it answers with text and two parallel tool calls that use it.
    let calls = json!([
        {"name": "send_mail", "arguments": "{\"to\":\"<EMAIL_1>\",\"subject\":\"Weekly report\",\"body\":\"Attached.\"}"},
        {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"unit\":\"celsius\"}"}
    ]);
    let tools = json!([
        {"type": "function", "function": {"name": "send_mail", "parameters": {"type": "object", "properties": {"to": {"type": "string"}}}}},
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
    ]);
    for chunk in ["7", "64", "100000"] {
        fake.clear();
        let body = json!({"model": "echo", "stream": true, "n": 2, "tools": tools,
            "messages": [{"role": "user", "content": prompt}]});
        let calls_h = calls.to_string();
        let r = envoy.post(
            "/v1/chat/completions",
            &[
                ("x-fake-tool-calls", calls_h.as_str()),
                ("x-fake-chunk-size", chunk),
            ],
            &body,
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let sent = fake.requests()[0].json();
        let seen = sent["messages"][0]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            !seen.contains(email) && seen.contains("<EMAIL_1>"),
            "{seen}"
        );
        let (acc, late) = accumulate_chat_stream(&r.text());
        let get = |i: u64, k: &str| acc.get(&(i, k.to_owned())).cloned().unwrap_or_default();
        // Each channel carries exactly what the provider streamed on it, placeholders restored.
        assert_eq!(get(0, "content"), prompt, "chunk {chunk}");
        assert_eq!(
            get(1, "content"),
            format!("{prompt} (choice 1)"),
            "chunk {chunk}"
        );
        assert_eq!(
            get(0, "args0"),
            format!("{{\"to\":\"{email}\",\"subject\":\"Weekly report\",\"body\":\"Attached.\"}}"),
            "chunk {chunk}"
        );
        assert_eq!(
            get(0, "args1"),
            r#"{"city":"Paris","unit":"celsius"}"#,
            "chunk {chunk}"
        );
        assert_eq!(
            (get(0, "id0"), get(0, "id1")),
            ("call_0".into(), "call_1".into())
        );
        assert_eq!(
            (get(0, "name0"), get(0, "name1")),
            ("send_mail".into(), "get_weather".into())
        );
        assert!(acc.keys().all(|(i, _)| *i < 2), "{acc:?}");
        assert!(
            !late,
            "text arrived after its choice's finish_reason (chunk {chunk})"
        );
        let args: serde_json::Value =
            serde_json::from_str(&get(0, "args0")).expect("valid JSON arguments");
        assert_eq!(args["to"], email);
        assert!(r.text().ends_with("data: [DONE]\n\n"));
    }
}

#[test]
fn a_placeholder_the_client_typed_comes_back_as_typed() {
    let (fake, envoy) = start(None);
    let text = "Please repeat <EMAIL_1> verbatim; my address is jane.doe@example.com.";
    for stream in [false, true] {
        fake.clear();
        let body = json!({"model": "echo", "stream": stream, "messages": [{"role": "user", "content": text}]});
        let r = envoy.post("/v1/chat/completions", &[], &body);
        assert_eq!(r.status, 200, "{}", r.text());
        let sent = fake.requests()[0].json()["messages"][0]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(!sent.contains("jane.doe@example.com"), "{sent}");
        assert!(
            sent.contains("<EMAIL_1> verbatim") && sent.contains("is <EMAIL_2>."),
            "{sent}"
        );
        let got = if stream {
            sse_text(&r.text(), "/choices/0/delta/content")
        } else {
            r.json()["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(got, text, "stream {stream}");
    }
}

#[test]
fn output_the_scan_cannot_read_is_counted_and_blocked_when_configured() {
    // Default: passed untouched, counted.
    let (_fake, envoy) = start(None);
    let body = json!({"model": "echo", "messages": [{"role": "user", "content": "hello there"}]});
    let r = envoy.post("/v1/chat/completions", &[("x-fake-malformed", "1")], &body);
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with("{\"id\": \"broken\""), "{}", r.text());
    let labels = [("reason", "not_json")];
    assert_eq!(
        envoy.wait_metric("tollgate_pii_unscanned_output_total", &labels, 1.0),
        1.0
    );
    drop(envoy);

    // `block`: the unreadable answer becomes a 502 error; an unreadable event an SSE comment.
    let (_fake, envoy) = start(Some(r#"{"unscanned_output":"block"}"#));
    let r = envoy.post("/v1/chat/completions", &[("x-fake-malformed", "1")], &body);
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(
        r.json()["error"]["code"],
        "unscanned_output",
        "{}",
        r.text()
    );
    let mut stream = body.clone();
    stream["stream"] = json!(true);
    let r = envoy.post(
        "/v1/chat/completions",
        &[("x-fake-malformed", "1")],
        &stream,
    );
    assert_eq!(r.status, 200);
    let t = r.text();
    assert!(!t.contains("broken"), "{t}");
    assert!(t.contains(": tollgate withheld an event"), "{t}");
    assert_eq!(sse_text(&t, "/choices/0/delta/content"), "hello there");
    let labels = [("reason", "not_json_event")];
    assert_eq!(
        envoy.wait_metric("tollgate_pii_unscanned_output_total", &labels, 1.0),
        1.0
    );
}
