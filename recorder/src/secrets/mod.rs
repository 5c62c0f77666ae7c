//! Secrets: passwords and `--secret NAME` fields never reach the flow file in clear. Each typed
//! secret becomes a variable supplied at replay (`--var name=...` or `THRONG_<NAME>`), and every
//! place its value went (the typed value, URLs, bodies, headers) is rewritten to `${name}`; the
//! Recorder fields themselves hold the mask `$THRONG_<NAME>` (flows/replay-extension.mjs).
//!
//! What a page made of a typed secret goes too: every prefix of 4+ characters and every version
//! typed before it was reported (a strength meter fetching on each keystroke, [`partial`]), and
//! its encodings: URL, JSON and base64 (the latter becomes an `encode` variable, [`encoded`]).

mod encoded;
mod partial;

use crate::capture::{SecretDraft, SecretField};
use crate::correlate::{encoded_forms, unique_name};
use std::collections::HashSet;
use throng_flow::{Action, Flow, Place, Variable};

/// One secret: its variable name and the clear value to hide.
#[derive(Clone)]
pub struct SecretValue {
    pub name: String,
    pub value: String,
    pub seen: Seen,
}

/// How a secret value was seen, which says what else to hide with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Typed by a person: hidden wherever it occurs, and its prefixes (the versions on the way
    /// to it) wherever one is a whole value.
    Typed,
    /// A version of a field seen while it was typed: hidden, with its prefixes, where it is a
    /// whole value (a short draft is no reason to rewrite longer text).
    Draft,
    /// Sent by the page (a credential header): hidden wherever it occurs.
    Sent,
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SecretValue({}, {} chars)",
            self.name,
            self.value.chars().count()
        )
    }
}

/// A secret field's change step: the flow step, the field, the value typed.
pub type SecretStep<'a> = (usize, &'a SecretField, &'a str);

/// The environment variable a secret is read from at replay.
pub fn env_name(var: &str) -> String {
    let up: String = var
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("THRONG_{up}")
}

/// Replaces the values typed in secret fields (`flow.steps[i]` is the step of each), and the
/// versions `drafts` saw while they were typed. `keep`: values typed in other fields (a
/// username that is also the start of the password stays). Returns the secrets hidden.
pub fn scrub(
    secret_steps: &[SecretStep<'_>],
    drafts: &[SecretDraft],
    keep: &[&str],
    flow: &mut Flow,
) -> Vec<SecretValue> {
    let mut taken: HashSet<String> = flow.variables.iter().map(|v| v.name.clone()).collect();
    let mut secrets: Vec<SecretValue> = Vec::new();
    let mut name_of_field: Vec<(&SecretField, String)> = Vec::new();
    let declared = flow.variables.len();
    let new_name = |field: &SecretField, taken: &mut HashSet<String>| {
        let hint = if field.named {
            field.name.as_str()
        } else {
            password_hint(&field.name)
        };
        unique_name(hint, taken)
    };
    for &(i, field, value) in secret_steps {
        // The same value, or the field typed on from where it was (`Hunter2-`, then
        // `Hunter2-Secret`): one secret.
        let typed_on = name_of_field
            .iter()
            .find(|(f, _)| *f == field)
            .and_then(|(_, name)| {
                let last = secrets.iter().rev().find(|s| &s.name == name)?;
                value.starts_with(last.value.as_str()).then(|| name.clone())
            });
        let known = secrets
            .iter()
            .find(|s| s.value == value)
            .map(|s| s.name.clone());
        let name = match known.or(typed_on) {
            Some(name) => {
                if !value.is_empty() && !secrets.iter().any(|s| s.value == value) {
                    secrets.push(SecretValue {
                        name: name.clone(),
                        value: value.to_string(),
                        seen: Seen::Typed,
                    });
                }
                name
            }
            None => {
                let name = new_name(field, &mut taken);
                if !value.is_empty() {
                    secrets.push(SecretValue {
                        name: name.clone(),
                        value: value.to_string(),
                        seen: Seen::Typed,
                    });
                }
                flow.variables
                    .push(Variable::secret(name.clone(), env_name(&name)));
                name
            }
        };
        name_of_field.retain(|(f, _)| *f != field);
        name_of_field.push((field, name.clone()));
        // throng types the variable; the Recorder field is masked by `hide_values`.
        if let Action::Change { value_template, .. } = &mut flow.steps[i].action {
            *value_template = Some(format!("${{{name}}}"));
        }
    }
    for draft in drafts {
        let name = match name_of_field.iter().find(|(f, _)| **f == draft.field) {
            Some((_, name)) => name.clone(),
            None => {
                let name = new_name(&draft.field, &mut taken);
                flow.variables
                    .push(Variable::secret(name.clone(), env_name(&name)));
                name
            }
        };
        for value in &draft.values {
            if !secrets.iter().any(|s| &s.value == value) {
                secrets.push(SecretValue {
                    name: name.clone(),
                    value: value.clone(),
                    seen: Seen::Draft,
                });
            }
        }
    }
    hide_values(&secrets, keep, flow);
    // A field only ever seen half-typed that reached no request needs no value at replay.
    drop_unused(flow, declared);
    secrets
}

/// Removes the variables from `from` on that nothing in the flow uses.
fn drop_unused(flow: &mut Flow, from: usize) {
    let mut used: HashSet<String> = HashSet::new();
    flow.for_each_value(|_, v| {
        used.extend(throng_flow::variables_used(v).into_iter().map(String::from));
    });
    for var in &flow.variables {
        if let Some(e) = &var.encode {
            used.extend(
                throng_flow::variables_used(&e.value)
                    .into_iter()
                    .map(String::from),
            );
        }
    }
    let mut i = 0;
    flow.variables.retain(|v| {
        i += 1;
        i <= from || used.contains(&v.name)
    });
}

/// Request headers that carry credentials (an API key or a bearer token is a password).
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "apikey",
    "x-auth-token",
    "x-access-token",
];

/// Credentials sent in request headers (`Authorization: Bearer ...`, API keys) that
/// correlation did not turn into an extracted `${variable}` become secret variables supplied at
/// replay, like passwords: the flow keeps `Bearer ${authorization}`, never the token.
pub fn hide_credential_headers(flow: &mut Flow) -> Vec<SecretValue> {
    let mut taken: HashSet<String> = flow.variables.iter().map(|v| v.name.clone()).collect();
    let mut secrets: Vec<SecretValue> = Vec::new();
    flow.for_each_value(|site, value| {
        let name = match site.place {
            Place::RequestHeader { name, .. }
            | Place::PollerHeader { name, .. }
            | Place::EventSourceHeader { name, .. }
            | Place::StreamHeader { name, .. } => name,
            _ => return,
        };
        if !CREDENTIAL_HEADERS.contains(&name.to_ascii_lowercase().as_str()) || value.contains("${")
        {
            return;
        }
        // Keep the scheme (`Bearer`, `Basic`, `Token`): only the credential is secret.
        let credential = match value.split_once(' ') {
            Some((scheme, rest)) if scheme.chars().all(|c| c.is_ascii_alphabetic()) => rest.trim(),
            _ => value.trim(),
        };
        if credential.is_empty() || secrets.iter().any(|s| s.value == credential) {
            return;
        }
        secrets.push(SecretValue {
            name: unique_name(name, &mut taken),
            value: credential.to_string(),
            seen: Seen::Sent,
        });
    });
    for s in &secrets {
        flow.variables
            .push(Variable::secret(s.name.clone(), env_name(&s.name)));
    }
    hide_values(&secrets, &[], flow);
    secrets
}

/// Password fields are usually named "password", "pass", "pwd"...: call them all `password`
/// unless the field has a more telling name.
fn password_hint(field: &str) -> &str {
    let f = field.to_ascii_lowercase();
    if f.is_empty() || ["pass", "pwd", "passwd", "password"].contains(&f.as_str()) {
        "password"
    } else {
        field
    }
}

/// Rewrites every value-carrying field of the flow (URLs, typed text, headers, bodies) that
/// holds a secret value. Form fields are matched by value (so short secrets are caught too);
/// longer values anywhere in the field; base64 forms become `encode` variables; prefixes and
/// drafts where they are whole values, unless they are one of the `keep` values (typed in
/// other fields). Type tags, selectors and names are never touched.
pub fn hide_values(secrets: &[SecretValue], keep: &[&str], flow: &mut Flow) {
    if !secrets.is_empty() {
        encoded::replace_base64(secrets, flow);
        replace_values(secrets, flow);
        partial::replace_partial(secrets, keep, flow);
    }
    flow.mask_secret_literals();
}

fn replace_values(secrets: &[SecretValue], flow: &mut Flow) {
    // A draft holding a typed secret (typed on from it) goes wherever the secret does; longest
    // first: `Hunter2-` inside `Hunter2-Secret` would leave `Secret` behind.
    let typed: Vec<&str> = secrets
        .iter()
        .filter(|s| s.seen == Seen::Typed && s.value.chars().count() >= 4)
        .map(|s| s.value.as_str())
        .collect();
    let mut secrets: Vec<&SecretValue> = secrets
        .iter()
        .filter(|s| s.seen != Seen::Draft || typed.iter().any(|t| s.value.contains(t)))
        .collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.value.len()));
    flow.for_each_value_mut(|_, s| {
        for secret in &secrets {
            let with = format!("${{{}}}", secret.name);
            *s = replace_form_values(s, &secret.value, &with);
            if secret.value.chars().count() >= 4 {
                for form in encoded_forms(&secret.value) {
                    if s.contains(&form) {
                        *s = s.replace(&form, &with);
                    }
                }
                let json_escaped = serde_json::to_string(&secret.value).unwrap_or_default();
                let inner = json_escaped.trim_matches('"');
                if !inner.is_empty() && s.contains(inner) {
                    *s = s.replace(inner, &with);
                }
            }
        }
    });
}

/// In `a=1&b=2` text (query strings, form bodies), replaces values that decode to `secret`.
pub(crate) fn replace_form_values(s: &str, secret: &str, with: &str) -> String {
    if !s.contains('=') {
        return s.to_string();
    }
    let (head, query) = match s.find('?') {
        Some(q) if s.starts_with("http") => (&s[..=q], &s[q + 1..]),
        _ => ("", s),
    };
    let mut changed = false;
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => {
                let decoded: String = url::form_urlencoded::parse(format!("x={v}").as_bytes())
                    .next()
                    .map(|(_, d)| d.into_owned())
                    .unwrap_or_default();
                if decoded == secret {
                    changed = true;
                    format!("{k}={with}")
                } else {
                    pair.to_string()
                }
            }
            None => pair.to_string(),
        })
        .collect();
    if changed {
        format!("{head}{}", parts.join("&"))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_replaced_by_value_even_when_short() {
        assert_eq!(
            replace_form_values(
                "csrf=abc&username=alice&password=p%26w",
                "p&w",
                "${password}"
            ),
            "csrf=abc&username=alice&password=${password}"
        );
        assert_eq!(
            replace_form_values("http://h/login?pw=xy&a=1", "xy", "${pw}"),
            "http://h/login?pw=${pw}&a=1"
        );
        assert_eq!(
            replace_form_values("no pairs here", "xy", "${pw}"),
            "no pairs here"
        );
    }

    #[test]
    fn a_password_equal_to_a_type_tag_or_kind_hides_only_values() {
        let text = r##"{"title": "t", "variables": [{"name": "password", "secret": {"env": "PW"}}], "steps": [
            {"type": "navigate", "url": "http://h/login",
             "network": {"requests": [{"kind": "document", "url": "http://h/login"},
                                      {"kind": "ajax", "method": "POST", "url": "http://h/s", "body": "p=click"}]}},
            {"type": "change", "selectors": [["#click"]], "value": "click"},
            {"type": "click", "selectors": [["#go"]]}]}"##;
        let mut flow = throng_flow::parse(text, "t.json").unwrap();
        let secrets = [SecretValue {
            name: "password".into(),
            value: "click".into(),
            seen: Seen::Typed,
        }];
        hide_values(&secrets, &[], &mut flow);
        let out = serde_json::to_string(&flow).unwrap();
        assert!(out.contains(r#""type":"click""#), "{out}");
        assert!(out.contains(r##"[["#click"]]"##), "{out}");
        assert!(out.contains(r#""body":"p=${password}""#), "{out}");
        assert!(
            out.contains(r#""value":"$PW","valueTemplate":"${password}""#),
            "{out}"
        );
    }

    #[test]
    fn bearer_tokens_and_api_keys_become_secret_variables() {
        let text = r#"{"title": "t", "variables": [{"name": "token", "value": "t"}], "steps": [
            {"type": "navigate", "url": "http://h/",
             "network": {"requests": [
                {"kind": "ajax", "url": "http://h/api/a", "headers": {"authorization": "Bearer eyJabc.def.ghi"}},
                {"kind": "ajax", "url": "http://h/api/b?key=k-123456", "headers": {"x-api-key": "k-123456", "authorization": "Bearer eyJabc.def.ghi"}},
                {"kind": "ajax", "url": "http://h/api/c", "headers": {"authorization": "Bearer ${token}"}}]}}]}"#;
        let mut flow = throng_flow::parse(text, "t.json").unwrap();
        hide_credential_headers(&mut flow);
        let out = serde_json::to_string(&flow).unwrap();
        assert!(
            !out.contains("eyJabc") && !out.contains("k-123456"),
            "{out}"
        );
        assert!(
            out.contains(r#""authorization":"Bearer ${authorization}""#),
            "{out}"
        );
        assert!(
            out.contains("key=${x_api_key}"),
            "the key is hidden in the URL too: {out}"
        );
        let names: Vec<&str> = flow.variables.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(
            names,
            ["token", "authorization", "x_api_key"],
            "a ${{token}} stays"
        );
        assert!(flow.variables[1..].iter().all(|v| v.secret.is_some()));
        throng_flow::to_checked_json(&flow, "t.json").expect("the written flow loads");
    }

    #[test]
    fn env_names_are_upper_case() {
        assert_eq!(env_name("card-number"), "THRONG_CARD_NUMBER");
    }
}
