//! Sessions (cookie `sid`), their CSRF tokens, login state and carts.

use crate::sync::Locked;
use axum::http::{header, HeaderMap, HeaderValue};
use rand::RngCore;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Name of the session cookie.
pub(crate) const COOKIE: &str = "sid";

/// Sessions kept before the oldest-looking ones are dropped: a load test with cookie-less
/// clients creates one per page view, and the demo must not grow without bound.
const MAX_SESSIONS: usize = 100_000;

/// One visitor's server-side state.
#[derive(Debug, Clone, Default)]
pub(crate) struct Session {
    pub csrf: String,
    pub user: Option<String>,
    /// product id -> quantity
    pub cart: BTreeMap<u32, u32>,
}

impl Session {
    pub(crate) fn cart_count(&self) -> u32 {
        self.cart.values().sum()
    }
}

/// The session store.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

/// A session looked up or created for one request.
pub(crate) struct Current {
    pub session: Session,
    /// `Set-Cookie` to send when the session is new.
    pub set_cookie: Option<HeaderValue>,
}

impl Sessions {
    /// The request's session if its cookie names a live one.
    pub(crate) fn get(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let sid = cookie(headers, COOKIE)?;
        let s = self.map.locked().get(&sid).cloned()?;
        Some((sid, s))
    }

    /// The request's session, creating one (and a cookie for it) when missing or unknown.
    pub(crate) fn ensure(&self, headers: &HeaderMap) -> Current {
        if let Some((_, session)) = self.get(headers) {
            return Current {
                session,
                set_cookie: None,
            };
        }
        let (sid, session) = self.create(None);
        Current {
            set_cookie: Some(set_cookie(&sid)),
            session,
        }
    }

    fn create(&self, user: Option<String>) -> (String, Session) {
        let sid = token();
        let session = Session {
            csrf: token(),
            user,
            cart: BTreeMap::new(),
        };
        let mut map = self.map.locked();
        if map.len() >= MAX_SESSIONS {
            if let Some(k) = map.keys().next().cloned() {
                map.remove(&k);
            }
        }
        map.insert(sid.clone(), session.clone());
        (sid, session)
    }

    /// Apply `f` to a live session.
    pub(crate) fn update<R>(&self, sid: &str, f: impl FnOnce(&mut Session) -> R) -> Option<R> {
        self.map.locked().get_mut(sid).map(f)
    }

    /// Log `user` in: the old session is replaced by a fresh one (new id and CSRF token, cart
    /// kept), as real sites do against session fixation. Returns the new cookie.
    pub(crate) fn login(&self, old_sid: &str, user: &str) -> HeaderValue {
        let cart = self
            .map
            .locked()
            .remove(old_sid)
            .map(|s| s.cart)
            .unwrap_or_default();
        let (sid, _) = self.create(Some(user.to_string()));
        self.update(&sid, |s| s.cart = cart);
        set_cookie(&sid)
    }

    /// Drop a session (logout).
    pub(crate) fn remove(&self, sid: &str) {
        self.map.locked().remove(sid);
    }
}

/// 128 random bits as hex: session ids and CSRF tokens.
pub(crate) fn token() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn set_cookie(sid: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("{COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax"))
        .expect("hex session id is a valid header value")
}

/// Value of cookie `name` from the request's `Cookie` headers.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Constant-time comparison for CSRF tokens.
pub(crate) fn tokens_match(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && !a.is_empty()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_creates_once_and_login_rotates_the_id() {
        let store = Sessions::default();
        let first = store.ensure(&HeaderMap::new());
        let cookie_value = first.set_cookie.expect("new session sets a cookie");
        let mut h = HeaderMap::new();
        let pair = cookie_value.to_str().unwrap().split(';').next().unwrap();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=b; {pair}")).unwrap(),
        );
        let again = store.ensure(&h);
        assert!(again.set_cookie.is_none());
        assert_eq!(again.session.csrf, first.session.csrf);
        let (sid, _) = store.get(&h).expect("live session");
        store.update(&sid, |s| {
            s.cart.insert(3, 2);
        });
        let new_cookie = store.login(&sid, "alice");
        assert!(store.get(&h).is_none(), "old id is gone after login");
        let mut h2 = HeaderMap::new();
        h2.insert(header::COOKIE, new_cookie);
        let (_, s) = store
            .get(&h2)
            .expect("cookie value parses as a Cookie header");
        assert_eq!(s.user.as_deref(), Some("alice"));
        assert_eq!(s.cart_count(), 2);
    }

    #[test]
    fn tokens_match_only_equal_non_empty() {
        assert!(tokens_match("abc", "abc"));
        assert!(!tokens_match("abc", "abd"));
        assert!(!tokens_match("", ""));
        assert!(!tokens_match("abc", "abcd"));
    }
}
