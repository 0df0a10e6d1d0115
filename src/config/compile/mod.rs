//! Validation and compilation of the raw structs, collecting every problem. One
//! module a section of the file: the server keys, `intel`, `routes`, `policies`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use ipnet::IpNet;
use serde_yaml::{Mapping, Value};

use super::position::PosIndex;
use super::raw::*;
use super::units::{parse_duration, parse_rate, parse_size};
use super::*;
use crate::signals::{Signal, DEFS, DENY_LIST_WEIGHT};

mod authz;
mod ctx;
mod decisions;
mod fields;
mod intel;
mod limits;
mod policy;
mod routes;
mod server;
mod signing;

use authz::compile_authz;
use ctx::{clean_serde_message, did_you_mean, join, key_str, Ctx};
use decisions::compile_decisions;
use fields::{compile_body_limit, compile_fields, compile_hash_key};
use intel::compile_intel;
use limits::compile_limits;
use policy::compile_policy;
use routes::compile_route;
use server::{
    compile_admin_token, compile_client_ip, compile_client_limits, compile_cluster, compile_log,
    compile_upstream,
};
use signing::compile_signing;

pub const DEFAULT_BLOCK_BODY: &str = r#"{"error":"Coupon cannot be redeemed from this network connection.","code":"RISK_IP_DETECTED"}"#;
pub const DEFAULT_LIMIT_BODY: &str = r#"{"error":"Too many requests from this network. Try again later.","code":"RISK_RATE_LIMITED"}"#;

const TOP_KEYS: &[&str] = RawConfig::KEYS;

pub fn compile(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let index = PosIndex::build(text);
    let raw: RawConfig = match serde_yaml::from_str::<Value>(text) {
        Err(e) => {
            let loc = e.location();
            return Err(ConfigError {
                problems: vec![Problem {
                    file,
                    line: loc.as_ref().map(|l| l.line()),
                    col: loc.as_ref().map(|l| l.column()),
                    key: String::new(),
                    message: clean_serde_message(&e.to_string()),
                }],
            });
        }
        Ok(Value::Null) => {
            return Err(ConfigError {
                problems: vec![Problem {
                    file,
                    line: None,
                    col: None,
                    key: String::new(),
                    message: "the file is empty; at least `upstream` is required".into(),
                }],
            })
        }
        Ok(v) => match serde_yaml::from_value(v) {
            Ok(r) => r,
            Err(e) => {
                return Err(ConfigError {
                    problems: vec![Problem {
                        file,
                        line: Some(1),
                        col: Some(1),
                        key: String::new(),
                        message: format!(
                            "the top level must be a mapping of keys ({}): {}",
                            TOP_KEYS.join(", "),
                            clean_serde_message(&e.to_string())
                        ),
                    }],
                })
            }
        },
    };
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let mut cx = Ctx {
        file,
        dir,
        index: &index,
        problems: Vec::new(),
    };
    let cfg = compile_raw(&mut cx, raw, path);
    if cx.problems.is_empty() {
        Ok(cfg)
    } else {
        cx.problems
            .sort_by_key(|p| (p.line.unwrap_or(usize::MAX), p.col.unwrap_or(0)));
        Err(ConfigError {
            problems: cx.problems,
        })
    }
}

fn compile_raw(cx: &mut Ctx, raw: RawConfig, path: &Path) -> Config {
    cx.unknown("", &raw.unknown, TOP_KEYS);

    let listen_given = raw.listen.is_some();
    // with `authz` and no `upstream`, riskgate is a forward-auth service alone
    let authz_alone = raw.authz.is_some() && raw.upstream.is_none();
    let listen_raw = cx
        .get("listen", raw.listen)
        .map(OneOrMany::into_vec)
        .unwrap_or_else(|| vec!["0.0.0.0:8080".into()]);
    let mut listen = Vec::new();
    if listen_raw.is_empty() {
        cx.err("listen", "needs at least one host:port");
    }
    for (i, l) in listen_raw.iter().enumerate() {
        match l.parse::<SocketAddr>() {
            Ok(a) => listen.push(a),
            Err(_) => cx.err(
                &format!("listen[{i}]"),
                format!("`{l}` is not an IP:port address (e.g. 0.0.0.0:8080 or [::]:8080)"),
            ),
        }
    }
    if listen_raw.len() == 1 && listen.len() == 1 {
        // a single string has no [0] in the index; nothing more to do
    }

    let upstream_tls = cx.get("upstream_tls", raw.upstream_tls).unwrap_or(false);
    let upstream = match cx.get("upstream", raw.upstream) {
        None if authz_alone => {
            if listen_given {
                cx.err(
                    "listen",
                    "is the proxy's, which needs `upstream`: with authz alone, leave listen out",
                );
            }
            listen.clear();
            None
        }
        None => {
            cx.err(
                "upstream",
                "is required: the origin app as host:port (or, with authz, leave it out to run the forward-auth service alone)",
            );
            None
        }
        Some(u) => compile_upstream(cx, &u, upstream_tls),
    };

    let admin = match cx.get("admin", raw.admin) {
        None => SocketAddr::from(([127, 0, 0, 1], 9901)),
        Some(a) => a.parse().unwrap_or_else(|_| {
            cx.err("admin", format!("`{a}` is not an IP:port address"));
            SocketAddr::from(([127, 0, 0, 1], 9901))
        }),
    };

    let threads = match cx.get("threads", raw.threads) {
        Some(0) => {
            cx.err("threads", "must be at least 1");
            1
        }
        Some(n) => n,
        None => 1,
    };

    let limiter_max_keys = match cx.get("limiter_max_keys", raw.limiter_max_keys) {
        Some(n) if n < 1000 => {
            cx.err("limiter_max_keys", "must be at least 1000");
            1_000_000
        }
        Some(n) => n,
        None => 1_000_000,
    };
    let grace_period = cx.duration("grace_period", raw.grace_period, Duration::from_secs(5));
    let upgrade_sock = match cx.get("upgrade_sock", raw.upgrade_sock) {
        Some(p) if !p.trim().is_empty() => cx.path(p.trim()),
        Some(_) => {
            cx.err("upgrade_sock", "must not be empty");
            PathBuf::from("/tmp/riskgate-upgrade.sock")
        }
        None => PathBuf::from("/tmp/riskgate-upgrade.sock"),
    };
    let log = compile_log(cx, raw.log);
    let client_ip = compile_client_ip(cx, raw.client_ip);
    let intel = compile_intel(cx, raw.intel);
    let fields = compile_fields(cx, raw.fields);
    let body_limit = compile_body_limit(cx, raw.body_limit);
    let hash_key = compile_hash_key(cx, raw.hash_key);
    let cluster = compile_cluster(cx, raw.cluster);
    let signing = compile_signing(cx, raw.signing);
    let admin_token_file = match &raw.admin_token_file {
        Some(Field::Ok(p)) => Some(cx.path(p.trim())),
        _ => None,
    };
    let admin_token = compile_admin_token(cx, raw.admin_token_file);
    let decisions = compile_decisions(cx, raw.decisions);
    let client_limits = compile_client_limits(cx, raw.server, raw.body_timeout);
    let authz = compile_authz(cx, raw.authz, &client_ip);

    // Policies before routes, so routes can name them.
    let mut policies = Vec::new();
    if let Some(map) = cx.get("policies", raw.policies) {
        for (k, v) in map {
            let name = key_str(&k);
            let key = join("policies", &name);
            if !valid_name(&name) {
                cx.err(
                    &key,
                    format!("policy name `{name}` may use only a-z, 0-9, _ and -"),
                );
            }
            // `name:` with nothing under it is a policy of all defaults
            let v = if v.is_null() {
                Value::Mapping(Mapping::new())
            } else {
                v
            };
            match serde_yaml::from_value::<Field<RawPolicy>>(v) {
                Ok(Field::Ok(p)) => {
                    policies.push(compile_policy(cx, &key, name, p, &intel, &fields))
                }
                Ok(Field::Err(e)) => cx.err(&key, clean_serde_message(&e)),
                Err(e) => cx.err(&key, clean_serde_message(&e.to_string())),
            }
        }
    }

    let mut routes = Vec::new();
    let mut route_table = crate::routes::Table::default();
    if let Some(list) = cx.get("routes", raw.routes) {
        for (i, r) in list.into_iter().enumerate() {
            let key = format!("routes[{i}]");
            match r {
                Field::Ok(r) => {
                    if let Some((route, m)) = compile_route(cx, &key, r, &policies, &routes) {
                        routes.push(route);
                        route_table.routes.push(m);
                    }
                }
                Field::Err(e) => cx.err(&key, clean_serde_message(&e)),
            }
        }
    }

    // shared limits on a field, or shared hopping, need every replica to hash the
    // field alike: a key file, not each process's own random key
    if cluster.is_some() && !hash_key.from_file {
        if let Some(p) = policies.iter().find(|p| !p.ids.is_empty()) {
            cx.err(
                "cluster",
                format!(
                    "policy `{}` keys a limit, hopping or spread on a field: with `cluster`, set `hash_key` to a file holding the same secret on every replica (e.g. `openssl rand -hex 32`), or the replicas hash the values differently and share nothing",
                    p.name
                ),
            );
        }
    }

    Config {
        file: path.to_path_buf(),
        listen,
        upstream,
        admin,
        threads,
        limiter_max_keys,
        grace_period,
        upgrade_sock,
        log,
        client_ip,
        intel,
        routes,
        route_table,
        policies,
        field_tags: fields.iter().map(|f| field_tag(&f.name)).collect(),
        fields,
        body_limit,
        hash_key,
        cluster,
        signing,
        admin_token,
        admin_token_file,
        decisions,
        client_limits,
        authz,
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}
