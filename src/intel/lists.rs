//! Named CIDR lists, whatever format their source was in (see [`super::feeds`]).
//!
//! Stored as sorted, non-overlapping ranges (IPv4 as `u32`, IPv6 as `u128`), so a
//! lookup is one binary search whatever the list's size. Overlapping entries are
//! merged into the outer one, but neighbours are not joined: every range is an entry
//! its source named (a prefix or a `start-end` line), so the range an address falls
//! in says which entry of which feed flagged it. Countries (from geofeeds) are kept
//! apart, as disjoint segments in which the most specific entry that carries a
//! country gives it: a plain list's outer prefix never hides a geofeed's country,
//! and a /24 inside a /16 keeps its own.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::IntelError;
use crate::config::{CountryCode, FeedFormat};

/// No country for this range.
const NO_CC: CountryCode = [0, 0];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrSet {
    v4: Vec<(u32, u32)>,
    /// disjoint sorted segments with a country: (start, end, country, the span of the
    /// entry that gave it, which a union compares)
    v4_cc: Vec<(u32, u32, CountryCode, u32)>,
    /// for big lists: `v4_index[p]` is the first range starting at or after `p << 16`,
    /// so a lookup searches only the ranges of its /16 (one or two cache lines)
    v4_index: Vec<u32>,
    v6: Vec<(u128, u128)>,
    v6_cc: Vec<(u128, u128, CountryCode, u128)>,
    /// entries read (a prefix a feed repeats counts each time)
    pub entries: usize,
    /// lines or entries that were neither an entry nor a comment
    pub skipped: usize,
    /// the first skipped line, `line N: text` (or `entry N`), for the log
    pub first_skipped: Option<String>,
    /// the format the text was read as
    pub format: FeedFormat,
}

impl Default for CidrSet {
    fn default() -> CidrSet {
        CidrSet {
            v4: Vec::new(),
            v4_cc: Vec::new(),
            v4_index: Vec::new(),
            v6: Vec::new(),
            v6_cc: Vec::new(),
            entries: 0,
            skipped: 0,
            first_skipped: None,
            format: FeedFormat::Cidr,
        }
    }
}

/// Sort, then fold every range that overlaps the one before it into that one (the
/// outer entry wins). Neighbours stay apart.
fn merge<T: Ord + Copy>(v: &mut [(T, T, CountryCode, T)]) -> Vec<(T, T)> {
    // outer first when two start together
    v.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut out: Vec<(T, T)> = Vec::with_capacity(v.len());
    for &(s, e, _, _) in v.iter() {
        if let Some(last) = out.last_mut() {
            if s <= last.1 {
                if e > last.1 {
                    last.1 = e;
                }
                continue;
            }
        }
        out.push((s, e));
    }
    out.shrink_to_fit();
    out
}

/// The entries that carry a country as disjoint segments, each with the country of
/// the most specific (smallest) entry over it: entries are painted largest first, a
/// smaller one over a larger. Ranges are `u128` here, IPv4 widened.
fn countries(v: &[(u128, u128, CountryCode, u128)]) -> Vec<(u128, u128, CountryCode, u128)> {
    let mut with: Vec<_> = v.iter().filter(|x| x.2 != NO_CC).copied().collect();
    if with.is_empty() {
        return Vec::new();
    }
    with.sort_by_key(|x| std::cmp::Reverse(x.3));
    // start → (end, country, span)
    let mut segs: BTreeMap<u128, (u128, CountryCode, u128)> = BTreeMap::new();
    for (s, e, cc, span) in with {
        let mut touched: Vec<u128> = segs
            .range(..s)
            .next_back()
            .filter(|(_, v)| v.0 >= s)
            .map(|(k, _)| *k)
            .into_iter()
            .collect();
        touched.extend(segs.range(s..=e).map(|(k, _)| *k));
        for k in touched {
            let Some((ke, kc, ksp)) = segs.remove(&k) else {
                continue;
            };
            if k < s {
                segs.insert(k, (s - 1, kc, ksp));
            }
            if ke > e {
                segs.insert(e + 1, (ke, kc, ksp));
            }
        }
        segs.insert(s, (e, cc, span));
    }
    segs.into_iter()
        .map(|(s, (e, c, sp))| (s, e, c, sp))
        .collect()
}

/// The segment holding `x`.
#[inline]
fn find_cc<T: Ord + Copy>(v: &[(T, T, CountryCode, T)], x: T) -> Option<CountryCode> {
    let i = v.partition_point(|(s, ..)| *s <= x);
    (i > 0 && v[i - 1].1 >= x).then(|| v[i - 1].2)
}

/// The index of the range holding `x`.
#[inline]
fn find<T: Ord + Copy>(v: &[(T, T)], x: T) -> Option<usize> {
    let i = v.partition_point(|(s, _)| *s <= x);
    (i > 0 && v[i - 1].1 >= x).then(|| i - 1)
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim().parse().ok()
}

/// The prefix length of `[start, start + span]` when it is a prefix of a `width`-bit space.
fn prefix_len(start: u128, span: u128, width: u32) -> Option<u32> {
    // a prefix: the span is all ones (2^k - 1) and the start has none of those bits
    let host = 128 - span.leading_zeros();
    (span.count_ones() == host && start & span == 0).then(|| width - host)
}

/// A range as its source would have written it: a prefix when it is one.
fn range_text(start: IpAddr, end: IpAddr) -> String {
    let len = match (start, end) {
        (IpAddr::V4(a), IpAddr::V4(z)) => {
            let (a, z) = (u32::from(a), u32::from(z));
            prefix_len(a.into(), (z - a).into(), 32)
        }
        (IpAddr::V6(a), IpAddr::V6(z)) => {
            let (a, z) = (u128::from(a), u128::from(z));
            prefix_len(a, z - a, 128)
        }
        _ => None,
    };
    match len {
        Some(l) => format!("{start}/{l}"),
        None => format!("{start}-{end}"),
    }
}

/// The data lines of a one-entry-a-line text: (line number from 1, the line as
/// written, the line without its `#` comment, its first word). Some lists carry a
/// second column (`1.2.3.0/24 ; comment`, `1.2.3.0/24,AS1`, `AS1 Name`).
pub fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str, &str, &str)> {
    text.lines().enumerate().filter_map(|(n, raw)| {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            return None;
        }
        let first = line
            .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
            .next()
            .unwrap_or("");
        Some((n + 1, raw.trim(), line, first))
    })
}

impl CidrSet {
    /// Build from networks directly (used by tests and benches).
    pub fn from_nets<I: IntoIterator<Item = IpNet>>(nets: I) -> CidrSet {
        let mut b = Builder::default();
        for n in nets {
            b.add_net(n, None);
        }
        b.finish(FeedFormat::Cidr)
    }

    /// Parse list text of the plain format: one CIDR, IP or `start-end` range a line.
    /// Lines that are not an entry are skipped and counted; a text where most lines
    /// are not entries (an HTML error page, the wrong file) is an error.
    pub fn parse(text: &str) -> Result<CidrSet, IntelError> {
        let mut b = Builder::default();
        for (n, raw, line, first) in data_lines(text) {
            let ok = if b.add_text(first, None) {
                true
            } else if let Some((a, z)) = line.split_once('-') {
                match (parse_ip(a), parse_ip(z)) {
                    (Some(IpAddr::V4(a)), Some(IpAddr::V4(z))) if a <= z => {
                        let (a, z) = (u32::from(a), u32::from(z));
                        b.v4.push((a, z, NO_CC, z - a));
                        b.entries += 1;
                        true
                    }
                    (Some(IpAddr::V6(a)), Some(IpAddr::V6(z))) if a <= z => {
                        let (a, z) = (u128::from(a), u128::from(z));
                        b.v6.push((a, z, NO_CC, z - a));
                        b.entries += 1;
                        true
                    }
                    _ => false,
                }
            } else {
                false
            };
            if !ok {
                b.skip(format!("line {n}: {raw}"));
            }
        }
        b.finish_checked(FeedFormat::Cidr, "a CIDR, IP or range")
    }

    /// The union of several sets (a list of several sources).
    pub fn union<'a>(sets: impl IntoIterator<Item = &'a CidrSet>) -> CidrSet {
        let mut b = Builder::default();
        for s in sets {
            // the cover without countries, and the country segments with the span of
            // the entry that gave each (so the most specific still wins across sets)
            b.v4.extend(s.v4.iter().map(|&(a, z)| (a, z, NO_CC, z - a)));
            b.v6.extend(s.v6.iter().map(|&(a, z)| (a, z, NO_CC, z - a)));
            b.v4.extend(s.v4_cc.iter().copied());
            b.v6.extend(s.v6_cc.iter().copied());
            b.entries += s.entries;
        }
        b.finish(FeedFormat::Cidr)
    }

    #[inline]
    fn find_v4(&self, x: u32) -> Option<usize> {
        if self.v4_index.is_empty() {
            return find(&self.v4, x);
        }
        let p = (x >> 16) as usize;
        // the covering range starts in this /16, or is the last one before it
        let lo = (self.v4_index[p] as usize).saturating_sub(1);
        let hi = self.v4_index[p + 1] as usize;
        find(&self.v4[lo..hi], x).map(|i| i + lo)
    }

    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => self.find_v4(u32::from(a)).is_some(),
            IpAddr::V6(a) => find(&self.v6, u128::from(a)).is_some(),
        }
    }

    /// The entry that holds `ip`, as its source wrote it (`52.94.0.0/16`).
    pub fn entry_of(&self, ip: IpAddr) -> Option<String> {
        match ip {
            IpAddr::V4(a) => self.find_v4(u32::from(a)).map(|i| {
                let (s, e) = self.v4[i];
                range_text(IpAddr::V4(s.into()), IpAddr::V4(e.into()))
            }),
            IpAddr::V6(a) => find(&self.v6, u128::from(a)).map(|i| {
                let (s, e) = self.v6[i];
                range_text(IpAddr::V6(s.into()), IpAddr::V6(e.into()))
            }),
        }
    }

    /// The country a geofeed gave the entry that holds `ip`.
    pub fn country(&self, ip: IpAddr) -> Option<CountryCode> {
        match ip {
            IpAddr::V4(a) => find_cc(&self.v4_cc, u32::from(a)),
            IpAddr::V6(a) => find_cc(&self.v6_cc, u128::from(a)),
        }
    }

    /// Ranges held (a measure of size).
    pub fn ranges(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges() == 0
    }
}

/// Lists with more IPv4 ranges than this get the /16 index (256 KiB).
const INDEX_FROM: usize = 4096;

/// Collects the entries of a source; the feed parsers fill it.
#[derive(Default)]
pub struct Builder {
    /// (start, end, country or none, the span of the entry that gave the country)
    v4: Vec<(u32, u32, CountryCode, u32)>,
    v6: Vec<(u128, u128, CountryCode, u128)>,
    entries: usize,
    skipped: usize,
    first_skipped: Option<String>,
}

impl Builder {
    pub fn add_net(&mut self, n: IpNet, cc: Option<CountryCode>) {
        let cc = cc.unwrap_or(NO_CC);
        self.entries += 1;
        match n.trunc() {
            IpNet::V4(n) => {
                let (s, e) = (u32::from(n.network()), u32::from(n.broadcast()));
                self.v4.push((s, e, cc, e - s))
            }
            IpNet::V6(n) => {
                // an IPv4-mapped network also covers the IPv4 addresses it maps
                if let Some(v4) = n.network().to_ipv4_mapped() {
                    if n.prefix_len() >= 96 {
                        let bits = 128 - n.prefix_len() as u32;
                        let start = u32::from(v4);
                        let end = start
                            | if bits == 32 {
                                u32::MAX
                            } else {
                                (1u32 << bits) - 1
                            };
                        self.v4.push((start, end, cc, end - start));
                    }
                }
                let (s, e) = (u128::from(n.network()), u128::from(n.broadcast()));
                self.v6.push((s, e, cc, e - s))
            }
        }
    }

    /// Add a CIDR or a bare IP written as text; false when it is neither.
    pub fn add_text(&mut self, t: &str, cc: Option<CountryCode>) -> bool {
        let t = t.trim();
        if let Ok(net) = t.parse::<IpNet>() {
            self.add_net(net, cc);
            true
        } else if let Some(ip) = parse_ip(t) {
            self.add_net(IpNet::from(ip), cc);
            true
        } else {
            false
        }
    }

    /// Count a line or entry that was not one, keeping the first for the log.
    pub fn skip(&mut self, what: String) {
        self.skipped += 1;
        if self.first_skipped.is_none() {
            self.first_skipped = Some(what.chars().take(100).collect());
        }
    }

    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Finish, refusing a text where most lines were not entries.
    pub fn finish_checked(self, format: FeedFormat, what: &str) -> Result<CidrSet, IntelError> {
        if self.skipped > 0 && self.skipped >= self.entries {
            return Err(IntelError::Format(format!(
                "{} of {} lines are not {what} (first: {}); not a {} list",
                self.skipped,
                self.skipped + self.entries,
                self.first_skipped.as_deref().unwrap_or_default(),
                format.name()
            )));
        }
        Ok(self.finish(format))
    }

    pub fn finish(mut self, format: FeedFormat) -> CidrSet {
        let wide: Vec<(u128, u128, CountryCode, u128)> = self
            .v4
            .iter()
            .filter(|x| x.2 != NO_CC)
            .map(|&(s, e, c, sp)| (s.into(), e.into(), c, sp.into()))
            .collect();
        let narrow = |x: u128| u32::try_from(x).unwrap_or(u32::MAX);
        let v4_cc = countries(&wide)
            .into_iter()
            .map(|(s, e, c, sp)| (narrow(s), narrow(e), c, narrow(sp)))
            .collect();
        let v6_cc = countries(&self.v6);
        let v4 = merge(&mut self.v4);
        let v4_index = if v4.len() > INDEX_FROM {
            (0..=1u64 << 16)
                .map(|p| v4.partition_point(|(s, _)| u64::from(*s) < p << 16) as u32)
                .collect()
        } else {
            Vec::new()
        };
        let v6 = merge(&mut self.v6);
        CidrSet {
            v4,
            v4_cc,
            v4_index,
            v6,
            v6_cc,
            entries: self.entries,
            skipped: self.skipped,
            first_skipped: self.first_skipped,
            format,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_cidrs_ips_ranges_and_comments() {
        let text = "# datacenters\n10.0.0.0/8\n192.0.2.7 # one host\n\n198.51.100.10-198.51.100.20\n2001:db8::/32\n203.0.113.0/24 ; AS64500\n";
        let s = CidrSet::parse(text).unwrap();
        assert_eq!(s.entries, 5);
        assert_eq!(s.skipped, 0);
        assert!(s.contains(ip("10.255.255.255")));
        assert!(!s.contains(ip("11.0.0.0")));
        assert!(s.contains(ip("192.0.2.7")));
        assert!(!s.contains(ip("192.0.2.8")));
        assert!(s.contains(ip("198.51.100.15")));
        assert!(!s.contains(ip("198.51.100.21")));
        assert!(s.contains(ip("2001:db8:ffff::1")));
        assert!(!s.contains(ip("2001:db9::1")));
        assert!(s.contains(ip("203.0.113.200")));
    }

    #[test]
    fn merges_overlaps_but_keeps_neighbours_apart() {
        let s = CidrSet::parse("10.0.0.0/24\n10.0.1.0/24\n10.0.0.128/25\n10.0.3.0/24\n").unwrap();
        // the /25 folds into its /24; the two neighbouring /24s stay two entries
        assert_eq!(s.ranges(), 3);
        assert!(s.contains(ip("10.0.1.255")));
        assert!(!s.contains(ip("10.0.2.0")));
        assert!(s.contains(ip("10.0.3.1")));
        assert_eq!(s.entry_of(ip("10.0.0.200")).as_deref(), Some("10.0.0.0/24"));
        assert_eq!(s.entry_of(ip("10.0.1.7")).as_deref(), Some("10.0.1.0/24"));
        assert_eq!(s.entry_of(ip("10.0.2.7")), None);
    }

    #[test]
    fn entries_are_named_as_written() {
        // the outer entry covers the inner one
        let s = CidrSet::parse("10.1.2.3\n10.0.0.0/8\n").unwrap();
        assert_eq!(s.entry_of(ip("10.1.2.3")).as_deref(), Some("10.0.0.0/8"));
        let s =
            CidrSet::parse("192.0.2.7\n198.51.100.10-198.51.100.20\n2001:db8::/32\n2001:db9::1\n")
                .unwrap();
        assert_eq!(s.entry_of(ip("192.0.2.7")).as_deref(), Some("192.0.2.7/32"));
        assert_eq!(
            s.entry_of(ip("198.51.100.11")).as_deref(),
            Some("198.51.100.10-198.51.100.20")
        );
        assert_eq!(
            s.entry_of(ip("2001:db8::5")).as_deref(),
            Some("2001:db8::/32")
        );
        assert_eq!(
            s.entry_of(ip("2001:db9::1")).as_deref(),
            Some("2001:db9::1/128")
        );
    }

    #[test]
    fn a_union_keeps_countries_and_every_entry() {
        let mut a = Builder::default();
        a.add_text("203.0.113.0/24", Some(*b"US"));
        let a = a.finish(FeedFormat::Geofeed);
        let b = CidrSet::parse("198.51.100.0/24\n").unwrap();
        let u = CidrSet::union([&a, &b]);
        assert_eq!(u.entries, 2);
        assert_eq!(u.country(ip("203.0.113.9")), Some(*b"US"));
        assert_eq!(u.country(ip("198.51.100.9")), None);
        assert!(u.contains(ip("198.51.100.9")));
    }

    #[test]
    fn the_most_specific_entry_with_a_country_gives_it() {
        // a plain list's outer prefix and a geofeed inside it, in one list
        let mut g = Builder::default();
        g.add_text("172.224.226.0/27", Some(*b"GB"));
        g.add_text("2a02:26f7:b3c0:4000::/64", Some(*b"DE"));
        let g = g.finish(FeedFormat::Geofeed);
        let plain = CidrSet::parse(
            "172.224.0.0/16
2a02:26f7::/32
",
        )
        .unwrap();
        for u in [CidrSet::union([&plain, &g]), CidrSet::union([&g, &plain])] {
            assert_eq!(u.country(ip("172.224.226.5")), Some(*b"GB"));
            assert_eq!(u.country(ip("2a02:26f7:b3c0:4000::9")), Some(*b"DE"));
            assert_eq!(u.country(ip("172.224.1.1")), None);
            assert!(u.contains(ip("172.224.1.1")));
            assert_eq!(
                u.entry_of(ip("172.224.226.5")).as_deref(),
                Some("172.224.0.0/16")
            );
        }
        // nested geofeed entries: the inner one wins, the outer keeps the rest,
        // also across a union
        let mut a = Builder::default();
        a.add_text("10.0.0.0/16", Some(*b"US"));
        a.add_text("10.0.5.0/24", Some(*b"CA"));
        a.add_text("10.0.5.128/25", Some(*b"MX"));
        let a = a.finish(FeedFormat::Geofeed);
        let mut b = Builder::default();
        b.add_text("10.0.0.0/8", Some(*b"FR"));
        b.add_text("10.0.6.7", Some(*b"JP"));
        let b = b.finish(FeedFormat::Geofeed);
        for u in [
            a.clone(),
            CidrSet::union([&a, &b]),
            CidrSet::union([&b, &a]),
        ] {
            assert_eq!(u.country(ip("10.0.4.255")), Some(*b"US"));
            assert_eq!(u.country(ip("10.0.5.0")), Some(*b"CA"));
            assert_eq!(u.country(ip("10.0.5.127")), Some(*b"CA"));
            assert_eq!(u.country(ip("10.0.5.128")), Some(*b"MX"));
            assert_eq!(u.country(ip("10.0.5.255")), Some(*b"MX"));
            assert_eq!(u.country(ip("10.0.6.0")), Some(*b"US"));
            assert_eq!(u.country(ip("10.0.255.255")), Some(*b"US"));
        }
        let u = CidrSet::union([&a, &b]);
        assert_eq!(u.country(ip("10.0.6.7")), Some(*b"JP"));
        assert_eq!(u.country(ip("10.1.0.0")), Some(*b"FR"));
        assert_eq!(u.country(ip("10.255.255.255")), Some(*b"FR"));
        // at the ends of the space
        let mut e = Builder::default();
        e.add_text("0.0.0.0/0", Some(*b"AQ"));
        e.add_text("255.255.255.255", Some(*b"NZ"));
        e.add_text("0.0.0.0", Some(*b"AU"));
        let e = e.finish(FeedFormat::Geofeed);
        assert_eq!(e.country(ip("255.255.255.255")), Some(*b"NZ"));
        assert_eq!(e.country(ip("255.255.255.254")), Some(*b"AQ"));
        assert_eq!(e.country(ip("0.0.0.0")), Some(*b"AU"));
        assert_eq!(e.country(ip("0.0.0.1")), Some(*b"AQ"));
    }

    #[test]
    fn host_bits_are_ignored() {
        let s = CidrSet::parse("10.1.2.3/16\n").unwrap();
        assert!(s.contains(ip("10.1.0.0")));
        assert!(s.contains(ip("10.1.255.255")));
    }

    #[test]
    fn mapped_v6_entries_cover_v4() {
        let s = CidrSet::parse("::ffff:192.0.2.0/120\n").unwrap();
        assert!(s.contains(ip("192.0.2.9")));
    }

    #[test]
    fn a_few_bad_lines_are_skipped_and_counted() {
        let s = CidrSet::parse("10.0.0.0/8\n10.0.0.0/33\nhello\n11.0.0.0/8\n12.0.0.0/8\n").unwrap();
        assert_eq!(s.entries, 3);
        assert_eq!(s.skipped, 2);
        assert_eq!(s.first_skipped.as_deref(), Some("line 2: 10.0.0.0/33"));
    }

    #[test]
    fn an_html_page_is_rejected() {
        let e = CidrSet::parse("<html>\n<body>502 Bad Gateway</body>\n</html>\n").unwrap_err();
        assert!(e.to_string().contains("not a cidr list"), "{e}");
    }

    #[test]
    fn the_16_index_agrees_with_a_plain_search() {
        // enough ranges to get the index, some spanning many /16s
        let mut text = String::new();
        for i in 0..6000u32 {
            let a = i.wrapping_mul(2_654_435_761) & 0xffff_ff00;
            text += &format!(
                "{}/{}\n",
                std::net::Ipv4Addr::from(a),
                if i % 97 == 0 { 12 } else { 24 }
            );
        }
        let big = CidrSet::parse(&text).unwrap();
        assert!(!big.v4_index.is_empty());
        let plain = CidrSet {
            v4_index: Vec::new(),
            ..big.clone()
        };
        for i in 0..200_000u32 {
            let x = i.wrapping_mul(2_246_822_519);
            let ip = IpAddr::V4(x.into());
            assert_eq!(big.contains(ip), plain.contains(ip), "{ip}");
        }
        for edge in ["0.0.0.0", "255.255.255.255", "0.0.255.255", "255.255.0.0"] {
            let ip: IpAddr = edge.parse().unwrap();
            assert_eq!(big.contains(ip), plain.contains(ip), "{ip}");
        }
    }

    #[test]
    fn edges_of_the_address_space() {
        let s = CidrSet::parse("0.0.0.0/0\n").unwrap();
        assert!(s.contains(ip("255.255.255.255")));
        assert!(!s.contains(ip("::1")));
        let s = CidrSet::parse("255.255.255.255\n::/0\n").unwrap();
        assert!(s.contains(ip("255.255.255.255")));
        assert!(s.contains(ip("ffff::1")));
    }
}
