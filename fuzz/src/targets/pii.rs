//! PII: detector scan + redact + restore on random text; the stream rewriter over random SSE.

use super::{head, split_points};
use crate::gen;
use crate::rng::Rng;
use crate::seeds::{sse_for, ANSWERS, KINDS, SSE};
use crate::Target;
use serde_json::Value;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::OnceLock;
use tollgate_core::answer::{closes, delta_texts, is_delta_event, AnswerEvent, Channel, Closes};
use tollgate_core::api::ApiKind;
use tollgate_core::sse::SseParser;
use tollgate_pii::detect::{CustomRegex, Detector, Dictionary, BUILTIN};
use tollgate_pii::redact::{apply, redact, Action, Audit, Policy, Vault};
use tollgate_pii::stream::{rewrite_json, OutputScan, StreamRewriter, Transform};

pub const REDACT: Target = Target {
    name: "pii_redact",
    about:
        "Detector::scan + redact + Vault::restore: restore(redact(x)) == x, found values replaced",
    generate: generate_text,
    check: check_redact,
};

pub const STREAM: Target = Target {
    name: "pii_stream",
    about: "StreamRewriter/rewrite_json over random SSE answers: no panic, placeholders restored per channel",
    generate: generate_stream,
    check: check_stream,
};

/// Detectors: every built-in; a few; built-ins plus a custom regex (one that can match empty) and
/// a dictionary.
fn detectors() -> &'static [Detector] {
    static D: OnceLock<Vec<Detector>> = OnceLock::new();
    D.get_or_init(|| {
        let all: Vec<String> = BUILTIN.iter().map(|(d, _)| (*d).to_owned()).collect();
        let some: Vec<String> = ["email", "phone", "ssn"].map(String::from).to_vec();
        vec![
            Detector::new(&all, &[], &[]).unwrap(),
            Detector::new(&some, &[], &[]).unwrap(),
            Detector::new(
                &all,
                &[
                    CustomRegex {
                        label: "EMPLOYEE_ID".into(),
                        regex: r"EMP-\d{6}".into(),
                    },
                    CustomRegex {
                        label: "MAYBE_EMPTY".into(),
                        regex: r"Q*".into(),
                    },
                ],
                &[Dictionary {
                    label: "PROJECT".into(),
                    terms: vec!["Project Falcon".into(), "bluebird".into(), "漢字".into()],
                }],
            )
            .unwrap(),
        ]
    })
}

fn policy(default_action: Action) -> Policy {
    Policy {
        actions: BTreeMap::new(),
        default_action,
        keep_last: 4,
        salt: "0123456789abcdef".into(),
    }
}

fn generate_text(rng: &mut Rng) -> Vec<u8> {
    let mut t = gen::text(rng, 30);
    if rng.one_in(2) {
        t = gen::mutate_text(rng, &t);
    }
    let mut out = vec![rng.next_u64() as u8];
    out.extend(t.into_bytes());
    out
}

fn check_redact(input: &[u8]) -> Result<(), String> {
    let (sel, rest) = head(input);
    let det = &detectors()[usize::from(sel) % detectors().len()];
    let x = String::from_utf8_lossy(rest).into_owned();
    let x = x.as_str();
    let findings = det.scan(x);
    let mut prev_end = 0;
    for (i, f) in findings.iter().enumerate() {
        if f.start > f.end || f.end > x.len() || (i > 0 && f.start < prev_end) {
            return Err(format!("findings: bad span {f:?} after end {prev_end}"));
        }
        if !x.is_char_boundary(f.start) || !x.is_char_boundary(f.end) {
            return Err(format!("findings: span {f:?} not on char boundaries"));
        }
        if f.label.is_empty() {
            return Err("findings: empty label".into());
        }
        prev_end = f.end;
    }

    // Placeholders: the round trip restores the text exactly.
    let mut vault = Vault::default();
    vault.reserve_typed(x);
    let mut audit = Audit::new();
    let r = redact(det, &policy(Action::Placeholder), x, &mut vault, &mut audit);
    if !r.blocked.is_empty() {
        return Err("placeholder: blocked labels under a placeholder policy".into());
    }
    let back = vault.restore(&r.text);
    if back != x {
        return Err(format!(
            "round trip: restore(redact(x)) != x; redacted {:?}, restored {:?}",
            r.text, back
        ));
    }
    // Every finding became a placeholder standing for it; nothing else changed.
    let out = r.text.as_str();
    let (mut pos, mut last) = (0usize, 0usize);
    for f in &findings {
        let gap = &x[last..f.start];
        if !out[pos..].starts_with(gap) {
            return Err(format!("survives: text around {f:?} changed"));
        }
        pos += gap.len();
        let p = out[pos..]
            .find('>')
            .map(|j| &out[pos..=pos + j])
            .unwrap_or_default();
        if vault.original(p) != Some(&x[f.start..f.end]) {
            return Err(format!(
                "survives: finding {:?} ({:?}) not replaced by its placeholder (got {p:?})",
                f,
                &x[f.start..f.end]
            ));
        }
        pos += p.len();
        last = f.end;
    }
    if out[pos..] != x[last..] {
        return Err("survives: text after the last finding changed".into());
    }
    // A found value does not occur in the output unless it also occurs outside every finding.
    let mut residue = String::new();
    let mut last = 0;
    for f in &findings {
        residue.push_str(&x[last..f.start]);
        residue.push('\u{0}');
        last = f.end;
    }
    residue.push_str(&x[last..]);
    for f in &findings {
        let v = &x[f.start..f.end];
        if v.len() >= 6 && out.contains(v) && !residue.contains(v) {
            return Err(format!(
                "survives: found value {v:?} is still in the output"
            ));
        }
    }

    // Other actions never panic; masks keep the character count; block names labels once.
    for a in [Action::Mask, Action::Hash, Action::LogOnly, Action::Block] {
        let mut audit = Audit::new();
        let r = apply(findings.clone(), &policy(a), x, None, &mut audit);
        match a {
            Action::Mask if r.text.chars().count() != x.chars().count() => {
                return Err("mask: character count changed".into());
            }
            Action::LogOnly | Action::Block if r.text != x => {
                return Err(format!("{a:?}: text changed"));
            }
            _ => {}
        }
        let mut b = r.blocked.clone();
        b.sort();
        b.dedup();
        if b != r.blocked {
            return Err("block: labels not sorted and unique".into());
        }
    }
    // The vault's helpers on arbitrary text.
    let p = vault.pending_prefix_len(x);
    if p > x.len() || !x.is_char_boundary(x.len() - p) {
        return Err(format!("pending_prefix_len: {p} for {} bytes", x.len()));
    }
    let _ = vault.restore(x);
    Ok(())
}

thread_local! {
    /// The output scanner's detector (every built-in), compiled once per thread.
    static SCAN_DETECTOR: Rc<Detector> = Rc::new(
        Detector::new(&BUILTIN.iter().map(|(d, _)| (*d).to_owned()).collect::<Vec<_>>(), &[], &[])
            .unwrap(),
    );
}

/// The prompt whose placeholders the answers restore.
const PROMPT: &str = "mail bob@x.io or eve@x.io, call +14155552671, card 4111 1111 1111 1111";

fn vault() -> Vault {
    let mut v = Vault::default();
    let _ = redact(
        &detectors()[0],
        &policy(Action::Placeholder),
        PROMPT,
        &mut v,
        &mut Audit::new(),
    );
    v
}

const PLACEHOLDERS: &[&str] = &["<EMAIL_1>", "<EMAIL_2>", "<PHONE_1>", "<CREDIT_CARD_1>"];

/// A well-formed stream of `kind` whose deltas carry placeholders split anywhere.
fn synthetic_stream(rng: &mut Rng, kind: ApiKind) -> Vec<u8> {
    let mut text = String::new();
    for _ in 0..rng.range(1, 12) {
        if rng.one_in(2) {
            text.push_str(rng.pick(PLACEHOLDERS));
        } else {
            text.push_str(&gen::text(rng, 3));
        }
    }
    let chars: Vec<char> = text.chars().collect();
    let mut pieces = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let n = rng.range(1, 8).min(chars.len() - i);
        pieces.push(chars[i..i + n].iter().collect::<String>());
        i += n;
    }
    let mut s = String::new();
    let mut ev = |name: Option<&str>, v: Value| {
        if let Some(n) = name {
            s.push_str(&format!("event: {n}\n"));
        }
        s.push_str(&format!("data: {v}\n\n"));
    };
    let groups = rng.range(1, 3) as u64;
    for (i, p) in pieces.iter().enumerate() {
        let g = i as u64 % groups;
        if kind == ApiKind::AnthropicMessages && rng.one_in(4) {
            ev(Some("ping"), serde_json::json!({"type": "ping"}));
        }
        match kind {
            ApiKind::AnthropicMessages => ev(
                Some("content_block_delta"),
                serde_json::json!({"type":"content_block_delta","index":g,"delta":{"type":"text_delta","text":p}}),
            ),
            ApiKind::Responses => ev(
                Some("response.output_text.delta"),
                serde_json::json!({"type":"response.output_text.delta","output_index":g,"content_index":0,"delta":p}),
            ),
            ApiKind::GeminiGenerate | ApiKind::GeminiStreamGenerate => ev(
                None,
                serde_json::json!({"candidates":[{"index":g,"content":{"role":"model","parts":[{"text":p}]}}]}),
            ),
            ApiKind::Completions => ev(
                None,
                serde_json::json!({"id":"c","choices":[{"index":g,"text":p,"finish_reason":null}]}),
            ),
            _ => {
                let delta = if rng.one_in(4) {
                    serde_json::json!({"tool_calls":[{"index":g,"function":{"arguments":p}}]})
                } else {
                    serde_json::json!({"content":p})
                };
                ev(
                    None,
                    serde_json::json!({"id":"c","choices":[{"index":0,"delta":delta,"finish_reason":null}]}),
                )
            }
        }
    }
    match kind {
        ApiKind::AnthropicMessages => ev(
            Some("message_stop"),
            serde_json::json!({"type":"message_stop"}),
        ),
        ApiKind::Responses => ev(
            Some("response.completed"),
            serde_json::json!({"type":"response.completed","response":{"status":"completed"}}),
        ),
        ApiKind::ChatCompletions | ApiKind::Completions => {
            ev(
                None,
                serde_json::json!({"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}),
            );
            s.push_str("data: [DONE]\n\n");
        }
        _ => {}
    }
    s.into_bytes()
}

fn generate_stream(rng: &mut Rng) -> Vec<u8> {
    let k = rng.below(KINDS.len());
    let kind = KINDS[k];
    let scan = rng.one_in(3);
    let answers: Vec<&[u8]> = ANSWERS.iter().map(|(_, b)| b.as_bytes()).collect();
    let body = match rng.below(5) {
        0 => gen::mutate_bytes(rng, sse_for(kind), SSE),
        1 => gen::mutate_json(rng, ANSWERS[k].1.as_bytes(), &answers),
        2 => {
            let s = synthetic_stream(rng, kind);
            gen::mutate_bytes(rng, &s, SSE)
        }
        _ => synthetic_stream(rng, kind),
    };
    let mut out = vec![k as u8 | if scan { 0x80 } else { 0 }, rng.next_u64() as u8];
    out.extend(body);
    out
}

/// The delta text of every channel of an SSE answer, in order (delta events only); and whether an
/// event that closes channels ([`closes`]) came between two deltas.
fn channel_texts(kind: ApiKind, bytes: &[u8]) -> (BTreeMap<Channel, String>, bool) {
    let mut p = SseParser::default();
    let mut evs = Vec::new();
    p.feed(bytes, &mut evs);
    evs.extend(p.finish());
    let mut out: BTreeMap<Channel, String> = BTreeMap::new();
    let (mut seen_delta, mut closed, mut interleaved) = (false, false, false);
    for ev in evs {
        let mut ae = AnswerEvent::from_sse(ev);
        let Some(v) = ae.json_to_edit() else {
            continue;
        };
        if !is_delta_event(kind, v) {
            closed |= seen_delta && closes(kind, v) != Closes::Nothing;
            continue;
        }
        seen_delta = true;
        interleaved |= closed;
        delta_texts(kind, v, &mut |c, s| out.entry(c).or_default().push_str(s));
    }
    (out, interleaved)
}

fn check_stream(input: &[u8]) -> Result<(), String> {
    let (sel, rest) = head(input);
    let (split, body) = head(rest);
    let kind = KINDS[usize::from(sel & 0x7f) % KINDS.len()];
    let scan = sel & 0x80 != 0;
    let vault = Rc::new(vault());
    let transform = || Transform {
        vault: Some(vault.clone()),
        scan: scan.then(|| OutputScan {
            detector: SCAN_DETECTOR.with(Rc::clone),
            policy: Rc::new(policy(Action::Mask)),
        }),
        audit: Audit::new(),
    };
    let mut t = transform();
    let _ = rewrite_json(kind, &mut t, body);

    let mut rw = StreamRewriter::new(kind, transform());
    let mut parser = SseParser::new(if split & 1 == 1 { 1 << 20 } else { 512 });
    let chunks = split_points(body, u64::from(split));
    let mut out = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        let end = i + 1 == chunks.len();
        let mut raw = Vec::new();
        parser.feed(c, &mut raw);
        if end {
            raw.extend(parser.finish());
        }
        let mut events: Vec<AnswerEvent> = raw.into_iter().map(AnswerEvent::from_sse).collect();
        rw.on_events(&mut events, end);
        tollgate_core::answer::write_events(&events, &mut out);
    }
    if chunks.is_empty() {
        rw.on_events(&mut Vec::new(), true);
    }
    let _ = rw.audit();
    // Without output scanning, every channel's text is its input text with placeholders restored
    // (wherever the deltas were cut, the stream cut inside its last event included), as long as the
    // parser did not give up on a huge event. Left out: a closing event between deltas (it releases
    // the held text of the channels it closes, by design), so a placeholder split around it stays
    // split.
    let (input_texts, interleaved) = channel_texts(kind, body);
    if !scan && !parser.overflowed() && !interleaved {
        let want: BTreeMap<Channel, String> = input_texts
            .into_iter()
            .map(|(c, t)| (c, vault.restore(&t)))
            .filter(|(_, t)| !t.is_empty())
            .collect();
        let got: BTreeMap<Channel, String> = channel_texts(kind, &out)
            .0
            .into_iter()
            .filter(|(_, t)| !t.is_empty())
            .collect();
        if want.len() <= 64 && got != want {
            return Err(format!(
                "stream restore: per-channel text differs\n  want {want:?}\n  got  {got:?}"
            ));
        }
    }
    Ok(())
}
