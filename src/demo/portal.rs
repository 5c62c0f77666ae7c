//! The portal (`GET /portal`): a login done by JavaScript that keeps its token in
//! localStorage and sends it as `Authorization: Bearer` on its API calls, plus a session
//! cookie for its pages: what a session handoff (`--login`) must carry from a browser to HTTP
//! users. Counted in [`PortalStats`]: logins (by kind of client), API calls with a token the
//! server issued (and whether a browser's login got it), refused calls, home pages with and
//! without the login's cookie.

use super::catalog::check_password;
use super::pages::html_response;
use super::server::Shared;
use super::session::{cookie, token};
use super::stats::agent_of;
use crate::sync::Locked;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// The portal's session cookie (set by the login, needed by its home page).
const COOKIE: &str = "psid";
/// Tokens and cookies kept before the store starts over (a long load test must not grow the
/// demo without bound).
const MAX_KEPT: usize = 100_000;

const LOGIN_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Portal · Throng Shop</title></head>
<body>
<h1>Portal sign-in</h1>
<form data-testid="portal-login">
<input name="username" data-testid="portal-user" autocomplete="off">
<input name="password" type="password" data-testid="portal-password">
<button type="submit" data-testid="portal-signin">Sign in</button>
</form>
<p data-testid="portal-status">signed out</p>
<script>
document.querySelector('[data-testid=portal-login]').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = e.target;
  const r = await fetch('/api/portal/login', {method: 'POST', headers: {'content-type': 'application/json'},
    body: JSON.stringify({username: form.username.value, password: form.password.value})});
  if (!r.ok) { document.querySelector('[data-testid=portal-status]').textContent = 'login failed'; return; }
  const login = await r.json();
  localStorage.setItem('token', login.token);
  sessionStorage.setItem('user', login.user);
  location.href = '/portal/home';
});
</script>
</body></html>
"#;

const HOME_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Portal home · Throng Shop</title></head>
<body>
<h1>Your orders</h1>
<ul data-testid="portal-orders"></ul>
<script>
(async () => {
  const r = await fetch('/api/portal/orders', {headers: {authorization: 'Bearer ' + localStorage.getItem('token')}});
  const list = document.querySelector('[data-testid=portal-orders]');
  if (!r.ok) { document.body.dataset.failed = String(r.status); return; }
  for (const o of (await r.json()).orders) {
    const li = document.createElement('li');
    li.textContent = o;
    list.append(li);
  }
  document.body.dataset.loaded = '1';
})();
</script>
</body></html>
"#;

/// What the portal's server side saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortalStats {
    /// Logins answered with a token, by kind of client (`chrome`, `throng`, `other`).
    pub logins: u64,
    pub logins_by: std::collections::BTreeMap<String, u64>,
    pub logins_refused: u64,
    /// API calls with a token a login issued, and those refused (no or an unknown token).
    pub calls: u64,
    pub calls_refused: u64,
    /// API calls from throng's HTTP mode whose token a browser's login was issued.
    pub http_calls_with_browser_tokens: u64,
    /// Distinct tokens the API calls carried.
    pub tokens_used: u64,
    /// Home pages served with the login's cookie, and redirected to sign-in without it.
    pub home_pages: u64,
    pub home_refused: u64,
}

/// Tokens (with whether a browser's login got each) and session cookies the logins issued.
#[derive(Debug, Default)]
pub(crate) struct PortalLogins {
    tokens: Mutex<HashMap<String, bool>>,
    used: Mutex<HashSet<String>>,
    cookies: Mutex<HashSet<String>>,
}

pub(crate) async fn page() -> Response {
    html_response(StatusCode::OK, None, LOGIN_PAGE.to_string())
}

/// `GET /portal/home`: the orders page, for a visitor with the login's cookie; else 303 to
/// the sign-in page.
pub(crate) async fn home(State(st): State<Shared>, headers: HeaderMap) -> Response {
    let known = cookie(&headers, COOKIE).is_some_and(|c| st.portal.cookies.locked().contains(&c));
    if !known {
        st.counters.portal(|s| s.home_refused += 1);
        return Redirect::to("/portal").into_response();
    }
    st.counters.portal(|s| s.home_pages += 1);
    html_response(StatusCode::OK, None, HOME_PAGE.to_string())
}

#[derive(Deserialize)]
pub(crate) struct Credentials {
    username: String,
    password: String,
}

/// `POST /api/portal/login`: `{"token", "user"}` and the session cookie for good credentials
/// (a new random token each login), else 401.
pub(crate) async fn login(
    State(st): State<Shared>,
    headers: HeaderMap,
    Json(c): Json<Credentials>,
) -> Response {
    if !check_password(&c.username, &c.password) {
        st.counters.portal(|s| s.logins_refused += 1);
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "bad credentials"})),
        )
            .into_response();
    }
    let agent = agent_of(
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    );
    let (tok, sid) = (token(), token());
    kept(&st.portal.tokens).insert(tok.clone(), agent == "chrome");
    {
        let mut cookies = st.portal.cookies.locked();
        if cookies.len() >= MAX_KEPT {
            cookies.clear();
        }
        cookies.insert(sid.clone());
    }
    st.counters.portal(|s| {
        s.logins += 1;
        *s.logins_by.entry(agent.into()).or_default() += 1;
    });
    let mut r = Json(json!({"token": tok, "user": c.username})).into_response();
    let set = format!("{COOKIE}={sid}; Path=/portal; HttpOnly; SameSite=Lax");
    if let Ok(v) = HeaderValue::from_str(&set) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

fn kept(map: &Mutex<HashMap<String, bool>>) -> std::sync::MutexGuard<'_, HashMap<String, bool>> {
    let mut m = map.locked();
    if m.len() >= MAX_KEPT {
        m.clear();
    }
    m
}

/// `GET /api/portal/orders` and `GET /api/portal/me` with `Authorization: Bearer TOKEN`:
/// 200 for a token a login issued, else 401.
pub(crate) async fn api(State(st): State<Shared>, headers: HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let issued = bearer
        .as_ref()
        .and_then(|t| st.portal.tokens.locked().get(t).copied());
    let (Some(tok), Some(by_browser)) = (bearer, issued) else {
        st.counters.portal(|s| s.calls_refused += 1);
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "no token"}))).into_response();
    };
    let from_http = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| agent_of(ua) == "throng");
    let new = {
        let mut used = st.portal.used.locked();
        if used.len() >= MAX_KEPT {
            used.clear();
        }
        used.insert(tok)
    };
    st.counters.portal(|s| {
        s.calls += 1;
        s.tokens_used += u64::from(new);
        s.http_calls_with_browser_tokens += u64::from(from_http && by_browser);
    });
    Json(json!({"orders": ["order-1", "order-2"]})).into_response()
}
