//! `fake-provider --listen 127.0.0.1:18080 [--latency-ms N] [--chunk-delay-ms N] [--chunk-size N]`
//!
//! Serves the fake OpenAI / Anthropic / Gemini APIs until killed. See `tollgate_e2e::fake`.

use std::net::TcpListener;
use tollgate_e2e::fake::{FakeProvider, Knobs};

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
            "-h" | "--help" => {
                println!("fake-provider --listen ADDR [--latency-ms N] [--chunk-delay-ms N] [--chunk-size N]");
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
    match FakeProvider::start_on(listener, knobs) {
        Ok(p) => {
            eprintln!("fake-provider: listening on http://{listen} (requests log: GET /_tollgate/requests)");
            p.join();
        }
        Err(e) => {
            eprintln!("fake-provider: {e}");
            std::process::exit(1);
        }
    }
}
