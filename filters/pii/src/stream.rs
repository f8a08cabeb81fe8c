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
use crate::walk::output_texts;
use serde_json::Value;
use std::collections::BTreeMap;
use std::rc::Rc;
use tollgate_core::answer::{
    closes, delta_event, delta_texts, finished_groups, is_delta_event, AnswerEvent, Channel,
};
use tollgate_core::api::ApiKind;

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

/// Most channels (choice × field × tool call) one answer may hold text back on; text of further
/// channels is rewritten without hold-back (a placeholder split across their deltas then stays).
const MAX_CHANNELS: usize = 256;

/// Text held back on one channel, with the event it came in (the model for the event that will
/// carry it out).
struct Held {
    text: String,
    name: Option<String>,
    template: Value,
    like: Vec<u8>,
}

/// Rewrites the decoded events of an SSE answer, holding text back per channel.
pub struct StreamRewriter {
    kind: ApiKind,
    transform: Transform,
    held: BTreeMap<Channel, Held>,
    /// Events that were not JSON (passed untouched, or withheld when `block_unscanned`).
    pub unparseable: u64,
    /// Withhold events that cannot be scanned (an SSE comment takes their place).
    pub block_unscanned: bool,
}

impl StreamRewriter {
    /// A rewriter for an answer of `kind`.
    pub fn new(kind: ApiKind, transform: Transform) -> Self {
        Self {
            kind,
            transform,
            held: BTreeMap::new(),
            unparseable: 0,
            block_unscanned: false,
        }
    }

    /// Findings in the answer so far.
    pub fn audit(&self) -> &Audit {
        &self.transform.audit
    }

    /// Rewrites the events of one network chunk in place (`end`: the answer is over).
    pub fn on_events(&mut self, events: &mut Vec<AnswerEvent>, end: bool) {
        let input = std::mem::take(events);
        for ev in input {
            self.on_event(ev, events);
        }
        if end {
            self.release(events, |_| true);
        }
    }

    /// Emits the held text of the channels `which` selects, each in a delta event of its own.
    fn release(&mut self, out: &mut Vec<AnswerEvent>, which: impl Fn(&Channel) -> bool) {
        let chans: Vec<Channel> = self.held.keys().filter(|c| which(c)).copied().collect();
        for ch in chans {
            let Some(h) = self.held.remove(&ch) else {
                continue;
            };
            if h.text.is_empty() {
                continue;
            }
            let text = self.transform.apply(&h.text);
            let v = delta_event(self.kind, &h.template, ch, &text);
            out.push(AnswerEvent::synthetic(h.name, v, &h.like));
        }
    }

    fn on_event(&mut self, mut ev: AnswerEvent, out: &mut Vec<AnswerEvent>) {
        if ev.data.is_none() {
            out.push(ev);
            return;
        }
        if ev.is_done() {
            self.release(out, |_| true);
            out.push(ev);
            return;
        }
        let kind = self.kind;
        let Some(v) = ev.json() else {
            self.unparseable += 1;
            if self.block_unscanned {
                out.push(AnswerEvent::from_sse(tollgate_core::sse::SseEvent {
                    raw: b": tollgate withheld an event it could not scan\n\n".to_vec(),
                    event: None,
                    data: None,
                }));
            } else {
                out.push(ev);
            }
            return;
        };
        if !is_delta_event(kind, v) {
            // Closing or full-text events: the held text of the channels they close comes out
            // first, then full texts are fixed. Others (Anthropic's `ping`, a Responses
            // annotation) close nothing: held text — a placeholder's start — stays held, or the
            // placeholder would reach the client split and unrestored.
            let c = closes(kind, v);
            self.release(out, |ch| c.covers(ch));
            let t = &mut self.transform;
            let mut changed = false;
            if let Some(v) = ev.json_to_edit() {
                output_texts(kind, v, &mut |s| {
                    let n = t.apply(s);
                    changed |= n != *s;
                    *s = n;
                });
            }
            if changed {
                ev.mark_changed();
            }
            out.push(ev);
            return;
        }
        let finished = finished_groups(kind, v);
        let (name, like) = (ev.name.clone(), ev.raw.clone());
        let mut in_event: Vec<Channel> = Vec::new();
        let mut changed = false;
        let mut new_held: Vec<(Channel, String)> = Vec::new();
        {
            let (held, transform) = (&mut self.held, &mut self.transform);
            if let Some(v) = ev.json_to_edit() {
                delta_texts(kind, v, &mut |ch, s| {
                    in_event.push(ch);
                    let mut pending = match held.get_mut(&ch) {
                        Some(h) => std::mem::take(&mut h.text),
                        None => String::new(),
                    };
                    pending.push_str(s);
                    let cut = if finished.contains(&ch.group)
                        || (held.len() >= MAX_CHANNELS && !held.contains_key(&ch))
                    {
                        pending.len()
                    } else {
                        transform.cut(&pending)
                    };
                    let rest = pending.split_off(cut);
                    let released = transform.apply(&pending);
                    changed |= released != *s;
                    *s = released;
                    match held.get_mut(&ch) {
                        Some(h) => h.text = rest,
                        None if !rest.is_empty() => new_held.push((ch, rest)),
                        None => {}
                    }
                });
            }
        }
        if !new_held.is_empty() {
            // The event as it came in is the model for the one that will carry the held text.
            let template = ev.json().cloned().unwrap_or(Value::Null);
            for (ch, text) in new_held {
                self.held.insert(
                    ch,
                    Held {
                        text,
                        name: name.clone(),
                        template: template.clone(),
                        like: like.clone(),
                    },
                );
            }
        }
        // A choice that ends here: its other channels' held text goes out before this event.
        if !finished.is_empty() {
            self.release(out, |c| {
                finished.contains(&c.group) && !in_event.contains(c)
            });
        }
        if changed {
            ev.mark_changed();
        }
        out.push(ev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::BUILTIN;
    use crate::redact::{redact, Action};
    use tollgate_core::sse::SseParser;

    /// A rewriter fed network chunks, as the pipeline feeds it.
    struct Feed {
        rw: StreamRewriter,
        parser: SseParser,
    }

    impl Feed {
        fn new(kind: ApiKind, t: Transform) -> Self {
            Self {
                rw: StreamRewriter::new(kind, t),
                parser: SseParser::default(),
            }
        }

        fn on_chunk(&mut self, chunk: &[u8], end: bool) -> Vec<u8> {
            let mut raw = Vec::new();
            self.parser.feed(chunk, &mut raw);
            if end {
                raw.extend(self.parser.finish());
            }
            let mut events: Vec<AnswerEvent> = raw.into_iter().map(AnswerEvent::from_sse).collect();
            self.rw.on_events(&mut events, end);
            let mut out = Vec::new();
            events.iter().for_each(|e| e.write(&mut out));
            out
        }

        fn audit(&self) -> &Audit {
            self.rw.audit()
        }
    }

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
    fn rewrite_in_chunks(stream: &str, split: usize, scan: bool) -> (Vec<u8>, Feed) {
        let (t, _) = setup(scan);
        let mut rw = Feed::new(ApiKind::ChatCompletions, t);
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

    /// Found by the fuzzer (`pii_stream` target): a non-delta event between two deltas released
    /// the held start of a placeholder; Anthropic sends `ping`s mid-stream.
    #[test]
    fn a_ping_between_deltas_keeps_the_placeholder_whole() {
        let (t, _) = setup(false);
        let mut rw = Feed::new(ApiKind::AnthropicMessages, t);
        let delta = |d: &str| {
            let v = serde_json::json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": d}});
            format!("event: content_block_delta\ndata: {v}\n\n")
        };
        let stream = [
            delta("Hi <EMA"),
            "event: ping\ndata: {\"type\": \"ping\"}\n\n".to_owned(),
            delta("IL_1>."),
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
                .to_owned(),
        ]
        .concat();
        let out = String::from_utf8_lossy(&rw.on_chunk(stream.as_bytes(), true)).into_owned();
        let text: String = out
            .split("\n\n")
            .filter_map(|e| e.split("data: ").nth(1))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .filter_map(|v| v["delta"]["text"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(text, "Hi a@b.io.", "{out}");
        assert!(out.contains("event: ping"), "{out}");
    }

    #[test]
    fn only_a_possible_placeholder_is_held_back() {
        let (t, _) = setup(false);
        let mut rw = Feed::new(ApiKind::ChatCompletions, t);
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

    /// Per (choice, field) texts the client accumulates, and whether any delta came after its
    /// choice's `finish_reason`.
    fn accumulate(out: &[u8]) -> (BTreeMap<(u64, String), String>, bool) {
        let mut acc = BTreeMap::new();
        let mut finished: Vec<u64> = Vec::new();
        let mut late = false;
        for e in String::from_utf8_lossy(out).split("\n\n") {
            let Some(v) = e
                .strip_prefix("data: ")
                .and_then(|d| serde_json::from_str::<Value>(d).ok())
            else {
                continue;
            };
            for c in v["choices"].as_array().into_iter().flatten() {
                let i = c["index"].as_u64().unwrap_or(0);
                let d = &c["delta"];
                let mut add = |k: String, t: &str| {
                    if !t.is_empty() && finished.contains(&i) {
                        late = true;
                    }
                    acc.entry((i, k)).or_insert_with(String::new).push_str(t);
                };
                if let Some(t) = d["content"].as_str() {
                    add("content".into(), t);
                }
                for tc in d["tool_calls"].as_array().into_iter().flatten() {
                    let k = tc["index"].as_u64().unwrap_or(0);
                    if let Some(n) = tc["function"]["name"].as_str() {
                        add(format!("name{k}"), n);
                    }
                    if let Some(t) = tc["function"]["arguments"].as_str() {
                        add(format!("args{k}"), t);
                    }
                }
                if !c["finish_reason"].is_null() {
                    finished.push(i);
                }
            }
        }
        (acc, late)
    }

    #[test]
    fn parallel_tool_calls_and_choices_keep_their_own_text() {
        let ev = |v: Value| format!("data: {v}\n\n");
        let content = |i: u64, t: &str| {
            ev(
                serde_json::json!({"id":"c","choices":[{"index":i,"delta":{"content":t},"finish_reason":null}]}),
            )
        };
        let call_start = |i: u64, k: u64, name: &str| {
            ev(
                serde_json::json!({"id":"c","choices":[{"index":i,"delta":{"tool_calls":[{"index":k,"id":format!("call_{k}"),"type":"function","function":{"name":name,"arguments":""}}]},"finish_reason":null}]}),
            )
        };
        let args = |i: u64, k: u64, t: &str| {
            ev(
                serde_json::json!({"id":"c","choices":[{"index":i,"delta":{"tool_calls":[{"index":k,"function":{"arguments":t}}]},"finish_reason":null}]}),
            )
        };
        let finish = |i: u64, r: &str| {
            ev(serde_json::json!({"id":"c","choices":[{"index":i,"delta":{},"finish_reason":r}]}))
        };
        let mut stream = String::new();
        stream += &content(0, "Sure: I will write to <EMA");
        stream += &content(1, "Choice two mails <EMAIL_2> about ");
        stream += &content(0, "IL_1> and look up the weather for you now.");
        stream += &call_start(0, 0, "send_mail");
        stream += &content(1, "the weather, and that is all of it really.");
        stream += &args(0, 0, "{\"to\":\"<EMA");
        stream += &call_start(0, 1, "weather");
        stream += &args(0, 0, "IL_1>\",\"body\":\"hello there\"}");
        stream += &args(0, 1, "{\"city\":\"Paris\",\"unit\":\"celsius\"}");
        stream += &finish(1, "stop");
        stream += &finish(0, "tool_calls");
        stream += "data: [DONE]\n\n";
        for scan in [false, true] {
            for split in (1..=16).chain([64, 4096]) {
                let (out, _) = rewrite_in_chunks(&stream, split, scan);
                let (acc, late) = accumulate(&out);
                let get =
                    |i: u64, k: &str| acc.get(&(i, k.to_owned())).cloned().unwrap_or_default();
                assert_eq!(
                    get(0, "content"),
                    "Sure: I will write to a@b.io and look up the weather for you now.",
                    "scan {scan} split {split}"
                );
                assert_eq!(
                    get(1, "content"),
                    "Choice two mails c@d.io about the weather, and that is all of it really."
                );
                assert_eq!(
                    get(0, "args0"),
                    r#"{"to":"a@b.io","body":"hello there"}"#,
                    "split {split}"
                );
                assert_eq!(
                    get(0, "args1"),
                    r#"{"city":"Paris","unit":"celsius"}"#,
                    "split {split}"
                );
                assert_eq!(
                    (get(0, "name0"), get(0, "name1")),
                    ("send_mail".into(), "weather".into())
                );
                assert!(
                    !late,
                    "a delta came after its choice finished (scan {scan} split {split})"
                );
                assert!(String::from_utf8_lossy(&out).ends_with("data: [DONE]\n\n"));
            }
        }
    }
}
