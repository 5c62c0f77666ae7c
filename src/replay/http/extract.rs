//! Correlation: pulls values (CSRF tokens, ids) out of responses into `${variables}`.

use super::client::Response;
use crate::flow::Extract;
use scraper::{Html, Selector};

/// Applies one extraction rule to a response; `None` when nothing matched.
pub fn extract(rule: &Extract, response: &Response) -> Option<String> {
    if let Some(header) = &rule.header {
        return Some(
            response
                .headers
                .get(header.as_str())?
                .to_str()
                .ok()?
                .to_string(),
        );
    }
    let body = String::from_utf8_lossy(&response.body);
    if let Some(css) = &rule.css {
        let selector = Selector::parse(css).ok()?;
        let doc = Html::parse_document(&body);
        let el = doc.select(&selector).next()?;
        return match &rule.attr {
            Some(attr) => el.value().attr(attr).map(str::to_string),
            None => Some(el.text().collect::<String>().trim().to_string()),
        };
    }
    if let Some(pattern) = &rule.regex {
        let re = regex::Regex::new(pattern).ok()?;
        let caps = re.captures(&body)?;
        return caps
            .get(1)
            .or_else(|| caps.get(0))
            .map(|m| m.as_str().to_string());
    }
    if let Some(pointer) = &rule.json_pointer {
        let json: serde_json::Value = serde_json::from_str(&body).ok()?;
        return match json.pointer(pointer)? {
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{HeaderMap, HeaderValue};

    fn response(body: &str) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert("x-token", HeaderValue::from_static("hdr"));
        Response {
            status: 200,
            headers,
            body: bytes::Bytes::from(body.to_string()),
            final_url: url::Url::parse("http://h/").unwrap(),
        }
    }

    #[test]
    fn each_rule_kind_extracts() {
        let r = response(r#"<form><input type=hidden name="csrf" value="tok123"></form>"#);
        let css = Extract {
            from: "r1".into(),
            css: Some("input[name=csrf]".into()),
            attr: Some("value".into()),
            ..Default::default()
        };
        assert_eq!(extract(&css, &r).as_deref(), Some("tok123"));
        let re = Extract {
            from: "r1".into(),
            regex: Some(r#"value="(\w+)""#.into()),
            ..Default::default()
        };
        assert_eq!(extract(&re, &r).as_deref(), Some("tok123"));
        let hdr = Extract {
            from: "r1".into(),
            header: Some("x-token".into()),
            ..Default::default()
        };
        assert_eq!(extract(&hdr, &r).as_deref(), Some("hdr"));
        let json = Extract {
            from: "r1".into(),
            json_pointer: Some("/a/0/id".into()),
            ..Default::default()
        };
        assert_eq!(
            extract(&json, &response(r#"{"a":[{"id":7}]}"#)).as_deref(),
            Some("7")
        );
        assert_eq!(extract(&css, &response("<p>none</p>")), None);
    }
}
