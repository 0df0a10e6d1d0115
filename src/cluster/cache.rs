//! Keys known to be exhausted, until when: a request for one is answered here without
//! asking Redis (the flood of one exhausted key costs Redis nothing). Bounded: a full
//! shard drops its expired entries, and when none has expired remembers no more (Redis
//! still answers those).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SHARDS: usize = 16;
const PER_SHARD: usize = 4096;

pub struct Exhausted {
    shards: Vec<Mutex<HashMap<String, Instant>>>,
    hasher: foldhash::fast::RandomState,
}

impl Exhausted {
    pub fn new() -> Exhausted {
        Exhausted {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    fn shard(&self, key: &str) -> &Mutex<HashMap<String, Instant>> {
        use std::hash::BuildHasher;
        &self.shards[self.hasher.hash_one(key) as usize % SHARDS]
    }

    /// How long `key` stays exhausted, if it is known to be at `now`.
    pub fn wait(&self, key: &str, now: Instant) -> Option<Duration> {
        let mut m = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        let until = *m.get(key)?;
        if until > now {
            Some(until - now)
        } else {
            m.remove(key);
            None
        }
    }

    pub fn insert(&self, key: String, until: Instant) {
        let mut m = self.shard(&key).lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= PER_SHARD && !m.contains_key(&key) {
            let now = Instant::now();
            m.retain(|_, u| *u > now);
            if m.len() >= PER_SHARD {
                return;
            }
        }
        m.insert(key, until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_until_the_retry_time_and_stays_bounded() {
        let c = Exhausted::new();
        let t0 = Instant::now();
        c.insert("a".into(), t0 + Duration::from_secs(5));
        assert_eq!(c.wait("a", t0), Some(Duration::from_secs(5)));
        assert_eq!(c.wait("a", t0 + Duration::from_secs(5)), None);
        assert_eq!(c.wait("a", t0), None, "an expired entry is dropped");
        for i in 0..200_000 {
            c.insert(format!("k{i}"), t0 + Duration::from_secs(60));
        }
        let held: usize = c.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(held <= SHARDS * PER_SHARD, "{held}");
    }
}
