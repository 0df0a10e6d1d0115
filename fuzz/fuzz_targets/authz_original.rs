//! The forward-auth ask: lines of `Name: value` bytes as an ingress (and the client
//! behind it) may send them, and the ask's own target. Whatever the bytes, the request
//! named is one origin-form target and one method, or a clear refusal: never a panic,
//! and never a target that does not begin with `/`. When two conventions are present,
//! the one named is what both say.
#![no_main]
use libfuzzer_sys::fuzz_target;
use riskgate::http::authz::original::{of_envoy, of_headers};

fuzz_target!(|data: &[u8]| {
    let mut h = http::HeaderMap::new();
    let mut lines = data.split(|&b| b == b'\n');
    let target = lines.next().unwrap_or_default();
    for l in lines {
        let Some(at) = l.iter().position(|&b| b == b':') else { continue };
        let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(&l[..at]),
            http::HeaderValue::from_bytes(l[at + 1..].trim_ascii()),
        ) else {
            continue;
        };
        h.append(k, v);
    }
    if let Ok(o) = of_headers(&h) {
        assert!(o.target.starts_with('/'), "{o:?}");
        for name in ["x-original-uri", "x-forwarded-uri"] {
            if let Some(v) = h.get(name) {
                assert_eq!(v.to_str().unwrap().trim(), o.target, "{h:?}");
            }
        }
        for name in ["x-original-method", "x-forwarded-method"] {
            if let Some(v) = h.get(name) {
                assert!(v.to_str().unwrap().trim().eq_ignore_ascii_case(o.method.as_str()), "{h:?}");
            }
        }
    }
    if let Ok(t) = std::str::from_utf8(target) {
        if let Some(o) = of_envoy(t) {
            assert!(o.starts_with('/'), "{t} → {o}");
            assert!(t.ends_with(o.trim_start_matches('/')), "{t} → {o}");
        }
    }
});
