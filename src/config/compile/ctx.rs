//! The compile context: where problems are collected, with their places, and the
//! helpers every section uses to read a key and report a mistake.

use super::*;

pub(super) struct Ctx<'a> {
    pub(super) file: String,
    pub(super) dir: PathBuf,
    pub(super) index: &'a PosIndex,
    pub(super) problems: Vec<Problem>,
}

impl Ctx<'_> {
    pub(super) fn err(&mut self, key: &str, message: impl Into<String>) {
        let pos = self.index.find(key);
        self.problems.push(Problem {
            file: self.file.clone(),
            line: pos.map(|p| p.line),
            col: pos.map(|p| p.col),
            key: key.to_string(),
            message: message.into(),
        });
    }

    /// The value of an optional field, reporting it when it did not deserialize.
    pub(super) fn get<T>(&mut self, key: &str, f: Option<Field<T>>) -> Option<T> {
        match f {
            None => None,
            Some(Field::Ok(v)) => Some(v),
            Some(Field::Err(e)) => {
                self.err(key, clean_serde_message(&e));
                None
            }
        }
    }

    pub(super) fn unknown(&mut self, parent: &str, map: &Mapping, known: &[&str]) {
        for k in map.keys() {
            let name = key_str(k);
            let path = join(parent, &name);
            let hint = match suggest(&name, known) {
                Some(k) => format!("; did you mean `{k}`?"),
                None => format!("; expected one of: {}", known.join(", ")),
            };
            self.err(&path, format!("unknown key `{name}`{hint}"));
        }
    }

    /// The trimmed content of a secret's file (`file`, relative to the config), at
    /// least `min` bytes; `None` with the problem recorded under `key`. `what` names
    /// the secret and `hint` how to make one, in the message.
    pub(super) fn secret_file(
        &mut self,
        key: &str,
        file: &str,
        min: usize,
        what: &str,
        hint: &str,
    ) -> Option<Vec<u8>> {
        let path = self.path(file.trim());
        match std::fs::read(&path) {
            Err(e) => {
                self.err(key, format!("cannot read `{}`: {e}", path.display()));
                None
            }
            Ok(bytes) => {
                let secret = bytes.trim_ascii();
                if secret.len() < min {
                    self.err(
                        key,
                        format!(
                            "`{}` holds {} bytes; {what} needs at least {min} (e.g. `{hint}`)",
                            path.display(),
                            secret.len()
                        ),
                    );
                    return None;
                }
                Some(secret.to_vec())
            }
        }
    }

    pub(super) fn duration(&mut self, key: &str, f: Opt<String>, default: Duration) -> Duration {
        match self.get(key, f) {
            None => default,
            Some(s) => match parse_duration(&s) {
                Ok(d) => d,
                Err(e) => {
                    self.err(key, e);
                    default
                }
            },
        }
    }

    /// A size (`64KiB`, `1MiB`, a number of bytes), more than 0.
    pub(super) fn size(&mut self, key: &str, f: Opt<serde_yaml::Value>, default: usize) -> usize {
        let Some(v) = self.get(key, f) else {
            return default;
        };
        let text = match &v {
            serde_yaml::Value::Number(n) => n.to_string(),
            serde_yaml::Value::String(s) => s.clone(),
            _ => {
                self.err(key, "must be a size, e.g. 64KiB");
                return default;
            }
        };
        match parse_size(&text) {
            Ok(0) => {
                self.err(key, "must be more than 0");
                default
            }
            Ok(n) => n,
            Err(e) => {
                self.err(key, e);
                default
            }
        }
    }

    pub(super) fn fraction(&mut self, key: &str, f: Opt<f64>, default: f64) -> f64 {
        match self.get(key, f) {
            None => default,
            Some(x) if (0.0..=1.0).contains(&x) => x,
            Some(_) => {
                self.err(key, "must be between 0.0 and 1.0 (1.0 accepts any shrink)");
                default
            }
        }
    }

    pub(super) fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }

    pub(super) fn source(&mut self, key: &str, s: &str) -> Option<Source> {
        let s = s.trim();
        if s.is_empty() {
            self.err(key, "must not be empty");
            return None;
        }
        if s.starts_with("http://") || s.starts_with("https://") {
            Some(Source::Url(s.to_string()))
        } else if s.contains("://") {
            self.err(
                key,
                format!("`{s}`: only http:// and https:// URLs or file paths are supported"),
            );
            None
        } else {
            Some(Source::File(self.path(s)))
        }
    }
}

/// The known key closest to a mistyped one, if it is close enough to be a typo.
pub(super) fn suggest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim_levenshtein(name, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// ` (did you mean `x`?)` when `name` is a likely typo of one of `known`, else empty.
pub(super) fn did_you_mean(name: &str, known: &[&str]) -> String {
    suggest(name, known)
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

pub(super) fn strsim_levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

pub(super) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

pub(super) fn key_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// serde_yaml's messages sometimes end with "at line 1 column 1" of a sub-document,
/// which would contradict the real position we print.
pub(super) fn clean_serde_message(e: &str) -> String {
    match e.find(" at line ") {
        Some(i) => e[..i].to_string(),
        None => e.to_string(),
    }
}
