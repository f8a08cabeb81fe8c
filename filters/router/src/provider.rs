//! A provider's API surface: which wire shape it speaks, where, and with which credential.

use serde::Deserialize;
use tollgate_core::api::ApiKind;

/// How a provider takes credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Auth {
    /// `authorization: Bearer <key>` (OpenAI, the OpenAI-compatible layers, most servers).
    Bearer,
    /// `x-api-key: <key>` (Anthropic).
    XApiKey,
    /// `api-key: <key>` (Azure OpenAI).
    ApiKey,
    /// `x-goog-api-key: <key>` (Gemini's native API).
    GoogApiKey,
    /// No credentials (local servers).
    None,
}

/// Which provider's API a provider block describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// OpenAI, or any OpenAI-compatible server (vLLM, llama.cpp, Ollama, ...).
    #[default]
    Openai,
    /// Azure OpenAI (deployment paths with `api-version`; Responses on its `/openai/v1/` API).
    Azure,
    /// Anthropic (Messages API).
    Anthropic,
    /// Google Gemini (generateContent API).
    Gemini,
}

/// Which of a provider's APIs Tollgate speaks to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ApiMode {
    /// The provider's own API (Anthropic Messages, Gemini generateContent): every feature, full
    /// usage and errors; requests in other shapes are translated.
    #[default]
    Native,
    /// Its OpenAI-compatible layer (`/v1/chat/completions` at Anthropic, `/v1beta/openai/` at
    /// Gemini): no translation, but only what that layer supports.
    OpenaiCompatible,
}

/// How Responses API requests reach an OpenAI-family provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponsesMode {
    /// The provider serves `/responses` itself.
    Passthrough,
    /// Translated to chat completions and back.
    Translate,
}

/// A provider block of the upstream adapter's configuration.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Whose API this is (default `openai`).
    #[serde(default)]
    pub family: Family,
    /// `native` (default) or `openai_compatible`; only Anthropic and Gemini have both.
    #[serde(default)]
    pub api: ApiMode,
    /// Prefix replacing `/v1/` of OpenAI-shaped paths; `{model}` is replaced by the upstream model
    /// (Azure deployments). Default per family: `/v1/`, Azure `/openai/deployments/{model}/`,
    /// Gemini `/v1beta/openai/`.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Query parameters appended to OpenAI-shaped paths (Azure default `api-version=2024-10-21`).
    #[serde(default)]
    pub query: Option<String>,
    /// Credential style; default per family and API (OpenAI bearer, Azure `api_key`, Anthropic
    /// `x_api_key`, Gemini native `goog_api_key`, OpenAI-compatible layers `bearer`).
    #[serde(default)]
    pub auth: Option<Auth>,
    /// Environment variable (of the Envoy process, passed to the VM) holding the key.
    #[serde(default)]
    pub key_env: Option<String>,
    /// Responses API: `passthrough` (default for OpenAI and Azure) or `translate` (to chat; the
    /// only choice for Anthropic and Gemini, which do not serve it).
    #[serde(default)]
    pub responses: Option<ResponsesMode>,
    /// Path of the Responses API when passed through (default `<path_prefix>responses`; Azure
    /// `/openai/v1/responses`, where the body's `model` is the deployment name).
    #[serde(default)]
    pub responses_path: Option<String>,
    /// Anthropic: `max_tokens` for requests that set none (Anthropic requires one).
    #[serde(default = "default_max_tokens")]
    pub default_max_tokens: u64,
    /// Anthropic: the `anthropic-version` header sent on translated requests (a native client's
    /// own header is kept).
    #[serde(default = "default_anthropic_version")]
    pub anthropic_version: String,
}

fn default_max_tokens() -> u64 {
    4096
}
fn default_anthropic_version() -> String {
    "2023-06-01".into()
}

/// The wire shape of one side of an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// OpenAI chat completions.
    Chat,
    /// OpenAI Responses.
    Responses,
    /// Anthropic Messages.
    Anthropic,
    /// Gemini generateContent / streamGenerateContent.
    Gemini,
    /// A shape that is never translated (completions, embeddings): passed to OpenAI-shaped APIs.
    Other,
}

impl Wire {
    /// The shape a client request speaks.
    pub fn of_client(kind: ApiKind) -> Wire {
        match kind {
            ApiKind::ChatCompletions => Wire::Chat,
            ApiKind::Responses => Wire::Responses,
            ApiKind::AnthropicMessages => Wire::Anthropic,
            ApiKind::GeminiGenerate | ApiKind::GeminiStreamGenerate | ApiKind::GeminiEmbed => {
                Wire::Gemini
            }
            ApiKind::Completions | ApiKind::Embeddings => Wire::Other,
        }
    }
}

/// Every header that can carry a client's or a provider's credential: each attempt starts by
/// removing all of them, whatever the endpoint, then sets exactly its own provider's key.
pub const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "client_id",
    "client_secret",
    "proxy-authorization",
    "cookie",
];

impl Provider {
    /// True when requests reach this provider through its own (non-OpenAI) API.
    fn native_anthropic(&self) -> bool {
        self.family == Family::Anthropic && self.api == ApiMode::Native
    }
    fn native_gemini(&self) -> bool {
        self.family == Family::Gemini && self.api == ApiMode::Native
    }

    /// The prefix of OpenAI-shaped paths at this provider.
    pub fn prefix(&self) -> &str {
        if let Some(p) = &self.path_prefix {
            return p;
        }
        match self.family {
            Family::Azure => "/openai/deployments/{model}/",
            Family::Gemini => "/v1beta/openai/",
            Family::Openai | Family::Anthropic => "/v1/",
        }
    }

    fn query_str(&self) -> Option<&str> {
        match (&self.query, self.family) {
            (Some(q), _) => Some(q),
            (None, Family::Azure) => Some("api-version=2024-10-21"),
            _ => None,
        }
    }

    /// The credential style of this provider's API.
    pub fn auth_style(&self, wire: Wire) -> Auth {
        if let Some(a) = self.auth {
            if a == Auth::None {
                return a;
            }
            // A configured style applies to the API it was configured for; the other API of
            // the same provider has its own fixed style.
            let other_api = match wire {
                Wire::Anthropic => !self.native_anthropic(),
                Wire::Gemini => !self.native_gemini(),
                _ => false,
            };
            if !other_api {
                return a;
            }
        }
        match (self.family, wire) {
            (Family::Anthropic, Wire::Anthropic) => Auth::XApiKey,
            (Family::Gemini, Wire::Gemini) => Auth::GoogApiKey,
            (Family::Azure, _) => Auth::ApiKey,
            _ => Auth::Bearer,
        }
    }

    /// The shape this provider is sent for a client shape, or why it cannot serve it.
    pub fn target(&self, client: Wire) -> Result<Wire, String> {
        let name = match self.family {
            Family::Openai => "an OpenAI-compatible provider",
            Family::Azure => "Azure OpenAI",
            Family::Anthropic => "Anthropic",
            Family::Gemini => "Gemini",
        };
        match client {
            Wire::Gemini if self.native_gemini() => Ok(Wire::Gemini),
            Wire::Gemini => Err(format!(
                "The Gemini generateContent API is served only by Gemini routes; this model is served by {name}. Use /v1/chat/completions."
            )),
            Wire::Other if self.native_anthropic() => Err(format!(
                "This API is not offered by {name}; use /v1/chat/completions, /v1/responses or /v1/messages with this model."
            )),
            Wire::Other => Ok(Wire::Other),
            Wire::Anthropic if self.native_anthropic() => Ok(Wire::Anthropic),
            Wire::Responses if self.responses_passthrough() => Ok(Wire::Responses),
            _ if self.native_anthropic() => Ok(Wire::Anthropic),
            _ if self.native_gemini() => Ok(Wire::Gemini),
            _ => Ok(Wire::Chat),
        }
    }

    fn responses_passthrough(&self) -> bool {
        match self.responses {
            Some(m) => {
                m == ResponsesMode::Passthrough
                    && !matches!(self.family, Family::Anthropic | Family::Gemini)
            }
            None => matches!(self.family, Family::Openai | Family::Azure),
        }
    }

    /// The path of a request of shape `wire` (op `op` for OpenAI shapes, e.g. `embeddings`) for
    /// `model`, streaming or not.
    pub fn path(&self, wire: Wire, op: &str, model: &str, stream: bool) -> String {
        match wire {
            Wire::Anthropic => "/v1/messages".to_owned(),
            Wire::Gemini if stream => {
                format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
            }
            Wire::Gemini => format!("/v1beta/models/{model}:generateContent"),
            Wire::Responses => match (&self.responses_path, self.family) {
                (Some(p), _) => p.clone(),
                (None, Family::Azure) => "/openai/v1/responses".to_owned(),
                _ => self.openai_path("responses", model),
            },
            Wire::Chat => self.openai_path("chat/completions", model),
            Wire::Other => self.openai_path(op, model),
        }
    }

    fn openai_path(&self, op: &str, model: &str) -> String {
        let mut p = self.prefix().replace("{model}", model);
        p.push_str(op);
        if let Some(q) = self.query_str() {
            p.push('?');
            p.push_str(q);
        }
        p
    }
}

/// The OpenAI operation of a client shape that is passed through (`embeddings`, `completions`).
pub fn openai_op(kind: ApiKind) -> &'static str {
    match kind {
        ApiKind::Completions => "completions",
        ApiKind::Embeddings => "embeddings",
        ApiKind::Responses => "responses",
        _ => "chat/completions",
    }
}

/// The credential header for `key`.
pub fn auth_header(auth: Auth, key: &str) -> Option<(&'static str, String)> {
    match auth {
        Auth::Bearer => Some(("authorization", format!("Bearer {key}"))),
        Auth::XApiKey => Some(("x-api-key", key.to_owned())),
        Auth::ApiKey => Some(("api-key", key.to_owned())),
        Auth::GoogApiKey => Some(("x-goog-api-key", key.to_owned())),
        Auth::None => None,
    }
}

/// The model to send: the endpoint's model, or (for pass-through endpoints, `*` or unset) the
/// client's model without a `provider/` prefix.
pub fn upstream_model<'a>(endpoint_model: Option<&'a str>, requested: &'a str) -> &'a str {
    match endpoint_model {
        Some(m) if m != "*" && !m.is_empty() => m,
        _ => requested.split_once('/').map_or(requested, |(_, m)| m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(json: &str) -> Provider {
        match serde_json::from_str(json) {
            Ok(p) => p,
            Err(e) => unreachable!("{e}"),
        }
    }

    #[test]
    fn paths_per_family_and_shape() {
        let oai = p(r#"{}"#);
        let az = p(r#"{"family":"azure"}"#);
        let an = p(r#"{"family":"anthropic"}"#);
        let gem = p(r#"{"family":"gemini"}"#);
        let gem_compat = p(r#"{"family":"gemini","api":"openai_compatible"}"#);
        let vllm = p(r#"{"auth":"none","responses":"translate"}"#);
        assert_eq!(oai.path(Wire::Chat, "", "m", false), "/v1/chat/completions");
        assert_eq!(
            az.path(Wire::Chat, "", "gpt4o-prod", false),
            "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            az.path(Wire::Responses, "", "d", true),
            "/openai/v1/responses"
        );
        assert_eq!(an.path(Wire::Anthropic, "", "c", true), "/v1/messages");
        assert_eq!(
            gem.path(Wire::Gemini, "", "g", true),
            "/v1beta/models/g:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            gem.path(Wire::Gemini, "", "g", false),
            "/v1beta/models/g:generateContent"
        );
        assert_eq!(
            gem.path(Wire::Other, "embeddings", "g", false),
            "/v1beta/openai/embeddings"
        );
        assert_eq!(
            gem_compat.path(Wire::Chat, "", "g", false),
            "/v1beta/openai/chat/completions"
        );

        assert_eq!(oai.target(Wire::Responses), Ok(Wire::Responses));
        assert_eq!(az.target(Wire::Responses), Ok(Wire::Responses));
        assert_eq!(vllm.target(Wire::Responses), Ok(Wire::Chat));
        assert_eq!(an.target(Wire::Responses), Ok(Wire::Anthropic));
        assert_eq!(an.target(Wire::Chat), Ok(Wire::Anthropic));
        assert_eq!(an.target(Wire::Anthropic), Ok(Wire::Anthropic));
        assert!(an.target(Wire::Other).is_err());
        assert_eq!(gem.target(Wire::Anthropic), Ok(Wire::Gemini));
        assert_eq!(gem.target(Wire::Other), Ok(Wire::Other));
        assert_eq!(gem_compat.target(Wire::Responses), Ok(Wire::Chat));
        assert!(oai.target(Wire::Gemini).is_err());
        assert_eq!(oai.target(Wire::Anthropic), Ok(Wire::Chat));

        assert_eq!(an.auth_style(Wire::Anthropic), Auth::XApiKey);
        assert_eq!(gem.auth_style(Wire::Gemini), Auth::GoogApiKey);
        assert_eq!(gem.auth_style(Wire::Other), Auth::Bearer);
        assert_eq!(az.auth_style(Wire::Responses), Auth::ApiKey);
        assert_eq!(vllm.auth_style(Wire::Chat), Auth::None);
    }

    #[test]
    fn models_and_auth() {
        assert_eq!(
            upstream_model(Some("gemini-3-pro"), "openai/gpt-5.2"),
            "gemini-3-pro"
        );
        assert_eq!(upstream_model(Some("*"), "openai/gpt-4o"), "gpt-4o");
        assert_eq!(upstream_model(None, "gpt-4o"), "gpt-4o");
        assert_eq!(
            auth_header(Auth::XApiKey, "k"),
            Some(("x-api-key", "k".into()))
        );
        assert_eq!(auth_header(Auth::None, "k"), None);
        assert!(CREDENTIAL_HEADERS.contains(&"client_secret"));
    }
}
