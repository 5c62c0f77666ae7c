//! What the client says about its work: one report per request hop (what was sent, what came
//! back, how long it took) and named counters. The replay names and records them
//! ([`crate::replay::http::record`]); the client knows no metric names.

use super::Tag;
use crate::metrics::{Outcome, RequestSpan, SampleKind};
use std::sync::Arc;
use std::time::Duration;
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
}

/// Where a client's reports go.
pub trait Observer: Send + Sync {
    fn hop(&self, hop: &HopReport<'_>);
    fn count(&self, counter: &str, n: u64);
}
