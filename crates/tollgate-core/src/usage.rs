//! Token usage and served model, read from provider responses (JSON bodies and SSE streams).

use crate::api::ApiKind;
use crate::sse::SseEvent;
use serde::de::IgnoredAny;
use serde::Deserialize;

/// Token counts of one exchange, normalised across providers.
///
/// `prompt_tokens` includes cached tokens (Anthropic reports them separately; we add them back) and
/// `completion_tokens` includes reasoning tokens, as OpenAI counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Input tokens, cached ones included.
    pub prompt_tokens: u64,
    /// Output tokens, reasoning included.
    pub completion_tokens: u64,
    /// As the provider reports it, else prompt + completion.
    pub total_tokens: u64,
    /// Input tokens served from the provider's prompt cache.
    pub cached_prompt_tokens: u64,
    /// Output tokens spent on hidden reasoning.
    pub reasoning_tokens: u64,
}

/// What a response says about itself: usage and the model that served it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseFacts {
    /// Usage, when the provider reported it.
    pub usage: Option<Usage>,
    /// Model the provider says served the request.
    pub model: Option<String>,
}

/// The body is not what the API's schema says it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unparseable;

// ---- wire shapes (only the fields we read; unknown fields are ignored) ----

#[derive(Deserialize, Default)]
struct Details {
    cached_tokens: Option<u64>,
    reasoning_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
struct OpenAiUsage {
    // chat / completions / embeddings
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    prompt_tokens_details: Option<Details>,
    completion_tokens_details: Option<Details>,
    // responses
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    input_tokens_details: Option<Details>,
    output_tokens_details: Option<Details>,
    total_tokens: Option<u64>,
}

impl OpenAiUsage {
    fn normalise(&self) -> Usage {
        let prompt = self.prompt_tokens.or(self.input_tokens).unwrap_or(0);
        let completion = self.completion_tokens.or(self.output_tokens).unwrap_or(0);
        let in_details = self
            .prompt_tokens_details
            .as_ref()
            .or(self.input_tokens_details.as_ref());
        let out_details = self
            .completion_tokens_details
            .as_ref()
            .or(self.output_tokens_details.as_ref());
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: self
                .total_tokens
                .unwrap_or(prompt.saturating_add(completion)),
            cached_prompt_tokens: in_details.and_then(|d| d.cached_tokens).unwrap_or(0),
            reasoning_tokens: out_details.and_then(|d| d.reasoning_tokens).unwrap_or(0),
        }
    }
}

/// Chat completion, completion, embeddings, or one chat stream chunk.
#[derive(Deserialize)]
struct OpenAiBody {
    model: Option<String>,
    usage: Option<OpenAiUsage>,
    choices: Option<Vec<IgnoredAny>>,
}

/// A Responses API object, or a stream event wrapping one in `response`.
#[derive(Deserialize)]
struct ResponsesBody {
    model: Option<String>,
    usage: Option<OpenAiUsage>,
    response: Option<Box<ResponsesBody>>,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct AnthropicUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct AnthropicBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    model: Option<String>,
    usage: Option<AnthropicUsage>,
    message: Option<Box<AnthropicBody>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiUsage {
    prompt_token_count: Option<u64>,
    candidates_token_count: Option<u64>,
    total_token_count: Option<u64>,
    cached_content_token_count: Option<u64>,
    thoughts_token_count: Option<u64>,
    tool_use_prompt_token_count: Option<u64>,
}

impl GeminiUsage {
    fn normalise(&self) -> Usage {
        // Counts come from the provider: saturate rather than overflow (a panic in debug builds,
        // a wrapped-around small total in release ones).
        let prompt = self
            .prompt_token_count
            .unwrap_or(0)
            .saturating_add(self.tool_use_prompt_token_count.unwrap_or(0));
        let reasoning = self.thoughts_token_count.unwrap_or(0);
        let completion = self
            .candidates_token_count
            .unwrap_or(0)
            .saturating_add(reasoning);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: self
                .total_token_count
                .unwrap_or(prompt.saturating_add(completion)),
            cached_prompt_tokens: self.cached_content_token_count.unwrap_or(0),
            reasoning_tokens: reasoning,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiBody {
    usage_metadata: Option<GeminiUsage>,
    model_version: Option<String>,
}

/// Running Anthropic totals: `message_start` gives input, `message_delta` the cumulative output.
#[derive(Default, Clone, Copy)]
struct AnthropicTotals {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_creation: u64,
}

impl AnthropicTotals {
    fn absorb(&mut self, u: &AnthropicUsage) {
        // Later events repeat or grow the counters; never let a missing field reset one.
        self.input = u.input_tokens.unwrap_or(self.input);
        self.output = u.output_tokens.unwrap_or(self.output);
        self.cache_read = u.cache_read_input_tokens.unwrap_or(self.cache_read);
        self.cache_creation = u.cache_creation_input_tokens.unwrap_or(self.cache_creation);
    }

    fn usage(&self) -> Usage {
        let prompt = self
            .input
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_creation);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: self.output,
            total_tokens: prompt.saturating_add(self.output),
            cached_prompt_tokens: self.cache_read,
            reasoning_tokens: 0,
        }
    }
}

/// Reads usage and model from a complete non-streaming JSON body.
pub fn from_json(kind: ApiKind, body: &[u8]) -> Result<ResponseFacts, Unparseable> {
    let parse_err = |_| Unparseable;
    match kind {
        ApiKind::ChatCompletions | ApiKind::Completions | ApiKind::Embeddings => {
            let b: OpenAiBody = serde_json::from_slice(body).map_err(parse_err)?;
            Ok(ResponseFacts {
                usage: b.usage.map(|u| u.normalise()),
                model: b.model,
            })
        }
        ApiKind::Responses => {
            let b: ResponsesBody = serde_json::from_slice(body).map_err(parse_err)?;
            Ok(ResponseFacts {
                usage: b.usage.map(|u| u.normalise()),
                model: b.model,
            })
        }
        ApiKind::AnthropicMessages => {
            let b: AnthropicBody = serde_json::from_slice(body).map_err(parse_err)?;
            let usage = b.usage.map(|u| {
                let mut t = AnthropicTotals::default();
                t.absorb(&u);
                t.usage()
            });
            Ok(ResponseFacts {
                usage,
                model: b.model,
            })
        }
        ApiKind::GeminiGenerate | ApiKind::GeminiStreamGenerate | ApiKind::GeminiEmbed => {
            let first = body.iter().find(|b| !b.is_ascii_whitespace());
            let items: Vec<GeminiBody> = if first == Some(&b'[') {
                // streamGenerateContent without alt=sse: a JSON array of chunks.
                serde_json::from_slice(body).map_err(parse_err)?
            } else {
                vec![serde_json::from_slice(body).map_err(parse_err)?]
            };
            let mut facts = ResponseFacts::default();
            for item in items {
                facts.model = item.model_version.or(facts.model);
                if let Some(u) = item.usage_metadata {
                    facts.usage = Some(u.normalise());
                }
            }
            Ok(facts)
        }
    }
}

/// What one stream event turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventRole {
    /// OpenAI's usage-only chunk (`"choices": []` with usage), added by `include_usage`.
    UsageOnly,
    /// The `[DONE]` sentinel.
    Done,
    /// Anything else (content, metadata, comments).
    Other,
}

/// Accumulates usage and model across the events of one SSE stream.
#[derive(Default)]
pub struct StreamUsage {
    facts: ResponseFacts,
    anthropic: Option<AnthropicTotals>,
    events: u64,
    unparseable_events: u64,
}

impl StreamUsage {
    /// Facts gathered so far (final once the stream ended).
    pub fn facts(&self) -> &ResponseFacts {
        &self.facts
    }

    /// Number of data events seen.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Data events whose JSON could not be read.
    pub fn unparseable_events(&self) -> u64 {
        self.unparseable_events
    }

    /// Reads one event; parses its JSON only when it can carry something we still need.
    pub fn on_event(&mut self, kind: ApiKind, ev: &SseEvent) -> EventRole {
        let mut e = crate::answer::AnswerEvent::from_sse(ev.clone());
        self.on_answer_event(kind, &mut e)
    }

    /// Reads one event of the shared answer model: uses its JSON if a policy decoded it already,
    /// and decodes it (for every policy after) only when it can carry something still needed.
    pub fn on_answer_event(
        &mut self,
        kind: ApiKind,
        ev: &mut crate::answer::AnswerEvent,
    ) -> EventRole {
        let Some(data) = ev.data.as_deref() else {
            return EventRole::Other;
        };
        if ev.is_done() {
            return EventRole::Done;
        }
        self.events += 1;
        if ev.decoded().is_none() && !self.worth_parsing(data.as_bytes()) {
            return EventRole::Other;
        }
        let absorbed = match ev.json() {
            Some(v) => self.absorb(kind, v),
            None => Err(Unparseable),
        };
        match absorbed {
            Ok(role) => role,
            Err(Unparseable) => {
                self.unparseable_events += 1;
                EventRole::Other
            }
        }
    }

    fn worth_parsing(&self, data: &[u8]) -> bool {
        if self.facts.model.is_none() {
            return true;
        }
        let has_usage = memchr::memmem::find(data, b"usage").is_some()
            || memchr::memmem::find(data, b"Usage").is_some();
        has_usage && memchr::memmem::find(data, b"\"usage\":null").is_none()
    }

    fn absorb(
        &mut self,
        kind: ApiKind,
        data: &serde_json::Value,
    ) -> Result<EventRole, Unparseable> {
        use serde::Deserialize;
        let err = |_| Unparseable;
        match kind {
            ApiKind::ChatCompletions | ApiKind::Completions | ApiKind::Embeddings => {
                let b = OpenAiBody::deserialize(data).map_err(err)?;
                if self.facts.model.is_none() {
                    self.facts.model = b.model;
                }
                if let Some(u) = b.usage {
                    self.facts.usage = Some(u.normalise());
                    if b.choices.as_ref().is_some_and(Vec::is_empty) {
                        return Ok(EventRole::UsageOnly);
                    }
                }
            }
            ApiKind::Responses => {
                let b = ResponsesBody::deserialize(data).map_err(err)?;
                // Only the lifecycle events (created, completed, incomplete, failed) wrap a response.
                if let Some(r) = b.response {
                    self.facts.model = r.model.or(self.facts.model.take());
                    if let Some(u) = r.usage {
                        self.facts.usage = Some(u.normalise());
                    }
                }
            }
            ApiKind::AnthropicMessages => {
                let b = AnthropicBody::deserialize(data).map_err(err)?;
                let totals = self.anthropic.get_or_insert_with(AnthropicTotals::default);
                let usage = match (b.kind.as_deref(), b.message) {
                    (Some("message_start"), Some(m)) => {
                        self.facts.model = m.model.or(self.facts.model.take());
                        m.usage
                    }
                    _ => b.usage,
                };
                if let Some(u) = usage {
                    totals.absorb(&u);
                    self.facts.usage = Some(totals.usage());
                }
            }
            ApiKind::GeminiGenerate | ApiKind::GeminiStreamGenerate | ApiKind::GeminiEmbed => {
                let b = GeminiBody::deserialize(data).map_err(err)?;
                self.facts.model = b.model_version.or(self.facts.model.take());
                if let Some(u) = b.usage_metadata {
                    self.facts.usage = Some(u.normalise());
                }
            }
        }
        Ok(EventRole::Other)
    }
}

/// Appends the generated text of a response body or stream event of `kind` to `out`.
///
/// Used only when a provider reported no usage and the completion must be counted instead.
pub fn output_text(kind: ApiKind, v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    let mut push = |t: Option<&Value>| {
        if let Some(s) = t.and_then(Value::as_str) {
            out.push_str(s);
        }
    };
    let arr = |v: Option<&Value>| v.and_then(Value::as_array).cloned().unwrap_or_default();
    match kind {
        ApiKind::ChatCompletions | ApiKind::Completions | ApiKind::Embeddings => {
            for c in arr(v.get("choices")) {
                push(c.get("message").and_then(|m| m.get("content")));
                push(c.get("delta").and_then(|m| m.get("content")));
                push(c.get("text"));
            }
        }
        ApiKind::Responses => {
            if v.get("type").and_then(Value::as_str) == Some("response.output_text.delta") {
                push(v.get("delta"));
            }
            for item in arr(v.get("output")) {
                for part in arr(item.get("content")) {
                    push(part.get("text"));
                }
            }
        }
        ApiKind::AnthropicMessages => {
            push(v.get("delta").and_then(|d| d.get("text")));
            for part in arr(v.get("content")) {
                push(part.get("text"));
            }
        }
        ApiKind::GeminiGenerate | ApiKind::GeminiStreamGenerate | ApiKind::GeminiEmbed => {
            let items = match v {
                Value::Array(a) => a.clone(),
                other => vec![other.clone()],
            };
            for it in items {
                for c in arr(it.get("candidates")) {
                    for p in arr(c.get("content").and_then(|c| c.get("parts"))) {
                        push(p.get("text"));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the fuzzer (`usage` target): counts near `u64::MAX` overflowed the sums (a panic
    /// in debug builds, a wrapped-around total in release ones). They saturate.
    #[test]
    fn huge_counts_saturate() {
        let max = u64::MAX;
        let gemini = format!(
            r#"{{"usageMetadata":{{"promptTokenCount":{max},"toolUsePromptTokenCount":7,"candidatesTokenCount":{max},"thoughtsTokenCount":7}}}}"#
        );
        let u = from_json(ApiKind::GeminiGenerate, gemini.as_bytes())
            .ok()
            .and_then(|f| f.usage)
            .unwrap_or_default();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (max, max, max)
        );
        let openai = format!(r#"{{"usage":{{"prompt_tokens":{max},"completion_tokens":1}}}}"#);
        let u = from_json(ApiKind::ChatCompletions, openai.as_bytes())
            .ok()
            .and_then(|f| f.usage)
            .unwrap_or_default();
        assert_eq!(u.total_tokens, max);
        let anthropic = format!(
            r#"{{"usage":{{"input_tokens":{max},"cache_read_input_tokens":1,"cache_creation_input_tokens":1,"output_tokens":1}}}}"#
        );
        let u = from_json(ApiKind::AnthropicMessages, anthropic.as_bytes())
            .ok()
            .and_then(|f| f.usage)
            .unwrap_or_default();
        assert_eq!((u.prompt_tokens, u.total_tokens), (max, max));
    }
}
