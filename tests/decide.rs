//! `decide` is pure: facts + policy (+ limiter answer) → score, action, reasons.
//! Policies here are compiled from real YAML, so the tests cover the config's meaning.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use riskgate::config::{self, Config};
use riskgate::decide::{self, Action, LimitOutcome, Network, Signal, Verdict};
use riskgate::evidence::Request;
use riskgate::intel::{AnonFlags, ConnectionType, Facts};

fn cfg(policy_yaml: &str) -> Config {
    cfg_with("", policy_yaml)
}

fn cfg_with(top: &str, policy_yaml: &str) -> Config {
    let text = format!(
        "upstream: 127.0.0.1:3000\n{top}intel:\n  lists:\n    hosting: a.txt\n    vpn: b.txt\n    proxy: c.txt\n    deny: d.txt\n    allow: e.txt\n    partners: f.txt\n    relay: g.txt\n    mobile: h.txt\nroutes:\n  - {{ name: r, path: /r, policy: p }}\npolicies:\n  p:\n{}",
        policy_yaml
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    );
    config::parse(&text, Path::new("/tmp/gw.yaml")).unwrap_or_else(|e| panic!("{e}"))
}

// list bits in the order of the config above
const HOSTING: u64 = 1;
const VPN: u64 = 2;
const PROXY: u64 = 4;
const DENY: u64 = 8;
const ALLOW: u64 = 16;
const PARTNERS: u64 = 32;
const RELAY: u64 = 64;
const MOBILE: u64 = 128;

fn facts() -> Facts {
    Facts::new("192.0.2.1".parse::<IpAddr>().unwrap())
}

fn run(c: &Config, f: &Facts) -> decide::Decision {
    decide_all(
        f,
        &Request::default(),
        None,
        &c.policies[0],
        &c.intel,
        LimitOutcome::default(),
    )
}

fn reasons(c: &Config, d: &decide::Decision) -> String {
    d.reasons.render(&c.intel.lists, &c.policies[0].limits)
}

#[test]
fn no_signals_is_allow_zero() {
    let c = cfg("{}");
    let d = run(&c, &facts());
    assert_eq!(
        (d.score, d.action, d.verdict),
        (0, Action::Allow, Verdict::Forward)
    );
    assert!(d.reasons.is_empty());
    assert_eq!(d.network, Network::Unknown);
}

#[test]
fn each_signal_alone_with_default_weights() {
    let c = cfg("{}");
    let anon = |f: fn(&mut AnonFlags)| {
        let mut x = facts();
        f(&mut x.anon);
        x
    };
    let with = |m: fn(&mut Facts)| {
        let mut x = facts();
        m(&mut x);
        x
    };
    let cases: Vec<(Facts, &str, u32, Action, Network)> = vec![
        (
            with(|f| f.tor_list = true),
            "tor",
            100,
            Action::Block,
            Network::Tor,
        ),
        (
            anon(|a| a.tor_exit = true),
            "tor",
            100,
            Action::Block,
            Network::Tor,
        ),
        (
            anon(|a| a.vpn = true),
            "vpn",
            30,
            Action::Verify,
            Network::Vpn,
        ),
        (
            with(|f| f.lists = VPN),
            "vpn",
            30,
            Action::Verify,
            Network::Vpn,
        ),
        (
            anon(|a| a.public_proxy = true),
            "proxy",
            50,
            Action::Verify,
            Network::Proxy,
        ),
        (
            with(|f| f.lists = PROXY),
            "proxy",
            50,
            Action::Verify,
            Network::Proxy,
        ),
        (
            anon(|a| a.residential_proxy = true),
            "residential_proxy",
            40,
            Action::Verify,
            Network::ResidentialProxy,
        ),
        (
            anon(|a| a.hosting = true),
            "hosting",
            70,
            Action::Block,
            Network::Hosting,
        ),
        (
            with(|f| f.lists = HOSTING),
            "hosting",
            70,
            Action::Block,
            Network::Hosting,
        ),
        (
            with(|f| f.hosting_asn = true),
            "hosting",
            70,
            Action::Block,
            Network::Hosting,
        ),
        (
            with(|f| f.hosting_org = true),
            "hosting",
            70,
            Action::Block,
            Network::Hosting,
        ),
        (
            with(|f| f.lists = RELAY),
            "relay",
            0,
            Action::Allow,
            Network::Relay,
        ),
        (
            // a relay's egress runs in data centres, but its users are people
            with(|f| {
                f.lists = RELAY | HOSTING | VPN | PROXY;
                f.anon.hosting = true;
                f.hosting_asn = true;
                f.hosting_org = true;
            }),
            "relay",
            0,
            Action::Allow,
            Network::Relay,
        ),
        (
            with(|f| {
                f.lists = MOBILE;
                f.mobile_list = true;
            }),
            "",
            0,
            Action::Allow,
            Network::Mobile,
        ),
        (
            with(|f| f.lists = DENY),
            "list:deny",
            100,
            Action::Block,
            Network::Unknown,
        ),
        (
            with(|f| f.lists = PARTNERS),
            "list:partners",
            0,
            Action::Allow,
            Network::Unknown,
        ),
        (
            with(|f| f.lookup_errors = 1),
            "lookup_error",
            0,
            Action::Allow,
            Network::Unknown,
        ),
    ];
    for (f, r, score, action, net) in cases {
        let d = run(&c, &f);
        assert_eq!(reasons(&c, &d), r, "{f:?}");
        assert_eq!(d.score, score, "{r}");
        assert_eq!(d.action, action, "{r}");
        assert_eq!(d.network, net, "{r}");
    }
    // is_anonymous alone is not a signal: it only summarises the others
    let d = run(&c, &anon(|a| a.anonymous = true));
    assert!(d.reasons.is_empty());
}

#[test]
fn reasons_follow_the_contract_order_and_the_score_is_capped() {
    // shadow mode: a blocked request is forwarded, so the limiters are asked too
    let c = cfg("mode: shadow");
    let mut f = facts();
    f.tor_list = true;
    f.anon = AnonFlags {
        anonymous: true,
        vpn: true,
        hosting: true,
        public_proxy: true,
        residential_proxy: true,
        tor_exit: true,
    };
    f.lists = DENY | PARTNERS;
    f.lookup_errors = 2;
    let d = decide_all(
        &f,
        &Request::default(),
        None,
        &c.policies[0],
        &c.intel,
        LimitOutcome {
            ip: true,
            subnet: true,
            asn: true,
            named: 0,
            retry_after: Some(Duration::from_secs(3)),
        },
    );
    assert_eq!(
        reasons(&c, &d),
        // every signal but hosting: a known VPN endpoint is not also hosting
        "tor,vpn,proxy,residential_proxy,list:deny,list:partners,rate_ip,rate_subnet,rate_asn,lookup_error"
    );
    assert_eq!(d.score, 100);
    assert_eq!(d.network, Network::Tor);
    let names: Vec<&str> = d
        .reasons
        .iter(&c.intel.lists, &c.policies[0].limits)
        .collect();
    assert_eq!(names.join(","), reasons(&c, &d));
}

#[test]
fn thresholds_are_inclusive() {
    let c =
        cfg("weights: { vpn: 29, proxy: 30, hosting: 70 }\nthresholds: { verify: 30, block: 70 }");
    let mut f = facts();
    f.anon.vpn = true;
    assert_eq!(run(&c, &f).action, Action::Allow);
    f.anon.vpn = false;
    f.anon.public_proxy = true;
    assert_eq!(run(&c, &f).action, Action::Verify);
    f.anon.public_proxy = false;
    f.anon.hosting = true;
    assert_eq!(run(&c, &f).action, Action::Block);
}

#[test]
fn weights_add_up() {
    let c = cfg("weights: { proxy: 25, hosting: 20, list:partners: 5 }");
    let mut f = facts();
    f.anon.public_proxy = true;
    f.lists = HOSTING | PARTNERS;
    let d = run(&c, &f);
    assert_eq!(d.score, 50);
    assert_eq!(d.action, Action::Verify);
    // a policy that lists weights replaces the defaults as a whole: tor is now 0
    f.tor_list = true;
    let d = run(&c, &f);
    assert_eq!(d.score, 50);
    assert!(
        d.reasons.has(Signal::Tor),
        "signals are reported even at weight 0"
    );
}

#[test]
fn countries_deny_and_allow() {
    let c = cfg("countries: { deny: [RU, KP] }");
    let mut f = facts();
    f.country = Some(*b"RU");
    assert_eq!(run(&c, &f).action, Action::Block);
    f.country = Some(*b"SE");
    assert_eq!(run(&c, &f).action, Action::Allow);
    f.country = None;
    assert_eq!(run(&c, &f).action, Action::Allow);

    let c = cfg("countries: { allow: [se, no] }");
    f.country = Some(*b"SE");
    assert_eq!(run(&c, &f).action, Action::Allow);
    f.country = Some(*b"DE");
    let d = run(&c, &f);
    assert_eq!(reasons(&c, &d), "country_denied");
    assert_eq!(d.action, Action::Block);
    // unknown country: not denied (a missing answer is not evidence)
    f.country = None;
    assert_eq!(run(&c, &f).action, Action::Allow);
}

#[test]
fn allow_list_skips_everything() {
    let c = cfg("{}");
    let mut f = facts();
    f.tor_list = true;
    f.lists = ALLOW | DENY;
    let d = decide_all(
        &f,
        &Request::default(),
        None,
        &c.policies[0],
        &c.intel,
        LimitOutcome {
            ip: true,
            ..Default::default()
        },
    );
    assert_eq!(
        (d.score, d.action, d.verdict),
        (0, Action::Allow, Verdict::Forward)
    );
    assert_eq!(reasons(&c, &d), "list:allow");
    assert!(d.allow_listed && !d.limited && !d.needs_limits());
}

#[test]
fn lookup_errors_fail_open_or_closed() {
    let mut f = facts();
    f.lookup_errors = 4;
    let open = cfg("on_lookup_error: allow");
    assert_eq!(run(&open, &f).action, Action::Allow);
    let closed = cfg("on_lookup_error: block");
    let d = run(&closed, &f);
    assert_eq!((d.action, d.verdict), (Action::Block, Verdict::Block));
    assert_eq!(reasons(&closed, &d), "lookup_error");
    let weighted = cfg("weights: { lookup_error: 40 }");
    assert_eq!(run(&weighted, &f).action, Action::Verify);
}

#[test]
fn enforce_shadow_and_shadow_ban_verdicts() {
    let mut f = facts();
    f.tor_list = true;
    let c = cfg("mode: enforce");
    assert_eq!(run(&c, &f).verdict, Verdict::Block);
    let c = cfg("mode: shadow");
    let d = run(&c, &f);
    assert_eq!((d.action, d.verdict), (Action::Block, Verdict::Forward));
    let c = cfg("on_block: { shadow: true }");
    let d = run(&c, &f);
    assert_eq!((d.action, d.verdict), (Action::Block, Verdict::Forward));
    // verify is always forwarded
    f.tor_list = false;
    f.anon.vpn = true;
    assert_eq!(run(&cfg("{}"), &f).verdict, Verdict::Forward);
}

#[test]
fn limits_add_reasons_and_answer_with_on_limit() {
    let c = cfg("{}");
    let f = facts();
    let lim = LimitOutcome {
        ip: false,
        subnet: true,
        asn: false,
        named: 0,
        retry_after: Some(Duration::from_secs(7)),
    };
    let d = decide_all(&f, &Request::default(), None, &c.policies[0], &c.intel, lim);
    assert_eq!(reasons(&c, &d), "rate_subnet");
    assert_eq!((d.action, d.verdict), (Action::Block, Verdict::Limit));
    assert_eq!(d.retry_after, Some(Duration::from_secs(7)));
    assert!(d.limited);
    // shadow: reported, forwarded
    let c = cfg("mode: shadow");
    let d = decide_all(&f, &Request::default(), None, &c.policies[0], &c.intel, lim);
    assert_eq!((d.action, d.verdict), (Action::Block, Verdict::Forward));
    assert_eq!(reasons(&c, &d), "rate_subnet");
}

#[test]
fn a_field_limit_reports_rate_name_with_its_weight_in_contract_order() {
    let c = cfg_with(
        "fields:\n  coupon: json:/code\n  referral: query:ref\n",
        "weights: { rate:coupon: 20, rate:referral_subnet: 5, rate_ip: 1 }\nlimits:\n  - { key: ip, rate: 5/min }\n  - { key: field:coupon, rate: 3/day }\n  - { key: [field:referral, subnet], rate: 5/hour, name: referral_subnet }",
    );
    let p = &c.policies[0];
    assert_eq!(p.limits[1].signal.name(), "rate:coupon");
    assert_eq!(p.limits[2].signal.name(), "rate:referral_subnet");
    let mut f = facts();
    f.lookup_errors = 1;
    let lim = LimitOutcome {
        ip: true,
        named: 0b110,
        retry_after: Some(Duration::from_secs(60)),
        ..Default::default()
    };
    let d = decide_all(&f, &Request::default(), None, p, &c.intel, lim);
    assert_eq!(
        reasons(&c, &d),
        "rate_ip,rate:coupon,rate:referral_subnet,lookup_error"
    );
    assert_eq!(d.score, 26);
    assert_eq!((d.action, d.verdict), (Action::Block, Verdict::Limit));
}

#[test]
fn a_request_blocked_for_its_score_does_not_ask_the_limiters() {
    let c = cfg("{}");
    let mut f = facts();
    f.tor_list = true;
    let a = decide::assess(&f, &Request::default(), None, &c.policies[0], &c.intel);
    assert!(!a.needs_limits());
    // even if a limiter answer were folded in, the block stays a block, not a 429
    let d = decide::apply_limits(
        a,
        LimitOutcome {
            ip: true,
            ..Default::default()
        },
        &c.policies[0],
    );
    assert_eq!(d.verdict, Verdict::Block);
    assert!(!d.reasons.has(Signal::RateIp));
}

#[test]
fn mobile_and_residential_are_facts_not_risk() {
    let c = cfg("{}");
    let mut f = facts();
    f.connection = Some(ConnectionType::Cellular);
    let d = run(&c, &f);
    assert_eq!((d.score, d.network), (0, Network::Mobile));
    f.connection = None;
    f.mobile_asn = true;
    assert_eq!(run(&c, &f).network, Network::Mobile);
    f.mobile_asn = false;
    for ct in [
        ConnectionType::CableDsl,
        ConnectionType::Dialup,
        ConnectionType::Satellite,
    ] {
        f.connection = Some(ct);
        assert_eq!(run(&c, &f).network, Network::Residential);
    }
    f.connection = Some(ConnectionType::Corporate);
    assert_eq!(run(&c, &f).network, Network::Unknown);
    // a VPN on a mobile connection is reported as the VPN
    f.connection = Some(ConnectionType::Cellular);
    f.anon.vpn = true;
    assert_eq!(run(&c, &f).network, Network::Vpn);
}

#[test]
fn every_combination_of_fixed_signals_scores_their_capped_sum() {
    let c = cfg("weights: { tor: 41, vpn: 3, proxy: 5, residential_proxy: 7, hosting: 11, country_denied: 13, lookup_error: 17 }\ncountries: { deny: [XX] }");
    let weights = [41u32, 3, 5, 7, 11, 13, 17];
    for mask in 0u32..(1 << 7) {
        let mut f = facts();
        f.tor_list = mask & 1 != 0;
        f.anon.vpn = mask & 2 != 0;
        f.anon.public_proxy = mask & 4 != 0;
        f.anon.residential_proxy = mask & 8 != 0;
        f.anon.hosting = mask & 16 != 0;
        f.country = (mask & 32 != 0).then_some(*b"XX");
        f.lookup_errors = u8::from(mask & 64 != 0);
        // a known VPN endpoint is never also hosting: one fact counts once
        let counted = if mask & 2 != 0 { mask & !16 } else { mask };
        let want: u32 = (0..7)
            .filter(|i| counted & (1 << i) != 0)
            .map(|i| weights[i])
            .sum::<u32>()
            .min(100);
        let d = run(&c, &f);
        assert_eq!(d.score, want, "mask {mask:07b}");
        let want_action = if want >= 70 {
            Action::Block
        } else if want >= 30 {
            Action::Verify
        } else {
            Action::Allow
        };
        assert_eq!(d.action, want_action, "mask {mask:07b}");
        assert_eq!(
            d.reasons.fixed.count_ones(),
            counted.count_ones(),
            "mask {mask:07b}"
        );
    }
}

#[test]
fn language_mismatch_needs_a_header_a_country_and_a_language_not_spoken_there() {
    let c = cfg("checks: { language: true, ignore_languages: [en] }");
    let mut f = facts();
    f.country = Some(*b"SE");
    let with = |h: Option<&str>, f: &Facts| {
        let req = Request {
            accept_language: h,
            ..Request::default()
        };
        let d = decide_all(
            f,
            &req,
            None,
            &c.policies[0],
            &c.intel,
            LimitOutcome::default(),
        );
        (reasons(&c, &d), d.score)
    };
    assert_eq!(
        with(Some("ru-RU,ru;q=0.9"), &f),
        ("language_mismatch".into(), 15)
    );
    assert_eq!(
        with(Some("sv-SE,sv;q=0.9,en;q=0.8"), &f),
        (String::new(), 0)
    );
    // Finnish is spoken in Sweden too (CLDR)
    assert_eq!(with(Some("fi"), &f), (String::new(), 0));
    // ignored languages prove nothing either way
    assert_eq!(with(Some("en-US,en;q=0.9"), &f), (String::new(), 0));
    assert_eq!(
        with(Some("en-US,de;q=0.5"), &f),
        ("language_mismatch".into(), 15)
    );
    // q=0 means "not this one"
    assert_eq!(
        with(Some("sv;q=0,ru"), &f),
        ("language_mismatch".into(), 15)
    );
    // a missing input skips the check
    assert_eq!(with(None, &f), (String::new(), 0));
    assert_eq!(with(Some("*"), &f), (String::new(), 0));
    f.country = None;
    assert_eq!(with(Some("ru"), &f), (String::new(), 0));
    // a policy that does not ask never sees it
    let off = cfg("{}");
    let mut f = facts();
    f.country = Some(*b"SE");
    let req = Request {
        accept_language: Some("ru"),
        ..Request::default()
    };
    let d = decide_all(
        &f,
        &req,
        None,
        &off.policies[0],
        &off.intel,
        LimitOutcome::default(),
    );
    assert!(d.reasons.is_empty());
}

#[test]
fn a_known_vpn_endpoint_is_vpn_not_also_hosting() {
    let c = cfg("{}");
    // a VPN server in a datacenter list, on a hosting ASN: the VPN fact, once
    for vpn_by_list in [false, true] {
        let mut f = facts();
        if vpn_by_list {
            f.lists = VPN | HOSTING;
        } else {
            f.anon.vpn = true;
            f.lists = HOSTING;
        }
        f.hosting_asn = true;
        f.hosting_org = true;
        f.anon.hosting = true;
        let d = run(&c, &f);
        assert_eq!(reasons(&c, &d), "vpn", "vpn by list: {vpn_by_list}");
        assert_eq!(d.score, 30);
        assert_eq!(d.action, Action::Verify, "privacy-VPN customers verify");
        assert_eq!(d.network, Network::Vpn);
    }
    // a datacenter address that no one calls a VPN is still hosting
    let mut f = facts();
    f.lists = HOSTING;
    let d = run(&c, &f);
    assert_eq!(reasons(&c, &d), "hosting");
    assert_eq!(d.action, Action::Block);
    // a relay that a VPN list carries is a relay: neither
    f.lists = VPN | HOSTING | RELAY;
    assert_eq!(reasons(&c, &run(&c, &f)), "relay");
}

/// What a recalled decision does to the decision, whatever else is present.
#[test]
fn recalled_decisions_block_verify_shadow_and_allow() {
    use riskgate::decide::recalled::{Action as D, Hit};
    let hit = |action| {
        Some(Hit {
            id: 7,
            expires_ms: i64::MAX,
            action,
        })
    };
    let limited = LimitOutcome {
        ip: true,
        retry_after: Some(Duration::from_secs(60)),
        ..LimitOutcome::default()
    };
    let with = |c: &Config, f: &Facts, r, l: LimitOutcome| {
        decide_all(f, &Request::default(), r, &c.policies[0], &c.intel, l)
    };
    let c = cfg("thresholds: { verify: 40, block: 80 }");
    let clean = facts();
    let mut hosting = facts();
    hosting.lists = HOSTING;

    let d = with(&c, &clean, hit(D::Block), LimitOutcome::default());
    assert_eq!(
        (d.action, d.verdict, d.score),
        (Action::Block, Verdict::Block, 100)
    );
    assert_eq!(reasons(&c, &d), "decision:block");
    assert_eq!(d.recalled.unwrap().id, 7);

    // verify weighs the policy's own verify threshold: verified at least
    let d = with(&c, &clean, hit(D::Verify), LimitOutcome::default());
    assert_eq!((d.action, d.score), (Action::Verify, 40));

    // a shadow-ban says block and is forwarded, in enforce mode too
    let d = with(&c, &clean, hit(D::Shadow), LimitOutcome::default());
    assert_eq!((d.action, d.verdict), (Action::Block, Verdict::Forward));
    assert_eq!(reasons(&c, &d), "decision:shadow");

    // allow: no scoring, no limits, whatever the network
    let d = with(&c, &hosting, hit(D::Allow), limited);
    assert_eq!(
        (d.action, d.verdict, d.score),
        (Action::Allow, Verdict::Forward, 0)
    );
    assert!(!d.limited);
    assert_eq!(reasons(&c, &d), "decision:allow");

    // a policy's own weights keep the decisions' unless they name them
    let w = cfg("weights: { tor: 100 }\nthresholds: { verify: 20, block: 70 }");
    let d = with(&w, &clean, hit(D::Block), LimitOutcome::default());
    assert_eq!(d.action, Action::Block);
    let d = with(&w, &clean, hit(D::Verify), LimitOutcome::default());
    assert_eq!((d.action, d.score), (Action::Verify, 20));
    let named = cfg("weights: { decision:block: 50 }");
    let d = with(&named, &clean, hit(D::Block), LimitOutcome::default());
    assert_eq!((d.action, d.score), (Action::Verify, 50));
}

/// The whole decision for a known limit outcome: the path's two pure steps.
fn decide_all(
    facts: &riskgate::intel::Facts,
    request: &riskgate::evidence::Request,
    recalled: Option<riskgate::decide::recalled::Hit>,
    policy: &riskgate::config::Policy,
    intel: &riskgate::config::IntelConfig,
    limits: riskgate::decide::LimitOutcome,
) -> riskgate::decide::Decision {
    riskgate::decide::apply_limits(
        riskgate::decide::assess(facts, request, recalled, policy, intel),
        limits,
        policy,
    )
}
