//! A small site of the cases replay fidelity depends on: a form whose token holds characters
//! every context encodes differently, a login done by `fetch`, a Web Worker that fetches, popups
//! (on load, on a click, to another host), a stream the page aborts, a response cut by a
//! navigation, a slow and a stalled endpoint, a redirect chain. It counts every request
//! (`METHOD /path`, query stripped) and what the app did (logins, token checks).

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The password the site accepts, with every character forms and URLs treat specially.
pub const PASSWORD: &str = "p&ss +%= wörd#1/";
/// The token every form page hands out (per session): `+ / = & % #` and a backslash.
pub fn token_for(sid: u64) -> String {
    format!("tok+{sid}/x=y&z%25#q\\{}", sid * 7)
}

#[derive(Default)]
pub struct Counts {
    /// Requests by `METHOD /path`.
    pub requests: BTreeMap<String, u64>,
    /// Outcomes of what the app checked: "login ok", "login bad", "token ok", "token bad ...".
    pub effects: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Inner {
    counts: Mutex<Counts>,
    next_sid: Mutex<u64>,
    /// Session id -> user logged in.
    users: Mutex<HashMap<u64, String>>,
}

#[derive(Clone)]
struct App {
    inner: Arc<Inner>,
    /// `http://localhost:PORT`: the same server under another host name.
    other: String,
}

pub struct Site {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Site {
    pub async fn start() -> Site {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Inner::default());
        let app = App {
            inner: inner.clone(),
            other: format!("http://localhost:{}", addr.port()),
        };
        let router = routes()
            .layer(axum::middleware::from_fn_with_state(app.clone(), count))
            .with_state(app);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Site { addr, inner, task }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    /// Requests seen for `METHOD /path`.
    pub fn seen(&self, route: &str) -> u64 {
        self.counts(|c| c.requests.get(route).copied().unwrap_or(0))
    }

    /// How often the app did `effect`.
    pub fn effect(&self, effect: &str) -> u64 {
        self.counts(|c| c.effects.get(effect).copied().unwrap_or(0))
    }

    pub fn counts<T>(&self, f: impl FnOnce(&Counts) -> T) -> T {
        f(&self.inner.counts.lock().unwrap())
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn count(State(app): State<App>, req: Request, next: axum::middleware::Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let path = req.uri().path();
    let path = if path.starts_with("/api/item/") {
        "/api/item/{token}"
    } else {
        path
    };
    let mut key = format!("{} {path}", req.method());
    if host.starts_with("localhost") {
        key = format!("{key} @localhost");
    }
    *app.inner
        .counts
        .lock()
        .unwrap()
        .requests
        .entry(key)
        .or_default() += 1;
    next.run(req).await
}

fn effect(app: &App, what: impl Into<String>) {
    *app.inner
        .counts
        .lock()
        .unwrap()
        .effects
        .entry(what.into())
        .or_default() += 1;
}

fn routes() -> Router<App> {
    Router::new()
        .route("/form", get(form_page).post(form_post))
        .route("/form-ok", get(form_ok))
        .route("/api/check", get(check_query))
        .route("/api/item/{token}", get(check_path))
        .route("/api/json", post(check_json))
        .route("/api-login", get(api_login_page))
        .route("/api/login", post(api_login))
        .route("/api/profile", get(|| async { "{}" }))
        .route("/worker", get(|| page(WORKER_PAGE)))
        .route("/worker.js", get(worker_js))
        .route("/api/from-worker", get(|| async { "from the worker" }))
        .route("/popups", get(popups_page))
        .route("/popup-page", get(|| page(POPUP_PAGE)))
        .route("/popup-onload", get(|| page(POPUP_PAGE)))
        .route("/popup.css", get(css))
        .route("/stream-page", get(|| page(STREAM_PAGE)))
        .route("/stream", get(stream))
        .route("/cut-page", get(|| page(CUT_PAGE)))
        .route("/slow-body", get(slow_body))
        .route("/after-cut", get(|| page("<p>after</p>")))
        .route("/slow", get(slow))
        .route(
            "/slow-page",
            get(|| page("<script>fetch('/slow');</script>")),
        )
        .route("/stall", get(stall))
        .route("/r1", get(|| async { redirect("/r2") }))
        .route("/r2", get(|| async { redirect("/landing") }))
        .route("/landing", get(|| page("<p>landed</p>")))
        .route("/done", get(|| page("<p>done</p>")))
        .route("/late-button", get(|| page(LATE_BUTTON_PAGE)))
        .route("/api/pressed", post(|| async { "pressed" }))
}

/// A button the page enables a while after it loaded, with no request to wait for.
const LATE_BUTTON_PAGE: &str = r#"<button id="go" disabled>Go</button><script>
const go = document.getElementById('go');
setTimeout(() => { go.disabled = false; }, 600);
go.onclick = () => fetch('/api/pressed', { method: 'POST' })
  .then(() => { document.body.dataset.ready = '1'; });
</script>"#;

async fn page(body: &'static str) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><title>t</title></head><body>{body}</body></html>"
    ))
}

fn redirect(to: &'static str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

/// The session id of the `sid` cookie, if any.
fn sid_of(headers: &HeaderMap) -> Option<u64> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    cookies
        .split(';')
        .find_map(|c| c.trim().strip_prefix("sid="))
        .and_then(|v| v.parse().ok())
}

/// The session's token (and a new session when there is none).
fn session(app: &App, headers: &HeaderMap) -> (u64, Option<String>) {
    match sid_of(headers) {
        Some(sid) => (sid, None),
        None => {
            let mut next = app.inner.next_sid.lock().unwrap();
            *next += 1;
            (*next, Some(format!("sid={}; Path=/", *next)))
        }
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}

async fn form_page(State(app): State<App>, headers: HeaderMap) -> Response {
    let (sid, cookie) = session(&app, &headers);
    let token = esc(&token_for(sid));
    let html = format!(
        r#"<!doctype html><html><head><title>form</title><meta name="api-token" content="{token}"></head><body>
<form method="post" action="/form">
<input type="hidden" name="csrf" value="{token}">
<input name="user" id="user"><input type="password" name="password" id="password">
<button id="go" type="submit">Log in</button></form></body></html>"#
    );
    let mut r = Html(html).into_response();
    if let Some(c) = cookie {
        r.headers_mut()
            .insert(header::SET_COOKIE, c.parse().unwrap());
    }
    r
}

async fn form_post(State(app): State<App>, headers: HeaderMap, body: String) -> Response {
    let fields: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let Some(sid) = sid_of(&headers) else {
        effect(&app, "login no session");
        return StatusCode::FORBIDDEN.into_response();
    };
    if fields.get("csrf") != Some(&token_for(sid)) {
        effect(&app, format!("login bad token {:?}", fields.get("csrf")));
        return StatusCode::FORBIDDEN.into_response();
    }
    if fields.get("password").map(String::as_str) != Some(PASSWORD) {
        effect(&app, "login bad password");
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let user = fields.get("user").cloned().unwrap_or_default();
    effect(&app, format!("login ok {user}"));
    app.inner.users.lock().unwrap().insert(sid, user);
    (StatusCode::SEE_OTHER, [(header::LOCATION, "/form-ok")]).into_response()
}

/// After the login: the page sends the session's token back in a query, a path segment, a
/// JSON body and a header, as single-page apps do.
async fn form_ok(headers: HeaderMap) -> Response {
    let Some(sid) = sid_of(&headers) else {
        return StatusCode::FORBIDDEN.into_response();
    };
    let token = esc(&token_for(sid));
    Html(format!(
        r#"<!doctype html><html><head><title>ok</title><meta name="api-token" content="{token}"></head><body><p id="state">checking</p>
<script>
const t = document.querySelector('meta[name=api-token]').content;
Promise.all([
  fetch('/api/check?t=' + encodeURIComponent(t) + '&n=1'),
  fetch('/api/item/' + encodeURIComponent(t)),
  fetch('/api/json', {{method: 'POST', headers: {{'content-type': 'application/json', 'x-token': t}}, body: JSON.stringify({{token: t, n: 1}})}}),
]).then(rs => Promise.all(rs.map(r => r.text().then(() => r.status)))).then(st => {{ document.getElementById('state').textContent = st.join(','); document.body.dataset.ready = '1'; }});
</script></body></html>"#
    ))
    .into_response()
}

fn token_check(app: &App, headers: &HeaderMap, got: Option<&str>, place: &str) -> StatusCode {
    let want = sid_of(headers).map(token_for);
    if got.is_some() && got == want.as_deref() {
        effect(app, format!("token ok {place}"));
        StatusCode::OK
    } else {
        effect(app, format!("token bad {place} {got:?}"));
        StatusCode::BAD_REQUEST
    }
}

async fn check_query(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> StatusCode {
    token_check(&app, &headers, q.get("t").map(String::as_str), "query")
}

async fn check_path(
    State(app): State<App>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> StatusCode {
    token_check(&app, &headers, Some(&token), "path")
}

async fn check_json(State(app): State<App>, headers: HeaderMap, body: String) -> StatusCode {
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let header = headers.get("x-token").and_then(|h| h.to_str().ok());
    let json = token_check(&app, &headers, v["token"].as_str(), "json");
    let head = token_check(&app, &headers, header, "header");
    if json == StatusCode::OK && head == StatusCode::OK {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    }
}

/// A login done by `fetch`: the page reloads itself whatever the answer (as the app of the
/// issue did), showing who is logged in.
async fn api_login_page(State(app): State<App>, headers: HeaderMap) -> Response {
    let (sid, cookie) = session(&app, &headers);
    let who = app
        .inner
        .users
        .lock()
        .unwrap()
        .get(&sid)
        .cloned()
        .unwrap_or_else(|| "nobody".into());
    let html = format!(
        r#"<!doctype html><html><head><title>api login</title></head><body><p id="who">{}</p>
<input id="password" type="password"><button id="login">Log in</button>
<script>
fetch('/api/profile');
document.getElementById('login').onclick = () => fetch('/api/login', {{method: 'POST', headers: {{'content-type': 'application/json'}},
  body: JSON.stringify({{user: 'ann', password: document.getElementById('password').value}})}}).then(() => location.reload());
</script></body></html>"#,
        esc(&who)
    );
    let mut r = Html(html).into_response();
    if let Some(c) = cookie {
        r.headers_mut()
            .insert(header::SET_COOKIE, c.parse().unwrap());
    }
    r
}

async fn api_login(State(app): State<App>, headers: HeaderMap, body: String) -> StatusCode {
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let Some(sid) = sid_of(&headers) else {
        return StatusCode::BAD_REQUEST;
    };
    if v["password"].as_str() == Some(PASSWORD) {
        effect(&app, "api login ok");
        app.inner
            .users
            .lock()
            .unwrap()
            .insert(sid, v["user"].as_str().unwrap_or_default().into());
        StatusCode::OK
    } else {
        effect(&app, "api login bad");
        StatusCode::BAD_REQUEST
    }
}

const WORKER_PAGE: &str = r#"<script>
const w = new Worker('/worker.js');
w.onmessage = (e) => { document.body.dataset.ready = e.data ? '1' : '0'; };
</script>"#;

/// A worker that fetches from its site, and tries another host (which the run does not allow).
async fn worker_js(State(app): State<App>) -> Response {
    let js = format!(
        "fetch('{}/api/from-worker').catch(() => {{}}).finally(() => \
         fetch('/api/from-worker').then(r => r.text()).then(t => postMessage(t)));",
        app.other
    );
    ([(header::CONTENT_TYPE, "text/javascript")], js).into_response()
}

/// A window opened on load (no gesture: a popup blocker's case), one opened by a click, and
/// one opened by a click to another host.
async fn popups_page(State(app): State<App>) -> Html<String> {
    Html(format!(
        r#"<!doctype html><html><head><title>popups</title></head><body>
<button id="open" onclick="window.open('/popup-page')">open</button>
<button id="away" onclick="window.open('{}/popup-page')">away</button>
<script>window.open('/popup-onload');</script></body></html>"#,
        app.other
    ))
}

const POPUP_PAGE: &str = r#"<link rel="stylesheet" href="/popup.css"><p>popup</p>"#;

async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css")], "p{color:red}").into_response()
}

/// Reads a `text/event-stream` through `fetch` and aborts it after its third event.
const STREAM_PAGE: &str = r#"<script>
const ctl = new AbortController();
fetch('/stream', {signal: ctl.signal}).then(async (r) => {
  const reader = r.body.getReader();
  let text = '';
  while ((text.match(/\n\n/g) || []).length < 3) {
    const {value, done} = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  ctl.abort();
  document.body.dataset.ready = '1';
}).catch(() => { document.body.dataset.ready = '1'; });
</script>"#;

/// Three events 30 ms apart, then the stream stays open.
async fn stream() -> Response {
    let events = futures::stream::unfold(0u32, |n| async move {
        if n == 3 {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
        Some((
            Ok::<_, Infallible>(bytes::Bytes::from(format!("data: {n}\n\n"))),
            n + 1,
        ))
    });
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(events),
    )
        .into_response()
}

/// Leaves for another page as soon as a response's head arrives, its body still coming.
const CUT_PAGE: &str = r#"<script>
fetch('/slow-body').then(() => { location.href = '/after-cut'; });
</script>"#;

async fn slow_body() -> Response {
    let body = futures::stream::unfold(0u32, |n| async move {
        if n > 0 {
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        (n < 2).then(|| {
            (
                Ok::<_, Infallible>(bytes::Bytes::from("x".repeat(100))),
                n + 1,
            )
        })
    });
    (
        [(header::CONTENT_TYPE, "text/plain")],
        Body::from_stream(body),
    )
        .into_response()
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    "slow"
}

async fn stall() -> &'static str {
    std::future::pending::<()>().await;
    unreachable!()
}
