//! `country_mismatch`: the country the request declares (a field, e.g. the `IN` of a
//! `PPP-IN-65` coupon) against the IP's country, where the countries of one `regions`
//! group count as one. Skipped when the field or the IP's country is missing, or the
//! field is not a country code.

use super::{Input, Why};
use crate::signals::{Reasons, Signal};

pub fn check(i: &Input, r: &mut Reasons, why: &mut impl Why) {
    let checks = &i.policy.checks;
    let Some(field) = checks.declared_country else {
        return;
    };
    let (Some(declared), Some(country)) = (i.request.field(field), i.facts.country) else {
        return;
    };
    let d = declared.trim().as_bytes();
    let Ok(mut d): Result<[u8; 2], _> = d.try_into() else {
        return;
    };
    if !d.iter().all(u8::is_ascii_alphabetic) {
        return;
    }
    d.make_ascii_uppercase();
    if d == country {
        return;
    }
    let same_region = checks
        .regions
        .iter()
        .any(|g| g.contains(&d) && g.contains(&country));
    if !same_region {
        r.add(Signal::CountryMismatch);
        why.note(Signal::CountryMismatch, || {
            format!(
                "declared {} from an address in {}",
                String::from_utf8_lossy(&d),
                i.facts.country_str().unwrap_or("?")
            )
        });
    }
}
