//! A minimal Chrome DevTools Protocol client: one WebSocket, numbered commands, flattened
//! target sessions, and every event handed over as raw JSON.
//!
//! Raw JSON on purpose: the recorder needs a handful of events in full (bindings, navigation
//! requests, network), and typed CDP bindings drift from the browser's protocol (Chromium 156
//! renamed fields that typed clients then fail to parse). The tests drive the recording browser
//! with this client too.

use async_tungstenite::tungstenite::Message;
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long one command may take before it is reported as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Events nobody here reads, dropped unparsed: a page's console output can be megabytes a
/// second and would otherwise be parsed and queued.
const IGNORED: &[&str] = &[
    "Runtime.consoleAPICalled",
    "Runtime.exceptionThrown",
    "Log.entryAdded",
];

/// Whether a message is an ignored event: Chromium writes an event's `method` first.
fn ignored(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("{\"method\":\"") else {
        return false;
    };
    IGNORED
        .iter()
        .any(|m| rest.starts_with(m) && rest[m.len()..].starts_with('"'))
}

/// Errors of the CDP connection.
#[derive(Debug, thiserror::Error)]
pub enum CdpError {
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("{method} failed: {message}")]
    Protocol { method: String, message: String },
    #[error("{method} got no answer within {secs} s")]
    Timeout { method: String, secs: u64 },
    #[error("the browser connection closed")]
    Closed,
}

/// One CDP event.
#[derive(Debug, Clone)]
pub struct Event {
    pub method: String,
    pub params: Value,
    /// The flattened target session the event belongs to (None: the browser itself).
    pub session_id: Option<String>,
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, String>>>>>;

/// A connection to a browser's DevTools endpoint. Cheap to share behind an `Arc`.
pub struct Cdp {
    out: mpsc::UnboundedSender<Message>,
    pending: Pending,
    next_id: AtomicU64,
    reader: tokio::task::JoinHandle<()>,
    writer: tokio::task::JoinHandle<()>,
}

impl Cdp {
    /// Connects to `ws_url` (a `ws://.../devtools/browser/...` URL); events arrive on the receiver
    /// until the connection closes (then the receiver yields `None`).
    pub async fn connect(ws_url: &str) -> Result<(Cdp, mpsc::UnboundedReceiver<Event>), CdpError> {
        let mut config = async_tungstenite::tungstenite::protocol::WebSocketConfig::default();
        // Response bodies travel in one message; allow big ones.
        config.max_message_size = Some(256 << 20);
        config.max_frame_size = Some(256 << 20);
        let (ws, _) = async_tungstenite::tokio::connect_async_with_config(ws_url, Some(config))
            .await
            .map_err(|e| CdpError::Connect {
                url: ws_url.to_string(),
                reason: e.to_string(),
            })?;
        let (mut sink, mut stream) = ws.split();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let pending: Pending = Arc::default();

        let writer = tokio::spawn(async move {
            while let Some(msg) = out_rx.recv().await {
                if sink.send(msg).await.is_err() {
                    break;
                }
            }
            let _ = sink.close(None).await;
        });
        let reader_pending = pending.clone();
        let reader = tokio::spawn(async move {
            while let Some(msg) = stream.next().await {
                let text = match msg {
                    Ok(Message::Text(t)) => t,
                    Ok(Message::Binary(b)) => match String::from_utf8(b.to_vec()) {
                        Ok(t) => t.into(),
                        Err(_) => continue,
                    },
                    Ok(Message::Close(_)) | Err(_) => break,
                    Ok(_) => continue,
                };
                if ignored(&text) {
                    continue;
                }
                let Ok(mut v) = serde_json::from_str::<Value>(&text) else {
                    tracing::warn!(target: "throng_recorder::cdp", "unparsable CDP message dropped");
                    continue;
                };
                if let Some(id) = v.get("id").and_then(Value::as_u64) {
                    let answer = match v.get("error") {
                        Some(err) => Err(err
                            .get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("unknown error")
                            .to_string()),
                        None => Ok(v.get_mut("result").map(Value::take).unwrap_or(Value::Null)),
                    };
                    let waiter = reader_pending.lock().expect("pending lock").remove(&id);
                    if let Some(w) = waiter {
                        let _ = w.send(answer);
                    }
                } else if let Some(method) = v.get("method").and_then(Value::as_str) {
                    let event = Event {
                        method: method.to_string(),
                        session_id: v.get("sessionId").and_then(Value::as_str).map(String::from),
                        params: v.get_mut("params").map(Value::take).unwrap_or(Value::Null),
                    };
                    // A dropped receiver only means nobody listens any more.
                    let _ = ev_tx.send(event);
                }
            }
            // Fail every command still waiting: dropping the senders wakes them with Closed.
            reader_pending.lock().expect("pending lock").clear();
        });
        Ok((
            Cdp {
                out: out_tx,
                pending,
                next_id: AtomicU64::new(1),
                reader,
                writer,
            },
            ev_rx,
        ))
    }

    /// Sends one command and waits for its result.
    pub async fn call(
        &self,
        method: &str,
        params: Value,
        session_id: Option<&str>,
    ) -> Result<Value, CdpError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session_id {
            msg["sessionId"] = Value::String(s.to_string());
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending lock").insert(id, tx);
        if self.out.send(Message::text(msg.to_string())).is_err() {
            self.pending.lock().expect("pending lock").remove(&id);
            return Err(CdpError::Closed);
        }
        match tokio::time::timeout(CALL_TIMEOUT, rx).await {
            Ok(Ok(Ok(v))) => Ok(v),
            Ok(Ok(Err(message))) => Err(CdpError::Protocol {
                method: method.to_string(),
                message,
            }),
            Ok(Err(_)) => Err(CdpError::Closed),
            Err(_) => {
                self.pending.lock().expect("pending lock").remove(&id);
                Err(CdpError::Timeout {
                    method: method.to_string(),
                    secs: CALL_TIMEOUT.as_secs(),
                })
            }
        }
    }

    /// Attaches to a target with a flattened session and returns the session id.
    pub async fn attach(&self, target_id: &str) -> Result<String, CdpError> {
        let r = self
            .call(
                "Target.attachToTarget",
                json!({"targetId": target_id, "flatten": true}),
                None,
            )
            .await?;
        r.get("sessionId")
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| CdpError::Protocol {
                method: "Target.attachToTarget".into(),
                message: "no sessionId in the answer".into(),
            })
    }

    /// The first open page target (a tab), if any.
    pub async fn first_page_target(&self) -> Result<Option<String>, CdpError> {
        let r = self.call("Target.getTargets", json!({}), None).await?;
        Ok(r.get("targetInfos")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|t| t.get("type").and_then(Value::as_str) == Some("page"))
            .and_then(|t| t.get("targetId").and_then(Value::as_str))
            .map(String::from))
    }
}

impl Drop for Cdp {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn console_events_are_ignored_unread() {
        assert!(super::ignored(
            r#"{"method":"Runtime.consoleAPICalled","params":{"type":"log"}}"#
        ));
        assert!(!super::ignored(
            r#"{"method":"Runtime.consoleAPICalledX","params":{}}"#
        ));
        assert!(!super::ignored(r#"{"id":3,"result":{}}"#));
        assert!(!super::ignored(
            r#"{"method":"Network.requestWillBeSent","params":{}}"#
        ));
    }
}
