//! Secrets: passwords and `--secret NAME` fields never reach the flow file in clear. Each typed
//! secret becomes a variable supplied at replay (`--var name=...` or `THRONG_<NAME>`), and every
//! place its value went (the typed value, URLs, bodies, headers) is rewritten to `${name}`; the
//! Recorder fields themselves hold the mask `$THRONG_<NAME>` (flows/replay-extension.mjs).

use crate::capture::RawStep;
use crate::correlate::{encoded_forms, unique_name};
use std::collections::HashSet;
use throng_flow::{Action, Flow, Place, Variable};

/// One secret: its variable name and the clear value to hide.
#[derive(Debug, Clone)]
pub struct SecretValue {
    pub name: String,
    pub value: String,
}

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

/// Replaces the values typed in secret fields (`steps[i]` is the flow step of the raw step).
pub fn scrub(secret_steps: &[(usize, &RawStep)], flow: &mut Flow) {
    let mut taken: HashSet<String> = flow.variables.iter().map(|v| v.name.clone()).collect();
    let mut secrets: Vec<SecretValue> = Vec::new();
    for (i, raw) in secret_steps {
        let (Some(field), Action::Change { value, .. }) = (&raw.secret, &raw.action) else {
            continue;
        };
        let name = match secrets.iter().find(|s| &s.value == value) {
            Some(s) => s.name.clone(),
            None => {
                let hint = if field.named {
                    field.name.as_str()
                } else {
                    password_hint(&field.name)
                };
                let name = unique_name(hint, &mut taken);
                if !value.is_empty() {
                    secrets.push(SecretValue {
                        name: name.clone(),
                        value: value.clone(),
                    });
                }
                flow.variables
                    .push(Variable::secret(name.clone(), env_name(&name)));
                name
            }
        };
        // throng types the variable; the Recorder field is masked by `hide_values`.
        if let Action::Change { value_template, .. } = &mut flow.steps[*i].action {
            *value_template = Some(format!("${{{name}}}"));
        }
    }
    hide_values(&secrets, flow);
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
pub fn hide_credential_headers(flow: &mut Flow) {
    let mut taken: HashSet<String> = flow.variables.iter().map(|v| v.name.clone()).collect();
    let mut secrets: Vec<SecretValue> = Vec::new();
    flow.for_each_value(|site, value| {
        let name = match site.place {
            Place::RequestHeader { name, .. } | Place::PollerHeader { name, .. } => name,
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
        });
    });
    for s in &secrets {
        flow.variables
            .push(Variable::secret(s.name.clone(), env_name(&s.name)));
    }
    hide_values(&secrets, flow);
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
/// longer values anywhere in the field. Type tags, selectors and names are never touched.
pub fn hide_values(secrets: &[SecretValue], flow: &mut Flow) {
    if !secrets.is_empty() {
        replace_values(secrets, flow);
    }
    flow.mask_secret_literals();
}

fn replace_values(secrets: &[SecretValue], flow: &mut Flow) {
    flow.for_each_value_mut(|_, s| {
        for secret in secrets {
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
fn replace_form_values(s: &str, secret: &str, with: &str) -> String {
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
        }];
        hide_values(&secrets, &mut flow);
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
