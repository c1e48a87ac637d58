//! Server-sent events, sans-IO: bytes in, complete events out.
//!
//! Lines end in `\n` (a `\r` before it is dropped); `data:` lines of one event are
//! joined with `\n`; `event:` names it; lines starting with `:` are comments; an empty
//! line ends the event (one without data is dropped). Other fields are ignored. An
//! event (pending line included) larger than [`MAX_EVENT_BYTES`] is an error.

use super::{Error, MAX_EVENT_BYTES};

#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Event {
    pub name: String,
    pub data: String,
}

#[derive(Debug, Default)]
pub(super) struct Parser {
    line: Vec<u8>,
    event: Event,
    has_data: bool,
}

impl Parser {
    /// Parses `bytes`, pushing each completed event onto `out`.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<Event>) -> Result<(), Error> {
        while !bytes.is_empty() {
            let (part, rest, complete) = match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => (&bytes[..i], &bytes[i + 1..], true),
                None => (bytes, &[][..], false),
            };
            if self.line.len() + part.len() + self.event.data.len() > MAX_EVENT_BYTES {
                return Err(Error::MalformedStream(format!("an event exceeds {} MiB", MAX_EVENT_BYTES >> 20)));
            }
            self.line.extend_from_slice(part);
            bytes = rest;
            if complete {
                let line = std::mem::take(&mut self.line);
                self.process(&line, out)?;
                self.line = line;
                self.line.clear();
            }
        }
        Ok(())
    }

    /// The stream ended: a last line or event without its terminator still counts.
    pub fn finish(&mut self, out: &mut Vec<Event>) -> Result<(), Error> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process(&line, out)?;
        }
        self.process(b"", out)
    }

    fn process(&mut self, line: &[u8], out: &mut Vec<Event>) -> Result<(), Error> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = std::str::from_utf8(line)
            .map_err(|_| Error::MalformedStream("the event stream is not valid UTF-8".into()))?;
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            if std::mem::take(&mut self.has_data) {
                out.push(event);
            }
            return Ok(());
        }
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "data" => {
                if self.has_data {
                    self.event.data.push('\n');
                }
                self.event.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event.name = value.to_string(),
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(text: &str, piece: usize) -> Vec<Event> {
        let mut p = Parser::default();
        let mut out = Vec::new();
        for chunk in text.as_bytes().chunks(piece) {
            p.feed(chunk, &mut out).unwrap();
        }
        p.finish(&mut out).unwrap();
        out
    }

    #[test]
    fn events_names_multiline_comments_crlf_any_split() {
        let text = ": comment\r\nevent: ping\r\ndata: {}\r\n\r\ndata: a\ndata:b\nid: 7\nretry: 5\n\nevent: empty\n\ndata: last";
        let want = vec![
            Event { name: "ping".into(), data: "{}".into() },
            Event { name: String::new(), data: "a\nb".into() },
            Event { name: String::new(), data: "last".into() },
        ];
        for piece in [1, 2, 3, 7, 1000] {
            assert_eq!(parse_in_pieces(text, piece), want, "piece {piece}");
        }
    }

    #[test]
    fn oversized_event_is_refused() {
        let mut p = Parser::default();
        let mut out = Vec::new();
        let line = format!("data: {}\n", "x".repeat(MAX_EVENT_BYTES / 2));
        p.feed(line.as_bytes(), &mut out).unwrap();
        let err = p.feed(line.as_bytes(), &mut out).unwrap_err();
        assert!(matches!(err, Error::MalformedStream(_)), "{err:?}");
        // A long line without a newline is refused too.
        let mut p = Parser::default();
        let big = vec![b'x'; MAX_EVENT_BYTES + 1];
        assert!(p.feed(&big, &mut out).is_err());
    }
}
