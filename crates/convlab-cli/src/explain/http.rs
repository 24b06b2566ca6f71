//! The explainer's web server: hyper's HTTP/1.1 on a tokio runtime, one task per
//! connection, with the limits and deadlines a server without login needs.
//!
//! ```text
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let handler: Arc<Handler> = Arc::new(|req: &Request| Response::error(404, format!("no {}", req.target)));
//! http::serve(listener, &HttpConfig::default(), handler, |_req: &Request| false)?;
//! ```
//!
//! Why tasks and not a pool of threads: tiny_http 0.12 (used first) queued each new
//! connection for its pool while it counted idle threads, and each thread then served one
//! connection until the client closed it, blocked without a timeout on a kept-alive
//! connection. A fresh browser opens a burst of connections on its first page load (six for
//! the style sheet and scripts, plus speculative preconnects that send nothing), so requests
//! on the queued connections were not read until Chromium dropped an idle connection minutes
//! later: the page hung ("Timed out receiving message from renderer" in headless Chromium;
//! 4 of 8 connections opened at once were answered). Here a connection never waits for
//! another one: each is a tokio task, and hyper parses and writes HTTP/1.1.
//!
//! | limit | how |
//! |---|---|
//! | head ≤ [`HttpConfig::head_bytes`] (431) | hyper's `max_header_size` (hyper's 431 has an empty body; at most 100 header lines) |
//! | body ≤ [`HttpConfig::body_bytes`] (413) | `Content-Length` checked before reading; [`Limited`] while reading (chunked bodies too) |
//! | head within `request_timeout` of its first byte (408) | [`deadline::Deadlines`]; hyper's `header_read_timeout` as a backstop |
//! | body piece within `request_timeout` (408) | a timeout around each body frame |
//! | idle kept-alive connection: `idle_timeout` | [`deadline::Deadlines`] (closed quietly) |
//! | a client not reading its answer: `write_timeout` | [`deadline::Deadlines`] |
//! | at most `max_connections` open (503) | a semaphore in the accept loop |
//! | at most `workers` answers computed at once | a semaphore, then `spawn_blocking` |
//!
//! Errors found here are answered as `{"error": ...}` with `Connection: close`, except the
//! ones hyper answers itself while parsing a head (400, 431: empty body). A request whose
//! head did not arrive in time, or one over `max_connections`, gets a fixed 408 or 503 answer
//! written directly, since hyper has no request to answer then.
//!
//! Every answer written here carries [`CONTENT_SECURITY_POLICY`] (scripts only from the
//! server's own files: no inline script, no inline event handlers, no `eval`, no plugins, no
//! framing) and `X-Content-Type-Options: nosniff`, so that a string from a file or a request
//! that reached the page as markup by mistake still could not run script.

use std::convert::Infallible;
use std::io;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{
    HeaderValue, CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, CONTENT_SECURITY_POLICY as CSP_HEADER, CONTENT_TYPE,
    EXPECT, HOST, X_CONTENT_TYPE_OPTIONS,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use super::deadline::{self, ConnState, Deadlines};

/// The `Content-Security-Policy` of every answer. The page is its own files (`'self'`): module
/// scripts, one style sheet, `fetch` to the JSON API; it draws on canvases and sets styles
/// only through the CSSOM (`element.style.x = ...`, which a policy does not restrict), so it
/// needs no inline script or style, no `data:` or `blob:` images and no other origin. It builds
/// no markup from strings either, so Trusted Types can be required: the browser itself refuses
/// any string written to `innerHTML` and its kin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
    require-trusted-types-for 'script'";

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
    /// How long a write of a response may make no progress on a client that does not read.
    pub write_timeout: Duration,
    /// Open connections at most; more are answered 503 and closed at once.
    pub max_connections: usize,
    /// Answers computed at once (requests for which `computes` is true); more wait.
    pub workers: usize,
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
            workers: 8,
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
        Response {
            status,
            content_type: "application/json",
            body: serde_json::to_vec(&serde_json::json!({ "error": msg.to_string() })).unwrap_or_default(),
        }
    }
}

/// Answers a request. It runs on a blocking thread when `computes` says so, on the
/// connection's task (so it must be quick) otherwise.
pub type Handler = dyn Fn(&Request) -> Response + Send + Sync;

/// Whether a request computes (waits for one of [`HttpConfig::workers`]).
pub type Computes = fn(&Request) -> bool;

struct Shared {
    cfg: HttpConfig,
    handler: Arc<Handler>,
    computes: Computes,
    workers: Arc<Semaphore>,
}

/// Accepts connections on `listener` until it fails for good, each on its own task.
pub fn serve(listener: TcpListener, cfg: &HttpConfig, handler: Arc<Handler>, computes: Computes) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("explain-http").build()?;
    rt.block_on(async move {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let open = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
        let shared = Arc::new(Shared {
            cfg: cfg.clone(),
            handler,
            computes,
            workers: Arc::new(Semaphore::new(cfg.workers.max(1))),
        });
        loop {
            let mut tcp = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                    ) =>
                {
                    continue
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait for connections to end.
                    eprintln!("warning: accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = open.clone().try_acquire_owned() else {
                tokio::spawn(async move {
                    let answer = fixed(StatusCode::SERVICE_UNAVAILABLE, "too many open connections, try again");
                    let _ = tokio::time::timeout(Duration::from_secs(1), tcp.write_all(&answer)).await;
                });
                continue;
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                connection(tcp, shared).await;
                drop(permit);
            });
        }
    })
}

async fn connection(mut tcp: TcpStream, shared: Arc<Shared>) {
    let cfg = &shared.cfg;
    let _ = tcp.set_nodelay(true);
    let state = Arc::new(ConnState::new(cfg.idle_timeout, cfg.request_timeout));
    let result = {
        let io = TokioIo::new(Deadlines::new(&mut tcp, state.clone(), cfg.write_timeout));
        let (shared, state) = (shared.clone(), state.clone());
        let service = service_fn(move |req| {
            let (shared, state) = (shared.clone(), state.clone());
            async move {
                let _busy = state.busy();
                Ok::<_, Infallible>(answer(req, &shared).await)
            }
        });
        http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(cfg.idle_timeout + cfg.request_timeout)
            .max_header_size(cfg.head_bytes)
            .half_close(true)
            .serve_connection(io, service)
            .await
    };
    let hyper_timeout = result.as_ref().is_err_and(|e| e.is_timeout());
    if state.head_timed_out(hyper_timeout) {
        let msg = format!("the request head did not arrive within {} s", cfg.request_timeout.as_secs_f64());
        let _ = tokio::time::timeout(cfg.write_timeout, tcp.write_all(&fixed(StatusCode::REQUEST_TIMEOUT, &msg))).await;
    }
    if state.may_send_more() {
        deadline::linger(&mut tcp, cfg.request_timeout).await;
    }
}

/// A complete `Connection: close` answer with a JSON error, for when hyper has no request.
fn fixed(status: StatusCode, msg: &str) -> Vec<u8> {
    let body = Response::error(status.as_u16(), msg).body;
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nContent-Security-Policy: {CONTENT_SECURITY_POLICY}\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    [head.into_bytes(), body].concat()
}

fn to_hyper(resp: Response, close: bool) -> hyper::Response<Full<Bytes>> {
    let mut out = hyper::Response::new(Full::new(Bytes::from(resp.body)));
    *out.status_mut() = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = out.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(resp.content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(CSP_HEADER, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    if close {
        h.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    out
}

/// An error answer after which the connection closes (its body may be unread).
fn refuse(status: u16, msg: impl std::fmt::Display) -> hyper::Response<Full<Bytes>> {
    to_hyper(Response::error(status, msg), true)
}

async fn answer(req: hyper::Request<Incoming>, shared: &Shared) -> hyper::Response<Full<Bytes>> {
    let cfg = &shared.cfg;
    let (parts, body) = req.into_parts();
    // Origin form only: no `http://host/path`, no `*`.
    let target = match parts.uri.path_and_query() {
        Some(pq) if parts.uri.scheme().is_none() && parts.uri.authority().is_none() && pq.as_str().starts_with('/') => {
            pq.as_str().to_string()
        }
        _ => return refuse(400, "the request target must be a path starting with '/'"),
    };
    let header =
        |name| parts.headers.get(name).map(|v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if let Some(e) = header(EXPECT).filter(|e| !e.eq_ignore_ascii_case("100-continue")) {
        return refuse(417, format!("unsupported expectation '{e}'"));
    }
    if let Some(len) =
        header(CONTENT_LENGTH).and_then(|v| v.trim().parse::<u64>().ok()).filter(|n| *n > cfg.body_bytes as u64)
    {
        return refuse(413, format!("request body of {len} bytes is over the limit of {} bytes", cfg.body_bytes));
    }
    let mut body = Limited::new(body, cfg.body_bytes);
    let mut bytes = Vec::new();
    loop {
        match tokio::time::timeout(cfg.request_timeout, body.frame()).await {
            Err(_) => {
                return refuse(408, format!("the request body stalled for {} s", cfg.request_timeout.as_secs_f64()))
            }
            Ok(None) => break,
            Ok(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    bytes.extend_from_slice(data);
                }
            }
            Ok(Some(Err(e))) if e.is::<http_body_util::LengthLimitError>() => {
                return refuse(413, format!("request body over the limit of {} bytes", cfg.body_bytes));
            }
            Ok(Some(Err(e))) => return refuse(400, format!("reading the request body failed: {e}")),
        }
    }
    if cfg.loopback_hosts_only && !header(HOST).is_none_or(|h| is_loopback_host(&h)) {
        return to_hyper(
            Response::error(
                403,
                "this server answers only requests addressed to localhost, 127.0.0.1 or [::1] (see --allow-remote)",
            ),
            false,
        );
    }
    let headers = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let req = Request { method: parts.method.as_str().to_string(), target, headers, body: bytes };
    let resp = if (shared.computes)(&req) {
        let handler = shared.handler.clone();
        let Ok(permit) = shared.workers.clone().acquire_owned().await else {
            return refuse(503, "the server is shutting down");
        };
        // The permit moves into the blocking task: it is held while computing even if the
        // client goes away and this future is dropped.
        let job = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            handler(&req)
        });
        job.await.unwrap_or_else(|e| Response::error(500, format!("internal error: {e}")))
    } else {
        (shared.handler)(&req)
    };
    to_hyper(resp, false)
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
    name == "localhost"
        || name.ends_with(".localhost")
        || name == "::1"
        || name.parse::<std::net::Ipv4Addr>().is_ok_and(|a| a.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn loopback_hosts() {
        for h in ["localhost", "localhost:7860", "127.0.0.1:80", "127.1.2.3", "[::1]:7860", "[::1]", "app.localhost:1"]
        {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["example.com", "evil.com:7860", "10.0.0.1:7860", "localhost.evil.com", "[::2]:1", "127.0.0.1.nip.io"]
        {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
