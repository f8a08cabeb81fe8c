//! The external classifier layer: only for a gray-zone score (at or above `gray_zone_min`, below
//! the threshold), the guard asks a classifier service behind an Envoy cluster about the one
//! segment in question, with a timeout, and adds `weight × probability` to its score. A failed,
//! slow or unreadable answer is `failure_mode`: `allow` decides without it (fail open), `deny`
//! treats the segment as detected (fail closed).
//!
//! Two request shapes:
//! * `prompt_guard` — a Hugging Face text-classification endpoint (Text Embeddings Inference
//!   `/predict`, the Inference API, a Prompt Guard or DeBERTa injection model):
//!   `{"inputs": text}` → `[{"label","score"}…]` (or nested once); the probability is the sum of
//!   the scores of the attack labels.
//! * `openai_moderation` — OpenAI's `/v1/moderations`: `{"model", "input": text}` →
//!   `{"results":[{"flagged", "category_scores":{…}}]}`; the probability is the highest score of
//!   the configured categories (all when none are listed).
//!
//! Pure logic (request body, answer parsing); the callout itself is in glue.rs.

use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_core::config::{ConfigError, FailureMode};

/// The service's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Hugging Face text classification (`{"inputs"}` → labels and scores).
    PromptGuard,
    /// OpenAI moderations.
    OpenaiModeration,
}

fn default_timeout() -> u64 {
    300
}
fn default_gray() -> f32 {
    0.4
}
fn default_weight() -> f32 {
    1.0
}
fn default_max_bytes() -> usize {
    8 << 10
}
fn default_labels() -> Vec<String> {
    ["INJECTION", "JAILBREAK", "MALICIOUS", "LABEL_1"]
        .map(str::to_owned)
        .to_vec()
}

/// The classifier as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClassifier {
    /// Envoy cluster of the service.
    pub cluster: String,
    /// Request path.
    pub path: String,
    /// `:authority` of the callout (default: the cluster name).
    #[serde(default)]
    pub authority: Option<String>,
    /// Request and answer shape.
    pub format: Format,
    /// `model` field of an `openai_moderation` request.
    #[serde(default)]
    pub model: Option<String>,
    /// Labels that mean an attack (`prompt_guard`), compared without case.
    #[serde(default = "default_labels")]
    pub labels: Vec<String>,
    /// Categories that count (`openai_moderation`); empty: all.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Callout timeout.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Lowest score (rules + model + signals) at which a segment is asked about.
    #[serde(default = "default_gray")]
    pub gray_zone_min: f32,
    /// What a certain attack (probability 1) adds to the score.
    #[serde(default = "default_weight")]
    pub weight: f32,
    /// Most bytes of the segment sent (the start of it).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    /// No usable answer: `allow` (fail open) or `deny` (fail closed: detected).
    #[serde(default)]
    pub failure_mode: FailureMode,
}

/// The classifier, checked.
#[derive(Debug, Clone)]
pub struct Classifier {
    /// Cluster.
    pub cluster: String,
    /// Path.
    pub path: String,
    /// Authority.
    pub authority: String,
    /// Shape.
    pub format: Format,
    model: Option<String>,
    labels: Vec<String>,
    categories: Vec<String>,
    /// Timeout.
    pub timeout_ms: u64,
    /// Gray zone start.
    pub gray_zone_min: f32,
    /// Weight.
    pub weight: f32,
    /// Most bytes sent.
    pub max_bytes: usize,
    /// Failure mode.
    pub failure_mode: FailureMode,
}

impl Classifier {
    /// Checks `raw` (the default threshold bounds the gray zone); errors name the field.
    pub fn compile(raw: &RawClassifier, threshold: f32) -> Result<Self, ConfigError> {
        if raw.cluster.trim().is_empty() {
            return Err(ConfigError::new("classifier.cluster", "must not be empty"));
        }
        if !raw.path.starts_with('/') {
            return Err(ConfigError::new("classifier.path", "must start with `/`"));
        }
        if !(1..=10_000).contains(&raw.timeout_ms) {
            return Err(ConfigError::new(
                "classifier.timeout_ms",
                "must be in 1..=10000",
            ));
        }
        if !(raw.gray_zone_min > 0.0 && raw.gray_zone_min < threshold) {
            return Err(ConfigError::new(
                "classifier.gray_zone_min",
                "must be above 0 and below the threshold",
            ));
        }
        if !(raw.weight > 0.0 && raw.weight <= 20.0) {
            return Err(ConfigError::new("classifier.weight", "must be in (0, 20]"));
        }
        if raw.max_bytes == 0 || raw.max_bytes > 1 << 20 {
            return Err(ConfigError::new(
                "classifier.max_bytes",
                "must be in 1..=1048576",
            ));
        }
        if raw.format == Format::PromptGuard && raw.labels.is_empty() {
            return Err(ConfigError::new("classifier.labels", "must not be empty"));
        }
        Ok(Self {
            cluster: raw.cluster.clone(),
            path: raw.path.clone(),
            authority: raw.authority.clone().unwrap_or_else(|| raw.cluster.clone()),
            format: raw.format,
            model: raw.model.clone(),
            labels: raw.labels.iter().map(|l| l.to_ascii_uppercase()).collect(),
            categories: raw.categories.clone(),
            timeout_ms: raw.timeout_ms,
            gray_zone_min: raw.gray_zone_min,
            weight: raw.weight,
            max_bytes: raw.max_bytes,
            failure_mode: raw.failure_mode,
        })
    }

    /// The outcome when no usable answer came (error, timeout, unreadable, no such cluster).
    pub fn failed(&self) -> crate::ClassifierOutcome {
        crate::ClassifierOutcome::Failed {
            closed: self.failure_mode == FailureMode::Deny,
        }
    }

    /// The request body asking about `text` (cut at `max_bytes`, on a character boundary).
    pub fn request(&self, text: &str) -> Vec<u8> {
        let mut end = text.len().min(self.max_bytes);
        while end > 0 && !text.is_char_boundary(end) {
            end = end.saturating_sub(1);
        }
        let t = text.get(..end).unwrap_or_default();
        let v = match self.format {
            Format::PromptGuard => json!({ "inputs": t }),
            Format::OpenaiModeration => match &self.model {
                Some(m) => json!({ "model": m, "input": t }),
                None => json!({ "input": t }),
            },
        };
        serde_json::to_vec(&v).unwrap_or_default()
    }

    /// The probability of an attack in a 200 answer's body; `None` when it cannot be read.
    pub fn probability(&self, body: &[u8]) -> Option<f32> {
        let v: Value = serde_json::from_slice(body).ok()?;
        let p = match self.format {
            Format::PromptGuard => {
                // `[{label, score}]`, or the same nested once (one list per input).
                let list = match v.as_array()?.first() {
                    Some(Value::Array(inner)) => inner.as_slice(),
                    _ => v.as_array()?.as_slice(),
                };
                let mut p = 0.0f64;
                let mut seen = false;
                for item in list.iter().take(64) {
                    let label = item.get("label")?.as_str()?.to_ascii_uppercase();
                    let score = item.get("score")?.as_f64()?;
                    seen = true;
                    if self.labels.contains(&label) {
                        p += score;
                    }
                }
                if !seen {
                    return None;
                }
                p
            }
            Format::OpenaiModeration => {
                let r = v.get("results")?.as_array()?.first()?;
                let scores = r.get("category_scores")?.as_object()?;
                let mut p = 0.0f64;
                for (k, s) in scores.iter().take(256) {
                    if self.categories.is_empty() || self.categories.iter().any(|c| c == k) {
                        p = p.max(s.as_f64().unwrap_or(0.0));
                    }
                }
                p
            }
        };
        let p = p as f32;
        p.is_finite().then_some(p.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(j: &str) -> Result<Classifier, String> {
        let raw: RawClassifier = serde_json::from_str(j).map_err(|e| e.to_string())?;
        Classifier::compile(&raw, 1.0).map_err(|e| e.field)
    }

    #[test]
    fn shapes_and_checks() {
        let pg = c(r#"{"cluster":"pg","path":"/predict","format":"prompt_guard"}"#)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(pg.request("hé"), r#"{"inputs":"hé"}"#.as_bytes());
        let p = pg.probability(br#"[{"label":"BENIGN","score":0.1},{"label":"INJECTION","score":0.7},{"label":"JAILBREAK","score":0.2}]"#);
        assert!(p.is_some_and(|p| (p - 0.9).abs() < 1e-6));
        let p = pg.probability(
            br#"[[{"label":"benign","score":0.95},{"label":"injection","score":0.05}]]"#,
        );
        assert!(p.is_some_and(|p| (p - 0.05).abs() < 1e-6));
        assert_eq!(pg.probability(b"[]"), None);
        assert_eq!(pg.probability(b"<html>"), None);
        assert_eq!(pg.probability(br#"{"error":"loading"}"#), None);
        let om = c(r#"{"cluster":"om","path":"/v1/moderations","format":"openai_moderation","model":"omni-moderation-latest","categories":["illicit"]}"#)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            om.request("x"),
            br#"{"model":"omni-moderation-latest","input":"x"}"#.to_vec()
        );
        let p = om.probability(
            br#"{"results":[{"flagged":true,"category_scores":{"illicit":0.8,"violence":0.99}}]}"#,
        );
        assert!(p.is_some_and(|p| (p - 0.8).abs() < 1e-6));
        // Cut at max_bytes on a character boundary.
        let small = c(r#"{"cluster":"pg","path":"/p","format":"prompt_guard","max_bytes":2}"#)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(small.request("aé"), br#"{"inputs":"a"}"#.to_vec());
        assert_eq!(
            c(r#"{"cluster":"pg","path":"p","format":"prompt_guard"}"#).err(),
            Some("classifier.path".into())
        );
        assert_eq!(
            c(r#"{"cluster":"pg","path":"/p","format":"prompt_guard","gray_zone_min":1.5}"#).err(),
            Some("classifier.gray_zone_min".into())
        );
        assert_eq!(
            c(r#"{"cluster":"pg","path":"/p","format":"prompt_guard","timeout_ms":0}"#).err(),
            Some("classifier.timeout_ms".into())
        );
    }
}
