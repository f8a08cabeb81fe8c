//! Seeded fuzz targets for Tollgate's pure logic, for the stable toolchain (no cargo-fuzz).
//!
//! Each [`Target`] turns random bits into one input (bytes, mutated from realistic seeds) and
//! checks properties of the code under test on it. [`run_case`] turns a panic into a reported
//! failure; [`minimize`] shrinks a failing input. The `fuzz` binary runs the targets round-robin
//! for a time budget; `tests/bounded.rs` runs a fixed number of cases in `cargo test`.
//!
//! Test tooling: it indexes, unwraps and panics freely (a panic here is a finding, reported with
//! its input), so the workspace's panic-freedom lints are relaxed for this crate only.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod gen;
pub mod rng;
pub mod seeds;
pub mod targets;

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

/// A fuzz target.
pub struct Target {
    /// Name used on the command line (`--target`).
    pub name: &'static str,
    /// What it checks, in a line.
    pub about: &'static str,
    /// Makes one input from the random stream.
    pub generate: fn(&mut rng::Rng) -> Vec<u8>,
    /// Checks the properties on one input: `Err` names the violated property. A panic is a failure.
    pub check: fn(&[u8]) -> Result<(), String>,
}

/// Every target, in the order the runner visits them.
pub fn all_targets() -> Vec<Target> {
    targets::all()
}

/// The seed of case `i` of target `name` in a run seeded with `seed`.
pub fn case_seed(seed: u64, name: &str, i: u64) -> u64 {
    rng::mix(seed ^ rng::name_hash(name) ^ rng::mix(i))
}

/// The input of the case with `case_seed`.
pub fn case_input(t: &Target, case_seed: u64) -> Vec<u8> {
    (t.generate)(&mut rng::Rng::new(case_seed))
}

thread_local! {
    /// Set while a case runs: the panic hook records the message instead of printing it.
    static QUIET: RefCell<Option<String>> = const { RefCell::new(None) };
    /// What the case is (target, seed, input): printed by the hook when panics abort.
    static CONTEXT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the panic hook once: inside a case it captures the message (and location); under
/// `panic = "abort"` it prints the case's context first, as the process will not survive.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let msg = match info.payload().downcast_ref::<&str>() {
                Some(s) => (*s).to_owned(),
                None => info
                    .payload()
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| "(non-string panic payload)".into()),
            };
            let loc = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let full = format!("panic: {msg}{loc}");
            if cfg!(panic = "abort") {
                CONTEXT.with(|c| {
                    if let Some(ctx) = c.borrow().as_ref() {
                        eprintln!("FAILURE (the process aborts: built with panic = \"abort\")\n{ctx}\n{full}");
                    }
                });
            }
            let captured = QUIET.with(|q| {
                let mut q = q.borrow_mut();
                match q.as_mut() {
                    Some(slot) => {
                        *slot = full.clone();
                        true
                    }
                    None => false,
                }
            });
            if !captured {
                default(info);
            }
        }));
    });
}

/// Sets what the panic hook prints if a panic aborts the process (see [`install_panic_hook`]).
pub fn set_context(ctx: Option<String>) {
    CONTEXT.with(|c| *c.borrow_mut() = ctx);
}

/// Runs one check; a panic becomes `Err("panic: …")`.
pub fn run_case(t: &Target, input: &[u8]) -> Result<(), String> {
    install_panic_hook();
    QUIET.with(|q| *q.borrow_mut() = Some(String::new()));
    let r = panic::catch_unwind(AssertUnwindSafe(|| (t.check)(input)));
    let captured = QUIET.with(|q| q.borrow_mut().take()).unwrap_or_default();
    match r {
        Ok(r) => r,
        Err(_) => Err(if captured.is_empty() {
            "panic".into()
        } else {
            captured
        }),
    }
}

/// Same kind of failure: both panics, or the same property (text before the first `:`).
fn same_failure(a: &str, b: &str) -> bool {
    let class = |s: &str| {
        if s.starts_with("panic") {
            "panic".to_owned()
        } else {
            s.split(':').next().unwrap_or_default().to_owned()
        }
    };
    class(a) == class(b)
}

/// Shrinks a failing input (delta debugging over byte ranges, then single bytes towards simpler
/// ones) while it still fails the same way; bounded by `budget` checks.
pub fn minimize(t: &Target, input: &[u8], failure: &str, budget: usize) -> Vec<u8> {
    let mut best = input.to_vec();
    let mut tries = 0;
    let still_fails = |cand: &[u8], tries: &mut usize| {
        *tries += 1;
        if cfg!(panic = "abort") {
            set_context(Some(format!(
                "target {} (minimizing)\n  input {}",
                t.name,
                show(cand)
            )));
        }
        matches!(run_case(t, cand), Err(e) if same_failure(&e, failure))
    };
    let mut chunk = best.len().div_ceil(2).max(1);
    while chunk >= 1 && tries < budget {
        let mut i = 0;
        let mut progressed = false;
        while i < best.len() && tries < budget {
            let end = (i + chunk).min(best.len());
            let mut cand = best[..i].to_vec();
            cand.extend_from_slice(&best[end..]);
            if still_fails(&cand, &mut tries) {
                best = cand;
                progressed = true;
            } else {
                i += chunk;
            }
        }
        if chunk == 1 && !progressed {
            break;
        }
        if !progressed {
            chunk /= 2;
        }
    }
    // Simplify bytes: towards 'a' (keeps ASCII-ness where it does not matter).
    let mut i = 0;
    while i < best.len() && tries < budget {
        if best[i] != b'a' && best[i].is_ascii_alphanumeric() {
            let mut cand = best.clone();
            cand[i] = b'a';
            if still_fails(&cand, &mut tries) {
                best = cand;
            }
        }
        i += 1;
    }
    best
}

/// An input for humans: JSON-escaped text when it is UTF-8, else hex (and lossy text).
pub fn show(input: &[u8]) -> String {
    match std::str::from_utf8(input) {
        Ok(s) => format!(
            "{} bytes, JSON-escaped: {}",
            input.len(),
            serde_json::Value::String(s.to_owned())
        ),
        Err(_) => {
            let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
            format!(
                "{} bytes (not UTF-8), hex: {hex}\n  lossy: {}",
                input.len(),
                serde_json::Value::String(String::from_utf8_lossy(input).into_owned())
            )
        }
    }
}

/// Parses the hex form printed by [`show`].
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
