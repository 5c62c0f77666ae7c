//! Page-side helpers: evaluating JavaScript, and filling extracted `${variables}` from the
//! live page (the browser keeps its own cookies and form tokens, but flows also use
//! extracted values in asserted URLs and typed text).

use crate::flow::{Flow, RequestKind, Variable};
use crate::replay::Vars;
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::Page;
use serde_json::Value;
use std::collections::HashMap;

/// Evaluates `expr` in the page's main world; promises are awaited, the value returned as JSON.
pub(crate) async fn evaluate(page: &Page, expr: &str) -> Result<Value, String> {
    let params = EvaluateParams::builder()
        .expression(expr)
        .return_by_value(true)
        .await_promise(true)
        .build()
        .map_err(|e| format!("evaluate: {e}"))?;
    let resp = page
        .execute(params)
        .await
        .map_err(|e| format!("evaluate: {e}"))?;
    if let Some(ex) = &resp.result.exception_details {
        let detail = ex
            .exception
            .as_ref()
            .and_then(|o| o.description.clone())
            .unwrap_or_else(|| ex.text.clone());
        return Err(format!("script error: {detail}"));
    }
    Ok(resp.result.result.value.clone().unwrap_or(Value::Null))
}

/// Variables extracted from a document a step loads, by step index. Only CSS and regex
/// extraction apply in the browser (they read the page); JSON-pointer and header rules
/// need raw responses and are left to HTTP mode.
pub(crate) fn page_extractions(flow: &Flow) -> HashMap<usize, Vec<&Variable>> {
    let mut out: HashMap<usize, Vec<&Variable>> = HashMap::new();
    for var in &flow.variables {
        let Some(ex) = &var.extract else { continue };
        if ex.css.is_none() && ex.regex.is_none() {
            continue;
        }
        let step = flow.steps.iter().position(|s| {
            s.network.as_ref().is_some_and(|n| {
                n.requests
                    .iter()
                    .any(|r| r.kind == RequestKind::Document && r.id.as_deref() == Some(&ex.from))
            })
        });
        if let Some(i) = step {
            out.entry(i).or_default().push(var);
        }
    }
    out
}

/// Reads each variable from the page now shown; a value not found leaves the variable unset.
pub(crate) async fn extract_from_page(page: &Page, vars: &mut Vars, wanted: &[&Variable]) {
    for var in wanted {
        let Some(ex) = &var.extract else { continue };
        let text = match &ex.css {
            Some(css) => {
                let expr = format!(
                    "(() => {{ const e = document.querySelector({css}); if (!e) return null; \
                     const a = {attr}; return a ? e.getAttribute(a) : (e.textContent || '').trim(); }})()",
                    css = Value::from(css.as_str()),
                    attr = ex.attr.as_deref().map_or(Value::Null, Value::from),
                );
                evaluate(page, &expr)
                    .await
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
            }
            None => evaluate(page, "document.documentElement.outerHTML")
                .await
                .ok()
                .and_then(|v| v.as_str().map(str::to_string)),
        };
        let value = match (text, &ex.regex) {
            (Some(t), Some(re)) => apply_regex(re, &t),
            (t, None) => t,
            (None, Some(_)) => None,
        };
        if let Some(v) = value {
            vars.set(&var.name, v);
        }
    }
}

/// Capture group 1 when the pattern has one, else the whole match.
fn apply_regex(pattern: &str, text: &str) -> Option<String> {
    let re = regex::Regex::new(pattern).ok()?;
    let caps = re.captures(text)?;
    caps.get(1)
        .or_else(|| caps.get(0))
        .map(|m| m.as_str().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_takes_the_first_group_else_the_match() {
        assert_eq!(apply_regex(r"id=(\d+)", "x id=42 y").as_deref(), Some("42"));
        assert_eq!(apply_regex(r"\d+", "x 7 y").as_deref(), Some("7"));
        assert_eq!(apply_regex(r"\d+", "none"), None);
    }

    #[test]
    fn css_extractions_attach_to_the_step_loading_their_document() {
        let flow: Flow = serde_json::from_value(serde_json::json!({
            "title": "t",
            "variables": [
                {"name": "pid", "extract": {"from": "search", "css": "a", "attr": "data-id"}},
                {"name": "tok", "extract": {"from": "api", "jsonPointer": "/t"}}
            ],
            "steps": [
                {"type": "navigate", "url": "http://h/"},
                {"type": "click", "selectors": ["#go"], "network": {"requests": [
                    {"id": "search", "kind": "document", "url": "http://h/search"}]}}
            ]
        }))
        .unwrap();
        let map = page_extractions(&flow);
        assert_eq!(map.len(), 1);
        assert_eq!(map[&1][0].name, "pid");
    }
}
