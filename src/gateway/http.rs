//! The gateway's HTTP/1.1 server side: a sans-IO request-head parser
//! ([`parse_head`]) and a connection ([`Conn`]) that reads heads and bodies
//! under deadlines and writes [`Response`]s. The accept loop, routing and the
//! WebSocket upgrade live in the callers; this file owns the wire syntax.
//!
//! Hand-written because `tiny_http` has no deadline for the request head (a
//! slowloris holds a thread forever), does not bound the length of a header
//! line, spawns an unbounded number of threads per connection, and hides the
//! accepted socket so its timeouts cannot be configured.
//!
//! Limits ([`Limits`]): the head (request line, fields, blank line) may take
//! at most `max_head` bytes (16 KiB) and `max_headers` fields (100), else 431;
//! it must arrive whole within `head_deadline` (10 s) counted from its first
//! byte, and the first byte within `idle` (30 s). Every read carries the time
//! left as its timeout, so a drip of bytes cannot stretch a deadline. Bodies
//! are capped at `max_body` (a declared length over it is 413 before anything
//! is read or allocated; chunked bodies are 413 as soon as the decoded size
//! would pass it) and must arrive within `body_deadline`. Memory grows only
//! with bytes received: the head buffer stays under `max_head` plus one read.
//!
//! Strictness (against request smuggling): lines end in CRLF only; at most two
//! empty lines before the request line; the target is origin-form (starts with
//! `/`, visible ASCII); field names are tokens with no space before the colon;
//! obs-fold is refused; values may not hold CTLs other than HTAB (bytes of
//! 0x80 and up are kept, decoded as lossy UTF-8, as RFC 9110 allows obs-text);
//! `Content-Length` with `Transfer-Encoding`, differing lengths, or a
//! `Transfer-Encoding` on HTTP/1.0 are 400; a coding other than `chunked` is
//! 501; HTTP/1.1 needs exactly one `Host`. After any [`Error`] the caller
//! sends [`Error::response`] (if any) and closes: the framing is lost.
//!
//! Deliberately unsupported: TLS (put a proxy in front), HTTP/2, obs-fold,
//! request bodies with codings other than `chunked`, `Transfer-Encoding` in
//! responses (always `Content-Length`). `Expect: 100-continue` is answered
//! with `100 Continue` by [`Conn::read_body`] when the body is within limits
//! (curl otherwise waits a second); other `Expect` values are ignored.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long writing one response (or a `100 Continue`) may take in total.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The most bytes a chunk-size line (size plus extensions) may take.
const MAX_CHUNK_LINE: usize = 4096;
/// Empty lines tolerated before a request line (RFC 9112, section 2.2).
const MAX_LEADING_EMPTY: usize = 2;

/// Size and time caps for one request. See the module documentation.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_head: usize,
    pub max_headers: usize,
    pub max_body: usize,
    /// The whole head, counted from its first byte.
    pub head_deadline: Duration,
    /// Keep-alive: the wait for the first byte of the next request.
    pub idle: Duration,
    /// The whole body, counted from the call that reads it.
    pub body_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head: 16 * 1024,
            max_headers: 100,
            max_body: 1024 * 1024,
            head_deadline: Duration::from_secs(10),
            idle: Duration::from_secs(30),
            body_deadline: Duration::from_secs(30),
        }
    }
}

/// A parsed request line and header block. The framing headers were checked
/// by [`parse_head`]; the accessors assume a head that came from it.
#[derive(Debug, Clone)]
pub struct Head {
    pub method: String,
    /// The raw request-target, for example `/a/b?x=1`.
    pub target: String,
    /// The target before the first `?`.
    pub path: String,
    /// The target after the first `?` (possibly empty), if there is one.
    pub query: Option<String>,
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// Names as sent, values trimmed of OWS, in order.
    pub headers: Vec<(String, String)>,
}

/// How the request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    None,
    Length(u64),
    Chunked,
}

/// Why a request could not be read. [`Error::status`] is the answer to send,
/// if any; after every error the connection must be closed.
#[derive(Debug)]
pub enum Error {
    /// 400.
    BadRequest(&'static str),
    /// 431: the head or a trailer section over `max_head`, or too many fields.
    HeadTooLarge,
    /// 413.
    BodyTooLarge,
    /// 501, e.g. an unknown transfer coding.
    NotImplemented(&'static str),
    /// 505.
    VersionNotSupported,
    /// A deadline passed while a request was arriving.
    Timeout,
    /// The peer closed, or the keep-alive `idle` wait ended, before any byte
    /// of a request: the normal end of a connection.
    Closed,
    Io(io::Error),
}

impl Error {
    /// The status code to answer with; `None` means just close.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::BadRequest(_) => Some(400),
            Error::HeadTooLarge => Some(431),
            Error::BodyTooLarge => Some(413),
            Error::NotImplemented(_) => Some(501),
            Error::VersionNotSupported => Some(505),
            Error::Timeout | Error::Closed | Error::Io(_) => None,
        }
    }

    /// The plain-text response to send before closing, if any.
    pub fn response(&self) -> Option<Response> {
        let status = self.status()?;
        let mut resp = Response::text(status, &format!("{self}\n"));
        resp.close = true;
        Some(resp)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadRequest(why) | Error::NotImplemented(why) => {
                write!(f, "{}: {why}", reason_phrase(self.status().unwrap_or(400)))
            }
            Error::HeadTooLarge | Error::BodyTooLarge | Error::VersionNotSupported => {
                f.write_str(reason_phrase(self.status().unwrap_or(400)))
            }
            Error::Timeout => f.write_str("request timed out"),
            Error::Closed => f.write_str("connection closed"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl Head {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers_all(name).next()
    }

    /// Every value of a header, by case-insensitive name, in order (the
    /// iterator also borrows `name`).
    pub fn headers_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Whether the client asked to keep the connection open: HTTP/1.1 unless
    /// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`. (A
    /// kept-alive HTTP/1.0 response needs `Connection: keep-alive`; the caller
    /// adds it.)
    pub fn keep_alive(&self) -> bool {
        let has = |token: &str| {
            self.headers_all("connection").flat_map(|v| v.split(',')).any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        !has("close") && (self.minor >= 1 || has("keep-alive"))
    }

    /// The body framing (validated by [`parse_head`]).
    pub fn body_kind(&self) -> BodyKind {
        if self.header("transfer-encoding").is_some() {
            return BodyKind::Chunked;
        }
        match content_length(self) {
            Ok(Some(n)) => BodyKind::Length(n),
            _ => BodyKind::None,
        }
    }

    /// `Expect: 100-continue` on HTTP/1.1.
    fn expects_continue(&self) -> bool {
        self.minor >= 1 && self.header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    }
}

/// Parses a complete head from the start of `buf`: the head and the bytes it
/// took, or `Ok(None)` when more bytes are needed. Each complete line is
/// checked as soon as it is in `buf`, so a bad request line fails at once.
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Option<(Head, usize)>, Error> {
    let more = || if buf.len() > limits.max_head { Err(Error::HeadTooLarge) } else { Ok(None) };
    let mut pos = 0;
    let mut empty = 0;
    let (method, target, minor) = loop {
        let Some((end, next)) = find_line(buf, pos)? else { return more() };
        if next > limits.max_head {
            return Err(Error::HeadTooLarge);
        }
        let line = &buf[pos..end];
        pos = next;
        if !line.is_empty() {
            break parse_request_line(line)?;
        }
        empty += 1;
        if empty > MAX_LEADING_EMPTY {
            return Err(Error::BadRequest("empty lines before the request line"));
        }
    };
    let mut headers = Vec::new();
    loop {
        let Some((end, next)) = find_line(buf, pos)? else { return more() };
        if next > limits.max_head {
            return Err(Error::HeadTooLarge);
        }
        let line = &buf[pos..end];
        pos = next;
        if line.is_empty() {
            break;
        }
        if headers.len() >= limits.max_headers {
            return Err(Error::HeadTooLarge);
        }
        headers.push(parse_field(line)?);
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (target.clone(), None),
    };
    let head = Head { method, target, path, query, minor, headers };
    check_framing(&head)?;
    Ok(Some((head, pos)))
}

/// One connection: the socket and the bytes read but not yet consumed.
pub struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    buf: Vec<u8>,
}

impl Conn {
    pub fn new(stream: TcpStream, peer: SocketAddr) -> Conn {
        Conn { stream, peer, buf: Vec::new() }
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Waits up to `limits.idle` for the first byte of a request, then up to
    /// `limits.head_deadline` from that byte for the whole head. A peer that
    /// closes, or sends nothing within `idle`, gives [`Error::Closed`]; a head
    /// that started but did not finish in time gives [`Error::Timeout`].
    /// The previous request's body must have been consumed ([`Conn::read_body`]
    /// or [`Conn::discard_body`]) first.
    pub fn read_head(&mut self, limits: &Limits) -> Result<Head, Error> {
        if self.buf.is_empty() {
            match self.fill(deadline_after(limits.idle)) {
                Ok(()) => {}
                Err(Error::Timeout) => return Err(Error::Closed),
                Err(Error::Io(e)) if matches!(e.kind(), io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset) => {
                    return Err(Error::Closed);
                }
                Err(e) => return Err(e),
            }
        }
        let deadline = deadline_after(limits.head_deadline);
        // Parse again only when a line may have completed or the cap passed,
        // so a byte-at-a-time peer costs O(lines), not O(bytes), parses.
        let mut scanned = None;
        loop {
            let fresh = scanned.map_or(&self.buf[..], |s| &self.buf[s..]);
            if (scanned.is_none() || fresh.contains(&b'\n') || self.buf.len() > limits.max_head)
                && let Some((head, used)) = parse_head(&self.buf, limits)?
            {
                self.buf.drain(..used);
                return Ok(head);
            }
            scanned = Some(self.buf.len());
            self.fill(deadline)?;
        }
    }

    /// Reads the body that `head` announces, at most `limits.max_body` bytes,
    /// within `limits.body_deadline`. Sends `100 Continue` first when the
    /// client expects it and the body is within limits.
    pub fn read_body(&mut self, head: &Head, limits: &Limits) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.body(head, limits, &mut Some(&mut out), true)?;
        Ok(out)
    }

    /// Discards an unread body (up to `limits.max_body`, within the body
    /// deadline) so keep-alive can continue. `false` means the caller must
    /// close: the body is too large, broken, or the client is waiting for a
    /// `100 Continue` (it may or may not send the body). Call it only when
    /// [`Conn::read_body`] was not called for this head.
    pub fn discard_body(&mut self, head: &Head, limits: &Limits) -> bool {
        self.drop_body(head, limits).unwrap_or(false)
    }

    /// [`Conn::discard_body`] with the reason: `Ok(true)` dropped,
    /// `Ok(false)` left unread (the client waits for a `100 Continue`), `Err`
    /// the error to answer with before closing (a declared length over the
    /// cap is 413 before anything is read).
    pub fn drop_body(&mut self, head: &Head, limits: &Limits) -> Result<bool, Error> {
        match head.body_kind() {
            BodyKind::None | BodyKind::Length(0) => Ok(true),
            BodyKind::Length(n) if n > limits.max_body as u64 => Err(Error::BodyTooLarge),
            _ if head.expects_continue() => Ok(false),
            _ => self.body(head, limits, &mut None, false).map(|()| true),
        }
    }

    /// Writes `resp` within [`WRITE_TIMEOUT`]: the status line, the caller's
    /// headers (minus `Content-Length` and `Transfer-Encoding`, and minus
    /// `Connection` when `resp.close`), `Content-Length` (always, even 0;
    /// never for 1xx, 204 and 304, which have no body), `Connection: close`
    /// when `resp.close`, then the body unless `head_only`. CTLs in header
    /// values (CR, LF, NUL, ...) are removed so a header can never be split;
    /// a header name that is not a token is refused (`InvalidInput`).
    pub fn write_response(&mut self, resp: &Response, head_only: bool) -> io::Result<()> {
        let bytes = encode_response(resp, head_only)?;
        write_all_by(&self.stream, &bytes, deadline_after(WRITE_TIMEOUT))
    }

    /// Hands the connection over (WebSocket upgrade): the stream, whose read
    /// and write timeouts are left as set here, and the bytes already read
    /// past the head.
    pub fn into_parts(self) -> (TcpStream, Vec<u8>) {
        (self.stream, self.buf)
    }

    /// Reads (`out` is `Some`) or drops the body of `head`.
    fn body(&mut self, head: &Head, limits: &Limits, out: &mut Option<&mut Vec<u8>>, send_continue: bool) -> Result<(), Error> {
        let deadline = deadline_after(limits.body_deadline);
        let kind = head.body_kind();
        match kind {
            BodyKind::None | BodyKind::Length(0) => return Ok(()),
            BodyKind::Length(n) if n > limits.max_body as u64 => return Err(Error::BodyTooLarge),
            _ => {}
        }
        if send_continue && head.expects_continue() {
            let by = deadline.min(deadline_after(WRITE_TIMEOUT));
            write_all_by(&self.stream, b"HTTP/1.1 100 Continue\r\n\r\n", by).map_err(io_error)?;
        }
        match kind {
            BodyKind::Length(n) => {
                if let Some(o) = out.as_deref_mut() {
                    o.reserve(n.min(64 * 1024) as usize);
                }
                self.take(n, out, deadline)
            }
            _ => self.chunked(limits, out, deadline),
        }
    }

    /// Decodes a chunked body (RFC 9112, section 7.1) into `out`.
    fn chunked(&mut self, limits: &Limits, out: &mut Option<&mut Vec<u8>>, deadline: Instant) -> Result<(), Error> {
        let mut left = limits.max_body as u64;
        loop {
            let line = self.read_line(MAX_CHUNK_LINE, Error::BadRequest("chunk-size line too long"), deadline)?;
            let size = parse_chunk_size(&line)?;
            if size == 0 {
                break;
            }
            if size > left {
                return Err(Error::BodyTooLarge);
            }
            left -= size;
            self.take(size, out, deadline)?;
            self.read_line(0, Error::BadRequest("chunk data not followed by CRLF"), deadline)?;
        }
        // Trailer fields, dropped, then the empty line; bounded by max_head.
        let mut budget = limits.max_head;
        loop {
            let line = self.read_line(budget, Error::HeadTooLarge, deadline)?;
            if line.is_empty() {
                return Ok(());
            }
            budget = budget.saturating_sub(line.len() + 2);
        }
    }

    /// Moves exactly `n` body bytes into `out` (or drops them): the buffered
    /// ones first, then straight from the socket.
    fn take(&mut self, mut n: u64, out: &mut Option<&mut Vec<u8>>, deadline: Instant) -> Result<(), Error> {
        let from_buf = self.buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
        if let Some(o) = out.as_deref_mut() {
            o.extend_from_slice(&self.buf[..from_buf]);
        }
        self.buf.drain(..from_buf);
        n -= from_buf as u64;
        let mut chunk = [0u8; 16 * 1024];
        while n > 0 {
            let want = chunk.len().min(usize::try_from(n).unwrap_or(usize::MAX));
            let got = self.read_some(&mut chunk[..want], deadline)?;
            if got == 0 {
                return Err(Error::Io(io::ErrorKind::UnexpectedEof.into()));
            }
            if let Some(o) = out.as_deref_mut() {
                o.extend_from_slice(&chunk[..got]);
            }
            n -= got as u64;
        }
        Ok(())
    }

    /// Consumes one CRLF-terminated line of at most `max` bytes (without the
    /// CRLF); a longer one is `too_long`.
    fn read_line(&mut self, max: usize, too_long: Error, deadline: Instant) -> Result<Vec<u8>, Error> {
        let mut from = 0;
        loop {
            match find_line(&self.buf, from)? {
                Some((end, _)) if end > max => return Err(too_long),
                Some((end, next)) => {
                    let line = self.buf[..end].to_vec();
                    self.buf.drain(..next);
                    return Ok(line);
                }
                None if self.buf.len() > max + 1 => return Err(too_long),
                // Scan only new bytes next time (and a CR that may end this).
                None => from = self.buf.len().saturating_sub(1),
            }
            self.fill(deadline)?;
        }
    }

    /// Appends at least one byte to the buffer; the end of the stream is
    /// `UnexpectedEof`.
    fn fill(&mut self, deadline: Instant) -> Result<(), Error> {
        let mut chunk = [0u8; 8192];
        match self.read_some(&mut chunk, deadline)? {
            0 => Err(Error::Io(io::ErrorKind::UnexpectedEof.into())),
            n => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
        }
    }

    /// One read whose timeout is the time left before `deadline`.
    fn read_some(&mut self, into: &mut [u8], deadline: Instant) -> Result<usize, Error> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout);
            }
            self.stream.set_read_timeout(Some(left)).map_err(Error::Io)?;
            match self.stream.read(into) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r.map_err(io_error),
            }
        }
    }
}

/// A response to write with [`Conn::write_response`].
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send `Connection: close`; the caller closes after writing.
    pub close: bool,
}

impl Response {
    /// An empty response.
    pub fn new(status: u16) -> Response {
        Response { status, headers: Vec::new(), body: Vec::new(), close: false }
    }

    /// A body with its `Content-Type`.
    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Response {
        Response { body, ..Response::new(status) }.header("Content-Type", content_type)
    }

    /// A `text/plain; charset=utf-8` body.
    pub fn text(status: u16, body: &str) -> Response {
        Response::bytes(status, "text/plain; charset=utf-8", body.as_bytes().to_vec())
    }

    /// An `application/json` body.
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response::bytes(status, "application/json", serde_json::to_vec(value).unwrap_or_default())
    }

    /// Adds a header (values are sanitized when written).
    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// The reason phrase for a status code (by class for unlisted codes).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => match status / 100 {
            1 => "Informational",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            _ => "Server Error",
        },
    }
}

// ---------------------------------------------------------------------------
// Private helpers.

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b))
}

/// The next line starting at `start`: where it ends and where the next one
/// starts, or `None` if it has not fully arrived. A CR or LF not part of a
/// CRLF is an error.
fn find_line(buf: &[u8], start: usize) -> Result<Option<(usize, usize)>, Error> {
    let Some(i) = buf[start..].iter().position(|&b| b == b'\r' || b == b'\n') else {
        return Ok(None);
    };
    let i = start + i;
    match (buf[i], buf.get(i + 1)) {
        (b'\r', Some(b'\n')) => Ok(Some((i, i + 2))),
        (b'\r', None) => Ok(None),
        (b'\r', Some(_)) => Err(Error::BadRequest("bare CR in a line")),
        _ => Err(Error::BadRequest("line not ended by CRLF")),
    }
}

fn parse_request_line(line: &[u8]) -> Result<(String, String, u8), Error> {
    let bad = Error::BadRequest("malformed request line");
    let parts: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let [method, target, version] = parts[..] else { return Err(bad) };
    let minor = match version {
        b"HTTP/1.0" => 0,
        b"HTTP/1.1" => 1,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return Err(Error::VersionNotSupported);
        }
        _ => return Err(bad),
    };
    if !is_token(method) {
        return Err(Error::BadRequest("method is not a token"));
    }
    if target.first() != Some(&b'/') || !target.iter().all(|b| (0x21..0x7f).contains(b)) {
        return Err(Error::BadRequest("request target must be a path (origin-form)"));
    }
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Ok((s(method), s(target), minor))
}

fn parse_field(line: &[u8]) -> Result<(String, String), Error> {
    if matches!(line[0], b' ' | b'\t') {
        return Err(Error::BadRequest("obsolete line folding"));
    }
    let colon = line.iter().position(|&b| b == b':').ok_or(Error::BadRequest("header line without a colon"))?;
    let name = &line[..colon];
    if !is_token(name) {
        return Err(Error::BadRequest("header name is not a token"));
    }
    let value = trim_ows(&line[colon + 1..]);
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(Error::BadRequest("control character in a header value"));
    }
    Ok((String::from_utf8_lossy(name).into_owned(), String::from_utf8_lossy(value).into_owned()))
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The message-framing rules of RFC 9112, sections 3.2 and 6, strictly.
fn check_framing(head: &Head) -> Result<(), Error> {
    let hosts = head.headers_all("host").count();
    if hosts > 1 {
        return Err(Error::BadRequest("more than one Host header"));
    }
    if head.minor >= 1 && hosts == 0 {
        return Err(Error::BadRequest("HTTP/1.1 request without Host"));
    }
    let length = content_length(head)?;
    if head.header("transfer-encoding").is_some() {
        if head.minor == 0 {
            return Err(Error::BadRequest("Transfer-Encoding in an HTTP/1.0 request"));
        }
        if length.is_some() {
            return Err(Error::BadRequest("both Content-Length and Transfer-Encoding"));
        }
        let codings: Vec<&str> = head.headers_all("transfer-encoding").flat_map(|v| v.split(',')).map(str::trim).collect();
        if codings.iter().any(|c| c.is_empty()) {
            return Err(Error::BadRequest("empty transfer coding"));
        }
        if codings.iter().any(|c| !c.eq_ignore_ascii_case("chunked")) {
            return Err(Error::NotImplemented("transfer coding other than chunked"));
        }
        if codings.len() > 1 {
            return Err(Error::BadRequest("chunked applied more than once"));
        }
    }
    Ok(())
}

/// The `Content-Length`, if any: every value (in every field and comma list)
/// must be the same decimal number.
fn content_length(head: &Head) -> Result<Option<u64>, Error> {
    let mut found = None;
    for value in head.headers_all("content-length").flat_map(|v| v.split(',')) {
        let value = value.trim();
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::BadRequest("invalid Content-Length"));
        }
        let n: u64 = value.parse().map_err(|_| Error::BadRequest("invalid Content-Length"))?;
        if found.is_some_and(|f| f != n) {
            return Err(Error::BadRequest("conflicting Content-Length values"));
        }
        found = Some(n);
    }
    Ok(found)
}

/// `chunk-size [ BWS ";" chunk-ext ]`: hex digits, then nothing or an
/// extension (ignored).
fn parse_chunk_size(line: &[u8]) -> Result<u64, Error> {
    let bad = Error::BadRequest("invalid chunk size");
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let rest = trim_ows(&line[digits..]);
    if digits == 0 || !(rest.is_empty() || rest[0] == b';') {
        return Err(bad);
    }
    let mut n: u64 = 0;
    for &b in &line[..digits] {
        let d = u64::from((b as char).to_digit(16).unwrap_or(0));
        n = n.checked_mul(16).and_then(|n| n.checked_add(d)).ok_or(Error::BadRequest("chunk size overflows"))?;
    }
    Ok(n)
}

fn encode_response(resp: &Response, head_only: bool) -> io::Result<Vec<u8>> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_owned());
    if !(100..=599).contains(&resp.status) {
        return Err(invalid("status code out of range"));
    }
    let has_body = !matches!(resp.status, 100..=199 | 204 | 304);
    let mut out = Vec::with_capacity(256 + if head_only || !has_body { 0 } else { resp.body.len() });
    out.extend_from_slice(format!("HTTP/1.1 {} {}\r\n", resp.status, reason_phrase(resp.status)).as_bytes());
    for (name, value) in &resp.headers {
        if !is_token(name.as_bytes()) {
            return Err(invalid("header name is not a token"));
        }
        let framing = ["content-length", "transfer-encoding"].iter().any(|n| name.eq_ignore_ascii_case(n));
        if framing || (resp.close && name.eq_ignore_ascii_case("connection")) {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend(value.bytes().filter(|&b| (b >= 0x20 && b != 0x7f) || b == b'\t'));
        out.extend_from_slice(b"\r\n");
    }
    if has_body {
        out.extend_from_slice(format!("Content-Length: {}\r\n", resp.body.len()).as_bytes());
    }
    if resp.close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if has_body && !head_only {
        out.extend_from_slice(&resp.body);
    }
    Ok(out)
}

/// Writes all of `bytes` before `deadline`, however slowly the peer reads.
fn write_all_by(mut stream: &TcpStream, mut bytes: &[u8], deadline: Instant) -> io::Result<()> {
    while !bytes.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "write deadline passed"));
        }
        stream.set_write_timeout(Some(left))?;
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn io_error(e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout,
        _ => Error::Io(e),
    }
}

fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d).unwrap_or(now + Duration::from_secs(365 * 24 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    fn parse(s: &str) -> Result<Option<(Head, usize)>, Error> {
        parse_head(s.as_bytes(), &Limits::default())
    }

    /// The status of the error `s` fails with.
    fn status(s: &str) -> u16 {
        match parse(s) {
            Err(e) => e.status().unwrap(),
            Ok(r) => panic!("{s:?} parsed: {r:?}"),
        }
    }

    fn head(s: &str) -> Head {
        parse(s).unwrap().unwrap().0
    }

    /// A server-side `Conn` and the client end of a loopback connection.
    fn pair() -> (Conn, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (stream, peer) = listener.accept().unwrap();
        (Conn::new(stream, peer), client)
    }

    fn limits(f: impl FnOnce(&mut Limits)) -> Limits {
        let mut l = Limits::default();
        f(&mut l);
        l
    }

    #[test]
    fn parses_a_simple_request() {
        let req = "GET /a/b?x=1&y HTTP/1.1\r\nHost: h\r\nX-Y:  v w \t\r\nx-y:2\r\n\r\nrest";
        let (h, used) = parse(req).unwrap().unwrap();
        assert_eq!(used, req.len() - 4);
        assert_eq!((h.method.as_str(), h.target.as_str(), h.path.as_str()), ("GET", "/a/b?x=1&y", "/a/b"));
        assert_eq!((h.query.as_deref(), h.minor), (Some("x=1&y"), 1));
        assert_eq!(h.header("x-y"), Some("v w"));
        assert_eq!(h.headers_all("X-y").collect::<Vec<_>>(), ["v w", "2"]);
        assert_eq!(h.headers[1].0, "X-Y");
        assert_eq!(h.body_kind(), BodyKind::None);
        assert_eq!(head("GET /? HTTP/1.0\r\n\r\n").query.as_deref(), Some(""));
    }

    #[test]
    fn every_prefix_needs_more() {
        let req = "\r\nPOST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
        for i in 0..req.len() {
            assert!(parse(&req[..i]).unwrap().is_none(), "{:?}", &req[..i]);
        }
        assert_eq!(parse(req).unwrap().unwrap().1, req.len());
    }

    #[test]
    fn request_line_rules() {
        assert_eq!(status("G@T / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
        assert_eq!(status("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
        assert_eq!(status("GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
        assert_eq!(status("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
        assert_eq!(status("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
        assert_eq!(status("GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
        assert_eq!(status("GET /\u{e9} HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
        assert_eq!(status("GET /\r\n"), 400);
        // Errors come as soon as the request line is complete.
        assert_eq!(status("GET * HTTP/1.1\r\n"), 400);
        assert_eq!(head("GET / HTTP/1.0\r\n\r\n").minor, 0);
        for v in ["HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "HTTP/3.0"] {
            assert_eq!(status(&format!("GET / {v}\r\nHost: h\r\n\r\n")), 505, "{v}");
        }
        for v in ["http/1.1", "HTTP/1.1x", "HTTP/11", "FOO", "HTTP/1.a"] {
            assert_eq!(status(&format!("GET / {v}\r\nHost: h\r\n\r\n")), 400, "{v}");
        }
    }

    #[test]
    fn lines_must_end_in_crlf() {
        assert_eq!(status("GET / HTTP/1.1\nHost: h\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: h\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: h\r\n\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\rHost: h\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n"), 400);
    }

    #[test]
    fn leading_empty_lines() {
        assert_eq!(head("\r\n\r\nGET / HTTP/1.0\r\n\r\n").path, "/");
        assert_eq!(status("\r\n\r\n\r\nGET / HTTP/1.0\r\n\r\n"), 400);
        assert_eq!(status("\nGET / HTTP/1.0\r\n\r\n"), 400);
    }

    #[test]
    fn header_line_rules() {
        let with = |line: &str| parse(&format!("GET / HTTP/1.1\r\nHost: h\r\n{line}\r\n\r\n"));
        for bad in ["X : y", "X\t: y", " X: y", "\tX: y", ": y", "X y", "X(: y", "X: a\0b", "X: a\x01", "X: \x7f"] {
            assert_eq!(with(bad).unwrap_err().status(), Some(400), "{bad:?}");
        }
        // obs-fold: a continuation line.
        assert_eq!(status("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n  b\r\n\r\n"), 400);
        let h = with("X:\t a\tb \t").unwrap().unwrap().0;
        assert_eq!(h.header("x"), Some("a\tb"));
        assert_eq!(with("X:").unwrap().unwrap().0.header("x"), Some(""));
        // Non-ASCII bytes are kept, decoded as lossy UTF-8.
        let h = parse_head(b"GET / HTTP/1.1\r\nHost: h\r\nA: caf\xc3\xa9\r\nB: \xff\r\n\r\n", &Limits::default());
        let h = h.unwrap().unwrap().0;
        assert_eq!((h.header("a"), h.header("b")), (Some("caf\u{e9}"), Some("\u{fffd}")));
    }

    #[test]
    fn framing_rules() {
        let req = |lines: &str| format!("POST / HTTP/1.1\r\nHost: h\r\n{lines}\r\n");
        assert_eq!(head(&req("Content-Length: 5\r\n")).body_kind(), BodyKind::Length(5));
        assert_eq!(head(&req("Content-Length: 0\r\n")).body_kind(), BodyKind::Length(0));
        assert_eq!(head(&req("Content-Length: 5\r\nContent-length: 5\r\n")).body_kind(), BodyKind::Length(5));
        assert_eq!(head(&req("Content-Length: 5, 5\r\n")).body_kind(), BodyKind::Length(5));
        assert_eq!(head(&req("Transfer-Encoding: Chunked\r\n")).body_kind(), BodyKind::Chunked);
        for bad in [
            "Content-Length: 5\r\nContent-Length: 6\r\n",
            "Content-Length: 5, 6\r\n",
            "Content-Length: -1\r\n",
            "Content-Length: +1\r\n",
            "Content-Length: 1a\r\n",
            "Content-Length: \r\n",
            "Content-Length: 5,\r\n",
            "Content-Length: 99999999999999999999999\r\n",
            "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
            "Transfer-Encoding: chunked, chunked\r\n",
            "Transfer-Encoding: \r\n",
            "Host: other\r\n",
        ] {
            assert_eq!(status(&req(bad)), 400, "{bad:?}");
        }
        for unknown in ["gzip", "gzip, chunked", "chunked, gzip", "chunked\r\nTransfer-Encoding: identity", "xchunked"] {
            assert_eq!(status(&req(&format!("Transfer-Encoding: {unknown}\r\n"))), 501, "{unknown:?}");
        }
        assert_eq!(status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    }

    #[test]
    fn head_size_limits() {
        let long = format!("GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n", "a".repeat(100 * 1024));
        assert_eq!(status(&long), 431);
        // Before the line ends, as soon as the cap is passed.
        assert_eq!(status(&long[..17 * 1024]), 431);
        assert!(parse(&long[..16 * 1024]).unwrap().is_none());
        let many = format!("GET / HTTP/1.1\r\nHost: h\r\n{}\r\n", "X: y\r\n".repeat(10_000));
        assert_eq!(status(&many), 431);
        // The field count alone, with room in bytes.
        let big = limits(|l| l.max_head = 1 << 20);
        assert_eq!(parse_head(many.as_bytes(), &big).unwrap_err().status(), Some(431));
        let at_cap = format!("GET / HTTP/1.1\r\nHost: h\r\n{}\r\n", "X: y\r\n".repeat(99));
        assert_eq!(head(&at_cap).headers.len(), 100);
        let over = format!("GET / HTTP/1.1\r\nHost: h\r\n{}\r\n", "X: y\r\n".repeat(100));
        assert_eq!(status(&over), 431);
        // A complete head just over the cap in bytes.
        let tight = limits(|l| l.max_head = 28);
        assert!(parse_head(b"GET / HTTP/1.1\r\nHost: hh\r\n\r\n", &tight).unwrap().is_some());
        assert!(matches!(parse_head(b"GET / HTTP/1.1\r\nHost: hhh\r\n\r\n", &tight), Err(Error::HeadTooLarge)));
    }

    #[test]
    fn keep_alive_and_statuses() {
        assert!(head("GET / HTTP/1.1\r\nHost: h\r\n\r\n").keep_alive());
        assert!(!head("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, Close\r\n\r\n").keep_alive());
        assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive());
        assert!(head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive());
        let codes: Vec<_> = [
            Error::BadRequest("x"),
            Error::HeadTooLarge,
            Error::BodyTooLarge,
            Error::NotImplemented("x"),
            Error::VersionNotSupported,
            Error::Timeout,
            Error::Closed,
            Error::Io(io::ErrorKind::Other.into()),
        ]
        .iter()
        .map(Error::status)
        .collect();
        assert_eq!(codes, [Some(400), Some(431), Some(413), Some(501), Some(505), None, None, None]);
        assert_eq!(reason_phrase(431), "Request Header Fields Too Large");
        assert_eq!(reason_phrase(499), "Client Error");
        let resp = Error::BadRequest("bad chunk").response().unwrap();
        assert!(resp.close && resp.status == 400 && resp.body == b"Bad Request: bad chunk\n");
    }

    #[test]
    fn encodes_responses() {
        let enc = |r: &Response, head_only| String::from_utf8(encode_response(r, head_only).unwrap()).unwrap();
        let r = Response::new(404);
        let r = Response { close: true, ..r };
        assert_eq!(enc(&r, true), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let r = Response::text(200, "hello").header("Content-Length", "99").header("Transfer-Encoding", "chunked");
        assert_eq!(enc(&r, true), "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\n");
        let r = Response::new(101).header("Upgrade", "websocket").header("Connection", "Upgrade");
        assert_eq!(enc(&r, false), "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
        let r = Response { body: b"x".to_vec(), close: true, ..Response::new(204) }.header("Connection", "keep-alive");
        assert_eq!(enc(&r, false), "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        // A value can never split into two headers.
        let r = Response::new(302).header("Location", "/a\r\nSet-Cookie: x=1\0\n");
        assert!(enc(&r, false).starts_with("HTTP/1.1 302 Found\r\nLocation: /aSet-Cookie: x=1\r\nContent-Length: 0\r\n"));
        assert!(encode_response(&Response::new(200).header("Bad Name", "x"), false).is_err());
        assert!(encode_response(&Response::new(42), false).is_err());
        let r = Response::json(200, &serde_json::json!({"ok": true}));
        assert!(enc(&r, false).ends_with("Content-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"));
    }

    #[test]
    fn write_response_is_byte_exact_on_the_wire() {
        let (mut conn, mut client) = pair();
        conn.write_response(&Response::text(200, "hi").header("X-A", "1"), false).unwrap();
        drop(conn);
        let mut got = String::new();
        client.read_to_string(&mut got).unwrap();
        assert_eq!(got, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nhi");
    }

    #[test]
    fn slow_drip_times_out_at_the_head_deadline() {
        let (mut conn, mut client) = pair();
        let drip = thread::spawn(move || {
            for b in b"GET / HTTP/1.1\r\nHost: h\r\nX-Slow: aaaaaaaaaaaaaaaa\r\n\r\n" {
                if client.write_all(&[*b]).is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(300));
            }
        });
        let l = limits(|l| l.head_deadline = Duration::from_secs(1));
        let start = Instant::now();
        assert!(matches!(conn.read_head(&l), Err(Error::Timeout)));
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(2), "{took:?}");
        drop(conn);
        drip.join().unwrap();
    }

    #[test]
    fn idle_and_closed_connections_are_closed() {
        let (mut conn, client) = pair();
        let start = Instant::now();
        assert!(matches!(conn.read_head(&limits(|l| l.idle = Duration::from_millis(200))), Err(Error::Closed)));
        assert!(start.elapsed() >= Duration::from_millis(150));
        drop(client);
        assert!(matches!(conn.read_head(&Limits::default()), Err(Error::Closed)));
        // A head cut short by the peer is not a clean close.
        let (mut conn, mut client) = pair();
        client.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        drop(client);
        assert!(matches!(conn.read_head(&Limits::default()), Err(Error::Io(_))));
    }

    #[test]
    fn huge_header_line_over_the_socket_is_431_without_waiting() {
        let (mut conn, mut client) = pair();
        let writer = thread::spawn(move || {
            let _ = client.write_all(b"GET / HTTP/1.1\r\nX: ");
            let _ = client.write_all(&[b'a'; 100 * 1024]);
            client
        });
        assert!(matches!(conn.read_head(&Limits::default()), Err(Error::HeadTooLarge)));
        drop(conn);
        drop(writer.join().unwrap());
    }

    #[test]
    fn giant_content_length_is_413_at_once() {
        let (mut conn, mut client) = pair();
        client.write_all(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10000000000\r\n\r\nx").unwrap();
        let start = Instant::now();
        let h = conn.read_head(&Limits::default()).unwrap();
        assert!(matches!(conn.read_body(&h, &Limits::default()), Err(Error::BodyTooLarge)));
        assert!(!conn.discard_body(&h, &Limits::default()));
        assert!(matches!(conn.drop_body(&h, &Limits::default()), Err(Error::BodyTooLarge)));
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn chunked_bodies() {
        let (mut conn, mut client) = pair();
        client
            .write_all(
                b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
                  4;ext=1\r\nWiki\r\n5 ; x\r\npedia\r\n00\r\nX-Trailer: 1\r\n\r\n\
                  GET /next HTTP/1.1\r\nHost: h\r\n\r\n",
            )
            .unwrap();
        let l = Limits::default();
        let h = conn.read_head(&l).unwrap();
        assert_eq!(conn.read_body(&h, &l).unwrap(), b"Wikipedia");
        assert_eq!(conn.read_head(&l).unwrap().path, "/next");

        let small = limits(|l| l.max_body = 10);
        let read = |body: &[u8]| {
            let (mut conn, mut client) = pair();
            client.write_all(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
            client.write_all(body).unwrap();
            drop(client);
            let h = conn.read_head(&small).unwrap();
            conn.read_body(&h, &small).map_err(|e| e.status())
        };
        assert_eq!(read(b"a\r\n0123456789\r\n0\r\n\r\n"), Ok(b"0123456789".to_vec()));
        assert_eq!(read(b"5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n"), Err(Some(413)));
        assert_eq!(read(b"ffffffffffffffff\r\n"), Err(Some(413)));
        assert_eq!(read(b"1ffffffffffffffff\r\n"), Err(Some(400)));
        for bad in [&b"5\nhello\r\n0\r\n\r\n"[..], b"5\r\nhelloX\r\n0\r\n\r\n", b" 5\r\nhello\r\n", b"5x\r\n", b"\r\n", b"-1\r\n"] {
            assert_eq!(read(bad), Err(Some(400)), "{:?}", String::from_utf8_lossy(bad));
        }
        let long_ext = format!("1;{}\r\n", "e".repeat(MAX_CHUNK_LINE));
        assert_eq!(read(long_ext.as_bytes()), Err(Some(400)));
        let long_trailer = format!("0\r\n{}\r\n\r\n", "T: x\r\n".repeat(3000));
        assert_eq!(read(long_trailer.as_bytes()), Err(Some(431)));
        // Truncated: the peer closed mid-body.
        assert_eq!(read(b"5\r\nhel"), Err(None));
    }

    #[test]
    fn pipelined_requests_are_read_in_order() {
        let (mut conn, mut client) = pair();
        client
            .write_all(
                b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc\
                  GET /b HTTP/1.1\r\nHost: h\r\n\r\n\
                  PUT /c HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nzz\
                  GET /d HTTP/1.1\r\nHost: h\r\n\r\n",
            )
            .unwrap();
        let l = Limits::default();
        let a = conn.read_head(&l).unwrap();
        assert_eq!((a.method.as_str(), a.path.as_str()), ("POST", "/a"));
        assert_eq!(conn.read_body(&a, &l).unwrap(), b"abc");
        let b = conn.read_head(&l).unwrap();
        assert_eq!(b.path, "/b");
        assert!(conn.discard_body(&b, &l));
        let c = conn.read_head(&l).unwrap();
        assert!(conn.discard_body(&c, &l));
        assert_eq!(conn.read_head(&l).unwrap().path, "/d");
    }

    #[test]
    fn body_deadline_holds() {
        let (mut conn, mut client) = pair();
        client.write_all(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nx").unwrap();
        let l = limits(|l| l.body_deadline = Duration::from_millis(300));
        let h = conn.read_head(&l).unwrap();
        let start = Instant::now();
        assert!(matches!(conn.read_body(&h, &l), Err(Error::Timeout)));
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn expect_100_continue() {
        let (mut conn, mut client) = pair();
        let server = thread::spawn(move || {
            let l = Limits::default();
            let h = conn.read_head(&l).unwrap();
            let body = conn.read_body(&h, &l).unwrap();
            let h2 = conn.read_head(&l).unwrap();
            let discarded = conn.discard_body(&h2, &l);
            (body, h2.path, discarded)
        });
        client.write_all(b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n").unwrap();
        let mut interim = [0u8; 25];
        client.read_exact(&mut interim).unwrap();
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        client.write_all(b"hello").unwrap();
        // A body the client holds back cannot be discarded safely.
        client.write_all(b"PUT /2 HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n").unwrap();
        assert_eq!(server.join().unwrap(), (b"hello".to_vec(), "/2".to_owned(), false));

        // Over the limit: 413 and no 100 Continue.
        let (mut conn, mut client) = pair();
        client.write_all(b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 50\r\n\r\n").unwrap();
        let l = limits(|l| l.max_body = 10);
        let h = conn.read_head(&l).unwrap();
        assert!(matches!(conn.read_body(&h, &l), Err(Error::BodyTooLarge)));
        drop(conn);
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    }

    #[test]
    fn into_parts_keeps_bytes_past_the_head() {
        let (mut conn, mut client) = pair();
        client.write_all(b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n\x81\x80").unwrap();
        let h = conn.read_head(&Limits::default()).unwrap();
        assert_eq!(h.header("upgrade"), Some("websocket"));
        assert_eq!(conn.peer(), client.local_addr().unwrap());
        // The two frame bytes may arrive in the same read or just after.
        let (mut stream, mut rest) = conn.into_parts();
        if rest.len() < 2 {
            let mut more = vec![0; 2 - rest.len()];
            stream.read_exact(&mut more).unwrap();
            rest.extend(more);
        }
        assert_eq!(rest, b"\x81\x80");
    }
}
