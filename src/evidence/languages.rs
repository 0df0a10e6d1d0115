//! The languages spoken in each country, from CLDR's territory data
//! (`data/territory-languages.txt`): official languages and those of at least 1 % of
//! the population, as ISO 639 base codes.

use std::sync::LazyLock;

use crate::config::CountryCode;

const DATA: &str = include_str!("../../data/territory-languages.txt");

/// Indexed by country code: `(first letter - 'A') * 26 + (second - 'A')`.
static BY_COUNTRY: LazyLock<Vec<Vec<&'static str>>> = LazyLock::new(|| {
    let mut t = vec![Vec::new(); 26 * 26];
    for l in DATA.lines().filter(|l| !l.starts_with('#')) {
        let Some((cc, langs)) = l.split_once('\t') else {
            continue;
        };
        if let Some(i) = cc.as_bytes().try_into().ok().and_then(index) {
            t[i] = langs.split(' ').filter(|s| !s.is_empty()).collect();
        }
    }
    t
});

fn index(cc: CountryCode) -> Option<usize> {
    let [a, b] = cc;
    (a.is_ascii_uppercase() && b.is_ascii_uppercase())
        .then(|| usize::from(a - b'A') * 26 + usize::from(b - b'A'))
}

/// Build the table now (at config load), not on the first request.
pub fn load() {
    LazyLock::force(&BY_COUNTRY);
}

/// The languages spoken in `country`, or `None` when CLDR has no data for it.
pub fn spoken_in(country: CountryCode) -> Option<&'static [&'static str]> {
    let l = &BY_COUNTRY[index(country)?];
    (!l.is_empty()).then_some(l.as_slice())
}

/// Is `language` (a base code, lower case: `en`, `pt`) spoken in `country`? `None`
/// when the country is unknown to CLDR: the check is then skipped, never a signal.
pub fn is_spoken(country: CountryCode, language: &str) -> Option<bool> {
    spoken_in(country).map(|l| l.contains(&language))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_data_knows_the_big_markets() {
        assert!(BY_COUNTRY.iter().filter(|l| !l.is_empty()).count() > 240);
        assert_eq!(is_spoken(*b"DE", "de"), Some(true));
        assert_eq!(is_spoken(*b"DE", "pt"), Some(false));
        assert_eq!(is_spoken(*b"BR", "pt"), Some(true));
        assert_eq!(is_spoken(*b"IN", "hi"), Some(true));
        assert_eq!(is_spoken(*b"IN", "en"), Some(true));
        assert_eq!(is_spoken(*b"IN", "ru"), Some(false));
        assert_eq!(is_spoken(*b"US", "en"), Some(true));
        assert_eq!(is_spoken(*b"US", "es"), Some(true));
        assert_eq!(is_spoken(*b"CH", "fr"), Some(true));
        assert_eq!(is_spoken(*b"CH", "rm"), Some(true));
        assert_eq!(is_spoken(*b"JP", "ja"), Some(true));
        // zh_Hant and the like are read as their base language
        assert_eq!(is_spoken(*b"TW", "zh"), Some(true));
        // not a country CLDR describes
        assert_eq!(is_spoken(*b"ZZ", "en"), None);
    }
}
