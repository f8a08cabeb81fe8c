//! proxy-wasm adapter: holds the request until its body is counted and admitted, then settles the
//! reservations with the real usage when the response ends (or is cut off).

use crate::config::{Config, NonLlmBody};
use crate::estimate::{estimate, Estimate, Tokenizers};
use crate::ledger::{SharedLedger, Store, StoreError};
use crate::limiter::{admit, settle, Charge, Decision, Request};
use crate::response::Tracker;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType};
use std::cell::RefCell;
use std::rc::Rc;
use tollgate_core::api::ApiKind;
use tollgate_core::config::FailureMode;
use tollgate_core::error::openai_error_body;
use tollgate_wasm::{
    buffer, host, llm_request, now_ms, now_ns, reject, req_header, resp_header, set_filter_state,
    set_resp_header, Filter, Metrics,
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

struct Shared {
    config: Config,
    tokenizers: Tokenizers,
    ledger: SharedLedger<HostStore>,
    metrics: RefCell<Metrics>,
}

/// The token rate limit as a [`Filter`].
struct RateLimit;

impl Filter for RateLimit {
    type Shared = Shared;
    const NAME: &'static str = "tollgate_ratelimit";

    fn configure(bytes: &[u8]) -> Result<Shared, String> {
        let config = Config::from_json(bytes).map_err(|e| e.to_string())?;
        // Only the encodings this configuration can select are compiled (rank tables are static).
        let tokenizers =
            Tokenizers::new(&config.encodings_in_use()).map_err(|e| format!("tokenizer: {e}"))?;
        let nonce = (now_ns() as u32) ^ (now_ns() >> 32) as u32;
        Ok(Shared {
            config,
            tokenizers,
            ledger: SharedLedger::new(HostStore, nonce),
            metrics: RefCell::new(Metrics::default()),
        })
    }

    fn http(s: &Rc<Shared>) -> Box<dyn HttpContext> {
        Box::new(Http {
            shared: s.clone(),
            state: State::Idle,
        })
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

impl Context for Http {}

impl Http {
    fn incr(&self, name: &str, tags: &[(&str, &str)]) {
        self.shared.metrics.borrow_mut().incr(name, tags, 1);
    }

    fn on_body_complete(&mut self, kind: ApiKind, path: &str, body: &[u8]) -> Action {
        let sh = self.shared.clone();
        let est = match estimate(&sh.config, &sh.tokenizers, kind, path, body) {
            Ok(e) => e,
            Err(_) => {
                self.incr("tollgate_ratelimit_non_llm_bodies_total", &[]);
                self.state = State::Idle;
                return match sh.config.non_llm_body {
                    NonLlmBody::Pass => Action::Continue,
                    NonLlmBody::Reject => {
                        let body = openai_error_body(
                            "request body is not a valid JSON LLM request",
                            "invalid_request_error",
                            "invalid_request_body",
                        );
                        reject("ratelimit", 400, Vec::new(), &body)
                    }
                };
            }
        };
        let provider = req_header(&sh.config.provider_header);
        let header = |h: &str| req_header(h);
        let req = Request {
            model: est.model.as_deref(),
            provider: provider.as_deref(),
            header: &header,
            prompt_tokens: est.prompt_tokens,
            max_output_tokens: est.max_output_tokens,
        };
        set_filter_state(
            "tollgate.ratelimit.prompt_estimate",
            &est.prompt_tokens.to_string(),
        );
        match admit(&sh.config, &sh.ledger, &req, now_ms()) {
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
                Action::Continue
            }
            Decision::Reject(r) => {
                let code = r.status.to_string();
                self.incr(
                    "tollgate_ratelimit_rejected_total",
                    &[("code", code.as_str())],
                );
                set_filter_state("tollgate.ratelimit.decision", "rejected");
                self.state = State::Idle;
                reject("ratelimit", r.status, r.headers, &r.body)
            }
            Decision::Unavailable(e) => {
                log::warn!("tollgate_ratelimit: counters unavailable ({e:?})");
                self.incr("tollgate_ratelimit_unavailable_total", &[]);
                self.state = State::Idle;
                match sh.config.failure_mode {
                    FailureMode::Allow => {
                        set_filter_state("tollgate.ratelimit.decision", "failed_open");
                        Action::Continue
                    }
                    FailureMode::Deny => {
                        set_filter_state("tollgate.ratelimit.decision", "failed_closed");
                        let body = openai_error_body(
                            "token rate limit temporarily unavailable",
                            "server_error",
                            "rate_limit_unavailable",
                        );
                        reject("ratelimit", 503, Vec::new(), &body)
                    }
                }
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
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _n: usize, end_of_stream: bool) -> Action {
        let Some((kind, path)) = llm_request() else {
            return Action::Continue;
        };
        if end_of_stream {
            return self.on_body_complete(kind, &path, b"");
        }
        self.state = State::Counting { kind, path };
        // Nothing goes upstream before the body is counted and admitted
        // (needs `allow_on_headers_stop_iteration: true`).
        Action::Pause
    }

    fn on_http_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        let State::Counting { kind, path } = &self.state else {
            return Action::Continue;
        };
        if !end_of_stream {
            return Action::Pause;
        }
        let (kind, path) = (*kind, path.clone());
        let body = buffer(BufferType::HttpRequestBody, size);
        self.on_body_complete(kind, &path, &body)
    }

    fn on_http_response_headers(&mut self, _n: usize, end_of_stream: bool) -> Action {
        let State::Admitted(a) = &mut self.state else {
            return Action::Continue;
        };
        for (k, v) in a.headers.iter() {
            set_resp_header(k, Some(v));
        }
        let sse = resp_header("content-type").is_some_and(|c| c.starts_with("text/event-stream"));
        a.tracker = Some(Tracker::new(a.kind, sse));
        if end_of_stream {
            self.settle_now();
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        let State::Admitted(a) = &mut self.state else {
            return Action::Continue;
        };
        let Some(t) = a.tracker.as_mut() else {
            return Action::Continue;
        };
        t.on_chunk(&buffer(BufferType::HttpResponseBody, size));
        if end_of_stream {
            self.settle_now();
        }
        Action::Continue
    }

    fn on_http_response_trailers(&mut self, _n: usize) -> Action {
        self.settle_now();
        Action::Continue
    }

    fn on_log(&mut self) {
        // The stream ended without a complete response (reset, client gone): charge what was seen.
        self.settle_now();
    }
}
