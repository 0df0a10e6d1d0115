//! Decisions shared by every replica through the cluster's Redis: Redis is the truth,
//! each replica's SQLite store its cache.
//!
//! Under one hash tag (`{PREFIXdecisions}`, so a Redis Cluster keeps them in one
//! slot): `:all` (id → the decision as JSON), `:seq` (ids), `:expiry` (ids by expiry),
//! `:version` (one more at every change) and `:log` (the last changes, scored by
//! version: `V:+ID`, `V:-ID`). A replica polls the log past the version it has
//! applied, every 250 ms, in one script call: nothing changed costs one round trip; a
//! change is in force on every replica within a poll. A replica that fell behind the
//! log (or a Redis that was emptied) resyncs the whole set. Redis away: the replica
//! keeps applying the set it has, and catches up when Redis is back. A change made
//! while Redis is away is refused (`503`), never half-stored.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

use super::store::{NewRow, Store, StoreError};
use super::{Action, Record, Subject};
use crate::cluster::{ClusterError, Link};
use crate::config::ClusterConfig;

/// How many changes the log keeps: a replica further behind resyncs.
const LOG_KEEP: i64 = 100_000;
/// The most log entries one poll reads.
const POLL_MAX: i64 = 10_000;
/// The longest a change waits for Redis before it is refused.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a replica polls the log.
pub const POLL_EVERY: Duration = Duration::from_millis(250);

/// Refused (an error reply) when the fleet's version is behind this replica's: Redis
/// lost its data and is being re-seeded, and new ids would collide with kept ones.
const ADD: &str = r"
local v0 = tonumber(redis.call('GET', KEYS[5]) or '0')
if v0 < tonumber(ARGV[2 * tonumber(ARGV[1]) + 3]) or redis.call('EXISTS', KEYS[6]) == 1 then
  return redis.error_reply('RESEEDING Redis lost the decisions; a replica is putting them back')
end
local n = tonumber(ARGV[1])
local ids = {}
for i = 1, n do
  local id = redis.call('INCR', KEYS[1])
  redis.call('HSET', KEYS[2], id, ARGV[2 * i])
  redis.call('ZADD', KEYS[4], ARGV[2 * i + 1], id)
  local v = redis.call('INCR', KEYS[5])
  redis.call('ZADD', KEYS[3], v, v .. ':+' .. id)
  ids[i] = id
end
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -tonumber(ARGV[2 * n + 2]) - 1)
return ids
";

const DELETE: &str = r"
local gone = 0
for i = 1, #ARGV do
  if redis.call('HDEL', KEYS[2], ARGV[i]) == 1 then
    redis.call('ZREM', KEYS[4], ARGV[i])
    local v = redis.call('INCR', KEYS[5])
    redis.call('ZADD', KEYS[3], v, v .. ':-' .. ARGV[i])
    gone = gone + 1
  end
end
return gone
";

const PURGE: &str = r"
local ids = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', ARGV[1], 'LIMIT', 0, 1000)
for _, id in ipairs(ids) do
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[4], id)
  local v = redis.call('INCR', KEYS[5])
  redis.call('ZADD', KEYS[3], v, v .. ':-' .. id)
end
return #ids
";

/// The version, and the log past ARGV[1] (at most ARGV[2] entries).
const POLL: &str = r"
local v = tonumber(redis.call('GET', KEYS[5]) or '0')
local from = tonumber(ARGV[1])
if v <= from then return {v} end
local out = {v}
local log = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. from, '+inf', 'LIMIT', 0, tonumber(ARGV[2]))
for _, e in ipairs(log) do out[#out + 1] = e end
return out
";

const GET: &str = r"return redis.call('HMGET', KEYS[2], unpack(ARGV))";

/// Claim the re-seeding of an emptied Redis (ARGV: owner): 1 when this replica has it.
const SEED_BEGIN: &str = r"
if redis.call('EXISTS', KEYS[5]) == 1 or redis.call('HLEN', KEYS[2]) > 0 then return 0 end
if redis.call('SET', KEYS[6], ARGV[1], 'NX', 'EX', 60) then return 1 end
return 0
";

/// One part of the seed (ARGV: owner, then id, json, expiry, …).
const SEED_PART: &str = r"
if redis.call('GET', KEYS[6]) ~= ARGV[1] then return 0 end
for i = 2, #ARGV, 3 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[4], ARGV[i + 2], ARGV[i])
end
redis.call('EXPIRE', KEYS[6], 60)
return 1
";

/// The seed is whole (ARGV: owner, the highest id, the version): ids and version go on.
const SEED_END: &str = r"
if redis.call('GET', KEYS[6]) ~= ARGV[1] then return 0 end
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[2]) > seq then redis.call('SET', KEYS[1], ARGV[2]) end
redis.call('SET', KEYS[5], ARGV[3])
redis.call('DEL', KEYS[6])
return 1
";

/// One page of the whole set, and the version before it was read.
const SCAN: &str = r"
local v = tonumber(redis.call('GET', KEYS[5]) or '0')
local page = redis.call('HSCAN', KEYS[2], ARGV[1], 'COUNT', 5000)
return {v, page[1], page[2]}
";

/// What a poll of the fleet's log found.
#[derive(Debug)]
pub enum Change {
    /// nothing since the version applied
    None,
    /// the log's changes, up to `version`
    Deltas {
        added: Vec<Record>,
        gone: Vec<u64>,
        version: i64,
    },
    /// the whole set at `version` (the log no longer reaches back, or Redis went back)
    Whole { records: Vec<Record>, version: i64 },
    /// Redis came back empty: the set this replica kept belongs back in it (at the
    /// version it had applied), unless another replica is putting its own back
    Emptied { version: i64 },
}

pub struct Fleet {
    link: Link,
    display: String,
    keys: [String; 6],
    add: redis::Script,
    delete: redis::Script,
    purge: redis::Script,
    poll: redis::Script,
    get: redis::Script,
    scan: redis::Script,
    seed: [redis::Script; 3],
    /// the fleet version this replica has applied (its store keeps it too)
    applied: AtomicI64,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("redis", &self.display)
            .finish()
    }
}

/// A decision as `:all` keeps it (its id is the hash field).
fn wire(
    subject: &Subject,
    action: Action,
    reason: &str,
    origin: &str,
    created: i64,
    expires: i64,
) -> String {
    json!({
        "scope": subject.scope(), "value": subject.value(), "action": action.as_str(),
        "reason": reason, "origin": origin, "created": created, "expires": expires,
    })
    .to_string()
}

fn to_json(r: &NewRow) -> String {
    wire(
        &r.subject,
        r.action,
        &r.reason,
        &r.origin,
        r.created_ms,
        r.expires_ms,
    )
}

fn record_json(r: &Record) -> String {
    wire(
        &r.subject,
        r.action,
        &r.reason,
        &r.origin,
        r.created_ms,
        r.expires_ms,
    )
}

fn from_json(id: u64, s: &str) -> Option<Record> {
    let v: Value = serde_json::from_str(s).ok()?;
    Some(Record {
        id,
        subject: Subject::from_stored(v["scope"].as_str()?, v["value"].as_str()?)?,
        action: Action::from_name(v["action"].as_str()?)?,
        reason: v["reason"].as_str().unwrap_or_default().to_string(),
        origin: v["origin"].as_str()?.to_string(),
        source_id: None,
        created_ms: v["created"].as_i64()?,
        expires_ms: v["expires"].as_i64()?,
    })
}

impl Fleet {
    pub fn new(cfg: &ClusterConfig, store: &Store) -> Result<Fleet, StoreError> {
        let applied = store
            .meta("fleet_version")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let tag = format!("{{{}decisions}}", cfg.prefix);
        Ok(Fleet {
            link: Link::start(cfg),
            display: cfg.display.clone(),
            keys: [":seq", ":all", ":log", ":expiry", ":version", ":seeding"]
                .map(|k| format!("{tag}{k}")),
            add: redis::Script::new(ADD),
            delete: redis::Script::new(DELETE),
            purge: redis::Script::new(PURGE),
            poll: redis::Script::new(POLL),
            get: redis::Script::new(GET),
            scan: redis::Script::new(SCAN),
            seed: [SEED_BEGIN, SEED_PART, SEED_END].map(redis::Script::new),
            applied: AtomicI64::new(applied),
        })
    }

    pub fn display(&self) -> &str {
        &self.display
    }

    /// Start connecting on the calling runtime.
    pub fn connect_soon(&self) {
        self.link.connect_soon();
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
        args: &[String],
    ) -> Result<T, ClusterError> {
        let mut inv = script.prepare_invoke();
        for k in &self.keys {
            inv.key(k);
        }
        for a in args {
            inv.arg(a);
        }
        match tokio::time::timeout(WRITE_TIMEOUT, self.link.invoke(&inv)).await {
            Ok(r) => r,
            Err(_) => Err(ClusterError::Timeout(WRITE_TIMEOUT)),
        }
    }

    /// Store new decisions in Redis, all in one script (all or none); their ids.
    pub async fn add(&self, rows: Vec<NewRow>) -> Result<Vec<Record>, ClusterError> {
        let mut args = vec![rows.len().to_string()];
        for r in &rows {
            args.push(to_json(r));
            args.push(r.expires_ms.to_string());
        }
        args.push(LOG_KEEP.to_string());
        args.push(self.applied().to_string());
        let ids: Vec<u64> = self.run(&self.add, &args).await?;
        Ok(rows
            .into_iter()
            .zip(ids)
            .map(|(r, id)| r.with_id(id))
            .collect())
    }

    /// Delete a decision in Redis; whether it was there.
    pub async fn delete(&self, id: u64) -> Result<bool, ClusterError> {
        let n: i64 = self.run(&self.delete, &[id.to_string()]).await?;
        Ok(n > 0)
    }

    /// Delete (and log) what has expired; any replica may, and at once.
    pub async fn purge(&self, now_ms: i64) -> Result<i64, ClusterError> {
        self.run(&self.purge, &[now_ms.to_string()]).await
    }

    /// What changed since the version this replica has applied: the log's changes, or
    /// the whole set when the log no longer reaches back that far.
    pub async fn changes(&self) -> Result<Change, ClusterError> {
        let from = self.applied.load(Ordering::Acquire);
        let out: Vec<redis::Value> = self
            .run(&self.poll, &[from.to_string(), POLL_MAX.to_string()])
            .await?;
        let version = out
            .first()
            .and_then(|v| redis::from_redis_value_ref::<i64>(v).ok())
            .unwrap_or(0);
        if version == from {
            return Ok(Change::None);
        }
        // a Redis that came back empty; while another replica puts its set back, this
        // one keeps its own in force (a half-seeded Redis would drop what is not back yet)
        if version == 0 && from > 0 {
            return Ok(Change::Emptied { version: from });
        }
        let entries: Vec<String> = out[1..]
            .iter()
            .filter_map(|v| redis::from_redis_value_ref::<String>(v).ok())
            .collect();
        let first = entries
            .first()
            .and_then(|e| e.split_once(':'))
            .and_then(|(v, _)| v.parse::<i64>().ok());
        // behind the log, or a Redis whose version went back
        if version < from || first != Some(from + 1) {
            let (records, version) = self.whole().await?;
            return Ok(Change::Whole { records, version });
        }
        let (mut added, mut gone) = (Vec::new(), Vec::new());
        let mut last = from;
        for e in &entries {
            let Some((v, change)) = e.split_once(':') else {
                continue;
            };
            last = v.parse().unwrap_or(last);
            match (change.as_bytes().first(), change[1..].parse::<u64>()) {
                (Some(b'+'), Ok(id)) => added.push(id),
                (Some(b'-'), Ok(id)) => {
                    added.retain(|a| *a != id);
                    gone.push(id);
                }
                _ => {}
            }
        }
        Ok(Change::Deltas {
            added: self.fetch(&added).await?,
            gone,
            version: last,
        })
    }

    async fn fetch(&self, ids: &[u64]) -> Result<Vec<Record>, ClusterError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(1000) {
            let args: Vec<String> = chunk.iter().map(u64::to_string).collect();
            let vals: Vec<Option<String>> = self.run(&self.get, &args).await?;
            for (id, v) in chunk.iter().zip(vals) {
                if let Some(r) = v.as_deref().and_then(|s| from_json(*id, s)) {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    /// The whole set, read in pages, in force now; and the version before it was read
    /// (changes made meanwhile come again from the log: applying is idempotent).
    async fn whole(&self) -> Result<(Vec<Record>, i64), ClusterError> {
        let mut cursor = "0".to_string();
        let mut records = Vec::new();
        let mut version = None;
        loop {
            let (v, next, page): (i64, String, Vec<String>) =
                self.run(&self.scan, &[cursor.clone()]).await?;
            version.get_or_insert(v);
            for pair in page.chunks(2) {
                if let [id, json] = pair {
                    if let Some(r) = id.parse().ok().and_then(|id| from_json(id, json)) {
                        records.push(r);
                    }
                }
            }
            if next == "0" {
                break;
            }
            cursor = next;
        }
        let now = super::now_ms();
        records.retain(|r| r.expires_ms > now);
        Ok((records, version.unwrap_or(0)))
    }

    /// Put `mine` (this replica's set, without CrowdSec's) back into an emptied Redis,
    /// at `version`, if no other replica is doing so; whether it did.
    pub async fn reseed(&self, mine: &[Record], version: i64) -> Result<bool, ClusterError> {
        let owner = format!("{}-{}", std::process::id(), super::now_ms());
        let claimed: i64 = self
            .run(&self.seed[0], std::slice::from_ref(&owner))
            .await?;
        if claimed != 1 {
            return Ok(false);
        }
        for part in mine.chunks(1000) {
            let mut args = vec![owner.clone()];
            for r in part {
                args.push(r.id.to_string());
                args.push(record_json(r));
                args.push(r.expires_ms.to_string());
            }
            let ok: i64 = self.run(&self.seed[1], &args).await?;
            if ok != 1 {
                return Ok(false);
            }
        }
        let top = mine.iter().map(|r| r.id).max().unwrap_or(0);
        let ok: i64 = self
            .run(
                &self.seed[2],
                &[owner, top.to_string(), version.to_string()],
            )
            .await?;
        Ok(ok == 1)
    }

    /// This replica has applied the fleet's set up to `version`.
    pub fn applied_to(&self, version: i64) {
        self.applied.store(version, Ordering::Release);
    }

    pub fn applied(&self) -> i64 {
        self.applied.load(Ordering::Acquire)
    }
}
