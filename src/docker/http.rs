//! The HTTP/1.1 subset the Docker client speaks: building request bytes and
//! reading a response from any `BufRead`.
//!
//! This file owns the wire syntax only. It knows nothing about sockets,
//! deadlines or the Engine's JSON; `transport.rs` supplies a stream whose reads
//! and writes carry a deadline, and `mod.rs` decides what a status means.
//!
//! Supported subset (deliberately small, because the peer is always a local
//! Docker or Podman engine):
//!
//! - HTTP/1.1 requests, one per connection, with `Connection: close` (or
//!   `Connection: Upgrade` + `Upgrade: tcp` for the exec stream hijack).
//! - Request bodies are sent whole with `Content-Length`; never chunked.
//! - Responses: `HTTP/1.0` or `HTTP/1.1` status lines; interim `1xx` responses
//!   other than `101` are skipped. Bodies framed by `Content-Length`, by
//!   `Transfer-Encoding: chunked` (chunk extensions ignored, trailers read and
//!   dropped), or by the end of the stream. No other transfer codings, no
//!   content codings, no TLS, no keep-alive, no pipelining, no obs-fold.
//! - Limits: the status line plus headers may not exceed [`MAX_HEAD`] bytes or
//!   [`MAX_HEADERS`] fields; a chunk-size line may not exceed
//!   [`MAX_CHUNK_LINE`]; bodies are capped by the caller. A peer-supplied
//!   length is checked against the cap before anything is read, and memory
//!   grows only with bytes actually received.
//!
//! Every input yields either a response or an [`HttpError`]; nothing here
//! panics on what the peer sends.

use std::fmt;
use std::io::{self, BufRead, Read};

/// The most bytes the status line and all headers together may take.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// The most header fields a response may carry.
pub(crate) const MAX_HEADERS: usize = 100;
/// The most bytes a chunk-size line (size plus extensions) may take.
pub(crate) const MAX_CHUNK_LINE: usize = 4096;

/// What went wrong reading or writing HTTP. `mod.rs` turns it into the public
/// error with the call's context.
#[derive(Debug)]
pub(crate) enum HttpError {
    /// The stream failed (including read/write timeouts, which the caller
    /// recognises by kind).
    Io(io::Error),
    /// The peer sent something that is not the HTTP subset above.
    Malformed(String),
    /// A head, line or body went past its cap.
    TooLarge { what: &'static str, limit: u64 },
}

/// A request body and its media type.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Body<'a> {
    Empty,
    Json(&'a [u8]),
    Tar(&'a [u8]),
}

/// How the connection header of a request is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectionMode {
    /// `Connection: close`: one request, then the engine closes.
    Close,
    /// `Connection: Upgrade` and `Upgrade: tcp`: the exec stream hijack.
    UpgradeTcp,
}

/// A parsed status line and header block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub status: u16,
    pub reason: String,
    /// Header names as sent, values trimmed, in order.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Io(e) => write!(f, "I/O error: {e}"),
            HttpError::Malformed(m) => f.write_str(m),
            HttpError::TooLarge { what, limit } => write!(f, "{what} exceeds the limit of {limit} bytes"),
        }
    }
}

impl From<io::Error> for HttpError {
    fn from(e: io::Error) -> Self {
        HttpError::Io(e)
    }
}

/// Builds the bytes of one request. `target` is the path with its query,
/// already percent-encoded (see [`encode_path`] and [`query`]). Refuses a
/// method or target that could smuggle a line break or a space into the
/// request line.
pub(crate) fn build_request(
    method: &str,
    target: &str,
    mode: ConnectionMode,
    body: Body<'_>,
) -> Result<Vec<u8>, HttpError> {
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(HttpError::Malformed(format!("invalid request method {method:?}")));
    }
    if !target.starts_with('/') || !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(HttpError::Malformed(format!("invalid request target {target:?}")));
    }
    let (content_type, bytes): (Option<&str>, &[u8]) = match body {
        Body::Empty => (None, &[]),
        Body::Json(b) => (Some("application/json"), b),
        Body::Tar(b) => (Some("application/x-tar"), b),
    };
    let mut out = Vec::with_capacity(160 + bytes.len());
    out.extend_from_slice(format!("{method} {target} HTTP/1.1\r\n").as_bytes());
    out.extend_from_slice(b"Host: docker\r\n");
    out.extend_from_slice(format!("User-Agent: openclaw/{}\r\n", env!("CARGO_PKG_VERSION")).as_bytes());
    match mode {
        ConnectionMode::Close => out.extend_from_slice(b"Connection: close\r\n"),
        ConnectionMode::UpgradeTcp => out.extend_from_slice(b"Connection: Upgrade\r\nUpgrade: tcp\r\n"),
    }
    if let Some(ct) = content_type {
        out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
    }
    if content_type.is_some() || matches!(method, "POST" | "PUT") {
        out.extend_from_slice(format!("Content-Length: {}\r\n", bytes.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(bytes);
    Ok(out)
}

/// Reads a complete response: the final head (interim `1xx` heads other than
/// `101` skipped) and its body, capped at `max_body` bytes. A `101` head is
/// returned with an empty body; the caller owns the stream after it.
pub(crate) fn read_response<R: BufRead>(r: &mut R, max_body: usize) -> Result<(Head, Vec<u8>), HttpError> {
    let head = read_final_head(r)?;
    if head.status == 101 {
        return Ok((head, Vec::new()));
    }
    let body = read_body(r, &head, max_body)?;
    Ok((head, body))
}

/// Reads heads until one that is not an interim `1xx` (a `101` counts as
/// final).
pub(crate) fn read_final_head<R: BufRead>(r: &mut R) -> Result<Head, HttpError> {
    // A handful of interim responses is plenty; more is a misbehaving peer.
    for _ in 0..8 {
        let head = read_head(r)?;
        if (100..200).contains(&head.status) && head.status != 101 {
            continue;
        }
        return Ok(head);
    }
    Err(HttpError::Malformed("too many interim 1xx responses".into()))
}

/// Reads one status line and header block, within [`MAX_HEAD`] bytes and
/// [`MAX_HEADERS`] fields.
pub(crate) fn read_head<R: BufRead>(r: &mut R) -> Result<Head, HttpError> {
    let mut budget = MAX_HEAD;
    let line = read_line(r, &mut budget, MAX_HEAD, "response head")?
        .ok_or_else(|| HttpError::Malformed("connection closed before a response".into()))?;
    let (status, reason) = parse_status_line(&line)?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(r, &mut budget, MAX_HEAD, "response head")?
            .ok_or_else(|| HttpError::Malformed("connection closed inside the response head".into()))?;
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(HttpError::TooLarge { what: "response header count", limit: MAX_HEADERS as u64 });
        }
        headers.push(parse_header_line(&line)?);
    }
    Ok(Head { status, reason, headers })
}

/// Reads the body that `head` announces, refusing more than `max` bytes.
pub(crate) fn read_body<R: BufRead>(r: &mut R, head: &Head, max: usize) -> Result<Vec<u8>, HttpError> {
    if (100..200).contains(&head.status) || head.status == 204 || head.status == 304 {
        return Ok(Vec::new());
    }
    if let Some(te) = head.header("transfer-encoding") {
        if !te.trim().eq_ignore_ascii_case("chunked") {
            return Err(HttpError::Malformed(format!("unsupported transfer coding {te:?}")));
        }
        return read_chunked(r, max);
    }
    match content_length(head)? {
        Some(n) => {
            if n > max as u64 {
                return Err(HttpError::TooLarge { what: "response body", limit: max as u64 });
            }
            let mut body = Vec::new();
            r.by_ref().take(n).read_to_end(&mut body)?;
            if (body.len() as u64) < n {
                return Err(HttpError::Malformed(format!(
                    "truncated response body: expected {n} bytes, got {}",
                    body.len()
                )));
            }
            Ok(body)
        }
        None => {
            let mut body = Vec::new();
            r.by_ref().take(max as u64 + 1).read_to_end(&mut body)?;
            if body.len() > max {
                return Err(HttpError::TooLarge { what: "response body", limit: max as u64 });
            }
            Ok(body)
        }
    }
}

/// Percent-encodes `s` for a path, keeping RFC 3986 unreserved characters and
/// the bytes in `keep` (for example `/` and `:` in image references).
pub(crate) fn encode_path(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Builds a query string (`?a=1&b=2`, or empty for no pairs), percent-encoding
/// every key and value.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(&encode_path(k, b""));
        out.push('=');
        out.push_str(&encode_path(v, b""));
    }
    out
}

// ---------------------------------------------------------------------------
// Private helpers.

/// Reads one line ending in LF (a preceding CR is removed) within `budget`
/// bytes, which it decrements; `cap` is the limit reported when the budget
/// runs out. `Ok(None)` is a clean end of stream before any byte of the line.
fn read_line<R: BufRead>(
    r: &mut R,
    budget: &mut usize,
    cap: usize,
    what: &'static str,
) -> Result<Option<Vec<u8>>, HttpError> {
    let mut line = Vec::new();
    let n = r.by_ref().take(*budget as u64 + 1).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if n > *budget {
        return Err(HttpError::TooLarge { what, limit: cap as u64 });
    }
    if line.last() != Some(&b'\n') {
        return Err(HttpError::Malformed(format!("connection closed inside the {what}")));
    }
    *budget -= n;
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(line))
}

fn parse_status_line(line: &[u8]) -> Result<(u16, String), HttpError> {
    let bad = || HttpError::Malformed(format!("bad status line {:?}", String::from_utf8_lossy(line)));
    let rest = line.strip_prefix(b"HTTP/1.1 ").or_else(|| line.strip_prefix(b"HTTP/1.0 ")).ok_or_else(bad)?;
    if rest.len() < 3 || !rest[..3].iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let status = u16::from(rest[0] - b'0') * 100 + u16::from(rest[1] - b'0') * 10 + u16::from(rest[2] - b'0');
    if !(100..=599).contains(&status) {
        return Err(bad());
    }
    let reason = match &rest[3..] {
        [] => String::new(),
        [b' ', reason @ ..] => String::from_utf8_lossy(reason).into_owned(),
        _ => return Err(bad()),
    };
    Ok((status, reason))
}

fn parse_header_line(line: &[u8]) -> Result<(String, String), HttpError> {
    let bad = || HttpError::Malformed(format!("bad header line {:?}", String::from_utf8_lossy(line)));
    let colon = line.iter().position(|&b| b == b':').ok_or_else(bad)?;
    let name = &line[..colon];
    let token = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    if name.is_empty() || !name.iter().all(token) {
        return Err(bad());
    }
    let value = line[colon + 1..].trim_ascii();
    if value.iter().any(|&b| b == 0 || b == b'\r') {
        return Err(bad());
    }
    Ok((String::from_utf8_lossy(name).into_owned(), String::from_utf8_lossy(value).into_owned()))
}

/// The `Content-Length`, if any. Several fields must agree.
fn content_length(head: &Head) -> Result<Option<u64>, HttpError> {
    let mut found: Option<u64> = None;
    for (_, v) in head.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("content-length")) {
        let n = parse_decimal(v).ok_or_else(|| HttpError::Malformed(format!("bad Content-Length {v:?}")))?;
        if found.is_some_and(|f| f != n) {
            return Err(HttpError::Malformed("conflicting Content-Length headers".into()));
        }
        found = Some(n);
    }
    Ok(found)
}

fn parse_decimal(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_hex(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        let d = (b as char).to_digit(16)?;
        n = n.checked_mul(16)?.checked_add(u64::from(d))?;
    }
    Some(n)
}

/// Decodes a chunked body, keeping at most `max` bytes of data.
fn read_chunked<R: BufRead>(r: &mut R, max: usize) -> Result<Vec<u8>, HttpError> {
    let truncated = || HttpError::Malformed("truncated chunked body".into());
    let mut body = Vec::new();
    loop {
        let mut budget = MAX_CHUNK_LINE;
        let line = read_line(r, &mut budget, MAX_CHUNK_LINE, "chunk-size line")?.ok_or_else(truncated)?;
        let size_part = match line.iter().position(|&b| b == b';') {
            Some(i) => &line[..i],
            None => &line[..],
        };
        let size = parse_hex(size_part.trim_ascii())
            .ok_or_else(|| HttpError::Malformed(format!("bad chunk size {:?}", String::from_utf8_lossy(&line))))?;
        if size == 0 {
            // Trailer fields until an empty line; a peer that closes right
            // after the last chunk is tolerated.
            let mut budget = MAX_HEAD;
            while let Some(t) = read_line(r, &mut budget, MAX_HEAD, "chunked trailer")? {
                if t.is_empty() {
                    break;
                }
            }
            return Ok(body);
        }
        if size > (max - body.len()) as u64 {
            return Err(HttpError::TooLarge { what: "response body", limit: max as u64 });
        }
        let before = body.len();
        r.by_ref().take(size).read_to_end(&mut body)?;
        if ((body.len() - before) as u64) < size {
            return Err(truncated());
        }
        let mut budget = 2;
        match read_line(r, &mut budget, 2, "chunk terminator") {
            Ok(Some(l)) if l.is_empty() => {}
            Ok(None) => return Err(truncated()),
            Ok(Some(_)) | Err(HttpError::TooLarge { .. }) => {
                return Err(HttpError::Malformed("chunk data not followed by CRLF".into()));
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn parse(bytes: &[u8], max: usize) -> Result<(Head, Vec<u8>), HttpError> {
        read_response(&mut &bytes[..], max)
    }

    /// A reader that hands out one byte per `read`, to exercise split reads.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    fn malformed(r: Result<(Head, Vec<u8>), HttpError>) -> String {
        match r {
            Err(HttpError::Malformed(m)) => m,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn builds_get_request_bytes() {
        let bytes = build_request("GET", "/v1.41/containers/abc/json", ConnectionMode::Close, Body::Empty).unwrap();
        let expected = format!(
            "GET /v1.41/containers/abc/json HTTP/1.1\r\nHost: docker\r\nUser-Agent: openclaw/{}\r\nConnection: close\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(String::from_utf8(bytes).unwrap(), expected);
    }

    #[test]
    fn builds_post_with_json_and_empty_post() {
        let bytes = build_request("POST", "/x?a=1", ConnectionMode::Close, Body::Json(b"{\"A\":1}")).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("POST /x?a=1 HTTP/1.1\r\n"));
        assert!(text.contains("\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"A\":1}"));

        let bytes = build_request("POST", "/containers/x/start", ConnectionMode::Close, Body::Empty).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("Content-Length: 0\r\n"));
        assert!(!text.contains("Content-Type"));

        let bytes = build_request("PUT", "/a", ConnectionMode::Close, Body::Tar(&[1, 2])).unwrap();
        assert!(bytes.ends_with(b"Content-Type: application/x-tar\r\nContent-Length: 2\r\n\r\n\x01\x02"));
    }

    #[test]
    fn builds_upgrade_request() {
        let bytes = build_request("POST", "/exec/1/start", ConnectionMode::UpgradeTcp, Body::Json(b"{}")).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"));
        assert!(!text.contains("close"));
    }

    #[test]
    fn refuses_injection_in_request_line() {
        for target in ["/a b", "/a\r\nX: y", "relative", ""] {
            assert!(build_request("GET", target, ConnectionMode::Close, Body::Empty).is_err(), "{target:?}");
        }
        assert!(build_request("GET /x", "/", ConnectionMode::Close, Body::Empty).is_err());
        assert!(build_request("", "/", ConnectionMode::Close, Body::Empty).is_err());
    }

    #[test]
    fn encodes_paths_and_queries() {
        assert_eq!(encode_path("abc-1_2.3~", b""), "abc-1_2.3~");
        assert_eq!(encode_path("a/b c", b""), "a%2Fb%20c");
        assert_eq!(encode_path("reg:5000/x/y:tag", b"/:"), "reg:5000/x/y:tag");
        assert_eq!(query(&[]), "");
        assert_eq!(
            query(&[("all", "1"), ("filters", r#"{"label":["a=b"]}"#)]),
            "?all=1&filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D"
        );
    }

    #[test]
    fn parses_content_length_response() {
        let (head, body) =
            parse(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", 100).unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.reason, "OK");
        assert_eq!(head.header("content-type"), Some("application/json"));
        assert_eq!(body, b"{}");
    }

    #[test]
    fn parses_bare_lf_and_http10_and_empty_reason() {
        let (head, body) = parse(b"HTTP/1.0 204\nServer: x\n\n", 100).unwrap();
        assert_eq!((head.status, head.reason.as_str()), (204, ""));
        assert!(body.is_empty());
    }

    #[test]
    fn parses_chunked_with_extensions_and_trailers() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            4;name=value\r\nWiki\r\n\
            5 ; x=\"y\"\r\npedia\r\n\
            E\r\n in\r\n\r\nchunks.\r\n\
            0;last\r\nX-Trailer: 1\r\n\r\n";
        let (_, body) = parse(raw, 1000).unwrap();
        assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.");

        // The same, one byte per read.
        let mut r = BufReader::with_capacity(3, Trickle(raw));
        let (_, body) = read_response(&mut r, 1000).unwrap();
        assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.");
    }

    #[test]
    fn tolerates_close_right_after_last_chunk() {
        let (_, body) = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n", 100).unwrap();
        assert_eq!(body, b"hi");
    }

    #[test]
    fn reads_to_eof_without_framing() {
        let (_, body) = parse(b"HTTP/1.1 200 OK\r\n\r\nraw bytes until close", 100).unwrap();
        assert_eq!(body, b"raw bytes until close");
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\n\r\n0123456789", 9),
            Err(HttpError::TooLarge { what: "response body", limit: 9 })
        ));
    }

    #[test]
    fn skips_interim_responses_but_not_101() {
        let (head, body) =
            parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", 10).unwrap();
        assert_eq!((head.status, body), (200, b"x".to_vec()));
        let mut r: &[u8] = b"HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\n\r\n\x01\x00\x00\x00\x00\x00\x00\x01a";
        let (head, body) = read_response(&mut r, 10).unwrap();
        assert_eq!(head.status, 101);
        assert!(body.is_empty());
        assert_eq!(r, b"\x01\x00\x00\x00\x00\x00\x00\x01a", "the stream after a 101 is left unread");
    }

    #[test]
    fn no_body_for_204_and_304() {
        let (_, body) = parse(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", 10).unwrap();
        assert!(body.is_empty());
    }

    #[test]
    fn rejects_truncated_bodies() {
        let m = malformed(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 100));
        assert!(m.contains("expected 10 bytes, got 3"), "{m}");
        for raw in [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5",
        ] {
            malformed(parse(raw, 100));
        }
        let m = malformed(parse(b"HTTP/1.1 200 OK\r\nContent-Le", 100));
        assert!(m.contains("closed inside"), "{m}");
        let m = malformed(parse(b"", 100));
        assert!(m.contains("before a response"), "{m}");
    }

    #[test]
    fn rejects_bad_chunk_framing() {
        for raw in [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nabcde\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        ] {
            malformed(parse(raw, 100));
        }
        // A size beyond u64 is malformed; a size beyond the cap is refused
        // before reading.
        malformed(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n", 100));
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", 100),
            Err(HttpError::TooLarge { .. })
        ));
        assert!(matches!(
            parse(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n",
                10
            ),
            Err(HttpError::TooLarge { .. })
        ));
        let long_ext = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;{}\r\n", "x".repeat(5000));
        assert!(matches!(parse(long_ext.as_bytes(), 100), Err(HttpError::TooLarge { what: "chunk-size line", .. })));
    }

    #[test]
    fn refuses_huge_content_length_without_allocating() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n";
        assert!(matches!(parse(raw, 1 << 20), Err(HttpError::TooLarge { what: "response body", .. })));
        malformed(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n", 10));
        malformed(parse(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 10));
        malformed(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 10));
        let (_, body) = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nab", 10).unwrap();
        assert_eq!(body, b"ab");
    }

    #[test]
    fn rejects_bad_status_lines() {
        for line in [
            "HTTP/2 200 OK",
            "HTTP/1.1 20 OK",
            "HTTP/1.1 2000 OK",
            "HTTP/1.1 abc OK",
            "HTTP/1.1 099 Low",
            "HTTP/1.1 600 High",
            "HTTP/1.1 200OK",
            "ICY 200 OK",
            "garbage",
            "",
        ] {
            let raw = format!("{line}\r\n\r\n");
            let m = malformed(parse(raw.as_bytes(), 10));
            assert!(m.starts_with("bad status line"), "{line:?}: {m}");
        }
    }

    #[test]
    fn rejects_bad_header_lines() {
        for h in ["NoColon", ": empty-name", " folded: x", "Bad Name: x", "X: a\rb"] {
            let raw = format!("HTTP/1.1 200 OK\r\n{h}\r\n\r\n");
            let m = malformed(parse(raw.as_bytes(), 10));
            assert!(m.starts_with("bad header line"), "{h:?}: {m}");
        }
    }

    #[test]
    fn refuses_oversize_heads() {
        let raw = format!("HTTP/1.1 200 OK\r\nX-Big: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert!(matches!(parse(raw.as_bytes(), 10), Err(HttpError::TooLarge { what: "response head", .. })));
        // Many small headers adding up past the cap.
        let mut raw = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..90 {
            raw.push_str(&format!("X-{i}: {}\r\n", "b".repeat(1000)));
        }
        raw.push_str("\r\n");
        assert!(matches!(parse(raw.as_bytes(), 10), Err(HttpError::TooLarge { what: "response head", .. })));
        // Too many fields.
        let mut raw = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..=MAX_HEADERS {
            raw.push_str(&format!("X-{i}: v\r\n"));
        }
        raw.push_str("\r\n");
        assert!(matches!(parse(raw.as_bytes(), 10), Err(HttpError::TooLarge { what: "response header count", .. })));
        // A status line with no end at all.
        let raw = "H".repeat(MAX_HEAD + 10);
        assert!(matches!(parse(raw.as_bytes(), 10), Err(HttpError::TooLarge { .. })));
    }

    #[test]
    fn never_panics_on_arbitrary_input() {
        // A small xorshift generator: deterministic, no dependency.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let pieces: [&[u8]; 12] = [
            b"HTTP/1.1 200 OK\r\n",
            b"Transfer-Encoding: chunked\r\n",
            b"Content-Length: 5\r\n",
            b"\r\n",
            b"5\r\n",
            b"hello",
            b"0\r\n",
            b";ext=1",
            b"\xff\x00",
            b"HTTP/1.1 101 UPGRADED\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"ffffffff\r\n",
        ];
        for _ in 0..5000 {
            let mut input = Vec::new();
            for _ in 0..(next() % 10) {
                let p = pieces[(next() % pieces.len() as u64) as usize];
                input.extend_from_slice(p);
                if next() % 7 == 0 {
                    input.push(next() as u8);
                }
            }
            let _ = parse(&input, 64);
            let mut r = BufReader::with_capacity(1, Trickle(&input));
            let _ = read_response(&mut r, 64);
        }
    }
}
