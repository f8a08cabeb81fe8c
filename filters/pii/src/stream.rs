//! Rewriting answers: masking PII the model invents and restoring placeholders to originals, in
//! JSON bodies and in SSE streams whose text arrives in deltas split anywhere.
//!
//! Streaming guarantee: delta text is held back only while it could still be the beginning of an
//! issued placeholder (e.g. `<EMA` waiting for `IL_1>`) or — when output scanning is on — while it
//! is within the last [`SCAN_HOLDBACK`] bytes, where a finding may still be growing. Everything else
//! is released with the event that brought it; what is held is released with the next delta or,
//! at the end of the message, in an extra delta event placed before the closing event.

use crate::detect::Detector;
use crate::redact::{apply, Audit, Policy, Vault};
use crate::walk::{is_delta_event, is_final_event, output_texts};
use serde_json::Value;
use std::rc::Rc;
use tollgate_core::api::ApiKind;
use tollgate_core::sse::{SseEvent, SseParser};

/// Bytes of streamed text kept back for output scanning (longer findings split across deltas are
/// only caught if they fit in this window).
pub const SCAN_HOLDBACK: usize = 64;

/// Output scanning: the detector and how its findings are rewritten (never with placeholders).
pub struct OutputScan {
    /// Detectors.
    pub detector: Rc<Detector>,
    /// Actions (placeholder is applied as mask).
    pub policy: Rc<Policy>,
}

/// The per-answer text transformation: scan, then restore.
pub struct Transform {
    /// Placeholders to restore (`None`: restore off).
    pub vault: Option<Rc<Vault>>,
    /// Output scanning (`None`: off).
    pub scan: Option<OutputScan>,
    /// Findings in the answer, per label and action.
    pub audit: Audit,
}

impl Transform {
    /// True when this transformation can change anything.
    pub fn is_active(&self) -> bool {
        self.scan.is_some() || self.vault.as_ref().is_some_and(|v| !v.is_empty())
    }

    /// Masks invented PII (placeholders are not PII), then restores placeholders.
    pub fn apply(&mut self, text: &str) -> String {
        let scanned = match &self.scan {
            Some(s) => {
                apply(
                    s.detector.scan(text),
                    &s.policy,
                    text,
                    None,
                    &mut self.audit,
                )
                .text
            }
            None => text.to_owned(),
        };
        match &self.vault {
            Some(v) => v.restore(&scanned),
            None => scanned,
        }
    }

    /// Where delta text can be cut: not inside a possible placeholder or a possible finding.
    fn cut(&self, text: &str) -> usize {
        let mut cut = text.len();
        if let Some(v) = &self.vault {
            cut -= v.pending_prefix_len(text);
        }
        if let Some(s) = &self.scan {
            cut = cut.min(text.len().saturating_sub(SCAN_HOLDBACK));
            while cut > 0 && !text.is_char_boundary(cut) {
                cut -= 1;
            }
            for f in s.detector.scan(text) {
                if f.start < cut && f.end > cut {
                    cut = f.start;
                }
            }
        }
        // Never split a complete placeholder.
        if let Some(v) = &self.vault {
            if let Some(i) = text.get(..cut).and_then(|t| t.rfind('<')) {
                if let Some(j) = text.get(i..).and_then(|t| t.find('>')) {
                    if i + j >= cut && text.get(i..=i + j).is_some_and(|p| v.original(p).is_some())
                    {
                        cut = i;
                    }
                }
            }
        }
        while cut > 0 && !text.is_char_boundary(cut) {
            cut -= 1;
        }
        cut
    }
}

/// Rewrites a complete JSON answer; `None` if it is not JSON (it then passes untouched).
pub fn rewrite_json(kind: ApiKind, t: &mut Transform, body: &[u8]) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    let mut changed = false;
    output_texts(kind, &mut v, &mut |s| {
        let n = t.apply(s);
        if n != *s {
            *s = n;
            changed = true;
        }
    });
    if !changed {
        return Some(body.to_vec());
    }
    serde_json::to_vec(&v).ok()
}

/// Rewrites an SSE answer event by event.
pub struct StreamRewriter {
    kind: ApiKind,
    parser: SseParser,
    transform: Transform,
    /// Delta text received but not yet released.
    pending: String,
    /// The last delta event (name, JSON, raw bytes), to carry held-back text at the end of a message.
    template: Option<(Option<String>, Value, Vec<u8>)>,
    /// Events that were not JSON (passed through untouched).
    pub unparseable: u64,
}

/// An event in the line endings of the one it replaces (Gemini uses CRLF).
fn serialize(name: Option<&str>, v: &Value, like: &[u8]) -> Vec<u8> {
    let eol: &[u8] = if like.contains(&b'\r') {
        b"\r\n"
    } else {
        b"\n"
    };
    let mut out = Vec::new();
    if let Some(n) = name {
        out.extend_from_slice(format!("event: {n}").as_bytes());
        out.extend_from_slice(eol);
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(v.to_string().as_bytes());
    out.extend_from_slice(eol);
    out.extend_from_slice(eol);
    out
}

impl StreamRewriter {
    /// A rewriter for an answer of `kind`.
    pub fn new(kind: ApiKind, transform: Transform) -> Self {
        Self {
            kind,
            parser: SseParser::default(),
            transform,
            pending: String::new(),
            template: None,
            unparseable: 0,
        }
    }

    /// Findings in the answer so far.
    pub fn audit(&self) -> &Audit {
        &self.transform.audit
    }

    /// Feeds a network chunk; returns the bytes to forward in its place.
    pub fn on_chunk(&mut self, chunk: &[u8], end: bool) -> Vec<u8> {
        let mut events = Vec::new();
        self.parser.feed(chunk, &mut events);
        if end {
            events.extend(self.parser.finish());
        }
        let mut out = Vec::new();
        for ev in events {
            self.on_event(ev, &mut out);
        }
        if end {
            self.release_held(&mut out);
        }
        out
    }

    /// Emits held-back text in a copy of the last delta event (usage fields removed).
    fn release_held(&mut self, out: &mut Vec<u8>) {
        if self.pending.is_empty() {
            return;
        }
        let text = self.transform.apply(&std::mem::take(&mut self.pending));
        let Some((name, mut v, raw)) = self.template.clone() else {
            return;
        };
        if let Some(o) = v.as_object_mut() {
            for k in ["usage", "usageMetadata", "finish_reason"] {
                o.remove(k);
            }
        }
        let mut first = true;
        output_texts(self.kind, &mut v, &mut |s| {
            *s = if first { text.clone() } else { String::new() };
            first = false;
        });
        out.extend(serialize(name.as_deref(), &v, &raw));
    }

    fn on_event(&mut self, ev: SseEvent, out: &mut Vec<u8>) {
        let Some(data) = ev.data.as_deref() else {
            out.extend_from_slice(&ev.raw);
            return;
        };
        if ev.is_done() {
            self.release_held(out);
            out.extend_from_slice(&ev.raw);
            return;
        }
        let Ok(mut v) = serde_json::from_str::<Value>(data) else {
            self.unparseable += 1;
            out.extend_from_slice(&ev.raw);
            return;
        };
        if is_delta_event(self.kind, &v) {
            let final_event = is_final_event(&v);
            let (mut texts, mut changed) = (0, false);
            let (pending, transform) = (&mut self.pending, &mut self.transform);
            output_texts(self.kind, &mut v, &mut |s| {
                texts += 1;
                pending.push_str(s);
                let cut = if final_event {
                    pending.len()
                } else {
                    transform.cut(pending)
                };
                let rest = pending.split_off(cut);
                let released = transform.apply(pending);
                changed |= released != *s;
                *s = released;
                *pending = rest;
            });
            if texts > 0 {
                self.template = Some((ev.event.clone(), v.clone(), ev.raw.clone()));
                // Untouched events keep their exact bytes (framing, field order, CRLF).
                if changed {
                    out.extend(serialize(ev.event.as_deref(), &v, &ev.raw));
                } else {
                    out.extend_from_slice(&ev.raw);
                }
                return;
            }
        } else {
            // Closing or full-text events: release what is held first, then fix full texts.
            self.release_held(out);
            let mut changed = false;
            let t = &mut self.transform;
            output_texts(self.kind, &mut v, &mut |s| {
                let n = t.apply(s);
                changed |= n != *s;
                *s = n;
            });
            if changed {
                out.extend(serialize(ev.event.as_deref(), &v, &ev.raw));
                return;
            }
        }
        out.extend_from_slice(&ev.raw);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::BUILTIN;
    use crate::redact::{redact, Action};

    fn setup(scan: bool) -> (Transform, Rc<Vault>) {
        let all: Vec<String> = BUILTIN.iter().map(|(d, _)| (*d).to_owned()).collect();
        let det = Rc::new(Detector::new(&all, &[], &[]).unwrap_or_else(|e| unreachable!("{e:?}")));
        let policy = Rc::new(Policy {
            actions: Default::default(),
            default_action: Action::Placeholder,
            keep_last: 4,
            salt: String::new(),
        });
        let mut vault = Vault::default();
        let r = redact(
            &det,
            &policy,
            "a@b.io and c@d.io",
            &mut vault,
            &mut Audit::new(),
        );
        assert_eq!(r.text, "<EMAIL_1> and <EMAIL_2>");
        let vault = Rc::new(vault);
        let scan = scan.then(|| OutputScan {
            detector: det,
            policy,
        });
        (
            Transform {
                vault: Some(vault.clone()),
                scan,
                audit: Audit::new(),
            },
            vault,
        )
    }

    fn chat_stream(deltas: &[&str]) -> String {
        let mut s = String::new();
        for d in deltas {
            let v = serde_json::json!({"id": "c", "choices": [{"index": 0, "delta": {"content": d}, "finish_reason": null}]});
            s.push_str(&format!("data: {v}\n\n"));
        }
        s.push_str("data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
        s.push_str("data: [DONE]\n\n");
        s
    }

    /// The stream fed to a fresh rewriter in network chunks of `split` bytes.
    fn rewrite_in_chunks(stream: &str, split: usize, scan: bool) -> (Vec<u8>, StreamRewriter) {
        let (t, _) = setup(scan);
        let mut rw = StreamRewriter::new(ApiKind::ChatCompletions, t);
        let chunks: Vec<&[u8]> = stream.as_bytes().chunks(split).collect();
        let mut out = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            out.extend(rw.on_chunk(c, i + 1 == chunks.len()));
        }
        (out, rw)
    }

    fn client_text(out: &[u8]) -> String {
        String::from_utf8_lossy(out)
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .filter_map(|v| {
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    }

    #[test]
    fn placeholder_split_across_events_and_chunks_is_restored() {
        let stream = chat_stream(&[
            "Write to <EM",
            "AIL_1> or <",
            "EMAIL_2",
            "> now, not <EMAIL_3>.",
        ]);
        for split in 1..=16 {
            let (out, _) = rewrite_in_chunks(&stream, split, false);
            assert_eq!(
                client_text(&out),
                "Write to a@b.io or c@d.io now, not <EMAIL_3>.",
                "split {split}"
            );
            assert!(String::from_utf8_lossy(&out).ends_with("data: [DONE]\n\n"));
        }
    }

    #[test]
    fn only_a_possible_placeholder_is_held_back() {
        let (t, _) = setup(false);
        let mut rw = StreamRewriter::new(ApiKind::ChatCompletions, t);
        let ev = |d: &str| {
            format!(
                "data: {}\n\n",
                serde_json::json!({"choices": [{"delta": {"content": d}}]})
            )
        };
        assert_eq!(
            client_text(&rw.on_chunk(ev("Hello wor").as_bytes(), false)),
            "Hello wor"
        );
        assert_eq!(
            client_text(&rw.on_chunk(ev("ld <EM").as_bytes(), false)),
            "ld "
        );
        assert_eq!(
            client_text(&rw.on_chunk(ev("AIL_1>!").as_bytes(), false)),
            "a@b.io!"
        );
        assert_eq!(
            client_text(&rw.on_chunk(ev("a < b").as_bytes(), false)),
            "a < b"
        );
    }

    #[test]
    fn invented_pii_is_masked_even_when_split() {
        let stream = chat_stream(&[
            "Call me at 415-55",
            "5-2671 or mail <EMAIL_1>",
            " or x@y",
            ".org today",
        ]);
        for split in [1, 3, 7, 16, 4096] {
            let (out, rw) = rewrite_in_chunks(&stream, split, true);
            assert_eq!(
                client_text(&out),
                "Call me at ***-***-2671 or mail a@b.io or *@*.org today",
                "split {split}"
            );
            assert_eq!(rw.audit().get(&("PHONE".into(), Action::Mask)), Some(&1));
        }
    }

    #[test]
    fn json_answers_are_rewritten() {
        let (mut t, _) = setup(true);
        let body = br#"{"choices":[{"message":{"role":"assistant","content":"Hi <EMAIL_2>, SSN 123-45-6789"}}],"usage":{"total_tokens":3}}"#;
        let out = rewrite_json(ApiKind::ChatCompletions, &mut t, body).unwrap_or_default();
        let v: Value = serde_json::from_slice(&out).unwrap_or_default();
        assert_eq!(
            v["choices"][0]["message"]["content"],
            "Hi c@d.io, SSN ***-**-6789"
        );
        assert_eq!(v["usage"]["total_tokens"], 3);
        assert!(rewrite_json(ApiKind::ChatCompletions, &mut t, b"not json").is_none());
    }
}
