//! Usage extraction on random answer bytes of every API shape: `usage::from_json`,
//! `StreamUsage::on_event`, `usage::output_text`.

use super::{head, split_points};
use crate::gen;
use crate::rng::Rng;
use crate::seeds::{sse_for, ANSWERS, KINDS, SSE};
use crate::Target;
use tollgate_core::answer::AnswerEvent;
use tollgate_core::sse::SseParser;
use tollgate_core::usage::{from_json, output_text, StreamUsage};

pub const TARGET: Target = Target {
    name: "usage",
    about:
        "usage::from_json / StreamUsage::on_event / output_text on random answers of every shape",
    generate,
    check,
};

fn generate(rng: &mut Rng) -> Vec<u8> {
    let k = rng.below(KINDS.len());
    let stream = rng.one_in(2);
    let answers: Vec<&[u8]> = ANSWERS.iter().map(|(_, b)| b.as_bytes()).collect();
    let body = if stream {
        let base = sse_for(KINDS[k]);
        if rng.one_in(3) {
            gen::mutate_bytes(rng, base, SSE)
        } else {
            // Mutate the JSON of one event, keep the framing.
            let text = String::from_utf8_lossy(base).into_owned();
            let mut out = String::new();
            for line in text.split_inclusive('\n') {
                match line.strip_prefix("data: ") {
                    Some(d) if rng.one_in(3) => {
                        let m = gen::mutate_json(rng, d.trim_end().as_bytes(), &answers);
                        out.push_str("data: ");
                        out.push_str(&String::from_utf8_lossy(&m).replace(['\n', '\r'], " "));
                        out.push('\n');
                    }
                    _ => out.push_str(line),
                }
            }
            out.into_bytes()
        }
    } else {
        let base = ANSWERS[rng.below(ANSWERS.len())].1.as_bytes();
        match rng.below(5) {
            0 => gen::random_json(rng, 4),
            _ => gen::mutate_json(rng, base, &answers),
        }
    };
    let mut out = vec![
        k as u8 | if stream { 0x80 } else { 0 },
        rng.next_u64() as u8,
    ];
    out.extend(body);
    out
}

fn check(input: &[u8]) -> Result<(), String> {
    let (sel, rest) = head(input);
    let (split, body) = head(rest);
    let kind = KINDS[usize::from(sel & 0x7f) % KINDS.len()];
    for k in KINDS {
        let _ = from_json(k, body);
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let mut s = String::new();
        output_text(kind, &v, &mut s);
    }
    let mut parser = SseParser::new(if sel & 0x40 != 0 { 64 } else { 1 << 20 });
    let mut events = Vec::new();
    for c in split_points(body, u64::from(split)) {
        parser.feed(c, &mut events);
    }
    events.extend(parser.finish());
    // Both entry points (a raw event; an event some policy decoded already). They may differ on
    // purpose (the raw path skips events that cannot carry what is still needed), so only
    // panics and counts are checked.
    let mut su = StreamUsage::default();
    let mut su2 = StreamUsage::default();
    for ev in &events {
        let _ = su.on_event(kind, ev);
        let mut ae = AnswerEvent::from_sse(ev.clone());
        let _ = ae.json();
        let _ = su2.on_answer_event(kind, &mut ae);
        if let Some(v) = ae.json() {
            let mut s = String::new();
            output_text(kind, v, &mut s);
        }
    }
    let _ = (su.facts(), su2.facts());
    if su.unparseable_events() > su.events() {
        return Err("counts: more unparseable events than events".into());
    }
    Ok(())
}
