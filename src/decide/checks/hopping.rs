//! `country_hopping`: the policy's hopping key (a device, a session, an account) was
//! seen from more than `max_countries` countries within `window`. The count comes from
//! the store the glue keeps (`hops`); skipped when the key or the country is unknown.

use super::{Input, Why};
use crate::signals::{Reasons, Signal};

pub fn check(i: &Input, r: &mut Reasons, why: &mut impl Why) {
    let (Some(h), Some(n)) = (i.policy.checks.hopping, i.request.hop_countries) else {
        return;
    };
    if n > h.max_countries as usize {
        r.add(Signal::CountryHopping);
        why.note(Signal::CountryHopping, || {
            format!(
                "seen from {n} countries within {}s (at most {})",
                h.window.as_secs(),
                h.max_countries
            )
        });
    }
}
