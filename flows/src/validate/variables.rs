//! Checks on the `variables` list: names, exactly one source each, and each source's fields.

use super::{Ids, Res, R};
use crate::error::quote;
use crate::generated::MAX_GENERATED_LEN;
use crate::locate::JsonPath;
use crate::model::*;
use crate::vars::{is_identifier, variables_used};
use std::collections::BTreeMap;

pub(super) fn check_variables(flow: &Flow, r: &R<'_>, ids: &Ids) -> Res {
    let mut seen = BTreeMap::new();
    for (i, v) in flow.variables.iter().enumerate() {
        let path = JsonPath::root().key("variables").index(i);
        if !is_identifier(&v.name) {
            return Err(r.bad(
                &path.key("name"),
                "must be an identifier (letters, digits and _, not starting with a digit)",
            ));
        }
        if let Some(first) = seen.insert(v.name.as_str(), i) {
            return Err(r.err(
                &path.key("name"),
                &format!("declared twice (first as variable {})", first + 1),
            ));
        }
        let sources: Vec<&str> = [
            ("extract", v.extract.is_some()),
            ("oneOf", v.one_of.is_some()),
            ("csv", v.csv.is_some()),
            ("value", v.value.is_some()),
            ("secret", v.secret.is_some()),
            ("generate", v.generate.is_some()),
            ("encode", v.encode.is_some()),
        ]
        .iter()
        .filter(|(_, present)| *present)
        .map(|(name, _)| *name)
        .collect();
        if sources.len() != 1 {
            let found = match sources.len() {
                0 => "none".to_string(),
                _ => format!("`{}`", sources.join("` and `")),
            };
            return Err(r.err(
                &path,
                &format!(
                    "needs exactly one source: `extract`, `oneOf`, `csv`, `value`, `secret`, `generate` or `encode` (found {found})"
                ),
            ));
        }
        if let Some(ex) = &v.extract {
            check_extract(r, &path.key("extract"), ex, ids)?;
        }
        if let Some(list) = &v.one_of {
            if list.is_empty() {
                return Err(r.bad(&path.key("oneOf"), "must be a non-empty list"));
            }
        }
        if let Some(csv) = &v.csv {
            if csv.file.trim().is_empty() {
                return Err(r.bad(&path.key("csv").key("file"), "must not be empty"));
            }
            if csv.column.is_empty() {
                return Err(r.bad(&path.key("csv").key("column"), "must not be empty"));
            }
        }
        if let Some(g) = &v.generate {
            check_generate(r, &path.key("generate").key("like"), &g.like)?;
        }
        if let Some(e) = &v.encode {
            check_encode(r, &path.key("encode").key("value"), &e.value, flow)?;
        }
        if let Some(Secret { env: Some(env) }) = &v.secret {
            if env.is_empty() || env.contains(['=', '\0']) {
                return Err(r.bad(
                    &path.key("secret").key("env"),
                    &format!("is not an environment variable name (got {})", quote(env)),
                ));
            }
        }
    }
    Ok(())
}

fn check_generate(r: &R<'_>, path: &JsonPath, like: &str) -> Res {
    if like.is_empty() || like.chars().count() > MAX_GENERATED_LEN {
        return Err(r.bad(
            path,
            &format!("must be 1 to {MAX_GENERATED_LEN} characters (the value the recording saw)"),
        ));
    }
    if like.contains("${") {
        return Err(r.bad(path, "is a sample value, not a template (no ${...})"));
    }
    Ok(())
}

/// An encoded value is computed when a session draws its values: it may use the values drawn
/// then (data, secrets, generated ids), not extracted ones or other encodings.
fn check_encode(r: &R<'_>, path: &JsonPath, value: &str, flow: &Flow) -> Res {
    if value.is_empty() {
        return Err(r.bad(path, "must not be empty"));
    }
    for name in variables_used(value) {
        if let Some(fake) = crate::fake::FakeRef::parse(name) {
            fake.map_err(|e| r.bad(path, &format!("uses `${{{name}}}`: {e}")))?;
            continue;
        }
        match flow.variables.iter().find(|v| v.name == name) {
            None => {
                return Err(r.bad(path, &format!("uses undeclared variable `${{{name}}}`")));
            }
            Some(v) if v.extract.is_some() || v.encode.is_some() => {
                return Err(r.bad(
                    path,
                    &format!(
                        "uses `${{{name}}}`, which has no value when a session starts (only data, secret and generated variables can be encoded)"
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn check_extract(r: &R<'_>, path: &JsonPath, ex: &Extract, ids: &Ids) -> Res {
    if !ids.contains_key(&ex.from) {
        let known = if ids.is_empty() {
            "no request has an `id`".to_string()
        } else {
            format!(
                "request ids: {}",
                ids.keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Err(r.bad(
            &path.key("from"),
            &format!("refers to unknown request {} ({known})", quote(&ex.from)),
        ));
    }
    let how = [
        ex.css.is_some(),
        ex.regex.is_some(),
        ex.json_pointer.is_some(),
        ex.header.is_some(),
    ];
    if how.iter().filter(|b| **b).count() != 1 {
        return Err(r.bad(
            path,
            "needs exactly one of `css`, `regex`, `jsonPointer` or `header`",
        ));
    }
    if ex.attr.is_some() && ex.css.is_none() {
        return Err(r.bad(&path.key("attr"), "only applies with `css`"));
    }
    if let Some(css) = &ex.css {
        if let Err(e) = scraper::Selector::parse(css) {
            return Err(r.bad(
                &path.key("css"),
                &format!("{} is not a valid CSS selector: {e}", quote(css)),
            ));
        }
    }
    if let Some(re) = &ex.regex {
        if let Err(e) = regex::Regex::new(re) {
            // regex errors span several lines; the last one says what is wrong.
            let text = e.to_string();
            let last = text
                .lines()
                .last()
                .unwrap_or("")
                .trim_start_matches("error: ");
            return Err(r.bad(
                &path.key("regex"),
                &format!("{} is not a valid regex: {last}", quote(re)),
            ));
        }
    }
    if let Some(ptr) = &ex.json_pointer {
        if !ptr.is_empty() && !ptr.starts_with('/') {
            return Err(r.bad(
                &path.key("jsonPointer"),
                &format!("must be empty or start with / (got {})", quote(ptr)),
            ));
        }
    }
    Ok(())
}
