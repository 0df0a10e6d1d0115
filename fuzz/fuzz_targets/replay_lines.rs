//! The replay's line parsers (riskgate's decision log, combined access logs, JSON
//! lines): any line is a record, not a decision, or an unreadable line, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use riskgate::replay::input::parse_line;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.lines() {
        let _ = parse_line(line);
    }
});
