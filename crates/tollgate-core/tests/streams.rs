//! Recorded provider streams, fed to the SSE parser split at every byte position.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use tollgate_core::api::ApiKind;
use tollgate_core::sse::{SseEvent, SseParser};
use tollgate_core::usage::{self, EventRole, StreamUsage, Usage};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<SseEvent> {
    let mut p = SseParser::default();
    let mut out = Vec::new();
    for c in chunks {
        p.feed(c, &mut out);
    }
    out.extend(p.finish());
    out
}

/// Every split into two pieces and every fixed chunk size gives the same events and loses no byte.
fn assert_split_invariant(bytes: &[u8]) -> Vec<SseEvent> {
    let whole = parse_chunks([bytes]);
    let semantic = |evs: &[SseEvent]| -> Vec<(Option<String>, Option<String>)> {
        // A lone LF left over from a CRLF split after the last event carries nothing.
        evs.iter()
            .filter(|e| e.event.is_some() || e.data.is_some() || e.raw != b"\n")
            .map(|e| (e.event.clone(), e.data.clone()))
            .collect()
    };
    for i in 0..=bytes.len() {
        let (a, b) = bytes.split_at(i);
        let evs = parse_chunks([a, b]);
        assert_eq!(semantic(&evs), semantic(&whole), "split at {i}");
        assert_eq!(
            evs.iter().flat_map(|e| e.raw.clone()).collect::<Vec<_>>(),
            bytes,
            "raw, split {i}"
        );
    }
    for size in 1..=16 {
        let evs = parse_chunks(bytes.chunks(size));
        assert_eq!(semantic(&evs), semantic(&whole), "chunk size {size}");
        assert_eq!(
            evs.iter().flat_map(|e| e.raw.clone()).collect::<Vec<_>>(),
            bytes
        );
    }
    whole
}

fn stream_usage(kind: ApiKind, evs: &[SseEvent]) -> (StreamUsage, Vec<EventRole>) {
    let mut s = StreamUsage::default();
    let roles = evs.iter().map(|e| s.on_event(kind, e)).collect();
    (s, roles)
}

#[test]
fn openai_chat_stream() {
    let evs = assert_split_invariant(&fixture("openai_chat.sse"));
    assert_eq!(evs.len(), 6);
    assert_eq!(
        evs[1].data.as_deref().map(|d| d.contains("Héllo 世界 🎉")),
        Some(true)
    );
    assert_eq!(evs[2].data, None, "comment-only block has no data");
    let (s, roles) = stream_usage(ApiKind::ChatCompletions, &evs);
    use EventRole::*;
    assert_eq!(roles, vec![Other, Other, Other, Other, UsageOnly, Done]);
    assert_eq!(s.facts().model.as_deref(), Some("gpt-4o-2024-08-06"));
    assert_eq!(
        s.facts().usage,
        Some(Usage {
            prompt_tokens: 19,
            completion_tokens: 7,
            total_tokens: 26,
            cached_prompt_tokens: 3,
            reasoning_tokens: 2
        })
    );
}

#[test]
fn anthropic_stream_crlf() {
    let evs = assert_split_invariant(&fixture("anthropic.sse"));
    assert_eq!(evs.len(), 7);
    assert_eq!(evs[0].event.as_deref(), Some("message_start"));
    let (s, _) = stream_usage(ApiKind::AnthropicMessages, &evs);
    assert_eq!(s.facts().model.as_deref(), Some("claude-sonnet-4-5"));
    // prompt = input 25 + cache read 10 + cache creation 4; output from message_delta.
    assert_eq!(
        s.facts().usage,
        Some(Usage {
            prompt_tokens: 39,
            completion_tokens: 15,
            total_tokens: 54,
            cached_prompt_tokens: 10,
            reasoning_tokens: 0
        })
    );
}

#[test]
fn gemini_stream() {
    let evs = assert_split_invariant(&fixture("gemini.sse"));
    let (s, _) = stream_usage(ApiKind::GeminiStreamGenerate, &evs);
    assert_eq!(s.facts().model.as_deref(), Some("gemini-2.5-flash"));
    assert_eq!(
        s.facts().usage,
        Some(Usage {
            prompt_tokens: 8,
            completion_tokens: 12,
            total_tokens: 20,
            cached_prompt_tokens: 2,
            reasoning_tokens: 7
        })
    );
}

#[test]
fn responses_stream() {
    let evs = assert_split_invariant(&fixture("responses.sse"));
    let (s, _) = stream_usage(ApiKind::Responses, &evs);
    assert_eq!(s.facts().model.as_deref(), Some("gpt-5.2"));
    assert_eq!(
        s.facts().usage,
        Some(Usage {
            prompt_tokens: 30,
            completion_tokens: 12,
            total_tokens: 42,
            cached_prompt_tokens: 0,
            reasoning_tokens: 4
        })
    );
}

#[test]
fn multiline_data_cr_only_and_fields() {
    let evs = assert_split_invariant(&fixture("multiline.sse"));
    let data: Vec<_> = evs.iter().map(|e| e.data.clone()).collect();
    assert_eq!(
        data,
        vec![
            Some("first line\nsecond line".into()),
            Some("no-space".into()),
            Some("[DONE]".into())
        ]
    );
    assert!(evs[2].is_done());
}

#[test]
fn unterminated_tail_is_returned_on_finish() {
    let evs = parse_chunks([&b"data: a\n\ndata: partial"[..]]);
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[1].data.as_deref(), Some("partial"));
}

#[test]
fn oversized_event_passes_raw() {
    let mut p = SseParser::new(16);
    let mut out = Vec::new();
    p.feed(b"data: 0123456789abcdefghij", &mut out);
    p.feed(b"more\n\n", &mut out);
    assert!(p.overflowed());
    let raw: Vec<u8> = out.iter().flat_map(|e| e.raw.clone()).collect();
    assert_eq!(raw, b"data: 0123456789abcdefghijmore\n\n");
}

#[test]
fn malformed_event_is_counted_not_fatal() {
    let evs = parse_chunks([&b"data: {not json\n\ndata: [DONE]\n\n"[..]]);
    let (s, roles) = stream_usage(ApiKind::ChatCompletions, &evs);
    assert_eq!(s.unparseable_events(), 1);
    assert_eq!(roles.last(), Some(&EventRole::Done));
    assert_eq!(s.facts().usage, None);
}

#[test]
fn json_bodies_per_shape() {
    let chat = br#"{"id":"x","object":"chat.completion","model":"gpt-4.1","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":11,"completion_tokens":2,"total_tokens":13,"prompt_tokens_details":{"cached_tokens":null}}}"#;
    let f = usage::from_json(ApiKind::ChatCompletions, chat).ok();
    assert_eq!(
        f.as_ref().and_then(|f| f.model.clone()).as_deref(),
        Some("gpt-4.1")
    );
    assert_eq!(
        f.and_then(|f| f.usage)
            .map(|u| (u.prompt_tokens, u.total_tokens)),
        Some((11, 13))
    );

    let resp = br#"{"id":"r","object":"response","model":"gpt-5","output":[],"usage":{"input_tokens":5,"input_tokens_details":{"cached_tokens":1},"output_tokens":3,"output_tokens_details":{"reasoning_tokens":2},"total_tokens":8}}"#;
    let u = usage::from_json(ApiKind::Responses, resp)
        .ok()
        .and_then(|f| f.usage);
    assert_eq!(
        u,
        Some(Usage {
            prompt_tokens: 5,
            completion_tokens: 3,
            total_tokens: 8,
            cached_prompt_tokens: 1,
            reasoning_tokens: 2
        })
    );

    let anth = br#"{"id":"m","type":"message","model":"claude-haiku-4-5","content":[],"usage":{"input_tokens":7,"output_tokens":4,"cache_read_input_tokens":3}}"#;
    let u = usage::from_json(ApiKind::AnthropicMessages, anth)
        .ok()
        .and_then(|f| f.usage);
    assert_eq!(
        u.map(|u| (
            u.prompt_tokens,
            u.completion_tokens,
            u.total_tokens,
            u.cached_prompt_tokens
        )),
        Some((10, 4, 14, 3))
    );

    let gem_array = br#"[{"candidates":[],"usageMetadata":{"promptTokenCount":4},"modelVersion":"gemini-2.5-pro"},{"candidates":[],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":6,"totalTokenCount":10},"modelVersion":"gemini-2.5-pro"}]"#;
    let f = usage::from_json(ApiKind::GeminiStreamGenerate, gem_array).ok();
    assert_eq!(
        f.clone().and_then(|f| f.usage).map(|u| u.total_tokens),
        Some(10)
    );
    assert_eq!(f.and_then(|f| f.model).as_deref(), Some("gemini-2.5-pro"));

    assert!(usage::from_json(
        ApiKind::ChatCompletions,
        b"{\"id\": \"broken\", \"choices\": ["
    )
    .is_err());
    assert!(usage::from_json(ApiKind::ChatCompletions, b"<html>502</html>").is_err());
}
