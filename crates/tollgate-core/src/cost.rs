//! Price table and cost math.

use crate::patterns::ModelPatterns;
use crate::usage::Usage;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Prices of one model in US dollars per 1M tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Uncached input tokens.
    pub input: f64,
    /// Cached input tokens; defaults to `input` when the provider gives no discount.
    #[serde(default)]
    pub cached_input: Option<f64>,
    /// Output tokens (reasoning included).
    pub output: f64,
}

/// Model → price; keys are exact names or prefixes ending in `*` (`gpt-4o-*`).
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    prices: ModelPatterns<Price>,
}

impl PriceTable {
    /// Builds the table, checking that every price is a finite non-negative number.
    pub fn new(entries: &BTreeMap<String, Price>) -> Result<Self, crate::config::ConfigError> {
        for (model, p) in entries {
            let ok = |v: f64| v.is_finite() && v >= 0.0;
            if !ok(p.input) || !ok(p.output) || !p.cached_input.is_none_or(ok) {
                return Err(crate::config::ConfigError::new(
                    format!("prices.{model}"),
                    "prices must be finite, non-negative numbers",
                ));
            }
        }
        Ok(Self {
            prices: ModelPatterns::new(entries.iter().map(|(m, p)| (m.clone(), *p))),
        })
    }

    /// Price of `model`: an exact entry, else the longest matching prefix.
    pub fn lookup(&self, model: &str) -> Option<&Price> {
        self.prices.lookup(model)
    }

    /// Cost in micro-dollars (1e-6 USD), rounded to the nearest one; `None` if the model is unpriced.
    ///
    /// A price of P dollars per 1M tokens is exactly P micro-dollars per token.
    pub fn cost_micro_usd(&self, model: &str, u: &Usage) -> Option<u64> {
        let p = self.lookup(model)?;
        let cached = u.cached_prompt_tokens.min(u.prompt_tokens);
        let uncached = u.prompt_tokens - cached;
        let micro = uncached as f64 * p.input
            + cached as f64 * p.cached_input.unwrap_or(p.input)
            + u.completion_tokens as f64 * p.output;
        Some(micro.round() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> PriceTable {
        let mut m = BTreeMap::new();
        m.insert(
            "gpt-4o".into(),
            Price {
                input: 2.5,
                cached_input: Some(1.25),
                output: 10.0,
            },
        );
        m.insert(
            "gpt-4o-mini*".into(),
            Price {
                input: 0.15,
                cached_input: None,
                output: 0.6,
            },
        );
        m.insert(
            "gpt-*".into(),
            Price {
                input: 1.0,
                cached_input: None,
                output: 1.0,
            },
        );
        PriceTable::new(&m).unwrap_or_default()
    }

    #[test]
    fn cost_math() {
        let u = Usage {
            prompt_tokens: 1000,
            completion_tokens: 200,
            total_tokens: 1200,
            cached_prompt_tokens: 400,
            reasoning_tokens: 0,
        };
        // 600*2.5 + 400*1.25 + 200*10 = 1500 + 500 + 2000
        assert_eq!(table().cost_micro_usd("gpt-4o", &u), Some(4000));
        // prefix match, no cache discount: 1000*0.15 + 200*0.6 = 150 + 120
        assert_eq!(
            table().cost_micro_usd("gpt-4o-mini-2024-07-18", &u),
            Some(270)
        );
        assert_eq!(table().cost_micro_usd("gpt-5", &u), Some(1200));
        assert_eq!(table().cost_micro_usd("claude-x", &u), None);
    }

    #[test]
    fn rejects_negative_prices() {
        let mut m = BTreeMap::new();
        m.insert(
            "m".into(),
            Price {
                input: -1.0,
                cached_input: None,
                output: 1.0,
            },
        );
        assert_eq!(
            PriceTable::new(&m).err().map(|e| e.field),
            Some("prices.m".into())
        );
    }
}
