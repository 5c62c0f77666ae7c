//! GET handlers for the shop's HTML pages (home, search, product, cart, login, account, 404).

use super::catalog::{self, PRODUCTS};
use super::html::{self, PageMeta, Visitor};
use super::server::Shared;
use super::session::Current;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// An HTML response; sets the session cookie when the session is new. Documents are dynamic,
/// so they are never cached (only the assets are).
pub(crate) fn html_response(status: StatusCode, cur: Option<&Current>, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(c) = cur.and_then(|c| c.set_cookie.clone()) {
        h.insert(header::SET_COOKIE, c);
    }
    r
}

/// Render a full page for the visitor `cur`.
pub(crate) fn render(status: StatusCode, cur: &Current, meta: &PageMeta, body: &str) -> Response {
    let v = Visitor {
        user: cur.session.user.as_deref(),
        cart_count: cur.session.cart_count(),
    };
    html_response(status, Some(cur), html::layout(&v, meta, body))
}

pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    html_response(status, None, html::error_page(status.as_u16(), message))
}

fn meta<'a>(page: &'a str, title: &'a str) -> PageMeta<'a> {
    PageMeta {
        page,
        title,
        q: "",
        product_id: None,
    }
}

pub(crate) async fn home(State(st): State<Shared>, headers: HeaderMap) -> Response {
    let cur = st.sessions.ensure(&headers);
    render(
        StatusCode::OK,
        &cur,
        &meta("home", "Home"),
        &html::home(PRODUCTS),
    )
}

#[derive(Deserialize)]
pub(crate) struct SearchQuery {
    #[serde(default)]
    q: String,
}

pub(crate) async fn search(
    State(st): State<Shared>,
    headers: HeaderMap,
    Query(sq): Query<SearchQuery>,
) -> Response {
    let cur = st.sessions.ensure(&headers);
    st.counters.searched(&sq.q);
    let results = catalog::search(&sq.q);
    let title = format!("Search: {}", sq.q);
    let m = PageMeta {
        q: &sq.q,
        ..meta("search", &title)
    };
    render(StatusCode::OK, &cur, &m, &html::search(&sq.q, &results))
}

pub(crate) async fn product(
    State(st): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(p) = id.parse().ok().and_then(catalog::product) else {
        return error(StatusCode::NOT_FOUND, "No such product.");
    };
    let cur = st.sessions.ensure(&headers);
    let m = PageMeta {
        product_id: Some(p.id),
        ..meta("product", p.name)
    };
    render(
        StatusCode::OK,
        &cur,
        &m,
        &html::product(p, &cur.session.csrf),
    )
}

pub(crate) async fn cart(State(st): State<Shared>, headers: HeaderMap) -> Response {
    let cur = st.sessions.ensure(&headers);
    let lines: Vec<_> = cur
        .session
        .cart
        .iter()
        .filter_map(|(&id, &qty)| catalog::product(id).map(|p| (p, qty)))
        .collect();
    render(
        StatusCode::OK,
        &cur,
        &meta("cart", "Cart"),
        &html::cart(&lines),
    )
}

pub(crate) async fn login(State(st): State<Shared>, headers: HeaderMap) -> Response {
    let cur = st.sessions.ensure(&headers);
    let body = html::login(&cur.session.csrf, None);
    render(StatusCode::OK, &cur, &meta("login", "Sign in"), &body)
}

pub(crate) async fn account(State(st): State<Shared>, headers: HeaderMap) -> Response {
    let Some((_, session)) = st.sessions.get(&headers) else {
        return Redirect::to("/login").into_response();
    };
    let Some(user) = session.user.clone() else {
        return Redirect::to("/login").into_response();
    };
    let body = html::account(&user, &session.csrf);
    let cur = Current {
        session,
        set_cookie: None,
    };
    render(
        StatusCode::OK,
        &cur,
        &meta("account", "Your account"),
        &body,
    )
}

pub(crate) async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "There is nothing at this address.")
}
