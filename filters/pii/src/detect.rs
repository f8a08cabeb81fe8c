//! PII and secret detectors: one combined regex pass per text, then a validator per kind.
//!
//! The text is first normalised ([`crate::normalize`]: other-script digits, fullwidth forms,
//! zero-width characters, JSON escapes, `[at]`-style spellings); the detectors run on that view and
//! every finding is mapped back to the exact original byte span. The regexes find candidates;
//! validators decide (Luhn and brand ranges, SSN and ITIN issuing rules, IBAN length and mod-97,
//! IP ranges, per-country phone lengths and prefixes, MAC formats, vendor-secret formats and
//! entropy) and check the characters around a candidate, so that digits inside UUIDs, hashes,
//! versions, order numbers or timestamps do not count. Context rules (a phone word before a
//! national number, a CSV header or SQL column list naming the field) look at a bounded window:
//! the scan stays linear. Spans are exact next to non-Latin text: the regexes only use ASCII
//! classes (or explicit script ranges for emails) and boundaries are checked on the neighbouring
//! characters, not with Unicode `\b`.

use crate::normalize::{normalize, Normalized};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::Regex;
use std::cell::OnceCell;

/// What a finding is; built-in kinds have fixed labels, custom ones carry theirs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label(pub String);

/// Built-in detector names (as used in the config's `detectors` list) and their labels.
pub const BUILTIN: &[(&str, &str)] = &[
    ("email", "EMAIL"),
    ("phone", "PHONE"),
    ("credit_card", "CREDIT_CARD"),
    ("ssn", "SSN"),
    ("itin", "US_ITIN"),
    ("iban", "IBAN"),
    ("ipv4", "IP_ADDRESS"),
    ("ipv6", "IP_ADDRESS"),
    ("mac", "MAC_ADDRESS"),
    ("secret", "SECRET"),
];

/// One detected span (byte offsets into the scanned text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Start byte.
    pub start: usize,
    /// End byte (exclusive).
    pub end: usize,
    /// Label, e.g. `EMAIL`.
    pub label: String,
    /// Sub-kind for the audit counts (a `SECRET`'s vendor: `stripe`, `aws`, …), never the value.
    pub sub: Option<&'static str>,
}

impl Finding {
    /// The label as counted in the audit: `SECRET.stripe`, or the plain label.
    pub fn audit_label(&self) -> String {
        match self.sub {
            Some(s) => format!("{}.{s}", self.label),
            None => self.label.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pem,
    Jwt,
    AwsSecret,
    GenericSecret,
    Secret,
    Email,
    Iban,
    Card,
    Mac,
    Ipv6,
    Ipv4,
    Phone,
    Itin,
    Ssn,
    PhoneNational,
    Custom(usize),
}

impl Kind {
    fn detector(self) -> &'static str {
        match self {
            Kind::Pem | Kind::Jwt | Kind::Secret | Kind::AwsSecret | Kind::GenericSecret => {
                "secret"
            }
            Kind::Email => "email",
            Kind::Iban => "iban",
            Kind::Card => "credit_card",
            Kind::Mac => "mac",
            Kind::Ipv6 => "ipv6",
            Kind::Ipv4 => "ipv4",
            Kind::Phone | Kind::PhoneNational => "phone",
            Kind::Itin => "itin",
            Kind::Ssn => "ssn",
            Kind::Custom(_) => "custom",
        }
    }
}

// Candidate patterns, in priority order (earlier kinds win a tie at the same position).
/// A private key's first line. The key runs to the next end line ([`PEM_END`]): found by a lookup in
/// the end lines of the text, collected once per scan — a lazy `[\s\S]*?` up to the end line would
/// rescan the rest of the text after every unterminated header (quadratic).
const PEM: &str = r"-----BEGIN [A-Z ]*PRIVATE KEY-----";
const PEM_END: &str = r"-----END [A-Z ]*PRIVATE KEY-----";
const JWT: &str = r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}";
/// Vendor token formats. Sources (rule descriptions read, code our own): gitleaks' default rules
/// (`stripe-access-token`: `(sk|rk)_(test|live|prod)_` + 10–99 alphanumerics; `slack-bot-token`,
/// `slack-user-token`, `slack-app-token`: `xox[bpaes]-` digit groups; `gcp-api-key`: `AIza` + 35
/// of `[A-Za-z0-9_-]`; `github-pat`/`github-fine-grained-pat`: `ghp_` + 36, `github_pat_` + 82;
/// `aws-access-token`: `AKIA`/`ASIA` + 16 upper/digits) and detect-secrets' plugins of the same
/// vendors (`StripeDetector`, `SlackDetector`, `AWSKeyDetector`).
const SECRET: &str = concat!(
    r"sk-ant-[A-Za-z0-9_-]{20,}|sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}",
    r"|(?:sk|rk)_(?:live|test|prod)_[A-Za-z0-9]{10,99}",
    r"|xox[baprse]-[A-Za-z0-9-]{10,}",
    r"|AIza[A-Za-z0-9_-]{35}"
);
/// An AWS secret access key is 40 base64 characters with no prefix: only after its name
/// (gitleaks `aws-secret-access-key`-style context; detect-secrets `AWSKeyDetector`'s
/// `aws.{0,20}?['"]?[0-9a-zA-Z/+]{40}`), the value checked in [`aws_value`].
const AWS_SECRET: &str = concat!(
    r"(?i:aws_secret_access_key|aws-secret-access-key|aws secret access key|secretaccesskey)",
    r#"["']?[ \t]*(?::|=|:=|=>)[ \t]*["']?"#
);
/// Generic assignments of credentials (gitleaks `generic-api-key`: keyword, assignment, a value
/// with entropy), value checked in [`generic_value`].
const GENERIC_SECRET: &str = concat!(
    r"(?i:api[_-]?key|secret[_-]?key|client[_-]?secret|access[_-]?token|auth[_-]?token|private[_-]?token)",
    r#"["']?[ \t]*(?::|=|:=|=>)[ \t]*["']?"#
);
/// ASCII local parts and domains, or ones in a non-CJK script (Latin extended, Greek, Cyrillic,
/// Hebrew, Arabic, Devanagari, Thai), or CJK-only ones: an ASCII address glued to CJK text keeps
/// its exact span.
const EMAIL: &str = concat!(
    r"(?:[A-Za-z0-9._%+\-\x{C0}-\x{24F}\x{370}-\x{52F}\x{590}-\x{6FF}\x{900}-\x{97F}\x{E00}-\x{E7F}]+",
    r"|[\x{3040}-\x{30FF}\x{4E00}-\x{9FFF}\x{AC00}-\x{D7AF}]+)",
    r"@(?:[A-Za-z0-9\-\x{C0}-\x{24F}\x{370}-\x{52F}\x{590}-\x{6FF}\x{900}-\x{97F}\x{E00}-\x{E7F}]+",
    r"|[\x{3040}-\x{30FF}\x{4E00}-\x{9FFF}\x{AC00}-\x{D7AF}]+)",
    r"(?:\.(?:[A-Za-z0-9\-\x{C0}-\x{24F}\x{370}-\x{52F}\x{590}-\x{6FF}\x{900}-\x{97F}\x{E00}-\x{E7F}]+",
    r"|[\x{3040}-\x{30FF}\x{4E00}-\x{9FFF}\x{AC00}-\x{D7AF}]+))*",
    r"\.(?:[A-Za-z]{2,}|xn--[A-Za-z0-9-]{2,}|[\x{370}-\x{52F}\x{590}-\x{6FF}\x{900}-\x{97F}\x{E00}-\x{E7F}]{2,}|[\x{3040}-\x{30FF}\x{4E00}-\x{9FFF}\x{AC00}-\x{D7AF}]{2,})"
);
const IBAN: &str = r"[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,4})?";
const CARD: &str = r"[0-9](?:[ ._/-]?[0-9]){12,18}";
const MAC: &str = concat!(
    r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5}",
    r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}"
);
const IPV6: &str = concat!(
    r"(?:[0-9A-Fa-f]{0,4}:){2,6}[0-9]{1,3}(?:\.[0-9]{1,3}){3}",
    r"|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}"
);
const IPV4: &str = r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?:/[0-9]{1,2})?";
const PHONE: &str = concat!(
    r"(?:\+|00)[1-9][0-9]{0,3}(?:[ .-]?\(?[0-9]{1,4}\)?){2,6}",
    r"|\(?[2-9][0-9]{2}\)?[ .-]?[2-9][0-9]{2}[ .-][0-9]{4}"
);
/// National formats (validated against [`NATIONAL`]): 6+ digits with single separators, or a
/// Brazilian `(DD)` area code. No nested counted repetitions: counted repetitions of digit groups
/// multiply the lazy DFA's states and halve the scan speed. Lengths and groupings
/// are checked by the validator (which also retries without trailing groups).
const PHONE_NATIONAL: &str = r"\(0?[1-9][0-9]\) ?[0-9]+(?:[ -][0-9]+)*|[0-9](?:[ ./-]?[0-9]){5,}";
const ITIN: &str = r"9[0-9]{2}-[0-9]{2}-[0-9]{4}|9[0-9]{2} [0-9]{2} [0-9]{4}|9[0-9]{8}";
const SSN: &str = concat!(
    r"[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4}|[0-9]{3}\.[0-9]{2}\.[0-9]{4}",
    r"|[0-9]{3}_[0-9]{2}_[0-9]{4}|[0-9]{3}/[0-9]{2}/[0-9]{4}|[0-9]{9}"
);

/// Words that must appear shortly before a 9-digit number without separators for it to be an SSN.
const SSN_CONTEXT: &[&str] = &[
    "ssn",
    "social security",
    "social-security",
    "ss#",
    "ss #",
    "tax id",
    "taxpayer",
];

/// Words before a 9-digit number without separators that make it an ITIN.
const ITIN_CONTEXT: &[&str] = &["itin", "taxpayer", "tax id", "tin"];

/// Words shortly before a national-format number that make it a phone number (several languages).
const PHONE_CONTEXT: &[&str] = &[
    "phone",
    "tel",
    "call",
    "mobile",
    "cell",
    "fax",
    "whatsapp",
    "sms",
    "ring",
    "handy",
    "telefon",
    "mobil",
    "rufnummer",
    "tél",
    "portable",
    "teléfono",
    "telefono",
    "celular",
    "fone",
    "contato",
    "contact",
    "number",
    "電話",
    "携帯",
    "电话",
    "手机",
    "전화",
    "휴대폰",
    "फ़ोन",
    "फोन",
    "मोबाइल",
    "номер",
    "телефон",
];

/// Words right before a number that make it a product, part or article number (never PII).
const PRODUCT_CONTEXT: &[&str] = &[
    "sku", "ean", "gtin", "isbn", "upc", "part", "part no", "p/n", "model", "item", "art",
    "artikel", "art.-nr", "serial", "s/n", "order", "invoice", "ticket", "build", "version",
];

/// A user-defined regex detector.
pub struct CustomRegex {
    /// Label of its findings.
    pub label: String,
    /// Pattern.
    pub regex: String,
}

/// A user-defined dictionary (case-insensitive, whole words).
pub struct Dictionary {
    /// Label of its findings.
    pub label: String,
    /// Terms.
    pub terms: Vec<String>,
}

/// The compiled detectors.
pub struct Detector {
    /// All kinds in one alternation: finds the next position where any kind may start.
    combined: Regex,
    /// Each kind anchored (`^(?:…)`), in priority order, run only at a candidate position.
    anchored: Vec<(Kind, Regex)>,
    custom_labels: Vec<String>,
    dict: Option<(AhoCorasick, Vec<String>)>,
    pem_end: Regex,
    values: Regex,
}

/// A detector configuration error (names the offending item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectError {
    /// Field path, e.g. `custom[1].regex`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Per-scan lazily computed context (each computed at most once per scan: linear).
struct Ctx<'a> {
    text: &'a str,
    /// The CSV header: delimiter and lower-case column names (first line of the text).
    header: OnceCell<Option<(char, Vec<String>)>>,
    /// Positions just after each SQL `VALUES` keyword.
    values: OnceCell<Vec<usize>>,
    values_re: &'a Regex,
}

impl Detector {
    /// Compiles the enabled built-in detectors (by name), custom regexes and dictionaries.
    pub fn new(
        enabled: &[String],
        custom: &[CustomRegex],
        dicts: &[Dictionary],
    ) -> Result<Self, DetectError> {
        let on = |d: &str| enabled.iter().any(|e| e == d);
        let mut kinds: Vec<(Kind, String)> = Vec::new();
        let builtin = [
            (Kind::Pem, PEM),
            (Kind::Jwt, JWT),
            (Kind::AwsSecret, AWS_SECRET),
            (Kind::GenericSecret, GENERIC_SECRET),
            (Kind::Secret, SECRET),
            (Kind::Email, EMAIL),
            (Kind::Iban, IBAN),
            (Kind::Card, CARD),
            (Kind::Mac, MAC),
            (Kind::Ipv6, IPV6),
            (Kind::Ipv4, IPV4),
            (Kind::Phone, PHONE),
            (Kind::Itin, ITIN),
            (Kind::Ssn, SSN),
            (Kind::PhoneNational, PHONE_NATIONAL),
        ];
        for (k, p) in builtin {
            if on(k.detector()) {
                kinds.push((k, p.to_owned()));
            }
        }
        let mut custom_labels = Vec::new();
        for (i, c) in custom.iter().enumerate() {
            Regex::new(&c.regex).map_err(|e| DetectError {
                field: format!("custom[{i}].regex"),
                message: e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("invalid regex")
                    .to_owned(),
            })?;
            // Custom detectors come first: the user's rules win over the built-in ones.
            kinds.insert(custom_labels.len(), (Kind::Custom(i), c.regex.clone()));
            custom_labels.push(c.label.clone());
        }
        let compile = |p: &str| {
            Regex::new(p).map_err(|e| DetectError {
                field: "custom".into(),
                message: e.to_string(),
            })
        };
        let alternation: Vec<String> = kinds.iter().map(|(_, p)| format!("(?:{p})")).collect();
        // `[^\s\S]` never matches: no detector enabled.
        // A larger lazy-DFA cache than the default: the alternation of every kind has many states,
        // and a cache that keeps being cleared falls back to a slower engine.
        let combined = regex::RegexBuilder::new(&if alternation.is_empty() {
            "[^\\s\\S]".to_owned()
        } else {
            alternation.join("|")
        })
        .dfa_size_limit(8 << 20)
        .build()
        .map_err(|e| DetectError {
            field: "custom".into(),
            message: e.to_string(),
        })?;
        let anchored = kinds
            .iter()
            .map(|(k, p)| compile(&format!("^(?:{p})")).map(|r| (*k, r)))
            .collect::<Result<_, _>>()?;
        let mut terms = Vec::new();
        let mut term_labels = Vec::new();
        for (i, d) in dicts.iter().enumerate() {
            for (j, t) in d.terms.iter().enumerate() {
                if t.trim().is_empty() {
                    return Err(DetectError {
                        field: format!("dictionaries[{i}].terms[{j}]"),
                        message: "empty term".into(),
                    });
                }
                terms.push(t.clone());
                term_labels.push(d.label.clone());
            }
        }
        let dict = if terms.is_empty() {
            None
        } else {
            let ac = AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostLongest)
                .build(&terms)
                .map_err(|e| DetectError {
                    field: "dictionaries".into(),
                    message: e.to_string(),
                })?;
            Some((ac, term_labels))
        };
        Ok(Self {
            combined,
            anchored,
            custom_labels,
            dict,
            pem_end: compile(PEM_END)?,
            values: compile(r"(?i-u:\bvalues\b)")?,
        })
    }

    fn label(&self, k: Kind) -> String {
        match k {
            Kind::Custom(i) => self.custom_labels.get(i).cloned().unwrap_or_default(),
            Kind::Pem | Kind::Jwt | Kind::Secret | Kind::AwsSecret | Kind::GenericSecret => {
                "SECRET".into()
            }
            Kind::Email => "EMAIL".into(),
            Kind::Iban => "IBAN".into(),
            Kind::Card => "CREDIT_CARD".into(),
            Kind::Mac => "MAC_ADDRESS".into(),
            Kind::Ipv6 | Kind::Ipv4 => "IP_ADDRESS".into(),
            Kind::Phone | Kind::PhoneNational => "PHONE".into(),
            Kind::Itin => "US_ITIN".into(),
            Kind::Ssn => "SSN".into(),
        }
    }

    /// All findings in `text`, sorted, non-overlapping, as original byte spans. The detectors run
    /// on the normalised view of the text when it differs from the text.
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        match normalize(text) {
            None => self.scan_view(text),
            Some(n) => map_back(text, &n, self.scan_view(&n.text)),
        }
    }

    /// All findings in `text` as it is (no normalisation).
    fn scan_view(&self, text: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        let mut pos = 0;
        let ctx = Ctx {
            text,
            header: OnceCell::new(),
            values: OnceCell::new(),
            values_re: &self.values,
        };
        let skip_words = self.custom_labels.is_empty();
        // Private keys' end lines, collected at the first key header (one linear pass).
        let mut pem_ends: Option<Vec<(usize, usize)>> = None;
        // The combined regex finds the next candidate with its fast DFA; only at a candidate do
        // the anchored per-kind regexes run, in priority order, until a validator accepts one.
        while let Some(m) = self.combined.find_at(text, pos) {
            let start = m.start();
            let rest = text.get(start..).unwrap_or_default();
            let first = rest.as_bytes().first().copied().unwrap_or(0);
            let found = self.anchored.iter().find_map(|(k, re)| {
                if !may_start(*k, rest.as_bytes()) {
                    return None;
                }
                let mm = re.find(rest)?;
                let head_end = start + mm.end();
                if *k == Kind::Pem {
                    let ends = pem_ends.get_or_insert_with(|| {
                        self.pem_end
                            .find_iter(text)
                            .map(|e| (e.start(), e.end()))
                            .collect()
                    });
                    let i = ends.partition_point(|(s, _)| *s < head_end);
                    return ends.get(i).map(|(_, e)| (start, *e, *k, Some("pem")));
                }
                validate(*k, &ctx, start, head_end).map(|(s, e, sub)| (s, e, *k, sub))
            });
            match found {
                Some((s, e, k, sub)) => {
                    out.push(Finding {
                        start: s,
                        end: e,
                        label: self.label(k),
                        sub,
                    });
                    pos = e.max(next_char(text, start));
                }
                None => {
                    pos = next_char(text, start);
                    // Every built-in kind refuses a start glued to a letter/digit before it: no
                    // later start inside the same ASCII word can succeed (custom regexes can).
                    if skip_words && word(Some(char::from(first))) {
                        while text
                            .as_bytes()
                            .get(pos)
                            .is_some_and(|b| word(Some(char::from(*b))))
                        {
                            pos += 1;
                        }
                    }
                }
            }
            if pos > text.len() {
                break;
            }
        }
        if let Some((ac, labels)) = &self.dict {
            for m in ac.find_iter(text) {
                let before = text.get(..m.start()).and_then(|s| s.chars().next_back());
                let after = text.get(m.end()..).and_then(|s| s.chars().next());
                let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                if !word(before) && !word(after) {
                    let label = labels
                        .get(m.pattern().as_usize())
                        .cloned()
                        .unwrap_or_default();
                    out.push(Finding {
                        start: m.start(),
                        end: m.end(),
                        label,
                        sub: None,
                    });
                }
            }
        }
        out.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
        let mut merged: Vec<Finding> = Vec::with_capacity(out.len());
        for f in out {
            if merged.last().is_none_or(|l| f.start >= l.end) {
                merged.push(f);
            }
        }
        merged
    }
}

/// Whether kind `k` can match at the start of `r` — a cheap look at its first bytes, so that the
/// anchored regexes that cannot match are not run (most candidates are digit runs).
fn may_start(k: Kind, r: &[u8]) -> bool {
    let at = |i: usize| r.get(i).copied().unwrap_or(0);
    let b = at(0);
    let lower = |w: &[u8]| r.get(..w.len()).is_some_and(|h| h.eq_ignore_ascii_case(w));
    match k {
        Kind::Custom(_) => true,
        Kind::Pem => b == b'-',
        Kind::Jwt => r.starts_with(b"eyJ"),
        Kind::AwsSecret => lower(b"aws") || lower(b"secretaccesskey"),
        Kind::GenericSecret => [
            &b"api"[..],
            b"secret",
            b"client",
            b"access",
            b"auth",
            b"private",
        ]
        .iter()
        .any(|w| lower(w)),
        Kind::Secret => [
            &b"sk"[..],
            b"rk_",
            b"AKIA",
            b"ASIA",
            b"AIza",
            b"gh",
            b"github_pat_",
            b"xox",
        ]
        .iter()
        .any(|w| r.starts_with(w)),
        // An `@` ends the local part (at most 64 bytes on).
        Kind::Email => {
            r.iter()
                .take(65)
                .find(|c| !(**c >= 0x80 || c.is_ascii_alphanumeric() || b"._%+-".contains(*c)))
                == Some(&b'@')
        }
        Kind::Iban => {
            b.is_ascii_alphabetic()
                && at(1).is_ascii_alphabetic()
                && at(2).is_ascii_digit()
                && at(3).is_ascii_digit()
        }
        Kind::Card => b.is_ascii_digit() && digit_run(r, b" ._/-") >= 13,
        Kind::Ipv4 => b.is_ascii_digit() && r.iter().take(4).any(|c| *c == b'.'),
        Kind::Ssn => {
            b.is_ascii_digit()
                && (b"- ._/".contains(&at(3)) || r.iter().take(9).all(u8::is_ascii_digit))
        }
        Kind::Itin => b == b'9',
        Kind::Mac => b.is_ascii_hexdigit() && (matches!(at(2), b':' | b'-') || at(4) == b'.'),
        Kind::Ipv6 => (b.is_ascii_hexdigit() || b == b':') && r.iter().take(5).any(|c| *c == b':'),
        Kind::Phone => {
            b == b'+'
                || b == b'('
                || r.starts_with(b"00")
                || (matches!(b, b'2'..=b'9') && digit_run(r, b" .-()") >= 10)
        }
        Kind::PhoneNational => b == b'(' || (b.is_ascii_digit() && digit_run(r, b" ./-") >= 6),
    }
}

/// Digits at the start of `r` counting through single separators of `seps` (first 40 bytes).
fn digit_run(r: &[u8], seps: &[u8]) -> usize {
    let mut n = 0;
    let mut prev_sep = false;
    for c in r.iter().take(40) {
        if c.is_ascii_digit() {
            n += 1;
            prev_sep = false;
        } else if seps.contains(c) && !prev_sep {
            prev_sep = true;
        } else {
            break;
        }
    }
    n
}

/// Maps findings in the normalised view back to original spans (kept sorted and disjoint).
fn map_back(text: &str, n: &Normalized, found: Vec<Finding>) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::with_capacity(found.len());
    for f in found {
        let floor = out.last().map_or(0, |l| l.end);
        if let Some((s, e)) = n.span(text, f.start, f.end, floor) {
            if s >= floor && e > s {
                out.push(Finding {
                    start: s,
                    end: e,
                    ..f
                });
            }
        }
    }
    out
}

fn next_char(text: &str, i: usize) -> usize {
    text.get(i..)
        .and_then(|s| s.chars().next())
        .map_or(i + 1, |c| i + c.len_utf8())
}

fn before(text: &str, i: usize) -> Option<char> {
    text.get(..i).and_then(|s| s.chars().next_back())
}

fn after(text: &str, i: usize) -> Option<char> {
    text.get(i..).and_then(|s| s.chars().next())
}

fn digits(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

fn word(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The candidate continues into what precedes it: a letter/digit, or one of `joiners` that itself
/// follows a letter/digit (`v1.2`, `ORD-415`), so a sentence's `(` or `, ` does not count.
fn glued_before(text: &str, s: usize, joiners: &str) -> bool {
    let b = before(text, s);
    word(b)
        || b.is_some_and(|c| {
            joiners.contains(c) && word(before(text, s.saturating_sub(c.len_utf8())))
        })
}

/// The candidate continues into what follows it (a letter/digit, or a joiner then one): a
/// sentence's final `.` does not count, `.5` or `-x` does.
fn glued_after(text: &str, e: usize, joiners: &str) -> bool {
    let a = after(text, e);
    word(a) || a.is_some_and(|c| joiners.contains(c) && word(after(text, e + c.len_utf8())))
}

/// Up to `n` bytes before `s` (from a character boundary), lower-cased.
fn window(text: &str, s: usize, n: usize) -> String {
    let mut start = s.saturating_sub(n);
    while start < s && !text.is_char_boundary(start) {
        start += 1;
    }
    text.get(start..s).unwrap_or_default().to_lowercase()
}

/// One of `words` occurs in the `n` bytes before `s`; an ASCII word must start a word (`tel` in
/// "Tel.", "telephone", not in "hotel"; `tin` not in "meeting").
fn context(text: &str, s: usize, n: usize, words: &[&str]) -> bool {
    let w = window(text, s, n);
    words.iter().any(|x| has_word(&w, x))
}

fn has_word(hay: &str, word: &str) -> bool {
    if !word.is_ascii() {
        return hay.contains(word);
    }
    hay.match_indices(word).any(|(i, _)| {
        !hay.get(..i)
            .and_then(|h| h.chars().next_back())
            .is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// The text right before `s` ends with a product/part/version word (`SKU 4006381333931`,
/// `APP_VERSION=11.11.56.183`), separators allowed in between.
fn product_before(text: &str, s: usize) -> bool {
    let w = window(text, s, 24);
    let t = w.trim_end_matches(|c: char| " \t:#=.-_'\"".contains(c));
    PRODUCT_CONTEXT.iter().any(|p| {
        t.ends_with(p)
            && !t
                .get(..t.len().saturating_sub(p.len()))
                .and_then(|h| h.chars().next_back())
                .is_some_and(char::is_alphabetic)
    }) || t.ends_with("_version")
        || t.ends_with("_ver")
        || t.ends_with("-version")
}

impl Ctx<'_> {
    /// The lower-case name of the CSV column or SQL `VALUES` field the candidate at `s` is in.
    fn column(&self, s: usize) -> Option<String> {
        self.sql_column(s).or_else(|| self.csv_column(s))
    }

    fn csv_column(&self, s: usize) -> Option<String> {
        let header = self
            .header
            .get_or_init(|| {
                let first = self.text.get(..self.text.find('\n')?)?;
                if first.len() > 1024 {
                    return None;
                }
                let delim = [',', ';', '\t', '|']
                    .into_iter()
                    .find(|d| first.contains(*d))?;
                Some((
                    delim,
                    first
                        .split(delim)
                        .map(|c| c.trim().trim_matches('"').to_lowercase())
                        .collect(),
                ))
            })
            .as_ref()?;
        let (delim, names) = header;
        // The candidate's line, at most 1 KiB back (bounded per candidate).
        let back = window_raw(self.text, s, 1024);
        let line_start = back.rfind('\n')?;
        let line = back.get(line_start + 1..)?;
        let idx = line.matches(*delim).count();
        names.get(idx).cloned()
    }

    fn sql_column(&self, s: usize) -> Option<String> {
        let values = self.values.get_or_init(|| {
            self.values_re
                .find_iter(self.text)
                .map(|m| m.end())
                .collect()
        });
        let i = values.partition_point(|v| *v <= s);
        let v = *values.get(i.checked_sub(1)?)?;
        if s.saturating_sub(v) > 2048 {
            return None;
        }
        // Field index inside the current tuple (quotes respected).
        let seg = self.text.get(v..s)?;
        let (mut depth, mut idx, mut quote) = (0u32, 0usize, None::<char>);
        for c in seg.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '(') => {
                    depth = depth.saturating_add(1);
                    if depth == 1 {
                        idx = 0;
                    }
                }
                (None, ')') => depth = depth.saturating_sub(1),
                (None, ',') if depth == 1 => idx += 1,
                _ => {}
            }
        }
        if depth != 1 {
            return None;
        }
        // The column list: the last `( … )` before `VALUES`, at most 512 bytes back.
        let head = window_raw(self.text, v.saturating_sub(6), 512);
        let close = head.rfind(')')?;
        if !head.get(close + 1..)?.trim().is_empty() {
            return None;
        }
        let open = head.get(..close)?.rfind('(')?;
        let list = head.get(open + 1..close)?;
        list.split(',').nth(idx).map(|c| {
            c.trim()
                .trim_matches(|c| "`\"[]".contains(c))
                .to_lowercase()
        })
    }
}

/// Up to `n` bytes before `s` (from a character boundary), as they are.
fn window_raw(text: &str, s: usize, n: usize) -> &str {
    let mut start = s.saturating_sub(n);
    while start < s && !text.is_char_boundary(start) {
        start += 1;
    }
    text.get(start..s).unwrap_or_default()
}

/// Column names that say what a field holds (a word of the name starts with one of `what`:
/// `phone_number`, `cellphone`, `tel`; not `hotel`).
fn column_says(col: &str, what: &[&str]) -> bool {
    what.iter()
        .any(|w| has_word(col, w) || col.split('_').any(|p| p.starts_with(w)))
}

const PHONE_COLUMNS: &[&str] = &["phone", "tel", "mobile", "cell", "fax", "msisdn"];

type Hit = (usize, usize, Option<&'static str>);

/// Validates a candidate; may trim or move it (an unbalanced bracket; a secret's value after its
/// name). Returns the final span and the sub-kind.
fn validate(k: Kind, ctx: &Ctx<'_>, s: usize, e: usize) -> Option<Hit> {
    let text = ctx.text;
    let cand = text.get(s..e)?;
    let free = |joiners: &str| !glued_before(text, s, joiners) && !glued_after(text, e, joiners);
    let ok = match k {
        Kind::Custom(_) | Kind::Pem => true,
        Kind::Jwt => return free("-").then_some((s, e, Some("jwt"))),
        Kind::Secret => return secret(text, s, e, cand),
        Kind::AwsSecret => {
            return (!glued_before(text, s, ""))
                .then(|| aws_value(text, e))
                .flatten()
        }
        Kind::GenericSecret => {
            return (!glued_before(text, s, ""))
                .then(|| generic_value(text, e))
                .flatten()
        }
        Kind::Email => free(".%+-") && !cand.starts_with('.'),
        Kind::Iban => free("") && iban_ok(cand),
        Kind::Card => {
            free("-./:") && !iban_before(text, s) && !product_before(text, s) && card_ok(cand)
        }
        Kind::Mac => free(":-.") && mac_ok(text, s, cand),
        Kind::Ipv6 => free(":.") && ipv6_ok(cand),
        Kind::Ipv4 => return ipv4(text, s, e),
        Kind::Phone => return phone(text, s, e).map(|(a, b)| (a, b, None)),
        Kind::PhoneNational => return phone_national(ctx, s, e).map(|(a, b)| (a, b, None)),
        Kind::Itin => free("-./:") && itin_ok(ctx, s, cand),
        Kind::Ssn => free("-./:") && ssn_ok(ctx, s, cand),
    };
    ok.then_some((s, e, None))
}

/// Vendor tokens: format checks beyond the regex, and the vendor sub-kind.
fn secret(text: &str, s: usize, e: usize, cand: &str) -> Option<Hit> {
    if glued_before(text, s, "-") {
        return None;
    }
    let sub = if cand.starts_with("AIza") {
        // Exactly 39 characters: the class includes `-`, so only a word or `-` after it refuses.
        if word(after(text, e)) || after(text, e) == Some('-') {
            return None;
        }
        Some("google")
    } else {
        if glued_after(text, e, "-") {
            return None;
        }
        if cand.starts_with("sk_") || cand.starts_with("rk_") {
            Some("stripe")
        } else if cand.starts_with("xox") {
            // Slack tokens are dash-separated groups, the first of digits.
            let groups: Vec<&str> = cand.split('-').collect();
            if groups.len() < 3
                || !groups
                    .get(1)
                    .is_some_and(|g| g.len() >= 8 && g.bytes().all(|b| b.is_ascii_digit()))
            {
                return None;
            }
            Some("slack")
        } else if cand.starts_with("gh") || cand.starts_with("github_pat_") {
            Some("github")
        } else if cand.starts_with("AKIA") || cand.starts_with("ASIA") {
            Some("aws")
        } else {
            // OpenAI/Anthropic keys keep the plain `SECRET` audit label (existing dashboards).
            None
        }
    };
    Some((s, e, sub))
}

/// Shannon entropy in bits per character.
fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 128];
    let mut n = 0u32;
    for b in s.bytes() {
        if let Some(c) = counts.get_mut(usize::from(b & 0x7f)) {
            *c = c.saturating_add(1);
            n = n.saturating_add(1);
        }
    }
    if n == 0 {
        return 0.0;
    }
    let n = f64::from(n);
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.log2()
        })
        .sum()
}

fn base64ish(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'/' | b'+' | b'=')
}

/// An AWS secret access key after its name: 40 base64 characters, possibly wrapped once over a
/// line break (`\n`, optionally indented), with entropy ≥ 3.5 bits/char and mixed classes.
fn aws_value(text: &str, v: usize) -> Option<Hit> {
    let b = text.as_bytes();
    let mut i = v;
    let mut n = 0;
    let mut breaks = 0;
    let mut value = String::with_capacity(40);
    while n < 40 {
        match b.get(i) {
            Some(&c) if base64ish(c) => {
                value.push(char::from(c));
                n += 1;
                i += 1;
            }
            Some(b'\r' | b'\n') if n > 0 && breaks == 0 => {
                breaks += 1;
                i += 1;
                if b.get(i - 1) == Some(&b'\r') && b.get(i) == Some(&b'\n') {
                    i += 1;
                }
                let mut k = 0;
                while k < 16 && matches!(b.get(i), Some(b' ' | b'\t')) {
                    i += 1;
                    k += 1;
                }
            }
            _ => return None,
        }
    }
    if b.get(i).is_some_and(|c| base64ish(*c)) {
        return None;
    }
    let classes = [
        value.bytes().any(|c| c.is_ascii_uppercase()),
        value.bytes().any(|c| c.is_ascii_lowercase()),
        value.bytes().any(|c| c.is_ascii_digit()),
    ];
    (entropy(&value) >= 3.5 && classes.iter().filter(|x| **x).count() >= 2).then_some((
        v,
        i,
        Some("aws"),
    ))
}

/// A generic credential value after its name: 16–128 token characters, letters and digits,
/// entropy ≥ 3.5 bits/char; placeholders such as `YOUR_API_KEY` fail.
fn generic_value(text: &str, v: usize) -> Option<Hit> {
    let rest = text.get(v..)?;
    let len = rest
        .bytes()
        .take(129)
        .take_while(|c| {
            c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'/' | b'+' | b'=' | b'.')
        })
        .count();
    if !(16..=128).contains(&len) {
        return None;
    }
    let val = rest.get(..len)?.trim_end_matches('.');
    let has = |f: fn(&u8) -> bool| val.as_bytes().iter().any(f);
    (has(u8::is_ascii_digit) && has(u8::is_ascii_alphabetic) && entropy(val) >= 3.5).then_some((
        v,
        v + val.len(),
        Some("generic"),
    ))
}

fn luhn(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            let x = u32::from(x);
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 {
                    y - 9
                } else {
                    y
                }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The candidate continues the groups of an IBAN (`DE89 3704 …`, any case): the digits of an
/// invalid IBAN are neither a card nor a phone. Looks at most 48 bytes back.
fn iban_before(text: &str, s: usize) -> bool {
    let w = window_raw(text, s, 48);
    let Some(w) = w.strip_suffix(' ').or((!w.is_empty()).then_some(w)) else {
        return false;
    };
    for tok in w.rsplit(' ') {
        let b = tok.as_bytes();
        if b.len() == 4
            && b.iter().take(2).all(u8::is_ascii_alphabetic)
            && b.iter().skip(2).all(u8::is_ascii_digit)
        {
            return true;
        }
        if b.len() != 4 || !b.iter().all(u8::is_ascii_alphanumeric) {
            return false;
        }
    }
    false
}

fn card_ok(cand: &str) -> bool {
    // Separators must be consistent (one kind), and groups shaped like a card's: fours (the last
    // may be shorter), or Amex/Diners 4-6-5 / 4-6-4.
    let seps: Vec<char> = cand.chars().filter(|c| !c.is_ascii_digit()).collect();
    if let Some(first) = seps.first() {
        if seps.iter().any(|c| c != first) {
            return false;
        }
        let groups: Vec<usize> = cand.split(*first).map(str::len).collect();
        let fours = groups.len() >= 2
            && groups.iter().rev().skip(1).all(|g| *g == 4)
            && groups.last().is_some_and(|g| (1..=4).contains(g));
        let amex = matches!(groups.as_slice(), [4, 6, 5] | [4, 6, 4]);
        if !(fours || amex) {
            return false;
        }
    }
    let d = digits(cand);
    let n = d.len();
    let prefix = |k: usize| {
        d.iter()
            .take(k)
            .fold(0u32, |acc, x| acc * 10 + u32::from(*x))
    };
    let brand = match (prefix(1), prefix(2), prefix(3), prefix(4), prefix(6)) {
        (4, ..) => matches!(n, 13 | 16 | 19),                // Visa
        (_, 51..=55, ..) => n == 16,                         // Mastercard
        (_, _, _, 2221..=2720, _) => n == 16,                // Mastercard 2-series
        (_, _, _, 2200..=2204, _) => (16..=19).contains(&n), // Mir
        (_, 34 | 37, ..) => n == 15,                         // Amex
        (_, _, _, 6011, _) | (_, 65, ..) | (_, _, 644..=649, ..) => (16..=19).contains(&n), // Discover
        (_, 62, ..) | (_, 81, ..) => (16..=19).contains(&n), // UnionPay (incl. 622126–622925 Discover co-brand)
        (_, _, _, 3528..=3589, _) => (16..=19).contains(&n), // JCB
        (_, _, 300..=305, ..) | (_, _, _, 3095, _) | (_, 36 | 38 | 39, ..) => {
            (14..=19).contains(&n)
        } // Diners
        (_, 50 | 56..=58 | 67, ..) | (_, _, _, 6304, _) | (_, _, 639, ..) => (13..=19).contains(&n), // Maestro
        _ => false,
    };
    brand && luhn(&d)
}

fn area_group_serial(cand: &str) -> Option<(u32, u32, u32)> {
    let d = digits(cand);
    if d.len() != 9 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| {
        d.get(r)
            .map(|x| x.iter().fold(0u32, |a, v| a * 10 + u32::from(*v)))
    };
    Some((num(0..3)?, num(3..5)?, num(5..9)?))
}

fn ssn_ok(ctx: &Ctx<'_>, s: usize, cand: &str) -> bool {
    let Some((area, group, serial)) = area_group_serial(cand) else {
        return false;
    };
    if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
        return false;
    }
    if cand.len() == 9 {
        // Nine bare digits are too common (order numbers, ids): require an SSN word just before,
        // or a CSV/SQL column named like one. The 40 bytes before (never the whole prefix).
        return context(ctx.text, s, 40, SSN_CONTEXT)
            || ctx
                .column(s)
                .is_some_and(|c| column_says(&c, &["ssn", "social"]));
    }
    true
}

/// US ITIN (IRS): `9XX-XX-XXXX` with the middle group 50–65, 70–88, 90–92 or 94–99.
fn itin_ok(ctx: &Ctx<'_>, s: usize, cand: &str) -> bool {
    let Some((area, group, _)) = area_group_serial(cand) else {
        return false;
    };
    if !(900..=999).contains(&area) || !matches!(group, 50..=65 | 70..=88 | 90..=92 | 94..=99) {
        return false;
    }
    if cand.len() == 9 {
        return context(ctx.text, s, 40, ITIN_CONTEXT)
            || ctx
                .column(s)
                .is_some_and(|c| column_says(&c, &["itin", "tin", "tax"]));
    }
    true
}
/// Per-country IBAN lengths (ISO 13616 registry).
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SC", 31),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
];

fn iban_ok(cand: &str) -> bool {
    let compact: String = cand
        .chars()
        .filter(|c| *c != ' ')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let Some(want) = IBAN_LENGTHS
        .iter()
        .find(|(c, _)| compact.starts_with(c))
        .map(|(_, n)| *n)
    else {
        return false;
    };
    if compact.len() != want {
        return false;
    }
    // Move the first four characters to the end, letters to numbers, mod 97 must be 1.
    let rearranged = compact
        .get(4..)
        .unwrap_or_default()
        .chars()
        .chain(compact.chars().take(4));
    let mut rem: u32 = 0;
    for c in rearranged {
        let v = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// Dotted quads (octets ≤ 255, no leading zeros), optionally with a CIDR suffix `/0`–`/32`; not
/// after a version/build key (`APP_VERSION=11.11.56.183`).
fn ipv4(text: &str, s: usize, e: usize) -> Option<Hit> {
    let cand = text.get(s..e)?;
    let (addr, cidr) = match cand.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (cand, None),
    };
    let end = if cidr.is_some_and(|p| p.parse::<u8>().is_ok_and(|v| v <= 32)) {
        e
    } else {
        s + addr.len()
    };
    let ok = addr
        .split('.')
        .all(|o| o.parse::<u16>().is_ok_and(|v| v <= 255) && !(o.len() > 1 && o.starts_with('0')));
    (ok && !glued_before(text, s, ".:-/")
        && !glued_after(text, end, ".:-/")
        && !product_before(text, s))
    .then_some((s, end, None))
}

fn ipv6_ok(cand: &str) -> bool {
    let groups = cand.split(':').count();
    (cand.contains("::") || groups == 8 || (cand.contains('.') && groups == 7))
        && cand != "::"
        && cand.parse::<std::net::Ipv6Addr>().is_ok()
}

/// MAC addresses (colon, dash or Cisco dot form): not all-zero or broadcast; an all-digit one
/// (could be a version or id) only after a MAC word.
fn mac_ok(text: &str, s: usize, cand: &str) -> bool {
    let hex: String = cand.chars().filter(char::is_ascii_hexdigit).collect();
    if hex.bytes().all(|b| b == b'0') || hex.bytes().all(|b| b == b'f' || b == b'F') {
        return false;
    }
    hex.bytes().any(|b| b.is_ascii_alphabetic())
        || context(
            text,
            s,
            32,
            &["mac", "ether", "hwaddr", "bssid", "hardware", "lladdr"],
        )
}

/// Phone numbers: international (`+` or `00`, 8–15 digits; also after `tel:`) or US national (10
/// digits, valid area code and exchange, with separators or brackets). A bracket is part of the
/// number only when it encloses part of it.
fn phone(text: &str, s: usize, e: usize) -> Option<(usize, usize)> {
    let mut cand = text.get(s..e)?;
    let mut end = e;
    // Trim a trailing unmatched ')' and a leading '(' that does not close inside the number.
    while cand.ends_with(')') && cand.matches('(').count() < cand.matches(')').count() {
        cand = cand.get(..cand.len() - 1)?;
        end -= 1;
    }
    let mut start = s;
    if cand.starts_with('(') && !cand.contains(')') {
        cand = cand.get(1..)?;
        start += 1;
    }
    if cand.matches('(').count() != cand.matches(')').count() {
        return None;
    }
    let tel = window_raw(text, start, 4).eq_ignore_ascii_case("tel:");
    if (!tel && glued_before(text, start, "-./:+"))
        || glued_after(text, end, "-./:")
        || iban_before(text, start)
    {
        return None;
    }
    let d = digits(cand);
    let international = cand.starts_with('+') || cand.starts_with("00");
    let ok = if international {
        let n = if cand.starts_with("00") {
            d.len() - 2
        } else {
            d.len()
        };
        (8..=15).contains(&n)
    } else {
        // US national: (415) 555-2671, 415-555-2671, 415.555.2671, 415 555 2671 — never bare digits,
        // and not a date/time look-alike (the exchange group must be followed by a separator).
        d.len() == 10 && cand.len() > 10
    };
    ok.then_some((start, end))
}

/// National phone formats: per country, the digits (trunk prefix included) a number starts with,
/// its total digit counts, and whether it is a mobile range (recognised with separators alone) or
/// a fixed-line one (needs a phone word or a phone column before it). Written from the mobile and
/// fixed-line `nationalNumberPattern`/`possibleLengths` of libphonenumber's metadata (v8.13,
/// `resources/PhoneNumberMetadata.xml`), simplified to prefixes and lengths.
const NATIONAL: &[(&str, &[&str], &[usize], bool)] = &[
    // (country, prefixes, digit counts incl. trunk 0, mobile)
    ("DE", &["015", "016", "017"], &[11, 12], true),
    (
        "DE",
        &["02", "03", "04", "05", "06", "07", "08", "09"],
        &[7, 8, 9, 10, 11, 12],
        false,
    ),
    (
        "GB",
        &["071", "072", "073", "074", "075", "077", "078", "079"],
        &[11],
        true,
    ),
    ("GB", &["01", "02", "03"], &[10, 11], false),
    ("FR", &["06", "07"], &[10], true),
    ("FR", &["01", "02", "03", "04", "05", "09"], &[10], false),
    (
        "NL",
        &["061", "062", "063", "064", "065", "068"],
        &[10],
        true,
    ),
    ("NL", &["01", "02", "03", "04", "05", "07"], &[10], false),
    ("JP", &["070", "080", "090"], &[11], true),
    (
        "JP",
        &["01", "02", "03", "04", "05", "06", "07", "08", "09"],
        &[10],
        false,
    ),
    (
        "KR",
        &["010", "011", "016", "017", "018", "019"],
        &[10, 11],
        true,
    ),
    ("KR", &["02"], &[9, 10], false),
    ("KR", &["03", "04", "05", "06"], &[10, 11], false),
    ("AU", &["04"], &[10], true),
    ("AU", &["02", "03", "07", "08"], &[10], false),
    ("IN", &["6", "7", "8", "9"], &[10], true),
    (
        "CN",
        &["13", "14", "15", "16", "17", "18", "19"],
        &[11],
        true,
    ),
    (
        "IT",
        &["31", "32", "33", "34", "35", "36", "37", "38", "39"],
        &[10],
        true,
    ),
    ("IT", &["0"], &[6, 7, 8, 9, 10, 11], false),
    ("ES", &["6", "7"], &[9], true),
    ("ES", &["8", "9"], &[9], false),
];

/// Brazilian area codes (DDD) are two digits 11–99 without a 0; mobiles have 9 after them.
fn brazil(cand: &str, d: &[u8]) -> Option<bool> {
    if !cand.starts_with('(') {
        return None;
    }
    let d = if d.len() == 12 && d.first() == Some(&0) {
        d.get(1..)?
    } else {
        d
    };
    let (a, b) = (*d.first()?, *d.get(1)?);
    if a == 0 || b == 0 {
        return None;
    }
    match (d.len(), d.get(2)) {
        (11, Some(9)) => Some(true),
        (10, Some(2..=5)) => Some(false),
        _ => None,
    }
}

fn phone_national(ctx: &Ctx<'_>, s: usize, e: usize) -> Option<(usize, usize)> {
    let text = ctx.text;
    if glued_before(text, s, "-./:+#") || product_before(text, s) || iban_before(text, s) {
        return None;
    }
    // The candidate, then without its last group, up to three times (`0151 2345 6789 5 times`).
    let mut end = e;
    for _ in 0..4 {
        let cand = text.get(s..end)?;
        if cand.len() > 32 {
            // Longer than any national number: only trimming can help.
        } else if let Some(hit) = national_ok(ctx, s, end, cand) {
            return Some(hit);
        }
        end = s + cand.rfind(|c: char| !c.is_ascii_digit() && c != ')')?;
        if end <= s + 1 {
            return None;
        }
    }
    None
}

fn national_ok(ctx: &Ctx<'_>, s: usize, e: usize, cand: &str) -> Option<(usize, usize)> {
    let text = ctx.text;
    // Cheap first: national numbers have 6–13 digits.
    let n = cand.bytes().filter(u8::is_ascii_digit).count();
    if !(6..=13).contains(&n) || glued_after(text, e, "-./:") {
        return None;
    }
    let d = digits(cand);
    let ds: String = d.iter().map(|x| char::from(b'0' + x)).collect();
    let seps: Vec<char> = cand
        .chars()
        .filter(|c| !c.is_ascii_digit() && !matches!(c, '(' | ')'))
        .collect();
    let groups: Vec<usize> = cand
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .map(str::len)
        .collect();
    // SSN shape (3-2-4) and dates (dd.mm.yyyy, yyyy-mm-dd) are never national phones.
    if matches!(
        groups.as_slice(),
        [3, 2, 4] | [2, 2, 4] | [4, 2, 2] | [2, 2, 2] | [4, 2, 2, 2]
    ) {
        return None;
    }
    // Separators of one kind (spaces may join the dashes of a bracketed area code).
    if seps.contains(&'.') && seps.iter().any(|c| *c != '.') {
        return None;
    }
    let bare = seps.is_empty() && !cand.starts_with('(');
    let (mobile, known) = match brazil(cand, &d) {
        Some(m) => (m, true),
        None => NATIONAL
            .iter()
            .filter(|(_, pre, lens, _)| {
                lens.contains(&d.len()) && pre.iter().any(|p| ds.starts_with(p))
            })
            .map(|(_, _, _, m)| *m)
            .fold((false, false), |(m, _), x| (m || x, true)),
    };
    if !known {
        return None;
    }
    // Countries without a trunk prefix (IN, CN, IT, ES mobiles) are recognised only in their usual
    // groupings: 5+5, 3+4+4, 3+3+3(+1), 3+3+4.
    if !ds.starts_with('0') && !cand.starts_with('(') && !bare {
        let usual = matches!(
            groups.as_slice(),
            [5, 5] | [3, 4, 4] | [3, 3, 3] | [3, 3, 4] | [3, 2, 2, 2]
        );
        if !usual {
            return None;
        }
    }
    let worded = || {
        context(text, s, 32, PHONE_CONTEXT)
            || ctx
                .column(s)
                .is_some_and(|c| column_says(&c, PHONE_COLUMNS))
    };
    let ok = if mobile && !bare { true } else { worded() };
    ok.then_some((s, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Detector {
        let enabled: Vec<String> = BUILTIN.iter().map(|(d, _)| (*d).to_owned()).collect();
        Detector::new(&enabled, &[], &[]).unwrap_or_else(|e| unreachable!("{e:?}"))
    }

    fn found(text: &str) -> Vec<(String, String)> {
        all()
            .scan(text)
            .into_iter()
            .map(|f| (f.label, text[f.start..f.end].to_owned()))
            .collect()
    }

    fn one(text: &str, label: &str, value: &str) {
        assert_eq!(
            found(text),
            vec![(label.to_owned(), value.to_owned())],
            "in {text:?}"
        );
    }

    fn none(text: &str) {
        assert_eq!(found(text), vec![], "in {text:?}");
    }

    #[test]
    fn emails() {
        one(
            "mail john.doe+tag@example.co.uk now",
            "EMAIL",
            "john.doe+tag@example.co.uk",
        );
        one("联系我john@example.com谢谢", "EMAIL", "john@example.com");
        one("(alice@corp.io)", "EMAIL", "alice@corp.io");
        none("user@localhost is not routable");
        none("git@ and @handles");
    }

    #[test]
    fn phones() {
        one("call +14155552671 today", "PHONE", "+14155552671");
        one("call +44 20 7946 0958.", "PHONE", "+44 20 7946 0958");
        one("ring 0049 30 901820", "PHONE", "0049 30 901820");
        one("US (415) 555-2671 ok", "PHONE", "(415) 555-2671");
        one("US 415-555-2671", "PHONE", "415-555-2671");
        one("US 415.555.2671", "PHONE", "415.555.2671");
        one("(call 415-555-2671)", "PHONE", "415-555-2671");
        one("+1 (415) 555-2671", "PHONE", "+1 (415) 555-2671");
        one("電話+81 3-1234-5678です", "PHONE", "+81 3-1234-5678");
    }

    #[test]
    fn phone_hard_negatives() {
        none("at 2024-01-15 10:30:00 and 2024-01-15T10:30:00Z");
        none("epoch 1700000000 or 1700000000123");
        none("version 10.0.19041.1 and v1.2.3");
        none("order ORD-415-555-2671 and INV-2024-0001");
        none("uuid 550e8400-e29b-41d4-a716-446655440000");
        none("4155552671"); // bare digits
        none("call 155-555-2671"); // area code cannot start with 1
    }

    #[test]
    fn cards() {
        for (t, v) in [
            ("visa 4111 1111 1111 1111", "4111 1111 1111 1111"),
            ("mc 5555-5555-5555-4444", "5555-5555-5555-4444"),
            ("mc2 2223003122003222", "2223003122003222"),
            ("amex 378282246310005", "378282246310005"),
            ("disc 6011111111111117", "6011111111111117"),
            ("jcb 3530111333300000", "3530111333300000"),
            ("diners 30569309025904", "30569309025904"),
        ] {
            one(t, "CREDIT_CARD", v);
        }
        none("4111 1111 1111 1112"); // Luhn fails
        none("1234567812345670"); // no brand
        none("hash d41d8cd98f00b204e9800998ecf8427e 4111111111111111a");
        none("4111-1111 1111-1111"); // mixed separators
    }

    #[test]
    fn ssns() {
        one("ssn 123-45-6789", "SSN", "123-45-6789");
        one("SSN: 123 45 6789", "SSN", "123 45 6789");
        one("my social security number is 123456789", "SSN", "123456789");
        none("order 123456789 shipped");
        none("000-12-3456 666-12-3456 923-45-6789 123-00-4567 123-45-0000");
        none("date 2024-12-3456");
    }

    #[test]
    fn ibans() {
        one(
            "pay DE89370400440532013000 now",
            "IBAN",
            "DE89370400440532013000",
        );
        one(
            "GB82 WEST 1234 5698 7654 32",
            "IBAN",
            "GB82 WEST 1234 5698 7654 32",
        );
        one(
            "FR1420041010050500013M02606",
            "IBAN",
            "FR1420041010050500013M02606",
        );
        none("DE89370400440532013001"); // bad checksum
        none("DE8937040044053201300"); // wrong length
    }

    #[test]
    fn ips() {
        one("host 192.168.0.1 up", "IP_ADDRESS", "192.168.0.1");
        one(
            "v6 2001:db8:85a3::8a2e:370:7334 up",
            "IP_ADDRESS",
            "2001:db8:85a3::8a2e:370:7334",
        );
        one(
            "full 2001:0db8:0000:0000:0000:ff00:0042:8329",
            "IP_ADDRESS",
            "2001:0db8:0000:0000:0000:ff00:0042:8329",
        );
        one("loop ::1 and", "IP_ADDRESS", "::1");
        none("999.1.1.1 and 1.2.3 and 10.0.19041.1 and v1.2.3.4");
        none("time 10:30:00 and 12:34");
    }

    #[test]
    fn private_keys_run_to_their_end_line_whatever_comes_before() {
        let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----";
        // Unterminated headers before a real key: the first header runs to the real end line.
        let noisy = format!(
            "{} then {key} done",
            "-----BEGIN EC PRIVATE KEY----- x ".repeat(3)
        );
        let f = found(&noisy);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].1.ends_with("-----END RSA PRIVATE KEY-----") && f[0].1.contains("MIIBOg"));
        // Two keys are two findings; a header with no end line after it is none.
        let two = format!("{key} and {key}");
        assert_eq!(found(&two).len(), 2);
        none("-----BEGIN RSA PRIVATE KEY----- and nothing after");
        // An end line of another kind does not close a private key.
        none("-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END CERTIFICATE-----");
    }

    #[test]
    fn ssn_context_next_to_multibyte_text() {
        one("社会保障番号 ssn 123456789", "SSN", "123456789");
        // The 40-byte window may start inside a character: it moves to the next boundary.
        one(
            &format!("{}ssn: 123456789", "日".repeat(20)),
            "SSN",
            "123456789",
        );
        none(&format!("{} 123456789", "日".repeat(20)));
    }

    #[test]
    fn secrets() {
        one(
            "key sk-proj-abcdefghijklmnopqrstuvwxyz012345 end",
            "SECRET",
            "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
        );
        one(
            "k sk-ant-api03-abcdefghijklmnopqrstuvwx",
            "SECRET",
            "sk-ant-api03-abcdefghijklmnopqrstuvwx",
        );
        one("aws AKIAIOSFODNN7EXAMPLE", "SECRET", "AKIAIOSFODNN7EXAMPLE");
        one(
            "gh ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "SECRET",
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        );
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        one(&format!("jwt {jwt}"), "SECRET", jwt);
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----";
        one(&format!("key:\n{pem}\n"), "SECRET", pem);
        none("task-management is a skill; sk-short");
    }

    #[test]
    fn custom_and_dictionary() {
        let d = Detector::new(
            &["email".to_owned()],
            &[CustomRegex {
                label: "EMPLOYEE_ID".into(),
                regex: r"EMP-\d{6}".into(),
            }],
            &[Dictionary {
                label: "PROJECT".into(),
                terms: vec!["Project Falcon".into(), "bluebird".into()],
            }],
        )
        .unwrap_or_else(|e| unreachable!("{e:?}"));
        let f: Vec<_> = d
            .scan("EMP-123456 on project falcon, not bluebirds; BLUEBIRD ok")
            .into_iter()
            .map(|f| f.label)
            .collect();
        assert_eq!(f, vec!["EMPLOYEE_ID", "PROJECT", "PROJECT"]);
        let bad = Detector::new(
            &[],
            &[CustomRegex {
                label: "X".into(),
                regex: "(".into(),
            }],
            &[],
        );
        assert_eq!(bad.err().map(|e| e.field), Some("custom[0].regex".into()));
    }

    fn subs(text: &str) -> Vec<String> {
        all().scan(text).iter().map(Finding::audit_label).collect()
    }

    #[test]
    fn obfuscated_values_map_to_exact_original_spans() {
        // Every obfuscation: the finding is the whole original value, invisible edges included.
        for (t, label, v) in [
            (
                "card ４１１１ １１１１ １１１１ １１１１ ok",
                "CREDIT_CARD",
                "４１１１ １１１１ １１１１ １１１１",
            ),
            ("ssn ١٢٣-٤٥-٦٧٨٩ ok", "SSN", "١٢٣-٤٥-٦٧٨٩"),
            ("ssn ۱۲۳-۴۵-۶۷۸۹ ok", "SSN", "۱۲۳-۴۵-۶۷۸۹"),
            ("फोन +४९ ३० ९०१८२० ok", "PHONE", "+४९ ३० ९०१८२०"),
            (
                "card \u{200B}4111\u{200B}1111\u{200C}1111\u{200D}1111\u{FEFF} ok",
                "CREDIT_CARD",
                "\u{200B}4111\u{200B}1111\u{200C}1111\u{200D}1111\u{FEFF}",
            ),
            (
                "mail jo\u{00AD}hn@exam\u{2060}ple.com ok",
                "EMAIL",
                "jo\u{00AD}hn@exam\u{2060}ple.com",
            ),
            ("mail john＠example.com ok", "EMAIL", "john＠example.com"),
            ("mail john﹫example.com ok", "EMAIL", "john﹫example.com"),
            (
                "mail ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ ok",
                "EMAIL",
                "ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ",
            ),
            ("mail john%40example.com ok", "EMAIL", "john%40example.com"),
            (
                "mail john [at] example [dot] com ok",
                "EMAIL",
                "john [at] example [dot] com",
            ),
            (
                "mail john(at)example(dot)com ok",
                "EMAIL",
                "john(at)example(dot)com",
            ),
            (
                "mail john.doe at example.com ok",
                "EMAIL",
                "john.doe at example.com",
            ),
            (
                "write to jane at example dot org ok",
                "EMAIL",
                "jane at example dot org",
            ),
            (
                "card 4111\u{00A0}1111\u{00A0}1111\u{00A0}1111 ok",
                "CREDIT_CARD",
                "4111\u{00A0}1111\u{00A0}1111\u{00A0}1111",
            ),
            (
                "card 4111\u{202F}1111\u{202F}1111\u{202F}1111 ok",
                "CREDIT_CARD",
                "4111\u{202F}1111\u{202F}1111\u{202F}1111",
            ),
            (
                "card 4111\u{2009}1111\u{2009}1111\u{2009}1111 ok",
                "CREDIT_CARD",
                "4111\u{2009}1111\u{2009}1111\u{2009}1111",
            ),
            (
                "card 4111\u{2007}1111\u{2007}1111\u{2007}1111 ok",
                "CREDIT_CARD",
                "4111\u{2007}1111\u{2007}1111\u{2007}1111",
            ),
            (
                "card 4111.1111.1111.1111 ok",
                "CREDIT_CARD",
                "4111.1111.1111.1111",
            ),
            (
                "card 4111_1111_1111_1111 ok",
                "CREDIT_CARD",
                "4111_1111_1111_1111",
            ),
            (
                "card 4111/1111/1111/1111 ok",
                "CREDIT_CARD",
                "4111/1111/1111/1111",
            ),
            (
                "ssn 123\u{2013}45\u{2013}6789 ok",
                "SSN",
                "123\u{2013}45\u{2013}6789",
            ),
            (
                "ssn 123\u{2010}45\u{2010}6789 ok",
                "SSN",
                "123\u{2010}45\u{2010}6789",
            ),
            (
                "ssn 123\u{2212}45\u{2212}6789 ok",
                "SSN",
                "123\u{2212}45\u{2212}6789",
            ),
            ("ssn 123.45.6789 ok", "SSN", "123.45.6789"),
            (
                "tel +44\u{00A0}20\u{00A0}7946\u{00A0}0958 ok",
                "PHONE",
                "+44\u{00A0}20\u{00A0}7946\u{00A0}0958",
            ),
            (
                r#"{\"email\":\"john\u0040example.com\"}"#,
                "EMAIL",
                r"john\u0040example.com",
            ),
            (
                r#"{\"tel\":\"\u002B44 20 7946 0958\"}"#,
                "PHONE",
                r"\u002B44 20 7946 0958",
            ),
            (r"note:\n\tjohn@example.com\n", "EMAIL", "john@example.com"),
            (r"\u003cjohn@example.com\u003e", "EMAIL", "john@example.com"),
            (
                "iban de89 3704 0044 0532 0130 00 ok",
                "IBAN",
                "de89 3704 0044 0532 0130 00",
            ),
            (
                "iban de89370400440532013000 ok",
                "IBAN",
                "de89370400440532013000",
            ),
        ] {
            one(t, label, v);
        }
    }

    #[test]
    fn national_phone_formats() {
        for (t, v) in [
            ("Handy 0151 2345 6789 bitte", "0151 2345 6789"),
            ("mobile 0170-1234567", "0170-1234567"),
            ("携帯 090-1234-5678 です", "090-1234-5678"),
            ("전화 010-1234-5678 입니다", "010-1234-5678"),
            ("call 98765 43210 now", "98765 43210"),
            ("ligue (11) 91234-5678 hoje", "(11) 91234-5678"),
            ("ring 07700 900123 today", "07700 900123"),
            ("appelez 06 12 34 56 78 svp", "06 12 34 56 78"),
            ("bel 06-12345678 even", "06-12345678"),
            ("手机 138 0013 8000", "138 0013 8000"),
            ("Tel. 030 1234567", "030 1234567"),
            ("Telefon: 089 12345678", "089 12345678"),
            ("tel:+82-2-312-3456", "+82-2-312-3456"),
            ("mobile 0412 345 678", "0412 345 678"),
        ] {
            one(t, "PHONE", v);
        }
        // A trailing number after the phone is not part of it.
        one("call 0151 2345 6789 5 times", "PHONE", "0151 2345 6789");
        // Fixed lines and bare digits need a phone word; products, dates, SSNs are not phones.
        none("Berlin 030 1234567 office hours");
        none("0151234567890 ref");
        none("SKU 4006381333931");
        none("Model 0151-2345 and part 0170-1234567");
        none("on 01.02.2024 at 10:30");
        none("2024-01-15 10:30:00, 123 456 789, price 1 299 000");
    }

    #[test]
    fn csv_and_sql_columns_give_context() {
        let csv = "id,name,phone,ssn\n1001,Ann,030 1234567,123456789\n";
        assert_eq!(
            found(csv),
            vec![
                ("PHONE".to_owned(), "030 1234567".to_owned()),
                ("SSN".to_owned(), "123456789".to_owned())
            ]
        );
        let card = "id,card\n1001,4111111111111111\n";
        one(card, "CREDIT_CARD", "4111111111111111");
        let sql = "INSERT INTO users (name, phone, ssn) VALUES ('a', '030 1234567', '123456789'), ('b', '089 12345678', '123-45-6789')";
        assert_eq!(
            found(sql).into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
            vec!["030 1234567", "123456789", "089 12345678", "123-45-6789"]
        );
        // Columns that do not name the field: nothing.
        none("id,order\n1001,123456789\n");
        none("INSERT INTO t (id, qty) VALUES (123456789, '030 1234567')");
    }

    #[test]
    fn more_card_brands() {
        for (t, v) in [
            ("maestro 6759649826438453", "6759649826438453"),
            ("maestro 5018 0000 0000 0009", "5018 0000 0000 0009"),
            ("unionpay 6200000000000005", "6200000000000005"),
            ("unionpay 6212 3456 7890 1232", "6212 3456 7890 1232"),
            ("unionpay 8171999927660000", "8171999927660000"),
            ("jcb 3566 0020 2036 0505", "3566 0020 2036 0505"),
            ("diners 3056 930902 5904", "3056 930902 5904"),
            ("discover 6011 0009 9013 9424", "6011 0009 9013 9424"),
        ] {
            one(t, "CREDIT_CARD", v);
        }
        // The digits of an invalid IBAN are not a card, nor are card-shaped product numbers.
        none("DE89 3704 0044 0532 0130 01");
        none("de89 6200 0000 0000 0005");
        none("EAN 6200000000000005");
        none("4111-1111 1111-1111");
        none("oid 1.3.6.1.4.1.311.21.8 and 6.200.000.000.000.005");
    }

    #[test]
    fn ips_macs_itins() {
        one("net 10.0.0.0/8 routed", "IP_ADDRESS", "10.0.0.0/8");
        one("host 192.168.1.7/24,", "IP_ADDRESS", "192.168.1.7/24");
        one(
            "mapped ::ffff:192.0.2.1 ok",
            "IP_ADDRESS",
            "::ffff:192.0.2.1",
        );
        one(
            "nat64 64:ff9b::192.0.2.33 ok",
            "IP_ADDRESS",
            "64:ff9b::192.0.2.33",
        );
        one(
            "nat64 64:ff9b::c000:221 ok",
            "IP_ADDRESS",
            "64:ff9b::c000:221",
        );
        one(
            "mac 00:1A:2B:3C:4D:5E up",
            "MAC_ADDRESS",
            "00:1A:2B:3C:4D:5E",
        );
        one(
            "mac 00-1a-2b-3c-4d-5e up",
            "MAC_ADDRESS",
            "00-1a-2b-3c-4d-5e",
        );
        one("mac 001a.2b3c.4d5e up", "MAC_ADDRESS", "001a.2b3c.4d5e");
        one(
            "hwaddr 00:11:22:33:44:55",
            "MAC_ADDRESS",
            "00:11:22:33:44:55",
        );
        none("00:00:00:00:00:00 ff:ff:ff:ff:ff:ff 10-20-30-40-50-60 2024.0115.1030");
        one("itin 912-78-1234", "US_ITIN", "912-78-1234");
        one("ITIN: 900 70 0000", "US_ITIN", "900 70 0000");
        one("my itin is 912781234", "US_ITIN", "912781234");
        none("912-45-1234 and 912-93-1234 and 912781234");
        none("meeting 912781234 and Martin 912781234");
        none("during 030 1234567, hotel 030 1234567");
        none("id,hotel\n1,030 1234567\n");
    }

    #[test]
    fn unicode_and_idn_emails() {
        one("почта: иван@пример.рф ok", "EMAIL", "иван@пример.рф");
        one(
            "mail josé.müller@bücher.de ok",
            "EMAIL",
            "josé.müller@bücher.de",
        );
        one(
            "mail user@xn--bcher-kva.example ok",
            "EMAIL",
            "user@xn--bcher-kva.example",
        );
        one("联系 用户@例子.广告 谢谢", "EMAIL", "用户@例子.广告");
        one("联系我john@example.com谢谢", "EMAIL", "john@example.com");
    }

    #[test]
    fn vendor_secrets_with_sub_kinds() {
        let stripe = format!("sk_live_{}", "4eC39HqLyjWDarjtT1zdp7dc");
        let stripe_rk = format!("rk_live_{}", "51H8xYzAbCdEfGhIjKlMnOp");
        let stripe_test = format!("sk_test_{}", "4eC39HqLyjWDarjtT1zdp7dc");
        let slack = format!(
            "xoxb-{}-{}-{}",
            "123456789012", "1234567890123", "AbCdEfGhIjKlMnOpQrStUvWx"
        );
        let google = format!("AIza{}", "SyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW");
        let gh = format!("ghp_{}", "abcdefghijklmnopqrstuvwxyz0123456789");
        let pat = format!(
            "github_pat_{}",
            "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"
        );
        for (v, sub) in [
            (stripe.as_str(), "SECRET.stripe"),
            (stripe_rk.as_str(), "SECRET.stripe"),
            (stripe_test.as_str(), "SECRET.stripe"),
            (slack.as_str(), "SECRET.slack"),
            (google.as_str(), "SECRET.google"),
            (gh.as_str(), "SECRET.github"),
            (pat.as_str(), "SECRET.github"),
            ("AKIAIOSFODNN7EXAMPLE", "SECRET.aws"),
        ] {
            assert_eq!(google.len(), 39);
            one(&format!("key {v} end"), "SECRET", v);
            assert_eq!(subs(&format!("key {v} end")), vec![sub.to_owned()], "{v}");
        }
        // AWS secret access keys only by context, also wrapped over a line break.
        let aws = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        one(&format!("AWS_SECRET_ACCESS_KEY={aws}\n"), "SECRET", aws);
        one(&format!("aws_secret_access_key = \"{aws}\""), "SECRET", aws);
        let wrapped = "wJalrXUtnFEMI/K7MDENG\n  /bPxRfiCYEXAMPLEKEY";
        one(
            &format!("aws_secret_access_key: {wrapped}\nnext"),
            "SECRET",
            wrapped,
        );
        assert_eq!(
            subs(&format!("AWS_SECRET_ACCESS_KEY={aws}")),
            vec!["SECRET.aws".to_owned()]
        );
        // The same 40 characters without the name, low-entropy values, placeholders: nothing.
        none(&format!("blob {aws} end"));
        none(&format!("AWS_SECRET_ACCESS_KEY={}", "a".repeat(40)));
        none("api_key = YOUR_API_KEY_HERE_PLEASE");
        one(
            "api_key: 9fK2mQ7xLp4Rt8Vw3Zb6",
            "SECRET",
            "9fK2mQ7xLp4Rt8Vw3Zb6",
        );
        assert_eq!(subs("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"), vec!["SECRET.jwt".to_owned()]);
        assert_eq!(
            subs("k sk-proj-abcdefghijklmnopqrstuvwxyz012345"),
            vec!["SECRET".to_owned()]
        );
        none("xoxb-not-a-token and AIzaShort and sk_live_short");
    }

    #[test]
    fn issue_hard_negatives_stay_clean() {
        none("APP_VERSION=11.11.56.183");
        none("version: 11.11.56.183 build 1.2.3.4 and v1.2.3.4");
        none("oid 1.3.6.1.4.1.311.21.8 and 2.16.840.1.113883.3.1");
        none("SKU 4006381333931, EAN 4006381333931, ISBN 9783161484100");
        none("uuid 550e8400-e29b-41d4-a716-446655440000 sha da39a3ee5e6b4b0d3255bfef95601890afd80709");
        none("commit 4f2a9c01b4de7c3e9d0f1a2b3c4d5e6f7a8b9c0d at 2024-01-15T10:30:00.123Z");
        none("epoch 1700000000123 price $1,299.00 or 1 299,00 € total 12 345 678");
        none("DE89370400440532013001 and de89 3704 0044 0532 0130 01");
        none("look at google.com and meet at example.org");
        one(
            "Reach Bob at bob.smith@evil-corp.com now",
            "EMAIL",
            "bob.smith@evil-corp.com",
        );
    }
}
