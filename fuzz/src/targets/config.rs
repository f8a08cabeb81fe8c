//! Every filter's configuration parser (and the combined pipeline's section dispatch) on mutated
//! valid configurations: never a panic; an error names a field, has a message, and never quotes
//! a value of the configuration.

use super::head;
use crate::gen;
use crate::rng::Rng;
use crate::seeds::{
    yaml_value_blocks, ENVOY_YAML, PII_CONFIGS, RATELIMIT_CONFIGS, ROUTER_CONFIGS, USAGE_CONFIGS,
};
use crate::Target;
use serde_json::Value;
use std::sync::OnceLock;
use tollgate_core::config::ConfigError;

pub const TARGET: Target = Target {
    name: "config",
    about:
        "pii/ratelimit/usage/router/pipeline config parsers on mutated envoy.yaml and test configs",
    generate,
    check,
};

/// A value that must never appear in an error message (it could be a key someone pasted).
pub const CANARY: &str = "sk-CANARY-5ecret";

const PARSERS: [&str; 5] = ["pii", "ratelimit", "usage", "router", "pipeline"];

/// Seed configurations per parser: the tests' and the sections of envoy.yaml's inline blocks.
fn seeds() -> &'static [Vec<String>; 5] {
    static S: OnceLock<[Vec<String>; 5]> = OnceLock::new();
    S.get_or_init(|| {
        let own = |xs: &[&str]| xs.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let mut s = [
            own(PII_CONFIGS),
            own(RATELIMIT_CONFIGS),
            own(USAGE_CONFIGS),
            own(ROUTER_CONFIGS),
            Vec::new(),
        ];
        for block in yaml_value_blocks(ENVOY_YAML) {
            let Ok(Value::Object(o)) = serde_json::from_str::<Value>(&block) else {
                continue;
            };
            if o.contains_key("role") {
                s[3].push(block.clone());
                continue;
            }
            for (name, section) in &o {
                if let Some(i) = PARSERS.iter().position(|p| p == name) {
                    s[i].push(section.to_string());
                }
            }
            s[4].push(block.clone());
        }
        s
    })
}

fn generate(rng: &mut Rng) -> Vec<u8> {
    let p = rng.below(PARSERS.len());
    let pool = &seeds()[p];
    let base = if pool.is_empty() {
        "{}"
    } else {
        pool[rng.below(pool.len())].as_str()
    };
    let others: Vec<&[u8]> = pool.iter().map(|s| s.as_bytes()).collect();
    let body = match rng.below(8) {
        0 => base.as_bytes().to_vec(),
        1 => {
            // A secret-looking value in a random place.
            let mut v: Value = serde_json::from_str(base).unwrap_or(Value::Null);
            put_canary(rng, &mut v);
            gen::to_json(rng, &v)
        }
        _ => gen::mutate_json(rng, base.as_bytes(), &others),
    };
    let mut out = vec![p as u8];
    out.extend(body);
    out
}

fn put_canary(rng: &mut Rng, v: &mut Value) {
    match v {
        Value::Object(o) if !o.is_empty() => {
            let i = rng.below(o.len());
            if let Some((_, x)) = o.iter_mut().nth(i) {
                if rng.one_in(2) && !x.is_string() {
                    put_canary(rng, x);
                } else {
                    *x = Value::String(CANARY.into());
                }
            }
        }
        Value::Array(a) if !a.is_empty() => {
            let i = rng.below(a.len());
            put_canary(rng, &mut a[i]);
        }
        other => *other = Value::String(CANARY.into()),
    }
}

/// The combined module's configuration: one section per policy, each compiled by its filter
/// (mirrors `filters/all`'s `compile`, which only builds for wasm32).
fn pipeline(bytes: &[u8]) -> Result<(), String> {
    let Value::Object(mut sections) =
        serde_json::from_slice(bytes).map_err(|e| format!("not a JSON object ({e})"))?
    else {
        return Err("the configuration must be a JSON object of sections".into());
    };
    for name in ["pii", "router", "usage", "ratelimit"] {
        if let Some(section) = sections.remove(name) {
            let b = serde_json::to_vec(&section).map_err(|e| format!("{name}: {e}"))?;
            one(name, &b).map_err(|e| format!("{name}: {e}"))?;
        }
    }
    match sections.keys().next() {
        Some(k) => Err(format!("unknown field `{k}`")),
        None => Ok(()),
    }
}

fn one(parser: &str, bytes: &[u8]) -> Result<(), ConfigError> {
    match parser {
        "pii" => tollgate_pii::config::Config::from_json(bytes).map(drop),
        "ratelimit" => tollgate_ratelimit::config::Config::from_json(bytes).map(drop),
        "usage" => tollgate_usage::config::Config::from_json(bytes).map(drop),
        _ => tollgate_router::config::Config::from_json(bytes).map(drop),
    }
}

fn check(input: &[u8]) -> Result<(), String> {
    let (p, bytes) = head(input);
    let parser = PARSERS[usize::from(p) % PARSERS.len()];
    if parser == "pipeline" {
        if let Err(e) = pipeline(bytes) {
            if e.contains(CANARY) && !bytes_have_key(bytes) {
                return Err(format!("leak: pipeline error quotes a value: {e}"));
            }
        }
        return Ok(());
    }
    if let Err(e) = one(parser, bytes) {
        // An unknown key that is the empty string is named by an empty path.
        let empty_key = e.message.starts_with("unknown field ``");
        if (e.field.is_empty() && !empty_key) || e.message.is_empty() {
            return Err(format!(
                "unnamed: {parser} error without field or message: {e:?}"
            ));
        }
        let shown = e.to_string();
        if !shown.contains(&e.field) {
            return Err(format!(
                "unnamed: {parser} error does not name its field: {shown}"
            ));
        }
        if e.message.contains(CANARY) && !bytes_have_key(bytes) {
            return Err(format!("leak: {parser} error quotes a value: {shown}"));
        }
    }
    Ok(())
}

/// The canary is (also) a key somewhere: then naming it is naming a field.
fn bytes_have_key(bytes: &[u8]) -> bool {
    let s = String::from_utf8_lossy(bytes);
    s.contains(&format!("\"{CANARY}\":")) || s.contains(&format!("\"{CANARY}\" :"))
}
