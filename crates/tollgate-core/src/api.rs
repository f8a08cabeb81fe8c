//! Which LLM API a request speaks, recognised from its method and path.

/// The wire format of an LLM exchange; decides how request and response bodies are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiKind {
    /// OpenAI `POST /v1/chat/completions` (also Gemini's and other OpenAI-compatible servers).
    ChatCompletions,
    /// OpenAI legacy `POST /v1/completions`.
    Completions,
    /// OpenAI `POST /v1/embeddings` (prompt tokens only).
    Embeddings,
    /// OpenAI `POST /v1/responses`.
    Responses,
    /// Anthropic `POST /v1/messages`.
    AnthropicMessages,
    /// Gemini `models/{model}:generateContent`.
    GeminiGenerate,
    /// Gemini `models/{model}:streamGenerateContent` (SSE with `alt=sse`, else a JSON array).
    GeminiStreamGenerate,
    /// Gemini `models/{model}:embedContent` (its answer reports no usage).
    GeminiEmbed,
}

impl ApiKind {
    /// Recognises an LLM call from method and `:path`; `None` means "not an LLM request".
    pub fn classify(method: &str, path: &str) -> Option<ApiKind> {
        if !method.eq_ignore_ascii_case("POST") {
            return None;
        }
        let path = path
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .trim_end_matches('/');
        if let Some((_, action)) = path.rsplit_once(':') {
            return match action {
                "generateContent" => Some(ApiKind::GeminiGenerate),
                "streamGenerateContent" => Some(ApiKind::GeminiStreamGenerate),
                "embedContent" => Some(ApiKind::GeminiEmbed),
                _ => None,
            };
        }
        let last = path.rsplit('/').next().unwrap_or_default();
        let parent = path.rsplit('/').nth(1).unwrap_or_default();
        match (parent, last) {
            ("chat", "completions") => Some(ApiKind::ChatCompletions),
            (_, "completions") => Some(ApiKind::Completions),
            (_, "embeddings") => Some(ApiKind::Embeddings),
            (_, "responses") => Some(ApiKind::Responses),
            (_, "messages") => Some(ApiKind::AnthropicMessages),
            _ => None,
        }
    }

    /// Provider family implied by the API shape and path when nothing better names it.
    pub fn provider_hint(self, path: &str) -> &'static str {
        match self {
            ApiKind::AnthropicMessages => "anthropic",
            ApiKind::GeminiGenerate | ApiKind::GeminiStreamGenerate | ApiKind::GeminiEmbed => {
                "gemini"
            }
            _ if path.contains("/v1beta/openai/") => "gemini",
            _ => "openai",
        }
    }

    /// The kind named by [`ApiKind::as_str`].
    pub fn from_name(name: &str) -> Option<ApiKind> {
        ALL.iter().copied().find(|k| k.as_str() == name)
    }

    /// Stable lower-case name used in stats and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiKind::ChatCompletions => "chat_completions",
            ApiKind::Completions => "completions",
            ApiKind::Embeddings => "embeddings",
            ApiKind::Responses => "responses",
            ApiKind::AnthropicMessages => "anthropic_messages",
            ApiKind::GeminiGenerate => "gemini_generate",
            ApiKind::GeminiStreamGenerate => "gemini_stream_generate",
            ApiKind::GeminiEmbed => "gemini_embed",
        }
    }
}

/// Every kind.
pub const ALL: [ApiKind; 8] = [
    ApiKind::ChatCompletions,
    ApiKind::Completions,
    ApiKind::Embeddings,
    ApiKind::Responses,
    ApiKind::AnthropicMessages,
    ApiKind::GeminiGenerate,
    ApiKind::GeminiStreamGenerate,
    ApiKind::GeminiEmbed,
];

/// Model named in a Gemini path such as `/v1beta/models/gemini-2.5-flash:generateContent`.
pub fn gemini_model_from_path(path: &str) -> Option<&str> {
    let path = path.split('?').next().unwrap_or_default();
    let start = path.find("/models/")? + "/models/".len();
    let rest = path.get(start..)?;
    let end = rest.find(':')?;
    rest.get(..end).filter(|m| !m.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_paths() {
        let cases = [
            ("/v1/chat/completions", Some(ApiKind::ChatCompletions)),
            (
                "/llm-proxy/v1/chat/completions?x=1",
                Some(ApiKind::ChatCompletions),
            ),
            (
                "/v1beta/openai/chat/completions",
                Some(ApiKind::ChatCompletions),
            ),
            ("/v1/completions", Some(ApiKind::Completions)),
            ("/v1/embeddings", Some(ApiKind::Embeddings)),
            ("/v1/responses", Some(ApiKind::Responses)),
            ("/v1/messages", Some(ApiKind::AnthropicMessages)),
            (
                "/v1beta/models/gemini-2.5-flash:generateContent",
                Some(ApiKind::GeminiGenerate),
            ),
            (
                "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
                Some(ApiKind::GeminiStreamGenerate),
            ),
            (
                "/v1beta/models/gemini-embedding-001:embedContent",
                Some(ApiKind::GeminiEmbed),
            ),
            ("/v1/models", None),
            ("/healthz", None),
        ];
        for (path, want) in cases {
            assert_eq!(ApiKind::classify("POST", path), want, "{path}");
        }
        assert_eq!(ApiKind::classify("GET", "/v1/chat/completions"), None);
        for k in ALL {
            assert_eq!(ApiKind::from_name(k.as_str()), Some(k));
        }
    }

    #[test]
    fn gemini_model() {
        assert_eq!(
            gemini_model_from_path("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"),
            Some("gemini-2.5-flash")
        );
        assert_eq!(gemini_model_from_path("/v1/chat/completions"), None);
    }

    #[test]
    fn provider_hints() {
        assert_eq!(
            ApiKind::ChatCompletions.provider_hint("/v1beta/openai/chat/completions"),
            "gemini"
        );
        assert_eq!(
            ApiKind::ChatCompletions.provider_hint("/v1/chat/completions"),
            "openai"
        );
        assert_eq!(
            ApiKind::AnthropicMessages.provider_hint("/v1/messages"),
            "anthropic"
        );
    }
}
