//! The daemon's modules import one way: no module uses a module that uses
//! it back, directly or around a circle. Run: `cargo test -p trunklined
//! --test layers -- --nocapture` (it prints the module graph).
//!
//! It reads every `crate::` and `super::` path in `src/` (imports and
//! inline paths alike); `mod` declarations are not uses, and unit-test
//! files (`tests.rs`, `*_tests.rs`) are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `frontend/sip.rs` -> `frontend::sip`; `frontend/mod.rs` -> `frontend`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "main") {
        parts.pop();
    }
    parts.join("::")
}

/// The module paths a file refers to through `crate::`, `super::`, or the
/// name of a child module it declares (`mod via;` ... `via::stamp`).
fn references(module: &str, text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    // A unit-test module at the end of the file is not the module's code.
    let text = text
        .split("#[cfg(test)]\nmod tests {")
        .next()
        .unwrap_or(text);
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let children: Vec<String> = code
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            let l = l.strip_prefix("pub(crate) ").unwrap_or(l);
            l.strip_prefix("mod ")?.strip_suffix(';').map(str::to_owned)
        })
        .collect();
    for child in &children {
        let pat = format!("{child}::");
        for (i, _) in code.match_indices(&pat) {
            let before = code[..i].chars().last();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let path = if module.is_empty() {
                child.clone()
            } else {
                format!("{module}::{child}")
            };
            out.insert(path);
        }
    }
    let words = |s: &str| -> Vec<String> {
        s.split("::")
            .map(|w| {
                w.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|w| !w.is_empty())
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        let before = code[..i].chars().last();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        out.insert(words(&code[i + 7..]).join("::"));
    }
    let parent: Vec<&str> = module.split("::").filter(|p| !p.is_empty()).collect();
    for (i, _) in code.match_indices("super::") {
        let before = code[..i].chars().last();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let mut base = parent.clone();
        base.pop();
        let rest = words(&code[i + 7..]);
        out.insert(
            base.into_iter()
                .map(String::from)
                .chain(rest)
                .collect::<Vec<_>>()
                .join("::"),
        );
    }
    out
}

/// Strongly connected components of more than one module (Tarjan).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        for w in t.g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let l = t.low[w].min(t.low[v]);
                t.low.insert(v, l);
            } else if t.on.contains(w) {
                let l = t.index[w].min(t.low[v]);
                t.low.insert(v, l);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g: graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn modules_import_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let is_test = |p: &Path| {
        let name = p.file_stem().unwrap().to_string_lossy();
        name == "tests" || name.ends_with("_tests")
    };
    let mut modules: BTreeMap<String, String> = BTreeMap::new();
    for f in all.iter().filter(|f| !is_test(f)) {
        modules.insert(module_of(&src, f), std::fs::read_to_string(f).unwrap());
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, text) in &modules {
        let mut uses = BTreeSet::new();
        for r in references(m, text) {
            // The longest module the path names.
            let mut parts: Vec<&str> = r.split("::").collect();
            while !parts.is_empty() && !names.contains(&parts.join("::")) {
                parts.pop();
            }
            let target = parts.join("::");
            // A module's own items, and the crate root (main.rs), are no edges.
            if !target.is_empty() && &target != m {
                uses.insert(target);
            }
        }
        graph.insert(m.clone(), uses);
    }
    for (m, uses) in &graph {
        println!(
            "{m:24} -> {}",
            uses.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let found = circles(&graph);
    assert!(
        found.is_empty(),
        "modules that import each other around a circle: {found:#?}"
    );
}
