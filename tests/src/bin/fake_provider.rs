//! `fake-provider --listen 127.0.0.1:18080 [--flavor openai|azure|anthropic|gemini|selfhosted|local]
//! [--latency-ms N] [--chunk-delay-ms N] [--chunk-size N]`
//!
//! Serves a fake provider API until killed: the fixed `--flavor`, or without it the flavor each
//! request's `Host` names. See `tollgate_e2e::fake`.

use std::net::TcpListener;
use tollgate_e2e::fake::{FakeProvider, Flavor, Knobs};

fn main() {
    let mut listen = "127.0.0.1:18080".to_owned();
    let mut knobs = Knobs::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_default();
        match a.as_str() {
            "--listen" => listen = val(),
            "--latency-ms" => knobs.latency_ms = val().parse().unwrap_or(0),
            "--chunk-delay-ms" => knobs.chunk_delay_ms = val().parse().unwrap_or(0),
            "--chunk-size" => knobs.chunk_size = val().parse().unwrap_or(0),
            "--flavor" => match val().parse::<Flavor>() {
                Ok(f) => knobs.flavor = Some(f),
                Err(e) => {
                    eprintln!("fake-provider: {e}");
                    std::process::exit(2);
                }
            },
            "-h" | "--help" => {
                println!("fake-provider --listen ADDR [--flavor openai|azure|anthropic|gemini|selfhosted|local] [--latency-ms N] [--chunk-delay-ms N] [--chunk-size N]");
                return;
            }
            other => {
                eprintln!("fake-provider: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let listener = match TcpListener::bind(&listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fake-provider: cannot listen on {listen}: {e}");
            std::process::exit(1);
        }
    };
    // Load the tokenizer before announcing readiness so the first request is not slow.
    let _ = tollgate_e2e::tokens::count("warm up");
    let knobs_flavor = knobs.flavor;
    match FakeProvider::start_on(listener, knobs) {
        Ok(p) => {
            let flavor = knobs_flavor.map_or("by Host header", |f| f.name());
            eprintln!("fake-provider: listening on http://{listen} as {flavor} (requests log: GET /_tollgate/requests)");
            p.join();
        }
        Err(e) => {
            eprintln!("fake-provider: {e}");
            std::process::exit(1);
        }
    }
}
