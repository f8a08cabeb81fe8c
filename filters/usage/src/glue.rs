//! proxy-wasm adapter: the usage stage reads the caller from headers, the request from the pipeline,
//! the answer chunk by chunk, and emits one record.

use crate::config::Config;
use crate::exchange::{Caller, Exchange, RequestAction};
use crate::record::UsageRecord;
use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use tollgate_core::answer::{AnswerEvent, AnswerFormat};
use tollgate_core::body::LlmRequest;
use tollgate_core::config::FailureMode;
use tollgate_core::error::{openai_error_body, LOCAL_REPLY_HEADER};
use tollgate_wasm::{
    get_string_property, now_ns, reject, req_header, resp_header, set_filter_state, set_req_header,
    set_resp_header, Answer, Filter, Head, Stage, Step,
};

// `root()` for the combined module (filters/all); its own entry point when built standalone.
tollgate_wasm::filter_entry!(Usage);

#[derive(Default)]
/// The usage emitter as a [`Filter`].
pub struct Usage;

/// What all streams of the plugin share.
pub struct Shared {
    config: Rc<Config>,
    metrics: Rc<RefCell<Metrics>>,
}

impl Filter for Usage {
    type Shared = Shared;
    const NAME: &'static str = "tollgate_usage";

    fn configure(bytes: &[u8]) -> Result<Shared, String> {
        let c = Config::from_json(bytes).map_err(|e| e.to_string())?;
        let metrics = Metrics {
            max_tag_sets: c.max_tag_sets,
            ..Metrics::default()
        };
        Ok(Shared {
            config: Rc::new(c),
            metrics: Rc::new(RefCell::new(metrics)),
        })
    }

    fn stage(s: &Rc<Shared>) -> Option<Box<dyn Stage>> {
        Some(Box::new(UsageStage {
            config: s.config.clone(),
            metrics: s.metrics.clone(),
            exchange: None,
            hold_headers: false,
        }))
    }
}

struct UsageStage {
    config: Rc<Config>,
    metrics: Rc<RefCell<Metrics>>,
    exchange: Option<Exchange>,
    /// Response headers are held until the body is read, to add `x-tollgate-usage-*`.
    hold_headers: bool,
}

impl UsageStage {
    fn emit(&mut self) {
        let Some(x) = self.exchange.as_mut() else {
            return;
        };
        let rec = x.finish(now_ns(), &self.config);
        self.publish(rec);
    }

    fn publish(&mut self, rec: UsageRecord) {
        for (k, v) in rec.filter_state() {
            set_filter_state(k, &v);
        }
        let bad_request = self
            .exchange
            .as_ref()
            .is_some_and(Exchange::request_unparseable);
        self.exchange = None;
        self.metrics
            .borrow_mut()
            .record(&rec, bad_request, &self.config);
    }
}

impl Stage for UsageStage {
    fn request_headers(&mut self, head: &Head) -> Step {
        let Some(kind) = head.kind else {
            // Not an LLM call (the route table answers it): the access log still names the caller.
            if let Some(c) = req_header(&self.config.client_id_header).filter(|c| !c.is_empty()) {
                set_filter_state("tollgate.client", &c);
            }
            return Step::Next;
        };
        let cfg = &self.config;
        let client = req_header(&cfg.client_id_header).filter(|c| !c.is_empty());
        let group_value = cfg.group_header.as_deref().and_then(req_header);
        let caller = Caller {
            group: cfg.group_for(client.as_deref(), group_value.as_deref()),
            client,
            provider: req_header(&cfg.provider_header)
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| kind.provider_hint(&head.path).to_owned()),
        };
        // A compressed answer cannot be read; Envoy's compressor can still compress for the client.
        set_req_header("accept-encoding", None);
        // The body may grow by the include_usage option; let Envoy re-frame it.
        set_req_header("content-length", None);
        self.exchange = Some(Exchange::new(kind, &head.path, caller, now_ns()));
        Step::Next
    }

    fn holds_request_headers(&self) -> bool {
        // Only to refuse unreadable bodies (`failure_mode: deny`); otherwise the headers go ahead.
        self.config.failure_mode == FailureMode::Deny
    }

    fn request_body(&mut self, req: &mut LlmRequest) -> Step {
        let Some(x) = self.exchange.as_mut() else {
            return Step::Next;
        };
        match x.on_request(req, &self.config) {
            RequestAction::Forward | RequestAction::Replace(_) => Step::Next,
            RequestAction::Reject => {
                self.metrics
                    .borrow_mut()
                    .incr("tollgate_unparseable_requests_total", &[], 1);
                self.exchange = None;
                let body = openai_error_body(
                    "request body is not a valid JSON LLM request",
                    "invalid_request_error",
                    "invalid_request_body",
                );
                reject("usage", 400, Vec::new(), &body);
                Step::Replied
            }
        }
    }

    fn response_headers(&mut self, format: &AnswerFormat, end_of_stream: bool) -> Answer {
        let Some(x) = self.exchange.as_mut() else {
            return Answer::Skip;
        };
        let status = resp_header(":status")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        x.on_response_headers(status, format);
        x.set_rejected_by(resp_header(LOCAL_REPLY_HEADER));
        x.set_served_provider(resp_header("x-tollgate-provider"));
        if x.rewrites_response() {
            set_resp_header("content-length", None);
        }
        if end_of_stream {
            self.emit();
            return Answer::Skip;
        }
        if self.config.usage_headers && !x.is_stream() {
            self.hold_headers = true;
            return Answer::WholeWithHeaders;
        }
        Answer::Stream
    }

    fn response_body(&mut self, chunk: &mut Vec<u8>, end_of_stream: bool) -> bool {
        let Some(x) = self.exchange.as_mut() else {
            return false;
        };
        x.on_response_chunk(chunk, now_ns(), &self.config);
        if end_of_stream {
            if self.hold_headers {
                let rec = x.finish(now_ns(), &self.config);
                for (k, v) in rec.usage_headers() {
                    set_resp_header(k, Some(&v));
                }
                self.publish(rec);
            } else {
                self.emit();
            }
        }
        false
    }

    fn response_events(&mut self, events: &mut Vec<AnswerEvent>, end_of_stream: bool) {
        let Some(x) = self.exchange.as_mut() else {
            return;
        };
        x.on_response_events(events, now_ns());
        if end_of_stream {
            self.emit();
        }
    }

    fn response_trailers(&mut self) {
        self.emit();
    }

    fn log(&mut self) {
        // Reached without end of stream: the stream was reset or cut. Without reported usage the
        // record takes what the rate limit charged for it (it ran its `log` just before, and
        // counted the completion from the text that was sent), so the two agree.
        let Some(x) = self.exchange.as_mut() else {
            return;
        };
        let charged = |k: &str| {
            // Envoy looks filter state up under `wasm.` + the name a filter set.
            get_string_property(&[&format!("tollgate.ratelimit.{k}")])
                .and_then(|v| v.parse::<u64>().ok())
        };
        let estimate = charged("charged_prompt_tokens").zip(charged("charged_total_tokens"));
        let rec = x.finish_cut(now_ns(), &self.config, estimate);
        self.publish(rec);
    }
}

/// The emitter's stats: the shared metric cache plus a bound on distinct tag sets.
#[derive(Default)]
struct Metrics {
    cache: tollgate_wasm::Metrics,
    tag_sets: HashSet<String>,
    max_tag_sets: usize,
}

impl Metrics {
    fn incr(&mut self, name: &str, tags: &[(&str, &str)], by: u64) {
        self.cache.incr(name, tags, by);
    }

    fn histogram(&mut self, name: &str, tags: &[(&str, &str)], value: u64) {
        self.cache.histogram(name, tags, value);
    }

    fn record(&mut self, rec: &UsageRecord, bad_request: bool, cfg: &Config) {
        let model = cfg.model_tag(rec.model()).to_owned();
        let provider = cfg.provider_tag(&rec.provider).to_owned();
        let mut client = rec.client.clone().unwrap_or_else(|| "-".into());
        let mut group = rec.group.clone().unwrap_or_else(|| "-".into());
        let set_key = format!("{model}\u{1}{provider}\u{1}{client}\u{1}{group}");
        if !self.tag_sets.contains(&set_key) {
            if self.tag_sets.len() >= self.max_tag_sets {
                // Bound memory: unseen clients and groups past the limit share one series.
                client = "_other".into();
                group = "_other".into();
            } else {
                self.tag_sets.insert(set_key);
            }
        }
        let tags = [
            ("model", model.as_str()),
            ("provider", provider.as_str()),
            ("client", client.as_str()),
            ("group", group.as_str()),
        ];
        self.incr("tollgate_requests_total", &tags, 1);
        if let Some(u) = &rec.usage {
            self.incr("tollgate_prompt_tokens_total", &tags, u.prompt_tokens);
            self.incr(
                "tollgate_completion_tokens_total",
                &tags,
                u.completion_tokens,
            );
            self.incr("tollgate_total_tokens_total", &tags, u.total_tokens);
            self.incr(
                "tollgate_cached_prompt_tokens_total",
                &tags,
                u.cached_prompt_tokens,
            );
            self.incr("tollgate_reasoning_tokens_total", &tags, u.reasoning_tokens);
            match rec.cost_micro_usd {
                Some(c) => self.incr("tollgate_cost_micro_usd_total", &tags, c),
                None => self.incr("tollgate_unpriced_requests_total", &[("model", &model)], 1),
            }
        }
        let short = [("model", model.as_str()), ("provider", provider.as_str())];
        if let Some(by) = &rec.rejected_by {
            let code = rec.status.to_string();
            self.incr(
                "tollgate_local_replies_total",
                &[("by", by.as_str()), ("code", code.as_str())],
                1,
            );
        } else if rec.status >= 400 {
            let code = rec.status.to_string();
            let err_tags = [
                ("model", model.as_str()),
                ("provider", provider.as_str()),
                ("code", code.as_str()),
            ];
            self.incr("tollgate_upstream_errors_total", &err_tags, 1);
        }
        match rec.outcome {
            crate::record::Outcome::Unparseable => {
                self.incr("tollgate_unparseable_responses_total", &short, 1)
            }
            crate::record::Outcome::NoUsage => self.incr("tollgate_missing_usage_total", &short, 1),
            crate::record::Outcome::Estimated => {
                self.incr("tollgate_estimated_usage_total", &short, 1)
            }
            crate::record::Outcome::Reported => {}
        }
        if bad_request {
            self.incr("tollgate_unparseable_requests_total", &[], 1);
        }
        if let Some(t) = rec.ttft_ms {
            self.histogram("tollgate_ttft_ms", &short, t);
        }
        if rec.streamed {
            self.histogram("tollgate_stream_duration_ms", &short, rec.duration_ms);
        }
    }
}
