//! Flow files: Recorder exports load unchanged, every flow matches flows/schema.json, broken
//! files give exact one-line errors, and no input makes the loader panic.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use throng::flow::{self, Action, FlowError, RequestKind};

mod fuzz;
mod inline;

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

/// The binary (`throng run`/`validate`) and the recorder (`throng import`) read flows through the
/// one flow crate: the same file gives the same typed flow, apart from what import completes
/// (the format tag, the origin) and passwords typed in clear (which become secret variables).
#[test]
fn every_valid_flow_is_the_same_typed_flow_through_the_binary_and_the_recorder() {
    for path in valid_flows() {
        let mut by_binary = flow::load(&path).unwrap_or_else(|e| panic!("{e}")).flow;
        let by_recorder = throng_recorder::import_file(&path).unwrap_or_else(|e| panic!("{e}"));
        by_binary
            .format
            .get_or_insert_with(|| flow::FORMAT_V1.to_string());
        if by_binary.origin.is_none() {
            by_binary.origin = flow::origin(&by_binary).map(|o| o.origin().ascii_serialization());
        }
        if by_recorder.variables.len() > by_binary.variables.len() {
            // Only a Recorder export with a password typed in clear may differ, and then only
            // by the secret variable and the scrubbed value.
            let added = &by_recorder.variables[by_binary.variables.len()..];
            assert!(
                added.iter().all(|v| v.secret.is_some()),
                "{}: {added:?}",
                path.display()
            );
            continue;
        }
        assert_eq!(by_recorder, by_binary, "{}", path.display());
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
    assert_eq!(f.variables.len(), 9);
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
    assert_eq!(net.polling[0].status, Some(200));
    let made = f.variables[7].generate.as_ref().unwrap();
    assert_eq!(made.like, "k3x9q0zt1m");
    let encoded = f.variables[8].encode.as_ref().unwrap();
    assert_eq!(encoded.encoding, flow::Encoding::Base64url);
    assert_eq!(f.steps[1].checks[0].status, Some(200));
    assert_eq!(f.steps[2].think_time_ms, Some(2400));
    assert_eq!(
        loaded.summary().to_string(),
        "tests/fixtures/flows/throng_full.json: \"Log in and search\" 8 steps, \
         9 requests (3 document, 3 static, 2 ajax, 1 beacon), 1 poller, 9 variables"
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
        "tests/fixtures/flows/invalid/two_sources.json:4:5: variable `q`: needs exactly one source: `extract`, `oneOf`, `csv`, `value`, `secret`, `generate` or `encode` (found `oneOf` and `value`)",
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
        "csv_outside_flow_dir.json",
        "tests/fixtures/flows/invalid/csv_outside_flow_dir.json:4:30: variable `user`: `csv.file` `../throng_full.json` is outside the flow's directory: move it beside the flow, or allow its directory with --allow-data DIR",
        false,
    ),
    (
        "missing_csv_column.json",
        "tests/fixtures/flows/invalid/missing_csv_column.json:4:59: variable `user`: `csv.column` `username` is not a column of `../data/users.csv` (columns: email, password)",
        false,
    ),
    (
        "stream_after_an_hour.json",
        "tests/fixtures/flows/invalid/stream_after_an_hour.json:5:58: step 1 (navigate): `network.streams[0].afterMs` is 4000000 ms, more than an hour (offsets are in milliseconds)",
        true,
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
        // The shared data files sit beside `invalid/`: allowed as `--allow-data` would.
        let err = flow::load_with(&path, &[fixture("data")]).expect_err(name);
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
