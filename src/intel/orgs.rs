//! `hosting_org_keywords` against an AS organisation, by whole words: `amazon`
//! matches "Amazon.com, Inc." and "AMAZON-02" but never "AMAZONET" or "Amazonia
//! Telecom"; a keyword of several words matches them in a row. `hosting_org_exclude`
//! phrases ("google fiber") unflag an organisation a keyword matched.

/// The lower-case words of an organisation name: runs of letters and digits.
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Does `phrase` (words) occur in `hay` (words), word for word and in a row?
fn has_phrase(hay: &[String], phrase: &[String]) -> bool {
    !phrase.is_empty() && hay.windows(phrase.len()).any(|w| w == phrase)
}

pub struct OrgMatcher {
    keywords: Vec<(String, Vec<String>)>,
    exclude: Vec<Vec<String>>,
}

impl OrgMatcher {
    pub fn new(keywords: &[String], exclude: &[String]) -> OrgMatcher {
        OrgMatcher {
            keywords: keywords.iter().map(|k| (k.clone(), words(k))).collect(),
            exclude: exclude.iter().map(|e| words(e)).collect(),
        }
    }

    /// The keyword that flags `org`, unless an exclusion unflags it.
    pub fn matches(&self, org: &str) -> Option<&str> {
        let w = words(org);
        let kw = self
            .keywords
            .iter()
            .find(|(_, k)| has_phrase(&w, k))
            .map(|(k, _)| k.as_str())?;
        if self.exclude.iter().any(|e| has_phrase(&w, e)) {
            return None;
        }
        Some(kw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(kw: &[&str], ex: &[&str]) -> OrgMatcher {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        OrgMatcher::new(&s(kw), &s(ex))
    }

    #[test]
    fn whole_words_only() {
        let o = m(
            &["amazon", "google", "digital ocean", "ovh"],
            &["google fiber"],
        );
        assert_eq!(o.matches("Amazon.com, Inc."), Some("amazon"));
        assert_eq!(o.matches("AMAZON-02"), Some("amazon"));
        assert_eq!(o.matches("AMAZONET TELECOMUNICACOES LTDA"), None);
        assert_eq!(o.matches("Amazonia Telecom Ltda"), None);
        assert_eq!(o.matches("Google LLC"), Some("google"));
        assert_eq!(o.matches("Google Fiber Inc."), None);
        assert_eq!(o.matches("GOOGLE-FIBER"), None);
        assert_eq!(o.matches("Digital Ocean"), Some("digital ocean"));
        assert_eq!(o.matches("DigitalOcean, LLC"), None);
        assert_eq!(o.matches("OVH SAS"), Some("ovh"));
        assert_eq!(o.matches("Deutsche Telekom AG"), None);
    }
}
