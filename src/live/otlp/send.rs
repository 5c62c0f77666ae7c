//! One OTLP/HTTP POST (protobuf) through throng's outbound client ([`crate::outbound`]):
//! bounded in time, the collector's answer read only up to a limit.

use std::time::Duration;

use crate::outbound::{Outbound, OutboundError, Refused, Request};
use url::Url;

/// Bytes of a collector's answer read at most (only its start is shown).
const ANSWER_LIMIT: usize = 4096;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0}")]
    Outbound(#[from] OutboundError),
    #[error("the collector answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("no time left for another try")]
    OutOfTime,
}

impl From<Refused> for SendError {
    fn from(r: Refused) -> Self {
        match r {
            Refused::Failed(e) => SendError::Outbound(e),
            Refused::Status { status, body } => SendError::Status { status, body },
        }
    }
}

impl SendError {
    /// Worth another try (OTLP/HTTP's rules): the network, a timeout, 429, 502, 503, 504.
    pub fn retryable(&self) -> bool {
        match self {
            SendError::Status { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            SendError::Outbound(OutboundError::Url(_) | OutboundError::Setup(_)) => false,
            SendError::Outbound(_) => true,
            SendError::OutOfTime => false,
        }
    }
}

/// POSTs one protobuf body with `headers` (`--otlp-header`); Ok on 2xx.
pub async fn post(
    client: &Outbound,
    url: &Url,
    headers: &[(String, String)],
    body: Vec<u8>,
    timeout: Duration,
) -> Result<(), SendError> {
    let mut all = vec![("content-type".to_string(), "application/x-protobuf".into())];
    all.extend(headers.iter().cloned());
    client
        .post_accepted(Request {
            url,
            headers: all,
            body,
            limit: ANSWER_LIMIT,
            timeout: Some(timeout),
        })
        .await
        .map_err(SendError::from)
}
