//! What a verifying replay's diff makes of a flow: a value that differed between the recording
//! and the replay becomes an extracted variable, a page-made id a generated one, a header the
//! browser sent and the flow dropped is sent again.

use crate::correlate::{encoded_forms, origin_len, replace_whole, unique_name, whole_matches};
use crate::made::{field_before, generate_value, is_url};
use std::collections::HashSet;
use throng_flow::{Extract, Flow, Place, Variable};

/// One change to the flow.
#[derive(Debug, Clone, PartialEq)]
pub enum Fix {
    /// `value`, handed out by the answer of `steps[step].network.requests[index]` (found there
    /// by `rule`), is extracted as a variable named after `hint` wherever later requests send it.
    Extract {
        step: usize,
        index: usize,
        rule: Extract,
        hint: String,
        value: String,
    },
    /// `value` was made up by the page: generated per session.
    Generate { value: String, hint: String },
    /// Send `name: value` with `steps[step].network.requests[index]`.
    Header {
        step: usize,
        index: usize,
        name: String,
        value: String,
    },
}

/// Applies `fix` to `flow`; returns what was done (one line), or None when it changed nothing.
pub fn apply(flow: &mut Flow, fix: &Fix) -> Option<String> {
    match fix {
        Fix::Extract {
            step,
            index,
            rule,
            hint,
            value,
        } => extract(flow, (*step, *index), rule, hint, value),
        Fix::Generate { value, hint } => {
            let made = generate_value(flow, value, hint)?;
            Some(format!(
                "${{{}}} is generated per session (a page-made id like {value})",
                made.name
            ))
        }
        Fix::Header {
            step,
            index,
            name,
            value,
        } => {
            let r = flow.steps[*step]
                .network
                .as_mut()?
                .requests
                .get_mut(*index)?;
            if r.headers.contains_key(name) {
                return None;
            }
            r.headers.insert(name.clone(), value.clone());
            Some(format!("step {} now sends {name}: {value}", step + 1))
        }
    }
}

fn extract(
    flow: &mut Flow,
    (step, index): (usize, usize),
    rule: &Extract,
    hint: &str,
    value: &str,
) -> Option<String> {
    let origin = flow.origin.clone().unwrap_or_default();
    let forms = encoded_forms(value);
    let mut taken: HashSet<String> = flow.variables.iter().map(|v| v.name.clone()).collect();
    let name = unique_name(hint, &mut taken);
    let with = format!("${{{name}}}");
    let short = value.chars().count() < 4;
    let mut uses = 0;
    flow.for_each_value_mut(|site, text| {
        if !after(site.step, site.place, (step, index)) {
            return;
        }
        let skip = if is_url(site.place) {
            origin_len(text, &origin)
        } else {
            0
        };
        if short {
            // A short value (`17`) is this one only in a URL's path or in a field of its name.
            let path_end = if is_url(site.place) {
                text.find(['?', '#']).unwrap_or(text.len())
            } else {
                0
            };
            uses += replace_keyed(text, &forms, &with, (skip, path_end), hint);
            return;
        }
        let found: usize = forms
            .iter()
            .map(|f| whole_matches(text, f, skip).len())
            .sum();
        if found > 0 {
            replace_whole(text, &forms, &with, skip);
            uses += found;
        }
    });
    if uses == 0 {
        return None;
    }
    let id = request_id(flow, step, index)?;
    flow.variables.push(Variable::extracted(
        name.clone(),
        Extract {
            from: id,
            ..rule.clone()
        },
    ));
    Some(format!(
        "${{{name}}} is extracted from step {} ({}) and used {uses} times after it",
        step + 1,
        rule_text(rule)
    ))
}

/// Replaces whole matches of `forms` in `text` that sit in the URL path (`skip..path_end`) or
/// in a field named `key`; returns how many.
fn replace_keyed(
    text: &mut String,
    forms: &[String],
    with: &str,
    (skip, path_end): (usize, usize),
    key: &str,
) -> usize {
    let mut n = 0;
    for f in forms {
        for at in whole_matches(text, f, skip).into_iter().rev() {
            let in_path = at < path_end;
            if in_path || field_before(text, at).as_deref() == Some(key) {
                text.replace_range(at..at + f.len(), with);
                n += 1;
            }
        }
    }
    n
}

/// Whether a value at `place` of step `s` is sent after request `index` of step `step` (so a
/// replay has extracted the value by then). Typed text and initiators are never rewritten.
fn after(s: usize, place: Place<'_>, (step, index): (usize, usize)) -> bool {
    if matches!(place, Place::TypedValue | Place::RequestInitiator { .. }) {
        return false;
    }
    match s.cmp(&step) {
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Equal => match place {
            Place::NavigateUrl => false,
            Place::RequestUrl { index: i }
            | Place::RequestHeader { index: i, .. }
            | Place::RequestBody { index: i } => i > index,
            _ => true,
        },
    }
}

/// The request's id, given one (`rN`, unused) when it has none.
fn request_id(flow: &mut Flow, step: usize, index: usize) -> Option<String> {
    let used: HashSet<String> = flow
        .steps
        .iter()
        .filter_map(|s| s.network.as_ref())
        .flat_map(|n| n.requests.iter().filter_map(|r| r.id.clone()))
        .collect();
    let r = flow.steps[step].network.as_mut()?.requests.get_mut(index)?;
    if let Some(id) = &r.id {
        return Some(id.clone());
    }
    let id = (1..)
        .map(|n| format!("r{n}"))
        .find(|id| !used.contains(id))?;
    r.id = Some(id.clone());
    Some(id)
}

fn rule_text(r: &Extract) -> String {
    if let Some(css) = &r.css {
        format!("css {css}")
    } else if let Some(p) = &r.json_pointer {
        format!("JSON {p}")
    } else if let Some(h) = &r.header {
        format!("header {h}")
    } else {
        format!("regex {}", r.regex.as_deref().unwrap_or(""))
    }
}
