//! MaxMind DB readers for the four kinds of database riskgate reads.
//!
//! Files are read into memory (not mapped): a file replaced or truncated on disk
//! while it is in service can then never fault a request.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use maxminddb::{PathElement, Reader};
use serde::Deserialize;

use super::IntelError;
use crate::config::CountryCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MmdbKind {
    Geo,
    Asn,
    AnonymousIp,
    ConnectionType,
}

impl MmdbKind {
    pub fn name(self) -> &'static str {
        match self {
            MmdbKind::Geo => "geo",
            MmdbKind::Asn => "asn",
            MmdbKind::AnonymousIp => "anonymous_ip",
            MmdbKind::ConnectionType => "connection_type",
        }
    }
}

pub struct Mmdb {
    reader: Reader<Vec<u8>>,
    pub kind: MmdbKind,
    pub path: PathBuf,
    pub database_type: String,
    pub build_epoch: u64,
    ipv4_only: bool,
}

impl std::fmt::Debug for Mmdb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mmdb")
            .field("kind", &self.kind)
            .field("path", &self.path)
            .field("database_type", &self.database_type)
            .finish()
    }
}

/// Addresses every database is probed with before it is put in service.
const PROBES: [&str; 4] = [
    "1.1.1.1",
    "81.2.69.160",
    "2001:4860:4860::8888",
    "89.160.20.112",
];

#[derive(Deserialize)]
struct AsnRecord<'a> {
    autonomous_system_number: Option<AnyUint>,
    #[serde(borrow)]
    autonomous_system_organization: Option<&'a str>,
}

/// An unsigned number stored as any MMDB integer type: MaxMind writes AS numbers as
/// uint32, other writers (and JSON-fed tools) as uint64 or int32.
struct AnyUint(u64);

impl<'de> Deserialize<'de> for AnyUint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = AnyUint;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an unsigned integer")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<AnyUint, E> {
                Ok(AnyUint(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<AnyUint, E> {
                u64::try_from(v).map(AnyUint).map_err(E::custom)
            }
            fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<AnyUint, E> {
                u64::try_from(v).map(AnyUint).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize, Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnonFlags {
    #[serde(default, rename = "is_anonymous")]
    pub anonymous: bool,
    #[serde(default, rename = "is_anonymous_vpn")]
    pub vpn: bool,
    #[serde(default, rename = "is_hosting_provider")]
    pub hosting: bool,
    #[serde(default, rename = "is_public_proxy")]
    pub public_proxy: bool,
    #[serde(default, rename = "is_residential_proxy")]
    pub residential_proxy: bool,
    #[serde(default, rename = "is_tor_exit_node")]
    pub tor_exit: bool,
}

#[derive(Deserialize)]
struct ConnRecord<'a> {
    #[serde(borrow)]
    connection_type: Option<&'a str>,
}

/// GeoIP2 Connection-Type values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionType {
    Cellular,
    CableDsl,
    Dialup,
    Corporate,
    Satellite,
    Other,
}

impl ConnectionType {
    pub fn parse(s: &str) -> ConnectionType {
        match s {
            "Cellular" => ConnectionType::Cellular,
            "Cable/DSL" => ConnectionType::CableDsl,
            "Dialup" => ConnectionType::Dialup,
            "Corporate" => ConnectionType::Corporate,
            "Satellite" => ConnectionType::Satellite,
            _ => ConnectionType::Other,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionType::Cellular => "Cellular",
            ConnectionType::CableDsl => "Cable/DSL",
            ConnectionType::Dialup => "Dialup",
            ConnectionType::Corporate => "Corporate",
            ConnectionType::Satellite => "Satellite",
            ConnectionType::Other => "other",
        }
    }
}

pub type Lookup<T> = Result<Option<T>, IntelError>;

fn err(e: maxminddb::MaxMindDbError) -> IntelError {
    IntelError::Lookup(e.to_string())
}

fn code(s: &str) -> Option<CountryCode> {
    let b = s.as_bytes();
    (b.len() == 2 && b[0].is_ascii_alphabetic() && b[1].is_ascii_alphabetic())
        .then(|| [b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()])
}

/// Visit every network of the search tree and decode every record it points to.
///
/// This is a full integrity check of the tree and the data section that, unlike
/// `Reader::verify`, does not reject real databases whose metadata lacks optional
/// parts (the iptoasn files have an empty `description`). It allocates nothing per
/// record and runs only when a file is (re)loaded, off the request path.
fn walk(reader: &Reader<&[u8]>) -> Result<usize, maxminddb::MaxMindDbError> {
    let mut n = 0;
    for item in reader.networks(Default::default())? {
        let item = item?;
        item.decode::<serde::de::IgnoredAny>()?;
        n += 1;
    }
    Ok(n)
}

impl Mmdb {
    /// Open, walk the whole file, and answer the probe lookups; only a database
    /// that passes all three is returned.
    pub fn open(path: &Path, kind: MmdbKind) -> Result<Mmdb, IntelError> {
        let ctx = |e: String| IntelError::Mmdb {
            path: path.to_path_buf(),
            message: e,
        };
        let bytes = std::fs::read(path).map_err(|e| ctx(e.to_string()))?;
        {
            let view = Reader::from_source(&bytes[..]).map_err(|e| ctx(e.to_string()))?;
            walk(&view).map_err(|e| ctx(format!("corrupt database: {e}")))?;
        }
        let reader = Reader::from_source(bytes).map_err(|e| ctx(e.to_string()))?;
        let md = reader.metadata();
        let db = Mmdb {
            kind,
            path: path.to_path_buf(),
            database_type: md.database_type.clone(),
            build_epoch: md.build_epoch,
            ipv4_only: md.ip_version == 4,
            reader,
        };
        for p in PROBES {
            let ip: IpAddr = p.parse().expect("probe address");
            let r = match kind {
                MmdbKind::Geo => db.country(ip).map(|_| ()),
                MmdbKind::Asn => db.asn(ip).map(|_| ()),
                MmdbKind::AnonymousIp => db.anonymous(ip).map(|_| ()),
                MmdbKind::ConnectionType => db.connection_type(ip).map(|_| ()),
            };
            r.map_err(|e| ctx(format!("probe lookup of {p} failed: {e}")))?;
        }
        Ok(db)
    }

    fn skip(&self, ip: IpAddr) -> bool {
        self.ipv4_only && ip.is_ipv6()
    }

    /// The country: `country.iso_code`, else the flat `country_code` of DB-IP /
    /// iptoasn / IPinfo-lite files, else `registered_country.iso_code`.
    pub fn country(&self, ip: IpAddr) -> Lookup<CountryCode> {
        if self.skip(ip) {
            return Ok(None);
        }
        let r = self.reader.lookup(ip).map_err(err)?;
        if !r.has_data() {
            return Ok(None);
        }
        for path in [
            &[PathElement::Key("country"), PathElement::Key("iso_code")][..],
            &[PathElement::Key("country_code")][..],
            &[
                PathElement::Key("registered_country"),
                PathElement::Key("iso_code"),
            ][..],
        ] {
            if let Some(s) = r.decode_path::<&str>(path).map_err(err)? {
                if let Some(c) = code(s) {
                    return Ok(Some(c));
                }
            }
        }
        Ok(None)
    }

    /// The AS number and, through `f`, its organisation (borrowed from the database).
    pub fn asn_with<R>(
        &self,
        ip: IpAddr,
        f: impl FnOnce(Option<u32>, Option<&str>) -> R,
    ) -> Result<R, IntelError> {
        if self.skip(ip) {
            return Ok(f(None, None));
        }
        let r = self.reader.lookup(ip).map_err(err)?;
        match r.decode::<AsnRecord>().map_err(err)? {
            Some(rec) => Ok(f(
                rec.autonomous_system_number
                    .and_then(|n| u32::try_from(n.0).ok()),
                rec.autonomous_system_organization,
            )),
            None => Ok(f(None, None)),
        }
    }

    pub fn asn(&self, ip: IpAddr) -> Lookup<(u32, Option<String>)> {
        self.asn_with(ip, |n, o| n.map(|n| (n, o.map(str::to_string))))
    }

    /// The six flags; a found-but-empty record and a missing one both mean "none".
    pub fn anonymous(&self, ip: IpAddr) -> Result<AnonFlags, IntelError> {
        if self.skip(ip) {
            return Ok(AnonFlags::default());
        }
        let r = self.reader.lookup(ip).map_err(err)?;
        Ok(r.decode::<AnonFlags>().map_err(err)?.unwrap_or_default())
    }

    pub fn connection_type(&self, ip: IpAddr) -> Lookup<ConnectionType> {
        if self.skip(ip) {
            return Ok(None);
        }
        let r = self.reader.lookup(ip).map_err(err)?;
        Ok(r.decode::<ConnRecord>()
            .map_err(err)?
            .and_then(|c| c.connection_type)
            .map(ConnectionType::parse))
    }

    /// The network the database matched for `ip` (for explain).
    pub fn network(&self, ip: IpAddr) -> Option<String> {
        if self.skip(ip) {
            return None;
        }
        let r = self.reader.lookup(ip).ok()?;
        r.has_data()
            .then(|| r.network().ok().map(|n| n.to_string()))?
    }
}
