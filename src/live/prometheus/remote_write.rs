//! Prometheus remote write (protocol 1.0): the families as a protobuf `WriteRequest`,
//! snappy-compressed, POSTed over HTTP/1.1 (TLS for https URLs) with retries and backoff.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use prost::Message as _;
use url::Url;

use super::families::Family;

/// `prometheus.WriteRequest` (remote.proto); only the fields throng sends.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`: labels sorted by name, `__name__` among them.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("connecting to {0}: {1}")]
    Connect(String, #[source] std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("the receiver answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("bad URL: {0}")]
    Url(String),
}

impl PushError {
    /// Worth another try: the network, a timeout, 5xx and 429. Other 4xx never succeed.
    pub fn retryable(&self) -> bool {
        match self {
            PushError::Status { status, .. } => *status >= 500 || *status == 429,
            PushError::Url(_) => false,
            _ => true,
        }
    }
}

/// Every sample of `families` at `timestamp_ms`, each series with `extra` labels added.
pub fn write_request(
    families: &[Family],
    extra: &[(&str, &str)],
    timestamp_ms: i64,
) -> WriteRequest {
    let mut timeseries = Vec::new();
    for f in families {
        for s in &f.samples {
            let mut labels: Vec<Label> = std::iter::once(("__name__", s.name.as_str()))
                .chain(s.labels.iter().map(|(k, v)| (*k, v.as_str())))
                .chain(extra.iter().copied())
                .map(|(name, value)| Label {
                    name: name.to_string(),
                    value: value.to_string(),
                })
                .collect();
            labels.sort_by(|a, b| a.name.cmp(&b.name));
            timeseries.push(TimeSeries {
                labels,
                samples: vec![Sample {
                    value: s.value,
                    timestamp: timestamp_ms,
                }],
            });
        }
    }
    WriteRequest { timeseries }
}

/// The request body: protobuf, then snappy's block format (what remote write specifies).
pub fn encode(request: &WriteRequest) -> Vec<u8> {
    let raw = request.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("snappy compresses any input")
}

/// POSTs one body; Ok on 2xx.
pub async fn post(url: &Url, body: Vec<u8>, timeout: Duration) -> Result<(), PushError> {
    tokio::time::timeout(timeout, post_inner(url, body))
        .await
        .map_err(|_| PushError::Timeout(timeout))?
}

async fn post_inner(url: &Url, body: Vec<u8>) -> Result<(), PushError> {
    let host = url
        .host_str()
        .ok_or_else(|| PushError::Url(url.to_string()))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| PushError::Url(url.to_string()))?;
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| PushError::Connect(format!("{host}:{port}"), e))?;
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
        .header(hyper::header::CONTENT_ENCODING, "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .header(
            hyper::header::USER_AGENT,
            format!("throng/{}", env!("CARGO_PKG_VERSION")),
        );
    if !url.username().is_empty() {
        use base64::Engine as _;
        let user = percent(url.username());
        let pass = percent(url.password().unwrap_or(""));
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        request = request.header(hyper::header::AUTHORIZATION, format!("Basic {token}"));
    }
    let request = request
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| PushError::Url(e.to_string()))?;
    let response = if url.scheme() == "https" {
        let connector = crate::replay::http::SharedTls::default().user_connector(false, false);
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| PushError::Url(e.to_string()))?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| PushError::Connect(format!("{host}:{port}"), e))?;
        send(TokioIo::new(tls), request).await?
    } else {
        send(TokioIo::new(tcp), request).await?
    };
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(());
    }
    let body = response
        .into_body()
        .collect()
        .await
        .map(|b| {
            String::from_utf8_lossy(&b.to_bytes())
                .chars()
                .take(200)
                .collect()
        })
        .unwrap_or_default();
    Err(PushError::Status { status, body })
}

async fn send<I>(
    io: I,
    request: hyper::Request<Full<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, PushError>
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

fn percent(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::super::families::{Family, Sample as FSample};
    use super::*;

    #[test]
    fn series_carry_sorted_labels_with_the_name_and_round_trip_through_snappy() {
        let families = vec![Family {
            name: "throng_users",
            help: "h",
            kind: "gauge",
            samples: vec![FSample {
                name: "throng_users".into(),
                labels: vec![("mode", "http".into())],
                value: 7.0,
                exemplar: None,
            }],
        }];
        let req = write_request(&families, &[("run", "r1")], 1_700_000_000_000);
        let names: Vec<&str> = req.timeseries[0]
            .labels
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        assert_eq!(names, ["__name__", "mode", "run"]);
        let body = encode(&req);
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        assert_eq!(WriteRequest::decode(raw.as_slice()).unwrap(), req);
        assert!(!PushError::Status {
            status: 400,
            body: String::new()
        }
        .retryable());
        assert!(PushError::Status {
            status: 503,
            body: String::new()
        }
        .retryable());
        assert!(PushError::Timeout(Duration::from_secs(1)).retryable());
    }
}
