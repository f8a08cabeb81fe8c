//! `cargo run --release -p tollgate-e2e --bin measure-rss`
//!
//! Envoy's resident memory at `--concurrency 2` with the shipped config: without our filters, one
//! filter alone, all filters as separate modules, and all in the combined module, after a few requests have warmed
//! every worker. Prints a Markdown table (used in README.md).

use serde_json::json;
use tollgate_e2e::envoy::{separate_filters, shipped_config, without_filter, Envoy};
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
    // No wasm at all: the pipeline filter and the upstream adapter removed.
    let none = ["tollgate", "tollgate.upstream"]
        .iter()
        .fold(full.clone(), |y, f| without_filter(&y, f));
    let separate = separate_modules(&full);
    // The pipeline with the usage policy alone (and no upstream adapter).
    let usage_only = [
        "tollgate.pii",
        "tollgate.router",
        "tollgate.ratelimit",
        "tollgate.upstream",
    ]
    .iter()
    .fold(full.clone(), |y, f| without_filter(&y, f));
    println!("| Envoy config (`--concurrency 2`) | RSS (MiB) | vs. no filters |");
    println!("|---|---|---|");
    let mut base = 0.0;
    for (name, yaml) in [
        ("no Tollgate filters", &none),
        (
            "usage policy alone (pipeline, no upstream adapter)",
            &usage_only,
        ),
        (
            "all policies, one module per filter (one VM each) + upstream VM",
            &separate,
        ),
        (
            "all policies, pipeline in tollgate.wasm + upstream VM (shipped)",
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

/// The shipped config with each policy as its own plugin on its own standalone module and vm_id
/// (one VM per filter); the upstream adapter keeps its own VM as shipped.
fn separate_modules(yaml: &str) -> String {
    let mut root = String::new();
    separate_filters(yaml)
        .lines()
        .map(|l| {
            if let Some(r) = l.trim().strip_prefix("root_id: ") {
                root = r.to_owned();
            }
            if l.trim() == "vm_config: *client_vm" {
                let indent = &l[..l.len() - l.trim_start().len()];
                format!(
                    "{indent}vm_config: {{ vm_id: {root}, runtime: envoy.wasm.runtime.v8, code: {{ local: {{ filename: target/wasm32-wasip1/release/{root}.wasm }} }} }}"
                )
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}
