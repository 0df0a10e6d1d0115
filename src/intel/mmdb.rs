//! MaxMind DB readers for the four kinds of database riskgate reads.
//!
//! Files are read into memory (not mapped): a file replaced or truncated on disk
//! while it is in service can then never fault a request.

use std::collections::HashMap;
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
    /// what riskgate reads of every record, decoded once at load, by data offset
    records: Records,
}

/// Data offsets come from our own file, not from clients: foldhash's fast, fixed-seed
/// hasher is enough, and far cheaper than SipHash on the request path.
type OffsetMap<T> = HashMap<usize, T, foldhash::fast::FixedState>;

/// Every record of a file, decoded once when it is loaded into the few facts riskgate
/// reads: a request walks the search tree and reads one table entry, no decoding.
/// Files have far fewer distinct records than networks (a GeoLite2-ASN record is
/// shared by all of its AS's networks).
enum Records {
    Geo(OffsetMap<Option<CountryCode>>),
    Asn(OffsetMap<AsnInfo>),
    Anonymous(OffsetMap<AnonFlags>),
    Connection(OffsetMap<Option<ConnectionType>>),
}

struct AsnInfo {
    number: Option<u32>,
    org: Option<Box<str>>,
}

impl Records {
    fn new(kind: MmdbKind) -> Records {
        match kind {
            MmdbKind::Geo => Records::Geo(OffsetMap::default()),
            MmdbKind::Asn => Records::Asn(OffsetMap::default()),
            MmdbKind::AnonymousIp => Records::Anonymous(OffsetMap::default()),
            MmdbKind::ConnectionType => Records::Connection(OffsetMap::default()),
        }
    }

    /// Decode the record at `off` unless it was seen before; false when it was.
    fn remember<S: AsRef<[u8]>>(
        &mut self,
        off: usize,
        r: &maxminddb::LookupResult<'_, S>,
    ) -> Result<bool, maxminddb::MaxMindDbError> {
        fn put<T>(
            m: &mut OffsetMap<T>,
            off: usize,
            f: impl FnOnce() -> Result<T, maxminddb::MaxMindDbError>,
        ) -> Result<bool, maxminddb::MaxMindDbError> {
            match m.entry(off) {
                std::collections::hash_map::Entry::Occupied(_) => Ok(false),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(f()?);
                    Ok(true)
                }
            }
        }
        match self {
            Records::Geo(m) => put(m, off, || country_of(r)),
            Records::Asn(m) => put(m, off, || asn_of(r)),
            Records::Anonymous(m) => put(m, off, || anon_of(r)),
            Records::Connection(m) => put(m, off, || connection_of(r)),
        }
    }

    fn geo(&self) -> Option<&OffsetMap<Option<CountryCode>>> {
        match self {
            Records::Geo(m) => Some(m),
            _ => None,
        }
    }
    fn asn(&self) -> Option<&OffsetMap<AsnInfo>> {
        match self {
            Records::Asn(m) => Some(m),
            _ => None,
        }
    }
    fn anonymous(&self) -> Option<&OffsetMap<AnonFlags>> {
        match self {
            Records::Anonymous(m) => Some(m),
            _ => None,
        }
    }
    fn connection(&self) -> Option<&OffsetMap<Option<ConnectionType>>> {
        match self {
            Records::Connection(m) => Some(m),
            _ => None,
        }
    }

    fn shrink_to_fit(&mut self) {
        match self {
            Records::Geo(m) => m.shrink_to_fit(),
            Records::Asn(m) => m.shrink_to_fit(),
            Records::Anonymous(m) => m.shrink_to_fit(),
            Records::Connection(m) => m.shrink_to_fit(),
        }
    }
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

/// Visit every network of the search tree, check every record it points to, and
/// decode each distinct record once into `records`.
///
/// This is a full integrity check of the tree and the data section that, unlike
/// `Reader::verify`, does not reject real databases whose metadata lacks optional
/// parts (the iptoasn files have an empty `description`). It runs only when a file is
/// (re)loaded, off the request path.
fn walk(reader: &Reader<&[u8]>, records: &mut Records) -> Result<usize, maxminddb::MaxMindDbError> {
    let mut n = 0;
    for item in reader.networks(Default::default())? {
        let item = item?;
        match item.offset() {
            Some(off) => {
                if records.remember(off, &item)? {
                    item.decode::<serde::de::IgnoredAny>()?;
                }
            }
            None => {
                item.decode::<serde::de::IgnoredAny>()?;
            }
        }
        n += 1;
    }
    Ok(n)
}

fn asn_of<S: AsRef<[u8]>>(
    r: &maxminddb::LookupResult<'_, S>,
) -> Result<AsnInfo, maxminddb::MaxMindDbError> {
    Ok(match r.decode::<AsnRecord>()? {
        Some(rec) => AsnInfo {
            number: number(&rec),
            org: rec.autonomous_system_organization.map(Box::from),
        },
        None => AsnInfo {
            number: None,
            org: None,
        },
    })
}

/// The AS number, when it fits the 32 bits AS numbers have.
fn number(rec: &AsnRecord<'_>) -> Option<u32> {
    rec.autonomous_system_number
        .as_ref()
        .and_then(|n| u32::try_from(n.0).ok())
}

fn anon_of<S: AsRef<[u8]>>(
    r: &maxminddb::LookupResult<'_, S>,
) -> Result<AnonFlags, maxminddb::MaxMindDbError> {
    Ok(r.decode::<AnonFlags>()?.unwrap_or_default())
}

fn connection_of<S: AsRef<[u8]>>(
    r: &maxminddb::LookupResult<'_, S>,
) -> Result<Option<ConnectionType>, maxminddb::MaxMindDbError> {
    Ok(r.decode::<ConnRecord>()?
        .and_then(|c| c.connection_type)
        .map(ConnectionType::parse))
}

/// The country of a found record: `country.iso_code`, else the flat `country_code` of
/// DB-IP / iptoasn / IPinfo-lite files, else `registered_country.iso_code`.
fn country_of<S: AsRef<[u8]>>(
    r: &maxminddb::LookupResult<'_, S>,
) -> Result<Option<CountryCode>, maxminddb::MaxMindDbError> {
    for path in [
        &[PathElement::Key("country"), PathElement::Key("iso_code")][..],
        &[PathElement::Key("country_code")][..],
        &[
            PathElement::Key("registered_country"),
            PathElement::Key("iso_code"),
        ][..],
    ] {
        if let Some(s) = r.decode_path::<&str>(path)? {
            if let Some(c) = code(s) {
                return Ok(Some(c));
            }
        }
    }
    Ok(None)
}

impl Mmdb {
    /// Open, walk the whole file, and answer the probe lookups; only a database
    /// that passes all three is returned.
    pub fn open(path: &Path, kind: MmdbKind) -> Result<Mmdb, IntelError> {
        let bytes = std::fs::read(path).map_err(|e| IntelError::Mmdb {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::from_bytes(bytes, path, kind)
    }

    /// The same checks on a database already in memory (`path` names it in errors).
    pub fn from_bytes(bytes: Vec<u8>, path: &Path, kind: MmdbKind) -> Result<Mmdb, IntelError> {
        let ctx = |e: String| IntelError::Mmdb {
            path: path.to_path_buf(),
            message: e,
        };
        let mut records = Records::new(kind);
        {
            let view = Reader::from_source(&bytes[..]).map_err(|e| ctx(e.to_string()))?;
            walk(&view, &mut records).map_err(|e| ctx(format!("corrupt database: {e}")))?;
        }
        records.shrink_to_fit();
        let reader = Reader::from_source(bytes).map_err(|e| ctx(e.to_string()))?;
        let md = reader.metadata();
        let db = Mmdb {
            kind,
            path: path.to_path_buf(),
            database_type: md.database_type.clone(),
            build_epoch: md.build_epoch,
            ipv4_only: md.ip_version == 4,
            reader,
            records,
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

    /// The data offset of `ip`'s record, or None (no record, or an IPv6 address in
    /// an IPv4-only file).
    fn found(
        &self,
        ip: IpAddr,
    ) -> Result<Option<maxminddb::LookupResult<'_, Vec<u8>>>, IntelError> {
        if self.skip(ip) {
            return Ok(None);
        }
        let r = self.reader.lookup(ip).map_err(err)?;
        Ok(r.has_data().then_some(r))
    }

    /// The record of `ip` from the table decoded at load; `decode` only for a record
    /// the walk did not reach (which a well-formed file does not have).
    fn record<'a, T: Copy + 'static>(
        &'a self,
        ip: IpAddr,
        table: fn(&Records) -> Option<&OffsetMap<T>>,
        decode: fn(&maxminddb::LookupResult<'a, Vec<u8>>) -> Result<T, maxminddb::MaxMindDbError>,
    ) -> Result<Option<T>, IntelError> {
        let Some(r) = self.found(ip)? else {
            return Ok(None);
        };
        if let Some(t) = r.offset().and_then(|o| table(&self.records)?.get(&o)) {
            return Ok(Some(*t));
        }
        decode(&r).map(Some).map_err(err)
    }

    /// The country (see [`country_of`]).
    pub fn country(&self, ip: IpAddr) -> Lookup<CountryCode> {
        Ok(self.record(ip, Records::geo, country_of)?.flatten())
    }

    /// The AS number and, through `f`, its organisation (borrowed, never copied).
    pub fn asn_with<R>(
        &self,
        ip: IpAddr,
        f: impl FnOnce(Option<u32>, Option<&str>) -> R,
    ) -> Result<R, IntelError> {
        let Some(r) = self.found(ip)? else {
            return Ok(f(None, None));
        };
        if let Some(a) = r.offset().and_then(|o| self.records.asn()?.get(&o)) {
            return Ok(f(a.number, a.org.as_deref()));
        }
        Ok(match r.decode::<AsnRecord>().map_err(err)? {
            Some(rec) => f(number(&rec), rec.autonomous_system_organization),
            None => f(None, None),
        })
    }

    /// Every (AS number, organisation) of an ASN database's records, as decoded at load.
    pub fn asn_orgs(&self) -> impl Iterator<Item = (u32, &str)> {
        self.records
            .asn()
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(|a| Some((a.number?, a.org.as_deref()?)))
    }

    pub fn asn(&self, ip: IpAddr) -> Lookup<(u32, Option<String>)> {
        self.asn_with(ip, |n, o| n.map(|n| (n, o.map(str::to_string))))
    }

    /// The six flags; a found-but-empty record and a missing one both mean "none".
    pub fn anonymous(&self, ip: IpAddr) -> Result<AnonFlags, IntelError> {
        Ok(self
            .record(ip, Records::anonymous, anon_of)?
            .unwrap_or_default())
    }

    pub fn connection_type(&self, ip: IpAddr) -> Lookup<ConnectionType> {
        Ok(self
            .record(ip, Records::connection, connection_of)?
            .flatten())
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
