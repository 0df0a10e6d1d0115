//! `timezone_mismatch`: the time zone the request names (a field, e.g. set by the app's
//! page from `Intl.DateTimeFormat().resolvedOptions().timeZone`) against the zones of
//! the IP's country (tzdb, old aliases included). Skipped when the field, the country,
//! or the zone's countries are unknown (`Etc/UTC`, a typo).

use super::{Input, Why};
use crate::evidence::timezones;
use crate::signals::{Reasons, Signal};

pub fn check(i: &Input, r: &mut Reasons, why: &mut impl Why) {
    let Some(field) = i.policy.checks.timezone else {
        return;
    };
    let (Some(zone), Some(country)) = (i.request.field(field), i.facts.country) else {
        return;
    };
    let Some(countries) = timezones::countries_of(zone) else {
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
