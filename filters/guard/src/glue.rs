//! proxy-wasm adapter: the guard stage reads the parsed request the pipeline hands it, decides,
//! records the decision (never the prompt) and answers 400 in `block` mode.

use crate::config::{Config, Mode};
use crate::{inspect, Action, ClassifierOutcome, Decision, Unscanned};
use proxy_wasm::types::BufferType;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use tollgate_core::answer::AnswerFormat;
use tollgate_core::body::LlmRequest;
use tollgate_core::config::FailureMode;
use tollgate_core::error::openai_error_body;
use tollgate_wasm::host::{buffer, call_resp_header, http_call};
use tollgate_wasm::{
    now_ns, reject, req_header, set_filter_state, set_resp_header, Answer, Filter, Head, Metrics,
    Stage, Step,
};

// `root()` for the combined module (filters/all); its own entry point when built standalone.
tollgate_wasm::filter_entry!(Guard);

/// What every stream shares.
pub struct Shared {
    config: Config,
    metrics: RefCell<Metrics>,
}

/// The guard as a [`Filter`].
pub struct Guard;

impl Filter for Guard {
    type Shared = Shared;
    const NAME: &'static str = "tollgate_guard";

    fn configure(bytes: &[u8]) -> Result<Shared, String> {
        let config = Config::from_json(bytes).map_err(|e| e.to_string())?;
        Ok(Shared {
            config,
            metrics: RefCell::default(),
        })
    }

    fn stage(s: &Rc<Shared>) -> Option<Box<dyn Stage>> {
        Some(Box::new(GuardStage {
            shared: s.clone(),
            llm: false,
            client: None,
            flagged: false,
            pending: None,
        }))
    }
}

struct GuardStage {
    shared: Rc<Shared>,
    llm: bool,
    client: Option<String>,
    flagged: bool,
    /// A gray-zone decision waiting for the classifier: it, the scan's µs, the callout's start.
    pending: Option<(Decision, u64, u64)>,
}

impl GuardStage {
    fn record(&self, d: &Decision, us: u64, classifier_us: Option<u64>) {
        set_filter_state(
            "tollgate.guard.score_rules",
            &format!("{:.2}", d.rules_score),
        );
        if let Some(p) = d.model {
            set_filter_state("tollgate.guard.score_model", &format!("{p:.3}"));
        }
        if let Some(o) = d.classifier {
            let v = match o {
                ClassifierOutcome::Score(p) => format!("{p:.3}"),
                ClassifierOutcome::Failed { closed: true } => "failed_closed".to_owned(),
                ClassifierOutcome::Failed { closed: false } => "failed_open".to_owned(),
            };
            set_filter_state("tollgate.guard.classifier", &v);
            self.shared.metrics.borrow_mut().incr(
                "tollgate_guard_classifier_calls_total",
                &[(
                    "outcome",
                    match o {
                        ClassifierOutcome::Score(_) => "answered",
                        ClassifierOutcome::Failed { .. } => "failed",
                    },
                )],
                1,
            );
        }
        if let Some(u) = classifier_us {
            set_filter_state("tollgate.guard.classifier_us", &u.to_string());
        }
        let rules = d.rules.join(",");
        let signals: Vec<&str> = d.signals.names().collect();
        let action = match d.action {
            Action::Shadow => "would_block",
            a => a.as_str(),
        };
        set_filter_state("tollgate.guard.action", action);
        set_filter_state("tollgate.guard.mode", d.mode.as_str());
        set_filter_state("tollgate.guard.score", &format!("{:.2}", d.score));
        set_filter_state("tollgate.guard.rules", &rules);
        set_filter_state("tollgate.guard.ruleset", crate::rules::RULESET_VERSION);
        set_filter_state(
            "tollgate.guard.channel",
            d.channel.map_or("", |c| c.as_str()),
        );
        set_filter_state(
            "tollgate.guard.message_index",
            &d.index.map(|i| i.to_string()).unwrap_or_default(),
        );
        set_filter_state("tollgate.guard.normalizations", &signals.join(","));
        set_filter_state("tollgate.guard.us", &us.to_string());
        self.shared.metrics.borrow_mut().incr(
            "tollgate_guard_decisions_total",
            &[
                ("action", d.action.as_str()),
                ("category", d.category.map_or("none", |c| c.as_str())),
                ("channel", d.channel.map_or("none", |c| c.as_str())),
            ],
            1,
        );
        if d.action != Action::Allow {
            // Bounded: one series per rule id of the ruleset (and the classifier's two).
            let mut m = self.shared.metrics.borrow_mut();
            for rule in &d.rules {
                m.incr(
                    "tollgate_guard_rule_hits_total",
                    &[("rule", rule.as_str()), ("action", d.action.as_str())],
                    1,
                );
            }
        }
        if d.action == Action::Shadow {
            log::info!(
                "tollgate_guard: shadow: would have acted ({}) on {} message {}: score {:.2}, rules {rules}",
                d.mode.as_str(),
                d.channel.map_or("", |c| c.as_str()),
                d.index.map(|i| i.to_string()).unwrap_or_default(),
                d.score
            );
        }
    }

    fn unscanned(&self, why: Unscanned) -> Step {
        let reason = match why {
            Unscanned::NotJson => "not_json",
            Unscanned::TooLarge => "too_large",
        };
        set_filter_state("tollgate.guard.action", &format!("unscanned_{reason}"));
        self.shared.metrics.borrow_mut().incr(
            "tollgate_guard_decisions_total",
            &[
                ("action", "unscanned"),
                ("category", reason),
                ("channel", "none"),
            ],
            1,
        );
        if self.shared.config.failure_mode == FailureMode::Deny {
            reject(
                "guard",
                400,
                Vec::new(),
                &openai_error_body(
                    "The request could not be checked for prompt injection.",
                    "invalid_request_error",
                    "guard_unscanned",
                ),
            );
            return Step::Replied;
        }
        Step::Next
    }
}

impl Stage for GuardStage {
    fn request_headers(&mut self, head: &Head) -> Step {
        self.llm = head.kind.is_some();
        if self.llm {
            self.client =
                req_header(&self.shared.config.client_id_header).filter(|c| !c.is_empty());
        }
        Step::Next
    }

    fn request_body(&mut self, req: &mut LlmRequest) -> Step {
        if !self.llm {
            return Step::Next;
        }
        let sh = self.shared.clone();
        let cfg = &sh.config;
        if cfg.mode == Mode::Off
            && cfg.clients.values().all(|m| *m == Mode::Off)
            && cfg.channels.iter().all(|c| c.mode == Mode::Off)
        {
            return Step::Next;
        }
        let kind = req.kind;
        // `guard_us` is the guard's own work: the body's parse is the pipeline's, shared by
        // every policy (PII parsed it already in the shipped order).
        let (decision, us) = match req.doc_mut() {
            Ok(doc) => {
                let start = now_ns();
                let d = inspect(cfg, kind, doc, self.client.as_deref());
                (d, now_ns().saturating_sub(start) / 1000)
            }
            Err(_) => (Err(Unscanned::NotJson), 0),
        };
        let d = match decision {
            Ok(d) => d,
            Err(why) => return self.unscanned(why),
        };
        if let (Some(g), Some(c)) = (&d.gray, &cfg.classifier) {
            let body = c.request(&g.text);
            let headers = vec![
                (":method", "POST"),
                (":path", c.path.as_str()),
                (":authority", c.authority.as_str()),
                ("content-type", "application/json"),
            ];
            let timeout = Duration::from_millis(c.timeout_ms);
            let called = now_ns();
            if http_call(&c.cluster, headers, &body, timeout).is_some() {
                self.pending = Some((d, us, called));
                return Step::Wait;
            }
            // No such cluster (or Envoy refused the call): the classifier failed.
            let mut d = d;
            d.with_classifier(cfg, c.failed());
            return self.decide(d, us, Some(0));
        }
        self.decide(d, us, None)
    }

    fn callout_response(&mut self, _headers: usize, body_size: usize) -> Step {
        let Some((mut d, us, called)) = self.pending.take() else {
            return Step::Next;
        };
        let sh = self.shared.clone();
        let cfg = &sh.config;
        let Some(c) = &cfg.classifier else {
            return self.decide(d, us, None);
        };
        let ok = call_resp_header(":status").as_deref() == Some("200");
        let p = if ok {
            c.probability(&buffer(BufferType::HttpCallResponseBody, body_size))
        } else {
            None
        };
        let outcome = p.map_or_else(|| c.failed(), ClassifierOutcome::Score);
        d.with_classifier(cfg, outcome);
        let classifier_us = now_ns().saturating_sub(called) / 1000;
        self.decide(d, us, Some(classifier_us))
    }

    fn response_headers(&mut self, _format: &AnswerFormat, _end_of_stream: bool) -> Answer {
        if self.flagged {
            set_resp_header("x-tollgate-guard", Some("flagged"));
        }
        Answer::Skip
    }

    fn response_body(&mut self, _chunk: &mut Vec<u8>, _end_of_stream: bool) -> bool {
        false
    }
}

impl GuardStage {
    /// Records `d` and acts on it.
    fn decide(&mut self, d: Decision, us: u64, classifier_us: Option<u64>) -> Step {
        self.record(&d, us, classifier_us);
        match d.action {
            Action::Allow | Action::Shadow => Step::Next,
            Action::Flag => {
                self.flagged = true;
                Step::Next
            }
            Action::Block => {
                let request_id = req_header("x-request-id").unwrap_or_default();
                let msg = format!(
                    "Request blocked: possible prompt injection in the {} message {} (rules: {}; ruleset {}; request id {}).",
                    d.channel.map_or("", |c| c.as_str()),
                    d.index.map(|i| i.to_string()).unwrap_or_default(),
                    d.rules.join(", "),
                    crate::rules::RULESET_VERSION,
                    request_id
                );
                reject(
                    "guard",
                    400,
                    Vec::new(),
                    &openai_error_body(&msg, "invalid_request_error", "prompt_injection_detected"),
                );
                Step::Replied
            }
        }
    }
}
