//! A small HTTP/1.1 server on `std::net` for the explainer: one thread per connection, a
//! deadline on every read and write, bounded request heads and bodies.
//!
//! ```text
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! http::serve(listener, &HttpConfig::default(), Arc::new(|req: &Request| Response::text(200, "hi")))?;
//! ```
//!
//! Why not an HTTP crate with a thread pool: tiny_http 0.12 (used before) gives each accepted
//! connection to an internal task pool, which queues the connection instead of starting a
//! thread whenever its counter of idle threads is above zero. That counter drops only once a
//! woken thread actually runs, so when several connections arrive at once every one of them
//! is queued for the same 4 idle threads; each thread then serves its connection until the
//! client closes it, blocked without any timeout on reading the next request of a kept-alive
//! connection. A fresh browser opens exactly such a burst on its first page load (six
//! parallel connections for the style sheet and scripts, plus speculative preconnects that
//! send nothing), so the requests on the queued connections were never read until Chromium
//! dropped an idle connection minutes later: the page's scripts or its first API call hung
//! and headless Chromium reported "Timed out receiving message from renderer". Later loads
//! reused the connections that had been served, which is why a reload recovered. (Reproduced
//! with 8 connections opened at once against a fresh server: 4 of 8 answered.)
//!
//! Here a connection never waits for another one: each has its own thread (at most
//! [`HttpConfig::max_connections`] at once; over that a connection is answered 503 and
//! closed), an idle kept-alive connection is closed after [`HttpConfig::idle_timeout`], a
//! request's head must arrive within [`HttpConfig::request_timeout`] of its first byte (a
//! client sending one byte per second is cut off, not waited for), a body must keep coming,
//! and a response write that the client does not take within [`HttpConfig::write_timeout`]
//! ends the connection. Every response carries a `Content-Length`. Computing answers is
//! bounded separately (see `super::Gate`), so connections are cheap and computations are not
//! oversubscribed.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Limits and timeouts of the server.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// The largest request head (request line and headers), in bytes: larger is 431.
    pub head_bytes: usize,
    /// The largest request body, in bytes: a larger `Content-Length` is 413, unread.
    pub body_bytes: usize,
    /// How long a request's head may take from its first byte, and the longest wait for
    /// the next piece of a body: later is 408 and the connection closes.
    pub request_timeout: Duration,
    /// How long a connection may wait for its (next) request before it is closed.
    pub idle_timeout: Duration,
    /// How long one write of a response may block on a client that does not read.
    pub write_timeout: Duration,
    /// Open connections at most; more are answered 503 and closed at once.
    pub max_connections: usize,
    /// Accept only `Host` headers naming this machine's loopback (`localhost`, `127.0.0.1`,
    /// `[::1]`), so that a web page elsewhere cannot reach the server through a DNS name it
    /// controls (DNS rebinding).
    pub loopback_hosts_only: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            head_bytes: 16 << 10,
            body_bytes: 16 << 20,
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(15),
            write_timeout: Duration::from_secs(10),
            max_connections: 256,
            loopback_hosts_only: true,
        }
    }
}

/// A request whose head and body have been read completely.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// The request target as sent: `/api/run?maps=4`.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A complete response; `Content-Length` is its body's length.
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    /// `{"error": msg}` with `status`.
    pub fn error(status: u16, msg: impl std::fmt::Display) -> Response {
        Response { status, content_type: "application/json", body: serde_json::to_vec(&serde_json::json!({ "error": msg.to_string() })).unwrap_or_default() }
    }
}

/// Answers a request; must not block for long (it runs on the connection's thread).
pub type Handler = dyn Fn(&Request) -> Response + Send + Sync;

/// Accepts connections on `listener` until it fails for good, each on its own thread.
pub fn serve(listener: TcpListener, cfg: &HttpConfig, handler: Arc<Handler>) -> io::Result<()> {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset) => continue,
            Err(e) => {
                // Out of file descriptors and the like: wait for connections to end.
                eprintln!("warning: accepting a connection failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if open.load(Ordering::Acquire) >= cfg.max_connections {
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let mut c = Conn { stream, buf: Vec::new() };
            let _ = c.write_response("GET", Response::error(503, "too many open connections, try again"), false);
            continue;
        }
        open.fetch_add(1, Ordering::AcqRel);
        let guard = OpenGuard(open.clone());
        let (cfg, handler) = (cfg.clone(), handler.clone());
        let spawned = std::thread::Builder::new().name("explain-http".into()).spawn(move || {
            let _guard = guard;
            connection(stream, &cfg, &*handler);
        });
        if let Err(e) = spawned {
            eprintln!("warning: cannot start a thread for a connection: {e}");
        }
    }
}

struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why a request was not read: answered with `status` and `msg`, then the connection closes.
struct Refusal {
    status: u16,
    msg: String,
}

fn refuse<T>(status: u16, msg: impl Into<String>) -> Result<Option<T>, Refusal> {
    Err(Refusal { status, msg: msg.into() })
}

struct Conn {
    stream: TcpStream,
    /// Bytes received and not yet consumed (the start of the next request, if any).
    buf: Vec<u8>,
}

/// A parsed request and whether the connection stays open after its answer.
struct Incoming {
    req: Request,
    keep_alive: bool,
}

fn connection(stream: TcpStream, cfg: &HttpConfig, handler: &Handler) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(cfg.write_timeout));
    let mut c = Conn { stream, buf: Vec::new() };
    loop {
        match c.read_request(cfg) {
            Ok(None) => return,
            Err(r) => {
                if c.write_response("GET", Response::error(r.status, r.msg), false).is_ok() {
                    c.linger(cfg.request_timeout);
                }
                return;
            }
            Ok(Some(inc)) => {
                let resp = if cfg.loopback_hosts_only && !inc.req.header("Host").is_none_or(is_loopback_host) {
                    Response::error(403, "this server answers only requests addressed to localhost, 127.0.0.1 or [::1] (see --allow-remote)")
                } else {
                    handler(&inc.req)
                };
                if c.write_response(&inc.req.method, resp, inc.keep_alive).is_err() {
                    return;
                }
                if !inc.keep_alive {
                    c.linger(cfg.request_timeout);
                    return;
                }
            }
        }
    }
}

/// Whether a `Host` header value names the loopback interface.
fn is_loopback_host(host: &str) -> bool {
    let h = host.trim();
    let name = if let Some(rest) = h.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        h.rsplit_once(':').map_or(h, |(n, port)| if port.bytes().all(|b| b.is_ascii_digit()) { n } else { h })
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost") || name == "::1" || name.parse::<std::net::Ipv4Addr>().is_ok_and(|a| a.is_loopback())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Conn {
    /// Reads more bytes into `buf`, waiting until `deadline` at most. Ok(0): the client closed.
    fn read_more(&mut self, deadline: Instant) -> io::Result<usize> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut chunk = [0u8; 16 << 10];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(io::ErrorKind::TimedOut.into()),
                Err(e) => return Err(e),
            }
        }
    }

    /// The next request, or None when the client closed or stayed idle too long.
    fn read_request(&mut self, cfg: &HttpConfig) -> Result<Option<Incoming>, Refusal> {
        // Blank lines between requests are allowed (RFC 9112, 2.2).
        let idle_until = Instant::now() + cfg.idle_timeout;
        loop {
            let blank = self.buf.iter().take_while(|b| **b == b'\r' || **b == b'\n').count();
            self.buf.drain(..blank);
            if !self.buf.is_empty() {
                break;
            }
            match self.read_more(idle_until) {
                Ok(0) | Err(_) => return Ok(None),
                Ok(_) => {}
            }
        }
        let head_until = Instant::now() + cfg.request_timeout;
        let head_end = loop {
            if let Some(i) = find(&self.buf[..self.buf.len().min(cfg.head_bytes + 4)], b"\r\n\r\n") {
                break i;
            }
            if self.buf.len() > cfg.head_bytes {
                return refuse(431, format!("request head over the limit of {} bytes", cfg.head_bytes));
            }
            match self.read_more(head_until) {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return refuse(408, format!("the request head did not arrive within {} s", cfg.request_timeout.as_secs_f64()))
                }
                Err(_) => return Ok(None),
            }
        };
        let head: Vec<u8> = self.buf.drain(..head_end + 4).collect();
        let Ok(head) = std::str::from_utf8(&head[..head_end]) else { return refuse(400, "the request head is not valid UTF-8") };
        let mut lines = head.split("\r\n");
        let line = lines.next().unwrap_or_default();
        let mut parts = line.split(' ');
        let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return refuse(400, "malformed request line");
        };
        let http10 = match version {
            "HTTP/1.1" => false,
            "HTTP/1.0" => true,
            v if v.starts_with("HTTP/") => return refuse(505, format!("{v} is not supported: use HTTP/1.1")),
            _ => return refuse(400, "malformed request line"),
        };
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return refuse(400, "malformed request method");
        }
        if !target.starts_with('/') {
            return refuse(400, "the request target must be a path starting with '/'");
        }
        let mut headers = Vec::new();
        for l in lines {
            let Some((name, value)) = l.split_once(':') else { return refuse(400, "malformed header line") };
            if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
                return refuse(400, "malformed header name");
            }
            headers.push((name.to_string(), value.trim().to_string()));
        }
        let mut req = Request { method: method.to_string(), target: target.to_string(), headers, body: Vec::new() };
        let conn = req.header("Connection").unwrap_or("").to_ascii_lowercase();
        let keep_alive = if http10 { conn.contains("keep-alive") } else { !conn.contains("close") };
        if req.header("Transfer-Encoding").is_some() {
            return refuse(411, "send the body with a Content-Length (chunked bodies are not accepted)");
        }
        let lengths: Vec<&str> = req.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("Content-Length")).map(|(_, v)| v.as_str()).collect();
        let len = match lengths.as_slice() {
            [] => 0,
            [v] => match v.parse::<u64>() {
                Ok(n) => n,
                Err(_) => return refuse(400, format!("bad Content-Length '{v}'")),
            },
            _ => return refuse(400, "more than one Content-Length"),
        };
        if len > cfg.body_bytes as u64 {
            return refuse(413, format!("request body of {len} bytes is over the limit of {} bytes", cfg.body_bytes));
        }
        let len = len as usize;
        match req.header("Expect").map(|e| e.to_ascii_lowercase()) {
            None => {}
            Some(e) if e == "100-continue" => {
                if len > self.buf.len() && self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err() {
                    return Ok(None);
                }
            }
            Some(e) => return refuse(417, format!("unsupported expectation '{e}'")),
        }
        // The body must keep coming: each piece within request_timeout.
        while self.buf.len() < len {
            match self.read_more(Instant::now() + cfg.request_timeout) {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return refuse(408, format!("the request body stalled for {} s", cfg.request_timeout.as_secs_f64()))
                }
                Err(_) => return Ok(None),
            }
        }
        req.body = self.buf.drain(..len).collect();
        Ok(Some(Incoming { req, keep_alive }))
    }

    fn write_response(&mut self, method: &str, resp: Response, keep_alive: bool) -> io::Result<()> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: {}\r\n\r\n",
            resp.status,
            reason(resp.status),
            resp.content_type,
            resp.body.len(),
            if keep_alive { "keep-alive" } else { "close" },
        )
        .into_bytes();
        if method != "HEAD" {
            out.extend_from_slice(&resp.body);
        }
        self.stream.write_all(&out)?;
        self.stream.flush()
    }

    /// Closes our side, then reads and drops what the client still sends (a refused body)
    /// for a while, so that our answer is not lost to a reset before the client reads it.
    fn linger(&mut self, limit: Duration) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let until = Instant::now() + limit;
        let mut drained = 0usize;
        while drained < (64 << 20) {
            self.buf.clear();
            match self.read_more(until) {
                Ok(0) | Err(_) => return,
                Ok(n) => drained += n,
            }
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn loopback_hosts() {
        for h in ["localhost", "localhost:7860", "127.0.0.1:80", "127.1.2.3", "[::1]:7860", "[::1]", "app.localhost:1"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["example.com", "evil.com:7860", "10.0.0.1:7860", "localhost.evil.com", "[::2]:1", "127.0.0.1.nip.io"] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
