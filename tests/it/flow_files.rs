//! Flow files: Recorder exports load unchanged, every flow matches flows/schema.json, broken
//! files give exact one-line errors, and no input makes the loader panic.

use proptest::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use throng::flow::{self, Action, FlowError, RequestKind};

const FIXTURES: &str = "tests/fixtures/flows";

fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// flows/schema.json, checked against the 2020-12 meta-schema and compiled once.
fn schema() -> &'static jsonschema::Validator {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let schema = read_json(Path::new("flows/schema.json"));
        assert!(
            jsonschema::meta::is_valid(&schema),
            "flows/schema.json is not a valid JSON Schema"
        );
        jsonschema::validator_for(&schema).expect("flows/schema.json compiles")
    })
}

fn schema_errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Every example flow in flows/ (the schema itself excluded) plus the valid fixtures.
fn valid_flows() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["flows", FIXTURES] {
        for entry in std::fs::read_dir(dir).expect("flow directory") {
            let path = entry.expect("dir entry").path();
            let is_json = path.extension().is_some_and(|e| e == "json");
            if is_json && path.file_name().is_some_and(|n| n != "schema.json") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

const RECORDER_EXPORTS: &[&str] = &["recorder_export.json", "recorder_throttled.json"];

#[test]
fn every_valid_flow_loads_and_matches_the_schema() {
    let validator = schema();
    let flows = valid_flows();
    assert!(flows.len() >= 3, "fixtures missing: {flows:?}");
    for path in &flows {
        let loaded = flow::load(path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!loaded.flow.steps.is_empty());
        let errors = schema_errors(validator, &read_json(path));
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
        // What throng writes back must still be a valid flow, for the schema and the loader.
        let written = serde_json::to_string_pretty(&loaded.flow).expect("serialize");
        let errors = schema_errors(validator, &serde_json::from_str(&written).unwrap());
        assert!(
            errors.is_empty(),
            "{} re-serialized: {errors:#?}",
            path.display()
        );
        let again = flow::parse(&written, "rewritten.json").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, loaded.flow, "{} does not round-trip", path.display());
    }
}

/// `a` ⊆ `b`, treating numbers by value and a bare selector string as a one-part chain.
fn assert_kept(a: &Value, b: &Value, at: &str) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let w = b.get(k).unwrap_or_else(|| panic!("{at}.{k} dropped"));
                assert_kept(v, w, &format!("{at}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{at}: length changed");
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                assert_kept(v, w, &format!("{at}[{i}]"));
            }
        }
        (Value::Number(a), Value::Number(b)) => assert_eq!(a.as_f64(), b.as_f64(), "{at}"),
        (Value::String(s), Value::Array(chain)) if at.contains("selectors") => {
            assert_eq!(chain, &vec![Value::String(s.clone())], "{at}")
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}

#[test]
fn recorder_exports_load_unchanged() {
    for name in RECORDER_EXPORTS {
        let path = fixture(name);
        let loaded = flow::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let original = read_json(&path);
        // Every Recorder field survives loading: the flow could be exported back to Chrome.
        let written = serde_json::to_value(&loaded.flow).unwrap();
        assert_kept(&original, &written, name);
        assert_eq!(
            loaded.origin.as_ref().map(url::Url::as_str),
            Some("http://127.0.0.1:8080/")
        );
    }
    let f = flow::load(&fixture("recorder_export.json")).unwrap().flow;
    assert_eq!(f.title, "Search and add to cart");
    assert_eq!(f.selector_attribute.as_deref(), Some("data-testid"));
    assert_eq!(f.timeout, Some(7000));
    let Action::Click(click) = &f.steps[2].action else {
        panic!("step 3 is a click: {:?}", f.steps[2].action)
    };
    let prefixes: Vec<&str> = click.selectors.0.iter().map(|c| c[0].as_str()).collect();
    assert_eq!(
        prefixes,
        [
            "[data-testid='search']",
            "aria/Search products",
            "#q",
            "xpath///*[@id=\"q\"]",
            "pierce/#q"
        ]
    );
    assert_eq!((click.offset_x, click.offset_y), (84.0, 17.5));
    assert_eq!(f.steps[2].target.as_deref(), Some("main"));
    assert_eq!(f.steps[5].asserted_events[0].kind, "navigation");
    assert!(matches!(&f.steps[4].action, Action::KeyDown { key } if key == "Enter"));
    assert!(matches!(f.steps[6].action, Action::Scroll { y: Some(y), .. } if y == 642.0));
    let Action::WaitForElement {
        selectors,
        operator,
        count,
        ..
    } = &f.steps[12].action
    else {
        panic!("step 13 waits for an element")
    };
    assert_eq!(selectors.0, vec![vec!["#cart-count".to_string()]]);
    assert_eq!((operator.as_deref(), *count), (Some(">="), Some(1)));

    let t = flow::load(&fixture("recorder_throttled.json"))
        .unwrap()
        .flow;
    assert!(matches!(
        t.steps[0].action,
        Action::EmulateNetworkConditions { latency, .. } if latency == 2000.0
    ));
    let Action::Click(shadow) = &t.steps[7].action else {
        panic!("step 8 is a click")
    };
    assert_eq!(
        shadow.selectors.0[0],
        ["my-app", "login-form", "button[type='submit']"]
    );
}

#[test]
fn throng_fields_load_with_their_values() {
    let loaded = flow::load(&fixture("throng_full.json")).unwrap_or_else(|e| panic!("{e}"));
    let f = &loaded.flow;
    assert_eq!(f.format.as_deref(), Some(flow::FORMAT_V1));
    assert_eq!(f.dwell_ms, Some(10_000));
    assert_eq!(f.variables.len(), 7);
    let csrf = f.variables[0].extract.as_ref().unwrap();
    assert_eq!(
        (csrf.from.as_str(), csrf.attr.as_deref()),
        ("login_page", Some("value"))
    );
    let csv = f.variables[3].csv.as_ref().unwrap();
    assert_eq!(loaded.resolve(&csv.file), fixture("data/users.csv"));
    assert_eq!(f.variables[3].order, flow::ValueOrder::Unique);
    let net = f.steps[1].network.as_ref().unwrap();
    assert_eq!(net.requests[0].kind, RequestKind::Document);
    assert_eq!(net.requests[1].method, "GET", "method defaults to GET");
    assert!(net.requests[3].external);
    assert_eq!(net.polling[0].period_ms, 2000);
    assert_eq!(f.steps[1].checks[0].status, Some(200));
    assert_eq!(f.steps[2].think_time_ms, Some(2400));
    assert_eq!(
        loaded.summary().to_string(),
        "tests/fixtures/flows/throng_full.json: \"Log in and search\" 8 steps, \
         9 requests (3 document, 3 static, 2 ajax, 1 beacon), 1 poller, 7 variables"
    );
}

/// (fixture, exact error line, whether the schema rejects it too).
const BROKEN: &[(&str, &str, bool)] = &[
    (
        "bad_json.json",
        "tests/fixtures/flows/invalid/bad_json.json:5:5: invalid JSON: expected `,` or `]`",
        false,
    ),
    (
        "missing_selectors.json",
        "tests/fixtures/flows/invalid/missing_selectors.json:13:5: step 3 (click): `selectors` must be a non-empty list",
        true,
    ),
    (
        "empty_selectors.json",
        "tests/fixtures/flows/invalid/empty_selectors.json:16:7: step 3 (click): `selectors` must be a non-empty list",
        true,
    ),
    (
        "unknown_step_type.json",
        "tests/fixtures/flows/invalid/unknown_step_type.json:5:6: step 2: unknown step type `tap` \
         (allowed: setViewport, navigate, click, doubleClick, change, keyDown, keyUp, scroll, hover, \
         waitForElement, waitForExpression, emulateNetworkConditions, close, customStep)",
        true,
    ),
    (
        "wrong_field_type.json",
        "tests/fixtures/flows/invalid/wrong_field_type.json:6:6: step 2 (click): `thinkTimeMs` must be a non-negative integer (got string `500`)",
        true,
    ),
    (
        "wrong_action_field_type.json",
        "tests/fixtures/flows/invalid/wrong_action_field_type.json:5:47: step 2 (click): `offsetX` must be a number (got string `10`)",
        true,
    ),
    (
        "undeclared_variable.json",
        "tests/fixtures/flows/invalid/undeclared_variable.json:9:26: step 3 (navigate): `url` uses undeclared variable `${page}` (declared: q)",
        false,
    ),
    (
        "bad_url.json",
        "tests/fixtures/flows/invalid/bad_url.json:4:26: step 1 (navigate): `url` `http://exa mple.com/` is not a valid URL: invalid international domain name",
        false,
    ),
    (
        "relative_url_without_origin.json",
        "tests/fixtures/flows/invalid/relative_url_without_origin.json:4:26: step 1 (navigate): `url` `/search?q=lamp` is relative but the flow has no origin (add `origin` or navigate to an absolute URL first)",
        false,
    ),
    (
        "zero_period.json",
        "tests/fixtures/flows/invalid/zero_period.json:6:59: step 1 (navigate): `network.polling[0].periodMs` must be > 0",
        true,
    ),
    (
        "unknown_request_kind.json",
        "tests/fixtures/flows/invalid/unknown_request_kind.json:7:9: step 1 (navigate): `network.requests[1].kind` has unknown value `websocket` (allowed: document, static, ajax, polling, beacon)",
        true,
    ),
    (
        "two_sources.json",
        "tests/fixtures/flows/invalid/two_sources.json:4:5: variable `q`: needs exactly one source: `extract`, `oneOf`, `csv`, `value` or `secret` (found `oneOf` and `value`)",
        true,
    ),
    (
        "extract_unknown_request.json",
        "tests/fixtures/flows/invalid/extract_unknown_request.json:4:34: variable `csrf`: `extract.from` refers to unknown request `r9` (request ids: r1)",
        false,
    ),
    (
        "used_before_extracted.json",
        "tests/fixtures/flows/invalid/used_before_extracted.json:11:85: step 2 (click): `network.requests[0].body` uses `${csrf}` before it is extracted (from request `r2` in step 2)",
        false,
    ),
    (
        "missing_title.json",
        "tests/fixtures/flows/invalid/missing_title.json:1:1: missing required field `title`",
        true,
    ),
    (
        "not_an_object.json",
        "tests/fixtures/flows/invalid/not_an_object.json:1:1: a flow must be a JSON object (got a list)",
        true,
    ),
    (
        "empty_check.json",
        "tests/fixtures/flows/invalid/empty_check.json:4:87: step 1 (navigate): `checks[1]` has no condition (give `status`, `bodyContains` or `bodyNotContains`)",
        true,
    ),
    (
        "missing_csv_file.json",
        "tests/fixtures/flows/invalid/missing_csv_file.json:4:31: variable `email`: `csv.file` `../data/nope.csv`: cannot read: No such file or directory",
        false,
    ),
    (
        "missing_csv_column.json",
        "tests/fixtures/flows/invalid/missing_csv_column.json:4:59: variable `user`: `csv.column` `username` is not a column of `../data/users.csv` (columns: email, password)",
        false,
    ),
];

#[test]
fn broken_fixtures_give_exact_one_line_errors() {
    let validator = schema();
    let dir = fixture("invalid");
    let mut covered: Vec<String> = BROKEN.iter().map(|(n, _, _)| n.to_string()).collect();
    covered.sort();
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    assert_eq!(
        present, covered,
        "every invalid fixture has an expected error"
    );
    for (name, expected, structural) in BROKEN {
        let path = dir.join(name);
        let err = flow::load(&path).expect_err(name);
        assert_eq!(err.to_string(), *expected);
        assert!(matches!(
            err,
            FlowError::Syntax { .. } | FlowError::Invalid { .. }
        ));
        if *structural {
            let errors = schema_errors(validator, &read_json(&path));
            assert!(!errors.is_empty(), "{name}: the schema accepts it");
        }
    }
}

#[test]
fn a_missing_file_names_the_file_and_the_reason() {
    let err = flow::load(Path::new("flows/x.json")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "flows/x.json: cannot read: No such file or directory"
    );
    assert!(matches!(err, FlowError::Read { .. }));
    assert_eq!(err.position(), None);
}

#[test]
fn invalid_utf8_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.json");
    std::fs::write(&path, b"{\n  \"title\": \"caf\xe9\",\n  \"steps\": []\n}").unwrap();
    let err = flow::load(&path).unwrap_err();
    assert_eq!(err.message(), "invalid UTF-8");
    assert_eq!(err.position(), Some((2, 16)));
}

/// Inline cases: (source, exact message after `x.json:line:col: `, line, column, structural).
const INLINE: &[(&str, &str, usize, usize, bool)] = &[
    (r#"{"title": "t", "steps": {}}"#, "`steps` must be a list (got an object)", 1, 16, true),
    (r#"{"title": "t", "steps": []}"#, "`steps` must list at least one step", 1, 16, true),
    (r#"{"title": "t", "steps": [7]}"#, "step 1: a step must be an object (got number `7`)", 1, 26, true),
    (
        r#"{"title": "t", "steps": [{"url": "http://h/"}]}"#,
        "step 1: missing required field `type` (allowed: setViewport, navigate, click, doubleClick, change, keyDown, keyUp, scroll, hover, waitForElement, waitForExpression, emulateNetworkConditions, close, customStep)",
        1, 26, true,
    ),
    (
        r#"{"title": "t", "steps": [{"type": "navigate"}]}"#,
        "step 1 (navigate): missing required field `url`",
        1, 26, true,
    ),
    (
        r#"{"title": "t", "steps": [{"type": "hover", "selectors": [["a.x", 5]]}]}"#,
        "step 1 (hover): `selectors[0][1]` must be a selector string (got number `5`)",
        1, 66, true,
    ),
    (
        r#"{"title": "t", "steps": [{"type": "hover", "selectors": ["  "]}]}"#,
        "step 1 (hover): `selectors[0]` is an empty selector",
        1, 58, true,
    ),
    (
        r#"{"title": "t", "steps": [{"type": "click", "selectors": ["a"], "button": "left"}]}"#,
        "step 1 (click): `button` has unknown value `left` (allowed: primary, auxiliary, secondary, back, forward)",
        1, 64, true,
    ),
    (
        r#"{"title": "t", "steps": [{"type": "navigate", "url": "http://h/", "thinkTimeMs": 7200000}]}"#,
        "step 1 (navigate): `thinkTimeMs` is 7200000 ms, more than an hour (think times are in milliseconds)",
        1, 67, true,
    ),
    (
        r#"{"title": "t", "steps": [{"type": "navigate", "url": "http://h/", "thinkTimeMs": -5}]}"#,
        "step 1 (navigate): `thinkTimeMs` must be a non-negative integer (got integer `-5`)",
        1, 67, true,
    ),
    (
        r#"{"title": "t", "origin": "http://h/app", "steps": [{"type": "navigate", "url": "/"}]}"#,
        "`origin` must be scheme://host[:port], like http://127.0.0.1:8080 (got `http://h/app`)",
        1, 16, true,
    ),
    (
        r#"{"format": "throng-flow/2", "title": "t", "steps": [{"type": "close"}]}"#,
        "`format` is `throng-flow/2`; this throng reads `throng-flow/1`",
        1, 2, true,
    ),
    (
        r#"{"title": "t", "variables": [{"name": "my-var", "value": "x"}], "steps": [{"type": "close"}]}"#,
        "variable `my-var`: `name` must be an identifier (letters, digits and _, not starting with a digit)",
        1, 31, true,
    ),
    (
        r#"{"title": "t", "variables": [{"name": "a", "value": "x"}, {"name": "a", "oneOf": ["y"]}], "steps": [{"type": "close"}]}"#,
        "variable `a`: declared twice (first as variable 1)",
        1, 60, false,
    ),
    (
        r#"{"title": "t", "variables": [{"name": "a"}], "steps": [{"type": "close"}]}"#,
        "variable `a`: needs exactly one source: `extract`, `oneOf`, `csv`, `value` or `secret` (found none)",
        1, 30, true,
    ),
    (
        r#"{"title": "t", "variables": [{"name": "a", "extract": {"from": "r1", "regex": "(x"}}],
           "steps": [{"type": "navigate", "url": "http://h/", "network": {"requests": [{"id": "r1", "kind": "document", "url": "http://h/"}]}}]}"#,
        "variable `a`: `extract.regex` `(x` is not a valid regex: unclosed group",
        1, 70, false,
    ),
    (
        r#"{"title": "t", "variables": [{"name": "a", "extract": {"from": "r1", "css": "div[", "attr": "x"}}],
           "steps": [{"type": "navigate", "url": "http://h/", "network": {"requests": [{"id": "r1", "kind": "document", "url": "http://h/"}]}}]}"#,
        "variable `a`: `extract.css` `div[` is not a valid CSS selector: Unexpected EOL",
        1, 70, false,
    ),
    (
        r#"{"title": "t", "steps": [{"type": "navigate", "url": "http://h/", "network": {"requests": [
             {"id": "r1", "kind": "document", "url": "http://h/"}, {"id": "r1", "kind": "ajax", "url": "/api"}]}}]}"#,
        "step 1 (navigate): `network.requests[1].id` `r1` is already used in step 1",
        2, 69, false,
    ),
    (
        r#"{"title": "t", "steps": [{"type": "navigate", "url": "http://h/", "network": {"requests": [
             {"kind": "document", "url": "http://h/", "status": 42}]}}]}"#,
        "step 1 (navigate): `network.requests[0].status` must be an HTTP status 100-599 (got 42)",
        2, 55, true,
    ),
    (
        r#"{"title": "t", "steps": [{"type": "navigate", "url": "http://h/", "network": {"requests": [
             {"kind": "ajax", "url": "ftp://h/file"}]}}]}"#,
        "step 1 (navigate): `network.requests[0].url` must be an http or https URL (got `ftp://h/file`)",
        2, 31, false,
    ),
    (
        r#"{"title": "t", "steps": [{"type": "navigate", "url": "http://h/", "network": {"requests": [
             {"kind": "ajax", "method": "G ET", "url": "/x"}]}}]}"#,
        "step 1 (navigate): `network.requests[0].method` `G ET` is not an HTTP method",
        2, 31, true,
    ),
    (
        r#"{"title": "t", "steps": [{"type": "navigate", "url": "http://h/", "network": {"requests": [
             {"kind": "ajax", "url": "/x", "headers": {"X-Token": "${tok}"}}]}}]}"#,
        "step 1 (navigate): `network.requests[0].headers.X-Token` uses undeclared variable `${tok}` (no variables are declared)",
        2, 56, false,
    ),
    (
        r#"{"title": "t", "steps": [{"type": "setViewport", "width": 0, "height": 600}]}"#,
        "step 1 (setViewport): `width` must be > 0",
        1, 50, true,
    ),
    (
        r#"{"title": "t", "steps": [{"type": "waitForElement", "selectors": ["a"], "operator": "!="}]}"#,
        "step 1 (waitForElement): `operator` has unknown value `!=` (allowed: >=, ==, <=)",
        1, 73, true,
    ),
    (
        r#"{"title": "t", "steps": [{"type": "navigate", "url": "http://h/", "checks": [{"status": "200"}]}]}"#,
        "step 1 (navigate): `checks[0].status` must be a non-negative integer (at most 65535) (got string `200`)",
        1, 79, true,
    ),
    (
        "{\"title\": \"t\",\n \"steps\": [{\"type\": \"tap\\nx\"}]}",
        "step 1: unknown step type `tap\\nx` (allowed: setViewport, navigate, click, doubleClick, change, keyDown, keyUp, scroll, hover, waitForElement, waitForExpression, emulateNetworkConditions, close, customStep)",
        2, 13, true,
    ),
    ("", "invalid JSON: EOF while parsing a value", 1, 1, false),
    ("{\"title\": \"t\", \"steps\": []} x", "invalid JSON: trailing characters", 1, 29, false),
];

#[test]
fn inline_errors_are_exact_and_located() {
    let validator = schema();
    for (src, message, line, column, structural) in INLINE {
        let err = flow::parse(src, "x.json").expect_err(src);
        assert_eq!(err.message(), *message, "for {src}");
        assert_eq!(err.position(), Some((*line, *column)), "position for {src}");
        assert_eq!(
            err.to_string(),
            format!("x.json:{line}:{column}: {message}")
        );
        if *structural {
            let doc: Value = serde_json::from_str(src).unwrap();
            assert!(
                !schema_errors(validator, &doc).is_empty(),
                "schema accepts {src}"
            );
        }
    }
}

#[test]
fn relative_urls_resolve_against_an_explicit_origin() {
    let src = r#"{"title": "t", "origin": "http://127.0.0.1:9000",
      "steps": [{"type": "navigate", "url": "/search?q=${q}"}],
      "variables": [{"name": "q", "value": "lamp"}]}"#;
    let f = flow::parse(src, "x.json").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(flow::origin(&f).unwrap().as_str(), "http://127.0.0.1:9000/");
    assert_eq!(flow::variables_used("/search?q=${q}"), ["q"]);
}

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
