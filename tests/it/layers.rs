//! The crate map in src/lib.rs holds: no module imports one above it. Every `crate::NAME`
//! path in src/ is checked against the layer list below (the same order as the crate map).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Top to bottom; modules on one line may import each other.
const LAYERS: &[&[&str]] = &[
    &["app"],
    &["dist", "k8s", "demo"],
    &["cli"],
    &["live"],
    &["report"],
    &["health"],
    &["run"],
    &["replay"],
    &["plan", "metrics"],
    &["flow", "serve", "outbound", "sync"],
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ readable") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a file names with `crate::NAME` (also inside `use crate::{a, b}`).
fn imported(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                out.insert(ident(item.trim()));
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty());
    out
}

#[test]
fn no_module_imports_one_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    let mut unknown = BTreeSet::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(own) = layer(&module) else {
            unknown.insert(module);
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for dep in imported(&text) {
            match layer(&dep) {
                Some(l) if l < own => wrong.push(format!("{} imports crate::{dep}", rel.display())),
                Some(_) => {}
                None => {
                    unknown.insert(dep);
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "modules missing from the layer list: {unknown:?}"
    );
    assert!(wrong.is_empty(), "imports upward:\n{}", wrong.join("\n"));
}

#[test]
fn the_check_sees_grouped_and_plain_paths() {
    let found = imported("use crate::{run::X, metrics};\nlet a = crate::report::esc(x);");
    assert_eq!(
        found,
        ["metrics", "report", "run"]
            .map(String::from)
            .into_iter()
            .collect()
    );
}
