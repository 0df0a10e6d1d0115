//! Housekeeping: idle limiter keys swept, gauges refreshed, the next wake-up.

use std::time::{Duration, Instant};

use super::Reloader;
use crate::record::metrics::METRICS;

impl Reloader {
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
            let name = s.id.name();
            let age = s.loaded_at.map_or(-1, |t| t.elapsed().as_secs() as i64);
            METRICS
                .source_age
                .with_label_values(&[name.as_str()])
                .set(age);
            let piece = snap.intel.get(&snap.config.intel, &s.id);
            if let Some((entries, skipped)) = piece.as_ref().and_then(|p| p.counts()) {
                METRICS
                    .source_entries
                    .with_label_values(&[name.as_str()])
                    .set(entries as i64);
                METRICS
                    .source_skipped
                    .with_label_values(&[name.as_str()])
                    .set(skipped as i64);
            }
        }
        let ready = states.iter().all(|s| s.loaded_at.is_some())
            && self.cluster_connected().unwrap_or(true);
        METRICS.ready.set(i64::from(ready));
    }

    pub(super) fn next_wake(&self) -> Duration {
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
