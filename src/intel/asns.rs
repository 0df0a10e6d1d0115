//! A source of AS numbers (`hosting_asns`, `mobile_asns`): one a line, `AS16509` or
//! `16509`, anything after it a comment (the shipped `mobile-asns.txt` gives each
//! carrier's registered name there), `#` comments.

use super::IntelError;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AsnList {
    /// sorted, de-duplicated
    pub asns: Vec<u32>,
    pub skipped: usize,
    pub first_skipped: Option<String>,
}

fn number(word: &str) -> Option<u32> {
    let w = word.trim();
    let digits = w
        .strip_prefix("AS")
        .or_else(|| w.strip_prefix("as"))
        .or_else(|| w.strip_prefix("As"))
        .unwrap_or(w);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl AsnList {
    pub fn parse(text: &str) -> Result<AsnList, IntelError> {
        let mut out = AsnList::default();
        for (n, raw, _, first) in super::lists::data_lines(text) {
            match number(first) {
                Some(a) => out.asns.push(a),
                None => {
                    out.skipped += 1;
                    if out.first_skipped.is_none() {
                        out.first_skipped = Some(format!("line {n}: {raw}"));
                    }
                }
            }
        }
        if out.skipped > 0 && out.skipped >= out.asns.len() {
            return Err(IntelError::Format(format!(
                "{} of {} lines are not an AS number (first: {}); not a list of AS numbers",
                out.skipped,
                out.skipped + out.asns.len(),
                out.first_skipped.unwrap_or_default()
            )));
        }
        out.asns.sort_unstable();
        out.asns.dedup();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_numbers_with_or_without_as_and_names_after_them() {
        let a = AsnList::parse(
            "# carriers\nAS21928 T-Mobile USA, Inc.\n6167 Cellco Partnership DBA Verizon Wireless\nas1\n\nAS21928\nASX\n",
        )
        .unwrap();
        assert_eq!(a.asns, vec![1, 6167, 21928]);
        assert_eq!(a.skipped, 1);
        assert_eq!(a.first_skipped.as_deref(), Some("line 7: ASX"));
        assert!(AsnList::parse("<html>\n<p>error</p>\n").is_err());
    }
}
