//! Recorder fields stay literal: where a field's template uses a secret variable, the field holds
//! the secret's mask (`$ENV`), never the clear value typed when recording.

use crate::model::{secret_mask, Action, Flow};
use crate::vars::{substitute, variables_used};
use std::collections::BTreeMap;

impl Flow {
    /// Masks every Recorder field (navigate URL, typed value, asserted URL) whose replay form
    /// uses a secret variable: the secret's part of the literal becomes its mask, the rest keeps
    /// the recorded text. A field written before templates (`"value": "${password}"`) gets its
    /// template and a masked literal when every variable it uses is a secret. Idempotent.
    pub fn mask_secret_literals(&mut self) {
        let masks: BTreeMap<String, String> = self
            .variables
            .iter()
            .filter_map(|v| v.secret.as_ref().map(|s| (v.name.clone(), secret_mask(s))))
            .collect();
        if masks.is_empty() {
            return;
        }
        for step in &mut self.steps {
            match &mut step.action {
                Action::Navigate { url, url_template } => mask(url, url_template, &masks),
                Action::Change {
                    value,
                    value_template,
                    ..
                } => mask(value, value_template, &masks),
                _ => {}
            }
            for event in &mut step.asserted_events {
                if let Some(url) = &mut event.url {
                    mask(url, &mut event.url_template, &masks);
                }
            }
        }
    }
}

fn mask(literal: &mut String, template: &mut Option<String>, masks: &BTreeMap<String, String>) {
    let is_secret = |name: &str| masks.contains_key(name);
    let Some(form) = template.as_deref() else {
        let used = variables_used(literal);
        if !used.is_empty() && used.iter().all(|n| is_secret(n)) {
            let masked = substitute(literal, |n| masks.get(n).map(String::as_str));
            *template = Some(std::mem::replace(literal, masked));
        }
        return;
    };
    if !variables_used(form).iter().any(|n| is_secret(n)) {
        return;
    }
    let pieces = pieces(form);
    *literal = match match_literal(&pieces, literal) {
        Some(values) => {
            let mut values = values.into_iter();
            pieces
                .iter()
                .map(|p| match p {
                    Piece::Text(t) => (*t).to_string(),
                    Piece::Var(name) => {
                        let recorded = values.next().unwrap_or_default();
                        masks.get(*name).cloned().unwrap_or(recorded)
                    }
                })
                .collect()
        }
        // The literal does not follow its template: keep nothing of it but the template's text.
        None => pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => *t,
                Piece::Var(name) => masks.get(*name).map_or("", String::as_str),
            })
            .collect(),
    };
}

#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

/// A template split into text and `${name}` placeholders (as [`variables_used`] reads them).
fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        out.push(Piece::Var(&after[..end]));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    out
}

/// The text each placeholder stood for in `literal` (shortest match first), if the literal
/// has the template's shape.
fn match_literal(pieces: &[Piece<'_>], literal: &str) -> Option<Vec<String>> {
    let mut pattern = String::from("(?s)^");
    for p in pieces {
        match p {
            Piece::Text(t) => pattern.push_str(&regex::escape(t)),
            Piece::Var(_) => pattern.push_str("(.*?)"),
        }
    }
    pattern.push('$');
    let caps = regex::Regex::new(&pattern).ok()?.captures(literal)?;
    Some(
        caps.iter()
            .skip(1)
            .map(|m| m.map_or(String::new(), |m| m.as_str().to_string()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use crate::parse;

    const FLOW: &str = r##"{"title": "t",
        "variables": [{"name": "password", "secret": {"env": "THRONG_PW"}},
                      {"name": "token", "secret": {}},
                      {"name": "q", "oneOf": ["lamp"]}],
        "steps": [
            {"type": "navigate", "url": "http://h/login?t=abc123&q=lamp",
             "urlTemplate": "http://h/login?t=${token}&q=${q}"},
            {"type": "change", "selectors": [["#pw"]], "value": "hunter2", "valueTemplate": "${password}"},
            {"type": "change", "selectors": [["#pw2"]], "value": "${password}"},
            {"type": "change", "selectors": [["#q"]], "value": "lamp", "valueTemplate": "${q}"},
            {"type": "click", "selectors": [["#go"]],
             "assertedEvents": [{"type": "navigation", "url": "http://elsewhere/",
                                 "urlTemplate": "http://h/in?pw=${password}"}]}]}"##;

    #[test]
    fn secrets_in_recorder_fields_become_masks_and_the_rest_stays_literal() {
        let mut flow = parse(FLOW, "t.json").unwrap();
        flow.mask_secret_literals();
        let text = serde_json::to_string(&flow).unwrap();
        for clear in ["abc123", "hunter2", "elsewhere"] {
            assert!(!text.contains(clear), "{clear}: {text}");
        }
        assert!(
            text.contains(r#""url":"http://h/login?t=&q=lamp""#),
            "a secret without env is emptied, the recorded q kept: {text}"
        );
        assert_eq!(
            text.matches(r#""value":"$THRONG_PW","valueTemplate":"${password}""#)
                .count(),
            2,
            "a template and an old flow's `${{password}}` alike: {text}"
        );
        assert!(
            text.contains(r#""value":"lamp","valueTemplate":"${q}""#),
            "{text}"
        );
        assert!(
            text.contains(r#""url":"http://h/in?pw=$THRONG_PW""#),
            "a literal not shaped like its template keeps only the template's text: {text}"
        );
        let mut again = flow.clone();
        again.mask_secret_literals();
        assert_eq!(again, flow, "idempotent");
        crate::to_checked_json(&flow, "t.json").expect("the masked flow loads");
    }
}
