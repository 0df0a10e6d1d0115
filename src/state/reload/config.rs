//! Re-reading `gateway.yaml` (SIGHUP, `POST /reload`): a valid file replaces routes,
//! policies and intel settings in one swap, carrying over every loaded piece whose
//! source did not change; an invalid one is refused and the running config stays.

use std::sync::Arc;
use std::time::Instant;

use super::sources::states_for;
use super::{Reloader, SourceState};
use crate::config::{self, Source};
use crate::intel::fetch::Fetcher;
use crate::intel::store::{list_source, load_file, sources};
use crate::intel::{Intel, SourceId};
use crate::record::metrics::METRICS;
use crate::state::Snapshot;

impl Reloader {
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
        // the proxy door is started (or not) with the process: a running one keeps an
        // upstream to forward to
        if old.upstream.is_some() && new_cfg.upstream.is_none() {
            METRICS
                .reloads
                .with_label_values(&["config", "error"])
                .inc();
            let why = format!(
                "{}: upstream: the proxy door is running; it stops only with a restart, so a reload keeps an upstream",
                self.config_path.display()
            );
            tracing::error!(problem = %why, "config reload refused; the running config stays");
            return Err(vec![why]);
        }
        if old.listen != new_cfg.listen
            || old.admin != new_cfg.admin
            || old.threads != new_cfg.threads
            || old.authz.as_ref().map(|a| &a.listen) != new_cfg.authz.as_ref().map(|a| &a.listen)
            || old.upstream.is_none() && new_cfg.upstream.is_some()
        {
            tracing::warn!(
                "listen, admin, authz.listen and threads changes take effect only after a restart"
            );
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
                && loaded_ids.contains(&id)
                && list_source(&old.intel, &id).map(|l| l.format)
                    == list_source(&new_cfg.intel, &id).map(|l| l.format);
            if let (true, Some(piece)) = (same, cur.intel.get(&old.intel, &id)) {
                intel.put(&new_cfg.intel, &id, piece);
                continue;
            }
            if let Source::File(p) = &src {
                let (id2, p2) = (id.clone(), p.clone());
                let format = list_source(&new_cfg.intel, &id).and_then(|l| l.format);
                match tokio::task::spawn_blocking(move || load_file(&id2, &p2, format)).await {
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
                        format: st.format,
                        ..o.clone()
                    };
                }
            }
        }
        crate::record::metrics::register_sources(
            &states.iter().map(|s| s.id.name()).collect::<Vec<_>>(),
        );
        crate::record::metrics::register_config(&snap.config);
        self.state.store(Arc::new(snap));
        *self.sources.lock().unwrap() = states;
        METRICS.reloads.with_label_values(&["config", "ok"]).inc();
        tracing::info!(file = %self.config_path.display(), %summary, "config reloaded");
        self.wake.notify_one();
        Ok(summary)
    }
}
