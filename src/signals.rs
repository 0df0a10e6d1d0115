//! The signal registry: every signal riskgate reports, in one table — its name (in
//! `weights`, `X-Risk-Reasons`, logs and metric labels), its place in the contract
//! order, its default weight, and what explain says it means. Config, decide,
//! headers, explain, metrics and the reference docs all read this table.
//!
//! Families of signals named at config time sit at a fixed place in the order:
//! `list:NAME` (one per configured list) just before [`LISTS_BEFORE`], `rate:NAME` (one
//! per field limit of the policy) just before [`RATES_BEFORE`]. A new signal is
//! one row here and one small check in `decide::checks`.
//!
//! This module depends on nothing else in the crate.

/// One row of the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Def {
    pub signal: Signal,
    pub name: &'static str,
    /// the weight a policy gives it when it lists no `weights`
    pub default_weight: u32,
    /// when it is present, in words (explain and the reference docs)
    pub meaning: &'static str,
}

macro_rules! registry {
    ($($variant:ident = $name:literal, $weight:literal, $meaning:literal;)*) => {
        /// The fixed signals, in contract order: the discriminant is the order and
        /// the bit in [`Reasons`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Signal { $($variant),* }

        /// The registry, in contract order.
        pub const DEFS: &[Def] = &[$(Def {
            signal: Signal::$variant,
            name: $name,
            default_weight: $weight,
            meaning: $meaning,
        }),*];
    };
}

registry! {
    Tor = "tor", 100, "the address is in the Tor exit set, or the anonymous-IP database says is_tor_exit_node";
    Vpn = "vpn", 30, "the anonymous-IP database says is_anonymous_vpn, or the address is in list `vpn` (and not in list `relay`)";
    Proxy = "proxy", 50, "the anonymous-IP database says is_public_proxy, or the address is in list `proxy` (and not in list `relay`)";
    ResidentialProxy = "residential_proxy", 40, "the anonymous-IP database says is_residential_proxy";
    Hosting = "hosting", 70, "the anonymous-IP database says is_hosting_provider, or the address is in list `hosting`, or its ASN is in `hosting_asns`, or its AS organisation has a `hosting_org_keywords` word (whole words; `hosting_org_exclude` aside); never for a `relay` address nor a known VPN endpoint (`vpn`): one fact counts once";
    Relay = "relay", 0, "the address is a consumer privacy relay's egress (list `relay`, e.g. iCloud Private Relay): a fact, weighted as the operator decides";
    CountryDenied = "country_denied", 100, "the address's country is denied by the policy's `countries`";
    LanguageMismatch = "language_mismatch", 15, "none of the request's Accept-Language languages (q > 0, `ignore_languages` aside) is spoken in the address's country (CLDR territory data); skipped when the header, the country or every language is missing or ignored; not counted when `timezone_mismatch` is (the person's clock says the same fact)";
    TimezoneMismatch = "timezone_mismatch", 25, "the policy's `timezone` field names an IANA zone (or an old alias) that none of the address's country's tzdb zones is; skipped when the field, the country or the zone's countries are unknown";
    CountryMismatch = "country_mismatch", 40, "the policy's `declared_country` field is neither the address's country nor in one `regions` group with it";
    PersonMismatch = "person_mismatch", 50, "the policy's `declared_country` field (the claim: a coupon's, a phone's country) is not the person's — the `timezone` field's zone (else the Accept-Language languages) belongs to no country of the claim's `regions` group — while the address is in the claimed country or its country is unknown: someone from elsewhere claims a country through a network there (\"a user in the USA sees India pricing\"); counted in place of `timezone_mismatch` and `language_mismatch`, one fact once";
    Traveller = "traveller", 10, "the person (the `timezone` field's zone, else the languages) and the `declared_country` claim agree, and the address is in another country: a customer abroad using their own country's code; counted in place of `country_mismatch`, `timezone_mismatch` and `language_mismatch`, one fact once";
    CountryHopping = "country_hopping", 30, "a `hopping` key of the policy (a device, a session, a code) was seen from more than `max_countries` countries within `window`";
    NetworkSpread = "network_spread", 40, "a `spread` key of the policy (a referral code, a single-use coupon, a device) was seen from more than `max_networks` networks (subnets, or ASNs with `by: asn`) within `window`";
    UnreadableBody = "unreadable_body", 30, "the policy reads a form:/json: field but the body is larger than `body_limit`, compressed, or malformed for its content type: padding a body never skips a check";
    RateIp = "rate_ip", 0, "the policy's per-IP limit is exhausted";
    RateSubnet = "rate_subnet", 0, "the policy's per-subnet limit (/24, /48) is exhausted";
    RateAsn = "rate_asn", 0, "the policy's per-ASN limit is exhausted";
    LookupError = "lookup_error", 0, "a data source failed for this request";
    ClientIpInvalid = "client_ip_invalid", 70, "the client-IP header's entry that should name the client (the rightmost that is not a trusted proxy) does not parse as an address: riskgate cannot look the client up and never takes the trusted proxy for it";
    DecisionBlock = "decision:block", 100, "a `block` decision (from the API, the CLI or CrowdSec's `ban`) matches the request's address, range, ASN, country or one of the policy's fields; kept at its default unless the policy's `weights` name it";
    DecisionVerify = "decision:verify", 30, "a `verify` decision (CrowdSec's `captcha`) matches the request; weighs the policy's verify threshold unless its `weights` name it";
    DecisionShadow = "decision:shadow", 100, "a `shadow` decision matches the request: it is forwarded as a shadow-ban (`X-Risk-Action: block`) in every mode, for the app to void its bonus silently";
    DecisionAllow = "decision:allow", 0, "an `allow` decision matches the request (a customer wrongly caught): scoring and limits are skipped; it beats every other decision";
}

/// The number of fixed signals.
pub const SIGNAL_COUNT: usize = DEFS.len();

/// `list:NAME` signals are written just before this one.
pub const LISTS_BEFORE: Signal = Signal::RateIp;

/// `rate:NAME` signals are written just before this one.
pub const RATES_BEFORE: Signal = Signal::LookupError;

/// What `rate:NAME` means.
pub const RATE_MEANING: &str =
    "the policy's limit NAME (a key with a field, or a named limit) is exhausted";

/// What `list:NAME` means, for every configured list outside the meaningful names.
pub const LIST_MEANING: &str = "the address is in the named list";

/// The default weight of `list:deny`; other named lists default to 0.
pub const DENY_LIST_WEIGHT: u32 = 100;

impl Signal {
    pub const ALL: [Signal; SIGNAL_COUNT] = {
        let mut all = [Signal::Tor; SIGNAL_COUNT];
        let mut i = 0;
        while i < SIGNAL_COUNT {
            all[i] = DEFS[i].signal;
            i += 1;
        }
        all
    };

    pub fn def(self) -> &'static Def {
        &DEFS[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.def().name
    }

    pub fn from_name(s: &str) -> Option<Signal> {
        DEFS.iter().find(|d| d.name == s).map(|d| d.signal)
    }

    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// The names of `names` whose bit is set in `bits`.
fn present<S: AsRef<str>>(names: &[S], bits: u64) -> impl Iterator<Item = &str> {
    names
        .iter()
        .enumerate()
        .filter(move |(i, _)| bits & (1 << i) != 0)
        .map(|(_, n)| n.as_ref())
}

/// A set of signals: fixed ones as bits by [`Signal`], lists as bits by list index,
/// `rate:NAME` as bits by the limit's index in its policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reasons {
    pub fixed: u32,
    pub lists: u64,
    pub rates: u16,
}

impl Reasons {
    pub fn has(&self, s: Signal) -> bool {
        self.fixed & s.bit() != 0
    }
    pub fn add(&mut self, s: Signal) {
        self.fixed |= s.bit();
    }
    pub fn remove(&mut self, s: Signal) {
        self.fixed &= !s.bit();
    }
    pub fn is_empty(&self) -> bool {
        self.fixed == 0 && self.lists == 0 && self.rates == 0
    }

    /// Every signal name in contract order; `list_names[i]` is list i's signal name,
    /// `rate_names[i]` the policy's limit i's.
    pub fn iter<'a, S: AsRef<str>, R: AsRef<str>>(
        &self,
        list_names: &'a [S],
        rate_names: &'a [R],
    ) -> impl Iterator<Item = &'a str> + 'a {
        let (fixed, lists, rates) = (self.fixed, self.lists, self.rates);
        DEFS.iter().flat_map(move |d| {
            let listed = (d.signal == LISTS_BEFORE).then(|| present(list_names, lists));
            let rated = (d.signal == RATES_BEFORE).then(|| present(rate_names, u64::from(rates)));
            let own = (fixed & d.signal.bit() != 0).then_some(d.name);
            listed
                .into_iter()
                .flatten()
                .chain(rated.into_iter().flatten())
                .chain(own)
        })
    }

    /// The `X-Risk-Reasons` value.
    pub fn render<S: AsRef<str>, R: AsRef<str>>(
        &self,
        list_names: &[S],
        rate_names: &[R],
    ) -> String {
        let mut out = String::new();
        for name in self.iter(list_names, rate_names) {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(name);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_the_enum_in_order() {
        for (i, d) in DEFS.iter().enumerate() {
            assert_eq!(d.signal as usize, i);
            assert_eq!(Signal::from_name(d.name), Some(d.signal));
        }
        let names: Vec<_> = DEFS.iter().map(|d| d.name).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn lists_sit_before_the_rate_signals_and_field_limits_after_them() {
        let mut r = Reasons::default();
        r.add(Signal::LookupError);
        r.add(Signal::RateIp);
        r.add(Signal::Tor);
        r.add(Signal::CountryDenied);
        r.lists = 0b101;
        r.rates = 0b10;
        let names = ["list:a", "list:b", "list:c"];
        let rates = ["rate_ip", "rate:coupon"];
        assert_eq!(
            r.render(&names, &rates),
            "tor,country_denied,list:a,list:c,rate_ip,rate:coupon,lookup_error"
        );
    }
}
