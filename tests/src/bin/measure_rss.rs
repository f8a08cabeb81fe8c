//! `cargo run --release -p tollgate-e2e --bin measure-rss`
//!
//! Envoy's resident memory at `--concurrency 2` with the shipped config: without our filters, one
//! filter alone, all filters as separate modules, and all in the combined module, after a few requests have warmed
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
    let none = [
        "tollgate.pii",
        "tollgate.router",
        "tollgate.upstream",
        "tollgate.usage",
        "tollgate.ratelimit",
    ]
    .iter()
    .fold(full.clone(), |y, f| without_filter(&y, f));
    let separate = separate_modules(&full);
    let usage_only = [
        "tollgate.pii",
        "tollgate.router",
        "tollgate.upstream",
        "tollgate.ratelimit",
    ]
    .iter()
    .fold(separate.clone(), |y, f| without_filter(&y, f));
    println!("| Envoy config (`--concurrency 2`) | RSS (MiB) | vs. no filters |");
    println!("|---|---|---|");
    let mut base = 0.0;
    for (name, yaml) in [
        ("no Tollgate filters", &none),
        ("usage emitter alone (tollgate_usage.wasm)", &usage_only),
        (
            "all filters, one module per filter (one VM each)",
            &separate,
        ),
        (
            "all filters, combined tollgate.wasm (shipped: one VM)",
            &full,
        ),
    ] {
        let mut samples = Vec::new();
        for _ in 0..3 {
            let envoy = Envoy::start(yaml, fake.addr().port(), 2);
            for i in 0..20 {
                let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": format!("warm up {i}")}]});
                envoy.post(
                    "/v1/chat/completions",
                    &[("authorization", &tollgate_e2e::envoy::bearer("rss"))],
                    &body,
                );
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

/// The shipped config with each plugin on its own standalone module and vm_id (one VM per filter).
fn separate_modules(yaml: &str) -> String {
    let mut root = String::new();
    yaml.lines()
        .map(|l| {
            if let Some(r) = l.trim().strip_prefix("root_id: ") {
                root = r.to_owned();
            }
            let module = if root == "tollgate_upstream" {
                "tollgate_router"
            } else {
                root.as_str()
            };
            if l.trim() == "vm_id: tollgate" {
                l.replace("vm_id: tollgate", &format!("vm_id: {root}"))
            } else {
                l.replace("release/tollgate.wasm", &format!("release/{module}.wasm"))
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}
