//! Chrome DevTools Recorder export -> flow: every step and field is kept as it is; the format
//! tag and origin are added, and values typed into password fields become secret variables.

use crate::capture::origin_of;
use crate::correlate::unique_name;
use crate::flow::FORMAT;
use crate::secrets::env_name;
use serde_json::{json, Value};
use std::collections::HashSet;

/// The Recorder's step types.
const STEP_TYPES: &[&str] = &[
    "setViewport",
    "navigate",
    "click",
    "doubleClick",
    "change",
    "keyDown",
    "keyUp",
    "scroll",
    "hover",
    "waitForElement",
    "waitForExpression",
    "close",
    "customStep",
];

pub fn import(mut v: Value, title: &str) -> Result<Value, String> {
    let obj = v
        .as_object_mut()
        .ok_or("a Recorder export is a JSON object")?;
    match obj.get("format").and_then(Value::as_str) {
        None => {
            obj.insert("format".into(), json!(FORMAT));
        }
        Some(FORMAT) => {}
        Some(other) => {
            return Err(format!(
                "unknown flow format {other:?} (expected {FORMAT:?})"
            ))
        }
    }
    if !obj.get("title").is_some_and(Value::is_string) {
        obj.insert("title".into(), json!(title));
    }
    let steps = obj
        .get_mut("steps")
        .and_then(Value::as_array_mut)
        .ok_or("\"steps\" must be a list")?;
    let mut first_url = None;
    for (i, step) in steps.iter().enumerate() {
        let ty = step.get("type").and_then(Value::as_str).ok_or_else(|| {
            format!(
                "step {}: no \"type\" (one of {})",
                i + 1,
                STEP_TYPES.join(", ")
            )
        })?;
        if !STEP_TYPES.contains(&ty) {
            return Err(format!(
                "step {}: unknown type {ty:?} (one of {})",
                i + 1,
                STEP_TYPES.join(", ")
            ));
        }
        if ty == "navigate" && first_url.is_none() {
            first_url = step.get("url").and_then(Value::as_str).map(String::from);
        }
    }
    // The Recorder stores typed passwords in clear; a change on a password-looking field
    // becomes a secret variable.
    let mut taken: HashSet<String> = HashSet::new();
    let mut secrets: Vec<(String, String)> = Vec::new();
    for step in steps.iter_mut() {
        if step["type"] != "change" || !mentions_password(&step["selectors"]) {
            continue;
        }
        let Some(value) = step["value"].as_str().map(String::from) else {
            continue;
        };
        if value.starts_with("${") {
            continue;
        }
        let name = match secrets.iter().find(|(_, v)| *v == value) {
            Some((n, _)) => n.clone(),
            None => {
                let n = unique_name("password", &mut taken);
                secrets.push((n.clone(), value));
                n
            }
        };
        step["value"] = json!(format!("${{{name}}}"));
    }
    if obj.get("origin").is_none() {
        if let Some(o) = first_url.as_deref().and_then(origin_of) {
            obj.insert("origin".into(), json!(o));
        }
    }
    if !secrets.is_empty() {
        let vars = obj.entry("variables").or_insert_with(|| json!([]));
        let list = vars.as_array_mut().ok_or("\"variables\" must be a list")?;
        for (name, _) in &secrets {
            list.push(json!({"name": name, "secret": {"env": env_name(name)}}));
        }
    }
    Ok(v)
}

fn mentions_password(selectors: &Value) -> bool {
    let text = selectors.to_string().to_ascii_lowercase();
    text.contains("password") || text.contains("passwd")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_steps_are_kept_and_passwords_hidden() {
        let export = json!({
            "title": "login",
            "steps": [
                {"type": "setViewport", "width": 800, "height": 600, "deviceScaleFactor": 1,
                 "isMobile": false, "hasTouch": false, "isLandscape": false},
                {"type": "navigate", "url": "http://127.0.0.1:8080/login",
                 "assertedEvents": [{"type": "navigation", "url": "http://127.0.0.1:8080/login", "title": "Login"}]},
                {"type": "change", "value": "hunter22", "selectors": [["aria/Password"], ["#password"]], "target": "main"},
                {"type": "click", "selectors": [["[data-testid='login']"]], "offsetX": 3, "offsetY": 4}
            ]
        });
        let out = import(export.clone(), "x").unwrap();
        assert_eq!(out["format"], FORMAT);
        assert_eq!(out["origin"], "http://127.0.0.1:8080");
        assert_eq!(out["steps"][1], export["steps"][1]);
        assert_eq!(out["steps"][2]["value"], "${password}");
        assert_eq!(out["variables"][0]["secret"]["env"], "THRONG_PASSWORD");
        assert!(!out.to_string().contains("hunter22"));
    }

    #[test]
    fn unknown_step_types_are_named() {
        let err = import(json!({"title": "t", "steps": [{"type": "teleport"}]}), "x").unwrap_err();
        assert!(err.contains("step 1: unknown type \"teleport\""), "{err}");
    }
}
