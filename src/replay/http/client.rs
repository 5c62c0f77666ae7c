//! One virtual user's HTTP client: its own connections, cookie jar and asset cache; sends a
//! request, follows redirects hop by hop (each hop is a request the server saw, so each is
//! recorded once), and turns transport errors into outcome categories.

use super::cache::{AssetCache, Lookup};
use super::cookies::UserJar;
use crate::metrics::{request_name, MetricKey, Mode, Outcome, Recorder, SampleKind};
use bytes::Bytes;
use reqwest::header::{HeaderMap, LOCATION};
use reqwest::Method;
use std::error::Error as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use url::Url;

/// Settings shared by every user's client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub timeout: Duration,
    pub cache: bool,
    /// Browser-like connection parallelism per host.
    pub connections_per_host: usize,
    pub user_agent: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(30),
            cache: true,
            connections_per_host: 6,
            user_agent: format!("throng/{} (virtual user)", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// A request to send, already filled in (no `${...}` left).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub kind: SampleKind,
}

/// A response read to its end.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub final_url: Url,
}

/// Where a user's samples go: which flow and step they belong to.
#[derive(Clone)]
pub struct Tag {
    pub flow: Arc<str>,
    pub step: Option<u32>,
}

pub struct UserClient {
    http: reqwest::Client,
    jar: Arc<UserJar>,
    cache: Mutex<AssetCache>,
    recorder: Recorder,
}

const MAX_REDIRECTS: usize = 10;
/// A timer firing later than this is "late" (coordinated omission); below it is scheduler jitter.
const LATE_AFTER: Duration = Duration::from_millis(10);

/// Headers the client manages itself (recorded values would be wrong or stale).
fn is_managed_header(name: &str) -> bool {
    name.starts_with(':')
        || matches!(
            name.to_ascii_lowercase().as_str(),
            "host"
                | "content-length"
                | "connection"
                | "cookie"
                | "accept-encoding"
                | "if-none-match"
                | "if-modified-since"
                | "keep-alive"
                | "transfer-encoding"
                | "upgrade"
        )
}

impl UserClient {
    pub fn new(opts: &ClientOptions, recorder: Recorder) -> Result<Self, reqwest::Error> {
        let jar = Arc::new(UserJar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(opts.connections_per_host)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .user_agent(opts.user_agent.clone())
            .build()?;
        Ok(UserClient {
            http,
            jar,
            cache: Mutex::new(AssetCache::new(opts.cache)),
            recorder,
        })
    }

    /// Forget cookies and cached assets: the next session is a new person on the same machine.
    pub fn new_session(&self) {
        self.jar.clear();
        self.cache.lock().expect("cache lock").clear();
    }

    pub fn cache_lookup(&self, url: &str, now: Instant) -> Lookup {
        self.cache.lock().expect("cache lock").lookup(url, now)
    }

    pub fn cache_store(&self, url: &str, status: u16, headers: &HeaderMap, now: Instant) {
        self.cache
            .lock()
            .expect("cache lock")
            .store(url, status, headers, now);
    }

    /// Sends `req`, following redirects like a browser. Every hop is recorded as one sample.
    /// `Err` carries the failure outcome (already recorded).
    pub async fn send(
        &self,
        req: Request,
        tag: &Tag,
        extra_headers: &[(&'static str, String)],
    ) -> Result<Response, Outcome> {
        self.send_late(req, tag, Duration::ZERO, extra_headers)
            .await
    }

    /// Like [`send`](Self::send) for a timer or arrival that fired `late`: the latency is also
    /// recorded from the intended start (coordinated-omission correction).
    pub async fn send_late(
        &self,
        req: Request,
        tag: &Tag,
        late: Duration,
        extra_headers: &[(&'static str, String)],
    ) -> Result<Response, Outcome> {
        let mut method = req.method;
        let mut url = req.url;
        let mut body = req.body;
        let mut headers = req.headers;
        for _ in 0..=MAX_REDIRECTS {
            let key = MetricKey {
                mode: Mode::Http,
                flow: tag.flow.clone(),
                step: tag.step,
                kind: req.kind,
                name: Arc::from(request_name(method.as_str(), url.as_str())),
            };
            let hop = Hop {
                method: &method,
                url: &url,
                headers: &headers,
                body: body.as_deref(),
                extra_headers,
            };
            let response = self.send_once(&key, hop, late).await?;
            let Some(next) = redirect_target(&response, &url) else {
                return Ok(response);
            };
            if matches!(response.status, 301..=303) && method == Method::POST
                || response.status == 303
            {
                method = Method::GET;
                body = None;
                headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
            }
            url = next;
        }
        Err(Outcome::Error)
    }

    async fn send_once(
        &self,
        key: &MetricKey,
        hop: Hop<'_>,
        late: Duration,
    ) -> Result<Response, Outcome> {
        let Hop {
            method,
            url,
            headers,
            body,
            extra_headers,
        } = hop;
        let mut builder = self.http.request(method.clone(), url.clone());
        for (name, value) in headers.iter().filter(|(n, _)| !is_managed_header(n)) {
            builder = builder.header(name.as_str(), value.as_str());
        }
        for (name, value) in extra_headers {
            builder = builder.header(*name, value.as_str());
        }
        if let Some(body) = body {
            builder = builder.body(body.to_string());
        }
        let started = Instant::now();
        let result = match builder.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                resp.bytes().await.map(|body| (status, headers, body))
            }
            Err(e) => Err(e),
        };
        let elapsed = started.elapsed();
        match result {
            Ok((status, headers, body)) => {
                let outcome = if status >= 400 {
                    Outcome::Status(status)
                } else {
                    Outcome::Ok
                };
                self.record(key, elapsed, late, outcome);
                self.recorder.add_bytes(key, body.len() as u64);
                Ok(Response {
                    status,
                    headers,
                    body,
                    final_url: url.clone(),
                })
            }
            Err(e) => {
                let outcome = classify(&e);
                self.record(key, elapsed, late, outcome);
                Err(outcome)
            }
        }
    }

    fn record(&self, key: &MetricKey, elapsed: Duration, late: Duration, outcome: Outcome) {
        if late >= LATE_AFTER {
            self.recorder
                .record_late(key, elapsed, elapsed + late, outcome);
        } else {
            self.recorder.record(key, elapsed, outcome);
        }
    }
}

/// One request of a redirect chain.
struct Hop<'a> {
    method: &'a Method,
    url: &'a Url,
    headers: &'a [(String, String)],
    body: Option<&'a str>,
    extra_headers: &'a [(&'static str, String)],
}

fn redirect_target(response: &Response, base: &Url) -> Option<Url> {
    if !matches!(response.status, 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = response.headers.get(LOCATION)?.to_str().ok()?;
    base.join(location).ok()
}

/// Maps a transport error to its failure category.
pub fn classify(e: &reqwest::Error) -> Outcome {
    if e.is_timeout() {
        return Outcome::Timeout;
    }
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => Outcome::Refused,
                std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::UnexpectedEof => Outcome::Reset,
                std::io::ErrorKind::TimedOut => Outcome::Timeout,
                _ => Outcome::Error,
            };
        }
        if let Some(hyper_err) = err.downcast_ref::<hyper::Error>() {
            if hyper_err.is_incomplete_message() || hyper_err.is_closed() {
                return Outcome::Reset;
            }
        }
        source = err.source();
    }
    Outcome::Error
}
