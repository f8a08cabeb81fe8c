//! Router configuration (role `router`) and upstream adapter configuration (role `upstream`).

use crate::provider::Provider;
use crate::semantic::{Class, Keywords};
use serde::Deserialize;
use std::collections::BTreeMap;
use tollgate_core::config::{parse, ConfigError};
use tollgate_core::patterns::ModelPatterns;

/// Which half of the router a VM plays.
#[derive(Debug, Deserialize)]
struct RoleOnly {
    role: String,
}

/// A class of a virtual model, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClass {
    /// Class name.
    pub name: String,
    /// Route for prompts of this class.
    pub route: String,
    /// Phrase → weight, matched case-insensitively as whole words.
    #[serde(default)]
    pub keywords: BTreeMap<String, f64>,
    /// Example prompts (embeddings classifier).
    #[serde(default)]
    pub examples: Vec<String>,
}

/// Embeddings classifier settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Embeddings {
    /// Envoy cluster serving an OpenAI-compatible embeddings API.
    pub cluster: String,
    /// Request path.
    #[serde(default = "default_embeddings_path")]
    pub path: String,
    /// `:authority` of the call.
    #[serde(default = "default_authority")]
    pub authority: String,
    /// Embedding model.
    pub model: String,
    /// Minimum cosine similarity to pick a class.
    #[serde(default = "default_similarity")]
    pub threshold: f64,
    /// Call timeout.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

fn default_embeddings_path() -> String {
    "/v1/embeddings".into()
}
fn default_authority() -> String {
    "embeddings".into()
}
fn default_similarity() -> f64 {
    0.5
}
fn default_timeout() -> u64 {
    1000
}

/// A virtual model, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVirtual {
    /// Classes.
    pub classes: Vec<RawClass>,
    /// Minimum keyword score to pick a class.
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// Route when no class is sure enough.
    pub default_route: String,
    /// Use embeddings first (keywords stay the fallback).
    #[serde(default)]
    pub embeddings: Option<Embeddings>,
}

fn default_threshold() -> f64 {
    1.0
}

/// Router configuration as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouter {
    /// Always `router`.
    pub role: String,
    /// Header the route table matches.
    #[serde(default = "default_route_header")]
    pub route_header: String,
    /// Model name, alias or glob (`gpt-*`) → route.
    pub models: BTreeMap<String, String>,
    /// Virtual models classified by the prompt.
    #[serde(default)]
    pub virtual_models: BTreeMap<String, RawVirtual>,
    /// What `GET /v1/models` lists (default: every non-glob model and virtual model).
    #[serde(default)]
    pub list_models: Option<Vec<String>>,
}

fn default_route_header() -> String {
    "x-tollgate-route".into()
}

/// A compiled virtual model.
pub struct Virtual {
    /// Keyword classifier (always present: the fallback of embeddings).
    pub keywords: Keywords,
    /// Classes in order.
    pub classes: Vec<Class>,
    /// Examples per class, in class order.
    pub examples: Vec<Vec<String>>,
    /// Embeddings settings.
    pub embeddings: Option<Embeddings>,
}

/// Compiled router configuration.
pub struct Router {
    /// Route header (lower-case).
    pub route_header: String,
    /// Model → route.
    pub models: ModelPatterns<String>,
    /// Virtual models.
    pub virtual_models: BTreeMap<String, Virtual>,
    /// `GET /v1/models` answer.
    pub listed: Vec<String>,
}

/// Upstream adapter configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// Always `upstream`.
    pub role: String,
    /// Endpoint metadata namespace (`filter_metadata.<ns>`).
    #[serde(default = "default_ns")]
    pub metadata_namespace: String,
    /// Provider name (endpoint metadata `provider`) → API surface.
    pub providers: BTreeMap<String, Provider>,
}

fn default_ns() -> String {
    "tollgate".into()
}

/// The configuration of either role.
pub enum Config {
    /// Downstream router.
    Router(Router),
    /// Upstream adapter.
    Upstream(RawUpstream),
}

fn label(field: String, v: &str) -> Result<(), ConfigError> {
    let ok = !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(field, "use [A-Za-z0-9._-]"))
    }
}

impl Config {
    /// Parses either role; the error names the field.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        let role: RoleOnly = serde_json::from_slice(bytes)
            .map_err(|_| ConfigError::new("role", "required: router or upstream"))?;
        match role.role.as_str() {
            "router" => Self::router(parse(bytes)?),
            "upstream" => {
                let u: RawUpstream = parse(bytes)?;
                if u.providers.is_empty() {
                    return Err(ConfigError::new("providers", "at least one provider"));
                }
                Ok(Config::Upstream(u))
            }
            _ => Err(ConfigError::new("role", "must be router or upstream")),
        }
    }

    fn router(raw: RawRouter) -> Result<Self, ConfigError> {
        for (m, r) in &raw.models {
            label(format!("models.{m}"), r)?;
        }
        let mut virtual_models = BTreeMap::new();
        for (name, v) in raw.virtual_models {
            let f = |s: &str| format!("virtual_models.{name}.{s}");
            label(f("default_route"), &v.default_route)?;
            if v.classes.is_empty() {
                return Err(ConfigError::new(f("classes"), "at least one class"));
            }
            let mut classes = Vec::new();
            let mut terms = Vec::new();
            let mut examples = Vec::new();
            for (i, c) in v.classes.into_iter().enumerate() {
                label(f(&format!("classes[{i}].route")), &c.route)?;
                if c.keywords.values().any(|w| !w.is_finite()) {
                    return Err(ConfigError::new(
                        f(&format!("classes[{i}].keywords")),
                        "weights must be numbers",
                    ));
                }
                if v.embeddings.is_some() && c.examples.is_empty() {
                    return Err(ConfigError::new(
                        f(&format!("classes[{i}].examples")),
                        "needed with embeddings",
                    ));
                }
                terms.push(c.keywords.into_iter().collect::<Vec<_>>());
                examples.push(c.examples);
                classes.push(Class {
                    name: c.name,
                    route: c.route,
                });
            }
            let keywords = Keywords::new(classes.clone(), &terms, v.threshold, v.default_route)
                .map_err(|e| ConfigError::new(f("classes"), e))?;
            virtual_models.insert(
                name,
                Virtual {
                    keywords,
                    classes,
                    examples,
                    embeddings: v.embeddings,
                },
            );
        }
        let listed = raw.list_models.unwrap_or_else(|| {
            raw.models
                .keys()
                .filter(|m| !m.ends_with('*'))
                .cloned()
                .chain(virtual_models.keys().cloned())
                .collect()
        });
        Ok(Config::Router(Router {
            route_header: raw.route_header.to_ascii_lowercase(),
            models: ModelPatterns::new(raw.models),
            virtual_models,
            listed,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_errors() {
        let r = Config::from_json(br#"{"role":"router","models":{"fast":"a","gpt-*":"b"}}"#);
        let Ok(Config::Router(r)) = r else {
            unreachable!()
        };
        assert_eq!(r.models.lookup("gpt-4o").map(String::as_str), Some("b"));
        assert_eq!(r.listed, vec!["fast".to_owned()]);
        let field = |j: &str| {
            Config::from_json(j.as_bytes())
                .err()
                .map(|e| e.field)
                .unwrap_or_default()
        };
        assert_eq!(field(r#"{"models":{}}"#), "role");
        assert_eq!(
            field(r#"{"role":"router","models":{"x":"bad route"}}"#),
            "models.x"
        );
        assert_eq!(
            field(r#"{"role":"router","models":{},"modles":{}}"#),
            "modles"
        );
        assert_eq!(
            field(
                r#"{"role":"upstream","providers":{"openai":{"path_prefix":"/v1/","auth":"magic"}}}"#
            ),
            "providers.openai.auth"
        );
        assert_eq!(
            field(
                r#"{"role":"router","models":{},"virtual_models":{"auto":{"default_route":"a","classes":[{"name":"c","route":"b","embeddings":1}]}}}"#
            ),
            "virtual_models.auto.classes[0].embeddings"
        );
    }
}
