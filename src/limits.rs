//! Keyed rate limits per policy — by client IP, by subnet (/24, /48), by ASN, by a
//! field's value (a coupon, a device, a referral code: its keyed hash) or by several of
//! these together — with governor's GCRA and a state store of bounded size.
//!
//! Memory is bounded per limiter by `max_keys`: a full shard first drops keys whose
//! bucket is already full again (they carry no information: a fresh key behaves the
//! same), then the key closest to full. An attacker with a million fresh IPs therefore
//! costs at most `max_keys` entries, and the subnet and ASN limits still catch it.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::{Quota, RateLimiter};

use crate::config::{Config, HashKey, KeyPart, LimitSignal, LimitSpec, Policy, UnknownAsn};
use crate::evidence::ident::Composite;
use crate::evidence::Request;
use crate::intel::Facts;
use crate::signals::Signal;

const SHARDS: usize = 64;

/// Which limits are exhausted for this request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitOutcome {
    pub ip: bool,
    pub subnet: bool,
    pub asn: bool,
    /// the exhausted `rate:NAME` limits, as bits by their index in the policy's limits
    pub named: u16,
    /// until the last exhausted limit has a token again
    pub retry_after: Option<Duration>,
}

impl LimitOutcome {
    pub fn any(&self) -> bool {
        self.ip || self.subnet || self.asn || self.named != 0
    }
}

/// Keys are client addresses, subnets, AS numbers and keyed hashes: a fast hasher with a random
/// per-store seed (foldhash), not SipHash — three limits hash three keys a request,
/// and a full shard evicts instead of growing, so a crafted key set cannot blow up
/// the table.
type Hasher = foldhash::fast::RandomState;
type Shard = HashMap<u128, u64, Hasher>;

/// A sharded map from key to GCRA state ("theoretical arrival time"), bounded in size.
pub struct BoundedStore<C: Clock> {
    shards: Vec<Mutex<Shard>>,
    hasher: Hasher,
    per_shard: usize,
    clock: C,
    start: C::Instant,
}

impl<C: Clock> BoundedStore<C> {
    fn new(max_keys: usize, clock: C) -> Self {
        let start = clock.now();
        BoundedStore {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::with_hasher(Hasher::default())))
                .collect(),
            hasher: Hasher::default(),
            per_shard: max_keys.div_ceil(SHARDS).max(1),
            clock,
            start,
        }
    }

    fn shard(&self, key: &u128) -> &Mutex<Shard> {
        // the high bits: the shard's own table indexes by the low ones
        &self.shards[(self.hasher.hash_one(key) >> 58) as usize % SHARDS]
    }

    /// Now, as governor measures it (relative to the limiter's start).
    fn now_rel(&self) -> u64 {
        self.clock.now().duration_since(self.start).as_u64()
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap().len()).sum()
    }

    /// Drop every key whose bucket is full again.
    fn sweep(&self) -> usize {
        let now = self.now_rel();
        let mut dropped = 0;
        for s in &self.shards {
            let mut m = s.lock().unwrap();
            let before = m.len();
            m.retain(|_, tat| *tat > now);
            dropped += before - m.len();
            if m.capacity() > 4 * m.len().max(16) {
                m.shrink_to_fit();
            }
        }
        dropped
    }
}

/// Free at least one slot in a full shard, in constant time: among a sample of
/// entries, drop every idle one (its bucket is full again: no information is lost);
/// if none is idle, drop the one nearest to a full bucket.
fn make_room(m: &mut Shard, now: u64) {
    let mut idle = [0u128; 32];
    let mut n_idle = 0;
    let mut nearest: Option<(u128, u64)> = None;
    for (k, tat) in m.iter().take(32) {
        if *tat <= now {
            idle[n_idle] = *k;
            n_idle += 1;
        } else if nearest.is_none_or(|(_, t)| *tat < t) {
            nearest = Some((*k, *tat));
        }
    }
    if n_idle > 0 {
        for k in &idle[..n_idle] {
            m.remove(k);
        }
    } else if let Some((k, _)) = nearest {
        m.remove(&k);
    }
}

/// The store as the limiter holds it; the slot keeps another handle to count and sweep.
pub struct SharedStore<C: Clock>(Arc<BoundedStore<C>>);

impl<C: Clock> StateStore for SharedStore<C> {
    type Key = u128;

    fn measure_and_replace<T, F, E>(&self, key: &u128, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        self.0.measure_and_replace(key, f)
    }
}

impl<C: Clock> BoundedStore<C> {
    fn measure_and_replace<T, F, E>(&self, key: &u128, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let mut m = self.shard(key).lock().unwrap();
        if let Some(tat) = m.get_mut(key) {
            // the common case, a known key: one lookup, updated in place
            let (out, next) = f(Some(Nanos::from(*tat)))?;
            *tat = next.as_u64();
            return Ok(out);
        }
        let (out, next) = f(None)?;
        if m.len() >= self.per_shard {
            make_room(&mut m, self.now_rel());
        }
        m.insert(*key, next.as_u64());
        Ok(out)
    }
}

type Limiter<C> = RateLimiter<u128, SharedStore<C>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// GCRA's period (one token every…) and burst of a limit under a multiplier.
fn gcra(spec: &LimitSpec, mult: u32) -> (Duration, u32) {
    let count = spec.count.saturating_mul(mult).max(1);
    let burst = spec.burst.saturating_mul(mult).max(1);
    ((spec.per / count).max(Duration::from_nanos(1)), burst)
}

fn quota(spec: &LimitSpec, mult: u32) -> Quota {
    let (period, burst) = gcra(spec, mult);
    Quota::with_period(period)
        .expect("non-zero period")
        .allow_burst(NonZeroU32::new(burst).expect("burst ≥ 1"))
}

/// One limit of a request, as a shared store decides it (GCRA, like governor: the
/// first request of a key finds a full bucket of `tau / period` tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// the limit's index in its policy
    pub index: usize,
    pub key: u128,
    /// the mobile multiplier applies (a separate bucket, as locally)
    pub mobile: bool,
    /// one token every `period`
    pub period: Duration,
    /// `period × burst`
    pub tau: Duration,
}

/// The outcome of a policy's limits of which `exhausted` (limit index, wait) ran out:
/// the signals they report and the longest wait.
pub fn outcome_of(
    policy: &Policy,
    exhausted: impl IntoIterator<Item = (usize, Duration)>,
) -> LimitOutcome {
    let mut out = LimitOutcome::default();
    for (i, wait) in exhausted {
        let Some(spec) = policy.limits.get(i) else {
            continue;
        };
        mark(&mut out, i, &spec.signal);
        out.retry_after = Some(out.retry_after.map_or(wait, |w| w.max(wait)));
    }
    out
}

fn mark(out: &mut LimitOutcome, i: usize, signal: &LimitSignal) {
    match signal {
        LimitSignal::Fixed(Signal::RateIp) => out.ip = true,
        LimitSignal::Fixed(Signal::RateSubnet) => out.subnet = true,
        LimitSignal::Fixed(_) => out.asn = true,
        LimitSignal::Named(_) => out.named |= 1 << i,
    }
}

/// Policy name, mobile multiplier, subnet prefixes (v4, v6), the key cap, and for a key
/// with a field or of several parts: the fields' definitions and the hash key.
type SlotIdentity = (String, u32, u8, u8, usize, String);

struct Slot<C: Clock> {
    spec: LimitSpec,
    /// what else must be equal for a config reload to keep this slot's state
    identity: SlotIdentity,
    normal: (Limiter<C>, Arc<BoundedStore<C>>),
    /// for mobile clients, when the multiplier applies to this key
    mobile: Option<(Limiter<C>, Arc<BoundedStore<C>>)>,
    clock: C,
}

/// The limiters of every policy of one config, indexed like `Config::policies`.
pub struct Limiters<C: Clock + Clone = DefaultClock> {
    policies: Vec<Vec<Arc<Slot<C>>>>,
}

/// The limiter key of `ip` for a `/prefix` subnet.
pub fn subnet_key(ip: IpAddr, v4_prefix: u8, v6_prefix: u8) -> u128 {
    match ip {
        IpAddr::V4(a) => {
            let p = u32::from(v4_prefix.min(32));
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            u128::from(a.to_ipv6_mapped()) & !u128::from(u32::MAX) | u128::from(u32::from(a) & mask)
        }
        IpAddr::V6(a) => {
            let p = u32::from(v6_prefix.min(128));
            let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
            u128::from(a) & mask
        }
    }
}

fn ip_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn asn_key(facts: &Facts, unknown: UnknownAsn) -> Option<u128> {
    match (facts.asn, unknown) {
        (Some(a), _) => Some(u128::from(a)),
        (None, UnknownAsn::Shared) => Some(u128::MAX),
        (None, UnknownAsn::Skip) => None,
    }
}

/// The limiter key of a request for one limit; `None` when a part is missing.
fn key_of(
    spec: &LimitSpec,
    policy: &Policy,
    facts: &Facts,
    request: &Request,
    hash_key: &HashKey,
) -> Option<u128> {
    let subnet = || subnet_key(facts.ip, policy.subnet_v4, policy.subnet_v6);
    match spec.key.as_slice() {
        [KeyPart::Ip] => Some(ip_key(facts.ip)),
        [KeyPart::Subnet] => Some(subnet()),
        [KeyPart::Asn] => asn_key(facts, spec.unknown_asn),
        [KeyPart::Field(f)] => request.id(*f).map(|id| u128::from(id.0)),
        parts => {
            let mut c = Composite::new(hash_key);
            for p in parts {
                match p {
                    KeyPart::Ip => c.part(0, &ip_key(facts.ip).to_be_bytes()),
                    KeyPart::Subnet => c.part(1, &subnet().to_be_bytes()),
                    KeyPart::Asn => c.part(2, &asn_key(facts, spec.unknown_asn)?.to_be_bytes()),
                    KeyPart::Field(f) => c.part(3, &request.id(*f)?.0.to_be_bytes()),
                }
            }
            Some(c.finish())
        }
    }
}

/// What else a key with fields depends on: the fields' definitions (a field read from
/// elsewhere is another key) and the hash key. Empty for ip, subnet and asn alone.
fn hashed_identity(cfg: &Config, spec: &LimitSpec) -> String {
    if matches!(
        spec.key.as_slice(),
        [KeyPart::Ip] | [KeyPart::Subnet] | [KeyPart::Asn]
    ) {
        return String::new();
    }
    let mut id = format!("{:x?}", cfg.hash_key.key);
    for p in &spec.key {
        if let KeyPart::Field(f) = p {
            let d = &cfg.fields[*f];
            id.push_str(&format!(
                "|{}:{:?}:{:?}:{:?}",
                d.name,
                d.source,
                d.pattern.as_ref().map(|r| r.as_str()),
                d.normalize
            ));
        }
    }
    id
}

impl Limiters<DefaultClock> {
    pub fn new(cfg: &Config) -> Self {
        Self::with_clock(cfg, DefaultClock::default())
    }

    pub fn rebuild(old: &Limiters, new: &Config) -> Self {
        Self::rebuild_with_clock(old, new, DefaultClock::default())
    }
}

impl<C: Clock + Clone> Limiters<C> {
    pub fn with_clock(cfg: &Config, clock: C) -> Self {
        Self::build(cfg, clock, |_, _| None)
    }

    fn build(
        cfg: &Config,
        clock: C,
        reuse: impl Fn(&SlotIdentity, &LimitSpec) -> Option<Arc<Slot<C>>>,
    ) -> Self {
        let policies = cfg
            .policies
            .iter()
            .map(|p| {
                p.limits
                    .iter()
                    .map(|spec| {
                        let identity = (
                            p.name.clone(),
                            p.mobile_multiplier,
                            p.subnet_v4,
                            p.subnet_v6,
                            cfg.limiter_max_keys,
                            hashed_identity(cfg, spec),
                        );
                        if let Some(slot) = reuse(&identity, spec) {
                            return slot;
                        }
                        let make = |mult| {
                            let store =
                                Arc::new(BoundedStore::new(cfg.limiter_max_keys, clock.clone()));
                            let lim = RateLimiter::new(
                                quota(spec, mult),
                                SharedStore(store.clone()),
                                clock.clone(),
                            );
                            (lim, store)
                        };
                        let relaxable = spec.key.iter().any(|k| k.shared_by_carriers())
                            && p.mobile_multiplier > 1;
                        Arc::new(Slot {
                            spec: spec.clone(),
                            identity,
                            normal: make(1),
                            mobile: relaxable.then(|| make(p.mobile_multiplier)),
                            clock: clock.clone(),
                        })
                    })
                    .collect()
            })
            .collect();
        Limiters { policies }
    }

    /// Limiters for a reloaded config: a limit whose policy, spec, multiplier,
    /// prefixes and key cap are unchanged keeps its state (an attacker cannot reset
    /// their buckets by waiting for a config edit); any other starts empty.
    pub fn rebuild_with_clock(old: &Limiters<C>, new: &Config, clock: C) -> Self {
        Self::build(new, clock, |identity, spec| {
            old.policies
                .iter()
                .flatten()
                .find(|s| &s.identity == identity && &s.spec == spec)
                .cloned()
        })
    }

    /// Take one token from every limit of the policy; report the exhausted ones and
    /// how long until the last of them has a token again. A limit whose key needs
    /// what the request lacks (a field, an unknown ASN under `skip`) is skipped.
    pub fn check(
        &self,
        policy_index: usize,
        policy: &Policy,
        facts: &Facts,
        request: &Request,
        hash_key: &HashKey,
    ) -> LimitOutcome {
        let mut out = LimitOutcome::default();
        let Some(slots) = self.policies.get(policy_index) else {
            return out;
        };
        let mobile = facts.is_mobile();
        for (i, s) in slots.iter().enumerate() {
            let Some(key) = key_of(&s.spec, policy, facts, request, hash_key) else {
                continue;
            };
            let lim = match (&s.mobile, mobile) {
                (Some(m), true) => &m.0,
                _ => &s.normal.0,
            };
            if let Err(not_until) = lim.check_key(&key) {
                let wait = not_until.wait_time_from(s.clock.now());
                mark(&mut out, i, &s.spec.signal);
                out.retry_after = Some(out.retry_after.map_or(wait, |w| w.max(wait)));
            }
        }
        out
    }

    /// What each limit of the policy would check for this request, for a shared store
    /// to decide instead of this process: the key, whether the mobile multiplier
    /// applies, and the quota as GCRA's period and tolerance. Limits whose key needs what
    /// the request lacks are left out, as [`check`](Self::check) skips them.
    pub fn plan(
        &self,
        policy_index: usize,
        policy: &Policy,
        facts: &Facts,
        request: &Request,
        hash_key: &HashKey,
    ) -> Vec<Planned> {
        let Some(slots) = self.policies.get(policy_index) else {
            return Vec::new();
        };
        let mobile = facts.is_mobile();
        slots
            .iter()
            .enumerate()
            .filter_map(|(index, s)| {
                let key = key_of(&s.spec, policy, facts, request, hash_key)?;
                let mobile = mobile && s.mobile.is_some();
                let mult = if mobile { policy.mobile_multiplier } else { 1 };
                let (period, burst) = gcra(&s.spec, mult);
                Some(Planned {
                    index,
                    key,
                    mobile,
                    period,
                    tau: period * burst,
                })
            })
            .collect()
    }

    /// Keys held, by the limits' labels (ip, subnet, asn, a field limit's name), over
    /// every policy.
    pub fn keys(&self) -> Vec<(String, usize)> {
        let mut n: Vec<(String, usize)> = ["ip", "subnet", "asn"]
            .into_iter()
            .map(|k| (k.to_string(), 0))
            .collect();
        for s in self.policies.iter().flatten() {
            let held = s.normal.1.len() + s.mobile.as_ref().map_or(0, |m| m.1.len());
            match n.iter_mut().find(|(l, _)| *l == s.spec.label) {
                Some(e) => e.1 += held,
                None => n.push((s.spec.label.clone(), held)),
            }
        }
        n
    }

    /// Drop idle keys everywhere; returns how many.
    pub fn sweep(&self) -> usize {
        self.policies
            .iter()
            .flatten()
            .map(|s| s.normal.1.sweep() + s.mobile.as_ref().map_or(0, |m| m.1.sweep()))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intel::ConnectionType;
    use governor::clock::FakeRelativeClock;
    use std::path::Path;

    fn cfg(policy: &str, extra: &str) -> Config {
        let text = format!(
            "upstream: 127.0.0.1:3000\n{extra}routes:\n  - {{ name: r, path: /r, policy: p }}\npolicies:\n  p:\n{}",
            policy.lines().map(|l| format!("    {l}\n")).collect::<String>()
        );
        crate::config::parse(&text, Path::new("/tmp/gw.yaml")).unwrap_or_else(|e| panic!("{e}"))
    }

    fn facts(ip: &str) -> Facts {
        Facts::new(ip.parse().unwrap())
    }

    struct T {
        cfg: Config,
        lim: Limiters<FakeRelativeClock>,
        clock: FakeRelativeClock,
    }

    impl T {
        fn new(policy: &str) -> T {
            Self::with(policy, "")
        }
        fn with(policy: &str, extra: &str) -> T {
            let cfg = cfg(policy, extra);
            let clock = FakeRelativeClock::default();
            let lim = Limiters::with_clock(&cfg, clock.clone());
            T { cfg, lim, clock }
        }
        fn hit(&self, f: &Facts) -> LimitOutcome {
            self.hit_with(f, &[])
        }
        /// A request with these field values (indexed like the config's fields).
        fn hit_with(&self, f: &Facts, values: &[Option<&str>]) -> LimitOutcome {
            let values: Vec<Option<String>> =
                values.iter().map(|v| v.map(str::to_string)).collect();
            let p = &self.cfg.policies[0];
            let ids = crate::evidence::ident::ids_of(&self.cfg.hash_key, &values, &p.ids);
            let req = Request {
                fields: &values,
                ids: &ids,
                ..Request::default()
            };
            self.lim.check(0, p, f, &req, &self.cfg.hash_key)
        }
        /// How many requests in a row pass.
        fn passes(&self, f: &Facts) -> usize {
            (0..10_000).take_while(|_| !self.hit(f).any()).count()
        }
    }

    #[test]
    fn ip_limit_burst_then_refill() {
        let t = T::new("limits: [{ key: ip, rate: 5/min }]");
        let a = facts("192.0.2.1");
        assert_eq!(t.passes(&a), 5, "burst defaults to the count");
        let o = t.hit(&a);
        assert!(o.ip && !o.subnet && !o.asn);
        // one token every 12 s
        let ra = o.retry_after.unwrap();
        assert!(
            ra > Duration::from_secs(11) && ra <= Duration::from_secs(12),
            "{ra:?}"
        );
        t.clock.advance(Duration::from_secs(6));
        let ra = t.hit(&a).retry_after.unwrap();
        assert!(
            ra > Duration::from_secs(5) && ra <= Duration::from_secs(6),
            "{ra:?}"
        );
        t.clock.advance(Duration::from_secs(6));
        assert!(!t.hit(&a).any(), "a token is back after 12 s");
        assert!(t.hit(&a).any());
        // another IP is untouched
        assert_eq!(t.passes(&facts("192.0.2.2")), 5);
        // a full minute refills the whole burst
        t.clock.advance(Duration::from_secs(60));
        assert_eq!(t.passes(&a), 5);
    }

    #[test]
    fn explicit_burst() {
        let t = T::new("limits: [{ key: ip, rate: 1/s, burst: 3 }]");
        let a = facts("192.0.2.1");
        assert_eq!(t.passes(&a), 3);
        t.clock.advance(Duration::from_secs(1));
        assert_eq!(t.passes(&a), 1);
    }

    #[test]
    fn subnet_limits_group_v4_24_and_v6_48() {
        let t = T::new("limits: [{ key: subnet, rate: 20/hour }]");
        for i in 1..=20 {
            assert!(!t.hit(&facts(&format!("198.51.100.{i}"))).any(), "{i}");
        }
        let o = t.hit(&facts("198.51.100.21"));
        assert!(o.subnet && !o.ip);
        assert!(
            !t.hit(&facts("198.51.101.1")).any(),
            "the neighbouring /24 is untouched"
        );
        // IPv6: one /48, rotating through /64s does not help
        for i in 0..20 {
            assert!(!t.hit(&facts(&format!("2001:db8:1:{i:x}::1"))).any(), "{i}");
        }
        assert!(t.hit(&facts("2001:db8:1:ffff::9")).subnet);
        assert!(!t.hit(&facts("2001:db8:2::1")).any());
    }

    #[test]
    fn subnet_prefix_is_configurable() {
        let t =
            T::new("subnet_prefix: { v4: 16, v6: 32 }\nlimits: [{ key: subnet, rate: 2/hour }]");
        assert!(!t.hit(&facts("10.1.0.1")).any());
        assert!(!t.hit(&facts("10.1.200.1")).any());
        assert!(t.hit(&facts("10.1.255.255")).subnet);
        assert!(!t.hit(&facts("10.2.0.1")).any());
    }

    #[test]
    fn subnet_keys() {
        let k = |s: &str| subnet_key(s.parse().unwrap(), 24, 48);
        assert_eq!(k("192.0.2.1"), k("192.0.2.254"));
        assert_ne!(k("192.0.2.1"), k("192.0.3.1"));
        assert_eq!(k("2001:db8:1:2::1"), k("2001:db8:1:ffff::2"));
        assert_ne!(k("2001:db8:1::1"), k("2001:db8:2::1"));
        // an IPv4 /24 never collides with an IPv6 /48
        assert_ne!(k("0.0.0.1"), k("::1"));
    }

    #[test]
    fn asn_limit_and_unknown_asns() {
        let t = T::new("limits: [{ key: asn, rate: 3/hour }]");
        let mut f = facts("192.0.2.1");
        f.asn = Some(64500);
        let mut g = facts("203.0.113.9");
        g.asn = Some(64500);
        assert!(!t.hit(&f).any());
        assert!(!t.hit(&g).any());
        assert!(!t.hit(&f).any());
        assert!(t.hit(&g).asn, "one ASN's many subnets share the ASN bucket");
        // unknown ASN is skipped by default
        let u = facts("198.51.100.1");
        assert_eq!(t.passes(&u), 10_000);

        let t = T::new("limits: [{ key: asn, rate: 3/hour, unknown_asn: shared }]");
        assert_eq!(t.passes(&facts("198.51.100.1")), 3);
        assert!(
            t.hit(&facts("203.0.113.1")).asn,
            "all unknown ASNs share one bucket"
        );
    }

    #[test]
    fn mobile_clients_get_the_multiplied_ip_and_subnet_limits() {
        let t = T::with(
            "mobile_multiplier: 10\nlimits: [{ key: ip, rate: 5/min }, { key: asn, rate: 1000/hour }]",
            "intel:\n  mobile_asns: [64501]\n",
        );
        let mut cell = facts("192.0.2.1");
        cell.connection = Some(ConnectionType::Cellular);
        cell.asn = Some(64502);
        assert_eq!(t.passes(&cell), 50);
        let mut carrier = facts("192.0.2.2");
        carrier.mobile_asn = true;
        assert_eq!(t.passes(&carrier), 50);
        let fixed = facts("192.0.2.3");
        assert_eq!(t.passes(&fixed), 5);
    }

    #[test]
    fn retry_after_is_the_longest_wait_of_the_exhausted_limits() {
        let t = T::new("limits: [{ key: ip, rate: 1/min }, { key: subnet, rate: 1/hour }]");
        let a = facts("192.0.2.1");
        assert!(!t.hit(&a).any());
        let o = t.hit(&a);
        assert!(o.ip && o.subnet);
        let ra = o.retry_after.unwrap();
        assert!(
            ra > Duration::from_secs(3500) && ra <= Duration::from_secs(3600),
            "{ra:?}"
        );
    }

    #[test]
    fn memory_is_bounded_and_idle_keys_are_swept() {
        let t = T::with(
            "limits: [{ key: ip, rate: 5/min }]",
            "limiter_max_keys: 6400\n",
        );
        for i in 0..100_000u32 {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i);
            t.hit(&Facts::new(IpAddr::V4(ip)));
        }
        let held = t.lim.keys()[0].1;
        assert!(held <= 6400, "{held} keys held");
        assert!(held > 3000, "{held}: the bound is used, not emptied");
        // a minute later every bucket is full again: a sweep drops them all
        t.clock.advance(Duration::from_secs(61));
        t.lim.sweep();
        assert_eq!(t.lim.keys()[0].1, 0);
    }

    #[test]
    fn an_exhausted_key_survives_a_flood_of_fresh_ones() {
        let t = T::with(
            "limits: [{ key: ip, rate: 5/hour }]",
            "limiter_max_keys: 6400\n",
        );
        let victim = facts("192.0.2.1");
        assert_eq!(t.passes(&victim), 5);
        // the attacker rotates through 20,000 fresh addresses: eviction takes the keys
        // nearest to a full bucket, never the exhausted one
        for i in 0..20_000u32 {
            t.hit(&Facts::new(IpAddr::V4(std::net::Ipv4Addr::from(
                0x0a00_0000 + i,
            ))));
        }
        assert!(t.lim.keys()[0].1 <= 6400);
        assert!(t.hit(&victim).ip, "the exhausted key is still limited");
    }

    const FIELDS: &str = "fields:\n  coupon: json:/code\n  referral: query:ref\n";

    #[test]
    fn a_coupon_limit_holds_across_rotating_addresses() {
        let t = T::with("limits: [{ key: field:coupon, rate: 3/day }]", FIELDS);
        let code = [Some("SAVE20"), None];
        for i in 1..=3 {
            let o = t.hit_with(&facts(&format!("203.0.{i}.7")), &code);
            assert!(!o.any(), "use {i}");
        }
        let o = t.hit_with(&facts("198.51.100.99"), &code);
        assert_eq!(o.named, 0b1, "the fourth use, from a fresh address");
        assert!(!o.ip && !o.subnet && !o.asn);
        let ra = o.retry_after.unwrap();
        assert!(ra > Duration::from_secs(7 * 3600) && ra <= Duration::from_secs(8 * 3600));
        // another code is untouched; a request without a code is not limited by it
        assert!(!t
            .hit_with(&facts("198.51.100.99"), &[Some("OTHER"), None])
            .any());
        assert_eq!(t.passes(&facts("198.51.100.99")), 10_000);
        assert_eq!(t.lim.keys().iter().find(|k| k.0 == "coupon").unwrap().1, 2);
    }

    #[test]
    fn a_referral_limit_per_subnet() {
        let t = T::with(
            "limits: [{ key: [field:referral, subnet], rate: 5/hour, name: referral_subnet }]",
            FIELDS,
        );
        let r = [None, Some("ref-42")];
        for i in 1..=5 {
            assert!(!t.hit_with(&facts(&format!("192.0.2.{i}")), &r).any());
        }
        assert_eq!(t.hit_with(&facts("192.0.2.200"), &r).named, 0b1, "same /24");
        assert!(
            !t.hit_with(&facts("192.0.3.1"), &r).any(),
            "the code from another /24 is apart"
        );
        assert!(
            !t.hit_with(&facts("192.0.2.9"), &[None, Some("ref-43")])
                .any(),
            "another code from the farm's /24 is apart"
        );
    }

    #[test]
    fn the_multiplier_relaxes_a_composite_key_with_an_address_part_only() {
        let t = T::with(
            "mobile_multiplier: 10\nlimits: [{ key: field:coupon, rate: 2/day }, { key: [field:referral, ip], rate: 1/day, name: ref_ip }]",
            &format!("{FIELDS}intel:\n  mobile_asns: [64501]\n"),
        );
        let mut cell = facts("192.0.2.1");
        cell.mobile_asn = true;
        let coupon = [Some("C1"), None];
        assert!(!t.hit_with(&cell, &coupon).any());
        assert!(!t.hit_with(&cell, &coupon).any());
        assert!(
            t.hit_with(&cell, &coupon).named & 1 != 0,
            "a code is a code"
        );
        let r = [None, Some("R1")];
        for _ in 0..10 {
            assert!(!t.hit_with(&cell, &r).any());
        }
        assert!(t.hit_with(&cell, &r).named & 0b10 != 0);
    }

    #[test]
    fn field_limits_survive_a_reload_unless_the_field_changes() {
        let cfg = cfg("limits: [{ key: field:coupon, rate: 1/day }]", FIELDS);
        let clock = FakeRelativeClock::default();
        let old = Limiters::with_clock(&cfg, clock.clone());
        let values = vec![Some("C1".to_string()), None];
        let ids = crate::evidence::ident::ids_of(&cfg.hash_key, &values, &cfg.policies[0].ids);
        let req = Request {
            fields: &values,
            ids: &ids,
            ..Request::default()
        };
        let f = facts("192.0.2.1");
        assert!(!old
            .check(0, &cfg.policies[0], &f, &req, &cfg.hash_key)
            .any());
        let same = Limiters::rebuild_with_clock(&old, &cfg, clock.clone());
        assert!(same
            .check(0, &cfg.policies[0], &f, &req, &cfg.hash_key)
            .any());
        let moved = crate::config::parse(
                            "upstream: 127.0.0.1:3000\nfields:\n  coupon: query:code\n  referral: query:ref\nroutes:\n  - { name: r, path: /r, policy: p }\npolicies:\n  p:\n    limits: [{ key: field:coupon, rate: 1/day }]\n",
            std::path::Path::new("/tmp/gw.yaml"),
        )
        .unwrap();
        let fresh = Limiters::rebuild_with_clock(&same, &moved, clock);
        assert!(
            !fresh
                .check(0, &moved.policies[0], &f, &req, &moved.hash_key)
                .any(),
            "a field read from elsewhere is another key"
        );
    }
}
