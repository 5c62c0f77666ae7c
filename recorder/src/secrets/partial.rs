//! The versions of a secret on the way to it: a page that checks a password on every keystroke
//! (a strength meter) sends `Hunt`, `Hunte`, `Hunter`... before the field's value is reported.
//! Every prefix of 4+ characters of a typed secret, and every draft seen while it was typed, is
//! replaced where it is a whole value (a query or form value, a JSON string, a path segment, a
//! header), in its raw, URL-encoded and JSON-escaped spellings. The replacement is the
//! secret's variable: a replay sends the whole secret there, never a piece of it in clear.

use super::{SecretValue, Seen};
use crate::correlate::{encoded_forms, origin_len, replace_whole};
use throng_flow::{Flow, Place};

/// Shortest piece of a secret that is hidden by itself.
pub const MIN_PREFIX: usize = 4;

/// Replaces prefixes and drafts of `secrets` (longest first) where they are whole values.
pub fn replace_partial(secrets: &[SecretValue], keep: &[&str], flow: &mut Flow) {
    let mut pieces: Vec<(String, &str)> = Vec::new();
    for s in secrets.iter().filter(|s| s.seen != Seen::Sent) {
        let chars: Vec<char> = s.value.chars().collect();
        let whole = usize::from(s.seen == Seen::Draft);
        // A typed secret itself is replaced everywhere already; a draft only here.
        for n in (MIN_PREFIX..chars.len() + whole).rev() {
            let piece: String = chars[..n].iter().collect();
            if !keep.contains(&piece.as_str()) && !pieces.iter().any(|(p, _)| *p == piece) {
                pieces.push((piece, &s.name));
            }
        }
    }
    if pieces.is_empty() {
        return;
    }
    pieces.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
    let forms: Vec<(Vec<String>, String)> = pieces
        .iter()
        .map(|(piece, name)| (spellings(piece), format!("${{{name}}}")))
        .collect();
    let origin = flow.origin.clone().unwrap_or_default();
    flow.for_each_value_mut(|site, value| {
        let skip = if is_url(site.place) {
            origin_len(value, &origin)
        } else {
            0
        };
        for (spelled, with) in &forms {
            replace_whole(value, spelled, with, skip);
        }
    });
}

/// Raw, form-encoded, percent-encoded and JSON-escaped.
fn spellings(piece: &str) -> Vec<String> {
    let mut forms = encoded_forms(piece);
    let json = serde_json::to_string(piece).unwrap_or_default();
    let inner = json.trim_matches('"').to_string();
    if !forms.contains(&inner) {
        forms.push(inner);
    }
    forms
}

fn is_url(place: Place<'_>) -> bool {
    matches!(
        place,
        Place::NavigateUrl
            | Place::AssertedUrl
            | Place::RequestUrl { .. }
            | Place::PollerUrl { .. }
            | Place::EventSourceUrl { .. }
            | Place::WebSocketUrl { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prefix_and_draft_goes_where_it_is_a_whole_value() {
        let text = r#"{"title": "t", "origin": "http://Hunt:80", "steps": [
            {"type": "navigate", "url": "http://Hunt:80/",
             "network": {"requests": [
                {"kind": "ajax", "url": "http://Hunt:80/strength?p=Hunt"},
                {"kind": "ajax", "url": "http://Hunt:80/strength?p=Hunter2%26Secre"},
                {"kind": "ajax", "url": "http://Hunt:80/strength?p=Hunx"},
                {"kind": "ajax", "url": "http://Hunt:80/Hunting/guide?u=alice&p=Hunter2%26"},
                {"kind": "ajax", "method": "POST", "url": "http://Hunt:80/s", "body": "{\"pw\":\"Hunter2&Se\",\"user\":\"Hunter\"}"}]}}]}"#;
        let mut flow = throng_flow::parse(text, "t.json").unwrap();
        let secrets = [
            SecretValue {
                name: "password".into(),
                value: "Hunter2&Secret".into(),
                seen: Seen::Typed,
            },
            SecretValue {
                name: "password".into(),
                value: "Hunx".into(),
                seen: Seen::Draft,
            },
        ];
        // "Hunter" was typed as a username: it stays.
        replace_partial(&secrets, &["Hunter"], &mut flow);
        let out = serde_json::to_string(&flow).unwrap();
        for gone in ["p=Hunt\"", "Secre", "p=Hunx", "Hunter2%26", "Hunter2&"] {
            assert!(!out.contains(gone), "{gone} in {out}");
        }
        assert_eq!(out.matches("${password}").count(), 5, "{out}");
        assert!(
            out.contains("http://Hunt:80/Hunting/"),
            "origin and longer text stay: {out}"
        );
        assert!(out.contains(r#"\"user\":\"Hunter\""#), "kept: {out}");
    }
}
