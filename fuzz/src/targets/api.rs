//! `ApiKind::classify` (and path helpers) on random methods and paths.

use crate::gen;
use crate::rng::Rng;
use crate::seeds::{METHODS, PATHS};
use crate::Target;
use tollgate_core::api::{gemini_model_from_path, ApiKind};

pub const TARGET: Target = Target {
    name: "api",
    about: "ApiKind::classify/provider_hint/gemini_model_from_path on random methods and paths",
    generate,
    check,
};

fn generate(rng: &mut Rng) -> Vec<u8> {
    let method = if rng.one_in(5) {
        gen::text(rng, 2)
    } else {
        (rng.pick(METHODS)).to_owned()
    };
    let path = match rng.below(4) {
        0 => gen::text(rng, 6),
        1 => (rng.pick(PATHS)).to_owned(),
        _ => {
            let p = rng.pick(PATHS);
            gen::mutate_text(rng, p)
        }
    };
    let mut out = method.replace('\0', "").into_bytes();
    out.push(0);
    out.extend(path.into_bytes());
    out
}

fn check(input: &[u8]) -> Result<(), String> {
    let s = String::from_utf8_lossy(input);
    let (method, path) = s.split_once('\0').unwrap_or((&s, ""));
    let kind = ApiKind::classify(method, path);
    if kind.is_some() && !method.eq_ignore_ascii_case("POST") {
        return Err(format!("method: {method:?} classified as {kind:?}"));
    }
    if let Some(k) = kind {
        let _ = (k.provider_hint(path), k.as_str());
    }
    if !path.contains(['?', '#']) {
        // The query, the fragment and trailing slashes never change what a path is.
        for variant in [
            format!("{path}?a=b:c/d"),
            format!("{path}#x"),
            format!("{path}/"),
        ] {
            let other = ApiKind::classify(method, &variant);
            if other != kind {
                return Err(format!(
                    "suffix: {path:?} is {kind:?} but {variant:?} is {other:?}"
                ));
            }
        }
    }
    if let Some(m) = gemini_model_from_path(path) {
        if m.is_empty() || m.contains([':', '?']) {
            return Err(format!("gemini model: {m:?} from {path:?}"));
        }
    }
    Ok(())
}
