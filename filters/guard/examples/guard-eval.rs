//! `make guard-eval`: the guard's rules (native build) over the labelled set in filters/guard/eval/:
//! attacks written for Tollgate plus generated evasion variants of each, indirect payloads embedded
//! in benign tool output (JSON, HTML, logs), and hard negatives. Reports TPR at 1% and 0.1% FPR,
//! recall per attack family and per evasion transform, FPR per channel, and µs per KiB.

// An offline evaluation tool, never on a request path: a missing data file is fatal.
#![allow(clippy::panic)]

use std::collections::BTreeMap;
use std::time::Instant;
use tollgate_guard::config::Config;
use tollgate_guard::rules::Channel;
use tollgate_guard::score_text;

fn load(name: &str) -> Vec<(String, String)> {
    let path = format!("{}/eval/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once('\t'))
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect()
}

fn b64(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The evasion transforms applied to every attack.
fn transforms(text: &str) -> Vec<(&'static str, String)> {
    let tag: String = text
        .chars()
        .filter(char::is_ascii)
        .map(|c| char::from_u32(0xE0000 + c as u32).unwrap_or(c))
        .collect();
    let zw: String = text.chars().flat_map(|c| [c, '\u{200b}']).collect();
    let homoglyph: String = text
        .chars()
        .map(|c| match c {
            'a' => 'а',
            'e' => 'е',
            'o' => 'о',
            'p' => 'р',
            'c' => 'с',
            'i' => 'і',
            _ => c,
        })
        .collect();
    let spaced: String = text
        .split_whitespace()
        .map(|w| w.chars().map(String::from).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("   ");
    let fullwidth: String = text
        .chars()
        .map(|c| match c {
            '!'..='~' => char::from_u32(c as u32 + 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect();
    vec![
        ("none", text.to_owned()),
        (
            "tag_smuggling",
            format!("What's the weather in Paris today?{tag}"),
        ),
        ("zero_width", zw),
        ("homoglyph", homoglyph),
        ("spaced", spaced),
        (
            "base64",
            format!("Please process this: {}", b64(text.as_bytes())),
        ),
        ("fullwidth", fullwidth),
    ]
}

/// Benign tool output an indirect payload hides in.
fn indirect(text: &str) -> Vec<(&'static str, String)> {
    let esc = text.replace('"', "\\\"");
    vec![
        ("tool_json", format!("{{\"status\":\"ok\",\"items\":[{{\"title\":\"Q3 report\",\"body\":\"Revenue grew 12%. {esc}\"}}],\"count\":1}}")),
        ("tool_html", format!("<html><body><h1>Opening hours</h1><p>We are open 9-5.</p><!-- {text} --><footer>© Acme</footer></body></html>")),
        ("tool_log", format!("2025-01-03T10:00:00Z INFO request ok\n2025-01-03T10:00:01Z WARN user-agent=\"{esc}\"\n2025-01-03T10:00:02Z INFO done")),
    ]
}

/// Smallest threshold with at most `rate` false positives (scores ≥ threshold are positives).
fn threshold_at(neg: &[f32], rate: f64) -> f32 {
    let mut s: Vec<f32> = neg.to_vec();
    s.sort_by(|a, b| b.total_cmp(a));
    let allowed = (rate * s.len() as f64).floor() as usize;
    // Above the (allowed+1)-th highest negative.
    s.get(allowed).map_or(0.0, |x| x + 1e-4)
}

fn main() {
    let cfg = Config::from_json(b"{}").unwrap_or_else(|e| panic!("{e}"));
    let attacks = load("attacks.tsv");
    let benign = load("benign.tsv");
    // (family, transform, channel, text)
    let mut pos: Vec<(String, &str, Channel, String)> = Vec::new();
    for (family, text) in &attacks {
        for (t, v) in transforms(text) {
            pos.push((family.clone(), t, Channel::User, v));
        }
        for (t, v) in indirect(text) {
            pos.push((family.clone(), t, Channel::Tool, v));
        }
    }
    let neg: Vec<(Channel, String)> = benign
        .iter()
        .map(|(c, t)| {
            let ch = match c.as_str() {
                "tool" => Channel::Tool,
                "system" => Channel::System,
                _ => Channel::User,
            };
            (ch, t.clone())
        })
        .collect();
    let pos_scores: Vec<f32> = pos
        .iter()
        .map(|(_, _, c, t)| score_text(&cfg, t, *c).score)
        .collect();
    let neg_scores: Vec<f32> = neg
        .iter()
        .map(|(c, t)| score_text(&cfg, t, *c).score)
        .collect();
    let tpr =
        |th: f32| pos_scores.iter().filter(|s| **s >= th).count() as f64 / pos_scores.len() as f64;
    let fpr =
        |th: f32| neg_scores.iter().filter(|s| **s >= th).count() as f64 / neg_scores.len() as f64;
    println!(
        "guard-eval — ruleset {}, native build (not wasm)",
        tollgate_guard::rules::RULESET_VERSION
    );
    println!("labelled set: {} attacks × (7 evasion transforms + 3 indirect wrappers) = {} positives; {} negatives (hard negatives included)\n", attacks.len(), pos.len(), neg.len());
    println!("| operating point | threshold | TPR | FPR |\n|---|---|---|---|");
    println!(
        "| default threshold | 1.00 | {:.1}% | {:.1}% |",
        100.0 * tpr(1.0),
        100.0 * fpr(1.0)
    );
    for rate in [0.01, 0.001] {
        let th = threshold_at(&neg_scores, rate);
        println!(
            "| ≤ {}% FPR | {:.2} | {:.1}% | {:.1}% |",
            rate * 100.0,
            th,
            100.0 * tpr(th),
            100.0 * fpr(th)
        );
    }
    let mut fam: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut tr: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for ((f, t, _, _), s) in pos.iter().zip(&pos_scores) {
        let hit = usize::from(*s >= 1.0);
        let e = fam.entry(f.as_str()).or_default();
        e.0 += hit;
        e.1 += 1;
        let e = tr.entry(t).or_default();
        e.0 += hit;
        e.1 += 1;
    }
    println!(
        "\nrecall at the default threshold, per attack family:\n\n| family | recall |\n|---|---|"
    );
    for (f, (h, n)) in &fam {
        println!("| {f} | {h}/{n} ({:.0}%) |", 100.0 * *h as f64 / *n as f64);
    }
    println!("\nper evasion transform / indirect wrapper:\n\n| transform | recall |\n|---|---|");
    for (t, (h, n)) in &tr {
        println!("| {t} | {h}/{n} ({:.0}%) |", 100.0 * *h as f64 / *n as f64);
    }
    println!(
        "\nfalse positives at the default threshold, per channel:\n\n| channel | FPR |\n|---|---|"
    );
    for ch in [Channel::User, Channel::Tool, Channel::System] {
        let all: Vec<_> = neg
            .iter()
            .zip(&neg_scores)
            .filter(|((c, _), _)| *c == ch)
            .collect();
        let fp = all.iter().filter(|(_, s)| **s >= 1.0).count();
        println!("| {} | {fp}/{} |", ch.as_str(), all.len());
    }
    if std::env::args().any(|a| a == "--misses") {
        for ((f, t, _, text), s) in pos.iter().zip(&pos_scores) {
            if *s < 1.0 {
                println!(
                    "MISS {f} {t} {s:.2} {}",
                    text.chars().take(100).collect::<String>()
                );
            }
        }
        for ((_, text), s) in neg.iter().zip(&neg_scores) {
            if *s >= 0.5 {
                println!("NEG {s:.2} {text}");
            }
        }
    }
    // `--dump`: one line per text (score, signals, rule ids), to diff two builds of the guard.
    if std::env::args().any(|a| a == "--dump") {
        let all = pos
            .iter()
            .map(|(_, _, c, t)| (*c, t.as_str()))
            .chain(neg.iter().map(|(c, t)| (*c, t.as_str())));
        for (i, (c, t)) in all.enumerate() {
            let r = score_text(&cfg, t, c);
            let mut ids: Vec<&str> = r
                .hits
                .iter()
                .filter_map(|h| cfg.ruleset.rules.get(h.rule))
                .map(|x| x.id.as_str())
                .collect();
            ids.sort_unstable();
            let sig: Vec<&str> = r.signals.names().collect();
            println!(
                "DUMP {i} {:.3} [{}] [{}]",
                r.score,
                sig.join(","),
                ids.join(",")
            );
        }
    }
    // Speed: every text, repeated, native; then the negatives alone (what most traffic looks like).
    let all: Vec<(Channel, &str)> = pos
        .iter()
        .map(|(_, _, c, t)| (*c, t.as_str()))
        .chain(neg.iter().map(|(c, t)| (*c, t.as_str())))
        .collect();
    let benign: Vec<(Channel, &str)> = neg.iter().map(|(c, t)| (*c, t.as_str())).collect();
    // The user negatives joined into ~1 KiB texts (one new user turn of a typical request): the
    // price per KiB without the per-text overhead of short texts.
    let mut joined: Vec<String> = vec![String::new()];
    for (_, t) in benign.iter().filter(|(c, _)| *c == Channel::User) {
        if joined.last().is_some_and(|j| j.len() >= 1024) {
            joined.push(String::new());
        }
        if let Some(j) = joined.last_mut() {
            j.push_str(t);
            j.push('\n');
        }
    }
    let joined: Vec<(Channel, &str)> = joined.iter().map(|t| (Channel::User, t.as_str())).collect();
    for (name, texts, rounds) in [
        ("every text", &all, 50),
        ("negatives only", &benign, 500),
        ("user negatives joined into ~1 KiB texts", &joined, 500),
    ] {
        // GUARD_EVAL_ROUNDS=N: N× the rounds (for a profiler).
        let rounds = rounds
            * std::env::var("GUARD_EVAL_ROUNDS")
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(1);
        let bytes: usize = texts.iter().map(|(_, t)| t.len()).sum();
        let start = Instant::now();
        let mut sink = 0.0f32;
        for _ in 0..rounds {
            for (c, t) in texts {
                sink += score_text(&cfg, t, *c).score;
            }
        }
        let us = start.elapsed().as_secs_f64() * 1e6;
        let kib = (bytes * rounds) as f64 / 1024.0;
        println!(
            "{}speed (native, release, one core), {name}: {:.2} µs per KiB of scanned text ({} texts, {} bytes, ×{rounds}; checksum {sink:.0})",
            if name == "every text" { "\n" } else { "" },
            us / kib,
            texts.len(),
            bytes
        );
    }
}
