//! Deadlines on one connection's socket, for the explainer's hyper server ([`super::http`]).
//!
//! hyper's HTTP/1 server has one timer of its own, `header_read_timeout`, which starts when
//! it begins waiting for a request head and closes the connection without an answer when it
//! fires. The explainer needs finer deadlines than that, so [`Deadlines`] wraps the socket
//! that hyper reads and writes, and [`ConnState`] tells it what the connection is doing:
//!
//! | phase | set when | a pending read fails after |
//! |---|---|---|
//! | `Idle` | the connection opens, an answer is ready (and its last byte written) | `idle_timeout` (then it closes quietly) |
//! | `Head` | the first byte of the next request arrives | `request_timeout` (then a 408) |
//! | `Busy` | hyper hands a request to the service | never: the service times the body itself |
//!
//! A write (or flush) that makes no progress for `write_timeout` fails too, which drops a
//! client that does not read its answer. After hyper is done, [`linger`] closes our side and
//! drains what the client still sends, so that an answer to a refused request is not lost to
//! a TCP reset.
//!
//! ```text
//! let state = Arc::new(ConnState::new(idle, request));
//! let io = TokioIo::new(Deadlines::new(&mut stream, state.clone(), write_timeout));
//! let result = builder.serve_connection(io, service).await; // the service calls state.busy()
//! if state.head_timed_out() { /* answer 408 */ }
//! ```

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for a request's first byte since then.
    Idle(Instant),
    /// Reading a request head whose first byte came then.
    Head(Instant),
    /// A request is being answered.
    Busy,
}

#[derive(Debug)]
struct Inner {
    phase: Phase,
    /// The client closed its side (a read returned 0 bytes).
    eof: bool,
    /// The phase in which a read deadline passed.
    timed_out: Option<Phase>,
    /// A write made no progress for `write_timeout`: the client does not read.
    write_timed_out: bool,
}

/// What a connection is doing, shared by its socket wrapper and its request handler.
#[derive(Debug)]
pub struct ConnState {
    inner: Mutex<Inner>,
    idle_timeout: Duration,
    request_timeout: Duration,
}

/// Marks a connection busy while alive; idle again when dropped (answered or cancelled).
pub struct Busy<'a>(&'a ConnState);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.lock().phase = Phase::Idle(Instant::now());
    }
}

impl ConnState {
    pub fn new(idle_timeout: Duration, request_timeout: Duration) -> ConnState {
        let inner = Inner { phase: Phase::Idle(Instant::now()), eof: false, timed_out: None, write_timed_out: false };
        ConnState { inner: Mutex::new(inner), idle_timeout, request_timeout }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A request is being answered until the returned guard is dropped.
    pub fn busy(&self) -> Busy<'_> {
        self.lock().phase = Phase::Busy;
        Busy(self)
    }

    /// Whether the connection ended because a request head did not arrive in time
    /// (`hyper_timeout`: hyper's own header timer fired).
    pub fn head_timed_out(&self, hyper_timeout: bool) -> bool {
        let s = self.lock();
        matches!(s.timed_out, Some(Phase::Head(_))) || (hyper_timeout && matches!(s.phase, Phase::Head(_)))
    }

    /// Whether the client may still send bytes we have not read (so [`linger`] is worth it).
    pub fn may_send_more(&self) -> bool {
        let s = self.lock();
        !s.eof && !s.write_timed_out && !matches!(s.timed_out, Some(Phase::Idle(_)))
    }

    fn on_read(&self, n: usize) {
        let mut s = self.lock();
        if n == 0 {
            s.eof = true;
        } else if matches!(s.phase, Phase::Idle(_)) {
            s.phase = Phase::Head(Instant::now());
        }
    }

    /// An answer is still going out: idle time counts from its last byte.
    fn on_write(&self) {
        let mut s = self.lock();
        if let Phase::Idle(t) = &mut s.phase {
            *t = Instant::now();
        }
    }

    fn read_deadline(&self) -> Option<Instant> {
        match self.lock().phase {
            Phase::Idle(t) => Some(t + self.idle_timeout),
            Phase::Head(t) => Some(t + self.request_timeout),
            Phase::Busy => None,
        }
    }

    fn on_read_timeout(&self) {
        let mut s = self.lock();
        s.timed_out = Some(s.phase);
    }
}

/// A socket with read deadlines from a [`ConnState`] and a write deadline.
pub struct Deadlines<'a> {
    tcp: &'a mut TcpStream,
    state: Arc<ConnState>,
    write_timeout: Duration,
    read_timer: Pin<Box<Sleep>>,
    read_armed: Option<Instant>,
    write_timer: Pin<Box<Sleep>>,
    write_armed: bool,
}

impl<'a> Deadlines<'a> {
    pub fn new(tcp: &'a mut TcpStream, state: Arc<ConnState>, write_timeout: Duration) -> Deadlines<'a> {
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        Deadlines {
            tcp,
            state,
            write_timeout,
            read_timer: Box::pin(tokio::time::sleep_until(far)),
            read_armed: None,
            write_timer: Box::pin(tokio::time::sleep_until(far)),
            write_armed: false,
        }
    }

    /// A write that could not proceed: fails once it has waited `write_timeout`.
    fn write_pending<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        if !self.write_armed {
            self.write_timer.as_mut().reset(Instant::now() + self.write_timeout);
            self.write_armed = true;
        }
        if self.write_timer.as_mut().poll(cx).is_ready() {
            self.write_armed = false;
            self.state.lock().write_timed_out = true;
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not read its answer in time",
            )));
        }
        Poll::Pending
    }

    fn wrote<T>(&mut self, r: io::Result<T>) -> Poll<io::Result<T>> {
        self.write_armed = false;
        self.state.on_write();
        Poll::Ready(r)
    }
}

impl AsyncRead for Deadlines<'_> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut *this.tcp).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.state.on_read(buf.filled().len() - before);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some(deadline) = this.state.read_deadline() else { return Poll::Pending };
                if this.read_armed != Some(deadline) {
                    this.read_timer.as_mut().reset(deadline);
                    this.read_armed = Some(deadline);
                }
                if this.read_timer.as_mut().poll(cx).is_ready() {
                    this.state.on_read_timeout();
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "read deadline passed")));
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for Deadlines<'_> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut *this.tcp).poll_write(cx, data) {
            Poll::Ready(r) => this.wrote(r),
            Poll::Pending => this.write_pending(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut *this.tcp).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => this.wrote(r),
            Poll::Pending => this.write_pending(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut *this.tcp).poll_flush(cx) {
            Poll::Ready(r) => this.wrote(r),
            Poll::Pending => this.write_pending(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut *this.tcp).poll_shutdown(cx) {
            Poll::Ready(r) => this.wrote(r),
            Poll::Pending => this.write_pending(cx),
        }
    }
}

/// Closes our side, then reads and drops what the client still sends (a refused body) for
/// `limit` at most, so that our last answer is not lost to a reset before the client reads it.
pub async fn linger(tcp: &mut TcpStream, limit: Duration) {
    let _ = tcp.shutdown().await;
    let _ = tokio::time::timeout(limit, async {
        let mut buf = vec![0u8; 16 << 10];
        let mut drained = 0usize;
        while drained < (64 << 20) {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
}
