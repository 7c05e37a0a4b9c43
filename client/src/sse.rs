//! A server-sent events parser (the `text/event-stream` format of the WHATWG HTML
//! standard), fed with the chunks of a response body as they arrive.
//!
//! Lines end with `\r\n`, `\n` or `\r`, and a chunk may end anywhere, even between the
//! `\r` and the `\n`. `event:` names the event, `data:` lines are joined with `\n`, a line
//! starting with `:` is a comment (a keep-alive), and an empty line dispatches the event.
//! `id:` and `retry:` are not needed here and are ignored, as are unknown fields.

use std::fmt;

/// The longest line accepted: the events of the invalidation stream are far shorter, so a
/// longer line means the stream is not what it should be.
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// The `event:` field; `message` when there was none.
    pub(crate) event: String,
    /// The `data:` lines, joined with `\n`.
    pub(crate) data: String,
}

/// A line longer than [`MAX_LINE`], or an event whose data grew past it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLong;

impl fmt::Display for TooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an event stream line or event over {MAX_LINE} bytes")
    }
}

/// The parser's state between chunks.
#[derive(Debug, Default)]
pub(crate) struct Parser {
    line: Vec<u8>,
    after_cr: bool,
    first_line: bool,
    event: String,
    data: String,
    has_data: bool,
}

impl Parser {
    pub(crate) fn new() -> Self {
        Self {
            first_line: true,
            ..Self::default()
        }
    }

    /// Reads `chunk`, returning the events it completed.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Event>, TooLong> {
        let mut events = Vec::new();
        for &byte in chunk {
            if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                // The `\n` of a `\r\n` whose `\r` ended the line already.
                continue;
            }
            match byte {
                b'\n' => self.end_line(&mut events)?,
                b'\r' => {
                    self.end_line(&mut events)?;
                    self.after_cr = true;
                }
                _ if self.line.len() >= MAX_LINE => return Err(TooLong),
                _ => self.line.push(byte),
            }
        }
        Ok(events)
    }

    fn end_line(&mut self, events: &mut Vec<Event>) -> Result<(), TooLong> {
        let raw = std::mem::take(&mut self.line);
        let mut line = raw.as_slice();
        if std::mem::take(&mut self.first_line) {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        if line.is_empty() {
            self.dispatch(events);
            return Ok(());
        }
        if line.starts_with(b":") {
            return Ok(());
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"event" => self.event = value.into_owned(),
            b"data" => {
                if self.data.len() + value.len() + 1 > MAX_LINE {
                    return Err(TooLong);
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, events: &mut Vec<Event>) {
        let event = std::mem::take(&mut self.event);
        let data = std::mem::take(&mut self.data);
        if std::mem::take(&mut self.has_data) {
            events.push(Event {
                event: if event.is_empty() {
                    "message".to_owned()
                } else {
                    event
                },
                data,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, data: &str) -> Event {
        Event {
            event: name.to_owned(),
            data: data.to_owned(),
        }
    }

    /// Feeds `chunks` one after another, collecting every event.
    fn parse(chunks: &[&[u8]]) -> Vec<Event> {
        let mut parser = Parser::new();
        chunks
            .iter()
            .flat_map(|chunk| parser.feed(chunk).expect("within limits"))
            .collect()
    }

    const STREAM: &str = "event: ready\ndata: {\"keyspace_id\":\"k\",\"heartbeat_seconds\":15}\n\n\
        : ping\n\n\
        event: key\r\ndata: {\"key_id\":\"a\"}\r\n\r\n\
        event: reset\rdata: {}\r\r";

    fn expected() -> Vec<Event> {
        vec![
            event("ready", r#"{"keyspace_id":"k","heartbeat_seconds":15}"#),
            event("key", r#"{"key_id":"a"}"#),
            event("reset", "{}"),
        ]
    }

    #[test]
    fn every_line_ending_and_comments_parse() {
        assert_eq!(parse(&[STREAM.as_bytes()]), expected());
    }

    #[test]
    fn chunks_may_end_anywhere() {
        let bytes = STREAM.as_bytes();
        for split in 0..=bytes.len() {
            let (a, b) = bytes.split_at(split);
            assert_eq!(parse(&[a, b]), expected(), "split at {split}");
        }
        let one_by_one: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(parse(&one_by_one), expected());
    }

    #[test]
    fn a_crlf_split_between_chunks_ends_one_line() {
        // `\r` ends the line; the `\n` opening the next chunk must not end another (which
        // would dispatch the event early, without its data).
        let events = parse(&[b"event: key\r", b"\ndata: 1\r", b"\n\r", b"\n"]);
        assert_eq!(events, [event("key", "1")]);
    }

    #[test]
    fn data_lines_join_and_fields_read_as_the_standard_says() {
        let events = parse(&[
            b"\xEF\xBB\xBFdata: first\ndata:second\ndata\nid: 7\nretry: 100\nunknown: x\n\n",
            b"event: key\n\n",
            b"event: only-name\nevent: key\ndata:  two spaces\n\n",
        ]);
        assert_eq!(
            events,
            [
                event("message", "first\nsecond\n"),
                // `event: key` without data dispatches nothing.
                event("key", " two spaces"),
            ]
        );
    }

    #[test]
    fn an_unfinished_event_is_not_dispatched() {
        assert!(parse(&[b"event: key\ndata: {}\n"]).is_empty());
    }

    #[test]
    fn an_endless_line_is_refused() {
        let mut parser = Parser::new();
        let long = vec![b'x'; MAX_LINE];
        assert_eq!(parser.feed(&long), Ok(Vec::new()));
        assert_eq!(parser.feed(b"x"), Err(TooLong));
        let mut parser = Parser::new();
        let line = format!("data: {}\n", "y".repeat(MAX_LINE / 2));
        assert!(parser.feed(line.as_bytes()).is_ok());
        assert_eq!(
            parser.feed(line.as_bytes()),
            Err(TooLong),
            "the event grew too long"
        );
    }
}
