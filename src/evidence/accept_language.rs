//! `Accept-Language` (RFC 9110 §12.5.4): the languages a browser says its user reads,
//! as base language codes (`en-US;q=0.9` → `en`), those with q > 0 only. Bounded: a
//! header is read up to its first 32 entries, so a padded one costs no more.

/// At most this many entries are read.
pub const MAX_ENTRIES: usize = 32;

/// `0`, `0.`, `0.0`, `0.000` (RFC 9110's qvalue grammar): "not acceptable".
fn q_is_zero(q: &str) -> bool {
    let q = q.trim();
    q.starts_with('0') && q.bytes().skip(1).all(|b| b == b'.' || b == b'0')
}

/// The base language codes of `header` with q > 0, lower case, in the order given; `*`
/// and malformed entries are left out.
pub fn languages(header: &str) -> impl Iterator<Item = &str> {
    header.split(',').take(MAX_ENTRIES).filter_map(|entry| {
        let mut parts = entry.split(';');
        let tag = parts.next()?.trim();
        let q_zero = parts.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=")
                .or_else(|| p.strip_prefix("Q="))
                .is_some_and(q_is_zero)
        });
        if q_zero {
            return None;
        }
        let base = tag.split(['-', '_']).next()?;
        let ok = (2..=3).contains(&base.len()) && base.bytes().all(|b| b.is_ascii_alphabetic());
        ok.then_some(base)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn langs(h: &str) -> Vec<String> {
        languages(h).map(|l| l.to_ascii_lowercase()).collect()
    }

    #[test]
    fn reads_what_browsers_send() {
        assert_eq!(langs("en-US,en;q=0.9"), ["en", "en"]);
        assert_eq!(
            langs("de-DE, de;q=0.9, en-US;q=0.8, *;q=0.1"),
            ["de", "de", "en"]
        );
        assert_eq!(langs("pt-BR;q=1.0,fr;q=0"), ["pt"]);
        assert_eq!(langs("fr;q=0.000,de;q=0.001,it;q=0.5"), ["de", "it"]);
        assert_eq!(langs("zh-Hant-TW,zh_CN"), ["zh", "zh"]);
        assert_eq!(langs("haw"), ["haw"]);
        assert_eq!(langs("EN-gb"), ["en"]);
        assert!(langs("").is_empty());
        assert!(langs("*").is_empty());
        assert!(langs("x1-abc, 12, english, -").is_empty());
        // padding reads no further than the first 32 entries
        let padded = format!("{}ru", "xx,".repeat(40));
        assert_eq!(langs(&padded).len(), 32);
        assert!(!langs(&padded).contains(&"ru".to_string()));
    }
}
