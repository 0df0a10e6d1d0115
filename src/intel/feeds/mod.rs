//! The formats providers really publish, read into a [`CidrSet`]: plain CIDR lines,
//! the JSON range feeds of AWS, Google Cloud, Azure and Oracle, and RFC 8805
//! geofeeds. A source without a configured format has it detected from its text.

mod geofeed;
mod json;

use super::lists::CidrSet;
use super::IntelError;
use crate::config::FeedFormat;

/// What a text looks like. JSON feeds are told apart by their keys (see
/// [`json::detect`]); a text whose entries carry a second CSV field of a country code
/// (or an empty one) is a geofeed; anything else is read as plain CIDR lines.
pub fn detect(text: &str) -> Result<FeedFormat, IntelError> {
    let t = text.trim_start_matches('\u{feff}').trim_start();
    if t.starts_with('{') {
        return json::detect(t);
    }
    if t.starts_with('<') {
        return Err(IntelError::Format(
            "looks like HTML (an error page?), not a list".into(),
        ));
    }
    if geofeed::looks_like(t) {
        Ok(FeedFormat::Geofeed)
    } else {
        Ok(FeedFormat::Cidr)
    }
}

/// Read `text` as `format`, or as the format detected when none is given.
pub fn parse(text: &str, format: Option<FeedFormat>) -> Result<CidrSet, IntelError> {
    let text = text.trim_start_matches('\u{feff}');
    let format = match format {
        Some(f) => f,
        None => detect(text)?,
    };
    match format {
        FeedFormat::Cidr => CidrSet::parse(text),
        FeedFormat::Geofeed => geofeed::parse(text),
        json_format => json::parse(text, json_format),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_format_from_a_small_sample() {
        let cases = [
            ("10.0.0.0/8\n# c\n", FeedFormat::Cidr),
            ("10.0.0.0/8,AS1\n", FeedFormat::Cidr),
            ("# ip_prefix, alpha2code, region, city, postal_code\n192.0.2.0/24,US,US-CA,Los Angeles,\n", FeedFormat::Geofeed),
            ("192.0.2.0/24,,,,\n", FeedFormat::Geofeed),
            (r#"{"syncToken":"1","createDate":"x","prefixes":[{"ip_prefix":"3.5.140.0/22","region":"ap-northeast-2","service":"AMAZON","network_border_group":"ap-northeast-2"}],"ipv6_prefixes":[]}"#, FeedFormat::Aws),
            (r#"{"syncToken":"1","creationTime":"x","prefixes":[{"ipv4Prefix":"34.1.208.0/20","service":"Google Cloud","scope":"africa-south1"}]}"#, FeedFormat::Gcp),
            (r#"{"changeNumber":398,"cloud":"Public","values":[{"name":"AzureCloud","id":"AzureCloud","properties":{"addressPrefixes":["13.64.0.0/16"]}}]}"#, FeedFormat::Azure),
            (r#"{"last_updated_timestamp":"x","regions":[{"region":"us-phoenix-1","cidrs":[{"cidr":"129.146.0.0/21","tags":["OCI"]}]}]}"#, FeedFormat::Oracle),
        ];
        for (text, want) in cases {
            assert_eq!(detect(text).unwrap(), want, "{text}");
            let set = parse(text, None).unwrap();
            assert_eq!(set.format, want);
            assert_eq!(set.entries, 1, "{text}");
        }
    }

    #[test]
    fn json_of_no_known_feed_and_html_are_refused() {
        let e = detect(r#"{"hello":"world"}"#).unwrap_err();
        assert!(e.to_string().contains("not a range feed"), "{e}");
        assert!(detect("<!doctype html><p>502</p>").is_err());
    }

    #[test]
    fn a_configured_format_that_does_not_fit_is_an_error() {
        let gcp = r#"{"syncToken":"1","prefixes":[{"ipv4Prefix":"34.1.208.0/20"}]}"#;
        let e = parse(gcp, Some(FeedFormat::Aws)).unwrap_err();
        assert!(e.to_string().contains("not in the aws format"), "{e}");
        assert!(parse("10.0.0.0/8\n", Some(FeedFormat::Azure)).is_err());
    }
}
