//! `make detection`: what the production config does to addresses drawn from real data.
//!
//! The production config (deploy/gateway.production.yaml) is compiled as shipped, with
//! each URL and /var/lib path pointed at a real local copy of the same data (the
//! providers' feeds of tests/fixtures/feeds, the bundled lists), a real GeoLite2 Country
//! database and an ASN database built from a real IP-to-ASN table. Then, for each class
//! of addresses, every address is enriched and decided exactly as a request on the
//! `promo` route would be, and the table of allow / verify / block goes to
//! docs/detection.md.
//!
//! cargo run --release --example detection -- --country F.mmdb --asn-csv DIR --work DIR
//!
//! With `--stage-only` it only stages: the ASN database and `WORK/production.yaml` (the
//! production config on the local data), which `make evaluate` replays a week through.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ipnet::{IpNet, Ipv4Subnets, Ipv6Subnets};
use riskgate::decide::{self, Action};
use riskgate::evidence::Request;
use riskgate::intel::Intel;

const PER_CLASS: usize = 3000;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A deterministic generator (xorshift), so that a run repeats.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// An inclusive range of addresses.
#[derive(Clone, Copy)]
enum Range {
    V4(u32, u32),
    V6(u128, u128),
}

impl Range {
    fn of(n: IpNet) -> Range {
        match n.trunc() {
            IpNet::V4(n) => Range::V4(n.network().into(), n.broadcast().into()),
            IpNet::V6(n) => Range::V6(n.network().into(), n.broadcast().into()),
        }
    }
    fn pick(&self, rng: &mut Rng) -> IpAddr {
        match *self {
            Range::V4(a, z) => {
                let span = u64::from(z - a) + 1;
                IpAddr::V4(Ipv4Addr::from(a + (rng.next() % span) as u32))
            }
            Range::V6(a, z) => {
                let span = z - a;
                let r = (u128::from(rng.next()) << 64) | u128::from(rng.next());
                let off = if span == u128::MAX { r } else { r % (span + 1) };
                IpAddr::V6(Ipv6Addr::from(a + off))
            }
        }
    }
}

/// Draw `n` addresses: a range at random, then an address in it.
fn sample(ranges: &[Range], seed: u64, n: usize) -> Vec<IpAddr> {
    let mut rng = Rng(seed | 1);
    if ranges.is_empty() {
        return Vec::new();
    }
    (0..n)
        .map(|_| {
            let r = ranges[(rng.next() % ranges.len() as u64) as usize];
            r.pick(&mut rng)
        })
        .collect()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Prefixes of a plain list or the first column of a geofeed.
fn prefixes(text: &str) -> Vec<Range> {
    text.lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            let p = l.split(',').next().unwrap().trim();
            p.parse::<IpNet>()
                .ok()
                .or_else(|| p.parse::<IpAddr>().ok().map(IpNet::from))
        })
        .map(Range::of)
        .collect()
}

/// The prefixes of a JSON feed, read plainly (every string that is a prefix), not by
/// riskgate's reader.
fn json_prefixes(text: &str) -> Vec<Range> {
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    let mut out = Vec::new();
    let mut walk = |s: &str| {
        if let Ok(n) = s.parse::<IpNet>() {
            out.push(Range::of(n));
        }
    };
    fn strings(v: &serde_json::Value, f: &mut dyn FnMut(&str)) {
        match v {
            serde_json::Value::String(s) => f(s),
            serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, f)),
            serde_json::Value::Object(o) => o.values().for_each(|x| strings(x, f)),
            _ => {}
        }
    }
    strings(&v, &mut walk);
    out
}

/// One row of the IP-to-ASN table: a range, its AS number and organisation.
struct AsnRow {
    range: Range,
    asn: u32,
    org: String,
}

fn asn_rows(dir: &Path) -> Vec<AsnRow> {
    let mut out = Vec::new();
    for f in ["asn-ipv4.csv", "asn-ipv6.csv"] {
        for line in read(&dir.join(f)).lines() {
            let mut it = line.splitn(4, ',');
            let (Some(a), Some(z), Some(n), Some(org)) =
                (it.next(), it.next(), it.next(), it.next())
            else {
                continue;
            };
            let (Ok(a), Ok(z), Ok(asn)) = (a.parse::<IpAddr>(), z.parse::<IpAddr>(), n.parse())
            else {
                continue;
            };
            let range = match (a, z) {
                (IpAddr::V4(a), IpAddr::V4(z)) => Range::V4(a.into(), z.into()),
                (IpAddr::V6(a), IpAddr::V6(z)) => Range::V6(a.into(), z.into()),
                _ => continue,
            };
            out.push(AsnRow {
                range,
                asn,
                org: org.trim_matches('"').to_string(),
            });
        }
    }
    out
}

/// A GeoLite2-ASN-layout database built from the table (cached in `work`).
fn asn_mmdb(rows: &[AsnRow], work: &Path) -> PathBuf {
    let out = work.join("asn.mmdb");
    if out.exists() {
        return out;
    }
    let mut w = mmdb_writer::Writer::new("GeoLite2-ASN");
    // the aliased IPv6 networks (Teredo 2001::/32, 6to4 2002::/16) map IPv4 space and
    // cannot hold records of their own
    let mut aliased = 0usize;
    for r in rows {
        let rec = serde_json::json!({
            "autonomous_system_number": r.asn,
            "autonomous_system_organization": r.org,
        });
        let nets: Vec<IpNet> = match r.range {
            Range::V4(a, z) => Ipv4Subnets::new(a.into(), z.into(), 0)
                .map(IpNet::V4)
                .collect(),
            Range::V6(a, z) => Ipv6Subnets::new(a.into(), z.into(), 0)
                .map(IpNet::V6)
                .collect(),
        };
        for n in nets {
            if w.insert(n, &rec).is_err() {
                aliased += 1;
            }
        }
    }
    eprintln!("{aliased} aliased IPv6 networks left out of the ASN database");
    let tmp = out.with_extension("tmp");
    std::fs::write(&tmp, w.to_bytes().expect("mmdb")).unwrap();
    std::fs::rename(&tmp, &out).unwrap();
    out
}

/// The production config with every remote or machine path pointed at local real data.
fn production_config(country: &Path, asn: &Path) -> (String, Vec<(String, String)>) {
    let feeds = root().join("tests/fixtures/feeds");
    let data = root().join("data");
    let f = |n: &str| feeds.join(n).display().to_string();
    let d = |n: &str| data.join(n).display().to_string();
    // the admin token and the decisions' store: files of the work directory
    let work = asn
        .parent()
        .expect("the work directory (where the ASN database is built)");
    let token = work.join("admin.token");
    std::fs::write(&token, "0123456789abcdef0123456789abcdef\n").unwrap();
    let map: Vec<(String, String)> = vec![
        (
            "/etc/riskgate/admin.token".into(),
            token.display().to_string(),
        ),
        (
            "/var/lib/riskgate/decisions.db".into(),
            work.join("production-decisions.db").display().to_string(),
        ),
        (
            "https://ip-ranges.amazonaws.com/ip-ranges.json".into(),
            f("aws-ip-ranges.json"),
        ),
        (
            "https://www.gstatic.com/ipranges/cloud.json".into(),
            f("gcp-cloud.json"),
        ),
        (
            "/var/lib/riskgate/azure-service-tags.json".into(),
            f("azure-ServiceTags_Public.json"),
        ),
        (
            "https://docs.oracle.com/en-us/iaas/tools/public_ip_ranges.json".into(),
            f("oracle-public_ip_ranges.json"),
        ),
        (
            "https://digitalocean.com/geo/google.csv".into(),
            f("digitalocean-geofeed.csv"),
        ),
        ("https://geoip.linode.com/".into(), f("linode-geofeed.txt")),
        (
            "https://mask-api.icloud.com/egress-ip-ranges.csv".into(),
            f("icloud-private-relay.txt"),
        ),
        (
            "https://raw.githubusercontent.com/tmobile/tmus-geofeed/main/tmus-geo-ip.txt".into(),
            f("tmobile-geofeed.txt"),
        ),
        (
            "https://raw.githubusercontent.com/Verizon/verizon-geofeed/main/feed_wireless.csv"
                .into(),
            f("verizon-wireless-geofeed.csv"),
        ),
        (
            "https://check.torproject.org/exit-addresses".into(),
            d("tor-exit-addresses.txt"),
        ),
        (
            "/var/lib/riskgate/country.mmdb".into(),
            country.display().to_string(),
        ),
        (
            "/var/lib/riskgate/asn.mmdb".into(),
            asn.display().to_string(),
        ),
        (
            "/var/lib/riskgate/datacenter.txt".into(),
            d("datacenter.txt"),
        ),
        ("/var/lib/riskgate/vpn.txt".into(), d("vpn.txt")),
        ("/etc/riskgate/deny.txt".into(), d("deny.txt")),
        ("/etc/riskgate/allow.txt".into(), d("allow.txt")),
        (
            "/usr/share/riskgate/data/mobile-asns.txt".into(),
            d("mobile-asns.txt"),
        ),
    ];
    let mut text = read(&root().join("deploy/gateway.production.yaml"));
    for (from, to) in &map {
        assert!(
            text.contains(from.as_str()),
            "the production config no longer names {from}"
        );
        text = text.replace(from.as_str(), to);
    }
    for l in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let code = l.split(" #").next().unwrap();
        assert!(
            !code.contains("https://") && !code.contains("/var/lib/"),
            "not mapped to local data: {l}"
        );
    }
    (text, map)
}

struct Class {
    name: &'static str,
    drawn_from: String,
    /// the config reads the same data: the result shows the plumbing, not detection
    circular: &'static str,
    /// "abuse": block ≥ 99 % (or verify-or-block ≥ 90 % for VPNs); "customer": block
    /// ≤ 0.1 %, verify ≤ 2 %; "fact": no target
    kind: &'static str,
    addrs: Vec<IpAddr>,
}

fn by_asn(rows: &[AsnRow], asns: &[u32], seed: u64) -> Vec<IpAddr> {
    let ranges: Vec<Range> = rows
        .iter()
        .filter(|r| asns.contains(&r.asn))
        .map(|r| r.range)
        .collect();
    sample(&ranges, seed, PER_CLASS)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |k: &str| -> PathBuf {
        let i = args
            .iter()
            .position(|a| a == k)
            .unwrap_or_else(|| panic!("{k} is required"));
        PathBuf::from(&args[i + 1])
    };
    let (country, asn_dir, work) = (arg("--country"), arg("--asn-csv"), arg("--work"));
    let out = args
        .iter()
        .position(|a| a == "--out")
        .map(|i| PathBuf::from(&args[i + 1]))
        .unwrap_or_else(|| root().join("docs/detection.md"));
    std::fs::create_dir_all(&work).unwrap();

    eprintln!("reading the IP-to-ASN table and building its MMDB (cached)...");
    let rows = asn_rows(&asn_dir);
    let names: BTreeMap<u32, String> = rows.iter().map(|r| (r.asn, r.org.clone())).collect();
    let asn_db = asn_mmdb(&rows, &work);

    let (yaml, _) = production_config(&country, &asn_db);
    // `make evaluate` replays a week through this same config: written where it can
    // find it, with the ASN database it points at
    std::fs::write(work.join("production.yaml"), &yaml).unwrap();
    if args.iter().any(|a| a == "--stage-only") {
        eprintln!("wrote {}", work.join("production.yaml").display());
        return;
    }
    let cfg = riskgate::config::parse(&yaml, &root().join("deploy/gateway.production.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let t0 = std::time::Instant::now();
    let intel = Intel::load(&cfg.intel).unwrap_or_else(|e| panic!("{e:?}"));
    eprintln!("production config loaded in {:?}", t0.elapsed());
    let policy = cfg
        .policies
        .iter()
        .find(|p| p.name == "promo")
        .expect("a promo policy");

    let feeds = root().join("tests/fixtures/feeds");
    let det = root().join("benches/detection");
    let feed_ranges = |files: &[&str]| -> Vec<Range> {
        files
            .iter()
            .flat_map(|f| {
                let t = read(&feeds.join(f));
                if t.trim_start().starts_with('{') {
                    json_prefixes(&t)
                } else {
                    prefixes(&t)
                }
            })
            .collect()
    };
    let ipcat: Vec<Range> = read(&det.join("datacenters.csv"))
        .lines()
        .filter_map(|l| {
            let mut it = l.split(',');
            let a: Ipv4Addr = it.next()?.parse().ok()?;
            let z: Ipv4Addr = it.next()?.parse().ok()?;
            Some(Range::V4(a.into(), z.into()))
        })
        .collect();
    let det_ranges = |files: &[&str]| -> Vec<Range> {
        files
            .iter()
            .flat_map(|f| prefixes(&read(&det.join(f))))
            .collect()
    };
    let tor: Vec<Range> = read(&root().join("data/tor-exit-addresses.txt"))
        .lines()
        .filter_map(|l| l.strip_prefix("ExitAddress "))
        .filter_map(|l| l.split_whitespace().next()?.parse::<IpAddr>().ok())
        .map(|ip| Range::of(IpNet::from(ip)))
        .collect();

    // residential access ISPs, none of them in mobile-asns.txt
    let residential = [
        7922, 20115, 22773, 7018, 701, 5650, 2856, 5607, 5089, 12322, 8881, 9143, 6848, 6327, 5769,
        4713, 24309, 17488, 29518, 3269, 6830, 7713, 4134, 4837, 9829, 18881,
    ];
    let mobile = [
        21928, 22394, 6167, 20057, 55836, 45609, 23693, 45271, 9605, 28403, 26615, 25135, 6805,
        51207, 39603, 16135, 33771, 132199, 45669, 24389,
    ];
    let classes = vec![
        Class {
            name: "Tor exits",
            drawn_from: "the exit list (1,174 exits)".into(),
            circular: "yes: the config's Tor list",
            kind: "abuse",
            addrs: sample(&tor, 1, PER_CLASS),
        },
        Class {
            name: "cloud providers' published ranges",
            drawn_from: "AWS, Google Cloud, Azure, Oracle, DigitalOcean, Linode feeds".into(),
            circular: "yes: the config's hosting feeds",
            kind: "abuse",
            addrs: sample(
                &feed_ranges(&[
                    "aws-ip-ranges.json",
                    "gcp-cloud.json",
                    "azure-ServiceTags_Public.json",
                    "oracle-public_ip_ranges.json",
                    "digitalocean-geofeed.csv",
                    "linode-geofeed.txt",
                ]),
                2,
                PER_CLASS,
            ),
        },
        Class {
            name: "datacenters (ipcat)",
            drawn_from: "client9/ipcat datacenters.csv (3,429 ranges)".into(),
            circular: "no",
            kind: "abuse",
            addrs: sample(&ipcat, 3, PER_CLASS),
        },
        Class {
            name: "Hetzner, OVH, Vultr ranges",
            drawn_from: "the providers' own ranges (disposable/cloud-ip-ranges)".into(),
            circular: "partly: their ASNs are in hosting_asns",
            kind: "abuse",
            addrs: sample(
                &det_ranges(&["hetzner.txt", "ovh.txt", "vultr.txt"]),
                4,
                PER_CLASS,
            ),
        },
        Class {
            name: "VPN servers",
            drawn_from: "Mullvad, ProtonVPN, PIA server addresses".into(),
            circular: "yes: inputs of the X4BNet VPN list the config reads",
            kind: "vpn",
            addrs: sample(
                &det_ranges(&[
                    "input_vpn_ips_mullvadvpn.txt",
                    "input_vpn_ips_protonvpn.txt",
                    "input_vpn_ips_pia.txt",
                ]),
                5,
                PER_CLASS,
            ),
        },
        Class {
            name: "residential ISPs",
            drawn_from: format!(
                "{} access ISPs by AS number (Comcast, Charter, AT&T, BT, Free, Telkom Indonesia…)",
                residential.len()
            ),
            circular: "no",
            kind: "customer",
            addrs: by_asn(&rows, &residential, 6),
        },
        Class {
            name: "mobile carriers",
            drawn_from: format!(
                "{} carriers by AS number (T-Mobile, Verizon, Jio, Airtel, Telkomsel, docomo…)",
                mobile.len()
            ),
            circular: "for `mobile` only: the same ASNs are in mobile-asns.txt",
            kind: "customer",
            addrs: by_asn(&rows, &mobile, 7),
        },
        Class {
            name: "Starlink",
            drawn_from: "Starlink's geofeed".into(),
            circular: "no",
            kind: "customer",
            addrs: sample(&feed_ranges(&["starlink-geofeed.csv"]), 8, PER_CLASS),
        },
        Class {
            name: "iCloud Private Relay",
            drawn_from: "Private Relay egress prefixes".into(),
            circular: "yes: the config's relay list",
            kind: "customer",
            addrs: sample(&feed_ranges(&["icloud-private-relay.txt"]), 9, PER_CLASS),
        },
    ];

    let mut table = String::new();
    let mut fps = String::new();
    let mut misses = String::new();
    let mut met_all = true;
    writeln!(
        table,
        "| class | drawn from | circular | n | allow | verify | block | target | met |"
    )
    .unwrap();
    writeln!(table, "|---|---|---|---:|---:|---:|---:|---|---|").unwrap();
    for c in &classes {
        let mut counts = [0usize; 3];
        let mut networks: BTreeMap<&str, usize> = BTreeMap::new();
        let mut flagged: BTreeMap<u32, (usize, usize, BTreeMap<String, usize>)> = BTreeMap::new();
        let mut missed: BTreeMap<u32, usize> = BTreeMap::new();
        for ip in &c.addrs {
            let facts = intel.enrich(*ip, &cfg.intel);
            // no limits: the detection rate of the addresses alone
            let d = decide::assess(&facts, &Request::default(), None, policy, &cfg.intel);
            let i = match d.action {
                Action::Allow => 0,
                Action::Verify => 1,
                Action::Block => 2,
            };
            counts[i] += 1;
            *networks.entry(d.network.as_str()).or_default() += 1;
            if i == 0 {
                *missed.entry(facts.asn.unwrap_or(0)).or_default() += 1;
            } else {
                let e = flagged.entry(facts.asn.unwrap_or(0)).or_default();
                if i == 1 {
                    e.0 += 1;
                } else {
                    e.1 += 1;
                }
                // which source said so: the list and its entry, or the AS rules
                let mut why = vec![d
                    .reasons
                    .render(&cfg.intel.lists, &policy.limits)
                    .to_string()];
                for (li, l) in cfg.intel.lists.iter().enumerate() {
                    if facts.lists & (1 << li) != 0 {
                        let note = intel.list_note(&cfg.intel, li, *ip).unwrap_or_default();
                        let entry = note.rsplit(' ').next().unwrap_or("");
                        let src = note.rsplit_once(' ').map_or("", |(a, _)| a);
                        why.push(format!(
                            "{}: {src} {}",
                            l.name,
                            if entry.contains('/') { "" } else { entry }
                        ));
                    }
                }
                if facts.hosting_asn {
                    why.push("hosting_asns".into());
                }
                if facts.hosting_org {
                    why.push("hosting_org_keywords".into());
                }
                *e.2.entry(why.join("; ").trim().to_string()).or_default() += 1;
            }
        }
        let n = c.addrs.len().max(1) as f64;
        let pct = |k: usize| 100.0 * counts[k] as f64 / n;
        let (target, met) = match c.kind {
            "abuse" => ("block ≥ 99 %", pct(2) >= 99.0),
            "vpn" => ("verify or block ≥ 90 %", pct(1) + pct(2) >= 90.0),
            _ => (
                "block ≤ 0.1 %, verify ≤ 2 %",
                pct(2) <= 0.1 && pct(1) <= 2.0,
            ),
        };
        met_all &= met;
        writeln!(
            table,
            "| {} | {} | {} | {} | {:.2} % | {:.2} % | {:.2} % | {target} | {} |",
            c.name,
            c.drawn_from,
            c.circular,
            c.addrs.len(),
            pct(0),
            pct(1),
            pct(2),
            if met { "yes" } else { "**no**" }
        )
        .unwrap();
        let nets: Vec<String> = networks.iter().map(|(k, v)| format!("{k} {v}")).collect();
        eprintln!("{}: networks {}", c.name, nets.join(", "));
        if c.kind != "customer" && !missed.is_empty() {
            let mut list: Vec<_> = missed.into_iter().collect();
            list.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
            let top: Vec<String> = list
                .iter()
                .take(12)
                .map(|(a, n)| {
                    format!(
                        "AS{a} {} ({n})",
                        names.get(a).map(String::as_str).unwrap_or("-")
                    )
                })
                .collect();
            writeln!(misses, "- **{}**: {}", c.name, top.join("; ")).unwrap();
        }
        if c.kind == "customer" && !flagged.is_empty() {
            writeln!(fps, "\n**{}**: the networks flagged\n", c.name).unwrap();
            writeln!(fps, "| ASN | organisation | verify | block | reasons |").unwrap();
            writeln!(fps, "|---|---|---:|---:|---|").unwrap();
            let mut list: Vec<_> = flagged.into_iter().collect();
            list.sort_by_key(|(_, (v, b, _))| std::cmp::Reverse(v + b));
            for (asn, (v, b, why)) in list.into_iter().take(15) {
                let why: Vec<String> = why.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
                writeln!(
                    fps,
                    "| AS{asn} | {} | {v} | {b} | {} |",
                    names.get(&asn).map(String::as_str).unwrap_or("-"),
                    why.join(", ")
                )
                .unwrap();
            }
        }
    }
    if fps.is_empty() {
        fps = "\nNone: no residential, mobile, Starlink or Private Relay address was sent to verify or block.\n".into();
    }
    println!("{table}");
    print!("{fps}");
    print!("\n{misses}");
    let doc = format!(
        r#"# Detection: what the production config does to real addresses

Made by `make detection` (not part of `make test`). It compiles
`deploy/gateway.production.yaml` as shipped, with each URL and `/var/lib` path pointed at
a real local copy of the same data: the providers' feeds of `tests/fixtures/feeds/`, the
bundled lists of `data/`, GeoLite2 Country and an ASN database built from the RouteViews +
DB-IP IP-to-ASN table (both from the npm registry). Then {per} addresses of each class
are drawn at random from real ranges (the same seed each run) and decided as requests on
the `promo` route (limits aside: this measures scoring, not rate).

A class marked *circular* is drawn from data the config itself reads: its row shows that
the data is wired in and wins over the other signals, not that riskgate would find such
addresses without it. The non-circular rows are the measurement.

{table}
## False positives: the customers' networks that were flagged
{fps}
How to read these rows: an address that the AWS feed names inside a carrier's AS (for
example Verizon's AS6167) is in an AWS Wavelength Zone: AWS compute that runs inside the
carrier's network, published in `ip-ranges.json` under a `…-wlz-…` border group. Blocking
it is right; it is counted here only because the mobile class is drawn by AS number. An
address that `datacenter.txt` (X4BNet) names inside an access ISP is that list's mistake.

## Misses: the networks of allowed abuse addresses, most first

AS0 is space the ASN table no longer routes (ipcat is an archived list, and some of its
ranges have been returned or reassigned since).

{misses}
"#,
        per = PER_CLASS
    );
    std::fs::write(&out, doc).unwrap();
    eprintln!(
        "wrote {}; every target met: {}",
        out.display(),
        if met_all { "yes" } else { "no" }
    );
}
