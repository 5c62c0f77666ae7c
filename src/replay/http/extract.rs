//! Correlation: pulls values (CSRF tokens, ids) out of responses into `${variables}`. Header
//! rules read the head; body rules (CSS, regex, JSON pointer) run together in one job off the
//! runtime ([`super::offload`]), the HTML parsed once for all of them, with its bounds.

use super::html::{self, Bounds};
use super::offload::Budget;
use crate::flow::Extract;
use http::header::HeaderMap;
use scraper::Selector;

/// Whether a rule reads the response head only.
pub fn is_header_rule(rule: &Extract) -> bool {
    rule.header.is_some()
}

/// A header rule's value; `None` when the header is absent (or not text).
pub fn from_header(rule: &Extract, headers: &HeaderMap) -> Option<String> {
    let header = rule.header.as_ref()?;
    Some(headers.get(header.as_str())?.to_str().ok()?.to_string())
}

/// The values of body `rules` (in their order; `None` where nothing matched) and the bounds
/// of the HTML parse, when CSS rules needed one.
pub fn from_body(rules: &[Extract], body: &[u8], budget: &Budget) -> (Vec<Option<String>>, Bounds) {
    let text = String::from_utf8_lossy(body);
    let mut doc = None;
    let mut bounds = Bounds::default();
    let values = rules
        .iter()
        .map(|rule| {
            if let Some(css) = &rule.css {
                let selector = Selector::parse(css).ok()?;
                let doc = doc.get_or_insert_with(|| {
                    let parsed = html::parse(&text, budget);
                    bounds = parsed.bounds;
                    parsed.doc
                });
                let el = doc.select(&selector).next()?;
                return match &rule.attr {
                    Some(attr) => el.value().attr(attr).map(str::to_string),
                    None => Some(el.text().collect::<String>().trim().to_string()),
                };
            }
            if let Some(pattern) = &rule.regex {
                let re = regex::Regex::new(pattern).ok()?;
                let caps = re.captures(&text)?;
                return caps
                    .get(1)
                    .or_else(|| caps.get(0))
                    .map(|m| m.as_str().to_string());
            }
            if let Some(pointer) = &rule.json_pointer {
                let json: serde_json::Value = serde_json::from_str(&text).ok()?;
                return match json.pointer(pointer)? {
                    serde_json::Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                };
            }
            None
        })
        .collect();
    (values, bounds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderValue;
    use std::time::Duration;
    use tokio_util::sync::CancellationToken;

    fn one(rule: &Extract, body: &str) -> Option<String> {
        let budget = Budget::new(Duration::from_secs(60), CancellationToken::new());
        from_body(std::slice::from_ref(rule), body.as_bytes(), &budget)
            .0
            .remove(0)
    }

    #[test]
    fn each_rule_kind_extracts() {
        let page = r#"<form><input type=hidden name="csrf" value="tok123"></form>"#;
        let css = Extract {
            from: "r1".into(),
            css: Some("input[name=csrf]".into()),
            attr: Some("value".into()),
            ..Default::default()
        };
        assert_eq!(one(&css, page).as_deref(), Some("tok123"));
        let re = Extract {
            from: "r1".into(),
            regex: Some(r#"value="(\w+)""#.into()),
            ..Default::default()
        };
        assert_eq!(one(&re, page).as_deref(), Some("tok123"));
        let hdr = Extract {
            from: "r1".into(),
            header: Some("x-token".into()),
            ..Default::default()
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-token", HeaderValue::from_static("hdr"));
        assert!(is_header_rule(&hdr) && !is_header_rule(&css));
        assert_eq!(from_header(&hdr, &headers).as_deref(), Some("hdr"));
        let json = Extract {
            from: "r1".into(),
            json_pointer: Some("/a/0/id".into()),
            ..Default::default()
        };
        assert_eq!(one(&json, r#"{"a":[{"id":7}]}"#).as_deref(), Some("7"));
        assert_eq!(one(&css, "<p>none</p>"), None);
    }

    #[test]
    fn css_rules_share_one_parse_and_report_its_bounds() {
        let rule = |css: &str, attr: Option<&str>| Extract {
            from: "r1".into(),
            css: Some(css.into()),
            attr: attr.map(str::to_string),
            ..Default::default()
        };
        // Past the nesting cap, inputs (void elements) are still in the tree.
        let page = format!("<p id=a>A</p>{}<input id=b value=B>", "<div>".repeat(1_000));
        let budget = Budget::new(Duration::from_secs(60), CancellationToken::new());
        let rules = [rule("#a", None), rule("#b", Some("value"))];
        let (values, bounds) = from_body(&rules, page.as_bytes(), &budget);
        assert_eq!(values, [Some("A".to_string()), Some("B".to_string())]);
        assert!(bounds.too_deep && !bounds.cut);
    }
}
