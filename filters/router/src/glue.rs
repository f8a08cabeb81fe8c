//! proxy-wasm adapter for both roles.

use crate::config::{Config, RawUpstream, Router, Virtual};
use crate::exchange::{prepare, AnswerTranslator, Mode, Refusal};
use crate::provider::{
    auth_header, openai_op, upstream_model, Auth, Provider, Wire, CREDENTIAL_HEADERS,
};
use crate::resolve::{doc_model, latest_user_text, models_body, resolve, Target};
use crate::semantic::{embeddings_request, parse_embeddings, Centroids, Decision};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;
use tollgate_core::answer::AnswerFormat;
use tollgate_core::api::{gemini_model_from_path, ApiKind};
use tollgate_core::body::LlmRequest;
use tollgate_core::error::openai_error_body;
use tollgate_wasm::host::resp_header;
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
        // Every attempt's adapter reads the client's shape from here (see CLIENT_API_STATE).
        set_filter_state(CLIENT_API_STATE, req.kind.as_str());
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

/// The filter state that carries the client's API shape from the router (downstream) to every
/// attempt (Envoy shares the request's filter state with upstream filters): the attempts share one
/// header map, so an earlier attempt's rewritten `:path` no longer says what the client spoke.
pub const CLIENT_API_STATE: &str = "tollgate.client_api";

struct Attempt {
    provider_name: String,
    provider: Provider,
    endpoint_model: Option<String>,
    kind: ApiKind,
    model: Option<String>,
    provider_wire: Option<Wire>,
    /// The answer is translated back to the client's shape.
    answer: Option<AnswerTranslator>,
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
    fn set_headers(&self, a: &Attempt, path: &str, auth: Auth) {
        set_req_header(":path", Some(path));
        if let Some(host) = self.meta("host") {
            set_req_header(":authority", Some(&host));
        }
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
    fn refuse(&self, r: &Refusal) -> Action {
        reject("router", 400, Vec::new(), &r.body())
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
        let kind = get_string_property(&[CLIENT_API_STATE])
            .and_then(|k| ApiKind::from_name(&k))
            .or_else(|| ApiKind::classify("POST", &path))
            .unwrap_or(ApiKind::ChatCompletions);
        let mut a = Attempt {
            provider_name,
            provider,
            endpoint_model: self.meta("model"),
            kind,
            model: None,
            provider_wire: None,
            answer: None,
        };
        let client = Wire::of_client(kind);
        if client == Wire::Gemini {
            // Gemini's native shape names the model in its path and is served only by Gemini:
            // adapt the headers now and let the body stream through untouched (no copy here).
            if let Err(message) = a.provider.target(client) {
                return self.refuse(&Refusal {
                    message,
                    param: None,
                    code: "unsupported_api_for_model",
                });
            }
            let requested = gemini_model_from_path(&path).unwrap_or_default().to_owned();
            let model = upstream_model(a.endpoint_model.as_deref(), &requested).to_owned();
            let new_path = gemini_path(&path, &model);
            set_req_header("anthropic-version", None);
            set_req_header("anthropic-beta", None);
            self.set_headers(&a, &new_path, a.provider.auth_style(Wire::Gemini));
            a.model = Some(model);
            a.provider_wire = Some(Wire::Gemini);
            self.attempt = Some(a);
            self.done = true;
            return Action::Continue;
        }
        if end_of_stream {
            // No body: nothing to adapt but where it goes.
            let model = a.endpoint_model.clone().unwrap_or_default();
            let target = a.provider.target(client).unwrap_or(Wire::Other);
            let p = a.provider.path(target, openai_op(kind), &model, false);
            self.set_headers(&a, &p, a.provider.auth_style(target));
            self.attempt = Some(a);
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

    fn on_http_response_headers(&mut self, _n: usize, end_of_stream: bool) -> Action {
        let Some(a) = self.attempt.as_mut() else {
            return Action::Continue;
        };
        set_resp_header("x-tollgate-provider", Some(&a.provider_name));
        if let Some(m) = a.model.as_deref().or(a.endpoint_model.as_deref()) {
            set_resp_header("x-tollgate-model", Some(m));
        }
        if let Some(w) = a.provider_wire {
            set_resp_header("x-tollgate-provider-api", Some(wire_name(w, a.kind)));
        }
        if let Some(t) = a.answer.as_mut() {
            let status = resp_header(":status")
                .and_then(|s| s.parse::<u16>().ok())
                .unwrap_or(0);
            let ct = resp_header("content-type");
            let ce = resp_header("content-encoding");
            let edits = t.headers(status, ct.as_deref(), ce.as_deref());
            if let Some(st) = edits.status {
                set_resp_header(":status", Some(&st.to_string()));
            }
            set_resp_header("content-type", Some(edits.content_type));
            set_resp_header("content-length", None);
            set_resp_header("content-encoding", None);
            if t.mode() != Mode::Stream && !end_of_stream {
                // A whole answer's status may still change once its body is read (a success that
                // is not JSON goes out as 502): hold the headers until then.
                return Action::Pause;
            }
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        let Some(t) = self.attempt.as_mut().and_then(|a| a.answer.as_mut()) else {
            return Action::Continue;
        };
        if t.mode() == Mode::Stream {
            let piece = buffer(BufferType::HttpResponseBody, size);
            let out = t.stream(&piece, end_of_stream);
            let _ = set_buffer(BufferType::HttpResponseBody, size, &out);
            return Action::Continue;
        }
        if !end_of_stream {
            // A whole answer is translated once it is complete (Envoy buffers it).
            return Action::Pause;
        }
        let body = buffer(BufferType::HttpResponseBody, size);
        let out = t.whole(&body);
        if let Some(st) = t.final_status() {
            set_resp_header(":status", Some(&st.to_string()));
        }
        let _ = set_buffer(BufferType::HttpResponseBody, size, &out);
        Action::Continue
    }
}

impl UpstreamHttp {
    /// The attempt's body is complete: translate it for this provider, set path, model and key.
    fn finish(&mut self, size: usize) -> Action {
        self.done = true;
        let raw = buffer(BufferType::HttpRequestBody, size);
        let Some(a) = self.attempt.as_mut() else {
            return Action::Continue;
        };
        let prepared = match prepare(&a.provider, a.kind, a.endpoint_model.as_deref(), &raw) {
            Ok(p) => p,
            Err(r) => {
                self.attempt = None;
                return self.refuse(&r);
            }
        };
        if let Some(b) = &prepared.body {
            // The body is not carried over between attempts: every attempt sets its own.
            let _ = set_buffer(BufferType::HttpRequestBody, size, b);
        }
        a.model = Some(prepared.model.clone());
        a.provider_wire = Some(prepared.provider_wire);
        if prepared.provider_wire == Wire::Anthropic {
            // A native client's version header is kept; a translated request gets ours.
            if prepared.translation.is_some() || req_header("anthropic-version").is_none() {
                set_req_header("anthropic-version", Some(&a.provider.anthropic_version));
            }
        }
        if prepared.provider_wire != Wire::Anthropic {
            // Attempts share one header map: no Anthropic header follows a failover elsewhere.
            set_req_header("anthropic-version", None);
            set_req_header("anthropic-beta", None);
        }
        if let Some(t) = prepared.translation {
            // The answer is read here: it must arrive unencoded.
            set_req_header("accept-encoding", None);
            set_req_header("content-type", Some("application/json"));
            a.answer = Some(AnswerTranslator::new(
                t,
                tollgate_wasm::now_ns() / 1_000_000_000,
            ));
        }
        if let Some(a) = self.attempt.as_ref() {
            self.set_headers(a, &prepared.path, prepared.auth);
        }
        Action::Continue
    }
}

/// A Gemini-native path with `model` in place of the client's (action and query kept).
fn gemini_path(path: &str, model: &str) -> String {
    let (bare, query) = match path.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (path, None),
    };
    let action = bare.rsplit_once(':').map_or("generateContent", |(_, a)| a);
    let mut p = format!("/v1beta/models/{model}:{action}");
    if let Some(q) = query {
        p.push('?');
        p.push_str(q);
    }
    p
}

/// The provider API of an attempt, as the access log names it.
fn wire_name(w: Wire, kind: ApiKind) -> &'static str {
    match w {
        Wire::Chat => "chat_completions",
        Wire::Responses => "responses",
        Wire::Anthropic => "anthropic_messages",
        Wire::Gemini => "gemini_generate",
        Wire::Other => kind.as_str(),
    }
}
