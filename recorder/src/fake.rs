//! Generated data for typed fields (`throng record --fake email=FIELD`): what was typed in
//! FIELD becomes `${fake.email}` wherever it went (the typed text, form posts, JSON bodies,
//! URLs), so each replayed user types its own value; and hints for typed values that look like
//! an email address, a name or a phone number.

use crate::correlate::encoded_forms;
use crate::secrets::replace_form_values;
use throng_flow::{Action, Flow, Place, Selectors};

/// `KIND=FIELD`: the `${fake.KIND}` to type in the field FIELD (its name, id, test id or
/// label).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeField {
    pub kind: String,
    pub field: String,
}

impl FakeField {
    /// Parses `email=signup-email` (`email.unique=...`, `int(1,9)=...`: any `${fake...}`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (kind, field) = text.split_once('=').ok_or_else(|| {
            format!("--fake `{text}`: expected KIND=FIELD, e.g. email=email or name=full-name")
        })?;
        let (kind, field) = (kind.trim(), field.trim());
        let kind = kind.strip_prefix("fake.").unwrap_or(kind);
        if kind.is_empty() || field.is_empty() {
            return Err(format!("--fake `{text}`: expected KIND=FIELD"));
        }
        if let Some(Err(why)) = throng_flow::FakeRef::parse(&format!("fake.{kind}")) {
            return Err(format!("--fake `{text}`: {why}"));
        }
        Ok(FakeField {
            kind: kind.to_string(),
            field: field.to_string(),
        })
    }

    fn placeholder(&self) -> String {
        format!("${{fake.{}}}", self.kind)
    }
}

/// The names a selector gives its field: `#id`, `[attr='value']` values, an `aria/Label`.
fn names_in(selector: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(label) = selector.strip_prefix("aria/") {
        out.push(label.split('[').next().unwrap_or("").to_string());
        return out;
    }
    if selector.starts_with("xpath/") || selector.starts_with("pierce/") {
        return out;
    }
    if let Some(id) = selector.strip_prefix('#') {
        out.push(
            id.split(|c: char| !(c.is_alphanumeric() || "-_".contains(c)))
                .next()
                .unwrap_or("")
                .to_string(),
        );
    }
    let mut rest = selector;
    while let Some(eq) = rest.find('=') {
        let after = &rest[eq + 1..];
        let value = match after.chars().next() {
            Some(q @ ('\'' | '"')) => after[1..].split(q).next().unwrap_or(""),
            _ => after.split(']').next().unwrap_or(""),
        };
        out.push(value.to_string());
        rest = after;
    }
    out.retain(|n| !n.is_empty());
    out
}

/// Whether `selectors` pick the field `field` (case-insensitive).
fn names_field(selectors: &Selectors, field: &str) -> bool {
    selectors
        .0
        .iter()
        .flatten()
        .flat_map(|s| names_in(s))
        .any(|n| n.eq_ignore_ascii_case(field))
}

/// The field's name as a person would give it to `--fake`: its first named selector.
fn field_name(selectors: &Selectors) -> Option<String> {
    selectors
        .0
        .iter()
        .flatten()
        .filter(|s| !s.starts_with("aria/"))
        .flat_map(|s| names_in(s))
        .next()
}

/// The literal typed by a `change` step (none when it is already a variable).
fn typed(action: &Action) -> Option<(&Selectors, &str)> {
    match action {
        Action::Change {
            selectors,
            value,
            value_template,
        } if value_template.is_none() && !value.is_empty() => Some((selectors, value.as_str())),
        _ => None,
    }
}

/// Makes each `fakes` field's typed value a `${fake...}` wherever it went; one line per field
/// saying where. Err (one line) when a field was never typed in the recording.
pub fn apply(flow: &mut Flow, fakes: &[FakeField]) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    for fake in fakes {
        let mut values: Vec<(usize, String)> = Vec::new();
        for (i, step) in flow.steps.iter().enumerate() {
            if let Some((selectors, value)) = typed(&step.action) {
                if names_field(selectors, &fake.field) {
                    values.push((i, value.to_string()));
                }
            }
        }
        if values.is_empty() {
            let typed_in: Vec<String> = (flow.steps.iter())
                .filter_map(|s| typed(&s.action).and_then(|(sel, _)| field_name(sel)))
                .collect();
            return Err(format!(
                "--fake {}={}: no field `{}` was typed in the recording (typed: {})",
                fake.kind,
                fake.field,
                fake.field,
                if typed_in.is_empty() {
                    "none".to_string()
                } else {
                    typed_in.join(", ")
                }
            ));
        }
        let with = fake.placeholder();
        let mut places = 0usize;
        for (i, value) in &values {
            if let Action::Change { value_template, .. } = &mut flow.steps[*i].action {
                *value_template = Some(with.clone());
            }
            flow.for_each_value_mut(|site, s| {
                // Another field typed with the same value (a confirmation) types it too.
                if matches!(site.place, Place::TypedValue) {
                    if s == value {
                        *s = with.clone();
                    }
                    return;
                }
                let before = s.clone();
                *s = replace_form_values(s, value, &with);
                // Inside JSON, URLs and other text: only values long enough not to hit by chance.
                if value.chars().count() >= 4 {
                    for form in encoded_forms(value) {
                        if s.contains(&form) {
                            *s = s.replace(&form, &with);
                        }
                    }
                }
                if *s != before {
                    places += 1;
                }
            });
        }
        let steps: Vec<String> = values.iter().map(|(i, _)| (i + 1).to_string()).collect();
        lines.push(format!(
            "`{}` typed in step {} is now {with} (and in {places} request value(s) it reached)",
            fake.field,
            steps.join(", ")
        ));
    }
    Ok(lines)
}

/// What a typed value looks like, if it is data a generator could make up.
fn looks_like(field: &str, value: &str) -> Option<&'static str> {
    let f = field.to_ascii_lowercase();
    let at = value.find('@');
    if at.is_some_and(|a| value[a..].contains('.')) && !value.contains(char::is_whitespace) {
        return Some("email");
    }
    if f.contains("mail") {
        return Some("email");
    }
    if f.contains("phone") || f == "tel" || f.contains("mobile") {
        return Some("phone");
    }
    if (f.contains("name") && !f.contains("user")) || f == "fullname" {
        return Some("name");
    }
    if f.contains("city") {
        return Some("city");
    }
    if f.contains("street") || f.contains("address") {
        return Some("street");
    }
    if f.contains("company") {
        return Some("company");
    }
    None
}

/// One hint per typed field whose value looks like an email, a name, a phone number...:
/// the `--fake` that would type a generated one.
pub fn suggestions(flow: &Flow) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, step) in flow.steps.iter().enumerate() {
        let Some((selectors, value)) = typed(&step.action) else {
            continue;
        };
        let Some(field) = field_name(selectors) else {
            continue;
        };
        let Some(kind) = looks_like(&field, value) else {
            continue;
        };
        let line = format!(
            "step {} types a{} {kind} into `{field}`: record with `--fake {kind}={field}` (or \
             `--fake {kind}.unique={field}` for a sign-up) to give each user its own \
             (${{fake.{kind}}})",
            i + 1,
            if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "n"
            } else {
                ""
            }
        );
        if !out.iter().any(|l| l.contains(&format!("`{field}`"))) {
            out.push(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_name_their_field() {
        assert_eq!(names_in("[data-testid='email']"), ["email"]);
        assert_eq!(names_in("input[name=\"e-mail\"]"), ["e-mail"]);
        assert_eq!(names_in("#email.wide"), ["email"]);
        assert_eq!(names_in("aria/Email[role=\"textbox\"]"), ["Email"]);
        assert!(names_in("xpath//html[1]/body[1]").is_empty());
        assert_eq!(
            FakeField::parse("email.unique=user"),
            Ok(FakeField {
                kind: "email.unique".into(),
                field: "user".into()
            })
        );
        assert!(FakeField::parse("emali=user")
            .unwrap_err()
            .contains("not a kind"));
        assert!(FakeField::parse("email")
            .unwrap_err()
            .contains("KIND=FIELD"));
    }

    #[test]
    fn a_typed_email_becomes_fake_wherever_it_went() {
        let text = r##"{"title": "t", "steps": [
            {"type": "change", "selectors": [["[data-testid='user']"], ["input[name='user']"]], "value": "ann@example.com"},
            {"type": "click", "selectors": [["#go"]],
             "network": {"requests": [
                {"kind": "ajax", "method": "POST", "url": "http://h/api/signup", "body": "{\"user\":\"ann@example.com\",\"x\":1}"},
                {"kind": "ajax", "method": "POST", "url": "http://h/form", "body": "user=ann%40example.com&a=1"}]}}]}"##;
        let mut flow = throng_flow::parse(text, "t.json").unwrap();
        assert_eq!(suggestions(&flow).len(), 1);
        assert!(suggestions(&flow)[0].contains("--fake email=user"));
        let lines = apply(&mut flow, &[FakeField::parse("email.unique=user").unwrap()]).unwrap();
        assert!(lines[0].contains("2 request value(s)"), "{lines:?}");
        let out = serde_json::to_string(&flow).unwrap();
        assert!(
            out.contains(r#""valueTemplate":"${fake.email.unique}""#),
            "{out}"
        );
        assert!(
            out.contains(r#"{\"user\":\"${fake.email.unique}\",\"x\":1}"#),
            "{out}"
        );
        assert!(out.contains("user=${fake.email.unique}&a=1"), "{out}");
        assert!(
            suggestions(&flow).is_empty(),
            "a variable is no longer a hint"
        );
        throng_flow::to_checked_json(&flow, "t.json").expect("the flow loads");
        let err = apply(&mut flow, &[FakeField::parse("name=nobody").unwrap()]).unwrap_err();
        assert!(err.contains("no field `nobody`"), "{err}");
    }
}
