//! The answer model on random JSON events: `delta_texts`, `finished_groups`, `is_delta_event`,
//! `delta_event`, and `AnswerEvent` framing.

use super::head;
use crate::gen;
use crate::rng::Rng;
use crate::seeds::{sse_for, ANSWERS, KINDS};
use crate::Target;
use serde_json::Value;
use tollgate_core::answer::{
    delta_event, delta_texts, finished_groups, is_delta_event, AnswerEvent, Channel,
};
use tollgate_core::sse::{SseEvent, SseParser};

pub const TARGET: Target = Target {
    name: "answer",
    about: "delta_texts/finished_groups/delta_event/is_delta_event round trips on random events",
    generate,
    check,
};

/// The `data:` payloads of the fixture of `kind`.
fn data_lines(kind_i: usize) -> Vec<String> {
    String::from_utf8_lossy(sse_for(KINDS[kind_i]))
        .lines()
        .filter_map(|l| l.strip_prefix("data: ").map(str::to_owned))
        .collect()
}

fn generate(rng: &mut Rng) -> Vec<u8> {
    let k = rng.below(KINDS.len());
    let lines = data_lines(k);
    let answers: Vec<&[u8]> = ANSWERS.iter().map(|(_, b)| b.as_bytes()).collect();
    let body = match rng.below(6) {
        0 => gen::random_json(rng, 4),
        1 if !lines.is_empty() => lines[rng.below(lines.len())].clone().into_bytes(),
        _ if !lines.is_empty() => {
            let l = lines[rng.below(lines.len())].clone();
            gen::mutate_json(rng, l.as_bytes(), &answers)
        }
        _ => gen::random_json(rng, 3),
    };
    let mut out = vec![k as u8];
    out.extend(body);
    out
}

fn check(input: &[u8]) -> Result<(), String> {
    let (k, body) = head(input);
    let kind = KINDS[usize::from(k) % KINDS.len()];
    let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
        return Ok(());
    };
    let is_delta = is_delta_event(kind, &v);
    let finished = finished_groups(kind, &v);
    let _ = finished;
    let mut chans: Vec<(Channel, String)> = Vec::new();
    delta_texts(kind, &mut v, &mut |c, s| chans.push((c, s.clone())));
    // A delta event made from this one as its template carries exactly `text` on the channel.
    if is_delta {
        for (ch, _) in chans.iter().take(8) {
            let text = "x<EMAIL_1>🙂";
            let mut e = delta_event(kind, &v, *ch, text);
            if !is_delta_event(kind, &e) {
                return Err(format!("delta_event: not a delta event on {ch:?}: {e}"));
            }
            if !finished_groups(kind, &e).is_empty() {
                return Err(format!("delta_event: finishes a group on {ch:?}: {e}"));
            }
            let mut got = Vec::new();
            delta_texts(kind, &mut e, &mut |c, s| got.push((c, s.clone())));
            if got != vec![(*ch, text.to_owned())] {
                return Err(format!(
                    "delta_event round trip: on {ch:?} read back {got:?} from {e}"
                ));
            }
        }
    }
    // Framing: an untouched event is forwarded byte for byte; a changed one re-parses to its JSON.
    let raw = [b"data: ".as_slice(), body, b"\n\n"].concat();
    if !body.contains(&b'\n') && !body.contains(&b'\r') {
        let mut p = SseParser::default();
        let mut evs = Vec::new();
        p.feed(&raw, &mut evs);
        evs.extend(p.finish());
        for ev in evs {
            let mut ae = AnswerEvent::from_sse(ev.clone());
            let mut out = Vec::new();
            ae.write(&mut out);
            if out != ev.raw {
                return Err("write: an untouched event changed".into());
            }
            if let Some(j) = ae.json_mut() {
                // Through text once: serde_json's float parsing may be one ulp off a long literal.
                let want: Value = serde_json::from_str(&j.to_string()).unwrap_or(Value::Null);
                let mut out = Vec::new();
                ae.write(&mut out);
                let back = reparse(&out);
                if back.as_ref() != Some(&want) {
                    return Err(format!(
                        "write: a changed event re-parses to {back:?}, not {want}"
                    ));
                }
            }
        }
    }
    Ok(())
}

fn reparse(bytes: &[u8]) -> Option<Value> {
    let mut p = SseParser::default();
    let mut evs: Vec<SseEvent> = Vec::new();
    p.feed(bytes, &mut evs);
    evs.extend(p.finish());
    let [ev] = evs.as_slice() else {
        return None;
    };
    serde_json::from_str(ev.data.as_deref()?).ok()
}
