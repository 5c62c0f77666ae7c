//! POST handlers for the shop's forms (login, logout, add to cart), all CSRF-protected.
//!
//! A form is accepted only when the request carries a live session cookie and its `csrf` field
//! equals that session's token; otherwise the answer is 403 and nothing changes.

use super::catalog;
use super::html::{self, PageMeta};
use super::pages::{error, render};
use super::server::Shared;
use super::session::{tokens_match, Current, Session};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

/// The form's fields. Parsed from the raw body whatever the content type says, so a POST with a
/// missing or odd content type still gets the CSRF answer (403), not a 415.
struct Fields(HashMap<String, String>);

impl Fields {
    fn parse(body: &Bytes) -> Self {
        Fields(url::form_urlencoded::parse(body).into_owned().collect())
    }

    fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or("")
    }
}

/// The session if the request's token matches it, else the 403 to send.
fn checked(
    st: &Shared,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<(String, Session), Box<Response>> {
    let Some((sid, s)) = st.sessions.get(headers) else {
        return Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "Forbidden: no session. Load the form first.",
        )));
    };
    if !tokens_match(csrf, &s.csrf) {
        return Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "Forbidden: invalid CSRF token.",
        )));
    }
    Ok((sid, s))
}

/// 303 See Other, with a short body naming where to go (as many frameworks send).
fn see_other(location: &'static str, body: String, cookie: Option<HeaderValue>) -> Response {
    let mut r = (StatusCode::SEE_OTHER, body).into_response();
    let h = r.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_static(location));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Some(c) = cookie {
        h.insert(header::SET_COOKIE, c);
    }
    r
}

pub(crate) async fn login(State(st): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let f = Fields::parse(&body);
    let (sid, session) = match checked(&st, &headers, f.get("csrf")) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    if !catalog::check_password(f.get("username"), f.get("password")) {
        let cur = Current {
            session,
            set_cookie: None,
        };
        let body = html::login(&cur.session.csrf, Some("Invalid username or password."));
        let meta = PageMeta {
            page: "login",
            title: "Sign in",
            q: "",
            product_id: None,
        };
        return render(StatusCode::UNAUTHORIZED, &cur, &meta, &body);
    }
    let cookie = st.sessions.login(&sid, f.get("username"));
    let body = format!(
        "Signed in as {}. Redirecting to /account.\n",
        f.get("username")
    );
    see_other("/account", body, Some(cookie))
}

pub(crate) async fn logout(State(st): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    match checked(&st, &headers, Fields::parse(&body).get("csrf")) {
        Ok((sid, _)) => {
            st.sessions.remove(&sid);
            see_other("/", "Signed out. Redirecting to /.\n".into(), None)
        }
        Err(r) => *r,
    }
}

pub(crate) async fn cart_add(
    State(st): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = Fields::parse(&body);
    let sid = match checked(&st, &headers, f.get("csrf")) {
        Ok((sid, _)) => sid,
        Err(r) => return *r,
    };
    let Some(p) = f.get("product").parse().ok().and_then(catalog::product) else {
        return error(StatusCode::NOT_FOUND, "No such product.");
    };
    let qty = f.get("qty").parse::<u32>().unwrap_or(1).clamp(1, 9);
    st.sessions.update(&sid, |s| {
        let line = s.cart.entry(p.id).or_default();
        *line = (*line + qty).min(99);
    });
    see_other("/cart", "Added. Redirecting to /cart.\n".into(), None)
}
