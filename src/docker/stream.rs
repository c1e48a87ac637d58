//! The output side of a hijacked exec stream: splitting the Engine's
//! multiplexed frames into stdout and stderr, with a byte cap per stream.
//!
//! Without a TTY the Engine prefixes every frame with 8 bytes: the stream
//! (`0` stdin, `1` stdout, `2` stderr, `3` the engine's own error text),
//! three zero bytes, and the payload length as a big-endian `u32`. With a TTY
//! the stream is raw bytes and all of it is stdout. [`Demux`] is a pure state
//! machine (bytes in, captured output out), so frames split across reads are
//! tested without a socket; [`pump`] drives it from any `Read` until end of
//! file. Bytes past a stream's cap are read and counted but not kept.
//!
//! This file does not connect, write stdin or keep time: `mod.rs` does, and
//! turns a read timeout into `Error::Timeout` with what [`Demux`] collected.

use std::fmt;
use std::io::{self, Read};

use super::ExecOutput;

/// A demultiplexer for one exec stream.
#[derive(Debug)]
pub(crate) struct Demux {
    tty: bool,
    header: [u8; 8],
    header_len: usize,
    /// Payload bytes left in the current frame.
    left: u32,
    to_stderr: bool,
    stdout: Capture,
    stderr: Capture,
}

/// A failure while pumping: the stream broke, or a frame header was not one.
#[derive(Debug)]
pub(crate) enum StreamError {
    Io(io::Error),
    BadFrame { stream: u8 },
}

/// Bytes kept from one output stream.
#[derive(Debug, Default)]
struct Capture {
    bytes: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl Demux {
    /// A demultiplexer that keeps at most `cap` bytes of each stream.
    pub fn new(tty: bool, cap: usize) -> Demux {
        let capture = || Capture { bytes: Vec::new(), cap, truncated: false };
        Demux { tty, header: [0; 8], header_len: 0, left: 0, to_stderr: false, stdout: capture(), stderr: capture() }
    }

    /// Consumes the next bytes of the stream, in any split.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), StreamError> {
        if self.tty {
            self.stdout.push(data);
            return Ok(());
        }
        while !data.is_empty() {
            if self.left == 0 {
                let want = 8 - self.header_len;
                let take = want.min(data.len());
                self.header[self.header_len..self.header_len + take].copy_from_slice(&data[..take]);
                self.header_len += take;
                data = &data[take..];
                if self.header_len < 8 {
                    break;
                }
                self.header_len = 0;
                self.to_stderr = match self.header[0] {
                    0 | 1 => false,
                    2 | 3 => true,
                    stream => return Err(StreamError::BadFrame { stream }),
                };
                self.left = u32::from_be_bytes([self.header[4], self.header[5], self.header[6], self.header[7]]);
                continue;
            }
            let take = (self.left as usize).min(data.len());
            let target = if self.to_stderr { &mut self.stderr } else { &mut self.stdout };
            target.push(&data[..take]);
            self.left -= take as u32;
            data = &data[take..];
        }
        Ok(())
    }

    /// The output collected so far.
    pub fn into_output(self) -> ExecOutput {
        ExecOutput {
            stdout: self.stdout.bytes,
            stderr: self.stderr.bytes,
            stdout_truncated: self.stdout.truncated,
            stderr_truncated: self.stderr.truncated,
        }
    }
}

impl Capture {
    fn push(&mut self, data: &[u8]) {
        let room = self.cap.saturating_sub(self.bytes.len());
        if data.len() > room {
            self.truncated = true;
        }
        self.bytes.extend_from_slice(&data[..data.len().min(room)]);
    }
}

/// Reads `r` to end of file into `demux`. A read error (including a timeout)
/// stops the pump; whatever was fed stays in `demux`.
pub(crate) fn pump<R: Read>(r: &mut R, demux: &mut Demux) -> Result<(), StreamError> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(StreamError::Io(e)),
        };
        demux.feed(&buf[..n])?;
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Io(e) => write!(f, "exec stream read failed: {e}"),
            StreamError::BadFrame { stream } => {
                write!(f, "exec stream frame names unknown stream {stream} (is the TTY setting right?)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![stream, 0, 0, 0];
        f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn sample() -> Vec<u8> {
        let mut s = frame(1, b"hello ");
        s.extend(frame(2, b"oops\n"));
        s.extend(frame(1, b""));
        s.extend(frame(1, b"world\n"));
        s.extend(frame(3, b"engine says no"));
        s.extend(frame(0, b"!"));
        s
    }

    #[test]
    fn separates_stdout_and_stderr() {
        let mut d = Demux::new(false, 1024);
        d.feed(&sample()).unwrap();
        let out = d.into_output();
        assert_eq!(out.stdout, b"hello world\n!");
        assert_eq!(out.stderr, b"oops\nengine says no");
        assert!(!out.truncated());
    }

    #[test]
    fn handles_every_split() {
        let s = sample();
        for split in 0..=s.len() {
            let mut d = Demux::new(false, 1024);
            d.feed(&s[..split]).unwrap();
            d.feed(&s[split..]).unwrap();
            let out = d.into_output();
            assert_eq!(out.stdout, b"hello world\n!", "split at {split}");
            assert_eq!(out.stderr, b"oops\nengine says no", "split at {split}");
        }
        // One byte at a time.
        let mut d = Demux::new(false, 1024);
        for b in &s {
            d.feed(std::slice::from_ref(b)).unwrap();
        }
        assert_eq!(d.into_output().stdout, b"hello world\n!");
    }

    #[test]
    fn pump_reads_split_input_to_eof() {
        struct Chunks(Vec<Vec<u8>>);
        impl Read for Chunks {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() {
                    return Ok(0);
                }
                let c = self.0.remove(0);
                buf[..c.len()].copy_from_slice(&c);
                Ok(c.len())
            }
        }
        let s = sample();
        let mut r = Chunks(s.chunks(3).map(<[u8]>::to_vec).collect());
        let mut d = Demux::new(false, 1024);
        pump(&mut r, &mut d).unwrap();
        assert_eq!(d.into_output().stderr, b"oops\nengine says no");
    }

    #[test]
    fn tty_mode_is_raw_stdout() {
        let mut d = Demux::new(true, 1024);
        d.feed(b"\x01\x00\x00\x00raw").unwrap();
        d.feed(b" text").unwrap();
        let out = d.into_output();
        assert_eq!(out.stdout, b"\x01\x00\x00\x00raw text");
        assert!(out.stderr.is_empty());
    }

    #[test]
    fn caps_each_stream_and_reports_truncation() {
        let mut d = Demux::new(false, 4);
        d.feed(&frame(1, b"abc")).unwrap();
        d.feed(&frame(2, b"xy")).unwrap();
        d.feed(&frame(1, b"defgh")).unwrap();
        // Reading goes on past the cap: later frames are still parsed.
        d.feed(&frame(2, b"z")).unwrap();
        let out = d.into_output();
        assert_eq!(out.stdout, b"abcd");
        assert!(out.stdout_truncated);
        assert_eq!(out.stderr, b"xyz");
        assert!(!out.stderr_truncated);
        assert!(out.truncated());

        let mut d = Demux::new(true, 3);
        d.feed(b"abcdef").unwrap();
        let out = d.into_output();
        assert_eq!((out.stdout.as_slice(), out.stdout_truncated), (&b"abc"[..], true));

        let mut d = Demux::new(false, 0);
        d.feed(&frame(1, b"a")).unwrap();
        assert!(d.into_output().stdout_truncated);
    }

    #[test]
    fn rejects_unknown_stream_ids() {
        let mut d = Demux::new(false, 10);
        d.feed(&frame(1, b"ok")).unwrap();
        let err = d.feed(b"HTTP/1.1 200 OK").unwrap_err();
        assert!(matches!(err, StreamError::BadFrame { stream: b'H' }));
        assert!(err.to_string().contains("unknown stream 72"), "{err}");
        // What came before the bad frame is kept.
        assert_eq!(d.into_output().stdout, b"ok");
    }

    #[test]
    fn huge_frame_lengths_allocate_nothing_up_front() {
        let mut d = Demux::new(false, 8);
        d.feed(&[1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]).unwrap();
        d.feed(b"0123456789").unwrap();
        let out = d.into_output();
        assert_eq!(out.stdout, b"01234567");
        assert!(out.stdout_truncated);
    }
}
