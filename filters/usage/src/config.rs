//! Emitter configuration: the JSON object under `configuration` in envoy.yaml.

use serde::Deserialize;
use std::collections::BTreeMap;
use tollgate_core::config::{ConfigError, FailureMode};
use tollgate_core::cost::{Price, PriceTable};

/// Configuration as written by the user.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Header carrying the client id (set by Envoy's auth filter upstream of us).
    #[serde(default = "default_client_header")]
    pub client_id_header: String,
    /// Static client id → business group map.
    #[serde(default)]
    pub groups: BTreeMap<String, String>,
    /// Header carrying the business group; wins over `groups` when present.
    #[serde(default)]
    pub group_header: Option<String>,
    /// Header naming the provider (set by the router filter); else inferred from the API path.
    #[serde(default = "default_provider_header")]
    pub provider_header: String,
    /// Per-model prices in USD per 1M tokens.
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
    /// Add `stream_options.include_usage` to streamed chat requests and hide the usage chunk
    /// from clients that did not ask for it.
    #[serde(default = "yes")]
    pub inject_stream_usage: bool,
    /// Add `x-tollgate-usage-*` headers to non-streaming responses (buffers the response).
    #[serde(default)]
    pub usage_headers: bool,
    /// Largest response body kept for usage extraction; larger bodies pass on uncounted.
    #[serde(default = "default_max_body")]
    pub max_response_body_bytes: usize,
    /// Distinct client/group/model tag sets kept per worker before new ones fold into `_other`.
    #[serde(default = "default_max_tag_sets")]
    pub max_tag_sets: usize,
    /// Models that get a stat tag of their own besides those in `prices` (exact names, or
    /// prefixes ending in `*`); any other model is tagged `_other` (the access log keeps the name).
    #[serde(default)]
    pub tag_models: Vec<String>,
    /// Providers that get a stat tag of their own; any other is tagged `_other`.
    #[serde(default = "default_tag_providers")]
    pub tag_providers: Vec<String>,
    /// `allow`: a request body that is not an LLM request passes uncounted; `deny`: 400.
    #[serde(default)]
    pub failure_mode: FailureMode,
}

fn default_client_header() -> String {
    "x-client-id".into()
}
fn default_provider_header() -> String {
    "x-tollgate-provider".into()
}
fn yes() -> bool {
    true
}
fn default_max_body() -> usize {
    8 * 1024 * 1024
}
fn default_max_tag_sets() -> usize {
    2000
}
fn default_tag_providers() -> Vec<String> {
    [
        "openai",
        "anthropic",
        "gemini",
        "azure",
        "vllm",
        "bedrock",
        "mistral",
        "ollama",
    ]
    .map(String::from)
    .to_vec()
}

/// Configuration compiled once in `on_configure`.
#[derive(Debug)]
pub struct Config {
    /// Header with the client id (lower-case).
    pub client_id_header: String,
    /// Client id → group.
    pub groups: BTreeMap<String, String>,
    /// Header with the group (lower-case).
    pub group_header: Option<String>,
    /// Header with the provider (lower-case).
    pub provider_header: String,
    /// Compiled prices.
    pub prices: PriceTable,
    /// See [`RawConfig::inject_stream_usage`].
    pub inject_stream_usage: bool,
    /// See [`RawConfig::usage_headers`].
    pub usage_headers: bool,
    /// See [`RawConfig::max_response_body_bytes`].
    pub max_response_body_bytes: usize,
    /// See [`RawConfig::max_tag_sets`].
    pub max_tag_sets: usize,
    /// See [`RawConfig::tag_models`].
    pub tag_models: Vec<String>,
    /// See [`RawConfig::tag_providers`].
    pub tag_providers: Vec<String>,
    /// See [`RawConfig::failure_mode`].
    pub failure_mode: FailureMode,
}

impl Config {
    /// Parses and validates; the error names the field.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        let raw: RawConfig = tollgate_core::config::parse(bytes)?;
        let header = |field: &str, v: &str| -> Result<String, ConfigError> {
            let ok = !v.is_empty()
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if ok {
                Ok(v.to_ascii_lowercase())
            } else {
                Err(ConfigError::new(
                    field,
                    "must be a non-empty HTTP header name",
                ))
            }
        };
        if raw.max_tag_sets == 0 {
            return Err(ConfigError::new("max_tag_sets", "must be at least 1"));
        }
        Ok(Config {
            client_id_header: header("client_id_header", &raw.client_id_header)?,
            group_header: raw
                .group_header
                .as_deref()
                .map(|h| header("group_header", h))
                .transpose()?,
            provider_header: header("provider_header", &raw.provider_header)?,
            groups: raw.groups,
            prices: PriceTable::new(&raw.prices)?,
            inject_stream_usage: raw.inject_stream_usage,
            usage_headers: raw.usage_headers,
            max_response_body_bytes: raw.max_response_body_bytes,
            max_tag_sets: raw.max_tag_sets,
            tag_models: raw.tag_models,
            tag_providers: raw.tag_providers,
            failure_mode: raw.failure_mode,
        })
    }

    /// The stat tag for `model`: itself if it is priced or listed in `tag_models`, else `_other`
    /// (model names come from clients and providers: the number of series must stay bounded).
    pub fn model_tag<'a>(&self, model: &'a str) -> &'a str {
        let listed = self.tag_models.iter().any(|t| match t.strip_suffix('*') {
            Some(prefix) => model.starts_with(prefix),
            None => t == model,
        });
        if listed || self.prices.lookup(model).is_some() {
            model
        } else {
            "_other"
        }
    }

    /// The stat tag for `provider`: itself if listed in `tag_providers`, else `_other`.
    pub fn provider_tag<'a>(&self, provider: &'a str) -> &'a str {
        if self.tag_providers.iter().any(|p| p == provider) {
            provider
        } else {
            "_other"
        }
    }

    /// Business group of a client: the group header wins, then the static map.
    pub fn group_for(
        &self,
        client: Option<&str>,
        group_header_value: Option<&str>,
    ) -> Option<String> {
        group_header_value
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .or_else(|| client.and_then(|c| self.groups.get(c).cloned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::from_json(b"").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(c.client_id_header, "x-client-id");
        assert!(c.inject_stream_usage && !c.usage_headers);
        assert_eq!(c.failure_mode, FailureMode::Allow);
    }

    #[test]
    fn errors_name_the_field() {
        let field = |j: &str| Config::from_json(j.as_bytes()).err().map(|e| e.field);
        assert_eq!(field(r#"{"bogus":1}"#).as_deref(), Some("bogus"));
        assert_eq!(
            field(r#"{"usage_headers":"yes"}"#).as_deref(),
            Some("usage_headers")
        );
        assert_eq!(
            field(r#"{"prices":{"m":{"input":1}}}"#).as_deref(),
            Some("prices.m")
        );
        assert_eq!(
            field(r#"{"prices":{"m":{"input":1,"output":2,"cahced":1}}}"#).as_deref(),
            Some("prices.m.cahced")
        );
        assert_eq!(
            field(r#"{"client_id_header":"bad header"}"#).as_deref(),
            Some("client_id_header")
        );
        assert_eq!(
            field(r#"{"failure_mode":"maybe"}"#).as_deref(),
            Some("failure_mode")
        );
    }

    #[test]
    fn groups() {
        let c = Config::from_json(br#"{"groups":{"fin-agent":"Finance"}}"#)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            c.group_for(Some("fin-agent"), None).as_deref(),
            Some("Finance")
        );
        assert_eq!(
            c.group_for(Some("fin-agent"), Some("Ops")).as_deref(),
            Some("Ops")
        );
        assert_eq!(c.group_for(Some("other"), None), None);
    }
}
