//! The languages spoken in each country, from CLDR's territory data
//! (`data/territory-languages.txt`): official languages and those of at least 1 % of
//! the population, as ISO 639 base codes.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::config::CountryCode;

const DATA: &str = include_str!("../../data/territory-languages.txt");

static BY_COUNTRY: LazyLock<HashMap<CountryCode, Vec<&'static str>>> = LazyLock::new(|| {
    DATA.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (cc, langs) = l.split_once('\t')?;
            let cc: CountryCode = cc.as_bytes().try_into().ok()?;
            Some((cc, langs.split(' ').filter(|s| !s.is_empty()).collect()))
        })
        .collect()
});

/// Build the table now (at config load), not on the first request.
pub fn load() {
    LazyLock::force(&BY_COUNTRY);
}

/// The languages spoken in `country`, or `None` when CLDR has no data for it.
pub fn spoken_in(country: CountryCode) -> Option<&'static [&'static str]> {
    BY_COUNTRY.get(&country).map(Vec::as_slice)
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
        assert!(BY_COUNTRY.len() > 240, "{}", BY_COUNTRY.len());
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
