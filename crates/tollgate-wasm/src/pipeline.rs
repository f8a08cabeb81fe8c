//! One HTTP context that runs Tollgate's policies ("stages") in order over one request.
//!
//! The request headers are read once; the body is read once when it ends (last chunk or trailers),
//! parsed at most once ([`LlmRequest`]), handed to every stage, and written back at most once, only if
//! a stage changed it. The answer goes through the stages in reverse: each chunk is read once, passed
//! from stage to stage in memory, and written once if one changed it. An SSE answer is parsed once
//! into events ([`AnswerEvent`], each decoded at most once) that every stage reads, changes or adds
//! to. A standalone filter is the same pipeline with one stage.

use crate::host;
use crate::host::send_reply;
use crate::{reject, req_header, set_buffer};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType};
use std::cell::Cell;
use tollgate_core::answer::{AnswerEvent, AnswerFormat};
use tollgate_core::api::ApiKind;
use tollgate_core::body::LlmRequest;
use tollgate_core::sse::SseParser;

/// What a stage decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Go on with the next stage.
    Next,
    /// The stage answered the client itself (a local reply was sent): no later stage runs.
    Replied,
    /// The stage waits for an HTTP callout; the pipeline goes on after [`Stage::callout_response`].
    Wait,
}

/// How a stage wants to see the answer's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Answer {
    /// Not at all.
    Skip,
    /// Chunk by chunk, as it streams.
    Stream,
    /// Whole, once it has ended (the headers may go ahead).
    Whole,
    /// Whole, and the headers are held until then (the stage adds headers at the end).
    WholeWithHeaders,
}

/// The request line as the pipeline read it once.
#[derive(Debug, Clone)]
pub struct Head {
    /// `:method`.
    pub method: String,
    /// `:path`.
    pub path: String,
    /// The LLM API shape, when this is an LLM call.
    pub kind: Option<ApiKind>,
}

/// One policy of the pipeline. Stages read and write headers and filter state through the host
/// layer; bodies reach them only through the pipeline.
pub trait Stage {
    /// Request headers. A stage that answers locally returns [`Step::Replied`].
    fn request_headers(&mut self, head: &Head) -> Step;
    /// Whether the request headers must wait for this stage's verdict on the body (a stage that may
    /// refuse the request, or route it). A stage that only reads or rewrites the body says `false`:
    /// its headers go ahead (Istio's WasmPlugin cannot set `allow_on_headers_stop_iteration`).
    fn holds_request_headers(&self) -> bool {
        true
    }
    /// The complete body of an LLM request.
    fn request_body(&mut self, req: &mut LlmRequest) -> Step;
    /// The answer to a callout this stage started ([`Step::Wait`]).
    fn callout_response(&mut self, _headers: usize, _body_size: usize) -> Step {
        Step::Next
    }
    /// Response headers (`end_of_stream`: there is no body); `format` as the pipeline read it.
    fn response_headers(&mut self, format: &AnswerFormat, end_of_stream: bool) -> Answer;
    /// A piece of an answer that is not an SSE stream (all of it, once, when [`Answer::Whole`] was
    /// asked by any stage); returns `true` if it changed `chunk`.
    fn response_body(&mut self, chunk: &mut Vec<u8>, end_of_stream: bool) -> bool;
    /// The complete events of an SSE answer that arrived with this chunk (with every event left at
    /// its end when `end_of_stream`). A stage may change events (`json_mut`), or insert and remove
    /// them; the pipeline writes them out once.
    fn response_events(&mut self, _events: &mut Vec<AnswerEvent>, _end_of_stream: bool) {}
    /// The answer ended with trailers.
    fn response_trailers(&mut self) {}
    /// The stream is done (also when it was cut).
    fn log(&mut self) {}
}

thread_local! {
    /// Set by [`answer`] (which [`crate::reject`] uses): a local reply went out.
    static REPLIED: Cell<bool> = const { Cell::new(false) };
}

/// Records that a local reply was sent in this callback.
fn note_reply() {
    REPLIED.with(|r| r.set(true));
}

fn take_reply() -> bool {
    REPLIED.with(|r| r.replace(false))
}

/// The pipeline's HTTP context.
pub struct Pipeline {
    stages: Vec<Box<dyn Stage>>,
    /// The LLM request whose body is awaited.
    head: Option<Head>,
    /// The request body has ended (or was never coming).
    request_done: bool,
    /// A stage waits for a callout: its index and the request.
    waiting: Option<(usize, LlmRequest)>,
    /// Stages answered or refused: nothing more runs on the request.
    stopped: bool,
    answer: Answer,
    response_done: bool,
    /// The answer is an SSE stream (identity-encoded): parsed here once for every stage.
    sse: Option<SseParser>,
}

impl Pipeline {
    /// A pipeline of `stages`, run in this order on requests and in reverse on answers.
    pub fn new(stages: Vec<Box<dyn Stage>>) -> Self {
        Self {
            stages,
            head: None,
            request_done: false,
            waiting: None,
            stopped: false,
            answer: Answer::Skip,
            response_done: false,
            sse: None,
        }
    }

    /// Runs stages `from..` on the request; writes the body if one changed it.
    fn run_from(&mut self, from: usize, mut req: LlmRequest) -> Action {
        for i in from..self.stages.len() {
            let step = match self.stages.get_mut(i) {
                Some(s) => s.request_body(&mut req),
                None => Step::Next,
            };
            let step = if take_reply() { Step::Replied } else { step };
            match step {
                Step::Next => {}
                Step::Replied => {
                    self.stopped = true;
                    return Action::Pause;
                }
                Step::Wait => {
                    self.waiting = Some((i, req));
                    return Action::Pause;
                }
            }
        }
        match req.new_body() {
            None => Action::Continue,
            Some(Ok(body)) if set_buffer(BufferType::HttpRequestBody, req.raw().len(), &body) => {
                Action::Continue
            }
            // Never forward the original of a body a policy had to change.
            Some(Ok(_)) => self.fail("the request body could not be rewritten"),
            Some(Err(_)) => self.fail("the request body could not be serialised"),
        }
    }

    fn fail(&mut self, message: &str) -> Action {
        self.stopped = true;
        reject(
            "pipeline",
            500,
            Vec::new(),
            &tollgate_core::error::openai_error_body(message, "server_error", "internal_error"),
        )
    }

    fn finish_request(&mut self, size: usize) -> Action {
        self.request_done = true;
        let Some(head) = self.head.take() else {
            return Action::Continue;
        };
        let Some(kind) = head.kind else {
            return Action::Continue;
        };
        let raw = host::buffer(BufferType::HttpRequestBody, size);
        self.run_from(0, LlmRequest::new(kind, head.path, raw))
    }

    /// Reads the answer's first `size` bytes once, hands them through the stages in reverse, and
    /// writes them back once if a stage changed them.
    fn pass_answer(&mut self, size: usize, end_of_stream: bool) {
        let mut chunk = host::buffer(BufferType::HttpResponseBody, size);
        if let Some(parser) = self.sse.as_mut() {
            let mut raw = Vec::new();
            parser.feed(&chunk, &mut raw);
            if end_of_stream {
                raw.extend(parser.finish());
            }
            let mut events: Vec<AnswerEvent> = raw.into_iter().map(AnswerEvent::from_sse).collect();
            for s in self.stages.iter_mut().rev() {
                s.response_events(&mut events, end_of_stream);
            }
            // Only complete events go on (an event split across chunks leaves with its last part);
            // untouched events keep their exact bytes.
            let mut out = Vec::with_capacity(chunk.len());
            tollgate_core::answer::write_events(&events, &mut out);
            if out != chunk && !set_buffer(BufferType::HttpResponseBody, size, &out) {
                log::warn!("tollgate: could not rewrite the answer");
            }
            return;
        }
        let mut changed = false;
        for s in self.stages.iter_mut().rev() {
            changed |= s.response_body(&mut chunk, end_of_stream);
        }
        if changed && !set_buffer(BufferType::HttpResponseBody, size, &chunk) {
            log::warn!("tollgate: could not rewrite the answer");
        }
    }
}

impl Context for Pipeline {
    fn on_http_call_response(
        &mut self,
        _token: u32,
        headers: usize,
        body: usize,
        _trailers: usize,
    ) {
        let Some((i, req)) = self.waiting.take() else {
            return;
        };
        let step = match self.stages.get_mut(i) {
            Some(s) => s.callout_response(headers, body),
            None => Step::Next,
        };
        match step {
            Step::Next => {
                if self.run_from(i + 1, req) == Action::Continue {
                    host::resume_request();
                }
            }
            Step::Replied => self.stopped = true,
            Step::Wait => self.waiting = Some((i, req)),
        }
    }
}

impl HttpContext for Pipeline {
    fn on_http_request_headers(&mut self, _n: usize, end_of_stream: bool) -> Action {
        let _ = take_reply();
        if crate::client_id_mismatch() {
            self.stopped = true;
            return reject(
                "auth",
                401,
                Vec::new(),
                &tollgate_core::error::openai_error_body(
                    "The client_id does not belong to the client secret provided.",
                    "invalid_request_error",
                    "invalid_api_key",
                ),
            );
        }
        let method = req_header(":method").unwrap_or_default();
        let path = req_header(":path").unwrap_or_default();
        let kind = ApiKind::classify(&method, &path);
        let head = Head { method, path, kind };
        for s in self.stages.iter_mut() {
            if s.request_headers(&head) == Step::Replied || take_reply() {
                self.stopped = true;
                return Action::Pause;
            }
        }
        if kind.is_none() {
            return Action::Continue;
        }
        self.head = Some(head);
        if end_of_stream {
            return self.finish_request(0);
        }
        // Nothing goes upstream before every stage that may refuse or route the request has seen the
        // body (needs allow_on_headers_stop_iteration: true); the body itself is always held.
        if self.stages.iter().any(|s| s.holds_request_headers()) {
            Action::Pause
        } else {
            Action::Continue
        }
    }

    fn on_http_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        if self.head.is_none() {
            return if self.stopped || self.waiting.is_some() {
                Action::Pause
            } else {
                Action::Continue
            };
        }
        if !end_of_stream {
            return Action::Pause; // Envoy buffers until the body is complete
        }
        self.finish_request(size)
    }

    fn on_http_request_trailers(&mut self, _n: usize) -> Action {
        // HTTP/2 and chunked HTTP/1.1 bodies can end with trailers instead of a last data frame.
        if !self.request_done && self.head.is_some() {
            let size = host::buffer_len(BufferType::HttpRequestBody);
            return self.finish_request(size);
        }
        if self.stopped || self.waiting.is_some() {
            Action::Pause
        } else {
            Action::Continue
        }
    }

    fn on_http_response_headers(&mut self, _n: usize, end_of_stream: bool) -> Action {
        self.response_done = end_of_stream;
        // Read once; every stage and the event parsing below go by the same reading.
        let format = AnswerFormat::of(
            crate::resp_header("content-type").as_deref(),
            crate::resp_header("content-encoding").as_deref(),
        );
        let mut answer = Answer::Skip;
        for s in self.stages.iter_mut().rev() {
            answer = answer.max(s.response_headers(&format, end_of_stream));
        }
        self.answer = answer;
        let sse = answer != Answer::Skip && format.sse && !format.encoded;
        self.sse = sse.then(SseParser::default);
        if answer == Answer::WholeWithHeaders && !end_of_stream {
            return Action::Pause;
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        match self.answer {
            Answer::Skip => return Action::Continue,
            Answer::Whole | Answer::WholeWithHeaders => {
                if !end_of_stream {
                    return Action::Pause; // Envoy buffers the answer
                }
                self.response_done = true;
                self.pass_answer(size, true);
            }
            Answer::Stream => {
                self.response_done = end_of_stream;
                self.pass_answer(size, end_of_stream);
            }
        }
        Action::Continue
    }

    fn on_http_response_trailers(&mut self, _n: usize) -> Action {
        if !self.response_done && matches!(self.answer, Answer::Whole | Answer::WholeWithHeaders) {
            self.response_done = true;
            let size = host::buffer_len(BufferType::HttpResponseBody);
            self.pass_answer(size, true);
        }
        for s in self.stages.iter_mut().rev() {
            s.response_trailers();
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        // A stream cut mid-event: the stages still see (and count) what had arrived of it.
        if let Some(ev) = self.sse.as_mut().and_then(SseParser::finish) {
            if !self.response_done {
                let mut events = vec![AnswerEvent::from_sse(ev)];
                for s in self.stages.iter_mut().rev() {
                    s.response_events(&mut events, false);
                }
            }
        }
        for s in self.stages.iter_mut().rev() {
            s.log();
        }
    }
}

/// Sends a local reply that is not an error (e.g. `GET /v1/models`), noting it for the pipeline.
pub fn answer(status: u32, headers: &[(String, String)], body: &str) {
    note_reply();
    if !send_reply(status, headers, body) {
        log::warn!("tollgate: could not send local reply {status}");
    }
}
