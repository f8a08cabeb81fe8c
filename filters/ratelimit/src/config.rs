//! Rate limit configuration: the JSON object under `configuration` in envoy.yaml.

use crate::window::Window;
use serde::Deserialize;
use std::collections::BTreeMap;
use tollgate_core::config::{ConfigError, FailureMode};
use tollgate_core::patterns::ModelPatterns;
use tollgate_tokenizer::Encoding;

/// Budgets of one limit (or of a per-model override).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    /// Prompt + completion tokens per window.
    #[serde(default)]
    pub total_tokens: Option<u64>,
    /// Prompt tokens per window.
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
}

/// One limit as written by the user.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimit {
    /// Name used in stats and shared-data keys.
    pub name: String,
    /// What a bucket is keyed on: `header:<name>`, `model`, `provider`.
    pub key: Vec<String>,
    /// Window length in seconds.
    #[serde(default = "default_window")]
    pub window_seconds: u64,
    /// Prompt + completion tokens per window.
    #[serde(default)]
    pub total_tokens: Option<u64>,
    /// Prompt tokens per window.
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    /// Per-model budgets (exact model name or prefix ending in `*`), replacing the defaults.
    #[serde(default)]
    pub models: BTreeMap<String, Budgets>,
    /// Also reserve the request's `max_tokens` / `max_output_tokens` against the total budget.
    #[serde(default)]
    pub reserve_output_tokens: bool,
}

fn default_window() -> u64 {
    60
}

/// What to do with a request that has no value for a key part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MissingKey {
    /// Count it in one shared bucket (`_none`).
    Shared,
    /// Answer 401 (the default: a request nobody can be charged for is refused, fail closed).
    #[default]
    Reject,
}

/// What to do with a body that is not an LLM request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NonLlmBody {
    /// Let it through uncounted.
    #[default]
    Pass,
    /// Answer 400.
    Reject,
}

/// The configuration as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The limits; a request must fit all that apply.
    pub limits: Vec<RawLimit>,
    /// See [`MissingKey`].
    #[serde(default)]
    pub missing_key: MissingKey,
    /// Model (exact or prefix ending in `*`) → encoding, before the built-in OpenAI rules.
    #[serde(default)]
    pub encodings: BTreeMap<String, String>,
    /// Encoding for models no rule names (non-OpenAI models: an approximation).
    #[serde(default = "default_encoding")]
    pub default_encoding: String,
    /// Tokens charged per image part.
    #[serde(default = "default_image_tokens")]
    pub image_tokens: u64,
    /// Header naming the provider (for `provider` keys).
    #[serde(default = "default_provider_header")]
    pub provider_header: String,
    /// Sub-windows per window (accuracy of expiry and `retry-after`).
    #[serde(default = "default_slots")]
    pub slots: u64,
    /// Buckets (distinct key values) each limit and budget can hold at once: the counters' memory
    /// bound. Size it at about twice the keys live within one window.
    #[serde(default = "default_max_buckets")]
    pub max_buckets: u64,
    /// See [`NonLlmBody`].
    #[serde(default)]
    pub non_llm_body: NonLlmBody,
    /// When counters cannot be read or updated: `allow` admits (counted), `deny` answers 503.
    #[serde(default)]
    pub failure_mode: FailureMode,
}

fn default_encoding() -> String {
    "o200k_base".into()
}
fn default_image_tokens() -> u64 {
    765
}
fn default_provider_header() -> String {
    "x-tollgate-provider".into()
}
fn default_slots() -> u64 {
    60
}
fn default_max_buckets() -> u64 {
    crate::ledger::DEFAULT_CAPACITY
}

/// A key part, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPart {
    /// A request header (lower-case name).
    Header(String),
    /// The requested model.
    Model,
    /// The provider (header `provider_header`).
    Provider,
}

/// A limit, compiled.
#[derive(Debug, Clone)]
pub struct Limit {
    /// Name.
    pub name: String,
    /// Key parts.
    pub key: Vec<KeyPart>,
    /// Window.
    pub window: Window,
    /// Default budgets.
    pub budgets: Budgets,
    /// Per-model budgets.
    pub models: ModelPatterns<Budgets>,
    /// See [`RawLimit::reserve_output_tokens`].
    pub reserve_output_tokens: bool,
}

impl Limit {
    /// Budgets for `model`.
    pub fn budgets_for(&self, model: Option<&str>) -> Budgets {
        model
            .and_then(|m| self.models.lookup(m))
            .copied()
            .unwrap_or(self.budgets)
    }
}

/// The whole configuration, compiled once in `on_configure`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Limits.
    pub limits: Vec<Limit>,
    /// See [`MissingKey`].
    pub missing_key: MissingKey,
    /// Model rules → encoding: user rules first, then OpenAI's.
    pub encodings: ModelPatterns<Encoding>,
    /// Fallback encoding.
    pub default_encoding: Encoding,
    /// Tokens per image.
    pub image_tokens: u64,
    /// Provider header (lower-case).
    pub provider_header: String,
    /// See [`NonLlmBody`].
    pub non_llm_body: NonLlmBody,
    /// See [`RawConfig::failure_mode`].
    pub failure_mode: FailureMode,
    /// See [`RawConfig::max_buckets`].
    pub max_buckets: u64,
}

/// OpenAI's model families and their encodings (prefix rules).
const OPENAI_ENCODINGS: &[(&str, Encoding)] = &[
    ("gpt-4o", Encoding::O200kBase),
    ("gpt-4.1", Encoding::O200kBase),
    ("gpt-4.5", Encoding::O200kBase),
    ("gpt-5", Encoding::O200kBase),
    ("chatgpt-4o", Encoding::O200kBase),
    ("o1", Encoding::O200kBase),
    ("o3", Encoding::O200kBase),
    ("o4", Encoding::O200kBase),
    ("gpt-4", Encoding::Cl100kBase),
    ("gpt-3.5", Encoding::Cl100kBase),
    ("text-embedding-3", Encoding::Cl100kBase),
    ("text-embedding-ada", Encoding::Cl100kBase),
];

impl Config {
    /// Parses and validates; the error names the field.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        let raw: RawConfig = tollgate_core::config::parse(bytes)?;
        if raw.limits.is_empty() {
            return Err(ConfigError::new("limits", "at least one limit is required"));
        }
        if !(16..=10_000_000).contains(&raw.max_buckets) {
            return Err(ConfigError::new(
                "max_buckets",
                "must be between 16 and 10000000",
            ));
        }
        if !(1..=3600).contains(&raw.slots) {
            return Err(ConfigError::new("slots", "must be between 1 and 3600"));
        }
        let enc = |field: String, name: &str| {
            Encoding::from_name(name).ok_or_else(|| {
                ConfigError::new(field, "unknown encoding (o200k_base, cl100k_base)")
            })
        };
        let mut limits = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for (i, l) in raw.limits.into_iter().enumerate() {
            let f = |s: &str| format!("limits[{i}].{s}");
            if l.name.is_empty()
                || !l
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(ConfigError::new(
                    f("name"),
                    "must be non-empty [A-Za-z0-9_-]",
                ));
            }
            if !names.insert(l.name.clone()) {
                return Err(ConfigError::new(f("name"), "duplicate limit name"));
            }
            if l.window_seconds == 0 || l.window_seconds > 86_400 {
                return Err(ConfigError::new(
                    f("window_seconds"),
                    "must be between 1 and 86400",
                ));
            }
            let budgets = Budgets {
                total_tokens: l.total_tokens,
                prompt_tokens: l.prompt_tokens,
            };
            if budgets.total_tokens.is_none() && budgets.prompt_tokens.is_none() {
                return Err(ConfigError::new(
                    f("total_tokens"),
                    "set total_tokens and/or prompt_tokens",
                ));
            }
            if l.key.is_empty() {
                return Err(ConfigError::new(
                    f("key"),
                    "at least one key part is required",
                ));
            }
            let mut key = Vec::new();
            for (j, k) in l.key.iter().enumerate() {
                key.push(match k.as_str() {
                    "model" => KeyPart::Model,
                    "provider" => KeyPart::Provider,
                    h if h.starts_with("header:") && h.len() > 7 => {
                        KeyPart::Header(h[7..].to_ascii_lowercase())
                    }
                    _ => {
                        return Err(ConfigError::new(
                            format!("limits[{i}].key[{j}]"),
                            "use header:<name>, model or provider",
                        ))
                    }
                });
            }
            let models = ModelPatterns::new(l.models.iter().map(|(m, b)| (m.clone(), *b)));
            limits.push(Limit {
                name: l.name,
                key,
                window: Window::new(l.window_seconds, raw.slots),
                budgets,
                models,
                reserve_output_tokens: l.reserve_output_tokens,
            });
        }
        let mut user = Vec::new();
        for (m, e) in &raw.encodings {
            user.push((m.clone(), enc(format!("encodings.{m}"), e)?));
        }
        let builtin = OPENAI_ENCODINGS.iter().map(|(p, e)| ((*p).to_owned(), *e));
        let encodings = ModelPatterns::new(user).with_fallback_prefixes(builtin);
        Ok(Config {
            limits,
            missing_key: raw.missing_key,
            encodings,
            default_encoding: enc("default_encoding".into(), &raw.default_encoding)?,
            image_tokens: raw.image_tokens,
            provider_header: raw.provider_header.to_ascii_lowercase(),
            non_llm_body: raw.non_llm_body,
            failure_mode: raw.failure_mode,
            max_buckets: raw.max_buckets,
        })
    }

    /// Encoding for `model` (a `provider/` prefix is ignored).
    pub fn encoding_for(&self, model: Option<&str>) -> Encoding {
        model
            .map(|m| m.rsplit('/').next().unwrap_or(m))
            .and_then(|m| self.encodings.lookup(m))
            .copied()
            .unwrap_or(self.default_encoding)
    }

    /// Encodings this configuration can ever use (to build only those).
    pub fn encodings_in_use(&self) -> Vec<Encoding> {
        let mut v: Vec<Encoding> = self.encodings.values().copied().collect();
        v.push(self.default_encoding);
        v.sort();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(j: &str) -> Result<Config, ConfigError> {
        Config::from_json(j.as_bytes())
    }

    #[test]
    fn scenario_config() {
        let c = cfg(r#"{"limits":[{"name":"per-client","key":["header:x-client-id"],"window_seconds":60,
            "total_tokens":100000,"prompt_tokens":50000,"models":{"gpt-4o*":{"total_tokens":10}}}]}"#)
        .unwrap_or_else(|e| unreachable!("{e}"));
        let l = &c.limits[0];
        assert_eq!(l.key, vec![KeyPart::Header("x-client-id".into())]);
        assert_eq!(l.budgets_for(Some("gpt-4o-mini")).total_tokens, Some(10));
        assert_eq!(l.budgets_for(Some("gpt-5")).prompt_tokens, Some(50000));
        assert_eq!(c.encoding_for(Some("gpt-4o")), Encoding::O200kBase);
        assert_eq!(
            c.encoding_for(Some("openai/gpt-4-turbo")),
            Encoding::Cl100kBase
        );
        assert_eq!(c.encoding_for(Some("gpt-4.1-mini")), Encoding::O200kBase);
        assert_eq!(
            c.encoding_for(Some("claude-sonnet-4-5")),
            Encoding::O200kBase
        );
    }

    #[test]
    fn errors_name_the_field() {
        let field = |j: &str| cfg(j).err().map(|e| e.field).unwrap_or_default();
        assert_eq!(field(r#"{"limits":[]}"#), "limits");
        assert_eq!(
            field(r#"{"limits":[{"name":"a","key":["model"],"total_tokens":"x"}]}"#),
            "limits[0].total_tokens"
        );
        assert_eq!(
            field(r#"{"limits":[{"name":"a","key":["model"]}]}"#),
            "limits[0].total_tokens"
        );
        assert_eq!(
            field(r#"{"limits":[{"name":"a","key":["cookie"],"total_tokens":1}]}"#),
            "limits[0].key[0]"
        );
        assert_eq!(
            field(r#"{"limits":[{"name":"a","key":["model"],"total_tokens":1,"windw":3}]}"#),
            "limits[0].windw"
        );
        assert_eq!(
            field(
                r#"{"limits":[{"name":"a","key":["model"],"total_tokens":1}],"encodings":{"m":"p50k"}}"#
            ),
            "encodings.m"
        );
        assert_eq!(
            field(r#"{"limits":[{"name":"a","key":["model"],"total_tokens":1}],"extra":1}"#),
            "extra"
        );
    }
}
