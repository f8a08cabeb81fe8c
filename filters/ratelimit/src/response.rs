//! Reads the real usage from the response (JSON or SSE) to settle the reservations.

use tollgate_core::answer::AnswerEvent;
use tollgate_core::api::ApiKind;
use tollgate_core::usage::{self, StreamUsage};
use tollgate_tokenizer::Bpe;

/// Most bytes kept to count a completion that came without usage.
const MAX_KEPT: usize = 1 << 20;

/// Tracks one response.
pub struct Tracker {
    kind: ApiKind,
    /// SSE answers: usage gathered from the pipeline's decoded events.
    sse: Option<StreamUsage>,
    /// JSON body, or the data of SSE events (kept only while no usage was seen).
    kept: Vec<u8>,
    overflow: bool,
}

/// The real usage of an exchange, as far as it can be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actual {
    /// Prompt tokens.
    pub prompt: u64,
    /// Prompt + completion tokens.
    pub total: u64,
    /// The provider reported no usage: the completion was counted with the tokenizer.
    pub counted: bool,
}

impl Tracker {
    /// A tracker for a response of `kind`, SSE if `sse`.
    pub fn new(kind: ApiKind, sse: bool) -> Self {
        Self {
            kind,
            sse: sse.then(StreamUsage::default),
            kept: Vec::new(),
            overflow: false,
        }
    }

    fn keep(&mut self, bytes: &[u8]) {
        if self.kept.len().saturating_add(bytes.len()) > MAX_KEPT {
            self.overflow = true;
        } else {
            self.kept.extend_from_slice(bytes);
        }
    }

    /// Feeds a body chunk of a JSON answer.
    pub fn on_chunk(&mut self, chunk: &[u8]) {
        if self.sse.is_none() {
            self.keep(chunk);
        }
    }

    /// Feeds the decoded events of an SSE answer.
    pub fn on_events(&mut self, events: &mut [AnswerEvent]) {
        let Some(su) = self.sse.as_mut() else {
            return;
        };
        for ev in events.iter_mut() {
            su.on_answer_event(self.kind, ev);
        }
        if su.facts().usage.is_some() {
            self.kept.clear();
            return;
        }
        // No usage yet: keep the text events in case none comes (the completion is then counted).
        for d in events.iter().filter_map(|e| e.data.as_deref()) {
            self.keep(d.as_bytes());
            self.keep(b"\n\n");
        }
    }

    /// The usage: reported, or `prompt_estimate` + the completion counted with `bpe`.
    pub fn finish(&mut self, prompt_estimate: u64, bpe: Option<&Bpe>) -> Actual {
        let reported = match self.sse.as_ref() {
            Some(su) => su.facts().usage,
            None => usage::from_json(self.kind, &self.kept)
                .ok()
                .and_then(|f| f.usage),
        };
        if let Some(u) = reported {
            return Actual {
                prompt: u.prompt_tokens,
                total: u.total_tokens,
                counted: false,
            };
        }
        let mut text = String::new();
        let items: Vec<&[u8]> = if self.sse.is_some() {
            self.kept
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .collect()
        } else {
            vec![&self.kept[..]]
        };
        for it in items {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(it) {
                usage::output_text(self.kind, &v, &mut text);
            }
        }
        let mut completion = bpe.map_or(0, |b| b.count(&text) as u64);
        if self.overflow {
            // Beyond what we kept: assume ~4 bytes per token rather than nothing.
            completion = completion.max(MAX_KEPT as u64 / 4);
        }
        Actual {
            prompt: prompt_estimate,
            total: prompt_estimate.saturating_add(completion),
            counted: true,
        }
    }
}
