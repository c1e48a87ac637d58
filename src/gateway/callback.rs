//! A one-shot HTTP listener for an OAuth redirect (`openclaw onboard
//! --auth-choice openai-codex`): the browser comes back to
//! `http://localhost:<port>/auth/callback?code=…&state=…` and this answers it.
//!
//! It lives here because only `gateway/` speaks the HTTP server side; it reuses
//! [`super::http`]'s head parser, so the same caps and deadlines apply: a head
//! of at most 8 KiB and 50 fields that must arrive within 5 s, no bodies. It
//! listens on 127.0.0.1 only and handles one connection at a time (nothing
//! but the user's own browser is expected). The caller decides, per request,
//! whether the query is the one it waits for ([`Verdict`]); anything else is
//! answered and waiting goes on until the deadline or `stop`.

use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::http::{Conn, Limits, Response};

/// How often a waiting listener looks at the deadline and the stop flag.
const POLL: Duration = Duration::from_millis(50);

/// What to do with a request that reached the callback path.
pub enum Verdict {
    /// This is it: answer 200 with this page and stop listening.
    Accept(String),
    /// Answer with this status and text, and keep waiting.
    Reject(u16, String),
}

/// A bound listener, not yet serving.
pub struct Listener {
    inner: TcpListener,
}

impl Listener {
    /// Listens on `127.0.0.1:port` (0: any free port).
    pub fn bind(port: u16) -> io::Result<Listener> {
        let inner = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        inner.set_nonblocking(true)?;
        Ok(Listener { inner })
    }

    pub fn port(&self) -> u16 {
        self.inner.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Answers requests until `decide` accepts one (its query string is
    /// returned), `deadline` passes or `stop` is set (`None`). Requests for
    /// other paths get 404, other methods 405.
    pub fn wait(self, path: &str, deadline: Instant, stop: &AtomicBool, mut decide: impl FnMut(&str) -> Verdict) -> Option<String> {
        let limits = Limits {
            max_head: 8 * 1024,
            max_headers: 50,
            max_body: 0,
            head_deadline: Duration::from_secs(5),
            idle: Duration::from_secs(5),
            body_deadline: Duration::from_secs(1),
        };
        while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
            let (stream, peer) = match self.inner.accept() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(POLL);
                    continue;
                }
                Err(e) => {
                    log::debug!("oauth callback: accept failed: {e}");
                    std::thread::sleep(POLL);
                    continue;
                }
            };
            if stream.set_nonblocking(false).is_err() {
                continue;
            }
            let mut conn = Conn::new(stream, peer);
            let head = match conn.read_head(&limits) {
                Ok(h) => h,
                Err(e) => {
                    if let Some(resp) = e.response() {
                        let _ = conn.write_response(&Response { close: true, ..resp }, false);
                    }
                    continue;
                }
            };
            let (resp, done) = if head.path != path {
                (Response::text(404, "Not found"), None)
            } else if head.method != "GET" {
                (Response::text(405, "Method not allowed").header("Allow", "GET"), None)
            } else {
                let query = head.query.clone().unwrap_or_default();
                match decide(&query) {
                    Verdict::Accept(page) => (Response::bytes(200, "text/html; charset=utf-8", page.into_bytes()), Some(query)),
                    Verdict::Reject(status, text) => (Response::text(status, &text), None),
                }
            };
            let resp = Response { close: true, ..resp }.header("Cache-Control", "no-store");
            let _ = conn.write_response(&resp, head.method == "HEAD");
            if done.is_some() {
                return done;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    fn get(port: u16, raw: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(raw.as_bytes()).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn answers_other_paths_and_rejections_then_accepts() {
        let l = Listener::bind(0).unwrap();
        let port = l.port();
        let stop = AtomicBool::new(false);
        let client = std::thread::spawn(move || {
            let a = get(port, "GET /favicon.ico HTTP/1.1\r\nHost: localhost\r\n\r\n");
            let b = get(port, "POST /auth/callback?code=x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n");
            let c = get(port, "GET /auth/callback?code=x&state=bad HTTP/1.1\r\nHost: localhost\r\n\r\n");
            let d = get(port, "GET /auth/callback?code=x&state=good HTTP/1.1\r\nHost: localhost\r\n\r\n");
            (a, b, c, d)
        });
        let got = l.wait("/auth/callback", Instant::now() + Duration::from_secs(10), &stop, |q| {
            if q.contains("state=good") { Verdict::Accept("<p>ok</p>".into()) } else { Verdict::Reject(400, "State mismatch".into()) }
        });
        assert_eq!(got.as_deref(), Some("code=x&state=good"));
        let (a, b, c, d) = client.join().unwrap();
        assert!(a.starts_with("HTTP/1.1 404"), "{a}");
        assert!(b.starts_with("HTTP/1.1 405"), "{b}");
        assert!(c.starts_with("HTTP/1.1 400") && c.ends_with("State mismatch"), "{c}");
        assert!(d.starts_with("HTTP/1.1 200") && d.contains("<p>ok</p>"), "{d}");
    }

    #[test]
    fn gives_up_at_the_deadline_or_on_stop() {
        let stop = AtomicBool::new(false);
        let started = Instant::now();
        let l = Listener::bind(0).unwrap();
        assert!(l.wait("/cb", Instant::now() + Duration::from_millis(200), &stop, |_| Verdict::Accept(String::new())).is_none());
        assert!(started.elapsed() < Duration::from_secs(2));
        stop.store(true, Ordering::Relaxed);
        let l = Listener::bind(0).unwrap();
        assert!(l.wait("/cb", Instant::now() + Duration::from_secs(60), &stop, |_| Verdict::Accept(String::new())).is_none());
    }

    #[test]
    fn an_oversized_head_is_refused_and_waiting_goes_on() {
        let l = Listener::bind(0).unwrap();
        let port = l.port();
        let stop = AtomicBool::new(false);
        let client = std::thread::spawn(move || {
            let big = format!("GET /cb?{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(10_000));
            let a = get(port, &big);
            let b = get(port, "GET /cb?ok HTTP/1.1\r\nHost: x\r\n\r\n");
            (a, b)
        });
        let got = l.wait("/cb", Instant::now() + Duration::from_secs(10), &stop, |_| Verdict::Accept("done".into()));
        assert_eq!(got.as_deref(), Some("ok"));
        let (a, b) = client.join().unwrap();
        assert!(a.starts_with("HTTP/1.1 431") || a.starts_with("HTTP/1.1 414") || a.starts_with("HTTP/1.1 400"), "{a}");
        assert!(b.starts_with("HTTP/1.1 200"), "{b}");
    }
}
