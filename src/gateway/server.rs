//! The accept loop and the HTTP side: connection caps, the bounded request
//! reader (`http.rs`), the fixed route table, Host checks, security headers,
//! and the hand-off of upgrade requests to `session.rs`.
//!
//! URLs are never turned into file paths: the UI's assets are a fixed table
//! of embedded files (`ui.rs`), everything else is 404.

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;

use serde_json::json;

use super::http::{self, Conn, Head, Response};
use super::{Gateway, session, ui};

/// Worker stacks: request handling is shallow (no recursion on input except
/// JSON, which serde caps at 128 levels).
const STACK: usize = 256 * 1024;

pub fn accept_loop(gw: Arc<Gateway>, listener: TcpListener) {
    let mut n: u64 = 0;
    for stream in listener.incoming() {
        if gw.shutting_down.load(Ordering::SeqCst) {
            break;
        }
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                log::warn!("accept failed: {e}");
                thread::sleep(std::time::Duration::from_millis(50));
                continue;
            }
        };
        let Ok(peer) = stream.peer_addr() else { continue };
        let Some(slot) = gw.take_slot(peer.ip()) else {
            log::debug!("connection from {} refused: connection cap reached", peer.ip());
            refuse_busy(stream);
            continue;
        };
        n += 1;
        let gw2 = Arc::clone(&gw);
        let spawned = thread::Builder::new().name(format!("http-{n}")).stack_size(STACK).spawn(move || {
            let _slot = slot;
            handle(&gw2, stream, peer);
        });
        if let Err(e) = spawned {
            log::warn!("cannot start a connection thread: {e}");
        }
    }
}

/// Over a cap: a 503 written without blocking, then close.
fn refuse_busy(mut stream: TcpStream) {
    let _ = stream.set_nonblocking(true);
    let _ = stream.write_all(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

/// What a request is, as far as who sent it.
pub struct Origin {
    /// The client address (the peer, or the forwarded address behind a
    /// trusted proxy).
    pub ip: IpAddr,
    /// Loopback peer, no proxy headers, loopback Host: the only requests
    /// trusted as the local user.
    pub local_direct: bool,
    /// The browser `Origin` header, if any.
    pub browser_origin: Option<String>,
}

fn handle(gw: &Arc<Gateway>, stream: TcpStream, peer: SocketAddr) {
    let limits = http::Limits::default();
    let mut conn = Conn::new(stream, peer);
    loop {
        let head = match conn.read_head(&limits) {
            Ok(h) => h,
            Err(e) => {
                if let Some(resp) = e.response() {
                    let _ = conn.write_response(&secure(resp), false);
                    linger(conn.stream());
                }
                log::debug!("http {}: {e}", peer.ip());
                return;
            }
        };
        log::trace!("http {} {} {}", peer.ip(), head.method, head.path);
        if is_upgrade(&head) {
            if let Err(resp) = host_check(gw, &conn, &head) {
                let _ = conn.write_response(&secure(resp.close()), false);
                return;
            }
            let origin = origin_of(gw, &conn, &head);
            session::upgrade(gw, conn, head, origin);
            return;
        }
        if super::api::handles(&head.path) && !head.query.as_deref().is_some_and(has_token_param) {
            match host_check(gw, &conn, &head) {
                Ok(()) => {
                    let origin = origin_of(gw, &conn, &head);
                    if !super::api::serve(gw, &mut conn, &head, &origin, &limits) || gw.shutting_down.load(Ordering::SeqCst) {
                        linger(conn.stream());
                        return;
                    }
                    continue;
                }
                Err(r) => {
                    let _ = conn.write_response(&secure(r.close()), false);
                    linger(conn.stream());
                    return;
                }
            }
        }
        let mut resp = match host_check(gw, &conn, &head) {
            Ok(()) => route(gw, &head),
            Err(r) => r,
        };
        if !head.keep_alive() || head.minor == 0 || gw.shutting_down.load(Ordering::SeqCst) {
            resp.close = true;
        }
        // No route reads a body: drop it before answering so keep-alive
        // stays in step. A body over the cap (declared, or chunked past it)
        // or a broken one is answered with its own error (413, 400), not the
        // route's, and the connection closed; a declared length over the cap
        // is refused without reading any of it, even on a closing connection.
        let declared_too_large = matches!(head.body_kind(), http::BodyKind::Length(n) if n > limits.max_body as u64);
        let dropped = if resp.close && !declared_too_large { Ok(false) } else { conn.drop_body(&head, &limits) };
        match dropped {
            Ok(true) => {}
            Ok(false) => resp.close = true,
            Err(e) => match e.response() {
                Some(r) => resp = r,
                None => resp.close = true,
            },
        }
        let head_only = head.method == "HEAD";
        if conn.write_response(&secure(resp.clone()), head_only).is_err() {
            return;
        }
        if resp.close {
            linger(conn.stream());
            return;
        }
    }
}

/// Half-closes and reads what the client still sends (at most 256 KiB or
/// 500 ms), so closing with unread input does not make the kernel send a
/// reset that can destroy the answer before the client reads it.
fn linger(stream: &TcpStream) {
    use std::io::Read;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(500)));
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
    let mut buf = [0u8; 8192];
    let mut total = 0;
    let mut s = stream;
    while total < 256 * 1024 && std::time::Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
}

trait Close {
    fn close(self) -> Response;
}

impl Close for Response {
    fn close(mut self) -> Response {
        self.close = true;
        self
    }
}

fn is_upgrade(head: &Head) -> bool {
    head.header("upgrade").is_some_and(|u| u.split(',').any(|t| t.trim().eq_ignore_ascii_case("websocket")))
}

/// Headers every response carries.
fn secure(resp: Response) -> Response {
    resp.header("X-Content-Type-Options", "nosniff")
        .header("Referrer-Policy", "no-referrer")
        .header("X-Frame-Options", "DENY")
        .header("Cross-Origin-Opener-Policy", "same-origin")
        .header("Cross-Origin-Resource-Policy", "same-origin")
}

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn route(gw: &Gateway, head: &Head) -> Response {
    if head.query.as_deref().is_some_and(has_token_param) {
        return Response::text(
            400,
            "Tokens are not accepted in the URL query (it ends up in logs and browser history).\nOpen the dashboard with #token=<token> (the fragment never leaves the browser), or send Authorization: Bearer <token>.\n",
        )
        .close();
    }
    let path = head.path.as_str();
    let get = matches!(head.method.as_str(), "GET" | "HEAD");
    match path {
        "/healthz" | "/health" if get => return Response::json(200, &json!({"ok": true, "status": "live"})).header("Cache-Control", "no-store"),
        "/readyz" | "/ready" if get => {
            return if gw.shutting_down.load(Ordering::SeqCst) {
                Response::json(503, &json!({"ok": false, "status": "stopping"}))
            } else {
                Response::json(200, &json!({"ok": true, "status": "ready"}))
            }
            .header("Cache-Control", "no-store");
        }
        "/healthz" | "/health" | "/readyz" | "/ready" => return method_not_allowed(),
        _ => {}
    }
    let config = gw.config();
    let ui_cfg = &config.gateway.control_ui;
    if ui_cfg.enabled {
        let base = ui_cfg.base_path.as_str();
        if let Some(rest) = path.strip_prefix(base) {
            if rest.is_empty() && !base.is_empty() {
                return Response::new(308).header("Location", &format!("{base}/"));
            }
            if let Some(asset) = ui::asset(rest) {
                if !get {
                    return method_not_allowed();
                }
                return Response::bytes(200, asset.content_type, asset.body.to_vec())
                    .header("Content-Security-Policy", CSP)
                    .header("Cache-Control", "no-cache");
            }
        }
    }
    Response::text(404, "Not found\n")
}

fn method_not_allowed() -> Response {
    Response::text(405, "Method not allowed\n").header("Allow", "GET, HEAD")
}

fn has_token_param(query: &str) -> bool {
    query.split('&').any(|kv| {
        let k = kv.split('=').next().unwrap_or("");
        k.eq_ignore_ascii_case("token") || k.eq_ignore_ascii_case("password")
    })
}

/// The host part of a Host header value (`[::1]:18789` → `::1`), or `None`
/// when it is not a valid host[:port].
pub fn host_name(host: &str) -> Option<String> {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let end = rest.find(']')?;
        let name = &rest[..end];
        name.parse::<std::net::Ipv6Addr>().ok()?;
        (name.to_string(), rest[end + 1..].strip_prefix(':'))
    } else {
        match host.rsplit_once(':') {
            Some((n, p)) => (n.to_string(), Some(p)),
            None => (host.to_string(), None),
        }
    };
    if let Some(p) = port
        && (p.is_empty() || p.parse::<u16>().is_err())
    {
        return None;
    }
    let ok = !name.is_empty()
        && name.len() <= 253
        && (name.contains(':') || name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_'));
    ok.then(|| name.to_ascii_lowercase())
}

pub fn is_loopback_name(name: &str) -> bool {
    name == "localhost" || name.ends_with(".localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A gateway bound to loopback answers only loopback host names (a DNS
/// rebinding page cannot reach it through a name it controls), plus hosts
/// named in `gateway.controlUi.allowedOrigins`. On other binds any
/// well-formed Host is accepted: the gateway cannot know every name it is
/// reached by, and the WebSocket Origin check and token guard the rest.
fn host_check(gw: &Gateway, conn: &Conn, head: &Head) -> Result<(), Response> {
    let Some(host) = head.header("host") else {
        // HTTP/1.0 without Host: nothing to check.
        return Ok(());
    };
    let Some(name) = host_name(host) else {
        return Err(Response::text(400, "Bad Request: invalid Host header\n").close());
    };
    let local = conn.stream().local_addr().map(|a| a.ip()).ok();
    if !local.is_some_and(|ip| ip.is_loopback()) || is_loopback_name(&name) {
        return Ok(());
    }
    let config = gw.config();
    let allowed = config.gateway.control_ui.allowed_origins.iter().any(|o| {
        o == "*" || o.split_once("://").and_then(|(_, rest)| host_name(rest)).is_some_and(|h| h == name)
    });
    if allowed {
        Ok(())
    } else {
        Err(Response::text(421, &format!("Misdirected Request: this gateway listens on loopback and does not answer for host \"{name}\"\n")))
    }
}

fn origin_of(gw: &Gateway, conn: &Conn, head: &Head) -> Origin {
    let peer = conn.peer().ip();
    let proxied = ["x-forwarded-for", "x-real-ip", "forwarded", "x-forwarded-host"].iter().any(|h| head.header(h).is_some());
    let config = gw.config();
    let trusted = |ip: IpAddr| config.gateway.trusted_proxies.iter().any(|p| p.parse::<IpAddr>().is_ok_and(|t| t == ip));
    let mut ip = peer;
    if trusted(peer)
        && let Some(xff) = head.header("x-forwarded-for")
    {
        // The rightmost address not added by one of our proxies.
        if let Some(client) = xff.rsplit(',').filter_map(|s| s.trim().parse::<IpAddr>().ok()).find(|a| !trusted(*a)) {
            ip = client;
        }
    }
    let host_local = head.header("host").and_then(host_name).is_some_and(|n| is_loopback_name(&n));
    Origin {
        ip,
        local_direct: peer.is_loopback() && !proxied && host_local,
        browser_origin: head.header("origin").map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        assert_eq!(host_name("127.0.0.1:18789").as_deref(), Some("127.0.0.1"));
        assert_eq!(host_name("[::1]:18789").as_deref(), Some("::1"));
        assert_eq!(host_name("LocalHost").as_deref(), Some("localhost"));
        assert_eq!(host_name("a b"), None);
        assert_eq!(host_name("x:99999"), None);
        assert_eq!(host_name("x:"), None);
        assert_eq!(host_name("[zz]:1"), None);
        assert!(is_loopback_name("localhost") && is_loopback_name("127.0.0.2") && is_loopback_name("::1"));
        assert!(!is_loopback_name("evil.example"));
    }

    #[test]
    fn token_params_are_spotted() {
        assert!(has_token_param("a=1&token=x"));
        assert!(has_token_param("TOKEN"));
        assert!(!has_token_param("tokens=1"));
    }
}
