//! What the client says about its work: one report per request hop (what was sent, what came
//! back, how long it took) and named counters. The replay names and records them
//! ([`crate::replay::http::record`]); the client knows no metric names. An observer that
//! keeps sessions whole (`--keep-sessions`) also asks for each hop's [`HopDetail`].

use super::encode::{each_header, Hop};
use super::h1::RawResponse;
use super::Tag;
use crate::metrics::{Outcome, RequestSpan, SampleKind};
use http::header::{HeaderMap, HeaderValue};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use url::Url;

/// One request hop as it happened (a redirect's every hop is one).
pub struct HopReport<'a> {
    pub tag: &'a Tag,
    pub kind: SampleKind,
    /// The caller's name for the request (its first hop only).
    pub name: Option<&'a Arc<str>>,
    pub method: &'a str,
    pub url: &'a Url,
    /// From sending to the end of the response, or to the failure.
    pub elapsed: Duration,
    /// How late the request left against its schedule (coordinated omission).
    pub late: Duration,
    pub outcome: Outcome,
    /// The response's status, when one came.
    pub status: Option<u16>,
    /// Body bytes received, when a response came.
    pub bytes: Option<u64>,
    /// `--trace`: this hop's span.
    pub span: Option<&'a RequestSpan>,
    /// What was sent and received, when the observer asked for it ([`Observer::wants_detail`]).
    pub detail: Option<&'a HopDetail<'a>>,
}

/// A hop's headers and bodies as they went on the wire.
pub struct HopDetail<'a> {
    pub started: SystemTime,
    /// Every header sent (recorded, the step's, the client's defaults, cookies).
    pub request_headers: Vec<(String, String)>,
    pub request_body: Option<&'a str>,
    /// `HTTP/1.1` or `h2`.
    pub http_version: &'static str,
    pub response_headers: Option<&'a HeaderMap>,
    /// The body as kept by the client (decoded; empty when it was not kept, e.g. an image).
    pub response_body: Option<&'a [u8]>,
}

impl<'a> HopDetail<'a> {
    pub(super) fn of(
        hop: &Hop<'a>,
        (user_agent, cookies, h2): (&HeaderValue, Option<&str>, bool),
        elapsed: Duration,
        raw: Option<&'a RawResponse>,
    ) -> Self {
        let mut request_headers = Vec::new();
        each_header(hop, user_agent, cookies, h2, |n, v| {
            request_headers.push((n.to_string(), String::from_utf8_lossy(v).into_owned()))
        });
        HopDetail {
            started: SystemTime::now() - elapsed,
            request_headers,
            request_body: hop.body,
            http_version: if h2 { "h2" } else { "HTTP/1.1" },
            response_headers: raw.map(|r| &r.headers),
            response_body: raw.map(|r| &r.body[..]),
        }
    }
}

/// Where a client's reports go.
pub trait Observer: Send + Sync {
    fn hop(&self, hop: &HopReport<'_>);
    fn count(&self, counter: &str, n: u64);
    /// Whether the hops of `tag` should carry their [`HopDetail`] (copying headers costs).
    fn wants_detail(&self, _tag: &Tag) -> bool {
        false
    }
}
