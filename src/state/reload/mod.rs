//! Live data and live config, off the request path. This module holds the
//! reloader's state and its service loop; the jobs have a module each:
//! [`config`] re-reads `gateway.yaml`, [`sources`] watches and fetches the data
//! sources, [`housekeeping`] sweeps limiters and refreshes gauges.
//!
//! One background service owns every change to the snapshot in service:
//! file sources are re-read when their mtime or size changes (checked every
//! `reload`, and at once on SIGHUP), URL sources are fetched every `refresh` with
//! conditional requests and backoff, and the config is re-read on SIGHUP or
//! `POST /reload`. A new piece is built completely before one atomic swap; anything
//! that fails to build leaves the data in service as it was, and says so in the log
//! and in `riskgate_reloads_total{result="error"}`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::sync::Notify;

use crate::config::{FeedFormat, Source};
use crate::intel::fetch::{Fetcher, Validators};
use crate::intel::SourceId;
use crate::state::SharedSnapshot;

mod config;
mod decisions;
mod housekeeping;
mod sources;

pub use decisions::DecisionsService;
pub use sources::check_urls;

const SWEEP_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
struct SourceState {
    id: SourceId,
    source: Source,
    interval: Duration,
    max_shrink: f64,
    /// a list's configured format (`None`: detected, and must not change)
    format: Option<FeedFormat>,
    file_sig: Option<(SystemTime, u64)>,
    validators: Validators,
    loaded_at: Option<Instant>,
    next_due: Instant,
    failures: u32,
    last_error: Option<String>,
}

/// What `/readyz` and the metrics show of one source.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceStatus {
    pub source: String,
    pub from: String,
    pub loaded: bool,
    pub age_seconds: Option<u64>,
    pub last_error: Option<String>,
}

pub struct Reloader {
    state: SharedSnapshot,
    config_path: PathBuf,
    sources: Mutex<Vec<SourceState>>,
    /// serialises every change to the snapshot
    lock: tokio::sync::Mutex<()>,
    fetcher: Mutex<Fetcher>,
    wake: Notify,
    force: AtomicBool,
}

impl Reloader {
    pub fn new(state: SharedSnapshot, config_path: PathBuf) -> Arc<Reloader> {
        let snap = state.load_full();
        let fetcher = Fetcher::new(snap.config.intel.fetch_timeout);
        let sources = sources::states_for(&snap, Instant::now());
        crate::record::metrics::register_sources(
            &sources.iter().map(|s| s.id.name()).collect::<Vec<_>>(),
        );
        crate::record::metrics::register_config(&snap.config);
        Arc::new(Reloader {
            state,
            config_path,
            sources: Mutex::new(sources),
            lock: tokio::sync::Mutex::new(()),
            fetcher: Mutex::new(fetcher),
            wake: Notify::new(),
            force: AtomicBool::new(false),
        })
    }

    /// Check every source now (as SIGHUP does).
    pub fn check_all_now(&self) {
        self.force.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Ready once every configured source has loaded once and, with `cluster`, the
    /// shared store is connected (a replica that is not would limit on its own).
    pub fn ready(&self) -> bool {
        self.cluster_connected().unwrap_or(true)
            && self
                .sources
                .lock()
                .unwrap()
                .iter()
                .all(|s| s.loaded_at.is_some())
    }

    /// Whether the cluster is connected; `None` without `cluster`.
    pub fn cluster_connected(&self) -> Option<bool> {
        self.state.load().cluster.as_ref().map(|c| c.connected())
    }

    pub fn status(&self) -> Vec<SourceStatus> {
        self.sources
            .lock()
            .unwrap()
            .iter()
            .map(|s| SourceStatus {
                source: s.id.name(),
                from: s.source.to_string(),
                loaded: s.loaded_at.is_some(),
                age_seconds: s.loaded_at.map(|t| t.elapsed().as_secs()),
                last_error: s.last_error.clone(),
            })
            .collect()
    }
}

/// The background service that runs the [`Reloader`].
pub struct ReloadService(pub Arc<Reloader>);

#[async_trait]
impl BackgroundService for ReloadService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let r = &self.0;
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; use POST /reload");
                None
            }
        };
        let mut last_sweep = Instant::now();
        loop {
            r.poll().await;
            r.update_gauges();
            crate::record::live::LIVE.tick();
            if last_sweep.elapsed() >= SWEEP_EVERY {
                let dropped = r.state.load().limiters.sweep();
                tracing::debug!(dropped, "idle limiter keys dropped");
                last_sweep = Instant::now();
            }
            let wait = r.next_wake();
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = r.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                    tracing::info!("SIGHUP: reloading the config and checking every data source");
                    let _ = r.reload_config().await;
                    r.force.store(true, Ordering::SeqCst);
                }
            }
        }
    }
}
