//! Secrets a page sent base64-encoded (a JSON login with `"password": "SHVudGVy..."`, a
//! `user:password` pair): every base64 token of the flow that decodes to text holding a secret
//! (or a typed secret's prefix) becomes an `encode` variable, the decoded text with the secret
//! as `${name}`, so a replay encodes the secret it is given and the file holds neither.

use super::partial::MIN_PREFIX;
use super::{SecretValue, Seen};
use crate::correlate::unique_name;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use std::collections::{HashMap, HashSet};
use throng_flow::{Encode, Encoding, Flow, Variable};

/// Shortest token looked at (4 bytes of text).
const MIN_TOKEN: usize = 6;

/// Replaces base64 tokens that hold a secret by `${name_base64}` variables.
pub fn replace_base64(secrets: &[SecretValue], flow: &mut Flow) {
    // Longest first: a secret typed on from a shorter one is hidden whole.
    let mut secrets: Vec<&SecretValue> = secrets
        .iter()
        .filter(|s| s.value.chars().count() >= MIN_PREFIX)
        .collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.value.len()));
    if secrets.is_empty() {
        return;
    }
    let mut found: HashMap<String, (String, Encoding)> = HashMap::new();
    flow.for_each_value(|_, value| {
        for token in tokens(value) {
            if found.contains_key(token) {
                continue;
            }
            if let Some(hit) = holds_secret(token, &secrets) {
                found.insert(token.to_string(), hit);
            }
        }
    });
    if found.is_empty() {
        return;
    }
    let mut taken: HashSet<String> = flow.variables.iter().map(|v| v.name.clone()).collect();
    // Simplest template first takes the plain name (`password_base64`).
    let mut templates: Vec<(String, Encoding)> = found.values().cloned().collect();
    templates.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then(a.0.cmp(&b.0)));
    templates.dedup();
    let mut names: HashMap<(String, Encoding), String> = HashMap::new();
    for (template, encoding) in templates {
        let base = throng_flow::variables_used(&template)
            .first()
            .map(|n| format!("{n}_base64"))
            .unwrap_or_else(|| "base64".into());
        let name = unique_name(&base, &mut taken);
        flow.variables.push(Variable {
            encode: Some(Encode {
                value: template.clone(),
                encoding,
            }),
            ..Variable::named(name.clone())
        });
        names.insert((template, encoding), name);
    }
    // Longest first: a token inside another is replaced after it.
    let mut replace: Vec<(String, String)> = found
        .into_iter()
        .map(|(token, key)| (token, format!("${{{}}}", names[&key])))
        .collect();
    replace.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
    flow.for_each_value_mut(|_, value| {
        for (token, with) in &replace {
            if value.contains(token.as_str()) {
                *value = value.replace(token.as_str(), with);
            }
        }
    });
}

/// Runs of base64 characters (with their padding), and the pieces between `/` in them (a
/// path is base64 characters too).
fn tokens(text: &str) -> Vec<&str> {
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_');
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !is_b64(bytes[i] as char) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_b64(bytes[i] as char) {
            i += 1;
        }
        while i < bytes.len() && bytes[i] == b'=' && i - start < 4096 {
            i += 1;
        }
        let run = &text[start..i];
        if run.len() >= MIN_TOKEN {
            out.push(run);
            if run.contains('/') {
                out.extend(run.split('/').filter(|p| p.len() >= MIN_TOKEN));
            }
        }
    }
    out
}

/// The decoded text with the secret as `${name}`, and the encoding, when `token` is base64 of
/// text holding a secret or a typed secret's prefix of 4+ characters.
fn holds_secret(token: &str, secrets: &[&SecretValue]) -> Option<(String, Encoding)> {
    let lenient = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    let url_safe = token.contains(['-', '_']);
    let engine = if url_safe {
        GeneralPurpose::new(&base64::alphabet::URL_SAFE, lenient)
    } else {
        GeneralPurpose::new(&base64::alphabet::STANDARD, lenient)
    };
    let text = String::from_utf8(engine.decode(token).ok()?).ok()?;
    // The nearest encoding a replay writes: a recording's unpadded standard or padded url-safe
    // token is still hidden (its padding may differ at replay).
    let encoding = if url_safe {
        Encoding::Base64url
    } else {
        Encoding::Base64
    };
    let mut template = text.clone();
    let mut hit = false;
    for s in secrets {
        let chars: Vec<char> = s.value.chars().collect();
        let shortest = if s.seen == Seen::Sent {
            chars.len()
        } else {
            MIN_PREFIX
        };
        for n in (shortest..=chars.len()).rev() {
            let piece: String = chars[..n].iter().collect();
            if template.contains(&piece) {
                template = template.replace(&piece, &format!("${{{}}}", s.name));
                hit = true;
                break;
            }
        }
    }
    hit.then_some((template, encoding))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_a_secret_or_a_pair_holding_it_becomes_an_encode_variable() {
        let b64 = |s: &str| Encoding::Base64.encode(s.as_bytes());
        let text = format!(
            r#"{{"title": "t", "variables": [{{"name": "password", "secret": {{}}}}], "steps": [
            {{"type": "navigate", "url": "http://h/",
             "network": {{"requests": [
                {{"kind": "ajax", "method": "POST", "url": "http://h/api/login", "body": "{{\"u\":\"alice\",\"p\":\"{}\"}}"}},
                {{"kind": "ajax", "url": "http://h/api/{}/check"}},
                {{"kind": "ajax", "url": "http://h/api/x?c={}"}}]}}}}]}}"#,
            b64("Hunter2-Secret"),
            Encoding::Base64url.encode(b"alice:Hunter2-Secret?>"),
            b64("Hunter2-Se"),
        );
        let mut flow = throng_flow::parse(&text, "t.json").unwrap();
        let secrets = [SecretValue {
            name: "password".into(),
            value: "Hunter2-Secret".into(),
            seen: Seen::Typed,
        }];
        replace_base64(&secrets, &mut flow);
        let out = serde_json::to_string(&flow).unwrap();
        assert!(!out.contains("SHVudGVy"), "{out}");
        assert!(out.contains(r#"\"p\":\"${password_base64}\""#), "{out}");
        let vars: Vec<(&str, &Encode)> = flow
            .variables
            .iter()
            .filter_map(|v| v.encode.as_ref().map(|e| (v.name.as_str(), e)))
            .collect();
        assert_eq!(vars.len(), 2, "{vars:?}");
        let pair = vars
            .iter()
            .find(|(_, e)| e.value == "alice:${password}?>")
            .expect("the pair");
        assert_eq!(pair.1.encoding, Encoding::Base64url);
        assert!(
            out.contains(&format!("/api/${{{}}}/check", pair.0)),
            "{out}"
        );
        throng_flow::to_checked_json(&flow, "t.json").expect("the flow loads");
    }
}
