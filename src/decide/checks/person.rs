//! `person_mismatch` and `traveller`: the person, the network and the claim.
//!
//! The page's time zone and the languages describe the person; the address describes
//! the network; the `declared_country` field (a coupon's, a phone's, an address's
//! country) is the claim. `timezone_mismatch` and `language_mismatch` compare the
//! person with the network, `country_mismatch` the claim with the network; this check
//! compares the claim with the person, and counts what the three comparisons say as
//! one fact. A time zone and languages both foreign to the network are one fact too
//! (`timezone_mismatch`, the stronger evidence, alone). With a claim:
//!
//! - person and claim agree, the network is elsewhere: a customer abroad with their
//!   own country's code — `traveller`, in place of the three mismatches;
//! - network and claim agree (or the network's country is unknown), the person is from
//!   elsewhere: someone claims a country through a network there — `person_mismatch`,
//!   in place of `timezone_mismatch` and `language_mismatch`;
//! - person and network agree, the claim is foreign: `country_mismatch` alone says it;
//! - all three in one `regions` group: one place, no mismatch.
//!
//! The person is the time zone's countries when the request names a zone tzdb knows,
//! else the Accept-Language languages (when the policy checks `language`, ignored ones
//! aside); with neither, or without a claim, nothing changes.

use super::{declared, language, timezone, Input, Why};
use crate::config::CountryCode;
use crate::signals::{Reasons, Signal};

/// Runs after `language`, `timezone` and `declared`, whose signals it may fold.
pub fn check(
    i: &Input,
    zone: timezone::Zone,
    claim: Option<CountryCode>,
    r: &mut Reasons,
    why: &mut impl Why,
) {
    // the clock and the languages say one thing of the person against the network:
    // the clock, the stronger, says it once
    if r.has(Signal::TimezoneMismatch) {
        r.remove(Signal::LanguageMismatch);
    }
    let Some(claim) = claim else {
        return;
    };
    let Some((agrees, by)) = person_agrees(i, zone, claim) else {
        return;
    };
    let network = i
        .facts
        .evidence_country()
        .map(|n| declared::same_place(i, n, claim));
    match (agrees, network) {
        (true, Some(false)) => {
            r.remove(Signal::CountryMismatch);
            r.remove(Signal::TimezoneMismatch);
            r.remove(Signal::LanguageMismatch);
            r.add(Signal::Traveller);
            why.note(Signal::Traveller, || {
                format!(
                    "{by} and the claimed {} agree; the address is in {}",
                    name(claim),
                    i.facts.country_str().unwrap_or("?")
                )
            });
        }
        (false, _) if network != Some(false) => {
            r.remove(Signal::TimezoneMismatch);
            r.remove(Signal::LanguageMismatch);
            r.add(Signal::PersonMismatch);
            why.note(Signal::PersonMismatch, || {
                let at = match i.facts.country_str() {
                    Some(c) if network.is_some() => format!("through an address in {c}"),
                    _ => "from an address whose country is unknown".into(),
                };
                format!("claims {} {at}, but {by} does not", name(claim))
            });
        }
        (true, Some(true)) => {
            // the claim's region holds the person and the network: one place
            r.remove(Signal::TimezoneMismatch);
            r.remove(Signal::LanguageMismatch);
        }
        _ => {}
    }
}

/// What speaks for the person.
#[derive(Clone, Copy)]
enum By<'a> {
    Zone(&'a str),
    Languages,
}

impl std::fmt::Display for By<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            By::Zone(z) => write!(
                f,
                "the time zone `{}`",
                z.chars().take(64).collect::<String>()
            ),
            By::Languages => f.write_str("the Accept-Language languages"),
        }
    }
}

/// Whether the person is from the claimed country (or its `regions` group), and what
/// says so; `None` when the request says nothing of the person. Nothing is allocated:
/// the words are only written when explain asks.
fn person_agrees<'a>(
    i: &Input,
    zone: timezone::Zone<'a>,
    claim: CountryCode,
) -> Option<(bool, By<'a>)> {
    if let Some((zone, countries)) = zone {
        let agrees = countries.iter().any(|&c| declared::same_place(i, c, claim));
        return Some((agrees, By::Zone(zone)));
    }
    if !i.policy.checks.language {
        return None;
    }
    let agrees = language::speaks(i, claim)?;
    Some((agrees, By::Languages))
}

fn name(c: CountryCode) -> String {
    String::from_utf8_lossy(&c).into_owned()
}
