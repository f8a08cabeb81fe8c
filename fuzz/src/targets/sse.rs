//! `SseParser`: any bytes split anywhere never panic; the raw bytes of all events are the input
//! exactly (also once an event overflows a small cap); without overflow, the events' fields do not
//! depend on where the stream was split.

use super::{head, split_points};
use crate::gen;
use crate::rng::Rng;
use crate::seeds::SSE;
use crate::Target;
use tollgate_core::sse::{SseEvent, SseParser, DEFAULT_MAX_EVENT_BYTES};

pub const TARGET: Target = Target {
    name: "sse",
    about: "SseParser: no panic, raw bytes preserved exactly, split-independent fields",
    generate,
    check,
};

fn generate(rng: &mut Rng) -> Vec<u8> {
    let mut out = vec![rng.next_u64() as u8, rng.next_u64() as u8];
    let base: Vec<u8> = match rng.below(4) {
        0 => rng.pick(SSE).to_vec(),
        1 => [rng.pick(SSE), rng.pick(SSE)].concat(),
        2 => synthetic(rng),
        _ => gen::text(rng, 20).into_bytes(),
    };
    if rng.one_in(4) {
        out.extend(base);
    } else {
        out.extend(gen::mutate_bytes(rng, &base, SSE));
    }
    out
}

/// Events with random fields and line endings.
fn synthetic(rng: &mut Rng) -> Vec<u8> {
    let mut s = Vec::new();
    for _ in 0..rng.range(0, 8) {
        let eol: &[u8] = rng.pick(&[&b"\n"[..], b"\r\n", b"\r"]);
        for _ in 0..rng.range(0, 4) {
            let field: &[u8] = rng.pick(&[
                &b"data: "[..],
                b"data:",
                b"event: ",
                b": ",
                b"id: ",
                b"data",
            ]);
            s.extend_from_slice(field);
            s.extend_from_slice(gen::text(rng, 3).replace(['\n', '\r'], " ").as_bytes());
            s.extend_from_slice(eol);
        }
        s.extend_from_slice(eol);
    }
    s
}

/// Feeds `chunks`; returns the events (finish included) and whether the parser overflowed.
fn parse(max: usize, chunks: &[&[u8]]) -> (Vec<SseEvent>, bool) {
    let mut p = SseParser::new(max);
    let mut events = Vec::new();
    for c in chunks {
        p.feed(c, &mut events);
    }
    let overflowed = p.overflowed();
    events.extend(p.finish());
    if p.pending_len() != 0 {
        events.push(SseEvent {
            raw: b"<pending after finish>".to_vec(),
            ..Default::default()
        });
    }
    (events, overflowed)
}

fn check(input: &[u8]) -> Result<(), String> {
    let (max_sel, rest) = head(input);
    let (split_seed, stream) = head(rest);
    let max = if max_sel < 128 {
        DEFAULT_MAX_EVENT_BYTES
    } else {
        usize::from(max_sel - 128)
    };
    let chunks = split_points(stream, u64::from(split_seed));
    let (events, overflowed) = parse(max, &chunks);
    let raw: Vec<u8> = events.iter().flat_map(|e| e.raw.iter().copied()).collect();
    if raw != stream {
        return Err(format!(
            "raw bytes: concatenated raw of {} events ({} bytes) != input ({} bytes), max {max}, overflowed {overflowed}, chunk sizes {:?}",
            events.len(),
            raw.len(),
            stream.len(),
            sizes(&chunks)
        ));
    }
    if let Some(i) = events.iter().position(|e| e.raw.is_empty()) {
        return Err(format!("empty event: event {i} has no raw bytes"));
    }
    if !overflowed {
        let (whole, whole_over) = parse(max, &[stream]);
        let fields = |evs: &[SseEvent]| {
            evs.iter()
                .filter(|e| e.event.is_some() || e.data.is_some())
                .map(|e| (e.event.clone(), e.data.clone()))
                .collect::<Vec<_>>()
        };
        if !whole_over && fields(&events) != fields(&whole) {
            return Err(format!(
                "split dependence: events differ when split as {:?}: {:?} vs whole {:?}",
                sizes(&chunks),
                fields(&events),
                fields(&whole)
            ));
        }
    }
    Ok(())
}

/// The first chunk sizes, for messages.
fn sizes(chunks: &[&[u8]]) -> String {
    let v: Vec<usize> = chunks.iter().take(24).map(|c| c.len()).collect();
    let more = if chunks.len() > 24 { ", …" } else { "" };
    format!("{v:?}{more}")
}
