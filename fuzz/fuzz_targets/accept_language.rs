//! `Accept-Language`: any header gives at most 32 base codes of 2 or 3 ASCII letters,
//! each a piece of the header, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use riskgate::evidence::accept_language::{languages, MAX_ENTRIES};

fuzz_target!(|data: &[u8]| {
    let Ok(h) = std::str::from_utf8(data) else {
        return;
    };
    let got: Vec<&str> = languages(h).collect();
    assert!(got.len() <= MAX_ENTRIES);
    for l in got {
        assert!((2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic()), "{l:?}");
        assert!(h.contains(l));
    }
});
