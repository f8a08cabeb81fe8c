//! The trust boundary, end to end through a real Envoy: who the client is comes only from Envoy's
//! authentication, only LLM operations reach a provider, Tollgate's headers are its own, hostile header
//! bytes never trap a VM, trailers cannot skip a policy, and provider keys stay where they are injected.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use tollgate_e2e::envoy::{self, bearer, repo_root, Envoy, Files};
use tollgate_e2e::fake::{FakeProvider, Flavor, Knobs};
use tollgate_e2e::http::{self, Response};

const DEMO_FINANCE: &str = "sk-tollgate-demo-finance-forecasting";

fn chat_body(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// Sends raw bytes as one HTTP/1.1 request and returns the status code (0 if there was no answer).
fn raw(addr: SocketAddr, request: &[u8]) -> u16 {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
    if s.write_all(request).is_err() {
        return 0;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn raw_post(path: &[u8], headers: &[(&[u8], &[u8])], body: &[u8]) -> Vec<u8> {
    let mut r = b"POST ".to_vec();
    r.extend_from_slice(path);
    r.extend_from_slice(b" HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n");
    for (k, v) in headers {
        r.extend_from_slice(k);
        r.extend_from_slice(b": ");
        r.extend_from_slice(v);
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    r.extend_from_slice(body);
    r
}

/// Connections accepted so far by each of the two workers on the gateway's listener.
fn worker_connections(envoy: &Envoy) -> [u64; 2] {
    let stats = http::get(envoy.admin, "/stats")
        .map(|r| r.text())
        .unwrap_or_default();
    let mut out = [0u64; 2];
    for line in stats
        .lines()
        .filter(|l| l.starts_with("listener.127.0.0.1_"))
    {
        for (w, slot) in out.iter_mut().enumerate() {
            let key = format!(".worker_{w}.downstream_cx_total: ");
            if let Some((_, v)) = line.split_once(&key) {
                *slot += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    out
}

fn assert_no_vm_failure(envoy: &Envoy) {
    let log = envoy.log();
    for bad in ["RuntimeError", "unreachable", "panic", "Wasm VM failed"] {
        assert!(!log.contains(bad), "Envoy log shows `{bad}`:\n{log}");
    }
}

#[test]
fn hostile_header_bytes_never_trap_a_vm() {
    let fake = FakeProvider::start().expect("fake");
    let envoy = Envoy::start_shipped(fake.addr().port());
    let auth = bearer("tester");
    let body = chat_body("echo", "hello").to_string();
    let latin1: &[u8] = b"caf\xe9 \x80\xff";
    // Every header a filter reads (and the credential headers), one at a time, many times over so
    // that both workers see them.
    let names: [&[u8]; 10] = [
        b"x-client-id",
        b"client_id",
        b"content-type",
        b"x-tollgate-route",
        b"x-tollgate-provider",
        b"accept-encoding",
        b"x-request-id",
        b"openai-organization",
        b"x-fake-reply",
        b"x-anything",
    ];
    for round in 0..3 {
        for name in names {
            let req = raw_post(
                b"/v1/chat/completions",
                &[(b"authorization", auth.as_bytes()), (name, latin1)],
                body.as_bytes(),
            );
            let status = raw(envoy.addr, &req);
            assert!(
                status != 0,
                "no answer for a Latin-1 {name:?} (round {round})"
            );
        }
        // A Latin-1 secret and a Latin-1 path.
        let req = raw_post(
            b"/v1/chat/completions",
            &[(b"authorization", b"Bearer \xe9\xff")],
            body.as_bytes(),
        );
        assert_eq!(raw(envoy.addr, &req), 401);
        let req = raw_post(
            b"/v1/chat/completions\xe9",
            &[(b"authorization", auth.as_bytes())],
            body.as_bytes(),
        );
        assert_ne!(raw(envoy.addr, &req), 0);
        // Provider answers with Latin-1 header values (read on the way back by every filter); this
        // harness's own client refuses such headers, so the raw one reads the status.
        for model in ["echo", "gemini/gemini-2.5-flash"] {
            let body = chat_body(model, "hostile provider").to_string();
            let req = raw_post(
                b"/v1/chat/completions",
                &[
                    (b"authorization", auth.as_bytes()),
                    (b"x-fake-hostile-headers", b"1"),
                ],
                body.as_bytes(),
            );
            assert_eq!(raw(envoy.addr, &req), 200, "{model}");
        }
    }
    // Then ordinary requests are all served, on fresh connections spread over both workers: each
    // worker's listener count grows, and every answer is a 200.
    let before = worker_connections(&envoy);
    for i in 0..20 {
        let r = envoy.post(
            "/v1/chat/completions",
            &[],
            &chat_body("echo", &format!("ok {i}")),
        );
        assert_eq!(
            r.status,
            200,
            "request {i} after hostile bytes: {}",
            r.text()
        );
    }
    let after = worker_connections(&envoy);
    for w in 0..2 {
        assert!(
            after[w] > before[w],
            "worker {w} served nothing: {before:?} -> {after:?}"
        );
    }
    assert_no_vm_failure(&envoy);
}

#[test]
fn clients_authenticate_the_envoy_way() {
    let fake = FakeProvider::start().expect("fake");
    let envoy = Envoy::start_shipped(fake.addr().port());
    let body = chat_body("echo", "who am I");
    let send = |headers: &[(&str, &str)], path: &str| -> Response {
        let mut h = vec![("content-type", "application/json")];
        h.extend_from_slice(headers);
        http::request(envoy.addr, "POST", path, &h, body.to_string().as_bytes()).expect("request")
    };
    // No credential, a wrong one: 401 in OpenAI's shape, nothing upstream.
    for headers in [
        vec![],
        vec![("authorization", "Bearer nope")],
        vec![("x-api-key", "nope")],
        vec![("x-client-id", "finance-forecasting-agent")],
    ] {
        let r = send(&headers, "/v1/chat/completions");
        assert_eq!(r.status, 401, "{headers:?}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.json()["error"]["code"], "invalid_api_key", "{}", r.text());
        assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    }
    assert!(
        fake.requests().is_empty(),
        "an unauthenticated request reached the provider"
    );

    // Where the SDKs put their key: Bearer (OpenAI), x-api-key (Anthropic); and the seed's pair under
    // the base path. A forged x-client-id changes nothing: the credential decides.
    let bearer_demo = format!("Bearer {DEMO_FINANCE}");
    let forged = ("x-client-id", "support-chatbot");
    assert_eq!(
        send(
            &[("authorization", &bearer_demo), forged],
            "/v1/chat/completions"
        )
        .status,
        200
    );
    assert_eq!(
        send(
            &[("x-api-key", DEMO_FINANCE), forged],
            "/v1/chat/completions"
        )
        .status,
        200
    );
    let seed = [
        ("client_id", "finance-forecasting-agent"),
        ("client_secret", DEMO_FINANCE),
        forged,
    ];
    let r = send(&seed, "/llm-proxy/v1/chat/completions");
    assert_eq!(r.status, 200, "{}", r.text());
    // The id must be the secret's client.
    let r = send(
        &[
            ("client_id", "support-chatbot"),
            ("client_secret", DEMO_FINANCE),
        ],
        "/llm-proxy/v1/chat/completions",
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], "invalid_api_key");

    let reqs = fake.requests();
    assert_eq!(
        reqs.len(),
        3,
        "exactly the three authenticated requests went upstream"
    );
    for q in &reqs {
        assert_eq!(q.path, "/v1/chat/completions", "base path stripped");
        for h in [
            "authorization",
            "x-api-key",
            "client_id",
            "client_secret",
            "x-client-id",
        ] {
            let v = q.headers.get(h).map(String::as_str);
            assert!(
                v.is_none_or(|v| !v.contains(DEMO_FINANCE) && !v.contains("support")),
                "{h}: {v:?}"
            );
        }
        assert!(
            !q.headers.keys().any(|k| k.starts_with("x-tollgate-")),
            "{:?}",
            q.headers
        );
    }
    // Access log, stats and the rate-limit key carry the authenticated id.
    let log = envoy.wait_access_log(8);
    let ok: Vec<&Value> = log.iter().filter(|l| l["status"] == 200).collect();
    assert_eq!(ok.len(), 3);
    for l in &ok {
        assert_eq!(l["client"], "finance-forecasting-agent");
        assert_eq!(l["group"], "Finance");
    }
    assert!(
        envoy.wait_metric(
            "tollgate_requests_total",
            &[("client", "finance-forecasting-agent")],
            3.0
        ) >= 3.0
    );
    assert_eq!(
        envoy.metric("tollgate_requests_total", &[("client", "support-chatbot")]),
        0.0
    );
    // One budget: the three requests were charged to the same key (remaining falls each time).
    let a = send(&[("authorization", &bearer_demo)], "/v1/chat/completions");
    let b = send(
        &[("authorization", &bearer_demo), forged],
        "/v1/chat/completions",
    );
    let rem = |r: &Response| -> u64 {
        r.header("x-ratelimit-remaining-tokens")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    assert!(
        rem(&b) < rem(&a),
        "the forged id did not get a fresh budget"
    );
}

#[test]
fn revoking_a_client_takes_effect_without_a_restart() {
    let fake = FakeProvider::start().expect("fake");
    let envoy = Envoy::start_shipped(fake.addr().port());
    let body = chat_body("echo", "hi");
    assert_eq!(envoy.post("/v1/chat/completions", &[], &body).status, 200);
    // Remove `tester` with an atomic replace, as README says.
    let without = envoy::test_clients_file().replace(
        &format!(
            "    - {{ key: {}, client: tester }}\n",
            envoy::client_secret("tester")
        ),
        "",
    );
    let tmp = envoy.dir().join("clients.yaml.new");
    std::fs::write(&tmp, without).expect("write");
    std::fs::rename(&tmp, envoy.clients_path()).expect("rename");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut status = 200;
    while Instant::now() < deadline && status != 401 {
        std::thread::sleep(Duration::from_millis(200));
        status = envoy.post("/v1/chat/completions", &[], &body).status;
    }
    assert_eq!(status, 401, "the revoked client still gets through");
    let alice = bearer("alice");
    assert_eq!(
        envoy
            .post("/v1/chat/completions", &[("authorization", &alice)], &body)
            .status,
        200
    );
}

#[test]
fn jwt_is_the_alternative_for_companies_with_an_idp() {
    let token = |sub: &str, secret: &str| -> String {
        envoy::run_python("examples/jwt/make_token.py", &[sub, secret])
            .trim()
            .to_owned()
    };
    let clients = std::fs::read_to_string(repo_root().join("examples/jwt/clients.yaml"))
        .expect("jwt example");
    let fake = FakeProvider::start().expect("fake");
    let files = Files {
        clients: Some(clients),
        ..Files::default()
    };
    let ports: Vec<(u16, u16)> = envoy::SHIPPED_PORTS
        .iter()
        .map(|p| (*p, fake.addr().port()))
        .collect();
    let envoy =
        Envoy::try_start_files(&envoy::shipped_config(), &ports, 2, None, &files).expect("envoy");
    let good = format!(
        "Bearer {}",
        token("finance-forecasting-agent", "tollgate-demo-jwt-secret")
    );
    let forged = format!(
        "Bearer {}",
        token("finance-forecasting-agent", "someone-elses-secret")
    );
    let body = chat_body("echo", "jwt");
    let r = envoy.post(
        "/v1/chat/completions",
        &[("authorization", &good), ("x-client-id", "x")],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = envoy.post("/v1/chat/completions", &[("authorization", &forged)], &body);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], "invalid_api_key");
    let log = envoy.wait_access_log(2);
    assert_eq!(
        log.iter()
            .filter(|l| l["client"] == "finance-forecasting-agent")
            .count(),
        1
    );
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn only_llm_operations_reach_a_provider_and_tollgate_headers_are_its_own() {
    let fake = FakeProvider::start().expect("fake");
    let envoy = Envoy::start_shipped(fake.addr().port());
    let auth = bearer("tester");
    for (method, path, want) in [
        ("GET", "/v1/files", 404),
        ("DELETE", "/v1/files/file-1", 404),
        ("POST", "/v1/batches", 404),
        ("POST", "/v1/fine_tuning/jobs", 404),
        ("GET", "/admin", 404),
        ("POST", "/v1/chat/completions/extra", 404),
        ("GET", "/v1/chat/completions", 405),
        ("DELETE", "/v1/responses", 405),
        ("POST", "/v1/models", 405),
    ] {
        let r = http::request(envoy.addr, method, path, &[("authorization", &auth)], b"{}")
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert_eq!(r.status, want, "{method} {path}: {}", r.text());
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "{method} {path}"
        );
        assert!(
            r.json()["error"]["message"].is_string(),
            "{method} {path}: {}",
            r.text()
        );
    }
    // An LLM request without a model, with a non-string or a duplicate model: the router answers.
    for body in [
        r#"{"messages":[{"role":"user","content":"hi"}]}"#,
        r#"{"model":7,"messages":[]}"#,
        r#"{"model":"echo","model":"gpt-5.2","messages":[{"role":"user","content":"hi"}]}"#,
    ] {
        let r = http::request(
            envoy.addr,
            "POST",
            "/v1/chat/completions",
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            body.as_bytes(),
        )
        .expect("request");
        assert_eq!(r.status, 400, "{body}: {}", r.text());
    }
    // Under an unknown prefix an LLM path is still refused locally (by the router or the route table).
    let r = http::request(
        envoy.addr,
        "POST",
        "/anything/v1/chat/completions",
        &[("authorization", &auth)],
        b"{}",
    )
    .expect("request");
    assert!(matches!(r.status, 400 | 404), "{}", r.text());
    assert!(
        fake.requests().is_empty(),
        "a non-LLM request reached the provider"
    );

    // Client-sent route and provider headers change nothing.
    let r = envoy.post(
        "/v1/chat/completions",
        &[("x-tollgate-route", "b"), ("x-tollgate-provider", "openai")],
        &chat_body("echo", "mine"),
    );
    assert_eq!(r.status, 200);
    let log = envoy.wait_access_log(14);
    let last = log.last().expect("log line");
    assert_eq!(last["route"], "local");
    assert_eq!(
        last["provider"], "openai",
        "usage names the provider from the API, not the header"
    );
    assert_eq!(fake.requests().len(), 1);
    let q = &fake.requests()[0];
    assert!(
        !q.headers.keys().any(|k| k.starts_with("x-tollgate-")),
        "{:?}",
        q.headers
    );
}

#[test]
fn request_trailers_run_every_policy() {
    let fake = FakeProvider::start().expect("fake");
    let envoy = Envoy::start_shipped(fake.addr().port());
    let pii = "Mail trailer.leak@example.com, SSN 123-45-6789.";
    let body = chat_body("echo", pii).to_string();

    // HTTP/2 (h2c): DATA without END_STREAM, then a trailers frame.
    let file = envoy.dir().join("body.json");
    std::fs::write(&file, &body).expect("write");
    let v = envoy::run_python_json(
        "tests/scripts/h2_trailers.py",
        &[
            "127.0.0.1".to_owned(),
            envoy.addr.port().to_string(),
            "/v1/chat/completions".to_owned(),
            file.display().to_string(),
            format!("authorization={}", bearer("tester")),
        ],
    );
    assert_eq!(v["status"], 200, "{v}");

    // HTTP/1.1 chunked with a trailer.
    let auth = bearer("tester");
    let mut req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-type: application/json\r\nauthorization: {auth}\r\ntransfer-encoding: chunked\r\ntrailer: x-trailer\r\n\r\n"
    )
    .into_bytes();
    req.extend_from_slice(
        format!("{:x}\r\n{body}\r\n0\r\nx-trailer: end\r\n\r\n", body.len()).as_bytes(),
    );
    assert_eq!(raw(envoy.addr, &req), 200);

    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2, "both requests were routed to the provider");
    for q in &reqs {
        assert!(
            !q.body.contains("trailer.leak@example.com"),
            "PII leaked: {}",
            q.body
        );
        assert!(!q.body.contains("123-45-6789"), "PII leaked: {}", q.body);
        assert_eq!(q.json()["model"], "echo");
    }
    let log = envoy.wait_access_log(2);
    assert_eq!(log.len(), 2);
    for l in &log {
        assert_eq!(l["route"], "local", "{l}");
        assert_eq!(l["ratelimit_decision"], "admitted", "{l}");
        assert!(
            l["pii_request"]
                .as_str()
                .is_some_and(|s| s.contains("EMAIL")),
            "{l}"
        );
        assert_eq!(l["client"], "tester");
        assert_eq!(l["usage_outcome"], "reported", "{l}");
        assert!(l["prompt_tokens"].as_str().is_some_and(|t| t != "0"), "{l}");
    }
}

#[test]
fn failover_carries_no_key_and_keys_never_show() {
    // The second member has no metadata, so nothing adapts its attempt: a server that needs no
    // key stands in for it.
    let secondary = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let (primary, secondary) = (
        FakeProvider::start().expect("fake"),
        FakeProvider::start_on(
            secondary,
            Knobs {
                flavor: Some(Flavor::SelfHosted),
                ..Knobs::default()
            },
        )
        .expect("fake"),
    );
    // Route b = [openai_gpt5, gemini_pro]; gemini_pro's endpoint here has no tollgate metadata.
    let shipped =
        std::fs::read_to_string(repo_root().join("envoy/clusters.yaml")).expect("clusters");
    let start = shipped.find("  name: gemini_pro").expect("gemini_pro");
    let meta = start
        + shipped[start..]
            .find("        metadata:")
            .expect("metadata");
    let end = meta + shipped[meta..].find("\n- \"@type\"").expect("next");
    let clusters = format!("{}{}", &shipped[..meta], &shipped[end + 1..]);
    let canary = "sk-canary-7f3a9b2c";
    let files = Files {
        clusters: Some(clusters),
        env: vec![("OPENAI_API_KEY".into(), canary.into())],
        ..Files::default()
    };
    let ports = [
        (18080, primary.addr().port()),
        (18081, primary.addr().port()),
        (18082, secondary.addr().port()),
    ];
    let envoy =
        Envoy::try_start_files(&envoy::shipped_config(), &ports, 2, None, &files).expect("envoy");
    let r = envoy.post(
        "/v1/chat/completions",
        &[("x-fake-status", "503")],
        &chat_body("openai/gpt-5.2", "fail over"),
    );
    assert_eq!(r.status, 503, "the secondary answers with the same knob");
    let first = primary.requests();
    assert_eq!(first.len(), 1);
    assert_eq!(
        first[0].headers.get("authorization").map(String::as_str),
        Some(&*format!("Bearer {canary}"))
    );
    let second = secondary.requests();
    assert_eq!(second.len(), 1, "the retry reached the second member");
    for h in ["authorization", "x-api-key", "api-key", "x-goog-api-key"] {
        assert!(
            !second[0].headers.contains_key(h),
            "{h} carried to a member without metadata"
        );
    }
    // And a normal answer; then the canary is nowhere the operator or the client can read.
    let ok = envoy.post(
        "/v1/chat/completions",
        &[],
        &chat_body("openai/gpt-5.2", "hello"),
    );
    envoy.wait_access_log(2);
    let mut seen = vec![r.text(), ok.text(), envoy.log(), envoy.prometheus()];
    seen.push(std::fs::read_to_string(envoy.dir().join("access.log")).unwrap_or_default());
    seen.push(
        http::get(envoy.admin, "/stats")
            .map(|r| r.text())
            .unwrap_or_default(),
    );
    seen.extend(ok.headers.iter().map(|(_, v)| v.clone()));
    for text in seen {
        assert!(!text.contains(canary), "the provider key leaked");
    }
}

#[test]
fn native_shapes_are_routed_by_model_to_their_family() {
    let fake = FakeProvider::start().expect("fake");
    let envoy = Envoy::start_shipped(fake.addr().port());
    let r = envoy.post(
        "/v1/messages",
        &[("anthropic-version", "2023-06-01")],
        &json!({"model": "claude-sonnet-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = envoy.post(
        "/v1beta/models/gemini-2.5-flash:generateContent",
        &[],
        &json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // Gemini's embedContent: routed by the model in its path; PII in it is redacted too.
    let r = envoy.post(
        "/v1beta/models/gemini-embedding-001:embedContent",
        &[],
        &json!({"content": {"parts": [{"text": "embed jane.doe@example.com"}]}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["embedding"]["values"].is_array(), "{}", r.text());
    // Gemini's native shape whose model is served by another family: refused, nothing upstream.
    let before = fake.requests().len();
    let r = envoy.post(
        "/v1beta/models/gpt-4o:generateContent",
        &[],
        &json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "unsupported_api_for_model");
    assert_eq!(fake.requests().len(), before);
    // Anthropic's Messages for a model another family serves: translated (to OpenAI chat here),
    // with that provider's key, and answered in Anthropic's shape.
    let r = envoy.post(
        "/v1/messages",
        &[],
        &json!({"model": "openai/gpt-5.2", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["type"], "message", "{}", r.text());
    assert_eq!(r.json()["content"][0]["text"], "hi", "{}", r.text());
    let reqs = fake.requests();
    assert_eq!(reqs.len(), before + 1);
    let last = &reqs[before];
    assert_eq!(last.path, "/v1/chat/completions");
    assert_eq!(last.status, 200, "{}", last.body);
    assert_eq!(
        last.headers.get("authorization").map(String::as_str),
        Some("Bearer test-openai-key")
    );
    assert!(
        !last.headers.contains_key("x-api-key") && !last.headers.contains_key("anthropic-version")
    );
    assert_eq!(reqs[0].path, "/v1/messages");
    assert_eq!(
        reqs[0].headers.get("x-api-key").map(String::as_str),
        Some("test-anthropic-key")
    );
    assert!(!reqs[0].headers.contains_key("authorization"));
    assert_eq!(
        reqs[1].path,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(
        reqs[1].headers.get("x-goog-api-key").map(String::as_str),
        Some("test-gemini-key")
    );
    assert!(
        reqs[1].json().get("model").is_none(),
        "no model added to a Gemini native body"
    );
    assert_eq!(
        reqs[2].path,
        "/v1beta/models/gemini-embedding-001:embedContent"
    );
    assert_eq!(
        reqs[2].headers.get("x-goog-api-key").map(String::as_str),
        Some("test-gemini-key")
    );
    assert!(
        !reqs[2].body.contains("jane.doe@example.com"),
        "{}",
        reqs[2].body
    );
    let log = envoy.wait_access_log(6);
    let embed = log
        .iter()
        .find(|l| l["api"] == "gemini_embed")
        .expect("embed logged");
    assert_eq!(embed["route"], "gemini");
    assert_eq!(embed["ratelimit_decision"], "admitted");
}
