//! `country_denied`: the policy's `countries` (an unknown country is never denied).

use super::{Input, Why};
use crate::signals::{Reasons, Signal};

pub fn check(i: &Input, r: &mut Reasons, why: &mut impl Why) {
    let Some(code) = i.facts.country else {
        return;
    };
    let c = &i.policy.countries;
    if c.deny.contains(&code) || (!c.allow.is_empty() && !c.allow.contains(&code)) {
        r.add(Signal::CountryDenied);
        why.note(Signal::CountryDenied, || {
            format!(
                "country {} denied by the policy",
                i.facts.country_str().unwrap_or("?")
            )
        });
    }
}
