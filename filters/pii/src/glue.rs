//! proxy-wasm adapter: holds the request until its body is redacted (or refused), then rewrites the
//! answer (restore + output scanning) as it streams back.

use crate::config::{Config, NonJson};
use crate::redact::{audit_summary, Audit, Vault};
use crate::request::{redact_request, Outcome};
use crate::stream::{rewrite_json, OutputScan, StreamRewriter, Transform};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType};
use std::cell::RefCell;
use std::rc::Rc;
use tollgate_core::api::ApiKind;
use tollgate_core::config::FailureMode;
use tollgate_core::error::{openai_error_body, LOCAL_REPLY_HEADER};
use tollgate_wasm::{
    buffer, llm_request, reject, resp_header, set_buffer, set_filter_state, set_req_header,
    set_resp_header, Filter, Metrics,
};

// `root()` for the combined module (filters/all); its own entry point when built standalone.
tollgate_wasm::filter_entry!(Pii);

struct Shared {
    config: Config,
    metrics: RefCell<Metrics>,
}

/// The PII filter as a [`Filter`].
struct Pii;

impl Filter for Pii {
    type Shared = Shared;
    const NAME: &'static str = "tollgate_pii";

    fn configure(bytes: &[u8]) -> Result<Shared, String> {
        let config = Config::from_json(bytes).map_err(|e| e.to_string())?;
        Ok(Shared {
            config,
            metrics: RefCell::default(),
        })
    }

    fn http(s: &Rc<Shared>) -> Box<dyn HttpContext> {
        Box::new(Http {
            shared: s.clone(),
            kind: None,
            vault: None,
            answer: Answer::None,
        })
    }
}

enum Answer {
    None,
    Stream(Box<StreamRewriter>),
    Json(Transform),
}

struct Http {
    shared: Rc<Shared>,
    kind: Option<ApiKind>,
    vault: Option<Rc<Vault>>,
    answer: Answer,
}

impl Context for Http {}

impl Http {
    fn count(&self, audit: &Audit, direction: &str) {
        let mut m = self.shared.metrics.borrow_mut();
        for ((label, action), n) in audit {
            m.incr(
                "tollgate_pii_findings_total",
                &[
                    ("label", label),
                    ("action", action.as_str()),
                    ("direction", direction),
                ],
                *n,
            );
        }
    }

    fn refuse(&self, status: u32, message: &str, code: &str) -> Action {
        reject(
            "pii",
            status,
            Vec::new(),
            &openai_error_body(message, "invalid_request_error", code),
        )
    }

    fn transform(&self) -> Transform {
        let cfg = &self.shared.config;
        Transform {
            vault: if cfg.restore {
                self.vault.clone()
            } else {
                None
            },
            scan: cfg.scan_output.then(|| OutputScan {
                detector: cfg.detector.clone(),
                policy: cfg.output_policy.clone(),
            }),
            audit: Audit::new(),
        }
    }

    fn finish_answer(&mut self) {
        let audit = match std::mem::replace(&mut self.answer, Answer::None) {
            Answer::Stream(s) => s.audit().clone(),
            Answer::Json(t) => t.audit,
            Answer::None => return,
        };
        self.count(&audit, "response");
        set_filter_state("tollgate.pii.response", &audit_summary(&audit));
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _n: usize, end_of_stream: bool) -> Action {
        let Some((kind, _)) = llm_request() else {
            return Action::Continue;
        };
        self.kind = Some(kind);
        if end_of_stream {
            return Action::Continue;
        }
        // The body will be rewritten; hold everything until it is (needs allow_on_headers_stop_iteration).
        set_req_header("content-length", None);
        Action::Pause
    }

    fn on_http_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        if self.kind.is_none() {
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let sh = self.shared.clone();
        let cfg = &sh.config;
        let body = buffer(BufferType::HttpRequestBody, size);
        let (mut vault, mut audit) = (Vault::default(), Audit::new());
        let outcome = redact_request(cfg, &body, &mut vault, &mut audit);
        self.count(&audit, "request");
        set_filter_state("tollgate.pii.request", &audit_summary(&audit));
        match outcome {
            Outcome::Forward(None) => {}
            Outcome::Forward(Some(b)) => {
                if !set_buffer(BufferType::HttpRequestBody, size, &b) {
                    // Never forward the original body when it had to change.
                    return match cfg.failure_mode {
                        FailureMode::Deny => self.refuse(
                            500,
                            "request could not be redacted",
                            "pii_redaction_failed",
                        ),
                        FailureMode::Allow => Action::Continue,
                    };
                }
            }
            Outcome::Block(labels) => {
                set_filter_state("tollgate.pii.decision", "blocked");
                let msg = format!("Request blocked: it contains {}.", labels.join(", "));
                return self.refuse(400, &msg, "pii_blocked");
            }
            Outcome::Invalid(e) => {
                self.shared.metrics.borrow_mut().incr(
                    "tollgate_pii_uninspected_total",
                    &[("reason", e.code())],
                    1,
                );
                return self.refuse(400, &e.message(), e.code());
            }
            Outcome::NotJson => {
                self.shared.metrics.borrow_mut().incr(
                    "tollgate_pii_uninspected_total",
                    &[("reason", "not_json")],
                    1,
                );
                if cfg.non_json_body == NonJson::Block {
                    return self.refuse(
                        400,
                        "request body is not JSON and cannot be inspected",
                        "invalid_request_body",
                    );
                }
                return Action::Continue;
            }
            Outcome::TooLarge => {
                self.shared.metrics.borrow_mut().incr(
                    "tollgate_pii_uninspected_total",
                    &[("reason", "too_large")],
                    1,
                );
                return self.refuse(
                    413,
                    "request body is larger than the PII filter's max_body_bytes",
                    "request_too_large",
                );
            }
        }
        self.vault = Some(Rc::new(vault));
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _n: usize, end_of_stream: bool) -> Action {
        let Some(kind) = self.kind else {
            return Action::Continue;
        };
        if end_of_stream || resp_header(LOCAL_REPLY_HEADER).is_some() {
            return Action::Continue;
        }
        let t = self.transform();
        if !t.is_active() || resp_header("content-encoding").is_some_and(|e| e != "identity") {
            return Action::Continue;
        }
        set_resp_header("content-length", None);
        let sse = resp_header("content-type").is_some_and(|c| c.starts_with("text/event-stream"));
        self.answer = if sse {
            Answer::Stream(Box::new(StreamRewriter::new(kind, t)))
        } else {
            Answer::Json(t)
        };
        Action::Continue
    }

    fn on_http_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        let Some(kind) = self.kind else {
            return Action::Continue;
        };
        match &mut self.answer {
            Answer::None => return Action::Continue,
            Answer::Stream(s) => {
                let out = s.on_chunk(&buffer(BufferType::HttpResponseBody, size), end_of_stream);
                let _ = set_buffer(BufferType::HttpResponseBody, size, &out);
            }
            Answer::Json(t) => {
                if !end_of_stream {
                    return Action::Pause; // buffer the whole answer
                }
                let body = buffer(BufferType::HttpResponseBody, size);
                match rewrite_json(kind, t, &body) {
                    Some(out) => {
                        let _ = set_buffer(BufferType::HttpResponseBody, size, &out);
                    }
                    None => self.shared.metrics.borrow_mut().incr(
                        "tollgate_pii_unparseable_responses_total",
                        &[],
                        1,
                    ),
                }
            }
        }
        if end_of_stream {
            self.finish_answer();
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        self.finish_answer();
    }
}
