//! PII filter configuration: the JSON object under `configuration` in envoy.yaml.

use crate::detect::{CustomRegex, Detector, Dictionary, BUILTIN};
use crate::redact::{Action, Policy};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::rc::Rc;
use tollgate_core::config::{ConfigError, FailureMode};

/// A user regex detector as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCustom {
    /// Label, `[A-Z0-9_]+`.
    pub label: String,
    /// Pattern (Rust regex syntax).
    pub regex: String,
}

/// A user dictionary as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDictionary {
    /// Label, `[A-Z0-9_]+`.
    pub label: String,
    /// Terms, matched case-insensitively as whole words.
    pub terms: Vec<String>,
}

/// What to do with a request body that is not JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NonJson {
    /// Refuse it (400): it cannot be inspected.
    #[default]
    Block,
    /// Forward it uninspected (counted).
    Pass,
}

/// What to do with an answer (or stream event) output scanning cannot read: compressed, not JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unscanned {
    /// Forward it as it is (counted in `tollgate_pii_unscanned_output_total{reason}`).
    #[default]
    Pass,
    /// Withhold it: a JSON answer becomes a 502 OpenAI-style error, an SSE event an SSE comment.
    Block,
}

/// The configuration as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Built-in detectors to run (default: all).
    #[serde(default)]
    pub detectors: Option<Vec<String>>,
    /// Label → action.
    #[serde(default)]
    pub actions: BTreeMap<String, Action>,
    /// Action for labels not in `actions`.
    #[serde(default = "default_action")]
    pub default_action: Action,
    /// User regex detectors.
    #[serde(default)]
    pub custom: Vec<RawCustom>,
    /// User dictionaries.
    #[serde(default)]
    pub dictionaries: Vec<RawDictionary>,
    /// Restore placeholders to originals in the answer.
    #[serde(default = "yes")]
    pub restore: bool,
    /// Scan answers for PII the model produced.
    #[serde(default = "yes")]
    pub scan_output: bool,
    /// Action for findings in answers: `mask`, `hash` or `log_only`.
    #[serde(default = "default_output_action")]
    pub output_action: Action,
    /// Characters `mask` keeps at the end.
    #[serde(default = "default_keep")]
    pub mask_keep_last: usize,
    /// Salt for `hash` (required when any action is `hash`).
    #[serde(default)]
    pub hash_salt: Option<String>,
    /// See [`NonJson`].
    #[serde(default)]
    pub non_json_body: NonJson,
    /// See [`Unscanned`] (only with `scan_output` or `restore` active).
    #[serde(default)]
    pub unscanned_output: Unscanned,
    /// Larger request bodies are refused (413) before they are parsed.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Requests with more text than this (the strings that are scanned: base64 media and other
    /// allowlisted fields do not count) are refused (413): bounds the scan's CPU per request.
    #[serde(default = "default_max_text")]
    pub max_text_bytes: usize,
    /// When the filter cannot inspect or rewrite a body: `deny` (default) refuses, `allow` forwards.
    #[serde(default = "deny")]
    pub failure_mode: FailureMode,
}

fn default_action() -> Action {
    Action::Placeholder
}
fn default_output_action() -> Action {
    Action::Mask
}
fn yes() -> bool {
    true
}
fn default_keep() -> usize {
    4
}
fn default_max_body() -> usize {
    32 * 1024 * 1024
}
fn default_max_text() -> usize {
    1024 * 1024
}
fn deny() -> FailureMode {
    FailureMode::Deny
}

/// The configuration, compiled.
pub struct Config {
    /// Detectors (shared with the output scanner of every answer).
    pub detector: Rc<Detector>,
    /// Request policy.
    pub policy: Policy,
    /// Answer policy (output findings).
    pub output_policy: Rc<Policy>,
    /// See [`RawConfig::restore`].
    pub restore: bool,
    /// See [`RawConfig::scan_output`].
    pub scan_output: bool,
    /// See [`NonJson`].
    pub non_json_body: NonJson,
    /// See [`Unscanned`].
    pub unscanned_output: Unscanned,
    /// See [`RawConfig::max_body_bytes`].
    pub max_body_bytes: usize,
    /// See [`RawConfig::max_text_bytes`].
    pub max_text_bytes: usize,
    /// See [`RawConfig::failure_mode`].
    pub failure_mode: FailureMode,
}

fn check_label(field: String, l: &str) -> Result<(), ConfigError> {
    // At most 40 characters: a placeholder `<LABEL_n>` then stays within the 64 bytes in which
    // `Vault::reserve_typed` looks for one the client typed.
    let ok = !l.is_empty()
        && l.len() <= 40
        && l.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(
            field,
            "labels are [A-Z0-9_]+, at most 40 characters",
        ))
    }
}

impl Config {
    /// Parses, validates and compiles; the error names the field.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        let raw: RawConfig = tollgate_core::config::parse(bytes)?;
        let all: Vec<String> = BUILTIN.iter().map(|(d, _)| (*d).to_owned()).collect();
        let detectors = raw.detectors.unwrap_or(all);
        for (i, d) in detectors.iter().enumerate() {
            if !BUILTIN.iter().any(|(b, _)| b == d) {
                return Err(ConfigError::new(
                    format!("detectors[{i}]"),
                    "unknown detector",
                ));
            }
        }
        for (i, c) in raw.custom.iter().enumerate() {
            check_label(format!("custom[{i}].label"), &c.label)?;
        }
        for (i, d) in raw.dictionaries.iter().enumerate() {
            check_label(format!("dictionaries[{i}].label"), &d.label)?;
        }
        for l in raw.actions.keys() {
            check_label(format!("actions.{l}"), l)?;
        }
        if matches!(raw.output_action, Action::Placeholder | Action::Block) {
            return Err(ConfigError::new(
                "output_action",
                "use mask, hash or log_only for answers",
            ));
        }
        let uses_hash = raw.default_action == Action::Hash
            || raw.output_action == Action::Hash
            || raw.actions.values().any(|a| *a == Action::Hash);
        let salt = match (&raw.hash_salt, uses_hash) {
            (Some(s), _) if s.len() >= 16 => s.clone(),
            (_, true) => {
                return Err(ConfigError::new(
                    "hash_salt",
                    "required (16+ characters) when an action is hash",
                ))
            }
            _ => String::new(),
        };
        let custom: Vec<CustomRegex> = raw
            .custom
            .into_iter()
            .map(|c| CustomRegex {
                label: c.label,
                regex: c.regex,
            })
            .collect();
        let dicts: Vec<Dictionary> = raw
            .dictionaries
            .into_iter()
            .map(|d| Dictionary {
                label: d.label,
                terms: d.terms,
            })
            .collect();
        let detector = Detector::new(&detectors, &custom, &dicts)
            .map_err(|e| ConfigError::new(e.field, e.message))?;
        let policy = Policy {
            actions: raw.actions,
            default_action: raw.default_action,
            keep_last: raw.mask_keep_last,
            salt,
        };
        let output_policy = Rc::new(Policy {
            actions: BTreeMap::new(),
            default_action: raw.output_action,
            ..policy.clone()
        });
        Ok(Config {
            detector: Rc::new(detector),
            policy,
            output_policy,
            restore: raw.restore,
            scan_output: raw.scan_output,
            non_json_body: raw.non_json_body,
            unscanned_output: raw.unscanned_output,
            max_body_bytes: raw.max_body_bytes,
            max_text_bytes: raw.max_text_bytes,
            failure_mode: raw.failure_mode,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors() {
        let c = Config::from_json(b"{}").unwrap_or_else(|e| unreachable!("{e}"));
        assert!(c.restore && c.scan_output && c.failure_mode == FailureMode::Deny);
        let field = |j: &str| {
            Config::from_json(j.as_bytes())
                .err()
                .map(|e| e.field)
                .unwrap_or_default()
        };
        assert_eq!(
            field(r#"{"detectors":["email","passport"]}"#),
            "detectors[1]"
        );
        assert_eq!(field(r#"{"actions":{"EMAIL":"shred"}}"#), "actions.EMAIL");
        assert_eq!(field(r#"{"actions":{"EMAIL":"hash"}}"#), "hash_salt");
        assert_eq!(
            field(r#"{"custom":[{"label":"X","regex":"("}]}"#),
            "custom[0].regex"
        );
        assert_eq!(
            field(r#"{"custom":[{"label":"bad label","regex":"x"}]}"#),
            "custom[0].label"
        );
        assert_eq!(field(r#"{"output_action":"placeholder"}"#), "output_action");
        assert_eq!(field(r#"{"restor":true}"#), "restor");
    }
}
