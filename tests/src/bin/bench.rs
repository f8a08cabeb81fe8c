//! `make bench`: the price of each Tollgate filter against plain Envoy, side by side in one run.
//!
//! Envoy runs with `--concurrency 1` pinned to CPU 0; the load generator (wrk, one thread) and the
//! zero-latency fake provider share CPU 1, so the generator never starves Envoy on a 2-core machine.
//! Every configuration is the shipped `envoy/envoy.yaml` (same listener, routes, clusters) with
//! filters removed: none (baseline), each filter alone, all of them. Writes bench/RESULTS.md.
//! The `guard` row scans the ~1 KiB prompt (shadow mode, as shipped): its CPU µs/req minus the
//! empty pipeline's is the guard's price per KiB of new text (issue 14: ≤ 10 µs).

use serde_json::json;
use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;
use tollgate_e2e::envoy::{repo_root, shipped_config, with_filter_config, without_filter, Envoy};
use tollgate_e2e::fake::{FakeProvider, Knobs};

const FILTERS: &[&str] = &[
    "tollgate.pii",
    "tollgate.guard",
    "tollgate.router",
    "tollgate.usage",
    "tollgate.ratelimit",
];

/// Removed with the router: its per-attempt half on the routes' clusters.
const UPSTREAM: &str = "tollgate.upstream";

struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_us_per_req: f64,
    rss_mib: f64,
    non_2xx: u64,
}

fn prompt() -> String {
    // ~1 KiB of realistic text with a few PII items (redacted and restored by the PII filter).
    let para = "Summarize the key trends in our Q3 earnings call. Revenue grew 12% year over year, driven by \
        subscription renewals in EMEA and a strong quarter for the enterprise tier. Operating margin \
        improved to 18% as cloud costs fell. Contact the finance lead at maria.lopez@example.com or \
        +44 20 7946 0958 for the detailed breakdown, and flag any risk in the pipeline for Q4. ";
    let mut s = String::new();
    while s.len() < 1000 {
        s.push_str(para);
    }
    s
}

fn reply(stream: bool) -> String {
    if stream {
        // ~20 deltas of ~50 bytes each.
        (0..20)
            .map(|i| format!("segment-{i:02}-of-the-streamed-answer-lorem-ipsum-dolor"))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        "The quarter shows steady growth. ".repeat(32)
    }
}

fn wrk_script(dir: &std::path::Path, stream: bool) -> std::path::PathBuf {
    // `fast` is routed (router + per-attempt upstream adapter) when the router is on; without it the
    // request takes the default route to the same fake provider.
    let mut body = json!({"model": "fast", "messages": [{"role": "user", "content": prompt()}]});
    if stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
    }
    let lua = format!(
        "wrk.method = \"POST\"\nwrk.body = {}\nwrk.headers[\"content-type\"] = \"application/json\"\n\
         wrk.headers[\"authorization\"] = \"Bearer test-secret-bench\"\nwrk.headers[\"x-fake-reply\"] = \"{}\"\n",
        serde_json::to_string(&body.to_string()).unwrap_or_default(),
        reply(stream)
    );
    let p = dir.join(if stream { "sse.lua" } else { "json.lua" });
    let _ = std::fs::write(&p, lua);
    p
}

fn parse_latency(v: &str) -> f64 {
    let v = v.trim();
    let (num, mul) = if let Some(x) = v.strip_suffix("us") {
        (x, 0.001)
    } else if let Some(x) = v.strip_suffix("ms") {
        (x, 1.0)
    } else if let Some(x) = v.strip_suffix('s') {
        (x, 1000.0)
    } else {
        (v, 1.0)
    };
    num.parse::<f64>().unwrap_or(f64::NAN) * mul
}

fn wrk(url: &str, script: &std::path::Path, conc: u32, secs: u64) -> (f64, f64, f64, u64, String) {
    let out = Command::new("taskset")
        .args([
            "-c",
            "1",
            "wrk",
            "-t1",
            &format!("-c{conc}"),
            &format!("-d{secs}s"),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(url)
        .output();
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let mut rps = 0.0;
    let (mut p50, mut p99) = (f64::NAN, f64::NAN);
    let mut non2xx = 0;
    for line in text.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            rps = v.trim().parse().unwrap_or(0.0);
        } else if let Some(v) = t.strip_prefix("50%") {
            p50 = parse_latency(v);
        } else if let Some(v) = t.strip_prefix("99%") {
            p99 = parse_latency(v);
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            non2xx = v.trim().parse().unwrap_or(0);
        }
    }
    let total = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    let _ = total;
    (rps, p50, p99, non2xx, text)
}

fn main() {
    let secs: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    // Before pinning ourselves to one CPU (which narrows what the process sees).
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let fake = FakeProvider::start_on(
        std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}")),
        Knobs::default(),
    )
    .unwrap_or_else(|e| panic!("fake provider: {e}"));
    // Pin this process (and so the fake provider's threads) to CPU 1, with wrk.
    let _ = Command::new("taskset")
        .args(["-p", "-c", "1", &std::process::id().to_string()])
        .output();
    let full = with_filter_config(
        &shipped_config(),
        "tollgate.ratelimit",
        r#"{"limits":[{"name":"per-client","key":["header:x-client-id"],"total_tokens":1000000000000,"prompt_tokens":1000000000000}]}"#,
    );
    let strip_all = |keep: &[&str]| {
        let mut y = unrouted_to_local(&full);
        for f in FILTERS {
            if !keep.contains(f) {
                y = without_filter(&y, f);
            }
        }
        if !keep.contains(&"tollgate.router") {
            y = without_filter(&y, UPSTREAM);
        }
        y
    };
    let baseline = unrouted_to_local(&without_filter(
        &without_filter(&full, "tollgate"),
        UPSTREAM,
    ));
    let configs: Vec<(&str, String)> = vec![
        ("baseline (no wasm)", baseline),
        ("no-op wasm (empty pipeline)", strip_all(&[])),
        ("pii", strip_all(&["tollgate.pii"])),
        // Shadow mode (as shipped): scans the ~1 KiB prompt, forwards it. Minus the empty
        // pipeline's row: the guard's price per KiB of new text.
        ("guard", strip_all(&["tollgate.guard"])),
        // The same with the optional linear layer (bundled weights).
        (
            "guard + linear layer",
            tollgate_e2e::envoy::with_filter_config(
                &strip_all(&["tollgate.guard"]),
                "tollgate.guard",
                r#"{"mode":"shadow","channels":{"tool":{"mode":"flag"}},"model":{}}"#,
            ),
        ),
        ("router", strip_all(&["tollgate.router"])),
        ("usage", strip_all(&["tollgate.usage"])),
        ("ratelimit", strip_all(&["tollgate.ratelimit"])),
        ("pipeline, all policies (shipped)", full.clone()),
    ];
    let dir = std::env::temp_dir().join(format!("tollgate-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let scripts = [
        ("JSON", wrk_script(&dir, false)),
        ("SSE", wrk_script(&dir, true)),
    ];
    let port = fake.addr().port();
    let mut results: Vec<(String, String, u32, Run)> = Vec::new();
    // (row, requests, mean µs, median µs) of the guard's own scan time inside wasm.
    let mut guard_us: Vec<(String, usize, f64, f64)> = Vec::new();
    // BENCH_ROWS=baseline,pipeline runs only the rows whose name contains one of the words.
    let only: Vec<String> = std::env::var("BENCH_ROWS")
        .map(|v| v.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    for (name, yaml) in &configs {
        if !only.is_empty() && !only.iter().any(|w| name.contains(w.as_str())) {
            continue;
        }
        let ports: Vec<(u16, u16)> = tollgate_e2e::envoy::SHIPPED_PORTS
            .iter()
            .map(|p| (*p, port))
            .collect();
        let envoy = match Envoy::try_start_with(yaml, &ports, 1, Some("0")) {
            Ok(e) => e,
            Err(log) => panic!("{name}: envoy failed:\n{log}"),
        };
        let url = format!("http://{}/v1/chat/completions", envoy.addr);
        // Warm up every code path once.
        for (_, script) in &scripts {
            let _ = wrk(&url, script, 4, 1);
        }
        for (workload, script) in &scripts {
            for conc in [1u32, 16] {
                let cpu0 = envoy.cpu_us();
                let (rps, p50, p99, non2xx, raw) = wrk(&url, script, conc, secs);
                let cpu = envoy.cpu_us().saturating_sub(cpu0) as f64;
                let reqs = rps * secs as f64;
                if rps == 0.0 {
                    eprintln!("{name}/{workload}/c{conc}: wrk produced no result:\n{raw}");
                }
                let run = Run {
                    rps,
                    p50_ms: p50,
                    p99_ms: p99,
                    cpu_us_per_req: if reqs > 0.0 { cpu / reqs } else { f64::NAN },
                    rss_mib: envoy.rss_kib() as f64 / 1024.0,
                    non_2xx: non2xx,
                };
                eprintln!("{name:20} {workload:4} c={conc:2}: {rps:8.0} rps  p50 {p50:6.2} ms  p99 {p99:6.2} ms  cpu {:.0} us/req  non-2xx {non2xx}", run.cpu_us_per_req);
                results.push((name.to_string(), workload.to_string(), conc, run));
            }
        }
        // The guard's scan time per request, measured inside the VM around its inspection
        // (filter state `tollgate.guard.us`, the access log's `guard_us`; whole µs, truncated).
        let mut us: Vec<f64> = envoy
            .access_log()
            .iter()
            .filter_map(|l| l["guard_us"].as_str().and_then(|v| v.parse::<f64>().ok()))
            .collect();
        if !us.is_empty() {
            us.sort_by(f64::total_cmp);
            let mean = us.iter().sum::<f64>() / us.len() as f64;
            guard_us.push((name.to_string(), us.len(), mean, us[us.len() / 2]));
        }
        drop(envoy);
        std::thread::sleep(Duration::from_millis(300));
    }
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmark results\n");
    let _ = writeln!(md, "Command: `make bench` (= `cargo run --release -p tollgate-e2e --bin bench`, {secs} s per cell).\n");
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(str::to_owned))
        .unwrap_or_default();
    let _ = writeln!(
        md,
        "Machine: {} CPUs ({cpu}), {mem}. Envoy {} with `--concurrency 1` pinned to CPU 0; wrk (1 thread) and the \
         zero-latency fake provider pinned to CPU 1. Workloads: ~1 KiB chat prompt with two PII items, ~1 KiB JSON \
         answer; SSE: 20 deltas + usage chunk. Concurrency 1 and 16. Ratios are against the baseline of the same run.\n",
        cpus,
        Command::new(tollgate_e2e::envoy::envoy_bin())
            .arg("--version")
            .output()
            .map(|o| {
                let v = String::from_utf8_lossy(&o.stdout).into_owned();
                v.split("version:").nth(1).and_then(|x| x.trim().split('/').nth(1)).unwrap_or("?").to_owned()
            })
            .unwrap_or_default()
    );
    let _ = writeln!(md, "| config | workload | conc | req/s | × base | p50 ms | +p50 ms | p99 ms | Envoy CPU µs/req | RSS MiB | non-2xx |");
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
    for (name, wl, conc, r) in &results {
        let base = results
            .iter()
            .find(|(n, w, c, _)| n.starts_with("baseline") && w == wl && c == conc)
            .map(|x| &x.3);
        let (ratio, dp50) = base.map_or((f64::NAN, f64::NAN), |b| {
            (r.rps / b.rps, r.p50_ms - b.p50_ms)
        });
        let _ = writeln!(
            md,
            "| {name} | {wl} | {conc} | {:.0} | {ratio:.2} | {:.3} | {dp50:+.3} | {:.3} | {:.0} | {:.1} | {} |",
            r.rps, r.p50_ms, r.p99_ms, r.cpu_us_per_req, r.rss_mib, r.non_2xx
        );
    }
    if !guard_us.is_empty() {
        let kib = prompt().len() as f64 / 1024.0;
        let _ = writeln!(
            md,
            "\nGuard scan time inside wasm (issue 14: ≤ 10 µs per KiB of new text), from the access log's \
             `guard_us` (measured in the VM around the guard's inspection; whole µs, truncated) over every \
             request of the row; the prompt is {} bytes of new user text:\n",
            prompt().len()
        );
        let _ = writeln!(
            md,
            "| config | requests | mean µs/req | median µs/req | mean µs per KiB |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|");
        for (name, n, mean, median) in &guard_us {
            let _ = writeln!(
                md,
                "| {name} | {n} | {mean:.1} | {median:.0} | {:.1} |",
                mean / kib
            );
        }
    }
    let out = repo_root().join("bench/RESULTS.md");
    let _ = std::fs::create_dir_all(repo_root().join("bench"));
    let existing = std::fs::read_to_string(&out).unwrap_or_default();
    // Keep what follows the generated table: the microbenchmarks and the hand-written analysis.
    let analysis = ["<!-- microbench -->", "<!-- analysis -->"]
        .iter()
        .find_map(|m| existing.find(m).map(|i| existing[i..].to_owned()))
        .unwrap_or_default();
    let _ = std::fs::write(&out, format!("{md}\n{analysis}"));
    let _ = std::fs::remove_dir_all(&dir);
    println!("{md}");
}

/// For configurations without the router policy: LLM requests that no router placed go to the local
/// fake provider (the shipped route table answers them 503), so every row measures a proxied request.
fn unrouted_to_local(yaml: &str) -> String {
    let Some(at) = yaml.find("- name: llm_unrouted") else {
        return yaml.to_owned();
    };
    let Some(from) = yaml[at..].find("direct_response:").map(|i| at + i) else {
        return yaml.to_owned();
    };
    let end_marker = "response_headers_to_add: *json_error";
    let Some(to) = yaml[from..]
        .find(end_marker)
        .map(|i| from + i + end_marker.len())
    else {
        return yaml.to_owned();
    };
    // `local` comes from CDS: a static route may name it only without load-time validation.
    format!("{}route: {{ cluster: local, timeout: 300s }}{}", &yaml[..from], &yaml[to..]).replace(
        "            name: tollgate\n            virtual_hosts:",
        "            name: tollgate\n            validate_clusters: false\n            virtual_hosts:",
    )
}
