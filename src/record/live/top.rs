//! The heavy hitters of the last hour: the subnets, ASNs and countries with the most
//! blocked or limited requests, in fixed memory whatever the traffic. Each 5-minute
//! epoch keeps a HeavyKeeper sketch of subnets and of ASNs (a few dozen KiB each,
//! however many distinct keys arrive) and exact per-country counts (676 of them);
//! an hour is the sum of its epochs. Fed off the request path, by the aggregator.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use heavykeeper::TopK;
use ipnet::IpNet;

/// Seconds an epoch spans.
pub const EPOCH_SECS: u64 = 300;
/// Epochs an hour spans.
const EPOCHS: u64 = 3600 / EPOCH_SECS;
/// Entries a sketch tracks: more than are shown, so merging epochs stays right.
const TRACKED: usize = 64;
const WIDTH: usize = 1024;
const DEPTH: usize = 4;
const DECAY: f64 = 0.9;

struct Epoch {
    index: u64,
    subnets: TopK<IpNet>,
    asns: TopK<u32>,
    /// A–Z × A–Z
    countries: Box<[u32; 676]>,
    total: u64,
}

impl Epoch {
    fn new(index: u64, seed: u64) -> Epoch {
        Epoch {
            index,
            subnets: TopK::with_seed(TRACKED, WIDTH, DEPTH, DECAY, seed),
            asns: TopK::with_seed(TRACKED, WIDTH, DEPTH, DECAY, seed ^ 0x9e37_79b9),
            countries: Box::new([0; 676]),
            total: 0,
        }
    }
}

/// The heavy hitters of the last hour.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tops {
    /// blocked or limited requests in the epochs summed
    pub total: u64,
    pub subnets: Vec<(IpNet, u64)>,
    pub asns: Vec<(u32, u64)>,
    pub countries: Vec<([u8; 2], u64)>,
}

pub struct HeavyHitters {
    epochs: VecDeque<Epoch>,
    seed: u64,
}

fn country_index(c: [u8; 2]) -> Option<usize> {
    let [a, b] = c;
    (a.is_ascii_uppercase() && b.is_ascii_uppercase())
        .then(|| usize::from(a - b'A') * 26 + usize::from(b - b'A'))
}

fn first<K: Ord + Copy>(counts: HashMap<K, u64>, n: usize) -> Vec<(K, u64)> {
    let mut v: Vec<(K, u64)> = counts.into_iter().filter(|(_, c)| *c > 0).collect();
    // most first; ties by key, so the order is stable
    v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

fn sum_into<K: Hash + Eq + Ord + Clone>(acc: &mut HashMap<K, u64>, sketch: &TopK<K>) {
    for node in sketch.list() {
        *acc.entry(node.item).or_default() += node.count;
    }
}

impl HeavyHitters {
    pub fn new(seed: u64) -> HeavyHitters {
        HeavyHitters {
            epochs: VecDeque::new(),
            seed,
        }
    }

    fn epoch(&mut self, unix_secs: u64) -> &mut Epoch {
        let index = unix_secs / EPOCH_SECS;
        if self.epochs.back().is_none_or(|e| e.index < index) {
            self.epochs.push_back(Epoch::new(index, self.seed));
            while self.epochs.len() as u64 > EPOCHS + 1 {
                self.epochs.pop_front();
            }
        }
        // an event from before the newest epoch (the queue is drained in bursts)
        // counts in the newest: a few seconds' shift at most
        self.epochs.back_mut().expect("an epoch")
    }

    /// Count one blocked or limited request.
    pub fn add(
        &mut self,
        unix_secs: u64,
        subnet: IpNet,
        asn: Option<u32>,
        country: Option<[u8; 2]>,
    ) {
        let e = self.epoch(unix_secs);
        e.total += 1;
        e.subnets.add(&subnet, 1);
        if let Some(a) = asn {
            e.asns.add(&a, 1);
        }
        if let Some(i) = country.and_then(country_index) {
            e.countries[i] += 1;
        }
    }

    /// The `n` heaviest of each kind over the hour up to `unix_secs`.
    pub fn top(&self, unix_secs: u64, n: usize) -> Tops {
        let now = unix_secs / EPOCH_SECS;
        let live = self
            .epochs
            .iter()
            .filter(|e| e.index + EPOCHS > now && e.index <= now);
        let (mut subnets, mut asns, mut countries) =
            (HashMap::new(), HashMap::new(), HashMap::new());
        let mut total = 0;
        for e in live {
            total += e.total;
            sum_into(&mut subnets, &e.subnets);
            sum_into(&mut asns, &e.asns);
            for (i, c) in e.countries.iter().enumerate().filter(|(_, c)| **c > 0) {
                let code = [b'A' + (i / 26) as u8, b'A' + (i % 26) as u8];
                *countries.entry(code).or_default() += u64::from(*c);
            }
        }
        Tops {
            total,
            subnets: first(subnets, n),
            asns: first(asns, n),
            countries: first(countries, n),
        }
    }

    /// Heap bytes held: fixed by the constants above, not by the traffic.
    pub fn mem_bytes(&self) -> usize {
        self.epochs
            .iter()
            .map(|e| {
                e.subnets.mem_bytes(|_| 0)
                    + e.asns.mem_bytes(|_| 0)
                    + std::mem::size_of::<[u32; 676]>()
            })
            .sum()
    }
}

/// The last decisions, newest last, at most `cap`.
pub struct Recent<T> {
    cap: usize,
    items: VecDeque<T>,
}

impl<T> Recent<T> {
    pub fn new(cap: usize) -> Recent<T> {
        Recent {
            cap,
            items: VecDeque::with_capacity(cap),
        }
    }

    pub fn push(&mut self, t: T) {
        if self.items.len() == self.cap {
            self.items.pop_front();
        }
        self.items.push_back(t);
    }

    pub fn newest_first(&self) -> impl Iterator<Item = &T> {
        self.items.iter().rev()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn a_farm_stands_out_of_a_flood_of_distinct_addresses_in_fixed_memory() {
        let mut h = HeavyHitters::new(7);
        let t0 = 1_800_000_000;
        h.add(t0, net("198.51.100.0/24"), Some(64500), Some(*b"NL"));
        let before = h.mem_bytes();
        // 300 000 distinct /24s once each, with a farm's /24 (1 500) and a second
        // one (700) among them, over 25 minutes
        let mut farm = 0;
        for i in 0u32..300_000 {
            let t = t0 + u64::from(i) / 200;
            let [_, b, c, _] = (0x0a00_0000 + (i << 8)).to_be_bytes();
            h.add(
                t,
                IpNet::new([11, b, c, 0].into(), 24).unwrap(),
                Some(i),
                Some(*b"US"),
            );
            if i % 200 == 0 {
                h.add(t, net("198.51.100.0/24"), Some(64500), Some(*b"NL"));
                farm += 1;
            }
            if i % 428 == 0 {
                h.add(t, net("203.0.113.0/24"), Some(64501), Some(*b"SE"));
            }
        }
        let tops = h.top(t0 + 1500, 10);
        assert_eq!(tops.subnets[0].0, net("198.51.100.0/24"));
        assert!(
            tops.subnets[0].1 >= (farm as u64) * 9 / 10,
            "{:?} of {farm}",
            tops.subnets[0]
        );
        assert_eq!(tops.subnets[1].0, net("203.0.113.0/24"));
        assert_eq!(tops.asns[0].0, 64500);
        assert_eq!(tops.countries[0], (*b"US", 300_000));
        assert_eq!(tops.countries[1].0, *b"NL");
        // memory grows with epochs (6 here), never with distinct keys
        let per_epoch = before;
        assert!(
            h.mem_bytes() <= per_epoch * 6,
            "{} > 6 × {per_epoch}",
            h.mem_bytes()
        );
        // an hour later those epochs have left the window
        let later = h.top(t0 + 1500 + 3600, 10);
        assert_eq!(later.total, 0);
        assert!(later.subnets.is_empty());
    }

    #[test]
    fn recent_keeps_the_last() {
        let mut r = Recent::new(3);
        for i in 0..5 {
            r.push(i);
        }
        assert_eq!(r.newest_first().copied().collect::<Vec<_>>(), [4, 3, 2]);
    }
}
