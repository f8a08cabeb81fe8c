//! Request parsing of every API shape: `parse_body`, `LlmRequest`, `visit_texts`,
//! `ParsedRequest::{parse, from_doc}`, `set_include_usage`.

use super::head;
use crate::gen;
use crate::rng::Rng;
use crate::seeds::{KINDS, PATHS, REQUESTS};
use crate::Target;
use serde_json::Value;
use tollgate_core::body::{parse_body, visit_texts, BodyError, LlmRequest};
use tollgate_core::request::{set_include_usage, ParsedRequest};

pub const TARGET: Target = Target {
    name: "request",
    about: "parse_body/LlmRequest/visit_texts/ParsedRequest on mutated bodies of every shape",
    generate,
    check,
};

fn generate(rng: &mut Rng) -> Vec<u8> {
    let (kind_i, (_, path, body)) = {
        let i = rng.below(REQUESTS.len());
        (i, REQUESTS[i])
    };
    let kind_byte = if rng.one_in(4) {
        rng.below(KINDS.len()) as u8
    } else {
        kind_i as u8
    };
    let path = match rng.below(4) {
        0 => (rng.pick(PATHS)).to_owned(),
        1 => gen::mutate_text(rng, path),
        _ => path.to_owned(),
    };
    let others: Vec<&[u8]> = REQUESTS.iter().map(|(_, _, b)| b.as_bytes()).collect();
    let body = match rng.below(6) {
        0 => body.as_bytes().to_vec(),
        1 => gen::random_json(rng, 4),
        _ => gen::mutate_json(rng, body.as_bytes(), &others),
    };
    let path = path.as_bytes();
    let plen = path.len().min(255);
    let mut out = vec![kind_byte, plen as u8];
    out.extend_from_slice(&path[..plen]);
    out.extend(body);
    out
}

fn check(input: &[u8]) -> Result<(), String> {
    let (k, rest) = head(input);
    let kind = KINDS[usize::from(k) % KINDS.len()];
    let (plen, rest) = head(rest);
    let plen = usize::from(plen).min(rest.len());
    let path = String::from_utf8_lossy(&rest[..plen]).into_owned();
    let body = &rest[plen..];

    let strict = parse_body(body);
    if let Err(e) = &strict {
        let (_, _) = (e.message(), e.code());
    }
    // The strict reading agrees with serde_json's wherever it accepts; where serde_json reads an
    // object the strict one refuses, the reason is a duplicate key.
    let lenient: Option<Value> = serde_json::from_slice(body).ok();
    match (&strict, &lenient) {
        (Ok(v), Some(l)) if v != l => return Err("strict != lenient: values differ".into()),
        (Ok(_), None) => return Err("strict accepts what serde_json refuses".into()),
        (Ok(v), _) if !v.is_object() => return Err("strict: accepted a non-object".into()),
        (Err(e), Some(l)) if l.is_object() && !matches!(e, BodyError::DuplicateKey(_)) => {
            return Err(format!("strict refuses an object serde_json reads: {e:?}"));
        }
        _ => {}
    }

    let mut req = LlmRequest::new(kind, path.clone(), body.to_vec());
    if req.raw() != body {
        return Err("raw: LlmRequest::raw differs from the body".into());
    }
    if req.doc().cloned() != strict {
        return Err("doc: LlmRequest::doc differs from parse_body".into());
    }
    if req.new_body().is_some() {
        return Err("new_body: Some before any change".into());
    }
    let parsed = ParsedRequest::parse(kind, &path, body);
    if parsed.is_ok() != strict.is_ok() {
        return Err("ParsedRequest::parse disagrees with parse_body".into());
    }
    if let Ok(doc) = req.doc_mut() {
        let facts = ParsedRequest::from_doc(kind, &path, doc)
            .map_err(|_| "from_doc: refused a parsed object".to_owned())?;
        let _ = facts.lacks_stream_usage();
        if let Ok(p) = &parsed {
            if p.facts != facts.facts {
                return Err("facts: parse and from_doc differ".into());
            }
        }
        if kind == tollgate_core::api::ApiKind::GeminiStreamGenerate && !facts.facts.stream {
            return Err("facts: a streamGenerateContent request must stream".into());
        }
        if !set_include_usage(doc) {
            return Err("set_include_usage: refused an object".into());
        }
        let mut n = 0usize;
        visit_texts(doc, &mut |s| {
            n += 1;
            s.push('✓');
        });
        let again = ParsedRequest::from_doc(kind, &path, doc)
            .map_err(|_| "from_doc: refused after set_include_usage".to_owned())?;
        if !again.facts.include_usage {
            return Err("set_include_usage: include_usage not read back".into());
        }
        req.mark_changed();
        match req.new_body() {
            Some(Ok(b)) => {
                let mut doc2 = parse_body(&b)
                    .map_err(|e| format!("rewritten body: strict parse fails: {e:?}"))?;
                let mut m = 0usize;
                visit_texts(&mut doc2, &mut |s| {
                    if s.ends_with('✓') {
                        m += 1;
                    }
                });
                if m < n {
                    return Err(format!("rewritten body: {n} texts changed, {m} read back"));
                }
            }
            other => return Err(format!("new_body: {other:?} after a change")),
        }
    }
    Ok(())
}
