//! proxy-wasm adapter: the PII stage holds nothing itself; the pipeline hands it the parsed request
//! (redacted in place) and then the answer (restore + output scanning) as it streams back.

use crate::config::{Config, NonJson, Unscanned};
use crate::redact::{audit_summary, Audit, Vault};
use crate::request::{redact_request, Outcome};
use crate::stream::{rewrite_json, OutputScan, StreamRewriter, Transform};
use std::cell::RefCell;
use std::rc::Rc;
use tollgate_core::answer::{AnswerEvent, AnswerFormat};
use tollgate_core::api::ApiKind;
use tollgate_core::body::LlmRequest;
use tollgate_core::error::{openai_error_body, LOCAL_REPLY_HEADER};
use tollgate_wasm::{
    reject, resp_header, set_filter_state, set_req_header, set_resp_header, Answer, Filter, Head,
    Metrics, Stage, Step,
};

// `root()` for the combined module (filters/all); its own entry point when built standalone.
tollgate_wasm::filter_entry!(Pii);

/// What every stream shares.
pub struct Shared {
    config: Config,
    metrics: RefCell<Metrics>,
}

/// The PII filter as a [`Filter`].
pub struct Pii;

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

    fn stage(s: &Rc<Shared>) -> Option<Box<dyn Stage>> {
        Some(Box::new(PiiStage {
            shared: s.clone(),
            kind: None,
            vault: None,
            answer: AnswerState::None,
        }))
    }
}

enum AnswerState {
    None,
    Stream(Box<StreamRewriter>),
    Json(Transform),
    /// A compressed answer with `unscanned_output: block`: replaced by an error when it ends.
    Withheld,
}

struct PiiStage {
    shared: Rc<Shared>,
    kind: Option<ApiKind>,
    vault: Option<Rc<Vault>>,
    answer: AnswerState,
}

impl PiiStage {
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

    fn refuse(&self, status: u32, message: &str, code: &str) -> Step {
        reject(
            "pii",
            status,
            Vec::new(),
            &openai_error_body(message, "invalid_request_error", code),
        );
        Step::Replied
    }

    fn unscanned(&self, reason: &str, n: u64) {
        self.shared.metrics.borrow_mut().incr(
            "tollgate_pii_unscanned_output_total",
            &[("reason", reason)],
            n,
        );
    }

    /// Replaces the (held) answer with a 502 OpenAI-style error.
    fn withhold(chunk: &mut Vec<u8>) {
        set_resp_header(":status", Some("502"));
        set_resp_header("content-type", Some("application/json"));
        set_resp_header("content-encoding", None);
        *chunk = openai_error_body(
            "The provider's answer could not be scanned for personal data and was withheld.",
            "server_error",
            "unscanned_output",
        )
        .into_bytes();
    }

    fn uninspected(&self, reason: &str) {
        self.shared.metrics.borrow_mut().incr(
            "tollgate_pii_uninspected_total",
            &[("reason", reason)],
            1,
        );
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
        let audit = match std::mem::replace(&mut self.answer, AnswerState::None) {
            AnswerState::Stream(s) => {
                if s.unparseable > 0 {
                    self.unscanned("not_json_event", s.unparseable);
                }
                s.audit().clone()
            }
            AnswerState::Json(t) => t.audit,
            AnswerState::None | AnswerState::Withheld => return,
        };
        self.count(&audit, "response");
        set_filter_state("tollgate.pii.response", &audit_summary(&audit));
    }
}

impl Stage for PiiStage {
    fn request_headers(&mut self, head: &Head) -> Step {
        if let Some(kind) = head.kind {
            self.kind = Some(kind);
            // The body may be rewritten; Envoy re-frames it.
            set_req_header("content-length", None);
        }
        Step::Next
    }

    fn request_body(&mut self, req: &mut LlmRequest) -> Step {
        if self.kind.is_none() {
            return Step::Next;
        }
        let sh = self.shared.clone();
        let cfg = &sh.config;
        let (mut vault, mut audit) = (Vault::default(), Audit::new());
        let outcome = redact_request(cfg, req, &mut vault, &mut audit);
        if matches!(outcome, Outcome::Forward(_) | Outcome::Block(_)) {
            self.count(&audit, "request");
            set_filter_state("tollgate.pii.request", &audit_summary(&audit));
        }
        match outcome {
            Outcome::Forward(_) => {
                self.vault = Some(Rc::new(vault));
                Step::Next
            }
            Outcome::Block(labels) => {
                set_filter_state("tollgate.pii.decision", "blocked");
                let msg = format!("Request blocked: it contains {}.", labels.join(", "));
                self.refuse(400, &msg, "pii_blocked")
            }
            Outcome::TooLarge => {
                self.uninspected("too_large");
                self.refuse(
                    413,
                    "request is larger than the PII policy inspects (max_body_bytes, or max_text_bytes of text)",
                    "request_too_large",
                )
            }
            Outcome::NotJson => {
                self.uninspected("not_json");
                if cfg.non_json_body == NonJson::Block {
                    return self.refuse(
                        400,
                        "request body is not JSON and cannot be inspected",
                        "invalid_request_body",
                    );
                }
                Step::Next
            }
            // Duplicate keys, not an object, not UTF-8: a body that could mean two things is never
            // passed, whatever `non_json_body` says.
            Outcome::Invalid(e) => {
                self.uninspected(e.code());
                self.refuse(400, &e.message(), e.code())
            }
        }
    }

    fn response_headers(&mut self, format: &AnswerFormat, end_of_stream: bool) -> Answer {
        let Some(kind) = self.kind else {
            return Answer::Skip;
        };
        // Embeddings carry no text back: nothing to restore or scan, so the answer is not held.
        if end_of_stream
            || matches!(kind, ApiKind::Embeddings | ApiKind::GeminiEmbed)
            || resp_header(LOCAL_REPLY_HEADER).is_some()
        {
            return Answer::Skip;
        }
        let t = self.transform();
        if !t.is_active() {
            return Answer::Skip;
        }
        let block = self.shared.config.unscanned_output == Unscanned::Block;
        if format.encoded {
            self.unscanned("encoded", 1);
            if !block {
                return Answer::Skip;
            }
            set_resp_header("content-length", None);
            self.answer = AnswerState::Withheld;
            return Answer::WholeWithHeaders;
        }
        set_resp_header("content-length", None);
        if format.sse {
            let mut rw = StreamRewriter::new(kind, t);
            rw.block_unscanned = block;
            self.answer = AnswerState::Stream(Box::new(rw));
            Answer::Stream
        } else {
            self.answer = AnswerState::Json(t);
            // Withholding an answer that cannot be read means changing its status: hold the headers.
            if block {
                Answer::WholeWithHeaders
            } else {
                Answer::Whole
            }
        }
    }

    fn response_body(&mut self, chunk: &mut Vec<u8>, end_of_stream: bool) -> bool {
        let Some(kind) = self.kind else {
            return false;
        };
        let block = self.shared.config.unscanned_output == Unscanned::Block;
        let changed = match &mut self.answer {
            // SSE answers come as events (`response_events`).
            AnswerState::None | AnswerState::Stream(_) => return false,
            AnswerState::Withheld => {
                if end_of_stream {
                    Self::withhold(chunk);
                    self.answer = AnswerState::None;
                }
                return end_of_stream;
            }
            AnswerState::Json(t) => match rewrite_json(kind, t, chunk) {
                Some(out) => {
                    *chunk = out;
                    true
                }
                None => {
                    self.unscanned("not_json", 1);
                    if block {
                        Self::withhold(chunk);
                    }
                    block
                }
            },
        };
        if end_of_stream {
            self.finish_answer();
        }
        changed
    }

    fn response_events(&mut self, events: &mut Vec<AnswerEvent>, end_of_stream: bool) {
        if let AnswerState::Stream(s) = &mut self.answer {
            s.on_events(events, end_of_stream);
        }
        if end_of_stream {
            self.finish_answer();
        }
    }

    fn log(&mut self) {
        self.finish_answer();
    }
}
