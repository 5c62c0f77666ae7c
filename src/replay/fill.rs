//! Where a `${variable}` goes decides how its value is written, as the page wrote it when
//! recorded: percent-encoded in a URL's path, query or fragment, form-encoded in a form body,
//! escaped in a JSON or JavaScript string, without line breaks in a header, as typed elsewhere.
//! A token ending in `+\` pasted raw into a form body arrives as a space and a backslash.

use super::Vars;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Where a template is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A URL: values in its path, query and fragment are percent-encoded; a value before its
    /// path (the scheme and host, or a whole URL) is left as it is.
    Url,
    /// An `application/x-www-form-urlencoded` body.
    Form,
    /// A JSON text: values inside its strings are escaped.
    Json,
    /// JavaScript source: values inside its string literals are escaped.
    Script,
    /// A header value: line breaks and NULs removed.
    Header,
    /// Text as typed (a `change` step's value, a title, a body check).
    Text,
}

/// What a URL component keeps unencoded: RFC 3986's unreserved characters.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl Place {
    /// The place of a request body, from its `Content-Type` (its text when there is none).
    pub fn of_body(content_type: Option<&str>, body: &str) -> Place {
        let ct = content_type.unwrap_or_default().to_ascii_lowercase();
        let looks_json = matches!(body.trim_start().as_bytes().first(), Some(b'{' | b'['));
        if ct.contains("x-www-form-urlencoded") {
            Place::Form
        } else if ct.contains("json") || (ct.is_empty() && looks_json) {
            Place::Json
        } else {
            Place::Text
        }
    }

    /// The place of a body whose headers are `headers` (name, value), any case.
    pub fn of_request<'a>(
        headers: impl IntoIterator<Item = (&'a String, &'a String)>,
        body: &str,
    ) -> Place {
        let ct = headers
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.as_str());
        Place::of_body(ct, body)
    }
}

/// Replaces every `${name}` in `template` with the value `vars` holds, written for `place`;
/// `Err(name)` for the first one without a value. An unclosed `${` is kept as text.
pub fn fill(vars: &Vars, template: &str, place: Place) -> Result<String, String> {
    if !template.contains("${") {
        return Ok(template.to_string());
    }
    let mut out = String::with_capacity(template.len() + 16);
    let mut ctx = Context::new(place);
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        ctx.read(&rest[..start]);
        out.push_str(&rest[..start]);
        let name = &after[..end];
        let value = vars.get(name).ok_or_else(|| name.to_string())?;
        out.push_str(&ctx.write(value));
        ctx.after_value();
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The part of a URL a position is in.
#[derive(Debug, Clone, Copy, PartialEq)]
enum UrlPart {
    /// Scheme and authority, or the very start (a whole URL in a variable).
    Origin,
    Path,
    Query,
}

/// What the literal text read so far says about the next value's place.
struct Context {
    place: Place,
    url: UrlPart,
    /// Inside a string literal, opened by this quote.
    quote: Option<char>,
    escaped: bool,
    /// Literal text read so far (for the URL's origin).
    seen: String,
}

impl Context {
    fn new(place: Place) -> Self {
        Context {
            place,
            url: UrlPart::Origin,
            quote: None,
            escaped: false,
            seen: String::new(),
        }
    }

    fn read(&mut self, text: &str) {
        match self.place {
            Place::Url => self.read_url(text),
            Place::Json | Place::Script => {
                for c in text.chars() {
                    self.read_code(c);
                }
            }
            _ => {}
        }
    }

    fn read_url(&mut self, text: &str) {
        for c in text.chars() {
            self.url = match (self.url, c) {
                (UrlPart::Query, _) | (_, '?' | '#') => UrlPart::Query,
                // The `//` after the scheme is not the path; the first `/` after the host is.
                (UrlPart::Origin, '/') if self.seen.ends_with(':') || self.seen.ends_with(":/") => {
                    UrlPart::Origin
                }
                (UrlPart::Origin, '/') => UrlPart::Path,
                (part, _) => part,
            };
            self.seen.push(c);
        }
        // A relative URL (no scheme) is a path from its first character.
        if self.url == UrlPart::Origin && !self.seen.is_empty() && !self.seen.contains(':') {
            self.url = UrlPart::Path;
        }
    }

    fn read_code(&mut self, c: char) {
        if self.escaped {
            self.escaped = false;
            return;
        }
        match self.quote {
            Some(_) if c == '\\' => self.escaped = true,
            Some(q) if c == q => self.quote = None,
            Some(_) => {}
            None if c == '"' => self.quote = Some('"'),
            None if self.place == Place::Script && (c == '\'' || c == '`') => self.quote = Some(c),
            None => {}
        }
    }

    fn after_value(&mut self) {
        if self.place == Place::Url && self.url == UrlPart::Origin {
            // A host or a whole base URL: what follows it starts at its path.
            self.seen.push_str(if self.seen.contains("://") {
                "h"
            } else {
                "://h"
            });
        }
    }

    fn write(&self, value: &str) -> String {
        match self.place {
            Place::Url => match self.url {
                UrlPart::Origin => value.to_string(),
                UrlPart::Path | UrlPart::Query => utf8_percent_encode(value, COMPONENT).to_string(),
            },
            Place::Form => url::form_urlencoded::byte_serialize(value.as_bytes()).collect(),
            Place::Json | Place::Script => match self.quote {
                Some(q) => escape_string(value, q),
                None => value.to_string(),
            },
            Place::Header => value
                .chars()
                .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
                .collect(),
            Place::Text => value.to_string(),
        }
    }
}

/// `value` escaped for a string literal opened by `quote` (JSON's escapes, and the quote).
fn escape_string(value: &str, quote: char) -> String {
    let json = serde_json::to_string(value).unwrap_or_default();
    let inner = &json[1..json.len().saturating_sub(1)];
    match quote {
        '"' => inner.to_string(),
        q => inner
            .replace("\\\"", "\"")
            .replace(q, &format!("\\{q}"))
            .replace("${", "\\${"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "tok+1/x=y&z%25#q\\7";
    const PASSWORD: &str = "p&ss +%= wörd";

    fn vars() -> Vars {
        let mut v = Vars::new();
        v.set("t", TOKEN.into());
        v.set("pw", PASSWORD.into());
        v.set("base", "http://h:8/app".into());
        v.set("host", "h:8".into());
        v
    }

    #[test]
    fn url_values_are_percent_encoded_in_path_query_and_fragment() {
        let v = vars();
        let got = fill(&v, "http://h/item/${t}?t=${t}&p=${pw}#${t}", Place::Url).unwrap();
        let t = "tok%2B1%2Fx%3Dy%26z%2525%23q%5C7";
        assert_eq!(
            got,
            format!("http://h/item/{t}?t={t}&p=p%26ss%20%2B%25%3D%20w%C3%B6rd#{t}")
        );
        // Decoded by a server, each is the value again.
        let url = url::Url::parse(&got).unwrap();
        let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            q,
            [("t".into(), TOKEN.into()), ("p".into(), PASSWORD.into())]
        );
        assert_eq!(
            fill(&v, "/s?q=${t}", Place::Url).unwrap(),
            format!("/s?q={t}")
        );
        assert_eq!(
            fill(&v, "/item/${t}", Place::Url).unwrap(),
            format!("/item/{t}")
        );
    }

    #[test]
    fn a_url_or_host_in_a_variable_is_kept_whole() {
        let v = vars();
        assert_eq!(
            fill(&v, "${base}/x/${t}", Place::Url).unwrap(),
            "http://h:8/app/x/tok%2B1%2Fx%3Dy%26z%2525%23q%5C7"
        );
        assert_eq!(
            fill(&v, "http://${host}/a", Place::Url).unwrap(),
            "http://h:8/a"
        );
        assert_eq!(fill(&v, "${base}", Place::Url).unwrap(), "http://h:8/app");
    }

    #[test]
    fn form_bodies_are_form_encoded_as_a_browser_submits_them() {
        let v = vars();
        let got = fill(&v, "csrf=${t}&password=${pw}", Place::Form).unwrap();
        let fields: Vec<(String, String)> = url::form_urlencoded::parse(got.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(
            fields,
            [
                ("csrf".into(), TOKEN.into()),
                ("password".into(), PASSWORD.into())
            ]
        );
        assert!(
            got.starts_with("csrf=tok%2B1%2Fx%3Dy%26z%2525%23q%5C7&"),
            "{got}"
        );
    }

    #[test]
    fn json_strings_are_escaped_and_other_json_values_kept() {
        let mut v = vars();
        v.set("q", "say \"hi\"\n".into());
        v.set("n", "42".into());
        let got = fill(
            &v,
            r#"{"t":"${t}","q":"a ${q}","n":${n},"k\"${n}":1}"#,
            Place::Json,
        )
        .unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert_eq!(parsed["t"], TOKEN);
        assert_eq!(parsed["q"], "a say \"hi\"\n");
        assert_eq!(parsed["n"], 42);
        assert_eq!(parsed["k\"42"], 1);
    }

    #[test]
    fn script_strings_escape_their_own_quote() {
        let mut v = vars();
        v.set("q", "it's \"x\" `y`".into());
        let got = fill(&v, "['${q}', \"${q}\", `${q}`].length === 3", Place::Script).unwrap();
        assert_eq!(
            got,
            r#"['it\'s "x" `y`', "it's \"x\" `y`", `it's "x" \`y\``].length === 3"#
        );
    }

    #[test]
    fn headers_lose_line_breaks_and_text_stays_as_typed() {
        let mut v = vars();
        v.set("h", "a\r\nX-Evil: 1".into());
        assert_eq!(
            fill(&v, "Bearer ${h}", Place::Header).unwrap(),
            "Bearer aX-Evil: 1"
        );
        assert_eq!(fill(&v, "${pw}", Place::Text).unwrap(), PASSWORD);
        assert_eq!(fill(&v, "${nope}", Place::Text).unwrap_err(), "nope");
        assert_eq!(fill(&v, "open ${t", Place::Url).unwrap(), "open ${t");
    }

    #[test]
    fn a_body_is_placed_by_its_content_type() {
        assert_eq!(
            Place::of_body(Some("application/x-www-form-urlencoded; charset=UTF-8"), ""),
            Place::Form
        );
        assert_eq!(
            Place::of_body(Some("application/vnd.api+json"), ""),
            Place::Json
        );
        assert_eq!(Place::of_body(None, " {\"a\":1}"), Place::Json);
        assert_eq!(Place::of_body(Some("text/plain"), "{"), Place::Text);
        assert_eq!(Place::of_body(None, "a=1"), Place::Text);
    }
}
