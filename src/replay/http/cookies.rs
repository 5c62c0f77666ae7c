//! A virtual user's cookie jar; cleared between sessions so each iteration starts fresh.

use reqwest::header::HeaderValue;
use std::sync::RwLock;
use url::Url;

/// Cookie jar handed to reqwest; unlike reqwest's own `Jar` it can be emptied.
#[derive(Default)]
pub struct UserJar(RwLock<cookie_store::CookieStore>);

impl UserJar {
    pub fn clear(&self) {
        self.0.write().expect("cookie jar lock").clear();
    }
}

impl reqwest::cookie::CookieStore for UserJar {
    fn set_cookies(&self, headers: &mut dyn Iterator<Item = &HeaderValue>, url: &Url) {
        let cookies = headers.filter_map(|v| {
            let text = v.to_str().ok()?;
            cookie::Cookie::parse(text.to_string()).ok()
        });
        self.0
            .write()
            .expect("cookie jar lock")
            .store_response_cookies(cookies, url);
    }

    fn cookies(&self, url: &Url) -> Option<HeaderValue> {
        let store = self.0.read().expect("cookie jar lock");
        let joined = store
            .get_request_values(url)
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ");
        if joined.is_empty() {
            return None;
        }
        HeaderValue::from_str(&joined).ok()
    }
}
