//! The Discord Gateway's transport: one WebSocket client connection, over
//! TLS for `wss://` (Discord) or plain TCP for `ws://` (the tests' fake),
//! chosen by the URL's scheme.
//!
//! The frames come from the same sans-IO codec as the gateway's server side
//! ([`crate::gateway::ws`], client role); this module only adds the blocking
//! I/O around it: a deadline on the TCP connect, on the TLS and WebSocket
//! handshakes together, and on every write, and reads that wait at most what
//! the caller asks so its loop can send heartbeats and notice a stop.
//!
//! Deliberately not here: anything about Discord's payloads (see `wire.rs`),
//! compression (never requested), proxies.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::gateway::ws::{self, Decoder, Message, Role};

/// Writes give up after this long (a stalled peer).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest frame or message accepted. A READY or GUILD_CREATE of a big
/// guild runs to a few MB; the decoder never buffers more than arrives.
const MAX_MESSAGE: usize = 16 << 20;
/// The largest HTTP head accepted in answer to the upgrade.
const MAX_HEAD: usize = 16 << 10;

/// Where to connect, from a `ws://` or `wss://` URL.
#[derive(Debug, Clone, PartialEq)]
pub struct Url {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// The request target: path and query, at least `/`.
    pub target: String,
}

/// Why a connection could not be made or went away.
#[derive(Debug)]
pub enum Error {
    BadUrl(String),
    /// DNS, TCP, TLS or the upgrade's I/O failed.
    Connect(String),
    /// The connect or handshake deadline passed.
    Timeout,
    /// The server answered the upgrade with something other than a 101.
    Handshake(String),
    /// A read or write failed after the handshake, or the peer left without
    /// a Close frame.
    Io(io::Error),
    /// The peer broke the WebSocket protocol.
    Protocol(ws::ProtocolError),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::BadUrl(u) => write!(f, "not a ws:// or wss:// URL: {u:?}"),
            Error::Connect(e) => write!(f, "cannot connect: {e}"),
            Error::Timeout => write!(f, "the connection timed out"),
            Error::Handshake(e) => write!(f, "the WebSocket upgrade failed: {e}"),
            Error::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => write!(f, "the connection was closed"),
            Error::Io(e) => write!(f, "the connection failed: {e}"),
            Error::Protocol(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

/// Parses `ws://host[:port][/path][?query]` (or `wss://`). The default
/// ports are 80 and 443; IPv6 literals go in brackets.
pub fn parse_url(url: &str) -> Result<Url, Error> {
    let bad = || Error::BadUrl(url.to_string());
    let (tls, rest) = if let Some(r) = url.strip_prefix("wss://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("ws://") {
        (false, r)
    } else {
        return Err(bad());
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let tail = tail.split('#').next().unwrap_or("");
    let target = match tail {
        "" => "/".to_string(),
        t if t.starts_with('?') => format!("/{t}"),
        t => t.to_string(),
    };
    if authority.is_empty() || authority.contains(['@', ' ']) || target.contains([' ', '\r', '\n']) {
        return Err(bad());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or_else(bad)?;
        (h.to_string(), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    let port = match port {
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad)?,
        None if tls => 443,
        None => 80,
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok(Url { tls, host, port, target })
}

/// The client TLS settings for Discord: the webpki (Mozilla) roots, ring,
/// TLS 1.2 and 1.3. Built once.
pub fn tls_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    Arc::clone(CONFIG.get_or_init(|| tls_config_with_roots(RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() })))
}

/// TLS settings that trust `roots` (tests use their own authority).
pub fn tls_config_with_roots(roots: RootCertStore) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// One open WebSocket connection (client role).
pub struct Socket {
    stream: Stream,
    dec: Decoder,
    closed: bool,
}

impl Socket {
    /// Connects to `url` and completes the TLS (for `wss://`) and WebSocket
    /// handshakes, all within `timeout`. `tls` replaces [`tls_config`] (which
    /// is built only when a `wss://` URL needs it).
    pub fn connect(url: &str, tls: Option<&Arc<ClientConfig>>, timeout: Duration) -> Result<Socket, Error> {
        let u = parse_url(url)?;
        let deadline = Instant::now() + timeout;
        let tcp = connect_tcp(&u.host, u.port, deadline)?;
        let _ = tcp.set_nodelay(true);
        let mut stream = if u.tls {
            let name = ServerName::try_from(u.host.clone()).map_err(|_| Error::BadUrl(url.to_string()))?;
            let config = tls.map_or_else(tls_config, Arc::clone);
            let conn = ClientConnection::new(config, name).map_err(|e| Error::Connect(format!("TLS: {e}")))?;
            Stream::Tls(Box::new(StreamOwned::new(conn, tcp)))
        } else {
            Stream::Plain(tcp)
        };
        let default_port = if u.tls { 443 } else { 80 };
        let host = match (u.host.contains(':'), u.port == default_port) {
            (true, true) => format!("[{}]", u.host),
            (true, false) => format!("[{}]:{}", u.host, u.port),
            (false, true) => u.host.clone(),
            (false, false) => format!("{}:{}", u.host, u.port),
        };
        let (key, request) = ws::client_request(&host, &u.target, &[]).map_err(|e| Error::Connect(e.to_string()))?;
        set_timeouts(stream.tcp(), deadline)?;
        // The first write also drives the TLS handshake.
        stream.write_all(&request).and_then(|()| stream.flush()).map_err(|e| io_error(e, "TLS or upgrade"))?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(n) = ws::head_len(&buf) {
                break n;
            }
            if buf.len() > MAX_HEAD {
                return Err(Error::Handshake("response head too large".into()));
            }
            set_timeouts(stream.tcp(), deadline)?;
            match stream.read(&mut chunk) {
                Ok(0) => return Err(Error::Handshake("the server closed the connection".into())),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error(e, "upgrade")),
            }
        };
        if let Err(why) = ws::check_response(&buf[..head_end], &key) {
            return Err(Error::Handshake(why));
        }
        let mut dec = Decoder::new(Role::Client, ws::Limits { max_frame: MAX_MESSAGE, max_message: MAX_MESSAGE });
        dec.feed(&buf[head_end..]);
        let _ = stream.tcp().set_write_timeout(Some(WRITE_TIMEOUT));
        Ok(Socket { stream, dec, closed: false })
    }

    /// Sends one text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.write(&Message::Text(text.to_string()))
    }

    /// The next message, waiting at most `wait`; `Ok(None)` when none came.
    /// Pings are answered here and not returned.
    pub fn recv(&mut self, wait: Duration) -> Result<Option<Message>, Error> {
        let deadline = Instant::now() + wait;
        let mut chunk = vec![0u8; 16 << 10];
        loop {
            match self.dec.next_message() {
                Ok(Some(Message::Ping(p))) => {
                    self.write(&Message::Pong(p))?;
                    continue;
                }
                Ok(Some(m)) => return Ok(Some(m)),
                Ok(None) => {}
                Err(e) => return Err(Error::Protocol(e)),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let _ = self.stream.tcp().set_read_timeout(Some(left.max(Duration::from_millis(1))));
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(Error::Io(io::ErrorKind::UnexpectedEof.into())),
                Ok(n) => self.dec.feed(&chunk[..n]),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Io(e)),
            }
        }
    }

    /// Sends a Close frame with `code` (best effort) and shuts the socket.
    /// Discord keeps the session resumable unless the code is 1000 or 1001.
    pub fn close(&mut self, code: u16, reason: &str) {
        if !self.closed {
            self.closed = true;
            let _ = self.write(&Message::Close(Some((code, reason.to_string()))));
            if let Stream::Tls(s) = &mut self.stream {
                s.conn.send_close_notify();
                let _ = s.flush();
            }
        }
        let _ = self.stream.tcp().shutdown(std::net::Shutdown::Both);
    }

    fn write(&mut self, msg: &Message) -> Result<(), Error> {
        let bytes = ws::encode_message(Role::Client, msg);
        self.stream.write_all(&bytes).and_then(|()| self.stream.flush()).map_err(Error::Io)
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        let _ = self.stream.tcp().shutdown(std::net::Shutdown::Both);
    }
}

fn connect_tcp(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, Error> {
    let addrs: Vec<_> = (host, port).to_socket_addrs().map_err(|e| Error::Connect(format!("{host}: {e}")))?.collect();
    let mut last = format!("{host}: no address");
    for a in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Timeout);
        }
        match TcpStream::connect_timeout(&a, left) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(Error::Timeout),
            Err(e) => last = format!("{a}: {e}"),
        }
    }
    Err(Error::Connect(last))
}

fn set_timeouts(tcp: &TcpStream, deadline: Instant) -> Result<(), Error> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Error::Timeout);
    }
    let _ = tcp.set_read_timeout(Some(left));
    let _ = tcp.set_write_timeout(Some(left));
    Ok(())
}

fn io_error(e: io::Error, phase: &str) -> Error {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout,
        _ => Error::Connect(format!("{phase}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn urls_parse_with_default_ports_and_targets() {
        let u = parse_url("wss://gateway.discord.gg/?v=10&encoding=json").unwrap();
        assert_eq!(u, Url { tls: true, host: "gateway.discord.gg".into(), port: 443, target: "/?v=10&encoding=json".into() });
        let u = parse_url("ws://127.0.0.1:9000?v=10").unwrap();
        assert_eq!((u.tls, u.port, u.target.as_str()), (false, 9000, "/?v=10"));
        let u = parse_url("ws://[::1]:81/x#frag").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.target.as_str()), ("::1", 81, "/x"));
        assert_eq!(parse_url("ws://h").unwrap().port, 80);
        for bad in ["http://x", "wss://", "ws://:80", "ws://h:0", "ws://h:99999", "ws://u@h", "ws://h/a b", "ws://[::1"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    /// A one-connection WebSocket server that answers the upgrade, sends
    /// `frames` and then echoes text messages back.
    fn echo_server(frames: Vec<Vec<u8>>) -> (u16, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            serve(&mut s, &frames);
        });
        (port, t)
    }

    fn serve<S: Read + Write>(s: &mut S, frames: &[Vec<u8>]) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while ws::head_len(&buf).is_none() {
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0, "client left during the upgrade");
            buf.extend_from_slice(&chunk[..n]);
        }
        let head = String::from_utf8_lossy(&buf).to_string();
        let key = head.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Key: ")).unwrap().trim().to_string();
        assert!(head.starts_with("GET /?v=10&encoding=json HTTP/1.1\r\n"), "{head}");
        s.write_all(&ws::response_101(&ws::accept_key(&key))).unwrap();
        for f in frames {
            s.write_all(f).unwrap();
        }
        let mut dec = Decoder::new(Role::Server, ws::Limits { max_frame: 1 << 20, max_message: 1 << 20 });
        loop {
            match dec.next_message().unwrap() {
                Some(Message::Text(t)) => s.write_all(&ws::encode_message(Role::Server, &Message::Text(t))).unwrap(),
                Some(Message::Close(c)) => {
                    let _ = s.write_all(&ws::encode_message(Role::Server, &Message::Close(c)));
                    return;
                }
                Some(_) => {}
                None => match s.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => dec.feed(&chunk[..n]),
                },
            }
        }
    }

    #[test]
    fn plain_socket_round_trips_answers_pings_and_times_out_reads() {
        let ping = ws::encode_message(Role::Server, &Message::Ping(b"p".to_vec()));
        let hello = ws::encode_message(Role::Server, &Message::Text("{\"op\":10}".into()));
        let (port, t) = echo_server(vec![ping, hello]);
        let mut s = Socket::connect(&format!("ws://127.0.0.1:{port}/?v=10&encoding=json"), None, Duration::from_secs(5)).unwrap();
        assert_eq!(s.recv(Duration::from_secs(5)).unwrap(), Some(Message::Text("{\"op\":10}".into())));
        let started = Instant::now();
        assert_eq!(s.recv(Duration::from_millis(100)).unwrap(), None);
        assert!(started.elapsed() < Duration::from_secs(2));
        s.send_text("hi").unwrap();
        assert_eq!(s.recv(Duration::from_secs(5)).unwrap(), Some(Message::Text("hi".into())));
        s.close(4000, "bye");
        t.join().unwrap();
    }

    #[test]
    fn refused_upgrade_and_silent_server_fail_in_time() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut b = [0u8; 1024];
            let _ = s.read(&mut b);
            s.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").unwrap();
            // The second client gets nothing at all.
            let (_silent, _) = listener.accept().unwrap();
            std::thread::sleep(Duration::from_millis(1500));
        });
        let url = format!("ws://127.0.0.1:{port}");
        let e = Socket::connect(&url, None, Duration::from_secs(5)).err().unwrap();
        assert!(matches!(&e, Error::Handshake(m) if m.contains("404")), "{e}");
        let started = Instant::now();
        let e = Socket::connect(&url, None, Duration::from_millis(300)).err().unwrap();
        assert!(matches!(e, Error::Timeout), "{e}");
        assert!(started.elapsed() < Duration::from_secs(1));
        t.join().unwrap();
    }

    /// wss:// end to end against a rustls server whose certificate (for
    /// 127.0.0.1, from the openssl command line) is the only trusted root.
    #[test]
    fn tls_socket_verifies_the_server_and_round_trips() {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let dir = std::env::temp_dir().join(format!("oc-dc-tls-{}", crate::crypto::random_hex_token(6).unwrap()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("cert.der"), dir.join("key.der"));
        let out = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE", "-outform", "DER", "-keyout"])
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("this test needs the openssl command line tool");
        assert!(out.status.success(), "openssl req: {}", String::from_utf8_lossy(&out.stderr));
        let out = std::process::Command::new("openssl")
            .args(["pkcs8", "-topk8", "-nocrypt", "-outform", "DER", "-in"])
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(&key)
            .output()
            .unwrap();
        assert!(out.status.success(), "openssl pkcs8: {}", String::from_utf8_lossy(&out.stderr));
        let cert = CertificateDer::from(std::fs::read(&cert).unwrap());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(std::fs::read(&key).unwrap()));
        std::fs::remove_dir_all(&dir).unwrap();

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .unwrap();
        let server = Arc::new(server);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hello = ws::encode_message(Role::Server, &Message::Text("{\"op\":10}".into()));
        let t = std::thread::spawn(move || {
            for first in [true, false] {
                let (mut tcp, _) = listener.accept().unwrap();
                tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut conn = rustls::ServerConnection::new(Arc::clone(&server)).unwrap();
                let mut handshake = Ok((0, 0));
                while conn.is_handshaking() && handshake.is_ok() {
                    handshake = conn.complete_io(&mut tcp);
                }
                // The first client does not trust us and aborts the handshake.
                assert_eq!(handshake.is_err(), first, "{handshake:?}");
                if !first {
                    serve(&mut StreamOwned::new(conn, tcp), std::slice::from_ref(&hello));
                }
            }
        });
        let url = format!("wss://127.0.0.1:{port}/?v=10&encoding=json");
        // Untrusted (the webpki roots): refused.
        let e = Socket::connect(&url, None, Duration::from_secs(5)).err().unwrap();
        assert!(e.to_string().contains("TLS") || e.to_string().contains("certificate"), "{e}");
        let mut roots = RootCertStore::empty();
        roots.add(cert).unwrap();
        let mut s = Socket::connect(&url, Some(&tls_config_with_roots(roots)), Duration::from_secs(5)).unwrap();
        assert_eq!(s.recv(Duration::from_secs(5)).unwrap(), Some(Message::Text("{\"op\":10}".into())));
        s.send_text("over tls").unwrap();
        assert_eq!(s.recv(Duration::from_secs(5)).unwrap(), Some(Message::Text("over tls".into())));
        s.close(1000, "");
        t.join().unwrap();
    }
}
