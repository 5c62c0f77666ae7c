//! throng's own outbound HTTP (remote write, a worker's channel to its coordinator): one
//! client over HTTP/1.1 or TLS (rustls with ring; the system's roots plus `--cacert`), no
//! redirects, no proxy from the environment, and answers read only up to a limit, so a
//! hostile receiver can neither fill memory nor learn a credential from a redirect.
//!
//! Credentials in a URL (`http://alice:pw@host/`) are sent as Basic auth and never appear in
//! the request line, an error or a log: [`redacted`] is how throng shows such a URL.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use url::Url;

/// Why an outbound request failed. No variant holds a URL's userinfo.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("{0}")]
    Setup(String),
    #[error("bad URL {0}")]
    Url(String),
    #[error("{0}")]
    Http(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

impl OutboundError {
    /// An error and its causes on one line (the top line alone rarely says why).
    fn chain(e: &dyn std::error::Error) -> Self {
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        OutboundError::Http(text)
    }
}

/// The innermost cause of an error (what a connection failure really was).
fn root_cause(e: &dyn std::error::Error) -> String {
    let mut last = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}

/// How the client is set up.
#[derive(Debug, Clone, Default)]
pub struct OutboundOptions {
    /// PEM certificates to trust besides the system's (`--cacert`).
    pub cacert_pem: Option<Vec<u8>>,
    /// Connecting, sending and reading the answer, per request.
    pub timeout: Option<Duration>,
    /// https URLs will be used: the system's roots are loaded (a burst of work: hundreds of
    /// certificates parsed), else only `cacert_pem`'s.
    pub https: bool,
}

/// An answer: its status and at most the first `limit` bytes of its body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
    /// The body was longer than the limit (the rest was not read).
    pub truncated: bool,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text for a message: at most `chars` characters, control characters escaped.
    pub fn text(&self, chars: usize) -> String {
        self.text_masked(chars, &[])
    }

    /// As [`Answer::text`], with every one of `secrets` in the body shown as `***` (a peer
    /// that echoes the request, as debugging endpoints do, would show its credentials).
    pub fn text_masked(&self, chars: usize, secrets: &[String]) -> String {
        let mut text = String::from_utf8_lossy(&self.body).into_owned();
        for secret in secrets {
            text = text.replace(secret.as_str(), "***");
        }
        let mut out = String::new();
        for c in text.chars().take(chars) {
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        if self.truncated || text.chars().count() > chars {
            out.push_str("...");
        }
        out
    }
}

/// Why a POST that must be accepted (a 2xx answer) was not.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Failed(#[from] OutboundError),
    /// The peer's status and the start of its answer (control characters escaped).
    #[error("answered {status}: {body}")]
    Status { status: u16, body: String },
}

/// One request to send.
pub struct Request<'a> {
    pub url: &'a Url,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Bytes of the answer's body kept; the rest is never read.
    pub limit: usize,
    /// This request's own limit (else the client's).
    pub timeout: Option<Duration>,
}

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The shared client (cheap to clone): one connection pool.
#[derive(Clone, Debug)]
pub struct Outbound {
    http: Client<Connector, Full<Bytes>>,
    timeout: Option<Duration>,
}

impl Outbound {
    pub fn new(options: &OutboundOptions) -> Result<Outbound, OutboundError> {
        let tls = tls_config(options.https, options.cacert_pem.as_deref())?;
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(Duration::from_secs(10)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let http = Client::builder(TokioExecutor::new())
            // Shorter than any throng server's idle timeout, so a pooled connection is not
            // reused just as the server closes it.
            .pool_idle_timeout(Duration::from_secs(4))
            .pool_timer(TokioTimer::new())
            .build(https);
        Ok(Outbound {
            http,
            timeout: options.timeout,
        })
    }

    /// POSTs `request`; any status is an answer (the caller judges it).
    pub async fn post(&self, request: Request<'_>) -> Result<Answer, OutboundError> {
        self.send(http::Method::POST, request).await
    }

    /// POSTs `request` and wants a 2xx answer; any other is [`Refused::Status`] with the
    /// first 200 characters of its body.
    pub async fn post_accepted(&self, request: Request<'_>) -> Result<(), Refused> {
        let secrets = sent_secrets(&request);
        let answer = self.post(request).await?;
        if answer.is_success() {
            return Ok(());
        }
        Err(Refused::Status {
            status: answer.status,
            body: answer.text_masked(200, &secrets),
        })
    }

    pub async fn send(
        &self,
        method: http::Method,
        request: Request<'_>,
    ) -> Result<Answer, OutboundError> {
        let (url, credentials) = split_credentials(request.url);
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(OutboundError::Url(redacted(request.url)));
        }
        let uri: http::Uri = url
            .as_str()
            .parse()
            .map_err(|_| OutboundError::Url(redacted(request.url)))?;
        let mut builder = http::Request::builder().method(method).uri(uri).header(
            http::header::USER_AGENT,
            concat!("throng/", env!("CARGO_PKG_VERSION")),
        );
        for (name, value) in request.headers {
            builder = builder.header(name.as_str(), value);
        }
        if let Some((user, password)) = credentials {
            use base64::Engine as _;
            let pair =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            builder = builder.header(http::header::AUTHORIZATION, format!("Basic {pair}"));
        }
        let req = builder
            .body(Full::new(Bytes::from(request.body)))
            .map_err(|_| OutboundError::Url(redacted(request.url)))?;
        let limit = request.limit;
        let authority = format!(
            "{}:{}",
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or_default()
        );
        let work = async {
            let response = self.http.request(req).await.map_err(|e| {
                if e.is_connect() {
                    OutboundError::Http(format!("connecting to {authority}: {}", root_cause(&e)))
                } else {
                    OutboundError::chain(&e)
                }
            })?;
            read_capped(response, limit).await
        };
        match request.timeout.or(self.timeout) {
            Some(t) => tokio::time::timeout(t, work)
                .await
                .map_err(|_| OutboundError::Timeout(t))?,
            None => work.await,
        }
    }
}

/// Reads at most `limit` bytes of the body; a longer body is cut there and its connection
/// dropped (never drained).
async fn read_capped(
    response: http::Response<Incoming>,
    limit: usize,
) -> Result<Answer, OutboundError> {
    let status = response.status().as_u16();
    let mut incoming = response.into_body();
    let mut body = BytesMut::new();
    let mut truncated = false;
    while let Some(frame) = incoming.frame().await {
        let frame = frame.map_err(|e| OutboundError::chain(&e))?;
        let Some(chunk) = frame.data_ref() else {
            continue;
        };
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(chunk);
    }
    Ok(Answer {
        status,
        body: body.freeze(),
        truncated,
    })
}

/// The URL without its userinfo, and the (decoded) user and password it held.
/// What a request carries that its answer must not show: its headers' values (a scheme's
/// token alone too: `Bearer t0ken` echoed as `t0ken`) and the URL's credentials, as given and
/// as sent (Basic), longest first so a part never leaves the rest of a longer one visible.
fn sent_secrets(request: &Request<'_>) -> Vec<String> {
    use base64::Engine as _;
    let plain = ["content-type", "content-encoding"];
    let mut out: Vec<String> = Vec::new();
    for (name, value) in &request.headers {
        if plain.iter().any(|p| name.eq_ignore_ascii_case(p)) {
            continue;
        }
        out.push(value.clone());
        out.extend(value.split_whitespace().last().map(String::from));
    }
    if let (_, Some((user, password))) = split_credentials(request.url) {
        let pair = format!("{user}:{password}");
        out.push(base64::engine::general_purpose::STANDARD.encode(&pair));
        out.extend([pair, password]);
    }
    out.retain(|s| s.len() >= 4);
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

pub fn split_credentials(url: &Url) -> (Url, Option<(String, String)>) {
    if url.username().is_empty() && url.password().is_none() {
        return (url.clone(), None);
    }
    let decode = |s: &str| percent_decode(s).unwrap_or_else(|| s.to_string());
    let user = decode(url.username());
    let password = url.password().map(decode).unwrap_or_default();
    let mut bare = url.clone();
    let _ = bare.set_username("");
    let _ = bare.set_password(None);
    (bare, Some((user, password)))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// How throng shows a URL: any userinfo replaced by `***` (`http://***@host/`).
pub fn redacted(url: &Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let (bare, _) = split_credentials(url);
    let text = bare.to_string();
    match text.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://***@{rest}"),
        None => text,
    }
}

/// `text` with the userinfo of every `scheme://user:pw@` in it removed: names and labels made
/// from URLs never carry credentials.
pub fn strip_userinfo(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('@') || !text.contains("://") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(tail.len());
        rest = match tail[..authority_end].rfind('@') {
            Some(a) => &tail[a + 1..],
            None => tail,
        };
    }
    out.push_str(rest);
    if out == text {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(out)
    }
}

/// rustls with ring: the system's roots (when `system`) and `extra_pem`'s certificates.
fn tls_config(
    system: bool,
    extra_pem: Option<&[u8]>,
) -> Result<rustls::ClientConfig, OutboundError> {
    let mut roots = rustls::RootCertStore::empty();
    if system {
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    }
    if let Some(pem) = extra_pem {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| OutboundError::Setup(format!("--cacert: {e}")))?;
        if certs.is_empty() {
            return Err(OutboundError::Setup(
                "--cacert: no certificate in it (expected PEM, -----BEGIN CERTIFICATE-----)".into(),
            ));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| OutboundError::Setup(format!("--cacert: {e}")))?;
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| OutboundError::Setup(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url_and_never_show() {
        let url = Url::parse("http://alice:p%40ss@h:9/api/v1/write?x=1").unwrap();
        let (bare, creds) = split_credentials(&url);
        assert_eq!(bare.as_str(), "http://h:9/api/v1/write?x=1");
        assert_eq!(creds, Some(("alice".into(), "p@ss".into())));
        assert_eq!(redacted(&url), "http://***@h:9/api/v1/write?x=1");
        let plain = Url::parse("https://h/").unwrap();
        assert_eq!(redacted(&plain), "https://h/");
        assert_eq!(split_credentials(&plain).1, None);
    }

    #[test]
    fn userinfo_is_stripped_from_names() {
        assert_eq!(
            strip_userinfo("GET http://alice:pw@h:8/a@b?c=d@e"),
            "GET http://h:8/a@b?c=d@e"
        );
        assert_eq!(strip_userinfo("http://u@h"), "http://h");
        assert_eq!(strip_userinfo("mail a@b"), "mail a@b");
        assert!(matches!(
            strip_userinfo("http://h/p"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(
            strip_userinfo("x http://a:b@h/ and https://c:d@k"),
            "x http://h/ and https://k"
        );
    }

    #[test]
    fn answers_show_as_short_escaped_text() {
        let a = Answer {
            status: 500,
            body: Bytes::from_static(b"bad\x1b[31m thing"),
            truncated: true,
        };
        assert_eq!(a.text(6), "bad\\u{1b}[3...");
    }
}
