//! IP intelligence: MMDB readers, the Tor exit set, named CIDR lists, what they
//! say about one address ([`Facts`]), and the store of everything loaded ([`Intel`]).

pub mod asns;
pub mod feeds;
pub mod fetch;
pub mod lists;
pub mod mmdb;
pub mod orgs;
pub mod store;
pub mod tor;

use std::net::IpAddr;
use std::path::PathBuf;

pub use mmdb::{AnonFlags, ConnectionType};
pub use store::{AsnRole, Intel, Loaded, Piece, SourceId};

use crate::config::CountryCode;

#[derive(Debug, thiserror::Error)]
pub enum IntelError {
    #[error("{path}: {message}")]
    Mmdb { path: PathBuf, message: String },
    #[error("lookup failed: {0}")]
    Lookup(String),
    #[error("{0}")]
    Format(String),
    #[error("{source_name}: {message}")]
    Source {
        source_name: String,
        message: String,
    },
    #[error("{path}: {err}")]
    Io {
        path: PathBuf,
        #[source]
        err: std::io::Error,
    },
}

/// Lookup-error bits in [`Facts::lookup_errors`].
pub mod source_bit {
    pub const GEO: u8 = 1;
    pub const ASN: u8 = 2;
    pub const ANONYMOUS_IP: u8 = 4;
    pub const CONNECTION_TYPE: u8 = 8;
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) and 6to4 are not normalised here: only
/// mapped addresses are, since they are the same host by definition.
#[inline]
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// What the data sources said about one client address. Plain data, no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    pub ip: IpAddr,
    pub country: Option<CountryCode>,
    pub asn: Option<u32>,
    pub anon: AnonFlags,
    pub connection: Option<ConnectionType>,
    /// in the Tor exit set
    pub tor_list: bool,
    /// bit i: in list i of the config
    pub lists: u64,
    /// the ASN is in `hosting_asns`
    pub hosting_asn: bool,
    /// the ASN's organisation contains a `hosting_org_keywords` word
    pub hosting_org: bool,
    /// the ASN is in `mobile_asns`
    pub mobile_asn: bool,
    /// in a list `mobile` (a carrier's published mobile ranges)
    pub mobile_list: bool,
    /// `country` is the region a `relay` geofeed gave, not the geo database's
    pub country_from_relay: bool,
    /// `country` is a relay's egress (a `relay` address its list gives no region for):
    /// reported, but never compared with what the request says of the person
    pub country_uncertain: bool,
    /// [`source_bit`]s of sources that failed for this address
    pub lookup_errors: u8,
    /// the client-IP header did not name the client: `ip` is unspecified
    pub client_ip_invalid: bool,
}

impl Facts {
    pub fn new(ip: IpAddr) -> Facts {
        Facts {
            ip,
            country: None,
            asn: None,
            anon: AnonFlags::default(),
            connection: None,
            tor_list: false,
            lists: 0,
            hosting_asn: false,
            hosting_org: false,
            mobile_asn: false,
            mobile_list: false,
            country_from_relay: false,
            country_uncertain: false,
            lookup_errors: 0,
            client_ip_invalid: false,
        }
    }

    pub fn is_mobile(&self) -> bool {
        self.connection == Some(ConnectionType::Cellular) || self.mobile_asn || self.mobile_list
    }

    /// A fixed-line consumer connection, by the connection-type database.
    pub fn is_residential(&self) -> bool {
        matches!(
            self.connection,
            Some(ConnectionType::CableDsl | ConnectionType::Dialup | ConnectionType::Satellite)
        )
    }

    /// The country the request's evidence (languages, time zone, a declared country,
    /// hopping) is compared with: `None` when it is only a relay's egress.
    pub fn evidence_country(&self) -> Option<CountryCode> {
        if self.country_uncertain {
            None
        } else {
            self.country
        }
    }

    pub fn country_str(&self) -> Option<&str> {
        self.country
            .as_ref()
            .and_then(|c| std::str::from_utf8(c).ok())
    }
}
