//! Translation between API shapes: `tollgate_core::translate` (Anthropic, Gemini, Responses ⇄
//! chat) and the router's per-attempt composition (`exchange::prepare`, `AnswerTranslator`).
//!
//! * `translate_request`: `request_to_chat`/`request_from_chat` of every shape and `prepare` for
//!   every provider kind: no panic, JSON bodies, refusals in OpenAI's error shape, bounded size.
//! * `translate_stream`: provider SSE streams through `AnswerTranslator` for every real
//!   (client, provider) pair: no panic, every `data:` JSON (or `[DONE]`), the same bytes however
//!   the stream is split, a terminal event only last, a stream cut before its completing event
//!   never completes in the client's shape, bounded size.
//! * `translate_answer`: whole answers and errors (`AnswerTranslator::headers` + `whole`, and the
//!   `answer_*`/`error_*` functions directly): JSON out, errors with a 4xx/5xx status and the
//!   client shape's error fields, bounded size.

use super::{head, split_points};
use crate::gen;
use crate::rng::{self, Rng};
use crate::seeds::{ANSWERS, KINDS, REQUESTS, SSE};
use crate::Target;
use serde_json::Value;
use tollgate_core::api::ApiKind;
use tollgate_core::sse::{SseEvent, SseParser};
use tollgate_core::translate::{anthropic, gemini, responses, AnthropicOptions, ErrorOut};
use tollgate_router::exchange::{prepare, AnswerTranslator, Mode, Translation};
use tollgate_router::provider::{Provider, Wire};

pub const REQUEST: Target = Target {
    name: "translate_request",
    about: "request_to_chat/request_from_chat of every shape and exchange::prepare per provider",
    generate: gen_request,
    check: check_request,
};

pub const STREAM: Target = Target {
    name: "translate_stream",
    about: "AnswerTranslator streams: JSON events, split invariance, cut streams never complete",
    generate: gen_stream,
    check: check_stream,
};

pub const ANSWER: Target = Target {
    name: "translate_answer",
    about: "AnswerTranslator headers/whole and answer_*/error_*: JSON, error shape and status",
    generate: gen_answer,
    check: check_answer,
};

// ---------------------------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------------------------

/// Chat requests that translate (tools, images, tool results, sampling settings).
const CHAT_REQUESTS: &[&str] = &[
    r#"{"model":"anthropic/claude-sonnet-4-5","stream":true,"stream_options":{"include_usage":true},"temperature":1.5,"top_p":0.9,"stop":["END"],"max_completion_tokens":300,"user":"u1","messages":[{"role":"system","content":"Be brief."},{"role":"developer","content":[{"type":"text","text":"Use tools."}]},{"role":"user","content":[{"type":"text","text":"What is in this image?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"high"}},{"type":"image_url","image_url":{"url":"https://example.com/cat.webp"}}]},{"role":"assistant","content":"Let me look.","tool_calls":[{"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\"q\":\"cat\"}"}},{"id":"call_2","type":"function","function":{"name":"weather","arguments":""}}]},{"role":"tool","tool_call_id":"call_1","content":"a cat"},{"role":"tool","tool_call_id":"call_2","content":[{"type":"text","text":"{\"temp\":21}"}]},{"role":"user","content":"thanks"}],"tools":[{"type":"function","function":{"name":"lookup","description":"Look up","parameters":{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]},"strict":true}},{"type":"function","function":{"name":"weather","parameters":{"type":"object"}}}],"tool_choice":{"type":"function","function":{"name":"lookup"}},"parallel_tool_calls":false}"#,
    r#"{"model":"gemini/gemini-2.5-flash","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"c9","type":"function","function":{"name":"f","arguments":"{}"},"extra_content":{"google":{"thought_signature":"c2ln"}}}]},{"role":"tool","tool_call_id":"c9","content":"{\"ok\":true}"},{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"UklGRg==","format":"wav"}},{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0="}}]}],"max_tokens":50,"n":1,"seed":7,"reasoning_effort":"low","response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}},"tool_choice":"required","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{}}}}]}"#,
    r#"{"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":false,"top_logprobs":0,"logit_bias":{},"modalities":["text"],"presence_penalty":0.1,"frequency_penalty":0.2,"service_tier":"auto","store":false,"metadata":{"a":"b"},"tool_choice":"none"}"#,
];

/// Responses requests that translate (items, function calls and outputs, tools).
const RESPONSES_REQUESTS: &[&str] = &[
    r#"{"model":"anthropic/claude","instructions":"Be brief.","input":[{"role":"developer","content":"Use tools."},{"type":"message","role":"user","content":[{"type":"input_text","text":"Weather in Paris?"},{"type":"input_image","image_url":"data:image/jpeg;base64,/9j/4AAQ","detail":"auto"}]},{"type":"reasoning","id":"rs_1","summary":[]},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Checking."},{"type":"refusal","refusal":"no"}]},{"type":"function_call","call_id":"c1","name":"weather","arguments":"{\"city\":\"Paris\"}"},{"type":"function_call_output","call_id":"c1","output":[{"type":"input_text","text":"21C"}]}],"tools":[{"type":"function","name":"weather","description":"d","parameters":{"type":"object","properties":{"city":{"type":"string"}}},"strict":true}],"tool_choice":{"type":"function","name":"weather"},"parallel_tool_calls":true,"max_output_tokens":200,"temperature":0.5,"top_p":1,"stream":true,"text":{"format":{"type":"json_schema","name":"w","schema":{"type":"object"}},"verbosity":"low"},"reasoning":{"effort":"medium","summary":"auto"},"metadata":{"k":"v"},"store":false,"include":[]}"#,
    r#"{"model":"gemini/gemini-2.5-flash","input":"Say hi","stream":false,"user":"u"}"#,
];

/// Anthropic requests that translate (blocks of every supported kind).
const ANTHROPIC_REQUESTS: &[&str] = &[
    r#"{"model":"gemini/gemini-2.5-flash","max_tokens":512,"system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],"stream":true,"temperature":0.2,"top_p":0.9,"top_k":40,"stop_sequences":["END"],"metadata":{"user_id":"u1"},"messages":[{"role":"user","content":[{"type":"text","text":"Look:"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}},{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}]},{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"sig"},{"type":"text","text":"Calling."},{"type":"tool_use","id":"tu1","name":"lookup","input":{"q":"x"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"tu1","content":[{"type":"text","text":"found"}],"is_error":false},{"type":"text","text":"and?"}]}],"tools":[{"name":"lookup","description":"d","input_schema":{"type":"object","properties":{"q":{"type":"string"}}}}],"tool_choice":{"type":"auto","disable_parallel_tool_use":true}}"#,
    r#"{"model":"openai/gpt-4o","max_tokens":16,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":[{"type":"tool_result","tool_use_id":"x","content":"plain"}]}],"tool_choice":{"type":"any"},"tools":[{"name":"f","input_schema":{"type":"object"}}]}"#,
];

/// Provider blocks: every family and API mode.
const PROVIDERS: &[&str] = &[
    r#"{}"#,
    r#"{"family":"anthropic"}"#,
    r#"{"family":"gemini"}"#,
    r#"{"family":"openai","responses":"translate"}"#,
    r#"{"family":"azure"}"#,
    r#"{"family":"anthropic","api":"openai_compatible"}"#,
    r#"{"family":"gemini","api":"openai_compatible","responses":"translate"}"#,
    r#"{"family":"anthropic","default_max_tokens":0}"#,
];

const ENDPOINT_MODELS: &[Option<&str>] = &[
    None,
    Some("*"),
    Some(""),
    Some("claude-sonnet-4-5"),
    Some("gemini-2.5-flash"),
    Some("a/b:c?d"),
];

/// Anthropic streams: thinking, text, tool use, an in-stream error.
const ANTHROPIC_STREAMS: &[&str] = &[
    concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":30,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Let me think\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQB\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Checking 🌧\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01\",\"name\":\"weather\",\"input\":{}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\": \"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"Paris\\\"}\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":42}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    ),
    concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_02\",\"model\":\"claude-x\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"partial\"}}\n\n",
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
    ),
];

/// Gemini streams: thoughts, function calls, two candidates, a blocked prompt, an error.
const GEMINI_STREAMS: &[&str] = &[
    concat!(
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hmm\",\"thought\":true}],\"role\":\"model\"},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":9},\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"resp-1\"}\r\n\r\n",
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Calling\"},{\"functionCall\":{\"name\":\"weather\",\"args\":{\"city\":\"Paris\"}},\"thoughtSignature\":\"c2ln\"},{\"functionCall\":{\"id\":\"fc2\",\"name\":\"time\",\"args\":{}}}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":9,\"candidatesTokenCount\":12,\"thoughtsTokenCount\":3,\"totalTokenCount\":24},\"responseId\":\"resp-1\"}\r\n\r\n",
    ),
    concat!(
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"A\"}]}},{\"content\":{\"parts\":[{\"text\":\"B\"}]},\"index\":1}]}\n\n",
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]},\"finishReason\":\"MAX_TOKENS\"},{\"content\":{\"parts\":[]},\"finishReason\":\"SAFETY\",\"index\":1}],\"usageMetadata\":{\"promptTokenCount\":1,\"candidatesTokenCount\":2}}\n\n",
    ),
    "data: {\"promptFeedback\":{\"blockReason\":\"SAFETY\"},\"usageMetadata\":{\"promptTokenCount\":4}}\n\n",
    concat!(
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]}}]}\n\n",
        "data: {\"error\":{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":\"UNAVAILABLE\"}}\n\n",
    ),
];

/// Chat streams: tool calls, refusal, reasoning, usage, an in-stream error.
const CHAT_STREAMS: &[&str] = &[
    concat!(
        "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"reasoning_content\":\"think\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\":1}\"}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
        "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":4,\"total_tokens\":14,\"prompt_tokens_details\":{\"cached_tokens\":2},\"completion_tokens_details\":{\"reasoning_tokens\":1}}}\n\n",
        "data: [DONE]\n\n",
    ),
    concat!(
        "data: {\"id\":\"c2\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"refusal\":\"I can't\"},\"finish_reason\":\"content_filter\"}]}\n\n",
        "data: {\"id\":\"c2\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n",
        "data: [DONE]\n\n",
    ),
    concat!(
        "data: {\"id\":\"c3\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n",
        "data: {\"error\":{\"message\":\"rate limited\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}\n\n",
    ),
];

/// Error bodies of every provider shape (and odd ones).
const ERRORS: &[&str] = &[
    r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 300000 tokens > 200000 maximum"},"request_id":"req_1"}"#,
    r#"{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED","details":[]}}"#,
    r#"[{"error":{"code":400,"message":"Invalid JSON payload","status":"INVALID_ARGUMENT"}}]"#,
    r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
    r#"{"error":{"message":"Incorrect API key","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
    "<html><body>502 Bad Gateway</body></html>",
    "",
];

/// Whole answers with tool calls, thoughts and odd finish reasons (besides `seeds::ANSWERS`).
const MORE_ANSWERS: &[&str] = &[
    r#"{"id":"chatcmpl-7","object":"chat.completion","created":9,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":[{"type":"text","text":"a"}],"reasoning_content":"r","refusal":"no","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"not json"}}]},"finish_reason":"length"},{"index":1,"message":{"role":"assistant","content":"b"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#,
    r#"{"responseId":"r9","modelVersion":"gemini-2.5-pro","candidates":[{"content":{"role":"model","parts":[{"text":"t","thought":true},{"text":"answer"},{"functionCall":{"name":"f","args":{"x":[1,2]}},"thoughtSignature":"c2ln"}]},"finishReason":"STOP","logprobsResult":{"chosenCandidates":[{"token":"a","logProbability":-0.1}],"topCandidates":[{"candidates":[{"token":"a","logProbability":-0.1}]}]}},{"index":1,"content":{"parts":[]},"finishReason":"RECITATION"}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":7,"toolUsePromptTokenCount":2}}"#,
    r#"{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":4}}"#,
    r#"{"id":"msg_9","type":"message","role":"assistant","model":"claude","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"redacted_thinking","data":"x"},{"type":"text","text":"a"},{"type":"server_tool_use","id":"s","name":"web_search","input":{}}],"stop_reason":"refusal","usage":{"input_tokens":1,"output_tokens":2}}"#,
];

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// Output may grow by this factor over the input, plus [`SLACK`].
const FACTOR: usize = 8;
/// Fixed allowance over `FACTOR × input` (echoed defaults, ids, framing of a short stream).
const SLACK: usize = 64 * 1024;

/// Extra allowance for streams from Gemini (per-part framing, see `check_stream`).
const GEMINI_PART_FACTOR: usize = 4;

fn bounded(what: &str, out: usize, input: usize) -> Result<(), String> {
    let limit = input.saturating_mul(FACTOR).saturating_add(SLACK);
    if out > limit {
        return Err(format!(
            "size bound: {what}: {out} bytes out of {input} in (limit {limit})"
        ));
    }
    Ok(())
}

fn providers() -> Vec<Provider> {
    PROVIDERS
        .iter()
        .map(|p| serde_json::from_str(p).expect("seed provider"))
        .collect()
}

/// All seed texts of one group, as bytes (splice partners for mutation).
fn as_bytes<'a>(xs: &[&'a str]) -> Vec<&'a [u8]> {
    xs.iter().map(|s| s.as_bytes()).collect()
}

/// Makes a value big in a hostile way: an array element repeated many times, or a short string
/// made long (ids and names that are copied into many places).
fn inflate(rng: &mut Rng, v: &mut Value) {
    let mut count = 0usize;
    visit(v, &mut |_| count += 1);
    let target = rng.below(count);
    let long = rng.one_in(2);
    let times = rng.range(2, 600);
    let len = rng.range(256, 8192);
    let pick = rng.next_u64() as usize;
    let mut i = 0usize;
    visit(v, &mut |node| {
        if i == target {
            match node {
                Value::Array(a) if !a.is_empty() => {
                    let x = a[pick % a.len()].clone();
                    for _ in 0..times {
                        a.push(x.clone());
                    }
                }
                Value::String(s) if long || s.len() < 64 => {
                    let unit = if s.is_empty() {
                        "x".to_owned()
                    } else {
                        s.clone()
                    };
                    while s.len() < len {
                        s.push_str(&unit);
                    }
                }
                _ => {}
            }
        }
        i += 1;
    });
}

fn visit(v: &mut Value, f: &mut dyn FnMut(&mut Value)) {
    f(v);
    match v {
        Value::Array(a) => a.iter_mut().for_each(|x| visit(x, f)),
        Value::Object(o) => o.values_mut().for_each(|x| visit(x, f)),
        _ => {}
    }
}

/// A JSON seed mutated: as is, structurally, inflated, or replaced by random JSON.
fn mutate_seed(rng: &mut Rng, seed: &str, others: &[&[u8]]) -> Vec<u8> {
    match rng.below(8) {
        0 => seed.as_bytes().to_vec(),
        1 => gen::random_json(rng, 4),
        2 | 3 => match serde_json::from_str::<Value>(seed) {
            Ok(mut v) => {
                for _ in 0..rng.range(1, 3) {
                    inflate(rng, &mut v);
                }
                if rng.one_in(2) {
                    gen::mutate_value(rng, &mut v);
                }
                gen::to_json(rng, &v)
            }
            Err(_) => gen::mutate_bytes(rng, seed.as_bytes(), others),
        },
        _ => gen::mutate_json(rng, seed.as_bytes(), others),
    }
}

/// Parses SSE bytes in one feed.
fn events(bytes: &[u8]) -> Vec<SseEvent> {
    let mut p = SseParser::default();
    let mut evs = Vec::new();
    p.feed(bytes, &mut evs);
    evs.extend(p.finish());
    evs
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

/// The OpenAI error shape: `{"error":{"message": string, "type": string, ...}}`.
fn openai_error_shape(v: &Value) -> Result<(), String> {
    if str_at(v, "/error/message").is_none() || str_at(v, "/error/type").is_none() {
        return Err(format!("error shape: not OpenAI's error shape: {v}"));
    }
    Ok(())
}

/// The Anthropic error shape: `{"type":"error","error":{"type": string, "message": string}}`.
fn anthropic_error_shape(v: &Value) -> Result<(), String> {
    if str_at(v, "/type") != Some("error")
        || str_at(v, "/error/type").is_none()
        || str_at(v, "/error/message").is_none()
    {
        return Err(format!("error shape: not Anthropic's error shape: {v}"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// translate_request
// ---------------------------------------------------------------------------------------------

fn gen_request(rng: &mut Rng) -> Vec<u8> {
    let mut all: Vec<&str> = Vec::new();
    all.extend(CHAT_REQUESTS);
    all.extend(RESPONSES_REQUESTS);
    all.extend(ANTHROPIC_REQUESTS);
    all.extend(REQUESTS.iter().map(|(_, _, b)| *b));
    let others = as_bytes(&all);
    let (kind, seed) = match rng.below(8) {
        0 | 1 => (ApiKind::ChatCompletions, rng.pick(CHAT_REQUESTS)),
        2 | 3 => (ApiKind::Responses, rng.pick(RESPONSES_REQUESTS)),
        4 | 5 => (ApiKind::AnthropicMessages, rng.pick(ANTHROPIC_REQUESTS)),
        _ => {
            let (k, _, b) = rng.pick(REQUESTS);
            (k, b)
        }
    };
    let kind_i = if rng.one_in(8) {
        rng.below(KINDS.len())
    } else {
        KINDS.iter().position(|k| *k == kind).unwrap_or(0)
    };
    let mut out = vec![
        kind_i as u8,
        rng.below(PROVIDERS.len()) as u8,
        rng.below(ENDPOINT_MODELS.len()) as u8,
    ];
    out.extend(mutate_seed(rng, seed, &others));
    out
}

fn check_untranslatable(what: &str, message: &str) -> Result<(), String> {
    if message.is_empty() {
        return Err(format!("refusal: {what}: empty message"));
    }
    Ok(())
}

/// A translated request: JSON text that parses back, an object, within the size bound.
fn check_request_out(what: &str, v: &Value, input: usize) -> Result<(), String> {
    if !v.is_object() {
        return Err(format!("request: {what}: not an object: {v}"));
    }
    let text = v.to_string();
    if serde_json::from_str::<Value>(&text).is_err() {
        return Err(format!("request: {what}: output does not re-parse"));
    }
    bounded(what, text.len(), input)
}

fn check_request(input: &[u8]) -> Result<(), String> {
    let (k, rest) = head(input);
    let (pi, rest) = head(rest);
    let (ei, body) = head(rest);
    let kind = KINDS[usize::from(k) % KINDS.len()];
    let ps = providers();
    let p = &ps[usize::from(pi) % ps.len()];
    let endpoint = ENDPOINT_MODELS[usize::from(ei) % ENDPOINT_MODELS.len()];
    let n = body.len();

    // The translators directly, and composed as `prepare` composes them.
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let opts = AnthropicOptions {
            default_max_tokens: 64,
        };
        let to_providers = |chat: &Value, from: &str| -> Result<(), String> {
            match anthropic::request_from_chat(chat, &opts) {
                Ok(out) => {
                    check_request_out(&format!("{from}anthropic::request_from_chat"), &out, n)?
                }
                Err(u) => check_untranslatable("anthropic::request_from_chat", &u.message)?,
            }
            match gemini::request_from_chat(chat) {
                Ok(out) => check_request_out(&format!("{from}gemini::request_from_chat"), &out, n)?,
                Err(u) => check_untranslatable("gemini::request_from_chat", &u.message)?,
            }
            Ok(())
        };
        to_providers(&v, "")?;
        match anthropic::request_to_chat(&v) {
            Ok(chat) => {
                check_request_out("anthropic::request_to_chat", &chat, n)?;
                to_providers(&chat, "anthropic::request_to_chat → ")?;
            }
            Err(u) => check_untranslatable("anthropic::request_to_chat", &u.message)?,
        }
        match responses::request_to_chat(&v) {
            Ok(chat) => {
                check_request_out("responses::request_to_chat", &chat, n)?;
                to_providers(&chat, "responses::request_to_chat → ")?;
            }
            Err(u) => check_untranslatable("responses::request_to_chat", &u.message)?,
        }
    }

    match prepare(p, kind, endpoint, body) {
        Ok(prep) => {
            let Some(b) = &prep.body else {
                return Err("prepare: no body".into());
            };
            let v: Value =
                serde_json::from_slice(b).map_err(|e| format!("prepare: body is not JSON: {e}"))?;
            if !v.is_object() {
                return Err("prepare: body is not an object".into());
            }
            bounded("prepare body", b.len(), n)?;
            if !prep.path.starts_with('/') {
                return Err(format!("prepare: path {:?}", prep.path));
            }
            if let Some(t) = &prep.translation {
                if t.client != Wire::of_client(kind) || t.provider != prep.provider_wire {
                    return Err(format!("prepare: translation wires {t:?}"));
                }
                if t.client == t.provider {
                    return Err("prepare: a translation to the same shape".into());
                }
            }
        }
        Err(r) => {
            let v: Value = serde_json::from_str(&r.body())
                .map_err(|e| format!("refusal body: not JSON: {e}"))?;
            openai_error_shape(&v)?;
            if str_at(&v, "/error/code") != Some(r.code) {
                return Err(format!("refusal body: code differs: {v}"));
            }
            check_untranslatable("prepare", &r.message)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// translate_stream
// ---------------------------------------------------------------------------------------------

/// The (client, provider) pairs `prepare` produces translations for.
const PAIRS: &[(Wire, Wire)] = &[
    (Wire::Chat, Wire::Anthropic),
    (Wire::Chat, Wire::Gemini),
    (Wire::Responses, Wire::Chat),
    (Wire::Responses, Wire::Anthropic),
    (Wire::Responses, Wire::Gemini),
    (Wire::Anthropic, Wire::Chat),
    (Wire::Anthropic, Wire::Gemini),
];

const MODELS: &[&str] = &["claude-sonnet-4-5", "gemini-2.5-flash", ""];

/// The stream seeds a provider shape sends.
fn streams_of(provider: Wire) -> Vec<&'static [u8]> {
    let mut v: Vec<&'static [u8]> = match provider {
        Wire::Anthropic => as_bytes(ANTHROPIC_STREAMS),
        Wire::Gemini => as_bytes(GEMINI_STREAMS),
        _ => as_bytes(CHAT_STREAMS),
    };
    v.push(match provider {
        Wire::Anthropic => SSE[1],
        Wire::Gemini => SSE[2],
        _ => SSE[0],
    });
    v
}

/// The translation of a pair, with the flags byte's choices.
fn translation(pair: u8, flags: u8) -> (Translation, usize) {
    let (client, provider) = PAIRS[usize::from(pair) % PAIRS.len()];
    let request: Option<Value> = (client == Wire::Responses && flags & 1 == 0).then(|| {
        serde_json::from_str(RESPONSES_REQUESTS[usize::from(flags >> 1) % RESPONSES_REQUESTS.len()])
            .expect("seed request")
    });
    let req_len = request.as_ref().map_or(0, |r| r.to_string().len());
    let t = Translation {
        client,
        provider,
        stream: true,
        include_usage: flags & 4 != 0,
        model: MODELS[usize::from(flags >> 3) % MODELS.len()].to_owned(),
        request,
    };
    (t, req_len)
}

/// Splits SSE text into its event blocks (each with its terminator).
fn blocks(s: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(s);
    text.split_inclusive("\n\n")
        .map(|b| b.as_bytes().to_vec())
        .collect()
}

/// Mutates the `data:` JSON of one event block.
fn mutate_block(rng: &mut Rng, block: &[u8], others: &[&[u8]]) -> Vec<u8> {
    let text = String::from_utf8_lossy(block).into_owned();
    let Some(at) = text.find("data:") else {
        return gen::mutate_bytes(rng, block, others);
    };
    let (before, rest) = text.split_at(at + 5);
    let data = rest.trim_end_matches(['\n', '\r']);
    let data = data.strip_prefix(' ').unwrap_or(data);
    let new = match serde_json::from_str::<Value>(data) {
        Ok(mut v) if rng.one_in(2) => {
            inflate(rng, &mut v);
            v.to_string().into_bytes()
        }
        _ => gen::mutate_json(rng, data.as_bytes(), others),
    };
    // Keep the data on its line (a newline would start a new field).
    let new: Vec<u8> = new
        .into_iter()
        .map(|b| if b == b'\n' || b == b'\r' { b' ' } else { b })
        .collect();
    let mut out = before.as_bytes().to_vec();
    out.push(b' ');
    out.extend(new);
    out.extend_from_slice(b"\n\n");
    out
}

fn gen_stream(rng: &mut Rng) -> Vec<u8> {
    let pair = rng.below(PAIRS.len());
    let provider = PAIRS[pair].1;
    let seeds = streams_of(provider);
    let seed = rng.pick(&seeds);
    let mut bs = blocks(seed);
    let mut all: Vec<&[u8]> = seeds.clone();
    all.extend(ANSWERS.iter().map(|(_, b)| b.as_bytes()));
    let stream: Vec<u8> = match rng.below(10) {
        0 => seed.to_vec(),
        9 if bs.len() > 1 => {
            // Amplification: long strings (ids, model) in the first event, then a later event
            // repeated, so whatever the sources copy from the first into every chunk shows.
            if let Some(first) = bs.first_mut() {
                if let Some(at) = first.windows(5).position(|w| w == b"data:") {
                    let (head_part, data) = first.split_at(at + 5);
                    let data = String::from_utf8_lossy(data);
                    if let Ok(mut v) = serde_json::from_str::<Value>(data.trim()) {
                        let len = rng.range(256, 8192);
                        visit(&mut v, &mut |node| {
                            if let Value::String(s) = node {
                                while s.len() < len {
                                    s.push('x');
                                }
                            }
                        });
                        let mut b = head_part.to_vec();
                        b.push(b' ');
                        b.extend(v.to_string().into_bytes());
                        b.extend_from_slice(b"\n\n");
                        *first = b;
                    }
                }
            }
            let i = rng.range(1, bs.len() - 1);
            let times = rng
                .range(50, 1500)
                .min(256 * 1024 / bs[i].len().max(1))
                .max(2);
            let b = bs[i].clone();
            bs.splice(i..i, std::iter::repeat_n(b, times));
            bs.concat()
        }
        1 => gen::mutate_bytes(rng, seed, &all),
        _ => {
            for _ in 0..rng.range(1, 4) {
                let n = bs.len();
                if n == 0 {
                    break;
                }
                let i = rng.below(n);
                match rng.below(7) {
                    0..=2 => bs[i] = mutate_block(rng, &bs[i], &all),
                    3 => {
                        // Hostile repetition: one event many times (up to about 256 KiB).
                        let times = rng
                            .range(2, 800)
                            .min(256 * 1024 / bs[i].len().max(1))
                            .max(2);
                        let b = bs[i].clone();
                        bs.splice(i..i, std::iter::repeat_n(b, times));
                    }
                    4 => {
                        bs.remove(i);
                    }
                    5 => {
                        let other = blocks(rng.pick(&seeds));
                        if !other.is_empty() {
                            let b = other[rng.below(other.len())].clone();
                            bs.insert(i, b);
                        }
                    }
                    _ => {
                        let j = rng.below(n);
                        bs.swap(i, j);
                    }
                }
            }
            let mut s = bs.concat();
            if rng.one_in(8) {
                s = String::from_utf8_lossy(&s)
                    .replace('\n', "\r\n")
                    .into_bytes();
            }
            s
        }
    };
    let mut out = vec![pair as u8, rng.below(256) as u8];
    out.extend(stream);
    out
}

/// Translates `stream` in one piece, or in the given pieces (the last one ends the stream).
fn run_stream(t: &Translation, pieces: &[&[u8]]) -> Result<Vec<u8>, String> {
    let mut a = AnswerTranslator::new(t.clone(), 1_700_000_000);
    let edits = a.headers(200, Some("text/event-stream; charset=utf-8"), None);
    if a.mode() != Mode::Stream || edits.status.is_some() {
        return Err(format!(
            "headers: a 200 SSE answer is not a stream: {edits:?}"
        ));
    }
    let mut out = Vec::new();
    if pieces.is_empty() {
        out.extend(a.stream(b"", true));
    }
    for (i, p) in pieces.iter().enumerate() {
        out.extend(a.stream(p, i + 1 == pieces.len()));
    }
    Ok(out)
}

/// The provider's stream has an event that completes it (the documented completion evidence of
/// each source): `[DONE]`, `message_stop`, or a Gemini finish/block reason.
fn provider_completes(provider: Wire, evs: &[SseEvent]) -> bool {
    fn has_key(v: &Value, keys: &[&str]) -> bool {
        match v {
            Value::Object(o) => o
                .iter()
                .any(|(k, x)| keys.contains(&k.as_str()) || has_key(x, keys)),
            Value::Array(a) => a.iter().any(|x| has_key(x, keys)),
            _ => false,
        }
    }
    evs.iter().any(|ev| {
        let Some(d) = ev.data.as_deref() else {
            return false;
        };
        match provider {
            Wire::Anthropic => {
                let v: Value = serde_json::from_str(d).unwrap_or(Value::Null);
                v.get("type").and_then(Value::as_str) == Some("message_stop")
                    || ev.event.as_deref() == Some("message_stop")
            }
            Wire::Gemini => serde_json::from_str::<Value>(d.trim())
                .is_ok_and(|v| has_key(&v, &["finishReason", "blockReason"])),
            _ => d.trim() == "[DONE]",
        }
    })
}

/// Is this output event a completion marker of the client shape?
fn completes_client(client: Wire, ev: &SseEvent) -> bool {
    match client {
        Wire::Anthropic => ev.event.as_deref() == Some("message_stop"),
        Wire::Responses => matches!(
            ev.event.as_deref(),
            Some("response.completed" | "response.incomplete")
        ),
        _ => ev.data.as_deref() == Some("[DONE]"),
    }
}

fn is_terminal(client: Wire, ev: &SseEvent) -> bool {
    completes_client(client, ev)
        || (client == Wire::Responses && ev.event.as_deref() == Some("response.failed"))
}

/// Properties of one translated stream's bytes.
fn check_output(t: &Translation, out: &[u8]) -> Result<Vec<SseEvent>, String> {
    if !out.is_empty() && !out.ends_with(b"\n\n") {
        return Err("output: does not end with a blank line".into());
    }
    let evs = events(out);
    let mut seq = 0u64;
    for (i, ev) in evs.iter().enumerate() {
        let Some(d) = ev.data.as_deref() else {
            return Err(format!("output: event {i} without data"));
        };
        if d == "[DONE]" {
            if t.client != Wire::Chat {
                return Err(format!("output: [DONE] in a {:?} stream", t.client));
            }
        } else {
            let v: Value = serde_json::from_str(d)
                .map_err(|e| format!("output: data {i} is not JSON ({e}): {d}"))?;
            if t.client == Wire::Responses {
                if v.get("sequence_number").and_then(Value::as_u64) != Some(seq) {
                    return Err(format!("output: sequence_number of event {i} is not {seq}"));
                }
                seq += 1;
            }
            if ev.event.is_some() && v.get("type").and_then(Value::as_str) != ev.event.as_deref() {
                return Err(format!("output: event name differs from its type: {d}"));
            }
        }
        if is_terminal(t.client, ev) && i + 1 != evs.len() {
            return Err(format!("output: events follow the terminal event {i}"));
        }
    }
    if t.client == Wire::Anthropic {
        if let Some(first) = evs.first() {
            // An `error` event may come first (Anthropic sends one whenever the stream fails).
            if !matches!(first.event.as_deref(), Some("message_start" | "error")) {
                return Err(
                    "output: an Anthropic stream starting with neither message_start nor error"
                        .into(),
                );
            }
        }
    }
    Ok(evs)
}

fn check_stream(input: &[u8]) -> Result<(), String> {
    let (pair, rest) = head(input);
    let (flags, stream) = head(rest);
    let (t, req_len) = translation(pair, flags);
    let in_len = stream.len() + req_len;

    let whole = run_stream(&t, &[stream])?;
    check_output(&t, &whole)?;
    // A Gemini part can be 12 bytes (`{"text":"x"},`) and becomes a whole chunk or event with
    // its id, model and framing (about 200-300 bytes, ids bounded by `clip_id`): a constant
    // factor of framing, allowed here explicitly (see the report), not an amplification.
    let in_len = if t.provider == Wire::Gemini {
        in_len.saturating_mul(GEMINI_PART_FACTOR)
    } else {
        in_len
    };
    // A Responses stream frames each output item with about six events (added, part added,
    // done events, item done), ~2 KiB of framing an item; items are capped (256) by the sink,
    // so this is a fixed allowance, not a factor.
    let framing = if t.client == Wire::Responses {
        256 * 2048
    } else {
        0
    };
    bounded("stream", whole.len().saturating_sub(framing), in_len)?;

    let h = rng::name_hash(&String::from_utf8_lossy(input));
    let pieces = split_points(stream, h);
    let split = run_stream(&t, &pieces)?;
    if split != whole {
        return Err(format!(
            "split: output differs when split into {} pieces",
            pieces.len()
        ));
    }

    // Cut streams: anywhere before the event that completes the provider's stream.
    let mut rng = Rng::new(h);
    for _ in 0..3 {
        if stream.is_empty() {
            break;
        }
        let cut = rng.below(stream.len());
        let prefix = &stream[..cut];
        if provider_completes(t.provider, &events(prefix)) {
            continue;
        }
        let out = run_stream(&t, &[prefix])?;
        let evs = check_output(&t, &out)?;
        if let Some(ev) = evs.iter().find(|e| completes_client(t.client, e)) {
            return Err(format!(
                "cut: a stream cut at {cut} completes in the client's shape: {:?} {:?}",
                ev.event, ev.data
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// translate_answer
// ---------------------------------------------------------------------------------------------

const STATUSES: &[u16] = &[
    200, 200, 200, 201, 204, 100, 101, 301, 302, 304, 307, 400, 401, 402, 403, 404, 408, 409, 413,
    422, 429, 499, 500, 502, 503, 504, 529, 599,
];

const CONTENT_TYPES: &[Option<&str>] = &[
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("text/event-stream"),
    Some("  TEXT/EVENT-STREAM;charset=utf-8"),
    Some("text/event-str"),
    Some("text/html"),
    Some(""),
    None,
];

const ENCODINGS: &[Option<&str>] = &[
    None,
    None,
    None,
    Some(""),
    Some("identity"),
    Some(" IDENTITY "),
    Some("gzip"),
    Some("br"),
];

fn gen_answer(rng: &mut Rng) -> Vec<u8> {
    let mut all: Vec<&str> = ANSWERS.iter().map(|(_, b)| *b).collect();
    all.extend(MORE_ANSWERS);
    all.extend(ERRORS);
    let others = as_bytes(&all);
    let error = rng.one_in(3);
    let seed = if error {
        rng.pick(ERRORS)
    } else {
        rng.pick(&all)
    };
    let status = if error {
        rng.range(
            STATUSES.iter().position(|s| *s == 100).unwrap_or(0),
            STATUSES.len() - 1,
        )
    } else {
        rng.below(STATUSES.len())
    };
    let mut out = vec![
        rng.below(PAIRS.len()) as u8,
        status as u8,
        rng.below(CONTENT_TYPES.len()) as u8,
        rng.below(ENCODINGS.len()) as u8,
        rng.below(256) as u8,
    ];
    out.extend(mutate_seed(rng, seed, &others));
    out
}

/// A translated error: 4xx/5xx and the shape of `client`.
fn check_error_out(what: &str, client: Wire, e: &ErrorOut, in_len: usize) -> Result<(), String> {
    if !(400..=599).contains(&e.status) {
        return Err(format!("error status: {what}: {}", e.status));
    }
    match client {
        Wire::Anthropic => anthropic_error_shape(&e.body),
        _ => openai_error_shape(&e.body),
    }
    .map_err(|m| format!("{m} ({what})"))?;
    bounded(what, e.body.to_string().len(), in_len)
}

fn check_answer(input: &[u8]) -> Result<(), String> {
    let (pair, rest) = head(input);
    let (si, rest) = head(rest);
    let (ci, rest) = head(rest);
    let (ei, rest) = head(rest);
    let (flags, body) = head(rest);
    let status = STATUSES[usize::from(si) % STATUSES.len()];
    let ct = CONTENT_TYPES[usize::from(ci) % CONTENT_TYPES.len()];
    let enc = ENCODINGS[usize::from(ei) % ENCODINGS.len()];
    let (mut t, req_len) = translation(pair, flags);
    t.stream = false;
    let in_len = body.len() + req_len;

    // The error functions directly.
    for s in [status, 400, 429, 500, 529] {
        if !(400..=599).contains(&s) {
            continue;
        }
        let e = anthropic::error_to_openai(s, body);
        check_error_out("anthropic::error_to_openai", Wire::Chat, &e, in_len)?;
        let e = anthropic::error_from_openai(s, body);
        check_error_out("anthropic::error_from_openai", Wire::Anthropic, &e, in_len)?;
        let e = gemini::error_to_openai(s, body);
        check_error_out("gemini::error_to_openai", Wire::Chat, &e, in_len)?;
    }

    // The answer functions directly, and composed.
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let req: Value = serde_json::from_str(RESPONSES_REQUESTS[0]).expect("seed request");
        let req_n = RESPONSES_REQUESTS[0].len();
        let outs = [
            (
                "anthropic::answer_to_chat",
                anthropic::answer_to_chat(&v),
                0,
            ),
            (
                "anthropic::answer_to_chat_at",
                anthropic::answer_to_chat_at(&v, 7),
                0,
            ),
            (
                "anthropic::answer_from_chat",
                anthropic::answer_from_chat(&v),
                0,
            ),
            (
                "gemini::answer_to_chat",
                gemini::answer_to_chat(&v, &t.model),
                0,
            ),
            (
                "responses::answer_from_chat",
                responses::answer_from_chat(&v),
                0,
            ),
            (
                "responses::answer_from_chat_for",
                responses::answer_from_chat_for(&v, &req),
                req_n,
            ),
        ];
        for (what, out, extra) in &outs {
            let text = out.to_string();
            if serde_json::from_str::<Value>(&text).is_err() {
                return Err(format!("answer: {what}: output does not re-parse"));
            }
            bounded(what, text.len(), body.len() + extra)?;
        }
        let g = gemini::answer_to_chat(&v, "");
        let a = anthropic::answer_to_chat(&v);
        for (what, chat) in [("gemini → ", &g), ("anthropic → ", &a)] {
            let r = responses::answer_from_chat_for(chat, &req).to_string();
            bounded(&format!("{what}responses"), r.len(), body.len() + req_n)?;
            let x = anthropic::answer_from_chat(chat).to_string();
            bounded(&format!("{what}anthropic"), x.len(), body.len())?;
        }
    }

    // Through the translator, as the adapter drives it.
    let mut a = AnswerTranslator::new(t.clone(), 1_700_000_000);
    let edits = a.headers(status, ct, enc);
    let encoded =
        enc.is_some_and(|e| !e.trim().is_empty() && !e.trim().eq_ignore_ascii_case("identity"));
    let final_status = edits.status.unwrap_or(status);
    let expected = if encoded {
        Mode::Unreadable
    } else if !(200..300).contains(&status) {
        Mode::Error
    } else if ct.is_some_and(|c| {
        c.trim_start()
            .to_ascii_lowercase()
            .starts_with("text/event-stream")
    }) {
        Mode::Stream
    } else {
        Mode::Whole
    };
    if a.mode() != expected {
        return Err(format!(
            "headers: mode {:?}, expected {expected:?}",
            a.mode()
        ));
    }
    let out = a.whole(body);
    let v: Value =
        serde_json::from_slice(&out).map_err(|e| format!("whole: output is not JSON ({e})"))?;
    bounded("whole", out.len(), in_len)?;
    match a.mode() {
        Mode::Error | Mode::Unreadable => {
            if !(400..=599).contains(&final_status) {
                return Err(format!(
                    "error status: provider {status} answered as {final_status}"
                ));
            }
            let shape = match t.client {
                Wire::Anthropic => anthropic_error_shape(&v),
                _ => openai_error_shape(&v),
            };
            shape.map_err(|m| format!("{m} (provider status {status}, {:?})", t.provider))?;
        }
        Mode::Stream | Mode::Whole => {
            if !v.is_object() {
                return Err(format!("whole: not an object: {v}"));
            }
            // An answer that cannot be read is answered with an error in the client's shape.
            let readable = serde_json::from_slice::<Value>(body).is_ok_and(|b| b.is_object());
            if !readable {
                match t.client {
                    Wire::Anthropic => anthropic_error_shape(&v),
                    _ => openai_error_shape(&v),
                }
                .map_err(|m| format!("{m} (unreadable 2xx answer, {:?})", t.provider))?;
            }
        }
    }
    Ok(())
}
