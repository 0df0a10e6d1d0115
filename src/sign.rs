//! `X-Risk-Signature`: HMAC-SHA256 over the forwarded request's method, target and
//! the nine `X-Risk-*` values, so that an app can tell riskgate's verdict from one a
//! client wrote itself (DESIGN *Signed headers*).
//!
//! ```text
//! X-Risk-Signature: v1 kid=<id> t=<unix seconds> sig=<base64url, no padding>
//! signed: "v1" \n t \n METHOD \n target \n x-risk-score:0 \n … \n x-risk-mode:enforce
//! ```
//!
//! A [`Key`] is keyed once, when the config is compiled: a request clones the keyed
//! state and feeds it the lines, with no allocation.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The fewest bytes a signing key file holds (surrounding whitespace aside).
pub const MIN_KEY_BYTES: usize = 32;

/// The scheme's version, the first signed line and the header's first word.
pub const VERSION: &str = "v1";

/// The header names in the signed lines, in contract order.
pub const NAMES: [&str; 9] = [
    "x-risk-score",
    "x-risk-action",
    "x-risk-reasons",
    "x-risk-client-ip",
    "x-risk-country",
    "x-risk-asn",
    "x-risk-network",
    "x-risk-route",
    "x-risk-mode",
];

/// The longest key id: the header stays within [`MAX_HEADER`].
pub const MAX_ID: usize = 64;

/// "v1 kid=" + id + " t=" + 20 digits + " sig=" + 43
const MAX_HEADER: usize = 7 + MAX_ID + 3 + 20 + 5 + 43;

/// A signing key: its id and its keyed HMAC state.
#[derive(Clone)]
pub struct Key {
    id: String,
    mac: HmacSha256,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never the secret
        f.debug_struct("Key").field("id", &self.id).finish()
    }
}

/// Why a signature did not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("not a `v1 kid=… t=… sig=…` signature")]
    Malformed,
    #[error("no key with id `{0}`")]
    UnknownKey(String),
    #[error("the signature does not match")]
    Mismatch,
}

impl Key {
    /// A key from its id and secret (a key file's trimmed content).
    pub fn new(id: &str, secret: &[u8]) -> Key {
        Key {
            id: id.to_string(),
            mac: <HmacSha256 as KeyInit>::new_from_slice(secret).expect("HMAC takes any key"),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The raw HMAC of the signed lines.
    fn tag(&self, t: u64, method: &str, target: &[u8], values: &[&[u8]; 9]) -> [u8; 32] {
        lines(self.mac.clone(), t, method, target, values)
            .finalize()
            .into_bytes()
            .into()
    }

    /// The `X-Risk-Signature` value of a request: `t` is the time in unix seconds,
    /// `target` the request target as sent to the origin (path and query), `values`
    /// the nine header values in contract order.
    pub fn sign(
        &self,
        t: u64,
        method: &str,
        target: &[u8],
        values: &[&[u8]; 9],
    ) -> http::HeaderValue {
        let tag = self.tag(t, method, target, values);
        let mut buf = [0u8; MAX_HEADER];
        let mut n = 0;
        let mut put = |s: &[u8]| {
            buf[n..n + s.len()].copy_from_slice(s);
            n += s.len();
        };
        put(b"v1 kid=");
        put(self.id.as_bytes());
        put(b" t=");
        let mut digits = [0u8; 20];
        put(decimal(t, &mut digits));
        put(b" sig=");
        let written = URL_SAFE_NO_PAD
            .encode_slice(tag, &mut buf[n..])
            .expect("43 bytes fit");
        n += written;
        http::HeaderValue::from_bytes(&buf[..n]).expect("ASCII")
    }
}

/// Check a signature with the keys an app holds; on success, the signed time `t`
/// (whose freshness the caller judges).
pub fn verify(
    keys: &[Key],
    header: &str,
    method: &str,
    target: &[u8],
    values: &[&[u8]; 9],
) -> Result<u64, VerifyError> {
    let mut words = header.split(' ');
    if words.next() != Some(VERSION) {
        return Err(VerifyError::Malformed);
    }
    let mut field = |name: &str| {
        words
            .next()
            .and_then(|w| w.strip_prefix(name))
            .ok_or(VerifyError::Malformed)
    };
    let kid = field("kid=")?;
    let t = field("t=")?;
    let sig = field("sig=")?;
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::Malformed);
    }
    let t: u64 = t.parse().map_err(|_| VerifyError::Malformed)?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| VerifyError::Malformed)?;
    let key = keys
        .iter()
        .find(|k| k.id == kid)
        .ok_or_else(|| VerifyError::UnknownKey(kid.to_string()))?;
    // checked in constant time by `verify_slice`
    lines(key.mac.clone(), t, method, target, values)
        .verify_slice(&sig)
        .map_err(|_| VerifyError::Mismatch)?;
    Ok(t)
}

/// The keyed state fed the signed lines. (Gathering them in a stack buffer for one
/// `update` was measured slower: 0.72 µs against 0.51 µs a signature.)
fn lines(
    mut mac: HmacSha256,
    t: u64,
    method: &str,
    target: &[u8],
    values: &[&[u8]; 9],
) -> HmacSha256 {
    let mut digits = [0u8; 20];
    mac.update(VERSION.as_bytes());
    mac.update(b"\n");
    mac.update(decimal(t, &mut digits));
    mac.update(b"\n");
    mac.update(method.as_bytes());
    mac.update(b"\n");
    mac.update(target);
    for (name, value) in NAMES.iter().zip(values) {
        mac.update(b"\n");
        mac.update(name.as_bytes());
        mac.update(b":");
        mac.update(value);
    }
    mac
}

/// `n` in decimal, written at the end of `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// Whether `id` may name a key: 1–64 of `A-Z a-z 0-9 . _ -`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUES: [&[u8]; 9] = [
        b"85",
        b"block",
        b"vpn,hosting",
        b"203.0.113.9",
        b"SE",
        b"64500",
        b"vpn",
        b"coupon",
        b"shadow",
    ];

    #[test]
    fn decimal_writes_every_width() {
        let mut b = [0u8; 20];
        for n in [0u64, 7, 10, 1_700_000_000, u64::MAX] {
            assert_eq!(decimal(n, &mut b), n.to_string().as_bytes());
        }
    }

    #[test]
    fn the_signature_is_hmac_sha256_over_the_contract_lines() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let key = Key::new("k2", secret);
        let header = key.sign(1_700_000_000, "POST", b"/api/apply-coupon?x=1", &VALUES);
        // the same HMAC computed from the contract's text, independently of `tag`
        let text = "v1\n1700000000\nPOST\n/api/apply-coupon?x=1\nx-risk-score:85\nx-risk-action:block\nx-risk-reasons:vpn,hosting\nx-risk-client-ip:203.0.113.9\nx-risk-country:SE\nx-risk-asn:64500\nx-risk-network:vpn\nx-risk-route:coupon\nx-risk-mode:shadow";
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret).unwrap();
        mac.update(text.as_bytes());
        let want = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        assert_eq!(want.len(), 43);
        assert_eq!(
            header.to_str().unwrap(),
            format!("v1 kid=k2 t=1700000000 sig={want}")
        );
    }

    #[test]
    fn rotation_and_tampering() {
        let new = Key::new("k2", &[7u8; 32]);
        let old = Key::new("k1", &[9u8; 32]);
        let both = [new.clone(), old.clone()];
        let h = old.sign(42, "POST", b"/signup", &VALUES);
        let h = h.to_str().unwrap();
        // signed with the old key, still verified while it is listed
        assert_eq!(verify(&both, h, "POST", b"/signup", &VALUES), Ok(42));
        assert_eq!(
            verify(std::slice::from_ref(&new), h, "POST", b"/signup", &VALUES),
            Err(VerifyError::UnknownKey("k1".into()))
        );
        // any change to what was signed
        assert_eq!(
            verify(&both, h, "GET", b"/signup", &VALUES),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(&both, h, "POST", b"/signup?a", &VALUES),
            Err(VerifyError::Mismatch)
        );
        let mut changed = VALUES;
        changed[1] = b"allow";
        assert_eq!(
            verify(&both, h, "POST", b"/signup", &changed),
            Err(VerifyError::Mismatch)
        );
        let later = h.replace("t=42", "t=43");
        assert_eq!(
            verify(&both, &later, "POST", b"/signup", &VALUES),
            Err(VerifyError::Mismatch)
        );
        // an id that claims another key's name does not help
        let forged = Key::new("k2", &[1u8; 32]).sign(42, "POST", b"/signup", &VALUES);
        assert_eq!(
            verify(&both, forged.to_str().unwrap(), "POST", b"/signup", &VALUES),
            Err(VerifyError::Mismatch)
        );
        for bad in [
            "",
            "v2 kid=k2 t=1 sig=AA",
            "v1 kid=k2 t=x sig=AA",
            "v1 kid=k2",
        ] {
            assert_eq!(
                verify(&both, bad, "POST", b"/signup", &VALUES),
                Err(VerifyError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn long_values_sign_like_short_ones() {
        // a target longer than the gathering buffer, and many pieces around it
        let key = Key::new("k", &[3u8; 32]);
        let long = "/p?".to_string() + &"x".repeat(2000);
        let mut values = VALUES;
        let reasons = "list:deny,".repeat(60);
        values[2] = reasons.as_bytes();
        let h = key.sign(9, "POST", long.as_bytes(), &values);
        let text = format!(
            "v1\n9\nPOST\n{long}\n{}",
            NAMES
                .iter()
                .zip(values)
                .map(|(n, v)| format!("{n}:{}", String::from_utf8_lossy(v)))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&[3u8; 32]).unwrap();
        mac.update(text.as_bytes());
        let want = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        assert!(h.to_str().unwrap().ends_with(&format!("sig={want}")));
        assert_eq!(
            verify(
                &[key],
                h.to_str().unwrap(),
                "POST",
                long.as_bytes(),
                &values
            ),
            Ok(9)
        );
    }

    #[test]
    fn key_ids() {
        assert!(valid_id("k2"));
        assert!(valid_id("2026-11.primary_a"));
        assert!(!valid_id(""));
        assert!(!valid_id("k 2"));
        assert!(!valid_id("k=2"));
        assert!(!valid_id(&"k".repeat(65)));
    }
}
