//! Named CIDR lists: one CIDR, IP or `start-end` range a line, `#` comments.
//!
//! Stored as sorted, merged, non-overlapping ranges (IPv4 as `u32`, IPv6 as `u128`),
//! so a lookup is one binary search whatever the list's size.

use std::net::IpAddr;

use ipnet::IpNet;

use super::IntelError;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CidrSet {
    v4: Vec<(u32, u32)>,
    /// for big lists: `v4_index[p]` is the first range starting at or after `p << 16`,
    /// so a lookup searches only the ranges of its /16 (one or two cache lines)
    v4_index: Vec<u32>,
    v6: Vec<(u128, u128)>,
    /// lines that held an entry
    pub entries: usize,
    /// lines that were neither an entry nor a comment
    pub skipped: usize,
    /// the first skipped line, `line number: text`, for the log
    pub first_skipped: Option<String>,
}

fn merge<T: Ord + Copy + num_like::Succ>(mut v: Vec<(T, T)>) -> Vec<(T, T)> {
    v.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        if let Some(last) = out.last_mut() {
            // adjacent or overlapping
            if s <= last.1 || last.1.succ() == Some(s) {
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

mod num_like {
    pub trait Succ: Sized {
        fn succ(self) -> Option<Self>;
    }
    impl Succ for u32 {
        fn succ(self) -> Option<u32> {
            self.checked_add(1)
        }
    }
    impl Succ for u128 {
        fn succ(self) -> Option<u128> {
            self.checked_add(1)
        }
    }
}

fn find<T: Ord + Copy>(v: &[(T, T)], x: T) -> bool {
    let i = v.partition_point(|(s, _)| *s <= x);
    i > 0 && v[i - 1].1 >= x
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim().parse().ok()
}

impl CidrSet {
    /// Build from networks directly (used by tests and benches).
    pub fn from_nets<I: IntoIterator<Item = IpNet>>(nets: I) -> CidrSet {
        let mut b = Builder::default();
        for n in nets {
            b.add_net(n);
            b.entries += 1;
        }
        b.finish()
    }

    /// Parse list text. Lines that are not an entry are skipped and counted; a text
    /// where most lines are not entries (an HTML error page, the wrong file) is an error.
    pub fn parse(text: &str) -> Result<CidrSet, IntelError> {
        let mut b = Builder::default();
        let mut skipped = 0usize;
        let mut first_skipped = None;
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            // some lists carry a second column (`1.2.3.0/24 ; comment`, `1.2.3.0/24,AS1`)
            let first = line
                .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
                .next()
                .unwrap_or("");
            let ok = if let Ok(net) = first.parse::<IpNet>() {
                b.add_net(net.trunc());
                true
            } else if let Some(ip) = parse_ip(first) {
                b.add_net(IpNet::from(ip));
                true
            } else if let Some((a, z)) = line.split_once('-') {
                match (parse_ip(a), parse_ip(z)) {
                    (Some(IpAddr::V4(a)), Some(IpAddr::V4(z))) if a <= z => {
                        b.v4.push((a.into(), z.into()));
                        true
                    }
                    (Some(IpAddr::V6(a)), Some(IpAddr::V6(z))) if a <= z => {
                        b.v6.push((a.into(), z.into()));
                        true
                    }
                    _ => false,
                }
            } else {
                false
            };
            if ok {
                b.entries += 1;
            } else {
                skipped += 1;
                if first_skipped.is_none() {
                    let t: String = raw.trim().chars().take(80).collect();
                    first_skipped = Some(format!("line {}: {t}", n + 1));
                }
            }
        }
        if skipped > 0 && skipped >= b.entries {
            return Err(IntelError::Format(format!(
                "{skipped} of {} lines are not a CIDR, IP or range (first: {}); not a CIDR list",
                skipped + b.entries,
                first_skipped.unwrap_or_default()
            )));
        }
        let mut set = b.finish();
        set.skipped = skipped;
        set.first_skipped = first_skipped;
        Ok(set)
    }

    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) if !self.v4_index.is_empty() => {
                let x = u32::from(a);
                let p = (x >> 16) as usize;
                // the covering range starts in this /16, or is the last one before it
                let lo = (self.v4_index[p] as usize).saturating_sub(1);
                let hi = self.v4_index[p + 1] as usize;
                find(&self.v4[lo..hi], x)
            }
            IpAddr::V4(a) => find(&self.v4, u32::from(a)),
            IpAddr::V6(a) => find(&self.v6, u128::from(a)),
        }
    }

    /// Merged ranges held (a measure of size).
    pub fn ranges(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges() == 0
    }
}

/// Lists with more IPv4 ranges than this get the /16 index (256 KiB).
const INDEX_FROM: usize = 4096;

#[derive(Default)]
struct Builder {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
    entries: usize,
}

impl Builder {
    fn add_net(&mut self, n: IpNet) {
        match n {
            IpNet::V4(n) => self
                .v4
                .push((u32::from(n.network()), u32::from(n.broadcast()))),
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
                        self.v4.push((start, end));
                    }
                }
                self.v6
                    .push((u128::from(n.network()), u128::from(n.broadcast())))
            }
        }
    }

    fn finish(self) -> CidrSet {
        let v4 = merge(self.v4);
        let v4_index = if v4.len() > INDEX_FROM {
            (0..=1u64 << 16)
                .map(|p| v4.partition_point(|(s, _)| u64::from(*s) < p << 16) as u32)
                .collect()
        } else {
            Vec::new()
        };
        CidrSet {
            v4,
            v4_index,
            v6: merge(self.v6),
            entries: self.entries,
            skipped: 0,
            first_skipped: None,
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
    fn merges_overlaps_and_neighbours() {
        let s = CidrSet::parse("10.0.0.0/24\n10.0.1.0/24\n10.0.0.128/25\n10.0.3.0/24\n").unwrap();
        assert_eq!(s.ranges(), 2);
        assert!(s.contains(ip("10.0.1.255")));
        assert!(!s.contains(ip("10.0.2.0")));
        assert!(s.contains(ip("10.0.3.1")));
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
        assert!(e.to_string().contains("not a CIDR list"), "{e}");
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
