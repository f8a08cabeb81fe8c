//! A bounded, fixed-seed run of every fuzz target inside `cargo test` (debug builds included:
//! overflow checks on). `make fuzz` runs them for longer with a fresh seed.
//!
//! Knobs: `TOLLGATE_FUZZ_ITERS` (cases per target, default sized for a debug build),
//! `TOLLGATE_FUZZ_SEED`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test tooling

use tollgate_fuzz::{all_targets, case_input, case_seed, minimize, run_case, show};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Cases per target: about two seconds each in a debug build on a small machine (the targets
/// run in parallel test threads), three times as many in release.
fn iterations(name: &str) -> u64 {
    if let Some(n) = env_u64("TOLLGATE_FUZZ_ITERS") {
        return n;
    }
    let debug = match name {
        "api" => 100_000,
        "sse" | "answer" => 40_000,
        "request" | "usage" => 20_000,
        "config" => 8_000,
        "translate_request" | "translate_answer" => 2_000,
        "translate_stream" => 150,
        // Slowest per case: tiktoken-rs reference, several detector passes, a rewriter per case.
        _ => 2_500,
    };
    if cfg!(debug_assertions) {
        debug
    } else {
        debug * 3
    }
}

fn run(name: &str) {
    let targets = all_targets();
    let t = targets.iter().find(|t| t.name == name).unwrap();
    let seed = env_u64("TOLLGATE_FUZZ_SEED").unwrap_or(0x70_11_6a_7e);
    for i in 0..iterations(name) {
        let cs = case_seed(seed, name, i);
        let input = case_input(t, cs);
        if let Err(e) = run_case(t, &input) {
            let small = minimize(t, &input, &e, 2000);
            panic!(
                "target `{name}` failed at iteration {i} (seed {seed}, case seed {cs:#x}): {e}\n  input: {}\n  minimized: {}\n  minimized failure: {}",
                show(&input),
                show(&small),
                run_case(t, &small).err().unwrap_or_default()
            );
        }
    }
}

#[test]
fn every_target_is_listed_here() {
    let mut names: Vec<&str> = all_targets().iter().map(|t| t.name).collect();
    names.sort_unstable();
    let mut here = vec![
        "sse",
        "request",
        "api",
        "usage",
        "answer",
        "pii_redact",
        "pii_stream",
        "tokenizer",
        "config",
        "guard",
        "translate_request",
        "translate_stream",
        "translate_answer",
    ];
    here.sort_unstable();
    assert_eq!(names, here);
}

#[test]
fn sse() {
    run("sse");
}

#[test]
fn request() {
    run("request");
}

#[test]
fn api() {
    run("api");
}

#[test]
fn usage() {
    run("usage");
}

#[test]
fn answer() {
    run("answer");
}

#[test]
fn pii_redact() {
    run("pii_redact");
}

#[test]
fn pii_stream() {
    run("pii_stream");
}

#[test]
fn tokenizer() {
    run("tokenizer");
}

#[test]
fn config() {
    run("config");
}

#[test]
fn guard() {
    run("guard");
}

#[test]
fn translate_request() {
    run("translate_request");
}

#[test]
fn translate_stream() {
    run("translate_stream");
}

#[test]
fn translate_answer() {
    run("translate_answer");
}
