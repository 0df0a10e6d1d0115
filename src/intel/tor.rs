//! The Tor exit set, from The Tor Project's `exit-addresses` format
//! (`ExitNode` / `Published` / `LastStatus` / `ExitAddress` blocks) or the
//! one-IP-a-line `torbulkexitlist` format; the format is detected from the text.

use std::net::IpAddr;

use super::IntelError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorFormat {
    ExitAddresses,
    OneIpALine,
}

/// Sorted, de-duplicated exit addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TorSet {
    v4: Vec<u32>,
    v6: Vec<u128>,
}

impl TorSet {
    pub fn parse(text: &str) -> Result<(TorSet, TorFormat), IntelError> {
        let trimmed = text.trim_start();
        if trimmed.starts_with('<') {
            return Err(IntelError::Format(
                "looks like HTML, not a Tor exit list".into(),
            ));
        }
        let exit_format = text
            .lines()
            .any(|l| l.starts_with("ExitNode ") || l.starts_with("ExitAddress "));
        let mut ips = Vec::new();
        let mut bad = 0usize;
        let mut first_bad = None;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            let candidate = if exit_format {
                match line.strip_prefix("ExitAddress ") {
                    Some(rest) => rest.split_whitespace().next(),
                    None => continue,
                }
            } else {
                let l = line.split('#').next().unwrap_or("").trim();
                if l.is_empty() {
                    continue;
                }
                Some(l)
            };
            match candidate.and_then(|c| c.parse::<IpAddr>().ok()) {
                Some(ip) => ips.push(super::canonical(ip)),
                None => {
                    bad += 1;
                    if first_bad.is_none() {
                        first_bad = Some(format!(
                            "line {}: {}",
                            n + 1,
                            line.chars().take(80).collect::<String>()
                        ));
                    }
                }
            }
        }
        if ips.is_empty() {
            return Err(IntelError::Format(match first_bad {
                Some(b) => format!("no exit address found (first bad {b})"),
                None => "the list is empty".into(),
            }));
        }
        if bad > ips.len() {
            return Err(IntelError::Format(format!(
                "{bad} lines are not IP addresses against {} that are (first bad {}); not a Tor exit list",
                ips.len(),
                first_bad.unwrap_or_default()
            )));
        }
        let mut set = TorSet::default();
        for ip in ips {
            match ip {
                IpAddr::V4(a) => set.v4.push(a.into()),
                IpAddr::V6(a) => set.v6.push(a.into()),
            }
        }
        set.v4.sort_unstable();
        set.v4.dedup();
        set.v6.sort_unstable();
        set.v6.dedup();
        set.v4.shrink_to_fit();
        set.v6.shrink_to_fit();
        let format = if exit_format {
            TorFormat::ExitAddresses
        } else {
            TorFormat::OneIpALine
        };
        Ok((set, format))
    }

    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => self.v4.binary_search(&u32::from(a)).is_ok(),
            IpAddr::V6(a) => self.v6.binary_search(&u128::from(a)).is_ok(),
        }
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXIT: &str = "ExitNode 0011BD2485AD45D984EC4159C88FC066E5E3300E\nPublished 2024-03-11 20:46:47\nLastStatus 2024-03-12 09:00:00\nExitAddress 162.247.74.201 2024-03-12 09:07:51\nExitNode 0091174DE56EADE6E0E7A1D0E5D6D4E4D1E3F0B2\nPublished 2024-03-11 20:46:47\nLastStatus 2024-03-12 09:00:00\nExitAddress 185.220.101.1 2024-03-12 09:07:51\nExitAddress 185.220.101.2 2024-03-12 09:07:51\nExitNode 00AA\nExitAddress 162.247.74.201 2024-03-12 09:07:51\n";

    #[test]
    fn exit_addresses_format() {
        let (s, f) = TorSet::parse(EXIT).unwrap();
        assert_eq!(f, TorFormat::ExitAddresses);
        assert_eq!(s.len(), 3, "duplicates across nodes count once");
        assert!(s.contains("185.220.101.2".parse().unwrap()));
        assert!(!s.contains("185.220.101.3".parse().unwrap()));
    }

    #[test]
    fn one_ip_a_line_format() {
        let (s, f) = TorSet::parse("# bulk\n1.2.3.4\n2001:db8::1\n\n1.2.3.4\n").unwrap();
        assert_eq!(f, TorFormat::OneIpALine);
        assert_eq!(s.len(), 2);
        assert!(s.contains("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn rejects_html_empty_and_garbage() {
        assert!(TorSet::parse("<!DOCTYPE html><html></html>").is_err());
        assert!(TorSet::parse("").is_err());
        assert!(TorSet::parse("# nothing\n").is_err());
        assert!(TorSet::parse("hello\nworld\n1.2.3.4\n").is_err());
    }
}
