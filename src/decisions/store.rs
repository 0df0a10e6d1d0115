//! The decisions' SQLite file (`decisions.store`): WAL mode, each call one transaction,
//! synced before it is acknowledged, so a decision answered `201` survives `kill -9`
//! and a power cut. The schema carries its version (`PRAGMA user_version`) and is
//! migrated forward when an older file is opened; a newer or foreign file is refused.
//!
//! With `cluster`, Redis is the truth and this file is this replica's cache of it (the
//! set it last saw, and the fleet version it saw it at).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::{Action, Record, Subject};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("decisions store `{path}`: {message}")]
    Open { path: PathBuf, message: String },
    #[error("decisions store `{path}`: {err}")]
    Sql {
        path: PathBuf,
        #[source]
        err: rusqlite::Error,
    },
}

/// The schema, one step a version: step `i` takes a file from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: the decisions, their expiry index, and the store's own facts
    "CREATE TABLE decisions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        scope TEXT NOT NULL,
        value TEXT NOT NULL,
        action TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        origin TEXT NOT NULL,
        source_id TEXT,
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL
     );
     CREATE INDEX decisions_expires ON decisions (expires);
     CREATE INDEX decisions_subject ON decisions (scope, value);
     CREATE UNIQUE INDEX decisions_source ON decisions (origin, source_id) WHERE source_id IS NOT NULL;
     CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// A filter of `GET /decisions` (the subject's stored form).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub scope: Option<String>,
    pub value: Option<String>,
    pub origin: Option<String>,
    /// only ids above this one (paging)
    pub after: u64,
    pub limit: usize,
}

pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// A new decision before it has an id.
#[derive(Debug, Clone)]
pub struct NewRow {
    pub subject: Subject,
    pub action: Action,
    pub reason: String,
    pub origin: String,
    pub source_id: Option<String>,
    pub created_ms: i64,
    pub expires_ms: i64,
}

impl NewRow {
    pub fn with_id(self, id: u64) -> Record {
        Record {
            id,
            subject: self.subject,
            action: self.action,
            reason: self.reason,
            origin: self.origin,
            source_id: self.source_id,
            created_ms: self.created_ms,
            expires_ms: self.expires_ms,
        }
    }
}

fn row_to_record(r: &rusqlite::Row) -> rusqlite::Result<Option<Record>> {
    let scope: String = r.get(1)?;
    let value: String = r.get(2)?;
    let action: String = r.get(3)?;
    let (Some(subject), Some(action)) = (
        Subject::from_stored(&scope, &value),
        Action::from_name(&action),
    ) else {
        return Ok(None);
    };
    Ok(Some(Record {
        id: r.get::<_, i64>(0)? as u64,
        subject,
        action,
        reason: r.get(4)?,
        origin: r.get(5)?,
        source_id: r.get(6)?,
        created_ms: r.get(7)?,
        expires_ms: r.get(8)?,
    }))
}

const COLUMNS: &str = "id, scope, value, action, reason, origin, source_id, created, expires";

impl Store {
    /// Open (or create) the store, migrating an older schema forward.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let fail = |message: String| StoreError::Open {
            path: path.to_path_buf(),
            message,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(fail(format!(
                    "the directory `{}` does not exist",
                    dir.display()
                )));
            }
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| fail(e.to_string()))?;
        let store = Store {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        };
        store.prepare(true)?;
        Ok(store)
    }

    /// Open an existing store without writing to it (`check`, `explain`); `None` when
    /// the file does not exist yet.
    pub fn open_read_only(path: &Path) -> Result<Option<Store>, StoreError> {
        if !path.exists() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::Open {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let store = Store {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        };
        store.prepare(false)?;
        Ok(Some(store))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sql(&self, err: rusqlite::Error) -> StoreError {
        StoreError::Sql {
            path: self.path.clone(),
            err,
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Check the file is a store of ours (its integrity too), set WAL mode and migrate.
    fn prepare(&self, write: bool) -> Result<(), StoreError> {
        let fail = |message: String| StoreError::Open {
            path: self.path.clone(),
            message,
        };
        let c = self.conn();
        c.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| fail(e.to_string()))?;
        // the version and the tables from one snapshot: another process may be making
        // the schema of a new file right now
        let snapshot = (|| {
            c.execute_batch("BEGIN")?;
            let v: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            let t: i64 = c.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
                [],
                |r| r.get(0),
            )?;
            c.execute_batch("COMMIT")?;
            Ok::<_, rusqlite::Error>((v, t))
        })();
        let (version, tables) = match snapshot {
            Ok(vt) => vt,
            Err(e) => {
                let _ = c.execute_batch("ROLLBACK");
                return Err(fail(format!("not a readable SQLite database ({e})")));
            }
        };
        let check: String = c
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| fail(format!("not a readable SQLite database ({e})")))?;
        if check != "ok" {
            return Err(fail(format!(
                "the database is damaged ({check}); restore it from a backup or move it away"
            )));
        }
        if version > SCHEMA_VERSION {
            return Err(fail(format!(
                "schema version {version} was written by a newer riskgate (this one knows up to {SCHEMA_VERSION})"
            )));
        }
        if version == 0 && tables > 0 {
            return Err(fail(
                "an SQLite database that is not a riskgate decisions store".into(),
            ));
        }
        if !write {
            if version < SCHEMA_VERSION {
                return Err(fail(format!(
                    "schema version {version}: riskgate run migrates it to {SCHEMA_VERSION}"
                )));
            }
            return Ok(());
        }
        let mode: String = c
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| fail(e.to_string()))?;
        if mode != "wal" {
            return Err(fail(format!(
                "cannot use WAL mode (journal mode is {mode})"
            )));
        }
        // every acknowledged write is on disk: it survives kill -9 and a power cut
        // a resync writes a whole set in one transaction: room for it in the page cache
        // (32 MiB at most), rather than pages spilled and rewritten
        c.execute_batch("PRAGMA synchronous = FULL; PRAGMA cache_size = -32768")
            .map_err(|e| fail(e.to_string()))?;
        // migrate under the write lock, reading the version again inside it: two
        // processes opening a new file at once must not both create the schema
        c.execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| fail(format!("cannot lock the store to migrate it: {e}")))?;
        let migrated = (|| {
            let now: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            for (v, step) in MIGRATIONS.iter().enumerate().skip(now as usize) {
                c.execute_batch(step)?;
                c.execute_batch(&format!("PRAGMA user_version = {}", v + 1))?;
            }
            c.execute_batch("COMMIT")
        })();
        if let Err(e) = migrated {
            let _ = c.execute_batch("ROLLBACK");
            return Err(fail(format!("migrating to schema {SCHEMA_VERSION}: {e}")));
        }
        Ok(())
    }

    /// Store new decisions in one transaction; ids from the store.
    pub fn insert(&self, rows: Vec<NewRow>) -> Result<Vec<Record>, StoreError> {
        let mut c = self.conn();
        let tx = c.transaction().map_err(|e| self.sql(e))?;
        let mut out = Vec::with_capacity(rows.len());
        {
            let mut st = tx.prepare_cached(UPSERT).map_err(|e| self.sql(e))?;
            for r in rows {
                let mut rec = r.with_id(0);
                bind(&mut st, None, &rec).map_err(|e| self.sql(e))?;
                rec.id = tx.last_insert_rowid() as u64;
                out.push(rec);
            }
        }
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(out)
    }

    /// Store decisions that have their ids already (the fleet's, CrowdSec's), replacing
    /// those with the same id; and delete `gone`, in one transaction.
    pub fn put(&self, records: &[Record], gone: &[u64]) -> Result<(), StoreError> {
        let mut c = self.conn();
        let tx = c.transaction().map_err(|e| self.sql(e))?;
        write(&tx, records, gone).map_err(|e| self.sql(e))?;
        tx.commit().map_err(|e| self.sql(e))
    }

    /// Replace every decision whose origin is not `keep_origin` with `records` (a full
    /// resync from the fleet), and note the fleet version, in one transaction.
    pub fn replace_all_but(
        &self,
        keep_origin: &str,
        records: &[Record],
        version: i64,
    ) -> Result<(), StoreError> {
        let mut c = self.conn();
        let tx = c.transaction().map_err(|e| self.sql(e))?;
        tx.execute(
            "DELETE FROM decisions WHERE origin != ?1",
            params![keep_origin],
        )
        .map_err(|e| self.sql(e))?;
        write(&tx, records, &[]).map_err(|e| self.sql(e))?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('fleet_version', ?1)",
            params![version.to_string()],
        )
        .map_err(|e| self.sql(e))?;
        tx.commit().map_err(|e| self.sql(e))
    }

    /// Delete decisions by id; the ids that were there.
    pub fn delete(&self, ids: &[u64]) -> Result<Vec<u64>, StoreError> {
        let mut c = self.conn();
        let tx = c.transaction().map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        {
            let mut st = tx
                .prepare_cached("DELETE FROM decisions WHERE id = ?1")
                .map_err(|e| self.sql(e))?;
            for id in ids {
                if st.execute(params![*id as i64]).map_err(|e| self.sql(e))? > 0 {
                    out.push(*id);
                }
            }
        }
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(out)
    }

    /// How many decisions are in force at `now_ms`.
    pub fn count_live(&self, now_ms: i64) -> Result<usize, StoreError> {
        self.conn()
            .query_row(
                "SELECT count(*) FROM decisions WHERE expires > ?1",
                params![now_ms],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as usize)
            .map_err(|e| self.sql(e))
    }

    /// Each decision still in force at `now_ms`, one at a time (a million are not held
    /// twice); how many rows this build cannot read.
    pub fn each_live(&self, now_ms: i64, mut f: impl FnMut(Record)) -> Result<usize, StoreError> {
        let c = self.conn();
        let mut st = c
            .prepare(&format!(
                "SELECT {COLUMNS} FROM decisions WHERE expires > ?1 ORDER BY id"
            ))
            .map_err(|e| self.sql(e))?;
        let mut rows = st.query(params![now_ms]).map_err(|e| self.sql(e))?;
        let mut bad = 0;
        while let Some(row) = rows.next().map_err(|e| self.sql(e))? {
            match row_to_record(row).map_err(|e| self.sql(e))? {
                Some(r) => f(r),
                None => bad += 1,
            }
        }
        Ok(bad)
    }

    /// Every decision still in force at `now_ms`; rows this build cannot read are
    /// counted in the second value.
    pub fn live(&self, now_ms: i64) -> Result<(Vec<Record>, usize), StoreError> {
        let c = self.conn();
        let mut st = c
            .prepare(&format!(
                "SELECT {COLUMNS} FROM decisions WHERE expires > ?1 ORDER BY id"
            ))
            .map_err(|e| self.sql(e))?;
        let rows = st
            .query_map(params![now_ms], row_to_record)
            .map_err(|e| self.sql(e))?;
        let (mut out, mut bad) = (Vec::new(), 0);
        for r in rows {
            match r.map_err(|e| self.sql(e))? {
                Some(rec) => out.push(rec),
                None => bad += 1,
            }
        }
        Ok((out, bad))
    }

    pub fn get(&self, id: u64) -> Result<Option<Record>, StoreError> {
        let c = self.conn();
        c.query_row(
            &format!("SELECT {COLUMNS} FROM decisions WHERE id = ?1"),
            params![id as i64],
            row_to_record,
        )
        .optional()
        .map(Option::flatten)
        .map_err(|e| self.sql(e))
    }

    /// Live decisions matching `f`, by id.
    pub fn list(&self, f: &Filter, now_ms: i64) -> Result<Vec<Record>, StoreError> {
        let c = self.conn();
        let mut st = c
            .prepare(&format!(
                "SELECT {COLUMNS} FROM decisions WHERE expires > ?1 AND id > ?2
                   AND (?3 IS NULL OR scope = ?3) AND (?4 IS NULL OR value = ?4)
                   AND (?5 IS NULL OR origin = ?5)
                 ORDER BY id LIMIT ?6"
            ))
            .map_err(|e| self.sql(e))?;
        let rows = st
            .query_map(
                params![
                    now_ms,
                    f.after as i64,
                    f.scope,
                    f.value,
                    f.origin,
                    f.limit as i64
                ],
                row_to_record,
            )
            .map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        for r in rows {
            if let Some(rec) = r.map_err(|e| self.sql(e))? {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// Delete what expired before `now_ms`; the ids deleted.
    pub fn purge(&self, now_ms: i64) -> Result<Vec<u64>, StoreError> {
        let c = self.conn();
        let mut st = c
            .prepare("DELETE FROM decisions WHERE expires <= ?1 RETURNING id")
            .map_err(|e| self.sql(e))?;
        let ids = st
            .query_map(params![now_ms], |r| r.get::<_, i64>(0))
            .map_err(|e| self.sql(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql(e))?;
        Ok(ids.into_iter().map(|i| i as u64).collect())
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.sql(e))
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                params![key, value],
            )
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }
}

/// A decision's row, by id (`NULL`: a new id from the store).
const UPSERT: &str = "INSERT OR REPLACE INTO decisions (id, scope, value, action, reason, origin, source_id, created, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

fn bind(
    st: &mut rusqlite::CachedStatement,
    id: Option<i64>,
    r: &Record,
) -> rusqlite::Result<usize> {
    st.execute(params![
        id,
        r.subject.scope(),
        r.subject.value(),
        r.action.as_str(),
        r.reason,
        r.origin,
        r.source_id,
        r.created_ms,
        r.expires_ms
    ])
}

/// Write `records` (by id) and delete `gone` within a transaction.
fn write(tx: &rusqlite::Transaction, records: &[Record], gone: &[u64]) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(UPSERT)?;
    for r in records {
        bind(&mut st, Some(r.id as i64), r)?;
    }
    let mut del = tx.prepare_cached("DELETE FROM decisions WHERE id = ?1")?;
    for id in gone {
        del.execute(params![*id as i64])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ip: &str, ms: i64) -> NewRow {
        NewRow {
            subject: Subject::Ip(ip.parse().unwrap()),
            action: Action::Block,
            reason: "test".into(),
            origin: "api".into(),
            source_id: None,
            created_ms: 0,
            expires_ms: ms,
        }
    }

    #[test]
    fn stores_lists_purges_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.db");
        let s = Store::open(&p).unwrap();
        let added = s
            .insert(vec![row("192.0.2.1", 100), row("192.0.2.2", 5_000)])
            .unwrap();
        assert_eq!(added.len(), 2);
        assert!(added[1].id > added[0].id);
        assert_eq!(s.live(50).unwrap().0.len(), 2);
        assert_eq!(s.purge(100).unwrap(), vec![added[0].id]);
        drop(s);
        let s = Store::open(&p).unwrap();
        let (live, bad) = s.live(50).unwrap();
        assert_eq!((live.len(), bad), (1, 0));
        assert_eq!(live[0], added[1]);
        // ids are never reused
        let again = s.insert(vec![row("192.0.2.3", 5_000)]).unwrap();
        assert!(again[0].id > added[1].id);
    }

    #[test]
    fn processes_opening_a_new_store_at_once_make_its_schema_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.db");
        let opened: Vec<_> = (0..8)
            .map(|_| {
                let p = p.clone();
                std::thread::spawn(move || Store::open(&p).map(|_| ()))
            })
            .collect();
        for t in opened {
            t.join().unwrap().unwrap();
        }
        assert_eq!(Store::open(&p).unwrap().live(0).unwrap().0.len(), 0);
    }

    #[test]
    fn a_foreign_a_newer_and_a_damaged_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let foreign = dir.path().join("foreign.db");
        Connection::open(&foreign)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let e = Store::open(&foreign).unwrap_err().to_string();
        assert!(e.contains("not a riskgate decisions store"), "{e}");
        let newer = dir.path().join("newer.db");
        Connection::open(&newer)
            .unwrap()
            .execute_batch("PRAGMA user_version = 99")
            .unwrap();
        let e = Store::open(&newer).unwrap_err().to_string();
        assert!(e.contains("newer riskgate"), "{e}");
        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, vec![0x5a; 8192]).unwrap();
        let e = Store::open(&junk).unwrap_err().to_string();
        assert!(e.contains("junk.db"), "{e}");
    }
}
