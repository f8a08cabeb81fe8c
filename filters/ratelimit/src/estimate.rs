//! Prompt-token count of a request body, before it is forwarded.

use crate::config::Config;
use serde_json::Value;
use tollgate_core::api::{gemini_model_from_path, ApiKind};
use tollgate_tokenizer::prompt::{ByteBound, Count};
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
    /// Prompt tokens: counted, or bounded from above (see `exact`).
    pub prompt_tokens: u64,
    /// `prompt_tokens` is the tokenizer's count; `false`: the byte-length bound of [`ByteBound`].
    pub exact: bool,
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
    estimate_doc(cfg, tok, kind, path, &v, Basis::Exact)
}

/// How [`estimate_doc`] arrives at the prompt tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// Run the tokenizer.
    Exact,
    /// Bound from above by byte lengths (no tokenizing): enough wherever the budget left exceeds it.
    Bound,
}

/// [`estimate`] of a parsed request body.
pub fn estimate_doc(
    cfg: &Config,
    tok: &Tokenizers,
    kind: ApiKind,
    path: &str,
    v: &Value,
    basis: Basis,
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
    let prompt_tokens = match basis {
        Basis::Exact => prompt_tokens(bpe, kind, v, &rules),
        Basis::Bound => prompt_tokens(&ByteBound, kind, v, &rules),
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
        exact: basis == Basis::Exact,
        max_output_tokens,
        encoding,
    })
}

/// The prompt of a request of `kind`, each string counted by `c`.
fn prompt_tokens<C: Count + ?Sized>(c: &C, kind: ApiKind, v: &Value, rules: &prompt::Rules) -> u64 {
    let count = |s: &str| c.tokens(s);
    match kind {
        ApiKind::ChatCompletions => prompt::chat(c, v, rules),
        ApiKind::Responses => prompt::responses(c, v, rules),
        ApiKind::AnthropicMessages => {
            let system = match v.get("system") {
                Some(Value::String(s)) => count(s),
                Some(parts) => texts(Some(parts)).map(count).sum(),
                None => 0,
            };
            prompt::chat(c, v, rules).saturating_add(system)
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
            system.saturating_add(
                contents
                    .map(|c| 3 + texts(c.get("parts")).map(count).sum::<u64>())
                    .sum::<u64>(),
            )
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Config, Tokenizers) {
        let cfg =
            Config::from_json(br#"{"limits":[{"name":"a","key":["model"],"total_tokens":1}]}"#)
                .unwrap_or_else(|e| unreachable!("{e}"));
        let tok = Tokenizers::new(&cfg.encodings_in_use()).unwrap_or_else(|e| unreachable!("{e}"));
        (cfg, tok)
    }

    #[test]
    fn counts_a_chat_request() {
        let (cfg, tok) = setup();
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
        // The byte-length bound: 3 + 4 ("user") + 2 ("hi") + 3, never below the count.
        let v = tollgate_core::body::parse_body(body).unwrap_or_default();
        let b = estimate_doc(
            &cfg,
            &tok,
            ApiKind::ChatCompletions,
            "/v1/chat/completions",
            &v,
            Basis::Bound,
        )
        .unwrap_or_else(|_| unreachable!());
        assert_eq!((b.prompt_tokens, b.exact, e.exact), (12, false, true));
        assert!(estimate(&cfg, &tok, ApiKind::ChatCompletions, "/", b"[1,2]").is_err());
        assert!(estimate(&cfg, &tok, ApiKind::ChatCompletions, "/", b"nope").is_err());
    }

    #[test]
    fn the_bound_is_never_below_the_count() {
        let (cfg, tok) = setup();
        let cases: [(ApiKind, &str, &str); 7] = [
            (
                ApiKind::ChatCompletions,
                "/v1/chat/completions",
                r#"{"model":"gpt-4o","messages":[{"role":"system","content":"你好，世界 🧑‍🤝‍🧑"},{"role":"user","name":"bo","content":[{"type":"text","text":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]}],"tools":[{"type":"function","function":{"name":"get","description":"Gets.","parameters":{"type":"object","properties":{"u":{"type":"string","enum":["a","b"]}}}}}]}"#,
            ),
            (
                ApiKind::Responses,
                "/v1/responses",
                r#"{"model":"gpt-4o","instructions":"be brief","input":[{"role":"user","content":"hello    world\n\n"},{"type":"function_call","name":"f","arguments":"{}"},{"type":"function_call_output","output":"42"}]}"#,
            ),
            (
                ApiKind::AnthropicMessages,
                "/v1/messages",
                r#"{"model":"claude","system":[{"type":"text","text":"sys"}],"messages":[{"role":"user","content":"Grüße aus Köln"}]}"#,
            ),
            (
                ApiKind::GeminiGenerate,
                "/v1beta/models/gemini-2.5-flash:generateContent",
                r#"{"systemInstruction":{"parts":[{"text":"s"}]},"contents":[{"role":"user","parts":[{"text":"مرحبا بالعالم"}]}]}"#,
            ),
            (
                ApiKind::GeminiEmbed,
                "/v1beta/models/e:embedContent",
                r#"{"content":{"parts":[{"text":"embed me"}]}}"#,
            ),
            (
                ApiKind::Embeddings,
                "/v1/embeddings",
                r#"{"model":"e","input":["a b","c"]}"#,
            ),
            (
                ApiKind::Completions,
                "/v1/completions",
                r#"{"model":"m","prompt":"    "}"#,
            ),
        ];
        for (kind, path, body) in cases {
            let v = tollgate_core::body::parse_body(body.as_bytes())
                .unwrap_or_else(|e| unreachable!("{kind:?}: {}", e.message()));
            let est = |b| {
                estimate_doc(&cfg, &tok, kind, path, &v, b)
                    .unwrap_or_else(|_| unreachable!())
                    .prompt_tokens
            };
            let (exact, bound) = (est(Basis::Exact), est(Basis::Bound));
            assert!(exact > 0 && bound >= exact, "{kind:?}: {bound} < {exact}");
        }
    }
}
