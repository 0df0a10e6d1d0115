//! The connection to Redis: made on a thread of its own (with its own runtime, which
//! drives the connection for the process's life), retried with backoff until Redis
//! answers; afterwards the client reconnects by itself. Requests never wait for a
//! connection: until there is one, a call fails at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::FromRedisValue;
use tokio::sync::Notify;

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

async fn connect(cfg: &ClusterConfig) -> Result<Conn, ClusterError> {
    if cfg.cluster_mode {
        let client = redis::cluster::ClusterClientBuilder::new(cfg.urls.clone())
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(CONNECT_TIMEOUT)
            .build()?;
        Ok(Conn::Cluster(client.get_async_connection().await?))
    } else {
        let client = redis::Client::open(cfg.urls[0].as_str())?;
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

/// The live connection, or none yet; and whether Redis answered last time.
pub struct Link {
    conn: Arc<ArcSwapOption<Conn>>,
    stop: Arc<Notify>,
    display: String,
    /// when a failure was last logged (s since `born`): at most one a second
    last_log: AtomicU64,
    born: Instant,
}

impl Link {
    pub fn start(cfg: &ClusterConfig) -> Link {
        let conn = Arc::new(ArcSwapOption::<Conn>::empty());
        let stop = Arc::new(Notify::new());
        METRICS.cluster_up.set(0);
        let display = cfg.display.clone();
        let (slot, stopped, cfg) = (conn.clone(), stop.clone(), cfg.clone());
        let spawned = std::thread::Builder::new()
            .name("riskgate-cluster".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!(error = %e, "cluster: cannot start its runtime");
                        return;
                    }
                };
                rt.block_on(async move {
                    let mut delay = Duration::from_millis(100);
                    loop {
                        tokio::select! {
                            _ = stopped.notified() => return,
                            r = connect(&cfg) => match r {
                                Ok(c) => {
                                    slot.store(Some(Arc::new(c)));
                                    METRICS.cluster_up.set(1);
                                    tracing::info!(redis = %cfg.display, "cluster connected");
                                    break;
                                }
                                Err(e) => {
                                    tracing::warn!(redis = %cfg.display, error = %e, retry_in_ms = delay.as_millis() as u64, "cluster: cannot connect; limits follow on_error meanwhile");
                                    tokio::select! {
                                        _ = stopped.notified() => return,
                                        _ = tokio::time::sleep(delay) => {}
                                    }
                                    delay = (delay * 2).min(Duration::from_secs(5));
                                }
                            }
                        }
                    }
                    // the connection's tasks live on this runtime: keep it until the
                    // cluster is dropped (a reload that changed `cluster`)
                    stopped.notified().await;
                });
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cluster: cannot start its thread");
        }
        Link {
            conn,
            stop,
            display,
            last_log: AtomicU64::new(u64::MAX),
            born: Instant::now(),
        }
    }

    /// Run a script.
    pub async fn invoke<T: FromRedisValue>(
        &self,
        inv: &redis::ScriptInvocation<'_>,
    ) -> Result<T, ClusterError> {
        let Some(c) = self.conn.load_full() else {
            return Err(ClusterError::NotConnected);
        };
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
            tracing::warn!(redis = %self.display, error = %e, "cluster call failed; on_error applies");
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.stop.notify_one();
    }
}
