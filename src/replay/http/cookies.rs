//! A virtual user's cookie jar; cleared between sessions so each iteration starts fresh.

use http::header::HeaderValue;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;
use url::Url;

/// The cookies one user's browser holds (RFC 6265 matching by cookie_store).
#[derive(Default)]
pub struct UserJar {
    store: RwLock<cookie_store::CookieStore>,
    /// Whether anything was ever stored since the last clear: most requests of a
    /// cookie-less target then skip the domain/path matching entirely.
    used: AtomicBool,
}

impl UserJar {
    pub fn clear(&self) {
        if self.used.swap(false, Ordering::Relaxed) {
            self.store.write().expect("cookie jar lock").clear();
        }
    }

    /// Stores the `Set-Cookie` values of a response to `url`.
    pub fn store_from<'h>(&self, values: impl Iterator<Item = &'h HeaderValue>, url: &Url) {
        let mut cookies = values
            .filter_map(|v| cookie::Cookie::parse(v.to_str().ok()?.to_string()).ok())
            .peekable();
        if cookies.peek().is_none() {
            return;
        }
        self.used.store(true, Ordering::Relaxed);
        self.store
            .write()
            .expect("cookie jar lock")
            .store_response_cookies(cookies, url);
    }

    /// The `Cookie` header a browser would send to `url`, if any.
    pub fn header_for(&self, url: &Url) -> Option<String> {
        if !self.used.load(Ordering::Relaxed) {
            return None;
        }
        let store = self.store.read().expect("cookie jar lock");
        let mut joined = String::new();
        for (name, value) in store.get_request_values(url) {
            if !joined.is_empty() {
                joined.push_str("; ");
            }
            joined.push_str(name);
            joined.push('=');
            joined.push_str(value);
        }
        (!joined.is_empty()).then_some(joined)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_matches_by_path_and_clears() {
        let jar = UserJar::default();
        let url = Url::parse("http://127.0.0.1:8080/login").unwrap();
        assert_eq!(jar.header_for(&url), None);
        let values = [
            HeaderValue::from_static("sid=abc; Path=/; HttpOnly"),
            HeaderValue::from_static("only=here; Path=/admin"),
        ];
        jar.store_from(values.iter(), &url);
        let home = Url::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(jar.header_for(&home).as_deref(), Some("sid=abc"));
        let admin = Url::parse("http://127.0.0.1:8080/admin/x").unwrap();
        let both = jar.header_for(&admin).unwrap();
        assert!(
            both.contains("sid=abc") && both.contains("only=here"),
            "{both}"
        );
        jar.clear();
        assert_eq!(jar.header_for(&home), None);
    }
}
