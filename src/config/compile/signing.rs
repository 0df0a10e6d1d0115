//! `signing`: the keys of `X-Risk-Signature`. Each key file is read (and the HMAC
//! keyed) here, so a reload of the config is also a reload of the keys, and a request
//! only clones a keyed state.

use super::*;
use crate::sign::{self, Key, MIN_KEY_BYTES};

pub(super) fn compile_signing(cx: &mut Ctx, raw: Opt<RawSigning>) -> Vec<Key> {
    let Some(r) = cx.get("signing", raw) else {
        return Vec::new();
    };
    cx.unknown("signing", &r.unknown, RawSigning::KEYS);
    let list = cx.get("signing.keys", r.keys).unwrap_or_default();
    if list.is_empty() {
        cx.err(
            "signing.keys",
            "needs at least one key, e.g. `- { id: k1, file: /etc/riskgate/hmac-k1.key }`",
        );
        return Vec::new();
    }
    let mut keys: Vec<Key> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    for (i, item) in list.into_iter().enumerate() {
        let key = format!("signing.keys[{i}]");
        let k = match item {
            Field::Ok(k) => k,
            Field::Err(e) => {
                cx.err(&key, clean_serde_message(&e));
                continue;
            }
        };
        cx.unknown(&key, &k.unknown, RawSigningKey::KEYS);
        let id = cx.get(&join(&key, "id"), k.id);
        let file = cx.get(&join(&key, "file"), k.file);
        let (Some(id), Some(file)) = (id, file) else {
            cx.err(&key, "needs `id` and `file`");
            continue;
        };
        if !sign::valid_id(&id) {
            cx.err(
                &join(&key, "id"),
                format!(
                    "`{id}`: a key id is 1 to {} of A-Z a-z 0-9 . _ -",
                    sign::MAX_ID
                ),
            );
            continue;
        }
        if ids.contains(&id) {
            cx.err(
                &join(&key, "id"),
                format!("`{id}` is listed twice; every key needs its own id"),
            );
            continue;
        }
        ids.push(id.clone());
        let hint = format!("openssl rand -hex 32 > {}", cx.path(file.trim()).display());
        let at = join(&key, "file");
        if let Some(secret) = cx.secret_file(&at, &file, MIN_KEY_BYTES, "a signing key", &hint) {
            keys.push(Key::new(&id, &secret));
        }
    }
    keys
}
