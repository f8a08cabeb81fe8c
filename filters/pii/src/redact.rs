//! What happens to a finding: placeholder, mask, hash, block or log only; and the per-request
//! vault that maps placeholders back to originals.

use crate::detect::{Detector, Finding};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The action for a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Reversible `<LABEL_n>`; the same value gets the same placeholder within a request.
    Placeholder,
    /// Keep the last `keep_last` characters, star the rest.
    Mask,
    /// `<LABEL:hash>`: salted SHA-256, stable across requests (for joins without the value).
    Hash,
    /// Refuse the request (400) naming the labels, never the values.
    Block,
    /// Dry run: count only.
    LogOnly,
}

impl Action {
    /// Name used in stats and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Placeholder => "placeholder",
            Action::Mask => "mask",
            Action::Hash => "hash",
            Action::Block => "block",
            Action::LogOnly => "log_only",
        }
    }
}

/// How findings are rewritten.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Label → action; labels not listed use `default_action`.
    pub actions: BTreeMap<String, Action>,
    /// Action for unlisted labels.
    pub default_action: Action,
    /// Characters kept by `mask`.
    pub keep_last: usize,
    /// Salt for `hash`.
    pub salt: String,
}

impl Policy {
    /// The action for `label`.
    pub fn action(&self, label: &str) -> Action {
        self.actions
            .get(label)
            .copied()
            .unwrap_or(self.default_action)
    }
}

/// Counts of findings per (label, action), for the audit trail. Never holds values.
pub type Audit = BTreeMap<(String, Action), u64>;

/// Placeholders issued for one request, and the originals they stand for.
#[derive(Debug, Default)]
pub struct Vault {
    by_value: BTreeMap<(String, String), String>,
    by_placeholder: BTreeMap<String, String>,
    next: BTreeMap<String, usize>,
    /// Placeholder-shaped strings the request itself contains: never issued, so never restored
    /// (a user who types `<EMAIL_1>` gets `<EMAIL_1>` back, not someone's address).
    taken: std::collections::BTreeSet<String>,
}

impl Vault {
    /// Notes every placeholder-shaped string (`<LABEL_n>`) in a text of the request, before any
    /// placeholder is issued.
    pub fn reserve_typed(&mut self, text: &str) {
        for (i, _) in text.match_indices('<') {
            let rest = text.get(i + 1..).unwrap_or_default();
            // Placeholders are short: look no further than 64 bytes (linear in the text).
            let Some(end) = rest.bytes().take(64).position(|b| b == b'>') else {
                continue;
            };
            let inner = rest.get(..end).unwrap_or_default();
            let shaped = inner.rsplit_once('_').is_some_and(|(l, n)| {
                !l.is_empty()
                    && l.bytes()
                        .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())
                    && !n.is_empty()
                    && n.bytes().all(|b| b.is_ascii_digit())
            });
            if shaped && self.taken.len() < 10_000 {
                self.taken.insert(format!("<{inner}>"));
            }
        }
    }

    fn placeholder(&mut self, label: &str, value: &str) -> String {
        if let Some(p) = self.by_value.get(&(label.to_owned(), value.to_owned())) {
            return p.clone();
        }
        let n = self.next.entry(label.to_owned()).or_insert(0);
        *n += 1;
        let mut p = format!("<{label}_{n}>");
        // Skip the numbers the request already uses literally (bounded by what it contains).
        while self.taken.contains(&p) {
            *n += 1;
            p = format!("<{label}_{n}>");
        }
        self.by_value
            .insert((label.to_owned(), value.to_owned()), p.clone());
        self.by_placeholder.insert(p.clone(), value.to_owned());
        p
    }

    /// True when no placeholder was issued.
    pub fn is_empty(&self) -> bool {
        self.by_placeholder.is_empty()
    }

    /// The original behind a placeholder.
    pub fn original(&self, placeholder: &str) -> Option<&str> {
        self.by_placeholder.get(placeholder).map(String::as_str)
    }

    /// Longest placeholder issued (bounds how much text a stream must hold back).
    pub fn max_len(&self) -> usize {
        self.by_placeholder
            .keys()
            .map(String::len)
            .max()
            .unwrap_or(0)
    }

    /// Replaces every issued placeholder in `text` by its original.
    pub fn restore(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find('<') {
            out.push_str(rest.get(..i).unwrap_or_default());
            let tail = rest.get(i..).unwrap_or_default();
            let hit = tail
                .find('>')
                .and_then(|j| tail.get(..=j))
                .and_then(|p| self.original(p).map(|o| (p.len(), o)));
            match hit {
                Some((n, orig)) => {
                    out.push_str(orig);
                    rest = tail.get(n..).unwrap_or_default();
                }
                None => {
                    out.push('<');
                    rest = tail.get(1..).unwrap_or_default();
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// Length of the shortest suffix of `text` that could still grow into an issued placeholder.
    pub fn pending_prefix_len(&self, text: &str) -> usize {
        let max = self.max_len();
        if max == 0 {
            return 0;
        }
        // Only a '<' within the last `max - 1` bytes can start an incomplete placeholder.
        let from = text.len().saturating_sub(max.saturating_sub(1));
        let mut i = from;
        while i < text.len() {
            if text.is_char_boundary(i) && text.as_bytes().get(i) == Some(&b'<') {
                let tail = text.get(i..).unwrap_or_default();
                if self
                    .by_placeholder
                    .keys()
                    .any(|p| p.len() > tail.len() && p.starts_with(tail))
                {
                    return text.len() - i;
                }
            }
            i += 1;
        }
        0
    }
}

fn mask(value: &str, keep_last: usize) -> String {
    let n = value.chars().count();
    value
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i + keep_last >= n || !c.is_alphanumeric() {
                c
            } else {
                '*'
            }
        })
        .collect()
}

fn hash(label: &str, value: &str, salt: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0u8]);
    h.update(value.as_bytes());
    let d = h.finalize();
    let hex: String = d.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("<{label}:{hex}>")
}

/// Outcome of redacting one text.
pub struct Redacted {
    /// The rewritten text (unchanged when nothing applied).
    pub text: String,
    /// Labels whose action is `block`.
    pub blocked: Vec<String>,
}

/// Detects and rewrites `text`; placeholders go to `vault`, counts to `audit`.
pub fn redact(
    det: &Detector,
    policy: &Policy,
    text: &str,
    vault: &mut Vault,
    audit: &mut Audit,
) -> Redacted {
    apply(det.scan(text), policy, text, Some(vault), audit)
}

/// Rewrites `text` for the given findings. Without a vault (answers), placeholders become masks.
pub fn apply(
    findings: Vec<Finding>,
    policy: &Policy,
    text: &str,
    mut vault: Option<&mut Vault>,
    audit: &mut Audit,
) -> Redacted {
    let mut out = String::with_capacity(text.len());
    let mut blocked = Vec::new();
    let mut last = 0;
    for f in findings {
        let value = text.get(f.start..f.end).unwrap_or_default();
        let mut action = policy.action(&f.label);
        if action == Action::Placeholder && vault.is_none() {
            action = Action::Mask;
        }
        *audit.entry((f.audit_label(), action)).or_insert(0) += 1;
        let replacement = match action {
            Action::Placeholder => vault.as_deref_mut().map(|v| v.placeholder(&f.label, value)),
            Action::Mask => Some(mask(value, policy.keep_last)),
            Action::Hash => Some(hash(&f.label, value, &policy.salt)),
            Action::Block => {
                blocked.push(f.label.clone());
                None
            }
            Action::LogOnly => None,
        };
        if let Some(r) = replacement {
            out.push_str(text.get(last..f.start).unwrap_or_default());
            out.push_str(&r);
            last = f.end;
        }
    }
    out.push_str(text.get(last..).unwrap_or_default());
    blocked.sort();
    blocked.dedup();
    Redacted { text: out, blocked }
}

/// `EMAIL:placeholder=2,SSN:block=1,SECRET.stripe:block=1` — the audit as one access-log field
/// (a `SECRET`'s vendor after a dot; never a value).
pub fn audit_summary(audit: &Audit) -> String {
    audit
        .iter()
        .map(|((l, a), n)| format!("{l}:{}={n}", a.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::BUILTIN;

    fn det() -> Detector {
        let all: Vec<String> = BUILTIN.iter().map(|(d, _)| (*d).to_owned()).collect();
        Detector::new(&all, &[], &[]).unwrap_or_else(|e| unreachable!("{e:?}"))
    }

    fn policy(actions: &[(&str, Action)]) -> Policy {
        Policy {
            actions: actions.iter().map(|(l, a)| ((*l).to_owned(), *a)).collect(),
            default_action: Action::Placeholder,
            keep_last: 4,
            salt: "s".into(),
        }
    }

    #[test]
    fn placeholders_are_stable_and_restorable() {
        let (mut v, mut a) = (Vault::default(), Audit::new());
        let text = "mail bob@x.io, again bob@x.io, or eve@x.io";
        let r = redact(&det(), &policy(&[]), text, &mut v, &mut a);
        assert_eq!(r.text, "mail <EMAIL_1>, again <EMAIL_1>, or <EMAIL_2>");
        assert_eq!(
            v.restore("Hi <EMAIL_2> and <EMAIL_1> <EMAIL_9> <"),
            "Hi eve@x.io and bob@x.io <EMAIL_9> <"
        );
        assert_eq!(a.get(&("EMAIL".into(), Action::Placeholder)), Some(&3));
        assert_eq!(audit_summary(&a), "EMAIL:placeholder=3");
    }

    #[test]
    fn mask_hash_block_log_only() {
        let p = policy(&[
            ("CREDIT_CARD", Action::Mask),
            ("SSN", Action::Block),
            ("PHONE", Action::LogOnly),
            ("EMAIL", Action::Hash),
        ]);
        let (mut v, mut a) = (Vault::default(), Audit::new());
        let r = redact(
            &det(),
            &p,
            "card 4111 1111 1111 1111 ssn 123-45-6789 tel 415-555-2671 a@b.io",
            &mut v,
            &mut a,
        );
        assert!(
            r.text
                .starts_with("card **** **** **** 1111 ssn 123-45-6789 tel 415-555-2671 <EMAIL:"),
            "{}",
            r.text
        );
        assert_eq!(r.blocked, vec!["SSN".to_owned()]);
        let again = redact(
            &det(),
            &p,
            "a@b.io",
            &mut Vault::default(),
            &mut Audit::new(),
        );
        assert!(r.text.ends_with(&again.text), "hash is stable");
    }

    #[test]
    fn pending_prefix() {
        let mut v = Vault::default();
        v.placeholder("EMAIL", "a@b.io");
        assert_eq!(v.pending_prefix_len("Hello <EMA"), 4);
        assert_eq!(v.pending_prefix_len("Hello <"), 1);
        assert_eq!(v.pending_prefix_len("Hello <EMAIL_1>"), 0);
        assert_eq!(v.pending_prefix_len("a < b"), 0);
        assert_eq!(v.pending_prefix_len("Hello <X"), 0);
    }

    #[test]
    fn obfuscated_texts_round_trip_and_spans_stay_on_boundaries() {
        // Deterministic pseudo-random texts from pieces the normaliser rewrites.
        let pieces = [
            "4111", " ", "-", "@", "[at]", "(dot)", " at ", " dot ", "\\u0040", "\\n", "\\", "%40",
            "\u{200B}", "\u{FEFF}", "４", "١", "०", "\u{00A0}", "\u{2013}", "＠", "john", ".",
            "com", "0151", "+49", "ssn ", "123", "45", "6789", "de89", "日本", "\u{202E}",
            "\\ud83d", "x",
        ];
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let d = det();
        for _ in 0..3000 {
            let mut t = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let n = (seed % 24) as usize;
            for _ in 0..n {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                t.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            let f = d.scan(&t);
            let mut end = 0;
            for x in &f {
                assert!(
                    x.start >= end && x.start < x.end && x.end <= t.len(),
                    "{t:?} {f:?}"
                );
                assert!(
                    t.is_char_boundary(x.start) && t.is_char_boundary(x.end),
                    "{t:?}"
                );
                end = x.end;
            }
            let mut v = Vault::default();
            v.reserve_typed(&t);
            let r = redact(&d, &policy(&[]), &t, &mut v, &mut Audit::new());
            assert_eq!(v.restore(&r.text), t, "round trip of {t:?}");
        }
    }
}
