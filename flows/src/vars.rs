//! `${name}` placeholders: finding them in strings and checking variable names.

/// The names inside `${...}` placeholders in `s`, in order (repeats kept). An unclosed `${`
/// is not a placeholder.
pub fn variables_used(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                out.push(&after[..end]);
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    out
}

/// Replaces every `${name}` in `s` with `value(name)`; names `value` returns `None` for are
/// left as they are.
pub fn substitute<'a>(s: &str, mut value: impl FnMut(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        out.push_str(&rest[..start]);
        let name = &after[..end];
        match value(name) {
            Some(v) => out.push_str(v),
            None => out.push_str(&rest[start..start + 3 + end]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A variable name: ASCII letter or `_`, then letters, digits or `_`.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_placeholders_in_order() {
        assert_eq!(
            variables_used("/s?q=${q}&t=${csrf}&again=${q}"),
            vec!["q", "csrf", "q"]
        );
        assert_eq!(variables_used("${a}${b}"), vec!["a", "b"]);
        assert_eq!(variables_used("${}"), vec![""]);
    }

    #[test]
    fn ignores_text_that_is_not_a_placeholder() {
        assert!(variables_used("price $5 {x} $ {y}").is_empty());
        assert!(variables_used("open ${never closed").is_empty());
        assert_eq!(variables_used("${a} then ${b"), vec!["a"]);
    }

    #[test]
    fn substitutes_known_names_and_keeps_unknown_ones() {
        let got = substitute("/s?q=${q}&x=${nope}&q2=${q}", |n| {
            (n == "q").then_some("lamp")
        });
        assert_eq!(got, "/s?q=lamp&x=${nope}&q2=lamp");
        assert_eq!(substitute("tail ${open", |_| Some("v")), "tail ${open");
        assert_eq!(substitute("ü${q}ü", |_| Some("é")), "üéü");
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("csrf_token2"));
        assert!(is_identifier("_x"));
        assert!(!is_identifier("2x"));
        assert!(!is_identifier("my-var"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("é"));
    }
}
