//! An MMDB file as the reloader reads it: a corrupt database is refused whole, never a
//! panic, and one that is accepted answers any lookup.
#![no_main]
use libfuzzer_sys::fuzz_target;
use riskgate::intel::mmdb::{Mmdb, MmdbKind};

fuzz_target!(|data: &[u8]| {
    for kind in [MmdbKind::Geo, MmdbKind::Asn, MmdbKind::AnonymousIp, MmdbKind::ConnectionType] {
        let Ok(db) = Mmdb::from_bytes(data.to_vec(), std::path::Path::new("fuzz.mmdb"), kind) else {
            continue;
        };
        for ip in ["1.2.3.4", "89.160.20.112", "2001:db8::1", "::ffff:1.2.3.4", "0.0.0.0"] {
            let ip = ip.parse().unwrap();
            let _ = db.country(ip);
            let _ = db.asn(ip);
            let _ = db.anonymous(ip);
            let _ = db.connection_type(ip);
        }
    }
});
