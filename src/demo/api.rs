//! JSON endpoints the shop's JavaScript calls after load, and the notifications poller target.

use super::catalog::{self, Product};
use super::server::Shared;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

const NOTICES: &[&str] = &[
    "Free shipping on orders over $50 this week.",
    "New in: the Arc Floor Lamp is back in stock.",
    "Someone near you just bought a Rocking Chair.",
    "Sale ends Sunday: 15% off desks.",
];

#[derive(Deserialize)]
pub(crate) struct ProductQuery {
    product: Option<String>,
}

fn summary(p: &Product) -> Value {
    json!({"id": p.id, "name": p.name, "priceCents": p.price_cents, "image": p.image_path()})
}

fn problem(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// The product named by `?product=ID`, or the 400/404 to send.
fn queried(q: &ProductQuery) -> Result<&'static Product, Box<Response>> {
    let Some(raw) = q.product.as_deref() else {
        return Err(Box::new(problem(
            StatusCode::BAD_REQUEST,
            "missing ?product=",
        )));
    };
    raw.parse()
        .ok()
        .and_then(catalog::product)
        .ok_or_else(|| Box::new(problem(StatusCode::NOT_FOUND, "no such product")))
}

pub(crate) async fn featured() -> Json<Value> {
    let items: Vec<Value> = catalog::featured().into_iter().map(summary).collect();
    Json(json!({ "items": items }))
}

/// Items in the visitor's cart; 0 without a session (AJAX never creates one).
pub(crate) async fn cart_count(State(st): State<Shared>, headers: HeaderMap) -> Json<Value> {
    let count = st
        .sessions
        .get(&headers)
        .map(|(_, s)| s.cart_count())
        .unwrap_or(0);
    Json(json!({ "count": count }))
}

pub(crate) async fn reviews(Query(q): Query<ProductQuery>) -> Response {
    let p = match queried(&q) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let reviews = catalog::reviews(p.id);
    let average = reviews.iter().map(|r| f64::from(r.1)).sum::<f64>() / reviews.len() as f64;
    let list: Vec<Value> = reviews
        .iter()
        .map(|(author, stars, text)| json!({"author": author, "stars": stars, "text": text}))
        .collect();
    Json(json!({"product": p.id, "average": average, "reviews": list})).into_response()
}

pub(crate) async fn stock(Query(q): Query<ProductQuery>) -> Response {
    match queried(&q) {
        Ok(p) => Json(json!({"product": p.id, "inStock": catalog::stock(p.id)})).into_response(),
        Err(r) => *r,
    }
}

pub(crate) async fn related(Query(q): Query<ProductQuery>) -> Response {
    match queried(&q) {
        Ok(p) => {
            let items: Vec<Value> = catalog::related(p.id).into_iter().map(summary).collect();
            Json(json!({"product": p.id, "items": items})).into_response()
        }
        Err(r) => *r,
    }
}

/// The signed-in user's past orders; 401 when not signed in.
pub(crate) async fn orders(State(st): State<Shared>, headers: HeaderMap) -> Response {
    let Some(user) = st.sessions.get(&headers).and_then(|(_, s)| s.user) else {
        return problem(StatusCode::UNAUTHORIZED, "sign in first");
    };
    let seed = user.bytes().fold(7u64, |h, b| h * 31 + u64::from(b));
    let orders: Vec<Value> = (0..3u64)
        .map(|i| {
            let h = catalog::mix(seed + i);
            json!({"id": format!("A{}", 1000 + h % 9000), "items": 1 + h % 4, "totalCents": 2000 + h % 50_000})
        })
        .collect();
    Json(json!({"user": user, "orders": orders})).into_response()
}

/// What the 2-second poller fetches: a rotating notice, like a real site's "what's new" feed.
pub(crate) async fn notifications(State(st): State<Shared>) -> Json<Value> {
    let n = st.polls.fetch_add(1, Ordering::Relaxed);
    let text = NOTICES[(n % NOTICES.len() as u64) as usize];
    Json(json!({"unread": 1 + n % 3, "items": [{"id": n, "text": text}]}))
}
