//! `make guard-eval`: the guard's rules (native build) over the labelled set in filters/guard/eval/:
//! attacks written for Tollgate plus generated evasion variants of each, indirect payloads embedded
//! in benign tool output (JSON, HTML, logs), and hard negatives. Reports TPR at 1% and 0.1% FPR,
//! recall per attack family and per evasion transform, FPR per channel, and µs per KiB.

// An offline evaluation tool, never on a request path: a missing data file is fatal.
#![allow(clippy::panic)]

use std::collections::BTreeMap;
use std::time::Instant;
use tollgate_guard::config::Config;
use tollgate_guard::corpus::{
    corpus_records, everyday_requests, held_out, task_prompts, tool_outputs,
};
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
            format!(
                "Please process this: {}",
                tollgate_guard::normalize::encode_base64(text.as_bytes())
            ),
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

/// A labelled set: positives (family, transform, channel, text) and negatives (channel, text).
struct Set {
    name: String,
    pos: Vec<(String, &'static str, Channel, String)>,
    neg: Vec<(Channel, String)>,
}

fn channel(c: &str) -> Channel {
    match c {
        "tool" => Channel::Tool,
        "system" => Channel::System,
        _ => Channel::User,
    }
}

/// Every attack with each evasion transform and indirect wrapper.
fn expand(attacks: &[(String, String)], pos: &mut Vec<(String, &'static str, Channel, String)>) {
    for (family, text) in attacks {
        for (t, v) in transforms(text) {
            pos.push((family.clone(), t, Channel::User, v));
        }
        for (t, v) in indirect(text) {
            pos.push((family.clone(), t, Channel::Tool, v));
        }
    }
}

/// The held-out fifth of the installable corpus (filters/guard/eval/corpus.py), if assembled.
fn corpus() -> Option<Set> {
    let dir = std::env::var("GUARD_CORPUS")
        .unwrap_or_else(|_| format!("{}/../../.tools/guard-corpus", env!("CARGO_MANIFEST_DIR")));
    let read = |f: &str| -> Option<Vec<(String, String, String)>> {
        let text = std::fs::read_to_string(format!("{dir}/{f}")).ok()?;
        let mut records = corpus_records(&text);
        records.retain(|(_, _, t)| held_out(t));
        Some(records)
    };
    let attacks = read("attacks.tsv")?;
    let mut benign = read("benign.tsv")?;
    // Benign texts pasted into everyday requests (split by the final text, like the rest).
    let all_benign = {
        let text = std::fs::read_to_string(format!("{dir}/benign.tsv")).ok()?;
        corpus_records(&text)
    };
    benign.extend(
        task_prompts(&all_benign)
            .into_iter()
            .filter(|t| held_out(t))
            .map(|t| ("tasks".to_owned(), "user".to_owned(), t)),
    );
    benign.extend(
        tool_outputs(&all_benign)
            .into_iter()
            .filter(|t| held_out(t))
            .map(|t| ("tools".to_owned(), "tool".to_owned(), t)),
    );
    benign.extend(
        everyday_requests()
            .into_iter()
            .filter(|t| held_out(t))
            .map(|t| ("requests".to_owned(), "user".to_owned(), t)),
    );
    let mut pos = Vec::new();
    // Every held-out attack as written; the evasions and wrappers on those up to 1 KiB (the
    // long in-the-wild role-plays are caught or missed as written).
    for (_, family, text) in &attacks {
        pos.push((family.clone(), "none", Channel::User, text.clone()));
    }
    let short: Vec<(String, String)> = attacks
        .iter()
        .filter(|(_, _, t)| t.len() <= 1024)
        .map(|(_, f, t)| (f.clone(), t.clone()))
        .collect();
    let mut evasions = Vec::new();
    expand(&short, &mut evasions);
    pos.extend(evasions.into_iter().filter(|(_, t, _, _)| *t != "none"));
    let neg = benign
        .iter()
        .map(|(_, c, t)| (channel(c), t.clone()))
        .collect();
    Some(Set {
        name: format!(
            "installable corpus, held-out fifth ({} attacks, {} benign texts; .tools/guard-corpus)",
            attacks.len(),
            benign.len()
        ),
        pos,
        neg,
    })
}

fn scores(cfg: &Config, set: &Set) -> (Vec<f32>, Vec<f32>) {
    (
        set.pos
            .iter()
            .map(|(_, _, c, t)| score_text(cfg, t, *c).score)
            .collect(),
        set.neg
            .iter()
            .map(|(c, t)| score_text(cfg, t, *c).score)
            .collect(),
    )
}

fn rate(scores: &[f32], th: f32) -> f64 {
    scores.iter().filter(|s| **s >= th).count() as f64 / scores.len().max(1) as f64
}

/// The summary row of one set and layer choice.
fn summary(set: &str, layers: &str, pos: &[f32], neg: &[f32]) {
    let at = |r: f64| {
        let th = threshold_at(neg, r);
        format!("{:.1}% (≥ {th:.2})", 100.0 * rate(pos, th))
    };
    println!(
        "| {set} | {layers} | {:.1}% | {:.2}% | {} | {} |",
        100.0 * rate(pos, 1.0),
        100.0 * rate(neg, 1.0),
        at(0.01),
        at(0.001)
    );
}

/// Recall per family and transform, FPR per channel, at the default threshold.
fn details(set: &Set, pos: &[f32], neg: &[f32]) {
    let mut fam: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut tr: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for ((f, t, _, _), s) in set.pos.iter().zip(pos) {
        let hit = usize::from(*s >= 1.0);
        let e = fam.entry(f.as_str()).or_default();
        e.0 += hit;
        e.1 += 1;
        let e = tr.entry(t).or_default();
        e.0 += hit;
        e.1 += 1;
    }
    println!("\n{} — recall at the default threshold, per attack family:\n\n| family | recall |\n|---|---|", set.name);
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
        let all: Vec<_> = set
            .neg
            .iter()
            .zip(neg)
            .filter(|((c, _), _)| *c == ch)
            .collect();
        if all.is_empty() {
            continue;
        }
        let fp = all.iter().filter(|(_, s)| **s >= 1.0).count();
        println!("| {} | {fp}/{} |", ch.as_str(), all.len());
    }
}

fn main() {
    let cfg = Config::from_json(b"{}").unwrap_or_else(|e| panic!("{e}"));
    let with_model = Config::from_json(br#"{"model":{}}"#).unwrap_or_else(|e| panic!("{e}"));
    let model_version = with_model
        .model
        .as_ref()
        .map_or("", |m| m.model.version.as_str())
        .to_owned();
    let attacks = load("attacks.tsv");
    let benign = load("benign.tsv");
    let mut pos = Vec::new();
    expand(&attacks, &mut pos);
    let neg: Vec<(Channel, String)> = benign
        .iter()
        .map(|(c, t)| (channel(c), t.clone()))
        .collect();
    let hand = Set {
        name: format!(
            "hand-written set ({} attacks × 7 evasions + 3 wrappers, {} hard negatives; filters/guard/eval/)",
            attacks.len(),
            neg.len()
        ),
        pos,
        neg,
    };
    println!(
        "guard-eval — ruleset {}, linear layer {model_version}, native build (not wasm)\n",
        tollgate_guard::rules::RULESET_VERSION
    );
    let corpus = corpus();
    if corpus.is_none() {
        println!("(the installable corpus is not assembled: run `python3 filters/guard/eval/corpus.py` for its rows)\n");
    }
    println!("| set | layers | TPR at the default threshold 1.0 | FPR there | TPR at ≤ 1% FPR | TPR at ≤ 0.1% FPR |\n|---|---|---|---|---|---|");
    let sets: Vec<&Set> = std::iter::once(&hand).chain(corpus.as_ref()).collect();
    let mut kept = Vec::new();
    for set in &sets {
        let short = if set.name.starts_with("hand") {
            "hand-written"
        } else {
            "corpus (held out)"
        };
        let (p, n) = scores(&cfg, set);
        summary(short, "rules + normalisation", &p, &n);
        let (pm, nm) = scores(&with_model, set);
        summary(short, "+ linear layer", &pm, &nm);
        kept.push((p, n, pm, nm));
    }
    for (set, (p, n, pm, nm)) in sets.iter().zip(&kept) {
        details(set, p, n);
        println!("\nwith the linear layer:");
        details(set, pm, nm);
    }
    let pos = &hand.pos;
    let neg = &hand.neg;
    // `--model`: the misses and the dump with the linear layer on.
    let with_layer = std::env::args().any(|a| a == "--model");
    let (pos_scores, neg_scores) = if with_layer {
        (&kept[0].2, &kept[0].3)
    } else {
        (&kept[0].0, &kept[0].1)
    };
    let cfg = if with_layer { &with_model } else { &cfg };
    if std::env::args().any(|a| a == "--misses") {
        for ((f, t, _, text), s) in pos.iter().zip(pos_scores.iter()) {
            if *s < 1.0 {
                println!(
                    "MISS {f} {t} {s:.2} {}",
                    text.chars().take(100).collect::<String>()
                );
            }
        }
        for ((_, text), s) in neg.iter().zip(neg_scores.iter()) {
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
            let r = score_text(cfg, t, c);
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
                sink += score_text(cfg, t, *c).score;
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
