//! `tor`, `vpn`, `proxy`, `residential_proxy`: the anonymous-IP database, the Tor
//! exit set and the `vpn` and `proxy` lists. A privacy relay's egress (list `relay`)
//! is `relay`, not `vpn` or `proxy` by a list: VPN lists carry Private Relay's egress
//! ranges (measured: 23 % of them in X4BNet's), whose users are customers.

use super::{lists_of, Input, Why};
use crate::signals::{Reasons, Signal};

pub fn check(i: &Input, r: &mut Reasons, why: &mut impl Why) {
    let (f, m) = (i.facts, &i.intel.masks);
    if f.tor_list {
        r.add(Signal::Tor);
        why.note(Signal::Tor, || "Tor exit set".into());
    }
    if f.anon.tor_exit {
        r.add(Signal::Tor);
        why.note(Signal::Tor, || "anonymous_ip is_tor_exit_node".into());
    }
    flag_or_list(
        i,
        r,
        why,
        Signal::Vpn,
        f.anon.vpn,
        "is_anonymous_vpn",
        m.vpn,
    );
    flag_or_list(
        i,
        r,
        why,
        Signal::Proxy,
        f.anon.public_proxy,
        "is_public_proxy",
        m.proxy,
    );
    if f.anon.residential_proxy {
        r.add(Signal::ResidentialProxy);
        why.note(Signal::ResidentialProxy, || {
            "anonymous_ip is_residential_proxy".into()
        });
    }
}

/// A signal that the anonymous-IP database's `flag` gives, or any list of its kind.
fn flag_or_list(
    i: &Input,
    r: &mut Reasons,
    why: &mut impl Why,
    signal: Signal,
    flag: bool,
    flag_name: &str,
    mask: u64,
) {
    if flag {
        r.add(signal);
        why.note(signal, || format!("anonymous_ip {flag_name}"));
    }
    if i.facts.lists & mask != 0 && i.facts.lists & i.intel.masks.relay == 0 {
        r.add(signal);
        for (n, name) in lists_of(i, mask) {
            why.note(signal, || i.list_why(n, name));
        }
    }
}
