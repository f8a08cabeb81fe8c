//! OpenAI chat → Gemini generateContent, and its answers back (STUB: being written).
use super::*;

/// Chat request → Gemini generateContent request body (the model and streaming go in the path).
pub fn request_from_chat(_chat: &Value) -> Result<Value, Untranslatable> { todo!() }
/// Gemini JSON answer → chat completion (`model` from the attempt).
pub fn answer_to_chat(_ans: &Value, _model: &str) -> Value { todo!() }
/// Gemini error answer → OpenAI error.
pub fn error_to_openai(_status: u16, _body: &[u8]) -> ErrorOut { todo!() }
/// Gemini SSE stream (`alt=sse`) → canonical chunks.
#[derive(Debug, Default)]
pub struct Source {}
impl Source {
    /// A source for an answer of `model`.
    pub fn new(_model: &str) -> Self { todo!() }
}
impl ChunkSource for Source {
    fn event(&mut self, _name: Option<&str>, _data: &str, _out: &mut Vec<Chunk>) { todo!() }
    fn end(&mut self, _out: &mut Vec<Chunk>) { todo!() }
}
