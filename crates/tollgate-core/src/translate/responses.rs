//! OpenAI Responses ⇄ chat (STUB: being written).
use super::*;

/// Responses request → chat request.
pub fn request_to_chat(_req: &Value) -> Result<Value, Untranslatable> { todo!() }
/// Chat completion → Responses answer.
pub fn answer_from_chat(_chat: &Value) -> Value { todo!() }
/// Canonical chunks → Responses stream.
#[derive(Debug, Default)]
pub struct Sink {}
impl ChunkSink for Sink {
    fn chunk(&mut self, _c: &Chunk, _out: &mut Vec<SseOut>) { todo!() }
    fn end(&mut self, _out: &mut Vec<SseOut>) { todo!() }
}
