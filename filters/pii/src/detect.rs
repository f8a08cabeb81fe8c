//! PII and secret detectors: one combined regex pass per text, then a validator per kind.
//!
//! The regexes find candidates; validators decide (Luhn, card prefixes, SSN issuing rules, IBAN
//! length and mod-97, IP ranges, phone digit counts) and check the characters around a candidate, so
//! that digits inside UUIDs, hashes, versions, order numbers or timestamps do not count. Spans are
//! exact next to non-Latin text: the regexes only use ASCII classes and boundaries are checked on
//! the neighbouring characters, not with Unicode `\b`.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::Regex;

/// What a finding is; built-in kinds have fixed labels, custom ones carry theirs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label(pub String);

/// Built-in detector names (as used in the config's `detectors` list) and their labels.
pub const BUILTIN: &[(&str, &str)] = &[
    ("email", "EMAIL"),
    ("phone", "PHONE"),
    ("credit_card", "CREDIT_CARD"),
    ("ssn", "SSN"),
    ("iban", "IBAN"),
    ("ipv4", "IP_ADDRESS"),
    ("ipv6", "IP_ADDRESS"),
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pem,
    Jwt,
    Secret,
    Email,
    Iban,
    Card,
    Ipv6,
    Ipv4,
    Phone,
    Ssn,
    Custom(usize),
}

impl Kind {
    fn detector(self) -> &'static str {
        match self {
            Kind::Pem | Kind::Jwt | Kind::Secret => "secret",
            Kind::Email => "email",
            Kind::Iban => "iban",
            Kind::Card => "credit_card",
            Kind::Ipv6 => "ipv6",
            Kind::Ipv4 => "ipv4",
            Kind::Phone => "phone",
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
const SECRET: &str = concat!(
    r"sk-ant-[A-Za-z0-9_-]{20,}|sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}"
);
const EMAIL: &str = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}";
const IBAN: &str = r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?";
const CARD: &str = r"[0-9](?:[ -]?[0-9]){12,18}";
const IPV6: &str = r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}";
const IPV4: &str = r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}";
const PHONE: &str = concat!(
    r"(?:\+|00)[1-9][0-9]{0,3}(?:[ .-]?\(?[0-9]{1,4}\)?){2,6}",
    r"|\(?[2-9][0-9]{2}\)?[ .-]?[2-9][0-9]{2}[ .-][0-9]{4}"
);
const SSN: &str = r"[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4}|[0-9]{9}";

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
}

/// A detector configuration error (names the offending item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectError {
    /// Field path, e.g. `custom[1].regex`.
    pub field: String,
    /// What is wrong.
    pub message: String,
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
            (Kind::Secret, SECRET),
            (Kind::Email, EMAIL),
            (Kind::Iban, IBAN),
            (Kind::Card, CARD),
            (Kind::Ipv6, IPV6),
            (Kind::Ipv4, IPV4),
            (Kind::Phone, PHONE),
            (Kind::Ssn, SSN),
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
        let combined = compile(&if alternation.is_empty() {
            "[^\\s\\S]".to_owned()
        } else {
            alternation.join("|")
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
        })
    }

    fn label(&self, k: Kind) -> String {
        match k {
            Kind::Custom(i) => self.custom_labels.get(i).cloned().unwrap_or_default(),
            Kind::Pem | Kind::Jwt | Kind::Secret => "SECRET".into(),
            Kind::Email => "EMAIL".into(),
            Kind::Iban => "IBAN".into(),
            Kind::Card => "CREDIT_CARD".into(),
            Kind::Ipv6 | Kind::Ipv4 => "IP_ADDRESS".into(),
            Kind::Phone => "PHONE".into(),
            Kind::Ssn => "SSN".into(),
        }
    }

    /// All findings in `text`, sorted, non-overlapping.
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        let mut pos = 0;
        // Private keys' end lines, collected at the first key header (one linear pass).
        let mut pem_ends: Option<Vec<(usize, usize)>> = None;
        // The combined regex finds the next candidate with its fast DFA; only at a candidate do
        // the anchored per-kind regexes run, in priority order, until a validator accepts one.
        while let Some(m) = self.combined.find_at(text, pos) {
            let start = m.start();
            let rest = text.get(start..).unwrap_or_default();
            let found = self.anchored.iter().find_map(|(k, re)| {
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
                    return ends.get(i).map(|(_, e)| (start, *e, *k));
                }
                validate(*k, text, start, head_end).map(|(s, e)| (s, e, *k))
            });
            match found {
                Some((s, e, k)) => {
                    out.push(Finding {
                        start: s,
                        end: e,
                        label: self.label(k),
                    });
                    pos = e.max(next_char(text, start));
                }
                None => pos = next_char(text, start),
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
    word(b) || b.is_some_and(|c| joiners.contains(c) && word(before(text, s - c.len_utf8())))
}

/// The candidate continues into what follows it (a letter/digit, or a joiner then one): a
/// sentence's final `.` does not count, `.5` or `-x` does.
fn glued_after(text: &str, e: usize, joiners: &str) -> bool {
    let a = after(text, e);
    word(a) || a.is_some_and(|c| joiners.contains(c) && word(after(text, e + c.len_utf8())))
}

/// Validates a candidate; may trim it (e.g. an unbalanced bracket). Returns the final span.
fn validate(k: Kind, text: &str, s: usize, e: usize) -> Option<(usize, usize)> {
    let cand = text.get(s..e)?;
    let free = |joiners: &str| !glued_before(text, s, joiners) && !glued_after(text, e, joiners);
    let ok = match k {
        Kind::Custom(_) | Kind::Pem => true,
        Kind::Jwt | Kind::Secret => free("-"),
        Kind::Email => free(".%+-") && !cand.starts_with('.'),
        Kind::Iban => free("") && iban_ok(cand),
        Kind::Card => free("-.,/:") && card_ok(cand),
        Kind::Ipv6 => free(":.") && ipv6_ok(cand),
        Kind::Ipv4 => free(".:-/") && ipv4_ok(cand),
        Kind::Phone => return phone(text, s, e),
        Kind::Ssn => free("-./:") && ssn_ok(text, s, cand),
    };
    ok.then_some((s, e))
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

fn card_ok(cand: &str) -> bool {
    // Separators must be consistent: all spaces, all dashes, or none.
    if cand.contains(' ') && cand.contains('-') {
        return false;
    }
    let d = digits(cand);
    let n = d.len();
    let prefix = |k: usize| {
        d.iter()
            .take(k)
            .fold(0u32, |acc, x| acc * 10 + u32::from(*x))
    };
    let brand = match (prefix(1), prefix(2), prefix(3), prefix(4), prefix(6)) {
        (4, ..) => matches!(n, 13 | 16 | 19), // Visa
        (_, 51..=55, ..) => n == 16,          // Mastercard
        (_, _, _, 2221..=2720, _) => n == 16, // Mastercard 2-series
        (_, 34 | 37, ..) => n == 15,          // Amex
        (_, _, _, 6011, _) | (_, 65, ..) | (_, _, 644..=649, ..) => (16..=19).contains(&n), // Discover
        (_, _, _, _, 622_126..=622_925) => (16..=19).contains(&n), // Discover (UnionPay co-brand)
        (_, _, _, 3528..=3589, _) => (16..=19).contains(&n),       // JCB
        (_, _, 300..=305, ..) | (_, 36 | 38 | 39, ..) => (14..=19).contains(&n), // Diners
        _ => false,
    };
    brand && luhn(&d)
}

fn ssn_ok(text: &str, s: usize, cand: &str) -> bool {
    let d = digits(cand);
    if d.len() != 9 {
        return false;
    }
    let area = u32::from(d[0]) * 100 + u32::from(d[1]) * 10 + u32::from(d[2]);
    let group = u32::from(d[3]) * 10 + u32::from(d[4]);
    let serial = d[5..].iter().fold(0u32, |a, x| a * 10 + u32::from(*x));
    if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
        return false;
    }
    if cand.len() == 9 {
        // Nine bare digits are too common (order numbers, ids): require an SSN word just before.
        // The 40 bytes before, from a character boundary (never the whole prefix: linear time).
        let mut start = s.saturating_sub(40);
        while start < s && !text.is_char_boundary(start) {
            start += 1;
        }
        let window = text.get(start..s).unwrap_or_default().to_ascii_lowercase();
        return SSN_CONTEXT.iter().any(|w| window.contains(w));
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
    let compact: String = cand.chars().filter(|c| *c != ' ').collect();
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

fn ipv4_ok(cand: &str) -> bool {
    cand.split('.')
        .all(|o| o.parse::<u16>().is_ok_and(|v| v <= 255) && !(o.len() > 1 && o.starts_with('0')))
}

fn ipv6_ok(cand: &str) -> bool {
    let groups = cand.split(':').count();
    (cand.contains("::") || groups == 8)
        && cand != "::"
        && cand.parse::<std::net::Ipv6Addr>().is_ok()
}

/// Phone numbers: international (`+` or `00`, 8–15 digits) or US national (10 digits, valid
/// area code and exchange, with separators or brackets). A bracket is part of the number only
/// when it encloses part of it.
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
    if glued_before(text, start, "-./:+") || glued_after(text, end, "-./:") {
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
}
