//! Prometheus remote write (protocol 1.0): the families as a protobuf `WriteRequest`,
//! snappy-compressed, POSTed with throng's outbound client ([`crate::outbound`]); retries and
//! budgets are the exporter's.

use std::time::Duration;

use prost::Message as _;
use url::Url;

use super::families::Family;
use crate::outbound::{Outbound, OutboundError, Refused, Request};

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
    #[error("{0}")]
    Outbound(#[from] OutboundError),
    #[error("the receiver answered {status}: {body}")]
    Status { status: u16, body: String },
}

impl From<Refused> for PushError {
    fn from(r: Refused) -> Self {
        match r {
            Refused::Failed(e) => PushError::Outbound(e),
            Refused::Status { status, body } => PushError::Status { status, body },
        }
    }
}

impl PushError {
    /// Worth another try: the network, a timeout, 5xx and 429. Other 4xx never succeed.
    pub fn retryable(&self) -> bool {
        match self {
            PushError::Status { status, .. } => *status >= 500 || *status == 429,
            PushError::Outbound(OutboundError::Url(_) | OutboundError::Setup(_)) => false,
            PushError::Outbound(_) => true,
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

/// Bytes of a receiver's answer kept (for the error message); the rest is never read.
pub const ANSWER_LIMIT: usize = 4096;

/// POSTs one body; Ok on 2xx. Credentials in the URL go as Basic auth.
pub async fn post(
    client: &Outbound,
    url: &Url,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<(), PushError> {
    client
        .post_accepted(Request {
            url,
            headers: vec![
                ("content-type".into(), "application/x-protobuf".into()),
                ("content-encoding".into(), "snappy".into()),
                ("x-prometheus-remote-write-version".into(), "0.1.0".into()),
            ],
            body,
            limit: ANSWER_LIMIT,
            timeout: Some(timeout),
        })
        .await
        .map_err(PushError::from)
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
        assert!(PushError::Outbound(OutboundError::Timeout(Duration::from_secs(1))).retryable());
    }
}
