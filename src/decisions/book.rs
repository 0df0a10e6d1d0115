//! The one writer of decisions: it checks nothing itself ([`super::input`] did), stores
//! (the SQLite file, or Redis first with `cluster`), keeps the in-memory master set and
//! publishes a copy of it for requests after every change, expires, and keeps the
//! `riskgate_decisions` gauge. A request only loads the published set: no lock it
//! shares with a writer, no disk, no Redis.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use arc_swap::{ArcSwap, Guard};

use super::fleet::{Change, Fleet};
use super::input::CROWDSEC_ORIGIN;
use super::set::{DecisionSet, FieldIds, Hit, Key};
use super::store::{Filter, NewRow, Store, StoreError};
use super::{now_ms, Action, Record};
use crate::config::{ClusterConfig, Config, HashKey, Policy};
use crate::evidence::ident::Id;
use crate::intel::Facts;
use crate::record::metrics::METRICS;

/// Why a sync with the fleet did not finish: Redis, or the local cache.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    Redis(#[from] crate::cluster::ClusterError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum BookError {
    #[error("{0}")]
    Store(#[from] StoreError),
    /// with `cluster`: Redis did not take the change; nothing of it is stored
    #[error("Redis ({redis}) did not take the change, nothing of it is stored: {error}")]
    Fleet { redis: String, error: String },
    #[error("no decision {0}")]
    NotFound(u64),
    #[error("decision {0} came from CrowdSec: delete it there (cscli decisions delete --id …)")]
    FromCrowdsec(u64),
}

/// What the master set knows of each decision, to remove it and count it: 24 bytes.
#[derive(Debug, Clone, Copy)]
struct Known {
    key: Key,
    expires_ms: i64,
    /// index into [`Inner::labels`]
    label: u32,
}

/// A series of `riskgate_decisions`: scope, action, origin.
type Label = (String, Action, String);

/// The writer's side. `master` is the published set itself between changes (one copy
/// in memory); a change copies it once, changes the copy and publishes it.
#[derive(Default)]
struct Inner {
    master: Arc<DecisionSet>,
    by_id: HashMap<u64, Known>,
    /// `(expiry, id)`, soonest first: what expires is found without a scan (an entry
    /// whose decision went or changed is skipped when it comes up; 16 bytes each)
    expiry: BinaryHeap<Reverse<(i64, u64)>>,
    /// the gauge's series, each with its count (few: scopes × actions × origins)
    labels: Vec<(Label, i64)>,
}

impl Inner {
    fn label(&mut self, l: Label) -> u32 {
        match self.labels.iter().position(|(x, _)| *x == l) {
            Some(i) => i as u32,
            None => {
                self.labels.push((l, 0));
                (self.labels.len() - 1) as u32
            }
        }
    }

    fn origin_of(&self, k: &Known) -> &str {
        &self.labels[k.label as usize].0 .2
    }

    fn add(&mut self, r: &Record) {
        if self.by_id.contains_key(&r.id) {
            self.remove(r.id);
        }
        let key = Key::of(&r.subject);
        let label = self.label((r.subject.scope(), r.action, r.origin.clone()));
        Arc::make_mut(&mut self.master).insert(key, r.hit());
        self.labels[label as usize].1 += 1;
        self.expiry.push(Reverse((r.expires_ms, r.id)));
        self.by_id.insert(
            r.id,
            Known {
                key,
                expires_ms: r.expires_ms,
                label,
            },
        );
    }

    fn remove(&mut self, id: u64) -> bool {
        let Some(k) = self.by_id.remove(&id) else {
            return false;
        };
        Arc::make_mut(&mut self.master).remove(k.key, id);
        self.labels[k.label as usize].1 -= 1;
        true
    }

    /// The ids whose decisions have expired by `now`, taken off the expiry heap.
    fn due(&mut self, now: i64) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some(Reverse((at, id))) = self.expiry.peek().copied() {
            if at > now {
                break;
            }
            self.expiry.pop();
            if self.by_id.get(&id).is_some_and(|k| k.expires_ms == at) {
                out.push(id);
            }
        }
        // entries of decisions deleted before they expired: rebuilt when they dominate
        if self.expiry.len() > 2 * self.by_id.len() + 1024 {
            self.expiry = self
                .by_id
                .iter()
                .map(|(id, k)| Reverse((k.expires_ms, *id)))
                .collect();
        }
        out
    }

    fn gauge(&self) {
        for ((scope, action, origin), n) in &self.labels {
            METRICS
                .decisions
                .with_label_values(&[scope.as_str(), action.as_str(), origin.as_str()])
                .set(*n);
        }
    }
}

/// The decisions of this process: the store, the master set, the published set.
pub struct Book {
    published: ArcSwap<DecisionSet>,
    inner: Mutex<Inner>,
    store: Option<Store>,
    fleet: Option<Arc<Fleet>>,
}

impl std::fmt::Debug for Book {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Book")
            .field("store", &self.store)
            .field("decisions", &self.published.load().len())
            .finish()
    }
}

impl Book {
    /// No store: decisions held in memory only (replay, tests, benches).
    pub fn in_memory() -> Arc<Book> {
        Arc::new(Book {
            published: ArcSwap::from_pointee(DecisionSet::default()),
            inner: Mutex::new(Inner::default()),
            store: None,
            fleet: None,
        })
    }

    /// Open the store at `path` and load what is in force; with `cluster`, the store
    /// is this replica's cache of the fleet's set and Redis is synced from it.
    pub fn open(path: &Path, cluster: Option<&ClusterConfig>) -> Result<Arc<Book>, StoreError> {
        let store = Store::open(path)?;
        Self::with_store(store, cluster)
    }

    /// Open an existing store read-only (`check`, `explain`): none yet is an empty set.
    pub fn read_only(path: &Path) -> Result<Arc<Book>, StoreError> {
        match Store::open_read_only(path)? {
            None => Ok(Book::in_memory()),
            Some(store) => Self::with_store(store, None),
        }
    }

    fn with_store(store: Store, cluster: Option<&ClusterConfig>) -> Result<Arc<Book>, StoreError> {
        let fleet = match cluster {
            Some(c) => Some(Arc::new(Fleet::new(c, &store)?)),
            None => None,
        };
        // straight from the rows into the tables, sized once
        let mut inner = Inner::default();
        let now = now_ms();
        let n = store.count_live(now)?;
        inner.by_id.reserve(n);
        inner.expiry.reserve(n);
        Arc::make_mut(&mut inner.master).reserve(n);
        let unreadable = store.each_live(now, |r| inner.add(&r))?;
        if unreadable > 0 {
            tracing::warn!(store = %store.path().display(), rows = unreadable, "decisions: rows this riskgate cannot read are left in the store and not applied");
        }
        tracing::info!(decisions = inner.by_id.len(), "decisions loaded");
        inner.gauge();
        Ok(Arc::new(Book {
            published: ArcSwap::new(inner.master.clone()),
            inner: Mutex::new(inner),
            store: Some(store),
            fleet,
        }))
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Change the master set and publish it: the published set is copied once (by the
    /// first change of `f`), while requests go on reading the one they loaded.
    fn change(&self, f: impl FnOnce(&mut Inner)) {
        let mut inner = self.inner();
        f(&mut inner);
        self.published.store(inner.master.clone());
        inner.gauge();
    }

    /// The set requests are matched against now.
    pub fn current(&self) -> Guard<Arc<DecisionSet>> {
        self.published.load()
    }

    pub fn fleet(&self) -> Option<&Arc<Fleet>> {
        self.fleet.as_ref()
    }

    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    /// Store new decisions, all or none: in Redis first with `cluster` (its ids), else
    /// in the store (its ids); then in force here at once.
    pub async fn add(&self, rows: Vec<NewRow>) -> Result<Vec<Record>, BookError> {
        let records = match (&self.fleet, &self.store) {
            (Some(fleet), _) => {
                let records = fleet.add(rows).await.map_err(|e| BookError::Fleet {
                    redis: fleet.display().to_string(),
                    error: e.to_string(),
                })?;
                if let Some(s) = &self.store {
                    // the cache; the fleet has it already, and the sync writes it again
                    if let Err(e) = s.put(&records, &[]) {
                        tracing::warn!(error = %e, "decisions: the local cache did not take a fleet decision");
                    }
                }
                records
            }
            (None, Some(store)) => store.insert(rows)?,
            (None, None) => {
                let base = self.inner().by_id.keys().max().copied().unwrap_or(0);
                rows.into_iter()
                    .zip(base + 1..)
                    .map(|(r, id)| r.with_id(id))
                    .collect()
            }
        };
        self.change(|inner| records.iter().for_each(|r| inner.add(r)));
        Ok(records)
    }

    /// Delete decision `id` everywhere it is kept.
    pub async fn delete(&self, id: u64) -> Result<Record, BookError> {
        let record = self.get(id)?.ok_or(BookError::NotFound(id))?;
        if record.origin == CROWDSEC_ORIGIN {
            return Err(BookError::FromCrowdsec(id));
        }
        if let Some(fleet) = &self.fleet {
            fleet.delete(id).await.map_err(|e| BookError::Fleet {
                redis: fleet.display().to_string(),
                error: e.to_string(),
            })?;
        }
        if let Some(s) = &self.store {
            s.delete(&[id])?;
        }
        self.change(|inner| {
            inner.remove(id);
        });
        Ok(record)
    }

    /// One decision, in force or not yet purged.
    pub fn get(&self, id: u64) -> Result<Option<Record>, StoreError> {
        match &self.store {
            Some(s) => s.get(id),
            None => Ok(None),
        }
    }

    pub fn list(&self, f: &Filter) -> Result<Vec<Record>, StoreError> {
        match &self.store {
            Some(s) => s.list(f, now_ms()),
            None => Ok(Vec::new()),
        }
    }

    /// Decisions that arrived from elsewhere (the fleet, CrowdSec), with their ids, and
    /// ids gone: in force at once, then stored (the cache). Idempotent.
    pub fn apply(&self, added: &[Record], gone: &[u64]) -> Result<(), StoreError> {
        if added.is_empty() && gone.is_empty() {
            return Ok(());
        }
        self.change(|inner| {
            for id in gone {
                inner.remove(*id);
            }
            for r in added {
                inner.add(r);
            }
        });
        match &self.store {
            Some(s) => s.put(added, gone),
            None => Ok(()),
        }
    }

    /// Replace every decision not of `keep_origin` with `records` (a full resync): in
    /// force at once, then stored with the fleet's version.
    pub fn replace_all_but(
        &self,
        keep_origin: &str,
        records: &[Record],
        version: i64,
    ) -> Result<(), StoreError> {
        let t = std::time::Instant::now();
        self.change(|inner| {
            let drop: Vec<u64> = inner
                .by_id
                .iter()
                .filter(|(_, k)| inner.origin_of(k) != keep_origin)
                .map(|(id, _)| *id)
                .collect();
            for id in drop {
                inner.remove(id);
            }
            Arc::make_mut(&mut inner.master).reserve(records.len());
            inner.by_id.reserve(records.len());
            for r in records {
                inner.add(r);
            }
        });
        let in_force = t.elapsed();
        let stored = match &self.store {
            Some(s) => s.replace_all_but(keep_origin, records, version),
            None => Ok(()),
        };
        tracing::info!(
            decisions = records.len(),
            in_force_ms = in_force.as_millis() as u64,
            cached_ms = (t.elapsed() - in_force).as_millis() as u64,
            "decisions: a whole set replaced"
        );
        stored
    }

    /// Apply what the fleet changed since this replica's version (with `cluster`); how
    /// many changes.
    pub async fn sync_fleet(&self) -> Result<usize, SyncError> {
        let Some(fleet) = &self.fleet else {
            return Ok(0);
        };
        match fleet.changes().await? {
            Change::None => Ok(0),
            Change::Deltas {
                added,
                gone,
                version,
            } => {
                self.apply(&added, &gone)?;
                self.note_fleet_version(fleet, version)?;
                Ok(added.len() + gone.len())
            }
            Change::Whole { records, version } => {
                let t = std::time::Instant::now();
                self.replace_all_but(CROWDSEC_ORIGIN, &records, version)?;
                fleet.applied_to(version);
                tracing::info!(
                    decisions = records.len(),
                    version,
                    took_ms = t.elapsed().as_millis() as u64,
                    "decisions: resynced from the fleet"
                );
                Ok(records.len())
            }
            Change::Emptied { version } => {
                let mine: Vec<Record> = match &self.store {
                    Some(s) => s.live(now_ms())?.0,
                    None => Vec::new(),
                }
                .into_iter()
                .filter(|r| r.origin != CROWDSEC_ORIGIN)
                .collect();
                if fleet.reseed(&mine, version).await? {
                    tracing::warn!(decisions = mine.len(), version, "decisions: Redis came back empty; this replica put the decisions it kept back");
                }
                Ok(0)
            }
        }
    }

    fn note_fleet_version(&self, fleet: &Fleet, version: i64) -> Result<(), StoreError> {
        fleet.applied_to(version);
        match &self.store {
            Some(s) => s.set_meta("fleet_version", &version.to_string()),
            None => Ok(()),
        }
    }

    /// The ids (and subjects) of every decision of `origin` in force here.
    pub fn ids_of_origin(&self, origin: &str) -> Vec<u64> {
        let inner = self.inner();
        inner
            .by_id
            .iter()
            .filter(|(_, k)| inner.origin_of(k) == origin)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Drop what has expired, from memory and from the store; how many. Costs nothing
    /// while nothing is due.
    pub fn expire(&self) -> usize {
        let now = now_ms();
        let stale = self.inner().due(now);
        if stale.is_empty() {
            return 0;
        }
        self.change(|inner| {
            for id in &stale {
                inner.remove(*id);
            }
        });
        if let Some(s) = &self.store {
            if let Err(e) = s.purge(now) {
                tracing::warn!(error = %e, "decisions: purging expired ones from the store failed");
            }
        }
        stale.len()
    }

    pub fn len(&self) -> usize {
        self.inner().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The fields of one request, as a decision lookup takes them: only those of the
/// policy, only those some decision is on, hashed as limits hash them.
struct RequestFields<'a> {
    set: &'a DecisionSet,
    /// the config's field tags (computed at compile time)
    tags: &'a [u64],
    policy: &'a Policy,
    values: &'a [Option<String>],
    ids: &'a [Option<Id>],
    key: &'a HashKey,
}

impl FieldIds for RequestFields<'_> {
    fn each(&self, f: &mut dyn FnMut(u64, Id)) {
        for &i in &self.policy.fields {
            let Some(Some(v)) = self.values.get(i) else {
                continue;
            };
            let tag = self.tags[i];
            if !self.set.has_field(tag) {
                continue;
            }
            let id = self
                .ids
                .get(i)
                .copied()
                .flatten()
                .unwrap_or_else(|| Id::of(self.key, v));
            f(tag, id);
        }
    }
}

/// Step 5b of the request path: the strongest decision in force on the request's
/// address, its ranges, ASN, country, or one of its policy's fields.
pub fn recall(
    set: &DecisionSet,
    cfg: &Config,
    policy: &Policy,
    facts: &Facts,
    values: &[Option<String>],
    ids: &[Option<Id>],
) -> Option<Hit> {
    if set.is_empty() {
        return None;
    }
    let fields = RequestFields {
        set,
        tags: &cfg.field_tags,
        policy,
        values,
        ids,
        key: &cfg.hash_key,
    };
    // an address that is not the client's (an unreadable client-IP header) matches no
    // network decision; its fields still do
    let ip = (!facts.client_ip_invalid).then_some(facts.ip);
    set.recall(ip, facts.asn, facts.country, &fields, now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decisions::Subject;

    fn row(ip: &str, expires_ms: i64) -> NewRow {
        NewRow {
            subject: Subject::Ip(ip.parse().unwrap()),
            action: Action::Block,
            reason: String::new(),
            origin: "api".into(),
            source_id: None,
            created_ms: 0,
            expires_ms,
        }
    }

    #[tokio::test]
    async fn expiry_drops_what_is_due_from_memory_and_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let book = Book::open(&dir.path().join("d.db"), None).unwrap();
        let now = now_ms();
        let added = book
            .add(vec![
                row("192.0.2.1", now - 1),
                row("192.0.2.2", now + 3_600_000),
                row("192.0.2.3", now - 5),
            ])
            .await
            .unwrap();
        // deleted before it expired: its heap entry is skipped
        let gone = book.add(vec![row("192.0.2.4", now - 2)]).await.unwrap();
        book.apply(&[], &[gone[0].id]).unwrap();
        assert_eq!(book.len(), 3);
        assert_eq!(book.expire(), 2);
        assert_eq!(book.len(), 1);
        assert_eq!(book.expire(), 0);
        let store = book.store().unwrap();
        assert_eq!(
            store.get(added[0].id).unwrap(),
            None,
            "purged from the store"
        );
        assert!(store.get(added[1].id).unwrap().is_some());
        assert_eq!(book.current().len(), 1);
    }
}
