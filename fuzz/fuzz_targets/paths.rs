//! The path views routes are matched on: never a panic; a plain path is its own only
//! view; normalising is idempotent (a normalised path is normalised) and gives one of
//! the path's views.
#![no_main]
use libfuzzer_sys::fuzz_target;
use riskgate::routes::path::{is_plain, normalize, views};

fuzz_target!(|data: &[u8]| {
    let Ok(p) = std::str::from_utf8(data) else {
        return;
    };
    let mut all: Vec<Vec<u8>> = Vec::new();
    views(p).any(|v| {
        all.push(v.to_vec());
        false
    });
    assert!(!all.is_empty());
    if is_plain(p.as_bytes()) {
        assert_eq!(all, vec![p.as_bytes().to_vec()]);
    }
    let n = normalize(p).into_owned();
    assert_eq!(normalize(&n), n.as_str(), "normalize is not idempotent on {p:?}");
    if p.is_char_boundary(p.len()) && std::str::from_utf8(&all[0]).is_ok() {
        assert_eq!(all[0], n.as_bytes(), "the first view is the normal form");
    }
});
