//! `make microbench`: throughput of the hot pure functions, native (release build), in MB/s.
//! Regressions show here before an end-to-end run. Prints a Markdown table.

use std::hint::black_box;
use std::time::{Duration, Instant};
use tollgate_core::api::ApiKind;
use tollgate_core::sse::SseParser;
use tollgate_core::usage::{self, StreamUsage};
use tollgate_pii::detect::{Detector, BUILTIN};
use tollgate_tokenizer::{Bpe, Encoding};

/// Runs `f` on `bytes`-sized input for ~1 s; returns MB/s.
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
    let prose = "Summarize the key trends in our Q3 earnings call. Revenue grew 12% year over year, driven by \
        subscription renewals in EMEA. Contact maria.lopez@example.com or +44 20 7946 0958 for details. \
        你好，世界！ Émoji 🎉 and code: fn main() { println!(\"{}\", 42); } ";
    let text: String = prose.repeat(8);
    let mut rows = Vec::new();

    let o200k = Bpe::new(Encoding::O200kBase).unwrap_or_else(|e| panic!("{e}"));
    rows.push((
        "prompt token count (o200k_base)",
        text.len(),
        mbps(text.len(), || {
            black_box(o200k.count(black_box(&text)));
        }),
    ));

    rows.push((
        "  of which pre-tokeniser regex only",
        text.len(),
        mbps(text.len(), || {
            black_box(o200k.pieces(black_box(&text)));
        }),
    ));

    // Tokenizer per input class: ours and tiktoken-rs (the reference) on the same text, o200k_base.
    let reference = tiktoken_rs::o200k_base().unwrap_or_else(|e| panic!("{e}"));
    let classes: [(&'static str, String); 8] = [
        (
            "tokens: English prose",
            "The quick brown fox jumps over the lazy dog; it's 42 degrees. ".repeat(40),
        ),
        (
            "tokens: code",
            "fn main() {\n    let x: Vec<u32> = (0..10).map(|i| i * 2).collect();\n}\n".repeat(30),
        ),
        (
            "tokens: CJK",
            "東京都の天気は晴れです。明日は雨が降るでしょう。".repeat(40),
        ),
        (
            "tokens: mixed scripts",
            "Hello мир مرحبا नमस्ते 你好 こんにちは 안녕 Γειά ".repeat(40),
        ),
        ("tokens: one char x 4096", "a".repeat(4096)),
        (
            "tokens: long pieces",
            "supercalifragilisticexpialidocious".repeat(60),
        ),
        ("tokens: ZWJ emoji", "👩‍💻👨‍👩‍👧‍👦🏳️‍🌈👍🏽 ".repeat(60)),
        (
            "tokens: whitespace runs",
            "a    \n\n\t\t   \r\n     b ".repeat(80),
        ),
    ];
    for (name, t) in &classes {
        assert_eq!(o200k.count(t), reference.encode_ordinary(t).len(), "{name}");
        let ours = mbps(t.len(), || {
            black_box(o200k.count(black_box(t)));
        });
        let theirs = mbps(t.len(), || {
            black_box(reference.encode_ordinary(black_box(t)).len());
        });
        let regex_only = mbps(t.len(), || {
            black_box(o200k.pieces(black_box(t)));
        });
        rows.push((name, t.len(), ours));
        rows.push(("  of which pre-tokeniser regex only", t.len(), regex_only));
        rows.push(("  tiktoken-rs, same input", t.len(), theirs));
    }

    let all: Vec<String> = BUILTIN.iter().map(|(d, _)| (*d).to_owned()).collect();
    let det = Detector::new(&all, &[], &[]).unwrap_or_else(|e| panic!("{e:?}"));
    rows.push((
        "PII scan (all detectors)",
        text.len(),
        mbps(text.len(), || {
            black_box(det.scan(black_box(&text)));
        }),
    ));

    // Plain ASCII text (the normaliser's no-copy fast path) and an obfuscated mix (fullwidth and
    // Arabic-Indic digits, zero-width characters, JSON escapes, `[at]` spellings: the detectors
    // run on the normalised view and map spans back).
    let plain: String = "Please summarise the ticket: the customer reports that the export fails after \
        the upgrade to 4.2, order 88231 was shipped on 2024-01-15 and the invoice total was 1299.00 EUR. \
        Contact jane.doe@example.com or +44 20 7946 0958; see https://example.org/help for details. "
        .repeat(8);
    let obfuscated: String = "Kunde: ｍａｘ＠ｂｅｉｓｐｉｅｌ．ｄｅ, Handy 0151\u{00A0}2345\u{00A0}6789, card \
        4111\u{200B}1111\u{200B}1111\u{200B}1111, ssn ١٢٣-٤٥-٦٧٨٩, {\\\"email\\\":\\\"kim\\u0040corp.io\\\"}, \
        write to john [at] example [dot] com, iban de89 3704 0044 0532 0130 00. Ordinary words follow here. "
        .repeat(8);
    rows.push((
        "PII scan, plain ASCII text (no normalisation)",
        plain.len(),
        mbps(plain.len(), || {
            black_box(det.scan(black_box(&plain)));
        }),
    ));
    rows.push((
        "PII scan, obfuscated mix (normalised view)",
        obfuscated.len(),
        mbps(obfuscated.len(), || {
            black_box(det.scan(black_box(&obfuscated)));
        }),
    ));
    rows.push((
        "  of which normalisation only",
        obfuscated.len(),
        mbps(obfuscated.len(), || {
            black_box(
                tollgate_pii::normalize::normalize(black_box(&obfuscated)).map(|n| n.text.len()),
            );
        }),
    ));

    let mut stream = String::new();
    for i in 0..20 {
        stream.push_str(&format!(
            "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"segment-{i}-of-the-answer-lorem-ipsum\"}},\"finish_reason\":null}}],\"usage\":null}}\n\n"
        ));
    }
    stream.push_str("data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":20,\"total_tokens\":30}}\n\ndata: [DONE]\n\n");
    let sb = stream.as_bytes();
    rows.push((
        "SSE parse (64-byte chunks)",
        sb.len(),
        mbps(sb.len(), || {
            let mut p = SseParser::default();
            let mut out = Vec::new();
            for c in sb.chunks(64) {
                p.feed(c, &mut out);
            }
            black_box(out.len());
        }),
    ));
    rows.push((
        "SSE parse + usage extraction",
        sb.len(),
        mbps(sb.len(), || {
            let mut p = SseParser::default();
            let mut su = StreamUsage::default();
            let mut out = Vec::new();
            for c in sb.chunks(64) {
                p.feed(c, &mut out);
                for e in out.drain(..) {
                    su.on_event(ApiKind::ChatCompletions, &e);
                }
            }
            black_box(su.facts().usage);
        }),
    ));
    let json = format!(
        "{{\"id\":\"x\",\"object\":\"chat.completion\",\"model\":\"gpt-4o\",\"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":{}}},\"finish_reason\":\"stop\"}}],\"usage\":{{\"prompt_tokens\":11,\"completion_tokens\":2,\"total_tokens\":13}}}}",
        serde_json::to_string(&text).unwrap_or_default()
    );
    rows.push((
        "usage from JSON body",
        json.len(),
        mbps(json.len(), || {
            black_box(usage::from_json(ApiKind::ChatCompletions, black_box(json.as_bytes())).ok());
        }),
    ));

    let mut table =
        String::from("| function | input bytes | MB/s (native, release) |\n|---|---|---|\n");
    for (name, bytes, v) in rows {
        table.push_str(&format!("| {name} | {bytes} | {v:.1} |\n"));
    }
    println!("{table}");
    // Replace the microbenchmark section of bench/RESULTS.md, keeping the rest.
    let path = tollgate_e2e::envoy::repo_root().join("bench/RESULTS.md");
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let (head, tail) = match (
        existing.find("<!-- microbench -->"),
        existing.find("<!-- analysis -->"),
    ) {
        (Some(a), Some(b)) if a < b => (&existing[..a], &existing[b..]),
        (None, Some(b)) => (&existing[..b], &existing[b..]),
        _ => (existing.as_str(), ""),
    };
    let section = format!(
        "<!-- microbench -->\nMicrobenchmarks (`make microbench`, same machine; native — inside V8 these run a few times slower):\n\n{table}\n"
    );
    let _ = std::fs::write(&path, format!("{head}{section}{tail}"));
}
