//! `make soak`: mixed traffic through a real Envoy (`--concurrency 2`, the shipped config) for
//! `SOAK_SECONDS` (default 600) — chat, Responses and Anthropic shapes, JSON and SSE, tool calls,
//! cut streams, client disconnects, provider 5xx/429 and slow answers, malformed bodies, hostile
//! headers, a new rate-limit key on almost every request. Reports RSS over time, p50/p99 per kind,
//! statuses by kind, and a reconciliation: every request is in the access log exactly once, and
//! each client's rate-limit counter equals the sum of what its requests were charged. Writes
//! `bench/SOAK.md`; exits non-zero if the reconciliation fails or an unexpected status appears.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tollgate_e2e::envoy::{self, repo_root, Envoy};
use tollgate_e2e::fake::FakeProvider;
use tollgate_e2e::http;

const CLIENTS: &[&str] = &["alice", "bob", "carol", "dave"];
const CAP: u64 = 1_000_000_000;

/// splitmix64: reproducible traffic from a seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Default)]
struct Stats {
    latencies: BTreeMap<&'static str, Vec<f64>>,
    statuses: BTreeMap<(&'static str, u16), u64>,
    sent: u64,
    unexpected: Vec<String>,
}

/// One request of a random kind; returns (kind, status, expected?).
fn one(envoy: &Envoy, rng: &mut Rng, n: u64) -> (&'static str, u16, bool) {
    let client = CLIENTS[rng.below(CLIENTS.len() as u64) as usize];
    let auth = envoy::bearer(client);
    let user = format!("user-{n}-{}", rng.next());
    let text = format!(
        "Request {n}: summarise the ticket from jane.doe@example.com about order {}.",
        rng.below(1_000_000)
    );
    let chat = |stream: bool| {
        json!({"model": "echo", "stream": stream,
               "messages": [{"role": "user", "content": text}]})
    };
    let mut h: Vec<(String, String)> = vec![
        ("authorization".into(), auth.clone()),
        ("x-user".into(), user),
    ];
    let post = |path: &str, h: &[(String, String)], body: &Value| {
        let hs: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        http::post_json(envoy.addr, path, &hs, body).map(|r| r.status)
    };
    let pick = rng.below(100);
    let (kind, result, ok): (&'static str, std::io::Result<u16>, &[u16]) = match pick {
        0..=24 => (
            "chat_json",
            post("/v1/chat/completions", &h, &chat(false)),
            &[200],
        ),
        25..=39 => {
            let mut b = chat(true);
            b["stream_options"] = json!({"include_usage": rng.below(2) == 0});
            ("chat_sse", post("/v1/chat/completions", &h, &b), &[200])
        }
        40..=49 => {
            let stream = rng.below(2) == 0;
            let b = json!({"model": "echo", "stream": stream, "input": text});
            ("responses", post("/v1/responses", &h, &b), &[200])
        }
        50..=57 => {
            let b = json!({"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": rng.below(2) == 0,
                           "messages": [{"role": "user", "content": text}]});
            ("anthropic", post("/v1/messages", &h, &b), &[200])
        }
        58..=65 => {
            let calls = json!([{"name": "lookup", "arguments": "{\"email\":\"<EMAIL_1>\",\"n\":1}"},
                               {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}]);
            h.push(("x-fake-tool-calls".into(), calls.to_string()));
            let mut b = chat(true);
            b["n"] = json!(1 + rng.below(2));
            (
                "tool_calls_sse",
                post("/v1/chat/completions", &h, &b),
                &[200],
            )
        }
        66..=70 => {
            h.push(("x-fake-reset".into(), "mid-body".into()));
            h.push(("x-fake-chunk-delay-ms".into(), "2".into()));
            // The status line arrived before the cut; the body is short.
            (
                "cut_stream",
                post("/v1/chat/completions", &h, &chat(true)),
                &[200],
            )
        }
        71..=75 => (
            "client_disconnect",
            disconnect(envoy, &h, &chat(true)),
            &[0],
        ),
        76..=80 => {
            let code = ["500", "503", "429"][rng.below(3) as usize];
            h.push(("x-fake-status".into(), code.into()));
            // Retried once on the same provider, then its status.
            (
                "provider_error",
                post("/v1/chat/completions", &h, &chat(false)),
                &[500, 503, 429],
            )
        }
        81..=83 => {
            h.push(("x-fake-latency-ms".into(), "1500".into()));
            (
                "slow_provider",
                post("/v1/chat/completions", &h, &chat(false)),
                &[200],
            )
        }
        84..=88 => {
            let hs: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let bodies: [&[u8]; 4] = [
                b"{\"model\":\"echo\",\"messages\":[",
                b"{\"model\":\"echo\",\"model\":\"echo\",\"messages\":[]}",
                b"[1,2,3]",
                b"{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"\xe9\"}]}",
            ];
            let b = bodies[rng.below(4) as usize];
            let r = http::request(envoy.addr, "POST", "/v1/chat/completions", &hs, b);
            ("malformed_body", r.map(|r| r.status), &[400])
        }
        89..=92 => (
            "hostile_headers",
            hostile(envoy, &auth, &chat(false)),
            &[200],
        ),
        _ => {
            // Unknown paths and methods.
            let hs: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let r = http::request(envoy.addr, "GET", "/v1/files", &hs, b"");
            ("not_llm", r.map(|r| r.status), &[404])
        }
    };
    let status = result.unwrap_or(0);
    (kind, status, ok.contains(&status))
}

/// Starts a streamed request and closes the connection after the first bytes of the answer.
fn disconnect(envoy: &Envoy, h: &[(String, String)], body: &Value) -> std::io::Result<u16> {
    let b = body.to_string();
    let mut s = TcpStream::connect(envoy.addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-fake-chunk-delay-ms: 20\r\n",
        b.len()
    );
    for (k, v) in h {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(&b);
    s.write_all(req.as_bytes())?;
    let mut buf = [0u8; 64];
    let _ = s.read(&mut buf)?;
    drop(s);
    Ok(0)
}

/// A request whose headers hold bytes 0x80–0xFF, answered by a provider that sends such headers.
fn hostile(envoy: &Envoy, auth: &str, body: &Value) -> std::io::Result<u16> {
    let b = body.to_string();
    let mut s = TcpStream::connect(envoy.addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\nauthorization: {auth}\r\nx-fake-hostile-headers: 1\r\n",
        b.len()
    )
    .into_bytes();
    req.extend_from_slice(
        b"x-user: caf\xe9\xff\r\nx-tollgate-route: \xe9\r\nx-model: \x80\x81\r\n\r\n",
    );
    req.extend_from_slice(b.as_bytes());
    s.write_all(&req)?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let line = String::from_utf8_lossy(&out);
    Ok(line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0))
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn main() {
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let fake = FakeProvider::start().expect("fake provider");
    let limits = format!(
        r#"{{"limits":[{{"name":"per-client","key":["header:x-client-id"],"window_seconds":86400,"total_tokens":{CAP}}},
            {{"name":"per-user","key":["header:x-user"],"window_seconds":60,"total_tokens":{CAP}}}],
            "missing_key":"shared","max_buckets":200000}}"#
    );
    let yaml = envoy::with_filter_config(&envoy::shipped_config(), "tollgate.ratelimit", &limits);
    let envoy = Envoy::start(&yaml, fake.addr().port(), 2);
    let stats = Mutex::new(Stats::default());
    let rss: Mutex<Vec<(u64, u64)>> = Mutex::new(Vec::new());
    let done = AtomicBool::new(false);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                if let Ok(mut r) = rss.lock() {
                    r.push((start.elapsed().as_secs(), envoy.rss_kib()));
                }
                std::thread::sleep(Duration::from_secs(10));
            }
        });
        let workers: Vec<_> = (0..6u64)
            .map(|w| {
                let (envoy, stats) = (&envoy, &stats);
                s.spawn(move || {
                    let mut rng = Rng(0x50a6 + w);
                    let mut n = w;
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let (kind, status, ok) = one(envoy, &mut rng, n);
                        let ms = t.elapsed().as_secs_f64() * 1000.0;
                        if let Ok(mut st) = stats.lock() {
                            st.sent += 1;
                            *st.statuses.entry((kind, status)).or_default() += 1;
                            if status == 200 {
                                st.latencies.entry(kind).or_default().push(ms);
                            }
                            if !ok && st.unexpected.len() < 20 {
                                st.unexpected.push(format!("{kind}: status {status}"));
                            }
                        }
                        n += 6;
                    }
                })
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
        done.store(true, Ordering::Relaxed);
    });
    let elapsed = start.elapsed().as_secs_f64();
    let mut st = stats.into_inner().unwrap_or_default();

    // Reconciliation. The access log settles a little after the last answer.
    std::thread::sleep(Duration::from_secs(3));
    let log = envoy.access_log();
    let probes: Vec<(String, u64, u64)> = CLIENTS
        .iter()
        .map(|c| {
            let auth = envoy::bearer(c);
            let r = envoy.post(
                "/v1/chat/completions",
                &[("authorization", auth.as_str()), ("x-user", "probe")],
                &json!({"model": "echo", "messages": [{"role": "user", "content": "probe"}]}),
            );
            let remaining: u64 = r
                .header("x-ratelimit-remaining-tokens")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            ((*c).to_owned(), remaining, u64::from(r.status))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let probe_log = envoy.access_log();
    let mut report = String::new();
    let mut failures = Vec::new();
    // Every request once: the log has one line per request sent (client disconnects included).
    let lines = log.len() as u64;
    if lines != st.sent {
        failures.push(format!(
            "{} requests sent, {lines} access-log lines",
            st.sent
        ));
    }
    // Rate limit: per client, what the counter holds equals the sum charged in the log.
    let charged = |l: &Value| {
        l["ratelimit_charged_tokens"]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let mut rl_rows = String::new();
    for (client, remaining, status) in &probes {
        let sum: u64 = log
            .iter()
            .filter(|l| l["client"] == client.as_str())
            .map(charged)
            .sum();
        let probe_reserved: u64 = probe_log
            .iter()
            .skip(log.len())
            .find(|l| l["client"] == client.as_str())
            .and_then(|l| l["ratelimit_prompt_estimate"].as_str())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let counter = CAP
            .saturating_sub(*remaining)
            .saturating_sub(probe_reserved);
        let _ = writeln_row(
            &mut rl_rows,
            &format!(
                "| {client} | {sum} | {counter} | {} |",
                if sum == counter { "yes" } else { "**no**" }
            ),
        );
        if sum != counter || *status != 200 {
            failures.push(format!(
                "{client}: log charged {sum}, counter {counter} (probe status {status})"
            ));
        }
    }
    let outcomes: BTreeMap<String, u64> = log.iter().fold(BTreeMap::new(), |mut m, l| {
        let k = l["usage_outcome"].as_str().unwrap_or("-").to_owned();
        *m.entry(k).or_default() += 1;
        m
    });
    report.push_str(&format!(
        "# Soak\n\nCommand: `make soak` (`SOAK_SECONDS={seconds}`), Envoy 1.40 `--concurrency 2`, shipped \
         config with two rate limits (per client, per user: a new key on almost every request), 6 \
         client threads, fake provider. {} requests in {:.0} s ({:.0} req/s).\n\n",
        st.sent,
        elapsed,
        st.sent as f64 / elapsed
    ));
    report.push_str(
        "## Latency of successful requests (ms)\n\n| kind | n | p50 | p99 |\n|---|---|---|---|\n",
    );
    for (k, v) in st.latencies.iter_mut() {
        let n = v.len();
        let (p50, p99) = (pct(v, 0.5), pct(v, 0.99));
        report.push_str(&format!("| {k} | {n} | {p50:.1} | {p99:.1} |\n"));
    }
    report.push_str("\n## Statuses by kind (0: the client closed first)\n\n| kind | status | n |\n|---|---|---|\n");
    for ((k, s), n) in &st.statuses {
        report.push_str(&format!("| {k} | {s} | {n} |\n"));
    }
    report.push_str("\n## RSS over time\n\n| s | RSS MiB |\n|---|---|\n");
    for (t, kib) in rss.into_inner().unwrap_or_default() {
        report.push_str(&format!("| {t} | {:.1} |\n", kib as f64 / 1024.0));
    }
    report.push_str(&format!(
        "\n## Reconciliation\n\n- requests sent: {}, access-log lines: {lines}\n- usage outcomes: {outcomes:?}\n\n| client | sum charged in the log | rate-limit counter | equal |\n|---|---|---|---|\n{rl_rows}",
        st.sent
    ));
    if !st.unexpected.is_empty() {
        report.push_str(&format!(
            "\nUnexpected statuses (first 20): {:?}\n",
            st.unexpected
        ));
        failures.push(format!("unexpected statuses: {:?}", st.unexpected));
    }
    report.push_str(&format!(
        "\n**Result: {}**\n",
        if failures.is_empty() {
            "pass".to_owned()
        } else {
            format!("FAIL — {failures:?}")
        }
    ));
    let path = repo_root().join("bench/SOAK.md");
    let _ = std::fs::write(&path, &report);
    println!("{report}");
    if !failures.is_empty() {
        std::process::exit(1);
    }
}

fn writeln_row(s: &mut String, row: &str) -> std::fmt::Result {
    use std::fmt::Write as _;
    writeln!(s, "{row}")
}
