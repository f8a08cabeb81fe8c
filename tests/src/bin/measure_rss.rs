//! `cargo run --release -p tollgate-e2e --bin measure-rss`
//!
//! Envoy's resident memory at `--concurrency 2` with the shipped config, without our filters, and
//! with them added one by one, after a few requests have warmed
//! every worker. Prints a Markdown table (used in README.md).

use serde_json::json;
use tollgate_e2e::envoy::{shipped_config, without_filter, Envoy};
use tollgate_e2e::fake::FakeProvider;

fn main() {
    let fake = match FakeProvider::start() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("fake provider: {e}");
            std::process::exit(1);
        }
    };
    let full = shipped_config();
    let usage_rl = without_filter(&full, "tollgate.pii");
    let usage_only = without_filter(&usage_rl, "tollgate.ratelimit");
    let none = without_filter(&usage_only, "tollgate.usage");
    println!("| Envoy config (`--concurrency 2`) | RSS (MiB) | vs. no filters |");
    println!("|---|---|---|");
    let mut base = 0.0;
    for (name, yaml) in [
        ("no Tollgate filters", &none),
        ("usage emitter", &usage_only),
        ("usage emitter + token rate limit", &usage_rl),
        ("all: PII + usage + rate limit (shipped config)", &full),
    ] {
        let mut samples = Vec::new();
        for _ in 0..3 {
            let envoy = Envoy::start(yaml, fake.addr().port(), 2);
            for i in 0..20 {
                let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": format!("warm up {i}")}]});
                envoy.post("/v1/chat/completions", &[("x-client-id", "rss")], &body);
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
            samples.push(envoy.rss_kib() as f64 / 1024.0);
        }
        samples.sort_by(f64::total_cmp);
        let median = samples[1];
        if base == 0.0 {
            base = median;
        }
        println!("| {name} | {median:.1} | {:+.1} |", median - base);
    }
}
