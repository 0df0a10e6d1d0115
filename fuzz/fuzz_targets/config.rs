//! The config loader: any text is a config or a list of problems, each with a place,
//! never a panic. Paths resolve under a directory that does not exist.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = riskgate::config::parse(text, std::path::Path::new("/nonexistent-riskgate-fuzz/gateway.yaml")) {
        assert!(!e.problems.is_empty(), "an error with no problem");
        for p in &e.problems {
            assert!(!p.message.is_empty(), "a problem with no message: {p:?}");
        }
    }
});
