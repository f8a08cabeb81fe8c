//! Guard configuration: the JSON object under `configuration` (or the pipeline's `guard` section).

use crate::classifier::{Classifier, RawClassifier};
use crate::model::{Model, RawModel};
use crate::rules::{builtin, Channel, RuleSpec, Ruleset};
use serde::Deserialize;
use std::collections::BTreeMap;
use tollgate_core::config::{ConfigError, FailureMode};

/// What the guard does with a request that scores at or above the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Default, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Not scanned.
    Off,
    /// Scanned and logged (`would_block`); the request goes on untouched.
    #[default]
    Shadow,
    /// Goes on, with response header `x-tollgate-guard: flagged` and access-log fields.
    Flag,
    /// Refused: 400 `prompt_injection_detected`.
    Block,
}

impl Mode {
    /// Name in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Shadow => "shadow",
            Mode::Flag => "flag",
            Mode::Block => "block",
        }
    }
}

/// Settings of one channel as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChannel {
    /// Whether the channel is scanned (default: user and tool yes, system no).
    #[serde(default)]
    pub scan: Option<bool>,
    /// Mode for detections in this channel (default: `mode`; tool: `flag`).
    #[serde(default)]
    pub mode: Option<Mode>,
    /// Threshold for this channel (default: `threshold`).
    #[serde(default)]
    pub threshold: Option<f32>,
}

/// Per-channel settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChannels {
    /// System and developer prompts, tool definitions: trusted, not scanned by default.
    #[serde(default)]
    pub system: RawChannel,
    /// User turns.
    #[serde(default)]
    pub user: RawChannel,
    /// Tool results (indirect injection): default mode `flag`.
    #[serde(default)]
    pub tool: RawChannel,
}

/// Per-client override.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    /// Mode for this client, every channel (`off` turns the guard off for it).
    pub mode: Mode,
}

/// Rule changes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRules {
    /// Built-in rule ids to turn off.
    #[serde(default)]
    pub disable: Vec<String>,
    /// Rules to add.
    #[serde(default)]
    pub add: Vec<RuleSpec>,
}

fn default_threshold() -> f32 {
    1.0
}
fn default_header() -> String {
    "x-client-id".into()
}
fn default_max_scan() -> usize {
    1 << 20
}

/// The configuration as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Default mode.
    #[serde(default)]
    pub mode: Mode,
    /// Score at or above which a segment is a detection.
    #[serde(default = "default_threshold")]
    pub threshold: f32,
    /// Per-channel settings.
    #[serde(default)]
    pub channels: RawChannels,
    /// Client id → override.
    #[serde(default)]
    pub clients: BTreeMap<String, RawClient>,
    /// Header with the authenticated client id.
    #[serde(default = "default_header")]
    pub client_id_header: String,
    /// Rule changes.
    #[serde(default)]
    pub rules: RawRules,
    /// Scan every turn, not only those since the last assistant turn.
    #[serde(default)]
    pub scan_history: bool,
    /// Most bytes of text scanned per request; more is a failure (`failure_mode`).
    #[serde(default = "default_max_scan")]
    pub max_scan_bytes: usize,
    /// A body that cannot be scanned (not JSON, too much text): `allow` (counted) or `deny` (400).
    #[serde(default)]
    pub failure_mode: FailureMode,
    /// The linear layer (absent: off).
    #[serde(default)]
    pub model: Option<RawModelLayer>,
    /// The external classifier for gray-zone scores (absent: off).
    #[serde(default)]
    pub classifier: Option<RawClassifier>,
}

fn one() -> f32 {
    1.0
}

/// The linear layer as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModelLayer {
    /// Trained weights (`make guard-train` writes them); absent: the bundled model.
    #[serde(default)]
    pub weights: Option<RawModel>,
    /// What a certain attack (probability 1) adds to the score; the layer adds
    /// `weight × (2p − 1)` for a probability `p` above one half.
    #[serde(default = "one")]
    pub weight: f32,
}

/// The linear layer, compiled.
#[derive(Debug, Clone)]
pub struct ModelLayer {
    /// The model.
    pub model: Model,
    /// Its weight.
    pub weight: f32,
}

/// One channel, compiled.
#[derive(Debug, Clone, Copy)]
pub struct ChannelCfg {
    /// Scanned.
    pub scan: bool,
    /// Mode.
    pub mode: Mode,
    /// Threshold.
    pub threshold: f32,
}

/// The compiled configuration.
pub struct Config {
    /// Per channel: system, user, tool.
    pub channels: [ChannelCfg; 3],
    /// Client overrides.
    pub clients: BTreeMap<String, Mode>,
    /// Header with the client id.
    pub client_id_header: String,
    /// Rules.
    pub ruleset: Ruleset,
    /// Scan every turn.
    pub scan_history: bool,
    /// Most bytes scanned.
    pub max_scan_bytes: usize,
    /// Failure mode.
    pub failure_mode: FailureMode,
    /// The default mode (for the decision log when nothing was detected).
    pub mode: Mode,
    /// The linear layer.
    pub model: Option<ModelLayer>,
    /// The external classifier.
    pub classifier: Option<Classifier>,
}

fn check_threshold(field: &str, t: f32) -> Result<f32, ConfigError> {
    if t > 0.0 && t <= 20.0 {
        Ok(t)
    } else {
        Err(ConfigError::new(field, "must be in (0, 20]"))
    }
}

impl Config {
    /// Parses and compiles; the error names the field.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        let raw: RawConfig = tollgate_core::config::parse(bytes)?;
        let threshold = check_threshold("threshold", raw.threshold)?;
        let ch = |name: &str,
                  c: &RawChannel,
                  scan: bool,
                  mode: Mode|
         -> Result<ChannelCfg, ConfigError> {
            Ok(ChannelCfg {
                scan: c.scan.unwrap_or(scan),
                mode: c.mode.unwrap_or(mode),
                threshold: match c.threshold {
                    Some(t) => check_threshold(&format!("channels.{name}.threshold"), t)?,
                    None => threshold,
                },
            })
        };
        let channels = [
            ch("system", &raw.channels.system, false, raw.mode)?,
            ch("user", &raw.channels.user, true, raw.mode)?,
            ch(
                "tool",
                &raw.channels.tool,
                true,
                if raw.mode == Mode::Off {
                    Mode::Off
                } else {
                    Mode::Flag
                },
            )?,
        ];
        let mut rules = builtin();
        for (i, id) in raw.rules.disable.iter().enumerate() {
            let before = rules.len();
            rules.retain(|r| &r.id != id);
            if rules.len() == before {
                return Err(ConfigError::new(
                    format!("rules.disable[{i}]"),
                    "unknown rule id",
                ));
            }
        }
        for (i, r) in raw.rules.add.iter().enumerate() {
            if r.id.is_empty() || rules.iter().any(|x| x.id == r.id) {
                return Err(ConfigError::new(
                    format!("rules.add[{i}].id"),
                    "empty or duplicate rule id",
                ));
            }
            if r.phrases.is_empty() && r.regex.is_none() {
                return Err(ConfigError::new(
                    format!("rules.add[{i}]"),
                    "needs `phrases` or `regex`",
                ));
            }
            rules.push(r.clone());
        }
        let ruleset = Ruleset::compile(rules)
            .map_err(|(field, msg)| ConfigError::new(format!("rules.{field}"), msg))?;
        if raw.max_scan_bytes == 0 {
            return Err(ConfigError::new("max_scan_bytes", "must be positive"));
        }
        let model = match &raw.model {
            None => None,
            Some(m) => {
                if !(m.weight > 0.0 && m.weight <= 20.0) {
                    return Err(ConfigError::new("model.weight", "must be in (0, 20]"));
                }
                let compiled = match &m.weights {
                    Some(w) => Model::compile(w),
                    None => Model::bundled(),
                }
                .map_err(|(f, msg)| ConfigError::new(format!("model.weights.{f}"), msg))?;
                Some(ModelLayer {
                    model: compiled,
                    weight: m.weight,
                })
            }
        };
        let classifier = match &raw.classifier {
            None => None,
            Some(c) => Some(Classifier::compile(c, threshold)?),
        };
        Ok(Config {
            model,
            classifier,
            channels,
            clients: raw.clients.into_iter().map(|(k, v)| (k, v.mode)).collect(),
            client_id_header: raw.client_id_header.to_ascii_lowercase(),
            ruleset,
            scan_history: raw.scan_history,
            max_scan_bytes: raw.max_scan_bytes,
            failure_mode: raw.failure_mode,
            mode: raw.mode,
        })
    }

    /// The settings of `channel`.
    pub fn channel(&self, channel: Channel) -> ChannelCfg {
        let i = match channel {
            Channel::System => 0,
            Channel::User => 1,
            Channel::Tool => 2,
        };
        self.channels.get(i).copied().unwrap_or(ChannelCfg {
            scan: false,
            mode: Mode::Off,
            threshold: 1.0,
        })
    }

    /// The mode for a detection in `channel` for `client`: a client override wins (and `off`
    /// turns the guard off for the client), else the channel's.
    pub fn mode_for(&self, channel: Channel, client: Option<&str>) -> Mode {
        match client.and_then(|c| self.clients.get(c)) {
            Some(m) => *m,
            None => self.channel(channel).mode,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(j: &str) -> String {
        Config::from_json(j.as_bytes())
            .err()
            .map(|e| e.field)
            .unwrap_or_default()
    }

    #[test]
    fn defaults_and_errors_name_fields() {
        let c = Config::from_json(b"{}").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(c.channel(Channel::User).mode, Mode::Shadow);
        assert_eq!(c.channel(Channel::Tool).mode, Mode::Flag);
        assert!(!c.channel(Channel::System).scan);
        let c = Config::from_json(br#"{"mode":"block","clients":{"ci":{"mode":"off"}}}"#)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(c.channel(Channel::User).mode, Mode::Block);
        assert_eq!(c.channel(Channel::Tool).mode, Mode::Flag);
        assert_eq!(c.mode_for(Channel::User, Some("ci")), Mode::Off);
        let c = Config::from_json(br#"{"mode":"off"}"#).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(c.channel(Channel::Tool).mode, Mode::Off);
        assert_eq!(err(r#"{"mdoe":"block"}"#), "mdoe");
        assert_eq!(err(r#"{"mode":"loud"}"#), "mode");
        assert_eq!(
            err(r#"{"channels":{"tool":{"mode":"x"}}}"#),
            "channels.tool.mode"
        );
        assert_eq!(
            err(r#"{"channels":{"user":{"threshold":-1}}}"#),
            "channels.user.threshold"
        );
        assert_eq!(err(r#"{"rules":{"disable":["nope"]}}"#), "rules.disable[0]");
        assert_eq!(
            err(
                r#"{"rules":{"add":[{"id":"x","category":"tool_hijack","weight":1,"phrases":["submit"]}]}}"#
            ),
            "rules.x.phrases"
        );
        assert_eq!(
            err(
                r#"{"rules":{"add":[{"id":"x","category":"tool_hijack","weight":1,"regex":"("}]}}"#
            ),
            "rules.x.regex"
        );
        assert_eq!(err(r#"{"modle":{}}"#), "modle");
        assert_eq!(err(r#"{"model":{"weight":0}}"#), "model.weight");
        assert_eq!(
            err(
                r#"{"model":{"weights":{"version":"x","buckets_log2":8,"window":4,"bias":0,"scale":1,"weights":"AAAA"}}}"#
            ),
            "model.weights.weights"
        );
        assert!(Config::from_json(br#"{"model":{}}"#).is_ok_and(|c| c.model.is_some()));
    }
}
