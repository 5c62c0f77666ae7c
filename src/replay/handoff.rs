//! Session handoff (`--login FLOW`): what a browser login ended with (its cookies for the
//! flow's hosts, the `Authorization` header its pages sent to the flow's origin, its
//! localStorage and sessionStorage values), handed to HTTP users: their cookie jar seeded,
//! that header on their requests to the same origin, the values as `${storage.NAME}`.

use super::Vars;
use std::sync::Arc;
use url::Url;

/// The prefix of the variables a handoff sets: `${storage.token}`.
pub const STORAGE_PREFIX: &str = "storage.";
/// How a flow's text starts naming one of them.
pub const STORAGE_REF: &str = "${storage.";
/// Most storage values handed over (a page may keep hundreds; the flows use a few).
const MAX_VALUES: usize = 256;
/// Longest storage value handed over (a cached bundle in localStorage is not a credential).
pub const MAX_VALUE_BYTES: usize = 16 << 10;

/// Where a login session sends its handoff, and the storage names the run's flows use
/// (`${storage.NAME}`): only those are read from the page, so a page keeping thousands of
/// entries can neither crowd them out nor make the read large.
pub struct HandoffTo {
    pub names: Arc<[String]>,
    pub to: tokio::sync::oneshot::Sender<Handoff>,
}

/// The `NAME`s of every `${storage.NAME}` in `text` (a flow's JSON), each once.
pub fn storage_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (i, _) in text.match_indices(STORAGE_REF) {
        let rest = &text[i + STORAGE_REF.len()..];
        if let Some(end) = rest.find('}') {
            let name = &rest[..end];
            if !name.is_empty() && !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
    }
    names
}

/// A cookie the login's browser held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandedCookie {
    pub name: String,
    pub value: String,
    /// As the browser reports it: `.example.com` for a domain cookie, `example.com` for a
    /// host-only one.
    pub domain: String,
    pub path: String,
    pub secure: bool,
    pub http_only: bool,
}

impl HandedCookie {
    /// The cookie as a `Set-Cookie` line and the URL it is set from: what a user's cookie
    /// jar takes to hold it as the browser did (a host-only cookie stays host-only).
    pub fn as_set_cookie(&self) -> Option<(Url, String)> {
        let host = self.domain.trim_start_matches('.');
        let scheme = if self.secure { "https" } else { "http" };
        let path = if self.path.starts_with('/') {
            self.path.as_str()
        } else {
            "/"
        };
        let url = Url::parse(&format!("{scheme}://{host}{path}")).ok()?;
        let mut line = format!("{}={}; Path={path}", self.name, self.value);
        if self.domain.starts_with('.') {
            line.push_str(&format!("; Domain={host}"));
        }
        if self.secure {
            line.push_str("; Secure");
        }
        if self.http_only {
            line.push_str("; HttpOnly");
        }
        Some((url, line))
    }

    /// Whether this cookie would be sent to `host` (its domain is the host or a parent).
    pub fn applies_to(&self, host: &str) -> bool {
        let domain = self.domain.trim_start_matches('.');
        let host = host.trim_end_matches('.');
        host.eq_ignore_ascii_case(domain)
            || (self.domain.starts_with('.')
                && host.len() > domain.len()
                && host[host.len() - domain.len()..].eq_ignore_ascii_case(domain)
                && host.as_bytes()[host.len() - domain.len() - 1] == b'.')
    }
}

/// What one browser login hands its HTTP users.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Handoff {
    pub cookies: Vec<HandedCookie>,
    /// The `Authorization` value the login's pages last sent to the flow's origin, and that
    /// origin (`scheme://host:port`).
    pub authorization: Option<(String, String)>,
    /// localStorage then sessionStorage of the page the login ended on (sessionStorage wins
    /// on a name both hold, as the page would read it last).
    pub storage: Vec<(String, String)>,
}

impl Handoff {
    /// Sets `${storage.NAME}` for every value handed over.
    pub fn set_vars(&self, vars: &mut Vars) {
        for (name, value) in &self.storage {
            vars.set(&format!("{STORAGE_PREFIX}{name}"), value.clone());
        }
    }

    /// The `Authorization` value for a request to `url`, when the login's pages sent one to
    /// that origin.
    pub fn authorization_for(&self, url: &Url) -> Option<&str> {
        let (origin, value) = self.authorization.as_ref()?;
        (url.origin().ascii_serialization() == *origin).then_some(value.as_str())
    }

    /// Keeps storage values within bounds: at most [`MAX_VALUES`], each at most
    /// [`MAX_VALUE_BYTES`] (longer ones are dropped, not cut: a cut token is no token).
    pub fn with_storage(mut self, values: impl IntoIterator<Item = (String, String)>) -> Self {
        for (name, value) in values {
            if value.len() > MAX_VALUE_BYTES || name.is_empty() {
                continue;
            }
            match self.storage.iter().position(|(n, _)| *n == name) {
                Some(i) => self.storage[i].1 = value,
                None if self.storage.len() < MAX_VALUES => self.storage.push((name, value)),
                None => {}
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie(domain: &str, secure: bool) -> HandedCookie {
        HandedCookie {
            name: "sid".into(),
            value: "abc".into(),
            domain: domain.into(),
            path: "/".into(),
            secure,
            http_only: true,
        }
    }

    #[test]
    fn cookies_keep_their_scope() {
        let (url, line) = cookie("127.0.0.1", false).as_set_cookie().unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1/");
        assert_eq!(line, "sid=abc; Path=/; HttpOnly");
        let (url, line) = cookie(".shop.example", true).as_set_cookie().unwrap();
        assert_eq!(url.as_str(), "https://shop.example/");
        assert_eq!(
            line,
            "sid=abc; Path=/; Domain=shop.example; Secure; HttpOnly"
        );
        assert!(cookie(".shop.example", true).applies_to("api.shop.example"));
        assert!(cookie(".shop.example", true).applies_to("shop.example"));
        assert!(!cookie(".shop.example", true).applies_to("evilshop.example"));
        assert!(!cookie("shop.example", true).applies_to("api.shop.example"));
    }

    #[test]
    fn the_storage_names_a_flow_uses_are_found() {
        let text = r#"{"h": "Bearer ${storage.token}", "b": "${storage.cart_id}/${storage.token}", "x": "${user}"}"#;
        assert_eq!(storage_names(text), ["token", "cart_id"]);
    }

    #[test]
    fn storage_becomes_variables_and_authorization_stays_on_its_origin() {
        let h = Handoff {
            authorization: Some(("http://127.0.0.1:8080".into(), "Bearer t".into())),
            ..Default::default()
        }
        .with_storage([
            ("token".into(), "one".into()),
            ("token".into(), "two".into()),
            ("huge".into(), "x".repeat(MAX_VALUE_BYTES + 1)),
        ]);
        let mut vars = Vars::new();
        h.set_vars(&mut vars);
        assert_eq!(vars.get("storage.token"), Some("two"));
        assert_eq!(vars.get("storage.huge"), None);
        let same = Url::parse("http://127.0.0.1:8080/api/x").unwrap();
        let other = Url::parse("http://127.0.0.1:9090/api/x").unwrap();
        assert_eq!(h.authorization_for(&same), Some("Bearer t"));
        assert_eq!(h.authorization_for(&other), None);
    }
}
