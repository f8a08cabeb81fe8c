//! A normalised view of a text for the detectors, with an exact map back to the original bytes.
//!
//! Obfuscation users and attackers apply to personal data is undone here, in one linear pass:
//! Unicode decimal digits (fullwidth, Arabic-Indic, Eastern Arabic-Indic, Devanagari, …) become
//! ASCII digits; fullwidth ASCII and the small `@` become ASCII; zero-width characters, the soft
//! hyphen and bidi controls are dropped; unusual spaces and dashes become ` ` and `-`; JSON string
//! escapes inside a text (`\n`, `\t`, `\"`, `\u0040`, …) are decoded, so a JSON document inside a
//! message is scanned as text; `%40`/`%2B` are decoded; `[at]`, `(at)`, `{at}` become `@` and
//! `[dot]`, `(dot)` become `.`; a spelled ` at ` only between email-shaped words, a spelled
//! ` dot ` only in the domain after an `@`.
//!
//! Every normalised byte records the original byte range it came from, so that a finding in the
//! view maps back to the exact original span (see [`Normalized::span`]): redaction replaces the
//! whole original value — zero-width characters inside it or at its edges included — and restore
//! gives the original bytes back. The view holds at most as many bytes as the original (every
//! rule shortens or keeps the length), plus 8 bytes of map per view byte.
//!
//! When nothing needs normalising (the common case: plain text), [`normalize`] returns `None`
//! without allocating and the detectors run on the original text.

/// The normalised text and its byte map.
#[derive(Debug)]
pub struct Normalized {
    /// The normalised text the detectors run on.
    pub text: String,
    /// For every byte of `text`, the original byte range `[start, end)` it came from.
    map: Vec<(u32, u32)>,
}

/// Longest run of dropped characters an edge is extended over.
const EDGE_MAX: usize = 16;

impl Normalized {
    /// The original byte span of the normalised span `[s, e)`, extended over dropped characters
    /// (zero-width, bidi controls) that touch it in the original, never below `floor`.
    pub fn span(&self, original: &str, s: usize, e: usize, floor: usize) -> Option<(usize, usize)> {
        if e <= s {
            return None;
        }
        let start = usize::try_from(self.map.get(s)?.0).ok()?;
        let end = usize::try_from(self.map.get(e.checked_sub(1)?)?.1).ok()?;
        let mut a = start;
        for _ in 0..EDGE_MAX {
            match original.get(..a).and_then(|t| t.chars().next_back()) {
                Some(c) if dropped(c) && a.saturating_sub(c.len_utf8()) >= floor => {
                    a = a.saturating_sub(c.len_utf8());
                }
                _ => break,
            }
        }
        let mut b = end;
        for _ in 0..EDGE_MAX {
            match original.get(b..).and_then(|t| t.chars().next()) {
                Some(c) if dropped(c) => b = b.saturating_add(c.len_utf8()),
                _ => break,
            }
        }
        Some((a, b))
    }
}

/// Characters removed from the view: zero-width, soft hyphen, bidi controls.
pub fn dropped(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}'
            | '\u{2060}'..='\u{2064}'
            | '\u{FEFF}'
            | '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// First code point of each block of ten Unicode decimal digits (general category Nd) folded to
/// ASCII: Arabic-Indic, Extended (Eastern) Arabic-Indic, NKo, Devanagari, Bengali, Gurmukhi,
/// Gujarati, Oriya, Tamil, Telugu, Kannada, Malayalam, Sinhala, Thai, Lao, Tibetan, Myanmar (two),
/// Khmer, Mongolian, Limbu, New Tai Lue, Tai Tham (two), Balinese, Sundanese, Lepcha, Ol Chiki,
/// Vai, Saurashtra, Kayah Li, Javanese, Myanmar Tai Laing, Cham, Meetei Mayek, Fullwidth, Osmanya,
/// Mathematical (five), Adlam, Segmented.
const DIGIT_ZEROS: &[u32] = &[
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66,
    0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    0x104A0, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E950, 0x1FBF0,
];

/// The ASCII digit a Unicode decimal digit stands for.
fn decimal(c: char) -> Option<char> {
    let v = c as u32;
    let i = DIGIT_ZEROS.partition_point(|z| *z <= v);
    let zero = *DIGIT_ZEROS.get(i.checked_sub(1)?)?;
    let d = v.checked_sub(zero)?;
    (d < 10).then(|| char::from(b'0'.saturating_add(u8::try_from(d).unwrap_or(0))))
}

/// What one (non-escape) character becomes in the view.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fold {
    Keep,
    To(char),
    Drop,
}

fn fold(c: char) -> Fold {
    if c.is_ascii() {
        return Fold::Keep;
    }
    if dropped(c) {
        return Fold::Drop;
    }
    match c {
        // Fullwidth ASCII (letters, digits, `@`, punctuation).
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).map_or(Fold::Keep, Fold::To),
        '\u{FE6B}' => Fold::To('@'),
        '\u{FE52}' => Fold::To('.'),
        '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => {
            Fold::To(' ')
        }
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' => Fold::To('-'),
        _ => decimal(c).map_or(Fold::Keep, Fold::To),
    }
}

/// Builds the view lazily: nothing is allocated until the first change.
struct Builder<'a> {
    src: &'a str,
    out: Option<(String, Vec<(u32, u32)>)>,
    /// View length when nothing was changed yet (the view is then `src[..i]`).
    /// Position in the view just after the last `@` (spelled ` dot ` needs one before it).
    last_at: Option<usize>,
}

impl<'a> Builder<'a> {
    /// Called before the first change at original byte `i`: copies `src[..i]` with an identity map.
    fn start(&mut self, i: usize) {
        if self.out.is_none() {
            let head = self.src.get(..i).unwrap_or_default();
            let mut map = Vec::with_capacity(self.src.len());
            map.extend((0..i).map(|k| {
                let k = u32::try_from(k).unwrap_or(u32::MAX);
                (k, k.saturating_add(1))
            }));
            let mut text = String::with_capacity(self.src.len());
            text.push_str(head);
            self.out = Some((text, map));
        }
    }

    /// Emits `c` for the original range `[a, b)`.
    fn push(&mut self, c: char, a: usize, b: usize) {
        self.start(a);
        if let Some((text, map)) = &mut self.out {
            let r = (
                u32::try_from(a).unwrap_or(u32::MAX),
                u32::try_from(b).unwrap_or(u32::MAX),
            );
            text.push(c);
            map.extend(std::iter::repeat_n(r, c.len_utf8()));
            if c == '@' {
                self.last_at = Some(text.len());
            }
        }
    }

    /// Keeps the original character at `[a, b)`.
    fn keep(&mut self, c: char, a: usize, b: usize) {
        match &mut self.out {
            Some((text, map)) => {
                text.push(c);
                map.extend((a..b).map(|k| {
                    let k = u32::try_from(k).unwrap_or(u32::MAX);
                    (k, k.saturating_add(1))
                }));
                if c == '@' {
                    self.last_at = Some(text.len());
                }
            }
            None => {
                if c == '@' {
                    self.last_at = Some(b);
                }
            }
        }
    }

    /// The view so far (`src[..i]` while unchanged).
    fn view(&self, i: usize) -> &str {
        match &self.out {
            Some((t, _)) => t,
            None => self.src.get(..i).unwrap_or_default(),
        }
    }

    /// Removes up to `max` trailing spaces from the view; returns the original start of the first
    /// one removed (or `None`).
    fn pop_spaces(&mut self, i: usize, max: usize) -> Option<usize> {
        self.start(i);
        let (text, map) = self.out.as_mut()?;
        let mut first = None;
        for _ in 0..max {
            if text.ends_with(' ') || text.ends_with('\t') {
                text.pop();
                first = map.pop().and_then(|(a, _)| usize::try_from(a).ok());
            } else {
                break;
            }
        }
        first
    }
}

fn lower_starts(s: &[u8], word: &[u8]) -> bool {
    s.get(..word.len())
        .is_some_and(|h| h.eq_ignore_ascii_case(word))
}

/// `[at]`, `(at)`, `{at}` (any case) at `i`: returns the length of the marker.
fn bracketed(s: &[u8], word: &[u8]) -> Option<usize> {
    let open = *s.first()?;
    let close = match open {
        b'[' => b']',
        b'(' => b')',
        b'{' => b'}',
        _ => return None,
    };
    let inner = s.get(1..)?;
    (lower_starts(inner, word) && inner.get(word.len()) == Some(&close)).then_some(word.len() + 2)
}

fn local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

/// A domain after a spelled ` at `: labels separated by `.`, ` dot `, `[dot]`, `(dot)`, ending in
/// an alphabetic label of 2+ letters. Returns whether any separator was spelled (obfuscated).
fn domain_after(s: &[u8]) -> Option<bool> {
    let mut i = 0;
    let mut labels = 0;
    let mut spelled = false;
    let mut last_alpha = false;
    // Bounded: a domain is at most 253 bytes.
    while i < 256 {
        let start = i;
        while s
            .get(i)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && i < 256
        {
            i += 1;
        }
        let label = s.get(start..i)?;
        if label.is_empty() {
            return None;
        }
        labels += 1;
        last_alpha = label.len() >= 2 && label.iter().all(u8::is_ascii_alphabetic);
        let rest = s.get(i..).unwrap_or_default();
        if rest.first() == Some(&b'.') && rest.get(1).is_some_and(u8::is_ascii_alphanumeric) {
            i += 1;
        } else if lower_starts(rest, b" dot ") && rest.get(5).is_some_and(u8::is_ascii_alphanumeric)
        {
            i += 5;
            spelled = true;
        } else {
            let sp = usize::from(rest.first() == Some(&b' '));
            match rest.get(sp..).and_then(|r| bracketed(r, b"dot")) {
                Some(n) => {
                    let after = sp + n;
                    let sp2 = usize::from(rest.get(after) == Some(&b' '));
                    if !rest.get(after + sp2).is_some_and(u8::is_ascii_alphanumeric) {
                        break;
                    }
                    i += after + sp2;
                    spelled = true;
                }
                None => break,
            }
        }
    }
    // The domain ends there: not inside a longer address (`Bob at bob.smith@x.com`).
    let end_ok = !s
        .get(i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'@' | b'_' | b'%' | b'+'));
    (labels >= 2 && last_alpha && end_ok).then_some(spelled)
}

/// Words that make a spelled ` at ` an email's even without a telling local part.
const MAIL_WORDS: &[&str] = &["mail", "contact", "reach", "write to", "address", "send to"];

/// ` at ` at `i` (the space) joins an email-shaped local part and domain.
fn spelled_at(src: &str, view: &str, i: usize) -> bool {
    let b = src.as_bytes();
    if !b
        .get(i + 1..i + 4)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"at "))
    {
        return false;
    }
    // The local part: the token just before (in the view, so it may itself be normalised).
    let v = view.as_bytes();
    let mut k = v.len();
    let mut n = 0;
    while k > 0 && n < 64 && v.get(k - 1).is_some_and(|c| local_char(*c)) {
        k -= 1;
        n += 1;
    }
    let local = v.get(k..).unwrap_or_default();
    if local.is_empty() || n >= 64 || !local.first().is_some_and(u8::is_ascii_alphanumeric) {
        return false;
    }
    if k > 0
        && !v
            .get(k - 1)
            .is_some_and(|c| c.is_ascii_whitespace() || b":;,(<\"'".contains(c))
    {
        return false;
    }
    let Some(spelled) = domain_after(b.get(i + 4..).unwrap_or_default()) else {
        return false;
    };
    let telling = local
        .iter()
        .any(|c| c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'+' | b'-'));
    if telling || spelled {
        return true;
    }
    let from = k.saturating_sub(40);
    let before = String::from_utf8_lossy(v.get(from..k).unwrap_or_default()).to_ascii_lowercase();
    MAIL_WORDS.iter().any(|w| before.contains(w))
}

/// ` dot ` at `i` continues a domain after an `@`.
fn spelled_dot(src: &str, view: &str, last_at: Option<usize>, i: usize) -> bool {
    let b = src.as_bytes();
    if !(lower_starts(b.get(i..).unwrap_or_default(), b" dot ")
        && b.get(i + 5).is_some_and(u8::is_ascii_alphanumeric))
    {
        return false;
    }
    let Some(at) = last_at else { return false };
    let tail = view.as_bytes().get(at..).unwrap_or_default();
    !tail.is_empty()
        && tail.len() <= 64
        && tail
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-'))
}

fn hex4(s: &[u8]) -> Option<u32> {
    let h = s.get(..4)?;
    let t = std::str::from_utf8(h).ok()?;
    u32::from_str_radix(t, 16)
        .ok()
        .filter(|_| h.iter().all(u8::is_ascii_hexdigit))
}

/// A JSON escape at `i` (a backslash): the character and the escape's length.
fn escape(s: &[u8]) -> Option<(char, usize)> {
    match s.get(1)? {
        b'n' => Some(('\n', 2)),
        b't' => Some(('\t', 2)),
        b'r' => Some(('\r', 2)),
        b'"' => Some(('"', 2)),
        b'\\' => Some(('\\', 2)),
        b'/' => Some(('/', 2)),
        b'u' => {
            let hi = hex4(s.get(2..)?)?;
            if (0xD800..0xDC00).contains(&hi) {
                let lo = (s.get(6..8)? == b"\\u")
                    .then(|| hex4(s.get(8..)?))
                    .flatten()?;
                if !(0xDC00..0xE000).contains(&lo) {
                    return None;
                }
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                char::from_u32(c).map(|c| (c, 12))
            } else {
                char::from_u32(hi).map(|c| (c, 6))
            }
        }
        _ => None,
    }
}

/// The normalised view of `text`, or `None` when it would equal `text` (nothing allocated).
pub fn normalize(text: &str) -> Option<Normalized> {
    // Offsets are kept in u32: larger texts are scanned as they are.
    if u32::try_from(text.len()).is_err() {
        return None;
    }
    let bytes = text.as_bytes();
    let mut b = Builder {
        src: text,
        out: None,
        last_at: None,
    };
    let mut i = 0;
    // Every iteration consumes at least one byte: linear.
    while i < bytes.len() {
        if b.out.is_none() {
            // Fast path while nothing changed: skip what cannot start a change, no copying.
            while let Some(&c) = bytes.get(i) {
                match c {
                    b'\\' | b'%' | b'[' | b'(' | b'{' => break,
                    b' ' if matches!(bytes.get(i + 1), Some(b'a' | b'A' | b'd' | b'D')) => break,
                    b'@' => {
                        i += 1;
                        b.last_at = Some(i);
                    }
                    0..=0x7f => i += 1,
                    _ => {
                        let Some(ch) = text.get(i..).and_then(|t| t.chars().next()) else {
                            break;
                        };
                        if fold(ch) != Fold::Keep {
                            break;
                        }
                        i += ch.len_utf8();
                    }
                }
            }
        }
        let Some(&byte) = bytes.get(i) else { break };
        if byte.is_ascii() {
            let rest = bytes.get(i..).unwrap_or_default();
            let step = match byte {
                b'\\' => escape(rest).map(|(c, n)| match fold(c) {
                    Fold::Keep => (Some(c), n),
                    Fold::To(d) => (Some(d), n),
                    Fold::Drop => (None, n),
                }),
                b'%' => match rest.get(1..3) {
                    Some(h) if h == b"40" => Some((Some('@'), 3)),
                    Some(h) if h.eq_ignore_ascii_case(b"2b") => Some((Some('+'), 3)),
                    _ => None,
                },
                b'[' | b'(' | b'{' => {
                    if let Some(n) = bracketed(rest, b"at") {
                        Some((Some('@'), n))
                    } else {
                        bracketed(rest, b"dot").map(|n| (Some('.'), n))
                    }
                }
                b' ' if rest
                    .get(1)
                    .is_some_and(|c| matches!(c, b'a' | b'A' | b'd' | b'D')) =>
                {
                    let view = b.view(i);
                    if spelled_at(text, view, i) {
                        Some((Some('@'), 4))
                    } else if spelled_dot(text, view, b.last_at, i) {
                        Some((Some('.'), 5))
                    } else {
                        None
                    }
                }
                _ => None,
            };
            match step {
                Some((c, n)) => {
                    let mut a = i;
                    let mut end = i.saturating_add(n);
                    // A bracketed marker swallows the spaces around it: `john [at] x [dot] io`.
                    if matches!(byte, b'[' | b'(' | b'{') {
                        if let Some(p) = b.pop_spaces(i, 3) {
                            a = p;
                        }
                        let mut k = 0;
                        while k < 3 && matches!(bytes.get(end), Some(b' ' | b'\t')) {
                            end += 1;
                            k += 1;
                        }
                    }
                    match c {
                        Some(c) => b.push(c, a, end),
                        None => b.start(i),
                    }
                    i = end;
                }
                None => {
                    b.keep(char::from(byte), i, i + 1);
                    i += 1;
                }
            }
        } else {
            let Some(c) = text.get(i..).and_then(|t| t.chars().next()) else {
                break;
            };
            let n = c.len_utf8();
            match fold(c) {
                Fold::Keep => b.keep(c, i, i + n),
                Fold::To(d) => b.push(d, i, i + n),
                Fold::Drop => b.start(i),
            }
            i += n;
        }
    }
    b.out.map(|(text, map)| Normalized { text, map })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(t: &str) -> String {
        normalize(t).map_or_else(|| t.to_owned(), |n| n.text)
    }

    #[test]
    fn plain_text_is_not_copied() {
        for t in [
            "plain ascii, with (brackets) [x] {y} 50% and meet at noon",
            "日本語のテキスト 🎉 and café",
            "",
        ] {
            assert!(normalize(t).is_none(), "{t}");
        }
    }

    #[test]
    fn folds_digits_symbols_and_drops_invisibles() {
        assert_eq!(view("４１１１"), "4111");
        assert_eq!(view("٠١٢٣٤٥٦٧٨٩"), "0123456789");
        assert_eq!(view("۰۱۲۳۴۵۶۷۸۹"), "0123456789");
        assert_eq!(view("०१२३४५६७८९"), "0123456789");
        assert_eq!(view("ａｂｃ＠ｘ．ｉｏ"), "abc@x.io");
        assert_eq!(view("a﹫b"), "a@b");
        assert_eq!(
            view("12\u{200B}3\u{200C}4\u{200D}5\u{2060}6\u{FEFF}7\u{00AD}8\u{202E}9"),
            "123456789"
        );
        assert_eq!(
            view("1\u{00A0}2\u{202F}3\u{2009}4\u{2007}5\u{2013}6\u{2010}7\u{2212}8"),
            "1 2 3 4 5-6-7-8"
        );
        for z in DIGIT_ZEROS {
            let c = char::from_u32(*z).unwrap_or('x');
            assert!(c.is_numeric(), "{z:x}");
            assert_eq!(decimal(c), Some('0'));
        }
    }

    #[test]
    fn decodes_escapes_and_spelled_forms() {
        assert_eq!(
            view(r#"{\"e\":\"a\u0040b.io\"}\n\tx"#),
            "{\"e\":\"a@b.io\"}\n\tx"
        );
        assert_eq!(view(r"\u002B49 \u003c"), "+49 <");
        assert_eq!(view(r"\ud83d\ude00"), "😀");
        assert_eq!(view(r"\ud83d lone \uZZZZ"), r"\ud83d lone \uZZZZ");
        assert_eq!(view("a%40b.io %2B1"), "a@b.io +1");
        assert_eq!(view("john [at] example [dot] com"), "john@example.com");
        assert_eq!(view("john(AT)example(dot)com"), "john@example.com");
        assert_eq!(view("john.doe at example.com"), "john.doe@example.com");
        assert_eq!(view("jo at example dot com"), "jo@example.com");
        assert_eq!(view("arrive at home dot"), "arrive at home dot");
        assert_eq!(view("mail jo at example dot com"), "mail jo@example.com");
        assert_eq!(view("jane at corp [dot] io"), "jane@corp.io");
        assert_eq!(view("look at google.com"), "look at google.com");
        assert_eq!(
            view("Reach Bob at bob.smith@evil-corp.com now"),
            "Reach Bob at bob.smith@evil-corp.com now"
        );
        assert_eq!(view("a@example dot org"), "a@example.org");
        assert_eq!(view("meet at 5 dot"), "meet at 5 dot");
    }

    #[test]
    fn spans_map_back_exactly_including_dropped_edges() {
        let t = "x \u{200B}4\u{200B}1\u{FEFF}\u{200D} y";
        let n = normalize(t).unwrap_or_else(|| unreachable!());
        assert_eq!(n.text, "x 41 y");
        let (a, b) = n.span(t, 2, 4, 0).unwrap_or_default();
        assert_eq!(&t[a..b], "\u{200B}4\u{200B}1\u{FEFF}\u{200D}");
        let t = r"mail a\u0040b.io!";
        let n = normalize(t).unwrap_or_else(|| unreachable!());
        let s = n.text.find("a@").unwrap_or_default();
        let (a, b) = n.span(t, s, s + 6, 0).unwrap_or_default();
        assert_eq!(&t[a..b], r"a\u0040b.io");
        let t = "x ｊｏ＠ｘ．ｉｏ y";
        let n = normalize(t).unwrap_or_else(|| unreachable!());
        let (a, b) = n.span(t, 2, 9, 0).unwrap_or_default();
        assert_eq!(&t[a..b], "ｊｏ＠ｘ．ｉｏ");
        // The view never grows.
        for t in ["\\u0040\\u0040", "[at](dot)", "١٢٣", "a at b.io"] {
            assert!(view(t).len() <= t.len(), "{t}");
        }
    }
}
