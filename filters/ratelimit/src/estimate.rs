//! Prompt-token count of a request body, before it is forwarded.

use crate::config::Config;
use serde_json::Value;
use tollgate_core::api::{gemini_model_from_path, ApiKind};
use tollgate_tokenizer::{prompt, Bpe, Encoding};

/// The BPE counters a VM built in `on_configure` (only the encodings its config can use).
pub struct Tokenizers(Vec<(Encoding, Bpe)>);

impl Tokenizers {
    /// Builds counters for `encodings`.
    pub fn new(encodings: &[Encoding]) -> Result<Self, String> {
        encodings
            .iter()
            .map(|e| Bpe::new(*e).map(|b| (*e, b)))
            .collect::<Result<_, _>>()
            .map(Tokenizers)
    }

    /// The counter for `enc`.
    pub fn get(&self, enc: Encoding) -> Option<&Bpe> {
        self.0.iter().find(|(e, _)| *e == enc).map(|(_, b)| b)
    }
}

/// What the limiter needs from the request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    /// Requested model.
    pub model: Option<String>,
    /// Prompt tokens, counted.
    pub prompt_tokens: u64,
    /// `max_tokens`, `max_completion_tokens` or `max_output_tokens`.
    pub max_output_tokens: Option<u64>,
    /// Encoding used (also for counting the completion if the provider reports no usage).
    pub encoding: Encoding,
}

/// The body is not a JSON LLM request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotLlm;

fn texts(v: Option<&Value>) -> impl Iterator<Item = &str> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
}

/// Counts the prompt of a request body (parsed once).
///
/// Chat completions and Responses follow OpenAI's rules ([`tollgate_tokenizer::prompt`]). For
/// Anthropic Messages the chat rules are applied to `messages` plus `system`; for Gemini each
/// content costs 3 + its text parts; embeddings and legacy completions count their input text.
pub fn estimate(
    cfg: &Config,
    tok: &Tokenizers,
    kind: ApiKind,
    path: &str,
    body: &[u8],
) -> Result<Estimate, NotLlm> {
    let v = tollgate_core::body::parse_body(body).map_err(|_| NotLlm)?;
    estimate_doc(cfg, tok, kind, path, &v)
}

/// [`estimate`] of a parsed request body.
pub fn estimate_doc(
    cfg: &Config,
    tok: &Tokenizers,
    kind: ApiKind,
    path: &str,
    v: &Value,
) -> Result<Estimate, NotLlm> {
    if !v.is_object() {
        return Err(NotLlm);
    }
    let model = match kind {
        ApiKind::GeminiGenerate | ApiKind::GeminiStreamGenerate | ApiKind::GeminiEmbed => {
            gemini_model_from_path(path).map(str::to_owned)
        }
        _ => v.get("model").and_then(Value::as_str).map(str::to_owned),
    };
    let encoding = cfg.encoding_for(model.as_deref());
    let bpe = tok.get(encoding).ok_or(NotLlm)?;
    let rules = prompt::Rules {
        image_tokens: cfg.image_tokens,
    };
    let count = |s: &str| bpe.count(s) as u64;
    let prompt_tokens = match kind {
        ApiKind::ChatCompletions => prompt::chat(bpe, v, &rules),
        ApiKind::Responses => prompt::responses(bpe, v, &rules),
        ApiKind::AnthropicMessages => {
            let system = match v.get("system") {
                Some(Value::String(s)) => count(s),
                Some(parts) => texts(Some(parts)).map(count).sum(),
                None => 0,
            };
            prompt::chat(bpe, v, &rules) + system
        }
        ApiKind::GeminiGenerate | ApiKind::GeminiStreamGenerate => {
            let contents = v
                .get("contents")
                .and_then(Value::as_array)
                .into_iter()
                .flatten();
            let system = v
                .get("systemInstruction")
                .map_or(0, |s| texts(s.get("parts")).map(count).sum::<u64>());
            system
                + contents
                    .map(|c| 3 + texts(c.get("parts")).map(count).sum::<u64>())
                    .sum::<u64>()
        }
        ApiKind::GeminiEmbed => texts(v.get("content").and_then(|c| c.get("parts")))
            .map(count)
            .sum(),
        ApiKind::Embeddings | ApiKind::Completions => {
            let field = if kind == ApiKind::Embeddings {
                "input"
            } else {
                "prompt"
            };
            match v.get(field) {
                Some(Value::String(s)) => count(s),
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(count).sum(),
                _ => 0,
            }
        }
    };
    let max_output_tokens = ["max_completion_tokens", "max_tokens", "max_output_tokens"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_u64))
        .or_else(|| {
            v.get("generationConfig")
                .and_then(|g| g.get("maxOutputTokens"))
                .and_then(Value::as_u64)
        });
    Ok(Estimate {
        model,
        prompt_tokens,
        max_output_tokens,
        encoding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_a_chat_request() {
        let cfg =
            Config::from_json(br#"{"limits":[{"name":"a","key":["model"],"total_tokens":1}]}"#)
                .unwrap_or_else(|e| unreachable!("{e}"));
        let tok = Tokenizers::new(&cfg.encodings_in_use()).unwrap_or_else(|e| unreachable!("{e}"));
        let body =
            br#"{"model":"gpt-4o","max_tokens":7,"messages":[{"role":"user","content":"hi"}]}"#;
        let e = estimate(
            &cfg,
            &tok,
            ApiKind::ChatCompletions,
            "/v1/chat/completions",
            body,
        )
        .unwrap_or_else(|_| unreachable!());
        // 3 (message) + 1 ("user") + 1 ("hi") + 3 (priming)
        assert_eq!(
            (e.prompt_tokens, e.max_output_tokens, e.encoding),
            (8, Some(7), Encoding::O200kBase)
        );
        assert!(estimate(&cfg, &tok, ApiKind::ChatCompletions, "/", b"[1,2]").is_err());
        assert!(estimate(&cfg, &tok, ApiKind::ChatCompletions, "/", b"nope").is_err());
    }
}
