//! `country_mismatch`: the country the request declares (a field, e.g. the `IN` of a
//! `PPP-IN-65` coupon) against the IP's country, where the countries of one `regions`
//! group count as one. Skipped when the field or the IP's country is missing (or only
//! a relay's egress), or the field is not a country code. See `person` for how the
//! claim is also compared with the person.

use super::{Input, Why};
use crate::config::CountryCode;
use crate::signals::{Reasons, Signal};

pub fn check(i: &Input, claim: Option<CountryCode>, r: &mut Reasons, why: &mut impl Why) {
    let (Some(d), Some(country)) = (claim, i.facts.evidence_country()) else {
        return;
    };
    if !same_place(i, d, country) {
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

/// The country the request claims (the `declared_country` field), upper case; `None`
/// when the policy has no such field, the request none, or it is not a country code.
pub(super) fn claim(i: &Input) -> Option<CountryCode> {
    let declared = i.request.field(i.policy.checks.declared_country?)?;
    let mut d: CountryCode = declared.trim().as_bytes().try_into().ok()?;
    if !d.iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    d.make_ascii_uppercase();
    Some(d)
}

/// One country, or two in one `regions` group.
pub(super) fn same_place(i: &Input, a: CountryCode, b: CountryCode) -> bool {
    a == b
        || i.policy
            .checks
            .regions
            .iter()
            .any(|g| g.contains(&a) && g.contains(&b))
}
