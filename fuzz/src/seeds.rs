//! Seed inputs: the repository's fixtures and realistic samples of every API shape, so mutations
//! start from what the code really sees.

use tollgate_core::api::ApiKind;

/// Every API shape.
pub const KINDS: [ApiKind; 8] = [
    ApiKind::ChatCompletions,
    ApiKind::Completions,
    ApiKind::Embeddings,
    ApiKind::Responses,
    ApiKind::AnthropicMessages,
    ApiKind::GeminiGenerate,
    ApiKind::GeminiStreamGenerate,
    ApiKind::GeminiEmbed,
];

/// The SSE fixtures of `tollgate-core`'s stream tests.
pub const SSE: &[&[u8]] = &[
    include_bytes!("../../crates/tollgate-core/tests/fixtures/openai_chat.sse"),
    include_bytes!("../../crates/tollgate-core/tests/fixtures/anthropic.sse"),
    include_bytes!("../../crates/tollgate-core/tests/fixtures/gemini.sse"),
    include_bytes!("../../crates/tollgate-core/tests/fixtures/responses.sse"),
    include_bytes!("../../crates/tollgate-core/tests/fixtures/multiline.sse"),
    b"data: {\"a\":1}\r\n\r\ndata: x\rdata: y\r\r: c\n\n",
    b"event: ping\ndata: {}\n\n\n\ndata:[DONE]",
];

/// The SSE fixture that matches `kind` (openai_chat for the OpenAI shapes).
pub fn sse_for(kind: ApiKind) -> &'static [u8] {
    match kind {
        ApiKind::AnthropicMessages => SSE[1],
        ApiKind::GeminiGenerate | ApiKind::GeminiStreamGenerate | ApiKind::GeminiEmbed => SSE[2],
        ApiKind::Responses => SSE[3],
        _ => SSE[0],
    }
}

/// `(kind, path, body)` request samples of every shape.
pub const REQUESTS: &[(ApiKind, &str, &str)] = &[
    (
        ApiKind::ChatCompletions,
        "/v1/chat/completions",
        r#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":false},"user":"u@x.io","metadata":{"k":"m@x.io"},"messages":[{"role":"system","content":"Admin is root@corp.io"},{"role":"user","name":"n","content":[{"type":"text","text":"card 4111111111111111 and <EMAIL_1>"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA","detail":"auto"}},{"type":"input_audio","input_audio":{"data":"QUJD","format":"wav"}}]},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\"email\":\"root@corp.io\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"phone +44 20 7946 0958"}],"tools":[{"type":"function","function":{"name":"g","description":"d","parameters":{"type":"object","properties":{"e":{"type":"string"}}}}}],"max_tokens":100}"#,
    ),
    (
        ApiKind::Completions,
        "/v1/completions",
        r#"{"model":"gpt-3.5-turbo-instruct","prompt":["Say hi to bob@x.io","二"],"stream":false,"max_tokens":5}"#,
    ),
    (
        ApiKind::Embeddings,
        "/llm-proxy/v1/embeddings",
        r#"{"model":"text-embedding-3-small","input":["ssn 123-45-6789","👩‍💻"],"encoding_format":"float"}"#,
    ),
    (
        ApiKind::Responses,
        "/v1/responses",
        r#"{"model":"gpt-5.2","instructions":"Be brief.","input":[{"role":"user","content":[{"type":"input_text","text":"IBAN DE89370400440532013000"}]},{"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c1","output":"192.168.0.1"}],"stream":true,"previous_response_id":"resp_1","reasoning":{"effort":"low"}}"#,
    ),
    (
        ApiKind::AnthropicMessages,
        "/v1/messages",
        r#"{"model":"claude-sonnet-4-5","max_tokens":1024,"system":"sys jo@x.io","stream":true,"thinking":{"type":"enabled","budget_tokens":1000},"messages":[{"role":"user","content":[{"type":"text","text":"call 415-555-2671"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}},{"type":"document","source":{"type":"text","media_type":"text/plain","data":"doc@x.io"}}]},{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"sig"},{"type":"tool_use","id":"tu1","name":"f","input":{"q":"x@y.io"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"tu1","content":"ok"}]}]}"#,
    ),
    (
        ApiKind::GeminiGenerate,
        "/v1beta/models/gemini-2.5-flash:generateContent",
        r#"{"contents":[{"role":"user","parts":[{"text":"g@x.io"},{"inlineData":{"mimeType":"image/png","data":"iVBO"}},{"functionCall":{"name":"f","args":{"q":"fa@x.io"}}},{"functionResponse":{"name":"f","response":{"r":"fr@x.io"}}}]}],"systemInstruction":{"parts":[{"text":"s@x.io"}]},"generationConfig":{"maxOutputTokens":10}}"#,
    ),
    (
        ApiKind::GeminiStreamGenerate,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        r#"{"contents":[{"parts":[{"text":"こんにちは +81 3-1234-5678"}]}]}"#,
    ),
    (
        ApiKind::GeminiEmbed,
        "/v1beta/models/gemini-embedding-001:embedContent",
        r#"{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"embed me"}]}}"#,
    ),
];

/// `(kind, body)` non-streaming answer samples of every shape.
pub const ANSWERS: &[(ApiKind, &str)] = &[
    (
        ApiKind::ChatCompletions,
        r#"{"id":"c1","object":"chat.completion","model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"Mail <EMAIL_1> or bob@x.io","refusal":null,"tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{\"to\":\"<EMAIL_1>\"}"}}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":2},"completion_tokens_details":{"reasoning_tokens":1}}}"#,
    ),
    (
        ApiKind::Completions,
        r#"{"id":"cmpl","object":"text_completion","model":"gpt-3.5-turbo-instruct","choices":[{"text":"hi <EMAIL_1>","index":0,"finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#,
    ),
    (
        ApiKind::Embeddings,
        r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,-0.2]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":4,"total_tokens":4}}"#,
    ),
    (
        ApiKind::Responses,
        r#"{"id":"resp_1","object":"response","model":"gpt-5.2","status":"completed","output":[{"type":"message","id":"m","role":"assistant","content":[{"type":"output_text","text":"Hi <EMAIL_1>","annotations":[]}]}],"usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":0},"output_tokens":3,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":13}}"#,
    ),
    (
        ApiKind::AnthropicMessages,
        r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hi <EMAIL_1>"},{"type":"tool_use","id":"tu","name":"f","input":{"to":"<EMAIL_1>"}}],"stop_reason":"end_turn","usage":{"input_tokens":25,"cache_creation_input_tokens":4,"cache_read_input_tokens":10,"output_tokens":7}}"#,
    ),
    (
        ApiKind::GeminiGenerate,
        r#"{"candidates":[{"content":{"parts":[{"text":"Hola <EMAIL_1>"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":5,"totalTokenCount":20,"thoughtsTokenCount":7,"toolUsePromptTokenCount":1,"cachedContentTokenCount":2},"modelVersion":"gemini-2.5-flash"}"#,
    ),
    (
        ApiKind::GeminiStreamGenerate,
        r#"[{"candidates":[{"content":{"parts":[{"text":"Ho"}],"role":"model"},"index":0}],"modelVersion":"gemini-2.5-flash"},{"candidates":[{"content":{"parts":[{"text":"la"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":5,"totalTokenCount":13}}]"#,
    ),
    (
        ApiKind::GeminiEmbed,
        r#"{"embedding":{"values":[0.1,0.2]}}"#,
    ),
];

/// Request paths (and near misses) for `ApiKind::classify`.
pub const PATHS: &[&str] = &[
    "/v1/chat/completions",
    "/llm-proxy/v1/chat/completions?x=1",
    "/v1beta/openai/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/responses",
    "/v1/messages",
    "/v1beta/models/gemini-2.5-flash:generateContent",
    "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
    "/v1beta/models/gemini-embedding-001:embedContent",
    "/v1/models",
    "/healthz",
    "/",
    "",
    "?",
    "#",
    ":",
    "/models/:",
    "/v1beta/models/:generateContent",
    "//chat//completions//",
    "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
];

/// HTTP methods (and near misses).
pub const METHODS: &[&str] = &[
    "POST",
    "post",
    "PoSt",
    "GET",
    "PUT",
    "",
    "POST ",
    "PÖST",
    "ＰＯＳＴ",
];

/// The inline `value: |` JSON blocks of a YAML file (the filters' configurations in envoy.yaml).
pub fn yaml_value_blocks(yaml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lines: Vec<&str> = yaml.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.trim_end().ends_with("value: |") {
            let indent = l.len() - l.trim_start().len();
            let mut block = String::new();
            i += 1;
            while i < lines.len() {
                let m = lines[i];
                let mi = m.len() - m.trim_start().len();
                if !m.trim().is_empty() && mi <= indent {
                    break;
                }
                block.push_str(m.trim_start());
                block.push('\n');
                i += 1;
            }
            out.push(block);
        } else {
            i += 1;
        }
    }
    out
}

/// The envoy.yaml this repository ships.
pub const ENVOY_YAML: &str = include_str!("../../envoy/envoy.yaml");

/// Configurations from the filters' tests (valid and invalid), per filter.
pub const PII_CONFIGS: &[&str] = &[
    "{}",
    "",
    r#"{"default_action":"placeholder","actions":{"SECRET":"block"},"restore":true,"scan_output":true,"output_action":"mask","non_json_body":"block","failure_mode":"deny"}"#,
    r#"{"detectors":["email","phone","credit_card","ssn","iban","ipv4","ipv6","secret"],"actions":{"EMAIL":"hash","PHONE":"mask","SSN":"log_only"},"hash_salt":"0123456789abcdef","mask_keep_last":2,"custom":[{"label":"EMPLOYEE_ID","regex":"EMP-\\d{6}"}],"dictionaries":[{"label":"PROJECT","terms":["Project Falcon","bluebird"]}],"max_body_bytes":1000,"max_text_bytes":100}"#,
    r#"{"detectors":["email","passport"]}"#,
    r#"{"custom":[{"label":"X","regex":"("}]}"#,
    r#"{"output_action":"placeholder"}"#,
];

/// Rate-limit configurations.
pub const RATELIMIT_CONFIGS: &[&str] = &[
    r#"{"limits":[{"name":"per-client","key":["header:x-client-id"],"window_seconds":60,"total_tokens":100000,"prompt_tokens":50000,"models":{"gpt-4o*":{"total_tokens":10}}}]}"#,
    r#"{"limits":[{"name":"a","key":["model","provider"],"total_tokens":1,"reserve_output_tokens":true}],"encodings":{"m":"cl100k_base","x*":"o200k_base"},"slots":3600,"max_buckets":16,"missing_key":"shared","non_llm_body":"reject","image_tokens":85,"provider_header":"X-P"}"#,
    r#"{"limits":[]}"#,
];

/// Usage-emitter configurations.
pub const USAGE_CONFIGS: &[&str] = &[
    "",
    r#"{"groups":{"fin-agent":"Finance"},"group_header":"x-group","prices":{"gpt-4o":{"input":2.5,"cached_input":1.25,"output":10.0},"gpt-4o-mini*":{"input":0.15,"output":0.6}},"tag_models":["echo","claude-*"],"tag_providers":["openai"],"max_tag_sets":10,"max_response_body_bytes":1024,"usage_headers":true}"#,
    r#"{"prices":{"m":{"input":1,"output":2,"cahced":1}}}"#,
];

/// Router configurations (both roles).
pub const ROUTER_CONFIGS: &[&str] = &[
    r#"{"role":"router","models":{"fast":"a","gpt-*":"b"}}"#,
    r#"{"role":"router","route_header":"X-Route","models":{"fast":"a"},"list_models":["fast","auto"],"virtual_models":{"auto":{"default_route":"a","threshold":2,"classes":[{"name":"code","route":"b","keywords":{"code":2,"stack trace":3}},{"name":"faq","route":"a","keywords":{"refund":3}}]}}}"#,
    r#"{"role":"upstream","providers":{"openai":{"path_prefix":"/v1/","auth":"bearer","key_env":"OPENAI_API_KEY"},"azure":{"path_prefix":"/openai/deployments/{model}/","query":"api-version=2024-10-21","auth":"api_key","key_env":"AZURE_OPENAI_API_KEY"},"vllm":{"path_prefix":"/v1/","auth":"none"}}}"#,
];
