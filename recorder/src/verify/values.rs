//! Reading the two answers of one request side by side: the values each holds at the same place
//! (JSON fields, hidden inputs, meta tags, custom headers), a page's title, a JSON answer's
//! shape, and where an earlier answer handed out a value a later request sends.

use crate::capture::RawRequest;
use crate::correlate::html_candidates;
use std::collections::BTreeSet;
use throng_flow::Extract;

/// One answer: headers and body (text).
pub struct Answer<'a> {
    pub mime: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a str,
}

impl<'a> Answer<'a> {
    pub fn recorded(r: &'a RawRequest) -> Option<Self> {
        Some(Answer {
            mime: r.mime.as_deref().unwrap_or(""),
            headers: &r.response_headers,
            body: r.response_body.as_deref()?,
        })
    }

    fn is_json(&self) -> bool {
        self.mime.contains("json") || self.body.trim_start().starts_with(['{', '['])
    }

    fn json(&self) -> Option<serde_json::Value> {
        self.is_json()
            .then(|| serde_json::from_str(self.body).ok())
            .flatten()
    }
}

/// A value the recording got at some place of an answer: the rule that finds it and the field.
#[derive(Debug, Clone)]
pub struct Placed {
    pub rule: Extract,
    pub key: String,
    pub value: String,
}

/// Every value of an answer with the rule that finds it (JSON strings and integers, hidden
/// inputs and meta tags, custom headers).
pub fn placed_values(a: &Answer<'_>) -> Vec<Placed> {
    let mut out = Vec::new();
    for (k, v) in a.headers {
        let k = k.to_ascii_lowercase();
        if k.starts_with("x-") && !v.is_empty() {
            out.push(Placed {
                rule: Extract {
                    header: Some(k.clone()),
                    ..Default::default()
                },
                key: k,
                value: v.clone(),
            });
        }
    }
    if let Some(json) = a.json() {
        walk(&json, String::new(), "", &mut out);
    } else if a.mime.contains("html") || a.body.trim_start().starts_with('<') {
        html_candidates(a.body, &mut |value, rule, key| {
            out.push(Placed {
                rule,
                key: key.to_string(),
                value,
            })
        });
    }
    out
}

fn walk(v: &serde_json::Value, pointer: String, key: &str, out: &mut Vec<Placed>) {
    use serde_json::Value;
    let mut leaf = |value: String| {
        out.push(Placed {
            rule: Extract {
                json_pointer: Some(pointer.clone()),
                ..Default::default()
            },
            key: key.to_string(),
            value,
        })
    };
    match v {
        Value::String(s) => leaf(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => leaf(n.to_string()),
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate().take(1000) {
                walk(x, format!("{pointer}/{i}"), key, out);
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                let esc = k.replace('~', "~0").replace('/', "~1");
                walk(x, format!("{pointer}/{esc}"), k, out);
            }
        }
        _ => {}
    }
}

/// What `rule` finds in an answer, as the replay's extraction does.
pub fn apply(rule: &Extract, a: &Answer<'_>) -> Option<String> {
    if let Some(h) = &rule.header {
        return a
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(h))
            .map(|(_, v)| v.clone());
    }
    if let Some(css) = &rule.css {
        let sel = scraper::Selector::parse(css).ok()?;
        let doc = scraper::Html::parse_document(a.body);
        let el = doc.select(&sel).next()?;
        return match &rule.attr {
            Some(attr) => el.value().attr(attr).map(str::to_string),
            None => Some(el.text().collect::<String>().trim().to_string()),
        };
    }
    if let Some(re) = &rule.regex {
        let caps = regex::Regex::new(re).ok()?.captures(a.body)?;
        return caps
            .get(1)
            .or_else(|| caps.get(0))
            .map(|m| m.as_str().to_string());
    }
    let json: serde_json::Value = serde_json::from_str(a.body).ok()?;
    match json.pointer(rule.json_pointer.as_deref()?)? {
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// A regex that finds `value` where it sits in `body`: the text just before it, then the
/// value's characters. None when the value is not in the body or the rule finds another.
pub fn regex_rule(body: &str, value: &str) -> Option<Extract> {
    let at = body.find(value)?;
    let mut start = at.saturating_sub(24);
    while !body.is_char_boundary(start) {
        start += 1;
    }
    let before = &body[start..at];
    let before = before.rsplit('\n').next().unwrap_or(before);
    if before.trim().len() < 3 {
        return None;
    }
    let class = if value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        "[A-Za-z0-9._-]+"
    } else {
        "[^\"'&<>\\s,;]+"
    };
    let rule = Extract {
        regex: Some(format!("{}({class})", regex::escape(before))),
        ..Default::default()
    };
    let a = Answer {
        mime: "",
        headers: &[],
        body,
    };
    (apply(&rule, &a).as_deref() == Some(value)).then_some(rule)
}

/// The `<title>` of an HTML answer, whitespace-collapsed.
pub fn title(a: &Answer<'_>) -> Option<String> {
    if a.json().is_some() {
        return None;
    }
    let doc = scraper::Html::parse_document(a.body);
    let sel = scraper::Selector::parse("title").ok()?;
    let t = doc.select(&sel).next()?.text().collect::<String>();
    Some(t.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The fields of a JSON answer (array items folded into `*`).
pub fn json_shape(a: &Answer<'_>) -> Option<BTreeSet<String>> {
    fn walk(v: &serde_json::Value, at: String, out: &mut BTreeSet<String>) {
        match v {
            serde_json::Value::Object(o) => {
                for (k, x) in o {
                    let p = format!("{at}/{k}");
                    out.insert(p.clone());
                    walk(x, p, out);
                }
            }
            serde_json::Value::Array(items) => {
                for x in items.iter().take(50) {
                    walk(x, format!("{at}/*"), out);
                }
            }
            _ => {}
        }
    }
    let json = a.json()?;
    let mut out = BTreeSet::new();
    walk(&json, String::new(), &mut out);
    Some(out)
}

/// A field named as an id: short values there are worth correlating too (`{"id": 17}`).
pub fn id_named(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k == "id"
        || k.ends_with("_id")
        || key.ends_with("Id")
        || k.ends_with("-id")
        || [
            "uuid", "slug", "key", "hash", "token", "ref", "nonce", "session",
        ]
        .iter()
        .any(|w| k.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_pair_up_by_place_and_rules_find_them_again() {
        let rec = Answer {
            mime: "application/json",
            headers: &[],
            body: r#"{"job":{"id":17,"name":"run"},"ok":true}"#,
        };
        let placed = placed_values(&rec);
        let id = placed.iter().find(|p| p.key == "id").expect("id");
        assert_eq!(id.value, "17");
        let rep = Answer {
            body: r#"{"job":{"id":18,"name":"run"},"ok":true}"#,
            ..rec
        };
        assert_eq!(apply(&id.rule, &rep).as_deref(), Some("18"));
        let r = regex_rule("var cfg = {sid: 'ab12cd34ef'};", "ab12cd34ef").expect("rule");
        let later = Answer {
            mime: "",
            headers: &[],
            body: "var cfg = {sid: 'zz98yy76xx'};",
        };
        assert_eq!(apply(&r, &later).as_deref(), Some("zz98yy76xx"));
        assert!(id_named("jobId") && id_named("session_hash") && !id_named("count"));
    }
}
