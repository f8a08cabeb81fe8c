//! The usage record of one exchange and how it is exposed (filter state, headers, stats).

use tollgate_core::usage::Usage;

/// How the usage of an exchange was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The provider reported usage.
    Reported,
    /// The response parsed but carried no usage (e.g. an error body or a cut stream).
    NoUsage,
    /// The response body could not be read (not JSON, encoded, or too large); passed through.
    Unparseable,
    /// The stream was cut before the provider reported usage: the figures are the rate limit's
    /// (the prompt as it reserved it, the completion counted from the text that was sent), which
    /// is also what the budget was charged.
    Estimated,
}

impl Outcome {
    /// Name used in logs and stats.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Reported => "reported",
            Outcome::NoUsage => "no_usage",
            Outcome::Estimated => "estimated",
            Outcome::Unparseable => "unparseable",
        }
    }
}

/// Everything the emitter knows about one LLM exchange when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRecord {
    /// API shape (`chat_completions`, ...).
    pub api: &'static str,
    /// Provider that served the request.
    pub provider: String,
    /// Client id, if the request carried one.
    pub client: Option<String>,
    /// Business group, if known.
    pub group: Option<String>,
    /// Model the client asked for.
    pub requested_model: Option<String>,
    /// Model the provider says served it.
    pub served_model: Option<String>,
    /// Token usage as reported.
    pub usage: Option<Usage>,
    /// Cost in micro-dollars; `None` when the model has no price or there is no usage.
    pub cost_micro_usd: Option<u64>,
    /// Upstream HTTP status.
    pub status: u32,
    /// The response was an SSE stream.
    pub streamed: bool,
    /// Milliseconds from request start to the first streamed event.
    pub ttft_ms: Option<u64>,
    /// Milliseconds from request start to the end of the response.
    pub duration_ms: u64,
    /// How usage was obtained.
    pub outcome: Outcome,
    /// The Tollgate filter that answered locally, if any.
    pub rejected_by: Option<String>,
}

impl UsageRecord {
    /// Model used for pricing and stats: the served one, else the requested one.
    pub fn model(&self) -> &str {
        self.served_model
            .as_deref()
            .or(self.requested_model.as_deref())
            .unwrap_or("unknown")
    }

    /// Filter-state keys (read in the access log as `%FILTER_STATE(wasm.<key>:PLAIN)%`).
    pub fn filter_state(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("tollgate.api", self.api.to_owned()),
            ("tollgate.provider", self.provider.clone()),
            ("tollgate.usage_outcome", self.outcome.as_str().to_owned()),
            ("tollgate.streamed", self.streamed.to_string()),
            ("tollgate.duration_ms", self.duration_ms.to_string()),
        ];
        let opt = |v: &mut Vec<(&'static str, String)>, k, val: Option<String>| {
            if let Some(x) = val {
                v.push((k, x));
            }
        };
        opt(&mut v, "tollgate.client", self.client.clone());
        opt(&mut v, "tollgate.group", self.group.clone());
        opt(
            &mut v,
            "tollgate.requested_model",
            self.requested_model.clone(),
        );
        opt(&mut v, "tollgate.served_model", self.served_model.clone());
        opt(
            &mut v,
            "tollgate.cost_micro_usd",
            self.cost_micro_usd.map(|c| c.to_string()),
        );
        opt(
            &mut v,
            "tollgate.ttft_ms",
            self.ttft_ms.map(|c| c.to_string()),
        );
        opt(&mut v, "tollgate.rejected_by", self.rejected_by.clone());
        if let Some(u) = &self.usage {
            v.push(("tollgate.prompt_tokens", u.prompt_tokens.to_string()));
            v.push((
                "tollgate.completion_tokens",
                u.completion_tokens.to_string(),
            ));
            v.push(("tollgate.total_tokens", u.total_tokens.to_string()));
            v.push((
                "tollgate.cached_prompt_tokens",
                u.cached_prompt_tokens.to_string(),
            ));
            v.push(("tollgate.reasoning_tokens", u.reasoning_tokens.to_string()));
        }
        v
    }

    /// `x-tollgate-usage-*` response headers (non-streaming responses only).
    pub fn usage_headers(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        if let Some(u) = &self.usage {
            v.push((
                "x-tollgate-usage-prompt-tokens",
                u.prompt_tokens.to_string(),
            ));
            v.push((
                "x-tollgate-usage-completion-tokens",
                u.completion_tokens.to_string(),
            ));
            v.push(("x-tollgate-usage-total-tokens", u.total_tokens.to_string()));
            v.push((
                "x-tollgate-usage-cached-prompt-tokens",
                u.cached_prompt_tokens.to_string(),
            ));
            v.push((
                "x-tollgate-usage-reasoning-tokens",
                u.reasoning_tokens.to_string(),
            ));
        }
        if let Some(c) = self.cost_micro_usd {
            v.push(("x-tollgate-usage-cost-micro-usd", c.to_string()));
        }
        v
    }
}
