//! A worker's channel to its coordinator, over throng's outbound client (http or https): the
//! handshake ([`super::secure`]), then sealed, numbered requests whose answers are opened only
//! if the coordinator of this session sealed them. Answers are read up to a limit.

use super::protocol::{
    now_unix_ms, now_unix_us, Clock, Welcome, RUN_HEADER, SEQ_HEADER, WORKER_HEADER,
};
use super::secure::{Binding, Challenge, Keys, WorkerSide};
use crate::cli::args::RoleArg;
use crate::outbound::{redacted, Answer, Outbound, OutboundOptions, Request};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use url::Url;

/// A handshake answer's size at most.
const HANDSHAKE_LIMIT: usize = 16 << 10;
const CLOCK_LIMIT: usize = 1 << 10;
/// Every request's time (the coordinator's long poll answers within 20 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request to the coordinator failed.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The server did not prove it holds the token: never retried, never obeyed.
    #[error("the coordinator at {0} {1}: refusing its orders")]
    Impostor(String, String),
    /// The coordinator does not know this run or this worker (it restarted, or the run is
    /// over): the worker stops.
    #[error("the coordinator no longer knows this run: {0}")]
    Gone(String),
    #[error("the coordinator refused: {0}")]
    Refused(String),
    #[error("{0}")]
    Network(String),
}

/// This worker's session: its run, its id, its keys and its next message number.
struct Session {
    run: String,
    worker: u64,
    keys: Keys,
    seq: AtomicU64,
}

pub struct Channel {
    base: Url,
    /// How the coordinator's URL is shown (userinfo redacted).
    pub shown: String,
    http: Outbound,
    token: String,
    session: Option<Session>,
}

impl Channel {
    /// A channel to `base` (http:// or https://); `cacert_pem` is trusted besides the system's
    /// roots for an https coordinator.
    pub fn new(base: Url, token: String, cacert_pem: Option<Vec<u8>>) -> Result<Self, String> {
        let http = Outbound::new(&OutboundOptions {
            cacert_pem,
            timeout: Some(REQUEST_TIMEOUT),
            https: base.scheme() == "https",
        })
        .map_err(|e| e.to_string())?;
        Ok(Channel {
            shown: redacted(&base),
            base,
            http,
            token,
            session: None,
        })
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let joined = format!("{}{path}", self.base.path().trim_end_matches('/'));
        url.set_path(&joined);
        url
    }

    async fn post(
        &self,
        path: &str,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
        limit: usize,
    ) -> Result<Answer, ChannelError> {
        let url = self.url(path);
        let answer = self
            .http
            .post(Request {
                url: &url,
                headers: headers
                    .into_iter()
                    .map(|(name, value)| (name.to_string(), value))
                    .collect(),
                body,
                limit,
                timeout: None,
            })
            .await
            .map_err(|e| ChannelError::Network(e.to_string()))?;
        match answer.status {
            200..=299 if answer.truncated => Err(ChannelError::Refused(format!(
                "an answer larger than {limit} bytes"
            ))),
            200..=299 => Ok(answer),
            410 => Err(ChannelError::Gone(answer.text(200))),
            status => Err(ChannelError::Refused(format!(
                "{status}: {}",
                answer.text(200)
            ))),
        }
    }

    /// The handshake: the coordinator proves the token first, then this worker. Returns the
    /// worker's id and a first estimate of the coordinator's clock minus ours (ms).
    pub async fn join(
        &mut self,
        name: &str,
        memory_bytes: Option<u64>,
        role: RoleArg,
    ) -> Result<(u64, i64), ChannelError> {
        let (side, hello) = WorkerSide::hello_as(name, now_unix_ms(), memory_bytes, role);
        let body = to_json(&hello);
        let sent = now_unix_ms();
        let answer = self
            .post("/v1/hello", json_type(), body, HANDSHAKE_LIMIT)
            .await?;
        let received = now_unix_ms();
        let challenge: Challenge = serde_json::from_slice(&answer.body)
            .map_err(|e| ChannelError::Impostor(self.shown.clone(), format!("answered {e}")))?;
        let (proof, keys) = side
            .answer(&self.token, &challenge)
            .map_err(|e| ChannelError::Impostor(self.shown.clone(), e.0.to_string()))?;
        let answer = self
            .post("/v1/join", json_type(), to_json(&proof), HANDSHAKE_LIMIT)
            .await?;
        let at = Binding {
            run: &challenge.run,
            worker: 0,
            path: "/v1/join",
            seq: 0,
        };
        let welcome: Welcome = keys
            .open(at, answer.body.to_vec())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| {
                ChannelError::Impostor(self.shown.clone(), "sent a welcome it did not seal".into())
            })?;
        // Assuming the answer to the hello came halfway.
        let offset = challenge.now_unix_ms as i64 - ((sent + received) / 2) as i64;
        self.session = Some(Session {
            run: challenge.run,
            worker: welcome.worker_id,
            keys,
            seq: AtomicU64::new(1),
        });
        Ok((welcome.worker_id, offset))
    }

    /// The coordinator's clock minus ours (ms), from the fastest of `samples` sealed round
    /// trips (the least delayed by either side's load), or `fallback` if none succeeds.
    pub async fn clock_offset(&self, samples: usize, fallback: i64) -> i64 {
        let mut best: Option<(u64, i64)> = None;
        for _ in 0..samples {
            let sent = now_unix_us();
            let Ok(c) = self.call::<_, Clock>("/v1/clock", &(), CLOCK_LIMIT).await else {
                continue;
            };
            let received = now_unix_us();
            let rtt = received.saturating_sub(sent);
            let offset = c.now_unix_us as i64 - ((sent + received) / 2) as i64;
            if best.is_none_or(|(r, _)| rtt < r) {
                best = Some((rtt, offset));
            }
        }
        best.map_or(fallback, |(_, us)| (us as f64 / 1000.0).round() as i64)
    }

    /// A sealed request and its sealed answer.
    pub async fn call<T: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        message: &T,
        limit: usize,
    ) -> Result<R, ChannelError> {
        let s = self
            .session
            .as_ref()
            .ok_or_else(|| ChannelError::Refused("not joined".into()))?;
        let seq = s.seq.fetch_add(1, Ordering::Relaxed);
        let at = Binding {
            run: &s.run,
            worker: s.worker,
            path,
            seq,
        };
        let body = serde_json::to_vec(message).map_err(|e| ChannelError::Refused(e.to_string()))?;
        // Reports are most of what workers send: gzipped (the coordinator opens them bounded).
        let body = if path == "/v1/report" {
            super::gzip::compress(&body)
        } else {
            body
        };
        let headers = vec![
            (RUN_HEADER, s.run.clone()),
            (WORKER_HEADER, s.worker.to_string()),
            (SEQ_HEADER, seq.to_string()),
        ];
        let answer = self
            .post(path, headers, s.keys.seal(at, body), limit)
            .await?;
        let opened = s.keys.open(at, answer.body.to_vec()).map_err(|_| {
            ChannelError::Impostor(self.shown.clone(), "sent an answer it did not seal".into())
        })?;
        serde_json::from_slice(&opened)
            .map_err(|e| ChannelError::Refused(format!("an answer that is not JSON: {e}")))
    }
}

/// JSON bytes of a handshake message.
fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("handshake messages serialize")
}

fn json_type() -> Vec<(&'static str, String)> {
    vec![("content-type", "application/json".into())]
}
