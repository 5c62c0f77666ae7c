//! Chrome DevTools Recorder export -> flow: the export loads with throng's own loader (a superset
//! of the Recorder format, so errors point at the user's file), every step and field is kept; the
//! format tag and origin are added, and values typed into password fields become secret variables.

use crate::correlate::unique_name;
use crate::secrets::{env_name, hide_values, SecretValue, Seen};
use std::collections::HashSet;
use throng_flow::{Action, Flow, Selectors, Variable, FORMAT_V1};

/// Completes a loaded Recorder export into a throng flow; also returns the secrets it hid.
pub fn import(mut flow: Flow) -> (Flow, Vec<SecretValue>) {
    flow.format.get_or_insert_with(|| FORMAT_V1.to_string());
    if flow.origin.is_none() {
        flow.origin = throng_flow::origin(&flow).map(|o| o.origin().ascii_serialization());
    }
    // The Recorder stores typed passwords in clear; a change on a password-looking field
    // becomes a secret variable.
    let mut taken: HashSet<String> = flow.variables.iter().map(|v| v.name.clone()).collect();
    let mut secrets: Vec<SecretValue> = Vec::new();
    for step in &mut flow.steps {
        let Action::Change {
            selectors,
            value,
            value_template,
        } = &mut step.action
        else {
            continue;
        };
        if value_template.is_some() || value.starts_with("${") || !mentions_password(selectors) {
            continue;
        }
        let name = match secrets.iter().find(|s| s.value == *value) {
            Some(s) => s.name.clone(),
            None => {
                let name = unique_name("password", &mut taken);
                secrets.push(SecretValue {
                    name: name.clone(),
                    value: value.clone(),
                    seen: Seen::Typed,
                });
                name
            }
        };
        // The Recorder field is masked by `hide_values`; throng types the variable.
        *value_template = Some(format!("${{{name}}}"));
    }
    for s in &secrets {
        flow.variables
            .push(Variable::secret(s.name.clone(), env_name(&s.name)));
    }
    hide_values(&secrets, &[], &mut flow);
    (flow, secrets)
}

fn mentions_password(selectors: &Selectors) -> bool {
    selectors.0.iter().flatten().any(|part| {
        let part = part.to_ascii_lowercase();
        part.contains("password") || part.contains("passwd")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn load(v: serde_json::Value) -> Result<Flow, throng_flow::FlowError> {
        throng_flow::parse(&v.to_string(), "rec.json")
    }

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
                {"type": "click", "selectors": [["[data-testid='login']"]], "offsetX": 3, "offsetY": 4},
                {"type": "emulateNetworkConditions", "download": 1000, "upload": 1000, "latency": 20}
            ]
        });
        let out = serde_json::to_value(import(load(export.clone()).unwrap()).0).unwrap();
        assert_eq!(out["format"], FORMAT_V1);
        assert_eq!(out["origin"], "http://127.0.0.1:8080");
        assert_eq!(out["steps"][1], export["steps"][1]);
        // The Recorder types the mask (its replay extension fills it), throng the variable.
        assert_eq!(out["steps"][2]["value"], "$THRONG_PASSWORD");
        assert_eq!(out["steps"][2]["valueTemplate"], "${password}");
        assert_eq!(out["steps"][4]["type"], "emulateNetworkConditions");
        assert_eq!(out["variables"][0]["secret"]["env"], "THRONG_PASSWORD");
        assert!(!out.to_string().contains("hunter22"));
    }

    #[test]
    fn unknown_step_types_are_named_with_their_position() {
        let err = load(json!({"title": "t", "steps": [{"type": "teleport"}]}))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("rec.json:1:") && err.contains("teleport"),
            "{err}"
        );
    }
}
