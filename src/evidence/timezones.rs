//! The countries of each IANA time zone, from tzdb (`data/timezones.txt`): zone.tab and
//! zone1970.tab, and every old name that links to a zone (`Asia/Calcutta`,
//! `US/Pacific`). Names are matched without regard to case.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::config::CountryCode;

const DATA: &str = include_str!("../../data/timezones.txt");

static BY_ZONE: LazyLock<HashMap<String, Vec<CountryCode>>> = LazyLock::new(|| {
    DATA.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (zone, ccs) = l.split_once('\t')?;
            let ccs = ccs
                .split(',')
                .filter_map(|c| c.trim().as_bytes().try_into().ok())
                .collect();
            Some((zone.to_ascii_lowercase(), ccs))
        })
        .collect()
});

/// Build the table now (at config load), not on the first request.
pub fn load() {
    LazyLock::force(&BY_ZONE);
}

/// The countries that use `zone`, or `None` for a name tzdb does not give a country
/// (`Etc/UTC`, a typo): the check is then skipped, never a signal.
pub fn countries_of(zone: &str) -> Option<&'static [CountryCode]> {
    let z = zone.trim().as_bytes();
    if z.is_empty() || z.len() > 64 {
        return None;
    }
    // lower-cased on the stack: no allocation on the request path
    let mut buf = [0u8; 64];
    let lower = &mut buf[..z.len()];
    lower.copy_from_slice(z);
    lower.make_ascii_lowercase();
    BY_ZONE
        .get(std::str::from_utf8(lower).ok()?)
        .map(Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(zone: &str, cc: &[u8; 2]) -> bool {
        countries_of(zone).is_some_and(|c| c.contains(cc))
    }

    #[test]
    fn zones_and_their_old_names() {
        assert!(has("America/Los_Angeles", b"US"));
        assert!(!has("America/Los_Angeles", b"IN"));
        assert!(has("Asia/Kolkata", b"IN"));
        assert!(has("Asia/Calcutta", b"IN"));
        assert!(has("US/Pacific", b"US"));
        assert!(has("Europe/Berlin", b"DE"));
        assert!(has("Europe/Kiev", b"UA"));
        assert!(has("Asia/Saigon", b"VN"));
        assert!(has("america/sao_paulo", b"BR"));
        assert!(has("Europe/London", b"GB"));
        assert_eq!(countries_of("Etc/UTC"), None);
        assert_eq!(countries_of("Mars/Olympus_Mons"), None);
        assert_eq!(countries_of(""), None);
    }
}
