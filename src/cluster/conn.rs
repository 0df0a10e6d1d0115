//! The connection to Redis, made in the background when the proxy starts and retried
//! with backoff until Redis answers; afterwards the client reconnects by itself. A
//! request waits for the first connection (within `timeout`); once an attempt has
//! failed, a call without a connection fails at once (and `on_error` applies).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::FromRedisValue;

use crate::config::ClusterConfig;
use crate::record::metrics::METRICS;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("not connected to Redis yet")]
    NotConnected,
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
}

#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// The longest a connection attempt waits.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

fn certificates(ca: &[u8]) -> redis::TlsCertificates {
    redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(ca.to_vec()),
    }
}

async fn connect(cfg: &ClusterConfig) -> Result<Conn, ClusterError> {
    if cfg.cluster_mode {
        let mut b = redis::cluster::ClusterClientBuilder::new(cfg.urls.clone())
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(CONNECT_TIMEOUT);
        if let Some(ca) = &cfg.tls_ca {
            b = b.certs(certificates(ca));
        }
        Ok(Conn::Cluster(b.build()?.get_async_connection().await?))
    } else {
        let client = match &cfg.tls_ca {
            Some(ca) => redis::Client::build_with_tls(cfg.urls[0].as_str(), certificates(ca))?,
            None => redis::Client::open(cfg.urls[0].as_str())?,
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        Ok(Conn::Single(
            ConnectionManager::new_with_config(client, config).await?,
        ))
    }
}

/// Connect once and `PING`, for `riskgate check`.
pub fn ping(cfg: &ClusterConfig) -> Result<(), ClusterError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClusterError::Redis(e.into()))?;
    rt.block_on(async {
        let attempt = async {
            let mut c = connect(cfg).await?;
            let pong: String = match &mut c {
                Conn::Single(m) => redis::cmd("PING").query_async(m).await?,
                Conn::Cluster(k) => redis::cmd("PING").query_async(k).await?,
            };
            Ok::<String, ClusterError>(pong)
        };
        match tokio::time::timeout(CONNECT_TIMEOUT * 2, attempt).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(ClusterError::Timeout(CONNECT_TIMEOUT * 2)),
        }
    })
}

/// The live connection, or none yet.
///
/// The connection is made on the runtime of the requests that use it (the proxy's),
/// so that a call and its answer never cross threads: the proxy's service starts it
/// when it starts ([`Link::connect_soon`]; a request does too, for a cluster a reload
/// brought in), retrying with backoff (100 ms to 5 s) until Redis answers. Until the
/// first attempt has failed, a call waits for the connection (within the caller's
/// `timeout`): a new replica is exact from its first request. Afterwards the client
/// reconnects by itself.
pub struct Link {
    shared: Arc<Shared>,
    connecting: std::sync::atomic::AtomicBool,
    cfg: ClusterConfig,
    /// when a failure was last logged (s since `born`): at most one a second
    last_log: AtomicU64,
    born: Instant,
}

struct Shared {
    conn: ArcSwapOption<Conn>,
    /// woken when the connection is up
    up: tokio::sync::Notify,
    /// an attempt failed: calls no longer wait for the connection
    failed_once: AtomicBool,
}

impl Link {
    pub fn start(cfg: &ClusterConfig) -> Link {
        METRICS.cluster_up.set(0);
        Link {
            shared: Arc::new(Shared {
                conn: ArcSwapOption::<Conn>::empty(),
                up: tokio::sync::Notify::new(),
                failed_once: AtomicBool::new(false),
            }),
            connecting: std::sync::atomic::AtomicBool::new(false),
            cfg: cfg.clone(),
            last_log: AtomicU64::new(u64::MAX),
            born: Instant::now(),
        }
    }

    pub fn connected(&self) -> bool {
        self.shared.conn.load().is_some()
    }

    /// Start connecting, once, on the current runtime (when there is one).
    pub fn connect_soon(&self) {
        if self.connecting.load(Ordering::Relaxed) || self.connecting.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            self.connecting.store(false, Ordering::Release);
            return;
        };
        // the task holds the link weakly: once the cluster is dropped (a reload that
        // changed `cluster`), it stops trying
        let slot = Arc::downgrade(&self.shared);
        let cfg = self.cfg.clone();
        rt.spawn(async move {
            let mut delay = Duration::from_millis(100);
            loop {
                if slot.strong_count() == 0 {
                    return;
                }
                match connect(&cfg).await {
                    Ok(c) => {
                        if let Some(s) = slot.upgrade() {
                            s.conn.store(Some(Arc::new(c)));
                            s.up.notify_waiters();
                            METRICS.cluster_up.set(1);
                            tracing::info!(redis = %cfg.display, "cluster connected");
                        }
                        return;
                    }
                    Err(e) => {
                        if let Some(s) = slot.upgrade() {
                            s.failed_once.store(true, Ordering::Release);
                            // waiting calls give up now: on_error applies
                            s.up.notify_waiters();
                        }
                        tracing::warn!(redis = %cfg.display, error = %e, retry_in_ms = delay.as_millis() as u64, "cluster: cannot connect; limits follow on_error meanwhile");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                }
            }
        });
    }

    /// The connection: at once when it is up; while the first attempt is under way,
    /// once it is up (the caller bounds the wait); else not connected.
    async fn conn(&self) -> Result<Arc<Conn>, ClusterError> {
        loop {
            let woken = self.shared.up.notified();
            if let Some(c) = self.shared.conn.load_full() {
                return Ok(c);
            }
            self.connect_soon();
            if self.shared.failed_once.load(Ordering::Acquire) {
                return Err(ClusterError::NotConnected);
            }
            woken.await;
        }
    }

    /// Run a script.
    pub async fn invoke<T: FromRedisValue>(
        &self,
        inv: &redis::ScriptInvocation<'_>,
    ) -> Result<T, ClusterError> {
        let c = self.conn().await?;
        Ok(match &*c {
            Conn::Single(m) => inv.invoke_async(&mut m.clone()).await?,
            Conn::Cluster(k) => inv.invoke_async(&mut k.clone()).await?,
        })
    }

    /// Note an answered call: the gauge goes (back) to 1.
    pub fn healthy(&self) {
        METRICS.cluster_up.set(1);
    }

    /// Note a failed call: the gauge goes to 0; logged at most once a second.
    pub fn failed(&self, e: &ClusterError) {
        METRICS.cluster_up.set(0);
        let now = self.born.elapsed().as_secs();
        let last = self.last_log.swap(now, Ordering::Relaxed);
        if last != now {
            tracing::warn!(redis = %self.cfg.display, error = %e, "cluster call failed; on_error applies");
        }
    }
}
