//! Per-attempt adaptation of a canonical OpenAI-style request to one provider.

use serde::Deserialize;

/// How a provider takes credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Auth {
    /// `authorization: Bearer <key>` (OpenAI, Gemini's OpenAI API, most compatible servers).
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

/// A provider's API surface.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Prefix replacing `/v1/` of the canonical path; `{model}` is replaced by the upstream model
    /// (Azure deployments).
    pub path_prefix: String,
    /// Query parameters appended to every path (e.g. `api-version=2024-10-21`).
    #[serde(default)]
    pub query: Option<String>,
    /// Credential style.
    pub auth: Auth,
    /// Environment variable (of the Envoy process, passed to the VM) holding the key.
    #[serde(default)]
    pub key_env: Option<String>,
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

/// A provider-native API shape that passes through untranslated (translation between shapes is
/// not built yet, so such a request is served only by a provider of the same family).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Native {
    /// Anthropic `POST /v1/messages`.
    AnthropicMessages,
    /// Gemini `/v1beta/models/{model}:{action}` (`generateContent`, `streamGenerateContent`).
    Gemini {
        /// The action after the colon.
        action: String,
        /// The query string (e.g. `alt=sse`), without `?`.
        query: Option<String>,
    },
}

impl Native {
    /// The native shape of a request path, if it has one.
    pub fn of_path(path: &str) -> Option<Native> {
        let (bare, query) = match path.split_once('?') {
            Some((b, q)) => (b, Some(q.to_owned())),
            None => (path, None),
        };
        if bare.ends_with("/v1/messages") {
            return Some(Native::AnthropicMessages);
        }
        let i = bare.find("/v1beta/models/")?;
        let (_, action) = bare.get(i..)?.rsplit_once(':')?;
        Some(Native::Gemini {
            action: action.to_owned(),
            query,
        })
    }

    /// The provider family that serves this shape.
    pub fn family(&self) -> &'static str {
        match self {
            Native::AnthropicMessages => "anthropic",
            Native::Gemini { .. } => "gemini",
        }
    }

    /// Path and credential header of this shape at its family's provider.
    pub fn path_and_auth(&self, model: &str) -> (String, Auth) {
        match self {
            Native::AnthropicMessages => ("/v1/messages".to_owned(), Auth::XApiKey),
            Native::Gemini { action, query } => {
                let mut p = format!("/v1beta/models/{model}:{action}");
                if let Some(q) = query {
                    p.push('?');
                    p.push_str(q);
                }
                (p, Auth::GoogApiKey)
            }
        }
    }

    /// Whether the request body names the model (Gemini's native bodies do not: it is in the path).
    pub fn body_has_model(&self) -> bool {
        matches!(self, Native::AnthropicMessages)
    }
}

/// The canonical operation of a path: what follows `/v1/` in OpenAI terms (`chat/completions`),
/// recovered from any provider's form (header edits carry over between attempts).
pub fn canonical_op<'a>(path: &'a str, providers: &[&Provider]) -> Option<&'a str> {
    let path = path.split('?').next().unwrap_or(path);
    let mut prefixes: Vec<&str> = providers.iter().map(|p| p.path_prefix.as_str()).collect();
    prefixes.push("/v1/");
    prefixes.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in prefixes {
        if let Some((head, _)) = p.split_once("{model}") {
            // `/openai/deployments/{model}/`: skip the deployment segment.
            if let Some(rest) = path.strip_prefix(head) {
                if let Some((_, op)) = rest.split_once('/') {
                    return Some(op);
                }
            }
        } else if let Some(op) = path.strip_prefix(p) {
            return Some(op);
        }
    }
    // Any base path in front (`/llm-proxy/v1/chat/completions`).
    path.find("/v1/").and_then(|i| path.get(i + 4..))
}

/// The path of `op` at `provider` for `model`.
pub fn provider_path(provider: &Provider, op: &str, model: &str) -> String {
    let mut p = provider.path_prefix.replace("{model}", model);
    p.push_str(op);
    if let Some(q) = &provider.query {
        p.push('?');
        p.push_str(q);
    }
    p
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

    fn p(prefix: &str, q: Option<&str>) -> Provider {
        Provider {
            path_prefix: prefix.into(),
            query: q.map(Into::into),
            auth: Auth::Bearer,
            key_env: None,
        }
    }

    #[test]
    fn paths_round_trip_between_providers() {
        let gem = p("/v1beta/openai/", None);
        let az = p(
            "/openai/deployments/{model}/",
            Some("api-version=2024-10-21"),
        );
        let oai = p("/v1/", None);
        let all = [&gem, &az, &oai];
        assert_eq!(
            canonical_op("/v1/chat/completions", &all),
            Some("chat/completions")
        );
        assert_eq!(
            canonical_op("/v1beta/openai/chat/completions", &all),
            Some("chat/completions")
        );
        assert_eq!(
            canonical_op(
                "/openai/deployments/gpt4o-prod/chat/completions?api-version=x",
                &all
            ),
            Some("chat/completions")
        );
        assert_eq!(
            canonical_op("/llm-proxy/v1/responses", &all),
            Some("responses")
        );
        assert_eq!(
            provider_path(&gem, "chat/completions", "m"),
            "/v1beta/openai/chat/completions"
        );
        assert_eq!(
            provider_path(&az, "chat/completions", "gpt4o-prod"),
            "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
        );
    }

    #[test]
    fn native_shapes() {
        assert_eq!(
            Native::of_path("/llm-proxy/v1/messages"),
            Some(Native::AnthropicMessages)
        );
        let g = Native::of_path("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
        let Some(g) = g else {
            panic!("gemini path not recognised")
        };
        assert_eq!(g.family(), "gemini");
        assert_eq!(
            g.path_and_auth("gemini-3-pro"),
            (
                "/v1beta/models/gemini-3-pro:streamGenerateContent?alt=sse".to_owned(),
                Auth::GoogApiKey
            )
        );
        assert_eq!(Native::of_path("/v1/chat/completions"), None);
        assert!(CREDENTIAL_HEADERS.contains(&"client_secret"));
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
    }
}
