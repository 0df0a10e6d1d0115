//! Hopping and spread: the distinct countries (`hopping`) or networks (`spread`: /24s
//! or ASNs) each key (a device, a coupon, a referral code — a field's value) was seen
//! from within a window, for every watch of a policy. Bounded: at most
//! `limiter_max_keys` keys, each holding at most its watch's [`Watch::slots`] values
//! (the most recent), which is all "more than `max`" needs to be exact; a full shard
//! first drops keys seen by no one within the longest window, then any key. Keys are
//! keyed hashes of the field's value, never the value itself.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use crate::config::{Policy, Watch, Watching, MAX_WATCHES};
use crate::evidence::ident::Id;
pub use crate::evidence::Watched;
use crate::intel::Facts;

/// One watch's part of a request: which watch, the key's id and the value it adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    pub watch: usize,
    pub spec: Watch,
    pub id: Id,
    pub value: u32,
}

/// What the policy's watches count for a request; a watch whose key field is missing,
/// or whose value is unknown (no country, an invalid client address, no ASN), is
/// skipped, never a signal.
pub fn observations<'a>(
    policy: &'a Policy,
    ids: &'a [Option<Id>],
    facts: &'a Facts,
) -> impl Iterator<Item = Observation> + 'a {
    policy
        .checks
        .watches
        .iter()
        .enumerate()
        .filter_map(move |(watch, spec)| {
            Some(Observation {
                watch,
                spec: *spec,
                id: ids.get(spec.field).copied().flatten()?,
                value: value_of(spec.what, policy, facts)?,
            })
        })
}

/// The value a request adds to a watch of `what`: its country, subnet or ASN.
fn value_of(what: Watching, policy: &Policy, facts: &Facts) -> Option<u32> {
    match what {
        Watching::Countries => facts
            .evidence_country()
            .map(|[a, b]| u32::from(a) << 8 | u32::from(b)),
        Watching::Asns => facts.asn.filter(|&a| a != 0),
        Watching::Subnets => {
            if facts.client_ip_invalid || facts.ip.is_unspecified() {
                return None;
            }
            Some(subnet_value(facts.ip, policy.subnet_v4, policy.subnet_v6))
        }
    }
}

/// The subnet of `ip` (the policy's prefix lengths, as the subnet limit keys it:
/// [`crate::limits::subnet_key`]) as one number: an IPv4 network is itself; an IPv6 one
/// is mixed down to 32 bits (a collision among one key's few dozen values is
/// negligible).
fn subnet_value(ip: IpAddr, v4: u8, v6: u8) -> u32 {
    let net = crate::limits::subnet_key(ip, v4, v6);
    if ip.is_ipv4() {
        // the low 32 bits of the mapped form are the IPv4 network
        return net as u32;
    }
    let mixed = ((net >> 64) as u64 ^ (net as u64)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (mixed >> 32) as u32 | 1
}

/// How a watch's value is written in the shared store: a country as its code, a
/// network as its number.
pub fn value_label(o: &Observation) -> String {
    match o.spec.what {
        Watching::Countries => {
            let code = [(o.value >> 8) as u8, o.value as u8];
            String::from_utf8_lossy(&code).into_owned()
        }
        _ => o.value.to_string(),
    }
}

const SHARDS: usize = 16;

/// One key's values: (value, seconds since the store's start when last seen), at most
/// the watch's slots.
#[derive(Clone, Default)]
struct Entry {
    seen: Vec<(u32, u32)>,
}

impl Entry {
    fn count_within(&self, now: u32, window: u32) -> usize {
        self.seen
            .iter()
            .filter(|(_, t)| now.saturating_sub(*t) <= window)
            .count()
    }

    /// Record `value` at `now`, keeping at most `slots` values (the oldest goes).
    fn record(&mut self, value: u32, now: u32, slots: usize) {
        if let Some(slot) = self.seen.iter_mut().find(|(v, _)| *v == value) {
            slot.1 = now;
        } else if self.seen.len() < slots {
            if self.seen.capacity() == 0 {
                self.seen.reserve_exact(slots);
            }
            self.seen.push((value, now));
        } else if let Some(oldest) = self.seen.iter_mut().min_by_key(|(_, t)| *t) {
            *oldest = (value, now);
        }
    }

    /// What the count would be with `value` seen at `now`, recording nothing.
    fn count_with(&self, value: u32, now: u32, window: u32, slots: usize) -> usize {
        let mut e = self.clone();
        e.record(value, now, slots);
        e.count_within(now, window)
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

    /// The store's key: the value's keyed hash, moved apart per policy and watch (a
    /// multiply by an odd constant keeps distinct ids distinct within a scope).
    fn key(&self, scope: usize, id: Id) -> u64 {
        id.0 ^ (scope as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    fn now(&self, at: Instant) -> u32 {
        at.saturating_duration_since(self.start).as_secs() as u32
    }

    /// Every watch of a policy (`policy_index`) for one request, recorded when
    /// `record` (else what it would count, for explain).
    pub fn watch(
        &self,
        policy_index: usize,
        observations: impl Iterator<Item = Observation>,
        at: Instant,
        record: bool,
    ) -> Watched {
        let mut out = [0u16; MAX_WATCHES];
        for o in observations {
            let n = self.count(policy_index * MAX_WATCHES + o.watch, &o, at, record);
            out[o.watch] = n.min(usize::from(u16::MAX)) as u16;
        }
        out
    }

    /// Record one observation (when `record`) and return how many distinct values its
    /// key was seen with within the window, this one included.
    pub fn count(&self, scope: usize, o: &Observation, at: Instant, record: bool) -> usize {
        let k = self.key(scope, o.id);
        let now = self.now(at);
        let w = o.spec.window.as_secs() as u32;
        let slots = o.spec.slots();
        let mut guard = self.shards[(k as usize) % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let shard = &mut *guard;
        if !record {
            return match shard.map.get(&k) {
                Some(e) => e.count_with(o.value, now, w, slots),
                None => 1,
            };
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
        e.record(o.value, now, slots);
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
    use std::time::Duration;

    fn id(v: &str) -> Id {
        Id::of(&HashKey::derive(b"a test key of enough bytes"), v)
    }

    fn obs(v: &str, value: u32, what: Watching, max: u32, window: u64) -> Observation {
        Observation {
            watch: 0,
            spec: Watch {
                field: 0,
                window: Duration::from_secs(window),
                max,
                what,
            },
            id: id(v),
            value,
        }
    }

    fn cc(c: &[u8; 2]) -> u32 {
        u32::from(c[0]) << 8 | u32::from(c[1])
    }

    #[test]
    fn counts_countries_within_the_window_and_forgets_after() {
        let s = HopStore::new(1000);
        let t0 = Instant::now();
        let day = 86_400;
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        let o = |v: &str, code: &[u8; 2]| obs(v, cc(code), Watching::Countries, 2, day);
        assert_eq!(s.count(0, &o("dev-1", b"SE"), at(0), true), 1);
        assert_eq!(s.count(0, &o("dev-1", b"SE"), at(0), true), 1);
        assert_eq!(s.count(0, &o("dev-1", b"GB"), at(60), true), 2);
        assert_eq!(s.count(0, &o("dev-1", b"US"), at(120), false), 3);
        assert_eq!(s.count(0, &o("dev-1", b"US"), at(120), true), 3);
        // another key, another scope: apart
        assert_eq!(s.count(0, &o("dev-2", b"US"), at(0), true), 1);
        assert_eq!(s.count(1, &o("dev-1", b"US"), at(0), true), 1);
        // two days later only the new country counts
        assert_eq!(s.count(0, &o("dev-1", b"FR"), at(2 * day), true), 1);
    }

    #[test]
    fn a_key_holds_at_most_its_slots_and_still_says_more_than_max() {
        let s = HopStore::new(1000);
        let t0 = Instant::now();
        for n in 0..500u32 {
            let o = obs("REF-1", n << 8, Watching::Subnets, 10, 86_400);
            let c = s.count(0, &o, t0 + Duration::from_secs(u64::from(n)), true);
            assert_eq!(c, (n as usize + 1).min(11));
        }
    }

    #[test]
    fn memory_is_bounded() {
        let s = HopStore::new(1600);
        let t0 = Instant::now();
        for i in 0..10_000 {
            let o = obs(&format!("k{i}"), cc(b"SE"), Watching::Countries, 2, 60);
            s.count(0, &o, t0, true);
        }
        assert!(s.len() <= 1600, "{}", s.len());
    }

    #[test]
    fn subnets_are_the_policy_prefix() {
        let a = subnet_value("198.51.100.7".parse().unwrap(), 24, 48);
        let b = subnet_value("198.51.100.200".parse().unwrap(), 24, 48);
        let c = subnet_value("198.51.101.7".parse().unwrap(), 24, 48);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let x = subnet_value("2001:db8:1:1::1".parse().unwrap(), 24, 48);
        let y = subnet_value("2001:db8:1:2::1".parse().unwrap(), 24, 48);
        let z = subnet_value("2001:db8:2:1::1".parse().unwrap(), 24, 48);
        assert_eq!(x, y);
        assert_ne!(x, z);
    }
}
