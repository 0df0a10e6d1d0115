//! Keyed hashes of identifiers: a device id, an e-mail, a coupon or referral code is
//! known to limits, the hopping store and the decision log only as a 64-bit SipHash
//! under the deployment's `hash_key` — the same value hashes alike on every replica and
//! across restarts (with a key file), so a replay of the log limits alike, and a reader
//! of the log cannot tell the value (a guess needs the key).

use std::fmt;
use std::hash::Hasher;

use siphasher::sip::SipHasher13;
use siphasher::sip128::{Hasher128, SipHasher13 as SipHasher13x128};

use crate::config::HashKey;

/// The keyed hash of one field value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Id(pub u64);

impl Id {
    pub fn of(key: &HashKey, value: &str) -> Id {
        let mut h = SipHasher13::new_with_key(&key.key);
        h.write(value.as_bytes());
        Id(h.finish())
    }

    /// Back from its log form (16 hex digits).
    pub fn parse(s: &str) -> Option<Id> {
        (s.len() == 16)
            .then(|| u64::from_str_radix(s, 16).ok())
            .flatten()
            .map(Id)
    }
}

impl fmt::Display for Id {
    /// 16 lower-case hex digits, as the decision log writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The ids of the fields in `ids` (indexes into `values`), the others `None`.
pub fn ids_of(key: &HashKey, values: &[Option<String>], ids: &[usize]) -> Vec<Option<Id>> {
    let mut out = vec![None; values.len()];
    for &i in ids {
        if let Some(Some(v)) = values.get(i) {
            out[i] = Some(Id::of(key, v));
        }
    }
    out
}

/// A 128-bit keyed hash over several parts, for composite limit keys: each part is
/// written with its length, so that no two part lists hash from the same bytes.
pub struct Composite(SipHasher13x128);

impl Composite {
    pub fn new(key: &HashKey) -> Composite {
        Composite(SipHasher13x128::new_with_key(&key.key))
    }

    pub fn part(&mut self, tag: u8, bytes: &[u8]) {
        self.0.write_u8(tag);
        self.0.write_usize(bytes.len());
        self.0.write(bytes);
    }

    pub fn finish(self) -> u128 {
        self.0.finish128().as_u128()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_under_one_key_apart_under_another() {
        let a = HashKey::derive(b"0123456789abcdef0123456789abcdef");
        let b = HashKey::derive(b"another secret of enough length!");
        assert_eq!(Id::of(&a, "SAVE20"), Id::of(&a, "SAVE20"));
        assert_ne!(Id::of(&a, "SAVE20"), Id::of(&a, "SAVE21"));
        assert_ne!(Id::of(&a, "SAVE20"), Id::of(&b, "SAVE20"));
        let id = Id::of(&a, "SAVE20");
        assert_eq!(id.to_string().len(), 16);
        assert_eq!(Id::parse(&id.to_string()), Some(id));
        assert_eq!(Id::parse("xyz"), None);
    }

    #[test]
    fn composite_parts_do_not_run_into_each_other() {
        let k = HashKey::derive(b"0123456789abcdef0123456789abcdef");
        let h = |parts: &[&[u8]]| {
            let mut c = Composite::new(&k);
            for p in parts {
                c.part(1, p);
            }
            c.finish()
        };
        assert_ne!(h(&[b"ab", b"c"]), h(&[b"a", b"bc"]));
        assert_eq!(h(&[b"ab", b"c"]), h(&[b"ab", b"c"]));
    }
}
