//! Country hopping: the countries each key (a device, a session, an account — a field's
//! value) was seen from within a window. Bounded: at most `limiter_max_keys` keys, each
//! holding at most [`SLOTS`] countries (the most recent); a full shard first drops keys
//! seen by no one within the longest window, then any key. Keys are keyed hashes of the
//! field's value, never the value itself.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::{CountryCode, Policy};
use crate::evidence::ident::Id;

/// What the policy's hopping check counts for a request: the key's id, the country and
/// the window; `None` when the policy has no hopping check or the request lacks the key
/// or a country (the check is then skipped).
pub fn key_of(
    policy: &Policy,
    ids: &[Option<Id>],
    country: Option<CountryCode>,
) -> Option<(Id, CountryCode, Duration)> {
    let h = policy.checks.hopping?;
    Some((ids.get(h.field).copied().flatten()?, country?, h.window))
}

/// Countries remembered per key: one more than the largest `max_countries` allowed.
pub const SLOTS: usize = crate::config::MAX_HOP_COUNTRIES as usize + 1;
const SHARDS: usize = 16;

#[derive(Clone, Copy, Default)]
struct Entry {
    /// (country, seconds since the store's start when last seen); `[0, 0]` is empty
    seen: [(CountryCode, u32); SLOTS],
}

impl Entry {
    fn count_within(&self, now: u32, window: u32) -> usize {
        self.seen
            .iter()
            .filter(|(c, t)| *c != [0, 0] && now.saturating_sub(*t) <= window)
            .count()
    }

    fn with(&self, country: CountryCode, now: u32) -> Entry {
        let mut e = *self;
        if let Some(slot) = e.seen.iter_mut().find(|(c, _)| *c == country) {
            slot.1 = now;
        } else {
            // an empty slot, else the oldest
            let i = (0..SLOTS)
                .min_by_key(|&i| {
                    if e.seen[i].0 == [0, 0] {
                        0
                    } else {
                        e.seen[i].1 as u64 + 1
                    }
                })
                .unwrap_or(0);
            e.seen[i] = (country, now);
        }
        e
    }

    fn last(&self) -> u32 {
        self.seen.iter().map(|(_, t)| *t).max().unwrap_or(0)
    }
}

struct Shard {
    map: HashMap<u64, Entry>,
    /// when the shard was last swept of expired keys (seconds since start)
    swept: u32,
}

pub struct HopStore {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    start: Instant,
}

impl HopStore {
    pub fn new(max_keys: usize) -> HopStore {
        HopStore {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::new(),
                        swept: 0,
                    })
                })
                .collect(),
            per_shard: (max_keys / SHARDS).max(1),
            start: Instant::now(),
        }
    }

    /// The store's key: the value's keyed hash, moved apart per policy (a multiply by
    /// an odd constant keeps distinct ids distinct within a policy).
    fn key(&self, scope: usize, id: Id) -> u64 {
        id.0 ^ (scope as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    fn now(&self, at: Instant) -> u32 {
        at.saturating_duration_since(self.start).as_secs() as u32
    }

    /// Record `country` for `value` (of policy `scope`) and return how many countries it
    /// was seen from within `window`, this one included.
    pub fn observe(
        &self,
        scope: usize,
        id: Id,
        country: CountryCode,
        window: Duration,
        at: Instant,
    ) -> usize {
        self.count(scope, id, country, window, at, true)
    }

    /// What [`observe`](Self::observe) would return, recording nothing (for explain).
    pub fn peek(
        &self,
        scope: usize,
        id: Id,
        country: CountryCode,
        window: Duration,
        at: Instant,
    ) -> usize {
        self.count(scope, id, country, window, at, false)
    }

    /// [`observe`](Self::observe) when `record`, else [`peek`](Self::peek).
    pub fn count(
        &self,
        scope: usize,
        id: Id,
        country: CountryCode,
        window: Duration,
        at: Instant,
        record: bool,
    ) -> usize {
        let k = self.key(scope, id);
        let now = self.now(at);
        let w = window.as_secs() as u32;
        let mut guard = self.shards[(k as usize) % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let shard = &mut *guard;
        if !record {
            let e = shard.map.get(&k).copied().unwrap_or_default();
            return e.with(country, now).count_within(now, w);
        }
        if shard.map.len() >= self.per_shard && !shard.map.contains_key(&k) {
            // full: drop the expired keys, at most once a second (a sweep is a whole
            // pass), else one key to make room
            if shard.swept != now {
                shard.swept = now;
                shard.map.retain(|_, e| now.saturating_sub(e.last()) <= w);
            }
            if shard.map.len() >= self.per_shard {
                if let Some(victim) = shard.map.keys().next().copied() {
                    shard.map.remove(&victim);
                }
            }
        }
        let e = shard.map.entry(k).or_default();
        *e = e.with(country, now);
        e.count_within(now, w)
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.map.len()))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HashKey;

    fn id(v: &str) -> Id {
        Id::of(&HashKey::derive(b"a test key of enough bytes"), v)
    }

    #[test]
    fn counts_countries_within_the_window_and_forgets_after() {
        let s = HopStore::new(1000);
        let t0 = Instant::now();
        let day = Duration::from_secs(86_400);
        assert_eq!(s.observe(0, id("dev-1"), *b"SE", day, t0), 1);
        assert_eq!(s.observe(0, id("dev-1"), *b"SE", day, t0), 1);
        assert_eq!(
            s.observe(0, id("dev-1"), *b"GB", day, t0 + Duration::from_secs(60)),
            2
        );
        assert_eq!(
            s.peek(0, id("dev-1"), *b"US", day, t0 + Duration::from_secs(120)),
            3
        );
        assert_eq!(
            s.observe(0, id("dev-1"), *b"US", day, t0 + Duration::from_secs(120)),
            3
        );
        // another key, another policy: apart
        assert_eq!(s.observe(0, id("dev-2"), *b"US", day, t0), 1);
        assert_eq!(s.observe(1, id("dev-1"), *b"US", day, t0), 1);
        // two days later only the new country counts
        let later = t0 + Duration::from_secs(2 * 86_400);
        assert_eq!(s.observe(0, id("dev-1"), *b"FR", day, later), 1);
    }

    #[test]
    fn memory_is_bounded() {
        let s = HopStore::new(1600);
        let t0 = Instant::now();
        for i in 0..10_000 {
            s.observe(0, id(&format!("k{i}")), *b"SE", Duration::from_secs(60), t0);
        }
        assert!(s.len() <= 1600, "{}", s.len());
    }
}
