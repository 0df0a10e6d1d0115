//! A client connection with riskgate's deadlines: Pingora times out single reads only
//! and keeps an HTTP/1.1 keep-alive connection for ever, so the stream itself bounds
//! the time a client may sit idle between requests (`keepalive_timeout`) and the
//! whole time a request's head may take (`header_timeout`).
//!
//! The proxy tells the stream where a request is ([`ClientStream::head_done`] once
//! Pingora has parsed the head, [`ClientStream::request_done`] once it has answered);
//! the stream sees the first byte of the next head itself. A deadline applies only to
//! a read that would wait: a client sending at full speed never touches the timer.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::protocols::l4::socket::SocketAddr;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::tls::{SslDigest, TlsRef};
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream,
    TimingDigest, UniqueID, UniqueIDType, ALPN,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::record::metrics::METRICS;

/// Waiting for a request (after the last answer, or since accept).
const IDLE: u8 = 0;
/// A head has begun and is not parsed yet.
const HEAD: u8 = 1;
/// The head is parsed: the request's own timeouts apply (body, upstream).
const BUSY: u8 = 2;

/// The two deadlines, as configured when the connection was accepted.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub keepalive: Duration,
    pub header: Duration,
    /// the most bytes a head may take (Pingora's own limit is 1 MiB)
    pub max_head: usize,
}

#[derive(Debug)]
struct Phase {
    state: AtomicU8,
    /// nanoseconds from `born` to when the state began (for the first request: accept)
    since: AtomicU64,
    /// whether a request was answered on this connection already
    reused: std::sync::atomic::AtomicBool,
}

pub struct ClientStream {
    inner: Stream,
    phase: Phase,
    born: Instant,
    limits: Deadlines,
    /// the armed timer and the deadline (ns from `born`) it is armed for
    timer: Option<(Pin<Box<tokio::time::Sleep>>, u64)>,
    /// bytes read since the head in progress began
    head_bytes: usize,
    /// held while the connection is open (the per-address count)
    _held: Option<super::per_ip::Held>,
}

impl std::fmt::Debug for ClientStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientStream")
            .field("inner", &self.inner)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl ClientStream {
    pub fn new(inner: Stream, limits: Deadlines, held: Option<super::per_ip::Held>) -> Self {
        ClientStream {
            inner,
            phase: Phase {
                state: AtomicU8::new(IDLE),
                since: AtomicU64::new(0),
                reused: std::sync::atomic::AtomicBool::new(false),
            },
            born: Instant::now(),
            limits,
            timer: None,
            head_bytes: 0,
            _held: held,
        }
    }

    fn now(&self) -> u64 {
        self.born.elapsed().as_nanos() as u64
    }

    /// The stream under a session, when it is one of these.
    pub fn of(stream: Option<&Stream>) -> Option<&ClientStream> {
        stream?.as_any().downcast_ref::<ClientStream>()
    }

    /// Pingora has the whole head: no header deadline any more.
    pub fn head_done(&self) {
        self.phase.state.store(BUSY, Ordering::Release);
    }

    /// The request is answered: the keep-alive wait begins.
    pub fn request_done(&self) {
        self.phase.since.store(self.now(), Ordering::Relaxed);
        self.phase.reused.store(true, Ordering::Relaxed);
        self.phase.state.store(IDLE, Ordering::Release);
    }

    /// The deadline of a read that would wait now (ns from `born`), and whether it is
    /// a head's; `None` while a request is being served.
    fn deadline(&self) -> Option<(u64, bool)> {
        let since = self.phase.since.load(Ordering::Relaxed);
        let ns = |d: Duration| d.as_nanos() as u64;
        match self.phase.state.load(Ordering::Acquire) {
            // the first request of a connection: its head is due header_timeout after
            // accept, however long the client waited before its first byte
            IDLE if !self.phase.reused.load(Ordering::Relaxed) => {
                Some((since + ns(self.limits.header), true))
            }
            IDLE => Some((since + ns(self.limits.keepalive), false)),
            HEAD => Some((since + ns(self.limits.header), true)),
            _ => None,
        }
    }

    /// `n` bytes were read: while waiting for a request, a head begins; while a head
    /// is read, they count against `max_head`.
    fn saw_bytes(&mut self, n: usize) -> io::Result<()> {
        match self.phase.state.load(Ordering::Acquire) {
            IDLE => {
                if self.phase.reused.load(Ordering::Relaxed) {
                    self.phase.since.store(self.now(), Ordering::Relaxed);
                }
                self.phase.state.store(HEAD, Ordering::Release);
                self.head_bytes = n;
            }
            HEAD => self.head_bytes += n,
            _ => return Ok(()),
        }
        if self.head_bytes > self.limits.max_head {
            METRICS.heads_too_large.inc();
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the request head is larger than server.max_header_bytes",
            ));
        }
        Ok(())
    }
}

impl AsyncRead for ClientStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len() - before;
                if n > 0 {
                    return Poll::Ready(self.saw_bytes(n));
                }
                return Poll::Ready(Ok(()));
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {}
        }
        let Some((due, head)) = self.deadline() else {
            return Poll::Pending;
        };
        let this = &mut *self;
        let at = |ns: u64| tokio::time::Instant::from_std(this.born + Duration::from_nanos(ns));
        // One timer a connection, re-armed lazily: each answered request moves the
        // deadline later, and the timer is left where it was (no timer-wheel work a
        // request); when it fires before the deadline now due, it is armed again for
        // that. Only a deadline that moved earlier (a head begun) resets it at once.
        let (sleep, armed) = this
            .timer
            .get_or_insert_with(|| (Box::pin(tokio::time::sleep_until(at(due))), due));
        if due < *armed {
            sleep.as_mut().reset(at(due));
            *armed = due;
        }
        loop {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if *armed >= due {
                break;
            }
            sleep.as_mut().reset(at(due));
            *armed = due;
        }
        let started = this.phase.state.load(Ordering::Acquire) == HEAD;
        if head && started {
            METRICS.client_timeouts.with_label_values(&["header"]).inc();
        }
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            if head {
                "the request head did not arrive within server.header_timeout"
            } else {
                "idle past server.keepalive_timeout"
            },
        )))
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for ClientStream {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await
    }
}

impl UniqueID for ClientStream {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for ClientStream {
    fn get_ssl(&self) -> Option<&TlsRef> {
        self.inner.get_ssl()
    }
    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        self.inner.get_ssl_digest()
    }
    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for ClientStream {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }
    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }
    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for ClientStream {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }
    fn set_proxy_digest(&mut self, d: ProxyDigest) {
        self.inner.set_proxy_digest(d)
    }
}

impl GetSocketDigest for ClientStream {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }
    fn set_socket_digest(&mut self, d: SocketDigest) {
        self.inner.set_socket_digest(d)
    }
}

#[async_trait]
impl Peek for ClientStream {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

/// The peer's address of a stream, when it is an IP socket.
pub fn peer_of(stream: &Stream) -> Option<std::net::IpAddr> {
    let d = stream.get_socket_digest()?;
    match d.peer_addr()? {
        SocketAddr::Inet(a) => Some(a.ip()),
        _ => None,
    }
}
