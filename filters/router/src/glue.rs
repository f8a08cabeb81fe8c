//! proxy-wasm adapter for both roles.

use crate::config::{Config, RawUpstream, Router, Virtual};
use crate::provider::{
    auth_header, canonical_op, provider_path, upstream_model, Auth, Native, Provider,
    CREDENTIAL_HEADERS,
};
use crate::resolve::{doc_model, latest_user_text, models_body, resolve, Target};
use crate::semantic::{embeddings_request, parse_embeddings, Centroids, Decision};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;
use tollgate_core::answer::AnswerFormat;
use tollgate_core::api::{gemini_model_from_path, ApiKind};
use tollgate_core::body::LlmRequest;
use tollgate_core::error::openai_error_body;
use tollgate_wasm::host::{call_foreign_function, call_resp_header, http_call};
use tollgate_wasm::pipeline::answer;
use tollgate_wasm::{
    buffer, get_string_property, reject, req_header, set_buffer, set_filter_state, set_req_header,
    set_resp_header, Answer, Filter, Head, Metrics, Passthrough, Pipeline, Stage, Step,
};

// `root()` for the combined module (filters/all); its own entry point when built standalone.
tollgate_wasm::filter_entry!(RouterModule);

pub struct UpstreamShared {
    cfg: RawUpstream,
    /// Provider → key, read once from the VM's environment.
    keys: BTreeMap<String, String>,
}

pub struct RouterShared {
    cfg: Router,
    /// Centroids per virtual model, computed from the first embeddings answer that carried the examples.
    centroids: RefCell<BTreeMap<String, Rc<Centroids>>>,
    metrics: RefCell<Metrics>,
}

/// Either role's shared state (the role comes from the configuration).
pub enum Shared {
    Router(Rc<RouterShared>),
    Upstream(Rc<UpstreamShared>),
}

/// The router module as a [`Filter`]; its configuration's `role` picks the half.
pub struct RouterModule;

impl Filter for RouterModule {
    type Shared = Shared;
    const NAME: &'static str = "tollgate_router";

    fn configure(bytes: &[u8]) -> Result<Shared, String> {
        Ok(match Config::from_json(bytes).map_err(|e| e.to_string())? {
            Config::Router(cfg) => Shared::Router(Rc::new(RouterShared {
                cfg,
                centroids: RefCell::default(),
                metrics: RefCell::default(),
            })),
            Config::Upstream(cfg) => {
                // Keys are read once, from this VM's environment; they are never logged.
                let keys = cfg
                    .providers
                    .iter()
                    .filter_map(|(name, p)| {
                        let var = p.key_env.as_deref()?;
                        std::env::var(var)
                            .ok()
                            .filter(|k| !k.is_empty())
                            .map(|k| (name.clone(), k))
                    })
                    .collect();
                Shared::Upstream(Rc::new(UpstreamShared { cfg, keys }))
            }
        })
    }

    fn stage(s: &Rc<Shared>) -> Option<Box<dyn Stage>> {
        match s.as_ref() {
            Shared::Router(s) => Some(Box::new(RouterStage {
                s: s.clone(),
                call: None,
            })),
            Shared::Upstream(_) => None,
        }
    }

    fn http(s: &Rc<Shared>) -> Box<dyn HttpContext> {
        match s.as_ref() {
            Shared::Upstream(s) => Box::new(UpstreamHttp {
                s: s.clone(),
                attempt: None,
                done: false,
            }),
            Shared::Router(_) => match Self::stage(s) {
                Some(stage) => Box::new(Pipeline::new(vec![stage])),
                None => Box::new(Passthrough),
            },
        }
    }
}

// ---------------------------------------------------------------- router (downstream)

struct PendingCall {
    virtual_model: String,
    with_examples: bool,
    /// The prompt being classified (for the keyword fallback).
    text: String,
}

struct RouterStage {
    s: Rc<RouterShared>,
    call: Option<PendingCall>,
}

impl RouterStage {
    fn on_callout(&mut self, body_size: usize) -> Step {
        let Some(call) = self.call.take() else {
            return Step::Next;
        };
        let ok = call_resp_header(":status").as_deref() == Some("200");
        let vectors = if ok {
            parse_embeddings(&buffer(BufferType::HttpCallResponseBody, body_size))
        } else {
            None
        };
        let decision = vectors.and_then(|v| self.embeddings_decision(&call, &v));
        let decision = match decision {
            Some(d) => d,
            None => {
                // Embeddings service down, slow or odd: keywords decide, and we say so.
                self.s.metrics.borrow_mut().incr(
                    "tollgate_router_embeddings_fallback_total",
                    &[],
                    1,
                );
                let v = self.s.cfg.virtual_models.get(&call.virtual_model);
                match v {
                    Some(v) => v.keywords.classify(&call.text),
                    None => {
                        self.fail(500, "virtual model vanished", "internal_error");
                        return Step::Replied;
                    }
                }
            }
        };
        self.apply(&decision);
        Step::Next
    }
    fn embeddings_decision(&self, call: &PendingCall, vectors: &[Vec<f64>]) -> Option<Decision> {
        let v: &Virtual = self.s.cfg.virtual_models.get(&call.virtual_model)?;
        let emb = v.embeddings.as_ref()?;
        let prompt = vectors.last()?;
        let centroids = if call.with_examples {
            let counts: Vec<usize> = v.examples.iter().map(Vec::len).collect();
            let c = Rc::new(Centroids::new(vectors.get(..vectors.len() - 1)?, &counts)?);
            self.s
                .centroids
                .borrow_mut()
                .insert(call.virtual_model.clone(), c.clone());
            c
        } else {
            self.s.centroids.borrow().get(&call.virtual_model)?.clone()
        };
        let (ci, score) = centroids.nearest(prompt)?;
        let class = v.classes.get(ci)?;
        Some(if score >= emb.threshold {
            Decision {
                class: Some(class.name.clone()),
                route: class.route.clone(),
                score,
                method: "embeddings",
            }
        } else {
            Decision {
                class: None,
                route: v.keywords.classify("").route,
                score,
                method: "default",
            }
        })
    }

    fn fail(&self, status: u32, message: &str, code: &str) {
        let kind = if status < 500 {
            "invalid_request_error"
        } else {
            "server_error"
        };
        reject(
            "router",
            status,
            Vec::new(),
            &openai_error_body(message, kind, code),
        );
    }

    fn set_route(&self, route: &str) {
        set_req_header(&self.s.cfg.route_header, Some(route));
        // Envoy picked a route when the headers arrived; make it look again.
        call_foreign_function("clear_route_cache", &[]);
        set_filter_state("tollgate.route", route);
        self.s
            .metrics
            .borrow_mut()
            .incr("tollgate_router_requests_total", &[("route", route)], 1);
    }

    fn apply(&self, d: &Decision) {
        self.set_route(&d.route);
        set_filter_state("tollgate.route_method", d.method);
        set_filter_state("tollgate.route_score", &format!("{:.3}", d.score));
        if let Some(c) = &d.class {
            set_filter_state("tollgate.route_class", c);
        }
    }
}

impl Stage for RouterStage {
    fn request_headers(&mut self, head: &Head) -> Step {
        let bare = head.path.split('?').next().unwrap_or_default();
        if head.method == "GET" && bare.ends_with("/v1/models") {
            let headers = [("content-type".to_owned(), "application/json".to_owned())];
            answer(200, &headers, &models_body(&self.s.cfg));
            return Step::Replied;
        }
        Step::Next
    }

    /// Decides the route of an LLM request, or answers it: every LLM request is routed here, and
    /// only here (the route header is Tollgate's alone); one the router cannot place never reaches a
    /// provider.
    fn request_body(&mut self, req: &mut LlmRequest) -> Step {
        let model = match req.kind {
            ApiKind::GeminiGenerate | ApiKind::GeminiStreamGenerate | ApiKind::GeminiEmbed => {
                Ok(gemini_model_from_path(&req.path).map(str::to_owned))
            }
            _ => match req.doc() {
                Ok(doc) => doc_model(doc),
                Err(e) => Err(e.message()),
            },
        };
        let model = match model {
            Ok(Some(m)) => m,
            Ok(None) => {
                self.fail(400, "you must provide a model parameter", "missing_model");
                return Step::Replied;
            }
            Err(msg) => {
                self.fail(400, &msg, "invalid_request_body");
                return Step::Replied;
            }
        };
        set_filter_state("tollgate.requested_model", &model);
        match resolve(&self.s.cfg, &model) {
            Target::Route(r) => {
                self.set_route(&r);
                set_filter_state("tollgate.route_method", "model");
                Step::Next
            }
            Target::Unknown => {
                let msg =
                    format!("The model `{model}` does not exist or you do not have access to it.");
                self.fail(404, &msg, "model_not_found");
                Step::Replied
            }
            Target::Virtual(name) => {
                let text = req.doc().map(latest_user_text).unwrap_or_default();
                self.classify(name, text)
            }
        }
    }

    fn callout_response(&mut self, _headers: usize, body_size: usize) -> Step {
        self.on_callout(body_size)
    }

    fn response_headers(&mut self, _format: &AnswerFormat, _end_of_stream: bool) -> Answer {
        Answer::Skip
    }

    fn response_body(&mut self, _chunk: &mut Vec<u8>, _end_of_stream: bool) -> bool {
        false
    }
}

impl RouterStage {
    fn classify(&mut self, name: String, text: String) -> Step {
        let Some(v) = self.s.cfg.virtual_models.get(&name) else {
            self.fail(500, "virtual model vanished", "internal_error");
            return Step::Replied;
        };
        if let Some(emb) = &v.embeddings {
            let with_examples = !self.s.centroids.borrow().contains_key(&name);
            let mut inputs: Vec<String> = if with_examples {
                v.examples.iter().flatten().cloned().collect()
            } else {
                Vec::new()
            };
            inputs.push(text.clone());
            let req = embeddings_request(&emb.model, &inputs);
            let headers = vec![
                (":method", "POST"),
                (":path", emb.path.as_str()),
                (":authority", emb.authority.as_str()),
                ("content-type", "application/json"),
            ];
            let timeout = Duration::from_millis(emb.timeout_ms);
            if http_call(&emb.cluster, headers, &req, timeout).is_some() {
                self.call = Some(PendingCall {
                    virtual_model: name,
                    with_examples,
                    text,
                });
                return Step::Wait;
            }
            self.s
                .metrics
                .borrow_mut()
                .incr("tollgate_router_embeddings_fallback_total", &[], 1);
        }
        let d = v.keywords.classify(&text);
        self.apply(&d);
        Step::Next
    }
}

// ---------------------------------------------------------------- upstream (per attempt)

struct Attempt {
    provider_name: String,
    provider: Provider,
    endpoint_model: Option<String>,
    op: String,
    /// A provider-native request shape (passed through to a provider of its family).
    native: Option<Native>,
    model: Option<String>,
}

struct UpstreamHttp {
    s: Rc<UpstreamShared>,
    attempt: Option<Attempt>,
    /// The attempt's body was adapted.
    done: bool,
}

impl Context for UpstreamHttp {}

impl UpstreamHttp {
    fn meta(&self, key: &str) -> Option<String> {
        let ns = self.s.cfg.metadata_namespace.as_str();
        get_string_property(&["xds", "upstream_host_metadata", "filter_metadata", ns, key])
    }

    /// Path, host and the provider's own key for this attempt (credentials were removed already).
    fn rewrite_headers(&self, a: &Attempt, model: &str) {
        let (path, auth) = match &a.native {
            Some(n) => n.path_and_auth(model),
            None => (provider_path(&a.provider, &a.op, model), a.provider.auth),
        };
        set_req_header(":path", Some(&path));
        if let Some(host) = self.meta("host") {
            set_req_header(":authority", Some(&host));
        }
        let auth = if a.provider.auth == Auth::None {
            Auth::None
        } else {
            auth
        };
        if let Some((name, value)) = self
            .s
            .keys
            .get(&a.provider_name)
            .and_then(|k| auth_header(auth, k))
        {
            set_req_header(name, Some(&value));
        }
    }

    /// Ends this attempt with a local answer (the request cannot be served by this provider).
    fn refuse(&self, message: &str) -> Action {
        reject(
            "router",
            400,
            Vec::new(),
            &openai_error_body(
                message,
                "invalid_request_error",
                "unsupported_api_for_model",
            ),
        )
    }
}

impl HttpContext for UpstreamHttp {
    fn on_http_request_headers(&mut self, _n: usize, end_of_stream: bool) -> Action {
        // Every attempt starts clean: no client credential, and no key an earlier attempt set for
        // another provider, whatever this endpoint turns out to be.
        for h in CREDENTIAL_HEADERS {
            set_req_header(h, None);
        }
        let Some(provider_name) = self.meta("provider") else {
            return Action::Continue;
        };
        let Some(provider) = self.s.cfg.providers.get(&provider_name).cloned() else {
            log::warn!("tollgate_router: endpoint names unknown provider {provider_name}");
            return Action::Continue;
        };
        let path = req_header(":path").unwrap_or_default();
        let native = Native::of_path(&path);
        if let Some(n) = &native {
            if n.family() != provider_name {
                let msg = format!(
                    "This route's provider ({provider_name}) does not serve the {} API; use /v1/chat/completions.",
                    n.family()
                );
                return self.refuse(&msg);
            }
        }
        let all: Vec<&Provider> = self.s.cfg.providers.values().collect();
        let op = canonical_op(&path, &all)
            .unwrap_or("chat/completions")
            .to_owned();
        let a = Attempt {
            provider_name,
            provider,
            endpoint_model: self.meta("model"),
            op,
            native,
            model: None,
        };
        if end_of_stream {
            let model = a.endpoint_model.clone().unwrap_or_default();
            self.rewrite_headers(&a, &model);
            self.attempt = Some(a);
            return Action::Continue;
        }
        // A shape whose model is in the path (Gemini) needs nothing from the body: adapt the
        // headers now and let the body stream through untouched (no copy into this VM).
        if !a.native.as_ref().is_none_or(Native::body_has_model) {
            let requested = gemini_model_from_path(&path).unwrap_or_default().to_owned();
            let model = upstream_model(a.endpoint_model.as_deref(), &requested).to_owned();
            self.rewrite_headers(&a, &model);
            let mut a = a;
            a.model = Some(model);
            self.attempt = Some(a);
            self.done = true;
            return Action::Continue;
        }
        set_req_header("content-length", None);
        self.attempt = Some(a);
        Action::Pause
    }

    fn on_http_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        if self.attempt.is_none() || self.done {
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        self.finish(size)
    }

    fn on_http_request_trailers(&mut self, _n: usize) -> Action {
        // A body that ends with trailers is adapted like one that ends with its last chunk.
        if self.attempt.is_some() && !self.done {
            return self.finish(tollgate_wasm::host::buffer_len(BufferType::HttpRequestBody));
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _n: usize, _end_of_stream: bool) -> Action {
        if let Some(a) = &self.attempt {
            set_resp_header("x-tollgate-provider", Some(&a.provider_name));
            if let Some(m) = a.model.as_deref().or(a.endpoint_model.as_deref()) {
                set_resp_header("x-tollgate-model", Some(m));
            }
        }
        Action::Continue
    }
}

impl UpstreamHttp {
    /// The attempt's body is complete: set this attempt's model, path and key.
    fn finish(&mut self, size: usize) -> Action {
        self.done = true;
        let raw = buffer(BufferType::HttpRequestBody, size);
        let mut body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        let Some(a) = self.attempt.as_mut() else {
            return Action::Continue;
        };
        let requested = match &a.native {
            Some(Native::Gemini { .. }) => {
                gemini_model_from_path(&req_header(":path").unwrap_or_default())
                    .unwrap_or_default()
                    .to_owned()
            }
            _ => body
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        };
        let model = upstream_model(a.endpoint_model.as_deref(), &requested).to_owned();
        let body_has_model = a.native.as_ref().is_none_or(Native::body_has_model);
        if let (true, Some(o)) = (body_has_model, body.as_object_mut()) {
            // The body is not carried over between attempts: set this attempt's model every time.
            o.insert("model".into(), Value::String(model.clone()));
            if let Ok(b) = serde_json::to_vec(&body) {
                let _ = set_buffer(BufferType::HttpRequestBody, size, &b);
            }
        }
        a.model = Some(model.clone());
        if let Some(a) = self.attempt.as_ref() {
            self.rewrite_headers(a, &model);
        }
        Action::Continue
    }
}
