//! Log redaction: every log line, throng's and its dependencies' (chromiumoxide's raw CDP
//! messages, cookie_store's jar, HTTP libraries), has its Cookie, Set-Cookie and
//! Authorization values, cookie objects' values and the run's secrets (`--var` values,
//! `--token` / `$THRONG_TOKEN`, `--otlp-header` values) replaced by `***` before it reaches
//! stderr.

use regex::Regex;
use std::borrow::Cow;
use std::io::Write;
use std::sync::Arc;
use tracing_subscriber::fmt::MakeWriter;

/// What a secret is replaced with.
const MASK: &str = "***";
/// Secrets shorter than this are not replaced (a `--var n=1` would mask every digit).
const MIN_SECRET: usize = 4;

pub struct Redactor {
    secrets: Vec<String>,
    /// `Cookie: v`, `"set-cookie":"v"`, `\"Authorization\":\"Bearer v\"`, `cookie_string: Some("v")`.
    header: Regex,
    /// `"value":"v"` (on a line about cookies: CDP cookie objects).
    value: Regex,
    /// Anti-forgery and other tokens in pages and forms: `name="csrf" value="v"`,
    /// `csrf_token=v`.
    token_input: Regex,
    token_param: Regex,
    /// Raw bytes dumped as hex (tungstenite's frame traces carry whole CDP messages).
    hex: Regex,
    /// A URL's credentials: `scheme://user:pw@host`.
    userinfo: Regex,
}

impl Redactor {
    /// Secrets from the command line (`--var NAME=VALUE`, `--var=NAME=VALUE`, `--token T`,
    /// `--token=T`, `--otlp-header NAME=VALUE`) and `$THRONG_TOKEN`.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Self {
        let mut secrets = Vec::new();
        let mut next_is: Option<&str> = None;
        for a in args {
            if let Some(flag) = next_is.take() {
                secrets.push(secret_of(flag, &a));
                continue;
            }
            match a.split_once('=') {
                Some((flag @ ("--var" | "--token" | "--otlp-header"), v)) => {
                    secrets.push(secret_of(flag, v))
                }
                _ => {
                    next_is = ["--var", "--token", "--otlp-header"]
                        .into_iter()
                        .find(|f| *f == a)
                }
            }
        }
        secrets.extend(std::env::var("THRONG_TOKEN").ok());
        Self::new(secrets)
    }

    pub fn new(secrets: Vec<String>) -> Self {
        let mut all: Vec<String> = Vec::new();
        for s in secrets.into_iter().filter(|s| s.len() >= MIN_SECRET) {
            // As sent in a form or a query too.
            let encoded: String = url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
            if encoded != s {
                all.push(encoded);
            }
            all.push(s);
        }
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
        all.dedup();
        Redactor {
            secrets: all,
            header: Regex::new(
                r#"(?i)((?:set-)?cookie|cookie_string|(?:proxy-)?authorization)(\\*"?\s*[:=]\s*(?:[A-Za-z]*\()?\\*"?\s*)((?:[^"\\\r\n{\[]|\\+n)(?:[^"\\\r\n]|\\+n)*)"#,
            )
            .expect("header pattern"),
            value: Regex::new(r#"(\\*"value\\*"\s*:\s*\\*")([^"\\]*)"#).expect("value pattern"),
            token_input: Regex::new(
                r#"(?i)(name=\\*"[^"\\]*(?:csrf|xsrf|token)[^"\\]*\\*"\s+value=\\*")([^"\\]*)"#,
            )
            .expect("token input pattern"),
            token_param: Regex::new(r#"(?i)\b([\w-]*(?:csrf|xsrf|token)[\w-]*=)([^&\s"'\\]+)"#)
                .expect("token param pattern"),
            hex: Regex::new(r"\b0x[0-9a-fA-F]{32,}").expect("hex pattern"),
            userinfo: Regex::new(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s@]*@").expect("userinfo pattern"),
        }
    }

    /// The line with every secret masked (borrowed when there was none).
    pub fn redact<'a>(&self, line: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(line);
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = Cow::Owned(out.replace(s.as_str(), MASK));
            }
        }
        if let Cow::Owned(s) = self.header.replace_all(&out, format!("$1$2{MASK}")) {
            out = Cow::Owned(s);
        }
        for (re, with) in [
            (&self.token_input, "$1"),
            (&self.token_param, "$1"),
            (&self.hex, "0x"),
        ] {
            if let Cow::Owned(s) = re.replace_all(&out, format!("{with}{MASK}")) {
                out = Cow::Owned(s);
            }
        }
        if let Cow::Owned(s) = self.userinfo.replace_all(&out, format!("${{1}}{MASK}@")) {
            out = Cow::Owned(s);
        }
        if out.to_ascii_lowercase().contains("cookie") {
            if let Cow::Owned(s) = self.value.replace_all(&out, format!("$1{MASK}")) {
                out = Cow::Owned(s);
            }
        }
        out
    }
}

fn secret_of(flag: &str, value: &str) -> String {
    match flag {
        "--var" | "--otlp-header" => value.split_once('=').map_or(value, |(_, v)| v).to_string(),
        _ => value.to_string(),
    }
}

/// Standard error through a [`Redactor`]: tracing's formatter writes each event in one call.
#[derive(Clone)]
pub struct RedactingStderr(pub Arc<Redactor>);

pub struct RedactingWriter(Arc<Redactor>);

impl Write for RedactingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(self.0.redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingWriter;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn masks_var_and_token_values_as_given_and_url_encoded() {
        let r = Redactor::from_args(args(&[
            "throng",
            "run",
            "--var",
            "password=won der&land",
            "--var=user=alice",
            "--token",
            "t0ken-xyz",
            "--var",
            "n=1",
        ]));
        let line = "POST body username=alice&password=won+der%26land token t0ken-xyz n=1";
        assert_eq!(
            r.redact(line),
            "POST body username=***&password=*** token *** n=1"
        );
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
        let r = Redactor::from_args(args(&[
            "--otlp-header",
            "X-Key=k3y-value",
            "--otlp-header=X-Other=other-secret",
        ]));
        assert_eq!(
            r.redact("sent k3y-value and other-secret"),
            "sent *** and ***"
        );
    }

    #[test]
    fn masks_cookie_and_authorization_values_in_every_shape_seen_in_logs() {
        let r = Redactor::new(Vec::new());
        let cases = [
            // cookie_store's debug line.
            (
                r#"inserting Set-Cookie 'Cookie { cookie_string: Some("sid=b62777a5; Path=/; HttpOnly"), name: Indexed(0, 3)"#,
                r#"inserting Set-Cookie 'Cookie { cookie_string: Some("***"), name: Indexed(0, 3)"#,
            ),
            // chromiumoxide's raw CDP message, JSON inside a Debug string.
            (
                r#"msg="{\"headers\":{\"Cookie\":\"sid=8231\",\"Accept\":\"*/*\"}}""#,
                r#"msg="{\"headers\":{\"Cookie\":\"***\",\"Accept\":\"*/*\"}}""#,
            ),
            (
                r#"{\"set-cookie\":\"a=1; Path=/\\nb=2; Path=/\",\"x\":1}"#,
                r#"{\"set-cookie\":\"***\",\"x\":1}"#,
            ),
            (
                r#"{\"associatedCookies\":[{\"cookie\":{\"name\":\"sid\",\"value\":\"8231ab\",\"domain\":\"h\"}}]}"#,
                r#"{\"associatedCookies\":[{\"cookie\":{\"name\":\"sid\",\"value\":\"***\",\"domain\":\"h\"}}]}"#,
            ),
            ("authorization: Bearer abc.def", "authorization: ***"),
            // chromiumoxide's trace of a parsed message.
            (
                r#"Object {"set-cookie": String("sid=1fbd; Path=/"), "date": String("x")}"#,
                r#"Object {"set-cookie": String("***"), "date": String("x")}"#,
            ),
            (
                r#"<input type=\"hidden\" name=\"csrf\" value=\"9bf549af\"><label>"#,
                r#"<input type=\"hidden\" name=\"csrf\" value=\"***\"><label>"#,
            ),
            (
                "frame payload: 0x7b226d6574686f64223a224e6574776f726b2e",
                "frame payload: 0x***",
            ),
            (
                "GET http://alice:pw@h:8/x?y=z@w and https://bob@k/",
                "GET http://***@h:8/x?y=z@w and https://***@k/",
            ),
            (
                "postData: username=alice&csrf_token=9bf549af&go=1",
                "postData: username=alice&csrf_token=***&go=1",
            ),
            (
                r#"headers: {"cookie": "a=b", "authorization": "Basic eHg="}"#,
                r#"headers: {"cookie": "***", "authorization": "***"}"#,
            ),
        ];
        for (line, want) in cases {
            assert_eq!(r.redact(line), want, "{line}");
        }
        // A value on a line without cookies is left alone.
        let plain = r#"{\"value\":\"lamp\"}"#;
        assert_eq!(r.redact(plain), plain);
    }
}
