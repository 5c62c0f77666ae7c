//! Inline flow snippets: exact error messages and positions for each kind of mistake.

use super::{schema, schema_errors};
use serde_json::Value;
use throng::flow;

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
        "variable `a`: needs exactly one source: `extract`, `oneOf`, `csv`, `value`, `secret`, `generate` or `encode` (found none)",
        1, 30, true,
    ),
    (
        r#"{"title": "t", "variables": [{"name": "h", "generate": {"like": ""}}], "steps": [{"type": "close"}]}"#,
        "variable `h`: `generate.like` must be 1 to 512 characters (the value the recording saw)",
        1, 57, true,
    ),
    (
        r#"{"title": "t", "variables": [{"name": "b", "encode": {"value": "${t}", "as": "base64"}}, {"name": "t", "extract": {"from": "r1", "header": "x-t"}}], "steps": [{"type": "navigate", "url": "http://h/", "network": {"requests": [{"id": "r1", "kind": "document", "url": "http://h/"}]}}]}"#,
        "variable `b`: `encode.value` uses `${t}`, which has no value when a session starts (only data, secret and generated variables can be encoded)",
        1, 55, false,
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
    (
        r#"{"title": "t", "steps": [{"type": "navigate", "url": "http://h/", "network": null}]}"#,
        "step 1 (navigate): `network` must not be null (leave the field out instead)",
        1, 67, true,
    ),
    (
        r#"{"title": "t", "steps": [{"type": "navigate", "url": "http://h/", "network": {"polling": [{"url": "/p", "periodMs": 500, "status": null}]}}]}"#,
        "step 1 (navigate): `network.polling[0].status` must not be null (leave the field out instead)",
        1, 122, true,
    ),
    (
        r#"{"title": "t", "steps": [{"type": "navigate", "url": "http://h/", "checks": [[200]]}]}"#,
        "step 1 (navigate): `checks[0]` must be an object (got a list)",
        1, 78, true,
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

#[test]
fn unknown_fields_may_hold_anything_even_null() {
    let src = r#"{"title": "t", "x-tool": {"url": null},
      "steps": [{"type": "close", "x-extension": null},
                {"type": "customStep", "name": "n", "parameters": null}]}"#;
    let f = flow::parse(src, "x.json").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(f.steps.len(), 2);
    let doc: Value = serde_json::from_str(src).unwrap();
    assert!(schema_errors(schema(), &doc).is_empty());
}
