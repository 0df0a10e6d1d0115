//! The JSON range feeds: AWS `ip-ranges.json`, Google `cloud.json`/`goog.json`,
//! Azure `ServiceTags_Public_*.json` and Oracle `public_ip_ranges.json`. One pass of
//! serde reads any of them; the keys present say which it is.

use serde::Deserialize;

use super::super::lists::{Builder, CidrSet};
use super::IntelError;
use crate::config::FeedFormat;

/// Every key of the four feeds that riskgate reads; the rest is skipped.
#[derive(Deserialize, Default)]
#[serde(default)]
struct AnyFeed {
    /// AWS and Google
    prefixes: Option<Vec<Prefix>>,
    /// AWS
    ipv6_prefixes: Option<Vec<Prefix>>,
    /// Azure: the service tags
    values: Option<Vec<AzureTag>>,
    /// Oracle
    regions: Option<Vec<OracleRegion>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Prefix {
    /// AWS IPv4
    ip_prefix: Option<String>,
    /// AWS IPv6
    ipv6_prefix: Option<String>,
    /// Google
    #[serde(rename = "ipv4Prefix")]
    ipv4_prefix_g: Option<String>,
    #[serde(rename = "ipv6Prefix")]
    ipv6_prefix_g: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AzureTag {
    properties: AzureProperties,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct AzureProperties {
    address_prefixes: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OracleRegion {
    cidrs: Vec<OracleCidr>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OracleCidr {
    cidr: Option<String>,
}

fn read(text: &str) -> Result<AnyFeed, IntelError> {
    serde_json::from_str(text).map_err(|e| IntelError::Format(format!("not valid JSON: {e}")))
}

fn format_of(feed: &AnyFeed) -> Option<FeedFormat> {
    if feed.values.is_some() {
        return Some(FeedFormat::Azure);
    }
    if feed.regions.is_some() {
        return Some(FeedFormat::Oracle);
    }
    let p = feed.prefixes.as_deref().unwrap_or_default();
    if feed.ipv6_prefixes.is_some() || p.iter().any(|p| p.ip_prefix.is_some()) {
        return Some(FeedFormat::Aws);
    }
    if p.iter()
        .any(|p| p.ipv4_prefix_g.is_some() || p.ipv6_prefix_g.is_some())
    {
        return Some(FeedFormat::Gcp);
    }
    None
}

pub(super) fn detect(text: &str) -> Result<FeedFormat, IntelError> {
    format_of(&read(text)?).ok_or_else(|| {
        IntelError::Format(
            "JSON, but not a range feed riskgate knows (aws, gcp, azure, oracle)".into(),
        )
    })
}

pub(super) fn parse(text: &str, format: FeedFormat) -> Result<CidrSet, IntelError> {
    let feed = read(text)?;
    if let Some(found) = format_of(&feed) {
        if found != format {
            return Err(IntelError::Format(format!(
                "not in the {} format: it looks like {}",
                format.name(),
                found.name()
            )));
        }
    } else {
        return Err(IntelError::Format(format!(
            "not in the {} format: none of its keys are there",
            format.name()
        )));
    }
    let mut b = Builder::default();
    let mut n = 0usize;
    let mut add = |b: &mut Builder, p: Option<&str>| {
        n += 1;
        match p {
            Some(t) if b.add_text(t, None) => {}
            Some(t) => b.skip(format!("entry {n}: {t}")),
            None => b.skip(format!("entry {n}: no prefix")),
        }
    };
    match format {
        FeedFormat::Aws => {
            for p in feed.prefixes.iter().flatten() {
                add(&mut b, p.ip_prefix.as_deref());
            }
            for p in feed.ipv6_prefixes.iter().flatten() {
                add(&mut b, p.ipv6_prefix.as_deref());
            }
        }
        FeedFormat::Gcp => {
            for p in feed.prefixes.iter().flatten() {
                add(
                    &mut b,
                    p.ipv4_prefix_g.as_deref().or(p.ipv6_prefix_g.as_deref()),
                );
            }
        }
        FeedFormat::Azure => {
            for t in feed.values.iter().flatten() {
                for p in &t.properties.address_prefixes {
                    add(&mut b, Some(p));
                }
            }
        }
        FeedFormat::Oracle => {
            for r in feed.regions.iter().flatten() {
                for c in &r.cidrs {
                    add(&mut b, c.cidr.as_deref());
                }
            }
        }
        FeedFormat::Cidr | FeedFormat::Geofeed => unreachable!("not a JSON format"),
    }
    b.finish_checked(format, "a prefix")
}
