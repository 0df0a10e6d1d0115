//! The `decisions` section: the store's file and the CrowdSec bouncer.

use super::*;

/// The shortest CrowdSec bouncer key taken (`cscli bouncers add` makes 32 characters).
const CROWDSEC_KEY_MIN_BYTES: usize = 16;

pub(super) fn compile_decisions(cx: &mut Ctx, raw: Opt<RawDecisions>) -> DecisionsConfig {
    let default = DecisionsConfig {
        store: cx.dir.join("decisions.db"),
        crowdsec: None,
    };
    let Some(r) = cx.get("decisions", raw) else {
        return default;
    };
    cx.unknown("decisions", &r.unknown, RawDecisions::KEYS);
    let store = match cx.get("decisions.store", r.store) {
        Some(p) if !p.trim().is_empty() => cx.path(p.trim()),
        Some(_) => {
            cx.err("decisions.store", "must not be empty");
            default.store
        }
        None => default.store,
    };
    let crowdsec = cx.get("decisions.crowdsec", r.crowdsec).and_then(|c| {
        let key = "decisions.crowdsec";
        cx.unknown(key, &c.unknown, RawCrowdsec::KEYS);
        let url = cx.get("decisions.crowdsec.url", c.url);
        let refresh = cx.duration(
            "decisions.crowdsec.refresh",
            c.refresh,
            Duration::from_secs(10),
        );
        if refresh < Duration::from_secs(1) || refresh > Duration::from_secs(3600) {
            cx.err("decisions.crowdsec.refresh", "must be between 1s and 1h");
        }
        let file = cx.get("decisions.crowdsec.key_file", c.key_file);
        let Some(url) = url else {
            cx.err(
                key,
                "needs `url`, the Local API's address (e.g. http://127.0.0.1:8080)",
            );
            return None;
        };
        let url = url.trim().trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || reqwest::Url::parse(&url).is_err()
        {
            cx.err(
                "decisions.crowdsec.url",
                format!("`{url}` is not an http:// or https:// URL"),
            );
        }
        let Some(file) = file else {
            cx.err(
                key,
                "needs `key_file`, a file holding the bouncer's key (cscli bouncers add riskgate)",
            );
            return None;
        };
        let secret = cx.secret_file(
            "decisions.crowdsec.key_file",
            &file,
            CROWDSEC_KEY_MIN_BYTES,
            "a CrowdSec bouncer key",
            "cscli bouncers add riskgate",
        )?;
        let Ok(key_text) = String::from_utf8(secret) else {
            cx.err("decisions.crowdsec.key_file", "the key is not text");
            return None;
        };
        if key_text.bytes().any(|b| !b.is_ascii_graphic()) {
            cx.err(
                "decisions.crowdsec.key_file",
                "a bouncer key is printable ASCII without spaces (it is sent in a header)",
            );
            return None;
        }
        Some(CrowdsecConfig {
            url,
            key: key_text,
            refresh,
        })
    });
    DecisionsConfig { store, crowdsec }
}
