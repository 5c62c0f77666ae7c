//! The live page: a Server-Sent Events stream of deals and a WebSocket of price ticks, both
//! held open while the page is, with fixed message counts so tests can cross-check clients
//! against the site's own counters ([`super::LiveStats`]).

use super::pages::html_response;
use super::server::Shared;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream, StreamExt};
use std::convert::Infallible;
use std::time::Duration;

/// Events (SSE) and ticks (WebSocket) the site sends on each stream, then holds it open.
pub(crate) const LIVE_MESSAGES: u64 = 5;
const SPACING: Duration = Duration::from_millis(100);

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Live · Throng Shop</title></head>
<body>
<h1>Live deals</h1>
<p data-testid="live-status">connecting</p>
<ul data-testid="live-feed"></ul>
<script>
const feed = document.querySelector('[data-testid=live-feed]');
const add = (text) => { const li = document.createElement('li'); li.textContent = text; feed.append(li); };
const deals = new EventSource('/api/live/events');
deals.onmessage = (e) => add('deal ' + e.data);
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/live');
ws.onopen = () => {
  document.querySelector('[data-testid=live-status]').textContent = 'live';
  ws.send(JSON.stringify({type: 'hello'}));
  setTimeout(() => ws.send(JSON.stringify({type: 'watch', product: 3})), 300);
};
ws.onmessage = (e) => add('tick ' + e.data);
</script>
</body></html>
"#;

pub(crate) async fn page() -> Response {
    html_response(StatusCode::OK, None, PAGE.to_string())
}

/// `GET /api/live/events`: [`LIVE_MESSAGES`] events, then the stream stays open (silent)
/// until the client goes.
pub(crate) async fn events(
    State(st): State<Shared>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    st.counters.live(|l| l.sse_connections += 1);
    let deals = stream::unfold(0u64, move |n| {
        let st = st.clone();
        async move {
            if n == LIVE_MESSAGES {
                return None;
            }
            if n > 0 {
                tokio::time::sleep(SPACING).await;
            }
            st.counters.live(|l| l.sse_events += 1);
            let event = Event::default().data(format!("{{\"deal\":{n}}}"));
            Some((Ok(event), n + 1))
        }
    });
    Sse::new(deals.chain(stream::pending::<Result<Event, Infallible>>()))
}

/// `GET /ws/live`: the WebSocket upgrade.
pub(crate) async fn socket(State(st): State<Shared>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |ws| ticks(st, ws)).into_response()
}

/// [`LIVE_MESSAGES`] ticks, an acknowledgement for every message received, until the client
/// closes.
async fn ticks(st: Shared, mut ws: WebSocket) {
    st.counters.live(|l| l.ws_connections += 1);
    let mut sent = 0u64;
    let mut next = tokio::time::Instant::now();
    loop {
        let tick = async {
            if sent < LIVE_MESSAGES {
                tokio::time::sleep_until(next).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = tick => {
                let text = format!("{{\"tick\":{sent},\"price\":{}}}", 100 + sent);
                if ws.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
                st.counters.live(|l| l.ws_messages_out += 1);
                sent += 1;
                next += SPACING;
            }
            incoming = ws.recv() => match incoming {
                Some(Ok(Message::Text(_) | Message::Binary(_))) => {
                    st.counters.live(|l| l.ws_messages_in += 1);
                    if ws.send(Message::Text("{\"ack\":true}".into())).await.is_err() {
                        break;
                    }
                    st.counters.live(|l| l.ws_messages_out += 1);
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            },
        }
    }
    st.counters.live(|l| l.ws_closed += 1);
}
