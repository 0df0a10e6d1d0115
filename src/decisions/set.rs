//! The decisions a request is matched against: one hash table of exact keys
//! (addresses, prefixes at each length present, ASNs, countries, field hashes), built
//! by the writer and published whole behind an `ArcSwap`. A request probes the address
//! at each prefix length some decision uses, its ASN, its country and its fields —
//! a handful of lookups, whatever the number of decisions.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::Subject;
use crate::evidence::ident::Id;

pub use crate::decide::recalled::Hit;

const V4: u8 = 1;
const V6: u8 = 2;
const ASN: u8 = 3;
const COUNTRY: u8 = 4;
const FIELD: u8 = 5;

/// One key of the table: 24 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    kind: u8,
    len: u8,
    hi: u64,
    lo: u64,
}

pub use crate::config::field_tag;

fn v4_key(bits: u32, len: u8) -> Key {
    let masked = if len == 0 {
        0
    } else {
        bits & (u32::MAX << (32 - u32::from(len)))
    };
    Key {
        kind: V4,
        len,
        hi: 0,
        lo: u64::from(masked),
    }
}

fn v6_key(bits: u128, len: u8) -> Key {
    let masked = if len == 0 {
        0
    } else {
        bits & (u128::MAX << (128 - u32::from(len)))
    };
    Key {
        kind: V6,
        len,
        hi: (masked >> 64) as u64,
        lo: masked as u64,
    }
}

impl Key {
    pub fn of(s: &Subject) -> Key {
        match s {
            Subject::Ip(IpAddr::V4(a)) => v4_key(u32::from(*a), 32),
            Subject::Ip(IpAddr::V6(a)) => v6_key(u128::from(*a), 128),
            Subject::Range(IpNet::V4(n)) => v4_key(u32::from(n.network()), n.prefix_len()),
            Subject::Range(IpNet::V6(n)) => v6_key(u128::from(n.network()), n.prefix_len()),
            Subject::Asn(a) => Key {
                kind: ASN,
                len: 0,
                hi: 0,
                lo: u64::from(*a),
            },
            Subject::Country(c) => Key {
                kind: COUNTRY,
                len: 0,
                hi: 0,
                lo: u64::from(u16::from_be_bytes(*c)),
            },
            Subject::Field { name, id } => Key {
                kind: FIELD,
                len: 0,
                hi: field_tag(name),
                lo: id.0,
            },
        }
    }
}

type Map<V> = HashMap<Key, V, foldhash::fast::FixedState>;

/// The published set. `one` holds a key's first decision; the rare key with more
/// (CrowdSec's ban and the app's allow on one address) keeps the others in `more`.
#[derive(Debug, Clone, Default)]
pub struct DecisionSet {
    one: Map<Hit>,
    more: Map<Vec<Hit>>,
    /// bit n: some decision is on an IPv4 prefix of length n (32: an address)
    v4_lens: u64,
    /// bit n of word n/64: the same for IPv6 (0..=128)
    v6_lens: [u64; 3],
    /// how many keys of each kind are present, by kind (so that absent kinds cost nothing)
    kinds: [u32; 6],
    /// keys per prefix length, IPv4 then IPv6 (33 + 129)
    per_len: Vec<u32>,
    /// the distinct field tags present
    fields: Vec<(u64, u32)>,
}

/// Where a request's lookup can take its fields from: `(field tag, keyed hash)`.
pub trait FieldIds {
    fn each(&self, f: &mut dyn FnMut(u64, Id));
}

impl DecisionSet {
    pub fn len(&self) -> usize {
        self.one.len() + self.more.values().map(Vec::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.one.is_empty()
    }

    /// Whether some decision is on field `tag`: a request hashes a field value it
    /// would not hash anyway only then.
    pub fn has_field(&self, tag: u64) -> bool {
        self.fields.iter().any(|(t, _)| *t == tag)
    }

    pub fn has_fields(&self) -> bool {
        !self.fields.is_empty()
    }

    /// Room for `n` more decisions.
    pub fn reserve(&mut self, n: usize) {
        self.one.reserve(n);
    }

    pub fn insert(&mut self, key: Key, hit: Hit) {
        match self.one.entry(key) {
            std::collections::hash_map::Entry::Occupied(_) => {
                self.more.entry(key).or_default().push(hit);
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(hit);
                self.kinds[key.kind as usize] += 1;
                match key.kind {
                    V4 | V6 => {
                        self.count_len(key, 1);
                    }
                    FIELD => match self.fields.iter_mut().find(|(t, _)| *t == key.hi) {
                        Some((_, n)) => *n += 1,
                        None => self.fields.push((key.hi, 1)),
                    },
                    _ => {}
                }
            }
        }
    }

    /// Remove decision `id` from `key`; whether it was there.
    pub fn remove(&mut self, key: Key, id: u64) -> bool {
        if let Some(list) = self.more.get_mut(&key) {
            if let Some(p) = list.iter().position(|h| h.id == id) {
                list.swap_remove(p);
                if list.is_empty() {
                    self.more.remove(&key);
                }
                return true;
            }
        }
        match self.one.get(&key) {
            Some(h) if h.id == id => {}
            _ => return false,
        }
        // the key's next decision, if any, moves up
        if let Some(list) = self.more.get_mut(&key) {
            let next = list.pop().expect("a listed key has a decision");
            if list.is_empty() {
                self.more.remove(&key);
            }
            self.one.insert(key, next);
            return true;
        }
        self.one.remove(&key);
        self.kinds[key.kind as usize] -= 1;
        match key.kind {
            V4 | V6 => self.count_len(key, -1),
            FIELD => {
                if let Some(p) = self.fields.iter().position(|(t, _)| *t == key.hi) {
                    self.fields[p].1 -= 1;
                    if self.fields[p].1 == 0 {
                        self.fields.swap_remove(p);
                    }
                }
            }
            _ => {}
        }
        true
    }

    /// Count a prefix key in or out, keeping the bits of the lengths in use.
    fn count_len(&mut self, key: Key, by: i32) {
        if self.per_len.is_empty() {
            self.per_len = vec![0; 33 + 129];
        }
        let slot = if key.kind == V4 { 0 } else { 33 } + key.len as usize;
        let n = &mut self.per_len[slot];
        *n = n.saturating_add_signed(by);
        let on = *n > 0;
        let (word, bit) = if key.kind == V4 {
            (&mut self.v4_lens, key.len)
        } else {
            (&mut self.v6_lens[key.len as usize / 64], key.len % 64)
        };
        if on {
            *word |= 1 << bit;
        } else {
            *word &= !(1 << bit);
        }
    }

    /// The strongest live decision on `key`.
    fn probe(&self, key: &Key, now: &mut Clock, best: &mut Option<Hit>) {
        let Some(h) = self.one.get(key) else {
            return;
        };
        let mut consider = |h: &Hit| {
            if h.expires_ms > now.get() && best.is_none_or(|b| h.beats(&b)) {
                *best = Some(*h);
            }
        };
        consider(h);
        if !self.more.is_empty() {
            if let Some(list) = self.more.get(key) {
                list.iter().for_each(consider);
            }
        }
    }

    /// The strongest live decision matching a request: its address (at every prefix
    /// length in use), its ASN, its country and its fields. `now_ms` is read only when
    /// something matches.
    pub fn recall(
        &self,
        ip: Option<IpAddr>,
        asn: Option<u32>,
        country: Option<[u8; 2]>,
        fields: &dyn FieldIds,
        now_ms: fn() -> i64,
    ) -> Option<Hit> {
        if self.one.is_empty() {
            return None;
        }
        let mut now = Clock {
            at: None,
            read: now_ms,
        };
        let mut best = None;
        match ip.map(crate::intel::canonical) {
            None => {}
            Some(IpAddr::V4(a)) => {
                let bits = u32::from(a);
                let mut lens = self.v4_lens;
                while lens != 0 {
                    let len = lens.trailing_zeros() as u8;
                    lens &= lens - 1;
                    self.probe(&v4_key(bits, len), &mut now, &mut best);
                }
            }
            Some(IpAddr::V6(a)) => {
                let bits = u128::from(a);
                for (w, word) in self.v6_lens.iter().enumerate() {
                    let mut lens = *word;
                    while lens != 0 {
                        let len = (w * 64) as u8 + lens.trailing_zeros() as u8;
                        lens &= lens - 1;
                        self.probe(&v6_key(bits, len), &mut now, &mut best);
                    }
                }
            }
        }
        if let (Some(a), true) = (asn, self.kinds[ASN as usize] > 0) {
            self.probe(&Key::of(&Subject::Asn(a)), &mut now, &mut best);
        }
        if let (Some(c), true) = (country, self.kinds[COUNTRY as usize] > 0) {
            self.probe(&Key::of(&Subject::Country(c)), &mut now, &mut best);
        }
        if self.kinds[FIELD as usize] > 0 {
            fields.each(&mut |tag, id| {
                let key = Key {
                    kind: FIELD,
                    len: 0,
                    hi: tag,
                    lo: id.0,
                };
                self.probe(&key, &mut now, &mut best);
            });
        }
        best
    }
}

/// The wall clock, read once and only when needed.
struct Clock {
    at: Option<i64>,
    read: fn() -> i64,
}

impl Clock {
    fn get(&mut self) -> i64 {
        *self.at.get_or_insert_with(self.read)
    }
}

/// No fields (a lookup by network only).
pub struct NoFields;

impl FieldIds for NoFields {
    fn each(&self, _: &mut dyn FnMut(u64, Id)) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decisions::Action;

    fn later() -> i64 {
        1_000
    }

    fn hit(id: u64, action: Action, expires_ms: i64) -> Hit {
        Hit {
            id,
            expires_ms,
            action,
        }
    }

    struct Fields(Vec<(u64, Id)>);
    impl FieldIds for Fields {
        fn each(&self, f: &mut dyn FnMut(u64, Id)) {
            for (t, i) in &self.0 {
                f(*t, *i)
            }
        }
    }

    #[test]
    fn addresses_ranges_networks_and_fields_match_the_strongest_live_one() {
        let mut s = DecisionSet::default();
        let range: IpNet = "203.0.113.0/24".parse().unwrap();
        s.insert(
            Key::of(&Subject::Range(range)),
            hit(1, Action::Verify, 5_000),
        );
        s.insert(
            Key::of(&Subject::Ip("203.0.113.7".parse().unwrap())),
            hit(2, Action::Block, 5_000),
        );
        s.insert(Key::of(&Subject::Asn(64500)), hit(3, Action::Shadow, 5_000));
        let dev = Subject::Field {
            name: "device".into(),
            id: Id(42),
        };
        s.insert(Key::of(&dev), hit(4, Action::Allow, 5_000));
        let ip = |t: &str| Some(t.parse::<IpAddr>().unwrap());
        let none = NoFields;
        assert_eq!(
            s.recall(ip("203.0.113.9"), None, None, &none, later)
                .unwrap()
                .id,
            1
        );
        assert_eq!(
            s.recall(ip("203.0.113.7"), None, None, &none, later)
                .unwrap()
                .id,
            2
        );
        // a v4-mapped address is the same host
        assert_eq!(
            s.recall(ip("::ffff:203.0.113.7"), None, None, &none, later)
                .unwrap()
                .id,
            2
        );
        assert_eq!(
            s.recall(ip("198.51.100.1"), Some(64500), None, &none, later)
                .unwrap()
                .id,
            3
        );
        assert!(s
            .recall(ip("198.51.100.1"), Some(64501), None, &none, later)
            .is_none());
        let f = Fields(vec![(field_tag("device"), Id(42))]);
        // allow beats the block on the address
        assert_eq!(
            s.recall(ip("203.0.113.7"), None, None, &f, later)
                .unwrap()
                .id,
            4
        );
        // another field's value with the same hash is another key
        let g = Fields(vec![(field_tag("coupon"), Id(42))]);
        assert_eq!(
            s.recall(ip("203.0.113.7"), None, None, &g, later)
                .unwrap()
                .id,
            2
        );
        // expired: gone
        assert!(s
            .recall(ip("203.0.113.9"), None, None, &none, || 5_000)
            .is_none());
    }

    #[test]
    fn a_second_decision_on_a_key_moves_up_when_the_first_goes() {
        let mut s = DecisionSet::default();
        let k = Key::of(&Subject::Country(*b"XX"));
        s.insert(k, hit(1, Action::Block, 2_000));
        s.insert(k, hit(2, Action::Verify, 9_000));
        let ip: Option<IpAddr> = "192.0.2.1".parse().ok();
        let at = |now: fn() -> i64| s.recall(ip, None, Some(*b"XX"), &NoFields, now);
        assert_eq!(at(later).unwrap().id, 1);
        // the block expired: the verify still applies
        assert_eq!(at(|| 3_000).unwrap().id, 2);
        assert!(s.remove(k, 1));
        assert_eq!(
            s.recall(ip, None, Some(*b"XX"), &NoFields, later)
                .unwrap()
                .id,
            2
        );
        assert!(s.remove(k, 2));
        assert!(!s.remove(k, 2));
        assert!(s.is_empty());
        assert_eq!(s.kinds[COUNTRY as usize], 0);
    }

    #[test]
    fn prefix_lengths_in_use_are_kept_exactly() {
        let mut s = DecisionSet::default();
        let a = Key::of(&Subject::Range("10.1.0.0/16".parse().unwrap()));
        let b = Key::of(&Subject::Range("10.2.0.0/16".parse().unwrap()));
        let c = Key::of(&Subject::Range("2001:db8::/32".parse().unwrap()));
        s.insert(a, hit(1, Action::Block, 9_000));
        s.insert(b, hit(2, Action::Block, 9_000));
        s.insert(c, hit(3, Action::Block, 9_000));
        assert_eq!(s.v4_lens, 1 << 16);
        assert_eq!(s.v6_lens[0], 1 << 32);
        s.remove(a, 1);
        assert_eq!(s.v4_lens, 1 << 16);
        s.remove(b, 2);
        assert_eq!(s.v4_lens, 0);
        let ip: Option<IpAddr> = "2001:db8:1::5".parse().ok();
        assert_eq!(s.recall(ip, None, None, &NoFields, later).unwrap().id, 3);
    }
}
