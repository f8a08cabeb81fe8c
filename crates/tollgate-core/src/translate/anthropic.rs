//! OpenAI chat ⇄ Anthropic Messages (STUB: being written).
use super::*;

/// Chat request → Anthropic Messages request.
pub fn request_from_chat(_chat: &Value, _opts: &AnthropicOptions) -> Result<Value, Untranslatable> { todo!() }
/// Anthropic Messages request → chat request.
pub fn request_to_chat(_msg: &Value) -> Result<Value, Untranslatable> { todo!() }
/// Anthropic JSON answer → chat completion.
pub fn answer_to_chat(_ans: &Value) -> Value { todo!() }
/// Chat completion → Anthropic JSON answer.
pub fn answer_from_chat(_chat: &Value) -> Value { todo!() }
/// Anthropic error answer → OpenAI error.
pub fn error_to_openai(_status: u16, _body: &[u8]) -> ErrorOut { todo!() }
/// OpenAI error answer → Anthropic error.
pub fn error_from_openai(_status: u16, _body: &[u8]) -> ErrorOut { todo!() }
/// Anthropic stream → canonical chunks.
#[derive(Debug, Default)]
pub struct Source {}
impl ChunkSource for Source {
    fn event(&mut self, _name: Option<&str>, _data: &str, _out: &mut Vec<Chunk>) { todo!() }
    fn end(&mut self, _out: &mut Vec<Chunk>) { todo!() }
}
/// Canonical chunks → Anthropic stream.
#[derive(Debug, Default)]
pub struct Sink {}
impl ChunkSink for Sink {
    fn chunk(&mut self, _c: &Chunk, _out: &mut Vec<SseOut>) { todo!() }
    fn end(&mut self, _out: &mut Vec<SseOut>) { todo!() }
}
