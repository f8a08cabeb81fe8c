//! PII scan throughput, built for wasm32-wasip1 and run in V8 (node's WASI), the engine Envoy runs
//! the filter in:
//!
//! ```sh
//! cargo build --release --target wasm32-wasip1 -p tollgate-pii --example scan_speed
//! node filters/pii/examples/run_wasi.mjs target/wasm32-wasip1/release/examples/scan_speed.wasm
//! ```
//!
//! Also runs natively (`cargo run --release -p tollgate-pii --example scan_speed`).

use std::hint::black_box;
use std::time::{Duration, Instant};
use tollgate_pii::detect::{Detector, BUILTIN};

fn mbps(bytes: usize, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(1) {
        f();
        n += 1;
    }
    (bytes as f64 * n as f64) / start.elapsed().as_secs_f64() / 1e6
}

fn main() {
    let all: Vec<String> = BUILTIN.iter().map(|(d, _)| (*d).to_owned()).collect();
    let Ok(det) = Detector::new(&all, &[], &[]) else {
        return;
    };
    let plain: String = "Please summarise the ticket: the customer reports that the export fails after \
        the upgrade to 4.2, order 88231 was shipped on 2024-01-15 and the invoice total was 1299.00 EUR. \
        Contact jane.doe@example.com or +44 20 7946 0958; see https://example.org/help for details. "
        .repeat(8);
    let prose: String = "Summarize the key trends in our Q3 earnings call. Revenue grew 12% year over year, driven by \
        subscription renewals in EMEA. Contact maria.lopez@example.com or +44 20 7946 0958 for details. \
        你好，世界！ Émoji 🎉 and code: fn main() { println!(\"{}\", 42); } "
        .repeat(8);
    let obfuscated: String = "Kunde: ｍａｘ＠ｂｅｉｓｐｉｅｌ．ｄｅ, Handy 0151\u{00A0}2345\u{00A0}6789, card \
        4111\u{200B}1111\u{200B}1111\u{200B}1111, ssn ١٢٣-٤٥-٦٧٨٩, {\\\"email\\\":\\\"kim\\u0040corp.io\\\"}, \
        write to john [at] example [dot] com, iban de89 3704 0044 0532 0130 00. Ordinary words follow here. "
        .repeat(8);
    println!("| PII scan input | bytes | findings | MB/s |\n|---|---|---|---|");
    for (name, t) in [
        ("plain ASCII text", &plain),
        ("mixed-script prose (microbench text)", &prose),
        ("obfuscated mix (normalised view)", &obfuscated),
    ] {
        let found = det.scan(t).len();
        let v = mbps(t.len(), || {
            black_box(det.scan(black_box(t)));
        });
        println!("| {name} | {} | {found} | {v:.1} |", t.len());
    }
}
