//! One OTLP/HTTP POST (protobuf), over HTTP/1.1 or TLS, bounded in time. The one place the
//! exporter touches the network: switching to throng's shared outbound client changes only
//! this file.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use url::Url;

/// Bytes of a collector's answer read at most.
const ANSWER_LIMIT: usize = 64 * 1024;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("connecting to {0}: {1}")]
    Connect(String, #[source] std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("the collector answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("bad request: {0}")]
    Invalid(String),
}

impl SendError {
    /// Worth another try (OTLP/HTTP's rules): the network, a timeout, 429, 502, 503, 504.
    pub fn retryable(&self) -> bool {
        match self {
            SendError::Status { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            SendError::Invalid(_) => false,
            _ => true,
        }
    }
}

/// POSTs one protobuf body with `headers`; Ok on 2xx.
pub async fn post(
    url: &Url,
    headers: &[(String, String)],
    body: Vec<u8>,
    timeout: Duration,
) -> Result<(), SendError> {
    tokio::time::timeout(timeout, post_inner(url, headers, body))
        .await
        .map_err(|_| SendError::Timeout(timeout))?
}

async fn post_inner(
    url: &Url,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Result<(), SendError> {
    let invalid = || SendError::Invalid(redacted(url));
    let host = url.host_str().ok_or_else(invalid)?;
    let port = url.port_or_known_default().ok_or_else(invalid)?;
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| SendError::Connect(format!("{host}:{port}"), e))?;
    let _ = tcp.set_nodelay(true);
    let mut path = url.path().to_string();
    if let Some(q) = url.query() {
        path = format!("{path}?{q}");
    }
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let mut request = hyper::Request::post(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/x-protobuf")
        .header(
            hyper::header::USER_AGENT,
            format!("throng/{}", env!("CARGO_PKG_VERSION")),
        );
    if !url.username().is_empty() {
        use base64::Engine as _;
        let user = percent_decoded(url.username());
        let pass = percent_decoded(url.password().unwrap_or(""));
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        request = request.header(hyper::header::AUTHORIZATION, format!("Basic {token}"));
    }
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let request = request
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| SendError::Invalid(e.to_string()))?;
    let response = if url.scheme() == "https" {
        let connector = crate::replay::http::SharedTls::default().user_connector(false, false);
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| SendError::Invalid(e.to_string()))?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| SendError::Connect(format!("{host}:{port}"), e))?;
        exchange(TokioIo::new(tls), request).await?
    } else {
        exchange(TokioIo::new(tcp), request).await?
    };
    let status = response.status().as_u16();
    // The answer is read up to a limit (a hostile collector cannot fill memory); only its
    // start is kept for a message.
    let body = http_body_util::Limited::new(response.into_body(), ANSWER_LIMIT)
        .collect()
        .await
        .map(|b| {
            String::from_utf8_lossy(&b.to_bytes())
                .chars()
                .take(200)
                .collect::<String>()
        })
        .unwrap_or_default();
    if (200..300).contains(&status) {
        return Ok(());
    }
    Err(SendError::Status { status, body })
}

async fn exchange<I>(
    io: I,
    request: hyper::Request<Full<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, SendError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    let driver = tokio::spawn(conn);
    let response = sender.send_request(request).await;
    if response.is_err() {
        driver.abort();
    }
    Ok(response?)
}

/// `url` as throng shows it: without its credentials.
pub fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

fn percent_decoded(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
