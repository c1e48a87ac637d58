//! The last log lines, kept in memory for `logs.tail` and the Control UI's
//! Logs page. `main` pipes `env_logger` through [`Tee`], which writes each
//! line to stderr (the journal, `docker logs`) and keeps a copy here.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Mutex, OnceLock};

const MAX_LINES: usize = 2000;
const MAX_BYTES: usize = 512 * 1024;
const MAX_LINE: usize = 4096;

#[derive(Default)]
pub struct LogBuffer {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    lines: VecDeque<String>,
    bytes: usize,
    /// Sequence number of the next line; the first kept line is `next - lines.len()`.
    next: u64,
    partial: Vec<u8>,
}

/// The process-wide buffer.
pub fn global() -> &'static LogBuffer {
    static BUF: OnceLock<LogBuffer> = OnceLock::new();
    BUF.get_or_init(LogBuffer::default)
}

impl LogBuffer {
    pub fn push_bytes(&self, bytes: &[u8]) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for &b in bytes {
            if b == b'\n' {
                let line = String::from_utf8_lossy(&g.partial).into_owned();
                g.partial.clear();
                g.push_line(line);
            } else if g.partial.len() < MAX_LINE {
                g.partial.push(b);
            }
        }
    }

    /// Lines after `cursor` (all kept lines when `None` or too old), at most
    /// `limit` of the newest, and the cursor to pass next time.
    pub fn tail(&self, cursor: Option<u64>, limit: usize) -> (Vec<String>, u64, bool) {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let first = g.next - g.lines.len() as u64;
        let from = cursor.unwrap_or(first).clamp(first, g.next);
        let available = (g.next - from) as usize;
        let take = available.min(limit);
        let skip = g.lines.len() - take;
        let truncated = take < available || cursor.is_some_and(|c| c < first);
        (g.lines.iter().skip(skip).cloned().collect(), g.next, truncated)
    }
}

impl Inner {
    fn push_line(&mut self, line: String) {
        self.bytes += line.len();
        self.lines.push_back(line);
        self.next += 1;
        while self.lines.len() > MAX_LINES || self.bytes > MAX_BYTES {
            match self.lines.pop_front() {
                Some(old) => self.bytes -= old.len(),
                None => break,
            }
        }
    }
}

/// A `Write` for `env_logger`: stderr plus the global buffer.
pub struct Tee;

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        global().push_bytes(buf);
        io::stderr().write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_follows_a_cursor_and_forgets_old_lines() {
        let b = LogBuffer::default();
        b.push_bytes(b"one\ntwo\nthr");
        let (lines, cursor, _) = b.tail(None, 10);
        assert_eq!(lines, ["one", "two"]);
        b.push_bytes(b"ee\nfour\n");
        let (lines, cursor2, truncated) = b.tail(Some(cursor), 10);
        assert_eq!(lines, ["three", "four"]);
        assert!(!truncated);
        assert_eq!(b.tail(Some(cursor2), 10).0.len(), 0);
        let (lines, _, truncated) = b.tail(Some(0), 1);
        assert_eq!(lines, ["four"]);
        assert!(truncated);
        for i in 0..(MAX_LINES + 10) {
            b.push_bytes(format!("l{i}\n").as_bytes());
        }
        let (lines, _, truncated) = b.tail(Some(0), usize::MAX);
        assert_eq!(lines.len(), MAX_LINES);
        assert!(truncated);
    }
}
