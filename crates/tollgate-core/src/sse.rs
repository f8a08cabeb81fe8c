//! Incremental Server-Sent Events parser.
//!
//! Accepts a byte stream split anywhere (inside a UTF-8 character, inside `data:`, between CR and
//! LF) and yields whole events together with their exact raw bytes, so a filter can forward,
//! rewrite or drop an event without re-serialising anything it did not touch.

/// One complete SSE event (terminated by a blank line, or cut off by the end of the stream).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// Exact bytes of the event as received, including its terminating blank line.
    pub raw: Vec<u8>,
    /// Value of the `event:` field, if any.
    pub event: Option<String>,
    /// `data:` lines joined by `\n`; `None` for comment-only or empty blocks.
    pub data: Option<String>,
}

impl SseEvent {
    /// True when this is the OpenAI end-of-stream sentinel `data: [DONE]`.
    pub fn is_done(&self) -> bool {
        self.data.as_deref().map(str::trim) == Some("[DONE]")
    }
}

/// Streaming SSE parser; feed it chunks, collect events.
#[derive(Debug)]
pub struct SseParser {
    /// Bytes of the event in progress (everything not yet returned).
    buf: Vec<u8>,
    /// Offset in `buf` where the next unscanned line starts.
    line_start: usize,
    /// Previous chunk ended in CR: a leading LF in the next chunk belongs to that line ending.
    pending_cr: bool,
    event: Option<String>,
    data: Option<Vec<u8>>,
    data_lines: usize,
    max_event_bytes: usize,
    overflowed: bool,
}

/// Default cap on one event's size; a longer event is passed on raw and flagged.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

impl Default for SseParser {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_EVENT_BYTES)
    }
}

impl SseParser {
    /// A parser that gives up parsing (but never loses bytes) once one event exceeds `max_event_bytes`.
    pub fn new(max_event_bytes: usize) -> Self {
        Self {
            buf: Vec::new(),
            line_start: 0,
            pending_cr: false,
            event: None,
            data: None,
            data_lines: 0,
            max_event_bytes,
            overflowed: false,
        }
    }

    /// True once an event exceeded the size cap; later bytes are returned raw, unparsed.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Number of bytes held back because their event is not complete yet.
    pub fn pending_len(&self) -> usize {
        self.buf.len()
    }

    /// Feeds one chunk; complete events are appended to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) {
        if self.overflowed {
            if !chunk.is_empty() {
                out.push(SseEvent {
                    raw: chunk.to_vec(),
                    ..Default::default()
                });
            }
            return;
        }
        let mut chunk = chunk;
        // An empty chunk says nothing about what follows a trailing CR: keep waiting for the LF.
        if self.pending_cr && !chunk.is_empty() {
            self.pending_cr = false;
            if let Some((&b'\n', rest)) = chunk.split_first() {
                // The LF completes a CRLF already counted as a line end; keep it in the raw bytes.
                self.buf.push(b'\n');
                self.line_start = self.buf.len();
                chunk = rest;
            }
        }
        self.buf.extend_from_slice(chunk);
        self.scan(out);
        if self.buf.len() > self.max_event_bytes {
            self.overflowed = true;
            let raw = std::mem::take(&mut self.buf);
            out.push(SseEvent {
                raw,
                ..Default::default()
            });
            self.reset_event();
        }
    }

    /// Ends the stream: a trailing event without its blank line is returned as if terminated.
    pub fn finish(&mut self) -> Option<SseEvent> {
        if self.buf.is_empty() {
            return None;
        }
        if self.line_start < self.buf.len() {
            let line = self.buf.get(self.line_start..).unwrap_or_default().to_vec();
            self.process_line(&line);
        }
        let raw = std::mem::take(&mut self.buf);
        let ev = self.take_event(raw);
        self.line_start = 0;
        Some(ev)
    }

    fn scan(&mut self, out: &mut Vec<SseEvent>) {
        // Events are copied out of `buf` as they complete and the consumed bytes are dropped once,
        // at the end: each event's raw bytes get their own exact allocation (never the capacity of
        // everything pending), and many events in one chunk cost linear time.
        let mut event_start = 0;
        self.scan_lines(&mut event_start, out);
        if event_start > 0 {
            self.buf.drain(..event_start.min(self.buf.len()));
            self.line_start = self.line_start.saturating_sub(event_start);
        }
    }

    fn scan_lines(&mut self, event_start: &mut usize, out: &mut Vec<SseEvent>) {
        loop {
            let Some(rest) = self.buf.get(self.line_start..) else {
                return;
            };
            let Some(rel) = memchr::memchr2(b'\n', b'\r', rest) else {
                return;
            };
            let eol = self.line_start + rel;
            let is_cr = self.buf.get(eol) == Some(&b'\r');
            let mut next = eol + 1;
            if is_cr {
                match self.buf.get(eol + 1) {
                    Some(b'\n') => next = eol + 2,
                    Some(_) => {}
                    None => self.pending_cr = true,
                }
            }
            let line = self
                .buf
                .get(self.line_start..eol)
                .unwrap_or_default()
                .to_vec();
            self.line_start = next;
            if line.is_empty() {
                let end = next.min(self.buf.len());
                let raw = self.buf.get(*event_start..end).unwrap_or_default().to_vec();
                *event_start = end;
                out.push(self.take_event(raw));
            } else {
                self.process_line(&line);
            }
        }
    }

    fn process_line(&mut self, line: &[u8]) {
        if line.first() == Some(&b':') {
            return; // comment
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let v = line.get(i + 1..).unwrap_or_default();
                (
                    line.get(..i).unwrap_or_default(),
                    v.strip_prefix(b" ").unwrap_or(v),
                )
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                let d = self.data.get_or_insert_with(Vec::new);
                if self.data_lines > 0 {
                    d.push(b'\n');
                }
                d.extend_from_slice(value);
                self.data_lines += 1;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {} // id, retry and unknown fields do not matter to us
        }
    }

    fn take_event(&mut self, raw: Vec<u8>) -> SseEvent {
        let data = self
            .data
            .take()
            .map(|d| String::from_utf8_lossy(&d).into_owned());
        let event = self.event.take();
        self.data_lines = 0;
        SseEvent { raw, event, data }
    }

    fn reset_event(&mut self) {
        self.event = None;
        self.data = None;
        self.line_start = 0;
        self.data_lines = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(chunks: &[&[u8]]) -> Vec<(Option<String>, Option<String>)> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut out);
        }
        out.extend(p.finish());
        out.into_iter().map(|e| (e.event, e.data)).collect()
    }

    /// Found by the fuzzer (`sse` target): an empty chunk between the CR and the LF of a CRLF
    /// made the LF a second line end — a blank line that cut the event in two.
    #[test]
    fn empty_chunk_between_cr_and_lf() {
        let whole = fields(&[b"event: e\r\ndata: x\r\n\r\n"]);
        assert_eq!(whole, vec![(Some("e".into()), Some("x".into()))]);
        let split: [&[u8]; 6] = [b"event: e\r", b"", b"\ndata: x\r", b"", b"", b"\n\r\n"];
        assert_eq!(fields(&split), whole);
    }

    /// Found by the fuzzer (`translate_stream`): each event's raw bytes kept the capacity of all
    /// that was pending when it was cut off, so one large chunk of many events needed quadratic
    /// memory. Each event now owns exactly its bytes, and the rest is unchanged.
    #[test]
    fn many_events_in_one_chunk_own_only_their_bytes() {
        let one = b"event: e\ndata: {\"x\":1}\n\n";
        let chunk: Vec<u8> = one
            .iter()
            .copied()
            .cycle()
            .take(one.len() * 20_000)
            .collect();
        let mut p = SseParser::default();
        let mut out = Vec::new();
        p.feed(&chunk, &mut out);
        p.feed(b"data: tail", &mut out);
        assert_eq!(out.len(), 20_000);
        assert!(out
            .iter()
            .all(|e| e.raw == one && e.raw.capacity() < 4 * one.len()));
        assert_eq!(p.pending_len(), b"data: tail".len());
        let last = p.finish();
        assert_eq!(last.and_then(|e| e.data).as_deref(), Some("tail"));
    }
}
