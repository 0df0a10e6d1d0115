//! Live data and live config, off the request path.
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

use crate::config::{self, Source};
use crate::intel::fetch::{Fetched, Fetcher, Validators};
use crate::intel::snapshot::{load_file, parse_text, sources};
use crate::intel::{Intel, IntelError, Piece, Snapshot, SourceId};
use crate::metrics::METRICS;
use crate::proxy::SharedSnapshot;

/// A file changed less than this long ago may still be being written: look again.
const SETTLE: Duration = Duration::from_millis(1000);
const SWEEP_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
struct SourceState {
    id: SourceId,
    source: Source,
    interval: Duration,
    max_shrink: f64,
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

fn states_for(snap: &Snapshot, now: Instant) -> Vec<SourceState> {
    let intel_cfg = &snap.config.intel;
    sources(intel_cfg)
        .into_iter()
        .map(|(id, source, interval)| {
            let max_shrink = match &id {
                SourceId::Tor => intel_cfg.tor.as_ref().map_or(0.5, |t| t.max_shrink),
                SourceId::List(n) => intel_cfg
                    .lists
                    .iter()
                    .find(|l| &l.name == n)
                    .map_or(0.5, |l| l.max_shrink),
                SourceId::Mmdb(_) => 1.0,
            };
            let file_sig = match &source {
                Source::File(p) => file_sig(p),
                Source::Url(_) => None,
            };
            let is_file = matches!(source, Source::File(_));
            SourceState {
                id,
                source,
                interval,
                max_shrink,
                file_sig,
                validators: Validators::default(),
                // file sources were loaded with the snapshot; URLs are fetched first thing
                loaded_at: is_file.then_some(now),
                next_due: if is_file { now + interval } else { now },
                failures: 0,
                last_error: None,
            }
        })
        .collect()
}

fn file_sig(p: &std::path::Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// 1 s, 2 s, 4 s ... never more than the source's interval or 5 minutes.
fn backoff(failures: u32, interval: Duration) -> Duration {
    let d = Duration::from_secs(1u64 << failures.saturating_sub(1).min(9));
    d.min(interval).min(Duration::from_secs(300))
}

fn size_of(p: &Piece) -> Option<usize> {
    match p {
        Piece::Tor(t) => Some(t.len()),
        Piece::List(l) => Some(l.entries),
        Piece::Mmdb(_) => None,
    }
}

impl Reloader {
    pub fn new(state: SharedSnapshot, config_path: PathBuf) -> Arc<Reloader> {
        let snap = state.load_full();
        let fetcher = Fetcher::new(snap.config.intel.fetch_timeout);
        let sources = states_for(&snap, Instant::now());
        crate::metrics::register_sources(&sources.iter().map(|s| s.id.name()).collect::<Vec<_>>());
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

    /// Ready once every configured source has loaded once.
    pub fn ready(&self) -> bool {
        self.sources
            .lock()
            .unwrap()
            .iter()
            .all(|s| s.loaded_at.is_some())
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

    /// Re-read the config file: a valid one replaces routes, policies and intel
    /// settings atomically; an invalid one is refused with the same problems `check`
    /// lists, and the running config stays.
    pub async fn reload_config(&self) -> Result<String, Vec<String>> {
        let _g = self.lock.lock().await;
        let path = self.config_path.clone();
        let loaded = tokio::task::spawn_blocking(move || config::load(&path))
            .await
            .map_err(|e| vec![e.to_string()])?;
        let new_cfg = match loaded {
            Ok(c) => c,
            Err(e) => {
                METRICS
                    .reloads
                    .with_label_values(&["config", "error"])
                    .inc();
                let problems: Vec<String> = e.problems.iter().map(|p| p.to_string()).collect();
                tracing::error!(
                    file = %self.config_path.display(),
                    problems = problems.len(),
                    "config reload refused; the running config stays"
                );
                for p in &problems {
                    tracing::error!(problem = %p, "config problem");
                }
                return Err(problems);
            }
        };
        let cur = self.state.load_full();
        let old = &cur.config;
        if old.listen != new_cfg.listen
            || old.admin != new_cfg.admin
            || old.threads != new_cfg.threads
        {
            tracing::warn!("listen, admin and threads changes take effect only after a restart");
        }
        // Carry over every piece whose source did not change; load the rest now.
        let old_sources = sources(&old.intel);
        let loaded_ids: Vec<SourceId> = self
            .sources
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.loaded_at.is_some())
            .map(|s| s.id.clone())
            .collect();
        let mut intel = Intel::empty(&new_cfg.intel);
        let mut errors = Vec::new();
        let mut fresh = Vec::new();
        for (id, src, _) in sources(&new_cfg.intel) {
            let same = old_sources.iter().any(|(i, s, _)| *i == id && *s == src)
                && loaded_ids.contains(&id);
            if let (true, Some(piece)) = (same, cur.intel.get(&old.intel, &id)) {
                intel.put(&new_cfg.intel, &id, piece);
                continue;
            }
            if let Source::File(p) = &src {
                let (id2, p2) = (id.clone(), p.clone());
                match tokio::task::spawn_blocking(move || load_file(&id2, &p2)).await {
                    Ok(Ok(piece)) => {
                        intel.put(&new_cfg.intel, &id, piece);
                        fresh.push(id);
                    }
                    Ok(Err(e)) => errors.push(e.to_string()),
                    Err(e) => errors.push(e.to_string()),
                }
            }
        }
        if !errors.is_empty() {
            METRICS
                .reloads
                .with_label_values(&["config", "error"])
                .inc();
            for e in &errors {
                tracing::error!(error = %e, "config reload refused: a data source failed; the running config stays");
            }
            return Err(errors);
        }
        let summary = format!(
            "{} routes, {} policies, {} sources",
            new_cfg.routes.len(),
            new_cfg.policies.len(),
            sources(&new_cfg.intel).len()
        );
        *self.fetcher.lock().unwrap() = Fetcher::new(new_cfg.intel.fetch_timeout);
        let snap = Snapshot::assemble(new_cfg, intel, Some(&cur));
        let now = Instant::now();
        let mut states = states_for(&snap, now);
        {
            let old_states = self.sources.lock().unwrap();
            for st in &mut states {
                if fresh.contains(&st.id) {
                    continue;
                }
                if let Some(o) = old_states
                    .iter()
                    .find(|o| o.id == st.id && o.source == st.source)
                {
                    *st = SourceState {
                        interval: st.interval,
                        max_shrink: st.max_shrink,
                        ..o.clone()
                    };
                }
            }
        }
        crate::metrics::register_sources(&states.iter().map(|s| s.id.name()).collect::<Vec<_>>());
        self.state.store(Arc::new(snap));
        *self.sources.lock().unwrap() = states;
        METRICS.reloads.with_label_values(&["config", "ok"]).inc();
        tracing::info!(file = %self.config_path.display(), %summary, "config reloaded");
        self.wake.notify_one();
        Ok(summary)
    }

    /// Look at every source that is due (or all, when forced).
    async fn poll(&self) {
        let force = self.force.swap(false, Ordering::SeqCst);
        let now = Instant::now();
        let due: Vec<SourceState> = self
            .sources
            .lock()
            .unwrap()
            .iter()
            .filter(|s| force || s.next_due <= now)
            .cloned()
            .collect();
        for mut st in due {
            self.poll_one(&mut st).await;
            let mut all = self.sources.lock().unwrap();
            if let Some(slot) = all
                .iter_mut()
                .find(|o| o.id == st.id && o.source == st.source)
            {
                *slot = st;
            }
        }
    }

    async fn poll_one(&self, st: &mut SourceState) {
        let name = st.id.name();
        let now = Instant::now();
        let result: Result<Option<Piece>, IntelError> = match st.source.clone() {
            Source::File(p) => {
                st.next_due = now + st.interval;
                let Some(sig) = file_sig(&p) else {
                    let msg = format!("{}: cannot read the file", p.display());
                    if st.last_error.as_deref() != Some(msg.as_str()) {
                        tracing::warn!(source = %name, error = %msg, "source check failed; the data in service stays");
                        METRICS
                            .reloads
                            .with_label_values(&[name.as_str(), "error"])
                            .inc();
                    }
                    st.last_error = Some(msg);
                    return;
                };
                if Some(sig) == st.file_sig {
                    return;
                }
                if SystemTime::now().duration_since(sig.0).unwrap_or_default() < SETTLE {
                    // still being written, maybe: look again shortly
                    st.next_due = now + Duration::from_millis(250);
                    return;
                }
                st.file_sig = Some(sig);
                let id = st.id.clone();
                match tokio::task::spawn_blocking(move || load_file(&id, &p)).await {
                    Ok(r) => r.map(Some),
                    Err(e) => Err(IntelError::Format(e.to_string())),
                }
            }
            Source::Url(u) => {
                let fetcher = self.fetcher.lock().unwrap().clone();
                match fetcher.fetch(&u, &st.validators).await {
                    Ok(Fetched::NotModified) => {
                        st.loaded_at = Some(Instant::now());
                        st.failures = 0;
                        st.last_error = None;
                        st.next_due = Instant::now() + st.interval;
                        METRICS
                            .reloads
                            .with_label_values(&[name.as_str(), "not_modified"])
                            .inc();
                        tracing::debug!(source = %name, "not modified");
                        return;
                    }
                    Ok(Fetched::Body { text, validators }) => {
                        match parse_text(&st.id, &st.source, &text) {
                            Ok(piece) => {
                                st.validators = validators;
                                Ok(Some(piece))
                            }
                            Err(e) => Err(e),
                        }
                    }
                    Err(e) => Err(e),
                }
            }
        };
        let piece = match result {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(e) => return self.failed(st, &name, e.to_string()),
        };
        // A list that shrank too much is more likely a broken feed than good news.
        let _g = self.lock.lock().await;
        let cur = self.state.load_full();
        if let (Some(new), Some(old)) = (
            size_of(&piece),
            cur.intel
                .get(&cur.config.intel, &st.id)
                .as_ref()
                .and_then(size_of),
        ) {
            if old > 0 && (new as f64) < (old as f64) * (1.0 - st.max_shrink) {
                drop(_g);
                return self.failed(
                    st,
                    &name,
                    format!(
                        "shrank from {old} to {new} entries, more than max_shrink {} allows",
                        st.max_shrink
                    ),
                );
            }
        }
        let t0 = Instant::now();
        let desc = piece.describe();
        self.state.store(Arc::new(cur.with_piece(&st.id, piece)));
        let swap = t0.elapsed();
        drop(_g);
        st.loaded_at = Some(Instant::now());
        st.failures = 0;
        st.last_error = None;
        if matches!(st.source, Source::Url(_)) {
            st.next_due = Instant::now() + st.interval;
        }
        METRICS
            .reloads
            .with_label_values(&[name.as_str(), "ok"])
            .inc();
        tracing::info!(source = %name, from = %st.source, loaded = %desc, swap_us = swap.as_micros() as u64, "source reloaded");
    }

    fn failed(&self, st: &mut SourceState, name: &str, msg: String) {
        st.failures += 1;
        if matches!(st.source, Source::Url(_)) {
            st.next_due = Instant::now() + backoff(st.failures, st.interval);
        }
        METRICS.reloads.with_label_values(&[name, "error"]).inc();
        tracing::warn!(
            source = %name,
            from = %st.source,
            error = %msg,
            failures = st.failures,
            retry_in_ms = st.next_due.saturating_duration_since(Instant::now()).as_millis() as u64,
            "source reload failed; the data in service stays"
        );
        st.last_error = Some(msg);
    }

    /// Refresh the gauges that are read, not counted.
    pub fn update_gauges(&self) {
        let snap = self.state.load();
        METRICS
            .tor_exits
            .set(snap.intel.tor.as_ref().map_or(0, |t| t.len()) as i64);
        for (k, n) in snap.limiters.keys() {
            METRICS
                .limiter_keys
                .with_label_values(&[k.as_str()])
                .set(n as i64);
        }
        let states = self.sources.lock().unwrap();
        for s in states.iter() {
            let age = s.loaded_at.map_or(-1, |t| t.elapsed().as_secs() as i64);
            METRICS
                .source_age
                .with_label_values(&[s.id.name().as_str()])
                .set(age);
        }
        METRICS
            .ready
            .set(i64::from(states.iter().all(|s| s.loaded_at.is_some())));
    }

    fn next_wake(&self) -> Duration {
        let now = Instant::now();
        self.sources
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.next_due.saturating_duration_since(now))
            .min()
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1))
    }
}

/// Fetch every URL source of `cfg` once and parse it (for `riskgate check`).
pub async fn check_urls(cfg: &crate::config::IntelConfig) -> Vec<IntelError> {
    let fetcher = Fetcher::new(cfg.fetch_timeout);
    let mut errors = Vec::new();
    for (id, src, _) in sources(cfg) {
        if let Source::Url(u) = &src {
            match fetcher.fetch(u, &Validators::default()).await {
                Ok(Fetched::Body { text, .. }) => {
                    if let Err(e) = parse_text(&id, &src, &text) {
                        errors.push(e);
                    }
                }
                Ok(Fetched::NotModified) => {}
                Err(e) => errors.push(e),
            }
        }
    }
    errors
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
