//! Guard scan time per KiB, built for wasm32-wasip1 and run in V8 (node's WASI), the engine Envoy
//! runs the filter in, with the time of each stage:
//!
//! ```sh
//! cargo build --release --target wasm32-wasip1 -p tollgate-guard --example scan_speed
//! node filters/pii/examples/run_wasi.mjs target/wasm32-wasip1/release/examples/scan_speed.wasm
//! ```
//!
//! Also runs natively (`cargo run --release -p tollgate-guard --example scan_speed`).

use serde_json::json;
use std::hint::black_box;
use std::time::{Duration, Instant};
use tollgate_core::api::ApiKind;
use tollgate_guard::config::Config;
use tollgate_guard::normalize::{collapse_spaced, decode_runs, fold, Signals};
use tollgate_guard::rules::Channel;
use tollgate_guard::{inspect, score_text};

/// µs per KiB of `bytes` for `f`, run for about half a second.
fn us_per_kib(bytes: usize, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    // The clock is read every 64 runs (a clock read may cost as much as a short scan).
    while start.elapsed() < Duration::from_millis(500) {
        for _ in 0..64 {
            f();
        }
        n += 64;
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64 / (bytes as f64 / 1024.0)
}

/// µs per KiB of `bytes` for `f` with cold caches: between runs a 4 MiB buffer is written (an
/// Envoy worker runs the network stack and other filters between two requests, which evicts the
/// rules' tables and the weights from the CPU's caches); only `f` is timed.
fn cold_us_per_kib(bytes: usize, mut f: impl FnMut()) -> f64 {
    let mut junk = vec![0u8; 4 << 20];
    let mut total = Duration::ZERO;
    let mut n = 0u32;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(500) {
        for (i, b) in junk.iter_mut().enumerate().step_by(64) {
            *b = b.wrapping_add(i as u8);
        }
        black_box(&junk);
        let t = Instant::now();
        f();
        total += t.elapsed();
        n += 1;
    }
    total.as_secs_f64() * 1e6 / f64::from(n.max(1)) / (bytes as f64 / 1024.0)
}

fn main() {
    let (Ok(cfg), Ok(with_model)) = (
        Config::from_json(b"{}"),
        Config::from_json(br#"{"model":{}}"#),
    ) else {
        return;
    };
    // The bench's prompt (after the PII filter's placeholders).
    let para = "Summarize the key trends in our Q3 earnings call. Revenue grew 12% year over year, driven by \
        subscription renewals in EMEA and a strong quarter for the enterprise tier. Operating margin \
        improved to 18% as cloud costs fell. Contact the finance lead at [EMAIL_1] or \
        [PHONE_1] for the detailed breakdown, and flag any risk in the pipeline for Q4. ";
    let prose = para.repeat(3);
    let mixed = "Résumé des tendances du trimestre : le chiffre d'affaires a progressé de 12 %, \
        grâce aux renouvellements. 你好，世界！ Émoji 🎉 et code : fn main() { println!(\"{}\", 42); } "
        .repeat(6);
    let tool = r#"{"results":[{"title":"Quarterly report","url":"https://example.org/q3","snippet":"Revenue grew 12% year over year; see the appendix for the regional split and the churn table."},{"id":"a1b2c3d4e5f6a7b8c9d0","status":"ok","items":[1,2,3]}]} "#.repeat(4);
    println!("| text | bytes | µs per KiB |");
    println!("|---|---|---|");
    for (name, text) in [("prose", &prose), ("mixed", &mixed), ("tool json", &tool)] {
        let n = text.len();
        let row = |stage: &str, v: f64| println!("| {name}: {stage} | {n} | {v:.2} |");
        row(
            "fold",
            us_per_kib(n, || {
                let mut s = Signals::default();
                black_box(fold(black_box(text), &mut s));
            }),
        );
        let folded = fold(text, &mut Signals::default());
        row(
            "rules (both readings, as sent)",
            us_per_kib(n, || {
                let (mut h, mut r) = (Vec::new(), Vec::new());
                cfg.ruleset.scan_readings(
                    black_box(text),
                    Channel::User,
                    &mut h,
                    Some(&mut r),
                    None,
                    None,
                );
                black_box((h, r));
            }),
        );
        row(
            "spaced letters",
            us_per_kib(n, || {
                black_box(collapse_spaced(black_box(&folded)));
            }),
        );
        row(
            "encoded runs",
            us_per_kib(n, || {
                let mut budget = 1 << 16;
                black_box(decode_runs(black_box(text), &mut budget));
            }),
        );
        row(
            "score_text",
            us_per_kib(n, || {
                black_box(score_text(&cfg, black_box(text), Channel::User));
            }),
        );
        row(
            "score_text with the linear layer",
            us_per_kib(n, || {
                black_box(score_text(&with_model, black_box(text), Channel::User));
            }),
        );
        if std::env::var_os("SCAN_SPEED_SCORES").is_some() {
            let r = score_text(&with_model, text, Channel::User);
            println!(
                "| {name}: score {:.3}, linear layer p {:?} | | |",
                r.score, r.model
            );
        }
        row(
            "score_text, cold caches",
            cold_us_per_kib(n, || {
                black_box(score_text(&cfg, black_box(text), Channel::User));
            }),
        );
        row(
            "score_text with the linear layer, cold caches",
            cold_us_per_kib(n, || {
                black_box(score_text(&with_model, black_box(text), Channel::User));
            }),
        );
        let body = json!({"model":"m","messages":[{"role":"user","content": text}]});
        // What the guard's timer also holds when no policy before it parsed the body (the
        // `guard` row of `make bench`): the strict parse.
        let raw = serde_json::to_vec(&body).unwrap_or_default();
        row(
            "strict JSON parse of the request (shared)",
            us_per_kib(n, || {
                black_box(tollgate_core::body::parse_body(black_box(&raw)).ok());
            }),
        );
        row(
            "inspect (segments + score)",
            us_per_kib(n, || {
                let mut b = body.clone();
                black_box(inspect(&cfg, ApiKind::ChatCompletions, &mut b, Some("app")).ok());
            }),
        );
    }
}
