//! The single-page app (`GET /app`): a token login by `fetch`, a WebSocket the login opens
//! (its URL carries a one-time ticket and its first message the login's token), and results
//! read as a stream through `fetch()`, counted in [`SpaStats`] so tests can check that a
//! replay logged in before opening the socket, authenticated it and closed it cleanly.

use super::catalog::check_password;
use super::pages::html_response;
use super::server::Shared;
use super::session::token;
use crate::sync::Locked;
use axum::body::Body;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::stream::{self, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Mutex;
use std::time::Duration;

/// Feed items the socket sends after the welcome, and events the results stream sends before
/// it is held open.
pub(crate) const SPA_MESSAGES: u64 = 3;
const SPACING: Duration = Duration::from_millis(100);

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>App · Throng Shop</title></head>
<body>
<h1>Live app</h1>
<form data-testid="app-login">
<input name="username" data-testid="app-user" autocomplete="off">
<input name="password" type="password" data-testid="app-password">
<button type="submit" data-testid="app-signin">Sign in</button>
</form>
<p data-testid="app-status">signed out</p>
<button type="button" data-testid="app-results" disabled>Live results</button>
<ul data-testid="app-feed"></ul>
<ul data-testid="app-stream"></ul>
<script>
const $ = (id) => document.querySelector(`[data-testid=${id}]`);
const add = (list, text) => { const li = document.createElement('li'); li.textContent = text; $(list).append(li); };
let token;
$('app-login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = e.target;
  const r = await fetch('/api/app/login', {method: 'POST', headers: {'content-type': 'application/json'},
    body: JSON.stringify({username: form.username.value, password: form.password.value})});
  if (!r.ok) { $('app-status').textContent = 'login failed'; return; }
  const login = await r.json();
  token = login.token;
  const base = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host;
  const ws = new WebSocket(base + '/ws/app?ticket=' + encodeURIComponent(login.ticket));
  ws.onopen = () => ws.send(JSON.stringify({type: 'auth', token}));
  ws.onmessage = (m) => {
    const d = JSON.parse(m.data);
    if (d.type === 'welcome') $('app-status').textContent = 'live as ' + d.user;
    else add('app-feed', d.item);
  };
  ws.onclose = (e) => { document.body.dataset.feedClosed = String(e.code); };
  $('app-results').disabled = false;
});
$('app-results').addEventListener('click', async () => {
  const r = await fetch('/api/app/results', {method: 'POST',
    headers: {'content-type': 'application/json', 'authorization': 'Bearer ' + token},
    body: JSON.stringify({query: 'lamp'})});
  const reader = r.body.getReader();
  const text = new TextDecoder();
  let buf = '';
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buf += text.decode(value, {stream: true});
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      add('app-stream', buf.slice(0, end).replace(/^data: /, ''));
      buf = buf.slice(end + 2);
    }
  }
});
</script>
</body></html>
"#;

/// What the app's server side saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpaStats {
    /// Logins answered with a token, and refused.
    pub logins: u64,
    pub logins_refused: u64,
    /// Sockets opened with a ticket a login handed out, and refused (no or an unknown ticket).
    pub ws_connections: u64,
    pub ws_refused: u64,
    /// Sockets whose first message carried the token of the login that issued their ticket,
    /// and those whose did not (closed with 4001).
    pub ws_authenticated: u64,
    pub ws_unauthenticated: u64,
    /// How sockets ended, by the close code the client sent ("1006": no close frame).
    pub ws_close_codes: std::collections::BTreeMap<String, u64>,
    /// Result streams opened with a valid token, refused, and events sent on them.
    pub streams: u64,
    pub streams_refused: u64,
    pub stream_events: u64,
}

/// Tokens and one-time tickets the logins handed out.
#[derive(Debug, Default)]
pub(crate) struct Logins {
    /// token -> user
    tokens: Mutex<HashMap<String, String>>,
    /// ticket -> token (removed when used)
    tickets: Mutex<HashMap<String, String>>,
}

pub(crate) async fn page() -> Response {
    html_response(StatusCode::OK, None, PAGE.to_string())
}

#[derive(Deserialize)]
pub(crate) struct Credentials {
    username: String,
    password: String,
}

/// `POST /api/app/login`: `{"token", "ticket"}` for good credentials, else 401.
pub(crate) async fn login(State(st): State<Shared>, Json(c): Json<Credentials>) -> Response {
    if !check_password(&c.username, &c.password) {
        st.counters.spa(|s| s.logins_refused += 1);
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "bad credentials"})),
        )
            .into_response();
    }
    let (tok, ticket) = (token(), token());
    st.logins
        .tokens
        .locked()
        .insert(tok.clone(), c.username.clone());
    st.logins
        .tickets
        .locked()
        .insert(ticket.clone(), tok.clone());
    st.counters.spa(|s| s.logins += 1);
    Json(json!({"token": tok, "ticket": ticket, "user": c.username})).into_response()
}

#[derive(Deserialize)]
pub(crate) struct Ticket {
    ticket: Option<String>,
}

/// `GET /ws/app?ticket=`: refused (403) without a ticket a login handed out; else the feed.
pub(crate) async fn socket(
    State(st): State<Shared>,
    Query(q): Query<Ticket>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let issued = q.ticket.and_then(|t| st.logins.tickets.locked().remove(&t));
    let Some(expected) = issued else {
        st.counters.spa(|s| s.ws_refused += 1);
        return StatusCode::FORBIDDEN.into_response();
    };
    st.counters.spa(|s| s.ws_connections += 1);
    upgrade
        .on_upgrade(move |ws| feed(st, ws, expected))
        .into_response()
}

/// The first message must carry `expected` (the token of the login that issued the ticket):
/// then a welcome, [`SPA_MESSAGES`] items, and the server closes (1000); else 4001. Counts the
/// close code the client answers with.
async fn feed(st: Shared, mut ws: WebSocket, expected: String) {
    let first = tokio::time::timeout(Duration::from_secs(10), ws.recv()).await;
    let auth = match first {
        Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str::<Value>(&t).ok(),
        _ => None,
    };
    let user = auth
        .filter(|a| a["type"] == "auth" && a["token"] == expected.as_str())
        .and_then(|_| st.logins.tokens.locked().get(&expected).cloned());
    let closing = match &user {
        Some(user) => {
            st.counters.spa(|s| s.ws_authenticated += 1);
            let mut items = vec![json!({"type": "welcome", "user": user})];
            items.extend((0..SPA_MESSAGES).map(|n| json!({"type": "item", "item": n})));
            for item in items {
                if ws
                    .send(Message::Text(item.to_string().into()))
                    .await
                    .is_err()
                {
                    break;
                }
                tokio::time::sleep(SPACING).await;
            }
            (1000, "done")
        }
        None => {
            st.counters.spa(|s| s.ws_unauthenticated += 1);
            (4001, "not authenticated")
        }
    };
    let (code, reason) = closing;
    let close = Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }));
    let answered = if ws.send(close).await.is_ok() {
        // The client's answer, unless it drops the connection without one.
        let answer = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match ws.recv().await {
                    Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
                    Some(Ok(_)) => continue,
                    None | Some(Err(_)) => return None,
                }
            }
        });
        answer.await.ok().flatten()
    } else {
        None
    };
    let code = answered.map_or("1006".to_string(), |c| c.to_string());
    st.counters
        .spa(|s| *s.ws_close_codes.entry(code).or_default() += 1);
}

/// `POST /api/app/results` with `Authorization: Bearer TOKEN`: an event stream of
/// [`SPA_MESSAGES`] results, then held open (silent) until the client goes; 401 without a
/// token a login handed out.
pub(crate) async fn results(State(st): State<Shared>, headers: HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let known = bearer.is_some_and(|t| st.logins.tokens.locked().contains_key(&t));
    if !known {
        st.counters.spa(|s| s.streams_refused += 1);
        return StatusCode::UNAUTHORIZED.into_response();
    }
    st.counters.spa(|s| s.streams += 1);
    let events = stream::unfold(0u64, move |n| {
        let st = st.clone();
        async move {
            if n == SPA_MESSAGES {
                return None;
            }
            if n > 0 {
                tokio::time::sleep(SPACING).await;
            }
            st.counters.spa(|s| s.stream_events += 1);
            let event = format!("data: {{\"result\":{n}}}\n\n");
            Some((Ok::<_, Infallible>(event), n + 1))
        }
    });
    let body = events.chain(stream::pending());
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from_stream(body))
        .expect("static headers")
}
