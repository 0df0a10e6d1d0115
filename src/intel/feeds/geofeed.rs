//! RFC 8805 geofeeds: `prefix,country,region,city,postal`, `#` comments. Real feeds
//! are not clean CSV: upper-case and zero-padded IPv6, rows of four fields, tabs and
//! no-break spaces in the postal field, CRLF line ends, a comment with a comma in it.

use super::super::lists::{Builder, CidrSet};
use super::IntelError;
use crate::config::{CountryCode, FeedFormat};

/// The country field: two ASCII letters (upper-cased), or none when empty.
fn country(field: &str) -> Result<Option<CountryCode>, ()> {
    let f = field.trim_matches(|c: char| c.is_whitespace());
    match f.as_bytes() {
        [] => Ok(None),
        [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
            Ok(Some([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
        }
        _ => Err(()),
    }
}

/// Data lines, comments and blanks aside.
fn rows(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(n, l)| (n, l.trim_matches(|c: char| c.is_whitespace())))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// Most of the first rows have a prefix, then a comma and a country code (or nothing).
pub(super) fn looks_like(text: &str) -> bool {
    let sample: Vec<&str> = rows(text).map(|(_, l)| l).take(20).collect();
    let fits = sample
        .iter()
        .filter(|l| {
            let mut f = l.split(',');
            let prefix = f.next().unwrap_or("").trim();
            let cc = f.next();
            cc.is_some_and(|c| country(c).is_ok())
                && (prefix.parse::<ipnet::IpNet>().is_ok()
                    || prefix.parse::<std::net::IpAddr>().is_ok())
        })
        .count();
    !sample.is_empty() && fits * 2 > sample.len()
}

pub(super) fn parse(text: &str) -> Result<CidrSet, IntelError> {
    let mut b = Builder::default();
    for (n, line) in rows(text) {
        let mut f = line.split(',');
        let prefix = f.next().unwrap_or("");
        let ok = match country(f.next().unwrap_or("")) {
            Ok(cc) => b.add_text(prefix, cc),
            Err(()) => false,
        };
        if !ok {
            b.skip(format!("line {}: {line}", n + 1));
        }
    }
    b.finish_checked(FeedFormat::Geofeed, "a geofeed row (prefix,country,…)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_untidy_rows_real_feeds_have() {
        let text = "# T-Mobile US Geofeed,lastupdated (rfc3339): 2026-01-02\r\n\
                    2607:FB90::/28,US,US-WA,Seattle,\r\n\
                    2607:fb91:0000::/40,us,US-CA, Sacramento,\t\r\n\
                    64.13.32.0/21,US,US-TX,Dallas,\u{a0}\r\n\
                    198.51.100.0/24,US,US-NY,New York\r\n\
                    203.0.113.7,JP,,,\r\n\
                    not-a-prefix,US,,,\r\n\
                    192.0.2.0/24,USA,,,\r\n";
        let s = parse(text).unwrap();
        assert_eq!(s.entries, 5);
        assert_eq!(s.skipped, 2);
        assert_eq!(
            s.first_skipped.as_deref(),
            Some("line 7: not-a-prefix,US,,,")
        );
        let ip = |t: &str| t.parse::<std::net::IpAddr>().unwrap();
        assert_eq!(s.country(ip("2607:fb90::1")), Some(*b"US"));
        assert_eq!(s.country(ip("2607:fb91::1")), Some(*b"US"));
        assert_eq!(s.country(ip("64.13.39.255")), Some(*b"US"));
        assert_eq!(s.country(ip("203.0.113.7")), Some(*b"JP"));
        assert!(s.contains(ip("198.51.100.1")));
        assert!(!s.contains(ip("192.0.2.1")));
    }
}
