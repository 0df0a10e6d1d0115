//! The project's own reference (`docs/reference.md`) names everything the code knows:
//! every config key, signal (with its default weight), header and metric. And nothing
//! user-facing links outside the repository.

use riskgate::config::raw::*;

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn reference() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/reference.md")).unwrap()
}

#[test]
fn every_config_key_is_in_the_reference() {
    let doc = reference();
    let sections: [&[&str]; 24] = [
        RawConfig::KEYS,
        RawAuthz::KEYS,
        RawCluster::KEYS,
        RawDecisions::KEYS,
        RawCrowdsec::KEYS,
        RawSigning::KEYS,
        RawSigningKey::KEYS,
        RawLog::KEYS,
        RawClientIp::KEYS,
        RawIntel::KEYS,
        RawMmdb::KEYS,
        RawTor::KEYS,
        RawListSource::KEYS,
        RawAsnSource::KEYS,
        RawRoute::KEYS,
        RawPolicy::KEYS,
        RawChecks::KEYS,
        RawField::KEYS,
        RawWatch::KEYS,
        RawThresholds::KEYS,
        RawCountries::KEYS,
        RawSubnetPrefix::KEYS,
        RawLimit::KEYS,
        RawResponse::KEYS,
    ];
    for keys in sections {
        for k in keys {
            // `key` in a table, `intel.key.sub` in a path, or `{ key, ... }`
            let named = [
                format!("`{k}`"),
                format!(".{k}."),
                format!(".{k}`"),
                format!("`{k} "),
                format!("{{ {k},"),
                format!(", {k},"),
                format!(", {k} }}"),
                format!("{k}: "),
            ];
            assert!(
                named.iter().any(|n| doc.contains(n.as_str())),
                "docs/reference.md does not mention the key `{k}`"
            );
        }
    }
}

#[test]
fn every_signal_is_in_the_reference_with_its_default_weight() {
    let doc = reference();
    for d in riskgate::signals::DEFS {
        let row = format!("| `{}` | {} |", d.name, d.default_weight);
        assert!(doc.contains(&row), "docs/reference.md lacks the row {row}");
    }
}

#[test]
fn every_header_and_metric_is_in_the_reference() {
    let doc = reference().to_ascii_lowercase();
    for h in riskgate::http::headers::NAMES {
        assert!(doc.contains(&format!("`{h}`")), "header {h}");
    }
    riskgate::record::metrics::register_sources(&["tor"]);
    for family in riskgate::record::metrics::METRICS.registry.gather() {
        assert!(
            doc.contains(&format!("`{}`", family.name())),
            "metric {}",
            family.name()
        );
    }
}

/// The targets of `[text](target)` links in Markdown.
fn link_targets(text: &str) -> Vec<&str> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .collect()
}

#[test]
fn nothing_user_facing_links_outside_the_repository() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .canonicalize()
        .unwrap();
    let mut files = vec![root.join("README.md")];
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        files.push(e.unwrap().path());
    }
    let mut checked = 0;
    for f in files {
        if f.extension().is_none_or(|x| x != "md") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            !text.contains("DESIGN.md"),
            "{} names DESIGN.md",
            f.display()
        );
        for target in link_targets(&text) {
            let path = target.split('#').next().unwrap();
            if path.is_empty() || path.contains("://") || path.starts_with("mailto:") {
                continue;
            }
            // a relative link must name a file of this repository
            let resolved = f.parent().unwrap().join(path).canonicalize();
            assert!(
                resolved.as_ref().is_ok_and(|p| p.starts_with(&root)),
                "{} links {target}, which is not a file of the repository",
                f.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 3, "found the links ({checked})");
}

/// The nginx and Caddy configs of the operator guide are the shipped ones the ingress
/// tests run (tests/ingress.rs), word for word.
#[test]
fn the_guides_ingress_configs_are_the_ones_the_tests_run() {
    let guide = std::fs::read_to_string(root().join("docs/operator-guide.md")).unwrap();
    for (fence, file) in [
        ("```nginx\n", "deploy/ingress/nginx.conf"),
        ("```caddy\n", "deploy/ingress/Caddyfile"),
    ] {
        let shipped = std::fs::read_to_string(root().join(file)).unwrap();
        let block = format!("{fence}{}\n```", shipped.trim_end());
        assert!(
            guide.contains(&block),
            "the guide does not show {file} as shipped"
        );
    }
}
