//! `timezone_mismatch`: the time zone the request names (a field, e.g. set by the app's
//! page from `Intl.DateTimeFormat().resolvedOptions().timeZone`) against the zones of
//! the IP's country (tzdb, old aliases included). Skipped when the field, the country
//! (or it is only a relay's egress), or the zone's countries are unknown (`Etc/UTC`, a
//! typo).

use super::{Input, Why};
use crate::config::CountryCode;
use crate::evidence::timezones;
use crate::signals::{Reasons, Signal};

pub fn check(i: &Input, zone: Zone, r: &mut Reasons, why: &mut impl Why) {
    let (Some((zone, countries)), Some(country)) = (zone, i.facts.evidence_country()) else {
        return;
    };
    if !countries.contains(&country) {
        r.add(Signal::TimezoneMismatch);
        why.note(Signal::TimezoneMismatch, || {
            let names: Vec<&str> = countries
                .iter()
                .filter_map(|c| std::str::from_utf8(c).ok())
                .collect();
            format!(
                "time zone `{}` is used in {}, not in {}",
                zone.chars().take(64).collect::<String>(),
                names.join(" "),
                i.facts.country_str().unwrap_or("?")
            )
        });
    }
}

/// The time zone field's value and the countries that use it.
pub(super) type Zone<'a> = Option<(&'a str, &'static [CountryCode])>;

/// The request's [`Zone`]; `None` when the policy has no `timezone` field, the request
/// none, or tzdb gives the zone no country.
pub(super) fn zone<'a>(i: &Input<'a>) -> Zone<'a> {
    let zone = i.request.field(i.policy.checks.timezone?)?;
    Some((zone, timezones::countries_of(zone)?))
}
