//! Input generators and mutators: byte-level (flips, ranges, splices, invalid UTF-8), text-level
//! (tricky Unicode, PII-shaped values, placeholders) and JSON-level (wrong types, huge numbers,
//! deep nesting, duplicate keys).

use crate::rng::Rng;
use serde_json::{Map, Number, Value};

/// Unicode that trips up byte/char arithmetic: CJK, emoji with ZWJ and modifiers, combining marks,
/// right-to-left text and overrides, zero-width characters, odd spaces, BOM, replacement char.
pub const TRICKY: &[&str] = &[
    "漢字",
    "中文字符",
    "こんにちは",
    "한국어",
    "ภาษาไทย",
    "👩\u{200D}💻",
    "👨\u{200D}👩\u{200D}👧\u{200D}👦",
    "🏳\u{FE0F}\u{200D}🌈",
    "👍🏽",
    "🇩🇪",
    "🙂",
    "e\u{301}",
    "a\u{308}\u{323}",
    "\u{301}",
    "\u{20DD}",
    "مرحبا",
    "שלום",
    "\u{202E}abc\u{202C}",
    "\u{200F}",
    "\u{200B}",
    "\u{200C}",
    "\u{200D}",
    "\u{FEFF}",
    "\u{2060}",
    "\u{00A0}",
    "\u{3000}",
    "\u{2028}",
    "\u{2029}",
    "\u{FFFD}",
    "\u{10FFFF}",
    "ǅ",
    "ß",
    "İ",
    "ﬁ",
    "\u{0}",
    "\t",
    "\r\n",
    "\n",
    "\r",
    " ",
    "Ω",
    "𝔘𝔫𝔦",
    "𓀀",
];

/// Bytes that are never valid UTF-8 where they are put.
pub const INVALID_UTF8: &[&[u8]] = &[
    b"\xff",
    b"\xfe",
    b"\xc0\x80",
    b"\x80",
    b"\xbf",
    b"\xe2\x82",
    b"\xf0\x9f\x98",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xc3",
];

/// Values the PII detectors look for (and near misses), and placeholder-shaped text.
pub const PII: &[&str] = &[
    "bob@x.io",
    "john.doe+tag@example.co.uk",
    "a@b.co",
    "user@localhost",
    "x@y",
    ".a@b.io",
    "+14155552671",
    "+44 20 7946 0958",
    "0049 30 901820",
    "(415) 555-2671",
    "415-555-2671",
    "415.555.2671",
    "+1 (415) 555-2671",
    "(415",
    "555-2671)",
    "4111 1111 1111 1111",
    "5555-5555-5555-4444",
    "378282246310005",
    "6011111111111117",
    "4111 1111 1111 1112",
    "4111-1111 1111-1111",
    "123-45-6789",
    "123 45 6789",
    "ssn 123456789",
    "666-12-3456",
    "DE89370400440532013000",
    "GB82 WEST 1234 5698 7654 32",
    "FR1420041010050500013M02606",
    "192.168.0.1",
    "999.1.1.1",
    "2001:db8:85a3::8a2e:370:7334",
    "::1",
    "::",
    "fe80::1%eth0",
    "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
    "sk-ant-api03-abcdefghijklmnopqrstuvwx",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----",
    "-----BEGIN EC PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----",
    "EMP-123456",
    "Project Falcon",
    "bluebird",
    "<EMAIL_1>",
    "<EMAIL_2>",
    "<PHONE_1>",
    "<SSN_1>",
    "<EMA",
    "IL_1>",
    "<",
    ">",
    "<<",
    "<EMAIL_",
    "<X_9>",
    "<EMAIL:0a1b2c3d4e5f>",
    "2024-01-15 10:30:00",
    "v1.2.3.4",
    "ORD-415-555-2671",
    "550e8400-e29b-41d4-a716-446655440000",
];

/// Plain words and punctuation.
pub const WORDS: &[&str] = &[
    "hello",
    "World",
    "the",
    "mail",
    "call",
    "card",
    "ssn",
    "id",
    "données",
    "Straße",
    "naïve",
    "привет",
    "'s",
    "'ll",
    "don't",
    ".",
    ",",
    "!",
    "?",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "'",
    ":",
    ";",
    "-",
    "_",
    "/",
    "\\",
    "@",
    "#",
    "$",
    "%",
    "&",
    "*",
    "+",
    "=",
    "|",
    "~",
    "`",
    "^",
    "0",
    "7",
    "42",
    "3.14",
    "1e9",
    "123456789012345678901234567890",
    "   ",
    "\t\t",
    "\n\n",
    " \r\n ",
];

/// JSON fragments for byte-level mutation of JSON text.
const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ",",
    ":",
    "null",
    "true",
    "false",
    "0",
    "-0",
    "1e999",
    "-1e999",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775809",
    "1.7976931348623157e308",
    "4.9e-324",
    "\\u0000",
    "\\ud800",
    "\\udc00",
    "\\ud83d\\ude00",
    "\\\"",
    "\\\\",
    "\\n",
    "{}",
    "[]",
    "\"\"",
    "{\"a\":1}",
    "[[[[",
    "]]]]",
    "NaN",
    "Infinity",
    "01",
    "1.",
    ".5",
    "+1",
];

/// A random Unicode scalar value (any plane; surrogates excluded).
pub fn any_char(rng: &mut Rng) -> char {
    let cp = match rng.below(6) {
        0 => rng.range(0x20, 0x7e) as u32,
        1 => rng.range(0, 0x1f) as u32,
        2 => rng.range(0x80, 0x7ff) as u32,
        3 => rng.range(0x800, 0xffff) as u32,
        4 => rng.range(0x1_0000, 0x10_ffff) as u32,
        _ => rng.range(0x1f300, 0x1faff) as u32,
    };
    char::from_u32(cp).unwrap_or('\u{FFFD}')
}

/// A text mixing words, tricky Unicode, PII-shaped values and random characters.
pub fn text(rng: &mut Rng, max_parts: usize) -> String {
    let mut s = String::new();
    let parts = rng.range(0, max_parts);
    for _ in 0..parts {
        match rng.below(10) {
            0..=2 => s.push_str(rng.pick(WORDS)),
            3 | 4 => s.push_str(rng.pick(TRICKY)),
            5 | 6 => s.push_str(rng.pick(PII)),
            7 => {
                for _ in 0..rng.range(1, 8) {
                    s.push(any_char(rng));
                }
            }
            8 => {
                let unit = rng.pick(&["a", "9", " ", "字", "🙂", "-", "<", "ab"]);
                s.push_str(&unit.repeat(rng.range(1, 300)));
            }
            _ => s.push(' '),
        }
        if rng.one_in(3) {
            s.push(' ');
        }
    }
    s
}

/// Mutates a text and keeps it a `String` (Unicode-level edits only).
pub fn mutate_text(rng: &mut Rng, s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    for _ in 0..rng.range(1, 4) {
        let n = chars.len();
        match rng.below(7) {
            0 if n > 0 => {
                let i = rng.below(n);
                let j = rng.range(i, n.min(i + 16));
                chars.drain(i..j);
            }
            1 => {
                let i = rng.range(0, n);
                let ins: Vec<char> = rng.pick(TRICKY).chars().collect();
                chars.splice(i..i, ins);
            }
            2 => {
                let i = rng.range(0, n);
                let ins: Vec<char> = rng.pick(PII).chars().collect();
                chars.splice(i..i, ins);
            }
            3 if n > 0 => {
                let i = rng.below(n);
                chars[i] = any_char(rng);
            }
            4 if n > 0 => {
                let i = rng.below(n);
                let j = rng.range(i, n.min(i + 32));
                let dup: Vec<char> = chars[i..j].to_vec();
                chars.splice(j..j, dup);
            }
            5 => chars.truncate(rng.range(0, n)),
            _ => {
                let i = rng.range(0, n);
                chars.insert(i, any_char(rng));
            }
        }
    }
    chars.into_iter().collect()
}

/// One to four byte-level mutations of `data`; `others` supplies splice partners.
pub fn mutate_bytes(rng: &mut Rng, data: &[u8], others: &[&[u8]]) -> Vec<u8> {
    let mut d = data.to_vec();
    for _ in 0..rng.range(1, 4) {
        mutate_once(rng, &mut d, others);
    }
    d
}

fn mutate_once(rng: &mut Rng, d: &mut Vec<u8>, others: &[&[u8]]) {
    let n = d.len();
    match rng.below(13) {
        0 if n > 0 => {
            let i = rng.below(n);
            d[i] ^= 1 << rng.below(8);
        }
        1 if n > 0 => {
            let i = rng.below(n);
            d[i] = rng.next_u64() as u8;
        }
        2 => {
            let i = rng.range(0, n);
            let k = rng.range(1, 8);
            let ins: Vec<u8> = (0..k).map(|_| rng.next_u64() as u8).collect();
            d.splice(i..i, ins);
        }
        3 if n > 0 => {
            let i = rng.below(n);
            let len = 1 + rng.small(64);
            let j = rng.range(i, n.min(i + len));
            d.drain(i..j);
        }
        4 if n > 0 => {
            let i = rng.below(n);
            let len = 1 + rng.small(256);
            let j = rng.range(i, n.min(i + len));
            let dup = d[i..j].to_vec();
            let at = rng.range(0, n);
            d.splice(
                at..at,
                dup.iter()
                    .copied()
                    .cycle()
                    .take(dup.len() * rng.range(1, 4)),
            );
        }
        5 if !others.is_empty() => {
            // Splice: a prefix of this sample, a suffix of another.
            let o = rng.pick(others);
            let i = rng.range(0, n);
            let j = rng.range(0, o.len());
            d.truncate(i);
            d.extend_from_slice(&o[j..]);
        }
        6 => d.truncate(rng.range(0, n)),
        7 => {
            let i = rng.range(0, n);
            d.splice(i..i, rng.pick(TRICKY).bytes());
        }
        8 => {
            let i = rng.range(0, n);
            d.splice(i..i, rng.pick(INVALID_UTF8).iter().copied());
        }
        9 => {
            let i = rng.range(0, n);
            d.splice(i..i, rng.pick(JSON_TOKENS).bytes());
        }
        10 => {
            let i = rng.range(0, n);
            d.splice(i..i, rng.pick(PII).bytes());
        }
        11 => {
            // Line endings and SSE framing.
            let i = rng.range(0, n);
            let t: &[u8] = rng.pick(&[
                &b"\n"[..],
                b"\r",
                b"\r\n",
                b"\n\n",
                b"\r\n\r\n",
                b"data: ",
                b"data:",
                b"event: ",
                b": comment\n",
                b"data: [DONE]\n\n",
                b"id: 1\n",
                b"retry: 10\n",
            ]);
            d.splice(i..i, t.iter().copied());
        }
        _ => {
            // Deep (bounded) nesting around the whole input.
            let depth = rng.range(1, 200);
            let (open, close): (&[u8], &[u8]) = if rng.one_in(2) {
                (b"[", b"]")
            } else {
                (b"{\"a\":", b"}")
            };
            let mut out = open.repeat(depth);
            out.extend_from_slice(d);
            out.extend(close.repeat(depth));
            *d = out;
        }
    }
}

/// A random JSON number, often an edge case.
pub fn number(rng: &mut Rng) -> Value {
    match rng.below(10) {
        0 => Value::from(u64::MAX),
        1 => Value::from(u64::MAX - rng.below(3) as u64),
        2 => Value::from(i64::MIN),
        3 => Value::from(-(rng.below(1000) as i64)),
        4 => Number::from_f64(1.5e308).map_or(Value::Null, Value::Number),
        5 => Number::from_f64(rng.below(1000) as f64 / 7.0).map_or(Value::Null, Value::Number),
        6 => Value::from(1u64 << 53),
        7 => Value::from(rng.next_u64()),
        _ => Value::from(rng.below(100) as u64),
    }
}

/// A random JSON value of bounded depth.
pub fn value(rng: &mut Rng, depth: usize) -> Value {
    let k = if depth == 0 {
        rng.below(4)
    } else {
        rng.below(7)
    };
    match k {
        0 => Value::Null,
        1 => Value::Bool(rng.one_in(2)),
        2 => number(rng),
        3 => Value::String(text(rng, 4)),
        4 | 5 => {
            let mut m = Map::new();
            for _ in 0..rng.small(5) {
                let key = if rng.one_in(2) {
                    (rng.pick(KEYS)).to_owned()
                } else {
                    text(rng, 2)
                };
                m.insert(key, value(rng, depth - 1));
            }
            Value::Object(m)
        }
        _ => Value::Array((0..rng.small(5)).map(|_| value(rng, depth - 1)).collect()),
    }
}

/// Keys the code under test looks for (so random objects reach deep branches).
pub const KEYS: &[&str] = &[
    "model",
    "messages",
    "role",
    "content",
    "text",
    "type",
    "index",
    "delta",
    "choices",
    "usage",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "input_tokens",
    "output_tokens",
    "stream",
    "stream_options",
    "include_usage",
    "tool_calls",
    "function",
    "arguments",
    "refusal",
    "finish_reason",
    "candidates",
    "parts",
    "finishReason",
    "usageMetadata",
    "promptTokenCount",
    "candidatesTokenCount",
    "totalTokenCount",
    "modelVersion",
    "response",
    "output_index",
    "content_index",
    "partial_json",
    "message",
    "data",
    "source",
    "inlineData",
    "input_audio",
    "input",
    "instructions",
    "output",
    "name",
    "id",
    "contents",
    "system",
    "image_url",
    "url",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "thoughtsTokenCount",
    "prompt_tokens_details",
    "cached_tokens",
    "completion_tokens_details",
    "reasoning_tokens",
];

/// Structural JSON mutations: replace a node by a wrong-typed or edge value, delete or add a
/// member, wrap in nesting, put tricky Unicode into strings.
pub fn mutate_value(rng: &mut Rng, v: &mut Value) {
    let n = count_nodes(v);
    let target = rng.below(n.max(1));
    let mut i = 0;
    visit_mut(v, &mut |node| {
        if i == target {
            mutate_node(rng, node);
        }
        i += 1;
    });
}

fn count_nodes(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count_nodes).sum(),
        Value::Object(o) => o.values().map(count_nodes).sum(),
        _ => 0,
    }
}

fn visit_mut(v: &mut Value, f: &mut dyn FnMut(&mut Value)) {
    f(v);
    match v {
        Value::Array(a) => a.iter_mut().for_each(|x| visit_mut(x, f)),
        Value::Object(o) => o.values_mut().for_each(|x| visit_mut(x, f)),
        _ => {}
    }
}

fn mutate_node(rng: &mut Rng, node: &mut Value) {
    match rng.below(8) {
        0 => *node = value(rng, 2),
        1 => *node = number(rng),
        2 => {
            if let Value::String(s) = node {
                *s = mutate_text(rng, s);
            } else {
                *node = Value::String(text(rng, 3));
            }
        }
        3 => {
            if let Value::Object(o) = node {
                let keys: Vec<String> = o.keys().cloned().collect();
                if !keys.is_empty() {
                    o.remove(&keys[rng.below(keys.len())]);
                }
            }
        }
        4 => {
            if let Value::Object(o) = node {
                o.insert((rng.pick(KEYS)).to_owned(), value(rng, 2));
            } else if let Value::Array(a) = node {
                a.push(value(rng, 2));
            }
        }
        5 => {
            let inner = std::mem::take(node);
            *node = if rng.one_in(2) {
                Value::Array(vec![inner])
            } else {
                let mut m = Map::new();
                m.insert((rng.pick(KEYS)).to_owned(), inner);
                Value::Object(m)
            };
        }
        6 => {
            // Same shape, other type: a string as an object, a number as a string, etc.
            *node = match node {
                Value::String(s) => Value::Array(vec![Value::String(std::mem::take(s))]),
                Value::Number(n) => Value::String(n.to_string()),
                Value::Bool(b) => Value::from(u64::from(*b)),
                Value::Null => Value::Object(Map::new()),
                Value::Array(a) => a.first().cloned().unwrap_or(Value::Null),
                Value::Object(_) => Value::Bool(true),
            }
        }
        _ => {
            if let Value::Array(a) = node {
                if let Some(x) = a.first().cloned() {
                    a.push(x);
                }
            }
        }
    }
}

/// Serialises `v` as JSON, sometimes writing an object member twice (duplicate keys), sometimes
/// with extra whitespace or `\u` escapes.
pub fn to_json(rng: &mut Rng, v: &Value) -> Vec<u8> {
    let dup = rng.one_in(4);
    let ws = rng.one_in(5);
    let mut out = Vec::new();
    write_json(rng, v, dup, ws, &mut out);
    out
}

fn write_json(rng: &mut Rng, v: &Value, dup: bool, ws: bool, out: &mut Vec<u8>) {
    match v {
        Value::Object(o) => {
            out.push(b'{');
            let mut first = true;
            for (k, x) in o {
                let times = if dup && rng.one_in(6) { 2 } else { 1 };
                for _ in 0..times {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    if ws {
                        out.extend_from_slice(b"\n  ");
                    }
                    write_str(rng, k, out);
                    out.push(b':');
                    if ws {
                        out.push(b' ');
                    }
                    write_json(rng, x, dup, ws, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(rng, x, dup, ws, out);
            }
            out.push(b']');
        }
        Value::String(s) => write_str(rng, s, out),
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

fn write_str(rng: &mut Rng, s: &str, out: &mut Vec<u8>) {
    if rng.one_in(8) {
        // Every non-ASCII character as `\u` escapes (surrogate pairs above the BMP).
        out.push(b'"');
        for c in s.chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                c if c.is_ascii() && !c.is_ascii_control() => out.push(c as u8),
                c => {
                    let mut buf = [0u16; 2];
                    for u in c.encode_utf16(&mut buf) {
                        out.extend_from_slice(format!("\\u{u:04x}").as_bytes());
                    }
                }
            }
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(Value::String(s.to_owned()).to_string().as_bytes());
    }
}

/// A random JSON value, serialised (sometimes with duplicate keys).
pub fn random_json(rng: &mut Rng, depth: usize) -> Vec<u8> {
    let v = value(rng, depth);
    to_json(rng, &v)
}

/// Mutates a JSON text: structurally (when it parses) or byte-wise.
pub fn mutate_json(rng: &mut Rng, data: &[u8], others: &[&[u8]]) -> Vec<u8> {
    if rng.one_in(3) {
        return mutate_bytes(rng, data, others);
    }
    match serde_json::from_slice::<Value>(data) {
        Ok(mut v) => {
            for _ in 0..rng.range(1, 3) {
                mutate_value(rng, &mut v);
            }
            let out = to_json(rng, &v);
            if rng.one_in(4) {
                mutate_bytes(rng, &out, others)
            } else {
                out
            }
        }
        Err(_) => mutate_bytes(rng, data, others),
    }
}
