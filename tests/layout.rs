//! The shape of `src/`: no part imports another in a cycle. A part is a top-level
//! module (a file or a folder under `src/`); an edge is any `crate::PART` written in
//! its code (comments aside).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn rs_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The parts each part names through `crate::`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let part = first.trim_end_matches(".rs").to_string();
        if part == "main" || part == "lib" {
            continue;
        }
        let code: String = std::fs::read_to_string(&f)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let deps = g.entry(part.clone()).or_default();
        let mut rest = code.as_str();
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let names: Vec<String> = if let Some(group) = rest.strip_prefix('{') {
                // `crate::{a, b::c, d}`: the first name of each top-level item
                let mut depth = 0;
                let mut item = String::new();
                let mut items = Vec::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => items.push(std::mem::take(&mut item)),
                        c => item.push(c),
                    }
                }
                items.push(item);
                items
                    .iter()
                    .map(|s| {
                        s.trim()
                            .split(|c: char| !c.is_alphanumeric() && c != '_')
                            .next()
                            .unwrap_or("")
                            .to_string()
                    })
                    .collect()
            } else {
                vec![rest
                    .split(|c: char| !c.is_alphanumeric() && c != '_')
                    .next()
                    .unwrap_or("")
                    .to_string()]
            };
            for n in names {
                if !n.is_empty() && n != part && n != "self" {
                    deps.insert(n);
                }
            }
        }
    }
    g
}

fn find_cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    // 0 unseen, 1 on the stack, 2 done
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for d in g.get(n).into_iter().flatten() {
            match state.get(d.as_str()).copied().unwrap_or(0) {
                1 => {
                    let i = stack.iter().position(|s| s == d).unwrap();
                    let mut c = stack[i..].to_vec();
                    c.push(d.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(d, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if state.get(n).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(n, g, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn no_part_of_src_imports_another_in_a_cycle() {
    let g = graph();
    assert!(g.len() >= 10, "found the parts: {g:?}");
    if let Some(c) = find_cycle(&g) {
        panic!("import cycle: {}\nthe whole graph: {g:#?}", c.join(" → "));
    }
}

#[test]
fn the_leaf_parts_import_nothing_of_the_crate() {
    let g = graph();
    for leaf in ["routes", "signals"] {
        assert!(g[leaf].is_empty(), "{leaf} imports {:?}", g[leaf]);
    }
    // the config is the outside world's: it must not depend on the runtime parts
    for runtime in [
        "decide", "intel", "limits", "record", "state", "http", "admin",
    ] {
        assert!(!g["config"].contains(runtime), "config imports {runtime}");
    }
}

#[test]
fn the_decision_is_pure_and_the_glue_is_on_the_outside() {
    let g = graph();
    // decide does no I/O: it knows no socket, no snapshot, no log
    for outer in ["http", "admin", "server", "record", "state", "demo"] {
        assert!(!g["decide"].contains(outer), "decide imports {outer}");
    }
    // nothing below the HTTP glue reaches up into it
    for inner in ["config", "decide", "intel", "limits", "record", "state"] {
        assert!(!g[inner].contains("http"), "{inner} imports http");
        assert!(!g[inner].contains("server"), "{inner} imports server");
    }
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
    g.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(find_cycle(&g).unwrap(), vec!["a", "b", "c", "a"]);
    g.insert("c".to_string(), BTreeSet::new());
    assert!(find_cycle(&g).is_none());
}
