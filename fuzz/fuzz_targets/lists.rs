//! Every list and feed parser (plain CIDR, AWS, Google, Azure, Oracle, geofeed, the Tor
//! exit list, AS-number lists): any text is data or an error, never a panic; what a
//! set contains it contains after a union too.
#![no_main]
use libfuzzer_sys::fuzz_target;
use riskgate::config::FeedFormat;
use riskgate::intel::asns::AsnList;
use riskgate::intel::feeds;
use riskgate::intel::lists::CidrSet;
use riskgate::intel::tor::TorSet;

const FORMATS: [&str; 6] = ["cidr", "aws", "gcp", "azure", "oracle", "geofeed"];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = TorSet::parse(text);
    let _ = AsnList::parse(text);
    let _ = feeds::detect(text);
    let mut sets = Vec::new();
    if let Ok(s) = feeds::parse(text, None) {
        sets.push(s);
    }
    for f in FORMATS {
        if let Ok(s) = feeds::parse(text, FeedFormat::from_name(f)) {
            sets.push(s);
        }
    }
    let Some(first) = sets.first() else { return };
    let u = CidrSet::union(sets.iter());
    // probe addresses taken from the input's bytes
    for chunk in data.chunks(16) {
        let mut b = [0u8; 16];
        b[..chunk.len()].copy_from_slice(chunk);
        let v6 = std::net::IpAddr::from(b);
        let v4 = std::net::IpAddr::from([b[0], b[1], b[2], b[3]]);
        for ip in [v4, v6] {
            if first.contains(ip) {
                assert!(u.contains(ip), "{ip} lost in a union");
                assert!(u.entry_of(ip).is_some());
            }
            if let Some(c) = first.country(ip) {
                assert!(c.iter().all(u8::is_ascii_uppercase));
            }
        }
    }
});
