//! WebSocket (RFC 6455): the opening handshake and a sans-IO frame codec.
//!
//! Nothing here touches a socket. The handshake functions check and build
//! HTTP heads as bytes; [`Decoder`] takes the bytes read from a connection
//! and hands back whole messages, and [`encode_message`] turns a message into
//! the bytes to write. The gateway uses the server role; CLI clients and the
//! Discord client use the client role. The blocking I/O (reads with
//! deadlines, one thread per socket) belongs to the callers.
//!
//! The decoder enforces the protocol rules a peer can break and answers each
//! violation with a [`ProtocolError`] carrying the close code to send: 1002
//! for a malformed frame, 1007 for text that is not UTF-8, 1009 for a frame
//! or message over [`Limits`]. Sizes are decided from the frame header, so a
//! peer cannot make us buffer more than one frame of at most `max_frame`
//! bytes plus the message being reassembled.
//!
//! Deliberately not supported: extensions (no permessage-deflate, so any RSV
//! bit is an error), subprotocols (never offered or selected), and the
//! closing handshake's timing, which is the caller's job.

use std::fmt;
use std::io;

use crate::crypto::{base64_decode, base64_encode, random_bytes, sha1};

/// The GUID appended to the client key to compute `Sec-WebSocket-Accept`.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Which end of the connection we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

/// A frame opcode (RFC 6455, section 5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

/// A whole message: data reassembled from its fragments, or a control frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// The close code and reason, or `None` for an empty Close frame.
    Close(Option<(u16, String)>),
}

/// A protocol violation: the close code to send and a short reason.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolError {
    pub code: u16,
    pub reason: &'static str,
}

/// Size caps for incoming data. The gateway uses 512 KiB for both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest payload accepted in one frame.
    pub max_frame: usize,
    /// The largest data message accepted after reassembly.
    pub max_message: usize,
}

/// Turns incoming bytes into messages.
///
/// Feed it whatever a read returned, then call [`Decoder::next_message`]
/// until it returns `Ok(None)`. After an error the decoder drops its buffers
/// and keeps returning that error: the connection is done.
pub struct Decoder {
    role: Role,
    limits: Limits,
    /// Raw bytes; those before `start` are already decoded.
    buf: Vec<u8>,
    start: usize,
    /// The opcode and data of a fragmented message still open.
    partial: Option<(Opcode, Vec<u8>)>,
    failed: Option<ProtocolError>,
}

impl Opcode {
    /// The opcode for the low four bits of a frame's first byte.
    #[must_use]
    pub fn from_u8(bits: u8) -> Option<Opcode> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    #[must_use]
    pub fn as_u8(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// Close, Ping and Pong: never fragmented, at most 125 bytes.
    #[must_use]
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "websocket protocol error {}: {}", self.code, self.reason)
    }
}

impl std::error::Error for ProtocolError {}

/// A frame header, validated, with the frame's size.
struct FrameHeader {
    fin: bool,
    opcode: Opcode,
    mask: Option<[u8; 4]>,
    header_len: usize,
    payload_len: usize,
}

impl Decoder {
    /// A decoder for frames arriving at `role`: a server requires masked
    /// frames, a client unmasked ones.
    #[must_use]
    pub fn new(role: Role, limits: Limits) -> Decoder {
        Decoder {
            role,
            limits,
            buf: Vec::new(),
            start: 0,
            partial: None,
            failed: None,
        }
    }

    /// Appends raw bytes read from the connection.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        self.buf.drain(..self.start);
        self.start = 0;
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, or `Ok(None)` when more bytes are needed.
    ///
    /// Control frames are returned as soon as they arrive, even between the
    /// fragments of a data message.
    ///
    /// # Errors
    ///
    /// Returns the violation if the peer broke the protocol or a limit.
    pub fn next_message(&mut self) -> Result<Option<Message>, ProtocolError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = self.decode();
        if let Err(err) = &result {
            self.failed = Some(err.clone());
            self.buf = Vec::new();
            self.start = 0;
            self.partial = None;
        }
        result
    }

    /// Bytes fed but not yet decoded into a frame.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    fn decode(&mut self) -> Result<Option<Message>, ProtocolError> {
        loop {
            let Some(header) = self.header()? else {
                return Ok(None);
            };
            let frame_len = header.header_len.saturating_add(header.payload_len);
            if self.buffered() < frame_len {
                return Ok(None);
            }
            let body = self.start + header.header_len..self.start + frame_len;
            let mut payload = self.buf[body].to_vec();
            self.start += frame_len;
            if let Some(key) = header.mask {
                apply_mask(&mut payload, key);
            }
            match header.opcode {
                Opcode::Close => return decode_close(&payload).map(Some),
                Opcode::Ping => return Ok(Some(Message::Ping(payload))),
                Opcode::Pong => return Ok(Some(Message::Pong(payload))),
                Opcode::Text | Opcode::Binary if header.fin => {
                    return finish(header.opcode, payload).map(Some);
                }
                Opcode::Text | Opcode::Binary => self.partial = Some((header.opcode, payload)),
                Opcode::Continuation => {
                    let Some((opcode, mut data)) = self.partial.take() else {
                        unreachable!("`header` checked that a message is open")
                    };
                    data.extend_from_slice(&payload);
                    if header.fin {
                        return finish(opcode, data).map(Some);
                    }
                    self.partial = Some((opcode, data));
                }
            }
        }
    }

    /// Parses and checks the header of the next frame, or `Ok(None)` if it
    /// has not fully arrived. Every size rule is decided here, before any of
    /// the payload is buffered.
    fn header(&self) -> Result<Option<FrameHeader>, ProtocolError> {
        let bytes = &self.buf[self.start..];
        let [b0, b1, ..] = *bytes else {
            return Ok(None);
        };
        if b0 & 0x70 != 0 {
            return Err(error(1002, "reserved bits set without an extension"));
        }
        let Some(opcode) = Opcode::from_u8(b0 & 0x0F) else {
            return Err(error(1002, "unknown opcode"));
        };
        let fin = b0 & 0x80 != 0;
        let masked = b1 & 0x80 != 0;
        let len7 = b1 & 0x7F;
        if opcode.is_control() && (!fin || len7 > 125) {
            return Err(error(1002, "control frame fragmented or over 125 bytes"));
        }
        match (self.role, masked) {
            (Role::Server, false) => return Err(error(1002, "client frame not masked")),
            (Role::Client, true) => return Err(error(1002, "server frame masked")),
            _ => {}
        }
        let ext_len = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let header_len = 2 + ext_len + if masked { 4 } else { 0 };
        if bytes.len() < header_len {
            return Ok(None);
        }
        let len = match ext_len {
            2 => u64::from(u16::from_be_bytes([bytes[2], bytes[3]])),
            8 => u64::from_be_bytes(bytes[2..10].try_into().expect("eight bytes")),
            _ => u64::from(len7),
        };
        if len >> 63 != 0 {
            return Err(error(1002, "frame length has its top bit set"));
        }
        let payload_len = match usize::try_from(len) {
            Ok(len) if len <= self.limits.max_frame => len,
            _ => return Err(error(1009, "frame too large")),
        };
        let open = self.partial.as_ref().map(|(_, data)| data.len());
        let message_len = match (opcode, open) {
            (Opcode::Continuation, None) => {
                return Err(error(1002, "continuation frame without a message"));
            }
            (Opcode::Text | Opcode::Binary, Some(_)) => {
                return Err(error(1002, "new message before the previous one finished"));
            }
            (Opcode::Continuation, Some(open)) => open.saturating_add(payload_len),
            _ => payload_len,
        };
        if !opcode.is_control() && message_len > self.limits.max_message {
            return Err(error(1009, "message too large"));
        }
        let mask = masked.then(|| {
            let at = header_len - 4;
            [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]
        });
        Ok(Some(FrameHeader {
            fin,
            opcode,
            mask,
            header_len,
            payload_len,
        }))
    }
}

/// Appends one frame to `out`, masking the payload if `mask` is given.
pub fn encode_frame(
    out: &mut Vec<u8>,
    fin: bool,
    opcode: Opcode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    out.push(if fin { 0x80 } else { 0 } | opcode.as_u8());
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    match (u8::try_from(len), u16::try_from(len)) {
        (Ok(short @ 0..=125), _) => out.push(mask_bit | short),
        (_, Ok(medium)) => {
            out.push(mask_bit | 0x7E);
            out.extend_from_slice(&medium.to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 0x7F);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
    let body = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[body..], key);
    }
}

/// Encodes `msg` as one frame. A client masks it with a fresh random key; a
/// server never masks. Control payloads are cut to 125 bytes so the frame
/// stays valid.
#[must_use]
pub fn encode_message(role: Role, msg: &Message) -> Vec<u8> {
    let close;
    let (opcode, payload): (Opcode, &[u8]) = match msg {
        Message::Text(text) => (Opcode::Text, text.as_bytes()),
        Message::Binary(data) => (Opcode::Binary, data),
        Message::Ping(data) => (Opcode::Ping, &data[..data.len().min(125)]),
        Message::Pong(data) => (Opcode::Pong, &data[..data.len().min(125)]),
        Message::Close(None) => (Opcode::Close, &[]),
        Message::Close(Some((code, reason))) => {
            close = close_payload(*code, reason);
            (Opcode::Close, &close)
        }
    };
    let mask = match role {
        Role::Server => None,
        Role::Client => Some(mask_key()),
    };
    let mut out = Vec::with_capacity(payload.len() + 14);
    encode_frame(&mut out, true, opcode, payload, mask);
    out
}

/// A Close payload: the code, then the reason cut to at most 123 bytes at a
/// character boundary (a control payload holds 125 bytes).
#[must_use]
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = code.to_be_bytes().to_vec();
    out.extend_from_slice(&reason.as_bytes()[..end]);
    out
}

/// Whether a peer may send `code` in a Close frame: the RFC 6455 codes
/// (1004, 1005, 1006 and 1015 are never sent), the later IANA registrations
/// 1012-1014, and the 3000-4999 ranges for libraries and applications.
#[must_use]
pub fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
#[must_use]
pub fn accept_key(client_key: &str) -> String {
    base64_encode(&sha1(format!("{client_key}{GUID}").as_bytes()))
}

/// Server side: validate an HTTP upgrade request's headers (case-insensitive
/// names). Returns the Sec-WebSocket-Accept value or a reason string for a
/// 400.
///
/// # Errors
///
/// Returns a short reason naming the first rule the request breaks.
pub fn check_upgrade(method: &str, headers: &[(String, String)]) -> Result<String, &'static str> {
    if method != "GET" {
        return Err("a WebSocket upgrade must use GET");
    }
    if !has_token(headers, "upgrade", "websocket") {
        return Err("missing Upgrade: websocket");
    }
    if !has_token(headers, "connection", "upgrade") {
        return Err("missing Connection: Upgrade");
    }
    if header(headers, "sec-websocket-version") != Some("13") {
        return Err("Sec-WebSocket-Version must be 13");
    }
    let key = header(headers, "sec-websocket-key").ok_or("missing Sec-WebSocket-Key")?;
    match base64_decode(key) {
        Some(raw) if raw.len() == 16 => Ok(accept_key(key)),
        _ => Err("Sec-WebSocket-Key must be 16 bytes in base64"),
    }
}

/// Bytes of the 101 response (Upgrade, Connection, Sec-WebSocket-Accept; no
/// subprotocol).
#[must_use]
pub fn response_101(accept: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes()
}

/// Client side: a new random Sec-WebSocket-Key and the GET request bytes for
/// host/path with extra headers.
///
/// # Errors
///
/// Fails if the random source cannot be read, or if any argument holds a CR
/// or LF (which would inject headers).
pub fn client_request(
    host: &str,
    path: &str,
    extra_headers: &[(&str, &str)],
) -> io::Result<(String, Vec<u8>)> {
    let fields = [host, path]
        .into_iter()
        .chain(extra_headers.iter().flat_map(|(n, v)| [*n, *v]));
    for field in fields {
        if field.contains(['\r', '\n']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "CR or LF in a WebSocket request field",
            ));
        }
    }
    let key = base64_encode(&random_bytes::<16>()?);
    let mut head = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for (name, value) in extra_headers {
        head.extend([name, ": ", value, "\r\n"]);
    }
    head.push_str("\r\n");
    Ok((key, head.into_bytes()))
}

/// Client side: check a complete response head (status line + headers, as
/// bytes up to and including CRLFCRLF) is a valid 101 for `key`.
///
/// A server that selects an extension fails the check, since we offer none.
///
/// # Errors
///
/// Returns what was wrong, with the status line when it is not a 101.
pub fn check_response(head: &[u8], key: &str) -> Result<(), String> {
    let (status_line, headers) = parse_head(head);
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/") || parts.next() != Some("101") {
        return Err(format!(
            "expected 101 Switching Protocols, got {status_line:?}"
        ));
    }
    if !has_token(&headers, "upgrade", "websocket") {
        return Err("response lacks Upgrade: websocket".to_string());
    }
    if !has_token(&headers, "connection", "upgrade") {
        return Err("response lacks Connection: Upgrade".to_string());
    }
    if header(&headers, "sec-websocket-accept") != Some(accept_key(key).as_str()) {
        return Err("wrong or missing Sec-WebSocket-Accept".to_string());
    }
    if header(&headers, "sec-websocket-extensions").is_some() {
        return Err("server selected an extension we did not offer".to_string());
    }
    Ok(())
}

/// The length of the HTTP head at the start of `buf`, through its blank
/// line, or `None` if the CRLFCRLF has not arrived. Bytes after it are
/// already WebSocket frames.
#[must_use]
pub fn head_len(buf: &[u8]) -> Option<usize> {
    buf.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

fn error(code: u16, reason: &'static str) -> ProtocolError {
    ProtocolError { code, reason }
}

/// XORs `data` with the four-byte key, starting at key byte 0.
fn apply_mask(data: &mut [u8], key: [u8; 4]) {
    for (byte, k) in data.iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}

/// A random masking key. Masking protects intermediaries from bytes a
/// script chose; it is not a secret, so if the random source fails we log
/// and fall back to a clock-derived key rather than failing the send.
fn mask_key() -> [u8; 4] {
    random_bytes::<4>().unwrap_or_else(|err| {
        log::warn!("websocket mask key: {err}; using a clock-derived key");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let digest = sha1(&nanos.to_le_bytes());
        [digest[0], digest[1], digest[2], digest[3]]
    })
}

/// A complete data message: text must be UTF-8 as a whole.
fn finish(opcode: Opcode, data: Vec<u8>) -> Result<Message, ProtocolError> {
    if opcode == Opcode::Text {
        String::from_utf8(data)
            .map(Message::Text)
            .map_err(|_| error(1007, "text is not valid UTF-8"))
    } else {
        Ok(Message::Binary(data))
    }
}

fn decode_close(payload: &[u8]) -> Result<Message, ProtocolError> {
    match payload {
        [] => Ok(Message::Close(None)),
        [_] => Err(error(1002, "close payload of one byte")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !valid_close_code(code) {
                return Err(error(1002, "invalid close code"));
            }
            let reason = std::str::from_utf8(reason)
                .map_err(|_| error(1007, "close reason is not valid UTF-8"))?;
            Ok(Message::Close(Some((code, reason.to_string()))))
        }
    }
}

/// Splits an HTTP head into its first line and `(name, value)` headers,
/// trimmed. Lines without a colon are skipped; parsing stops at the blank line.
fn parse_head(head: &[u8]) -> (String, Vec<(String, String)>) {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or("").to_string();
    let headers = lines
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .collect();
    (first, headers)
}

/// The first value of header `name` (case-insensitive), trimmed.
fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// Whether any `name` header lists `token` in its comma-separated value.
fn has_token(headers: &[(String, String)], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_frame: 512 * 1024,
        max_message: 512 * 1024,
    };

    /// Feeds `bytes` to a fresh decoder for `role` and drains every message.
    fn decode_all(role: Role, bytes: &[u8]) -> Result<Vec<Message>, ProtocolError> {
        let mut decoder = Decoder::new(role, LIMITS);
        decoder.feed(bytes);
        let mut out = Vec::new();
        while let Some(msg) = decoder.next_message()? {
            out.push(msg);
        }
        Ok(out)
    }

    /// The close code a server decoder answers `bytes` with.
    fn server_error(bytes: &[u8]) -> u16 {
        decode_all(Role::Server, bytes)
            .expect_err("should be a protocol error")
            .code
    }

    fn masked(fin: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(&mut out, fin, opcode, payload, Some([1, 2, 3, 4]));
        out
    }

    fn text(s: &str) -> Message {
        Message::Text(s.to_string())
    }

    #[test]
    fn accept_key_matches_rfc_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn rfc_examples_decode() {
        let hello = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        assert_eq!(decode_all(Role::Client, &hello), Ok(vec![text("Hello")]));
        let masked_hello = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(
            decode_all(Role::Server, &masked_hello),
            Ok(vec![text("Hello")])
        );
        let fragmented = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
        assert_eq!(
            decode_all(Role::Client, &fragmented),
            Ok(vec![text("Hello")])
        );
        let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        assert_eq!(
            decode_all(Role::Client, &ping),
            Ok(vec![Message::Ping(b"Hello".to_vec())])
        );
        let masked_pong = [
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(
            decode_all(Role::Server, &masked_pong),
            Ok(vec![Message::Pong(b"Hello".to_vec())])
        );
    }

    #[test]
    fn rfc_examples_encode() {
        let hello = encode_message(Role::Server, &text("Hello"));
        assert_eq!(hello, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        let mut out = Vec::new();
        encode_frame(
            &mut out,
            true,
            Opcode::Text,
            b"Hello",
            Some([0x37, 0xfa, 0x21, 0x3d]),
        );
        assert_eq!(
            out,
            [
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );

        let small = encode_message(Role::Server, &Message::Binary(vec![7; 256]));
        assert_eq!(small[..4], [0x82, 0x7E, 0x01, 0x00]);
        assert_eq!(small.len(), 4 + 256);
        assert_eq!(
            decode_all(Role::Client, &small),
            Ok(vec![Message::Binary(vec![7; 256])])
        );

        let big = encode_message(Role::Server, &Message::Binary(vec![9; 65536]));
        assert_eq!(big[..10], [0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]);
        assert_eq!(big.len(), 10 + 65536);
        assert_eq!(
            decode_all(Role::Client, &big),
            Ok(vec![Message::Binary(vec![9; 65536])])
        );
    }

    #[test]
    fn round_trips_both_roles() {
        for len in [0usize, 1, 2, 3, 5, 7, 125, 126, 127, 65535, 65536] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let string: String = data.iter().map(|b| char::from(b'a' + b % 26)).collect();
            for (sender, receiver) in [(Role::Client, Role::Server), (Role::Server, Role::Client)] {
                for msg in [Message::Binary(data.clone()), Message::Text(string.clone())] {
                    let bytes = encode_message(sender, &msg);
                    assert_eq!(bytes[1] & 0x80 != 0, sender == Role::Client);
                    assert_eq!(
                        decode_all(receiver, &bytes),
                        Ok(vec![msg]),
                        "{len} {sender:?}"
                    );
                }
            }
        }
        for msg in [
            Message::Ping(vec![1; 125]),
            Message::Pong(Vec::new()),
            Message::Close(None),
            Message::Close(Some((1000, "bye".to_string()))),
            Message::Close(Some((4001, String::new()))),
        ] {
            assert_eq!(
                decode_all(Role::Server, &encode_message(Role::Client, &msg)),
                Ok(vec![msg])
            );
        }
    }

    #[test]
    fn byte_at_a_time() {
        let mut bytes = masked(false, Opcode::Text, "héllo ".as_bytes());
        bytes.extend(masked(true, Opcode::Ping, b"p"));
        bytes.extend(masked(true, Opcode::Continuation, "wörld".as_bytes()));
        bytes.extend(masked(true, Opcode::Binary, &[0; 300]));
        let mut decoder = Decoder::new(Role::Server, LIMITS);
        let mut got = Vec::new();
        for byte in bytes {
            decoder.feed(&[byte]);
            while let Some(msg) = decoder.next_message().unwrap() {
                got.push(msg);
            }
        }
        let expected = [
            Message::Ping(b"p".to_vec()),
            text("héllo wörld"),
            Message::Binary(vec![0; 300]),
        ];
        assert_eq!(got, expected);
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn several_messages_in_one_feed_keep_the_leftover() {
        let mut bytes = masked(true, Opcode::Text, b"one");
        bytes.extend(masked(true, Opcode::Text, b"two"));
        let third = masked(true, Opcode::Text, b"three");
        bytes.extend(&third[..4]);
        let mut decoder = Decoder::new(Role::Server, LIMITS);
        decoder.feed(&bytes);
        assert_eq!(decoder.next_message(), Ok(Some(text("one"))));
        assert_eq!(decoder.next_message(), Ok(Some(text("two"))));
        assert_eq!(decoder.next_message(), Ok(None));
        assert_eq!(decoder.buffered(), 4);
        decoder.feed(&third[4..]);
        assert_eq!(decoder.next_message(), Ok(Some(text("three"))));
        assert_eq!(decoder.next_message(), Ok(None));
    }

    #[test]
    fn masking_must_match_the_role() {
        let unmasked = encode_message(Role::Server, &text("hi"));
        assert_eq!(server_error(&unmasked), 1002);
        let masked = encode_message(Role::Client, &text("hi"));
        assert_eq!(decode_all(Role::Client, &masked).unwrap_err().code, 1002);
    }

    #[test]
    fn malformed_headers_are_1002() {
        // RSV1, RSV2, RSV3.
        for rsv in [0x40, 0x20, 0x10] {
            let mut frame = masked(true, Opcode::Text, b"x");
            frame[0] |= rsv;
            assert_eq!(server_error(&frame), 1002);
        }
        // Reserved data and control opcodes.
        for opcode in [0x3, 0x7, 0xB, 0xF] {
            assert_eq!(server_error(&[0x80 | opcode, 0x80, 0, 0, 0, 0]), 1002);
        }
        // A ping of 126 bytes, and a fragmented ping.
        let mut long_ping = vec![0x89, 0x80 | 0x7E, 0, 126, 0, 0, 0, 0];
        long_ping.extend([0; 126]);
        assert_eq!(server_error(&long_ping), 1002);
        assert_eq!(server_error(&masked(false, Opcode::Ping, b"x")), 1002);
        // A 64-bit length with its most significant bit set.
        assert_eq!(
            server_error(&[0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]),
            1002
        );
    }

    #[test]
    fn oversized_frame_is_rejected_from_its_header() {
        // 64 MiB declared; only the header has arrived.
        let header = [0x82, 0xFF, 0, 0, 0, 0, 0x04, 0, 0, 0, 1, 2, 3, 4];
        let mut decoder = Decoder::new(Role::Server, LIMITS);
        decoder.feed(&header);
        assert_eq!(decoder.next_message().unwrap_err().code, 1009);
        assert_eq!(decoder.buffered(), 0);

        let limits = Limits {
            max_frame: 10,
            max_message: 100,
        };
        let mut decoder = Decoder::new(Role::Server, limits);
        decoder.feed(&masked(true, Opcode::Binary, &[0; 11])[..6]);
        assert_eq!(decoder.next_message().unwrap_err().code, 1009);
    }

    #[test]
    fn buffer_stays_within_one_frame() {
        let limits = Limits {
            max_frame: 1000,
            max_message: 1000,
        };
        let frame = masked(true, Opcode::Binary, &[5; 1000]);
        let mut decoder = Decoder::new(Role::Server, limits);
        for chunk in frame.chunks(97) {
            decoder.feed(chunk);
            if let Some(msg) = decoder.next_message().unwrap() {
                assert_eq!(msg, Message::Binary(vec![5; 1000]));
            }
            assert!(decoder.buffered() <= limits.max_frame + 14);
        }
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn fragmented_message_over_the_limit_is_1009() {
        let limits = Limits {
            max_frame: 100,
            max_message: 150,
        };
        let mut bytes = masked(false, Opcode::Binary, &[0; 100]);
        bytes.extend(masked(true, Opcode::Continuation, &[0; 51]));
        let mut decoder = Decoder::new(Role::Server, limits);
        decoder.feed(&bytes[..bytes.len() - 51]);
        assert_eq!(decoder.next_message().unwrap_err().code, 1009);
        // Exactly at the limit is fine.
        let mut bytes = masked(false, Opcode::Binary, &[0; 100]);
        bytes.extend(masked(true, Opcode::Continuation, &[0; 50]));
        let mut decoder = Decoder::new(Role::Server, limits);
        decoder.feed(&bytes);
        assert_eq!(
            decoder.next_message(),
            Ok(Some(Message::Binary(vec![0; 150])))
        );
    }

    #[test]
    fn fragment_order_is_enforced() {
        assert_eq!(
            server_error(&masked(true, Opcode::Continuation, b"x")),
            1002
        );
        let mut bytes = masked(false, Opcode::Text, b"a");
        bytes.extend(masked(true, Opcode::Binary, b"b"));
        assert_eq!(server_error(&bytes), 1002);
    }

    #[test]
    fn control_frames_interleave_with_fragments() {
        let mut bytes = masked(false, Opcode::Binary, b"ab");
        bytes.extend(masked(true, Opcode::Ping, b"1"));
        bytes.extend(masked(false, Opcode::Continuation, b"cd"));
        bytes.extend(masked(true, Opcode::Pong, b"2"));
        bytes.extend(masked(true, Opcode::Continuation, b"e"));
        let expected = vec![
            Message::Ping(b"1".to_vec()),
            Message::Pong(b"2".to_vec()),
            Message::Binary(b"abcde".to_vec()),
        ];
        assert_eq!(decode_all(Role::Server, &bytes), Ok(expected));
    }

    #[test]
    fn text_must_be_utf8_as_a_whole() {
        assert_eq!(
            server_error(&masked(true, Opcode::Text, &[0xff, 0xfe])),
            1007
        );
        // "é" split across two fragments is fine once joined.
        let mut bytes = masked(false, Opcode::Text, &[0xc3]);
        bytes.extend(masked(true, Opcode::Continuation, &[0xa9]));
        assert_eq!(decode_all(Role::Server, &bytes), Ok(vec![text("é")]));
        let mut bytes = masked(false, Opcode::Text, b"ok");
        bytes.extend(masked(true, Opcode::Continuation, &[0xc3]));
        assert_eq!(server_error(&bytes), 1007);
    }

    #[test]
    fn close_frames() {
        let close =
            |payload: &[u8]| decode_all(Role::Server, &masked(true, Opcode::Close, payload));
        assert_eq!(close(&[]), Ok(vec![Message::Close(None)]));
        assert_eq!(close(&[0x03]).unwrap_err().code, 1002);
        assert_eq!(
            close(&[0x03, 0xE8, b'o', b'k']),
            Ok(vec![Message::Close(Some((1000, "ok".to_string())))])
        );
        for code in [
            1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
        ] {
            assert!(close(&code.to_be_bytes()).is_ok(), "{code}");
        }
        for code in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535,
        ] {
            assert_eq!(
                close(&u16::to_be_bytes(code)).unwrap_err().code,
                1002,
                "{code}"
            );
        }
        assert_eq!(close(&[0x03, 0xE8, 0xff]).unwrap_err().code, 1007);
    }

    #[test]
    fn errors_are_sticky() {
        let mut decoder = Decoder::new(Role::Server, LIMITS);
        decoder.feed(&masked(true, Opcode::Continuation, b"x"));
        let err = decoder.next_message().unwrap_err();
        decoder.feed(&masked(true, Opcode::Text, b"fine"));
        assert_eq!(decoder.next_message(), Err(err));
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn close_payload_truncates_at_a_char_boundary() {
        assert_eq!(close_payload(1000, "bye"), [0x03, 0xE8, b'b', b'y', b'e']);
        let long = "é".repeat(100); // 200 bytes
        let payload = close_payload(1001, &long);
        assert_eq!(payload.len(), 2 + 122);
        assert!(std::str::from_utf8(&payload[2..]).is_ok());
        let msg = Message::Close(Some((1001, long)));
        let Ok(decoded) = decode_all(Role::Client, &encode_message(Role::Server, &msg)) else {
            panic!()
        };
        assert_eq!(decoded, [Message::Close(Some((1001, "é".repeat(61))))]);
    }

    fn upgrade_headers() -> Vec<(String, String)> {
        [
            ("Host", "localhost"),
            ("upgrade", "WebSocket"),
            ("CONNECTION", "keep-alive, Upgrade"),
            ("Sec-WebSocket-Version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn check_upgrade_accepts_a_valid_request() {
        assert_eq!(
            check_upgrade("GET", &upgrade_headers()).as_deref(),
            Ok("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
    }

    #[test]
    fn check_upgrade_rejects_each_missing_piece() {
        assert!(check_upgrade("POST", &upgrade_headers()).is_err());
        let with = |name: &str, value: Option<&str>| {
            let mut headers: Vec<_> = upgrade_headers()
                .into_iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
                .collect();
            if let Some(value) = value {
                headers.push((name.to_string(), value.to_string()));
            }
            check_upgrade("GET", &headers)
        };
        assert!(with("Upgrade", None).is_err());
        assert!(with("Upgrade", Some("h2c")).is_err());
        assert!(with("Connection", Some("keep-alive")).is_err());
        assert!(with("Connection", Some("upgrade,close")).is_ok());
        assert!(
            with("Sec-WebSocket-Version", Some("8"))
                .unwrap_err()
                .contains("13")
        );
        assert!(
            with("Sec-WebSocket-Version", None)
                .unwrap_err()
                .contains("13")
        );
        assert!(with("Sec-WebSocket-Key", None).is_err());
        assert!(with("Sec-WebSocket-Key", Some("c2hvcnQ=")).is_err());
        assert!(with("Sec-WebSocket-Key", Some("not base64!")).is_err());
    }

    #[test]
    fn client_handshake_round_trip() {
        let (key, request) = client_request(
            "example.com:8080",
            "/ws?x=1",
            &[("Authorization", "Bearer t")],
        )
        .unwrap();
        assert_eq!(base64_decode(&key).map(|k| k.len()), Some(16));
        assert!(request.ends_with(b"\r\n\r\n"));
        let (request_line, headers) = parse_head(&request);
        assert_eq!(request_line, "GET /ws?x=1 HTTP/1.1");
        assert_eq!(header(&headers, "host"), Some("example.com:8080"));
        assert_eq!(header(&headers, "authorization"), Some("Bearer t"));
        let accept = check_upgrade("GET", &headers).unwrap();
        assert_eq!(check_response(&response_101(&accept), &key), Ok(()));

        let (other_key, _) = client_request("h", "/", &[]).unwrap();
        assert_ne!(key, other_key);
        assert!(check_response(&response_101(&accept), &other_key).is_err());
    }

    #[test]
    fn check_response_rejects_bad_responses() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let accept = accept_key(key);
        let not_101 = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        assert!(check_response(not_101, key).unwrap_err().contains("400"));
        let wrong = response_101("AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        assert!(check_response(&wrong, key).is_err());
        let no_upgrade = format!(
            "HTTP/1.1 101 OK\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        );
        assert!(check_response(no_upgrade.as_bytes(), key).is_err());
        let deflate = format!(
            "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\
             Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
        );
        assert!(check_response(deflate.as_bytes(), key).is_err());
    }

    #[test]
    fn head_len_finds_the_blank_line() {
        let mut bytes = response_101("x");
        let len = bytes.len();
        assert_eq!(head_len(&bytes[..len - 1]), None);
        bytes.extend([0x81, 0x00]);
        assert_eq!(head_len(&bytes), Some(len));
    }

    #[test]
    fn client_request_refuses_header_injection() {
        assert!(client_request("h", "/", &[("X", "a\r\nEvil: 1")]).is_err());
        assert!(client_request("h\n", "/", &[]).is_err());
        assert!(client_request("h", "/ HTTP/1.1\r\n", &[]).is_err());
    }
}
