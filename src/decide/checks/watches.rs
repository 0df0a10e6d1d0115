//! `country_hopping` and `network_spread`: a policy's watch key (a device, a coupon, a
//! referral code) was seen from more than `max_countries` countries (`hopping`) or
//! `max_networks` networks (`spread`: subnets or ASNs) within the watch's window. The
//! counts come from the store the glue keeps (`hops`, shared through `cluster`); a
//! watch whose key or value is unknown counted nothing and is skipped.

use super::{Input, Why};
use crate::config::Watching;
use crate::signals::{Reasons, Signal};

pub fn check(i: &Input, r: &mut Reasons, why: &mut impl Why) {
    for (w, &n) in i.policy.checks.watches.iter().zip(&i.request.watched) {
        if u32::from(n) <= w.max {
            continue;
        }
        let signal = match w.what {
            Watching::Countries => Signal::CountryHopping,
            Watching::Subnets | Watching::Asns => Signal::NetworkSpread,
        };
        r.add(signal);
        why.note(signal, || {
            let kind = if w.what == Watching::Countries {
                "hopping"
            } else {
                "spread"
            };
            format!(
                "the {kind} key was seen from {n} {} within {}s (at most {})",
                w.what.as_str(),
                w.window.as_secs(),
                w.max
            )
        });
    }
}
