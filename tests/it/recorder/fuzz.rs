//! Property tests of both importers (HAR 1.2 and Chrome DevTools Recorder JSON): whatever the
//! file holds (bytes mutated, or any JSON node replaced by a value of another type), import
//! ends with a flow (which the loader accepts or rejects in one located line, as `throng
//! import` checks it) or one error line naming the file, never a panic.

use proptest::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// The seeds: a HAR of the demo shop, two Recorder exports and a throng flow (which has
/// `steps`, so it goes through the Recorder importer too).
fn seeds() -> Vec<(PathBuf, String)> {
    [
        "import/shop.har",
        "flows/recorder_export.json",
        "flows/recorder_throttled.json",
        "flows/throng_full.json",
    ]
    .iter()
    .map(|n| {
        let path = Path::new(FIXTURES).join(n);
        let text = std::fs::read_to_string(&path).unwrap();
        (path, text)
    })
    .collect()
}

/// The importer's contract on `text` (named `path` in errors).
fn assert_contract(text: &str, path: &Path) -> Result<(), TestCaseError> {
    match throng_recorder::import_str(text, path) {
        Ok(flow) => {
            // `throng import` loads what it wrote: a flow, or one located line (a step the
            // file itself got wrong, such as an empty selector list, is reported there).
            let json = serde_json::to_string_pretty(&flow).unwrap();
            if let Err(e) = throng::flow::parse(&json, "imported.json") {
                let line = e.to_string();
                prop_assert!(!line.contains(['\n', '\r']), "multi-line error: {line:?}");
                prop_assert!(line.starts_with("imported.json:"), "{line}");
            }
            Ok(())
        }
        Err(e) => {
            let line = e.to_string();
            prop_assert!(!line.contains(['\n', '\r']), "multi-line error: {line:?}");
            prop_assert!(line.starts_with(&path.display().to_string()), "{line}");
            Ok(())
        }
    }
}

/// Values of every JSON type, including edge cases the importers might take for granted.
fn odd_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        Just(serde_json::json!(1e308)),
        Just(serde_json::json!(-0.5)),
        ".{0,12}".prop_map(Value::String),
        Just(Value::String("http://[::1".into())),
        Just(Value::String("9999-99-99T99:99:99Z".into())),
        Just(serde_json::json!([])),
        Just(serde_json::json!({})),
        Just(serde_json::json!([null, 1, "x"])),
    ]
}

/// Replaces the `index`-th node (depth-first) of `v` with `with`.
fn replace_node(v: &mut Value, index: &mut usize, with: &Value) -> bool {
    if *index == 0 {
        *v = with.clone();
        return true;
    }
    *index -= 1;
    match v {
        Value::Array(items) => items.iter_mut().any(|c| replace_node(c, index, with)),
        Value::Object(map) => map.values_mut().any(|c| replace_node(c, index, with)),
        _ => false,
    }
}

fn count_nodes(v: &Value) -> usize {
    1 + match v {
        Value::Array(items) => items.iter().map(count_nodes).sum(),
        Value::Object(map) => map.values().map(count_nodes).sum(),
        _ => 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn any_json_node_of_another_type_imports_or_fails_in_one_line(
        seed in 0..4usize,
        edits in prop::collection::vec((any::<prop::sample::Index>(), odd_value()), 1..4),
    ) {
        let (path, text) = &seeds()[seed];
        let mut v: Value = serde_json::from_str(text).unwrap();
        for (at, with) in &edits {
            let mut index = at.index(count_nodes(&v));
            replace_node(&mut v, &mut index, with);
        }
        assert_contract(&v.to_string(), path)?;
    }

    #[test]
    fn mutated_bytes_import_or_fail_in_one_line(
        seed in 0..4usize,
        cuts in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let (path, text) = &seeds()[seed];
        let mut bytes = text.as_bytes().to_vec();
        for (at, b) in &cuts {
            let i = at.index(bytes.len());
            bytes[i] = *b;
        }
        let text = String::from_utf8_lossy(&bytes);
        assert_contract(&text, path)?;
    }
}

#[test]
fn the_seeds_import() {
    for (path, text) in seeds() {
        throng_recorder::import_str(&text, &path).unwrap_or_else(|e| panic!("{e}"));
    }
}
