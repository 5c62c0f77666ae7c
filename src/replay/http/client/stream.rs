//! Responses held open (Server-Sent Events, a stream a script reads through `fetch()`): the
//! request is sent like any other, its sample recorded at the response head (the time to open
//! the stream), and the body handed back as a stream read while the page is open. On HTTP/2 the stream is one more stream of the origin's
//! connection; on HTTP/1.1 it has a connection of its own, as a browser's does.

use super::encode::{self, Hop};
use super::h1::{Conn, Framing, H1Error};
use super::http2::{self, H2Failure};
use super::pool::Origin;
use super::{HopError, HopReport, Request, Tag, UserClient};
use crate::metrics::Outcome;
use bytes::Bytes;
use http::header::HeaderMap;
use std::time::{Duration, Instant};

/// An open response body.
pub enum StreamBody {
    H1(Box<Conn>, Framing),
    H2(h2::RecvStream),
}

impl StreamBody {
    /// The next bytes as they arrive; `None` when the server ended the response.
    pub async fn next(&mut self) -> Result<Option<Bytes>, Outcome> {
        let chunk = match self {
            StreamBody::H1(conn, framing) => conn.stream_chunk(framing).await,
            StreamBody::H2(body) => http2::stream_chunk(body).await,
        };
        chunk.map_err(|e| outcome_of(HopError::Transport(e)))
    }
}

/// An opened stream: the response's status and headers, and its body.
pub struct OpenStream {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: StreamBody,
}

/// Sends `req` (no redirects: an EventSource fails on one it cannot follow) and returns at its
/// response head; the sample (kind `req.kind`) is recorded then, with the status's outcome.
/// `accept`: the `Accept` header sent when the recording has none (an EventSource's).
pub async fn open(
    client: &UserClient,
    req: Request,
    tag: &Tag,
    accept: Option<&str>,
) -> Result<OpenStream, Outcome> {
    if client.past_deadline() {
        return Err(Outcome::Interrupted);
    }
    if !client.hosts.allows(&req.url) {
        client.observer.count("requests.blocked", 1);
        return Err(Outcome::Blocked);
    }
    let has_accept = req
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("accept"));
    let accept: Vec<(&'static str, String)> = accept
        .filter(|_| !has_accept)
        .map(|a| ("accept", a.to_string()))
        .into_iter()
        .collect();
    let hop = Hop {
        method: &req.method,
        url: &req.url,
        headers: &req.headers,
        body: req.body.as_deref(),
        extra_headers: &accept,
        expect: None,
    };
    let started = Instant::now();
    let opening = tokio::time::timeout(client.timeout, open_hop(client, &hop));
    let result = tokio::select! {
        biased;
        _ = client.deadline.cancelled() => Err(HopError::Cancelled),
        done = opening => done.unwrap_or(Err(HopError::Timeout)),
    };
    let elapsed = started.elapsed();
    let (opened, outcome, status) = match result {
        Ok(open) => {
            let status = open.status;
            (Some(open), Outcome::from_status(status), Some(status))
        }
        Err(e) => (None, outcome_of(e), None),
    };
    client.observer.hop(&HopReport {
        tag,
        kind: req.kind,
        name: req.name.as_ref(),
        method: req.method.as_str(),
        url: &req.url,
        elapsed,
        late: Duration::ZERO,
        outcome,
        status,
        bytes: None,
        span: None,
        detail: None,
    });
    let open = opened.ok_or(outcome)?;
    client
        .jar
        .store_from(open.headers.get_all("set-cookie").iter(), &req.url);
    Ok(open)
}

async fn open_hop(client: &UserClient, hop: &Hop<'_>) -> Result<OpenStream, HopError> {
    let url = hop.url;
    let origin = Origin::of(url);
    let shape = client.shaper()?;
    if origin.tls && client.http2 {
        for _ in 0..super::H2_ATTEMPTS {
            let Some(conn) = client.h2_conn(url, origin).await? else {
                break;
            };
            let cookies = client.jar.header_for(url);
            let (request, _) =
                encode::h2(hop, &client.user_agent, cookies.as_deref()).ok_or(HopError::Invalid)?;
            match conn.open_stream(request).await {
                Ok((status, headers, body)) => {
                    return Ok(OpenStream {
                        status,
                        headers,
                        body: StreamBody::H2(body),
                    })
                }
                Err(H2Failure::Retry) => client.pool.drop_h2(origin, &conn),
                Err(H2Failure::Failed(e)) => return Err(HopError::Transport(e)),
            }
        }
        if !client.pool.speaks_h1(origin) {
            return Err(HopError::Transport(H1Error::ClosedEarly));
        }
    }
    let cookies = client.jar.header_for(url);
    let request =
        encode::h1(hop, &client.user_agent, cookies.as_deref()).ok_or(HopError::Invalid)?;
    // An idle keep-alive connection (the document's, as a browser reuses it), else a new
    // one; a reused one the server had closed is replaced.
    let mut waited = false;
    loop {
        let (mut conn, reused) = match client.pool.take_idle(origin) {
            Some(conn) => (conn, true),
            None => match client.open(url, origin, &mut waited).await? {
                Some(conn) => (conn, false),
                None => continue,
            },
        };
        conn.set_shape(shape.clone());
        match conn.open_stream(&request).await {
            Ok((status, headers, framing)) => {
                return Ok(OpenStream {
                    status,
                    headers,
                    body: StreamBody::H1(Box::new(conn), framing),
                })
            }
            Err(H1Error::ClosedEarly) if reused => continue,
            Err(e) => return Err(HopError::Transport(e)),
        }
    }
}

/// The failure category of a hop that got no (complete) response.
fn outcome_of(e: HopError) -> Outcome {
    match e {
        HopError::Invalid => Outcome::Error,
        HopError::Timeout => Outcome::Timeout,
        HopError::Cancelled => Outcome::Interrupted,
        HopError::Handshake(_) => Outcome::Tls,
        HopError::Transport(H1Error::Io(io)) => super::classify(&io),
        HopError::Transport(H1Error::ClosedEarly) => Outcome::Reset,
        HopError::Transport(H1Error::Malformed(_)) => Outcome::Malformed,
        HopError::Transport(H1Error::TooLarge(_)) => Outcome::BodyTooLarge,
    }
}
