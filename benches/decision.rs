//! Criterion benches of the per-request decision path, on the shipped config and the
//! bundled data (MaxMind test DBs, the real Tor list, the 51k-line X4BNet list).

use std::hint::black_box;
use std::net::IpAddr;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};

mod common;
use riskgate::decide::{self, LimitOutcome};
use riskgate::evidence::fields::{self, Body};
use riskgate::evidence::Request;
use riskgate::state::Snapshot;

fn snapshot() -> Snapshot {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway.yaml");
    riskgate::server::load(&path).expect("shipped config loads")
}

fn benches(c: &mut Criterion) {
    let snap = snapshot();
    let cfg = &snap.config;
    let policy = &cfg.policies[0];
    let clients: [(&str, IpAddr); 4] = [
        ("residential", "89.160.20.112".parse().unwrap()),
        ("vpn", "1.2.0.1".parse().unwrap()),
        ("tor", "185.241.208.232".parse().unwrap()),
        ("ipv6", "2a02:d440::1".parse().unwrap()),
    ];

    for (name, ip) in clients {
        let facts = snap.intel.enrich(ip, &cfg.intel);
        c.bench_function(&format!("decide/{name}"), |b| {
            b.iter(|| {
                decide_all(
                    black_box(&facts),
                    &Request::default(),
                    None,
                    policy,
                    &cfg.intel,
                    LimitOutcome::default(),
                )
            })
        });
        c.bench_function(&format!("enrich/{name}"), |b| {
            b.iter(|| snap.intel.enrich(black_box(ip), &cfg.intel))
        });
    }

    // the language check (the shipped promo policy has it on): a Swedish client whose
    // browser reads Swedish (a match on the first tag), and one whose browser reads
    // only languages not spoken in Sweden (every tag is looked at)
    let se = snap
        .intel
        .enrich("89.160.20.112".parse().unwrap(), &cfg.intel);
    for (name, header) in [
        ("match", "sv-SE,sv;q=0.9,en-US;q=0.8,en;q=0.7"),
        ("mismatch", "ru-RU,ru;q=0.9,uk;q=0.8,be;q=0.7,kk;q=0.6"),
    ] {
        let req = Request {
            accept_language: Some(header),
            ..Request::default()
        };
        c.bench_function(&format!("check/language_{name}"), |b| {
            b.iter(|| decide::signals(black_box(&se), black_box(&req), policy, &cfg.intel))
        });
    }

    // the shipped promo policy's fields from a 1 KiB JSON body and a header, then all
    // of its checks on them (a PPP-IN coupon and a US time zone from Sweden). The body
    // is a cart of 33 items (the shape of the load benchmark's): keys, strings and
    // numbers to skip, not one long string
    let mut body = br#"{"code":"PPP-IN-65","email":"jane@example.com","items":["#.to_vec();
    for i in 0..33 {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(format!(r#"{{"sku":"SKU-{i:05}","qty":1}}"#).as_bytes());
    }
    body.extend_from_slice(b"]}");
    assert!(body.len() < 1024);
    body.resize(1024 - 1, b' ');
    body.push(b' ');
    let mut hdrs = http::HeaderMap::new();
    hdrs.insert("x-client-timezone", "America/Los_Angeles".parse().unwrap());
    hdrs.insert("accept-language", "en-US,en;q=0.9".parse().unwrap());
    let read = Body::Read(&body, Some("application/json"));
    c.bench_function("fields/json_1kib_and_header", |b| {
        b.iter(|| {
            fields::extract(
                &cfg.fields,
                &policy.fields,
                black_box(&hdrs),
                None,
                black_box(&read),
            )
        })
    });
    // what the pointer walk replaced: building the whole document, then reading it
    c.bench_function("fields/json_1kib_whole_document", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_slice(black_box(&body)).unwrap();
            v.pointer("/code")
                .and_then(|c| c.as_str())
                .map(str::to_string)
        })
    });
    let (values, unreadable) = fields::extract(&cfg.fields, &policy.fields, &hdrs, None, &read);
    assert_eq!(unreadable, None);
    assert!(values.iter().flatten().any(|v| v == "IN"), "{values:?}");
    let req = Request {
        fields: &values,
        ..Request::from_headers(&hdrs)
    };
    c.bench_function("check/all_promo_checks", |b| {
        b.iter(|| decide::signals(black_box(&se), black_box(&req), policy, &cfg.intel))
    });

    // each data source on its own, for the residential client (a hit in every MMDB)
    let ip: IpAddr = "89.160.20.112".parse().unwrap();
    let intel = &snap.intel;
    let geo = intel.geo.as_ref().expect("shipped config has a geo db");
    let asn = intel.asn.as_ref().expect("asn db");
    let anon = intel.anonymous_ip.as_ref().expect("anonymous-ip db");
    let conn = intel.connection_type.as_ref().expect("connection-type db");
    c.bench_function("mmdb/geo_country", |b| {
        b.iter(|| geo.country(black_box(ip)))
    });
    c.bench_function("mmdb/asn", |b| {
        b.iter(|| asn.asn_with(black_box(ip), |n, o| (n, o.map(str::len))))
    });
    let anon_ip: IpAddr = "1.2.0.1".parse().unwrap();
    c.bench_function("mmdb/anonymous_ip", |b| {
        b.iter(|| anon.anonymous(black_box(anon_ip)))
    });
    let cell_ip: IpAddr = "1.0.0.1".parse().unwrap();
    c.bench_function("mmdb/connection_type", |b| {
        b.iter(|| conn.connection_type(black_box(cell_ip)))
    });
    let tor = intel.tor.as_ref().expect("tor set");
    let exit: IpAddr = "185.241.208.232".parse().unwrap();
    c.bench_function("tor/exit", |b| b.iter(|| tor.contains(black_box(exit))));
    c.bench_function("tor/not_exit", |b| b.iter(|| tor.contains(black_box(ip))));
    let hosting_i = cfg.intel.list_index("hosting").expect("hosting list");
    let hosting = &intel.lists[hosting_i];
    assert!(hosting.ranges() > 10_000, "the 51k-line X4BNet list");
    let dc: IpAddr = "3.5.140.2".parse().unwrap();
    assert!(hosting.contains(dc));
    c.bench_function("list_51k/hit", |b| {
        b.iter(|| hosting.contains(black_box(dc)))
    });
    c.bench_function("list_51k/miss", |b| {
        b.iter(|| hosting.contains(black_box(ip)))
    });

    let mut hdrs = http::HeaderMap::new();
    hdrs.insert(
        "x-forwarded-for",
        "89.160.20.112, 10.0.0.1".parse().unwrap(),
    );
    let peer: IpAddr = "127.0.0.1".parse().unwrap();
    // forward auth: which request an ingress asks about (nginx's headers; Caddy's)
    let mut ask = hdrs.clone();
    for (k, v) in [
        ("x-original-method", "POST"),
        ("x-original-uri", "/api/apply-coupon?src=mail"),
        ("user-agent", "Mozilla/5.0"),
        ("accept-language", "sv-SE,sv;q=0.9"),
    ] {
        ask.insert(k, v.parse().unwrap());
    }
    c.bench_function("authz/original_nginx", |b| {
        b.iter(|| riskgate::http::authz::original::of_headers(black_box(&ask)))
    });
    c.bench_function("client_ip/xff", |b| {
        b.iter(|| riskgate::path::client::resolve(black_box(peer), &hdrs, &cfg.client_ip))
    });
    let post = http::Method::POST;
    c.bench_function("routes/match", |b| {
        b.iter(|| {
            cfg.route_table
                .find(&post, black_box("/api/apply-coupon"), &hdrs)
        })
    });
    c.bench_function("routes/encoded", |b| {
        b.iter(|| {
            cfg.route_table
                .find(&post, black_box("/api%2Fapply-coupon"), &hdrs)
        })
    });
    c.bench_function("routes/miss", |b| {
        b.iter(|| {
            cfg.route_table
                .find(&post, black_box("/products/123"), &hdrs)
        })
    });

    // the three limits of the shipped promo policy, on one client (mostly 429s after
    // the burst) and on a rotating pool of 65,536 clients (mostly passes)
    let lim = riskgate::limits::Limiters::new(cfg);
    let f = snap
        .intel
        .enrich("89.160.20.112".parse().unwrap(), &cfg.intel);
    c.bench_function("limits/one_client", |b| {
        b.iter(|| lim.check(0, policy, black_box(&f), &Request::default(), &cfg.hash_key))
    });
    let mut i: u32 = 0;
    c.bench_function("limits/rotating_clients", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let mut f = f;
            f.ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 | (i & 0xffff)));
            lim.check(0, policy, black_box(&f), &Request::default(), &cfg.hash_key)
        })
    });

    // writing the nine X-Risk-* headers onto an upstream request as Pingora hands it
    // over (a clone of a parsed 4-header request, with the case-preserving name map),
    // next to the values alone: the difference is Pingora's insert_header
    let f = snap.intel.enrich(ip, &cfg.intel);
    let d = decide_all(
        &f,
        &Request::default(),
        None,
        policy,
        &cfg.intel,
        LimitOutcome::default(),
    );
    let route = cfg.routes[0].header.clone();
    let mut downstream = pingora::http::RequestHeader::build("POST", b"/api/apply-coupon", Some(4))
        .expect("request header");
    for (k, v) in [
        ("Host", "shop.example"),
        ("User-Agent", "wrk"),
        ("X-Forwarded-For", "89.160.20.112"),
        ("Content-Length", "0"),
    ] {
        downstream.append_header(k, v).unwrap();
    }
    c.bench_function("headers/values", |b| {
        b.iter(|| {
            riskgate::http::headers::values(black_box(&d), &f, &route, &cfg.intel, &policy.limits)
        })
    });
    // the same with X-Risk-Signature (one HMAC-SHA256 over the method, target and
    // the nine values); the difference between the two is what signing costs
    let key = riskgate::sign::Key::new("k2", &[0x5a; 32]);
    for (name, signing) in [
        ("headers/write", None),
        ("headers/write_signed", Some(&key)),
    ] {
        c.bench_function(name, |b| {
            b.iter_batched(
                || downstream.clone(),
                |mut up| {
                    riskgate::http::headers::strip_client_risk_headers(&mut up, "x-forwarded-for");
                    riskgate::http::headers::write(
                        &mut up,
                        black_box(&d),
                        &f,
                        &route,
                        &cfg.intel,
                        &policy.limits,
                        signing,
                        &http::HeaderValue::from_static("rg-1-1"),
                    )
                    .unwrap();
                    up
                },
                criterion::BatchSize::SmallInput,
            )
        });
    }
    let values = riskgate::http::headers::values(&d, &f, &route, &cfg.intel, &policy.limits);
    let signed = values.each_ref().map(http::HeaderValue::as_bytes);
    c.bench_function("sign/hmac", |b| {
        b.iter(|| {
            key.sign(
                black_box(1_700_000_000),
                "POST",
                b"/api/apply-coupon",
                &signed,
            )
        })
    });
    // the floor under Pingora's API: the same nine entries put straight into a clone
    // of the request's http::HeaderMap with names parsed once (no case map, no per-insert
    // name parsing or allocation). Pingora's RequestHeader offers no way to do this.
    let names: Vec<http::HeaderName> = riskgate::http::headers::NAMES
        .iter()
        .map(|n| http::HeaderName::from_static(n))
        .collect();
    c.bench_function("headers/floor_plain_headermap", |b| {
        b.iter_batched(
            || downstream.headers.clone(),
            |mut up| {
                let v = riskgate::http::headers::values(
                    black_box(&d),
                    &f,
                    &route,
                    &cfg.intel,
                    &policy.limits,
                );
                for (k, v) in names.iter().zip(v) {
                    up.insert(k.clone(), v);
                }
                up
            },
            criterion::BatchSize::SmallInput,
        )
    });

    // the whole matched-route path, minus the socket: client IP → route → enrich → decide → reasons
    c.bench_function("request/matched", |b| {
        b.iter(|| {
            let client = riskgate::path::client::resolve(peer, &hdrs, &cfg.client_ip);
            let r = cfg
                .route_table
                .find(&post, "/api/apply-coupon", &hdrs)
                .unwrap();
            let p = &cfg.policies[cfg.routes[r].policy];
            let f = riskgate::path::client::facts(&snap.intel, client, &cfg.intel);
            let d = decide_all(
                &f,
                &Request::default(),
                None,
                p,
                &cfg.intel,
                LimitOutcome::default(),
            );
            black_box(d.reasons.render(&cfg.intel.lists, &p.limits))
        })
    });

    // the live figures of the dashboard, as a matched request records them: a window's
    // atomics and a push onto the lock-free queue (drained outside the timing, as the
    // housekeeping tick does off the request path); then two threads at once on the
    // same route, where a lock would show as contention
    let live = std::sync::Arc::new(riskgate::record::live::Live::new());
    let route = live.route("coupon", vec!["list:hosting".into()], Vec::new());
    let now = std::time::Instant::now();
    let record = |live: &riskgate::record::live::Live, n: u64| {
        let t = std::time::Instant::now();
        for _ in 0..n {
            live.record(&route, now, black_box(&d), &f, 24);
        }
        t.elapsed()
    };
    c.bench_function("live/record", |b| {
        b.iter_custom(|iters| {
            let mut spent = std::time::Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(8192);
                spent += record(&live, n);
                live.tick();
                left -= n;
            }
            spent
        })
    });
    c.bench_function("live/record_2_threads", |b| {
        b.iter_custom(|iters| {
            let mut spent = std::time::Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(8192);
                // per record, as one thread sees it: both threads run n / 2
                let took = std::thread::scope(|s| {
                    let a = s.spawn(|| record(&live, n / 2));
                    let b = s.spawn(|| record(&live, n - n / 2));
                    a.join().unwrap().max(b.join().unwrap())
                });
                spent += took;
                live.tick();
                left -= n;
            }
            spent
        })
    });
    // the aggregator's side, off the request path: a flood of distinct /24s into the
    // heavy hitters (every key new: the sketch's worst case)
    let mut heavy = riskgate::record::live::top::HeavyHitters::new(7);
    let mut i = 0u32;
    c.bench_function("live/heavy_hitters_distinct", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let [a, b2, c2, _] = (i << 8).to_be_bytes();
            let net = ipnet::IpNet::new([a, b2, c2, 0].into(), 24).unwrap();
            heavy.add(1_800_000_000, black_box(net), Some(i), Some(*b"US"));
        })
    });
}

/// Step 5b of the request path: the decisions' lookup for a promo request (its address,
/// ASN, country, and the device and code its policy reads), with none loaded and with a
/// million (70 % devices, 20 % addresses, 10 % /24 ranges): a miss, and a device hit.
fn decisions(c: &mut Criterion) {
    use riskgate::decisions::book::recall;
    use riskgate::decisions::set::{DecisionSet, Hit, Key};
    use riskgate::decisions::{Action, Subject};
    use riskgate::evidence::ident;
    let snap = snapshot();
    let cfg = &snap.config;
    let policy = &cfg.policies[0];
    let field = |n: &str| cfg.fields.iter().position(|f| f.name == n).unwrap();
    let (device, coupon) = (field("device"), field("coupon"));
    assert!(
        policy.fields.contains(&device),
        "the promo policy reads the device"
    );
    let mut values = vec![None; cfg.fields.len()];
    values[device] = Some("d-4f1c9a2b".to_string());
    values[coupon] = Some("SAVE10".to_string());
    let ids = ident::ids_of(&cfg.hash_key, &values, &policy.ids);
    let facts = snap
        .intel
        .enrich("89.160.20.112".parse().unwrap(), &cfg.intel);
    let mut million = DecisionSet::default();
    million.reserve(1_000_000);
    for i in 0..1_000_000u64 {
        let subject = common::sample_subject(i);
        let hit = Hit {
            id: i + 1,
            expires_ms: i64::MAX,
            action: Action::Block,
        };
        million.insert(Key::of(&subject), hit);
    }
    let none = DecisionSet::default();
    c.bench_function("decisions/recall_none", |b| {
        b.iter(|| recall(black_box(&none), cfg, policy, &facts, &values, &ids))
    });
    c.bench_function("decisions/recall_1m_miss", |b| {
        b.iter(|| recall(black_box(&million), cfg, policy, &facts, &values, &ids))
    });
    // the request's own device is decided
    let mut hit_set = million.clone();
    hit_set.insert(
        Key::of(&Subject::Field {
            name: "device".into(),
            id: ids[device].unwrap(),
        }),
        Hit {
            id: 0,
            expires_ms: i64::MAX,
            action: Action::Block,
        },
    );
    assert!(recall(&hit_set, cfg, policy, &facts, &values, &ids).is_some());
    c.bench_function("decisions/recall_1m_hit", |b| {
        b.iter(|| recall(black_box(&hit_set), cfg, policy, &facts, &values, &ids))
    });
}

criterion_group!(decision, benches, decisions);
criterion_main!(decision);

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
