//! `gateway.yaml` → a validated, compiled, immutable [`Config`].
//!
//! Parsing keeps going after a mistake (see [`raw`]) so that [`load`] reports every
//! problem at once, each with file, line:column and key.

mod compile;
pub mod position;
pub mod raw;
pub mod units;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use ipnet::IpNet;

use crate::signals::{Signal, SIGNAL_COUNT};

/// One thing wrong with a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: Option<usize>,
    pub col: Option<usize>,
    /// The key path, e.g. `policies.promo.limits[0].rate`; empty for the whole file.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.col {
                write!(f, ":{c}")?;
            }
        }
        if self.key.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.key, self.message)
        }
    }
}

/// Every problem found in a config file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "invalid configuration ({n} problem{}):",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

/// Read, validate and compile a config file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        problems: vec![Problem {
            file: path.display().to_string(),
            line: None,
            col: None,
            key: String::new(),
            message: format!("cannot read: {e}"),
        }],
    })?;
    parse(&text, path)
}

/// Validate and compile config text; `path` names it in messages and anchors relative
/// data paths (they are relative to the directory of the config file).
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    compile::compile(text, path)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub level: String,
    pub format: LogFormat,
    /// Fraction of `allow` decisions that are logged (block/verify always are).
    pub allow_sample: f64,
}

/// Which header carries the client address when the peer is a trusted proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpHeader {
    XForwardedFor,
    XRealIp,
    CfConnectingIp,
    TrueClientIp,
}

impl IpHeader {
    pub fn name(self) -> &'static str {
        match self {
            IpHeader::XForwardedFor => "x-forwarded-for",
            IpHeader::XRealIp => "x-real-ip",
            IpHeader::CfConnectingIp => "cf-connecting-ip",
            IpHeader::TrueClientIp => "true-client-ip",
        }
    }

    /// The name as a parsed header name (a constant: no parsing per request).
    pub fn header_name(self) -> &'static http::HeaderName {
        static NAMES: [http::HeaderName; 4] = [
            http::HeaderName::from_static("x-forwarded-for"),
            http::HeaderName::from_static("x-real-ip"),
            http::HeaderName::from_static("cf-connecting-ip"),
            http::HeaderName::from_static("true-client-ip"),
        ];
        &NAMES[self as usize]
    }
}

#[derive(Debug, Clone)]
pub struct ClientIpConfig {
    pub trusted_proxies: Vec<IpNet>,
    pub header: IpHeader,
}

/// Where a data source comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Url(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Url(u) => f.write_str(u),
        }
    }
}

#[derive(Debug, Clone)]
pub struct MmdbConfig {
    pub geo: Option<PathBuf>,
    pub asn: Option<PathBuf>,
    pub anonymous_ip: Option<PathBuf>,
    pub connection_type: Option<PathBuf>,
    pub reload: Duration,
}

#[derive(Debug, Clone)]
pub struct TorConfig {
    pub source: Source,
    pub refresh: Duration,
    /// a new list smaller than `(1 - max_shrink)` × the one in service is refused
    pub max_shrink: f64,
}

/// What membership of a named list means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// feeds the `hosting` signal
    Hosting,
    /// feeds the `vpn` signal
    Vpn,
    /// feeds the `proxy` signal
    Proxy,
    /// skips scoring and limits
    Allow,
    /// feeds the `relay` signal (a consumer privacy relay's egress, e.g. iCloud Private
    /// Relay); never `hosting`; a geofeed's country is the user's region
    Relay,
    /// marks the address as mobile (relaxes limits); not a risk
    Mobile,
    /// the signal `list:<name>` (this includes `deny`)
    Named,
}

/// The format of a list source: what providers really publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedFormat {
    /// one CIDR, IP or `start-end` range a line, `#` comments
    Cidr,
    /// AWS `ip-ranges.json`
    Aws,
    /// Google `cloud.json` / `goog.json`
    Gcp,
    /// Azure `ServiceTags_Public` JSON
    Azure,
    /// Oracle Cloud `public_ip_ranges.json`
    Oracle,
    /// RFC 8805 CSV: prefix,country,region,city,postal
    Geofeed,
}

impl FeedFormat {
    pub const ALL: [FeedFormat; 6] = [
        FeedFormat::Cidr,
        FeedFormat::Aws,
        FeedFormat::Gcp,
        FeedFormat::Azure,
        FeedFormat::Oracle,
        FeedFormat::Geofeed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FeedFormat::Cidr => "cidr",
            FeedFormat::Aws => "aws",
            FeedFormat::Gcp => "gcp",
            FeedFormat::Azure => "azure",
            FeedFormat::Oracle => "oracle",
            FeedFormat::Geofeed => "geofeed",
        }
    }

    pub fn from_name(s: &str) -> Option<FeedFormat> {
        FeedFormat::ALL.into_iter().find(|f| f.name() == s)
    }
}

/// One source of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct ListSource {
    pub source: Source,
    pub refresh: Duration,
    /// `None`: detected from the text, and a later text of another format is refused
    pub format: Option<FeedFormat>,
    /// a new text with fewer than `(1 - max_shrink)` × the entries in service is refused
    pub max_shrink: f64,
}

#[derive(Debug, Clone)]
pub struct ListConfig {
    pub name: String,
    /// `list:NAME`, the signal name, built once here
    pub signal: String,
    pub kind: ListKind,
    /// one or more; the list is their union
    pub sources: Vec<ListSource>,
}

/// A set of AS numbers: written in the config, and/or read from a source of one AS
/// number a line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AsnSet {
    /// the numbers written in the config, sorted
    pub inline: Vec<u32>,
    pub source: Option<(Source, Duration)>,
}

impl AsRef<str> for ListConfig {
    /// The list's signal name (`list:NAME`), as reasons are written.
    fn as_ref(&self) -> &str {
        &self.signal
    }
}

#[derive(Debug, Clone)]
pub struct IntelConfig {
    pub mmdb: MmdbConfig,
    pub tor: Option<TorConfig>,
    /// In file order; a list's index here is its bit in [`crate::intel::Facts::lists`].
    pub lists: Vec<ListConfig>,
    pub lists_reload: Duration,
    pub hosting_asns: AsnSet,
    /// lower-case words, each matched against whole words of the AS organisation
    pub hosting_org_keywords: Vec<String>,
    /// lower-case word sequences that unflag an organisation a keyword matched
    pub hosting_org_exclude: Vec<String>,
    pub mobile_asns: AsnSet,
    /// list bits by meaning, derived from `lists`
    pub masks: ListMasks,
    /// for URL sources
    pub fetch_timeout: Duration,
}

/// Bit masks over [`IntelConfig::lists`] by what membership means.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListMasks {
    pub hosting: u64,
    pub vpn: u64,
    pub proxy: u64,
    pub allow: u64,
    pub relay: u64,
    pub mobile: u64,
    pub named: u64,
}

impl ListMasks {
    pub fn of(lists: &[ListConfig]) -> ListMasks {
        let mut m = ListMasks::default();
        for (i, l) in lists.iter().enumerate() {
            let bit = 1u64 << i;
            match l.kind {
                ListKind::Hosting => m.hosting |= bit,
                ListKind::Vpn => m.vpn |= bit,
                ListKind::Proxy => m.proxy |= bit,
                ListKind::Allow => m.allow |= bit,
                ListKind::Relay => m.relay |= bit,
                ListKind::Mobile => m.mobile |= bit,
                ListKind::Named => m.named |= bit,
            }
        }
        m
    }
}

impl IntelConfig {
    pub fn list_index(&self, name: &str) -> Option<usize> {
        self.lists.iter().position(|l| l.name == name)
    }
}

#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    /// the name as the `X-Risk-Route` value, built once here
    pub header: http::HeaderValue,
    /// index into [`Config::policies`]
    pub policy: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Shadow,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Shadow => "shadow",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnLookupError {
    Allow,
    Block,
}

/// Signal weights: one per fixed signal, one per configured list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weights {
    pub fixed: [u32; SIGNAL_COUNT],
    /// indexed like [`IntelConfig::lists`]
    pub lists: Vec<u32>,
    /// indexed like the policy's `limits` (only `rate:NAME` ones are read)
    pub rates: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub verify: u32,
    pub block: u32,
}

/// An ISO 3166 alpha-2 code, upper-case.
pub type CountryCode = [u8; 2];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Countries {
    pub deny: Vec<CountryCode>,
    /// non-empty: every other known country is denied
    pub allow: Vec<CountryCode>,
}

/// One part of a limit's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyPart {
    Ip,
    /// the client's /24 (v4) or /48 (v6), as the policy's `subnet_prefix` says
    Subnet,
    Asn,
    /// a field's value (index into [`Config::fields`]), as its keyed hash
    Field(usize),
}

impl KeyPart {
    /// Whether a client on a mobile network shares this part with others (its address
    /// is a carrier's CGNAT): `mobile_multiplier` applies to a key with such a part.
    pub fn shared_by_carriers(self) -> bool {
        matches!(self, KeyPart::Ip | KeyPart::Subnet)
    }
}

/// The signal an exhausted limit reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitSignal {
    /// `rate_ip`, `rate_subnet` or `rate_asn`: an unnamed limit on one of these
    Fixed(Signal),
    /// `rate:NAME`: a limit with a field in its key, or with a `name`
    Named(String),
}

/// What an `asn` limit does with a client whose ASN is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownAsn {
    /// not limited by ASN (the default: no ASN data must not put everyone in one bucket)
    Skip,
    /// all unknown-ASN clients of the policy share one bucket
    Shared,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitSpec {
    /// the parts that together make the key (one or more, no part twice)
    pub key: Vec<KeyPart>,
    /// what `riskgate_limiter_keys{key}` calls it: `ip`, `subnet`, `asn`, else NAME
    pub label: String,
    pub signal: LimitSignal,
    pub unknown_asn: UnknownAsn,
    /// `count` requests per `per`
    pub count: u32,
    pub per: Duration,
    pub burst: u32,
}

impl LimitSignal {
    pub fn name(&self) -> &str {
        match self {
            LimitSignal::Fixed(s) => s.name(),
            LimitSignal::Named(n) => n,
        }
    }
}

/// The most limits one policy has (each named one is a bit of [`crate::signals::Reasons`]).
pub const MAX_LIMITS: usize = 16;

impl AsRef<str> for LimitSpec {
    /// The signal's name, as [`crate::signals::Reasons`] renders it.
    fn as_ref(&self) -> &str {
        self.signal.name()
    }
}

/// A response riskgate writes itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Bytes,
    pub content_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnBlock {
    Respond(Response),
    /// forward anyway with `X-Risk-Action: block`
    Shadow,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub mode: Mode,
    pub on_lookup_error: OnLookupError,
    pub weights: Weights,
    pub thresholds: Thresholds,
    pub countries: Countries,
    pub subnet_v4: u8,
    pub subnet_v6: u8,
    pub limits: Vec<LimitSpec>,
    pub mobile_multiplier: u32,
    pub checks: Checks,
    /// indexes into [`Config::fields`] of every field this policy reads
    pub fields: Vec<usize>,
    /// whether one of them is in the body
    pub needs_body: bool,
    /// the fields that identify someone (limit and hopping keys): logged as keyed hashes
    pub ids: Vec<usize>,
    pub on_block: OnBlock,
    pub on_limit: Response,
}

/// What a policy compares the request's own evidence with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checks {
    /// Accept-Language against the languages of the IP's country → `language_mismatch`
    pub language: bool,
    /// base language codes, lower case, never counted as a mismatch
    pub ignore_languages: Vec<String>,
    /// the field (index into [`Config::fields`]) holding an IANA time zone →
    /// `timezone_mismatch`
    pub timezone: Option<usize>,
    /// the field holding a declared ISO country → `country_mismatch`
    pub declared_country: Option<usize>,
    /// groups of countries that count as one for `declared_country`
    pub regions: Vec<Vec<CountryCode>>,
    /// what each key field is watched for within a window: its countries (`hopping` →
    /// `country_hopping`) or its networks (`spread` → `network_spread`); at most
    /// [`MAX_WATCHES`], hopping first
    pub watches: Vec<Watch>,
}

/// The largest `hopping.max_countries`: the store remembers one country more per key.
pub const MAX_HOP_COUNTRIES: u32 = 16;
/// The largest `spread.max_networks`: the store remembers one network more per key.
pub const MAX_SPREAD_NETWORKS: u32 = 64;
/// The most `hopping` and `spread` entries of one policy, together.
pub const MAX_WATCHES: usize = 8;

/// What a watch counts, per key, within its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watching {
    /// the countries the key arrives from (`hopping`)
    Countries,
    /// the subnets (the policy's `subnet_prefix`: /24, /48) it arrives from (`spread`)
    Subnets,
    /// the AS numbers it arrives from (`spread`)
    Asns,
}

impl Watching {
    pub fn as_str(self) -> &'static str {
        match self {
            Watching::Countries => "countries",
            Watching::Subnets => "subnets",
            Watching::Asns => "asns",
        }
    }
}

/// One `hopping` or `spread` entry: a key field seen from more than `max` distinct
/// countries or networks within `window` is a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watch {
    /// index into [`Config::fields`]
    pub field: usize,
    pub window: Duration,
    pub max: u32,
    pub what: Watching,
}

impl Watch {
    /// How many values the store keeps per key: one more than `max`, enough to say
    /// "more than max" exactly, in memory fixed per key.
    pub fn slots(&self) -> usize {
        self.max as usize + 1
    }
}

impl Checks {
    /// The fields these checks read.
    pub fn fields(&self) -> impl Iterator<Item = usize> + '_ {
        self.timezone
            .into_iter()
            .chain(self.declared_country)
            .chain(self.watches.iter().map(|w| w.field))
    }
}

/// Where a field's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldSource {
    /// a request header (lower case)
    Header(String),
    /// a cookie of the `Cookie` header
    Cookie(String),
    /// a query-string parameter
    Query(String),
    /// a field of an `application/x-www-form-urlencoded` body
    Form(String),
    /// an RFC 6901 pointer into a JSON body
    Json(String),
}

impl FieldSource {
    /// Whether the value is in the body (which must then be read before the decision).
    pub fn in_body(&self) -> bool {
        matches!(self, FieldSource::Form(_) | FieldSource::Json(_))
    }
}

/// How a field's value is normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalize {
    Lower,
    Upper,
    /// lower-cased, `+tag` dropped, dots dropped from Gmail local parts
    Email,
}

/// The tokens of an RFC 6901 pointer (`/a~1b/0` → `["a/b", "0"]`); `None` unless it
/// starts with `/`.
pub fn json_pointer_tokens(pointer: &str) -> Option<Vec<String>> {
    let rest = pointer.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

/// The tag of a field's name in a decision's key: FNV-1a, stable across processes.
pub fn field_tag(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A named value read from each matched request that a policy uses.
#[derive(Debug, Clone)]
pub struct FieldDef {
    pub name: String,
    pub source: FieldSource,
    /// for a `json:` source, its pointer's tokens (compiled once)
    pub pointer: Vec<String>,
    /// narrows the value: its first capture group, else the whole match; no match → missing
    pub pattern: Option<regex::Regex>,
    pub normalize: Option<Normalize>,
}

#[derive(Debug, Clone)]
pub struct Upstream {
    /// as written, `host:port`
    pub address: String,
    /// resolved once, at compile time
    pub addr: SocketAddr,
    pub tls: bool,
    /// the host part, for SNI and `Host`
    pub sni: String,
}

/// The compiled, immutable configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// the file it came from
    pub file: PathBuf,
    /// the proxy door's addresses (empty: forward auth alone)
    pub listen: Vec<SocketAddr>,
    /// the origin; `None` when riskgate is a forward-auth service alone (`authz`
    /// without `upstream`: no proxy door)
    pub upstream: Option<Upstream>,
    pub admin: SocketAddr,
    /// worker threads of the proxy service
    pub threads: usize,
    /// the most keys one limiter holds
    pub limiter_max_keys: usize,
    /// how long SIGTERM waits for in-flight requests before stopping
    pub grace_period: Duration,
    /// where an old and a new process hand over listening sockets (`run --upgrade`)
    pub upgrade_sock: PathBuf,
    pub log: LogConfig,
    pub client_ip: ClientIpConfig,
    pub intel: IntelConfig,
    pub routes: Vec<Route>,
    /// the routes' matchers, indexed like `routes`
    pub route_table: crate::routes::Table,
    pub policies: Vec<Policy>,
    /// named values read from matched requests, in file order
    pub fields: Vec<FieldDef>,
    /// each field's [`field_tag`], indexed like `fields`: a decision on a field is
    /// keyed by it, computed here once rather than per request
    pub field_tags: Vec<u64>,
    /// the most of a body riskgate reads for form:/json: fields
    pub body_limit: usize,
    /// the secret of the keyed hashes of identifier fields
    pub hash_key: HashKey,
    /// limits and hopping shared through Redis, when configured
    pub cluster: Option<ClusterConfig>,
    /// `signing`: the keys of `X-Risk-Signature`, the first signs; empty: no signature
    pub signing: Vec<crate::sign::Key>,
    /// `admin_token_file`: every admin endpoint but health, readiness and metrics needs it
    pub admin_token: Option<AdminToken>,
    /// where `admin_token_file` is (for the `decisions` CLI, which sends the token)
    pub admin_token_file: Option<PathBuf>,
    /// `decisions`: where they are kept, and the CrowdSec bouncer
    pub decisions: DecisionsConfig,
    /// `server.*` and `body_timeout`
    pub client_limits: ClientLimits,
    /// `authz`: riskgate as an ingress's forward-auth service
    pub authz: Option<AuthzConfig>,
}

/// `authz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthzConfig {
    pub listen: Vec<SocketAddr>,
    /// the status of a limited request (nginx's `auth_request` understands 401 and
    /// 403 only)
    pub limit_status: u16,
}

/// `decisions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionsConfig {
    /// the SQLite file (default `decisions.db` beside the config)
    pub store: PathBuf,
    pub crowdsec: Option<CrowdsecConfig>,
}

/// `decisions.crowdsec`: a CrowdSec Local API this riskgate is a bouncer of.
#[derive(Clone, PartialEq, Eq)]
pub struct CrowdsecConfig {
    /// `http://127.0.0.1:8080`, without a trailing slash
    pub url: String,
    /// the bouncer's API key (`cscli bouncers add riskgate`)
    pub key: String,
    pub refresh: Duration,
}

impl std::fmt::Debug for CrowdsecConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrowdsecConfig")
            .field("url", &self.url)
            .field("refresh", &self.refresh)
            .finish_non_exhaustive()
    }
}

/// `cluster`: where replicas share their limits and hopping records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `redis://…` / `rediss://…` URLs: one for a standalone server, the seed nodes
    /// for Redis Cluster
    pub urls: Vec<String>,
    /// `redis+cluster://` (or `rediss+cluster://`): a Redis Cluster
    pub cluster_mode: bool,
    /// the address as logs and `check` show it, without a password
    pub display: String,
    /// put in front of every key, so that apps can share one Redis
    pub prefix: String,
    /// the longest a request waits for Redis
    pub timeout: Duration,
    pub on_error: OnClusterError,
    /// for `rediss://`: the PEM certificates of a private CA the server's certificate
    /// is checked against (else the public web PKI roots)
    pub tls_ca: Option<Vec<u8>>,
}

/// What a limit check does when Redis is slow or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnClusterError {
    /// this replica's own limits decide (the default)
    Local,
    /// no limit applies
    Allow,
    /// every limit of the policy counts as exhausted
    Block,
}

impl OnClusterError {
    pub fn as_str(self) -> &'static str {
        match self {
            OnClusterError::Local => "local",
            OnClusterError::Allow => "allow",
            OnClusterError::Block => "block",
        }
    }
}

/// The secret of the keyed hashes that stand for identifier fields (device, e-mail,
/// coupon…) in limit keys, the hopping store and the decision log: from `hash_key`'s
/// The admin endpoint's token (`admin_token_file`), kept as its SHA-256: a presented
/// token is hashed and compared in constant time, whatever its length.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken {
    digest: [u8; 32],
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(…)")
    }
}

impl AdminToken {
    pub fn new(secret: &[u8]) -> AdminToken {
        AdminToken {
            digest: Self::hash(secret),
        }
    }

    fn hash(b: &[u8]) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(b).into()
    }

    /// Whether `presented` is the token, in time independent of where they differ.
    pub fn matches(&self, presented: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        Self::hash(presented).ct_eq(&self.digest).into()
    }
}

/// How riskgate bounds each client's connections (DESIGN *Client limits*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// an idle connection is closed this long after its last answer; zero: no keep-alive
    pub keepalive_timeout: Duration,
    /// the longest a request's head may take, from its first byte
    pub header_timeout: Duration,
    /// the most connections one client address holds open at once
    pub max_connections_per_ip: usize,
    /// the most bytes a request's head may take
    pub max_header_bytes: usize,
    /// the longest a body a policy reads may take (then `408`)
    pub body_timeout: Duration,
}

impl Default for ClientLimits {
    fn default() -> ClientLimits {
        ClientLimits {
            keepalive_timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(30),
            max_connections_per_ip: 256,
            max_header_bytes: 64 * 1024,
            body_timeout: Duration::from_secs(10),
        }
    }
}

/// file, so that every replica and every restart hash alike; without one, a random key
/// drawn once per process.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HashKey {
    pub key: [u8; 16],
    /// whether it came from a file (stable across restarts and replicas)
    pub from_file: bool,
}

impl HashKey {
    /// The key of a `hash_key` secret.
    pub fn derive(secret: &[u8]) -> HashKey {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"riskgate hash_key v1\n");
        h.update(secret);
        let digest = h.finalize();
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        HashKey {
            key,
            from_file: true,
        }
    }

    /// This process's own key, random, the same for every config it loads (a reload
    /// keeps limits and hopping records).
    pub fn process() -> HashKey {
        static KEY: std::sync::OnceLock<[u8; 16]> = std::sync::OnceLock::new();
        let key = *KEY.get_or_init(|| {
            use std::hash::{BuildHasher, Hasher};
            // RandomState's keys come from the operating system's random source
            let mut key = [0u8; 16];
            for (i, chunk) in key.chunks_mut(8).enumerate() {
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_usize(i);
                h.write_u128(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos()),
                );
                chunk.copy_from_slice(&h.finish().to_le_bytes());
            }
            key
        });
        HashKey {
            key,
            from_file: false,
        }
    }
}

impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashKey")
            .field("from_file", &self.from_file)
            .finish_non_exhaustive()
    }
}
