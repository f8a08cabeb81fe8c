//! Per-request state of the emitter, driven by the glue with bytes, headers and the time.

use crate::config::Config;
use crate::record::{Outcome, UsageRecord};
use tollgate_core::answer::{AnswerEvent, AnswerFormat};
use tollgate_core::api::ApiKind;
use tollgate_core::body::LlmRequest;
use tollgate_core::config::FailureMode;
use tollgate_core::request::{set_include_usage, ParsedRequest};
use tollgate_core::usage::{self, EventRole, ResponseFacts, StreamUsage};

/// Who is calling and through which provider, read from request headers.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// Client id header value.
    pub client: Option<String>,
    /// Business group.
    pub group: Option<String>,
    /// Provider that will serve the request.
    pub provider: String,
}

/// What to do with the request body.
#[derive(Debug, PartialEq, Eq)]
pub enum RequestAction {
    /// Forward as is.
    Forward,
    /// Forward these bytes instead (usage injection).
    Replace(Vec<u8>),
    /// Answer 400: the body is not an LLM request and `failure_mode` is `deny`.
    Reject,
}

enum Body {
    /// Not read yet (before response headers).
    Pending,
    /// An SSE stream (its events decoded by the pipeline, once for every policy).
    Sse(Box<StreamUsage>),
    /// A JSON body, accumulated until the end.
    Json(Vec<u8>),
    /// A body we do not read (compressed, too large, unknown type).
    Skipped,
}

/// One LLM exchange as seen by the emitter.
pub struct Exchange {
    kind: ApiKind,
    path: String,
    caller: Caller,
    started_ns: u64,
    requested_model: Option<String>,
    /// The client asked for a streamed answer.
    stream_requested: bool,
    /// We added `include_usage`, so the usage-only chunk is ours to remove.
    strip_usage_chunk: bool,
    status: u32,
    body: Body,
    unparseable: bool,
    first_event_ns: Option<u64>,
    request_unparseable: bool,
    rejected_by: Option<String>,
}

impl Exchange {
    /// Starts tracking a request recognised as `kind`.
    pub fn new(kind: ApiKind, path: &str, caller: Caller, now_ns: u64) -> Self {
        Self {
            kind,
            path: path.to_owned(),
            caller,
            started_ns: now_ns,
            requested_model: None,
            stream_requested: matches!(kind, ApiKind::GeminiStreamGenerate),
            strip_usage_chunk: false,
            status: 0,
            body: Body::Pending,
            unparseable: false,
            first_event_ns: None,
            request_unparseable: false,
            rejected_by: None,
        }
    }

    /// The request body could not be read as an LLM request.
    pub fn request_unparseable(&self) -> bool {
        self.request_unparseable
    }

    /// Reads the complete request body once; may ask for the usage-chunk injection.
    pub fn on_request_body(&mut self, body: &[u8], cfg: &Config) -> RequestAction {
        let mut req = LlmRequest::new(self.kind, self.path.clone(), body.to_vec());
        match (self.on_request(&mut req, cfg), req.new_body()) {
            (RequestAction::Forward, Some(Ok(b))) => RequestAction::Replace(b),
            (action, _) => action,
        }
    }

    /// Reads the parsed request; may add `stream_options.include_usage` to it (then
    /// [`LlmRequest::mark_changed`]). `Replace` is never returned here: the change is in `req`.
    pub fn on_request(&mut self, req: &mut LlmRequest, cfg: &Config) -> RequestAction {
        let (kind, path) = (self.kind, self.path.clone());
        let parsed = req
            .doc()
            .ok()
            .and_then(|doc| ParsedRequest::from_doc(kind, &path, doc).ok());
        match parsed {
            Some(p) => {
                self.requested_model = p.facts.model.clone();
                self.stream_requested = p.facts.stream;
                if cfg.inject_stream_usage && p.lacks_stream_usage() {
                    if let Ok(doc) = req.doc_mut() {
                        if set_include_usage(doc) {
                            req.mark_changed();
                            self.strip_usage_chunk = true;
                        }
                    }
                }
                RequestAction::Forward
            }
            None => {
                self.request_unparseable = true;
                match cfg.failure_mode {
                    FailureMode::Allow => RequestAction::Forward,
                    FailureMode::Deny => RequestAction::Reject,
                }
            }
        }
    }

    /// Records the response status and decides how the body will be read.
    pub fn on_response_headers(&mut self, status: u32, format: &AnswerFormat) {
        self.status = status;
        self.body = if format.encoded {
            self.unparseable = true;
            Body::Skipped
        } else if format.sse {
            Body::Sse(Box::default())
        } else {
            Body::Json(Vec::new())
        };
        if !matches!(self.body, Body::Sse(_)) {
            // Nothing to strip from a body that is not a stream (e.g. an error reply).
            self.strip_usage_chunk = false;
        }
    }

    /// The provider that actually served the request (after any fallback), when the upstream
    /// adapter named it in the response.
    pub fn set_served_provider(&mut self, provider: Option<String>) {
        if let Some(p) = provider.filter(|p| !p.is_empty()) {
            self.caller.provider = p;
        }
    }

    /// The reply was generated by this Tollgate filter (e.g. `ratelimit`), not by the provider.
    pub fn set_rejected_by(&mut self, filter: Option<String>) {
        self.rejected_by = filter;
    }

    /// True when the response body may be rewritten (so its content-length must go).
    pub fn rewrites_response(&self) -> bool {
        self.strip_usage_chunk
    }

    /// True when the response is a stream.
    pub fn is_stream(&self) -> bool {
        matches!(self.body, Body::Sse(_))
    }

    /// Feeds one chunk of an answer that is not an SSE stream.
    pub fn on_response_chunk(&mut self, chunk: &[u8], now_ns: u64, cfg: &Config) {
        match &mut self.body {
            Body::Pending | Body::Skipped => {}
            Body::Json(buf) => {
                // A streamed JSON array (Gemini without alt=sse): its first bytes are the first token.
                if self.stream_requested && self.first_event_ns.is_none() && !chunk.is_empty() {
                    self.first_event_ns = Some(now_ns);
                }
                if buf.len() + chunk.len() > cfg.max_response_body_bytes {
                    self.unparseable = true;
                    self.body = Body::Skipped;
                } else {
                    buf.extend_from_slice(chunk);
                }
            }
            // SSE answers arrive as decoded events: `on_response_events`.
            Body::Sse(_) => {}
        }
    }

    /// Feeds the events of an SSE answer; removes the usage-only chunk Tollgate asked for.
    pub fn on_response_events(&mut self, events: &mut Vec<AnswerEvent>, now_ns: u64) {
        let Body::Sse(usage) = &mut self.body else {
            return;
        };
        let (kind, strip) = (self.kind, self.strip_usage_chunk);
        let first = &mut self.first_event_ns;
        events.retain_mut(|ev| {
            if ev.data.is_some() && first.is_none() {
                *first = Some(now_ns);
            }
            let role = usage.on_answer_event(kind, ev);
            !(strip && role == EventRole::UsageOnly)
        });
    }

    /// Closes the exchange and produces its record. `estimate`: (prompt, total) tokens the rate
    /// limit charged for a stream that was cut, used when the provider reported none.
    pub fn finish_cut(
        &mut self,
        now_ns: u64,
        cfg: &Config,
        estimate: Option<(u64, u64)>,
    ) -> UsageRecord {
        let mut rec = self.finish(now_ns, cfg);
        if let (None, Some((prompt, total))) = (&rec.usage, estimate) {
            let u = tollgate_core::usage::Usage {
                prompt_tokens: prompt,
                completion_tokens: total.saturating_sub(prompt),
                total_tokens: total,
                ..Default::default()
            };
            rec.cost_micro_usd = rec
                .served_model
                .as_deref()
                .or(rec.requested_model.as_deref())
                .and_then(|m| cfg.prices.cost_micro_usd(m, &u));
            rec.usage = Some(u);
            rec.outcome = Outcome::Estimated;
        }
        rec
    }

    /// Closes the exchange and produces its record.
    pub fn finish(&mut self, now_ns: u64, cfg: &Config) -> UsageRecord {
        let streamed = self.stream_requested || self.is_stream();
        let facts: Option<ResponseFacts> = match std::mem::replace(&mut self.body, Body::Skipped) {
            Body::Sse(usage) => {
                if usage.events() > 0 && usage.unparseable_events() == usage.events() {
                    self.unparseable = true;
                }
                Some(usage.facts().clone())
            }
            Body::Json(buf) if !buf.is_empty() => match usage::from_json(self.kind, &buf) {
                Ok(f) => Some(f),
                // Error replies (often Envoy's own plain-text ones) carry no usage by design;
                // only a success body we cannot read is "unparseable".
                Err(_) => {
                    self.unparseable = self.status < 400;
                    None
                }
            },
            _ => None,
        };
        let facts = facts.unwrap_or_default();
        let outcome = match (&facts.usage, self.unparseable) {
            (Some(_), _) => Outcome::Reported,
            (None, true) => Outcome::Unparseable,
            (None, false) => Outcome::NoUsage,
        };
        let mut rec = UsageRecord {
            api: self.kind.as_str(),
            provider: self.caller.provider.clone(),
            client: self.caller.client.clone(),
            group: self.caller.group.clone(),
            requested_model: self.requested_model.clone(),
            served_model: facts.model.filter(|m| !m.is_empty()),
            usage: facts.usage,
            cost_micro_usd: None,
            status: self.status,
            streamed,
            ttft_ms: self
                .first_event_ns
                .map(|t| t.saturating_sub(self.started_ns) / 1_000_000),
            duration_ms: now_ns.saturating_sub(self.started_ns) / 1_000_000,
            outcome,
            rejected_by: self.rejected_by.clone(),
        };
        if let Some(u) = &rec.usage {
            let priced = rec
                .served_model
                .as_deref()
                .and_then(|m| cfg.prices.cost_micro_usd(m, u))
                .or_else(|| {
                    rec.requested_model
                        .as_deref()
                        .and_then(|m| cfg.prices.cost_micro_usd(m, u))
                });
            rec.cost_micro_usd = priced;
        }
        rec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: &str) -> Config {
        Config::from_json(json.as_bytes()).unwrap_or_else(|e| unreachable!("{e}"))
    }

    const STREAM: &str = "data: {\"model\":\"gpt-4o\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n\
data: {\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1,\"total_tokens\":10}}\n\n\
data: [DONE]\n\n";

    fn run_stream(strip_requested: bool, split: usize) -> (Vec<u8>, UsageRecord) {
        let c = cfg(r#"{"prices":{"gpt-4o":{"input":2.5,"output":10}}}"#);
        let mut x = Exchange::new(
            ApiKind::ChatCompletions,
            "/v1/chat/completions",
            Caller::default(),
            0,
        );
        let body = if strip_requested {
            r#"{"model":"gpt-4o","stream":true,"messages":[]}"#
        } else {
            r#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#
        };
        let action = x.on_request_body(body.as_bytes(), &c);
        assert_eq!(matches!(action, RequestAction::Replace(_)), strip_requested);
        x.on_response_headers(
            200,
            &AnswerFormat::of(Some("text/event-stream; charset=utf-8"), None),
        );
        let mut client = Vec::new();
        let mut parser = tollgate_core::sse::SseParser::default();
        let chunks: Vec<&[u8]> = STREAM.as_bytes().chunks(split).collect();
        for (i, ch) in chunks.iter().enumerate() {
            let mut raw = Vec::new();
            parser.feed(ch, &mut raw);
            if i + 1 == chunks.len() {
                raw.extend(parser.finish());
            }
            let mut events: Vec<AnswerEvent> = raw.into_iter().map(AnswerEvent::from_sse).collect();
            x.on_response_events(&mut events, 5_000_000);
            events.iter().for_each(|e| e.write(&mut client));
        }
        (client, x.finish(9_000_000, &c))
    }

    #[test]
    fn injected_usage_chunk_is_hidden_at_every_split() {
        for split in 1..=16 {
            let (client, rec) = run_stream(true, split);
            let text = String::from_utf8(client).unwrap_or_default();
            assert!(!text.contains("\"choices\":[]"), "split {split}: {text}");
            assert!(text.ends_with("data: [DONE]\n\n"));
            assert_eq!(rec.usage.map(|u| u.total_tokens), Some(10));
            // 9 * 2.5 + 1 * 10 = 32.5 -> 33 (rounded half away from zero)
            assert_eq!(rec.cost_micro_usd, Some(33));
            assert_eq!(rec.ttft_ms, Some(5));
            assert_eq!(rec.duration_ms, 9);
        }
    }

    #[test]
    fn client_requested_usage_chunk_is_kept() {
        let (client, rec) = run_stream(false, 7);
        assert_eq!(client, STREAM.as_bytes());
        assert_eq!(rec.outcome, Outcome::Reported);
    }

    #[test]
    fn malformed_json_is_counted_and_forwarded() {
        let c = cfg("{}");
        let mut x = Exchange::new(
            ApiKind::ChatCompletions,
            "/v1/chat/completions",
            Caller::default(),
            0,
        );
        x.on_request_body(br#"{"model":"m","messages":[]}"#, &c);
        x.on_response_headers(200, &AnswerFormat::of(Some("application/json"), None));
        x.on_response_chunk(b"{\"id\": \"broken\", \"choi", 1, &c);
        let rec = x.finish(1, &c);
        assert_eq!(rec.outcome, Outcome::Unparseable);
        assert_eq!(rec.cost_micro_usd, None);
    }

    #[test]
    fn bad_request_body_follows_failure_mode() {
        let mut x = Exchange::new(ApiKind::ChatCompletions, "/", Caller::default(), 0);
        assert_eq!(
            x.on_request_body(b"nope", &cfg("{}")),
            RequestAction::Forward
        );
        assert!(x.request_unparseable());
        let mut x = Exchange::new(ApiKind::ChatCompletions, "/", Caller::default(), 0);
        assert_eq!(
            x.on_request_body(b"nope", &cfg(r#"{"failure_mode":"deny"}"#)),
            RequestAction::Reject
        );
    }

    #[test]
    fn compressed_body_is_unparseable() {
        let c = cfg("{}");
        let mut x = Exchange::new(ApiKind::ChatCompletions, "/", Caller::default(), 0);
        x.on_response_headers(
            200,
            &AnswerFormat::of(Some("application/json"), Some("gzip")),
        );
        x.on_response_chunk(b"\x1f\x8b...", 1, &c);
        assert_eq!(x.finish(1, &c).outcome, Outcome::Unparseable);
    }
}
