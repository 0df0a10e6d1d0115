//! `language_mismatch`: the request's Accept-Language against the languages spoken in
//! the IP's country (CLDR). Skipped, never a signal, when the policy does not ask, the
//! header or the country is missing (or only a relay's egress), CLDR does not know the country, or every language
//! the request names is ignored.

use super::{Input, Why};
use crate::config::CountryCode;
use crate::evidence::{accept_language, languages};
use crate::signals::{Reasons, Signal};

pub fn check(i: &Input, r: &mut Reasons, why: &mut impl Why) {
    if !i.policy.checks.language {
        return;
    }
    let Some(country) = i.facts.evidence_country() else {
        return;
    };
    if speaks(i, country) == Some(false) {
        r.add(Signal::LanguageMismatch);
        why.note(Signal::LanguageMismatch, || {
            format!(
                "Accept-Language `{}`: none spoken in {} ({})",
                i.request
                    .accept_language
                    .unwrap_or_default()
                    .chars()
                    .take(100)
                    .collect::<String>(),
                i.facts.country_str().unwrap_or("?"),
                languages::spoken_in(country).unwrap_or_default().join(" ")
            )
        });
    }
}

/// Whether one of the request's languages (`ignore_languages` aside) is spoken in
/// `country`: `None` when the header is missing, every language is ignored, or CLDR
/// does not know the country.
pub(super) fn speaks(i: &Input, country: CountryCode) -> Option<bool> {
    let header = i.request.accept_language?;
    let spoken = languages::spoken_in(country)?;
    let mut considered = false;
    for lang in accept_language::languages(header) {
        let mut buf = [0u8; 3];
        let lower = &mut buf[..lang.len()];
        lower.copy_from_slice(lang.as_bytes());
        lower.make_ascii_lowercase();
        // ASCII letters only (the parser checked), so this is valid UTF-8
        let lower = std::str::from_utf8(lower).unwrap_or_default();
        if i.policy.checks.ignore_languages.iter().any(|x| x == lower) {
            continue;
        }
        if spoken.contains(&lower) {
            return Some(true);
        }
        considered = true;
    }
    considered.then_some(false)
}
