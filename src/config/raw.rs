//! `gateway.yaml` as written: serde structs that keep going after a mistake.
//!
//! Every field is a [`Field`], which holds either the value or the message of why it
//! did not deserialize, and every struct collects keys it does not know in `unknown`.
//! That lets validation report every problem in one pass instead of the first only.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_yaml::{Mapping, Value};

/// A value, or the reason it could not be read.
#[derive(Debug, Clone)]
pub enum Field<T> {
    Ok(T),
    Err(String),
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(match serde_yaml::from_value::<T>(v) {
            Ok(t) => Field::Ok(t),
            Err(e) => Field::Err(e.to_string()),
        })
    }
}

/// `Option<Field<T>>`, the shape of every optional key.
pub type Opt<T> = Option<Field<T>>;

/// Define a raw struct and, from the same field list, its `KEYS`: the keys the file
/// may use there, which the "did you mean" hints are computed against. One list,
/// so the hints can never drift from the structs.
macro_rules! raw_struct {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $field:ident : $ty:ty,)* }) => {
        $(#[$m])*
        #[derive(Debug, Deserialize)]
        pub struct $name {
            $($(#[$fm])* pub $field: $ty,)*
            #[serde(flatten)]
            pub unknown: Mapping,
        }
        impl $name {
            pub const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];
        }
    };
}

/// One address or a list of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

raw_struct! {
    pub struct RawConfig {
    pub listen: Opt<OneOrMany>,
    pub upstream: Opt<String>,
    pub upstream_tls: Opt<bool>,
    pub admin: Opt<String>,
    /// a file holding the admin endpoint's token
    pub admin_token_file: Opt<String>,
    /// the client limits: keep-alive, header time, connections per address
    pub server: Opt<RawServer>,
    /// the longest a body a policy reads may take to arrive
    pub body_timeout: Opt<String>,
    pub threads: Opt<usize>,
    pub limiter_max_keys: Opt<usize>,
    pub grace_period: Opt<String>,
    pub upgrade_sock: Opt<String>,
    pub log: Opt<RawLog>,
    pub client_ip: Opt<RawClientIp>,
    pub intel: Opt<RawIntel>,
    /// field name → `SOURCE:NAME` or `{ from, pattern, normalize }`, in file order
    pub fields: Opt<Mapping>,
    pub body_limit: Opt<Value>,
    /// a file holding the secret of the keyed hashes of identifier fields
    pub hash_key: Opt<String>,
    pub cluster: Opt<RawCluster>,
    /// the decisions' store and the CrowdSec bouncer
    pub decisions: Opt<RawDecisions>,
    pub signing: Opt<RawSigning>,
    /// the forward-auth service an ingress asks
    pub authz: Opt<RawAuthz>,
    pub routes: Opt<Vec<Field<RawRoute>>>,
    /// name → policy, in file order
    pub policies: Opt<Mapping>,
    }
}

raw_struct! {
    pub struct RawServer {
    pub keepalive_timeout: Opt<String>,
    pub header_timeout: Opt<String>,
    pub max_connections_per_ip: Opt<usize>,
    pub max_header_bytes: Opt<Value>,
    }
}

raw_struct! {
    pub struct RawCluster {
    pub redis: Opt<String>,
    pub prefix: Opt<String>,
    pub timeout: Opt<String>,
    pub on_error: Opt<String>,
    pub tls_ca: Opt<String>,
    }
}

raw_struct! {
    pub struct RawSigning {
    /// the first signs; every listed key verifies
    pub keys: Opt<Vec<Field<RawSigningKey>>>,
    }
}

raw_struct! {
    pub struct RawDecisions {
    pub store: Opt<String>,
    pub crowdsec: Opt<RawCrowdsec>,
    }
}

raw_struct! {
    pub struct RawAuthz {
    pub listen: Opt<OneOrMany>,
    pub limit_status: Opt<u16>,
    }
}

raw_struct! {
    pub struct RawCrowdsec {
    pub url: Opt<String>,
    pub key_file: Opt<String>,
    pub refresh: Opt<String>,
    }
}

raw_struct! {
    pub struct RawSigningKey {
    pub id: Opt<String>,
    pub file: Opt<String>,
    }
}

raw_struct! {
    pub struct RawLog {
    pub level: Opt<String>,
    pub format: Opt<String>,
    pub allow_sample: Opt<f64>,
    }
}

raw_struct! {
    pub struct RawClientIp {
    pub trusted_proxies: Opt<Vec<String>>,
    pub header: Opt<String>,
    }
}

raw_struct! {
    pub struct RawIntel {
    pub mmdb: Opt<RawMmdb>,
    pub tor: Opt<RawTor>,
    /// list name → path or `{source, refresh}`, plus the key `reload`
    pub lists: Opt<Mapping>,
    /// AS numbers, or a source of them (a path, a URL, or `{source, refresh}`)
    pub hosting_asns: Opt<Value>,
    pub hosting_org_keywords: Opt<Vec<String>>,
    pub hosting_org_exclude: Opt<Vec<String>>,
    pub mobile_asns: Opt<Value>,
    pub fetch_timeout: Opt<String>,
    }
}

raw_struct! {
    pub struct RawMmdb {
    pub geo: Opt<String>,
    pub asn: Opt<String>,
    pub anonymous_ip: Opt<String>,
    pub connection_type: Opt<String>,
    pub reload: Opt<String>,
    }
}

raw_struct! {
    pub struct RawTor {
    pub source: Opt<String>,
    pub refresh: Opt<String>,
    pub max_shrink: Opt<f64>,
    }
}

raw_struct! {
    pub struct RawListSource {
    pub source: Opt<String>,
    pub refresh: Opt<String>,
    pub format: Opt<String>,
    pub max_shrink: Opt<f64>,
    }
}

raw_struct! {
    pub struct RawAsnSource {
    pub source: Opt<String>,
    pub refresh: Opt<String>,
    }
}

raw_struct! {
    pub struct RawRoute {
    pub name: Opt<String>,
    pub path: Opt<String>,
    pub methods: Opt<Vec<String>>,
    pub policy: Opt<String>,
    }
}

raw_struct! {
    pub struct RawPolicy {
    pub mode: Opt<String>,
    pub on_lookup_error: Opt<String>,
    /// signal name → weight, in file order
    pub weights: Opt<Mapping>,
    pub thresholds: Opt<RawThresholds>,
    pub countries: Opt<RawCountries>,
    pub subnet_prefix: Opt<RawSubnetPrefix>,
    pub limits: Opt<Vec<Field<RawLimit>>>,
    pub mobile_multiplier: Opt<u32>,
    pub checks: Opt<RawChecks>,
    pub on_block: Opt<RawResponse>,
    pub on_limit: Opt<RawResponse>,
    }
}

raw_struct! {
    pub struct RawChecks {
    pub language: Opt<bool>,
    pub ignore_languages: Opt<Vec<String>>,
    pub timezone: Opt<String>,
    pub declared_country: Opt<String>,
    pub regions: Opt<Vec<Vec<String>>>,
    /// one `{ key, window, max_countries }` or a list of them
    pub hopping: Opt<Value>,
    /// one `{ key, window, by, max_networks }` or a list of them
    pub spread: Opt<Value>,
    }
}

raw_struct! {
    /// A `hopping` or a `spread` entry (which keys each may use is checked when
    /// compiled).
    pub struct RawWatch {
    pub key: Opt<String>,
    pub window: Opt<String>,
    pub max_countries: Opt<u32>,
    pub by: Opt<String>,
    pub max_networks: Opt<u32>,
    }
}

raw_struct! {
    pub struct RawField {
    pub from: Opt<String>,
    pub pattern: Opt<String>,
    pub normalize: Opt<String>,
    }
}

raw_struct! {
    pub struct RawThresholds {
    pub verify: Opt<u32>,
    pub block: Opt<u32>,
    }
}

raw_struct! {
    pub struct RawCountries {
    pub deny: Opt<Vec<String>>,
    pub allow: Opt<Vec<String>>,
    }
}

raw_struct! {
    pub struct RawSubnetPrefix {
    pub v4: Opt<u8>,
    pub v6: Opt<u8>,
    }
}

raw_struct! {
    pub struct RawLimit {
    /// `ip`, `subnet`, `asn`, `field:NAME`, or a list of them (a composite key)
    pub key: Opt<Value>,
    pub name: Opt<String>,
    pub rate: Opt<String>,
    pub burst: Opt<u32>,
    pub unknown_asn: Opt<String>,
    }
}

raw_struct! {
    pub struct RawResponse {
    pub status: Opt<u16>,
    pub body: Opt<String>,
    pub content_type: Opt<String>,
    pub shadow: Opt<bool>,
    }
}
