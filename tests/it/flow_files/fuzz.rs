//! Property tests: the loader never panics and always answers Ok or one located line, and
//! whatever it accepts the schema accepts too.

use super::{fixture, schema, schema_errors};
use proptest::prelude::*;
use serde_json::Value;
use throng::flow;

/// The valid fixtures, as raw text, for mutation.
fn seeds() -> Vec<String> {
    [
        "throng_full.json",
        "recorder_export.json",
        "recorder_throttled.json",
    ]
    .iter()
    .map(|n| std::fs::read_to_string(fixture(n)).unwrap())
    .collect()
}

/// The loader's contract on any input: Ok, or one line `x.json:L:C: message` inside the text.
fn assert_contract(src: &str) -> Result<(), TestCaseError> {
    match flow::parse(src, "x.json") {
        Ok(_) => Ok(()),
        Err(e) => {
            let line = e.to_string();
            prop_assert!(!line.contains(['\n', '\r']), "multi-line error: {line:?}");
            let (l, c) = e.position().expect("parse errors have a position");
            prop_assert!(line.starts_with(&format!("x.json:{l}:{c}: ")), "{line}");
            prop_assert!(l >= 1 && c >= 1, "{line}");
            prop_assert!(l <= src.split('\n').count(), "line past the end: {line}");
            prop_assert!(e.message().len() > 5, "{line}");
            Ok(())
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(prop::sample::Index),
    Flip(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Delete(prop::sample::Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        (any::<prop::sample::Index>(), 1u8..=255).prop_map(|(i, m)| Mutation::Flip(i, m)),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<prop::sample::Index>(), 1usize..40).prop_map(|(i, n)| Mutation::Delete(i, n)),
    ]
}

fn mutate(src: &str, muts: &[Mutation]) -> String {
    let mut bytes = src.as_bytes().to_vec();
    for m in muts {
        if bytes.is_empty() {
            break;
        }
        match m {
            Mutation::Truncate(i) => bytes.truncate(i.index(bytes.len())),
            Mutation::Flip(i, mask) => {
                let at = i.index(bytes.len());
                bytes[at] ^= mask;
            }
            Mutation::Insert(i, b) => {
                let at = i.index(bytes.len() + 1);
                bytes.insert(at, *b);
            }
            Mutation::Delete(i, n) => {
                let at = i.index(bytes.len());
                let end = (at + n).min(bytes.len());
                bytes.drain(at..end);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn loader_never_panics_on_arbitrary_text(src in "\\PC{0,200}") {
        assert_contract(&src)?;
    }

    #[test]
    fn loader_never_panics_on_json_shaped_noise(
        src in r#"[\[\]{}",:0-9a-z\\ \n.$-]{0,120}"#
    ) {
        assert_contract(&src)?;
    }

    #[test]
    fn loader_never_panics_on_mutated_flows(
        seed in 0usize..3,
        muts in prop::collection::vec(mutation(), 1..4),
    ) {
        let src = mutate(&seeds()[seed], &muts);
        assert_contract(&src)?;
        // What the loader accepts, the schema accepts: the two describe one format.
        if flow::parse(&src, "x.json").is_ok() {
            let doc: Value = serde_json::from_str(&src).unwrap();
            let errors = schema_errors(schema(), &doc);
            prop_assert!(errors.is_empty(), "loader accepts, schema rejects: {errors:?}\n{src}");
        }
    }
}

/// Every node of `v`, as a path of keys and indices (the root excluded).
fn node_paths(v: &Value, at: &mut Vec<PathSeg>, out: &mut Vec<Vec<PathSeg>>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                at.push(PathSeg::Key(k.clone()));
                out.push(at.clone());
                node_paths(child, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                at.push(PathSeg::Index(i));
                out.push(at.clone());
                node_paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum PathSeg {
    Key(String),
    Index(usize),
}

/// Values that are wrong (or right) in interesting ways for some field.
fn replacement() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        Value::Null,
        true.into(),
        0.into(),
        (-1).into(),
        1.into(),
        1.5.into(),
        4_294_967_296u64.into(),
        "".into(),
        " ".into(),
        "x".into(),
        "/x".into(),
        "http://h/".into(),
        "${zz}".into(),
        "${q}".into(),
        serde_json::json!([]),
        serde_json::json!([""]),
        serde_json::json!(["a"]),
        serde_json::json!({}),
    ])
}

/// Replaces (or with `None`, removes) the node at `path`.
fn edit(doc: &mut Value, path: &[PathSeg], with: Option<Value>) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut parent = doc;
    for seg in parent_path {
        parent = match seg {
            PathSeg::Key(k) => &mut parent[k.as_str()],
            PathSeg::Index(i) => &mut parent[*i],
        };
    }
    match (parent, last, with) {
        (Value::Object(m), PathSeg::Key(k), Some(v)) => {
            m.insert(k.clone(), v);
        }
        (Value::Object(m), PathSeg::Key(k), None) => {
            m.remove(k);
        }
        (Value::Array(a), PathSeg::Index(i), Some(v)) => a[*i] = v,
        (Value::Array(a), PathSeg::Index(i), None) => {
            a.remove(*i);
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Field-level damage (a value of the wrong type, a missing field) rather than syntax damage:
    /// this is where the loader and the schema could disagree.
    #[test]
    fn loader_and_schema_agree_on_damaged_fields(
        seed in 0usize..3,
        edits in prop::collection::vec(
            (any::<prop::sample::Index>(), prop::option::weighted(0.8, replacement())),
            1..3,
        ),
    ) {
        let mut doc: Value = serde_json::from_str(&seeds()[seed]).unwrap();
        for (pick, with) in edits {
            let mut paths = Vec::new();
            node_paths(&doc, &mut Vec::new(), &mut paths);
            if paths.is_empty() {
                break;
            }
            let path = paths[pick.index(paths.len())].clone();
            edit(&mut doc, &path, with);
        }
        let src = serde_json::to_string_pretty(&doc).unwrap();
        assert_contract(&src)?;
        if flow::parse(&src, "x.json").is_ok() {
            let errors = schema_errors(schema(), &doc);
            prop_assert!(errors.is_empty(), "loader accepts, schema rejects: {errors:?}\n{src}");
        }
    }
}
