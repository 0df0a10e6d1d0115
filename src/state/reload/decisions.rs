//! The decisions' background work: the fleet's changes polled (with `cluster`),
//! expired decisions dropped, and the CrowdSec bouncer's pulls — off the request path,
//! each failure logged at most once until it mends, the last set kept in force.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use crate::config::CrowdsecConfig;
use crate::decisions::crowdsec::Bouncer;
use crate::decisions::fleet::POLL_EVERY;
use crate::decisions::input::CROWDSEC_ORIGIN;
use crate::record::metrics::METRICS;
use crate::state::SharedSnapshot;

const EXPIRE_EVERY: Duration = Duration::from_secs(1);
const PURGE_FLEET_EVERY: Duration = Duration::from_secs(10);

pub struct DecisionsService {
    pub state: SharedSnapshot,
}

/// A failure noted once, and its mending once.
#[derive(Default)]
struct Failing(Option<String>);

impl Failing {
    fn failed(&mut self, what: &str, e: &str) {
        if self.0.as_deref() != Some(e) {
            tracing::warn!(source = what, error = %e, "decisions: {what} failed; the decisions in force stay in force");
            self.0 = Some(e.to_string());
        }
    }
    fn ok(&mut self, what: &str) {
        if self.0.take().is_some() {
            tracing::info!(source = what, "decisions: {what} works again");
        }
    }
}

#[async_trait]
impl BackgroundService for DecisionsService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let book = self.state.load().decisions.clone();
        let started = Instant::now();
        if let Some(f) = book.fleet() {
            f.connect_soon();
            METRICS.source_age.with_label_values(&["decisions"]).set(0);
            for r in ["ok", "error"] {
                METRICS.reloads.with_label_values(&["decisions", r]);
            }
        }
        let mut bouncer: Option<(CrowdsecConfig, Arc<Bouncer>)> = None;
        let mut crowdsec_checked = false;
        let mut next_pull = Instant::now();
        let (mut last_expire, mut last_purge) = (Instant::now(), Instant::now());
        let mut last_sync: Option<Instant> = None;
        let (mut fleet_err, mut cs_err) = (Failing::default(), Failing::default());
        loop {
            if let Some(f) = book.fleet() {
                match book.sync_fleet().await {
                    Ok(n) => {
                        if n > 0 {
                            tracing::debug!(
                                changes = n,
                                version = f.applied(),
                                "decisions: fleet changes applied"
                            );
                        }
                        last_sync = Some(Instant::now());
                        fleet_err.ok("the fleet's Redis");
                    }
                    Err(e) => {
                        METRICS
                            .reloads
                            .with_label_values(&["decisions", "error"])
                            .inc();
                        fleet_err.failed("the fleet's Redis", &e.to_string());
                    }
                }
                let age = last_sync.map_or(started.elapsed(), |t| t.elapsed());
                METRICS
                    .source_age
                    .with_label_values(&["decisions"])
                    .set(age.as_secs() as i64);
                if last_purge.elapsed() >= PURGE_FLEET_EVERY {
                    last_purge = Instant::now();
                    if let Err(e) = f.purge(crate::decisions::now_ms()).await {
                        tracing::debug!(error = %e, "decisions: purging the fleet's expired decisions failed");
                    }
                }
            }
            if last_expire.elapsed() >= EXPIRE_EVERY {
                last_expire = Instant::now();
                let n = book.expire();
                if n > 0 {
                    tracing::info!(expired = n, "decisions expired");
                }
            }
            // the bouncer follows the config in service (a reload may add or change it)
            let want = self.state.load().config.decisions.crowdsec.clone();
            if bouncer.as_ref().map(|(c, _)| c) != want.as_ref()
                || (want.is_none() && !crowdsec_checked)
            {
                if want.is_none() {
                    // no bouncer (any more): CrowdSec's decisions go with it
                    let theirs = book.ids_of_origin(CROWDSEC_ORIGIN);
                    if !theirs.is_empty() {
                        match book.apply(&[], &theirs) {
                            Ok(()) => tracing::info!(
                                dropped = theirs.len(),
                                "decisions: no decisions.crowdsec; CrowdSec's decisions dropped"
                            ),
                            Err(e) => {
                                tracing::warn!(error = %e, "decisions: dropping CrowdSec's decisions failed")
                            }
                        }
                    }
                }
                crowdsec_checked = true;
                bouncer = want.map(|c| (c.clone(), Arc::new(Bouncer::new(c))));
                next_pull = Instant::now();
            }
            if let Some((_, b)) = &bouncer {
                if Instant::now() >= next_pull {
                    next_pull = Instant::now() + b.refresh();
                    match b.pull(&book).await {
                        Ok((added, gone)) => {
                            METRICS.reloads.with_label_values(&["crowdsec", "ok"]).inc();
                            if added + gone > 0 {
                                tracing::info!(added, gone, "crowdsec decisions applied");
                            }
                            cs_err.ok("CrowdSec");
                        }
                        Err(e) => {
                            METRICS
                                .reloads
                                .with_label_values(&["crowdsec", "error"])
                                .inc();
                            cs_err.failed("CrowdSec", &e.to_string());
                        }
                    }
                }
                METRICS
                    .source_age
                    .with_label_values(&["crowdsec"])
                    .set(b.age(started.elapsed()) as i64);
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(POLL_EVERY) => {}
            }
        }
    }
}
