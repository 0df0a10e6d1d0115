//! The client side of the proxy, before any request: each accepted connection is
//! counted against its address's `server.max_connections_per_ip` (trusted proxies
//! aside: their pooled connections carry many clients), and its stream gets the
//! keep-alive and header deadlines ([`stream::ClientStream`]). Pingora's own app runs
//! on the wrapped stream unchanged. The admin port's connections get the deadlines
//! only ([`Bounded::deadlines_only`]).
//!
//! The service also starts, on the proxy's own runtime, what must be ready before the
//! first request (the cluster's connection), so that no call crosses threads.

pub mod per_ip;
pub mod stream;

use std::sync::Arc;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::Stream;
use pingora::server::{ListenFds, ShutdownWatch};
use pingora::services::Service;

use crate::state::SharedSnapshot;
use per_ip::PerIp;
use stream::{ClientStream, Deadlines};

/// Pingora's app behind riskgate's per-connection bounds.
pub struct Bounded<A> {
    app: Arc<A>,
    state: SharedSnapshot,
    /// the per-address count, for the proxy's listeners (the admin port has the
    /// deadlines only: its clients are operators and scrapers)
    per_ip: Option<Arc<PerIp>>,
}

impl<A> Bounded<A> {
    /// The proxy's clients: deadlines, and counted against `max_connections_per_ip`.
    pub fn new(app: A, state: SharedSnapshot) -> Bounded<A> {
        Bounded {
            app: Arc::new(app),
            state,
            per_ip: Some(Arc::new(PerIp::default())),
        }
    }

    /// The deadlines only (the admin port).
    pub fn deadlines_only(app: A, state: SharedSnapshot) -> Bounded<A> {
        Bounded {
            app: Arc::new(app),
            state,
            per_ip: None,
        }
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for Bounded<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let peer = stream::peer_of(&stream).map(crate::intel::canonical);
        let (limits, trusted) = {
            let snap = self.state.load();
            let cfg = &snap.config;
            let trusted = peer.is_some_and(|ip| crate::path::client::trusted(&cfg.client_ip, ip));
            (cfg.client_limits, trusted)
        };
        let held = match (peer, &self.per_ip) {
            // a trusted proxy's connections are not capped
            (Some(ip), Some(per_ip)) if !trusted => {
                match PerIp::admit(per_ip, ip, limits.max_connections_per_ip) {
                    Some(h) => Some(h),
                    None => {
                        tracing::debug!(client = %ip, max = limits.max_connections_per_ip, "connection refused: server.max_connections_per_ip");
                        return None;
                    }
                }
            }
            _ => None,
        };
        let deadlines = Deadlines {
            keepalive: limits.keepalive_timeout,
            header: limits.header_timeout,
            max_head: limits.max_header_bytes,
        };
        let wrapped: Stream = Box::new(ClientStream::new(stream, deadlines, held));
        self.app.process_new(wrapped, shutdown).await
    }

    async fn cleanup(&self) {
        self.app.cleanup().await
    }
}

/// The proxy's listening service, starting the cluster's connection on its runtime
/// first.
pub struct ProxyService<S> {
    inner: S,
    state: SharedSnapshot,
}

impl<S> ProxyService<S> {
    pub fn new(inner: S, state: SharedSnapshot) -> ProxyService<S> {
        ProxyService { inner, state }
    }
}

#[async_trait]
impl<S: Service> Service for ProxyService<S> {
    async fn start_service(
        &mut self,
        fds: Option<ListenFds>,
        shutdown: ShutdownWatch,
        listeners_per_fd: usize,
    ) {
        if let Some(c) = &self.state.load().cluster {
            c.connect_soon();
        }
        self.inner
            .start_service(fds, shutdown, listeners_per_fd)
            .await
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    fn threads(&self) -> Option<usize> {
        self.inner.threads()
    }

    fn listen_addresses(&self) -> Option<Vec<String>> {
        self.inner.listen_addresses()
    }
}
