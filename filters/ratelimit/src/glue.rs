//! proxy-wasm adapter: holds the request until its body is counted and admitted, then settles the
//! reservations with the real usage when the response ends (or is cut off).

use crate::config::{Config, NonLlmBody};
use crate::estimate::{estimate_doc, Basis, Estimate, Tokenizers};
use crate::ledger::{SharedLedger, Store, StoreError};
use crate::limiter::{admit, settle, Charge, Decision, Request};
use crate::response::Tracker;
use std::cell::RefCell;
use std::rc::Rc;
use tollgate_core::answer::{AnswerEvent, AnswerFormat};
use tollgate_core::api::ApiKind;
use tollgate_core::body::LlmRequest;
use tollgate_core::config::FailureMode;
use tollgate_core::error::openai_error_body;
use tollgate_wasm::{
    get_string_property, host, now_ms, now_ns, reject, req_header, resp_header, set_filter_state,
    set_resp_header, Answer, Filter, Head, Metrics, Stage, Step,
};

// `root()` for the combined module (filters/all); its own entry point when built standalone.
tollgate_wasm::filter_entry!(RateLimit);

/// proxy-wasm shared data: one store for all workers of this Envoy (same `vm_id`).
struct HostStore;

impl Store for HostStore {
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), StoreError> {
        host::get_shared_data(key).map_err(|_| StoreError::Failed)
    }
    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
        match host::set_shared_data(key, value, cas) {
            Ok(()) => Ok(()),
            Err(host::SharedError::CasMismatch) => Err(StoreError::CasMismatch),
            Err(host::SharedError::Failed) => Err(StoreError::Failed),
        }
    }
}

/// A prompt is reserved at its byte-length bound (not tokenized) only while every budget it draws
/// on has at least this many times the bound left: requests in flight hold at most their bound
/// minus their count more than they will be charged, and only far from the limit.
const BOUND_HEADROOM: u64 = 4;

/// What every stream shares.
pub struct Shared {
    config: Config,
    tokenizers: Tokenizers,
    ledger: SharedLedger<HostStore>,
    metrics: RefCell<Metrics>,
}

/// The token rate limit as a [`Filter`].
pub struct RateLimit;

impl Filter for RateLimit {
    type Shared = Shared;
    const NAME: &'static str = "tollgate_ratelimit";

    fn configure(bytes: &[u8]) -> Result<Shared, String> {
        let config = Config::from_json(bytes).map_err(|e| e.to_string())?;
        // Only the encodings this configuration can select are compiled (rank tables are static).
        let tokenizers =
            Tokenizers::new(&config.encodings_in_use()).map_err(|e| format!("tokenizer: {e}"))?;
        let nonce = (now_ns() as u32) ^ (now_ns() >> 32) as u32;
        let capacity = config.max_buckets;
        Ok(Shared {
            config,
            tokenizers,
            ledger: SharedLedger::with_capacity(HostStore, nonce, capacity),
            metrics: RefCell::new(Metrics::default()),
        })
    }

    fn stage(s: &Rc<Shared>) -> Option<Box<dyn Stage>> {
        Some(Box::new(Http {
            shared: s.clone(),
            state: State::Idle,
        }))
    }
}

enum State {
    /// Not an LLM request, or already settled.
    Idle,
    /// Waiting for the request body.
    Counting { kind: ApiKind, path: String },
    /// Admitted; settle when the response ends.
    Admitted(Box<Admitted>),
}

struct Admitted {
    kind: ApiKind,
    estimate: Estimate,
    charges: Vec<Charge>,
    headers: Vec<(String, String)>,
    tracker: Option<Tracker>,
}

struct Http {
    shared: Rc<Shared>,
    state: State,
}

impl Http {
    fn incr(&self, name: &str, tags: &[(&str, &str)]) {
        self.shared.metrics.borrow_mut().incr(name, tags, 1);
    }

    fn on_body_complete(&mut self, kind: ApiKind, path: &str, req: &mut LlmRequest) -> Step {
        let sh = self.shared.clone();
        let Ok(doc) = req.doc() else {
            return self.not_llm();
        };
        // Far from the limit — while every budget keeps BOUND_HEADROOM times the bound left — the
        // byte-length bound is reserved without tokenizing; closer to the limit the prompt is
        // counted exactly and admission decided on that count. Either way the reservation is
        // settled on the provider's reported usage.
        let Ok(bound) = estimate_doc(&sh.config, &sh.tokenizers, kind, path, doc, Basis::Bound)
        else {
            return self.not_llm();
        };
        let provider = req_header(&sh.config.provider_header);
        let header = |h: &str| req_header(h);
        fn ask<'a>(
            est: &'a Estimate,
            provider: Option<&'a str>,
            header: &'a dyn Fn(&str) -> Option<String>,
        ) -> Request<'a> {
            Request {
                model: est.model.as_deref(),
                provider,
                header,
                prompt_tokens: est.prompt_tokens,
                max_output_tokens: est.max_output_tokens,
                headroom: if est.exact {
                    0
                } else {
                    est.prompt_tokens
                        .saturating_mul(BOUND_HEADROOM.saturating_sub(1))
                },
            }
        }
        let now = now_ms();
        let mut est = bound;
        let mut decision = admit(
            &sh.config,
            &sh.ledger,
            &ask(&est, provider.as_deref(), &header),
            now,
        );
        if matches!(decision, Decision::Reject(_)) {
            match estimate_doc(&sh.config, &sh.tokenizers, kind, path, doc, Basis::Exact) {
                Ok(exact) => {
                    est = exact;
                    decision = admit(
                        &sh.config,
                        &sh.ledger,
                        &ask(&est, provider.as_deref(), &header),
                        now,
                    );
                }
                Err(_) => return self.not_llm(),
            }
        }
        set_filter_state(
            "tollgate.ratelimit.prompt_estimate",
            &est.prompt_tokens.to_string(),
        );
        set_filter_state(
            "tollgate.ratelimit.prompt_basis",
            if est.exact { "exact" } else { "bound" },
        );
        match decision {
            Decision::Admit { charges, headers } => {
                self.incr("tollgate_ratelimit_admitted_total", &[]);
                set_filter_state("tollgate.ratelimit.decision", "admitted");
                self.state = State::Admitted(Box::new(Admitted {
                    kind,
                    estimate: est,
                    charges,
                    headers,
                    tracker: None,
                }));
                Step::Next
            }
            Decision::Reject(r) => {
                let code = r.status.to_string();
                self.incr(
                    "tollgate_ratelimit_rejected_total",
                    &[("code", code.as_str())],
                );
                set_filter_state("tollgate.ratelimit.decision", "rejected");
                self.state = State::Idle;
                reject("ratelimit", r.status, r.headers, &r.body);
                Step::Replied
            }
            Decision::Unavailable(e) => {
                log::warn!("tollgate_ratelimit: counters unavailable ({e:?})");
                self.incr("tollgate_ratelimit_unavailable_total", &[]);
                self.state = State::Idle;
                match sh.config.failure_mode {
                    FailureMode::Allow => {
                        set_filter_state("tollgate.ratelimit.decision", "failed_open");
                        Step::Next
                    }
                    FailureMode::Deny => {
                        set_filter_state("tollgate.ratelimit.decision", "failed_closed");
                        let body = openai_error_body(
                            "token rate limit temporarily unavailable",
                            "server_error",
                            "rate_limit_unavailable",
                        );
                        reject("ratelimit", 503, Vec::new(), &body);
                        Step::Replied
                    }
                }
            }
        }
    }

    /// The body is not a JSON LLM request: pass or refuse, as configured.
    fn not_llm(&mut self) -> Step {
        self.incr("tollgate_ratelimit_non_llm_bodies_total", &[]);
        self.state = State::Idle;
        match self.shared.config.non_llm_body {
            NonLlmBody::Pass => Step::Next,
            NonLlmBody::Reject => {
                let body = openai_error_body(
                    "request body is not a valid JSON LLM request",
                    "invalid_request_error",
                    "invalid_request_body",
                );
                reject("ratelimit", 400, Vec::new(), &body);
                Step::Replied
            }
        }
    }

    /// Charges the real usage (or what was seen of it) in place of the estimate.
    fn settle_now(&mut self) {
        let State::Admitted(a) = std::mem::replace(&mut self.state, State::Idle) else {
            return;
        };
        let Admitted {
            estimate,
            charges,
            tracker,
            ..
        } = *a;
        let bpe = self.shared.tokenizers.get(estimate.encoding);
        let actual = match tracker {
            Some(mut t) => t.finish(estimate.prompt_tokens, bpe),
            // No response at all (reset before headers): only the prompt was spent, if anything.
            None => crate::response::Actual {
                prompt: estimate.prompt_tokens,
                total: estimate.prompt_tokens,
                counted: true,
            },
        };
        if actual.counted {
            self.incr("tollgate_ratelimit_usage_counted_total", &[]);
        }
        settle(
            &self.shared.ledger,
            &charges,
            Some(actual.prompt),
            Some(actual.total),
            now_ms(),
        );
        set_filter_state(
            "tollgate.ratelimit.charged_total_tokens",
            &actual.total.to_string(),
        );
        set_filter_state(
            "tollgate.ratelimit.charged_prompt_tokens",
            &actual.prompt.to_string(),
        );
    }
}

impl Stage for Http {
    fn request_headers(&mut self, head: &Head) -> Step {
        if let Some(kind) = head.kind {
            self.state = State::Counting {
                kind,
                path: head.path.clone(),
            };
        }
        Step::Next
    }

    fn request_body(&mut self, req: &mut LlmRequest) -> Step {
        let State::Counting { kind, path } = &self.state else {
            return Step::Next;
        };
        let (kind, path) = (*kind, path.clone());
        self.on_body_complete(kind, &path, req)
    }

    fn response_headers(&mut self, format: &AnswerFormat, end_of_stream: bool) -> Answer {
        let State::Admitted(a) = &mut self.state else {
            return Answer::Skip;
        };
        // Envoy answered itself because no provider answered (none could be reached, every attempt
        // was reset before an answer, a policy refused the attempt), or the provider answered with
        // an error (4xx/5xx: it refused or failed the request): nothing was produced or billed, so
        // the reservation is returned. A timeout is charged: the provider may still be working.
        let details = get_string_property(&["response", "code_details"]).unwrap_or_default();
        let provider_error = details == "via_upstream"
            && resp_header(":status")
                .and_then(|s| s.parse::<u32>().ok())
                .is_some_and(|s| s >= 400);
        if provider_error || (details != "via_upstream" && !details.contains("timeout")) {
            let charges = std::mem::take(&mut a.charges);
            self.state = State::Idle;
            settle(&self.shared.ledger, &charges, None, None, now_ms());
            self.incr("tollgate_ratelimit_refunded_total", &[]);
            set_filter_state("tollgate.ratelimit.charged_total_tokens", "0");
            return Answer::Skip;
        }
        for (k, v) in a.headers.iter() {
            set_resp_header(k, Some(v));
        }
        a.tracker = Some(Tracker::new(a.kind, format.sse));
        if end_of_stream {
            self.settle_now();
            return Answer::Skip;
        }
        Answer::Stream
    }

    fn response_body(&mut self, chunk: &mut Vec<u8>, end_of_stream: bool) -> bool {
        let State::Admitted(a) = &mut self.state else {
            return false;
        };
        if let Some(t) = a.tracker.as_mut() {
            t.on_chunk(chunk);
        }
        if end_of_stream {
            self.settle_now();
        }
        false
    }

    fn response_events(&mut self, events: &mut Vec<AnswerEvent>, end_of_stream: bool) {
        let State::Admitted(a) = &mut self.state else {
            return;
        };
        if let Some(t) = a.tracker.as_mut() {
            t.on_events(events);
        }
        if end_of_stream {
            self.settle_now();
        }
    }

    fn response_trailers(&mut self) {
        self.settle_now();
    }

    fn log(&mut self) {
        // The stream ended without a complete response (reset, client gone): charge what was seen.
        self.settle_now();
    }
}
