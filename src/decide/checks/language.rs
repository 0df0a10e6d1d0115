//! `language_mismatch`: the request's Accept-Language against the languages spoken in
//! the IP's country (CLDR). Skipped, never a signal, when the policy does not ask, the
//! header or the country is missing, CLDR does not know the country, or every language
//! the request names is ignored.

use super::{Input, Why};
use crate::evidence::{accept_language, languages};
use crate::signals::{Reasons, Signal};

pub fn check(i: &Input, r: &mut Reasons, why: &mut impl Why) {
    let checks = &i.policy.checks;
    if !checks.language {
        return;
    }
    let (Some(header), Some(country)) = (i.request.accept_language, i.facts.country) else {
        return;
    };
    let Some(spoken) = languages::spoken_in(country) else {
        return;
    };
    let mut considered = 0usize;
    for lang in accept_language::languages(header) {
        let mut buf = [0u8; 3];
        let lower = &mut buf[..lang.len()];
        lower.copy_from_slice(lang.as_bytes());
        lower.make_ascii_lowercase();
        // ASCII letters only (the parser checked), so this is valid UTF-8
        let lower = std::str::from_utf8(lower).unwrap_or_default();
        if checks.ignore_languages.iter().any(|x| x == lower) {
            continue;
        }
        if spoken.contains(&lower) {
            return;
        }
        considered += 1;
    }
    if considered > 0 {
        r.add(Signal::LanguageMismatch);
        why.note(Signal::LanguageMismatch, || {
            format!(
                "Accept-Language `{}`: none spoken in {} ({})",
                header.chars().take(100).collect::<String>(),
                i.facts.country_str().unwrap_or("?"),
                spoken.join(" ")
            )
        });
    }
}
