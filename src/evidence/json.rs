//! The values at a few RFC 6901 pointers of a JSON body, read in one pass without
//! building the document: objects and arrays on a wanted path are walked, everything
//! else is skipped (still checked for well-formedness by the parser, never allocated).
//! A body that is not UTF-8 or not one well-formed JSON value is an error: padding or
//! mangling a body must not hide a field.
//!
//! As in most JSON parsers apps use (Python's, JavaScript's, Go's), a key given twice
//! takes its last value.

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// A pointer still being followed: where its value goes, and the tokens left.
#[derive(Clone, Copy)]
struct Want<'p> {
    slot: usize,
    rest: &'p [String],
}

/// The most pointers read in one pass (a bit each in a mask).
pub const MAX_POINTERS: usize = 64;

/// Put the scalar at each pointer (`(slot, tokens)`) into `out[slot]`: a string as is,
/// a number or boolean as its JSON text; null or nothing there leaves `None`. `Err`
/// when the body is not one well-formed JSON text, or when a pointer ends at an array
/// or an object (an app's `String(["X"])` reads `X`: never a missing field).
pub fn pick(
    body: &[u8],
    pointers: &[(usize, &[String])],
    out: &mut [Option<String>],
) -> Result<(), PickError> {
    // JSON is UTF-8 (RFC 8259): checked once for the whole body, so the parser need not
    // check each string
    let text = std::str::from_utf8(body).map_err(|_| PickError::Malformed)?;
    let wants: Vec<Want> = pointers
        .iter()
        .take(MAX_POINTERS)
        .map(|(slot, rest)| Want { slot: *slot, rest })
        .collect();
    let mut de = serde_json::Deserializer::from_str(text);
    // a pointer whose (last) value is an array or an object
    let mut containers = vec![false; out.len()];
    Walk {
        wants: &wants,
        out,
        containers: &mut containers,
    }
    .deserialize(&mut de)
    .map_err(|_| PickError::Malformed)?;
    de.end().map_err(|_| PickError::Malformed)?;
    if lone_surrogate(text) {
        return Err(PickError::Malformed);
    }
    if containers.contains(&true) {
        return Err(PickError::NotScalar);
    }
    Ok(())
}

/// Why the fields could not be picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickError {
    /// not UTF-8, or not one well-formed JSON text
    Malformed,
    /// a field's pointer ends at an array or an object
    NotScalar,
}

struct Walk<'a, 'p> {
    wants: &'a [Want<'p>],
    out: &'a mut [Option<String>],
    containers: &'a mut [bool],
}

impl Walk<'_, '_> {
    /// An array or an object: the pointers that end here hold no scalar (unless a
    /// later value of the same key does: the last value counts).
    fn container(&mut self) {
        for w in self.wants {
            if w.rest.is_empty() {
                self.out[w.slot] = None;
                self.containers[w.slot] = true;
            }
        }
    }

    /// The pointers that end at this value.
    fn set(&mut self, v: impl Fn() -> Option<String>) {
        for w in self.wants {
            if w.rest.is_empty() {
                self.out[w.slot] = v();
                self.containers[w.slot] = false;
            }
        }
    }
}

/// The pointers of `mask` that go on below a value, one token further.
fn below<'p>(wants: &[Want<'p>], mask: u64) -> Vec<Want<'p>> {
    {
        wants
            .iter()
            .enumerate()
            .filter(|(i, _)| mask >> i & 1 == 1)
            .map(|(_, w)| Want {
                slot: w.slot,
                rest: &w.rest[1..],
            })
            .collect()
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        // this value replaces whatever an earlier value of the same key gave the
        // pointers through it: a key given twice counts by its last value, all the
        // way down
        for w in self.wants {
            self.out[w.slot] = None;
            self.containers[w.slot] = false;
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E>(mut self, v: &str) -> Result<(), E> {
        self.set(|| Some(v.to_string()));
        Ok(())
    }

    fn visit_bool<E>(mut self, v: bool) -> Result<(), E> {
        self.set(|| Some(v.to_string()));
        Ok(())
    }

    fn visit_i64<E>(mut self, v: i64) -> Result<(), E> {
        self.set(|| Some(v.to_string()));
        Ok(())
    }

    fn visit_u64<E>(mut self, v: u64) -> Result<(), E> {
        self.set(|| Some(v.to_string()));
        Ok(())
    }

    fn visit_f64<E>(mut self, v: f64) -> Result<(), E> {
        self.set(|| Some(serde_json::Number::from_f64(v)?.to_string()));
        Ok(())
    }

    fn visit_unit<E>(mut self) -> Result<(), E> {
        self.set(|| None);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.container();
        while let Some(mask) = map.next_key_seed(KeyMatch(self.wants))? {
            if mask == 0 {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let sub = below(self.wants, mask);
            map.next_value_seed(Walk {
                wants: &sub,
                out: &mut *self.out,
                containers: &mut *self.containers,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.container();
        let mut i: usize = 0;
        loop {
            let mask = self.wants.iter().enumerate().fold(0u64, |m, (j, w)| {
                if w.rest.first().is_some_and(|t| is_index(t, i)) {
                    m | 1 << j
                } else {
                    m
                }
            });
            let more = if mask == 0 {
                seq.next_element::<IgnoredAny>()?.is_some()
            } else {
                let sub = below(self.wants, mask);
                seq.next_element_seed(Walk {
                    wants: &sub,
                    out: &mut *self.out,
                    containers: &mut *self.containers,
                })?
                .is_some()
            };
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }
}

/// Whether a string of the (well-formed) document holds a lone surrogate escape — a
/// `\uD800`–`\uDBFF` not followed by a `\uDC00`–`\uDFFF`, or one of the latter alone.
/// Values no pointer reads are skipped without their escapes decoded, so this is
/// checked apart: serde_json's `Value`, Python's and most parsers refuse such a body,
/// and riskgate must not read a body the app refuses.
fn lone_surrogate(text: &str) -> bool {
    if !text.contains("\\u") {
        return false;
    }
    let b = text.as_bytes();
    let hex = |i: usize| -> Option<u16> {
        let h = b.get(i..i + 4)?;
        u16::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
    };
    let (mut i, mut in_string) = (0, false);
    while i < b.len() {
        match b[i] {
            b'"' => in_string = !in_string,
            b'\\' if in_string => {
                if b.get(i + 1) == Some(&b'u') {
                    let Some(u) = hex(i + 2) else { return true };
                    match u {
                        0xD800..=0xDBFF => {
                            let low = (b.get(i + 6) == Some(&b'\\') && b.get(i + 7) == Some(&b'u'))
                                .then(|| hex(i + 8))
                                .flatten();
                            if !matches!(low, Some(0xDC00..=0xDFFF)) {
                                return true;
                            }
                            i += 11;
                        }
                        0xDC00..=0xDFFF => return true,
                        _ => i += 5,
                    }
                } else {
                    // any other escape is two bytes (the parser checked it)
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    false
}

/// An array index token (RFC 6901: decimal, no leading zero) equal to `i`.
fn is_index(token: &str, i: usize) -> bool {
    (token == "0" || !token.starts_with('0'))
        && token.bytes().all(|b| b.is_ascii_digit())
        && token.parse::<usize>().is_ok_and(|t| t == i)
}

/// An object's key, compared with the pointers' next tokens without being kept: the
/// mask of the pointers it continues.
struct KeyMatch<'a, 'p>(&'a [Want<'p>]);

impl<'de> DeserializeSeed<'de> for KeyMatch<'_, '_> {
    type Value = u64;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyMatch<'_, '_> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<u64, E> {
        Ok(self.0.iter().enumerate().fold(0, |m, (i, w)| {
            if w.rest.first().is_some_and(|t| t == key) {
                m | 1 << i
            } else {
                m
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::json_pointer_tokens as tokens;

    fn get(body: &str, pointers: &[&str]) -> Result<Vec<Option<String>>, PickError> {
        let toks: Vec<Vec<String>> = pointers.iter().map(|p| tokens(p).unwrap()).collect();
        let ps: Vec<(usize, &[String])> = toks
            .iter()
            .enumerate()
            .map(|(i, t)| (i, t.as_slice()))
            .collect();
        let mut out = vec![None; pointers.len()];
        pick(body.as_bytes(), &ps, &mut out)?;
        Ok(out)
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn values_at_pointers_agree_with_serde_json() {
        let body = r#"{"code":"PPP-IN-65","n":7,"x":-2.5,"ok":true,"nul":null,
            "deep":{"list":["x","y",{"k":"v"}]},"a/b":1,"m~n":2,"e\u0301":"é","01":"zero-one"}"#;
        let ptrs = [
            "/code",
            "/n",
            "/x",
            "/ok",
            "/nul",
            "/deep/list/1",
            "/deep/list/2/k",
            "/a~1b",
            "/m~0n",
            "/missing",
            "/deep/list/9",
            "/deep/list/01",
            "/01",
            "/e\u{301}",
        ];
        let got = get(body, &ptrs).unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        for (p, g) in ptrs.iter().zip(&got) {
            let want = v.pointer(p).and_then(|x| match x {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                serde_json::Value::Bool(b) => Some(b.to_string()),
                _ => None,
            });
            assert_eq!(g, &want, "{p}");
        }
        assert_eq!(got[0], s("PPP-IN-65"));
        assert_eq!(got[6], s("v"));
    }

    #[test]
    fn a_key_given_twice_takes_its_last_value() {
        assert_eq!(
            get(r#"{"code":"A","code":"B"}"#, &["/code"]).unwrap(),
            [s("B")]
        );
        assert_eq!(
            get(r#"{"code":"A","code":{"x":1}}"#, &["/code"]),
            Err(PickError::NotScalar)
        );
        // found by fuzz/json_fields: a container first, the scalar last, is the scalar
        assert_eq!(get(r#"{"":{"b":7},"":" x"}"#, &["/"]).unwrap(), [s(" x")]);
        assert_eq!(
            get(r#"{"code":["PPP-IN-65"],"code":"PPP-IN-65"}"#, &["/code"]).unwrap(),
            [s("PPP-IN-65")]
        );
        // and all the way down: the last `a` has no `b`
        assert_eq!(
            get(r#"{"a":{"b":4},"a":{"c":7}}"#, &["/a/b"]).unwrap(),
            [None]
        );
    }

    #[test]
    fn a_number_past_f64_is_skipped_as_apps_read_it() {
        // found by fuzz/json_fields: serde_json's document refuses 4.4e4449, Python
        // and JavaScript read it as infinity; skipped here, the field is still read
        assert_eq!(
            get(r#"{"pad":[1,44.4444e04449],"code":"A"}"#, &["/code"]).unwrap(),
            [s("A")]
        );
        // at the pointer it is not a number the body can hold: unreadable
        assert_eq!(
            get(r#"{"code":1e999}"#, &["/code"]),
            Err(PickError::Malformed)
        );
    }

    #[test]
    fn a_container_at_a_pointer_is_not_a_missing_field() {
        for body in [
            r#"{"code":["PPP-IN-65"]}"#,
            r#"{"code":{"0":"PPP-IN-65"}}"#,
            r#"{"code":[]}"#,
            r#"{"a":{"code":[["x"]]}}"#,
        ] {
            let p = if body.starts_with(r#"{"a""#) {
                "/a/code"
            } else {
                "/code"
            };
            assert_eq!(get(body, &[p]), Err(PickError::NotScalar), "{body}");
        }
        // a container beside the field, or above it on its path, is fine
        assert_eq!(
            get(r#"{"x":[1,{"y":2}],"a":{"code":"C"}}"#, &["/a/code"]).unwrap(),
            [s("C")]
        );
        // null is missing
        assert_eq!(get(r#"{"code":null}"#, &["/code"]).unwrap(), [None]);
    }

    #[test]
    fn a_lone_surrogate_in_a_skipped_string_is_malformed_as_serde_json_says() {
        // found by the json_fields fuzz target: a value no pointer reads, skipped
        // without its escapes decoded, passed where serde_json refuses the body
        let body = r#"{"a":{"b":7},"co+de":" f\udfffffffffff@`f"}"#;
        assert!(serde_json::from_str::<serde_json::Value>(body).is_err());
        assert_eq!(get(body, &["/code"]), Err(PickError::Malformed));
        assert_eq!(
            get(r#"{"x":["\udfff"],"code":"A"}"#, &["/code"]),
            Err(PickError::Malformed)
        );
        assert_eq!(
            get(r#"{"\udfff":1,"code":"A"}"#, &["/code"]),
            Err(PickError::Malformed)
        );
        // a pair is fine
        assert_eq!(
            get(r#"{"x":"\ud83d\ude00","code":"A"}"#, &["/code"]).unwrap(),
            vec![s("A")]
        );
    }

    #[test]
    fn malformed_bodies_are_errors_wherever_the_fault_is() {
        for bad in [
            r#"{"code":"A""#,
            r#"{"code":"A"} trailing"#,
            r#"{"code":"A","skip":[1,2,}"#,
            r#"{"skip":"\q","code":"A"}"#,
            "",
        ] {
            assert!(get(bad, &["/code"]).is_err(), "{bad}");
        }
        assert!(
            pick(b"{\"c\":\"\xff\"}", &[], &mut []).is_err(),
            "not UTF-8"
        );
        // deep nesting beside the field is skipped without recursion: the field is
        // still read (padding is no way around a check)
        let deep = format!(
            r#"{{"pad":{}{},"code":"A"}}"#,
            "[".repeat(5000),
            "]".repeat(5000)
        );
        assert_eq!(get(&deep, &["/code"]).unwrap(), [s("A")]);
    }
}
