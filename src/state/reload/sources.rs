//! The data sources: files re-read when their mtime or size changes, URLs fetched
//! with conditional requests and backoff. A source is loaded off the lock, then
//! installed under it, and only if the config in service still names that source.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::{Reloader, SourceState};
use crate::config::Source;
use crate::intel::fetch::{Fetched, Fetcher, Validators};
use crate::intel::store::{list_source, load_file, parse_text, sources};
use crate::intel::{IntelError, Loaded, Piece, SourceId};
use crate::record::metrics::METRICS;
use crate::state::Snapshot;

/// A file changed less than this long ago may still be being written: look again.
const SETTLE: Duration = Duration::from_millis(1000);

pub(super) fn states_for(snap: &Snapshot, now: Instant) -> Vec<SourceState> {
    let intel_cfg = &snap.config.intel;
    sources(intel_cfg)
        .into_iter()
        .map(|(id, source, interval)| {
            let list = list_source(intel_cfg, &id);
            let max_shrink = match &id {
                SourceId::Tor => intel_cfg.tor.as_ref().map_or(0.5, |t| t.max_shrink),
                SourceId::List { .. } => list.map_or(0.5, |l| l.max_shrink),
                SourceId::Asns(_) => 0.5,
                SourceId::Mmdb(_) => 1.0,
            };
            let format = list.and_then(|l| l.format);
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
                format,
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
        Piece::Asns(a) => Some(a.asns.len()),
        Piece::Mmdb(_) => None,
    }
}

impl Reloader {
    /// Look at every source that is due (or all, when forced).
    pub(super) async fn poll(&self) {
        let force = self.force.swap(false, std::sync::atomic::Ordering::SeqCst);
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
        if let Some(loaded) = self.load(st).await {
            self.install(st, loaded).await;
        }
    }

    /// Load a source that changed, off the lock: `None` when it did not change or
    /// failed (counted and logged in `st`).
    pub(super) async fn load(&self, st: &mut SourceState) -> Option<Loaded> {
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
                    return None;
                };
                if Some(sig) == st.file_sig {
                    return None;
                }
                if SystemTime::now().duration_since(sig.0).unwrap_or_default() < SETTLE {
                    // still being written, maybe: look again shortly
                    st.next_due = now + Duration::from_millis(250);
                    return None;
                }
                st.file_sig = Some(sig);
                let (id, format) = (st.id.clone(), st.format);
                match tokio::task::spawn_blocking(move || load_file(&id, &p, format)).await {
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
                        return None;
                    }
                    Ok(Fetched::Body { text, validators }) => {
                        match parse_text(&st.id, &st.source, &text, st.format) {
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
        match result {
            Ok(Some(piece)) => Some(Loaded {
                id: st.id.clone(),
                source: st.source.clone(),
                piece,
            }),
            Ok(None) => None,
            Err(e) => {
                self.failed(st, &name, e.to_string());
                None
            }
        }
    }

    /// Install a loaded piece under the lock, on the snapshot in service, unless a
    /// config reload since the load moved or dropped its source (then it is
    /// discarded: the new config's own source is loaded on its own turn), or it
    /// shrank more than `max_shrink` allows.
    pub(super) async fn install(&self, st: &mut SourceState, loaded: Loaded) {
        let name = st.id.name();
        let _g = self.lock.lock().await;
        let cur = self.state.load_full();
        if !loaded.belongs_to(&cur.config.intel) {
            tracing::info!(source = %name, from = %loaded.source, "the config no longer names this source; the data loaded from it is discarded");
            return;
        }
        let piece = &loaded.piece;
        let in_service = cur.intel.get(&cur.config.intel, &st.id);
        // A feed that now reads as another format has been replaced by something else
        // (an error page, another provider's file): keep the data in service unless
        // the config names the format.
        if let (None, Some(Piece::List(old)), Piece::List(new)) = (st.format, &in_service, piece) {
            if old.entries > 0 && old.format != new.format {
                drop(_g);
                return self.failed(
                    st,
                    &name,
                    format!(
                        "the text is now in the {} format, not {} as before; refused (set `format:` to accept it)",
                        new.format.name(),
                        old.format.name()
                    ),
                );
            }
        }
        // A list that shrank too much is more likely a broken feed than good news.
        if let (Some(new), Some(old)) = (size_of(piece), in_service.as_ref().and_then(size_of)) {
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
        let Some(next) = cur.with_piece(loaded) else {
            return;
        };
        self.state.store(Arc::new(next));
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
}

/// Fetch every URL source of `cfg` once and parse it (for `riskgate check`).
pub async fn check_urls(cfg: &crate::config::IntelConfig) -> Vec<IntelError> {
    let fetcher = Fetcher::new(cfg.fetch_timeout);
    let mut errors = Vec::new();
    for (id, src, _) in sources(cfg) {
        if let Source::Url(u) = &src {
            match fetcher.fetch(u, &Validators::default()).await {
                Ok(Fetched::Body { text, .. }) => {
                    let format = list_source(cfg, &id).and_then(|l| l.format);
                    if let Err(e) = parse_text(&id, &src, &text, format) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;
    use std::path::Path;

    fn write_old(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
        // older than SETTLE: the reloader takes it as finished
        let past = SystemTime::now() - Duration::from_secs(30);
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(past)
            .unwrap();
    }

    fn hosting_state(r: &Reloader) -> SourceState {
        r.sources
            .lock()
            .unwrap()
            .iter()
            .find(|s| s.id == SourceId::list("hosting"))
            .cloned()
            .unwrap()
    }

    fn hosting_has(r: &Reloader, ip: &str) -> bool {
        let snap = r.state.load();
        let i = snap.config.intel.list_index("hosting").unwrap();
        snap.intel.lists[i].contains(ip.parse::<IpAddr>().unwrap())
    }

    /// The interleaving of the bug: list `hosting` is read from file A, then a config
    /// reload moves `hosting` to file B, then A's data is installed. It must not land
    /// under B's name.
    #[test]
    fn data_loaded_from_a_source_the_config_dropped_meanwhile_is_not_installed() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (a, b, cfg) = (
            dir.path().join("a.txt"),
            dir.path().join("b.txt"),
            dir.path().join("gateway.yaml"),
        );
        write_old(&a, "192.0.2.0/24\n");
        write_old(&b, "203.0.113.0/24\n");
        let yaml = |list: &Path| {
            format!(
                "upstream: 127.0.0.1:9\nintel:\n  lists:\n    hosting: {}\n",
                list.display()
            )
        };
        std::fs::write(&cfg, yaml(&a)).unwrap();
        let snap = Snapshot::load(crate::config::load(&cfg).unwrap()).unwrap();
        let state: crate::state::SharedSnapshot = Arc::new(arc_swap::ArcSwap::from_pointee(snap));
        let r = Reloader::new(state, cfg.clone());
        assert!(hosting_has(&r, "192.0.2.1"));

        // A changes on disk and is loaded (off the lock) ...
        write_old(&a, "192.0.2.0/24\n198.51.100.0/24\n");
        let mut st = hosting_state(&r);
        let loaded = rt.block_on(r.load(&mut st)).expect("A's new data");
        // ... meanwhile a config reload moves `hosting` to B ...
        std::fs::write(&cfg, yaml(&b)).unwrap();
        rt.block_on(r.reload_config()).unwrap();
        assert!(hosting_has(&r, "203.0.113.1"));
        // ... and then A's data comes to be installed: refused
        rt.block_on(r.install(&mut st, loaded));
        assert!(hosting_has(&r, "203.0.113.1"), "B's data stays in service");
        assert!(
            !hosting_has(&r, "198.51.100.1"),
            "A's data never lands under B"
        );
        assert!(!hosting_has(&r, "192.0.2.1"));

        // the same load with the config unchanged is installed
        write_old(&b, "203.0.113.0/24\n198.18.0.0/15\n");
        let mut st = hosting_state(&r);
        let loaded = rt.block_on(r.load(&mut st)).expect("B's new data");
        rt.block_on(r.install(&mut st, loaded));
        assert!(hosting_has(&r, "198.18.0.1"));
    }
}
