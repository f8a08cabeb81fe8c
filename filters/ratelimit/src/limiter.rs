//! Admission against the configured limits, and settlement with the real usage afterwards.

use crate::config::{Config, KeyPart, Limit, MissingKey};
use crate::ledger::{Ledger, LedgerError, Reservation};
use crate::window::Window;
use tollgate_core::error::openai_error_body;

/// Which budget of a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Prompt tokens.
    Prompt,
    /// Prompt + completion tokens.
    Total,
}

impl Budget {
    fn header_infix(self) -> &'static str {
        match self {
            Budget::Prompt => "prompt-tokens",
            Budget::Total => "tokens",
        }
    }
    fn key_suffix(self) -> &'static str {
        match self {
            Budget::Prompt => "p",
            Budget::Total => "t",
        }
    }
}

/// Tokens reserved for one request in one bucket, corrected once the real usage is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// Shared-data key of the bucket.
    pub key: String,
    /// The bucket's window.
    pub window: Window,
    /// Which budget.
    pub budget: Budget,
    /// When it was charged.
    pub at_ms: u64,
    /// How much was charged.
    pub amount: u64,
}

/// A locally generated answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u32,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// JSON body.
    pub body: String,
}

/// The outcome of admission.
#[derive(Debug)]
pub enum Decision {
    /// Forward; add `headers` to the response; settle `charges` later.
    Admit {
        /// Reservations made.
        charges: Vec<Charge>,
        /// `x-ratelimit-*` headers for the response.
        headers: Vec<(String, String)>,
    },
    /// Answer locally (429, or 401 for a missing key).
    Reject(Reply),
    /// The counters could not be consulted; apply `failure_mode`.
    Unavailable(LedgerError),
}

/// What admission needs to know about the request.
pub struct Request<'a> {
    /// Requested model.
    pub model: Option<&'a str>,
    /// Provider (from the provider header).
    pub provider: Option<&'a str>,
    /// Request header lookup.
    pub header: &'a dyn Fn(&str) -> Option<String>,
    /// Counted prompt tokens.
    pub prompt_tokens: u64,
    /// `max_tokens` / `max_output_tokens`, if set.
    pub max_output_tokens: Option<u64>,
    /// Tokens that must stay left in every budget beyond this request's reservation for it to be
    /// admitted (0: admit whatever fits). Lets a request reserve a cheap upper bound of its prompt
    /// only while the budget is far from its limit.
    pub headroom: u64,
}

/// Shared-data key prefix; one key per limit, key value and budget.
pub const KEY_PREFIX: &str = "tollgate.rl";

/// The identity of the request's bucket under `limit`: its key parts' values (any length: the
/// ledger hashes it), `None` if one is missing.
fn bucket(limit: &Limit, req: &Request<'_>) -> Option<String> {
    let mut key = String::new();
    for part in &limit.key {
        let v = match part {
            KeyPart::Header(h) => (req.header)(h).filter(|v| !v.is_empty()),
            KeyPart::Model => req.model.map(str::to_owned),
            KeyPart::Provider => req.provider.map(str::to_owned),
        };
        key.push('\u{1f}');
        key.push_str(&v?);
    }
    Some(key)
}

/// Reserves the request's tokens in every bucket that applies, or explains why not.
pub fn admit(cfg: &Config, ledger: &dyn Ledger, req: &Request<'_>, now_ms: u64) -> Decision {
    let mut charges: Vec<Charge> = Vec::new();
    // Most restrictive bucket per budget kind, for the response headers.
    let mut tightest: [Option<(u64, u64, u64)>; 2] = [None, None];
    for limit in &cfg.limits {
        let key = match (bucket(limit, req), cfg.missing_key) {
            (Some(k), _) => k,
            (None, MissingKey::Shared) => "\u{1f}_none".to_owned(),
            (None, MissingKey::Reject) => {
                settle(ledger, &charges, None, None, now_ms);
                return Decision::Reject(missing_key_reply(limit));
            }
        };
        let b = limit.budgets_for(req.model);
        let output = if limit.reserve_output_tokens {
            req.max_output_tokens.unwrap_or(0)
        } else {
            0
        };
        for (budget, cap, amount) in [
            (Budget::Prompt, b.prompt_tokens, req.prompt_tokens),
            (
                Budget::Total,
                b.total_tokens,
                req.prompt_tokens.saturating_add(output),
            ),
        ] {
            let Some(cap) = cap else { continue };
            // One table per limit and budget (the ledger's namespace), the bucket identity after it.
            let k = format!("{KEY_PREFIX}.{}.{}{key}", limit.name, budget.key_suffix());
            let room = cap.saturating_sub(req.headroom);
            match ledger.reserve(&k, &limit.window, now_ms, amount, room) {
                Ok(r) if r.admitted => {
                    charges.push(Charge {
                        key: k,
                        window: limit.window,
                        budget,
                        at_ms: now_ms,
                        amount,
                    });
                    let remaining = cap.saturating_sub(r.used);
                    let slot = &mut tightest[budget as usize];
                    if slot.is_none_or(|(rem, _, _)| remaining < rem) {
                        *slot = Some((remaining, cap, r.reset_ms));
                    }
                }
                Ok(r) => {
                    settle(ledger, &charges, None, None, now_ms);
                    return Decision::Reject(limited_reply(limit, budget, cap, amount, &r));
                }
                Err(e) => {
                    settle(ledger, &charges, None, None, now_ms);
                    return Decision::Unavailable(e);
                }
            }
        }
    }
    let mut headers = Vec::new();
    for (budget, t) in [(Budget::Prompt, tightest[0]), (Budget::Total, tightest[1])] {
        if let Some((remaining, cap, reset)) = t {
            headers.extend(ratelimit_headers(budget, cap, remaining, reset));
        }
    }
    Decision::Admit { charges, headers }
}

/// Replaces each estimate with the real usage (`None`: refund the charge entirely).
pub fn settle(
    ledger: &dyn Ledger,
    charges: &[Charge],
    prompt: Option<u64>,
    total: Option<u64>,
    now_ms: u64,
) {
    for c in charges {
        let actual = match c.budget {
            Budget::Prompt => prompt.unwrap_or(0),
            Budget::Total => total.unwrap_or(0),
        };
        let delta =
            i64::try_from(actual).unwrap_or(i64::MAX) - i64::try_from(c.amount).unwrap_or(i64::MAX);
        // A failed correction is logged by the caller's stats; it must never fail the response.
        let _ = ledger.adjust(&c.key, &c.window, now_ms, c.at_ms, delta);
    }
}

fn ratelimit_headers(
    budget: Budget,
    cap: u64,
    remaining: u64,
    reset_ms: u64,
) -> Vec<(String, String)> {
    let infix = budget.header_infix();
    vec![
        (format!("x-ratelimit-limit-{infix}"), cap.to_string()),
        (
            format!("x-ratelimit-remaining-{infix}"),
            remaining.to_string(),
        ),
        (format!("x-ratelimit-reset-{infix}"), fmt_duration(reset_ms)),
    ]
}

/// OpenAI's duration style: `120ms`, `1.5s`, `6m0s`.
pub fn fmt_duration(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    if ms < 60_000 {
        let s = format!("{:.3}", ms as f64 / 1000.0);
        let s = s.trim_end_matches('0').trim_end_matches('.');
        return format!("{s}s");
    }
    let m = ms / 60_000;
    let rest = (ms % 60_000) / 1000;
    format!("{m}m{rest}s")
}

fn window_name(w: &Window) -> String {
    match w.len_ms() / 1000 {
        60 => "minute".into(),
        3600 => "hour".into(),
        86_400 => "day".into(),
        s => format!("{s}s"),
    }
}

fn limited_reply(limit: &Limit, budget: Budget, cap: u64, amount: u64, r: &Reservation) -> Reply {
    let what = match budget {
        Budget::Prompt => "prompt tokens",
        Budget::Total => "tokens",
    };
    let per = window_name(&limit.window);
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    headers.extend(ratelimit_headers(
        budget,
        cap,
        cap.saturating_sub(r.used),
        r.reset_ms,
    ));
    let (message, code) = match r.wait_ms {
        Some(wait) => {
            let secs = wait.div_ceil(1000).max(1);
            headers.push(("retry-after".into(), secs.to_string()));
            headers.push(("retry-after-ms".into(), wait.max(1).to_string()));
            (
                format!(
                    "Rate limit reached for {what} per {per} (limit `{}`): Limit {cap}, Used {}, Requested {amount}. Please try again in {}.",
                    limit.name,
                    r.used,
                    fmt_duration(wait)
                ),
                "rate_limit_exceeded",
            )
        }
        None => (
            format!(
                "Request too large for {what} per {per} (limit `{}`): Limit {cap}, Requested {amount}. Reduce the prompt or the output length.",
                limit.name
            ),
            "request_too_large",
        ),
    };
    Reply {
        status: 429,
        headers,
        body: openai_error_body(&message, "tokens", code),
    }
}

fn missing_key_reply(limit: &Limit) -> Reply {
    let msg = format!(
        "This endpoint requires the client identity used by token limit `{}`.",
        limit.name
    );
    Reply {
        status: 401,
        headers: vec![("content-type".into(), "application/json".into())],
        body: openai_error_body(&msg, "invalid_request_error", "missing_client_identity"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::mem::MemStore;
    use crate::ledger::SharedLedger;

    fn cfg(j: &str) -> Config {
        Config::from_json(j.as_bytes()).unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn req<'a>(h: &'a dyn Fn(&str) -> Option<String>, prompt: u64) -> Request<'a> {
        Request {
            model: Some("gpt-4o"),
            provider: None,
            header: h,
            prompt_tokens: prompt,
            max_output_tokens: Some(50),
            headroom: 0,
        }
    }

    const CFG: &str = r#"{"limits":[{"name":"per-client","key":["header:x-client-id"],"window_seconds":60,
        "total_tokens":100,"prompt_tokens":60}]}"#;

    #[test]
    fn a_huge_max_tokens_cannot_wrap_the_reservation() {
        let c = cfg(&CFG.replace(
            r#""prompt_tokens":60}"#,
            r#""prompt_tokens":60,"reserve_output_tokens":true}"#,
        ));
        let l = SharedLedger::new(MemStore::default(), 1);
        let alice = |h: &str| (h == "x-client-id").then(|| "alice".to_owned());
        let huge = Request {
            max_output_tokens: Some(u64::MAX - 5),
            ..req(&alice, 20)
        };
        // 20 + (2^64 - 6) saturates: far over the total budget, refused (it would wrap to 14).
        let Decision::Reject(r) = admit(&c, &l, &huge, 1000) else {
            unreachable!()
        };
        assert_eq!(r.status, 429);
    }

    #[test]
    fn headroom_must_stay_left_but_is_not_reserved() {
        let c = cfg(CFG); // prompt budget 60
        let l = SharedLedger::new(MemStore::default(), 1);
        let alice = |h: &str| (h == "x-client-id").then(|| "alice".to_owned());
        let with_room = |room| Request {
            headroom: room,
            ..req(&alice, 20)
        };
        // 20 + 41 > 60: refused, and nothing stays reserved.
        let Decision::Reject(_) = admit(&c, &l, &with_room(41), 1000) else {
            unreachable!()
        };
        // 20 + 40 = 60: admitted, reserving 20 only — 40 are left.
        let Decision::Admit { headers, .. } = admit(&c, &l, &with_room(40), 1000) else {
            unreachable!()
        };
        assert!(headers.contains(&("x-ratelimit-remaining-prompt-tokens".into(), "40".into())));
    }

    #[test]
    fn admits_then_limits_with_openai_style_answer() {
        let c = cfg(CFG);
        let l = SharedLedger::new(MemStore::default(), 1);
        let alice = |h: &str| (h == "x-client-id").then(|| "alice".to_owned());
        let bob = |h: &str| (h == "x-client-id").then(|| "bob".to_owned());
        let Decision::Admit { charges, headers } = admit(&c, &l, &req(&alice, 40), 1000) else {
            unreachable!()
        };
        assert_eq!(charges.len(), 2);
        assert!(headers.contains(&("x-ratelimit-remaining-prompt-tokens".into(), "20".into())));
        assert!(headers.contains(&("x-ratelimit-remaining-tokens".into(), "60".into())));
        // Real usage: 40 prompt + 50 completion.
        settle(&l, &charges, Some(40), Some(90), 2000);
        let Decision::Reject(r) = admit(&c, &l, &req(&alice, 20), 3000) else {
            unreachable!()
        };
        assert_eq!(r.status, 429);
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
        assert_eq!(body["error"]["type"], "tokens");
        assert_eq!(body["error"]["code"], "rate_limit_exceeded");
        let h = |n: &str| {
            r.headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(h("retry-after").as_deref(), Some("59")); // slot 1 leaves at 62 s; now 3 s
        assert_eq!(h("x-ratelimit-remaining-tokens").as_deref(), Some("10"));
        // The prompt reservation made before the total check failed was refunded.
        let Decision::Admit { .. } = admit(&c, &l, &req(&bob, 60), 3000) else {
            unreachable!()
        };
        let Decision::Reject(_) = admit(&c, &l, &req(&alice, 11), 3000) else {
            unreachable!()
        };
        let Decision::Admit { .. } = admit(&c, &l, &req(&alice, 10), 63_000) else {
            unreachable!()
        };
    }

    #[test]
    fn prompt_larger_than_the_budget_is_too_large() {
        let c = cfg(CFG);
        let l = SharedLedger::new(MemStore::default(), 1);
        let alice = |_: &str| Some("alice".to_owned());
        let Decision::Reject(r) = admit(&c, &l, &req(&alice, 61), 1000) else {
            unreachable!()
        };
        assert!(r.body.contains("request_too_large"));
        assert!(!r.headers.iter().any(|(k, _)| k == "retry-after"));
    }

    #[test]
    fn missing_key_is_shared_or_rejected() {
        let none = |_: &str| None;
        let l = SharedLedger::new(MemStore::default(), 1);
        let shared = CFG.replace("]}", r#"],"missing_key":"shared"}"#);
        let Decision::Admit { charges, .. } = admit(&cfg(&shared), &l, &req(&none, 10), 1000)
        else {
            unreachable!()
        };
        assert_eq!(charges[0].key, "tollgate.rl.per-client.p\u{1f}_none");
        // The default refuses: nobody to charge.
        let Decision::Reject(r) = admit(&cfg(CFG), &l, &req(&none, 10), 1000) else {
            unreachable!()
        };
        assert_eq!(r.status, 401);
    }

    #[test]
    fn reserve_output_tokens() {
        let c = cfg(&CFG.replace("\"prompt_tokens\":60", "\"reserve_output_tokens\":true"));
        let l = SharedLedger::new(MemStore::default(), 1);
        let a = |_: &str| Some("a".to_owned());
        let Decision::Admit { charges, .. } = admit(&c, &l, &req(&a, 40), 1000) else {
            unreachable!()
        };
        assert_eq!(charges[0].amount, 90);
        let Decision::Reject(_) = admit(&c, &l, &req(&a, 40), 1000) else {
            unreachable!()
        };
    }

    #[test]
    fn durations() {
        assert_eq!(fmt_duration(120), "120ms");
        assert_eq!(fmt_duration(1500), "1.5s");
        assert_eq!(fmt_duration(59_000), "59s");
        assert_eq!(fmt_duration(360_000), "6m0s");
    }
}
