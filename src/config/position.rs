//! Where each key of a YAML document sits, so that a problem found after parsing
//! (a bad CIDR, an unknown policy name) can still be reported as `file:line:column`.
//!
//! serde_yaml's `Value` forgets positions; this walks the same text once more with
//! yaml-rust2's marked event parser and records, for every key path
//! (`policies.promo.limits[0].rate`), the line and column where it starts.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Default)]
pub struct PosIndex {
    map: HashMap<String, Pos>,
}

impl PosIndex {
    /// Index `text`. A text that does not parse gives an empty index (the syntax
    /// error itself is reported by the serde parser, with its own position).
    pub fn build(text: &str) -> PosIndex {
        let mut rec = Recorder::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut rec, false).is_err() {
            return PosIndex::default();
        }
        PosIndex { map: rec.map }
    }

    /// The position of `path`, or of its nearest ancestor that has one.
    pub fn find(&self, path: &str) -> Option<Pos> {
        let mut p = path;
        loop {
            if let Some(pos) = self.map.get(p) {
                return Some(*pos);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

enum Frame {
    /// A mapping: the key we are waiting a value for, if any.
    Map {
        path: String,
        key: Option<String>,
    },
    Seq {
        path: String,
        next: usize,
    },
}

#[derive(Default)]
struct Recorder {
    stack: Vec<Frame>,
    map: HashMap<String, Pos>,
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl Recorder {
    /// Called at the start of every node: returns the path of the node when it is a
    /// value (not a mapping key); `None` means the node is a key scalar.
    fn node_start(&mut self, mark: Marker, scalar_key: Option<&str>) -> Option<String> {
        let pos = Pos {
            line: mark.line(),
            col: mark.col() + 1,
        };
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, next }) => {
                let p = format!("{path}[{next}]");
                *next += 1;
                self.map.entry(p.clone()).or_insert(pos);
                Some(p)
            }
            Some(Frame::Map { path, key }) => match key.take() {
                Some(k) => Some(join(path, &k)),
                None => {
                    // This node is a key.
                    let k = scalar_key.unwrap_or("?").to_string();
                    self.map.entry(join(path, &k)).or_insert(pos);
                    *key = Some(k);
                    None
                }
            },
        }
    }
}

impl MarkedEventReceiver for Recorder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(ref s, ..) => {
                self.node_start(mark, Some(s));
            }
            Event::Alias(_) => {
                self.node_start(mark, Some("*alias"));
            }
            Event::MappingStart(..) => {
                if let Some(path) = self.node_start(mark, None) {
                    self.stack.push(Frame::Map { path, key: None });
                } else {
                    // A complex key: give it a frame so its events balance.
                    self.stack.push(Frame::Map {
                        path: "?".into(),
                        key: None,
                    });
                }
            }
            Event::SequenceStart(..) => {
                let path = self.node_start(mark, None).unwrap_or_else(|| "?".into());
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keys_and_sequence_items() {
        let text = "a: 1\nb:\n  c: [x, y]\n  d:\n    - e: 2\n      f: 3\n";
        let idx = PosIndex::build(text);
        assert_eq!(idx.find("a"), Some(Pos { line: 1, col: 1 }));
        assert_eq!(idx.find("b.c"), Some(Pos { line: 3, col: 3 }));
        assert_eq!(idx.find("b.d[0].f"), Some(Pos { line: 6, col: 7 }));
        assert_eq!(idx.find("b.d[0].e"), Some(Pos { line: 5, col: 7 }));
        // unknown leaf falls back to the nearest ancestor
        assert_eq!(idx.find("b.c.zz"), Some(Pos { line: 3, col: 3 }));
    }
}
