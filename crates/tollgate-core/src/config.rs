//! Helpers every filter uses to load its JSON configuration.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::fmt;

/// A configuration error that names the offending field (e.g. `prices.gpt-4o.input`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path to the field, or `.` for the document itself.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid filter configuration at field `{}`: {}",
            self.field, self.message
        )
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// An error found after parsing (a semantic check on `field`).
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Parses a filter configuration; empty input means "all defaults" (`{}`).
///
/// Unknown fields and wrong types are reported with the path of the field, never with the
/// configuration's values (they may hold secrets).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ConfigError> {
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        bytes
    };
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        // serde_json appends "at line X column Y"; keep the message short and value-free.
        let message = redact_values(&inner.to_string());
        ConfigError { field, message }
    })
}

/// serde messages quote offending values (`invalid type: string "sk-..."`); drop the quoted part.
fn redact_values(msg: &str) -> String {
    let msg = msg.split(" at line ").next().unwrap_or(msg);
    // `unknown variant `<value>`, expected …`: the value is quoted in backticks.
    let unquoted;
    let msg = match msg.strip_prefix("unknown variant `").and_then(|rest| {
        let end = rest
            .rfind("`, expected")
            .or_else(|| rest.rfind("`, there are no variants"))?;
        rest.get(end..)
    }) {
        Some(tail) => {
            unquoted = format!("unknown variant `…{tail}");
            unquoted.as_str()
        }
        None => msg,
    };
    msg.split('"')
        .enumerate()
        .map(|(i, part)| if i % 2 == 0 { part } else { "…" })
        .collect::<Vec<_>>()
        .join("\"")
}

/// What a filter does when it cannot do its job (bad body, host error, timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FailureMode {
    /// Fail open: let the request through, count it.
    #[default]
    Allow,
    /// Fail closed: answer with an error instead.
    Deny,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Cfg {
        #[serde(default)]
        name: String,
        #[serde(default)]
        inner: Inner,
    }
    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        #[serde(default)]
        limit: u64,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Mode {
        mode: FailureMode,
    }

    #[test]
    fn names_unknown_and_mistyped_fields() {
        let e = parse::<Cfg>(br#"{"inner":{"limti":3}}"#)
            .err()
            .map(|e| e.field);
        assert_eq!(e.as_deref(), Some("inner.limti"));
        let e = parse::<Cfg>(br#"{"inner":{"limit":"sk-secret"}}"#).err();
        let e = e.map(|e| (e.field.clone(), e.to_string()));
        let (field, text) = e.unwrap_or_default();
        assert_eq!(field, "inner.limit");
        assert!(!text.contains("sk-secret"), "{text}");
    }

    /// Found by the fuzzer (`config` target): a value given to an enum field was quoted back in
    /// `unknown variant `…``.
    #[test]
    fn unknown_variants_are_not_quoted() {
        let e = parse::<Mode>(br#"{"mode":"sk-secret`, expected x"}"#).err();
        let (field, text) = e
            .map(|e| (e.field.clone(), e.to_string()))
            .unwrap_or_default();
        assert_eq!(field, "mode");
        assert!(!text.contains("sk-secret"), "{text}");
        assert!(text.contains("expected `allow` or `deny`"), "{text}");
    }

    #[test]
    fn empty_means_defaults() {
        assert!(parse::<Cfg>(b"").is_ok());
        assert!(parse::<Cfg>(b"  \n").is_ok());
    }
}
