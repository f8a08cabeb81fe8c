//! Real token counts for the fake provider (o200k_base, as current OpenAI models use).

/// Number of o200k_base tokens in `text`.
pub fn count(text: &str) -> u64 {
    tiktoken_rs::o200k_base_singleton()
        .encode_with_special_tokens(text)
        .len() as u64
}

/// OpenAI's chat prompt count: 3 tokens per message + role + content (+1 per name), +3 priming.
pub fn chat_prompt(messages: &[(String, String)]) -> u64 {
    messages
        .iter()
        .map(|(role, content)| 3 + count(role) + count(content))
        .sum::<u64>()
        + 3
}
